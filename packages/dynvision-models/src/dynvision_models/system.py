"""LightningModule that trains any temporal model (``(B, T, C, H, W) -> (B, T, classes)``) as a classifier.

Batch contract (what a DataModule must yield; stimulus paradigms are applied before the batch arrives here):

- ``(frames, labels)`` or ``(frames, labels, stimulus_mask)``;
- ``frames``: ``(B, T, C, H, W)``, or a static image ``(B, C, H, W)`` that the model shows for its
  ``n_timesteps`` steps;
- ``labels``: ``(B, T)`` class index per step with ``-1`` (``ignore_index``) for unscored steps, or ``(B,)`` (the
  same label at every step of the model output);
- ``stimulus_mask`` (optional): ``(B, T)`` or ``(T,)`` (the same for every sample) bool, ``True`` where a step is
  scored; ``False`` steps are ignored as if their label were ``-1``.

Logged metrics (epoch means weighted by batch size): ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc``,
``val/acc_last`` (accuracy at each sample's last valid step), and the same for ``test/``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .losses import IGNORE_INDEX, last_valid_step_accuracy, temporal_accuracy, temporal_cross_entropy
from .registry import create_model

__all__ = ["OPTIMIZERS", "SCHEDULERS", "TemporalClassifier", "WarmupCosine", "unpack_batch"]

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULERS = ("cosine", None)


def unpack_batch(batch: Any) -> tuple[Tensor, Tensor, Tensor | None]:
    """Split a batch into ``(frames, labels, stimulus_mask or None)``, checking the tuple structure."""
    if isinstance(batch, Sequence) and not isinstance(batch, str | bytes) and len(batch) in (2, 3):
        frames, labels = batch[0], batch[1]
        mask = batch[2] if len(batch) == 3 else None
        if isinstance(frames, Tensor) and isinstance(labels, Tensor) and (mask is None or isinstance(mask, Tensor)):
            return frames, labels, mask
    description = (
        f"a {type(batch).__name__} of {len(batch)} items" if isinstance(batch, Sequence) else type(batch).__name__
    )
    raise TypeError(
        f"Expected a batch (frames, labels) or (frames, labels, stimulus_mask) of tensors, got {description}."
    )


def _labels_per_step(
    labels: Tensor, mask: Tensor | None, batch: int, n_steps: int, ignore_index: int
) -> Tensor:
    """Labels ``(B, T)`` aligned with the model output; ``(B,)`` labels are repeated over ``T``."""
    if labels.dim() == 1 and labels.shape[0] == batch:
        labels = labels.unsqueeze(1).expand(batch, n_steps)
    elif labels.shape != (batch, n_steps):
        raise ValueError(
            f"labels must be (batch,) or (batch, time)=({batch}, {n_steps}) to match the model output; got "
            f"{tuple(labels.shape)}."
        )
    labels = labels.long()
    if mask is not None:
        if mask.shape == (n_steps,):
            mask = mask.unsqueeze(0).expand(batch, n_steps)
        if mask.shape != (batch, n_steps):
            raise ValueError(
                f"stimulus_mask must be (batch, time)=({batch}, {n_steps}) or (time,)=({n_steps},); "
                f"got {tuple(mask.shape)}."
            )
        labels = labels.masked_fill(~mask.bool(), ignore_index)
    return labels


class WarmupCosine:
    """LR factor per epoch: linear warm-up over ``warmup`` epochs, then a half cosine from 1 towards 0.

    A callable object (not a lambda) so that ``LambdaLR`` can save it in checkpoints.
    """

    def __init__(self, warmup: int, total: int) -> None:
        self.warmup, self.total = warmup, total

    def __call__(self, epoch: int) -> float:
        if epoch < self.warmup:
            return (epoch + 1) / (self.warmup + 1)
        progress = (epoch - self.warmup) / max(1, self.total - self.warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


class TemporalClassifier(L.LightningModule):
    """Train a temporal model with cross-entropy over every valid time step.

    Args:
        model: a plain ``nn.Module`` mapping frames to logits ``(B, T, n_classes)``.
        lr: learning rate.
        weight_decay: weight decay (decoupled for ``adamw``, L2 for ``adam``/``sgd``).
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"``.
        momentum: SGD momentum (ignored by Adam/AdamW).
        scheduler: ``"cosine"`` (per epoch over ``Trainer(max_epochs=...)``) or ``None``.
        warmup_epochs: epochs of linear LR warm-up before the cosine decay.
        ignore_index: label value of unscored time steps.

    If the model was built by :func:`~dynvision_models.create_model`, its ``model_name`` and ``model_kwargs`` are
    stored with the hyperparameters, so :meth:`from_checkpoint` can rebuild it.

    Truncated BPTT with flat memory: when the model has ``tbptt_steps = k > 0`` (and a ``windows`` method, as
    every :class:`~dynvision_models.engine.TemporalModel`), a training step runs the input window by window
    (:meth:`~dynvision_models.engine.TemporalModel.windows`) and backpropagates each window's share of the loss
    (summed cross-entropy of its valid steps / valid steps of the whole batch) before running the next one, so
    only one window's activations are alive at a time: peak memory no longer grows with ``T``. The loss and
    gradients equal those of the full forward with states detached every ``k`` steps. Optimisation stays
    automatic, so ``Trainer(gradient_clip_val=..., accumulate_grad_batches=..., precision=...)`` and the
    schedulers keep working: the step backpropagates all windows but the last itself (through the
    strategy, so loss scaling applies), sets their gradients aside, returns the last window's loss for
    Lightning to backpropagate, and adds the set-aside gradients back in :meth:`on_after_backward`, before
    clipping and the optimizer step. Validation and test run the plain forward (no graph is kept).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        optimizer: str = "adamw",
        momentum: float = 0.9,
        scheduler: str | None = "cosine",
        warmup_epochs: int = 0,
        ignore_index: int = IGNORE_INDEX,
    ) -> None:
        super().__init__()
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"Unknown optimizer {optimizer!r}. Allowed: {', '.join(map(repr, OPTIMIZERS))}.")
        if scheduler == "none":
            scheduler = None
        if scheduler not in SCHEDULERS:
            raise ValueError(f"Unknown scheduler {scheduler!r}. Allowed: 'cosine' or None.")
        if lr <= 0 or weight_decay < 0 or warmup_epochs < 0:
            raise ValueError(
                f"Need lr > 0, weight_decay >= 0 and warmup_epochs >= 0; got lr={lr}, "
                f"weight_decay={weight_decay}, warmup_epochs={warmup_epochs}."
            )
        self.model = model
        self._grad_stash: list[tuple[nn.Parameter, Tensor]] | None = None
        self.save_hyperparameters(ignore=["model"])
        if isinstance(getattr(model, "model_name", None), str):
            self.hparams["model_name"] = model.model_name
            self.hparams["model_kwargs"] = dict(getattr(model, "model_kwargs", {}))

    @classmethod
    def from_checkpoint(cls, path: str | Path, map_location: str | torch.device = "cpu") -> TemporalClassifier:
        """Rebuild the model by name from a checkpoint's hyperparameters and load the trained weights."""
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
        hparams = checkpoint.get("hyper_parameters", {})
        if "model_name" not in hparams:
            raise ValueError(
                f"Checkpoint {str(path)!r} has no model_name in its hyperparameters: the model was not built with "
                "create_model(). Build the model yourself and use TemporalClassifier.load_from_checkpoint(path, "
                "model=model)."
            )
        model = create_model(hparams["model_name"], **hparams.get("model_kwargs", {}))
        return cls.load_from_checkpoint(path, map_location=map_location, model=model)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, T, n_classes)``."""
        return self.model(x)

    def _shared_step(self, batch: Any, stage: str) -> Tensor:
        frames, labels, mask = unpack_batch(batch)
        logits = self.model(frames)
        n_batch, n_steps = logits.shape[:2]
        labels = _labels_per_step(labels, mask, n_batch, n_steps, self.hparams.ignore_index)
        loss = temporal_cross_entropy(logits, labels, self.hparams.ignore_index)
        on_step = stage == "train"
        with torch.no_grad():
            acc = temporal_accuracy(logits, labels, self.hparams.ignore_index)
            metrics = {f"{stage}/loss": loss.detach(), f"{stage}/acc": acc}
            if stage != "train":
                metrics[f"{stage}/acc_last"] = last_valid_step_accuracy(logits, labels, self.hparams.ignore_index)
        self.log_dict(metrics, on_step=on_step, on_epoch=True, prog_bar=stage != "test", batch_size=n_batch)
        return loss

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        if int(getattr(self.model, "tbptt_steps", 0) or 0) > 0 and hasattr(self.model, "windows"):
            return self._windowed_training_step(batch)
        return self._shared_step(batch, "train")

    def _windowed_training_step(self, batch: Any) -> Tensor:
        """Backpropagate window by window (truncated BPTT, flat memory in ``T``); see the class docstring."""
        frames, labels, mask = unpack_batch(batch)
        model, ignore_index = self.model, self.hparams.ignore_index
        n_batch = frames.shape[0]
        n_steps = frames.shape[1] if frames.dim() == 5 else int(model.n_timesteps)
        labels = _labels_per_step(labels, mask, n_batch, n_steps, ignore_index)
        n_valid = (labels != ignore_index).sum().clamp(min=1)
        n_windows = math.ceil(n_steps / model.tbptt_steps)
        total = torch.zeros((), device=labels.device)
        seen: list[Tensor] = []
        start = 0
        loss = total
        for index, logits in enumerate(model.windows(frames)):
            window_labels = labels[:, start : start + logits.shape[1]]
            start += logits.shape[1]
            loss = (
                F.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]),
                    window_labels.reshape(-1),
                    ignore_index=ignore_index,
                    reduction="sum",
                )
                / n_valid
            )
            total = total + loss.detach()
            seen.append(logits.detach())
            if index < n_windows - 1:
                # Free this window's graph now; the next window starts from detached states.
                if self._trainer is not None:
                    self.trainer.strategy.backward(loss, None)
                else:
                    loss.backward()
        # Set the earlier windows' gradients aside: Lightning zeroes the gradients after training_step returns
        # and before it backpropagates the returned (last window's) loss; on_after_backward adds them back.
        stash = [(p, p.grad) for p in self.model.parameters() if p.grad is not None]
        for p, _ in stash:
            p.grad = None
        self._grad_stash = stash
        with torch.no_grad():
            logits = torch.cat(seen, dim=1)
            acc = temporal_accuracy(logits, labels, ignore_index)
        self.log_dict(
            {"train/loss": total, "train/acc": acc}, on_step=True, on_epoch=True, prog_bar=True, batch_size=n_batch
        )
        return loss

    def on_after_backward(self) -> None:
        """Add back the gradients of the earlier truncated-BPTT windows (after the last window's backward)."""
        stash, self._grad_stash = self._grad_stash, None
        for p, grad in stash or ():
            p.grad = grad if p.grad is None else p.grad.add_(grad)

    def validation_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._shared_step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._shared_step(batch, "test")

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        frames = batch[0] if isinstance(batch, Sequence) else batch
        return self.model(frames)

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        params = [p for p in self.model.parameters() if p.requires_grad]
        if hp.optimizer == "adamw":
            optimizer = torch.optim.AdamW(params, lr=hp.lr, weight_decay=hp.weight_decay)
        elif hp.optimizer == "adam":
            optimizer = torch.optim.Adam(params, lr=hp.lr, weight_decay=hp.weight_decay)
        else:
            optimizer = torch.optim.SGD(params, lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay)
        if hp.scheduler is None:
            return optimizer
        max_epochs = self._trainer.max_epochs if self._trainer is not None else None
        if max_epochs is None or max_epochs < 1:
            raise ValueError(
                f"scheduler='cosine' decays over Trainer(max_epochs=...), but max_epochs is {max_epochs!r}. "
                "Set max_epochs, or use scheduler=None."
            )
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(hp.warmup_epochs, max_epochs))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "epoch"}}
