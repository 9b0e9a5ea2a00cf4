"""The temporal-dynamics study's figures: the three phenomena per model variant beside human ECoG, and the effects.

Both take the tables of :func:`dynvision_analysis.study_table`. Variants are named ``RECURRENCE-LOSS`` (e.g.
``full-strong``: full recurrence trained with a strong activity loss; ``none-0``: the feed-forward control);
other names (e.g. ``adaptation``) are variants of their own. The figure groups the variants into columns by the
activity-loss part and colours them by the recurrence part, with the same colour in every panel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullFormatter

from ..measures.study import EFFECTS, PHENOMENA
from ..style import OKABE_ITO, REFERENCE_COLOR, area_colors, figure_style
from ..tables import TableError, order_areas, require_columns
from ._common import new_figure
from .measures import honest_limits

__all__ = ["LOSS_GROUPS", "STUDY_FIGURE_COLUMNS", "plot_study", "plot_study_effects", "variant_parts"]

#: The activity-loss parts of variant names, in column order; any other name goes to the "other" column.
LOSS_GROUPS: tuple[str, ...] = ("0", "small", "strong")
OTHER_GROUP = "other"
#: Column titles of the loss groups.
_GROUP_TITLES = {
    "0": "no activity loss",
    "small": "small activity loss",
    "strong": "strong activity loss",
    OTHER_GROUP: "other variants",
}
#: Known recurrence parts, in legend order, with their legend names and colours; ``none`` is the feed-forward
#: control (grey, dashed). Black is kept for the human reference.
_RECURRENCES = {
    "full": ("full recurrence", OKABE_ITO["blue"]),
    "self": ("self recurrence", OKABE_ITO["orange"]),
    "local": ("local recurrence", OKABE_ITO["bluish_green"]),
    "none": ("feed-forward (none)", REFERENCE_COLOR),
}
#: Colours of other variants (e.g. ``adaptation``), in order of appearance.
_OTHER_COLORS = tuple(OKABE_ITO[name] for name in ("vermillion", "reddish_purple", "sky_blue", "yellow"))
#: Label and colour of the human reference.
HUMAN_LABEL = "human (Groen et al. 2022)"
HUMAN_COLOR = OKABE_ITO["black"]
_HUMAN_MARKERS = ("o", "s", "D", "^")
#: ``gid`` of the artists, so that tests and later editing can find them.
HUMAN_GID = "human"
GUIDE_GID = "guide"
BAND_GID = "ci band"

#: Per phenomenon, the panel: (measure, y label, x label, guide, row title).
_PANELS = {
    "repetition": (
        "peak_ratio",
        "peak ratio, 2nd / 1st\n(a.u. / a.u.)",
        "gap / duration of the first stimulus (ms / ms)",
        "ratio 1: no suppression",
        "Repetition: the second response against the gap",
    ),
    "duration": (
        "normalized_summed",
        "summed response / largest\n(a.u.·ms / a.u.·ms)",
        "stimulus duration / longest duration (ms / ms)",
        "dashed: linear summation",
        "Duration: summed response against stimulus duration",
    ),
    "contrast": (
        "relative_time_to_peak",
        "time to peak / at full contrast\n(ms / ms)",
        "contrast (fraction of the image's contrast, log scale)",
        "ratio 1: same timing as at full contrast",
        "Contrast: time to peak against contrast",
    ),
}

#: Per effect: (panel title, x label with unit).
_EFFECT_LABELS = {
    "suppression": ("repetition suppression", "1 − peak ratio at the\nshortest gap (unitless)"),
    "recovery": ("recovery with the gap", "peak ratio, longest −\nshortest gap (unitless)"),
    "subadditivity": ("sub-additive summation", "normalised summed − linear,\nshortest duration (unitless)"),
    "timing_shift_ms": ("contrast: time to peak", "time to peak, lowest −\nhighest contrast (ms)"),
    "latency_shift_ms": ("contrast: time to half-max", "time to half-max, lowest −\nhighest contrast (ms)"),
}
#: Ticks of the (log) contrast axis.
_CONTRAST_TICKS = (0.05, 0.1, 0.2, 0.5, 1.0)
#: Columns of the study table that :func:`plot_study` reads (``ci`` too, when present).
STUDY_FIGURE_COLUMNS = ("variant", "area", "phenomenon", "measure", "normalized_condition", "value", "low", "high")
_REFERENCE_COLUMNS = ("phenomenon", "measure", "normalized_condition", "value")
_EFFECT_COLUMNS = ("variant", "area", "effect", "value", "low", "high", "shows")


def variant_parts(variant: str) -> tuple[str, str]:
    """``(recurrence, loss group)`` of a variant name: ``"full-strong"`` -> ``("full", "strong")``; a name that is
    not ``RECURRENCE-LOSS`` with a loss in :data:`LOSS_GROUPS` is its own recurrence in the ``"other"`` group."""
    recurrence, separator, loss = str(variant).partition("-")
    if separator and loss in LOSS_GROUPS:
        return recurrence, loss
    return str(variant), OTHER_GROUP


def _recurrence_styles(variants: Sequence[str]) -> dict[str, tuple[str, str, str]]:
    """Legend name, colour and line style per recurrence part, known ones first in their order."""
    parts = list(dict.fromkeys(variant_parts(variant)[0] for variant in variants))
    known = [part for part in _RECURRENCES if part in parts]
    others = [part for part in parts if part not in _RECURRENCES]
    styles = {part: (*_RECURRENCES[part], "--" if part == "none" else "-") for part in known}
    styles.update(
        {part: (part, _OTHER_COLORS[index % len(_OTHER_COLORS)], "-") for index, part in enumerate(others)}
    )
    return styles


def _variant_order(frame: pd.DataFrame, variants_order: Sequence[str] | None, *, what: str) -> list[str]:
    present = list(dict.fromkeys(frame["variant"].astype("object").map(str)))
    if variants_order is None:
        return present
    order = [str(variant) for variant in variants_order]
    unknown = [variant for variant in order if variant not in present]
    if unknown:
        raise ValueError(f"{what}: variants_order names {unknown}, which the table lacks; it has {present}.")
    return order


def _draw_variant(axes: Axes, rows: pd.DataFrame, label: str, style: tuple[str, str, str]) -> None:
    rows = rows.sort_values("normalized_condition")
    x = rows["normalized_condition"].to_numpy(dtype="float64")
    _name, color, linestyle = style
    band = axes.fill_between(
        x, rows["low"].to_numpy(dtype="float64"), rows["high"].to_numpy(dtype="float64"),
        color=color, alpha=0.18, linewidth=0,
    )
    band.set_gid(BAND_GID)
    line = axes.plot(
        x, rows["value"].to_numpy(dtype="float64"), color=color, linestyle=linestyle, marker="o", markersize=2.2,
        linewidth=1.2, label=label,
    )[0]
    line.set_gid(f"variant:{label}")


def _draw_human(axes: Axes, reference: pd.DataFrame) -> None:
    areas = list(dict.fromkeys(reference["area"].astype("object").map(str))) if "area" in reference else [""]
    for index, area in enumerate(areas):
        rows = reference if area == "" else reference[reference["area"].astype("object").map(str) == area]
        rows = rows.sort_values("normalized_condition")
        x = rows["normalized_condition"].to_numpy(dtype="float64")
        y = rows["value"].to_numpy(dtype="float64")
        yerr = None
        if {"low", "high"} <= set(rows.columns):
            low = rows["low"].to_numpy(dtype="float64")
            high = rows["high"].to_numpy(dtype="float64")
            yerr = np.nan_to_num(np.abs(np.vstack([y - low, high - y])))
        container = axes.errorbar(
            x, y, yerr=yerr, color=HUMAN_COLOR, marker=_HUMAN_MARKERS[index % len(_HUMAN_MARKERS)], markersize=3.2,
            linewidth=1.0, elinewidth=0.7, capsize=1.2, zorder=3, label=_human_label(area),
        )
        container.lines[0].set_gid(HUMAN_GID)
        container.lines[0].set_label(_human_label(area))


def _human_label(area: str) -> str:
    return f"{HUMAN_LABEL}, {area}" if area else HUMAN_LABEL


def _limits(phenomenon: str, rows: pd.DataFrame) -> tuple[tuple[float, float], tuple[float, float] | None]:
    """Honest y limits of a row of panels (and x limits, None for automatic) from every value drawn in it."""
    values = rows[["value", "low", "high"]].to_numpy(dtype="float64").ravel()
    values = values[np.isfinite(values)]
    low, high = (float(values.min()), float(values.max())) if values.size else (np.nan, np.nan)
    if phenomenon == "repetition":
        return honest_limits(low, high, include=(0.4, 1.2)), None
    if phenomenon == "duration":
        return honest_limits(low, high, include=(0.0, 1.05)), (0.0, 1.05)
    return honest_limits(low, high, include=(0.0, 1.0)), None


def plot_study(
    table: pd.DataFrame,
    *,
    area: str,
    reference: pd.DataFrame | None = None,
    variants_order: Sequence[str] | None = None,
) -> Figure:
    """The study figure for one area: each phenomenon's measure per model variant, beside the human reference.

    Rows are the phenomena of the table (in the order of :data:`~dynvision_analysis.measures.study.PHENOMENA`):

    * **repetition**: peak ratio (2nd / 1st response) against the gap relative to the first stimulus' duration,
      with ratio 1 (no suppression) dotted; the axis spans at least 0.4–1.2;
    * **duration**: summed response relative to the largest against the duration relative to the longest, with
      the linear prediction as a dashed diagonal (points above it are sub-additive); both axes 0–1.05;
    * **contrast**: time to peak relative to that at full contrast against contrast (log axis), with 1 dotted;
      the axis starts at 0.

    Columns group the variants by their activity-loss part (``full-0``, ``full-small``, ``full-strong``, ...;
    other names such as ``adaptation`` in a last column); each variant is a line with its CI band, coloured by its
    recurrence part (the same colour in every panel). Axes are shared within a row, so columns compare directly.

    Parameters
    ----------
    table:
        The study table of :func:`dynvision_analysis.study_table` (columns variant, area, phenomenon, measure,
        normalized_condition, value, low, high; ``ci`` is written under the figure when present).
    area:
        The model area to draw, e.g. ``"V2"``.
    reference:
        Human reference values with the columns phenomenon, measure, normalized_condition, value (and optionally
        area, low, high), e.g. :func:`dynvision_analysis.reference.human_reference`; drawn in black with markers in
        every panel of its phenomenon, one series per reference area (named in the legend). ``None``: none.
    variants_order:
        The variants to draw, in order; ``None``: every variant of the table in its order.

    Returns
    -------
    matplotlib.figure.Figure
    """
    what = "plot_study"
    require_columns(table, STUDY_FIGURE_COLUMNS, what=what)
    areas = order_areas(table["area"])
    if str(area) not in areas:
        raise TableError(f"{what}: the study table has no rows for area {area!r}; its areas are {areas}.")
    rows = table[table["area"].astype("object").map(str) == str(area)]
    variants = _variant_order(rows, variants_order, what=what)
    rows = rows[rows["variant"].astype("object").map(str).isin(variants)]
    phenomena = [name for name in PHENOMENA if (rows["phenomenon"] == name).any()]
    if not phenomena:
        raise TableError(
            f"{what}: the study table has no rows of a known phenomenon ({', '.join(PHENOMENA)}) for area {area!r}."
        )
    if reference is not None:
        require_columns(reference, _REFERENCE_COLUMNS, what=f"{what} (reference)")
    groups = [group for group in (*LOSS_GROUPS, OTHER_GROUP) if any(variant_parts(v)[1] == group for v in variants)]
    styles = _recurrence_styles(variants)
    figure = new_figure(None, (min(7.2, 1.6 * len(groups) + 0.9), 2.0 * len(phenomena) + 1.0), what=what)
    with figure_style():
        title = f"Temporal dynamics of the model variants in area {area}"
        figure.suptitle(title + (", beside human visual cortex" if reference is not None else ""), fontsize=10)
        rows_figures = figure.subfigures(len(phenomena), 1, squeeze=False)[:, 0]
        humans: dict[str, Line2D] = {}
        for letter, (subfigure, phenomenon) in zip("ABC", zip(rows_figures, phenomena, strict=True), strict=False):
            measure, ylabel, xlabel, guide, row_title = _PANELS[phenomenon]
            drawn = rows[(rows["phenomenon"] == phenomenon) & (rows["measure"] == measure)]
            human = None
            if reference is not None:
                human = reference[(reference["phenomenon"] == phenomenon) & (reference["measure"] == measure)]
                human = human if not human.empty else None
            _draw_row(subfigure, phenomenon, drawn, human, groups, variants, styles, ylabel, guide)
            subfigure.supxlabel(xlabel, fontsize=8)
            subfigure.suptitle(f"{letter}   {row_title}", x=0.0, ha="left", fontsize=9, fontweight="bold")
            if human is not None:
                for line in subfigure.axes[0].get_lines():
                    if line.get_gid() == HUMAN_GID:
                        humans.setdefault(str(line.get_label()), line)
        handles = [
            Line2D([], [], color=color, linestyle=linestyle, marker="o", markersize=2.5, label=name)
            for name, color, linestyle in styles.values()
        ]
        handles += [
            Line2D([], [], color=HUMAN_COLOR, marker=line.get_marker(), markersize=3.2, label=label)
            for label, line in humans.items()
        ]
        note = _band_note(rows)
        figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize=7,
                      title=note, title_fontsize=6.5)
    return figure


def _band_note(rows: pd.DataFrame) -> str:
    """What the bands are: the table's ``ci`` texts (other than the exact linear prediction's)."""
    if "ci" not in rows.columns:
        return "bands: confidence intervals"
    texts = [str(text) for text in dict.fromkeys(rows.loc[rows["measure"] != "linear", "ci"].dropna())]
    return "bands: " + "; ".join(texts) if texts else "bands: confidence intervals"


def _draw_row(
    subfigure: SubFigure,
    phenomenon: str,
    drawn: pd.DataFrame,
    human: pd.DataFrame | None,
    groups: list[str],
    variants: list[str],
    styles: dict[str, tuple[str, str, str]],
    ylabel: str,
    guide: str,
) -> None:
    """One row of panels: one per loss group, every variant of the group as a line, the human series in each."""
    grid = subfigure.subplots(1, len(groups), sharey=True, sharex=True, squeeze=False)[0]
    every = pd.concat([drawn, *([human] if human is not None else [])], ignore_index=True)
    ylim, xlim = _limits(phenomenon, every.reindex(columns=["value", "low", "high"]))
    names = drawn["variant"].astype("object").map(str)
    for column, (axes, group) in enumerate(zip(grid, groups, strict=True)):
        members = [variant for variant in variants if variant_parts(variant)[1] == group]
        for variant in members:
            rows = drawn[names == variant]
            if not rows.empty:
                _draw_variant(axes, rows, variant, styles[variant_parts(variant)[0]])
        if human is not None:
            _draw_human(axes, human)
        if phenomenon == "duration":
            line = axes.plot([0.0, 1.0], [0.0, 1.0], color=REFERENCE_COLOR, linestyle="--", linewidth=0.9, zorder=0.8)
        else:
            line = [axes.axhline(1.0, color=REFERENCE_COLOR, linestyle=":", linewidth=0.9, zorder=0.8)]
        line[0].set_gid(GUIDE_GID)
        if phenomenon == "contrast":
            axes.set_xscale("log")
            axes.xaxis.set_major_locator(FixedLocator(_CONTRAST_TICKS))
            axes.xaxis.set_major_formatter(FormatStrFormatter("%g"))
            axes.xaxis.set_minor_formatter(NullFormatter())
        axes.set_ylim(*ylim)
        if xlim is not None:
            axes.set_xlim(*xlim)
        if column == 0:
            axes.set_ylabel(ylabel)
            axes.text(0.98, 0.02, guide, transform=axes.transAxes, ha="right", va="bottom", fontsize=5.5,
                      color=REFERENCE_COLOR)
        axes.set_title(_GROUP_TITLES[group], fontsize=8)
        axes.tick_params(labelleft=column == 0)


def plot_study_effects(effects: pd.DataFrame, *, variants_order: Sequence[str] | None = None) -> Figure:
    """A forest plot of the study's effects: which variants show each phenomenon, with the sign of the brain.

    One panel per effect of :func:`dynvision_analysis.study_table` (suppression, recovery, subadditivity,
    timing shift), the variants on the vertical axis (first at the top), and per area a point at the effect with
    its CI as a horizontal bar (one marker and colour per area, side by side). The point is filled when the
    effect is shown (the CI lies entirely above 0, the sign in human visual cortex) and open otherwise. A line
    marks 0 and the side of the brain's sign is shaded.

    Returns
    -------
    matplotlib.figure.Figure
    """
    what = "plot_study_effects"
    require_columns(effects, _EFFECT_COLUMNS, what=what)
    variants = _variant_order(effects, variants_order, what=what)
    names = [effect for phenomenon in PHENOMENA for effect in EFFECTS[phenomenon] if (effects["effect"] == effect).any()]
    if not names:
        raise TableError(f"{what}: the effects table has no known effect; expected some of {list(_EFFECT_LABELS)}.")
    areas = order_areas(effects["area"])
    colors = area_colors(areas)
    markers = dict(zip(areas, ("o", "s", "D", "^", "v", "P"), strict=False))
    height = 0.24 * len(variants) * max(1.0, len(areas) / 2) + 1.6
    figure = new_figure(None, (min(7.2, 1.6 * len(names) + 0.9), height), what=what)
    with figure_style():
        grid = figure.subplots(1, len(names), sharey=True, squeeze=False)[0]
        positions = {variant: index for index, variant in enumerate(variants)}
        offsets = (np.arange(len(areas)) - (len(areas) - 1) / 2) * min(0.22, 0.6 / max(len(areas), 1))
        variant_names = effects["variant"].astype("object").map(str)
        area_names = effects["area"].astype("object").map(str)
        for axes, effect in zip(grid, names, strict=True):
            rows = effects[(effects["effect"] == effect) & variant_names.isin(variants)]
            for offset, area in zip(offsets, areas, strict=True):
                mine = rows[area_names[rows.index] == area]
                y = mine["variant"].astype("object").map(str).map(positions).to_numpy(dtype="float64") + offset
                value = mine["value"].to_numpy(dtype="float64")
                low, high = mine["low"].to_numpy(dtype="float64"), mine["high"].to_numpy(dtype="float64")
                shows = mine["shows"].astype(bool).to_numpy()
                axes.errorbar(value, y, xerr=np.nan_to_num(np.abs(np.vstack([value - low, high - value]))),
                              fmt="none", ecolor=colors[area], elinewidth=1.0, capsize=1.2)
                axes.scatter(value[shows], y[shows], marker=markers[area], s=16, color=colors[area], zorder=3,
                             label=area)
                axes.scatter(value[~shows], y[~shows], marker=markers[area], s=16, facecolors="white",
                             edgecolors=colors[area], linewidths=1.0, zorder=3)
            bounds = rows[["value", "low", "high"]].to_numpy(dtype="float64").ravel()
            bounds = bounds[np.isfinite(bounds)]
            left, right = honest_limits(float(bounds.min()) if bounds.size else np.nan,
                                        float(bounds.max()) if bounds.size else np.nan, include=(0.0,), pad=0.08)
            span = right - left
            left, right = (left - 0.05 * span if left == 0 else left), (right + 0.05 * span if right == 0 else right)
            axes.set_xlim(left, right)
            zero = axes.axvline(0.0, color="0.3", linewidth=0.8, zorder=1)
            zero.set_gid(GUIDE_GID)
            if right > 0:
                sign = axes.axvspan(0.0, right, color=OKABE_ITO["bluish_green"], alpha=0.08, linewidth=0, zorder=0)
                sign.set_gid("brain sign")
                axes.text(right, -0.75, "human: > 0 →", ha="right", va="center", fontsize=6,
                          color=OKABE_ITO["bluish_green"])
            title, xlabel = _EFFECT_LABELS[effect]
            axes.set_title(title, fontsize=8)
            axes.set_xlabel(xlabel, fontsize=7)
        grid[0].set_yticks(range(len(variants)), variants)
        grid[0].set_ylim(len(variants) - 0.5, -1.1)
        handles = [
            Line2D([], [], color=colors[area], marker=markers[area], linestyle="none", markersize=4, label=area)
            for area in areas
        ]
        handles.append(Line2D([], [], color="0.3", marker="o", markerfacecolor="white", linestyle="none",
                              markersize=4, label="open: CI not above 0"))
        figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=7)
        figure.suptitle("Which variants show each phenomenon (filled: the CI lies above 0, the sign in human cortex)", fontsize=9)
    return figure
