"""Every path pattern of the DynVision workflow, written down once.

Patterns are relative to the working directory (the ``--directory`` Snakemake runs in; ``dynvision`` picks it from
``--workdir``, the ``DYNVISION_WORKDIR`` environment variable, or the current directory). They carry Snakemake
wildcards in braces; :func:`fill` substitutes them in Python. Nothing here touches the file system on import.

Layout::

    data/raw/{data_name}/{split}/{class}/{image}.png                  class folders (train, test)
    data/processed/{data_name}/{train,val}.beton + meta.json           FFCV files
    models/{model_name}/{model_name}{model_args}_{seed}/{data_name}/{status}.pt
    reports/{experiment}/{model_name}{model_args}_{seed}/{data_name}:{data_group}_{status}/{test_identifier}/...
    figures/{experiment}/{model_name}{model_args}_{seed}/{data_name}:{data_group}_{status}/{figure}.png
    logs/...  benchmarks/...  (mirror the outputs they belong to)
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

__all__ = [
    "AGGREGATED_OUTPUTS",
    "AGGREGATED_RESPONSES",
    "BENCHMARK_ROOT",
    "BETON_META",
    "BETON_TRAIN",
    "BETON_VAL",
    "CHECKPOINT_BEST",
    "CHECKPOINT_DIR",
    "CHECKPOINT_EPOCH",
    "CHECKPOINT_LAST",
    "FIGURE",
    "GROUP_SPLIT",
    "LOG_ROOT",
    "MODEL_DIR",
    "MODEL_STATE",
    "PRETRAINED_CACHE",
    "RAW_DATASET",
    "RAW_READY",
    "RAW_SPLIT",
    "RESOLVED_CONFIG_SUFFIX",
    "RUN_CONFIG_DIR",
    "TEST_DIR",
    "TEST_OUTPUTS",
    "TEST_RESPONSES",
    "TEST_RESPONSES_TABLE",
    "TEST_SPEC_INDEX",
    "WORKDIR_CONFIG",
    "WORKDIR_SNAKEFILE",
    "benchmark_for",
    "config_dir",
    "fill",
    "is_workflow_file",
    "log_for",
    "profile_dir",
    "snakefile",
    "templates_dir",
    "workdir",
]

# Data ---------------------------------------------------------------------------------------------------------------
#: A materialised dataset: class folders per split below it.
RAW_DATASET = "data/raw/{data_name}"
#: Marker written when a dataset's class folders are complete.
RAW_READY = "data/raw/{data_name}.ready"
#: One split (``train`` or ``test``) of a dataset, as class folders.
RAW_SPLIT = "data/raw/{data_name}/{split}"
#: A class group of one split (``all``: every class), as a folder of relative symlinks to the split's class
#: folders with a ``.ready`` marker inside (dynvision_data.materialize_group); outside ``data/raw/{data_name}``, which
#: is one rule's output as a whole.
GROUP_SPLIT = "data/interim/{data_name}/{split}_{data_group}"
#: FFCV files built from the training split, with the seeded train/validation split.
BETON_TRAIN = "data/processed/{data_name}/train.beton"
BETON_VAL = "data/processed/{data_name}/val.beton"
BETON_META = "data/processed/{data_name}/meta.json"

# Models -------------------------------------------------------------------------------------------------------------
#: One trained instance: model, its arguments, seed and the dataset it learns.
MODEL_DIR = "models/{model_name}/{model_name}{model_args}_{seed}/{data_name}"
#: A model state at a status: ``init``, ``trained`` (end of training), ``best`` (lowest val/loss) or ``epoch=N``
#: (end of epoch N, 0-based); see :mod:`dynvision_workflow.statuses`.
MODEL_STATE = MODEL_DIR + "/{status}.pt"
#: Lightning checkpoints of a training run: ``last.ckpt`` (used to resume), the best and the kept epochs.
CHECKPOINT_DIR = MODEL_DIR + "/checkpoints"
#: Names of the checkpoints below :data:`CHECKPOINT_DIR`: the last (resume), the best by val/loss, one kept epoch.
CHECKPOINT_LAST = "last.ckpt"
CHECKPOINT_BEST = "best.ckpt"
CHECKPOINT_EPOCH = "epoch={epoch}.ckpt"
#: Downloaded pretrained weights (``init.pretrained`` URLs), one file per SHA-256.
PRETRAINED_CACHE = "models/.pretrained/{sha256}{suffix}"

# Tests --------------------------------------------------------------------------------------------------------------
#: One experiment's folder for one model state: its two tables (below) and one folder per test.
_EXPERIMENT_DIR = "reports/{experiment}/{model_name}{model_args}_{seed}/{data_name}:{data_group}_{status}"
TEST_DIR = _EXPERIMENT_DIR + "/{test_identifier}"
#: Tidy classification table, one row per (sample, time step).
TEST_OUTPUTS = TEST_DIR + "/test_outputs.csv"
#: Responses per area and step (safetensors) with a metadata record.
TEST_RESPONSES = TEST_DIR + "/test_responses.safetensors"
#: Tidy responses table, one row per (sample, time step, area).
TEST_RESPONSES_TABLE = TEST_DIR + "/test_responses.csv"

#: Hashed test folder name (``{paradigm}-{hash}``, for specs longer than ``test.max_identifier_length``) -> its spec.
TEST_SPEC_INDEX = "reports/test_specs.json"

# Experiments (all test specs of one experiment for one model, tidy tables with the paradigm parameters as columns) --
AGGREGATED_OUTPUTS = _EXPERIMENT_DIR + "/test_outputs.csv"
AGGREGATED_RESPONSES = _EXPERIMENT_DIR + "/test_responses.csv"

# Figures ------------------------------------------------------------------------------------------------------------
FIGURE = "figures/{experiment}/{model_name}{model_args}_{seed}/{data_name}:{data_group}_{status}/{figure}.png"

# Side files ---------------------------------------------------------------------------------------------------------
#: Every primary output gets ``<output>.config.yaml`` beside it: parameters, seed, versions and their sources.
RESOLVED_CONFIG_SUFFIX = ".config.yaml"
LOG_ROOT = "logs"
BENCHMARK_ROOT = "benchmarks"
#: Every real (not dry) run writes its resolved configuration and the sources of its values here.
RUN_CONFIG_DIR = "logs/config"

# A working directory set up by `dynvision init-workdir` (the snakemake-workflows deployment layout) --------------
#: Its Snakefile: the packaged workflow used as a Snakemake module (plain `snakemake` finds it here).
WORKDIR_SNAKEFILE = "workflow/Snakefile"
#: Its configuration, read by that Snakefile's `read_configfile` (above the packaged layers, below --configfile).
WORKDIR_CONFIG = "config/config.yaml"


def log_for(pattern: str) -> str:
    """The log file pattern mirroring an output pattern: ``logs/<output without extension>.log``."""
    return f"{LOG_ROOT}/{_strip_suffix(pattern)}.log"


def benchmark_for(pattern: str) -> str:
    """The Snakemake ``benchmark:`` file pattern mirroring an output pattern."""
    return f"{BENCHMARK_ROOT}/{_strip_suffix(pattern)}.tsv"


def _strip_suffix(pattern: str) -> str:
    head, _, tail = pattern.rpartition("/")
    stem = tail.split(".", 1)[0] if "." in tail and not tail.startswith("{") else tail
    return f"{head}/{stem}" if head else stem


def is_workflow_file(location: str) -> bool:
    """Whether a configured file location is a path inside the working directory (relative, no URL, no ``~`` or
    variable), i.e. one the workflow can make."""
    return not ("://" in location or os.path.isabs(location) or location.startswith(("~", "$")))


def fill(pattern: str, **wildcards: object) -> str:
    """Substitute wildcards in a pattern; a missing wildcard raises ``KeyError`` naming it."""
    return pattern.format(**wildcards)


def workdir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The working directory for outputs: ``explicit``, else ``$DYNVISION_WORKDIR``, else the current directory."""
    chosen = explicit or os.environ.get("DYNVISION_WORKDIR") or os.getcwd()
    return Path(chosen).expanduser().resolve()


def snakefile() -> Path:
    """The packaged Snakefile (works for wheel and editable installs)."""
    return Path(str(resources.files("dynvision_workflow") / "workflow" / "Snakefile"))


def profile_dir(name: str) -> Path:
    """The packaged Snakemake profile folder ``profiles/<name>`` (e.g. ``slurm``); it may not exist."""
    return Path(str(resources.files("dynvision_workflow") / "profiles" / name))


def config_dir() -> Path:
    """The packaged folder of default YAML configs (``config_defaults.yaml``, ``config_demo.yaml``...)."""
    return Path(str(resources.files("dynvision_workflow") / "config"))


def templates_dir() -> Path:
    """The packaged templates of a working directory's files (``workdir/Snakefile``, ``workdir/config.yaml``)."""
    return Path(str(resources.files("dynvision_workflow") / "templates"))
