"""Lightning callbacks of the training step (imported only when training runs: Lightning is slow to import)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback

from .train import TrainingDiverged

__all__ = ["KeepEpochs", "StopOnNonFiniteLoss"]


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
