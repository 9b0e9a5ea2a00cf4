"""Stability regimes from a spectrum table: the leading eigenvalues of a model's linearised recurrent step.

The **spectrum** table has one row per eigenvalue: ``image`` (index of the stimulus), ``area`` (an area, or
``network`` for the whole network), ``rank`` (0 = largest modulus), ``real``, ``imag``, ``modulus`` (per time
step), ``angle`` (rad per step), ``tau_ms`` (decay time constant ``-dt / ln|lambda|`` in ms) and
``frequency_hz`` (``angle / (2 pi dt) * 1000``), plus optional ``residual``, ``converged``, ``dimension``,
``steps`` and ``dt_ms``. It is what ``dynvision_models.engine.recurrent_spectrum`` returns (a list of rows:
``pandas.DataFrame(rows)``); any other column (a model name, a seed, ...) is a grouping category.

A mode ``lambda`` evolves as ``lambda^t`` per step of ``dt`` ms. The regime of one (image, area) is read from its
leading eigenvalue ``lambda_0`` (largest modulus) and the spectral radius ``rho = |lambda_0|``, with
``tolerance`` ``eps`` and ``min_angle`` ``phi`` (rad per step), in this order:

* ``"unstable"``: ``rho > 1 + eps``; a perturbation grows (time constant ``tau_ms < 0``);
* ``"line attractor"``: ``|lambda_0 - 1| <= eps``; a real mode at 1 neither decays nor grows: the area
  integrates (holds a value along one direction, ``|tau_ms| >= -dt / ln(1 - eps)``, 199 ms at ``dt = 2 ms``);
* ``"oscillatory"``: ``|arg lambda_0| >= phi``; the leading pair rotates by at least ``phi`` per step
  (``frequency_hz >= phi / (2 pi dt) * 1000``, 4 Hz for ``phi = 0.05`` at ``dt = 2 ms``): a damped oscillation,
  or a sustained one when ``rho >= 1 - eps`` (column ``sustained``); ``lambda_0`` near ``-1`` flips sign every
  step (oscillation at ``1 / (2 dt)``);
* ``"stable"``: otherwise; every mode decays (``rho <= 1 + eps``) without a dominant rotation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..tables import TableError, order_areas, require_columns
from .summary import summarize

__all__ = [
    "NETWORK",
    "REGIMES",
    "SPECTRUM_COLUMNS",
    "SPECTRUM_OPTIONAL",
    "classify_spectrum",
    "order_spectrum_areas",
    "stability_summary",
]

#: The regimes of :func:`classify_spectrum`, from the most stable to the least (the module docstring's rule).
REGIMES: tuple[str, ...] = ("stable", "oscillatory", "line attractor", "unstable")
#: Name of the whole network's operator in the ``area`` column.
NETWORK = "network"
#: Required columns of a spectrum table (one row per eigenvalue; units in the module docstring).
SPECTRUM_COLUMNS: tuple[str, ...] = (
    "image", "area", "rank", "real", "imag", "modulus", "angle", "tau_ms", "frequency_hz",
)
#: Columns of a spectrum table that are read when present and never act as a grouping category.
SPECTRUM_OPTIONAL: tuple[str, ...] = ("residual", "converged", "dimension", "steps", "dt_ms")
#: Default tolerance ``eps`` on the unit circle and default minimum angle ``phi`` (rad per step).
DEFAULT_TOLERANCE = 0.01
DEFAULT_MIN_ANGLE = 0.05


def order_spectrum_areas(names: Sequence[object]) -> list[str]:
    """Distinct area names in hierarchy order (V1, V2, V4, IT, others as first seen), ``network`` last."""
    areas = order_areas(names)
    return [*(a for a in areas if a != NETWORK), *(a for a in areas if a == NETWORK)]


def _check_thresholds(tolerance: float, min_angle: float, *, what: str) -> None:
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not 0 <= tolerance < 1:
        raise ValueError(
            f"{what}: tolerance must be a number in [0, 1), the distance from the unit circle that still counts "
            f"as on it, got {tolerance!r}; e.g. {DEFAULT_TOLERANCE}."
        )
    if isinstance(min_angle, bool) or not isinstance(min_angle, int | float) or not 0 < min_angle <= np.pi:
        raise ValueError(
            f"{what}: min_angle must be an angle in (0, pi] rad per step, the least rotation of an oscillatory "
            f"mode, got {min_angle!r}; e.g. {DEFAULT_MIN_ANGLE}."
        )


def _groups(table: pd.DataFrame) -> list[str]:
    """The keys of one spectrum: the extra (category) columns, then image and area."""
    known = {*SPECTRUM_COLUMNS, *SPECTRUM_OPTIONAL}
    return [*(str(c) for c in table.columns if c not in known), "image", "area"]


def _regime(real: np.ndarray, imag: np.ndarray, tolerance: float, min_angle: float) -> np.ndarray:
    radius = np.hypot(real, imag)
    angle = np.abs(np.arctan2(imag, real))
    return np.select(
        [radius > 1 + tolerance, np.hypot(real - 1, imag) <= tolerance, angle >= min_angle],
        ["unstable", "line attractor", "oscillatory"],
        default="stable",
    )


def classify_spectrum(
    table: pd.DataFrame, tolerance: float = DEFAULT_TOLERANCE, *, min_angle: float = DEFAULT_MIN_ANGLE
) -> pd.DataFrame:
    """One row per spectrum (image and area, within any extra category columns): its leading eigenvalue and
    regime, by the rule of the module docstring.

    Parameters
    ----------
    table:
        A spectrum table (columns :data:`SPECTRUM_COLUMNS`); the leading eigenvalue of a spectrum is its row
        of largest ``modulus`` (of smallest ``rank`` among equals).
    tolerance:
        ``eps``: distance from the unit circle (and from 1) that still counts as on it, dimensionless.
    min_angle:
        ``phi``: least ``|angle|`` (rad per step) of an oscillatory leading mode.

    Returns
    -------
    pandas.DataFrame
        Columns ``*extra, image, area, spectral_radius`` (``|lambda_0|``, per step), ``leading_real``,
        ``leading_imag``, ``leading_angle`` (rad per step), ``leading_tau_ms`` (ms), ``leading_frequency_hz``
        (Hz), ``regime`` (one of :data:`REGIMES`), ``sustained`` (``rho >= 1 - eps``: the leading mode does
        not decay), ``n_eigenvalues`` and, when the table has ``converged``, ``converged`` (whether the
        leading eigenvalue converged). Sorted by the keys, areas in hierarchy order and ``network`` last.
    """
    what = "classify_spectrum"
    require_columns(table, SPECTRUM_COLUMNS, what=what)
    _check_thresholds(tolerance, min_angle, what=what)
    keys = _groups(table)
    ordered = table.sort_values(["modulus", "rank"], ascending=[False, True], kind="stable")
    grouped = ordered.groupby(keys, observed=True, sort=False, dropna=False)
    leading = grouped.head(1).set_index(keys)
    real = leading["real"].to_numpy(dtype="float64")
    imag = leading["imag"].to_numpy(dtype="float64")
    radius = np.hypot(real, imag)
    result = pd.DataFrame(
        {
            "spectral_radius": radius,
            "leading_real": real,
            "leading_imag": imag,
            "leading_angle": leading["angle"].to_numpy(dtype="float64"),
            "leading_tau_ms": leading["tau_ms"].to_numpy(dtype="float64"),
            "leading_frequency_hz": leading["frequency_hz"].to_numpy(dtype="float64"),
            "regime": _regime(real, imag, tolerance, min_angle),
            "sustained": radius >= 1 - tolerance,
            "n_eigenvalues": grouped.size().reindex(leading.index).to_numpy(),
        },
        index=leading.index,
    )
    if "converged" in table.columns:
        result["converged"] = leading["converged"].astype(bool).to_numpy()
    result = result.reset_index()
    return _sorted(result, keys)


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Rows by ``keys``, the ``area`` column in hierarchy order with ``network`` last."""
    if "area" in keys:
        rank = {area: i for i, area in enumerate(order_spectrum_areas(frame["area"].astype("object")))}
        frame = frame.assign(__area=frame["area"].astype("object").map(str).map(rank))
        keys = ["__area" if key == "area" else key for key in keys]
    return frame.sort_values(keys, kind="stable").drop(columns="__area", errors="ignore").reset_index(drop=True)


