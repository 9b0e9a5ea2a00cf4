"""Eigenvalues of a model's linearised recurrent step in the complex plane, one panel per area, with the unit
circle (the boundary of stability) and each panel's regime."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from ..measures.stability import (
    DEFAULT_MIN_ANGLE,
    DEFAULT_TOLERANCE,
    SPECTRUM_COLUMNS,
    SPECTRUM_OPTIONAL,
    order_spectrum_areas,
    stability_summary,
)
from ..style import REFERENCE_COLOR, SEQUENTIAL_CMAP, category_colors, figure_style
from ..tables import TableError, require_columns
from ._common import new_figure

__all__ = ["SPECTRUM_COLORINGS", "SPECTRUM_VIEWS", "UNIT_CIRCLE_GID", "plot_spectrum"]

#: What the colour of a point shows: the image it belongs to, or its rank (0 = largest modulus).
SPECTRUM_COLORINGS = ("image", "rank")
#: The region each panel shows: the whole unit circle, or the eigenvalues (with the arc of the circle near them).
SPECTRUM_VIEWS = ("circle", "data")
#: Marker per image (open, so that eigenvalues that several images share stay visible).
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
#: ``gid`` of the unit circle in every panel, so tests and later editing can find it.
UNIT_CIRCLE_GID = "unit circle"
#: Most panels in one row.
_COLUMNS = 5
#: Most images named in the legend; more are drawn in their colours without one.
_LEGEND_IMAGES = 8


def _one_spectrum_per_panel(table: pd.DataFrame, *, what: str) -> None:
    """Refuse a table that mixes several models (an extra column with several values): their eigenvalues
    would fall into one panel unlabelled."""
    known = {*SPECTRUM_COLUMNS, *SPECTRUM_OPTIONAL}
    mixed = [str(c) for c in table.columns if c not in known and table[c].nunique(dropna=False) > 1]
    if mixed:
        raise TableError(
            f"{what} draws the spectra of one model, but the column(s) {mixed} take several values; select one "
            "level first (e.g. --where COLUMN=VALUE on the command line)."
        )
    duplicated = table.duplicated(["image", "area", "rank"])
    if duplicated.any():
        first = tuple(table.loc[duplicated, ["image", "area", "rank"]].iloc[0])
        raise TableError(
            f"{what} needs one row per (image, area, rank), but {int(duplicated.sum())} repeat (first at {first}); "
            "was the table written twice into one file?"
        )


def _panel_title(area: str, summary: pd.Series) -> str:
    """The area, its regime (with several images: how many of them share it) and the spectral radius."""
    n = int(summary["n_images"])
    regime = str(summary["regime"])
    share = summary[f"fraction_{regime.replace(' ', '_')}"]
    count = f" · {round(share * n)}/{n}" if n > 1 else ""
    radius = f"ρ = {summary['spectral_radius']:.3f}" + (" (mean)" if n > 1 else "")
    return f"{area}\n{regime}{count}\n{radius}"


def _limits(real: np.ndarray, imag: np.ndarray, view: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """Common square limits: the unit circle and every eigenvalue, or the eigenvalues only (with a margin)."""
    if view == "circle":
        half = max(1.1, 1.08 * float(np.nanmax(np.hypot(real, imag))))
        return (-half, half), (-half, half)
    centre = (np.nanmin(real) + np.nanmax(real)) / 2, (np.nanmin(imag) + np.nanmax(imag)) / 2
    half = max(float(np.nanmax(real) - np.nanmin(real)), float(np.nanmax(imag) - np.nanmin(imag)), 0.02) * 0.6
    return (centre[0] - half, centre[0] + half), (centre[1] - half, centre[1] + half)


def plot_spectrum(
    table: pd.DataFrame,
    *,
    color: str = "image",
    view: str = "circle",
    areas: Sequence[str] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    min_angle: float = DEFAULT_MIN_ANGLE,
    title: str | None = None,
    size: tuple[float, float] | None = None,
) -> Figure:
    """The eigenvalues of each area's linearised step (and the network's) in the complex plane.

    Parameters
    ----------
    table:
        A spectrum table (see :mod:`dynvision_analysis.measures.stability`): one row per eigenvalue with
        ``image``, ``area``, ``rank``, ``real``, ``imag`` (per time step), ... of one model.
    color:
        ``"image"``: one colour and marker per image (legend); ``"rank"``: the rank (0 = largest modulus) on a
        sequential colour map with a colour bar.
    view:
        ``"circle"``: the whole unit circle (where the spectra sit against the stability boundary);
        ``"data"``: the region of the eigenvalues (common to all panels), e.g. for a tight cluster near 1.
    areas:
        Panels to draw, in this order; default every area in hierarchy order, ``network`` last.
    tolerance, min_angle:
        Of the regime in each panel's title (:func:`~dynvision_analysis.measures.classify_spectrum`).
    title:
        Figure title.
    size:
        ``(width, height)`` in inches; default from the number of panels (at most 7.2 in wide).

    Returns
    -------
    matplotlib.figure.Figure
        One square panel per area with equal axes (a circle stays round) on common limits, so panels compare;
        the unit circle marks where modes neither decay nor grow (inside: stable, outside: unstable). Each title
        names the regime of the leading eigenvalue (the most frequent over images, with how many share it) and
        the spectral radius ρ.
    """
    what = "plot_spectrum"
    require_columns(table, SPECTRUM_COLUMNS, what=what)
    if color not in SPECTRUM_COLORINGS:
        raise ValueError(f"{what}: color must be one of {list(SPECTRUM_COLORINGS)}, got {color!r}.")
    if view not in SPECTRUM_VIEWS:
        raise ValueError(f"{what}: view must be one of {list(SPECTRUM_VIEWS)}, got {view!r}.")
    _one_spectrum_per_panel(table, what=what)
    available = order_spectrum_areas(table["area"].astype("object"))
    panels = available if areas is None else [str(a) for a in areas]
    missing = [a for a in panels if a not in available]
    if missing or not panels:
        raise TableError(f"{what}: no eigenvalues of area(s) {missing or '(none given)'}; the table has {available}.")
    spectra = table[list(SPECTRUM_COLUMNS)].assign(area=table["area"].astype("object").map(str))
    summary = stability_summary(spectra, ("area",), tolerance=tolerance, min_angle=min_angle).set_index("area")
    drawn = spectra[spectra["area"].isin(panels)]
    real = drawn["real"].to_numpy(dtype="float64")
    imag = drawn["imag"].to_numpy(dtype="float64")
    xlim, ylim = _limits(real, imag, view)
    images = list(dict.fromkeys(spectra.sort_values("image")["image"].tolist()))
    image_colors = category_colors(images)
    ranks = spectra["rank"].to_numpy(dtype="float64")
    norm = Normalize(vmin=0.0, vmax=max(1.0, float(np.nanmax(ranks))))
    columns = min(len(panels), _COLUMNS)
    rows = math.ceil(len(panels) / columns)
    figure = new_figure(None, size or (min(7.2, 1.45 * columns + 0.6), 1.75 * rows + 0.8), what=what)
    circle = np.linspace(0.0, 2.0 * np.pi, 3601)  # fine enough to stay round when zoomed in
    with figure_style():
        grid = figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)
        for index, axes in enumerate(grid.flat):
            if index >= len(panels):
                axes.set_visible(False)
                continue
            area = panels[index]
            axes.axhline(0.0, color="0.85", linewidth=0.6, zorder=0)
            axes.axvline(0.0, color="0.85", linewidth=0.6, zorder=0)
            (unit,) = axes.plot(np.cos(circle), np.sin(circle), color=REFERENCE_COLOR, linewidth=0.8, zorder=1)
            unit.set_gid(UNIT_CIRCLE_GID)
            rows_of_area = spectra[spectra["area"] == area].sort_values("rank", ascending=False)
            if color == "image":
                for number, image in enumerate(images):
                    points = rows_of_area[rows_of_area["image"] == image]
                    axes.scatter(
                        points["real"], points["imag"], s=12, marker=_MARKERS[number % len(_MARKERS)],
                        facecolors="none", edgecolors=image_colors[str(image)], linewidths=0.7, zorder=2,
                        label=str(image) if isinstance(image, str) else f"image {image}",
                    )
            else:
                axes.scatter(
                    rows_of_area["real"], rows_of_area["imag"], s=9, c=rows_of_area["rank"], cmap=SEQUENTIAL_CMAP,
                    norm=norm, linewidths=0, zorder=2,
                )
            axes.set_xlim(*xlim)
            axes.set_ylim(*ylim)
            axes.set_aspect("equal", adjustable="box")
            axes.set_title(_panel_title(area, summary.loc[area]), fontsize=7)
            if index % columns == 0:
                axes.set_ylabel("Im λ (per step)")
            if index >= len(panels) - columns:
                axes.set_xlabel("Re λ (per step)")
        if color == "image" and 1 < len(images) <= _LEGEND_IMAGES:
            handles, labels = grid.flat[0].get_legend_handles_labels()
            figure.legend(handles, labels, loc="outside lower center", ncols=len(images), markerscale=1.5)
        elif color == "rank":
            bar = figure.colorbar(
                ScalarMappable(norm=norm, cmap=SEQUENTIAL_CMAP), ax=list(grid.flat[: len(panels)]), shrink=0.8
            )
            bar.set_label("rank (0 = largest |λ|)")
        if title:
            figure.suptitle(title)
    return figure
