"""Accuracy over time with its SEM band, the chance level and the stimulus period."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..style import CHANCE_COLOR, PALETTE, axis_label, category_colors, figure_style
from ..tables import require_columns
from ._common import check_one_row_per_time, mark_stimuli, new_axes, x_limits

__all__ = ["plot_accuracy"]

_MEASURE_COLUMNS = ("step", "time_ms", "accuracy", "sem", "n", "confidence", "confidence_sem")
#: ``gid`` of the chance line.
CHANCE_GID = "chance"


def plot_accuracy(
    measure: pd.DataFrame,
    *,
    n_classes: int | None = None,
    stimulus_intervals: Iterable[tuple[float, float]] | Mapping[str, Iterable[tuple[float, float]]] | None = None,
    hue: str | None = None,
    confidence: bool = False,
    title: str | None = None,
    ax: Axes | None = None,
    size: str | tuple[float, float] = "single",
) -> Figure:
    """Plot accuracy over time with a ±1 SEM band, the chance level 1/``n_classes`` and the stimulus period.

    Parameters
    ----------
    measure:
        Output of :func:`dynvision_analysis.measures.accuracy_over_time`: columns ``time_ms`` (ms),
        ``accuracy``, ``sem`` (and ``confidence`` when ``confidence=True``), one row per (hue level, time).
    n_classes:
        Number of classes; draws a dashed chance line at 1/n_classes. ``None`` draws none.
    stimulus_intervals:
        ``(onset_ms, offset_ms)`` pairs to shade, e.g. from :func:`dynvision_analysis.stimulus_intervals`;
        or, when the ``hue`` levels are conditions with different stimulus timing, a mapping from level (as a
        string) to its pairs, drawn as a thin bar per condition in its line colour.
    hue:
        Column whose levels are drawn as separate lines (e.g. one per condition of a sweep, or ``"seed"``),
        in order of appearance; ``None`` draws one line.
    confidence:
        Also draw the mean confidence (softmax probability of the guess) as a dashed line per level.
    title, ax, size:
        As in :func:`dynvision_analysis.plots.plot_responses`.

    Returns
    -------
    matplotlib.figure.Figure
        The figure; accuracy is on a fixed 0–1 axis so figures of different models compare at a glance.
    """
    what = "plot_accuracy"
    required = ["time_ms", "accuracy", "sem", *(["confidence"] if confidence else [])]
    require_columns(measure, required, what=what)
    keys = ["time_ms"] if hue is None else [hue, "time_ms"]
    check_one_row_per_time(measure, keys, what=what, known=_MEASURE_COLUMNS)
    if n_classes is not None and (
        isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2
    ):
        raise ValueError(
            f"n_classes must be an integer of at least 2 (chance = 1/n_classes), got {n_classes!r}."
        )
    intervals = (
        {str(level): list(spans) for level, spans in stimulus_intervals.items()}
        if isinstance(stimulus_intervals, Mapping)
        else list(stimulus_intervals or ())
    )
    with figure_style():
        figure, axes = new_axes(ax, size)
        if hue is None:
            groups: list[tuple[str, pd.DataFrame]] = [("accuracy", measure)]
            colors = {"accuracy": PALETTE[0]}
        else:
            levels = measure[hue].astype("object").map(str)
            colors = category_colors(levels)
            groups = [(level, measure[levels == level]) for level in colors]
        for level, rows in groups:
            rows = rows.sort_values("time_ms")
            time = rows["time_ms"].to_numpy(dtype="float64")
            accuracy = rows["accuracy"].to_numpy(dtype="float64")
            sem = rows["sem"].to_numpy(dtype="float64")
            axes.plot(time, accuracy, color=colors[level], label=level)
            axes.fill_between(
                time, accuracy - sem, accuracy + sem, color=colors[level], alpha=0.25, linewidth=0
            )
            if confidence:
                label = "confidence" if hue is None else f"{level} confidence"
                axes.plot(
                    time,
                    rows["confidence"].to_numpy(dtype="float64"),
                    color=colors[level],
                    linestyle="--",
                    label=label,
                )
        if n_classes is not None:
            chance = axes.axhline(
                1.0 / n_classes,
                color=CHANCE_COLOR,
                linestyle=":",
                linewidth=1.0,
                label=f"chance (1/{n_classes})",
            )
            chance.set_gid(CHANCE_GID)
        mark_stimuli(axes, intervals, colors)
        axes.set_xlim(*x_limits(measure["time_ms"].to_numpy(dtype="float64"), intervals))
        axes.set_ylim(-0.02, 1.02)
        axes.set_xlabel(axis_label("time_ms"))
        axes.set_ylabel("accuracy / confidence" if confidence else axis_label("accuracy"))
        if title:
            axes.set_title(title)
        axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), title=hue)
    return figure
