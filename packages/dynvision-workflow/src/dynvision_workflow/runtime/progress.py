"""What the runtime steps' logs show: progress lines (no terminal, no progress bar: elapsed time and the estimated
time left), and nothing of the libraries' messages that a user cannot act on (:func:`quiet_library_noise`).

Plain Python (no torch, no Lightning): the test step and the training callback
(:class:`~dynvision_workflow.runtime.callbacks.EpochProgress`) both use it.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import warnings
from datetime import timedelta
from typing import TextIO

__all__ = ["UNACTIONABLE_MESSAGES", "CountProgress", "format_duration", "quiet_library_noise"]

#: Messages of Lightning and torch in a step's log that a user cannot act on: hints about things the workflow sets
#: itself (loader workers, logging interval, SLURM launch, accelerator), tips, notes about folders it manages on
#: resume, and deprecations inside the libraries. Regular expressions matched at the start of a warning's or log
#: record's message; silenced by :func:`quiet_library_noise`, the one place that filters them. Warnings a user can
#: act on (ours, a precision fallback, a diverging loss...) are kept.
UNACTIONABLE_MESSAGES: tuple[str, ...] = (
    r"The `srun` command is available on your system but is not used",
    r"The '\w+' does not have many workers",
    r"The number of training batches \(\d+\) is smaller than the logging interval",
    r"GPU available",
    r"TPU available",
    r"HPU available",
    r"LOCAL_RANK: \d+ - CUDA_VISIBLE_DEVICES",
    r"💡 Tip:",
    r"Checkpoint directory .* exists and is not empty",
    r"Experiment logs directory .* exists and is not empty",
    r"The dirpath has changed from",
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    r"Detected pickle protocol \d+ in the checkpoint",
)

#: The loggers through which Lightning reports the messages above (its rank-zero helpers and device setup).
_LIGHTNING_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "lightning.pytorch.accelerators.cuda",
)


class _DropUnactionable(logging.Filter):
    """Drops log records whose message starts with one of :data:`UNACTIONABLE_MESSAGES`."""

    pattern = re.compile("|".join(f"(?:{message})" for message in UNACTIONABLE_MESSAGES))

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.match(record.getMessage())


def quiet_library_noise() -> None:
    """Silence :data:`UNACTIONABLE_MESSAGES` in this process: as warnings (any category) and as Lightning's log
    records. Idempotent; each runtime step that loads torch files or trains calls it first."""
    for message in UNACTIONABLE_MESSAGES:
        warnings.filterwarnings("ignore", message=message)
    for name in _LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(item, _DropUnactionable) for item in logger.filters):
            logger.addFilter(_DropUnactionable())


def format_duration(seconds: float) -> str:
    """``seconds`` as ``H:MM:SS`` (``D days, H:MM:SS`` beyond a day), rounded to the second."""
    return str(timedelta(seconds=round(max(seconds, 0.0))))


class CountProgress:
    """Report ``done/total`` items (e.g. images) in one line each time another ``every`` fraction of ``total`` is
    done (``every=0.1``: at 10%, 20%, ... 100%), with the elapsed time since the object was made and the estimated
    time left (at the mean rate so far), e.g. ``test: 480/960 images (50%); elapsed 0:00:12, ETA 0:00:12``."""

    def __init__(
        self, total: int, *, label: str, unit: str = "images", every: float = 0.1, stream: TextIO | None = None
    ) -> None:
        self.total = int(total)
        self.label = label
        self.unit = unit
        self.every = every
        self.stream = stream
        self.started = time.monotonic()
        self._next = 1

    def update(self, done: int) -> None:
        """Note that ``done`` items (a running count) are done; write a line when a reporting point is passed."""
        if self.total <= 0:
            return
        fraction = min(done / self.total, 1.0)
        if fraction + 1e-9 < self._next * self.every:
            return
        while self._next * self.every <= fraction + 1e-9:
            self._next += 1
        elapsed = time.monotonic() - self.started
        eta = elapsed / fraction * (1.0 - fraction) if fraction > 0 else 0.0
        print(
            f"{self.label}: {done}/{self.total} {self.unit} ({fraction:.0%}); elapsed {format_duration(elapsed)}, "
            f"ETA {format_duration(eta)}",
            file=self.stream or sys.stderr,
            flush=True,
        )
