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


# Configuration files are plain data (load_yaml) -------------------------------------------------------------------


def _load(tmp_path, text):
    from dynvision_workflow.config import load_yaml

    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_yaml(path)


def test_a_yte_template_is_refused_and_not_rendered(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, '__use_yte__: true\nseed: ?__import__("pathlib").Path("PWNED").touch() or 1\n')
    assert "config.yaml', line 1: __use_yte__" in str(error.value) and "Delete the __use_yte__ line" in str(error.value)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(
    ("text", "key", "tag"),
    [
        ("seed: !!python/object/apply:os.system ['touch PWNED']\n", "seed", "!!python/object/apply:os.system"),
        ("a: 1\ntrain:\n  optimizer: !!python/name:os.system\n", "train.optimizer", "!!python/name:os.system"),
        ("train: {keep_epochs: !!python/tuple [1, 2]}\n", "train.keep_epochs", "!!python/tuple"),
        ("model_name: [DyRCNNx2, !!python/bytes aGk=]\n", "model_name[1]", "!!python/bytes"),
    ],
)
def test_a_tag_that_builds_python_objects_is_refused_naming_line_key_and_tag(tmp_path, monkeypatch, text, key, tag):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, text)
    message = str(error.value)
    line = text[: text.index("!!")].count("\n") + 1
    assert f"line {line}, key {key}: tags that build Python objects are not allowed in configuration: {tag}" in message
    assert "remove the tag" in message
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("text", ["data_name: !env DATASET\n", "x: !!binary aGk=\n", "x: !!set {a, b}\n"])
def test_other_tags_beyond_plain_data_are_refused(tmp_path, text):
    with pytest.raises(ConfigError, match=r"tags other than those of plain data .* remove the tag"):
        _load(tmp_path, text)


def test_plain_data_tags_dates_anchors_and_merge_keys_are_read(tmp_path):
    data = _load(tmp_path, "seed: 0010\nname: !!str 5\nbase: &b {x: 1}\nother: {<<: *b, y: 2}\nday: 2024-01-31\n")
    assert data["seed"] == 10 and data["name"] == "5" and data["other"] == {"x": 1, "y": 2}
    assert str(data["day"]) == "2024-01-31"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seed: 1\nmodel_name: x\nseed: 2\n", "line 3, key seed: given twice (lines 1 and 3)"),
        ("train:\n  epochs: 1\n  lr: 0.1\n  epochs: 2\n", "line 4, key train.epochs: given twice (lines 2 and 4)"),
        ("experiments:\n  a: {args: {x: 1, x: 2}}\n", "key experiments.a.args.x: given twice (both on line 2)"),
        ("datasets:\n  d:\n    groups: {01: [a], 1: [b]}\n", "key datasets.d.groups.1: given twice"),
    ],
)
def test_a_key_given_twice_is_refused_naming_its_path_and_both_lines(tmp_path, text, expected):
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, text)
    assert expected in str(error.value) and "delete one of the two" in str(error.value)


def test_a_yaml_error_names_the_line_and_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match=r"is not valid YAML, line 2, column 1: .*indent with spaces"):
        _load(tmp_path, "train:\n\tepochs: 1\n")


def test_config_values_on_the_command_line_are_plain_data_too():
    from dynvision_workflow.config import parse_overrides

    with pytest.raises(ConfigError, match="tags that build Python objects"):
        parse_overrides(["seed=!!python/name:os.system"])
    with pytest.raises(ConfigError, match=r"--config entry 'train=\{epochs: 5': .* --config train.epochs=5"):
        parse_overrides(["train={epochs: 5"])
    with pytest.raises(ConfigError, match="given twice"):
        parse_overrides(["train={epochs: 1, epochs: 2}"])


