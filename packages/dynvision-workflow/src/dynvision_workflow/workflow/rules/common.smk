"""Configuration, wildcard constraints and input functions shared by every rule file."""

import functools
import json
import shlex

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

from dynvision_workflow import paths
from dynvision_workflow.cli import put_scripts_on_path
from dynvision_workflow.execution import (
    constant_system_tmpdir,
    log_run_info_once,
    tune_gc_for_large_dags,
)
from dynvision_workflow.runtime.provenance import write_run_config
from dynvision_workflow.config import (
    ConfigError,
    config_sources,
    expand_location,
    folder_path,
    resolve_config,
    source_of,
)
from dynvision_workflow.naming import ARGS_PATTERN, SEED_PATTERN, encode_args
from dynvision_workflow.specs import HASHED_PATTERN, is_hashed, record_specs
from dynvision_workflow.targets import (
    all_figures,
    category_figures,
    experiment_tests,
    model_overrides,
)

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

# A configurable wrapper around every job's shell command (e.g. to run it in a container): executor_start +
# command + executor_close. Snakemake's own strict-mode prefix stays first.
shell.prefix("set -euo pipefail; " + config["execution"]["executor_start"])
shell.suffix(config["execution"]["executor_close"])

# Jobs call the `dynvision` console script of the interpreter that runs this workflow, even when its environment
# is not activated (e.g. `.venv/bin/dynvision demo`).
put_scripts_on_path()

# Snakemake logs a dry run's job-stats table before and after the job list; print it once.
log_run_info_once()
# Snakemake evaluates its default `tmpdir=system_tmpdir` expression once per job; use its value (the same).
constant_system_tmpdir(workflow)
# A DAG of thousands of jobs is millions of objects: collect garbage cycles less often (1-2 s of a 5,000-job run).
tune_gc_for_large_dags()


wildcard_constraints:
    model_name=r"[A-Za-z][A-Za-z0-9]*",
    model_args=ARGS_PATTERN,
    seed=SEED_PATTERN,
    data_name=r"[a-z0-9]+(?:-[a-z0-9]+)*",
    data_group=r"[a-z0-9]+",
    status=r"init|trained",
    experiment=r"[a-z0-9]+",
    test_identifier=rf"[a-z]+{ARGS_PATTERN}|{HASHED_PATTERN}",
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


@functools.lru_cache(maxsize=None)
def configured_source(key):
    """Where the configured value at a dotted key path came from (memoised: SOURCES is fixed for a run)."""
    return source_of(SOURCES, key)


def option_sources(**keys):
    """``--sources`` option: for each runtime option, where its configured value came from (JSON)."""
    return shlex.join(
        [
            "--sources",
            json.dumps(
                {option: configured_source(key) for option, key in keys.items()}
            ),
        ]
    )


def dataset_settings(data_name):
    return config["datasets"][data_name]


@functools.lru_cache(maxsize=None)
def dataset_folder(data_name):
    """The expanded `path` of a folder dataset; stops the DAG when a variable in it is unset or it is no directory."""
    try:
        return folder_path(data_name, dataset_settings(data_name))
    except ConfigError as error:
        raise WorkflowError(str(error)) from None


def dataset_file(data_name, key):
    """A configured file or directory of a dataset (`mirror`, `class_index`) with `~` and variables expanded; URLs
    are left as they are."""
    try:
        return expand_location(dataset_settings(data_name)[key])
    except ValueError as error:
        raise WorkflowError(f"datasets.{data_name}.{key}: {error}") from None


def dataset_resolution(data_name):
    """Side of the square every image of a dataset is resized and cropped to, or None (images as stored)."""
    return dataset_settings(data_name)["resolution"]


def uses_ffcv():
    return config["data"]["backend"] in ("auto", "ffcv")


# Every configured test, computed once: experiment -> [(folder name, spec)], and each hashed folder name's spec.
EXPERIMENT_TESTS = {
    name: experiment_tests(config, name) for name in config["experiments"]
}
HASHED_SPECS = {
    identifier: spec
    for tests in EXPERIMENT_TESTS.values()
    for identifier, spec in tests
    if identifier != spec
}


def test_identifiers(experiment):
    """One folder name per parameter combination of an experiment: `{paradigm}{args}` or its hashed name."""
    if experiment not in EXPERIMENT_TESTS:
        raise WorkflowError(
            f"experiment {experiment!r} (in a requested path) is not defined; defined experiments: "
            f"{', '.join(sorted(EXPERIMENT_TESTS))}. Add it under `experiments:` in a config file."
        )
    return [identifier for identifier, _ in EXPERIMENT_TESTS[experiment]]


def spec_of(identifier):
    """The full spec `{paradigm}{args}` of a test folder name (hashed names are looked up in the configuration)."""
    if not is_hashed(identifier):
        return identifier
    try:
        return HASHED_SPECS[identifier]
    except KeyError:
        raise WorkflowError(
            f"test folder {identifier!r} is a hashed name that no configured experiment produces; hashed names of "
            f"the configuration: {', '.join(sorted(HASHED_SPECS)) or '(none)'}."
        ) from None


# Input functions (called once per job: keep them cheap; per-configuration work is done above) -----------------


