"""Stimulus paradigms chosen by name: ``create_paradigm("duration", intro=2, stimulus=5, outro=13)``.

Registered: ``repetition``, ``duration``, ``interval``, ``contrast``, ``noise``. Every paradigm also takes the
common options ``blank``, ``rt``, ``pattern``, ``pattern_mode``, ``pattern_shuffle`` and ``seed``
(see :mod:`dynvision_data.paradigms.base`).
"""

from __future__ import annotations

from .base import (
    COMMON_OPTIONS,
    IGNORE_INDEX,
    Paradigm,
    Presentation,
    Timeline,
    create_paradigm,
    fit_pattern,
    label_mask,
    list_paradigms,
    onsets,
    register_paradigm,
)
from .contrast import ContrastParadigm
from .duration import DurationParadigm
from .interval import IntervalParadigm
from .noise import NOISE_TYPES, TEMPORAL_MODES, NoiseParadigm
from .repetition import RepetitionParadigm

__all__ = [
    "COMMON_OPTIONS",
    "IGNORE_INDEX",
    "NOISE_TYPES",
    "TEMPORAL_MODES",
    "ContrastParadigm",
    "DurationParadigm",
    "IntervalParadigm",
    "NoiseParadigm",
    "Paradigm",
    "Presentation",
    "RepetitionParadigm",
    "Timeline",
    "create_paradigm",
    "fit_pattern",
    "label_mask",
    "list_paradigms",
    "onsets",
    "register_paradigm",
]
