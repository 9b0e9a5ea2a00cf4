"""Losses and accuracies over time: every valid time step counts, ``ignore_index`` marks the others.

Labels are ``(B, T)`` integer class indices per time step; ``ignore_index`` (default -1) marks steps outside the
stimulus (blank, warm-up, reaction time), which neither the loss nor the accuracies count.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["IGNORE_INDEX", "last_valid_step_accuracy", "temporal_accuracy", "temporal_cross_entropy"]

#: Label value of time steps that are not scored.
IGNORE_INDEX = -1


def _check_shapes(logits: Tensor, labels: Tensor) -> None:
    if logits.dim() != 3 or labels.shape != logits.shape[:2]:
        raise ValueError(
            f"Expected logits (batch, time, classes) and labels (batch, time) with the same batch and time; "
            f"got logits {tuple(logits.shape)} and labels {tuple(labels.shape)}."
        )


def temporal_cross_entropy(logits: Tensor, labels: Tensor, ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Cross-entropy averaged over all valid (batch, time) entries.

    Args:
        logits: ``(B, T, n_classes)``.
        labels: ``(B, T)`` class indices; ``ignore_index`` entries are skipped.
        ignore_index: label value of unscored steps.

    Returns:
        Scalar mean loss over the valid entries.

    Raises:
        ValueError: mismatched shapes, or no valid entry at all (the mean would be NaN; a batch that only shows
            blanks cannot train a classifier).
    """
    _check_shapes(logits, labels)
    valid = labels != ignore_index
    # One host sync per batch; it turns a silent NaN loss into an actionable error.
    if not bool(valid.any()):
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
