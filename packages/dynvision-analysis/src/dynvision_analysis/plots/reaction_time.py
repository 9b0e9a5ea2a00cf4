"""Reaction times: the speed-accuracy trade-off over confidence thresholds and accuracy against reaction time."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..style import CHANCE_COLOR, figure_style
from ..tables import require_columns
from ._common import check_one_row_per_time, level_colors, new_axes, new_figure, panel_label
from .measures import GUIDE_GID, MARKERS, NOTE_GID

__all__ = ["plot_reaction_times"]

#: Columns of :func:`~dynvision_analysis.measures.speed_accuracy` and
#: :func:`~dynvision_analysis.measures.accuracy_by_reaction_time` that are not grouping columns.
_SPEED_COLUMNS = ("threshold", "n_trials", "n_decided", "fraction_decided", "mean_rt_ms", "rt_sem_ms",
                  "median_rt_ms", "accuracy", "accuracy_sem")
_BIN_COLUMNS = ("bin", "rt_low_ms", "rt_high_ms", "mean_rt_ms", "n", "accuracy", "sem", "n_trials", "n_undecided")
_RT_LABEL = "mean reaction time (ms from onset)"
_ACCURACY_LABEL = "accuracy of decisions"
#: The points, lines and error bars of both panels.
_LINE_STYLE = {"markersize": 3.5, "linewidth": 1.2, "capsize": 1.5, "elinewidth": 0.8}


def _levels(frame: pd.DataFrame, hue: str | None, colors: dict[str, str]) -> list[tuple[int, str, pd.DataFrame]]:
    """``(position, level, rows)`` per level of ``hue`` in ``frame``; the position (marker) is the level's place
    in ``colors``, so a level keeps its colour and marker in both panels."""
    if hue is None:
        return [(0, "", frame)]
    names = frame[hue].astype("object").map(str)
    return [(position, level, frame[names == level]) for position, level in enumerate(colors) if (names == level).any()]


def _check_n_classes(n_classes: int | None) -> None:
    if n_classes is not None and (isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2):
        raise ValueError(f"n_classes must be an integer of at least 2 (chance = 1/n_classes), got {n_classes!r}.")


def _chance(axes: Axes, n_classes: int | None) -> None:
    if n_classes is not None:
        guide = axes.axhline(
            1.0 / n_classes, color=CHANCE_COLOR, linestyle=":", linewidth=1.0, label=f"chance (1/{n_classes})"
        )
        guide.set_gid(GUIDE_GID)


def _draw_speed(axes: Axes, speed: pd.DataFrame, hue: str | None, colors: dict[str, str]) -> None:
    for position, level, rows in _levels(speed, hue, colors):
        rows = rows.sort_values("threshold")
        rt = rows["mean_rt_ms"].to_numpy(dtype="float64")
        accuracy = rows["accuracy"].to_numpy(dtype="float64")
        axes.errorbar(
            rt,
            accuracy,
            xerr=np.nan_to_num(rows["rt_sem_ms"].to_numpy(dtype="float64")),
            yerr=np.nan_to_num(rows["accuracy_sem"].to_numpy(dtype="float64")),
            color=colors[level],
            marker=MARKERS[position % len(MARKERS)],
            label=level or None,
            **_LINE_STYLE,
        )
        # The thresholds of the first line, with the share of its trials that decide where some never do:
        # undecided trials are left out of the accuracy, so the reader must see how many there are.
        for index, (threshold, x, y, fraction) in enumerate(zip(
            rows["threshold"], rt, accuracy, rows["fraction_decided"].to_numpy(dtype="float64"), strict=True
        )):
            if position != 0 or not (np.isfinite(x) and np.isfinite(y)):
                continue  # several lines' labels would cover each other; panel B's notes count the undecided
            share = _decided_share(fraction)
            text = f"θ={threshold:g}" + (f" ({share})" if share else "")
            # Below and above the line in turn, so that the labels of neighbouring thresholds do not overlap.
            note = axes.annotate(
                text, (x, y), xytext=(3, -7 if index % 2 == 0 else 4), textcoords="offset points", fontsize=5,
                color=colors[level],
            )
            note.set_gid(NOTE_GID)


def _decided_share(fraction: float) -> str:
    """The share of trials that decide, as a label: floored (99.7% must not read 100%), and "<1%" for a share
    that floors to 0 although some trials decide (a drawn point stands for at least one decision); "" for all."""
    if fraction >= 1:
        return ""
    percent = math.floor(100 * fraction)
    return "<1%" if percent == 0 and fraction > 0 else f"{percent}%"


def _accuracy_floor(speed: pd.DataFrame, bins: pd.DataFrame | None) -> float:
    """The accuracy axis starts at 0, or, when every point and error bar lies at or above 0.5, at the 0.1 step
    below the lowest of them (so that accuracies near 1 are told apart)."""
    lows = [speed["accuracy"] - speed["accuracy_sem"].fillna(0.0)]
    if bins is not None:
        lows.append(bins["accuracy"] - bins["sem"].fillna(0.0))
    lowest = float(pd.concat(lows).min())
    return math.floor(lowest * 10) / 10 if np.isfinite(lowest) and lowest >= 0.5 else 0.0


def _draw_bins(axes: Axes, bins: pd.DataFrame, hue: str | None, colors: dict[str, str]) -> list[str]:
    """Draw accuracy per reaction-time bin; return one note per level with undecided trials."""
    notes = []
    for position, level, rows in _levels(bins, hue, colors):
        rows = rows.sort_values("bin")
        rt = rows["mean_rt_ms"].to_numpy(dtype="float64")
        accuracy = rows["accuracy"].to_numpy(dtype="float64")
        # Horizontal bars span each bin's reaction times (fastest to slowest), vertical ones ±1 SEM.
        span = np.vstack([rt - rows["rt_low_ms"].to_numpy(dtype="float64"),
                          rows["rt_high_ms"].to_numpy(dtype="float64") - rt])
        axes.errorbar(
            rt,
            accuracy,
            xerr=np.nan_to_num(span),
            yerr=np.nan_to_num(rows["sem"].to_numpy(dtype="float64")),
            color=colors[level],
            marker=MARKERS[position % len(MARKERS)],
            label=level or None,
            **_LINE_STYLE,
        )
        undecided, total = int(rows["n_undecided"].iloc[0]), int(rows["n_trials"].iloc[0])
        if undecided:
            notes.append(f"{level + ': ' if level else ''}{undecided} of {total} trials undecided")
    drawn = {level for _, level, _ in _levels(bins, hue, colors)}
    notes += [f"{level + ': ' if level else ''}no trial decides" for level in colors if level not in drawn]
    return notes


def plot_reaction_times(
    speed: pd.DataFrame,
    bins: pd.DataFrame | None = None,
    *,
    threshold: float | None = None,
    hue: str | None = None,
    n_classes: int | None = None,
    title: str | None = None,
    ax: Axes | None = None,
    size: str | tuple[float, float] | None = None,
) -> Figure:
    """The speed-accuracy trade-off and, with ``bins``, accuracy against reaction time.

    Panel A: accuracy of the decisions against the mean reaction time, one point per confidence threshold θ
    (error bars ±1 SEM both ways), the points of the first line labelled with θ and, where some trials never
    reach θ, the percentage that decide (only the first line's, so that labels never pile up). Panel B (when ``bins`` is given): accuracy in each quantile bin of
    reaction time at one θ (the conditional accuracy function) against the bin's mean reaction time; horizontal
    bars span the bin's fastest to slowest reaction time, vertical ones ±1 SEM; a note counts undecided trials.

    Parameters
    ----------
    speed:
        Output of :func:`dynvision_analysis.measures.speed_accuracy`: one row per (hue level, threshold).
    bins:
        Output of :func:`dynvision_analysis.measures.accuracy_by_reaction_time`: one row per (hue level, bin);
        ``None`` draws panel A alone.
    threshold:
        The θ of ``bins``, written in panel B's title.
    hue:
        Column whose levels are drawn as separate lines (e.g. a model or condition column, a ``by`` column of
        both measures); ``None`` draws one line.
    n_classes:
        Number of classes; draws chance accuracy 1/n_classes. ``None`` draws none.
    title:
        Figure title.
    ax:
        Axes to draw panel A into (only without ``bins``).
    size:
        Figure size name or (width, height) in inches; default ``"single"`` for one panel, 6.6 x 2.8 for two.

    Returns
    -------
    matplotlib.figure.Figure
        Accuracy from 0 to 1 (from the 0.1 step below the lowest point when all lie at or above 0.5 and no
        chance level is drawn); reaction times in ms from the stimulus onset.
    """
    what = "plot_reaction_times"
    require_columns(speed, ["threshold", "mean_rt_ms", "rt_sem_ms", "accuracy", "accuracy_sem",
                            "fraction_decided"], what=what)
    check_one_row_per_time(speed, ["threshold"] if hue is None else [hue, "threshold"], what=what,
                           known=_SPEED_COLUMNS)
    if bins is not None:
        require_columns(bins, ["bin", "rt_low_ms", "rt_high_ms", "mean_rt_ms", "accuracy", "sem", "n_trials",
                               "n_undecided"], what=what)
        check_one_row_per_time(bins, ["bin"] if hue is None else [hue, "bin"], what=what, known=_BIN_COLUMNS)
    _check_n_classes(n_classes)
    with figure_style():
        if bins is None:
            figure, speed_axes = new_axes(ax, size or "single")
            panels = [speed_axes]
        else:
            figure = new_figure(ax, size or (6.6, 2.8), what=what)
            speed_axes, bins_axes = figure.subplots(1, 2, sharey=True)
            panels = [speed_axes, bins_axes]
        # One colour per level across both panels (a level may lack bins where none of its trials decide).
        levels = pd.concat([frame[hue] for frame in (speed, bins) if frame is not None]) if hue else pd.Series([""])
        colors = level_colors(hue, levels.astype("object").map(str))
        _draw_speed(speed_axes, speed, hue, colors)
        speed_axes.set_xlabel(_RT_LABEL)
        speed_axes.set_ylabel(_ACCURACY_LABEL)
        speed_axes.set_title("speed vs accuracy")
        if bins is not None:
            notes = _draw_bins(bins_axes, bins, hue, colors)
            bins_axes.set_xlabel("reaction time (ms from onset)")
            bins_axes.set_title("by RT quantile" + (f", θ={threshold:g}" if threshold is not None else ""))
            if notes:
                # Below the x axis label, so that it never covers data; constrained layout makes room for it.
                note = bins_axes.annotate(
                    "\n".join(notes), xy=(0.0, 0.0), xycoords=(bins_axes.transAxes, bins_axes.xaxis.label),
                    xytext=(0.0, -3.0), textcoords="offset points", ha="left", va="top", fontsize=6,
                    color="0.25", annotation_clip=False,
                )
                note.set_gid(NOTE_GID)
            bins_axes.tick_params(labelleft=True)
        low = _accuracy_floor(speed, bins) if n_classes is None else 0.0
        for letter, axes in zip("AB", panels, strict=False):
            _chance(axes, n_classes)
            axes.set_ylim(low - 0.02, 1.02)
            if len(panels) > 1:
                panel_label(axes, letter)
        if hue is not None or n_classes is not None:
            # Panel A's entries: every level has a line there, while a level whose trials never decide at θ has
            # none in panel B.
            handles, labels = speed_axes.get_legend_handles_labels()
            panels[-1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 1.0), title=hue)
        if title:
            figure.suptitle(title)
    return figure
