"""A summarized measure against a swept parameter: the dynamics panel figure and performance curves.

These plots take the tidy output of :func:`dynvision_analysis.summarize` (columns ``*by, measure, mean, sem,
low, high``), or any table with ``mean`` and either ``low``/``high`` or ``sem``, and draw the mean against a
parameter column with error bars, one line per level of ``hue``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.transforms import ScaledTranslation

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

__all__ = ["honest_limits", "plot_dynamics", "plot_measure", "plot_performance"]

_SUMMARY_COLUMNS = ("measure", "mean", "sem", "n", "low", "high", "error_bars")
#: ``gid`` of a reference line (chance, linear prediction, full recovery).
GUIDE_GID = "guide"
#: ``gid`` of the text that states an effect size or why values are missing.
NOTE_GID = "note"
#: Marker and line style per hue level (in level order), so that lines stay apart in grey print and where
#: colours are hard to tell apart; the reference level keeps its dashed grey line.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", (0, (4, 1.5)), (0, (1, 1)), (0, (4, 1.5, 1, 1.5)))
#: Horizontal offset between the hue levels' markers, in points: levels with equal values (e.g. V1 and V2)
#: are drawn side by side instead of one hiding the other. An offset in points moves nothing in data units.
DODGE_POINTS = 4.0


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
    dodge: float = DODGE_POINTS,
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
    dodge:
        Horizontal offset between successive hue levels in points (not data units): levels with equal values
        are drawn side by side instead of on top of each other. 0 draws them at the same x.

    Each hue level has its own colour, marker and line style, so no level hides another.

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
        centre = (len(groups) - 1) / 2
        for position, (level, rows) in enumerate(groups):
            shift = ScaledTranslation((position - centre) * dodge / 72.0, 0.0, figure.dpi_scale_trans)
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
                marker=MARKERS[position % len(MARKERS)],
                markersize=3.5,
                linestyle="--" if is_reference else LINESTYLES[position % len(LINESTYLES)],
                linewidth=1.2,
                capsize=1.5,
                elinewidth=0.8,
                label=f"{level} (reference)" if is_reference else level,
                transform=axes.transData + shift,
            )
            # Artists with an offset transform do not extend the data limits: add the points themselves.
            ys = [mean] if bounds is None else [mean, bounds[0], bounds[1]]
            points = np.column_stack([np.tile(xs, len(ys)), np.concatenate(ys)])
            axes.update_datalim(points[np.isfinite(points).all(axis=1)])
            axes.autoscale_view()
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
    ("summation", "normalized", "duration_ms", "summed response (norm. to max)", "temporal summation"),
    ("latency", "latency_ms", "contrast", "time to half-max (ms from onset)", "latency vs contrast"),
    ("recovery", "peak_ratio", "isi_ms", "peak ratio (2nd / 1st)", "recovery from adaptation"),
)


def honest_limits(
    low: float, high: float, *, include: Sequence[float] = (), min_span: float = 0.0, pad: float = 0.05
) -> tuple[float, float]:
    """Axis limits for data in [low, high] that do not exaggerate a small effect.

    The limits cover the data, every value in ``include`` (a reference such as 0 or a ratio of 1) and at
    least ``min_span`` (in data units, grown upwards), plus ``pad`` of the span on each side except at an
    included value that bounds the data (a ratio axis starts at exactly 0).
    """
    values = [value for value in (low, high, *include) if np.isfinite(value)]
    if not values:
        return (0.0, 1.0)
    bottom, top = min(values), max(values)
    if top - bottom < min_span:
        top = bottom + min_span
    if not top > bottom:
        top = bottom + 1.0
    margin = pad * (top - bottom if top > bottom else 1.0)
    return (bottom if bottom in include else bottom - margin, top if top in include else top + margin)


def _data_range(summary: pd.DataFrame) -> tuple[float, float]:
    """Smallest and largest value drawn: the means and their error bounds (NaN ignored)."""
    bounds = error_bounds(summary)
    columns = [summary["mean"].to_numpy(dtype="float64"), *(bounds or ())]
    values = np.concatenate(columns)
    values = values[np.isfinite(values)]
    return (float(values.min()), float(values.max())) if values.size else (np.nan, np.nan)


def _by_level(frame: pd.DataFrame, hue: str | None, x: str) -> dict[str, pd.DataFrame]:
    if hue is None:
        return {"": frame.sort_values(x)}
    levels = frame[hue].astype("object").map(str)
    return {level: frame[levels == level].sort_values(x) for level in level_colors(hue, levels)}


def _effect_lines(name: str, frame: pd.DataFrame, hue: str | None, x: str) -> list[str]:
    """One line per hue level stating the panel's effect size in its unit (empty where it has none)."""
    lines = []
    for level, rows in _by_level(frame, hue, x).items():
        rows = rows[np.isfinite(rows["mean"].to_numpy(dtype="float64"))]
        if rows.empty:
            continue
        prefix = f"{level}: " if level else ""
        mean = rows["mean"].to_numpy(dtype="float64")
        if name == "latency" and len(rows) > 1:
            # Lowest minus highest x (contrast): positive when the response comes later at low contrast.
            lines.append(f"{prefix}{mean[0] - mean[-1]:+.2g} ms")
        elif name == "recovery":
            lines.append(f"{prefix}{100 * (1 - mean.min()):.0f}%")
    return lines


