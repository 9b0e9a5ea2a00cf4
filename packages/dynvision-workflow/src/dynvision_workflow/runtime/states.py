"""Model state files (``init.pt``, ``trained.pt``): self-describing, safe to load, written atomically.

A state file is a ``torch.save`` of a plain dict, loaded with ``weights_only=True`` (no pickle code runs)::

    {"format": "dynvision-model-state", "version": 1,
     "model_name": "DyRCNNx2", "model_kwargs": {...},          # rebuilds the model with create_model
     "state_dict": {...},                                       # tensors
     "data": {"mean": [...], "std": [...], "classes": [...], "input_shape": [C, H, W]},
     "meta": {...}}                                             # seed, epochs, versions...
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .provenance import atomic_path

__all__ = ["ModelState", "StateError", "build_model", "load_state", "save_state"]

FORMAT = "dynvision-model-state"
VERSION = 1


class StateError(ValueError):
    """A model state file that is missing, corrupt or does not match its model."""


@dataclass
class ModelState:
    """The content of a model state file."""

    model_name: str
    model_kwargs: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    data: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def save_state(path: str | os.PathLike[str], model: nn.Module, *, data: dict[str, Any], meta: dict[str, Any]) -> None:
    """Save a model created by ``dynvision_models.create_model`` with its data description, atomically."""
    for attribute in ("model_name", "model_kwargs"):
        if not hasattr(model, attribute):
            raise StateError(f"the model has no {attribute!r}: create it with dynvision_models.create_model.")
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model_name": model.model_name,
        "model_kwargs": dict(model.model_kwargs),
        "state_dict": {key: value.detach().cpu() for key, value in model.state_dict().items()},
        "data": data,
        "meta": meta,
    }
    with atomic_path(path) as temporary:
        torch.save(payload, temporary)


def load_state(path: str | os.PathLike[str]) -> ModelState:
    """Load a state file; a missing, corrupt or foreign file raises :class:`StateError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise StateError(f"model state {str(path)!r} does not exist; run the init (or training) step first.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a damaged file
        raise StateError(
            f"model state {str(path)!r} cannot be read ({type(error).__name__}: {error}); it is corrupt or "
            "truncated: delete it and run the step that makes it again."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise StateError(f"{str(path)!r} is not a DynVision model state (no {FORMAT!r} format marker).")
    if payload.get("version") != VERSION:
        raise StateError(f"{str(path)!r} has state format version {payload.get('version')!r}; this reads {VERSION}.")
    return ModelState(
        model_name=payload["model_name"],
        model_kwargs=payload["model_kwargs"],
        state_dict=payload["state_dict"],
        data=payload.get("data", {}),
        meta=payload.get("meta", {}),
    )


def build_model(state: ModelState) -> nn.Module:
    """Rebuild the model of a state and load its weights; mismatched keys are named in the error."""
    from dynvision_models import create_model

    model = create_model(state.model_name, **state.model_kwargs)
    expected, given = set(model.state_dict()), set(state.state_dict)
    missing, unexpected = sorted(expected - given), sorted(given - expected)
    if missing or unexpected:
        raise StateError(
            f"the state does not match model {state.model_name} {state.model_kwargs}: "
            f"missing keys {missing[:10]}{'...' if len(missing) > 10 else ''}, "
            f"unexpected keys {unexpected[:10]}{'...' if len(unexpected) > 10 else ''}."
        )
    try:
        model.load_state_dict(state.state_dict, strict=True)
    except RuntimeError as error:
        raise StateError(f"the state does not fit model {state.model_name}: {error}") from None
    return model
