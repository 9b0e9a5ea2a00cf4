"""Where the workflow runs: a laptop (``local``) or a batch scheduler's compute nodes (``cluster``).

The mode is set in the configuration (``execution.mode``) or, with ``auto``, detected from the environment
variables that batch schedulers set inside a job (:data:`SCHEDULER_VARIABLES`), never from host names. Each mode
has a configuration overlay (``execution.modes.<mode>``: e.g. more loader workers and larger test batches on
cluster nodes) merged above the packaged defaults and below every user config file and ``--config`` value.
:func:`log_run_info_once` keeps Snakemake from printing its job-stats table twice in a dry run;
:func:`constant_system_tmpdir` saves Snakemake evaluating its default ``tmpdir`` expression once per job;
:func:`tune_gc_for_large_dags` keeps Python's cyclic garbage collector from rescanning a large DAG.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

__all__ = [
    "MODES",
    "SCHEDULER_VARIABLES",
    "constant_system_tmpdir",
    "detect_mode",
    "log_run_info_once",
    "resolve_mode",
    "tune_gc_for_large_dags",
]

#: The execution modes.
MODES = ("local", "cluster")
#: Environment variables set inside a batch job: SLURM, PBS/Torque, LSF, Grid Engine, HTCondor, Flux.
SCHEDULER_VARIABLES = ("SLURM_JOB_ID", "PBS_JOBID", "LSB_JOBID", "SGE_TASK_ID", "_CONDOR_JOB_AD", "FLUX_JOB_ID")


def detect_mode(environ: Mapping[str, str] | None = None) -> str:
    """``cluster`` inside a batch job (a scheduler variable is set), else ``local``."""
    environ = os.environ if environ is None else environ
    return "cluster" if any(environ.get(name) for name in SCHEDULER_VARIABLES) else "local"


def resolve_mode(setting: str, environ: Mapping[str, str] | None = None) -> str:
    """The mode for a configured ``execution.mode``: ``local``/``cluster`` as given, ``auto`` detected."""
    if setting == "auto":
        return detect_mode(environ)
    if setting not in MODES:
        raise ValueError(f"execution.mode {setting!r} is not allowed; choose one of auto, {', '.join(MODES)}.")
    return setting


class _RunInfoOnce(logging.Filter):
    """Drops a run-info record (Snakemake's job-stats table) whose text was already logged."""

    def __init__(self) -> None:
        super().__init__("dynvision-run-info-once")
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if str(getattr(record, "event", "")) != "run_info":
            return True
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


def log_run_info_once(logger: logging.Logger | None = None) -> None:
    """Log each job-stats table once: a Snakemake dry run prints the same table before and after the job list
    (Snakemake 9 ``Workflow.execute``); the repeat is dropped, every other line passes. Idempotent."""
    logger = logger if logger is not None else logging.getLogger("snakemake.logging")
    if not any(isinstance(existing, _RunInfoOnce) for existing in logger.filters):
        logger.addFilter(_RunInfoOnce())


def constant_system_tmpdir(workflow: object) -> bool:
    """Replace Snakemake's default resource ``tmpdir=system_tmpdir`` (a Python expression that Snakemake
    evaluates with ``eval`` for every job: ~0.1 ms a job) by its value, ``tempfile.gettempdir()`` of this process.

    The value is the same (Snakemake evaluates ``system_tmpdir`` as ``tempfile.gettempdir()``, in this process,
    and a cluster job re-reads the Snakefile on its node); a ``tmpdir`` the user set (``--default-resources``, a
    profile, ``--set-resources``) is left alone. Call it before the first rule is defined; returns whether the
    default was replaced (False also when this Snakemake keeps its defaults elsewhere).
    """
    import tempfile

    try:
        from snakemake.resources import Resource

        defaults = workflow.resource_settings._parsed_default_resources  # type: ignore[attr-defined]
        tmpdir = defaults.get("tmpdir")
        if tmpdir is None or not tmpdir.is_evaluable() or tmpdir.raw != "system_tmpdir":
            return False
        defaults["tmpdir"] = Resource("tmpdir", tempfile.gettempdir())
    except (AttributeError, ImportError, KeyError, TypeError):
        return False
    return True


def tune_gc_for_large_dags(threshold: int = 100_000) -> None:
    """Make the garbage collector cheap for a process that builds a DAG of thousands of jobs (millions of objects).

    A full collection walks every live object; with the default threshold (700 allocations) building a 5,000-job
    DAG triggers hundreds of them (~1 s), and the collection at interpreter exit another ~1.3 s. Objects alive
    now (modules, configuration) are frozen (never scanned again), young collections run every ``threshold``
    allocations instead of 700, and at exit everything is frozen so that the final collection has nothing to walk
    (the process ends; its memory goes back to the system). Garbage cycles are still collected, only less often.
    """
    import atexit
    import gc

    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(threshold, middle, old)
    atexit.register(gc.freeze)
