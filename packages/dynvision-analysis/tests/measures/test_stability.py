"""Stability regimes from spectrum tables written here by hand, with answers known by construction."""

from __future__ import annotations

import cmath
import math

import numpy as np
import pandas as pd
import pytest

from dynvision_analysis import TableError
from dynvision_analysis.measures import classify_spectrum, stability_summary

DT_MS = 2.0


def spectrum(image: int, area: str, values: list[complex], **extra: object) -> pd.DataFrame:
    """Rows of one spectrum as recurrent_spectrum writes them (continuous-time columns from dt = 2 ms)."""
    rows = []
    for rank, value in enumerate(values):
        modulus = abs(value)
        rows.append(
            {
                "image": image,
                "area": area,
                "rank": rank,
                "real": value.real,
                "imag": value.imag,
                "modulus": modulus,
                "angle": cmath.phase(value),
                "tau_ms": math.inf if modulus == 1 else -DT_MS / math.log(modulus),
                "frequency_hz": cmath.phase(value) / (2 * math.pi * DT_MS) * 1000,
                "residual": 1e-7,
                "converged": True,
                "dt_ms": DT_MS,
                **extra,
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture
def table() -> pd.DataFrame:
    """Image 0: V1 stable (0.6), V2 oscillatory (0.7 ± 0.3i), IT a line attractor (0.998), network unstable
    (1.05). Image 1: the same but V2 stable (0.5), listed network first to test the ordering."""
    parts = [
        spectrum(1, "network", [1.05, 0.9]),
        spectrum(0, "IT", [0.998, 0.5, 0.4]),
        spectrum(0, "V2", [0.7 + 0.3j, 0.7 - 0.3j, 0.2]),
        spectrum(0, "V1", [0.6, 0.3 + 0.1j, 0.3 - 0.1j]),
        spectrum(0, "network", [1.05, 0.9]),
        spectrum(1, "V1", [0.6, 0.1]),
        spectrum(1, "V2", [0.5, -0.4]),
        spectrum(1, "IT", [0.998, 0.5]),
    ]
    return pd.concat(parts, ignore_index=True)


def test_each_spectrum_gets_its_leading_eigenvalue_and_regime(table):
    result = classify_spectrum(table)
    assert list(zip(result["image"], result["area"], strict=True)) == [
        (0, "V1"), (0, "V2"), (0, "IT"), (0, "network"), (1, "V1"), (1, "V2"), (1, "IT"), (1, "network"),
    ]
    assert list(result["regime"]) == [
        "stable", "oscillatory", "line attractor", "unstable", "stable", "stable", "line attractor", "unstable",
    ]
    v2 = result.iloc[1]
    assert (v2["leading_real"], v2["leading_imag"]) == (0.7, 0.3)  # the member with imag > 0
    assert v2["spectral_radius"] == pytest.approx(math.hypot(0.7, 0.3))
    assert v2["leading_angle"] == pytest.approx(math.atan2(0.3, 0.7))
    assert v2["leading_tau_ms"] == pytest.approx(-DT_MS / math.log(math.hypot(0.7, 0.3)))
    assert v2["leading_frequency_hz"] == pytest.approx(math.atan2(0.3, 0.7) / (2 * math.pi * DT_MS) * 1000)
    assert list(result["n_eigenvalues"]) == [3, 3, 3, 2, 2, 2, 2, 2]
    # Only the line attractor and the unstable mode do not decay within the tolerance.
    assert list(result["sustained"]) == [False, False, True, True, False, False, True, True]
    assert result["converged"].all()


def test_the_leading_eigenvalue_is_the_largest_modulus_whatever_the_rank_column_says():
    table = spectrum(0, "V1", [0.5, 0.9])  # ranks 0, 1 but 0.9 leads
    assert classify_spectrum(table)["spectral_radius"].item() == pytest.approx(0.9)


@pytest.mark.parametrize(
    ("value", "tolerance", "min_angle", "regime"),
    [
        (1.005, 0.01, 0.05, "line attractor"),  # within the tolerance of 1
        (1.005, 0.001, 0.05, "unstable"),  # a tighter tolerance sees the growth
        (0.7 + 0.01j, 0.01, 0.05, "stable"),  # rotates by 0.014 rad per step: below min_angle
        (0.7 + 0.01j, 0.01, 0.01, "oscillatory"),
        (-0.995, 0.01, 0.05, "oscillatory"),  # flips sign every step: oscillates at 1 / (2 dt)
        (cmath.rect(1.0, 0.3), 0.01, 0.05, "oscillatory"),  # on the unit circle: sustained
        (cmath.rect(1.02, 0.3), 0.01, 0.05, "unstable"),
    ],
)
def test_the_regime_rule_at_its_boundaries(value, tolerance, min_angle, regime):
    table = spectrum(0, "V1", [value, 0.1])
    assert classify_spectrum(table, tolerance, min_angle=min_angle)["regime"].item() == regime


def test_extra_columns_are_categories():
    table = pd.concat(
        [spectrum(0, "V1", [0.6], model="a"), spectrum(0, "V1", [1.2], model="b")], ignore_index=True
    )
    result = classify_spectrum(table)
    assert list(result.columns[:3]) == ["model", "image", "area"]
    assert list(result["regime"]) == ["stable", "unstable"]


def test_summary_over_images(table):
    summary = stability_summary(table)
    assert list(summary["area"]) == ["V1", "V2", "IT", "network"]
    v2 = summary.set_index("area").loc["V2"]
    radii = [math.hypot(0.7, 0.3), 0.5]
    assert v2["n_images"] == 2
    assert v2["spectral_radius"] == pytest.approx(np.mean(radii))
    assert v2["spectral_radius_sem"] == pytest.approx(abs(radii[0] - radii[1]) / 2)  # s / sqrt(2)
    assert v2["spectral_radius_max"] == pytest.approx(radii[0])
    assert (v2["fraction_stable"], v2["fraction_oscillatory"]) == (0.5, 0.5)
    assert v2["regime"] == "oscillatory"  # a tie goes to the less stable regime
    assert summary.set_index("area").loc["IT", "fraction_line_attractor"] == 1.0
    # A classified table is summarized as it is; no grouping summarizes all spectra together.
    overall = stability_summary(classify_spectrum(table), by=())
    assert overall["n_images"].item() == 8
    assert overall["fraction_stable"].item() == 3 / 8
    assert overall["regime"].item() == "stable"


def test_bad_input_is_refused_with_what_is_needed(table):
    with pytest.raises(TableError, match=r"classify_spectrum needs the column\(s\) 'imag'"):
        classify_spectrum(table.drop(columns="imag"))
    with pytest.raises(ValueError, match=r"tolerance must be a number in \[0, 1\).*got 2"):
        classify_spectrum(table, 2)
    with pytest.raises(ValueError, match=r"min_angle must be an angle in \(0, pi\]"):
        classify_spectrum(table, min_angle=0)
