"""Measures of response dynamics, one number per time course: peak, latency, paired-pulse ratio, summation.

Every function here takes a tidy table with one row per (curve, time) and returns one row per curve. A curve
is a group of the ``by`` columns (plus the ``condition`` column where the measure compares conditions): with
the default ``by=("area", "sample")`` a responses table gives one curve per area and test image, so the result
can be averaged over samples with its standard error (:func:`dynvision_analysis.summarize`). The functions
also accept already averaged curves, e.g. the output of :func:`response_over_time` with ``value="mean"`` and
``by=("area",)``.

Conventions shared by all of them:

* times are in ms (column ``time_ms``); a step at time t lasts from t to t + dt;
* a **presentation** is a run of steps with ``stimulus == 1``; its onset is the first step of the run (a
  rising edge of the 0/1 ``stimulus`` column of that curve), its offset the first step after the run;
* the **baseline** b of a curve is, with ``baseline="pre"``, the mean value over the steps before the first
  onset; a number gives a fixed baseline, ``None`` means b = 0;
* responses are in the unit of the value column (a.u. for responses).

The curves are held in memory as one float64 matrix (curves × steps): about 8 bytes per row of the table, so
read only the needed columns (:func:`dynvision_analysis.read_table`) for a large table.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..tables import TableError
from ._curves import Curves, baseline_of, curve_keys, describe_row, make_curves, masked_peak, presentations
from .aggregate import sort_groups

__all__ = [
    "LATENCY_STATUSES",
    "contrast_response", "peak_ratio", "response_latency", "response_peaks", "temporal_summation",
]

Baseline = str | float | None


def _check_fraction(fraction: float, what: str) -> float:
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 < fraction <= 1:
        raise ValueError(f"{what}: fraction must be a number in (0, 1] (of the peak), got {fraction!r}.")
    return float(fraction)


def _first_onsets(curves: Curves, *, what: str) -> np.ndarray:
    assert curves.stimulus is not None
    found = presentations(curves.stimulus, 1)
    missing = found.count == 0
    if missing.any():
        example = _describe(curves, int(np.flatnonzero(missing)[0]))
        raise TableError(
            f"{what} needs a stimulus presentation (a step with stimulus == 1) in every curve; "
            f"{int(missing.sum())} of {len(missing)} curve(s) have none (first: {example}). "
            "Select the rows of a paradigm that shows a stimulus."
        )
    return found.onsets[:, 0]


def _describe(curves: Curves, index: int) -> str:
    if curves.keys.empty or not len(curves.keys.columns):
        return "the only curve"
    return describe_row(curves.keys.iloc[index], list(curves.keys.columns))


def _finish(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    return sort_groups(frame, list(keys)) if keys else frame.reset_index(drop=True)


def response_peaks(
    table: pd.DataFrame,
    by: Sequence[str] = ("area", "sample"),
    *,
    value: str = "response",
    condition: str | None = None,
    window_ms: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Peak height and peak time of each curve.

    For a curve x(t) over the steps t in the window:

        peak_height = max_t x(t)                (unit of ``value``)
        peak_time_ms = the first t with x(t) = peak_height   (ms, on the trial's time axis ``time_ms``)

    ``peak_time_ms`` is measured from the start of the trial, not from the stimulus onset (this function
    needs no stimulus column); for the time from onset to peak use ``time_to_peak_ms`` of
    :func:`response_latency` or :func:`contrast_response`.

    Parameters
    ----------
    table:
        Rows with the ``by`` columns, ``condition`` (if given), ``time_ms`` and ``value``; one per curve and time.
        Works on responses (``value="response"``), on averaged curves (``value="mean"``) and on accuracy
        curves (:func:`accuracy_over_time`, ``value="accuracy"``: peak accuracy and when it is reached).
    by:
        Columns that identify one curve, e.g. ``("area", "sample")``.
    value:
        Column of the curve values.
    condition:
        A paradigm parameter column kept as a curve key, e.g. ``"contrast"``; ``None`` for none.
    window_ms:
        ``(start, end)`` in ms: only steps with start <= t < end count. ``None``: every step.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, [condition], peak_time_ms, peak_height``, one row per curve; NaN where a curve has no
        value in the window.
    """
    what = "response_peaks"
    keys = curve_keys(by, condition)
    curves = make_curves(table, keys, value, what=what)
    mask = np.ones(curves.values.shape, dtype=bool)
    if window_ms is not None:
        start, end = (float(limit) for limit in window_ms)
        if not end > start:
            raise ValueError(f"{what}: window_ms must be (start, end) with end > start, got {window_ms!r}.")
        mask &= ((curves.time_ms >= start) & (curves.time_ms < end))[None, :]
    height, index = masked_peak(curves.values, mask)
    peak_time = np.where(index >= 0, curves.time_ms[np.maximum(index, 0)], np.nan)
    return _finish(curves.keys.assign(peak_time_ms=peak_time, peak_height=height), keys)


