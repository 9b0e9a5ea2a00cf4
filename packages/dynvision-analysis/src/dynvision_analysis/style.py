"""The one home of the figure style: palette, area order and colours, axis labels, sizes and rcParams.

Nothing here changes matplotlib's global state on import; :func:`figure_style` applies the rcParams only
inside a ``with`` block, and every plot function in this package draws inside it.

The palette is Okabe & Ito (2008), chosen to stay distinguishable under the common forms of colour-vision
deficiency. Sizes are in inches at print size (a journal column is ~3.5 in, a page ~7.2 in) and fonts are
7–9 pt, so a figure is readable without rescaling.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import matplotlib as mpl

from .tables import AREA_ORDER, order_areas

__all__ = [
    "AREA_COLORS",
    "AREA_ORDER",
    "CHANCE_COLOR",
    "FIGURE_SIZES",
    "LABELS",
    "OKABE_ITO",
    "PALETTE",
    "RC_PARAMS",
    "REFERENCE_COLOR",
    "SEQUENTIAL_CMAP",
    "STAGE_COLORS",
    "STIMULUS_COLOR",
    "area_colors",
    "axis_label",
    "category_colors",
    "figure_size",
    "figure_style",
    "order_areas",
]

#: The eight Okabe–Ito colours by name.
OKABE_ITO: Mapping[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

#: Colour cycle for categories; yellow last because it has little contrast on white.
PALETTE: tuple[str, ...] = tuple(
    OKABE_ITO[name]
    for name in (
        "blue",
        "orange",
        "bluish_green",
        "vermillion",
        "reddish_purple",
        "sky_blue",
        "black",
        "yellow",
    )
)

#: Fixed colour per known area, so V1 has the same colour in every figure of a paper.
AREA_COLORS: Mapping[str, str] = {
    "V1": OKABE_ITO["blue"],
    "V2": OKABE_ITO["bluish_green"],
    "V4": OKABE_ITO["orange"],
    "IT": OKABE_ITO["vermillion"],
}

#: Shading of the stimulus period (light grey, behind the data) and colour of the chance line.
STIMULUS_COLOR = "0.88"
CHANCE_COLOR = "0.35"
#: Colour of a reference condition (e.g. the model without recurrence) and of guide lines (linear prediction).
REFERENCE_COLOR = "0.45"
#: Colour map of matrices (confusion): perceptually uniform and readable with colour-vision deficiency.
SEQUENTIAL_CMAP = "cividis"
#: Fixed colour per training stage, so train and validation look the same in every training figure.
STAGE_COLORS: Mapping[str, str] = {
    "train": OKABE_ITO["blue"],
    "val": OKABE_ITO["orange"],
    "test": OKABE_ITO["bluish_green"],
}

#: Axis labels with units, by table column.
LABELS: Mapping[str, str] = {
    "time_ms": "time (ms)",
    "step": "time step",
    "response": "response (a.u.)",
    "response_std": "response s.d. over units (a.u.)",
    "accuracy": "accuracy",
    "confidence": "confidence",
    "duration_ms": "stimulus duration (ms)",
    "isi_ms": "inter-stimulus interval (ms)",
    "soa_ms": "stimulus onset asynchrony (ms)",
    "onset_ms": "stimulus onset (ms)",
    "peak_time_ms": "peak time (ms)",
    "latency_ms": "latency (ms)",
    "latency_shift_ms": "latency shift (ms)",
    "peak_height": "peak height",
    "peak_ratio": "peak ratio (2nd / 1st)",
    "normalized": "normalised summed response",
    "summed": "summed response (a.u. · ms)",
    "contrast": "contrast",
    "paradigm_stimulus": "stimulus duration (steps)",
    "ssnr": "signal-to-noise ratio (SSNR)",
    "epochs": "epochs trained",
    "value": "weight value",
    "loss": "loss (cross-entropy)",
    "acc": "accuracy",
}

#: Figure sizes (width, height) in inches at print size.
FIGURE_SIZES: Mapping[str, tuple[float, float]] = {
    "single": (3.5, 2.4),  # one journal column
    "wide": (5.5, 3.0),  # one and a half columns
    "double": (7.2, 4.0),  # full page width
}

#: rcParams applied by :func:`figure_style`.
RC_PARAMS: Mapping[str, Any] = {
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.8,
    "lines.linewidth": 1.4,
    "xtick.major.width": 0.8,
    "ytick.major.width": 0.8,
    "axes.prop_cycle": mpl.cycler(color=list(PALETTE)),
    "figure.dpi": 100,
    "savefig.dpi": 300,
    # Keep text as text in vector output so it stays editable in Illustrator/Inkscape.
    "svg.fonttype": "none",
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
}


@contextmanager
def figure_style(overrides: Mapping[str, Any] | None = None) -> Iterator[None]:
    """Apply :data:`RC_PARAMS` (plus ``overrides``) inside the ``with`` block and restore them afterwards."""
    with mpl.rc_context({**RC_PARAMS, **(overrides or {})}):
        yield


def figure_size(size: str | tuple[float, float]) -> tuple[float, float]:
    """Return (width, height) in inches for a name in :data:`FIGURE_SIZES` or an explicit pair."""
    if isinstance(size, str):
        if size not in FIGURE_SIZES:
            raise ValueError(
                f"Unknown figure size {size!r}; use one of {sorted(FIGURE_SIZES)} or (width, height) in inches."
            )
        return FIGURE_SIZES[size]
    width, height = size
    return float(width), float(height)


def category_colors(levels: Iterable[object]) -> dict[str, str]:
    """Map each distinct level (as a string, in the order given) to a palette colour, cycling if needed."""
    names = [str(level) for level in dict.fromkeys(levels)]
    return {name: PALETTE[index % len(PALETTE)] for index, name in enumerate(names)}


def area_colors(areas: Iterable[object]) -> dict[str, str]:
    """Map area names to colours: the fixed :data:`AREA_COLORS` for V1–IT, unused palette colours for others."""
    ordered = order_areas(areas)
    spare = [color for color in PALETTE if color not in AREA_COLORS.values()]
    others = [area for area in ordered if area not in AREA_COLORS]
    colors = {area: AREA_COLORS[area] for area in ordered if area in AREA_COLORS}
    colors.update({area: spare[index % len(spare)] for index, area in enumerate(others)})
    return {area: colors[area] for area in ordered}


def axis_label(column: str) -> str:
    """Axis label with unit for a table column; the column name itself when it is not in :data:`LABELS`."""
    return LABELS.get(column, column)