def stability_summary(
    table: pd.DataFrame,
    by: Sequence[str] = ("area",),
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    min_angle: float = DEFAULT_MIN_ANGLE,
) -> pd.DataFrame:
    """Summary over images: the spectral radius (mean, SEM) and how often each regime occurs, per group.

    Parameters
    ----------
    table:
        A spectrum table (classified first with ``tolerance`` and ``min_angle``) or the output of
        :func:`classify_spectrum` (used as it is).
    by:
        Grouping columns; each image is one observation.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, n_images, spectral_radius`` (mean over images, per step), ``spectral_radius_sem``
        (SEM as :func:`dynvision_analysis.summarize`: NaN for one image), ``spectral_radius_max``,
        ``fraction_<regime>`` for each of :data:`REGIMES` (``line attractor`` written ``line_attractor``) and
        ``regime``, the most frequent (ties go to the less stable regime, the cautious reading).
    """
    what = "stability_summary"
    keys = list(by)
    classified = table if "regime" in table.columns else classify_spectrum(table, tolerance, min_angle=min_angle)
    require_columns(classified, [*keys, "image", "spectral_radius", "regime"], what=what)
    unknown = sorted(set(classified["regime"].astype("object").map(str)) - set(REGIMES))
    if unknown:
        raise TableError(f"{what}: the column 'regime' holds {unknown}; the regimes are {list(REGIMES)}.")
    group_keys = keys or ["__group__"]
    frame = classified if keys else classified.assign(__group__=0)
    radius = summarize(frame, "spectral_radius", group_keys)
    result = radius[group_keys].assign(
        n_images=radius["n"].astype("int64"),
        spectral_radius=radius["mean"],
        spectral_radius_sem=radius["sem"],
    )
    grouped = frame.groupby(group_keys, observed=True, sort=False, dropna=False)
    peaks = grouped["spectral_radius"].max().rename("spectral_radius_max").reset_index()
    counts = pd.crosstab(
        [frame[k] for k in group_keys], frame["regime"].astype("object").map(str)
    ).reindex(columns=list(REGIMES), fill_value=0)
    fractions = counts.div(counts.sum(axis=1), axis=0)
    # The most frequent regime; among equals the last of REGIMES (the least stable) wins.
    modal = fractions[list(reversed(REGIMES))].idxmax(axis=1).rename("regime")
    fractions.columns = [f"fraction_{name.replace(' ', '_')}" for name in REGIMES]
    extra = pd.concat([fractions, modal], axis=1).reset_index()
    result = result.merge(peaks, on=group_keys, how="left").merge(extra, on=group_keys, how="left")
    result = result.drop(columns="__group__", errors="ignore")
    return _sorted(result, keys)
