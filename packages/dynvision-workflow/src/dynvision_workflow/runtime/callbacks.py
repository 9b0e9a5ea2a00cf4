"""Lightning callbacks of the training step (imported only when training runs: Lightning is slow to import)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, TextIO

import torch
from lightning.pytorch.callbacks import Callback

from .progress import format_duration
from .train import TrainingDiverged

__all__ = ["EpochProgress", "KeepEpochs", "StopOnNonFiniteLoss"]


class StopOnNonFiniteLoss(Callback):
    """Stop training with :class:`~dynvision_workflow.runtime.train.TrainingDiverged` at the first NaN or infinite
    training loss.

    The check runs before the backward pass, so a non-finite loss never reaches the weights, and no checkpoint is
    written after the failure: ``last_checkpoint`` stays the last good state (rerunning the step resumes from it).
    """

    def __init__(self, last_checkpoint: str | Path) -> None:
        self.last_checkpoint = Path(last_checkpoint)

    def on_before_backward(self, trainer: Any, pl_module: Any, loss: torch.Tensor) -> None:
        if bool(torch.isfinite(loss.detach()).all()):
            return
        kept = (
            f"the last good checkpoint is {self.last_checkpoint}"
            if self.last_checkpoint.is_file()
            else "no checkpoint had been written yet"
        )
        raise TrainingDiverged(
            f"the training loss became {float(loss.detach().float().mean())} at epoch {trainer.current_epoch}, "
            f"step {trainer.global_step}; training stopped and {kept}. Lower the learning rate (--lr), keep "
            "gradient clipping on (--gradient-clip), or check the input data for NaN values; then run the step "
            "again to resume."
        )


class KeepEpochs(Callback):
    """Save the checkpoint ``dirpath/epoch=N.ckpt`` at the end of each listed epoch ``N`` (0-based, as Lightning
    counts), for the ``epoch=N`` model statuses; every process calls it (Lightning writes on rank 0 only)."""

    def __init__(self, dirpath: str | Path, epochs: list[int]) -> None:
        self.dirpath = Path(dirpath)
        self.epochs = {int(epoch) for epoch in epochs}

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        from ..paths import CHECKPOINT_EPOCH, fill

        epoch = trainer.current_epoch
        if epoch in self.epochs and not trainer.sanity_checking:
            trainer.save_checkpoint(self.dirpath / fill(CHECKPOINT_EPOCH, epoch=epoch))


class EpochProgress(Callback):
    """One line per epoch, for logs (no terminal, so no progress bar): the epoch (1-based) of ``max_epochs``, the
    epoch's mean training loss, the last validation loss and accuracy, the time since training started (or
    resumed) and the estimated time left at this run's mean epoch time, e.g.
    ``epoch 3/20: train loss 1.234, val loss 1.301, val acc 0.5117; elapsed 0:01:02, ETA 0:05:51``.

    The line is written once the epoch's metrics are final (the model logs its training means after the callbacks'
    ``on_train_epoch_end``): at the next epoch's start or at the end of training. Only rank 0 writes.
    """

    #: (label, metric) pairs of the line, shown when logged.
    METRICS = (("train loss", "train/loss_epoch"), ("val loss", "val/loss"), ("val acc", "val/acc"))

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self._started = time.monotonic()
        self._first_epoch = 0
        self._ended: tuple[int, float] | None = None  # (epoch, time) of an epoch whose line is due

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self._started = time.monotonic()
        self._first_epoch = trainer.current_epoch  # a resumed run starts later
        self._ended = None

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.sanity_checking:
            self._ended = (trainer.current_epoch, time.monotonic())

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._write(trainer)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self._write(trainer)

    def _write(self, trainer: Any) -> None:
        if self._ended is None or not trainer.is_global_zero:
            return
        (epoch, ended), self._ended = self._ended, None
        elapsed = ended - self._started
        total = trainer.max_epochs if trainer.max_epochs is not None and trainer.max_epochs >= 0 else None
        metrics = trainer.callback_metrics
        values = ", ".join(f"{label} {float(metrics[key]):.4g}" for label, key in self.METRICS if key in metrics)
        eta = "?"
        if total is not None:
            per_epoch = elapsed / max(epoch + 1 - self._first_epoch, 1)
            eta = format_duration(per_epoch * max(total - epoch - 1, 0))
        print(
            f"epoch {epoch + 1}/{total if total is not None else '?'}: {values or 'no metrics yet'}; "
            f"elapsed {format_duration(elapsed)}, ETA {eta}",
            file=self.stream or sys.stderr,
            flush=True,
        )
