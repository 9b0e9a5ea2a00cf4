"""The temporal-dynamics study: three phenomena per model variant and area, with hierarchical bootstrap CIs.

The DynVision preprint (Gutzen & Lindsay) compares model variants with human ECoG (Groen et al., 2022) on three
phenomena, each measured by a test paradigm of the workflow:

* **repetition** (the ``interval`` paradigm: the image twice, separated by a gap): the paired-pulse ratio of
  :func:`~dynvision_analysis.peak_ratio` against the gap; below 1 is repetition suppression;
* **duration** (the ``duration`` paradigm): the normalised summed response of
  :func:`~dynvision_analysis.temporal_summation` against the stimulus duration, beside the linear prediction;
  above it is sub-additive temporal summation;
* **contrast** (the ``contrast`` paradigm): time to peak and time to half-maximum of
  :func:`~dynvision_analysis.contrast_response` against contrast; an earlier peak at higher contrast is
  contrast-dependent timing.

:func:`study_table` measures each phenomenon on the **mean** time course of an area (mean over test images, then
over seeds), as the preprint does: a ratio or a latency of one noisy image is not the quantity it reports. Its
uncertainty is a hierarchical percentile bootstrap: each resample draws the seeds with replacement and, within
each drawn seed, the images with replacement, averages the curves with those weights and measures the average.
One image draw serves every condition and area of a seed and phenomenon, so comparisons across conditions (a
ratio at the shortest against the longest gap, a peak time at low against high contrast) stay paired.

The resamples are weight matrices: the mean curves of a block of resamples are one matrix product (resample
weights × curves), and the measures run on every resample of the block at once, as curves keyed by a ``boot``
column; memory is bounded by the block size, not by the number of resamples.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from os import PathLike

import numpy as np
import pandas as pd

from ..io import read_table
from ..tables import TableError, order_areas, require_columns
from ._curves import make_curves
from .dynamics import LATENCY_RESOLVED, LATENCY_STATUSES, contrast_response, peak_ratio, temporal_summation

__all__ = [
    "CONDITION_COLUMNS",
    "EFFECTS",
    "EFFECT_COLUMNS",
    "MEASURES",
    "PHENOMENA",
    "TABLE_COLUMNS",
    "simulate_responses",
    "study_table",
]

#: The phenomena of the study, in the order of the figure's rows.
PHENOMENA: tuple[str, ...] = ("repetition", "duration", "contrast")
#: The condition column of each phenomenon's responses table: the paradigm parameter that its test sweeps (gap
#: and stimulus length in steps; the duration's is ``paradigm_stimulus`` because ``stimulus`` is the 0/1 column).
CONDITION_COLUMNS: dict[str, str] = {"repetition": "interval", "duration": "paradigm_stimulus", "contrast": "contrast"}
#: Columns read from every responses table, besides the phenomenon's condition column.
RESPONSE_COLUMNS: tuple[str, ...] = ("sample", "time_ms", "area", "response", "stimulus")
#: The measures of each phenomenon in the study table, in order.
MEASURES: dict[str, tuple[str, ...]] = {
    "repetition": ("peak_ratio",),
    "duration": ("normalized_summed", "linear"),
    "contrast": ("time_to_peak_ms", "latency_ms", "relative_time_to_peak", "relative_response"),
}
#: The effects of each phenomenon in the effects table, in order.
EFFECTS: dict[str, tuple[str, ...]] = {
    "repetition": ("suppression", "recovery"),
    "duration": ("subadditivity",),
    "contrast": ("timing_shift_ms", "latency_shift_ms"),
}
#: Columns of the study table (one row per variant × area × phenomenon × measure × condition).
TABLE_COLUMNS: tuple[str, ...] = (
    "variant", "area", "phenomenon", "measure", "condition_name", "condition", "normalized_condition",
    "value", "low", "high", "n_seeds", "n_images", "ci", "status",
)
#: Columns of the effects table (one row per variant × area × effect).
EFFECT_COLUMNS: tuple[str, ...] = (
    "variant", "area", "phenomenon", "effect", "value", "low", "high", "expected", "shows", "description",
)
#: The sign of every effect in human visual cortex (Groen et al., 2022): all four are positive there.
BRAIN_SIGN = "+"
#: Mean-curve values held at once per block of resamples (8 bytes each, plus the long table built from them).
_VALUES_PER_BLOCK = 1_000_000

TableSource = pd.DataFrame | str | PathLike[str]


@dataclass(frozen=True)
class _Source:
    """One responses table of the study: a variant, a seed and a phenomenon."""

    variant: str
    seed: str
    phenomenon: str
    table: TableSource

    def describe(self) -> str:
        where = "" if isinstance(self.table, pd.DataFrame) else f" ({str(self.table)!r})"
        return f"the {self.phenomenon} table of variant {self.variant!r}, seed {self.seed!r}{where}"


@dataclass(frozen=True)
class _SeedCurves:
    """The curves of one responses table, on a full grid: ``values[area, condition, image, time]``."""

    areas: list[str]
    conditions: np.ndarray
    samples: np.ndarray
    time_ms: np.ndarray
    values: np.ndarray  # (A, C, N, T) float64, NaN where a condition has no step at that time
    stimulus: np.ndarray  # (C, T) bool, shared by every area and image
    present: np.ndarray  # (A, C, T) bool


def _sources(tables: Iterable[tuple[object, object, object, TableSource]]) -> list[_Source]:
    """Check the (variant, seed, phenomenon, table) entries: known phenomena, no duplicates, none missing."""
    what = "study_table"
    sources: list[_Source] = []
    seen: set[tuple[str, str, str]] = set()
    for entry in tables:
        if not isinstance(entry, tuple | list) or len(entry) != 4:
            raise ValueError(
                f"{what} needs (variant, seed, phenomenon, table) entries, got {entry!r}; table is a DataFrame "
                "or the path of a responses table."
            )
        variant, seed, phenomenon, table = entry
        if phenomenon not in PHENOMENA:
            raise TableError(
                f"{what}: unknown phenomenon {phenomenon!r} for variant {variant!r}, seed {seed!r}; allowed: "
                f"{', '.join(PHENOMENA)} (the interval, duration and contrast experiments)."
            )
        key = (str(variant), str(seed), str(phenomenon))
        if key in seen:
            raise TableError(
                f"{what}: two tables for variant {key[0]!r}, seed {key[1]!r}, phenomenon {key[2]!r}; give one "
                "table per variant, seed and phenomenon."
            )
        seen.add(key)
        sources.append(_Source(*key, table))
    if not sources:
        raise TableError(f"{what} got no tables; it needs (variant, seed, phenomenon, table) entries.")
    phenomena = {source.phenomenon for source in sources}
    for variant in dict.fromkeys(source.variant for source in sources):
        mine = [source for source in sources if source.variant == variant]
        seeds = list(dict.fromkeys(source.seed for source in mine))
        for phenomenon in (name for name in PHENOMENA if name in phenomena):
            have = {source.seed for source in mine if source.phenomenon == phenomenon}
            missing = [seed for seed in seeds if seed not in have]
            if missing:
                raise TableError(
                    f"{what}: variant {variant!r} lacks a {phenomenon} table for seed(s) {missing}; every variant "
                    f"needs a table for each seed and each phenomenon of the study "
                    f"({', '.join(name for name in PHENOMENA if name in phenomena)}). Add the missing table(s), or "
                    "leave that phenomenon or seed out for every variant."
                )
    return sources


def _read(source: _Source) -> pd.DataFrame:
    column = CONDITION_COLUMNS[source.phenomenon]
    needed = [*RESPONSE_COLUMNS, column]
    if isinstance(source.table, pd.DataFrame):
        require_columns(source.table, needed, what=f"study_table ({source.describe()})")
        return source.table[needed]
    return read_table(source.table, needed)


def _seed_curves(source: _Source) -> _SeedCurves:
    """Read one table and arrange its curves on the grid area × condition × image × time, checking it is full."""
    what = f"study_table ({source.describe()})"
    column = CONDITION_COLUMNS[source.phenomenon]
    frame = _read(source)
    if not pd.api.types.is_numeric_dtype(frame[column]):
        raise TableError(f"{what}: the condition column {column!r} must be numeric, got {frame[column].dtype}.")
    keys = ["area", column, "sample"]
    try:
        curves = make_curves(frame, keys, "response", what=what, stimulus=True)
    except TableError:
        if frame.duplicated([*keys, "time_ms"]).any():
            raise TableError(
                f"{what} has several rows per area, {column}, sample and time: it holds more than one test (several "
                "seeds, paradigms or model states). Give one table per variant, seed and phenomenon."
            ) from None
        raise
    areas = order_areas(curves.keys["area"].astype("object").map(str))
    conditions = np.sort(pd.unique(curves.keys[column].to_numpy(dtype="float64")))
    samples = np.sort(pd.unique(curves.keys["sample"].to_numpy()))
    a = pd.Categorical(curves.keys["area"].astype("object").map(str), categories=areas).codes
    c = np.searchsorted(conditions, curves.keys[column].to_numpy(dtype="float64"))
    n = np.searchsorted(samples, curves.keys["sample"].to_numpy())
    shape = (len(areas), len(conditions), len(samples))
    if len(curves.keys) != np.prod(shape):
        have = np.zeros(shape, dtype=bool)
        have[a, c, n] = True
        first = np.argwhere(~have)[0]
        raise TableError(
            f"{what} lacks {int((~have).sum())} of {int(np.prod(shape))} (area, {column}, sample) curves, e.g. "
            f"area={areas[first[0]]!r}, {column}={conditions[first[1]]:g}, sample={samples[first[2]]!r}: every image "
            "must be tested under every condition in every area."
        )
    order = np.empty(shape, dtype=np.int64)
    order[a, c, n] = np.arange(len(curves.keys))
    values = curves.values[order]
    assert curves.stimulus is not None
    stimulus = curves.stimulus[order]
    present = ~np.isnan(values)
    present_any = present.any(axis=2)
    if (present != present_any[:, :, None, :]).any():
        raise TableError(
            f"{what} has responses for some images but not others at some times (missing rows or NaN responses): "
            "every image of a condition needs a response at every step of its trial."
        )
    if (stimulus != stimulus[:1, :, :1, :]).any():
        raise TableError(
            f"{what}: the stimulus timing (0/1 'stimulus' column) differs between the images or areas of a "
            "condition; a condition must show every image at the same steps."
        )
    return _SeedCurves(
        areas, conditions, samples, curves.time_ms, values, stimulus[0, :, 0, :], present_any
    )


def _check_same(first: _SeedCurves, other: _SeedCurves, seeds: tuple[str, str], source: _Source) -> None:
    """Refuse seeds of one variant and phenomenon that differ in images, conditions, areas or timing."""
    column = CONDITION_COLUMNS[source.phenomenon]
    checks = (
        ("areas", first.areas == other.areas, first.areas, other.areas),
        (f"conditions ({column})", np.array_equal(first.conditions, other.conditions),
         first.conditions.tolist(), other.conditions.tolist()),
        ("images (sample)", np.array_equal(first.samples, other.samples),
         f"{len(first.samples)} images", f"{len(other.samples)} images"),
        ("time steps (time_ms)", np.array_equal(first.time_ms, other.time_ms),
         f"{len(first.time_ms)} times", f"{len(other.time_ms)} times"),
    )
    for name, same, mine, theirs in checks:
        if not same:
            raise TableError(
                f"study_table: seeds {seeds[0]!r} and {seeds[1]!r} of variant {source.variant!r} differ in their "
                f"{name} for {source.phenomenon}: {mine} against {theirs}. The seeds of a variant must be tested "
                "on the same images under the same conditions (run them with the same test settings)."
            )
    if not (np.array_equal(first.stimulus, other.stimulus) and np.array_equal(first.present, other.present)):
        raise TableError(
            f"study_table: seeds {seeds[0]!r} and {seeds[1]!r} of variant {source.variant!r} differ in their "
            f"stimulus timing for {source.phenomenon}; run them with the same paradigm settings."
        )


@dataclass(frozen=True)
class _Stack:
    """The curves of every seed of one variant and phenomenon, as one matrix for the resampling."""

    grid: _SeedCurves
    #: (S · N, A · C · T): row s · N + n holds image n of seed s; NaN (absent steps) as 0.
    curves: np.ndarray
    n_seeds: int
    n_images: int


def _stack(sources: list[_Source]) -> _Stack:
    grids = [_seed_curves(source) for source in sources]
    for source, grid in zip(sources[1:], grids[1:], strict=True):
        _check_same(grids[0], grid, (sources[0].seed, source.seed), source)
    first = grids[0]
    n_areas, n_conditions, n_images, n_times = first.values.shape
    curves = np.stack([np.nan_to_num(grid.values).transpose(2, 0, 1, 3) for grid in grids])
    return _Stack(first, curves.reshape(len(grids) * n_images, n_areas * n_conditions * n_times),
                  len(grids), n_images)


def _mean_curve_blocks(
    stack: _Stack, n_boot: int, rng: np.random.Generator
) -> Iterator[tuple[int, np.ndarray]]:
    """Blocks ``(first, means)`` of mean curves ``(rows, A · C · T)``: row 0 of the first block (first = 0) is the
    estimate (every image of every seed with equal weight), rows 1 … n_boot the resamples.

    Each resample draws the seeds with replacement, then, within each drawn seed, its images with replacement (a
    seed drawn k times draws k · N images); its weights are the draw counts over S · N. The seed draws are made
    first and the image draws block by block, in resample order, so the resamples do not depend on the block size.
    """
    n_seeds, n_images = stack.n_seeds, stack.n_images
    seed_draws = rng.multinomial(n_seeds, np.full(n_seeds, 1.0 / n_seeds), size=n_boot)
    block = max(1, _VALUES_PER_BLOCK // max(stack.curves.shape[1], 1))
    for first in range(0, n_boot + 1, block):
        last = min(first + block, n_boot + 1)
        draws = rng.multinomial(seed_draws[max(first, 1) - 1 : last - 1] * n_images, np.full(n_images, 1.0 / n_images))
        weights = draws.reshape(len(draws), n_seeds * n_images) / (n_seeds * n_images)
        if first == 0:
            weights = np.vstack([np.full((1, n_seeds * n_images), 1.0 / (n_seeds * n_images)), weights])
        yield first, weights @ stack.curves


def _long_table(grid: _SeedCurves, column: str, first: int, means: np.ndarray) -> pd.DataFrame:
    """The mean curves of a block as a tidy table keyed by ``boot`` (0 = estimate), area and condition."""
    where = np.flatnonzero(grid.present.ravel())
    area, condition, time = np.unravel_index(where, grid.present.shape)
    rows = means.shape[0]
    return pd.DataFrame(
        {
            "boot": np.repeat(np.arange(first, first + rows), len(where)),
            "area": pd.Categorical.from_codes(np.tile(area, rows), categories=grid.areas),
            column: np.tile(grid.conditions[condition], rows),
            "time_ms": np.tile(grid.time_ms[time], rows),
            "response": means[:, where].ravel(),
            "stimulus": np.tile(grid.stimulus[condition, time].astype("int8"), rows),
        }
    )


#: Per phenomenon: the measure of the mean curves (keyed by boot and area) and the columns kept from it.
_MEASURE_COLUMNS: dict[str, tuple[Callable[..., pd.DataFrame], tuple[str, ...]]] = {
    "repetition": (peak_ratio, ("peak_ratio", "isi_ms", "soa_ms")),
    "duration": (temporal_summation, ("normalized", "linear", "duration_ms")),
    "contrast": (contrast_response, ("time_to_peak_ms", "latency_ms", "latency_status", "response")),
}


def _measure_all(stack: _Stack, phenomenon: str, n_boot: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The phenomenon's measure columns as ``(1 + n_boot, A, C)`` arrays: [0] the estimate, [1:] the resamples.

    ``latency_status`` comes as the index of the status in :data:`LATENCY_STATUSES`.
    """
    grid = stack.grid
    column = CONDITION_COLUMNS[phenomenon]
    measure, names = _MEASURE_COLUMNS[phenomenon]
    shape = (n_boot + 1, len(grid.areas), len(grid.conditions))
    arrays = {name: np.full(shape, np.nan) for name in names}
    for first, means in _mean_curve_blocks(stack, n_boot, rng):
        frame = _long_table(grid, column, first, means)
        result = measure(frame, ("boot", "area"), condition=column)
        boot = result["boot"].to_numpy()
        area = pd.Categorical(result["area"].astype("object").map(str), categories=grid.areas).codes
        condition = np.searchsorted(grid.conditions, result[column].to_numpy(dtype="float64"))
        for name in names:
            values = result[name]
            if name == "latency_status":
                values = values.map({status: index for index, status in enumerate(LATENCY_STATUSES)})
            arrays[name][boot, area, condition] = values.to_numpy(dtype="float64")
    return arrays


