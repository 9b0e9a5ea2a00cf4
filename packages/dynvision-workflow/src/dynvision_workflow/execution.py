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
import sys
from collections.abc import Mapping, Sequence

__all__ = [
    "MODES",
    "RULE_RESOURCES",
    "SCHEDULER_VARIABLES",
    "SLURM_EXECUTORS",
    "cap_workers",
    "constant_system_tmpdir",
    "ddp_tasks",
    "detect_mode",
    "executor_name",
    "job_resources",
    "job_shell",
    "job_threads",
    "log_run_info_once",
    "resolve_mode",
    "runs_on_slurm",
    "srun_launcher",
    "submits_jobs",
    "tune_gc_for_large_dags",
]

#: The execution modes.
MODES = ("local", "cluster")
#: Environment variables set inside a batch job: SLURM, PBS/Torque, LSF, Grid Engine, HTCondor, Flux.
SCHEDULER_VARIABLES = ("SLURM_JOB_ID", "PBS_JOBID", "LSB_JOBID", "SGE_TASK_ID", "_CONDOR_JOB_AD", "FLUX_JOB_ID")


def detect_mode(environ: Mapping[str, str] | None = None, *, submits_jobs: bool = False) -> str:
    """``cluster`` inside a batch job (a scheduler variable is set) or in a workflow that submits its jobs to one
    (``submits_jobs``: a non-local Snakemake executor, so that the submitting side plans the settings its jobs
    run with), else ``local``."""
    environ = os.environ if environ is None else environ
    if submits_jobs:
        return "cluster"
    return "cluster" if any(environ.get(name) for name in SCHEDULER_VARIABLES) else "local"


#: Snakemake executors that run jobs in the calling process's machine (not a cluster's).
LOCAL_EXECUTORS = (None, "local", "dryrun", "touch")


