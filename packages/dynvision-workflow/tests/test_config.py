from __future__ import annotations

import pytest

from dynvision_workflow.config import ConfigError, deep_merge, resolve_config


def test_packaged_layers_resolve_with_schema_defaults():
    config = resolve_config()
    assert config["model_name"] == ["DyRCNNx2"]
    assert config["seed"] == ["0001"]
    assert config["train"]["epochs"] >= 1
    assert config["data"]["backend"] == "auto"
    assert "response" in config["experiments"]
    assert config["datasets"]["mnist5k"]["flip"] is False


def test_overrides_normalise_names_and_seeds():
    config = resolve_config({"model_name": "DyRCNNx4", "seed": 1, "status": "init"})
    assert config["model_name"] == ["DyRCNNx4"]
    assert config["seed"] == ["0001"]
    assert config["status"] == ["init"]


def test_mappings_merge_and_lists_replace():
    merged = deep_merge({"a": {"x": 1, "y": 2}, "l": [1, 2]}, {"a": {"y": 3}, "l": [9]})
    assert merged == {"a": {"x": 1, "y": 3}, "l": [9]}


def test_unknown_key_names_path_suggestion_and_allowed_keys():
    with pytest.raises(ConfigError) as error:
        resolve_config({"train": {"epoch": 3}})
    message = str(error.value)
    assert "train.epoch: unknown key" in message
    assert "Did you mean 'epochs'?" in message
    assert "batch_size" in message


def test_wrong_value_names_path_value_and_allowed_values():
    with pytest.raises(ConfigError) as error:
        resolve_config({"train": {"optimizer": "adagrad", "epochs": 0}})
    message = str(error.value)
    assert "train.optimizer: 'adagrad' is not allowed; choose one of 'adam', 'adamw', 'sgd'" in message
    assert "train.epochs" in message and "minimum" in message


def test_undefined_dataset_and_experiment_are_named():
    with pytest.raises(ConfigError) as error:
        resolve_config({"data_name": "mnist5", "experiment": ["respons"]})
    message = str(error.value)
    assert "data_name: 'mnist5' is not defined. Did you mean 'mnist5k'?" in message
    assert "experiment: 'respons' is not defined. Did you mean 'response'?" in message


def test_config_file_that_is_not_yaml_is_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_name: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        resolve_config(files=[bad])
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        resolve_config(files=[listing])
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_config(files=[tmp_path / "missing.yaml"])


def test_experiment_args_may_sweep_lists():
    config = resolve_config(
        {"experiments": {"duration": {"paradigm": "duration", "args": {"stimulus": [1, 2, 4], "intro": 2}}}}
    )
    assert config["experiments"]["duration"]["args"]["stimulus"] == [1, 2, 4]


def test_sources_name_the_layer_of_a_value_of_a_mapping_and_of_a_default(tmp_path):
    from dynvision_workflow.config import SCHEMA_DEFAULT, config_sources, source_of

    user = tmp_path / "user.yaml"
    user.write_text("train: {epochs: 5}\nexperiments: {response: {args: {intro: 3}}}\n")
    sources = config_sources([user], {"train": {"lr": 0.1}})
    assert source_of(sources, "train.epochs") == str(user)
    assert source_of(sources, "train.lr") == "--config"
    assert source_of(sources, "train.batch_size") == SCHEMA_DEFAULT
    # An experiment is a mapping: its source is that of the values inside it, from every layer that set one.
    assert source_of(sources, "experiments.response") == f"packaged config_experiments.yaml + {user}"


def test_a_packaged_description_says_what_a_user_layer_changed(tmp_path):
    layer = tmp_path / "mine.yaml"
    layer.write_text("experiments:\n  duration: {args: {stimulus: [2, 4]}}\n  contrast: {args: {intro: 2}}\n")
    config = resolve_config(
        {"experiments": {"idleresponse": {"model_overrides": {"idle": [0, 3]}},
                         "interval": {"args": {"stimulus": 3}, "description": "Mine."}}},
        files=[layer], environ={},
    )
    packaged = resolve_config(environ={})["experiments"]
    experiments = config["experiments"]
    assert experiments["duration"]["description"] == (
        f"{packaged['duration']['description']} (args changed: stimulus [2, 4] instead of [1, 2, 3, 4, 5, 10, 15, 20]; "
        "set experiments.duration.description to describe it)"
    )
    assert "(model_overrides changed: idle [0, 3] instead of [0, 5, 10, 20, 40];" in (
        experiments["idleresponse"]["description"])
    assert experiments["interval"]["description"] == "Mine."  # described by the user
    assert experiments["contrast"]["description"] == packaged["contrast"]["description"]  # the same value: still true
    assert experiments["response"]["description"] == packaged["response"]["description"]
    # the resolved configuration read again (a job's provenance) keeps the note once
    again = resolve_config({"experiments": experiments}, environ={})["experiments"]
    assert again["duration"]["description"] == experiments["duration"]["description"]


def test_every_packaged_experiment_and_category_is_described_and_checked():
    config = resolve_config(environ={})
    assert all(spec["description"] for spec in config["experiments"].values())
    upstream = {"response", "responseffonly", "responseintermediate", "stabilityintermediate", "stability",
                "nullcondition", "idleresponse", "duration", "contrast", "interval", "noise", "hundred", "ten",
                "adaption"}
    for noise in ("uniform", "saltpepper", "poisson", "gaussian", "gaussiancorr", "phasescrambled"):
        upstream |= {f"{noise}noise", f"{noise}noiseffonly"}
    assert upstream <= set(config["experiments"])
    assert config["categories"]["dt"] == [1, 2, 4] and config["categories"]["ffonly"] == [False, True]
    resolve_config({"experiment": sorted(config["experiments"]), "category": ["dt", "ffonly"]}, environ={})
    upstream_categories = {"rctype", "rctarget", "pattern", "dsteps", "tsteps", "dt", "tau", "tff", "trc", "tsk",
                           "lossrt", "idle", "feedback", "skip", "dloader", "ffonly", "pretrained", "activityloss"}
    assert upstream_categories <= set(config["categories"])
    # Every packaged category sweeps values the packaged default model takes (checked before any job).
    resolve_config({"category": sorted(config["categories"])}, environ={})
