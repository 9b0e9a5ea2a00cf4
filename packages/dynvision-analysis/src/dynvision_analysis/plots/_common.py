"""Pieces shared by the plot functions: figure creation, stimulus shading, input checks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..style import STIMULUS_COLOR, area_colors, category_colors, figure_size
from ..tables import TableError, require_columns

__all__ = [
    "check_one_row_per_time",
    "error_bounds",
    "level_colors",
    "mark_stimuli",
    "new_axes",
    "new_figure",
    "panel_label",
    "shade_stimulus",
    "x_limits",
]

#: ``gid`` of the artists that mark the stimulus period, so tests and later editing can find them.
STIMULUS_GID = "stimulus"


def new_axes(ax: Axes | None, size: str | tuple[float, float]) -> tuple[Figure, Axes]:
    """Return ``ax`` and its figure, or a new single-axes figure of ``size`` (call inside ``figure_style``).

    A bare :class:`~matplotlib.figure.Figure` is used rather than ``pyplot``: it needs no GUI backend, is
    not kept alive by pyplot's registry (no leak when a workflow draws hundreds of figures) and still
    displays in Jupyter.
    """
    if ax is not None:
        figure = ax.get_figure()
        if not isinstance(figure, Figure):
            raise TypeError("ax must belong to a matplotlib Figure.")
        return figure, ax
    figure = Figure(figsize=figure_size(size), layout="constrained")
    return figure, figure.add_subplot()


def shade_stimulus(ax: Axes, intervals: Iterable[tuple[float, float]] | None) -> int:
    """Shade each (onset_ms, offset_ms) interval behind the data; return how many were drawn.

    Only the first span gets the legend label "stimulus", so the legend has one entry however many
    presentations there are.
    """
    count = 0
    for onset, offset in intervals or ():
        if not offset > onset:
            raise ValueError(f"A stimulus interval must end after it starts, got ({onset}, {offset}) ms.")
        span = ax.axvspan(
            onset,
            offset,
            color=STIMULUS_COLOR,
            linewidth=0,
            zorder=0,
            label="stimulus" if count == 0 else "_nolegend_",
        )
        span.set_gid(STIMULUS_GID)
        count += 1
    return count


#: Height of one condition's stimulus bar, as a fraction of the axes height.
_BAR_HEIGHT = 0.025


def mark_stimuli(
    ax: Axes,
    intervals: Iterable[tuple[float, float]] | Mapping[str, Iterable[tuple[float, float]]] | None,
    colors: Mapping[str, str] | None = None,
) -> int:
    """Mark the stimulus period(s): shade one shared timing, or, for a mapping level -> intervals (conditions
    with different timings), draw a thin bar per condition in its line colour in a strip above the axes (never over
    the data), the first condition lowest.

    Returns the number of periods marked.
    """
    if intervals is None or not isinstance(intervals, Mapping):
        return shade_stimulus(ax, intervals)
    count = 0
    for row, (level, spans) in enumerate(intervals.items()):
        color = (colors or {}).get(str(level), STIMULUS_COLOR)
        bottom = 1.02 + row * 1.6 * _BAR_HEIGHT
        for onset, offset in spans:
            bar = ax.axvspan(
                onset, offset, ymin=bottom, ymax=bottom + _BAR_HEIGHT, color=color, linewidth=0, alpha=0.9,
                clip_on=False,
            )
            bar.set_gid(STIMULUS_GID)
            count += 1
    if count:
        ax.text(
            1.0, 1.02 + len(intervals) * 1.6 * _BAR_HEIGHT, "stimulus", transform=ax.transAxes,
            ha="right", va="bottom", fontsize=5.5, color="0.35",
        )
    return count


def check_one_row_per_time(
    measure: pd.DataFrame, keys: Sequence[str], *, what: str, known: Sequence[str]
) -> None:
    """Raise :class:`TableError` unless ``measure`` has one row per ``keys`` (e.g. per area and time).

    Several rows per line mean the measure was grouped by more columns than the plot shows; the error names
    those columns (any not in ``known``) so the user can filter or drop them.
    """
    require_columns(measure, keys, what=what)
    duplicated = measure.duplicated(list(keys))
    if duplicated.any():
        extra = [str(column) for column in measure.columns if column not in (*known, *keys)]
        raise TableError(
            f"{what} needs one row per {tuple(keys)}, but the measure has {int(duplicated.sum())} repeated "
            f"row(s) (first at {tuple(measure.loc[duplicated, list(keys)].iloc[0])}). It was probably grouped by "
            f"further column(s) {extra}: select one level of them first, or pass one of them as hue."
        )


def x_limits(
    times: np.ndarray, intervals: list[tuple[float, float]] | Mapping[str, list[tuple[float, float]]]
) -> tuple[float, float]:
    """Time range (ms) covering the data and every stimulus interval (a shaded span is never cut off)."""
    low, high = float(times.min()), float(times.max())
    spans = [span for group in intervals.values() for span in group] if isinstance(intervals, Mapping) else intervals
    for onset, offset in spans:
        low, high = min(low, onset), max(high, offset)
    return (low, high) if high > low else (low - 0.5, high + 0.5)


def new_figure(ax: Axes | None, size: str | tuple[float, float], *, what: str) -> Figure:
    """A new constrained-layout figure of ``size``; multi-panel plots cannot draw into a given ``ax``."""
    if ax is not None:
        raise ValueError(f"{what} draws several panels and cannot draw into a given ax; leave ax=None.")
    return Figure(figsize=figure_size(size), layout="constrained")


def level_colors(column: str | None, levels: Iterable[object]) -> dict[str, str]:
    """Colours per level (as strings): fixed area colours for ``"area"``, the palette in order otherwise."""
    return area_colors(levels) if column == "area" else category_colors(levels)


def error_bounds(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """Lower and upper error bounds of a summary: ``low``/``high`` when present, else ``mean ∓ sem``.

    ``None`` when the table has neither (the plot then draws no error bars).
    """
    if "low" in frame.columns and "high" in frame.columns:
        return frame["low"].to_numpy(dtype="float64"), frame["high"].to_numpy(dtype="float64")
    if "sem" in frame.columns:
        mean, sem = frame["mean"].to_numpy(dtype="float64"), frame["sem"].to_numpy(dtype="float64")
        return mean - sem, mean + sem
    return None


def panel_label(ax: Axes, letter: str) -> None:
    """Write a bold panel letter (A, B, ...) at the top left corner, outside the axes."""
    ax.text(
        -0.02,
        1.02,
        letter,
        transform=ax.transAxes,
        fontweight="bold",
        fontsize=10,
        ha="right",
        va="bottom",
    )
