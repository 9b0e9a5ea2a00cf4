"""Reaction times at a confidence threshold, the speed-accuracy trade-off and accuracy per reaction-time bin,
on hand-made outputs tables whose answers are known by construction."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dynvision_analysis import TableError
from dynvision_analysis.measures import accuracy_by_reaction_time, reaction_times, speed_accuracy
from dynvision_analysis.measures.reaction_time import trial_columns

DT = 10.0
# Per sample: confidence and correctness at steps 0..4; the stimulus is on from step 1 (onset at 10 ms).
# Sample 0 is confident before the onset (step 0 must not count) and answers at the onset step;
# sample 1 reaches 0.8 exactly at step 3 (>= counts); sample 2 never reaches 0.5 after the onset.
CONFIDENCE = {
    0: [0.99, 0.9, 0.95, 0.99, 0.99],
    1: [0.1, 0.3, 0.6, 0.8, 0.9],
    2: [0.9, 0.2, 0.3, 0.4, 0.45],
}
CORRECT = {0: [0, 1, 1, 1, 1], 1: [0, 0, 0, 1, 1], 2: [1, 0, 0, 0, 0]}


def _table(onset: int = 1, **extra: object) -> pd.DataFrame:
    rows = []
    for sample, confidence in CONFIDENCE.items():
        for step, value in enumerate(confidence):
            correct = CORRECT[sample][step]
            rows.append(
                {"sample": sample, "step": step, "time_ms": step * DT, "label": 4, "guess": 4 if correct else step,
                 "correct": correct, "confidence": value, "stimulus": int(step >= onset), **extra}
            )
    return pd.DataFrame(rows)


def test_trials_decide_at_the_first_confident_step_from_the_onset() -> None:
    result = reaction_times(_table(), 0.8)
    assert list(result.columns) == [
        "sample", "threshold", "onset_ms", "decided", "reaction_time_ms", "guess", "correct", "confidence"
    ]
    assert result["sample"].tolist() == [0, 1, 2]
    assert result["decided"].tolist() == [True, True, False]
    assert result["onset_ms"].tolist() == [10.0, 10.0, 10.0]
    # Sample 0: confident before the onset (not counted), then at the onset step itself: 0 ms.
    # Sample 1: confidence 0.8 at step 3 (30 ms), 20 ms after the onset; its guess there is right.
    np.testing.assert_array_equal(result["reaction_time_ms"], [0.0, 20.0, np.nan])
    assert result["guess"].iloc[:2].tolist() == [4, 4] and result["guess"].isna().tolist() == [False, False, True]
    assert result["correct"].iloc[:2].tolist() == [1, 1] and pd.isna(result["correct"].iloc[2])
    np.testing.assert_array_equal(result["confidence"], [0.9, 0.8, np.nan])


def test_the_decision_is_the_guess_at_the_decision_step_right_or_wrong() -> None:
    result = reaction_times(_table(), 0.6)
    # Sample 1 reaches 0.6 at step 2, where its guess (2) is wrong.
    row = result[result["sample"] == 1].iloc[0]
    assert (row["reaction_time_ms"], row["guess"], row["correct"]) == (10.0, 2, 0)


def test_threshold_one_and_undecided_trials_are_kept() -> None:
    result = reaction_times(_table(), 1.0)
    assert len(result) == 3 and not result["decided"].any() and result["reaction_time_ms"].isna().all()


def test_each_condition_and_seed_is_its_own_trial_with_its_own_onset() -> None:
    early = _table(onset=1, contrast=1.0, seed=0)
    late = _table(onset=2, contrast=0.5, seed=0)
    other_seed = _table(onset=1, contrast=1.0, seed=1)
    table = pd.concat([early, late, other_seed], ignore_index=True)
    assert trial_columns(table.columns) == ["contrast", "seed"]
    result = reaction_times(table, 0.8)
    assert len(result) == 9 and list(result.columns[:3]) == ["contrast", "seed", "sample"]
    late_rows = result[result["contrast"] == 0.5].set_index("sample")
    # Onset at step 2 (20 ms): sample 0 answers there (0 ms), sample 1 at step 3 (10 ms from its onset).
    assert late_rows["onset_ms"].tolist() == [20.0] * 3
    np.testing.assert_array_equal(late_rows["reaction_time_ms"], [0.0, 10.0, np.nan])


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.5, math.nan, True, "0.8"])
def test_thresholds_outside_zero_one_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match=r"reaction_times: threshold .* is not a confidence in \(0, 1\].*Give e.g. 0.8"):
        reaction_times(_table(), bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"speed_accuracy: threshold .* is not a confidence in \(0, 1\]"):
        speed_accuracy(_table(), [0.5, bad])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="thresholds is empty"):
        speed_accuracy(_table(), [])


def test_missing_columns_are_named_with_the_command_that_writes_the_table() -> None:
    with pytest.raises(TableError) as error:
        reaction_times(_table().drop(columns=["confidence", "stimulus"]), 0.8)
    message = str(error.value)
    assert "'confidence'" in message and "'stimulus'" in message
    assert "dynvision test" in message and "test_outputs.csv" in message


def test_bad_values_and_trials_without_a_stimulus_are_refused() -> None:
    with pytest.raises(TableError, match="'confidence' to be the softmax probability"):
        reaction_times(_table().assign(confidence=3.0), 0.8)
    with pytest.raises(TableError, match="'correct' to be 0 or 1"):
        reaction_times(_table().assign(correct=2), 0.8)
    with pytest.raises(TableError, match=r"1 of 3 trial\(s\) never show the stimulus.*sample=2"):
        table = _table()
        table.loc[table["sample"] == 2, "stimulus"] = 0
        reaction_times(table, 0.8)
    with pytest.raises(TableError, match="one row per curve"):
        reaction_times(pd.concat([_table(), _table()]), 0.8, by=())


def test_speed_accuracy_summarises_each_threshold() -> None:
    result = speed_accuracy(_table(), [0.8, 0.6, 0.95, 0.6])
    assert result["threshold"].tolist() == [0.6, 0.8, 0.95]
    assert result["n_trials"].tolist() == [3, 3, 3]
    # 0.6: samples 0 (0 ms, right) and 1 (10 ms, wrong); 0.8: 0 (0 ms, right), 1 (20 ms, right);
    # 0.95: 0 (10 ms, right: 0.95 at step 2), 1 never (0.9 at most).
    assert result["n_decided"].tolist() == [2, 2, 1]
    np.testing.assert_allclose(result["fraction_decided"], [2 / 3, 2 / 3, 1 / 3])
    np.testing.assert_allclose(result["mean_rt_ms"], [5.0, 10.0, 10.0])
    np.testing.assert_allclose(result["median_rt_ms"], [5.0, 10.0, 10.0])
    # s = |a - b| / sqrt(2) for two values, over sqrt(2): |a - b| / 2.
    np.testing.assert_allclose(result["rt_sem_ms"], [5.0, 10.0, np.nan])
    np.testing.assert_allclose(result["accuracy"], [0.5, 1.0, 1.0])
    # sqrt(p (1 - p) / (n - 1)): 0.5 for p = 1/2, n = 2; 0 for p = 1; NaN for n = 1.
    np.testing.assert_allclose(result["accuracy_sem"], [0.5, 0.0, np.nan])


def test_speed_accuracy_per_group_and_unknown_groups() -> None:
    table = pd.concat([_table(contrast=1.0), _table(onset=2, contrast=0.5)], ignore_index=True)
    result = speed_accuracy(table, [0.8], by=["contrast"])
    assert result["contrast"].tolist() == [0.5, 1.0]
    np.testing.assert_allclose(result["mean_rt_ms"], [5.0, 10.0])
    pooled = speed_accuracy(table, [0.8])
    assert pooled["n_trials"].tolist() == [6] and pooled["n_decided"].tolist() == [4]
    with pytest.raises(TableError, match=r"by names \['model'\].*\['contrast'\]"):
        speed_accuracy(table, [0.8], by=["model"])


def test_accuracy_by_reaction_time_bins_at_quantiles_and_counts_the_undecided() -> None:
    # 8 trials deciding at 0, 10, ..., 70 ms after the onset (right when faster than 40 ms), 2 never deciding.
    rows = []
    for sample in range(10):
        decide_at = sample if sample < 8 else None
        for step in range(10):
            on = step >= 1
            confident = on and decide_at is not None and step - 1 >= decide_at
            correct = int(decide_at is not None and decide_at < 4)
            rows.append({"sample": sample, "step": step, "time_ms": step * DT, "label": 1, "guess": 1 - correct + 1,
                         "correct": correct, "confidence": 0.9 if confident else 0.2, "stimulus": int(on)})
    result = accuracy_by_reaction_time(pd.DataFrame(rows), 0.8, bins=2)
    assert result["bin"].tolist() == [0, 1]
    # The median of 0..70 ms is 35 ms: 0..30 ms in bin 0, 40..70 ms in bin 1.
    assert result["rt_low_ms"].tolist() == [0.0, 40.0] and result["rt_high_ms"].tolist() == [30.0, 70.0]
    np.testing.assert_allclose(result["mean_rt_ms"], [15.0, 55.0])
    assert result["n"].tolist() == [4, 4]
    np.testing.assert_allclose(result["accuracy"], [1.0, 0.0])
    np.testing.assert_allclose(result["sem"], [0.0, 0.0])
    assert result["n_trials"].tolist() == [10, 10] and result["n_undecided"].tolist() == [2, 2]


def test_tied_reaction_times_merge_bins_and_bins_are_checked() -> None:
    # At 0.3 samples 0 and 1 answer at the onset (0 ms) and sample 2 10 ms later: the quantiles of (0, 0, 10) are
    # 0, 0, 0, 5, 10, so the 4 bins asked for merge into 2.
    result = accuracy_by_reaction_time(_table(), 0.3, bins=4)
    assert result["bin"].tolist() == [0, 1] and result["n"].tolist() == [2, 1]
    assert result["rt_high_ms"].tolist() == [0.0, 10.0] and result["n_undecided"].tolist() == [0, 0]
    spread = accuracy_by_reaction_time(_table(), 0.5, bins=4)  # 0 and 10 ms: the lowest and highest quartile
    assert spread["bin"].tolist() == [0, 1] and spread["rt_low_ms"].tolist() == [0.0, 10.0]
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="bins must be a whole number of quantile bins >= 1"):
            accuracy_by_reaction_time(_table(), 0.5, bins=bad)  # type: ignore[arg-type]
    assert accuracy_by_reaction_time(_table(), 1.0).empty
