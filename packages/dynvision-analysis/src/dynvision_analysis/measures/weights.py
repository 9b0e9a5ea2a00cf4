"""Summary statistics of weight distributions by connection type (from a weights table)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from ..tables import TableError, require_columns
from .aggregate import combine_moments, sort_groups

__all__ = ["weight_counts", "weight_summary"]


def weight_counts(weights: pd.DataFrame, *, what: str) -> np.ndarray:
    """The number of weights each row stands for: the ``count`` column, or 1 per row when it is absent."""
    if "count" not in weights.columns:
        return np.ones(len(weights), dtype=np.int64)
    count = weights["count"]
    if count.isna().any() or (count < 0).any():
        raise TableError(f"{what} needs 'count' (weights per row) to be >= 0 in every row.")
    return count.to_numpy(dtype=np.int64)


def _moments(chunk: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Count-weighted n, mean and sum of squared deviations of ``value`` per group (see aggregate.py)."""
    count = weight_counts(chunk, what="weight_summary").astype("float64")
    value = chunk["value"].to_numpy(dtype="float64")
    frame = chunk[keys].assign(__w=count, __wx=count * value)
    grouped = frame.groupby(keys, observed=True, sort=False, dropna=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        row_mean = (grouped["__wx"].transform("sum") / grouped["__w"].transform("sum")).to_numpy()
        frame["__d"] = np.nan_to_num(count * (value - row_mean) ** 2)
    sums = frame.groupby(keys, observed=True, sort=False, dropna=False)[["__w", "__wx", "__d"]].sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = sums["__wx"] / sums["__w"]
    return pd.DataFrame(
        {"value__n": sums["__w"].astype("int64"), "value__mean": mean, "value__m2": sums["__d"]}
    ).reset_index()


def weight_summary(
    weights: pd.DataFrame | Iterable[pd.DataFrame],
    by: Sequence[str] = ("area", "connection"),
) -> pd.DataFrame:
    """Number, mean and standard deviation of the weights per group (e.g. per area and connection type).

    With w_i the values and c_i the counts (1 per row for a table of single weights; the bin count for a
    histogram table, whose ``value`` is the bin centre) of a group:

        n = Σ c_i,   mean = Σ c_i w_i / n,   std = sqrt(Σ c_i (w_i − mean)² / n)     (population std, ddof 0)

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, n, mean, std``, in the unit of the weights. Accepts chunks (bounded memory).
    """
    what = "weight_summary"
    keys = list(by)
    if not keys:
        raise ValueError(f"{what} needs at least one grouping column, e.g. by=('connection',).")
    chunks = [weights] if isinstance(weights, pd.DataFrame) else weights
    total: pd.DataFrame | None = None
    for chunk in chunks:
        require_columns(chunk, [*keys, "value"], what=what)
        part = _moments(chunk, keys)
        total = part if total is None else combine_moments([total, part], keys, ["value"])
    if total is None:
        raise TableError(f"{what} got no chunks (an empty iterable); it needs at least one table with rows.")
    n = total["value__n"]
    with np.errstate(divide="ignore", invalid="ignore"):
        std = np.sqrt(total["value__m2"] / n)
    result = total[keys].assign(n=n.astype("int64"), mean=total["value__mean"], std=std.where(n > 0))
    return sort_groups(result, keys)
