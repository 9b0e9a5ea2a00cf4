"""Configuration, wildcard constraints and input functions shared by every rule file."""

import functools
import json
import os
import shlex
import sys

from snakemake.utils import min_version

from dynvision_workflow import paths
from dynvision_workflow import study as studies
from dynvision_workflow.cli import put_scripts_on_path
from dynvision_workflow.execution import (
    cap_workers,
    constant_system_tmpdir,
    ddp_tasks,
    job_resources,
    job_shell,
    job_threads,
    log_run_info_once,
    runs_on_slurm,
    srun_launcher,
    submits_jobs,
    tune_gc_for_large_dags,
)
from dynvision_workflow.runtime.provenance import write_run_config
from dynvision_workflow.config import (
    ConfigError,
    config_sources,
    deep_merge,
    exit_invalid_config,
    expand_location,
    folder_path,
    load_yaml,
    model_identity_problems,
    read_by_snakemake,
    resolve_config,
    retype_overrides,
    spec_problems,
)
from dynvision_workflow.naming import ARGS_PATTERN, SEED_PATTERN, ArgsError
from dynvision_workflow.naming import encode_args, parse_args
from dynvision_workflow.options import InitSettings
from dynvision_workflow.statuses import EXPORTED_STATUSES, STATUS_PATTERN
from dynvision_workflow.options import (
    SOURCES_VARIABLE,
    apply_identity,
    split_identity,
    BetonSettings,
    DataSettings,
    GroupSettings,
    StabilitySettings,
    TestSettings,
    TrainSettings,
    settings_options,
)
from dynvision_workflow.specs import (
    HASHED_PATTERN,
    SPEC_PATTERN,
    is_hashed,
    record_specs,
    split_spec,
)
from dynvision_workflow.targets import (
    all_figures,
    category_figures,
    experiment_config,
    experiment_tests,
    model_overrides,
)
from dynvision_workflow.legacy import repair_typos
from dynvision_workflow.workdir import OUTPUT_ROOTS, run_configfiles

min_version("9.0")


# Resolve the layered configuration once: packaged layers < config files (the config file of a working directory,
# read by its Snakefile, which uses this workflow as a module; then --configfile files) < --config overrides (typed
# as YAML inside mappings, as `dynvision run --config` and `dynvision config show` type them; a key that swallowed
# its value, `{rctype:full}`, is repaired with a note). In a module `workflow` is the using Snakefile's, so
# `workflow.config_settings` holds the user's command line there too. Snakemake read the config files with its own
# loader (which renders YTE templates, running Python, and reads `0010` as 8); each is read again here as plain
# data (load_yaml: no templates, no tags, no duplicate keys), and those values replace Snakemake's. A problem stops
# the run here, before any job, with the problem lines only (exit_invalid_config).
OVERRIDES, _typos = repair_typos(
    retype_overrides(dict(workflow.config_settings.config))
)
for _typo in _typos:
    print(f"note: {_typo}", file=sys.stderr)
for _file in read_by_snakemake(workflow.configfiles):
    if _file not in map(str, workflow.config_settings.configfiles):
        print(
            f"note: {_file} was read by Snakemake's `configfile:` directive, which runs YAML templates; in the "
            f"Snakefile, replace `configfile: {_file!r}` with `read_configfile(workflow, {_file!r})` (from "
            "dynvision_workflow.config import read_configfile), as `dynvision init-workdir` writes it.",
            file=sys.stderr,
        )
_CONFIGFILES = run_configfiles(workflow)
# A workflow that submits its jobs to a cluster plans them with the `cluster` mode's settings, as its jobs (which
# read the workflow again inside their allocation) resolve them: one set of settings on both sides.
try:
    _from_files = {}
    for _file in _CONFIGFILES:
        _from_files = deep_merge(_from_files, load_yaml(_file))
    _resolved = resolve_config(
        deep_merge(deep_merge(repair_typos(config)[0], _from_files), OVERRIDES),
        submits_jobs=workflow.remote_exec or submits_jobs(),
    )
