"""Model zoo; importing it registers the models with :mod:`dynvision_models.registry`."""

from __future__ import annotations

from .dyrcnn import DyRCNN, DyRCNNx2, DyRCNNx4

__all__ = ["DyRCNN", "DyRCNNx2", "DyRCNNx4"]
