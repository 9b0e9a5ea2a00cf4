"""dynvision-analysis: measures of neural dynamics and publication-quality figures from tidy tables.

Reads the outputs and responses tables that the DynVision workflow writes (see
:mod:`dynvision_analysis.tables`), reduces them to measures over time (:mod:`dynvision_analysis.measures`)
and draws figures (:mod:`dynvision_analysis.plots`). Depends on pandas, numpy and matplotlib only; it never
imports torch or the other DynVision packages.
"""

from __future__ import annotations

from .__about__ import __version__
from .io import iter_table, read_table, save_figure, write_table
from .measures import accuracy_over_time, response_over_time
from .plots import plot_accuracy, plot_responses
from .stimulus import stimulus_intervals
from .tables import OUTPUTS, RESPONSES, TableError

__all__ = [
    "OUTPUTS",
    "RESPONSES",
    "TableError",
    "__version__",
    "accuracy_over_time",
    "iter_table",
    "plot_accuracy",
    "plot_responses",
    "read_table",
    "response_over_time",
    "save_figure",
    "stimulus_intervals",
    "write_table",
]
