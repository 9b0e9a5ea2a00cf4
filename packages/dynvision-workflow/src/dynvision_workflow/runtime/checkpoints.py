"""Export step: a training checkpoint (``best``, ``epoch=N``) as a model state file beside ``trained.pt``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..naming import format_seed
from ..paths import CHECKPOINT_BEST, CHECKPOINT_EPOCH, fill
from ..statuses import parse_status
from .provenance import write_resolved_config
from .states import ModelState, StateError, build_model, load_state, save_state

__all__ = ["checkpoint_for", "export_state"]

#: Prefix of the model's keys in a checkpoint of :class:`dynvision_models.system.TemporalClassifier`.
_MODEL_PREFIX = "model."


def checkpoint_for(checkpoints: str | os.PathLike[str], status: str) -> Path:
    """The checkpoint file below ``checkpoints`` that holds ``status`` (``best`` or ``epoch=N``)."""
    kind, epoch = parse_status(status)
    if kind == "best":
        return Path(checkpoints) / CHECKPOINT_BEST
    if kind == "epoch":
        return Path(checkpoints) / fill(CHECKPOINT_EPOCH, epoch=epoch)
    raise ValueError(f"status {status!r} is not exported from a checkpoint; only best and epoch=N are.")


def export_state(
    *,
    trained: str | os.PathLike[str],
    checkpoints: str | os.PathLike[str],
    status: str,
    output: str | os.PathLike[str],
) -> Path:
    """Write the model of the ``status`` checkpoint (``best``: lowest val/loss; ``epoch=N``: end of epoch N,
    0-based) as a state file ``output``, in the format of ``trained`` (whose model name, arguments and data
    description it takes); its ``meta`` records the checkpoint, its epoch (0-based) and step. Atomic, with
    ``<output>.config.yaml`` beside it.

    Raises:
        StateError: the checkpoint is missing (training did not keep it), unreadable, or does not fit the model.
    """
    import torch

    source = checkpoint_for(checkpoints, status)
    if not source.is_file():
        kind, epoch = parse_status(status)
        remedy = (
            f"add {epoch} to train.keep_epochs, delete {trained} and {checkpoints} and train again"
            if kind == "epoch"
            else f"delete {trained} and {checkpoints} and train again"
        )
        raise StateError(f"checkpoint {str(source)!r} for status {status!r} does not exist; {remedy}.")
    reference = load_state(trained)
    try:
        checkpoint: dict[str, Any] = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a damaged file
        raise StateError(
            f"checkpoint {str(source)!r} cannot be read ({type(error).__name__}: {error}); delete "
            f"{trained} and {checkpoints} and train again."
        ) from None
    weights = {
        key[len(_MODEL_PREFIX) :]: value
        for key, value in checkpoint.get("state_dict", {}).items()
        if key.startswith(_MODEL_PREFIX)
    }
    model = build_model(ModelState(reference.model_name, reference.model_kwargs, weights))
    seed = reference.meta.get("seed")
    meta = {
        "seed": seed,
        "status": status,
        "checkpoint": str(source),
        "epoch": checkpoint.get("epoch"),
        "global_step": checkpoint.get("global_step"),
        "epochs": reference.meta.get("epochs"),
    }
    best = _best_score(checkpoint)
    if best is not None:
        meta["val_loss"] = best
    save_state(output, model, data=reference.data, meta=meta)
    write_resolved_config(
        output,
        command="dynvision export-state",
        parameters={
            "model_name": reference.model_name,
            "model_kwargs": reference.model_kwargs,
            "status": status,
            "checkpoint_epoch": checkpoint.get("epoch"),
            "global_step": checkpoint.get("global_step"),
        },
        sources={"status": "command line"},
        seed=None if seed is None else format_seed(seed),
        inputs={"trained": str(trained), "checkpoint": str(source)},
    )
    return Path(output)


def _best_score(checkpoint: dict[str, Any]) -> float | None:
    """The val/loss the ModelCheckpoint callback recorded as best when the checkpoint was written, if any."""
    for key, state in (checkpoint.get("callbacks") or {}).items():
        if "ModelCheckpoint" in str(key) and isinstance(state, dict) and state.get("best_model_score") is not None:
            return float(state["best_model_score"])
    return None
