"""dynvision-models: recurrent CNNs with biologically plausible temporal dynamics.

Build models by name with :func:`create_model`, run them on ``(batch, time, C, H, W)`` stimuli (or a static
image) to get per-step logits ``(batch, time, classes)``, and train them with :class:`TemporalClassifier`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import zoo  # noqa: F401  (registers the models)
from .__about__ import __version__
from .engine import TemporalModel, get_solver, list_solvers
from .layers import create_recurrence, list_recurrence_types
from .losses import IGNORE_INDEX, last_valid_step_accuracy, temporal_accuracy, temporal_cross_entropy
from .registry import REQUIRED, create_model, is_model, list_models, model_parameters, register_model
from .zoo import DyRCNN, DyRCNNx2, DyRCNNx4, DyRCNNx8

if TYPE_CHECKING:
    from .system import TemporalClassifier

__all__ = [
    "IGNORE_INDEX",
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
    "get_solver",
    "is_model",
    "last_valid_step_accuracy",
    "list_models",
    "list_recurrence_types",
    "list_solvers",
    "model_parameters",
    "register_model",
    "temporal_accuracy",
    "temporal_cross_entropy",
]


def __getattr__(name: str) -> Any:
    # Lightning takes ~1-2 s to import; load it only when the training module is asked for, so that building
    # and running models (and listing them in a CLI) stays fast.
    if name == "TemporalClassifier":
        from .system import TemporalClassifier

        return TemporalClassifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