def get_dataset_inputs(wildcards):
    """No inputs; stops the DAG, before any job runs, when a requested path names a dataset that is not defined."""
    if wildcards.data_name not in config["datasets"]:
        raise WorkflowError(
            f"dataset {wildcards.data_name!r} (in a requested path) is not defined; defined datasets: "
            f"{', '.join(sorted(config['datasets']))}. Add it under `datasets:` in a config file."
        )
    if dataset_settings(wildcards.data_name)["source"] == "folder":
        dataset_folder(wildcards.data_name)
    return []


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


def get_category_figures(wildcards):
    """Every experiment's figures on the models of each category sweep in `category` (see `categories`)."""
    if not config["category"]:
        raise WorkflowError(
            "all_experiments needs categories to sweep: --config category=[rctype,tau]; defined categories: "
            f"{', '.join(sorted(config['categories'])) or '(none)'}."
        )
    return category_figures(config)


# Parameter functions: the settings each runtime command receives, as shell-quoted options -------------------------


def get_data_options(wildcards):
    dataset = dataset_settings(wildcards.data_name)
    folder = dataset["source"] == "folder"
    splits = dataset["splits"]
    return options(
        seed=config["data"]["split_seed"],
        test_fraction=config["data"]["test_fraction"],
        source=dataset["source"],
        mirror=dataset_file(wildcards.data_name, "mirror"),
        path=dataset_folder(wildcards.data_name) if folder else None,
        splits=",".join(f"{k}={v}" for k, v in splits.items()) if splits else None,
        class_index=dataset_file(wildcards.data_name, "class_index"),
        resolution=dataset_resolution(wildcards.data_name),
    )


def get_beton_options(wildcards):
    return options(
        seed=config["data"]["split_seed"],
        val_fraction=config["data"]["val_fraction"],
        resolution=dataset_resolution(wildcards.data_name),
    )


def get_init_options(wildcards):
    """Model name, arguments and seed, and the image resolution the model's input shape is made for."""
    return (
        get_model_options(wildcards)
        + " "
        + options(image_resolution=dataset_resolution(wildcards.data_name))
    ).strip()


def get_train_gpus(wildcards):
    """GPUs a training job requests from the scheduler: `train.devices` when it is a count on a GPU accelerator."""
    train = config["train"]
    devices = str(train["devices"])
    if train["accelerator"] in ("gpu", "cuda") and devices.isdigit():
        return int(devices)
    return 0


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
        accelerator="train.accelerator",
        devices="train.devices",
        strategy="train.strategy",
        logger="train.logger",
        activity_weight="train.activity_weight",
        activity_mode="train.activity_mode",
        rest_weight="train.rest_weight",
        lr_factors="train.lr_factors",
        limit_images="train.limit_images",
        threads="train.threads",
        num_workers="data.num_workers",
        split_seed="data.split_seed",
        val_fraction="data.val_fraction",
        flip=f"{dataset_key}.flip",
        translate=f"{dataset_key}.translate",
        crop_scale=f"{dataset_key}.crop_scale",
        image_resolution=f"{dataset_key}.resolution",
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
            accelerator=train["accelerator"],
            devices=train["devices"],
            strategy=train["strategy"],
            logger=train["logger"],
            activity_weight=train["activity_weight"],
            activity_mode=train["activity_mode"],
            rest_weight=train["rest_weight"],
            lr_factors="+".join(f"{k}={v}" for k, v in train["lr_factors"].items())
            or None,
            limit_images=train["limit_images"],
            threads=train["threads"],
            num_workers=data["num_workers"],
            split_seed=data["split_seed"],
            val_fraction=data["val_fraction"],
            flip=str(dataset["flip"]).lower(),
            translate=dataset["translate"],
            crop_scale=(
                ",".join(str(v) for v in dataset["crop_scale"])
                if dataset["crop_scale"]
                else None
            ),
            image_resolution=dataset["resolution"],
            paradigm=f"{paradigm['name']}{encode_args(dict(sorted(paradigm['args'].items())))}",
        )
    )


def get_test_options(wildcards):
    """Options of a test job; they depend only on the experiment, the test and the dataset (one computation per test
    spec and dataset)."""
    return test_options(
        wildcards.experiment, wildcards.test_identifier, wildcards.data_name
    )


@functools.lru_cache(maxsize=None)
def test_options(experiment, identifier, data_name):
    test = config["test"]
    sources = option_sources(
        paradigm=f"experiments.{experiment}",
        batch_size="test.batch_size",
        limit_images="test.limit_images",
        resolution="test.response_resolution",
        image_resolution=f"datasets.{data_name}.resolution",
        threads="test.threads",
        model_overrides=f"experiments.{experiment}.model_overrides",
    )
    return (
        sources
        + " "
        + options(
            paradigm=spec_of(identifier),
            model_overrides=model_overrides(config, experiment) or None,
            identifier=identifier if is_hashed(identifier) else None,
            spec_index=paths.TEST_SPEC_INDEX if is_hashed(identifier) else None,
            batch_size=test["batch_size"],
            limit_images=test["limit_images"],
            resolution=test["response_resolution"],
            image_resolution=dataset_resolution(data_name),
            threads=test["threads"],
        )
    )
