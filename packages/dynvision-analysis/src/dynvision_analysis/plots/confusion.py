"""Confusion matrix: which classes the model takes for which."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..style import SEQUENTIAL_CMAP, figure_style
from ..tables import TableError, require_columns
from ._common import new_axes

__all__ = ["plot_confusion"]

#: Cells are annotated with their percentage up to this many classes (beyond, the text would not fit).
_ANNOTATE_UP_TO = 12
#: Label of the colour bar; the cell annotations are in the same unit.
PERCENT_LABEL = "% of true class"


def plot_confusion(
    confusion: pd.DataFrame,
    *,
    class_names: Sequence[str] | Mapping[int, str] | None = None,
    annotate: bool | None = None,
    title: str | None = None,
    ax: Axes | None = None,
    size: str | tuple[float, float] = (3.5, 3.2),
) -> Figure:
    """Draw a confusion matrix: true class down, guessed class across, colour = percent of the true class.

    Parameters
    ----------
    confusion:
        Output of :func:`dynvision_analysis.confusion_matrix`: columns ``label``, ``guess`` and ``count``
        (``fraction`` is recomputed from the counts), one row per (label, guess); missing pairs count 0.
    class_names:
        Names of the classes by index (a sequence, or a mapping from index to name); indices by default.
    annotate:
        Write each cell's percentage (the unit of the colour bar); by default when there are at most 12
        classes.
    title, ax, size:
        As in the other plots; ``size`` defaults to a square-ish single column.

    Returns
    -------
    matplotlib.figure.Figure
        Rows (true classes) sum to 100 %; cells and colour bar are both in percent of the true class, the
        colour scale running from 0 to 100 % (cividis, colour-blind safe).
    """
    what = "plot_confusion"
    require_columns(confusion, ["label", "guess", "count"], what=what)
    if confusion.duplicated(["label", "guess"]).any():
        extra = [str(c) for c in confusion.columns if c not in ("label", "guess", "count", "fraction")]
        raise TableError(
            f"{what} needs one row per (label, guess), but some pairs repeat; the table was probably grouped by "
            f"further column(s) {extra}: select one level of them first."
        )
    classes = np.union1d(confusion["label"].to_numpy(), confusion["guess"].to_numpy())
    index = {value: position for position, value in enumerate(classes.tolist())}
    counts = np.zeros((len(classes), len(classes)))
    rows = confusion["label"].map(index).to_numpy()
    columns = confusion["guess"].map(index).to_numpy()
    np.add.at(counts, (rows, columns), confusion["count"].to_numpy(dtype="float64"))
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        percent = np.where(totals > 0, 100.0 * counts / totals, np.nan)
    if class_names is None:
        names = [str(value) for value in classes]
    elif isinstance(class_names, Mapping):
        names = [str(class_names.get(value, value)) for value in classes]
    else:
        names = [
            str(class_names[int(value)]) if 0 <= int(value) < len(class_names) else str(value)
            for value in classes
        ]
    with figure_style():
        figure, axes = new_axes(ax, size)
        # One unit for cells and colour bar: percent of the true class.
        image = axes.imshow(percent, cmap=SEQUENTIAL_CMAP, vmin=0.0, vmax=100.0, interpolation="nearest")
        figure.colorbar(image, ax=axes, label=PERCENT_LABEL, shrink=0.8)
        ticks = np.arange(len(classes))
        if len(classes) <= 40:
            axes.set_xticks(ticks, names, rotation=90 if max(map(len, names)) > 2 else 0)
            axes.set_yticks(ticks, names)
        axes.set_xlabel("guessed class")
        axes.set_ylabel("true class")
        for spine in ("top", "right"):
            axes.spines[spine].set_visible(True)
        if annotate is None:
            annotate = len(classes) <= _ANNOTATE_UP_TO
        if annotate:
            for (row, column), value in np.ndenumerate(percent):
                if np.isfinite(value) and counts[row, column] > 0:
                    axes.text(
                        column,
                        row,
                        f"{value:.0f}",
                        ha="center",
                        va="center",
                        fontsize=5.5,
                        color="black" if value > 60 else "white",
                    )
        if title:
            axes.set_title(title)
    return figure
