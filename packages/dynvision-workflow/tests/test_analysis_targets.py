"""Targets of the analysis rules, the weights table and the combine step (no Snakemake, no training)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from dynvision_workflow.analysis_targets import (
    category_experiment_figures,
    dynamics_experiments,
    experiment_figures,
    feedforward_variant,
    performance_experiments,
)
from dynvision_workflow.config import resolve_config
from dynvision_workflow.runtime.combine import combine_tables
from dynvision_workflow.runtime.weights import classify, weight_rows
from dynvision_workflow.runtime.weights import main as weights_main


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("areas.V1.ff.weight", ("feedforward", "V1")),
        ("areas.V2.recurrence.conv.weight", ("recurrence", "V2")),
        ("skips.V1_to_V2.conv.weight", ("skip", "V2")),
        ("feedbacks.V2_to_V1.conv.weight", ("feedback", "V1")),
        ("classifier.weight", ("classifier", "classifier")),
    ],
)
def test_parameters_are_classified_by_connection_type_and_target_area(name, expected):
    assert classify(name) == expected


def test_weights_table_has_one_row_per_weight_or_per_bin_beyond_the_limit():
    state = {
        "areas.V1.ff.weight": torch.randn(4, 3, 3, 3),
        "areas.V1.ff.bias": torch.randn(4),  # left out: not a connection weight
        "classifier.weight": torch.randn(10, 4),
    }
    columns, rows = weight_rows(state)
    table = pd.DataFrame(list(rows), columns=columns)
    assert columns == ["connection", "area", "parameter", "value"]
    assert len(table) == 4 * 27 + 40
    assert table.groupby("connection").size().to_dict() == {"classifier": 40, "feedforward": 108}
    columns, rows = weight_rows(state, max_rows=10, bins=5)
    binned = pd.DataFrame(list(rows), columns=columns)
    assert columns[-1] == "count" and binned["count"].sum() == 148 and len(binned) <= 10


def test_weights_command_reports_a_missing_state(tmp_path, capsys):
    assert weights_main([str(tmp_path / "missing.pt"), "--output", str(tmp_path / "w.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "w.csv").exists()


def test_combine_labels_each_table_and_keeps_the_union_of_columns(tmp_path):
    pd.DataFrame({"ssnr": [0.2, 1.0], "correct": [0, 1]}).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"ssnr": [0.2], "correct": [1], "extra": ["x"]}).to_csv(tmp_path / "b.csv", index=False)
    rows = combine_tables([("all", tmp_path / "a.csv"), ("feedforward", tmp_path / "b.csv")], tmp_path / "c.csv",
                          column="connections")
    table = pd.read_csv(tmp_path / "c.csv")
    assert rows == 3 and list(table.columns) == ["ssnr", "correct", "extra", "connections"]
    assert table["connections"].tolist() == ["all", "all", "feedforward"]


def test_packaged_noise_and_duration_experiments_have_feedforward_variants():
    config = resolve_config(environ={})
    assert feedforward_variant(config, "uniformnoise") == "uniformnoiseffonly"
    assert feedforward_variant(config, "duration") == "durationffonly"
    assert feedforward_variant(config, "response") == "responseffonly"
    assert feedforward_variant(config, "contrast") is None
    assert performance_experiments(config, ["response", "uniformnoise", "uniformnoiseffonly"]) == ["uniformnoise"]
    for noise in ("gaussian", "poisson", "saltpepper", "phasescrambled", "gaussiancorr"):
        assert feedforward_variant(config, f"{noise}noise") == f"{noise}noiseffonly"


def test_a_swept_model_override_is_the_parameter_of_the_performance_and_responses_figures():
    from dynvision_workflow.analysis_targets import swept_column

    config = resolve_config(environ={})
    assert swept_column(config, "idleresponse") == "idle"
    assert swept_column(config, "duration") == "paradigm_stimulus" and swept_column(config, "response") is None
    assert swept_column(config, "noise") == "noisetype"
    # no feed-forward variant: responseffonly has the same paradigm but no `idle` sweep (its table has no column)
    assert feedforward_variant(config, "idleresponse") is None
    assert performance_experiments(config, ["idleresponse", "responseffonly", "adaption"]) == [
        "idleresponse", "adaption"]


def test_experiment_figures_add_per_experiment_cross_experiment_and_per_model_figures():
    config = resolve_config({"experiment": ["response", "duration", "uniformnoise"]}, environ={})
    figures = experiment_figures(config)
    names = [figure.rsplit("/", 1)[1] for figure in figures]
    assert names.count("responses.png") == names.count("accuracy.png") == names.count("confusion.png") == 3
    assert names.count("reactiontimes.png") == 3
    assert names.count("performance.png") == 2  # duration and uniformnoise sweep a parameter; response does not
    assert "figures/dynamics/DyRCNNx2_0001/mnist5k:all_trained/dynamics.png" in figures
    assert "figures/weights/DyRCNNx2_0001/mnist5k_trained/weights.png" in figures
    assert "figures/training/DyRCNNx2_0001/mnist5k/training.png" in figures
    assert dynamics_experiments(config) == {"duration": "duration"}
    # Without a dynamics experiment there is no dynamics figure; the init state has no training curves.
    config = resolve_config({"experiment": ["response"], "status": ["init"]}, environ={})
    names = [figure.rsplit("/", 1)[1] for figure in experiment_figures(config)]
    assert sorted(names) == ["accuracy.png", "confusion.png", "reactiontimes.png", "responses.png", "stability.png",
                             "weights.png"]
    assert "figures/stability/DyRCNNx2_0001/mnist5k:all_init/stability.png" in experiment_figures(config)


def test_only_models_on_the_temporal_engine_get_a_stability_figure():
    config = resolve_config({"experiment": ["response"], "model_name": ["DyRCNNx2", "CorNetRT", "ResNet18"]},
                            environ={})
    stability = [f for f in experiment_figures(config) if f.endswith("/stability.png")]
    assert stability == ["figures/stability/DyRCNNx2_0001/mnist5k:all_trained/stability.png"]


def test_category_experiment_figures_sweep_each_category():
    config = resolve_config({"category": ["tau"], "experiment": ["response"]}, environ={})
    figures = category_experiment_figures(config)
    assert {f"figures/weights/DyRCNNx2:tau={tau}_0001/mnist5k_trained/weights.png" for tau in (3, 5, 9)} <= set(figures)
