"""dynvision-analysis: measures of neural dynamics and publication-quality figures from tidy tables.

Reads the outputs and responses tables that the DynVision workflow writes (see
:mod:`dynvision_analysis.tables`), reduces them to measures (:mod:`dynvision_analysis.measures`), aggregates
them across samples, seeds and categories (:func:`summarize`) and draws figures
(:mod:`dynvision_analysis.plots`). Depends on pandas, numpy and matplotlib only; it never imports torch or the
other DynVision packages.
"""

from __future__ import annotations

from .__about__ import __version__
from .io import iter_table, read_table, save_figure, write_table
from .measures import (
    accuracy_over_time,
    class_accuracy,
    confusion_matrix,
    contrast_response,
    peak_ratio,
    response_latency,
    response_over_time,
    response_peaks,
    study_table,
    summarize,
    temporal_summation,
    topk_accuracy_over_time,
    training_curves,
    weight_summary,
)
from .plots import (
    plot_accuracy,
    plot_confusion,
    plot_dynamics,
    plot_measure,
    plot_performance,
    plot_responses,
    plot_study,
    plot_study_effects,
    plot_training,
    plot_weights,
)
from .stimulus import stimulus_intervals
from .tables import METRICS, OUTPUTS, RESPONSES, WEIGHTS, TableError

__all__ = [
    "METRICS",
    "OUTPUTS",
    "RESPONSES",
    "WEIGHTS",
    "TableError",
    "__version__",
    "accuracy_over_time",
    "class_accuracy",
    "confusion_matrix",
    "contrast_response",
    "iter_table",
    "peak_ratio",
    "plot_accuracy",
    "plot_confusion",
    "plot_dynamics",
    "plot_measure",
    "plot_performance",
    "plot_responses",
    "plot_study",
    "plot_study_effects",
    "plot_training",
    "plot_weights",
    "read_table",
    "response_latency",
    "response_over_time",
    "response_peaks",
    "save_figure",
    "stimulus_intervals",
    "study_table",
    "summarize",
    "temporal_summation",
    "topk_accuracy_over_time",
    "training_curves",
    "weight_summary",
    "write_table",
]
