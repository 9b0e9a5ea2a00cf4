"""One declaration per option: the schema, the settings, the flags a rule passes and provenance derive from it."""

from __future__ import annotations

import argparse
import dataclasses
import shlex

import pytest

from dynvision_workflow.config import resolve_config, schema
from dynvision_workflow.options import (
    SETTINGS_CLASSES,
    SOURCES_VARIABLE,
    BetonSettings,
    DataSettings,
    SettingsError,
    TestSettings,
    TrainSettings,
    add_settings_arguments,
    lookup,
    option,
    read_sources,
    schema_properties,
    settings_options,
)

#: A value other than the default for every option a rule passes (the round trip must keep each one exactly).
NON_DEFAULTS = {
    "backend": "torch", "epochs": 7, "batch_size": 5, "optimizer": "sgd", "lr": 1e-4, "weight_decay": 0.25,
    "scheduler": "none", "gradient_clip": 0.0, "accumulate_grad_batches": 4, "precision": "bf16-mixed", "accelerator": "cpu", "devices": "0,1",
    "strategy": "ddp", "logger": "csv", "activity_weight": 0.5, "activity_mode": "balance", "rest_weight": 0.125,
    "lr_factors": {"recurrence": 0.2, "feedback": 2.0}, "limit_images": 11, "threads": 3,
    "paradigm": {"name": "noise", "args": {"noise_type": "gaussian", "ssnr": 0.5, "stimulus": 3}},
    "num_workers": 2, "split_seed": 9, "val_fraction": 0.25, "flip": True, "translate": 3, "crop_scale": [0.5, 1.0],
    "image_resolution": 24, "batch_size_test": 17, "response_resolution": "unit", "test_fraction": 0.3,
    "source": "folder", "path": "/data/photos", "splits": {"train": "a", "test": "b"}, "class_index": "i.json",
    "mirror": None, "seed": 9, "data_group": "38", "groups": {"38": ["3", "8"]},
    "weights": {"mine": {"location": "w.pt", "sha256": None}},
    "keep_epochs": [0, 2], "pretrained": "https://host/w.pth", "pretrained_sha256": "a" * 64, "reaction_threshold": 0.55,
    "images": 3, "k": 4, "steps": 7, "tol": 1e-6,
}


def _declared_fields():
    for cls in SETTINGS_CLASSES:
        for field in dataclasses.fields(cls):
            spec = field.metadata["option"]
            if spec.key is not None and not spec.shared:
                yield cls, field, spec


def test_every_declared_option_is_in_the_schema_with_its_default_and_description():
    full = schema()
    properties = schema_properties()
    for _cls, field, spec in _declared_fields():
        fragment = properties[spec.key]
        section, *rest = spec.key.split(".")
        node = full["$defs"]["dataset"] if section == "datasets" else full["properties"][section]
        assert node["properties"][rest[-1]] is fragment or node["properties"][rest[-1]] == fragment
        default = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
        assert fragment["default"] == default, spec.key
        assert fragment["description"] == spec.help and spec.help, spec.key
        if spec.choices:
            assert fragment["enum"] == list(spec.choices)


def test_resolved_defaults_are_the_declared_ones():
    config = resolve_config(environ={})
    config["datasets"]["digits"] = resolve_config(environ={})["datasets"]["digits"]
    for _cls, field, spec in _declared_fields():
        if spec.key.startswith("datasets."):
            continue  # the packaged config_data.yaml sets some (e.g. translate of mnist5k)
        default = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
        assert lookup(config, spec.key) == default, spec.key


def test_an_option_declared_twice_is_refused():
    with pytest.raises(ValueError, match=r"option 'train.epochs' is declared twice.*shared\('train.epochs'\)"):
        option("train.epochs", 3, "again")


@pytest.mark.parametrize("cls", SETTINGS_CLASSES, ids=lambda c: c.__name__)
def test_flags_a_rule_passes_parse_back_to_the_configured_values(cls):
    """Config value -> the rule's options -> the command's parser -> the same settings, for every field."""
    config = resolve_config(environ={})
    for field in dataclasses.fields(cls):
        key = field.metadata["option"].key
        if key is None:
            continue
        name = "batch_size_test" if (cls is TestSettings and field.name == "batch_size") else field.name
        value = NON_DEFAULTS.get(name, NON_DEFAULTS.get(field.name))
        section, *rest = key.replace("*", "mnist5k").split(".")
        node = config[section]
        for part in rest[:-1]:
            node = node[part]
        node[rest[-1]] = value
    values = {"paradigm": "duration:intro=1+stimulus=2", "model_overrides": {"ffonly": True}} if cls is TestSettings \
        else {}
    text = settings_options(cls, config, data_name="mnist5k", **values)
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser, cls)
    settings = cls.from_namespace(parser.parse_args(shlex.split(text)))
    for field in dataclasses.fields(cls):
        key = field.metadata["option"].key
        expected = values.get(field.name) if key is None else lookup(config, key, "mnist5k")
        got = getattr(settings, field.name)
        if field.name == "devices" and isinstance(got, int):
            got = str(got)
        assert got == expected, (cls.__name__, field.name, text)


