"""A summarized measure against a swept parameter: the dynamics panel figure and performance curves.

These plots take the tidy output of :func:`dynvision_analysis.summarize` (columns ``*by, measure, mean, sem,
low, high``), or any table with ``mean`` and either ``low``/``high`` or ``sem``, and draw the mean against a
parameter column with error bars, one line per level of ``hue``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..style import CHANCE_COLOR, REFERENCE_COLOR, axis_label, figure_style
from ..tables import TableError, require_columns
from ._common import (
    check_one_row_per_time,
    error_bounds,
    level_colors,
    new_axes,
    new_figure,
    panel_label,
)

__all__ = ["plot_dynamics", "plot_measure", "plot_performance"]

_SUMMARY_COLUMNS = ("measure", "mean", "sem", "n", "low", "high", "error_bars")
#: ``gid`` of a reference line (chance, linear prediction, full recovery).
GUIDE_GID = "guide"


def _select_measure(summary: pd.DataFrame, measure: str | None, *, what: str) -> pd.DataFrame:
    if "measure" not in summary.columns:
        return summary
    available = [str(name) for name in summary["measure"].unique()]
    if measure is None:
        if len(available) > 1:
            raise TableError(
                f"{what}: the summary holds several measures {available}; pass measure= to pick one."
            )
        return summary
    if measure not in available:
        raise TableError(
            f"{what} needs the measure {measure!r} in the summary's 'measure' column, which has {available}. "
            f"Summarize it first, e.g. summarize(table, {measure!r}, by=...)."
        )
    return summary[summary["measure"] == measure]


def _levels(frame: pd.DataFrame, hue: str) -> list[str]:
    return list(level_colors(hue, frame[hue].astype("object").map(str)))


def plot_measure(
    summary: pd.DataFrame,
    x: str,
    *,
    measure: str | None = None,
    hue: str | None = "area",
    reference: object | None = None,
    chance: float | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    log_x: bool = False,
    title: str | None = None,
    ax: Axes | None = None,
    size: str | tuple[float, float] = "single",
) -> Figure:
    """Plot a summarized measure (mean with error bars) against the parameter column ``x``.

    Parameters
    ----------
    summary:
        Output of :func:`dynvision_analysis.summarize` with ``x`` among its ``by`` columns, or any table with
        ``x``, ``mean`` and ``low``/``high`` (or ``sem``; error bars ±1 SEM). One row per (hue level, x).
    x:
        Column of the swept parameter on the horizontal axis (numeric), e.g. ``"duration_ms"``, ``"ssnr"``.
    measure:
        Which measure of a multi-measure summary to draw (the ``measure`` column).
    hue:
        Column whose levels are drawn as separate lines (e.g. ``"area"``, or a recurrence type); ``None``
        draws one line.
    reference:
        A level of ``hue`` drawn dashed in grey as the baseline to compare with (e.g. the model without
        recurrence, ``"none"``).
    chance:
        Draw a dotted horizontal line at this value (e.g. chance accuracy 1/n_classes).
    xlabel, ylabel:
        Axis labels; by default from :data:`dynvision_analysis.style.LABELS` (with units).
    log_x:
        Logarithmic horizontal axis (e.g. for contrast).
    title, ax, size:
        As in :func:`dynvision_analysis.plots.plot_responses`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    what = "plot_measure"
    frame = _select_measure(summary, measure, what=what)
    require_columns(frame, [x, "mean"], what=what)
    if measure is None and "measure" in frame.columns:
        measure = str(frame["measure"].iloc[0])
    keys = [x] if hue is None else [hue, x]
    check_one_row_per_time(frame, keys, what=what, known=_SUMMARY_COLUMNS)
    if not pd.api.types.is_numeric_dtype(frame[x]):
        raise TableError(f"{what} needs a numeric x column; {x!r} has dtype {frame[x].dtype}.")
    with figure_style():
        figure, axes = new_axes(ax, size)
        if hue is None:
            groups = [(measure or "mean", frame)]
            colors = level_colors(None, [measure or "mean"])
        else:
            levels = frame[hue].astype("object").map(str)
            colors = level_colors(hue, levels)
            groups = [(level, frame[levels == level]) for level in colors]
        for level, rows in groups:
            rows = rows.sort_values(x)
            xs = rows[x].to_numpy(dtype="float64")
            mean = rows["mean"].to_numpy(dtype="float64")
            is_reference = reference is not None and level == str(reference)
            color = REFERENCE_COLOR if is_reference else colors[level]
            bounds = error_bounds(rows)
            yerr = None if bounds is None else np.abs(np.vstack([mean - bounds[0], bounds[1] - mean]))
            axes.errorbar(
                xs,
                mean,
                yerr=None if yerr is None else np.nan_to_num(yerr),
                color=color,
                marker="o",
                markersize=3.5,
                linestyle="--" if is_reference else "-",
                capsize=1.5,
                elinewidth=0.8,
                label=f"{level} (reference)" if is_reference else level,
            )
        if chance is not None:
            guide = axes.axhline(chance, color=CHANCE_COLOR, linestyle=":", linewidth=1.0, label="chance")
            guide.set_gid(GUIDE_GID)
        if log_x:
            axes.set_xscale("log")
        axes.set_xlabel(xlabel or axis_label(x))
        axes.set_ylabel(ylabel or axis_label(measure or "mean"))
        if title:
            axes.set_title(title)
        if hue is not None or chance is not None:
            axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), title=hue)
    return figure


