"""Losses and accuracies over time: every valid time step counts, ``ignore_index`` marks the others.

Labels are ``(B, T)`` integer class indices per time step; ``ignore_index`` (default -1) marks steps outside the
stimulus (blank, warm-up, reaction time), which neither the loss nor the accuracies count.

Besides the classification loss, two penalties on the recorded responses (see :func:`activity_penalty` and
:func:`rest_penalty` for the formulas) regularise the dynamics; :class:`~dynvision_models.TemporalClassifier`
adds them with their weights.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "ACTIVITY_MODES",
    "IGNORE_INDEX",
    "AreaResponses",
    "activity_penalty",
    "last_valid_step_accuracy",
    "post_stimulus_steps",
    "rest_penalty",
    "step_accuracy_counts",
    "temporal_accuracy",
    "temporal_cross_entropy",
]

#: Label value of time steps that are not scored.
IGNORE_INDEX = -1
#: Modes of :func:`activity_penalty`.
ACTIVITY_MODES = ("metabolic", "balance")


def _check_shapes(logits: Tensor, labels: Tensor) -> None:
    if logits.dim() != 3 or labels.shape != logits.shape[:2]:
        raise ValueError(
            f"Expected logits (batch, time, classes) and labels (batch, time) with the same batch and time; "
            f"got logits {tuple(logits.shape)} and labels {tuple(labels.shape)}."
        )


def temporal_cross_entropy(
    logits: Tensor, labels: Tensor, ignore_index: int = IGNORE_INDEX, *, check_valid: bool = True
) -> Tensor:
    """Cross-entropy averaged over all valid (batch, time) entries.

    Args:
        logits: ``(B, T, n_classes)``.
        labels: ``(B, T)`` class indices; ``ignore_index`` entries are skipped.
        ignore_index: label value of unscored steps.
        check_valid: raise when no entry is valid. The check reads one value back from the device; pass
            ``False`` where that is not allowed (inside a CUDA graph capture); the loss is then NaN for a batch
            without valid entries.

    Returns:
        Scalar mean loss over the valid entries.

    Raises:
        ValueError: mismatched shapes, or no valid entry at all (the mean would be NaN; a batch that only shows
            blanks cannot train a classifier).
    """
    _check_shapes(logits, labels)
    # One host sync per batch; it turns a silent NaN loss into an actionable error.
    if check_valid and not bool((labels != ignore_index).any()):
        raise ValueError(
            f"No valid time step in this batch: every label is ignore_index={ignore_index} (labels shape "
            f"{tuple(labels.shape)}). Check the stimulus paradigm and label masking so that some steps are scored."
        )
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=ignore_index)


def temporal_accuracy(logits: Tensor, labels: Tensor, ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Fraction of valid (batch, time) entries whose arg-max class equals the label (NaN if none is valid)."""
    _check_shapes(logits, labels)
    valid = labels != ignore_index
    correct = (logits.argmax(dim=-1) == labels) & valid
    return correct.sum().float() / valid.sum().float()