_EFFECT_TITLES = {
    "latency": "Δ latency, lowest − highest contrast",
    "recovery": "max. suppression, 1 − min ratio",
}


def plot_dynamics(
    *,
    summation: pd.DataFrame | None = None,
    latency: pd.DataFrame | None = None,
    recovery: pd.DataFrame | None = None,
    hue: str | None = "area",
    x: Mapping[str, str] | None = None,
    size: str | tuple[float, float] | None = None,
    step_ms: float | None = None,
    notes: Mapping[str, str] | None = None,
) -> Figure:
    """The dynamics panel figure: one panel per experiment, each a summary measure against its parameter.

    * **A, summation** (duration experiment): normalised summed response (``measure == "normalized"`` from
      :func:`dynvision_analysis.temporal_summation`) against stimulus duration (``duration_ms``), with the
      linear-summation prediction (duration / longest duration) dashed: points above it show sub-additive
      temporal summation. Both axes start at 0; the vertical one ends at 1 (the normalisation).
    * **B, latency** (contrast experiment): time from stimulus onset to half-maximum (``latency_ms`` from
      :func:`dynvision_analysis.contrast_response`) against ``contrast`` (log axis when it spans a decade).
      The axis starts at 0 ms and spans at least two time steps (``step_ms``), so a sub-step difference is
      not blown up to fill it; the text states the latency difference between lowest and highest contrast.
    * **C, recovery** (interval experiment): paired-pulse ratio (``peak_ratio`` from
      :func:`dynvision_analysis.peak_ratio`) against the inter-stimulus interval ``isi_ms``, with full
      recovery (ratio 1) dotted. The axis runs from 0 to at least 1.1, and the text states the largest
      suppression (1 − smallest ratio) in percent.

    Each hue level (area) has its own colour, marker and line style, and the levels are drawn side by side
    (a small offset in points), so an area with the same values as another is not hidden under it.

    Each argument is a summary from :func:`dynvision_analysis.summarize` grouped by ``hue`` and the panel's
    x column; leave out the experiments you do not have (at least one is needed). ``x`` overrides the x
    column per panel, e.g. ``x={"latency": "paradigm_contrast"}``. ``step_ms`` is the model's time step in
    ms (the latency resolution); ``notes`` maps a panel name to a sentence written in it, e.g. how many
    latencies were not resolvable and why.

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
    unknown = sorted(set(notes or {}) - set(given))
    if unknown:
        raise ValueError(f"{what}: notes= has unknown panel(s) {unknown}; panels are {list(given)}.")
    if step_ms is not None and not step_ms > 0:
        raise ValueError(f"{what}: step_ms must be a positive time step in ms, got {step_ms!r}.")
    figure = new_figure(None, size or (2.6 * len(panels) + 0.9, 2.6), what=what)
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
            frame = _select_measure(summary, measure, what=what)
            low, high = _data_range(frame)
            if name == "summation":
                longest = float(frame[column].max())
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
                axes.set_ylim(*honest_limits(low, high, include=(0.0, 1.0)))
            elif name == "latency":
                values = frame[column]
                if (values > 0).all() and values.max() / values.min() >= 10:
                    axes.set_xscale("log")
                span = 2.0 * step_ms if step_ms is not None else 0.0
                axes.set_ylim(*honest_limits(low, high, include=(0.0,), min_span=span))
                if step_ms is not None:
                    axes.axhline(step_ms, color=CHANCE_COLOR, linestyle=":", linewidth=0.8, zorder=0.5)
                    axes.text(
                        0.97, step_ms, "1 step", transform=axes.get_yaxis_transform(), ha="right",
                        va="bottom", fontsize=6, color=CHANCE_COLOR,
                    )
            elif name == "recovery":
                guide = axes.axhline(1.0, color=CHANCE_COLOR, linestyle=":", linewidth=1.0)
                guide.set_gid(GUIDE_GID)
                axes.set_ylim(*honest_limits(low, high, include=(0.0, 1.0), min_span=1.1))
            _write_notes(axes, name, frame, hue, column, (notes or {}).get(name))
            panel_label(axes, "ABC"[index])
    return figure


def _write_notes(
    axes: Axes, name: str, frame: pd.DataFrame, hue: str | None, column: str, note: str | None
) -> None:
    """State the panel's effect size per level, and a note (e.g. why values are missing), inside the axes."""
    lines = _effect_lines(name, frame, hue, column)
    text = []
    if lines:
        text.append(_EFFECT_TITLES[name] + ":")
        text.append(", ".join(lines))
    if not np.isfinite(frame["mean"].to_numpy(dtype="float64")).any():
        text.append("no value to draw")
    if note:
        text.append(note)
    if text:
        # Below the x axis label, so that it never covers data; constrained layout makes room for it.
        written = axes.annotate(
            "\n".join(text),
            xy=(0.0, 0.0),
            xycoords=(axes.transAxes, axes.xaxis.label),
            xytext=(0.0, -3.0),
            textcoords="offset points",
            ha="left",
            va="top",
            fontsize=6,
            color="0.25",
            annotation_clip=False,
        )
        written.set_gid(NOTE_GID)


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
