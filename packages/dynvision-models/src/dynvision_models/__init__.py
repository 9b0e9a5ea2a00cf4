"""dynvision-models: recurrent CNNs with biologically plausible temporal dynamics.

Build models by name with :func:`create_model`, run them on ``(batch, time, C, H, W)`` stimuli (or a static
image) to get per-step logits ``(batch, time, classes)``, and train them with :class:`TemporalClassifier`.

Importing the package imports no torch: every name below is loaded on first use (PEP 562), so that a tool that
only checks model kwargs (:mod:`dynvision_models.checks`, torch-free) starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .__about__ import __version__

if TYPE_CHECKING:
    from .checks import MODEL_ARG_ALIASES, expand_aliases, kwarg_problems
    from .engine import TemporalModel, get_solver, list_solvers
    from .layers import create_recurrence, list_recurrence_types
    from .losses import IGNORE_INDEX, last_valid_step_accuracy, temporal_accuracy, temporal_cross_entropy
    from .registry import (
        REQUIRED,
        create_model,
        describe_models,
        is_model,
        list_models,
        model_parameters,
        register_model,
    )
    from .system import TemporalClassifier
    from .zoo import DyRCNN, DyRCNNx2, DyRCNNx4, DyRCNNx8

__all__ = [
    "IGNORE_INDEX",
    "MODEL_ARG_ALIASES",
    "REQUIRED",
    "DyRCNN",
    "DyRCNNx2",
    "DyRCNNx4",
    "DyRCNNx8",
    "TemporalClassifier",
    "TemporalModel",
    "__version__",
    "create_model",
    "create_recurrence",
    "describe_models",
    "expand_aliases",
    "get_solver",
    "is_model",
    "kwarg_problems",
    "last_valid_step_accuracy",
    "list_models",
    "list_recurrence_types",
    "list_solvers",
    "model_parameters",
    "register_model",
    "temporal_accuracy",
    "temporal_cross_entropy",
]

# Public name -> the submodule that defines it. Lightning (system) takes ~1-2 s and torch ~1.2 s to import:
# both are loaded only when a name that needs them is asked for.
_LAZY: dict[str, str] = {
    "IGNORE_INDEX": "losses",
    "MODEL_ARG_ALIASES": "checks",
    "REQUIRED": "registry",
    "DyRCNN": "zoo",
    "DyRCNNx2": "zoo",
    "DyRCNNx4": "zoo",
    "DyRCNNx8": "zoo",
    "TemporalClassifier": "system",
    "TemporalModel": "engine",
    "create_model": "registry",
    "create_recurrence": "layers",
    "describe_models": "registry",
    "expand_aliases": "checks",
    "get_solver": "engine",
    "is_model": "registry",
    "kwarg_problems": "checks",
    "last_valid_step_accuracy": "losses",
    "list_models": "registry",
    "list_recurrence_types": "layers",
    "list_solvers": "engine",
    "model_parameters": "registry",
    "register_model": "registry",
    "temporal_accuracy": "losses",
    "temporal_cross_entropy": "losses",
}
_SUBMODULES = ("checks", "engine", "layers", "losses", "registry", "system", "zoo")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(
        f"module {__name__!r} has no attribute {name!r}; its public names are: {', '.join(__all__)}."
    )


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
