"""Responses over time: one line per area with its SEM band, stimulus period shaded."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..style import area_colors, axis_label, category_colors, figure_style
from ..tables import require_columns
from ._common import check_one_row_per_time, new_axes, shade_stimulus, x_limits

__all__ = ["plot_responses"]

_MEASURE_COLUMNS = ("step", "time_ms", "mean", "sem", "n")


def plot_responses(
    measure: pd.DataFrame,
    *,
    stimulus_intervals: Iterable[tuple[float, float]] | None = None,
    hue: str | None = "area",
    ylabel: str = axis_label("response"),
    title: str | None = None,
    ax: Axes | None = None,
    size: str | tuple[float, float] = "single",
) -> Figure:
    """Plot mean response over time, one line per level of ``hue`` with a ±1 SEM band.

    Parameters
    ----------
    measure:
        Output of :func:`dynvision_analysis.measures.response_over_time`: columns ``time_ms`` (ms), ``mean``,
        ``sem`` and ``hue``, one row per (hue level, time).
    stimulus_intervals:
        ``(onset_ms, offset_ms)`` pairs to shade, e.g. from :func:`dynvision_analysis.stimulus_intervals`.
    hue:
        Column whose levels are drawn as separate lines. For ``"area"`` the order is V1, V2, V4, IT, then
        others, with fixed colours; other columns use the palette in order of appearance. ``None`` draws one line.
    ylabel, title:
        Axis label (default "response (a.u.)") and optional title.
    ax:
        Draw into this Axes (e.g. a panel of a larger figure) instead of a new figure.
    size:
        Name in :data:`dynvision_analysis.style.FIGURE_SIZES` or (width, height) in inches, for a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure; save it with :func:`dynvision_analysis.io.save_figure`. Nothing is shown.
    """
    what = "plot_responses"
    require_columns(measure, ["time_ms", "mean", "sem"], what=what)
    keys = ["time_ms"] if hue is None else [hue, "time_ms"]
    check_one_row_per_time(measure, keys, what=what, known=_MEASURE_COLUMNS)
    intervals = list(stimulus_intervals or ())
    with figure_style():
        figure, axes = new_axes(ax, size)
        if hue is None:
            groups: list[tuple[str, pd.DataFrame]] = [("response", measure)]
            colors = category_colors(["response"])
        else:
            levels = measure[hue].astype("object").map(str)
            colors = area_colors(levels) if hue == "area" else category_colors(levels)
            groups = [(level, measure[levels == level]) for level in colors]
        for level, rows in groups:
            rows = rows.sort_values("time_ms")
            time = rows["time_ms"].to_numpy(dtype="float64")
            mean = rows["mean"].to_numpy(dtype="float64")
            sem = rows["sem"].to_numpy(dtype="float64")
            axes.plot(time, mean, color=colors[level], label=level)
            axes.fill_between(time, mean - sem, mean + sem, color=colors[level], alpha=0.25, linewidth=0)
        shade_stimulus(axes, intervals)
        axes.set_xlim(*x_limits(measure["time_ms"].to_numpy(dtype="float64"), intervals))
        axes.set_xlabel(axis_label("time_ms"))
        axes.set_ylabel(ylabel)
        if title:
            axes.set_title(title)
        # Outside the axes so the legend never hides a trace; constrained layout makes room for it.
        axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), title=hue)
    return figure
