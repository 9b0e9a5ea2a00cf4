"""Stimulus paradigms chosen by name: ``create_paradigm("duration", intro=2, stimulus=5, outro=13)``.

Registered: ``repetition``, ``duration``, ``interval``, ``contrast``, ``noise``. Every paradigm also takes the
common options ``blank``, ``rt``, ``pattern``, ``pattern_mode``, ``pattern_shuffle`` and ``seed``
(see :mod:`dynvision_data.paradigms.base`). Parameters are named by their long names (``noise_type``), short
aliases (:data:`PARADIGM_ALIASES`: ``noisetype``) or upstream DynVision's spellings
(:data:`UPSTREAM_PARADIGM_ALIASES`: ``stim``); :func:`paradigm_parameters` lists a paradigm's parameters with
their defaults and :func:`canonical_paradigm_params` expands aliases.

Importing this package and building a paradigm import no torch: a workflow can check paradigm names and
parameters at parse time in milliseconds. Torch is loaded when a batch is first presented, or when
:class:`Timeline`, :func:`fit_pattern`, :func:`label_mask` or :func:`onsets` (from
:mod:`dynvision_data.paradigms.timeline`) are first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import (
    COMMON_OPTIONS,
    IGNORE_INDEX,
    PARADIGM_ALIASES,
    UPSTREAM_PARADIGM_ALIASES,
    Paradigm,
    Presentation,
    canonical_paradigm_params,
    create_paradigm,
    list_paradigms,
    paradigm_parameters,
    register_paradigm,
)
from .contrast import ContrastParadigm
from .duration import DurationParadigm
from .interval import IntervalParadigm
from .noise import NOISE_TYPES, TEMPORAL_MODES, NoiseParadigm
from .repetition import RepetitionParadigm

if TYPE_CHECKING:
    from .timeline import Timeline, fit_pattern, label_mask, onsets

__all__ = [
    "COMMON_OPTIONS",
    "IGNORE_INDEX",
    "NOISE_TYPES",
    "PARADIGM_ALIASES",
    "TEMPORAL_MODES",
    "UPSTREAM_PARADIGM_ALIASES",
    "ContrastParadigm",
    "DurationParadigm",
    "IntervalParadigm",
    "NoiseParadigm",
    "Paradigm",
    "Presentation",
    "RepetitionParadigm",
    "Timeline",
    "canonical_paradigm_params",
    "create_paradigm",
    "fit_pattern",
    "label_mask",
    "list_paradigms",
    "onsets",
    "paradigm_parameters",
    "register_paradigm",
]

#: Names that need torch, loaded from .timeline on first use.
_FROM_TIMELINE = frozenset({"Timeline", "fit_pattern", "label_mask", "onsets"})


def __getattr__(name: str) -> Any:
    if name in _FROM_TIMELINE:
        from . import timeline

        value = getattr(timeline, name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
