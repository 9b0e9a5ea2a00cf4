"""``reaction-times`` and ``plot-reaction-times``: the commands over an outputs table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dynvision_analysis.cli import main


@pytest.fixture
def outputs_csv(tmp_path) -> Path:
    """Two contrasts, 4 trials each, 6 steps of 2 ms, stimulus from step 1: trial i of contrast c reaches
    confidence 0.9 at step 1 + i (contrast 1.0) or 2 + i (contrast 0.5); trial 3 never does. Even trials are right."""
    rows = []
    for contrast, delay in ((1.0, 1), (0.5, 2)):
        for sample in range(4):
            for step in range(6):
                confident = sample < 3 and step >= delay + sample
                correct = int(sample % 2 == 0)
                rows.append({"sample": sample, "step": step, "time_ms": 2.0 * step, "label": 0,
                             "guess": 1 - correct, "correct": correct, "confidence": 0.9 if confident else 0.3,
                             "label_rank": 1 - correct, "stimulus": int(step >= 1), "paradigm": "contrast",
                             "contrast": contrast, "seed": 0})
    path = tmp_path / "test_outputs.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_per_trial_reaction_times(tmp_path, outputs_csv) -> None:
    out = tmp_path / "rt.csv"
    assert main(["reaction-times", str(outputs_csv), "-o", str(out), "--threshold", "0.8"]) == 0
    table = pd.read_csv(out)
    assert list(table.columns[:4]) == ["paradigm", "contrast", "seed", "sample"] and len(table) == 8
    full = table[table["contrast"] == 1.0]
    np.testing.assert_array_equal(full["reaction_time_ms"], [0.0, 2.0, 4.0, np.nan])
    assert full["decided"].tolist() == [True, True, True, False]


def test_speed_accuracy_and_bins_tables(tmp_path, outputs_csv) -> None:
    speed = tmp_path / "speed.csv"
    argv = ["reaction-times", str(outputs_csv), "-o", str(speed), "--thresholds", "0.8", "0.2", "--by", "contrast"]
    assert main(argv) == 0
    table = pd.read_csv(speed)
    assert table[["contrast", "threshold"]].values.tolist() == [[0.5, 0.2], [0.5, 0.8], [1.0, 0.2], [1.0, 0.8]]
    assert table["n_decided"].tolist() == [4, 3, 4, 3]
    np.testing.assert_allclose(table["mean_rt_ms"], [0.0, 4.0, 0.0, 2.0])
    bins = tmp_path / "bins.csv"
    argv = ["reaction-times", str(outputs_csv), "-o", str(bins), "--threshold", "0.8", "--bins", "3"]
    assert main(argv) == 0
    binned = pd.read_csv(bins)
    assert binned["n"].sum() == 6 and binned["n_undecided"].eq(2).all() and binned["n_trials"].eq(8).all()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--thresholds", "0.5", "--bins", "3"], "--bins needs --threshold"),
        (["--threshold", "0.8", "--by", "contrast"], "--by groups the summaries"),
        (["--thresholds", "0.5", "--by", "model"], "by names ['model']"),
    ],
)
def test_bad_combinations_exit_2_with_one_line(tmp_path, outputs_csv, capsys, arguments, message) -> None:
    assert main(["reaction-times", str(outputs_csv), "-o", str(tmp_path / "x.csv"), *arguments]) == 2
    error = capsys.readouterr().err
    assert error.startswith("dynvision-analysis reaction-times: error:") and message in error
    assert error.count("\n") == 1


def test_thresholds_outside_zero_one_are_refused_by_the_parser(tmp_path, outputs_csv, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["reaction-times", str(outputs_csv), "-o", str(tmp_path / "x.csv"), "--threshold", "1.5"])
    assert stop.value.code == 2
    assert "expected a confidence in (0, 1]" in capsys.readouterr().err


def test_a_table_without_confidence_names_it_and_the_command_that_writes_it(tmp_path, outputs_csv, capsys) -> None:
    path = tmp_path / "no_confidence.csv"
    pd.read_csv(outputs_csv).drop(columns=["confidence"]).to_csv(path, index=False)
    assert main(["reaction-times", str(path), "-o", str(tmp_path / "x.csv"), "--threshold", "0.8"]) == 2
    error = capsys.readouterr().err
    assert "'confidence'" in error and "dynvision test" in error


def test_plot_reaction_times_draws_one_line_per_condition(tmp_path, outputs_csv) -> None:
    out = tmp_path / "rt.png"
    argv = ["plot-reaction-times", str(outputs_csv), "-o", str(out), "--thresholds", "0.2", "0.8", "--bins", "2",
            "--n-classes", "2", "--dpi", "60"]
    assert main(argv) == 0
    assert out.read_bytes().startswith(b"\x89PNG")
    alone = tmp_path / "alone.svg"
    assert main(["plot-reaction-times", str(outputs_csv), "-o", str(alone), "--bins", "0", "--hue", "none"]) == 0
    assert alone.stat().st_size > 1000
