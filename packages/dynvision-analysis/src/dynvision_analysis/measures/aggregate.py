"""Mergeable group statistics: count, mean and sum of squared deviations per group.

Every measure that reports a mean with an SEM reduces its rows to three numbers per group,

* ``n``  = number of non-missing values,
* ``mean`` = (1/n) Σ x,
* ``m2`` = Σ (x − mean)²,

and only then derives ``sem = sqrt(m2 / (n − 1)) / sqrt(n)`` (the sample standard deviation, ddof = 1, over
√n). These triples of two parts A and B merge exactly (Chan et al., 1979):

    n = n_A + n_B,   mean = (n_A·mean_A + n_B·mean_B) / n,
    m2 = m2_A + m2_B + n_A·(mean_A − mean)² + n_B·(mean_B − mean)²,

so a table can be reduced chunk by chunk in bounded memory and the result equals the one-pass answer up to
floating-point rounding. The deviation form is used, not Σx², because Σx² − n·mean² cancels catastrophically
when the spread is small next to the mean (e.g. a response of 100 ± 0.001).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from ..tables import AREA_ORDER, TableError, require_columns

__all__ = ["combine_moments", "grouped_moments", "reduce_table", "sort_groups", "summarize_moments"]


def _stat(value: str, stat: str) -> str:
    return f"{value}__{stat}"


def grouped_moments(table: pd.DataFrame, keys: Sequence[str], values: Sequence[str]) -> pd.DataFrame:
    """Reduce ``table`` to ``n``, ``mean`` and ``m2`` of each column in ``values`` per group of ``keys``.

    Missing values (NaN) are left out of ``n``. The result has the ``keys`` columns and, per value ``v``,
    the columns ``v__n``, ``v__mean`` and ``v__m2``; arithmetic is float64 whatever the stored dtype.
    """
    # Float64 accumulation: the responses are stored as float32 to save memory, and a float32 running sum
    # over a million samples loses digits that the SEM needs.
    numbers = table[list(values)].astype("float64")
    grouped = numbers.groupby([table[key] for key in keys], observed=True, sort=False, dropna=False)
    stats = grouped.agg(["count", "mean", "var"])
    result = pd.DataFrame(index=stats.index)
    for value in values:
        n = stats[(value, "count")].astype("int64")
        result[_stat(value, "n")] = n
        result[_stat(value, "mean")] = stats[(value, "mean")]
        # var is NaN for a single value; its sum of squared deviations is 0.
        result[_stat(value, "m2")] = (stats[(value, "var")] * (n - 1)).where(n > 1, 0.0)
    return result.reset_index()


def combine_moments(
    parts: Iterable[pd.DataFrame], keys: Sequence[str], values: Sequence[str]
) -> pd.DataFrame:
    """Merge moment tables of :func:`grouped_moments` (same ``keys`` and ``values``) into one, exactly."""
    frame = pd.concat(list(parts), ignore_index=True)
    if frame.empty or not frame.duplicated(list(keys)).any():
        return frame
    groups = [frame[key] for key in keys]
    combined: dict[str, pd.Series] = {}
    for value in values:
        n, mean, m2 = (frame[_stat(value, stat)] for stat in ("n", "mean", "m2"))
        weight = n.astype("float64")
        # A part with n = 0 has mean NaN; give it zero weight instead of poisoning the total.
        part_mean = mean.where(n > 0, 0.0)
        n_total = weight.groupby(groups, observed=True, dropna=False).transform("sum")
        mean_total = (weight * part_mean).groupby(groups, observed=True, dropna=False).transform(
            "sum"
        ) / n_total
        combined[_stat(value, "n")] = n
        combined[_stat(value, "mean")] = mean_total
        combined[_stat(value, "m2")] = m2 + weight * (part_mean - mean_total) ** 2
    terms = frame[list(keys)].assign(**combined)
    aggregations = {}
    for value in values:
        aggregations[_stat(value, "n")] = "sum"
        aggregations[_stat(value, "mean")] = "first"
        aggregations[_stat(value, "m2")] = "sum"
    return terms.groupby(list(keys), observed=True, sort=False, dropna=False).agg(aggregations).reset_index()


def summarize_moments(moments: pd.DataFrame, keys: Sequence[str], value: str) -> pd.DataFrame:
    """Return ``keys``, ``mean``, ``sem`` and ``n`` of one ``value`` from a moment table.

    ``sem = sqrt(m2 / (n − 1) / n)``; it is NaN when ``n < 2`` (no spread can be estimated from one value).
    """
    n = moments[_stat(value, "n")]
    with np.errstate(divide="ignore", invalid="ignore"):
        sem = np.sqrt(moments[_stat(value, "m2")] / (n - 1) / n)
    return moments[list(keys)].assign(
        mean=moments[_stat(value, "mean")],
        sem=sem.where(n > 1),
        n=n.astype("int64"),
    )


def reduce_table(
    table: pd.DataFrame | Iterable[pd.DataFrame],
    keys: Sequence[str],
    values: Sequence[str],
    *,
    what: str,
) -> pd.DataFrame:
    """Moments of ``values`` per group of ``keys`` over a DataFrame or an iterable of DataFrame chunks.

    Chunks are merged into a running total as they arrive, so memory holds one chunk plus two moment tables
    (one row per group), whatever the number of rows. ``what`` names the caller in error messages.
    """
    required = [*keys, *values]
    if isinstance(table, pd.DataFrame):
        require_columns(table, required, what=what)
        return grouped_moments(table, keys, values)
    total: pd.DataFrame | None = None
    for chunk in table:
        require_columns(chunk, required, what=what)
        part = grouped_moments(chunk, keys, values)
        total = part if total is None else combine_moments([total, part], keys, values)
    if total is None:
        raise TableError(f"{what} got no chunks (an empty iterable); it needs at least one table with rows.")
    return total


def _sort_key(column: pd.Series) -> pd.Series:
    if column.name == "area":
        # Areas in the order of the visual hierarchy (V1 before IT), not alphabetically (IT before V1).
        names = column.astype("object").map(str)
        others = sorted(set(names.unique()) - set(AREA_ORDER))
        rank = {area: position for position, area in enumerate([*AREA_ORDER, *others])}
        return names.map(rank)
    if isinstance(column.dtype, pd.CategoricalDtype) and not column.cat.ordered:
        return column.astype("object")
    return column


def sort_groups(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Sort rows by ``keys`` (areas in hierarchy order) and renumber the index from 0."""
    return frame.sort_values(list(keys), key=_sort_key, kind="stable", na_position="last").reset_index(
        drop=True
    )
