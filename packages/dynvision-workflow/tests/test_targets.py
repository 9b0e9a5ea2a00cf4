"""Which files a configuration asks for: experiments, hashed test specs, category sweeps."""

from __future__ import annotations

import pytest

from dynvision_workflow.config import ConfigError, resolve_config
from dynvision_workflow.naming import ArgsError
from dynvision_workflow.specs import is_hashed
from dynvision_workflow.targets import (
    category_figures,
    experiment_tests,
    model_overrides,
    requested_path,
    swept_overrides,
)


def test_every_packaged_experiment_has_tests_and_overrides_are_canonical():
    config = resolve_config(environ={})
    for name in config["experiments"]:
        tests = experiment_tests(config, name)
        assert tests and all(identifier == spec for identifier, spec in tests)  # all short enough by default
    assert len(experiment_tests(config, "duration")) == 8
    assert model_overrides(config, "durationffonly") == {"ffonly": True}
    assert model_overrides(config, "duration") == {}


def test_long_specs_are_hashed_beyond_the_configured_length():
    config = resolve_config({"test": {"max_identifier_length": 40}}, environ={})
    tests = experiment_tests(config, "uniformnoise")
    assert all(is_hashed(identifier) and identifier.startswith("noise-") for identifier, _ in tests)
    assert len({identifier for identifier, _ in tests}) == len(tests) == 6


def test_category_figures_sweep_each_category_separately():
    config = resolve_config({"category": ["tau", "rctype"], "model_args": {"tau": 5}, "experiment": ["response"]},
                            environ={})
    figures = category_figures(config)
    models = {figure.split("/")[2] for figure in figures}
    assert "DyRCNNx2:tau=3_0001" in models and "DyRCNNx2:tau=9_0001" in models
    assert "DyRCNNx2:rctype=self+tau=5_0001" in models
    assert len(models) == 3 + 7 and len(figures) == 2 * len(models)


def test_unknown_category_lists_the_defined_ones():
    with pytest.raises(ConfigError, match=r"category: 'taus' is not defined\. Did you mean 'tau'"):
        resolve_config({"category": "taus"}, environ={})


def test_folder_names_of_experiments_without_swept_overrides_are_unchanged():
    config = resolve_config(environ={})
    assert experiment_tests(config, "duration")[0][0] == "duration:intro=2+outro=20+stimulus=1"
    assert experiment_tests(config, "durationffonly") == experiment_tests(config, "duration")
    assert experiment_tests(config, "response") == [("duration:intro=2+outro=8+stimulus=10",) * 2]


def test_a_swept_model_override_makes_one_test_per_value_crossed_with_the_paradigm_sweep():
    experiment = {"paradigm": "duration", "args": {"stimulus": [2, 4]},
                  "model_overrides": {"idle_timesteps": [0, 10], "ffonly": True}, "parameter": "idle"}
    config = resolve_config({"experiments": {"x": experiment}}, environ={})
    tests = experiment_tests(config, "x")
    assert [spec for _, spec in tests] == [
        "duration:stimulus=2@idle=0", "duration:stimulus=2@idle=10",
        "duration:stimulus=4@idle=0", "duration:stimulus=4@idle=10",
    ]
    assert swept_overrides(config, "x") == {"idle": [0, 10]}
    assert model_overrides(config, "x") == {"ffonly": True, "idle": [0, 10]}
    assert model_overrides(config, "x", tests[1][1]) == {"ffonly": True, "idle": 10}
    for foreign in ("duration:stimulus=2@idle=7", "duration:stimulus=2", "duration:stimulus=2@idle=0+tau=3"):
        with pytest.raises(ArgsError, match="is not a test of experiment 'x'"):
            model_overrides(config, "x", foreign)
    packaged = resolve_config(environ={})
    assert [spec.rpartition("@")[2] for _, spec in experiment_tests(packaged, "idleresponse")] == [
        "idle=0", "idle=5", "idle=10", "idle=20", "idle=40"]


def test_a_requested_test_with_overrides_is_written_canonically():
    parsed = requested_path("reports/x/DyRCNNx2_0001/mnist5k:all_trained/duration:stim=2@idle_timesteps=5/t.csv")
    assert parsed.canonical == "reports/x/DyRCNNx2_0001/mnist5k:all_trained/duration:stimulus=2@idle=5/t.csv"
    assert parsed.test_overrides == {"idle_timesteps": 5} and parsed.paradigm_args == {"stim": 2}
    with pytest.raises(ArgsError, match="test 'duration@'"):
        requested_path("reports/x/DyRCNNx2_0001/mnist5k:all_trained/duration@/t.csv")