def test_a_configuration_problem_in_a_snakefile_ends_in_our_lines_and_status_2(capsys):
    from dynvision_workflow.config import exit_invalid_config

    with pytest.raises(ConfigError) as problem:
        resolve_config({"train": {"epochs": 0}})
    with pytest.raises(SystemExit) as stop:
        exit_invalid_config(problem.value)
    assert stop.value.code == 2
    assert capsys.readouterr().err.startswith(
        "dynvision: error: invalid DynVision configuration:\n  - train.epochs: 0 is less than the minimum of 1"
    )
    with pytest.raises(SystemExit):
        exit_invalid_config(ConfigError("config file 'x.yaml', line 1: ..."))
    assert capsys.readouterr().err == (
        "dynvision: error: invalid DynVision configuration:\n  - config file 'x.yaml', line 1: ...\n"
    )


# Values Lightning and the figures would refuse, checked before any job ----------------------------------------------


def test_an_unknown_lightning_strategy_is_refused_listing_what_lightning_accepts():
    with pytest.raises(ConfigError) as error:
        resolve_config({"train": {"strategy": "dpp"}})
    message = str(error.value)
    assert "train.strategy: 'dpp' is not a strategy of Lightning" in message and "Did you mean 'ddp'?" in message
    assert "Allowed: auto, ddp, " in message and "fsdp" in message and "--config train.strategy=auto" in message
    assert resolve_config({"train": {"strategy": "ddp_spawn"}})["train"]["strategy"] == "ddp_spawn"


@pytest.mark.parametrize(("devices", "valid"), [(1, True), (-1, True), ("auto", True), ("0,1", True), ("1,", True),
                                                (0, False), ("0", False), ("x", False), (-2, False)])
def test_lightning_devices_are_checked(devices, valid):
    from dynvision_workflow.config import lightning_problems

    problems = lightning_problems({"strategy": "auto", "devices": devices})
    assert (not problems) == valid
    if not valid:
        assert problems[0].startswith(f"train.devices: {devices!r} is not a device setting Lightning accepts")


def test_the_lightning_catalogue_is_cached_per_lightning_version_and_read_without_importing_it(tmp_path):
    """Built once (importing Lightning) per installed version; later starts read it and import no torch."""
    import json
    import os
    import subprocess
    import sys

    from dynvision_workflow import config as config_module

    env = dict(os.environ, **{config_module.CACHE_VARIABLE: str(tmp_path)})
    script = (
        "import sys; from dynvision_workflow.config import lightning_catalogue; "
        "print(lightning_catalogue()['strategy'][:2], 'torch' in sys.modules)"
    )
    first = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    (cached,) = tmp_path.glob("lightning-catalogue-*.json")
    assert "ddp" in json.loads(cached.read_text())["strategy"]
    second = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert first.stdout.split()[-1] == "True" and second.stdout.strip() == "['auto', 'ddp'] False"


def test_an_experiment_parameter_must_be_one_of_its_arguments():
    with pytest.raises(ConfigError, match=r"experiments.response.parameter: 'stimlus' is not a parameter .*"
                                          r"Did you mean 'stimulus'\?"):
        resolve_config({"experiments": {"response": {"parameter": "stimlus"}}})
    spelled = resolve_config({"experiments": {"response": {"parameter": "stim"}}})  # upstream's spelling
    assert spelled["experiments"]["response"]["parameter"] == "stim"


def test_a_value_that_cannot_be_in_a_path_is_named_by_its_key():
    with pytest.raises(ConfigError) as error:
        resolve_config({"model_args": {"tau": "4;rm -rf x"}, "experiments": {"response": {"args": {"intro": "a b"}}}})
    message = str(error.value)
    assert "  - model_args.tau: value '4;rm -rf x' cannot be written" in message
    assert "--config model_args.tau=VALUE" in message
    with pytest.raises(ConfigError, match=r"categories.tau: value 'x y' cannot be written"):
        resolve_config({"category": "tau", "categories": {"tau": ["x y"]}})


def test_experiment_names_are_folder_names():
    with pytest.raises(ConfigError, match=r"experiments.My-Exp: the name 'My-Exp' is not allowed: experiment names"):
        resolve_config({"experiments": {"My-Exp": {"paradigm": "duration"}}})
