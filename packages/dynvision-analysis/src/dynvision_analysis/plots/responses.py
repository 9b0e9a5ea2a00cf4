"""Responses over time with their SEM band and the stimulus period shaded.

Three layouts of the same data:

* ``"overlay"``: one axes, one line per level of ``hue`` (e.g. per area);
* ``"small_multiples"``: one axes per level of ``row`` (e.g. per area), stacked, sharing the time axis, each
  with its own response scale;
* ``"ridge"``: one axes, the rows drawn one above the other with a vertical offset on one common scale (a
  ridge plot), with a scale bar giving that scale in the response unit.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..style import axis_label, category_colors, figure_style
from ..tables import order_areas, require_columns
from ._common import check_one_row_per_time, level_colors, mark_stimuli, new_axes, new_figure, x_limits

__all__ = ["LAYOUTS", "plot_responses"]

_MEASURE_COLUMNS = ("step", "time_ms", "mean", "sem", "n")
#: The layouts :func:`plot_responses` draws.
LAYOUTS = ("overlay", "small_multiples", "ridge")
#: ``gid`` of the ridge plot's scale bar.
SCALE_BAR_GID = "scale_bar"


def _levels(measure: pd.DataFrame, column: str) -> list[str]:
    names = measure[column].astype("object").map(str)
    if column == "area":
        return order_areas(names)
    ordered = measure[column].drop_duplicates()
    with contextlib.suppress(TypeError):
        ordered = ordered.sort_values()
    return [str(level) for level in ordered]


def _draw_lines(
    axes: Axes,
    rows: pd.DataFrame,
    hue: str | None,
    colors: dict[str, str],
    default: str,
    *,
    offset: float = 0.0,
    fill_to_offset: bool = False,
) -> None:
    if hue is None:
        groups: list[tuple[str, pd.DataFrame]] = [(default, rows)]
    else:
        levels = rows[hue].astype("object").map(str)
        groups = [(level, rows[levels == level]) for level in colors if (levels == level).any()]
    for level, part in groups:
        part = part.sort_values("time_ms")
        time = part["time_ms"].to_numpy(dtype="float64")
        mean = part["mean"].to_numpy(dtype="float64") + offset
        sem = np.nan_to_num(part["sem"].to_numpy(dtype="float64"))
        color = colors.get(level, colors.get(default, "0.2"))
        axes.plot(time, mean, color=color, label=level)
        axes.fill_between(time, mean - sem, mean + sem, color=color, alpha=0.25, linewidth=0)
        if fill_to_offset and hue is None:
            axes.fill_between(time, offset, mean, color=color, alpha=0.12, linewidth=0)


def plot_responses(
    measure: pd.DataFrame,
    *,
    stimulus_intervals: Iterable[tuple[float, float]] | Mapping[str, Iterable[tuple[float, float]]] | None = None,
    hue: str | None = "area",
    layout: str = "overlay",
    row: str = "area",
    ylabel: str = axis_label("response"),
    title: str | None = None,
    ax: Axes | None = None,
    size: str | tuple[float, float] | None = None,
) -> Figure:
    """Plot mean response over time with a ±1 SEM band per line and the stimulus period shaded.

    Parameters
    ----------
    measure:
        Output of :func:`dynvision_analysis.measures.response_over_time`: columns ``time_ms`` (ms), ``mean``,
        ``sem`` and the ``hue`` (and ``row``) columns, one row per (row level, hue level, time).
    stimulus_intervals:
        ``(onset_ms, offset_ms)`` pairs to shade, e.g. from :func:`dynvision_analysis.stimulus_intervals`;
        or, when the ``hue`` levels are conditions with different stimulus timing (a duration or interval
        sweep), a mapping from level (as a string) to its pairs, drawn as a thin bar per condition in its
        line colour.
    hue:
        Column whose levels are drawn as separate lines. For ``"area"`` the order is V1, V2, V4, IT, then
        others, with fixed colours; other columns use the palette in order of appearance. ``None`` draws one
        line (per row).
    layout:
        ``"overlay"`` (one axes), ``"small_multiples"`` (one axes per ``row`` level) or ``"ridge"`` (rows
        offset vertically in one axes, with a scale bar). See the module docstring.
    row:
        For ``"small_multiples"`` and ``"ridge"``: the column whose levels get a row each (``"area"`` by
        default, in hierarchy order). With ``hue`` equal to ``row`` each row has one line in its colour;
        another ``hue`` (e.g. ``"contrast"``) draws its levels in every row.
    ylabel, title:
        Axis label (default "response (a.u.)") and optional title.
    ax:
        Draw into this Axes (``"overlay"`` only) instead of a new figure.
    size:
        Name in :data:`dynvision_analysis.style.FIGURE_SIZES` or (width, height) in inches, for a new figure;
        ``None`` picks one for the layout (one column wide, taller with more rows).

    Returns
    -------
    matplotlib.figure.Figure
        The figure; save it with :func:`dynvision_analysis.io.save_figure`. Nothing is shown.
    """
    what = "plot_responses"
    if layout not in LAYOUTS:
        raise ValueError(f"{what}: layout must be one of {list(LAYOUTS)}, got {layout!r}.")
    require_columns(measure, ["time_ms", "mean", "sem"], what=what)
    if layout == "overlay":
        keys = ["time_ms"] if hue is None else [hue, "time_ms"]
    else:
        keys = list(dict.fromkeys([row, *([hue] if hue is not None else []), "time_ms"]))
    check_one_row_per_time(measure, keys, what=what, known=_MEASURE_COLUMNS)
    intervals = (
        {str(level): list(spans) for level, spans in stimulus_intervals.items()}
        if isinstance(stimulus_intervals, Mapping)
        else list(stimulus_intervals or ())
    )
    if layout == "overlay":
        return _overlay(measure, intervals, hue, ylabel, title, ax, size or "single")
    rows = _levels(measure, row)
    line_hue = None if hue == row else hue
    if line_hue is None:
        colors = level_colors(row, rows) if hue == row else category_colors(["response"])
    else:
        colors = level_colors(line_hue, _levels(measure, line_hue))
    figure = new_figure(ax, size or (3.5, (0.55 if layout == "ridge" else 0.85) * len(rows) + 0.9), what=what)
    with figure_style():
        if layout == "small_multiples":
            _small_multiples(figure, measure, intervals, row, rows, line_hue, colors, ylabel)
        else:
            _ridge(figure, measure, intervals, row, rows, line_hue, colors, ylabel)
        if line_hue is not None:
            # One entry per level: the ridge draws every level once per row in the same axes.
            entries = dict(zip(*reversed(figure.axes[0].get_legend_handles_labels()), strict=True))
            figure.legend(list(entries.values()), list(entries), loc="outside right upper", title=line_hue)
        if title:
            figure.suptitle(title)
    return figure


def _overlay(
    measure: pd.DataFrame,
    intervals: list[tuple[float, float]] | dict[str, list[tuple[float, float]]],
    hue: str | None,
    ylabel: str,
    title: str | None,
    ax: Axes | None,
    size: str | tuple[float, float],
) -> Figure:
    with figure_style():
        figure, axes = new_axes(ax, size)
        if hue is None:
            colors = category_colors(["response"])
        else:
            colors = level_colors(hue, measure[hue].astype("object").map(str))
        _draw_lines(axes, measure, hue, colors, "response")
        mark_stimuli(axes, intervals, colors)
        axes.set_xlim(*x_limits(measure["time_ms"].to_numpy(dtype="float64"), intervals))
        axes.set_xlabel(axis_label("time_ms"))
        axes.set_ylabel(ylabel)
        if title:
            axes.set_title(title)
        # Outside the axes so the legend never hides a trace; constrained layout makes room for it.
        axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), title=hue)
    return figure


def _select(measure: pd.DataFrame, column: str, level: str) -> pd.DataFrame:
    return measure[measure[column].astype("object").map(str) == level]


def _small_multiples(
    figure: Figure,
    measure: pd.DataFrame,
    intervals: list[tuple[float, float]] | dict[str, list[tuple[float, float]]],
    row: str,
    rows: list[str],
    hue: str | None,
    colors: dict[str, str],
    ylabel: str,
) -> None:
    grid = figure.subplots(len(rows), 1, sharex=True, squeeze=False)[:, 0]
    limits = x_limits(measure["time_ms"].to_numpy(dtype="float64"), intervals)
    for axes, level in zip(grid, rows, strict=True):
        _draw_lines(axes, _select(measure, row, level), hue, colors, level if hue is None else "response")
        mark_stimuli(axes, intervals, colors)
        axes.set_xlim(*limits)
        axes.set_ylabel(level, rotation=0, ha="right", va="center")
    grid[-1].set_xlabel(axis_label("time_ms"))
    figure.supylabel(ylabel, fontsize=8)


def _nice(value: float) -> float:
    """The largest 1, 2 or 5 × 10^k that is at most ``value`` (a readable scale-bar length)."""
    if not value > 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return max(step * power for step in (1.0, 2.0, 5.0) if step * power <= value)


def _ridge(
    figure: Figure,
    measure: pd.DataFrame,
    intervals: list[tuple[float, float]] | dict[str, list[tuple[float, float]]],
    row: str,
    rows: list[str],
    hue: str | None,
    colors: dict[str, str],
    ylabel: str,
) -> None:
    axes = figure.add_subplot()
    mean = measure["mean"].to_numpy(dtype="float64")
    sem = np.nan_to_num(measure["sem"].to_numpy(dtype="float64"))
    # Each row's zero line sits at its tick; rows are one common scale apart, overlapping a little like a
    # ridge plot, with the first row (V1) on top.
    low = min(float(np.nanmin(mean - sem)), 0.0)
    high = max(float(np.nanmax(mean + sem)), 0.0)
    spacing = 0.8 * (high - low) if high > low else 1.0
    zeros = {level: (len(rows) - 1 - index) * spacing - low for index, level in enumerate(rows)}
    for level in rows:
        offset = zeros[level]
        axes.axhline(offset, color="0.75", linewidth=0.6, zorder=0.5)
        _draw_lines(
            axes,
            _select(measure, row, level),
            hue,
            colors,
            level if hue is None else "response",
            offset=offset,
            fill_to_offset=True,
        )
    mark_stimuli(axes, intervals, colors)
    left, right = x_limits(measure["time_ms"].to_numpy(dtype="float64"), intervals)
    axes.set_xlim(left, right)
    axes.set_yticks([zeros[level] for level in rows], rows)
    axes.spines["left"].set_visible(False)
    axes.tick_params(axis="y", length=0)
    axes.set_xlabel(axis_label("time_ms"))
    # A vertical scale bar at the right edge gives the common response scale in its unit.
    length = _nice(spacing * 0.6)
    x_bar = right + 0.02 * (right - left)
    bottom = zeros[rows[-1]]
    bar = axes.plot([x_bar, x_bar], [bottom, bottom + length], color="0.2", linewidth=1.2, clip_on=False)[0]
    bar.set_gid(SCALE_BAR_GID)
    unit = ylabel.rsplit("(", 1)[-1].rstrip(")") if "(" in ylabel else ""
    axes.text(x_bar, bottom + length / 2, f" {length:g} {unit}".rstrip(), va="center", ha="left", fontsize=6)
    axes.set_title(ylabel.split(" (")[0] + " per " + row, fontsize=8)
