"""Weight distributions by connection type, one panel per area."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..measures.weights import weight_counts
from ..style import axis_label, figure_style
from ..tables import order_areas, require_columns
from ._common import level_colors, new_figure

__all__ = ["plot_weights"]


def plot_weights(
    weights: pd.DataFrame,
    *,
    hue: str = "connection",
    panel: str | None = "area",
    bins: int = 60,
    log: bool = False,
    title: str | None = None,
    ax: Axes | None = None,
    size: str | tuple[float, float] | None = None,
) -> Figure:
    """Histograms (as density outlines) of weight values, one line per ``hue`` level, one panel per ``panel``.

    Parameters
    ----------
    weights:
        A weights table (see :data:`dynvision_analysis.tables.WEIGHTS`): columns ``connection``, ``area`` and
        ``value``, and ``count`` when each row is a histogram bin (its ``value`` the bin centre).
    hue:
        Column whose levels are drawn as separate outlines (connection type by default).
    panel:
        Column with one panel per level (area by default, in hierarchy order); ``None`` for one panel.
    bins:
        Number of histogram bins over the common range of all values, so panels compare directly.
    log:
        Logarithmic density axis, to see the tails.
    title, ax, size:
        As in the other plots (``ax`` only with ``panel=None``).

    Returns
    -------
    matplotlib.figure.Figure
        Density is per unit of weight value (each outline integrates to 1), so connection types with very
        different numbers of weights compare by shape; the legend gives each type's number of weights.
    """
    what = "plot_weights"
    require_columns(weights, [hue, "value", *([panel] if panel else [])], what=what)
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"{what}: bins must be a positive integer, got {bins!r}.")
    counts = weight_counts(weights, what=what)
    values = weights["value"].to_numpy(dtype="float64")
    finite = np.isfinite(values)
    low, high = float(values[finite].min()), float(values[finite].max())
    if not high > low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, bins + 1)
    hue_levels = weights[hue].astype("object").map(str)
    colors = level_colors(hue, hue_levels)
    panels = order_areas(weights[panel].astype("object").map(str)) if panel else [None]
    panel_levels = weights[panel].astype("object").map(str) if panel else None
    if panel is None and ax is not None:
        figure = ax.get_figure()
        assert isinstance(figure, Figure)
        grid = [ax]
    else:
        figure = new_figure(ax, size or (min(7.2, 1.9 * len(panels) + 1.4), 2.2), what=what)
    with figure_style():
        if not (panel is None and ax is not None):
            grid = list(figure.subplots(1, len(panels), sharex=True, sharey=True, squeeze=False)[0])
        for axes, level in zip(grid, panels, strict=True):
            selected = finite if panel_levels is None else finite & (panel_levels == level).to_numpy()
            for name, color in colors.items():
                rows = selected & (hue_levels == name).to_numpy()
                total = int(counts[rows].sum())
                if total == 0:
                    continue
                density, _ = np.histogram(values[rows], bins=edges, weights=counts[rows], density=True)
                axes.stairs(density, edges, color=color, linewidth=1.2, label=f"{name} (n={total:,})")
            axes.axvline(0.0, color="0.6", linewidth=0.6, zorder=0)
            if level is not None:
                axes.set_title(level)
            axes.set_xlabel(axis_label("value"))
            if log:
                axes.set_yscale("log")
        grid[0].set_ylabel("density (1 / weight unit)")
        handles, labels = [], []
        for axes in grid:  # one legend entry per connection type, with the total over all panels
            for handle, label in zip(*axes.get_legend_handles_labels(), strict=True):
                name = label.rsplit(" (n=", 1)[0]
                if name not in [existing.rsplit(" (n=", 1)[0] for existing in labels]:
                    total = int(counts[finite & (hue_levels == name).to_numpy()].sum())
                    handles.append(handle)
                    labels.append(f"{name} (n={total:,})")
        figure.legend(handles, labels, loc="outside right upper", title=hue)
        if title:
            figure.suptitle(title)
    return figure