def _ratio_to_last(values: np.ndarray) -> np.ndarray:
    """Each value over the value at the last condition (the highest contrast) of its resample and area."""
    last = values[..., -1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(last > 0, values / last, np.nan)


def _bounds(
    values: np.ndarray, level: float, why_missing: np.ndarray | str = "not measurable"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile interval over the resamples ``values[1:]`` and a status per estimate ``values[0]``.

    The interval comes from the resamples where the measure is a number, if they are at least ``level`` of them
    (status "" when all are, else how many); otherwise it is NaN and the status says why. An estimate that is NaN
    gets NaN bounds and the status ``why_missing`` (one text, or one per estimate).
    """
    estimate, resamples = values[0], values[1:]
    finite = np.isfinite(resamples)
    count = finite.sum(axis=0)
    total = resamples.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN bounds, handled below
        low, high = np.nanquantile(resamples, [(1 - level) / 2, (1 + level) / 2], axis=0)
    enough = count >= level * total
    missing = np.broadcast_to(np.asarray(why_missing, dtype=object), estimate.shape)
    status = np.empty(estimate.shape, dtype=object)
    for index in np.ndindex(estimate.shape):
        if not np.isfinite(estimate[index]):
            status[index] = missing[index]
        elif count[index] == total:
            status[index] = ""
        elif enough[index]:
            status[index] = f"CI from the {count[index]} of {total} resamples where it is measurable"
        else:
            status[index] = f"CI not resolvable: measurable in only {count[index]} of {total} resamples"
    keep = np.isfinite(estimate) & enough
    return np.where(keep, low, np.nan), np.where(keep, high, np.nan), status


def _ci_text(level: float, n_boot: int, n_seeds: int, n_images: int) -> str:
    if n_seeds > 1:
        return (
            f"{level:.0%} percentile CI, hierarchical bootstrap over {n_seeds} seeds and {n_images} images per seed "
            f"({n_boot} resamples)"
        )
    return (
        f"{level:.0%} percentile CI, bootstrap over the {n_images} images of one seed ({n_boot} resamples): "
        "images only, seed-to-seed variation not included"
    )


@dataclass(frozen=True)
class _Measured:
    """Every measure of one variant and phenomenon, as ``(1 + n_boot, A, C)`` arrays, with their conditions."""

    variant: str
    phenomenon: str
    areas: list[str]
    condition_name: str
    condition: np.ndarray  # (C,) in the condition's unit (ms, or contrast)
    normalized_condition: np.ndarray  # (C,)
    measures: dict[str, np.ndarray]
    why_missing: dict[str, np.ndarray | str]
    effects: dict[str, tuple[np.ndarray, str]]  # name -> ((1 + n_boot, A), description)
    n_seeds: int
    n_images: int


def _repetition(arrays: dict[str, np.ndarray]) -> dict[str, object]:
    ratio = arrays["peak_ratio"]
    isi = arrays["isi_ms"][0, 0]
    first_duration = arrays["soa_ms"][0, 0] - isi
    valid = np.flatnonzero(np.isfinite(isi))
    if not len(valid):
        raise TableError(
            "study_table: no condition of the repetition table shows two separate presentations (two rising edges "
            "of the 'stimulus' column); use the interval paradigm with gaps of at least one step."
        )
    short, long = valid[np.argmin(isi[valid])], valid[np.argmax(isi[valid])]
    return {
        "condition_name": "isi_ms",
        "condition": isi,
        "normalized_condition": isi / first_duration,
        "measures": {"peak_ratio": ratio},
        "why_missing": {"peak_ratio": "not measurable: no second presentation, or no first peak above baseline"},
        "effects": {
            "suppression": (
                1.0 - ratio[:, :, short],
                f"1 − peak ratio (2nd / 1st) at the shortest gap, {isi[short]:g} ms; > 0: the repeated stimulus "
                "evokes a smaller response (suppression), < 0: a larger one (facilitation); unitless",
            ),
            "recovery": (
                ratio[:, :, long] - ratio[:, :, short],
                f"peak ratio at the longest gap ({isi[long]:g} ms) − at the shortest ({isi[short]:g} ms); > 0: "
                "the second response recovers as the gap grows; unitless",
            ),
        },
    }


def _duration(arrays: dict[str, np.ndarray]) -> dict[str, object]:
    normalized, linear = arrays["normalized"], arrays["linear"]
    duration = arrays["duration_ms"][0, 0]
    return {
        "condition_name": "duration_ms",
        "condition": duration,
        "normalized_condition": duration / np.nanmax(duration),
        "measures": {"normalized_summed": normalized, "linear": linear},
        "why_missing": {"normalized_summed": "not measurable: the largest summed response is not above baseline"},
        "effects": {
            "subadditivity": (
                normalized[:, :, 0] - linear[:, :, 0],
                f"normalised summed response − linear prediction at the shortest duration, {duration[0]:g} ms; "
                "> 0: sub-additive temporal summation; unitless (fraction of the largest summed response)",
            ),
        },
    }


def _contrast(arrays: dict[str, np.ndarray], conditions: np.ndarray) -> dict[str, object]:
    peak_time = arrays["time_to_peak_ms"]
    status = arrays["latency_status"][0]
    reasons = np.array(LATENCY_STATUSES, dtype=object)[np.nan_to_num(status, nan=0).astype(int)]
    return {
        "condition_name": "contrast",
        "condition": conditions,
        "normalized_condition": conditions,
        "measures": {
            "time_to_peak_ms": peak_time,
            "latency_ms": arrays["latency_ms"],
            "relative_time_to_peak": _ratio_to_last(peak_time),
            "relative_response": _ratio_to_last(arrays["response"]),
        },
        "why_missing": {
            "time_to_peak_ms": "not measurable: no response after onset",
            "latency_ms": np.where(reasons == LATENCY_RESOLVED, "", reasons),
            "relative_time_to_peak": "not measurable: the time to peak at the highest contrast is 0 ms",
            "relative_response": "not measurable: no evoked response at the highest contrast",
        },
        "effects": {
            "timing_shift_ms": (
                peak_time[:, :, 0] - peak_time[:, :, -1],
                f"time to peak at the lowest contrast ({conditions[0]:g}) − at the highest ({conditions[-1]:g}); "
                "> 0: the response peaks earlier at high contrast; ms",
            ),
            "latency_shift_ms": (
                arrays["latency_ms"][:, :, 0] - arrays["latency_ms"][:, :, -1],
                f"time to half-maximum at the lowest contrast ({conditions[0]:g}) − at the highest "
                f"({conditions[-1]:g}), interpolated below a step (NaN where not resolvable); > 0: the response "
                "rises earlier at high contrast; ms",
            ),
        },
    }


def _measure_variant(sources: list[_Source], n_boot: int, rng: np.random.Generator) -> _Measured:
    stack = _stack(sources)
    phenomenon = sources[0].phenomenon
    arrays = _measure_all(stack, phenomenon, n_boot, rng)
    if phenomenon == "repetition":
        parts = _repetition(arrays)
    elif phenomenon == "duration":
        parts = _duration(arrays)
    else:
        parts = _contrast(arrays, stack.grid.conditions)
    return _Measured(
        variant=sources[0].variant,
        phenomenon=phenomenon,
        areas=stack.grid.areas,
        n_seeds=stack.n_seeds,
        n_images=stack.n_images,
        **parts,  # type: ignore[arg-type]
    )


def _table_rows(measured: _Measured, level: float, n_boot: int) -> list[dict[str, object]]:
    ci = _ci_text(level, n_boot, measured.n_seeds, measured.n_images)
    rows = []
    for measure in MEASURES[measured.phenomenon]:
        values = measured.measures[measure]
        if measure == "linear":
            low, high, status = values[0], values[0], np.full(values[0].shape, "", dtype=object)
            interval = "none: the linear prediction (duration / longest duration) is exact"
        else:
            low, high, status = _bounds(values, level, measured.why_missing[measure])
            interval = ci
        for a, area in enumerate(measured.areas):
            for c, condition in enumerate(measured.condition):
                rows.append(
                    {
                        "variant": measured.variant,
                        "area": area,
                        "phenomenon": measured.phenomenon,
                        "measure": measure,
                        "condition_name": measured.condition_name,
                        "condition": float(condition),
                        "normalized_condition": float(measured.normalized_condition[c]),
                        "value": float(values[0, a, c]),
                        "low": float(low[a, c]),
                        "high": float(high[a, c]),
                        "n_seeds": measured.n_seeds,
                        "n_images": measured.n_images,
                        "ci": interval,
                        "status": str(status[a, c]),
                    }
                )
    return rows


def _effect_rows(measured: _Measured, level: float) -> list[dict[str, object]]:
    rows = []
    for effect in EFFECTS[measured.phenomenon]:
        values, description = measured.effects[effect]
        low, high, _status = _bounds(values, level)
        for a, area in enumerate(measured.areas):
            rows.append(
                {
                    "variant": measured.variant,
                    "area": area,
                    "phenomenon": measured.phenomenon,
                    "effect": effect,
                    "value": float(values[0, a]),
                    "low": float(low[a]),
                    "high": float(high[a]),
                    "expected": BRAIN_SIGN,
                    "shows": bool(np.isfinite(low[a]) and low[a] > 0),
                    "description": description,
                }
            )
    return rows


def _sorted(frame: pd.DataFrame, variants: list[str], names: dict[str, tuple[str, ...]], column: str,
            extra: Sequence[str]) -> pd.DataFrame:
    """Rows in study order: variants as given, areas in hierarchy order, phenomena, then measures or effects."""
    areas = order_areas(frame["area"])
    order = [name for phenomenon in PHENOMENA for name in names[phenomenon]]
    ranks = {
        "variant": {name: index for index, name in enumerate(variants)},
        "area": {name: index for index, name in enumerate(areas)},
        "phenomenon": {name: index for index, name in enumerate(PHENOMENA)},
        column: {name: index for index, name in enumerate(order)},
    }
    return frame.sort_values(
        ["variant", "area", "phenomenon", column, *extra],
        key=lambda series: series.map(ranks[series.name]) if series.name in ranks else series,
        kind="stable",
    ).reset_index(drop=True)


def study_table(
    tables: Iterable[tuple[object, object, object, TableSource]],
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The study's measures per variant, area, phenomenon and condition, and its effects, with bootstrap CIs.

    Parameters
    ----------
    tables:
        ``(variant, seed, phenomenon, table)`` entries: one responses table (a DataFrame, or the path of a CSV or
        Parquet file) per model variant (e.g. ``"full-strong"``), training seed and phenomenon (``"repetition"``:
        the interval paradigm, condition column ``interval``; ``"duration"``: ``paradigm_stimulus``;
        ``"contrast"``: ``contrast``). Each needs the columns ``sample, time_ms, area, response, stimulus`` and its
        condition column, with every image under every condition in every area; the seeds of a variant must share
        images, conditions and timing. Paths are read one variant and phenomenon at a time.
    n_boot:
        Number of bootstrap resamples.
    level:
        Coverage of the percentile intervals, in (0, 1).
    seed:
        Seed of the bootstrap's random generators (one per variant and phenomenon, from this seed and their
        names): the same seed gives the same intervals, whatever other variants the study holds.

    Returns
    -------
    (table, effects):
        ``table`` has the columns :data:`TABLE_COLUMNS`, one row per variant × area × phenomenon × measure ×
        condition; ``value`` is the measure of the mean curve (mean over images, then seeds), ``low``/``high`` its
        interval (``ci`` says which), ``status`` "" or why a value or interval is missing:

        * repetition, ``peak_ratio`` (2nd / 1st baseline-subtracted peak) against ``isi_ms``, the gap in ms;
          ``normalized_condition`` = gap / duration of the first presentation;
        * duration, ``normalized_summed`` (summed response / the largest over durations) and ``linear`` (the
          prediction of linear summation, exact: low = high = value) against ``duration_ms``; normalised by the
          longest duration;
        * contrast, ``time_to_peak_ms`` and ``latency_ms`` (time to half-maximum, interpolated; NaN with the
          reason in ``status`` where it is below one step or there is no rise) from onset, and
          ``relative_time_to_peak`` and ``relative_response`` (evoked peak), each over its value at the highest
          contrast, against ``contrast``.

        ``effects`` has the columns :data:`EFFECT_COLUMNS`, one row per variant × area × effect: ``suppression``
        (1 − peak ratio at the shortest gap), ``recovery`` (peak ratio at the longest − at the shortest gap),
        ``subadditivity`` (normalised summed − linear at the shortest duration) and ``timing_shift_ms`` (time to
        peak at the lowest − at the highest contrast). Their intervals come from the same resamples (paired);
        ``expected`` is the sign in human visual cortex ("+" for all four) and ``shows`` is True when the interval
        lies entirely above 0.

    Raises
    ------
    TableError
        An unknown phenomenon, missing columns, a variant without a table for some seed and phenomenon, an
        incomplete table, or seeds of a variant that differ in images, conditions or timing.
    """
    what = "study_table"
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise ValueError(f"{what}: n_boot must be a positive number of resamples, got {n_boot!r}.")
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0 < level < 1:
        raise ValueError(f"{what}: level must be in (0, 1), e.g. 0.95, got {level!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"{what}: seed must be a non-negative integer, got {seed!r}.")
    sources = _sources(tables)
    variants = list(dict.fromkeys(source.variant for source in sources))
    rows: list[dict[str, object]] = []
    effects: list[dict[str, object]] = []
    for variant in variants:
        for phenomenon in PHENOMENA:
            group = [s for s in sources if s.variant == variant and s.phenomenon == phenomenon]
            if not group:
                continue
            # One generator per variant and phenomenon, so that adding a variant leaves the others' intervals alone.
            stream = zlib.crc32(f"{variant}\0{phenomenon}".encode())
            measured = _measure_variant(group, int(n_boot), np.random.default_rng([int(seed), stream]))
            rows.extend(_table_rows(measured, level, int(n_boot)))
            effects.extend(_effect_rows(measured, level))
    table = _sorted(pd.DataFrame(rows, columns=list(TABLE_COLUMNS)), variants, MEASURES, "measure", ["condition"])
    effect_table = _sorted(pd.DataFrame(effects, columns=list(EFFECT_COLUMNS)), variants, EFFECTS, "effect", [])
    return table, effect_table


def simulate_responses(
    phenomenon: str,
    conditions: Sequence[float],
    *,
    n_images: int = 16,
    areas: Sequence[str] = ("V1", "V2"),
    adaptation: float = 4.0,
    tau_ms: float = 4.0,
    tau_adaptation_ms: float = 40.0,
    dt_ms: float = 2.0,
    noise: float = 0.02,
    intro: int = 2,
    stimulus: int = 5,
    outro: int = 20,
    seed: int = 0,
) -> pd.DataFrame:
    """A responses table of a small model of visual areas under one of the study's paradigms (tests, examples).

    Each area is a leaky integrator with a rectified output and a slow adaptation driven by its own activity,
    integrated with Euler steps of ``dt_ms``, each area passing its output on with one step of delay:

        τ dh/dt = u − h − a,     τ_a da/dt = adaptation · r² − a,     r = max(h, 0)

    The response at a step is r after the steps before it (the first stimulus step shows the baseline, so latencies
    can be interpolated). The input of the first area is u = c · g_i · stimulus (contrast c, a gain g_i per image drawn log-normally,
    the 0/1 stimulus); each further area gets the output r of the one before. The squared drive makes the
    adaptation catch up sooner at high contrast (an earlier peak), its slow decay suppresses a second response
    after a short gap and recovers after a long one, and it makes the summed response grow less than linearly
    with duration; ``adaptation=0`` gives a linear system (no suppression, linear summation, contrast-independent
    timing). The response is r plus Gaussian noise of s.d. ``noise`` per image and step; the seed also changes τ
    by up to ±10 % (another "training seed").

    Parameters
    ----------
    phenomenon:
        ``"repetition"`` (the interval paradigm: two presentations of ``stimulus`` steps, separated by the
        ``conditions`` as gaps in steps), ``"duration"`` (one presentation of each of the ``conditions`` in steps)
        or ``"contrast"`` (one presentation of ``stimulus`` steps at each of the ``conditions`` as contrast).
    conditions:
        The swept values, written to the condition column of :data:`CONDITION_COLUMNS`.
    intro, stimulus, outro:
        Blank steps before, stimulus steps (where not swept) and blank steps after the presentation(s).

    Returns
    -------
    pandas.DataFrame
        The workflow's layout: ``sample, step, time_ms, area, response, response_std, stimulus, test_identifier,
        paradigm, intro, paradigm_stimulus, [interval | contrast,] outro``; one row per image, condition, area
        and step of its trial.
    """
    if phenomenon not in PHENOMENA:
        raise ValueError(f"simulate_responses: unknown phenomenon {phenomenon!r}; allowed: {', '.join(PHENOMENA)}.")
    rng = np.random.default_rng(seed)
    gains = rng.lognormal(0.0, 0.3, size=n_images)
    tau = tau_ms * (1 + rng.uniform(-0.1, 0.1))
    paradigm = {"repetition": "interval", "duration": "duration", "contrast": "contrast"}[phenomenon]
    parts = []
    for condition in conditions:
        length = int(condition) if phenomenon == "duration" else stimulus
        shown = [1] * length
        if phenomenon == "repetition":
            shown = shown + [0] * int(condition) + shown
        on = np.array([0] * intro + shown + [0] * outro, dtype=np.int8)
        contrast = float(condition) if phenomenon == "contrast" else 1.0
        drive = contrast * gains[:, None] * on[None, :]
        responses = []
        for _area in areas:
            h, a = np.zeros(n_images), np.zeros(n_images)
            output = np.empty_like(drive)
            for step in range(len(on)):
                output[:, step] = np.maximum(h, 0.0)  # the state after the previous step: one step of delay
                r = np.maximum(h, 0.0)
                h = h + dt_ms / tau * (drive[:, step] - h - a)
                a = a + dt_ms / tau_adaptation_ms * (adaptation * r**2 - a)
            responses.append(output)
            drive = output
        values = np.stack(responses, axis=1)  # (N, A, T)
        values = values + noise * rng.standard_normal(values.shape)
        n_steps = len(on)
        sample, area, step = (grid.ravel() for grid in np.meshgrid(
            np.arange(n_images), np.arange(len(areas)), np.arange(n_steps), indexing="ij"))
        part = pd.DataFrame(
            {
                "sample": sample,
                "step": step,
                "time_ms": step * dt_ms,
                "area": np.asarray(areas, dtype=object)[area],
                "response": values.ravel(),
                "response_std": noise,
                "stimulus": on[step],
                "test_identifier": "simulated",
                "paradigm": paradigm,
                "intro": intro,
                "paradigm_stimulus": length,
            }
        )
        if phenomenon != "duration":
            part[CONDITION_COLUMNS[phenomenon]] = condition
        parts.append(part.assign(outro=outro))
    return pd.concat(parts, ignore_index=True)