#: Values of the ``latency_status`` column: why a latency is (or is not) a number.
LATENCY_RESOLVED = "resolved"
LATENCY_BELOW_ONE_STEP = "below one step"
LATENCY_NO_RISE = "no rise"
LATENCY_STATUSES = (LATENCY_RESOLVED, LATENCY_BELOW_ONE_STEP, LATENCY_NO_RISE)


def _latency(
    curves: Curves, onset: np.ndarray, base: np.ndarray, fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Peak after onset, its time, the threshold, the latency (ms) and its status per curve (see response_latency)."""
    values, times = curves.values, curves.time_ms
    columns = np.arange(values.shape[1])[None, :]
    after = columns >= onset[:, None]
    peak, peak_index = masked_peak(values, after)
    amplitude = peak - base
    threshold = base + fraction * amplitude
    above = after & (values >= threshold[:, None])
    crossing = np.argmax(above, axis=1)
    rises = above.any(axis=1) & (amplitude > 0)
    rows = np.arange(values.shape[0])
    previous = np.maximum(crossing - 1, 0)
    x_before, x_at = values[rows, previous], values[rows, crossing]
    t_before, t_at = times[previous], times[crossing]
    with np.errstate(divide="ignore", invalid="ignore"):
        interpolated = t_before + (threshold - x_before) / (x_at - x_before) * (t_at - t_before)
    # Crossed at the onset step itself (or with no sample before it): there is no "stimulus on" sample below
    # the threshold to interpolate from, so the latency is somewhere under one step and cannot be resolved.
    below_one_step = rises & ((crossing <= onset) | np.isnan(x_before))
    resolved = rises & ~below_one_step
    latency = np.where(resolved, interpolated - times[onset], np.nan)
    status = np.where(
        resolved, LATENCY_RESOLVED, np.where(below_one_step, LATENCY_BELOW_ONE_STEP, LATENCY_NO_RISE)
    )
    peak_time = np.where(peak_index >= 0, times[np.maximum(peak_index, 0)], np.nan)
    return peak, peak_time, threshold, latency, status


def response_latency(
    table: pd.DataFrame,
    by: Sequence[str] = ("area", "sample"),
    *,
    value: str = "response",
    condition: str | None = None,
    fraction: float = 0.5,
    baseline: Baseline = "pre",
) -> pd.DataFrame:
    """Response latency: time from stimulus onset until the response first reaches a fraction of its peak.

    For a curve x with first onset at step s (time t_s), baseline b and peak p = max_{t >= t_s} x(t):

        threshold θ = b + fraction · (p − b)
        k = the first step >= s with x(t_k) >= θ
        t* = t_{k−1} + (θ − x(t_{k−1})) / (x(t_k) − x(t_{k−1})) · (t_k − t_{k−1})     (linear interpolation)
        latency_ms = t* − t_s

    All times are relative to the stimulus onset t_s (``latency_ms``, ``time_to_peak_ms``), except
    ``onset_ms`` and ``peak_time_ms``, which are on the trial's time axis (``time_ms``, from the start of the
    trial): ``time_to_peak_ms = peak_time_ms − onset_ms``.

    The crossing is interpolated linearly between the last step below and the first step at or above the
    threshold, both at or after the onset, so the latency is resolved below one step. It is NaN, with the
    reason in ``latency_status``, when it cannot be measured:

    * ``"below one step"``: the response is already above threshold at the onset step (k = s). The
      crossing lies somewhere within the first step; with no stimulus-on sample below the threshold there is
      nothing to interpolate from, and any number below dt would be an artefact of the step;
    * ``"no rise"``: the response never rises above its baseline (p <= b);
    * ``"resolved"``: ``latency_ms`` is a number.

    Use a finer time step (smaller dt) to resolve latencies that are below one step.

    Parameters
    ----------
    table:
        Rows with the ``by`` columns, ``condition``, ``time_ms``, ``value`` and ``stimulus`` (0/1).
    by, value, condition:
        As in :func:`response_peaks`.
    fraction:
        Fraction of the baseline-to-peak amplitude that defines the threshold, in (0, 1]; 0.5 (half-maximum)
        by default.
    baseline:
        ``"pre"`` (mean over the steps before the onset; needs at least one), a number, or ``None`` (0).

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, [condition], onset_ms, baseline, peak_height, peak_time_ms, time_to_peak_ms,
        threshold, latency_ms, latency_status``: times in ms (``onset_ms``, ``peak_time_ms`` from the trial
        start; ``time_to_peak_ms``, ``latency_ms`` from the stimulus onset), ``baseline``, ``peak_height``
        and ``threshold`` in the unit of ``value``; one row per curve.
    """
    what = "response_latency"
    fraction = _check_fraction(fraction, what)
    keys = curve_keys(by, condition)
    curves = make_curves(table, keys, value, what=what, stimulus=True)
    onset = _first_onsets(curves, what=what)
    base = baseline_of(curves, onset, baseline, what=what)
    peak, peak_time, threshold, latency, status = _latency(curves, onset, base, fraction)
    onset_ms = curves.time_ms[onset]
    frame = curves.keys.assign(
        onset_ms=onset_ms,
        baseline=base,
        peak_height=peak,
        peak_time_ms=peak_time,
        time_to_peak_ms=peak_time - onset_ms,
        threshold=threshold,
        latency_ms=latency,
        latency_status=status,
    )
    return _finish(frame, keys)


def contrast_response(
    table: pd.DataFrame,
    by: Sequence[str] = ("area", "sample"),
    *,
    condition: str = "contrast",
    value: str = "response",
    fraction: float = 0.5,
    baseline: Baseline = "pre",
    reference: object | None = None,
) -> pd.DataFrame:
    """Contrast-response function and the contrast-dependent latency shift.

    For each curve (a group of ``by`` at one level of ``condition``), with baseline b, peak p after onset and
    latency L as in :func:`response_latency`:

        response = p − b                                   (evoked peak amplitude, unit of ``value``)
        latency_shift_ms = L(condition) − L(reference)     (ms, within the same group of ``by``)

    ``latency_ms`` (time to half-maximum by default) and ``time_to_peak_ms`` are relative to the stimulus
    onset; ``peak_time_ms`` is the peak's time on the trial's axis. A latency that cannot be resolved is NaN
    with the reason in ``latency_status`` (see :func:`response_latency`).

    so a positive shift means the response comes later than at the reference (by default the highest
    ``condition`` value, i.e. full contrast). Lower contrast is expected to give a smaller response and a
    positive shift.

    Parameters
    ----------
    table:
        Rows with the ``by`` columns, ``condition``, ``time_ms``, ``value`` and ``stimulus``.
    condition:
        Column of the swept parameter (e.g. ``"contrast"``).
    reference:
        The ``condition`` level the shift is measured from; ``None`` takes the largest value.
    by, value, fraction, baseline:
        As in :func:`response_latency`.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, condition, response, peak_time_ms, time_to_peak_ms, latency_ms, latency_status,
        latency_shift_ms``; the shift is NaN in a group that lacks the reference level or where either
        latency is NaN.
    """
    what = "contrast_response"
    if condition in by:
        raise ValueError(f"{what}: condition={condition!r} must not also be in by={tuple(by)!r}.")
    latencies = response_latency(
        table, by, value=value, condition=condition, fraction=fraction, baseline=baseline
    )
    levels = latencies[condition]
    if reference is None:
        reference = levels.max()
    elif not (levels == reference).any():
        raise ValueError(
            f"{what}: reference={reference!r} is not a level of {condition!r}; levels are "
            f"{sorted(levels.unique().tolist())}."
        )
    at_reference = latencies["latency_ms"].where(levels == reference)
    if by:
        reference_latency = at_reference.groupby([latencies[key] for key in by], observed=True, dropna=False)
        shift_from = reference_latency.transform("max")
    else:
        shift_from = pd.Series(at_reference.max(), index=latencies.index)
    frame = latencies[[*by, condition]].assign(
        response=latencies["peak_height"] - latencies["baseline"],
        peak_time_ms=latencies["peak_time_ms"],
        time_to_peak_ms=latencies["time_to_peak_ms"],
        latency_ms=latencies["latency_ms"],
        latency_status=latencies["latency_status"],
        latency_shift_ms=latencies["latency_ms"] - shift_from,
    )
    return _finish(frame, [*by, condition])


def peak_ratio(
    table: pd.DataFrame,
    by: Sequence[str] = ("area", "sample"),
    *,
    condition: str | None = "interval",
    value: str = "response",
    baseline: Baseline = "pre",
) -> pd.DataFrame:
    """Paired-pulse ratio: the peak response to a second presentation relative to the first.

    With onsets s1 < s2 of the first two presentations of a curve and baseline b:

        peak1 = max over s1 <= t < s2 of x(t) − b,     peak2 = max over t >= s2 of x(t) − b
        peak_ratio = peak2 / peak1                       (dimensionless; NaN when peak1 <= 0)
        isi_ms = t(s2) − offset of the first presentation,    soa_ms = t(s2) − t(s1)

    A ratio below 1 is adaptation (the response to a repeated stimulus is reduced); plotted against
    ``isi_ms`` it traces the recovery from adaptation, reaching 1 at full recovery.

    Parameters
    ----------
    table:
        Rows with the ``by`` columns, ``condition``, ``time_ms``, ``value`` and ``stimulus``; the stimulus
        column must show two presentations per curve (two rising edges).
    condition:
        Column of the swept parameter that identifies the condition (e.g. ``"interval"``), kept as a curve
        key; ``None`` when the table has one condition.
    by, value, baseline:
        As in :func:`response_latency`.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, [condition], n_presentations, isi_ms, soa_ms, peak1, peak2, peak_ratio``. A curve with
        a single presentation (e.g. interval 0, where both presentations merge) gets NaN.

    Raises
    ------
    TableError
        No curve has two presentations: the table comes from a one-presentation paradigm.
    """
    what = "peak_ratio"
    keys = curve_keys(by, condition)
    curves = make_curves(table, keys, value, what=what, stimulus=True)
    assert curves.stimulus is not None
    found = presentations(curves.stimulus, 2)
    if not (found.count >= 2).any():
        raise TableError(
            f"{what} needs two stimulus presentations per curve (two rising edges of the 0/1 'stimulus' "
            f"column), but every curve has at most {int(found.count.max())}: the table comes from a "
            "one-presentation paradigm. Use a paired-presentation paradigm (e.g. interval)."
        )
    two = found.count >= 2
    first, second = found.onsets[:, 0], found.onsets[:, 1]
    base = baseline_of(curves, np.maximum(first, 0), baseline, what=what)
    columns = np.arange(curves.values.shape[1])[None, :]
    window1 = (columns >= first[:, None]) & (columns < second[:, None])
    window2 = columns >= second[:, None]
    peak1 = masked_peak(curves.values, window1 & two[:, None])[0] - base
    peak2 = masked_peak(curves.values, window2 & two[:, None])[0] - base
    times = curves.time_ms
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(peak1 > 0, peak2 / peak1, np.nan)
    second_time = np.where(two, times[np.maximum(second, 0)], np.nan)
    offset1 = found.offsets[:, 0]
    first_offset_time = np.where(two, times[np.clip(offset1, 0, len(times) - 1)], np.nan)
    frame = curves.keys.assign(
        n_presentations=found.count.astype("int64"),
        isi_ms=second_time - first_offset_time,
        soa_ms=second_time - times[np.maximum(first, 0)],
        peak1=np.where(two, peak1, np.nan),
        peak2=np.where(two, peak2, np.nan),
        peak_ratio=np.where(two, ratio, np.nan),
    )
    return _finish(frame, keys)


def temporal_summation(
    table: pd.DataFrame,
    by: Sequence[str] = ("area", "sample"),
    *,
    condition: str = "paradigm_stimulus",
    value: str = "response",
    baseline: Baseline = "pre",
    window_ms: float | None = None,
) -> pd.DataFrame:
    """Normalised temporal summation over stimulus durations (the method of Groen et al., 2022).

    For each curve (a group of ``by`` at one level of ``condition``) with first onset t_s, baseline b and step
    duration dt, summing over the steps from the onset to the end of the curve (or of the window):

        duration_ms = dt · (number of steps with stimulus == 1)           (ms, from the stimulus column)
        summed = Σ_{t_s <= t < t_s + window} (x(t) − b) · dt               (unit of ``value`` × ms)
        normalized = summed / max over the conditions of the group of summed      (dimensionless, max 1)
        linear = duration_ms / max over the conditions of the group of duration_ms

    ``linear`` is what perfectly linear summation predicts for ``normalized`` (the summed response grows in
    proportion to the duration). ``normalized > linear`` at short durations is sub-additive temporal
    summation, as in human visual cortex (Groen et al., 2022, PLoS Comput Biol).

    Parameters
    ----------
    table:
        Rows with the ``by`` columns, ``condition``, ``time_ms``, ``value`` and ``stimulus``.
    condition:
        Column identifying the duration condition; the workflow writes the duration experiment's stimulus
        length in steps as ``paradigm_stimulus``. The duration itself is read from the ``stimulus`` column.
    window_ms:
        Length of the summation window from onset, in ms; ``None`` sums to the end of each curve. Give a
        window when trials of different durations have different lengths after the stimulus.
    by, value, baseline:
        As in :func:`response_latency`.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, condition, duration_ms, summed, normalized, linear``; ``normalized`` is NaN in a group
        whose largest summed response is not positive.
    """
    what = "temporal_summation"
    if condition in by:
        raise ValueError(f"{what}: condition={condition!r} must not also be in by={tuple(by)!r}.")
    keys = curve_keys(by, condition)
    curves = make_curves(table, keys, value, what=what, stimulus=True)
    assert curves.stimulus is not None
    onset = _first_onsets(curves, what=what)
    base = baseline_of(curves, onset, baseline, what=what)
    times = curves.time_ms
    dt = curves.dt_ms if np.isfinite(curves.dt_ms) else 1.0
    window = times[None, :] >= times[onset][:, None]
    if window_ms is not None:
        if not window_ms > 0:
            raise ValueError(f"{what}: window_ms must be a positive duration in ms, got {window_ms!r}.")
        window &= times[None, :] < times[onset][:, None] + float(window_ms)
    present = window & ~np.isnan(curves.values)
    summed = np.where(present, curves.values - base[:, None], 0.0).sum(axis=1) * dt
    duration = curves.stimulus.sum(axis=1) * dt
    frame = curves.keys.assign(duration_ms=duration, summed=summed)
    if by:
        groups = frame.groupby(list(by), observed=True, sort=False, dropna=False)
        largest, longest = groups["summed"].transform("max"), groups["duration_ms"].transform("max")
    else:
        largest = pd.Series(summed.max(), index=frame.index)
        longest = pd.Series(duration.max(), index=frame.index)
    frame["normalized"] = (frame["summed"] / largest).where(largest > 0)
    frame["linear"] = frame["duration_ms"] / longest
    return _finish(frame, keys)
