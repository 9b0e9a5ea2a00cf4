"""Where the workflow runs: a laptop (``local``) or a batch scheduler's compute nodes (``cluster``).

The mode is set in the configuration (``execution.mode``) or, with ``auto``, detected from the environment
variables that batch schedulers set inside a job (:data:`SCHEDULER_VARIABLES`), never from host names. Each mode
has a configuration overlay (``execution.modes.<mode>``: e.g. more loader workers and larger test batches on
cluster nodes) merged above the packaged defaults and below every user config file and ``--config`` value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["MODES", "SCHEDULER_VARIABLES", "detect_mode", "resolve_mode"]

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