def test_values_are_checked_against_their_declaration_on_the_command_line_and_in_python():
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser, TrainSettings)
    with pytest.raises(SystemExit):
        parser.parse_args(["--epochs", "0"])
    with pytest.raises(SettingsError, match=r"--epochs \(config key train.epochs\): 0 is not allowed: 0 is less than"):
        TrainSettings(epochs=0)
    with pytest.raises(SettingsError, match=r"--optimizer .*'lbfgs'.*allowed: 'adam', 'adamw', 'sgd'"):
        TrainSettings(optimizer="lbfgs")
    # The command line's spelling of a paradigm works from Python too.
    assert TrainSettings(paradigm="duration:stimulus=4").paradigm == {"name": "duration", "args": {"stimulus": 4}}
    assert BetonSettings().seed == DataSettings().seed == TrainSettings().split_seed


def test_sources_come_from_the_environment_the_workflow_sets_not_from_a_flag(monkeypatch):
    assert read_sources({}) == {}
    monkeypatch.setenv(SOURCES_VARIABLE, '{"train.epochs": "my.yaml", "datasets.cifar10.flip": "--config"}')
    sources = TrainSettings(epochs=5, flip=True).sources({"epochs", "flip", "lr"}, data_name="cifar10")
    assert sources["epochs"] == "my.yaml" and sources["flip"] == "--config"
    assert sources["lr"] == "schema default"  # passed by the workflow, set by no layer
    assert sources["optimizer"] == "default"  # not on the command line
    monkeypatch.delenv(SOURCES_VARIABLE)
    assert TrainSettings().sources({"epochs"})["epochs"] == "command line"  # run by hand


def test_rule_options_do_not_depend_on_where_a_value_was_set(tmp_path):
    """The same values from another layer give the same rule options (provenance travels in the environment)."""
    from dynvision_workflow.config import config_sources

    user = tmp_path / "user.yaml"
    user.write_text("train: {epochs: 5}\n")
    first = settings_options(TrainSettings, resolve_config(files=[user], environ={}), data_name="mnist5k")
    second = settings_options(TrainSettings, resolve_config({"train": {"epochs": 5}}, environ={}), data_name="mnist5k")
    assert first == second and "--epochs 5" in first and "sources" not in first
    assert config_sources([user])["train.epochs"] == str(user)


def test_training_arguments_of_a_model_identity_set_their_options_for_that_model_only():
    from dynvision_workflow.options import apply_identity, identity_arguments, split_identity

    assert {"activityloss", "lossrt", "pattern", "dsteps", "dloader"} <= set(identity_arguments())
    model, training = split_identity({"rctype": "full", "activityloss": 0.02, "pattern": 1011, "lossrt": 4})
    assert model == {"rctype": "full"} and training == {"activityloss": 0.02, "pattern": 1011, "lossrt": 4}
    config = resolve_config(environ={})
    changed = apply_identity(config, training)
    assert changed["train"]["activity_weight"] == 0.02
    assert changed["train"]["paradigm"]["args"] == {**config["train"]["paradigm"]["args"], "rt": 4, "pattern": "1011"}
    assert config["train"]["activity_weight"] == 0.0 and "rt" not in config["train"]["paradigm"]["args"]
    sources = TrainSettings(activity_weight=0.02).sources({"activity_weight", "epochs"}, configured={},
                                                           identity={"activityloss": 0.02})
    assert sources == {**sources, "activity_weight": "model identity (activityloss=0.02)", "epochs": "command line"}


@pytest.mark.parametrize(
    ("model_args", "message"),
    [
        ({"activityloss": [0, -2]}, "model_args.activityloss: -2 is not allowed (train.activity_weight"),
        ({"lossrt": -1}, "model_args.lossrt: train.paradigm: paradigm 'duration'"),
        ({"pattern": "10x1"}, "pattern must be a non-empty string or list of 0/1"),
        ({"dloader": "dali"}, "model_args.dloader: 'dali' is not allowed"),
        ({"activitylos": 1}, "training arguments: activityloss, dloader, dsteps, epochs, lossrt, pattern"),
    ],
)
def test_training_arguments_are_checked_when_the_configuration_is_read(model_args, message):
    from dynvision_workflow.config import ConfigError

    with pytest.raises(ConfigError) as error:
        resolve_config({"model_args": model_args}, environ={})
    assert message in str(error.value)


def test_learning_rate_factor_names_are_parameter_name_substrings():
    from dynvision_workflow.config import ConfigError, resolve_config

    assert resolve_config({"train": {"lr_factors": {"layer1.recurrence": 0.5}}})["train"]["lr_factors"]
    with pytest.raises(ConfigError, match=r"train.lr_factors.a;b: the name 'a;b' is not allowed"):
        resolve_config({"train": {"lr_factors": {"a;b": 0.5}}})
