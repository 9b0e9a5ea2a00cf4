"""Configuration, wildcard constraints and input functions shared by every rule file."""

import functools
import json
import os
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
    deep_merge,
    expand_location,
    folder_path,
    identity_problems,
    resolve_config,
    retype_overrides,
    spec_problems,
)
from dynvision_workflow.naming import ARGS_PATTERN, SEED_PATTERN
from dynvision_workflow.options import (
    SOURCES_VARIABLE,
    BetonSettings,
    DataSettings,
    TestSettings,
    TrainSettings,
    settings_options,
)
from dynvision_workflow.specs import HASHED_PATTERN, is_hashed, record_specs
from dynvision_workflow.targets import (
    all_figures,
    category_figures,
    experiment_tests,
    model_overrides,
)

min_version("9.0")


# Resolve the layered configuration once: packaged layers < --configfile files < --config overrides (typed as YAML
# inside mappings, as `dynvision run --config` and `dynvision config show` type them).
OVERRIDES = retype_overrides(dict(workflow.config_settings.config))
try:
    _resolved = resolve_config(deep_merge(config, OVERRIDES))
except ConfigError as error:
    raise WorkflowError(str(error)) from None
config.clear()
config.update(_resolved)
# Where each value came from (packaged layer, --configfile, --config or schema default), for the provenance
# record every runtime command writes beside its output. Jobs inherit it through the environment, not through a
# parameter of a rule: moving a value to another config file must not rerun anything.
SOURCES = config_sources(workflow.config_settings.configfiles, OVERRIDES)
os.environ[SOURCES_VARIABLE] = json.dumps(SOURCES, sort_keys=True)

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


@functools.lru_cache(maxsize=None)
def checked_model(model_name, model_args):
    """Stops the DAG, before any job runs, when a model identity in a requested path is not in canonical spelling
    (naming the canonical one) or names a value a job would reject (`dynvision run` checks its targets the same
    way before Snakemake starts; identities made from the configuration were checked when it was read).
    """
    problems = identity_problems(model_name, model_args, "requested model")
    if problems:
        raise WorkflowError("\n".join(problems))


@functools.lru_cache(maxsize=None)
def checked_test(identifier):
    """Stops the DAG when a test spec in a requested path is not canonical or names a value a job would reject."""
    if not is_hashed(identifier):
        problems = spec_problems(identifier, "requested test")
        if problems:
            raise WorkflowError("\n".join(problems))


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
    folder = dataset_settings(wildcards.data_name)["source"] == "folder"
    return settings_options(
        DataSettings,
        config,
        data_name=wildcards.data_name,
        mirror=dataset_file(wildcards.data_name, "mirror"),
        path=dataset_folder(wildcards.data_name) if folder else None,
        class_index=dataset_file(wildcards.data_name, "class_index"),
    )


def get_beton_options(wildcards):
    return settings_options(BetonSettings, config, data_name=wildcards.data_name)


def get_init_options(wildcards):
    """Model name, arguments and seed, and the image resolution the model's input shape is made for (after
    checking the model identity: checked_model)."""
    checked_model(wildcards.model_name, wildcards.model_args)
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
    """Every training option (dynvision_workflow.options.TrainSettings) from the resolved configuration."""
    return train_options(wildcards.data_name)


@functools.lru_cache(maxsize=None)
def train_options(data_name):
    backend = config["data"]["backend"] if uses_ffcv() else "torch"
    return " ".join(
        [
            settings_options(
                TrainSettings, config, data_name=data_name, backend=backend
            ),
            options(data_name=data_name),
        ]
    )


def get_test_options(wildcards):
    """Options of a test job; they depend only on the experiment, the test and the dataset (one computation per test
    spec and dataset)."""
    return test_options(
        wildcards.experiment, wildcards.test_identifier, wildcards.data_name
    )


@functools.lru_cache(maxsize=None)
def test_options(experiment, identifier, data_name):
    checked_test(identifier)
    hashed = is_hashed(identifier)
    return " ".join(
        [
            settings_options(
                TestSettings,
                config,
                data_name=data_name,
                paradigm=spec_of(identifier),
                model_overrides=model_overrides(config, experiment) or None,
            ),
            options(
                data_name=data_name,
                identifier=identifier if hashed else None,
                spec_index=paths.TEST_SPEC_INDEX if hashed else None,
            ),
        ]
    )
