"""Configuration, wildcard constraints and input functions shared by every rule file."""

import json
import shlex

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

from dynvision_workflow import paths
from dynvision_workflow.cli import put_scripts_on_path
from dynvision_workflow.runtime.provenance import write_run_config
from dynvision_workflow.config import (
    ConfigError,
    config_sources,
    resolve_config,
    source_of,
)
from dynvision_workflow.naming import ARGS_PATTERN, SEED_PATTERN, encode_args
from dynvision_workflow.targets import all_figures, canonical_args

min_version("9.0")


# Resolve the layered configuration once: packaged layers < --configfile files < --config overrides.
try:
    _resolved = resolve_config(config)
except ConfigError as error:
    raise WorkflowError(str(error)) from None
config.clear()
config.update(_resolved)
# Where each value came from (packaged layer, --configfile, --config or schema default), for the provenance
# record every runtime command writes beside its output.
SOURCES = config_sources(
    workflow.config_settings.configfiles, dict(workflow.config_settings.config)
)

# Jobs call the `dynvision` console script of the interpreter that runs this workflow, even when its environment
# is not activated (e.g. `.venv/bin/dynvision demo`).
put_scripts_on_path()


wildcard_constraints:
    model_name=r"[A-Za-z][A-Za-z0-9]*",
    model_args=ARGS_PATTERN,
    seed=SEED_PATTERN,
    data_name=r"[a-z0-9]+",
    data_group=r"[a-z0-9]+",
    status=r"init|trained",
    experiment=r"[a-z0-9]+",
    test_identifier=rf"[a-z]+{ARGS_PATTERN}",
    figure=r"[a-z]+",


# Rule files run in Snakemake's own module namespace: helper names must not shadow its globals (a helper named
# `partial` once replaced functools.partial there and broke `onstart`). tests/test_workflow_cli.py checks this.
def pattern_with(pattern, **values):
    """A path pattern with some wildcards filled and the others left for Snakemake."""
    for key, value in values.items():
        pattern = pattern.replace(f"{{{key}}}", str(value))
    return pattern


def options(**values):
    """Command-line options for a runtime command, shell-quoted: --key value (None values are left out)."""
    words = []
    for key, value in values.items():
        if value is None:
            continue
        words += [f"--{key.replace('_', '-')}", str(value)]
    return shlex.join(words)


def option_sources(**keys):
    """``--sources`` option: for each runtime option, where its configured value came from (JSON)."""
    return shlex.join(
        [
            "--sources",
            json.dumps(
                {option: source_of(SOURCES, key) for option, key in keys.items()}
            ),
        ]
    )


def dataset_settings(data_name):
    return config["datasets"][data_name]


def uses_ffcv():
    return config["data"]["backend"] in ("auto", "ffcv")


def test_identifiers(experiment):
    """One identifier per parameter combination of an experiment: `{paradigm}{args}`."""
    spec = config["experiments"][experiment]
    return [f"{spec['paradigm']}{args}" for args in canonical_args(spec["args"])]


# Input functions ----------------------------------------------------------------------------------------------------


def get_training_data(wildcards):
    """The class folders of a dataset, and its FFCV files when FFCV is the training backend."""
    inputs = {"ready": paths.fill(paths.RAW_READY, data_name=wildcards.data_name)}
    if uses_ffcv():
        for name, pattern in (
            ("train", paths.BETON_TRAIN),
            ("val", paths.BETON_VAL),
            ("meta", paths.BETON_META),
        ):
            inputs[name] = paths.fill(pattern, data_name=wildcards.data_name)
    return inputs


def get_experiment_tests(wildcards):
    """Every test of one experiment for one model state (one per parameter combination)."""
    fields = dict(wildcards.items())
    return {
        "outputs": [
            paths.fill(paths.TEST_OUTPUTS, test_identifier=identifier, **fields)
            for identifier in test_identifiers(wildcards.experiment)
        ],
        "responses": [
            paths.fill(paths.TEST_RESPONSES_TABLE, test_identifier=identifier, **fields)
            for identifier in test_identifiers(wildcards.experiment)
        ],
    }


def get_all_figures(wildcards):
    """Responses and accuracy figures for every configured experiment, model, sweep point, seed and status."""
    return all_figures(config)


# Parameter functions: the settings each runtime command receives, as shell-quoted options -------------------------


def get_data_options(wildcards):
    return options(
        seed=config["data"]["split_seed"], test_fraction=config["data"]["test_fraction"]
    )


def get_training_split(wildcards):
    return paths.fill(paths.RAW_SPLIT, data_name=wildcards.data_name, split="train")


def get_test_split(wildcards):
    return paths.fill(paths.RAW_SPLIT, data_name=wildcards.data_name, split="test")


def get_beton_options(wildcards):
    return options(
        seed=config["data"]["split_seed"], val_fraction=config["data"]["val_fraction"]
    )


def get_model_options(wildcards):
    """Model name, arguments and seed as they appear in the model's path."""
    return options(
        model_name=wildcards.model_name,
        model_args=wildcards.model_args or None,
        seed=wildcards.seed,
    )


def get_train_options(wildcards):
    train, data = config["train"], config["data"]
    dataset = dataset_settings(wildcards.data_name)
    paradigm = train["paradigm"]
    dataset_key = f"datasets.{wildcards.data_name}"
    sources = option_sources(
        backend="data.backend",
        epochs="train.epochs",
        batch_size="train.batch_size",
        optimizer="train.optimizer",
        lr="train.lr",
        weight_decay="train.weight_decay",
        scheduler="train.scheduler",
        gradient_clip="train.gradient_clip",
        precision="train.precision",
        limit_images="train.limit_images",
        threads="train.threads",
        num_workers="data.num_workers",
        split_seed="data.split_seed",
        val_fraction="data.val_fraction",
        flip=f"{dataset_key}.flip",
        translate=f"{dataset_key}.translate",
        paradigm="train.paradigm",
    )
    return (
        sources
        + " "
        + options(
            backend="ffcv" if uses_ffcv() else "torch",
            epochs=train["epochs"],
            batch_size=train["batch_size"],
            optimizer=train["optimizer"],
            lr=train["lr"],
            weight_decay=train["weight_decay"],
            scheduler=train["scheduler"],
            gradient_clip=train["gradient_clip"],
            precision=train["precision"],
            limit_images=train["limit_images"],
            threads=train["threads"],
            num_workers=data["num_workers"],
            split_seed=data["split_seed"],
            val_fraction=data["val_fraction"],
            flip=str(dataset["flip"]).lower(),
            translate=dataset["translate"],
            paradigm=f"{paradigm['name']}{encode_args(dict(sorted(paradigm['args'].items())))}",
        )
    )


def get_test_options(wildcards):
    test = config["test"]
    sources = option_sources(
        paradigm=f"experiments.{wildcards.experiment}",
        batch_size="test.batch_size",
        limit_images="test.limit_images",
        resolution="test.response_resolution",
        threads="test.threads",
    )
    return (
        sources
        + " "
        + options(
            paradigm=wildcards.test_identifier,
            batch_size=test["batch_size"],
            limit_images=test["limit_images"],
            resolution=test["response_resolution"],
            threads=test["threads"],
        )
    )