def executor_name(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """The Snakemake executor of the process of ``argv`` (default: this process's command line), given on its command
    line or in a profile (``slurm``, ``cluster-generic``, ``slurm-jobstep``...); ``None`` for the local one or when
    none is named. Snakemake knows its executor only after reading the workflow, so its own argument parser reads
    the command line (only when an executor or profile may be named there: no cost otherwise)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    environ = os.environ if environ is None else environ
    named = environ.get("SNAKEMAKE_PROFILE") or any(
        word.split("=", 1)[0] in ("--executor", "-e", "--profile", "--workflow-profile")
        or (word.startswith("-e") and not word.startswith("--"))
        for word in argv
    )
    if not named:
        return None
    import contextlib
    import io

    try:
        from snakemake.cli import parse_args

        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            _, parsed = parse_args(argv)
    except (Exception, SystemExit):  # not Snakemake's command line (e.g. the Python API): jobs run here
        return None
    return getattr(parsed, "executor", None)


def submits_jobs(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether the Snakemake process of ``argv`` (default: this process's command line) submits its jobs to a
    cluster: a non-local executor (``--executor slurm``, ``cluster-generic``, ``slurm-jobstep``...) given on its
    command line or in a profile (:func:`executor_name`)."""
    return executor_name(argv, environ) not in LOCAL_EXECUTORS


#: Executors whose jobs run inside SLURM allocations (snakemake-executor-plugin-slurm and, inside each job, its
#: jobstep executor).
SLURM_EXECUTORS = ("slurm", "slurm-jobstep")


def runs_on_slurm(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None, *, remote_job: bool = False
) -> bool:
    """Whether this workflow's jobs run in SLURM allocations: its executor is SLURM's (the submitting side, and the
    jobstep executor inside each allocation), or it is a job's own Snakemake (``remote_job``) inside an allocation
    (``SLURM_JOB_ID`` set). A local run, also one with ``execution.mode: cluster``, is not."""
    environ = os.environ if environ is None else environ
    if remote_job and environ.get("SLURM_JOB_ID"):
        return True
    return executor_name(argv, environ) in SLURM_EXECUTORS


#: Lightning strategies whose processes a launcher (``srun``) may start: one process per device, found by rank.
_LAUNCHED_STRATEGIES = ("ddp", "ddp_find_unused_parameters_true", "ddp_find_unused_parameters_false")


def ddp_tasks(train: Mapping[str, object]) -> int:
    """Processes a training job runs (``train.devices``, on one node) when ``train.strategy`` is a ddp strategy
    that a launcher may start and ``devices`` is a count; else 1 (one process, which may spawn others)."""
    if str(train.get("strategy", "auto")) not in _LAUNCHED_STRATEGIES:
        return 1
    devices = str(train.get("devices", 1)).strip()
    return max(1, int(devices)) if devices.isdigit() else 1


def srun_launcher(tasks: int, cpus_per_task: int) -> str:
    """The command that starts ``tasks`` processes of a job step in the job's allocation (each gets its rank from
    SLURM_PROCID, SLURM_LOCALID, SLURM_NTASKS, which Lightning reads); empty for one task. Inside a job the
    SLURM executor's jobstep plugin removes the allocation's task settings from the environment: they are given
    explicitly; Lightning refuses ``--ntasks`` without ``--ntasks-per-node``. ``--kill-on-bad-exit``: a failed rank ends the others instead of leaving them waiting. Run through
    the jobs' ``dynvision_job`` shell function (:func:`job_shell`), which writes the attempt header to the log."""
    if tasks <= 1:
        return ""
    return f"dynvision_job srun --nodes=1 --ntasks-per-node={tasks} --cpus-per-task={max(1, cpus_per_task)} --kill-on-bad-exit=1 "


def resolve_mode(setting: str, environ: Mapping[str, str] | None = None, *, submits_jobs: bool = False) -> str:
    """The mode for a configured ``execution.mode``: ``local``/``cluster`` as given, ``auto`` detected."""
    if setting == "auto":
        return detect_mode(environ, submits_jobs=submits_jobs)
    if setting not in MODES:
        raise ValueError(f"execution.mode {setting!r} is not allowed; choose one of auto, {', '.join(MODES)}.")
    return setting


#: Each rule's resources unless the configuration (``execution.resources``) sets them: sized to schedule on a small
#: CPU node (at most 2 CPUs and 4 GB). ``default`` applies to every rule; ``mem_mb``/``disk_mb`` in MB, ``runtime``
#: in minutes, ``threads`` = CPUs of the job. A GPU is added for ``train_model`` only when training asks for one.
RULE_RESOURCES: dict[str, dict[str, int]] = {
    "default": {"threads": 1, "mem_mb": 2000, "disk_mb": 1000, "runtime": 10},
    "get_data": {"runtime": 30},
    "link_group": {"mem_mb": 1000, "disk_mb": 100, "runtime": 5},
    "build_betons": {"threads": 2, "mem_mb": 4000, "runtime": 60},
    "train_model": {"threads": 2, "mem_mb": 4000, "runtime": 240},
    "test_model": {"threads": 2, "mem_mb": 4000, "runtime": 60},
    "process_test": {"mem_mb": 4000, "runtime": 30},
    "test_experiment": {"threads": 2, "mem_mb": 4000, "runtime": 120},
    "plot_dynamics": {"mem_mb": 4000, "runtime": 20},
    "write_weights_table": {"mem_mb": 4000},
    "write_stability_table": {"threads": 2},
}


def _merged_resources(rule: str, configured: Mapping[str, Mapping[str, object]] | None) -> dict[str, object]:
    configured = configured or {}
    merged: dict[str, object] = {}
    for layer in (RULE_RESOURCES["default"], RULE_RESOURCES.get(rule, {}), configured.get("default") or {},
                  configured.get(rule) or {}):
        merged.update(layer)
    return merged


def job_threads(rule: str, configured: Mapping[str, Mapping[str, object]] | None = None) -> int:
    """CPUs (Snakemake threads) of a job of ``rule``: ``threads``, else ``cpus_per_task``, from the configuration
    (``execution.resources``: the rule's entry over ``default``) over :data:`RULE_RESOURCES`."""
    merged = _merged_resources(rule, configured)
    chosen = {**(configured or {}).get("default", {}), **(configured or {}).get(rule, {})}
    if "threads" not in chosen and chosen.get("cpus_per_task") is not None:
        return int(chosen["cpus_per_task"])  # type: ignore[call-overload]
    return int(merged["threads"])  # type: ignore[call-overload]


def job_resources(
    rule: str, configured: Mapping[str, Mapping[str, object]] | None = None, *, gpus: int = 0, tasks: int = 1
) -> dict[str, object]:
    """Scheduler resources of a job of ``rule`` (without ``threads``: :func:`job_threads`): the configuration
    (``execution.resources.<rule>`` over ``execution.resources.default``) merged key by key over
    :data:`RULE_RESOURCES`; ``gpus`` (what training asks for) unless ``gpu`` is configured; keys whose value is
    ``None`` (or a ``gpu`` of 0) are left out, so that nothing is requested for them.

    ``tasks`` > 1 (a data-parallel training submitted to SLURM: :func:`ddp_tasks`) asks for that many tasks with
    snakemake-executor-plugin-slurm's ``tasks`` and ``mpi`` (``mpi`` makes the job's shell command start its
    processes itself, with :func:`srun_launcher`), and ``cpus_per_task`` unless configured: the job's CPUs
    (``threads``) shared among the tasks, at least 1 each; a GPU job asks for one task per GPU."""
    merged = _merged_resources(rule, configured)
    if tasks > 1:
        merged.setdefault("tasks", tasks)
        merged.setdefault("mpi", "srun")
        if merged.get("cpus_per_task") is None:
            merged["cpus_per_task"] = max(1, job_threads(rule, configured) // tasks)
    merged.pop("threads", None)
    if gpus and "gpu" not in merged:
        merged["gpu"] = gpus
    if not merged.get("gpu"):
        merged.pop("gpu", None)
    elif tasks > 1:
        merged.setdefault("tasks_per_gpu", 1)
    return {key: value for key, value in merged.items() if value is not None}


def cap_workers(workers: int, cpus: int) -> int:
    """Loader worker processes for a job given ``cpus`` CPUs: never more than the job has (an execution-mode
    overlay's 4 workers on a 2-CPU allocation made numba refuse its thread count)."""
    return max(0, min(int(workers), int(cpus)))


# Every job's shell command starts with these definitions: each call of the `dynvision` and `dynvision-analysis`
# commands first writes a header line (time, host, scheduler job) to the job's log. Snakemake deletes a job's log
# before each attempt, so a failed attempt copies its log (the file the command's output goes to, found through
# /proc) to `<log>.failed-<n>` first: a retry keeps the log of every attempt.
_ATTEMPT_HEADER = (
    'dynvision_job() { printf "\\n=== %s: attempt started %s on %s%s ===\\n" "$1" "$(date "+%F %T")" '
    '"${HOSTNAME:-?}" "${SLURM_JOB_ID:+ (SLURM job $SLURM_JOB_ID)}"; local status=0; command "$@" || status=$?; '
    'if [ "$status" -ne 0 ]; then local log n=1; log=$(readlink "/proc/$$/fd/1" 2>/dev/null) || log=""; '
    'if [ -f "$log" ]; then while [ -e "$log.failed-$n" ]; do n=$((n + 1)); done; cp "$log" "$log.failed-$n"; fi; '
    'fi; return "$status"; }; '
    'dynvision() { dynvision_job dynvision "$@"; }; '
    'dynvision-analysis() { dynvision_job dynvision-analysis "$@"; }; '
)
# Ends the quoted here-document that carries a job's command into a wrapper (see job_shell).
_COMMAND_END = "__DYNVISION_JOB_COMMAND__"


def job_shell(executor_start: str = "", executor_close: str = "") -> tuple[str, str]:
    """The prefix and suffix Snakemake puts around every job's shell command (``shell.prefix``/``shell.suffix``).

    ``executor_start``/``executor_close`` (``execution.*``) wrap the command. The container pattern, a start that
    ends in a single quote and a close that begins with one (``apptainer exec ... bash -c '`` and ``'``), passes
    the command as one argument without re-quoting it: the command is read verbatim from a quoted here-document
    into a variable, and the wrapper runs ``bash -c "$variable"``; single quotes in the command (shell-quoted
    options of the train and test rules) and its log redirection therefore run unchanged inside the wrapper. Any
    other start and close are put before and after the command as they are. Both are returned as the shell
    reads them: escape braces before handing them to Snakemake, which formats them.
    """
    prelude = "set -euo pipefail; "
    start, close = executor_start.rstrip(), executor_close.strip()
    if start.endswith("'") and close.startswith("'"):
        opening = f"IFS= read -r -d '' DYNVISION_JOB_COMMAND <<'{_COMMAND_END}' || true\n"
        return (
            prelude + opening + prelude + _ATTEMPT_HEADER,
            f"\n{_COMMAND_END}\n{start[:-1]}\"$DYNVISION_JOB_COMMAND\"{close[1:]}",
        )
    return prelude + _ATTEMPT_HEADER + executor_start, executor_close


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