#: The panels of :func:`plot_dynamics`: (argument, measure, default x, y label, title).
_DYNAMICS_PANELS = (
    ("summation", "normalized", "duration_ms", "normalised summed response", "temporal summation"),
    ("latency", "latency_ms", "contrast", "latency (ms)", "contrast-dependent latency"),
    ("recovery", "peak_ratio", "isi_ms", "peak ratio (2nd / 1st)", "recovery from adaptation"),
)


def plot_dynamics(
    *,
    summation: pd.DataFrame | None = None,
    latency: pd.DataFrame | None = None,
    recovery: pd.DataFrame | None = None,
    hue: str | None = "area",
    x: Mapping[str, str] | None = None,
    size: str | tuple[float, float] | None = None,
) -> Figure:
    """The dynamics panel figure: one panel per experiment, each a summary measure against its parameter.

    * **A, summation** (duration experiment): normalised summed response (``measure == "normalized"`` from
      :func:`dynvision_analysis.temporal_summation`) against stimulus duration (``duration_ms``), with the
      linear-summation prediction (duration / longest duration) dashed: points above it show sub-additive
      temporal summation.
    * **B, latency** (contrast experiment): response latency (``latency_ms`` from
      :func:`dynvision_analysis.contrast_response`) against ``contrast`` (log axis): contrast-dependent timing.
    * **C, recovery** (interval experiment): paired-pulse ratio (``peak_ratio`` from
      :func:`dynvision_analysis.peak_ratio`) against the inter-stimulus interval ``isi_ms``, with full
      recovery (ratio 1) dotted: adaptation and its recovery.

    Each argument is a summary from :func:`dynvision_analysis.summarize` grouped by ``hue`` and the panel's
    x column; leave out the experiments you do not have (at least one is needed). ``x`` overrides the x
    column per panel, e.g. ``x={"latency": "paradigm_contrast"}``.

    Returns
    -------
    matplotlib.figure.Figure
        One row of panels labelled A, B, C in the order above.
    """
    what = "plot_dynamics"
    given = {"summation": summation, "latency": latency, "recovery": recovery}
    panels = [panel for panel in _DYNAMICS_PANELS if given[panel[0]] is not None]
    if not panels:
        raise ValueError(f"{what} needs at least one of summation=, latency= or recovery= (summary tables).")
    columns = dict(x or {})
    unknown = sorted(set(columns) - set(given))
    if unknown:
        raise ValueError(f"{what}: x= has unknown panel(s) {unknown}; panels are {list(given)}.")
    figure = new_figure(None, size or (2.5 * len(panels) + 0.9, 2.3), what=what)
    with figure_style():
        grid = figure.subplots(1, len(panels), squeeze=False)[0]
        for index, (axes, (name, measure, default_x, ylabel, title)) in enumerate(
            zip(grid, panels, strict=True)
        ):
            column = columns.get(name, default_x)
            summary = given[name]
            assert summary is not None
            plot_measure(summary, column, measure=measure, hue=hue, ylabel=ylabel, title=title, ax=axes)
            legend = axes.get_legend()
            if legend is not None and index < len(panels) - 1:
                legend.remove()  # one legend, at the last panel
            if name == "summation":
                longest = float(_select_measure(summary, measure, what=what)[column].max())
                guide = axes.plot(
                    [0.0, longest],
                    [0.0, 1.0],
                    color=REFERENCE_COLOR,
                    linestyle="--",
                    linewidth=1.0,
                    label="linear",
                    zorder=0.8,
                )[0]
                guide.set_gid(GUIDE_GID)
                axes.text(
                    0.97,
                    0.04,
                    "dashed: linear",
                    transform=axes.transAxes,
                    ha="right",
                    fontsize=6,
                    color=REFERENCE_COLOR,
                )
                axes.set_xlim(left=0.0)
                axes.set_ylim(bottom=0.0)
            elif name == "latency":
                values = _select_measure(summary, measure, what=what)[column]
                if (values > 0).all() and values.max() / values.min() >= 10:
                    axes.set_xscale("log")
            elif name == "recovery":
                guide = axes.axhline(1.0, color=CHANCE_COLOR, linestyle=":", linewidth=1.0)
                guide.set_gid(GUIDE_GID)
            panel_label(axes, "ABC"[index])
    return figure


def plot_performance(
    summary: pd.DataFrame,
    x: str,
    *,
    hue: str | None = None,
    measure: str | None = None,
    reference: object | None = None,
    n_classes: int | None = None,
    ylabel: str = "accuracy",
    xlabel: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
    size: str | tuple[float, float] = "single",
) -> Figure:
    """Performance (e.g. accuracy) against a swept parameter such as the noise level, per model type.

    ``summary`` holds one mean per (hue level, x), e.g. per recurrence type and noise level: summarize the
    peak accuracy over time of each seed (:func:`dynvision_analysis.response_peaks` on the accuracy curves
    of :func:`dynvision_analysis.accuracy_over_time`, ``value="accuracy"``) across seeds. The model without
    recurrence is compared by passing its level as ``reference`` (drawn dashed, grey); ``n_classes`` adds
    the chance level 1/n_classes. The vertical axis is fixed to 0–1.
    """
    if n_classes is not None and (
        isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2
    ):
        raise ValueError(
            f"n_classes must be an integer of at least 2 (chance = 1/n_classes), got {n_classes!r}."
        )
    figure = plot_measure(
        summary,
        x,
        measure=measure,
        hue=hue,
        reference=reference,
        chance=None if n_classes is None else 1.0 / n_classes,
        xlabel=xlabel,
        ylabel=ylabel,
        title=title,
        ax=ax,
        size=size,
    )
    axes = ax if ax is not None else figure.axes[0]
    axes.set_ylim(-0.02, 1.02)
    return figure
