"""Progress lines for logs (no terminal, no progress bar): elapsed time and the estimated time left.

Plain Python (no torch, no Lightning): the test step and the training callback
(:class:`~dynvision_workflow.runtime.callbacks.EpochProgress`) both use it.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from typing import TextIO

__all__ = ["CountProgress", "format_duration"]


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
