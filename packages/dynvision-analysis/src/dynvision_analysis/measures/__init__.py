"""Measures computed from the tidy tables.

* over time, with a mean, its SEM and n per group and step: :func:`response_over_time`,
  :func:`accuracy_over_time`, :func:`topk_accuracy_over_time`;
* one number per time course (curve): :func:`response_peaks`, :func:`response_latency`,
  :func:`contrast_response`, :func:`peak_ratio`, :func:`temporal_summation`;
* classification: :func:`class_accuracy`, :func:`confusion_matrix`;
* aggregation across samples, seeds and categories: :func:`summarize` (SEM or bootstrap CI);
* the temporal-dynamics study, per variant, area and phenomenon with hierarchical bootstrap CIs:
  :func:`study_table`;
* model and training: :func:`weight_summary`, :func:`training_curves`;
* reaction times at a confidence threshold, per trial and over thresholds: :func:`reaction_times`,
  :func:`speed_accuracy`, :func:`accuracy_by_reaction_time`;
* stability of the linearised recurrent step, from a spectrum table: :func:`classify_spectrum`,
  :func:`stability_summary`.
"""

from __future__ import annotations

from .accuracy import accuracy_over_time
from .classification import class_accuracy, confusion_matrix, topk_accuracy_over_time
from .dynamics import contrast_response, peak_ratio, response_latency, response_peaks, temporal_summation
from .reaction_time import accuracy_by_reaction_time, decision_steps, reaction_times, speed_accuracy
from .responses import response_over_time
from .stability import classify_spectrum, stability_summary
from .study import study_table
from .summary import summarize
from .training import training_curves
from .weights import weight_summary

__all__ = [
    "accuracy_by_reaction_time",
    "accuracy_over_time",
    "class_accuracy",
    "classify_spectrum",
    "confusion_matrix",
    "contrast_response",
    "decision_steps",
    "peak_ratio",
    "reaction_times",
    "response_latency",
    "response_over_time",
    "response_peaks",
    "speed_accuracy",
    "stability_summary",
    "study_table",
    "summarize",
    "temporal_summation",
    "topk_accuracy_over_time",
    "training_curves",
    "weight_summary",
]
