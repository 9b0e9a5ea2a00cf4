"""Model zoo; importing it registers the models with :mod:`dynvision_models.registry`."""

from __future__ import annotations

from .alexnet import AlexNet
from .cordsnet import CordsNet
from .cornet import CorNetRT
from .dyrcnn import DyRCNN, DyRCNNx2, DyRCNNx4, DyRCNNx8
from .resnet import ResNet18, ResNet20, ResNet32, ResNet34, ResNet44, ResNet50, ResNet56, ResNet110

__all__ = [
    "AlexNet",
    "CorNetRT",
    "CordsNet",
    "DyRCNN",
    "DyRCNNx2",
    "DyRCNNx4",
    "DyRCNNx8",
    "ResNet18",
    "ResNet20",
    "ResNet32",
    "ResNet34",
    "ResNet44",
    "ResNet50",
    "ResNet56",
    "ResNet110",
]
