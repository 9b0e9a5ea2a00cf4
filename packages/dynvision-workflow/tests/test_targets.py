"""Which files a configuration asks for: experiments, hashed test specs, category sweeps."""

from __future__ import annotations

import pytest

from dynvision_workflow.config import ConfigError, resolve_config
from dynvision_workflow.specs import is_hashed
from dynvision_workflow.targets import category_figures, experiment_tests, model_overrides


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
