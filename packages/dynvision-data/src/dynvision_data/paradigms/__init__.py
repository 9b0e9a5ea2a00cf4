"""Stimulus paradigms chosen by name: ``create_paradigm("duration", intro=2, stimulus=5, outro=13)``."""

from __future__ import annotations

from .base import IGNORE_INDEX, Paradigm, Presentation, create_paradigm, list_paradigms, register_paradigm
from .duration import DurationParadigm

__all__ = [
    "IGNORE_INDEX",
    "DurationParadigm",
    "Paradigm",
    "Presentation",
    "create_paradigm",
    "list_paradigms",
    "register_paradigm",
]
