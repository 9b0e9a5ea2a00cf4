"""Training curves (loss and accuracy against epochs) from Lightning's CSV logs."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..measures.training import training_curves
from ..style import PALETTE, STAGE_COLORS, axis_label, figure_style
from ..tables import TableError
from ._common import new_figure

__all__ = ["plot_training"]


#: Per-time-step metrics (``acc_t00``, ``acc_t01``...): drawn as one thin family with a single legend entry.
_PER_STEP = re.compile(r"_t\d+$")


def _family(metric: str) -> str:
    """The panel a metric belongs to: ``acc_last`` → ``acc``, ``loss`` → ``loss``."""
    return metric.split("_", 1)[0]


def plot_training(
    metrics: pd.DataFrame,
    *,
    panels: Sequence[str] | None = None,
    steps: bool = True,
    title: str | None = None,
    ax: Axes | None = None,
    size: str | tuple[float, float] | None = None,
) -> Figure:
    """Training curves: one panel per metric family (loss, accuracy, ...), train and validation lines.

    Parameters
    ----------
    metrics:
        A Lightning ``metrics.csv`` (see :data:`dynvision_analysis.tables.METRICS`), or its reshaped form from
        :func:`dynvision_analysis.training_curves`.
    panels:
        Metric families to draw, in order (e.g. ``("loss", "acc")``); a family collects the metrics whose name
        starts with it (``acc``, ``acc_last``). By default every family found, loss first.
    steps:
        Also draw the per-step values (thin, transparent) behind the per-epoch ones.
    title, ax, size:
        As in the other plots.

    Returns
    -------
    matplotlib.figure.Figure
        The horizontal axis is training progress in epochs (see :func:`training_curves`); epoch values have
        markers, colours are fixed per stage (train blue, val orange), metric variants are dashed, and the
        accuracy at each model time step (``acc_t00``...) is a family of thin dotted lines with one legend entry.
    """
    what = "plot_training"
    curves = (
        metrics
        if {"stage", "metric", "value", "epochs"} <= set(metrics.columns)
        else training_curves(metrics)
    )
    if not steps:
        curves = curves[curves["resolution"] != "step"]
    families = list(dict.fromkeys(_family(metric) for metric in curves["metric"]))
    families.sort(key=lambda name: (name != "loss", name not in ("acc", "accuracy"), name))
    if panels is not None:
        missing = [name for name in panels if name not in families]
        if missing:
            raise TableError(f"{what}: no metric of the family {missing}; the metrics have {families}.")
        families = list(panels)
    if not families:
        raise TableError(f"{what}: nothing to draw (no metric values).")
    figure = new_figure(ax, size or (3.6 * len(families) + 0.4, 2.3), what=what)
    with figure_style():
        grid = figure.subplots(1, len(families), sharex=True, squeeze=False)[0]
        extra_colors = iter(PALETTE[2:])
        stage_colors = dict(STAGE_COLORS)
        for axes, family in zip(grid, families, strict=True):
            part = curves[curves["metric"].map(_family) == family]
            for (stage, metric, resolution), rows in part.groupby(
                ["stage", "metric", "resolution"], sort=True, observed=True
            ):
                if stage not in stage_colors:
                    stage_colors[stage] = next(extra_colors, "0.3")
                name = f"{stage}/{metric}" if stage else metric
                style = {"linestyle": "-" if metric == family else "--", "color": stage_colors[stage]}
                rows = rows.sort_values("epochs")
                if _PER_STEP.search(metric):
                    # One line per model time step (accuracy at t): thin and dotted, one legend entry in all.
                    family_name = f"{stage}/{family}_t" if stage else f"{family}_t"
                    label = f"{family_name} (each time step)"
                    seen = {line.get_label() for line in axes.lines}
                    axes.plot(
                        rows["epochs"],
                        rows["value"],
                        linewidth=0.6,
                        linestyle=":",
                        color=style["color"],
                        alpha=0.6,
                        label="_nolegend_" if label in seen else label,
                    )
                elif resolution == "step":
                    axes.plot(
                        rows["epochs"],
                        rows["value"],
                        linewidth=0.7,
                        alpha=0.35,
                        label=f"{name} (step)",
                        **style,
                    )
                else:
                    axes.plot(rows["epochs"], rows["value"], marker="o", markersize=3, label=name, **style)
            axes.set_ylabel(axis_label(family))
            axes.set_xlabel(axis_label("epochs"))
            if family in ("acc", "accuracy"):
                axes.set_ylim(-0.02, 1.02)
            axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=6, frameon=False)
        if title:
            figure.suptitle(title)
    return figure
