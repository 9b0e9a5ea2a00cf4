"""Aggregation across samples, seeds and swept categories: mean with SEM or a bootstrap confidence interval.

:func:`summarize` turns any tidy table of observations (e.g. one peak latency per area and sample, or one
accuracy per seed) into one row per group and measure, ready for a figure:

    *by, measure, mean, sem, n, low, high, error_bars

``low``/``high`` are the bounds a figure draws: mean ∓ SEM for ``ci="sem"``, the percentile bootstrap
interval for ``ci="bootstrap"``; ``error_bars`` says which, in words, so a plot can label them (a column of its
own name, so that a swept parameter such as ``interval`` can be a grouping key).

Aggregating over several levels (samples within seeds, seeds within a recurrence type) is two calls: first
average over samples per seed, then summarize the seed means, so that the seeds are the observations:

    per_seed = summarize(latencies, "latency_ms", by=("rctype", "seed", "area"))
    summarize(per_seed, "mean", by=("rctype", "area"))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from ..tables import TableError, require_columns
from .aggregate import reduce_table, sort_groups, summarize_moments

__all__ = ["bootstrap_means", "summarize"]

#: Most index draws held at once by the bootstrap (one block of resamples): 4M int64 = 32 MB.
_DRAWS_PER_BLOCK = 4_000_000


def bootstrap_means(
    values: np.ndarray,
    codes: np.ndarray,
    n_groups: int,
    *,
    n_boot: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Bootstrap distribution of the mean of each group: an ``(n_boot, n_groups)`` array.

    ``values`` (float) belong to groups ``codes`` (0 … n_groups − 1). Each resample draws, independently in
    each group, as many values with replacement as the group has, and takes their mean. All groups are
    resampled at once: indices are drawn for a block of resamples as one ``(block, n)`` array and summed per
    group with ``np.add.reduceat``, so the only Python loop is over blocks (a few, bounded in memory by
    ``_DRAWS_PER_BLOCK`` draws), not over resamples or groups. Empty groups get NaN.
    """
    order = np.argsort(codes, kind="stable")
    ordered, sizes = values[order], np.bincount(codes, minlength=n_groups)
    present = np.flatnonzero(sizes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    start_of_draw = np.repeat(starts, sizes)
    size_of_draw = np.repeat(sizes, sizes)
    means = np.full((n_boot, n_groups), np.nan)
    block = max(1, min(n_boot, _DRAWS_PER_BLOCK // max(len(ordered), 1)))
    for first in range(0, n_boot, block):
        count = min(block, n_boot - first)
        # floor(u · n) for u uniform in [0, 1) picks one of a group's n values; clipped at n − 1 because
        # u · n can round up to n for huge n. Faster than Generator.integers with per-element bounds.
        offsets = (rng.random((count, len(ordered))) * size_of_draw).astype(np.int64)
        draws = start_of_draw + np.minimum(offsets, size_of_draw - 1)
        sums = np.add.reduceat(ordered[draws], starts[present], axis=1)
        means[first : first + count, present] = sums / sizes[present]
    return means


def _interval_name(ci: str, level: float) -> str:
    return "±1 SEM" if ci == "sem" else f"{level:.0%} bootstrap CI"


def summarize(
    table: pd.DataFrame | Iterable[pd.DataFrame],
    values: str | Sequence[str],
    by: Sequence[str] = (),
    *,
    ci: str = "sem",
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean of each column in ``values`` per group of ``by``, with its standard error or a bootstrap CI.

    Each row of ``table`` is one observation (a sample, a seed, ...); NaN values are left out. For the n
    values x_i of a group:

        mean = (1/n) Σ x_i,     sem = s / √n,   s² = Σ (x_i − mean)² / (n − 1)      (NaN when n < 2)

    * ``ci="sem"``: low, high = mean ∓ sem. Accepts an iterable of chunks and reduces them in bounded memory
      (the exact mergeable moments of :mod:`dynvision_analysis.measures.aggregate`).
    * ``ci="bootstrap"``: low, high = the (1 − level)/2 and (1 + level)/2 percentiles of the means of
      ``n_boot`` resamples (percentile bootstrap, resampling the observations of each group with
      replacement), from ``numpy.random.default_rng(seed)``: the same seed gives the same interval.
      NaN when n < 2. Needs the observations in memory (a DataFrame).

    Parameters
    ----------
    table:
        Tidy observations with the ``by`` and ``values`` columns; e.g. the output of a dynamics measure.
    values:
        Column(s) to summarize; several give several rows per group (column ``measure`` says which).
    by:
        Grouping columns; ``()`` summarizes all rows together.
    ci:
        ``"sem"`` or ``"bootstrap"``.
    level:
        Coverage of the bootstrap interval, in (0, 1).
    n_boot:
        Number of bootstrap resamples (>= 100 recommended; 2000 by default).
    seed:
        Seed of the bootstrap's random generator.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, measure, mean, sem, n, low, high, error_bars``, sorted by group (areas in hierarchy
        order) and measure, in the unit of each value.
    """
    what = "summarize"
    names = [values] if isinstance(values, str) else list(dict.fromkeys(values))
    if not names:
        raise ValueError(f"{what} needs at least one value column to summarize.")
    if ci not in ("sem", "bootstrap"):
        raise ValueError(f"{what}: ci must be 'sem' or 'bootstrap', got {ci!r}.")
    overlap = [name for name in names if name in by]
    if overlap:
        raise ValueError(f"{what}: {overlap} are both values and grouping columns (by); choose one role.")
    keys = list(by)
    if ci == "bootstrap":
        if not 0 < level < 1:
            raise ValueError(f"{what}: level must be in (0, 1), e.g. 0.95, got {level!r}.")
        if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
            raise ValueError(f"{what}: n_boot must be a positive number of resamples, got {n_boot!r}.")
        if not isinstance(table, pd.DataFrame):
            table = pd.concat([chunk[[*keys, *names]] for chunk in table], ignore_index=True)
    # reduce_table needs at least one key; a constant helper column stands in for "all rows".
    group_keys = keys or ["__all__"]
    if isinstance(table, pd.DataFrame):
        require_columns(table, [*keys, *names], what=what)
        chunks: pd.DataFrame | Iterable[pd.DataFrame] = table if keys else table.assign(__all__=0)
    else:
        chunks = table if keys else (chunk.assign(__all__=0) for chunk in table)
    moments = reduce_table(chunks, group_keys, names, what=what)
    parts = []
    for name in names:
        part = summarize_moments(moments, group_keys, name)
        if ci == "sem":
            part = part.assign(low=part["mean"] - part["sem"], high=part["mean"] + part["sem"])
        parts.append(part.assign(measure=name))
    result = pd.concat(parts, ignore_index=True)
    if ci == "bootstrap":
        assert isinstance(table, pd.DataFrame)
        result = _with_bootstrap(table, result, keys, names, level=level, n_boot=n_boot, seed=seed)
    result = result.assign(error_bars=_interval_name(ci, level)).drop(columns=["__all__"], errors="ignore")
    result = result[[*keys, "measure", "mean", "sem", "n", "low", "high", "error_bars"]]
    return sort_groups(result, [*keys, "measure"])


def _with_bootstrap(
    table: pd.DataFrame,
    result: pd.DataFrame,
    keys: list[str],
    names: list[str],
    *,
    level: float,
    n_boot: int,
    seed: int,
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    quantiles = [(1 - level) / 2, (1 + level) / 2]
    bounds = []
    for name in names:  # one pass per measure column; every group and resample inside is vectorised
        rows = table[[*keys, name]].dropna(subset=[name])
        if rows.empty:
            raise TableError(f"summarize: the column {name!r} has no values (all NaN); nothing to bootstrap.")
        if keys:
            grouped = rows.groupby(keys, observed=True, sort=False, dropna=False)
            codes = grouped.ngroup().to_numpy()
            first = np.unique(codes, return_index=True)[1]
            labels = rows[keys].iloc[first].reset_index(drop=True)
        else:
            codes = np.zeros(len(rows), dtype=np.int64)
            labels = pd.DataFrame({"__all__": [0]})
        means = bootstrap_means(
            rows[name].to_numpy(dtype="float64"), codes, len(labels), n_boot=n_boot, rng=rng
        )
        low, high = np.quantile(means, quantiles, axis=0)
        small = np.bincount(codes, minlength=len(labels)) < 2
        bounds.append(
            labels.assign(measure=name, low=np.where(small, np.nan, low), high=np.where(small, np.nan, high))
        )
    merge_keys = [*(keys or ["__all__"]), "measure"]
    return result.merge(pd.concat(bounds, ignore_index=True), on=merge_keys, how="left")