except ConfigError as error:
    exit_invalid_config(error)
config.clear()
config.update(_resolved)
# Where each value came from (packaged layer, --configfile, --config or schema default), for the provenance
# record every runtime command writes beside its output. Jobs inherit it through the environment, not through a
# parameter of a rule: moving a value to another config file must not rerun anything.
_mode = config["execution"]["active_mode"]
SOURCES = config_sources(
    _CONFIGFILES,
    OVERRIDES,
    mode=_mode,
    overlay=config["execution"]["modes"].get(_mode),
)
os.environ[SOURCES_VARIABLE] = json.dumps(SOURCES, sort_keys=True)

# A configurable wrapper around every job's shell command (e.g. to run it in a container): executor_start +
# command + executor_close, the command passed verbatim to a `bash -c '` wrapper (execution.job_shell); each
# attempt writes a header to the rule's log and a failed one keeps its log as `<log>.failed-<n>`. Snakemake
# formats prefix and suffix: braces are escaped.
for _part, _text in zip(
    (shell.prefix, shell.suffix),
    job_shell(
        config["execution"]["executor_start"], config["execution"]["executor_close"]
    ),
):
    _part(_text.replace("{", "{{").replace("}", "}}"))

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
    split=r"train|test",
    status=STATUS_PATTERN,
    experiment=r"[a-z0-9]+",
    test_identifier=rf"{SPEC_PATTERN}|{HASHED_PATTERN}",
    figure=r"[a-z]+",
    scale=r"[a-z0-9]+",
    area=r"[A-Za-z0-9]+",


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
        exit_invalid_config(error)


def dataset_file(data_name, key):
    """A configured file or directory of a dataset (`mirror`, `class_index`) with `~` and variables expanded; URLs
    are left as they are."""
    try:
        return expand_location(dataset_settings(data_name)[key])
    except ValueError as error:
        exit_invalid_config(ConfigError(f"datasets.{data_name}.{key}: {error}"))


def dataset_resolution(data_name):
    """Side of the square every image of a dataset is resized and cropped to, or None (images as stored)."""
    return dataset_settings(data_name)["resolution"]


@functools.lru_cache(maxsize=None)
def model_config(model_args):
    """The configuration a model is trained with: the run's, with the training arguments of its identity applied
    (`activityloss=0.02` sets train.activity_weight for that model only; see options.identity_arguments).
    """
    return apply_identity(config, split_identity(parse_args(model_args))[1])


def uses_ffcv(model_args=""):
    return model_config(model_args)["data"]["backend"] in ("auto", "ffcv")


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


