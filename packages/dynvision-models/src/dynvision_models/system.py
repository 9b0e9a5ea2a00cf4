"""LightningModule that trains any temporal model (``(B, T, C, H, W) -> (B, T, classes)``) as a classifier.

Batch contract (what a DataModule must yield; stimulus paradigms are applied before the batch arrives here):

- ``(frames, labels)`` or ``(frames, labels, stimulus_mask)``;
- ``frames``: ``(B, T, C, H, W)``, a timeline (image, blank and mask; :mod:`.engine.timeline`), or a static
  image ``(B, C, H, W)`` that the model shows for its
  ``n_timesteps`` steps;
- ``labels``: ``(B, T)`` class index per step with ``-1`` (``ignore_index``) for unscored steps, or ``(B,)`` (the
  same label at every step of the model output);
- ``stimulus_mask`` (optional): ``(B, T)`` or ``(T,)`` (the same for every sample) bool, ``True`` where a step is
  scored; ``False`` steps are ignored as if their label were ``-1``.

Objective (per batch; ``lambda_a = activity_weight``, ``lambda_r = rest_weight``)::

    loss = CE + lambda_a * A + lambda_r * R

- ``CE``: cross-entropy averaged over every valid (sample, step) (:func:`~dynvision_models.temporal_cross_entropy`);
- ``A``: activity penalty of every area's rates at every stimulus step, ``"metabolic"`` (mean ``|r|``) or
  ``"balance"`` (``|mean r|``) (:func:`~dynvision_models.losses.activity_penalty`);
- ``R``: return-to-rest penalty, the mean squared rate at the steps after each sample's last scored step
  (:func:`~dynvision_models.losses.rest_penalty`).

``A`` and ``R`` are computed from the rates the model records while it runs
(the engine's recording behind :meth:`~dynvision_models.engine.TemporalModel.forward_intermediates`, reduced step
by step without stacking) whenever their weight is > 0: no marker or hook has to be set on any module. With both weights 0 the plain forward runs (nothing is recorded).

Logged metrics: ``train/loss_step``, ``train/acc_step`` (every ``log_every_n_steps``) and ``train/loss_epoch``,
``train/acc_epoch`` (epoch means: loss weighted by batch size, accuracy = correct / valid entries); ``val/loss``,
``val/acc``, ``val/acc_last`` (accuracy at each sample's last valid step; epoch means weighted by batch size), the
same for ``test/``; the terms ``ce``, ``activity``, ``rest`` (e.g. ``train/ce_epoch``, ``val/activity``) when a
penalty weight is > 0; and per-step accuracy
``val/acc_t{t:02d}`` (and ``test/acc_t{t:02d}``): correct / valid over the whole epoch at step ``t``, counted in
the module and summed over processes (DDP) before dividing, logged at epoch end for every step with a valid
label.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .engine.timeline import FrameTimeline, as_timeline
from .losses import (
    ACTIVITY_MODES,
    IGNORE_INDEX,
    activity_penalty,
    last_valid_step_accuracy,
    post_stimulus_steps,
    rest_penalty,
    step_accuracy_counts,
    temporal_accuracy,
    temporal_cross_entropy,
)
from .registry import create_model

__all__ = [
    "OPTIMIZERS",
    "SCHEDULERS",
    "TemporalClassifier",
    "WarmupCosine",
    "group_parameters",
    "unpack_batch",
]

log = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULERS = ("cosine", None)


def unpack_batch(batch: Any) -> tuple[Tensor, Tensor, Tensor | None]:
    """Split a batch into ``(frames, labels, stimulus_mask or None)``, checking the tuple structure."""
    if isinstance(batch, Sequence) and not isinstance(batch, str | bytes) and len(batch) in (2, 3):
        frames, labels = batch[0], batch[1]
        mask = batch[2] if len(batch) == 3 else None
        timeline = as_timeline(frames)  # the engine's FrameTimeline: shape, dim() and frames by step
        movie = frames if timeline is None else timeline
        if isinstance(movie, Tensor | FrameTimeline) and isinstance(labels, Tensor) and (
            mask is None or isinstance(mask, Tensor)
        ):
            return movie, labels, mask  # type: ignore[return-value]
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


def group_parameters(
    named_parameters: Sequence[tuple[str, nn.Parameter]] | Iterator[tuple[str, nn.Parameter]],
    lr_factors: Mapping[str, float] | None,
) -> list[tuple[str, float, list[tuple[str, nn.Parameter]]]]:
    """Split parameters into learning-rate groups by name: ``[(group, lr_factor, [(name, parameter), ...])]``.

    A parameter belongs to group ``key`` of ``lr_factors`` when ``key`` is a substring of its name (e.g.
    ``"recurrence"`` matches ``areas.V1.recurrence.conv.weight``), otherwise to ``"default"`` (factor 1). Its
    learning rate is ``lr * lr_factor``. Only parameters with ``requires_grad`` are grouped. Empty groups are left
    out.

    Raises:
        ValueError: a factor that is not > 0, a key named ``"default"``, a key that matches no parameter (a typo
            would silently train at the full rate), or a parameter matched by several keys (each parameter must
            be in exactly one group).
    """
    factors = dict(lr_factors or {})
    for key, factor in factors.items():
        if key == "default":
            raise ValueError("lr_factors key 'default' is reserved for the parameters no key matches.")
        if not isinstance(factor, int | float) or isinstance(factor, bool) or not factor > 0:
            raise ValueError(f"lr_factors[{key!r}] must be a number > 0, got {factor!r}.")
    groups: dict[str, list[tuple[str, nn.Parameter]]] = {key: [] for key in (*factors, "default")}
    names: list[str] = []
    for name, parameter in named_parameters:
        if not parameter.requires_grad:
            continue
        names.append(name)
        matches = [key for key in factors if key in name]
        if len(matches) > 1:
            raise ValueError(
                f"Parameter {name!r} matches several lr_factors keys {matches}; each parameter must be in exactly "
                "one group. Use more specific keys."
            )
        groups[matches[0] if matches else "default"].append((name, parameter))
    unused = [key for key in factors if not groups[key]]
    if unused:
        shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        raise ValueError(
            f"lr_factors key(s) {unused} match no trainable parameter name. Keys are substrings of names such as: "
            f"{shown}."
        )
    return [(key, float(factors.get(key, 1.0)), members) for key, members in groups.items() if members]


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
    """Train a temporal model with cross-entropy over every valid time step, plus optional penalties.

    Args:
        model: a plain ``nn.Module`` mapping frames to logits ``(B, T, n_classes)``; the penalties need a
            :class:`~dynvision_models.engine.TemporalModel` (they read its recorded rates).
        lr: learning rate.
        weight_decay: weight decay (decoupled for ``adamw``, L2 for ``adam``/``sgd``).
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"``.
        momentum: SGD momentum (ignored by Adam/AdamW).
        scheduler: ``"cosine"`` (per epoch over ``Trainer(max_epochs=...)``) or ``None``.
        warmup_epochs: epochs of linear LR warm-up before the cosine decay.
        ignore_index: label value of unscored time steps.
        activity_weight: weight ``lambda_a >= 0`` of the activity penalty ``A`` (0 = off).
        activity_mode: ``"metabolic"`` (mean ``|r|``) or ``"balance"`` (``|mean r|``); see
            :func:`~dynvision_models.losses.activity_penalty`.
        rest_weight: weight ``lambda_r >= 0`` of the return-to-rest penalty ``R`` (0 = off); see
            :func:`~dynvision_models.losses.rest_penalty`.
        lr_factors: learning-rate factor per parameter-name substring, e.g. ``{"recurrence": 0.2,
            "feedback": 0.5}``; unmatched parameters train at ``lr`` (see :func:`group_parameters`).

    If the model was built by :func:`~dynvision_models.create_model`, its ``model_name`` and ``model_kwargs`` are
    stored with the hyperparameters, so :meth:`from_checkpoint` can rebuild it.

    Truncated BPTT with flat memory: when the model has ``tbptt_steps = k > 0`` (and a ``windows`` method, as
    every :class:`~dynvision_models.engine.TemporalModel`), a training step runs the input window by window
    (:meth:`~dynvision_models.engine.TemporalModel.windows`) and backpropagates each window's share of the loss
    before running the next one, so only one window's activations are alive at a time: peak memory no longer
    grows with ``T``. Every term is a sum over (sample, step) entries divided by a count of the whole batch
    (valid steps for ``CE``, ``B T`` for ``A``, post-stimulus steps for ``R``), so the windows' shares add up to
    the loss of the full forward with states detached every ``k`` steps, and so do the gradients. Optimisation
    stays automatic, so ``Trainer(gradient_clip_val=..., accumulate_grad_batches=..., precision=...)`` and the
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
        activity_weight: float = 0.0,
        activity_mode: str = "metabolic",
        rest_weight: float = 0.0,
        lr_factors: Mapping[str, float] | None = None,
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
        if activity_mode not in ACTIVITY_MODES:
            raise ValueError(
                f"Unknown activity_mode {activity_mode!r}. Allowed: {', '.join(map(repr, ACTIVITY_MODES))}."
            )
        for name, weight in (("activity_weight", activity_weight), ("rest_weight", rest_weight)):
            if not math.isfinite(weight) or weight < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {weight!r}.")
        if (activity_weight > 0 or rest_weight > 0) and not hasattr(model, "_windows"):
            raise ValueError(
                f"activity_weight={activity_weight} and rest_weight={rest_weight}: the penalties read the model's "
                f"recorded rates, but {type(model).__name__} is not a TemporalModel (use one, "
                "or set both weights to 0)."
            )
        lr_factors = None if lr_factors is None else {str(k): float(v) for k, v in dict(lr_factors).items()}
        group_parameters(model.named_parameters(), lr_factors)  # validate the keys now, not at fit time
        self.model = model
        self._grad_stash: list[tuple[nn.Parameter, Tensor]] | None = None
        self._step_counts: dict[str, tuple[Tensor, Tensor]] = {}
        self._train_sums: Tensor | None = None
        self.save_hyperparameters(ignore=["model"])
        self.hparams["lr_factors"] = lr_factors
        if isinstance(getattr(model, "model_name", None), str):
            self.hparams["model_name"] = model.model_name
            self.hparams["model_kwargs"] = dict(getattr(model, "model_kwargs", {}))

    @classmethod
    def from_checkpoint(cls, path: str | Path, map_location: str | torch.device = "cpu") -> TemporalClassifier:
        """Rebuild the model by name from a checkpoint's hyperparameters and load the trained weights."""
        from .zoo._contract import load_weights_file

        checkpoint = load_weights_file(path, map_location=map_location)
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

    # ------------------------------------------------------------------ loss
    @property
    def records_responses(self) -> bool:
        """Whether a step records the areas' rates (a penalty weight is > 0)."""
        return self.hparams.activity_weight > 0 or self.hparams.rest_weight > 0

    def _run(self, frames: Tensor, windowed: bool) -> Iterator[tuple[Tensor, list[list[Tensor]] | None]]:
        """Yield ``(logits, rates of every area or None)`` per window (one window unless ``windowed``)."""
        model = self.model
        if not self.records_responses:
            if windowed:
                for logits in model.windows(frames):  # type: ignore[operator]
                    yield logits, None
            else:
                yield model(frames), None
        else:
            # The engine's window iterator with recording, which forward_intermediates runs on. The penalties
            # reduce each area's per-step rates as recorded: stacking them first (forward_intermediates) copies
            # every rate and made a training step of a small DyRCNNx2 1.26x slower instead of 1.07x.
            indices = tuple(range(len(model.area_names)))  # type: ignore[arg-type]
            steps = None if windowed else 0  # None: tbptt_steps windows; 0: one window of all steps
            for logits, recorded in model._windows(frames, steps, indices):  # type: ignore[operator]
                yield logits, [recorded[i] for i in indices]

    def _penalties(
        self, responses: list[list[Tensor]] | None, post: Tensor | None, n_steps: int, n_post: Tensor | None
    ) -> dict[str, Tensor]:
        """The weighted-loss terms ``activity`` and ``rest`` of one window (unweighted), as configured."""
        hp, terms = self.hparams, {}
        if responses is None:
            return terms
        if hp.activity_weight > 0:
            terms["activity"] = activity_penalty(responses, hp.activity_mode, n_steps=n_steps)
        if hp.rest_weight > 0 and post is not None:
            terms["rest"] = rest_penalty(responses, post, n_post)
        return terms

    def _total(self, ce: Tensor, terms: dict[str, Tensor]) -> Tensor:
        hp = self.hparams
        loss = ce
        if "activity" in terms:
            loss = loss + hp.activity_weight * terms["activity"]
        if "rest" in terms:
            loss = loss + hp.rest_weight * terms["rest"]
        return loss

    def _shared_step(self, batch: Any, stage: str) -> Tensor:
        frames, labels, mask = unpack_batch(batch)
        ignore_index = self.hparams.ignore_index
        (logits, responses), = self._run(frames, windowed=False)
        n_batch, n_steps = logits.shape[:2]
        labels = _labels_per_step(labels, mask, n_batch, n_steps, ignore_index)
        ce = temporal_cross_entropy(logits, labels, ignore_index)
        post = post_stimulus_steps(labels, ignore_index) if self.hparams.rest_weight > 0 else None
        terms = self._penalties(responses, post, n_steps, None)
        loss = self._total(ce, terms)
        values = {"loss": loss.detach(), "ce": ce.detach(), **{k: v.detach() for k, v in terms.items()}}
        if stage == "train":
            self._record_train(values, logits, labels)
            return loss
        with torch.no_grad():
            acc = temporal_accuracy(logits, labels, ignore_index)
            metrics = {f"{stage}/loss": loss.detach(), f"{stage}/acc": acc}
            if terms:
                metrics[f"{stage}/ce"] = ce.detach()
                metrics.update({f"{stage}/{name}": value.detach() for name, value in terms.items()})
            metrics[f"{stage}/acc_last"] = last_valid_step_accuracy(logits, labels, ignore_index)
            self._count_steps(stage, logits, labels)
        self.log_dict(metrics, on_epoch=True, prog_bar=stage != "test", batch_size=n_batch, sync_dist=True)
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
        post = post_stimulus_steps(labels, ignore_index) if self.hparams.rest_weight > 0 else None
        n_post = None if post is None else post.sum()
        n_windows = math.ceil(n_steps / model.tbptt_steps)
        sums: dict[str, Tensor] = {}
        seen: list[Tensor] = []
        start = 0
        loss = torch.zeros((), device=labels.device)
        for index, (logits, responses) in enumerate(self._run(frames, windowed=True)):
            stop = start + logits.shape[1]
            window_labels = labels[:, start:stop]
            ce = (
                F.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]),
                    window_labels.reshape(-1),
                    ignore_index=ignore_index,
                    reduction="sum",
                )
                / n_valid
            )
            terms = self._penalties(responses, None if post is None else post[:, start:stop], n_steps, n_post)
            loss = self._total(ce, terms)
            for name, value in (("loss", loss), ("ce", ce), *terms.items()):
                sums[name] = sums[name] + value.detach() if name in sums else value.detach()
            seen.append(logits.detach())
            start = stop
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
        self._record_train(sums, torch.cat(seen, dim=1), labels)
        return loss

    def on_after_backward(self) -> None:
        """Add back the gradients of the earlier truncated-BPTT windows (after the last window's backward)."""
        stash, self._grad_stash = self._grad_stash, None
        for p, grad in stash or ():
            p.grad = grad if p.grad is None else p.grad.add_(grad)

    # ------------------------------------------------------------------ training metrics
    def _record_train(self, values: dict[str, Tensor], logits: Tensor, labels: Tensor) -> None:
        """Add a training batch to the epoch sums; log its values only at the Trainer's logging steps.

        Lightning's ``self.log`` costs about a millisecond per key and call on CPU, which a step of a small model
        notices; the epoch means are therefore summed here (a few tensor additions per step, no host sync) and
        logged once per epoch (:meth:`on_train_epoch_end`), and the step values only every
        ``Trainer(log_every_n_steps=...)`` steps, when the logger would write them anyway. Names follow
        Lightning's ``on_step``/``on_epoch`` convention: ``train/loss_step``, ``train/loss_epoch``, ...
        """
        n_batch = logits.shape[0]
        names = ("loss", "ce", "activity", "rest") if self.records_responses else ("loss",)
        with torch.no_grad():
            valid = labels != self.hparams.ignore_index
            correct = ((logits.argmax(dim=-1) == labels) & valid).sum()
            n_valid = valid.sum()
            zero = torch.zeros((), device=logits.device)
            batch = torch.stack(
                [*(values.get(name, zero).float() * n_batch for name in names), correct, n_valid,
                 torch.full((), n_batch, device=logits.device)]
            )
            self._train_sums = batch if self._train_sums is None else self._train_sums + batch
        trainer = self._trainer
        if trainer is not None and getattr(getattr(trainer, "_logger_connector", None), "should_update_logs", True):
            step = {f"train/{name}_step": values[name] for name in names if name in values}
            step["train/acc_step"] = correct / n_valid.clamp(min=1)
            self.log_dict(step, on_step=True, on_epoch=False, prog_bar=True, batch_size=n_batch)

    def on_train_epoch_start(self) -> None:
        self._train_sums = None

    def on_train_epoch_end(self) -> None:
        """Log the epoch means ``train/{loss,ce,activity,rest}_epoch`` (batch-size weighted) and
        ``train/acc_epoch`` (correct / valid entries), summed over processes first."""
        sums, self._train_sums = self._train_sums, None
        if sums is None:
            return
        if self._trainer is not None:
            sums = self.trainer.strategy.reduce(sums, reduce_op="sum")
        names = ("loss", "ce", "activity", "rest") if self.records_responses else ("loss",)
        n = sums[-1].clamp(min=1)
        metrics = {f"train/{name}_epoch": sums[i] / n for i, name in enumerate(names)}
        metrics["train/acc_epoch"] = sums[len(names)] / sums[len(names) + 1].clamp(min=1)
        hp = self.hparams
        if hp.activity_weight == 0:
            metrics.pop("train/activity_epoch", None)
        if hp.rest_weight == 0:
            metrics.pop("train/rest_epoch", None)
        self.log_dict(metrics, on_epoch=True)

    # ------------------------------------------------------------------ per-step accuracy
    def _count_steps(self, stage: str, logits: Tensor, labels: Tensor) -> None:
        """Add this batch's per-step (correct, valid) counts to the epoch's (padded when ``T`` grows)."""
        correct, total = step_accuracy_counts(logits, labels, self.hparams.ignore_index)
        if stage in self._step_counts:
            old_correct, old_total = self._step_counts[stage]
            length = max(len(old_correct), len(correct))
            correct = F.pad(correct, (0, length - len(correct))) + F.pad(old_correct, (0, length - len(old_correct)))
            total = F.pad(total, (0, length - len(total))) + F.pad(old_total, (0, length - len(old_total)))
        self._step_counts[stage] = (correct, total)

    def _log_step_accuracy(self, stage: str) -> None:
        """Log ``{stage}/acc_t{t:02d}`` = correct / valid at step ``t`` over the epoch (summed over processes)."""
        counts = self._step_counts.pop(stage, None)
        if counts is None:
            return
        counts_tensor = torch.stack(counts).float()
        if self._trainer is not None:
            counts_tensor = self.trainer.strategy.reduce(counts_tensor, reduce_op="sum")
        correct, total = counts_tensor.cpu()
        width = max(2, len(str(len(total) - 1)))
        for t in range(len(total)):
            if total[t] > 0:
                self.log(f"{stage}/acc_t{t:0{width}d}", correct[t] / total[t], on_epoch=True)

    def on_validation_epoch_start(self) -> None:
        self._step_counts.pop("val", None)

    def on_validation_epoch_end(self) -> None:
        self._log_step_accuracy("val")

    def on_test_epoch_start(self) -> None:
        self._step_counts.pop("test", None)

    def on_test_epoch_end(self) -> None:
        self._log_step_accuracy("test")

    def validation_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._shared_step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._shared_step(batch, "test")

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        frames = batch[0] if isinstance(batch, Sequence) else batch
        return self.model(frames)

    # ------------------------------------------------------------------ optimisation
    def parameter_groups(self) -> dict[str, dict[str, Any]]:
        """The learning-rate groups: ``{group: {"lr_factor", "lr", "parameters": [names]}}`` (see
        :func:`group_parameters`)."""
        return {
            name: {"lr_factor": factor, "lr": self.hparams.lr * factor, "parameters": [n for n, _ in members]}
            for name, factor, members in group_parameters(self.model.named_parameters(), self.hparams.lr_factors)
        }

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        groups = group_parameters(self.model.named_parameters(), hp.lr_factors)
        param_groups = [
            {"params": [p for _, p in members], "lr": hp.lr * factor, "name": name, "lr_factor": factor}
            for name, factor, members in groups
        ]
        for name, factor, members in groups:
            log.info("parameter group %r: lr=%g (x%g), %d tensors", name, hp.lr * factor, factor, len(members))
        if hp.optimizer == "adamw":
            optimizer = torch.optim.AdamW(param_groups, lr=hp.lr, weight_decay=hp.weight_decay)
        elif hp.optimizer == "adam":
            optimizer = torch.optim.Adam(param_groups, lr=hp.lr, weight_decay=hp.weight_decay)
        else:
            optimizer = torch.optim.SGD(param_groups, lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay)
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
