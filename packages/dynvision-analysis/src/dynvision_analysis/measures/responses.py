"""Layer responses over time: the mean response of each area at each time step, with its SEM."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from .aggregate import reduce_table, sort_groups, summarize_moments

__all__ = ["response_over_time"]


def response_over_time(
    table: pd.DataFrame | Iterable[pd.DataFrame],
    by: Sequence[str] = ("area",),
    *,
    value: str = "response",
) -> pd.DataFrame:
    """Mean and SEM of ``value`` per time step and per group of ``by``, over samples.

    For each group g of the ``by`` columns and each step t, with x_i the ``value`` of the n rows in (g, t)
    (normally one per sample; rows of category columns not in ``by`` are pooled):

        mean = (1/n) Σ x_i,        sem = s / √n,   s² = Σ (x_i − mean)² / (n − 1).

    ``sem`` is NaN when n < 2; NaN values of ``value`` are left out of n.

    Parameters
    ----------
    table:
        A responses table (see :data:`dynvision_analysis.tables.RESPONSES`), or an iterable of its chunks
        (e.g. :func:`dynvision_analysis.io.iter_table`) to reduce a large file in bounded memory.
        Needs the columns ``by``, ``step``, ``time_ms`` and ``value``.
    by:
        Grouping columns; ``()`` pools all areas. Add category columns (e.g. ``("area", "seed")``) to keep
        their levels apart.
    value:
        Column to average; ``"response"`` (a.u.) by default, ``"response_std"`` for the spread over units.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, step, time_ms, mean, sem, n``, one row per (group, step), sorted by group (areas in
        the order V1, V2, V4, IT, others) and step. ``mean`` and ``sem`` are in the unit of ``value``.
    """
    keys = [*by, "step", "time_ms"]
    if value in keys:
        raise ValueError(
            f"value={value!r} is also a grouping column in by={tuple(by)!r}; choose a different one."
        )
    moments = reduce_table(table, keys, [value], what="response_over_time")
    return sort_groups(summarize_moments(moments, keys, value), keys)
