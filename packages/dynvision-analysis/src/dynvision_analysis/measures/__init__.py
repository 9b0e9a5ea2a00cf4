"""Measures computed from the tidy tables.

* over time, with a mean, its SEM and n per group and step: :func:`response_over_time`,
  :func:`accuracy_over_time`, :func:`topk_accuracy_over_time`;
* one number per time course (curve): :func:`response_peaks`, :func:`response_latency`,
  :func:`contrast_response`, :func:`peak_ratio`, :func:`temporal_summation`;
* classification: :func:`class_accuracy`, :func:`confusion_matrix`;
* aggregation across samples, seeds and categories: :func:`summarize` (SEM or bootstrap CI);
* the temporal-dynamics study, per variant, area and phenomenon with hierarchical bootstrap CIs:
  :func:`study_table`;
* model and training: :func:`weight_summary`, :func:`training_curves`.
"""

from __future__ import annotations

from .accuracy import accuracy_over_time
from .classification import class_accuracy, confusion_matrix, topk_accuracy_over_time
from .dynamics import contrast_response, peak_ratio, response_latency, response_peaks, temporal_summation
from .responses import response_over_time
from .study import study_table
from .summary import summarize
from .training import training_curves
from .weights import weight_summary

__all__ = [
    "accuracy_over_time",
    "class_accuracy",
    "confusion_matrix",
    "contrast_response",
    "peak_ratio",
    "response_latency",
    "response_over_time",
    "response_peaks",
    "study_table",
    "summarize",
    "temporal_summation",
    "topk_accuracy_over_time",
    "training_curves",
    "weight_summary",
]