def last_valid_step_accuracy(logits: Tensor, labels: Tensor, ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Accuracy at each sample's last valid time step, over samples with at least one (NaN if none has one)."""
    _check_shapes(logits, labels)
    valid = labels != ignore_index
    steps = torch.arange(labels.shape[1], device=labels.device).expand_as(labels)
    last = torch.where(valid, steps, -1).amax(dim=1)  # (B,), -1 where no step is valid
    has_valid = last >= 0
    index = last.clamp(min=0).unsqueeze(1)
    guess = logits.argmax(dim=-1).gather(1, index).squeeze(1)
    target = labels.gather(1, index).squeeze(1)
    correct = (guess == target) & has_valid
    return correct.sum().float() / has_valid.sum().float()


#: One area's responses: a tensor ``(B, T, ...)``, or its ``T`` steps as a sequence of ``(B, ...)`` tensors (as the
#: engine records them; reducing step by step avoids stacking a copy of every rate).
AreaResponses = Tensor | Sequence[Tensor]


def _areas(responses: Mapping[str, AreaResponses] | Sequence[AreaResponses]) -> list[list[Tensor]]:
    """Each area's responses as a list of per-step ``(B, ...)`` tensors (views of a stacked tensor)."""
    items = list(responses.values()) if isinstance(responses, Mapping) else list(responses)
    if not items:
        raise ValueError("Expected the responses of at least one area, got none.")
    areas = []
    for r in items:
        steps = list(r.unbind(1)) if isinstance(r, Tensor) and r.dim() >= 3 else list(r)
        if (isinstance(r, Tensor) and r.dim() < 3) or not steps or any(t.dim() < 2 for t in steps):
            shape = tuple(r.shape) if isinstance(r, Tensor) else f"{len(steps)} steps"
            raise ValueError(
                f"Expected each area's responses as (batch, time, units...) or per-step (batch, units...), got {shape}."
            )
        areas.append(steps)
    return areas


def activity_penalty(
    responses: Mapping[str, AreaResponses] | Sequence[AreaResponses],
    mode: str = "metabolic",
    n_steps: int | None = None,
) -> Tensor:
    """Activity penalty of the recorded responses, averaged over areas.

    With ``r_l(b, t, u)`` the rate of unit ``u`` (channel x position, ``U_l`` units) of area ``l`` (``L`` areas)
    for sample ``b`` (``B`` samples) at stimulus step ``t`` (``T`` steps; idle steps are never recorded)::

        metabolic:  A = 1/L sum_l 1/(B T U_l) sum_{b,t,u} |r_l(b,t,u)|           (L1: mean absolute rate)
        balance:    A = 1/L sum_l 1/(B T)     sum_{b,t}   |1/U_l sum_u r_l(b,t,u)|  (|mean signed rate|)

    Units: those of the rates (a rate per step; dimensionless for the zoo's ReLU rates). For non-negative rates
    (ReLU, as in every zoo model) both modes agree per (b, t); ``balance`` differs for signed responses, where
    it pushes the net (excitatory minus inhibitory) drive to zero rather than every unit.

    Args:
        responses: each area's rates ``(B, T_w, ...)`` (e.g. from
            :meth:`~dynvision_models.engine.TemporalModel.forward_intermediates`), or its steps as a sequence of
            ``(B, ...)`` tensors (reduced step by step, without stacking a copy).
        mode: ``"metabolic"`` or ``"balance"``.
        n_steps: the ``T`` to normalise by (default: ``T_w``). Give the full length when ``responses`` hold one
            window of ``T_w`` steps of a longer input, so that the windows' penalties add up to the whole one.
    """
    if mode not in ACTIVITY_MODES:
        raise ValueError(f"Unknown activity mode {mode!r}. Allowed: {', '.join(map(repr, ACTIVITY_MODES))}.")
    areas = _areas(responses)
    total = None
    for steps in areas:
        batch, units = steps[0].shape[0], steps[0][0].numel()
        count = len(steps) if n_steps is None else n_steps
        if mode == "metabolic":
            term = sum(r.abs().sum() for r in steps) / (batch * count * units)
        else:
            term = sum(r.flatten(1).mean(dim=1).abs().sum() for r in steps) / (batch * count)
        total = term if total is None else total + term
    return total / len(areas)  # type: ignore[operator]


def post_stimulus_steps(labels: Tensor, ignore_index: int = IGNORE_INDEX) -> Tensor:
    """``(B, T)`` bool: the steps after each sample's last valid (scored) step, the stimulus' aftermath.

    A step ``t`` of sample ``b`` is post-stimulus when ``t > t_last(b)``, the last step whose label is not
    ``ignore_index`` (the stimulus mask is folded into the labels as ``ignore_index`` beforehand). A sample
    without any valid step has no post-stimulus step.
    """
    if labels.dim() != 2:
        raise ValueError(f"Expected labels (batch, time), got shape {tuple(labels.shape)}.")
    valid = labels != ignore_index
    steps = torch.arange(labels.shape[1], device=labels.device).expand_as(labels)
    last = torch.where(valid, steps, -1).amax(dim=1, keepdim=True)  # (B, 1), -1 without a valid step
    return (steps > last) & (last >= 0)


def rest_penalty(
    responses: Mapping[str, AreaResponses] | Sequence[AreaResponses],
    post: Tensor,
    n_post: int | Tensor | None = None,
) -> Tensor:
    """Return-to-rest penalty: mean squared rate at the post-stimulus steps (CordsNet-style), over areas.

    With ``P`` the post-stimulus (sample, step) pairs (:func:`post_stimulus_steps`)::

        R = 1/L sum_l 1/(|P| U_l) sum_{(b,t) in P} sum_u r_l(b,t,u)^2

    i.e. the squared distance of the responses from the resting state ``r = 0`` after the stimulus has
    ended, which trains the network to let its activity decay back to rest instead of holding it. Units: rate
    squared. ``0`` when no step is post-stimulus.

    Args:
        responses: each area's rates ``(B, T_w, ...)`` or its steps as a sequence of ``(B, ...)`` tensors.
        post: ``(B, T_w)`` bool, the post-stimulus steps of these responses.
        n_post: the ``|P|`` to normalise by (default: ``post.sum()``); give the whole input's count when
            ``responses`` are one window of it.
    """
    areas = _areas(responses)
    shape = (areas[0][0].shape[0], len(areas[0]))
    if tuple(post.shape) != shape:
        raise ValueError(f"post must be (batch, time)={shape} like the responses, got {tuple(post.shape)}.")
    count = post.sum() if n_post is None else n_post
    weights = post.to(areas[0][0].dtype)
    # Only the steps where some sample is post-stimulus are read (usually the tail of the input).
    used = post.any(dim=0).nonzero().squeeze(1).tolist()
    total = weights.new_zeros(())
    for steps in areas:
        for t in used:
            total = total + (steps[t].flatten(1).square().mean(dim=1) * weights[:, t]).sum()
    denominator = torch.as_tensor(count, dtype=total.dtype, device=total.device).clamp(min=1)
    return total / (denominator * len(areas))


def step_accuracy_counts(
    logits: Tensor, labels: Tensor, ignore_index: int = IGNORE_INDEX
) -> tuple[Tensor, Tensor]:
    """Per-step ``(correct, total)`` counts ``(T,)`` over the batch's valid entries (for per-step accuracy)."""
    _check_shapes(logits, labels)
    valid = labels != ignore_index
    correct = ((logits.argmax(dim=-1) == labels) & valid).sum(dim=0)
    return correct, valid.sum(dim=0)
