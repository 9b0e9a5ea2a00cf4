"""Tidy rows to a matrix of curves (one row per curve, one column per time step) and stimulus timing per curve.

The dynamics measures (peaks, latency, summation, paired-pulse ratio) look at whole time courses, so they pivot
the long table once into a float64 matrix ``values[curve, time]`` (NaN where a curve has no row at that time, e.g.
a shorter trial) and work on it with vectorised numpy: no Python loop per curve.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..tables import TableError, require_columns

__all__ = [
    "Curves",
    "Presentations",
    "baseline_of",
    "curve_keys",
    "make_curves",
    "masked_peak",
    "presentations",
]


@dataclass(frozen=True)
class Curves:
    """Time courses of one value column, one per group of key columns.

    Attributes
    ----------
    keys:
        One row per curve with the key columns (in the order of ``values``' rows).
    time_ms:
        ``(T,)`` the distinct times of the table, ascending, in ms.
    values:
        ``(C, T)`` float64 values; NaN where a curve has no row at a time.
    stimulus:
        ``(C, T)`` bool, True where the stimulus is on; ``None`` when not asked for.
    dt_ms:
        Step duration in ms: the median spacing of ``time_ms`` (NaN for a single time).
    """

    keys: pd.DataFrame
    time_ms: np.ndarray
    values: np.ndarray
    stimulus: np.ndarray | None
    dt_ms: float


def curve_keys(by: Sequence[str], condition: str | None) -> list[str]:
    """``by`` followed by ``condition`` (when given and not already in ``by``)."""
    keys = list(dict.fromkeys(by))
    if condition is not None and condition not in keys:
        keys.append(condition)
    return keys


def make_curves(
    table: pd.DataFrame, keys: Sequence[str], value: str, *, what: str, stimulus: bool = False
) -> Curves:
    """Pivot ``table`` to one curve per group of ``keys`` over ``time_ms``.

    Raises :class:`TableError` when columns are missing, the table is empty, or a curve has several rows at
    one time (the table has categories that ``keys`` leave out; the message names the candidates).
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(
            f"{what} needs a pandas DataFrame (whole time courses), got {type(table).__name__}; "
            "read the table with dynvision_analysis.read_table(path, columns=[...]) first."
        )
    keys = list(keys)
    if value in keys or "time_ms" in keys:
        raise ValueError(f"{what}: value={value!r} and 'time_ms' cannot also be curve keys {keys}.")
    required = [*keys, "time_ms", value, *(["stimulus"] if stimulus else [])]
    require_columns(table, required, what=what)
    # Hash-based factorising (pandas) and counting (bincount): O(rows), no sort of millions of keys.
    if keys:
        grouped = table.groupby(keys, observed=True, sort=False, dropna=False)
        codes = grouped.ngroup().to_numpy().astype(np.int64)
        n_curves = int(codes.max()) + 1
        first = np.full(n_curves, len(codes), dtype=np.int64)
        np.minimum.at(first, codes, np.arange(len(codes)))
        frame = table[keys].iloc[first].reset_index(drop=True)
    else:
        codes = np.zeros(len(table), dtype=np.int64)
        frame = pd.DataFrame(index=range(1))
        n_curves = 1
    time_codes, times = pd.factorize(table["time_ms"].to_numpy(dtype="float64"), sort=True)
    times = np.asarray(times, dtype="float64")
    if (time_codes < 0).any():
        raise TableError(
            f"{what} needs a time in every row, but 'time_ms' has {int((time_codes < 0).sum())} missing."
        )
    flat = codes * len(times) + time_codes
    if (np.bincount(flat, minlength=n_curves * len(times)) > 1).any():
        duplicated = pd.Series(flat).duplicated().to_numpy()
        row = table.loc[duplicated].iloc[0]
        extra = [
            str(name) for name in table.columns if name not in (*required, "sample", "step") and name != value
        ]
        where = describe_row(row, [*keys, "time_ms"])
        raise TableError(
            f"{what} needs one row per curve {tuple(keys)} and time, but found several at {where}. Add the "
            f"column that tells them apart to by (candidates: {extra + (['sample'] if 'sample' not in keys else [])}),"
            " or select one level of it first."
        )
    values = np.full((n_curves, len(times)), np.nan)
    values.flat[flat] = table[value].to_numpy(dtype="float64", na_value=np.nan)
    on = None
    if stimulus:
        on = np.zeros((n_curves, len(times)), dtype=bool)
        on.flat[flat] = table["stimulus"].to_numpy(dtype="float64", na_value=0.0) > 0
    dt = float(np.median(np.diff(times))) if len(times) > 1 else float("nan")
    return Curves(frame, times, values, on, dt)


def describe_row(row: pd.Series, keys: Sequence[str]) -> str:
    """``"area='V1', sample=0"``: the key values of one row, as plain Python values, for error messages."""
    values = {key: row[key].item() if isinstance(row[key], np.generic) else row[key] for key in keys}
    return ", ".join(f"{key}={value!r}" for key, value in values.items())


@dataclass(frozen=True)
class Presentations:
    """Where each curve's stimulus presentations are, as indices into ``Curves.time_ms``.

    ``onsets[c, i]`` is the first "on" step of presentation i of curve c and ``offsets[c, i]`` the first "off"
    step after it (``T`` when the stimulus stays on to the end); -1 where curve c has fewer than i + 1
    presentations. ``count[c]`` is the number of presentations of curve c.
    """

    onsets: np.ndarray
    offsets: np.ndarray
    count: np.ndarray


def presentations(on: np.ndarray, at_most: int) -> Presentations:
    """Find the first ``at_most`` presentations (runs of "on" steps) of each curve in the bool matrix ``on``."""
    n_curves, _n_times = on.shape
    previous = np.zeros_like(on)
    previous[:, 1:] = on[:, :-1]
    rising = on & ~previous
    following = np.zeros_like(on)
    following[:, :-1] = on[:, 1:]
    falling = on & ~following  # last "on" step of each run
    count = rising.sum(axis=1)
    onsets = np.full((n_curves, at_most), -1, dtype=np.int64)
    offsets = np.full((n_curves, at_most), -1, dtype=np.int64)
    rising_rank = np.cumsum(rising, axis=1)
    falling_rank = np.cumsum(falling, axis=1)
    for index in range(at_most):  # at most 2: one pass per presentation, not per curve
        has = count > index
        onsets[has, index] = np.argmax(rising & (rising_rank == index + 1), axis=1)[has]
        offsets[has, index] = np.argmax(falling & (falling_rank == index + 1), axis=1)[has] + 1
    return Presentations(onsets, offsets, count)


def baseline_of(
    curves: Curves, first_onset: np.ndarray, baseline: str | float | None, *, what: str
) -> np.ndarray:
    """Per-curve baseline: the mean before the first onset (``"pre"``), a constant, or 0 (``None``).

    ``first_onset`` holds time indices (``(C,)``). ``"pre"`` raises :class:`TableError` when a curve has no
    step before its onset.
    """
    n_curves = curves.values.shape[0]
    if baseline is None:
        return np.zeros(n_curves)
    if isinstance(baseline, str):
        if baseline != "pre":
            raise ValueError(f"{what}: baseline must be 'pre', a number or None, got {baseline!r}.")
        before = np.arange(curves.values.shape[1])[None, :] < first_onset[:, None]
        counts = (before & ~np.isnan(curves.values)).sum(axis=1)
        if (counts == 0).any():
            raise TableError(
                f"{what} with baseline='pre' needs at least one step before the stimulus onset, but "
                f"{int((counts == 0).sum())} curve(s) start with the stimulus on. Use a paradigm with blank "
                "steps before the stimulus (intro > 0), or pass baseline=0.0 (or None) to subtract nothing."
            )
        return np.where(before, np.nan_to_num(curves.values), 0.0).sum(axis=1) / counts
    if isinstance(baseline, bool) or not isinstance(baseline, int | float):
        raise ValueError(f"{what}: baseline must be 'pre', a number or None, got {baseline!r}.")
    return np.full(n_curves, float(baseline))


def masked_peak(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximum of each row over the True entries of ``mask`` (NaN ignored) and its first column index.

    Rows with no finite value under the mask get NaN and index -1.
    """
    masked = np.where(mask & ~np.isnan(values), values, -np.inf)
    index = np.argmax(masked, axis=1)
    peak = masked[np.arange(len(values)), index]
    empty = ~np.isfinite(peak)
    return np.where(empty, np.nan, peak), np.where(empty, -1, index)
