"""Dynamics measures on synthetic curves whose answers are known by construction (dt = 10 ms)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dynvision_analysis import (
    TableError,
    contrast_response,
    peak_ratio,
    response_latency,
    response_over_time,
    response_peaks,
    temporal_summation,
)

DT = 10.0


def curves(
    values_by_key: dict[tuple, list[float]], stimulus: list[int] | dict[tuple, list[int]], keys: tuple
):
    """A tidy table from {key tuple: values per step}; ``stimulus`` is shared or per key."""
    frames = []
    for key, values in values_by_key.items():
        on = stimulus[key] if isinstance(stimulus, dict) else stimulus
        steps = np.arange(len(values))
        frame = pd.DataFrame(
            {"step": steps, "time_ms": steps * DT, "response": values, "stimulus": on[: len(values)]}
        )
        frames.append(frame.assign(**dict(zip(keys, key, strict=True))))
    return pd.concat(frames, ignore_index=True)


# Onset at step 2 (20 ms); baseline 1 before; peak 9 at step 6.
RAMP = [1.0, 1.0, 2.0, 4.0, 6.0, 8.0, 9.0, 9.0, 5.0]
RAMP_ON = [0, 0, 1, 1, 1, 1, 1, 0, 0]


def test_peaks_of_known_curves_in_hierarchy_order():
    table = curves(
        {("IT", 0): [0, 1, 5, 2, 1], ("V1", 0): [0, 3, 3, 1, 0], ("V1", 1): [7, 0, 0, 0, 0]},
        [0, 1, 1, 0, 0],
        ("area", "sample"),
    )
    result = response_peaks(table)
    assert list(result.columns) == ["area", "sample", "peak_time_ms", "peak_height"]
    assert list(result["area"]) == ["V1", "V1", "IT"]
    # Ties take the first time: V1 sample 0 reaches 3 at 10 ms and 20 ms.
    assert list(result["peak_time_ms"]) == [10.0, 0.0, 20.0]
    assert list(result["peak_height"]) == [3.0, 7.0, 5.0]


def test_peak_window_excludes_steps_outside_it():
    table = curves({("V1", 1): [7, 0, 2, 3, 0]}, [0] * 5, ("area", "sample"))
    result = response_peaks(table, window_ms=(10.0, 40.0))
    assert (result["peak_time_ms"].item(), result["peak_height"].item()) == (30.0, 3.0)
    with pytest.raises(ValueError, match="end > start"):
        response_peaks(table, window_ms=(30.0, 10.0))


def test_peaks_of_averaged_curves_and_accuracy_curves(responses_table):
    measure = response_over_time(responses_table)
    result = response_peaks(measure, by=("area",), value="mean")
    # mean = 1 + 10·step (+100 in IT) rises over the 4 steps: the peak is at the last step, 30 ms.
    assert list(result["peak_time_ms"]) == [30.0, 30.0]
    assert list(result["peak_height"]) == [31.0, 131.0]


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [
        # θ = 1 + 0.5·8 = 5, crossed between step 3 (x = 4, 30 ms) and step 4 (x = 6, 40 ms): 35 ms − 20 ms.
        (0.5, 15.0),
        # θ = 3, between step 2 (x = 2, 20 ms) and step 3 (x = 4, 30 ms): 25 ms − 20 ms.
        (0.25, 5.0),
        # θ = 1.8 is already reached at the onset step: below one step, not resolvable (NaN).
        (0.1, math.nan),
        # θ = 9 is first reached at the peak, step 6 (x = 9), coming from 8 at step 5: exactly 60 ms − 20 ms.
        (1.0, 40.0),
    ],
)
def test_latency_interpolates_the_threshold_crossing(fraction, expected):
    table = curves({("V1", 0): RAMP}, RAMP_ON, ("area", "sample"))
    result = response_latency(table, fraction=fraction).iloc[0]
    assert result["onset_ms"] == 20.0
    assert result["baseline"] == 1.0
    assert result["peak_height"] == 9.0
    assert result["peak_time_ms"] == 60.0
    assert result["time_to_peak_ms"] == 40.0  # relative to the onset, like the latency
    assert result["threshold"] == pytest.approx(1.0 + fraction * 8.0)
    assert result["latency_ms"] == pytest.approx(expected, abs=1e-12, nan_ok=True)
    assert result["latency_status"] == ("below one step" if math.isnan(expected) else "resolved")


def test_latency_is_resolved_below_one_step_between_two_stimulus_steps():
    # Onset at step 2 (20 ms): 0.2 at the onset step, 2.0 one step later; peak 2, baseline 0, θ = 1.
    # The crossing lies 0.8/1.8 of the way from 20 ms to 30 ms: 4.44 ms, not a whole step and not 0.
    table = curves({("V1", 0): [0.0, 0.0, 0.2, 2.0, 2.0, 1.0]}, [0, 0, 1, 1, 1, 0], ("area", "sample"))
    result = response_latency(table).iloc[0]
    assert result["latency_ms"] == pytest.approx(10.0 * 0.8 / 1.8)
    assert result["latency_status"] == "resolved"


def test_a_crossing_in_the_first_stimulus_step_is_not_resolvable():
    # The response jumps to its peak at the onset step: the half-maximum is crossed somewhere in the first
    # step, and interpolating from the pre-stimulus sample would only give a sub-step artefact.
    table = curves({("V1", 0): [0.0, 0.0, 5.0, 5.0, 4.0]}, [0, 0, 1, 1, 0], ("area", "sample"))
    result = response_latency(table).iloc[0]
    assert math.isnan(result["latency_ms"])
    assert result["latency_status"] == "below one step"
    assert result["time_to_peak_ms"] == 0.0


def test_latency_of_an_exponential_approaches_tau_ln2_between_steps():
    # x(t) = 1 − exp(−(t − t0)/τ) reaches half its final value at τ·ln 2 = 13.86 ms, between whole steps.
    dt, tau, onset = 1.0, 20.0, 10
    steps = np.arange(400)
    on = (steps >= onset).astype(int)
    x = np.where(steps >= onset, 1 - np.exp(-(steps - onset + 1) * dt / tau), 0.0)
    table = pd.DataFrame({"time_ms": steps * dt, "response": x, "stimulus": on})
    latency = response_latency(table, by=()).loc[0, "latency_ms"]
    # The sample at step k holds x after k − onset + 1 steps of input, hence the one-step offset.
    assert latency == pytest.approx(tau * math.log(2) - dt, abs=0.01)


def test_latency_is_nan_when_the_response_never_rises():
    table = curves({("V1", 0): [1.0, 1.0, 0.5, 0.2, 0.1]}, [0, 0, 1, 1, 0], ("area", "sample"))
    result = response_latency(table)
    assert math.isnan(result["latency_ms"].item())
    assert result["latency_status"].item() == "no rise"


def test_latency_baseline_options():
    table = curves({("V1", 0): RAMP}, RAMP_ON, ("area", "sample"))
    # Baseline 0: θ = 4.5, between step 3 (4) and step 4 (6): 32.5 ms − 20 ms.
    assert response_latency(table, baseline=None)["latency_ms"].item() == pytest.approx(12.5)
    assert response_latency(table, baseline=0.0)["latency_ms"].item() == pytest.approx(12.5)
    with pytest.raises(ValueError, match="baseline must be 'pre', a number or None"):
        response_latency(table, baseline="post")
    with pytest.raises(ValueError, match=r"fraction must be a number in \(0, 1\]"):
        response_latency(table, fraction=0.0)


def test_pre_baseline_needs_a_step_before_the_onset():
    table = curves({("V1", 0): [2.0, 3.0, 1.0]}, [1, 1, 0], ("area", "sample"))
    with pytest.raises(TableError, match=r"baseline='pre' needs at least one step before the stimulus onset"):
        response_latency(table)
    # Without a baseline it works, but the response is at its peak at the first (onset) step: not resolvable.
    assert math.isnan(response_latency(table, baseline=None)["latency_ms"].item())


def test_latency_needs_the_stimulus_column_and_a_presentation():
    table = curves({("V1", 0): RAMP}, RAMP_ON, ("area", "sample"))
    with pytest.raises(TableError, match=r"needs the column.*'stimulus'"):
        response_latency(table.drop(columns="stimulus"))
    with pytest.raises(TableError, match=r"a stimulus presentation.*first: area='V1', sample=0"):
        response_latency(table.assign(stimulus=0))


def test_contrast_response_and_latency_shift():
    # Onset at step 2; the response ramps to c within r steps: r = 1, 2, 4 for c = 1, 0.5, 0.25.
    on = [0, 0, 1, 1, 1, 1, 1, 1, 0]
    values = {}
    for contrast, rise in ((1.0, 1), (0.5, 2), (0.25, 4)):
        ramp = [0.0, 0.0] + [contrast * min((k + 1) / rise, 1.0) for k in range(7)]
        values[("V1", 0, contrast)] = ramp
    table = curves(values, on, ("area", "sample", "contrast"))
    result = contrast_response(table, fraction=0.75)
    assert list(result.columns) == [
        "area",
        "sample",
        "contrast",
        "response",
        "peak_time_ms",
        "time_to_peak_ms",
        "latency_ms",
        "latency_status",
        "latency_shift_ms",
    ]
    assert list(result["contrast"]) == [0.25, 0.5, 1.0]
    np.testing.assert_allclose(result["response"], [0.25, 0.5, 1.0])
    # θ = 0.75 c: r = 1 crosses in the onset step (below one step: NaN); r = 2 between 0.5c and c (5 ms);
    # r = 4 exactly at 0.75c (20 ms).
    np.testing.assert_allclose(result["latency_ms"], [20.0, 5.0, np.nan], atol=1e-12)
    assert list(result["latency_status"]) == ["resolved", "resolved", "below one step"]
    np.testing.assert_allclose(result["time_to_peak_ms"], [30.0, 10.0, 0.0])
    # The reference (full contrast) latency is not resolvable, so no shift is either.
    assert result["latency_shift_ms"].isna().all()
    shifted = contrast_response(table, fraction=0.75, reference=0.5)
    np.testing.assert_allclose(shifted["latency_shift_ms"], [15.0, 0.0, np.nan], atol=1e-12)
    with pytest.raises(ValueError, match=r"reference=0.3 is not a level of 'contrast'"):
        contrast_response(table, reference=0.3)
    with pytest.raises(TableError, match="'contrast'"):
        contrast_response(table.drop(columns="contrast"))


# Two presentations: on at steps 2–3, off 4–6, on at 7–8. Baseline 0.5; evoked peaks 1.0 then 0.6.
PAIRED_ON = [0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0]
PAIRED = [0.5, 0.5, 1.0, 1.5, 0.7, 0.5, 0.5, 0.9, 1.1, 0.6, 0.5]


def test_peak_ratio_of_two_presentations():
    table = curves({("V1", 0, 3): PAIRED}, PAIRED_ON, ("area", "sample", "interval"))
    result = peak_ratio(table).iloc[0]
    assert result["n_presentations"] == 2
    assert (result["isi_ms"], result["soa_ms"]) == (30.0, 50.0)
    assert result["peak1"] == pytest.approx(1.0)
    assert result["peak2"] == pytest.approx(0.6)
    assert result["peak_ratio"] == pytest.approx(0.6)
    # Without baseline subtraction: 1.1 / 1.5.
    assert peak_ratio(table, baseline=None)["peak_ratio"].item() == pytest.approx(1.1 / 1.5)


def test_peak_ratio_on_a_one_presentation_table_names_the_missing_presentation():
    table = curves({("V1", 0, 3): RAMP}, RAMP_ON, ("area", "sample", "interval"))
    with pytest.raises(TableError, match=r"needs two stimulus presentations per curve.*at most 1"):
        peak_ratio(table)


def test_peak_ratio_is_nan_where_the_presentations_merge():
    merged_on = [0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    table = curves(
        {("V1", 0, 3): PAIRED, ("V1", 0, 0): PAIRED},
        {("V1", 0, 3): PAIRED_ON, ("V1", 0, 0): merged_on},
        ("area", "sample", "interval"),
    )
    result = peak_ratio(table)
    assert list(result["interval"]) == [0, 3]
    assert list(result["n_presentations"]) == [1, 2]
    assert math.isnan(result["peak_ratio"].iloc[0])
    assert result["peak_ratio"].iloc[1] == pytest.approx(0.6)


def test_peak_ratio_needs_the_condition_column():
    table = curves({("V1", 0): PAIRED}, PAIRED_ON, ("area", "sample"))
    with pytest.raises(TableError, match=r"peak_ratio needs the column\(s\) 'interval'"):
        peak_ratio(table)
    assert peak_ratio(table, condition=None)["peak_ratio"].item() == pytest.approx(0.6)


def test_temporal_summation_normalises_by_the_longest_duration():
    # Baseline 2 for 2 steps, then 1 above baseline at the first stimulus step and 0.5 at later ones, back to
    # baseline after. summed = dt·(1 + 0.5·(d − 1)) = 10, 15, 25 for d = 1, 2, 4 steps.
    values, stimulus = {}, {}
    for duration in (1, 2, 4):
        on = [0, 0] + [1] * duration + [0] * (8 - duration)
        evoked = [0.0, 0.0] + [1.0] + [0.5] * (duration - 1) + [0.0] * (8 - duration)
        values[("V1", 0, duration)] = [2.0 + value for value in evoked]
        stimulus[("V1", 0, duration)] = on
    table = curves(values, stimulus, ("area", "sample", "paradigm_stimulus"))
    result = temporal_summation(table)
    assert list(result.columns) == [
        "area",
        "sample",
        "paradigm_stimulus",
        "duration_ms",
        "summed",
        "normalized",
        "linear",
    ]
    np.testing.assert_allclose(result["duration_ms"], [10.0, 20.0, 40.0])
    np.testing.assert_allclose(result["summed"], [10.0, 15.0, 25.0])
    np.testing.assert_allclose(result["normalized"], [0.4, 0.6, 1.0])
    np.testing.assert_allclose(result["linear"], [0.25, 0.5, 1.0])
    # A 20 ms window from onset cuts the 4-step response to 1 + 0.5: 15 a.u.·ms.
    windowed = temporal_summation(table, window_ms=20.0)
    np.testing.assert_allclose(windowed["summed"], [10.0, 15.0, 15.0])


def test_linear_summation_gives_normalized_equal_to_linear():
    values, stimulus = {}, {}
    for duration in (1, 3, 6):
        on = [0] + [1] * duration + [0] * 2
        values[("V1", 0, duration)] = [float(x) for x in on]
        stimulus[("V1", 0, duration)] = on
    result = temporal_summation(
        curves(values, stimulus, ("area", "sample", "duration")), condition="duration"
    )
    np.testing.assert_allclose(result["normalized"], result["linear"])


def test_curves_with_unseparated_categories_are_refused_with_the_candidates():
    table = curves({("V1", 0, 0): RAMP, ("V1", 0, 1): RAMP}, RAMP_ON, ("area", "sample", "seed"))
    with pytest.raises(TableError, match=r"several at area='V1', sample=0.*candidates: \['seed'\]"):
        response_latency(table)
    assert len(response_latency(table, by=("area", "sample", "seed"))) == 2


def test_curve_measures_need_a_dataframe(responses_table):
    with pytest.raises(TypeError, match="needs a pandas DataFrame"):
        response_peaks(iter([responses_table]))  # type: ignore[arg-type]


def test_empty_table_is_refused():
    table = curves({("V1", 0): RAMP}, RAMP_ON, ("area", "sample"))
    with pytest.raises(TableError, match="empty table"):
        response_latency(table.iloc[:0])


def test_missing_times_are_refused():
    table = curves({("V1", 0): RAMP}, RAMP_ON, ("area", "sample"))
    table.loc[3, "time_ms"] = np.nan
    with pytest.raises(TableError, match="'time_ms' has 1 missing"):
        response_latency(table)
