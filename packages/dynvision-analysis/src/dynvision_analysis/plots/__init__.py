"""Figures from tables; every function returns a matplotlib Figure and never shows it."""

from __future__ import annotations

from .accuracy import plot_accuracy
from .confusion import plot_confusion
from .measures import plot_dynamics, plot_measure, plot_performance
from .reaction_time import plot_reaction_times
from .responses import plot_responses
from .stability import plot_spectrum
from .study import plot_study, plot_study_effects
from .training import plot_training
from .weights import plot_weights

__all__ = [
    "plot_accuracy",
    "plot_confusion",
    "plot_dynamics",
    "plot_measure",
    "plot_performance",
    "plot_reaction_times",
    "plot_responses",
    "plot_spectrum",
    "plot_study",
    "plot_study_effects",
    "plot_training",
    "plot_weights",
]
