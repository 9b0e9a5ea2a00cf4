"""The study table: measures of the mean curves, hierarchical bootstrap CIs, effects and refused input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dynvision_analysis import TableError, contrast_response, peak_ratio, study_table, temporal_summation
from dynvision_analysis.measures import study
from dynvision_analysis.measures.study import EFFECT_COLUMNS, TABLE_COLUMNS, simulate_responses

DT_MS = 2.0


def _tidy(values: np.ndarray, stimulus: np.ndarray, column: str, conditions, area: str = "V1") -> pd.DataFrame:
    """A responses table from ``values[image, condition, step]`` and ``stimulus[condition, step]`` (0/1)."""
    n_images, n_conditions, n_steps = values.shape
    sample, condition, step = (
        grid.ravel() for grid in np.meshgrid(np.arange(n_images), np.arange(n_conditions), np.arange(n_steps),
                                             indexing="ij")
    )
    return pd.DataFrame(
        {
            "sample": sample,
            "step": step,
            "time_ms": step * DT_MS,
            "area": area,
            "response": values.ravel(),
            "stimulus": stimulus[condition, step],
            column: np.asarray(conditions)[condition],
        }
    )


def _paired(first: np.ndarray, second: np.ndarray, gaps=(1, 3)) -> pd.DataFrame:
    """Repetition table: per image, a flat response first[n] to a 2-step presentation, second[n] to the repeat."""
    steps = 2 + 2 + max(gaps) + 2 + 2
    values = np.zeros((len(first), len(gaps), steps))
    stimulus = np.zeros((len(gaps), steps), dtype=int)
    for c, gap in enumerate(gaps):
        stimulus[c, 2:4] = stimulus[c, 4 + gap : 6 + gap] = 1
        values[:, c, 2:4] = first[:, None]
        values[:, c, 4 + gap : 6 + gap] = second[:, None]
    return _tidy(values, stimulus, "interval", gaps)


def _rows(table: pd.DataFrame, measure: str, area: str = "V1") -> pd.DataFrame:
    return table[(table["measure"] == measure) & (table["area"] == area)].reset_index(drop=True)


def _effect(effects: pd.DataFrame, name: str, area: str = "V1") -> pd.Series:
    return effects[(effects["effect"] == name) & (effects["area"] == area)].iloc[0]


def test_second_peak_half_the_first_gives_ratio_half_with_a_ci_around_it():
    gains = np.array([1.0, 2.0, 3.0, 4.0])
    # The second responses scatter around half the first (the deviations sum to 0): the mean curve's ratio is
    # exactly 0.5, the resamples' ratios vary around it.
    second = 0.5 * gains + np.array([0.3, -0.2, 0.1, -0.2])
    table, effects = study_table([("v", 0, "repetition", _paired(gains, second))], n_boot=300)
    ratio = _rows(table, "peak_ratio")
    np.testing.assert_allclose(ratio["value"], 0.5)
    assert (ratio["low"] < 0.5).all() and (ratio["high"] > 0.5).all()
    np.testing.assert_allclose(ratio["condition"], [2.0, 6.0])  # gap in ms: steps × 2 ms
    np.testing.assert_allclose(ratio["normalized_condition"], [0.5, 1.5])  # gap / 4 ms first presentation
    assert (ratio["condition_name"] == "isi_ms").all()
    suppression = _effect(effects, "suppression")
    assert suppression["value"] == pytest.approx(0.5) and suppression["shows"]
    assert suppression["low"] > 0 and "2 ms" in suppression["description"]
    assert _effect(effects, "recovery")["value"] == pytest.approx(0.0)


def test_identical_seeds_and_images_give_a_zero_width_ci():
    frame = _paired(np.ones(5), np.full(5, 0.7))
    table, effects = study_table([("v", seed, "repetition", frame) for seed in (0, 1)], n_boot=100)
    ratio = _rows(table, "peak_ratio")
    np.testing.assert_allclose(ratio[["value", "low", "high"]].to_numpy(), 0.7)
    assert (ratio[["n_seeds", "n_images"]].to_numpy() == [2, 5]).all()
    assert "hierarchical bootstrap over 2 seeds and 5 images" in ratio["ci"].iloc[0]
    assert (ratio["status"] == "").all()
    suppression = _effect(effects, "suppression")
    assert suppression["low"] == pytest.approx(0.3) and suppression["high"] == pytest.approx(0.3)


def test_seeds_are_resampled_as_a_level_of_their_own():
    # Within a seed every image is identical, so only drawing the seeds varies: ratios 0.4 (seed a), 0.6 (b).
    # A resample holds a twice (ratio 0.4, p = 1/4), b twice (0.6, 1/4) or both (0.5, 1/2).
    tables = [("v", "a", "repetition", _paired(np.ones(4), np.full(4, 0.4))),
              ("v", "b", "repetition", _paired(np.ones(4), np.full(4, 0.6)))]
    ratio = _rows(study_table(tables, n_boot=400)[0], "peak_ratio")
    np.testing.assert_allclose(ratio["value"], 0.5)
    np.testing.assert_allclose(ratio["low"], 0.4)
    np.testing.assert_allclose(ratio["high"], 0.6)


def test_one_seed_resamples_the_images_only_and_says_so():
    table, _ = study_table([("v", 0, "repetition", _paired(np.arange(1.0, 6.0), np.arange(1.0, 6.0) / 2))], n_boot=50)
    assert (table["n_seeds"] == 1).all()
    assert "images of one seed" in table["ci"].iloc[0] and "seed-to-seed variation not included" in table["ci"].iloc[0]


def test_a_linear_system_sums_linearly():
    durations = [1, 2, 4, 8]
    steps = 2 + max(durations) + 3
    stimulus = np.zeros((len(durations), steps), dtype=int)
    for c, duration in enumerate(durations):
        stimulus[c, 2 : 2 + duration] = 1
    gains = np.array([0.5, 1.0, 1.5])
    values = gains[:, None, None] * stimulus[None, :, :]  # the response is the stimulus: a linear system
    table, effects = study_table([("v", 0, "duration", _tidy(values, stimulus, "paradigm_stimulus", durations))],
                                 n_boot=100)
    summed, linear = _rows(table, "normalized_summed"), _rows(table, "linear")
    np.testing.assert_allclose(summed["value"], linear["value"])
    np.testing.assert_allclose(linear["value"], [0.125, 0.25, 0.5, 1.0])
    np.testing.assert_allclose(summed["condition"], [2.0, 4.0, 8.0, 16.0])
    np.testing.assert_allclose(linear["low"], linear["value"])
    np.testing.assert_allclose(linear["high"], linear["value"])
    subadditivity = _effect(effects, "subadditivity")
    assert subadditivity["value"] == pytest.approx(0.0, abs=1e-12) and not subadditivity["shows"]


def _ramps(peak_steps: dict[float, int], gains: np.ndarray, onset_above: bool = False) -> pd.DataFrame:
    """Contrast table: the response rises linearly from the onset to its peak at ``peak_steps[contrast]`` steps
    after it, then falls; with ``onset_above`` it is already at its peak at the onset step."""
    steps = 16
    contrasts = sorted(peak_steps)
    stimulus = np.zeros((len(contrasts), steps), dtype=int)
    stimulus[:, 2:12] = 1
    values = np.zeros((len(gains), len(contrasts), steps))
    for c, contrast in enumerate(contrasts):
        k = peak_steps[contrast]
        shape = np.zeros(steps)
        shape[2 : 3 + k] = np.linspace(1.0 if onset_above else 0.0, 1.0, k + 1) if k else 1.0
        shape[3 + k :] = np.linspace(0.8, 0.2, steps - 3 - k)
        values[:, c] = contrast * gains[:, None] * shape
    return _tidy(values, stimulus, "contrast", contrasts)


def test_an_earlier_peak_at_high_contrast_is_a_positive_timing_shift():
    frame = _ramps({0.1: 6, 0.5: 4, 1.0: 2}, np.array([1.0, 1.5, 2.0, 0.7]))
    table, effects = study_table([("v", 0, "contrast", frame)], n_boot=200)
    np.testing.assert_allclose(_rows(table, "time_to_peak_ms")["value"], [12.0, 8.0, 4.0])
    np.testing.assert_allclose(_rows(table, "relative_time_to_peak")["value"], [3.0, 2.0, 1.0])
    np.testing.assert_allclose(_rows(table, "relative_response")["value"], [0.1, 0.5, 1.0])
    latency = _rows(table, "latency_ms")
    assert (latency["status"] == "").all() and (latency["value"].diff().dropna() < 0).all()
    shift = _effect(effects, "timing_shift_ms")
    assert shift["value"] == pytest.approx(8.0) and shift["low"] == pytest.approx(8.0) and shift["shows"]
    assert shift["expected"] == "+" and "ms" in shift["description"]


def test_a_latency_below_one_step_is_nan_with_its_reason():
    frame = _ramps({0.5: 2, 1.0: 2}, np.array([1.0, 2.0]), onset_above=True)
    latency = _rows(study_table([("v", 0, "contrast", frame)], n_boot=20)[0], "latency_ms")
    assert latency["value"].isna().all() and latency["low"].isna().all() and latency["high"].isna().all()
    assert (latency["status"] == "below one step").all()


@pytest.fixture(scope="module")
def simulated() -> dict[tuple[str, int], pd.DataFrame]:
    conditions = {"repetition": ([1, 2, 4, 8, 16], {}), "duration": ([1, 2, 4, 8], {}),
                  "contrast": ([0.1, 0.3, 1.0], {"stimulus": 10, "outro": 8})}
    return {
        (phenomenon, seed): simulate_responses(phenomenon, values, n_images=12, noise=0.005, seed=seed, **kw)
        for phenomenon, (values, kw) in conditions.items()
        for seed in (0, 1)
    }


def _entries(simulated, variant: str = "toy"):
    return [(variant, seed, phenomenon, frame) for (phenomenon, seed), frame in simulated.items()]


def test_the_estimate_is_the_existing_measure_of_the_mean_curve(simulated):
    table, effects = study_table(_entries(simulated), n_boot=30)
    assert list(table.columns) == list(TABLE_COLUMNS) and list(effects.columns) == list(EFFECT_COLUMNS)

    def mean_curve(phenomenon: str, column: str) -> pd.DataFrame:
        keys = ["area", column, "time_ms", "stimulus"]
        per_seed = [simulated[phenomenon, seed].groupby(keys, as_index=False)["response"].mean() for seed in (0, 1)]
        return pd.concat(per_seed).groupby(keys, as_index=False)["response"].mean()

    ratio = peak_ratio(mean_curve("repetition", "interval"), ("area",), condition="interval")
    summation = temporal_summation(mean_curve("duration", "paradigm_stimulus"), ("area",))
    contrast = contrast_response(mean_curve("contrast", "contrast"), ("area",))
    for area in ("V1", "V2"):
        np.testing.assert_allclose(_rows(table, "peak_ratio", area)["value"], ratio.loc[ratio.area == area, "peak_ratio"])
        np.testing.assert_allclose(_rows(table, "peak_ratio", area)["condition"], ratio.loc[ratio.area == area, "isi_ms"])
        np.testing.assert_allclose(_rows(table, "normalized_summed", area)["value"],
                                   summation.loc[summation.area == area, "normalized"])
        np.testing.assert_allclose(_rows(table, "time_to_peak_ms", area)["value"],
                                   contrast.loc[contrast.area == area, "time_to_peak_ms"])
        np.testing.assert_allclose(_rows(table, "latency_ms", area)["value"],
                                   contrast.loc[contrast.area == area, "latency_ms"])
    # One row per variant × area × measure × condition; areas in hierarchy order, phenomena in study order.
    assert len(table) == 2 * (5 + 2 * 4 + 4 * 3)
    assert list(dict.fromkeys(table["phenomenon"])) == ["repetition", "duration", "contrast"]
    assert len(effects) == 2 * 5 and set(effects["expected"]) == {"+"}


def test_the_bootstrap_is_reproducible_and_independent_of_the_block_size(simulated, monkeypatch):
    entries = _entries(simulated)
    first, first_effects = study_table(entries, n_boot=40, seed=3)
    again, again_effects = study_table(entries, n_boot=40, seed=3)
    pd.testing.assert_frame_equal(first, again)
    pd.testing.assert_frame_equal(first_effects, again_effects)
    other = study_table(entries, n_boot=40, seed=4)[0]
    assert not np.allclose(first["low"], other["low"], equal_nan=True)
    monkeypatch.setattr(study, "_VALUES_PER_BLOCK", 500)  # a few resamples per block
    pd.testing.assert_frame_equal(study_table(entries, n_boot=40, seed=3)[0], first)
    # Another variant in the study leaves this one's intervals as they were.
    both = study_table([*entries, *_entries(simulated, "other")], n_boot=40, seed=3)[0]
    pd.testing.assert_frame_equal(both[both["variant"] == "toy"].reset_index(drop=True), first)


def test_the_ci_widens_with_fewer_images():
    frame = simulate_responses("repetition", [1, 4], n_images=64, noise=0.05, seed=0)

    def width(images: int) -> float:
        table = study_table([("v", 0, "repetition", frame[frame["sample"] < images])], n_boot=300)[0]
        ratio = _rows(table, "peak_ratio")
        return float((ratio["high"] - ratio["low"]).mean())

    assert width(8) > 1.5 * width(64)


def test_the_simulated_model_shows_the_phenomena_and_its_linear_control_does_not(simulated):
    effects = study_table(_entries(simulated), n_boot=100)[1].set_index(["area", "effect"])
    assert effects.loc["V1"].loc[["suppression", "recovery", "subadditivity"], "shows"].all()
    # Peak times move in 2 ms steps, so a 6 ms shift of a few noisy images need not clear 0 in every resample.
    assert (effects.xs("timing_shift_ms", level="effect")["value"] > 0).all()
    linear = [
        ("linear", seed, phenomenon, simulate_responses(phenomenon, values, n_images=12, adaptation=0.0, seed=seed, **kw))
        for phenomenon, values, kw in (("duration", [1, 2, 4, 8], {}), ("contrast", [0.1, 0.3, 1.0], {"stimulus": 10}))
        for seed in (0, 1)
    ]
    assert not study_table(linear, n_boot=100)[1]["shows"].any()


def test_bad_input_is_refused_with_a_clear_message(simulated):
    repetition = simulated["repetition", 0]
    with pytest.raises(TableError, match=r"unknown phenomenon 'adaption'.*allowed: repetition, duration, contrast"):
        study_table([("v", 0, "adaption", repetition)])
    with pytest.raises(TableError, match=r"needs the column\(s\) 'stimulus'"):
        study_table([("v", 0, "repetition", repetition.drop(columns="stimulus"))])
    with pytest.raises(TableError, match=r"variant 'b' lacks a duration table for seed\(s\) \['0'\]"):
        study_table([("a", 0, "repetition", repetition), ("a", 0, "duration", simulated["duration", 0]),
                     ("b", 0, "repetition", repetition)])
    with pytest.raises(TableError, match=r"seeds '0' and '1' of variant 'v' differ in their images"):
        study_table([("v", 0, "repetition", repetition),
                     ("v", 1, "repetition", repetition[repetition["sample"] < 6])])
    with pytest.raises(TableError, match=r"differ in their conditions \(interval\)"):
        study_table([("v", 0, "repetition", repetition),
                     ("v", 1, "repetition", repetition[repetition["interval"] != 16])])
    with pytest.raises(TableError, match=r"lacks 1 of 120 \(area, interval, sample\) curves"):
        incomplete = repetition[~((repetition["sample"] == 3) & (repetition["interval"] == 2) & (repetition["area"] == "V2"))]
        study_table([("v", 0, "repetition", incomplete)])
    with pytest.raises(TableError, match="holds more than one test"):
        study_table([("v", 0, "repetition", pd.concat([repetition, simulated["repetition", 1]]))])
    with pytest.raises(TableError, match="two tables for variant 'v', seed '0'"):
        study_table([("v", 0, "repetition", repetition), ("v", 0, "repetition", repetition)])
    with pytest.raises(ValueError, match="n_boot must be a positive number"):
        study_table([("v", 0, "repetition", repetition)], n_boot=0)
    with pytest.raises(ValueError, match=r"level must be in \(0, 1\)"):
        study_table([("v", 0, "repetition", repetition)], level=95)


def test_tables_are_read_from_paths(tmp_path, simulated):
    path = tmp_path / "interval:intro=2+stimulus=5" / "test_responses.csv"
    path.parent.mkdir()
    simulated["repetition", 0].to_csv(path, index=False)
    from_path = study_table([("v", 0, "repetition", path)], n_boot=20)[0]
    from_frame = study_table([("v", 0, "repetition", simulated["repetition", 0])], n_boot=20)[0]
    pd.testing.assert_frame_equal(from_path, from_frame, check_exact=False, rtol=1e-5)
    broken = tmp_path / "broken.csv"
    simulated["repetition", 0].drop(columns="interval").to_csv(broken, index=False)
    with pytest.raises(TableError, match=r"broken.csv.*\['interval'\]"):
        study_table([("v", 0, "repetition", broken)])