def refuse_requested(message):
    """Stop the DAG on a requested path that cannot be made: `dynvision: error:` and the message on stderr, exit
    status 2 (a WorkflowError raised in an input function makes Snakemake print its traceback frames).
    """
    print(f"dynvision: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def test_identifiers(experiment):
    """One folder name per parameter combination of an experiment: `{paradigm}{args}` or its hashed name."""
    if experiment not in EXPERIMENT_TESTS:
        refuse_requested(
            f"experiment {experiment!r} (in a requested path) is not defined; defined experiments: "
            f"{', '.join(sorted(EXPERIMENT_TESTS))}. Add it under `experiments:` in a config file."
        )
    return [identifier for identifier, _ in EXPERIMENT_TESTS[experiment]]


def spec_of(identifier):
    """The full spec `{paradigm}{args}[@overrides]` of a test folder name (hashed names are looked up in the
    configuration)."""
    if not is_hashed(identifier):
        return identifier
    try:
        return HASHED_SPECS[identifier]
    except KeyError:
        refuse_requested(
            f"test folder {identifier!r} is a hashed name that no configured experiment produces; hashed names of "
            f"the configuration: {', '.join(sorted(HASHED_SPECS)) or '(none)'}."
        )


# Input functions (called once per job: keep them cheap; per-configuration work is done above) -----------------


def get_dataset_inputs(wildcards):
    """No inputs; stops the DAG, before any job runs, when a requested path names a dataset that is not defined."""
    if wildcards.data_name not in config["datasets"]:
        refuse_requested(
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
    problems = model_identity_problems(
        model_name, model_args, "requested model", config
    )
    if problems:
        refuse_requested("\n".join(problems))


@functools.lru_cache(maxsize=None)
def checked_test(identifier):
    """Stops the DAG when a test spec in a requested path is not canonical or names a value a job would reject."""
    if not is_hashed(identifier):
        problems = spec_problems(identifier, "requested test")
        if problems:
            refuse_requested("\n".join(problems))


def train_group(model_args):
    """The class group a model is trained on (`all`, or its identity's `traingroup=`)."""
    return model_config(model_args)["train"]["data_group"]


def get_train_dataset(wildcards):
    """The training class folders: the dataset's, or the folder of the class group the model is trained on."""
    group = train_group(wildcards.model_args)
    if group == "all":
        return paths.fill(paths.RAW_SPLIT, data_name=wildcards.data_name, split="train")
    return paths.fill(
        paths.GROUP_SPLIT,
        data_name=wildcards.data_name,
        split="train",
        data_group=group,
    )


def get_training_data(wildcards):
    """The class folders of a dataset (or of the class group trained on), and its FFCV files when FFCV is the
    training backend."""
    inputs = {"ready": paths.fill(paths.RAW_READY, data_name=wildcards.data_name)}
    if train_group(wildcards.model_args) != "all":
        inputs["group"] = get_train_dataset(wildcards)
        return inputs
    if uses_ffcv(wildcards.model_args):
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
    """Every experiment's figures on the models of each category sweep in `category` (see `categories`), or on
    the `model_args` sweep when no category is selected."""
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


def get_group_options(wildcards):
    """The classes of the group in use only (another group's change reruns nothing here)."""
    groups = dataset_settings(wildcards.data_name)["groups"]
    chosen = (
        {wildcards.data_group: groups[wildcards.data_group]}
        if wildcards.data_group in groups
        else {}
    )
    return settings_options(
        GroupSettings, config, data_name=wildcards.data_name, groups=chosen
    )


def get_beton_options(wildcards):
    return settings_options(BetonSettings, config, data_name=wildcards.data_name)


def get_stability_options(wildcards):
    """Refuses (before any job) a model that is not on the temporal engine: its step cannot be linearised."""
    from dynvision_workflow.analysis_targets import has_stability
    from dynvision_workflow.config import model_catalogue

    if not has_stability(wildcards.model_name):
        engine = [name for name in model_catalogue() if has_stability(name)]
        refuse_requested(
            f"the stability of {wildcards.model_name} cannot be analysed: it is not built on the temporal engine "
            f"(dynvision_models.engine.TemporalModel), whose one-step function the analysis linearises. Models "
            f"with the engine: {', '.join(engine)}."
        )
    return settings_options(StabilitySettings, config, data_name=wildcards.data_name)


def get_init_options(wildcards):
    """Model name, arguments and seed, and the image resolution the model's input shape is made for (after
    checking the model identity: checked_model)."""
    checked_model(wildcards.model_name, wildcards.model_args)
    return (
        get_model_options(wildcards)
        + " "
        + options(image_resolution=dataset_resolution(wildcards.data_name))
    ).strip()


def pretrained_source(wildcards):
    """The weights an init job starts from, as (location, sha256), or (None, None) for random weights: the model's
    `init.pretrained` (its identity's `pretrained=` or the configured one), looked up in `init.weights` by name.
    """
    init = model_config(wildcards.model_args)["init"]
    name = init["pretrained"]
    if name in (None, "none"):
        return None, None
    if name not in init["weights"]:
        return name, init["pretrained_sha256"]
    entry = init["weights"][name]
    args = {
        k: v for k, v in parse_args(wildcards.model_args).items() if k != "pretrained"
    }
    location = entry["location"].format(
        model_name=wildcards.model_name,
        model_args=encode_args(args),
        seed=wildcards.seed,
        data_name=wildcards.data_name,
    )
    return location, entry.get("sha256")


def get_model_inputs(wildcards):
    """The dataset's class folders, and pretrained weights that the workflow makes (a relative location)."""
    inputs = {"ready": paths.fill(paths.RAW_READY, data_name=wildcards.data_name)}
    location, _ = pretrained_source(wildcards)
    if location and paths.is_workflow_file(location):
        made = location.split("/", 1)[0] in OUTPUT_ROOTS  # a folder the workflow writes
        if not made and not os.path.exists(location):
            name = model_config(wildcards.model_args)["init"]["pretrained"]
            key = (
                f"init.weights.{name}.location"
                if name in config["init"]["weights"]
                else "init.pretrained"
            )
            exit_invalid_config(
                ConfigError(
                    f"{key}: {location!r} does not exist in the working directory {os.getcwd()} and no rule makes "
                    "it; give an existing weights file (a path relative to the working directory, absolute, or "
                    "with ~), or an http(s):// URL with its sha256."
                )
            )
        inputs["pretrained"] = location
    return inputs


def get_pretrained_options(wildcards):
    """The pretrained weights an init job starts from (`~` and variables expanded; URLs as they are) and their
    SHA-256; empty for random weights."""
    location, checksum = pretrained_source(wildcards)
    if location is None:
        return ""
    try:
        location = expand_location(location)
    except ValueError as error:
        exit_invalid_config(ConfigError(f"init.pretrained: {error}"))
    return settings_options(
        InitSettings,
        config,
        pretrained=location,
        pretrained_sha256=checksum,
        weights=None,
    )


def get_train_gpus(wildcards):
    """GPUs a training job requests from the scheduler: none unless `train.accelerator` is gpu or cuda; then
    `train.devices` when it is a count, else one."""
    train = config["train"]
    devices = str(train["devices"])
    if train["accelerator"] not in ("gpu", "cuda"):
        return 0
    return int(devices) if devices.isdigit() and int(devices) > 0 else 1


# Data-parallel training (strategy ddp) submitted to SLURM runs one process per device, started by `srun` inside
# the job (Lightning takes each process's rank from SLURM's variables); elsewhere one process, as before.
TRAIN_TASKS = (
    ddp_tasks(config["train"]) if runs_on_slurm(remote_job=workflow.remote_exec) else 1
)


def resources_of(rule_name):
    """Scheduler resources of a rule's jobs: `execution.resources` (the rule's entry over `default`) merged key by
    key over the rule's own (dynvision_workflow.execution.RULE_RESOURCES); training adds the GPUs it asks for,
    and the tasks of a data-parallel training on SLURM (TRAIN_TASKS).
    """
    if rule_name != "train_model":
        return job_resources(rule_name, config["execution"]["resources"])
    return job_resources(
        rule_name,
        config["execution"]["resources"],
        gpus=get_train_gpus(None),
        tasks=TRAIN_TASKS,
    )


def train_cpus():
    """CPUs of one training process: the job's, or a task's when several are started (TRAIN_TASKS)."""
    if TRAIN_TASKS > 1:
        return int(resources_of("train_model")["cpus_per_task"])
    return threads_of("train_model")


def get_train_launcher(wildcards):
    """`srun ...` before `dynvision train` for a data-parallel training on SLURM; else nothing."""
    return srun_launcher(TRAIN_TASKS, train_cpus())


def threads_of(rule_name):
    """CPUs of a rule's jobs (Snakemake threads), from the same table as resources_of."""
    return job_threads(rule_name, config["execution"]["resources"])


def get_model_options(wildcards):
    """Model name, arguments and seed as they appear in the model's path (memoised per model: every test job of a
    model passes them)."""
    return model_options(wildcards.model_name, wildcards.model_args, wildcards.seed)


@functools.lru_cache(maxsize=None)
def model_options(model_name, model_args, seed):
    return options(model_name=model_name, model_args=model_args or None, seed=seed)


def get_train_options(wildcards):
    """Every training option (dynvision_workflow.options.TrainSettings) from the resolved configuration, with the
    training arguments of the model's identity applied."""
    return train_options(wildcards.data_name, wildcards.model_args)


@functools.lru_cache(maxsize=None)
def train_options(data_name, model_args):
    settings = model_config(model_args)
    backend = settings["data"]["backend"] if uses_ffcv(model_args) else "torch"
    return " ".join(
        [
            settings_options(
                TrainSettings,
                settings,
                data_name=data_name,
                backend=backend,
                # Loader workers and torch threads never exceed the CPUs the job is given.
                num_workers=cap_workers(settings["data"]["num_workers"], train_cpus()),
                threads=min(settings["train"]["threads"], train_cpus()),
            ),
            options(data_name=data_name),
        ]
    )


def get_experiment_test_options(wildcards):
    """Options of an experiment's one-pass test job: the model identity, the options its tests share, and the
    tests (`--tests`: each test's folder name, spec, paradigm and model overrides, as JSON; the same for every
    model, so computed once per experiment)."""
    return (
        get_model_options(wildcards)
        + " "
        + experiment_test_options(wildcards.experiment, wildcards.data_name)
    )


@functools.lru_cache(maxsize=None)
def experiment_test_options(experiment, data_name):
    """The options an experiment's tests share and its tests (`--tests`)."""
    # A requested path may name an experiment that is not defined: refused here.
    test_identifiers(experiment)
    settings = experiment_config(config, experiment)
    tests = [
        {
            "identifier": identifier,
            "spec": spec,
            "paradigm": split_spec(spec)[0],
            "overrides": test_overrides(experiment, spec),
        }
        for identifier, spec in EXPERIMENT_TESTS[experiment]
    ]
    hashed = any(is_hashed(test["identifier"]) for test in tests)
    return " ".join(
        [
            settings_options(
                TestSettings,
                settings,
                data_name=data_name,
                threads=min(settings["test"]["threads"], threads_of("test_experiment")),
            ),
            options(
                data_name=data_name,
                spec_index=paths.TEST_SPEC_INDEX if hashed else None,
            ),
            shlex.join(["--tests", json.dumps(tests, separators=(",", ":"))]),
        ]
    )


def test_overrides(experiment, spec):
    """The experiment's model overrides for one test, each swept one at the test's value (refused when bad)."""
    try:
        return model_overrides(config, experiment, spec)
    except ArgsError as error:
        refuse_requested(str(error))


def get_test_options(wildcards):
    """Options of a test job: the model identity its state is checked against, then the options that depend only on
    the experiment, the test and the dataset (one computation per test spec and dataset). One parameter function,
    not two: Snakemake inspects each per job, which a 5,000-job dry run feels."""
    return (
        get_model_options(wildcards)
        + " "
        + test_options(
            wildcards.experiment, wildcards.test_identifier, wildcards.data_name
        )
    )


@functools.lru_cache(maxsize=None)
def test_options(experiment, identifier, data_name):
    checked_test(identifier)
    hashed = is_hashed(identifier)
    spec = spec_of(identifier)
    paradigm = split_spec(spec)[0]
    overrides = test_overrides(experiment, spec)
    settings = experiment_config(config, experiment)
    return " ".join(
        [
            settings_options(
                TestSettings,
                settings,
                data_name=data_name,
                paradigm=paradigm,
                model_overrides=overrides or None,
                threads=min(settings["test"]["threads"], threads_of("test_model")),
            ),
            options(
                data_name=data_name,
                identifier=identifier if hashed else None,
                spec=spec if hashed and spec != paradigm else None,
                spec_index=paths.TEST_SPEC_INDEX if hashed else None,
            ),
        ]
    )
