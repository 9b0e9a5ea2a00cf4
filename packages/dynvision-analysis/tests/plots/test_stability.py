"""The spectrum figure and the stability commands, from spectrum tables written here by hand."""

from __future__ import annotations

import cmath
import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection

from dynvision_analysis import TableError, save_figure
from dynvision_analysis.cli import main
from dynvision_analysis.plots import plot_spectrum
from dynvision_analysis.plots.stability import UNIT_CIRCLE_GID

DT_MS = 2.0


def spectrum(image: int, area: str, values: list[complex], **extra: object) -> pd.DataFrame:
    """Rows of one spectrum as recurrent_spectrum writes them (continuous-time columns from dt = 2 ms)."""
    return pd.DataFrame(
        [
            {
                "image": image,
                "area": area,
                "rank": rank,
                "real": value.real,
                "imag": value.imag,
                "modulus": abs(value),
                "angle": cmath.phase(value),
                "tau_ms": -DT_MS / math.log(abs(value)),
                "frequency_hz": cmath.phase(value) / (2 * math.pi * DT_MS) * 1000,
                "converged": True,
                **extra,
            }
            for rank, value in enumerate(values)
        ]
    )


@pytest.fixture
def table() -> pd.DataFrame:
    """Two images; IT stable (0.6), V1 oscillatory (0.7 ± 0.3i), network unstable (1.3), listed out of order."""
    return pd.concat(
        [
            spectrum(image, area, values)
            for image in (0, 1)
            for area, values in (("network", [1.3, 0.6]), ("IT", [0.6, 0.2]), ("V1", [0.7 + 0.3j, 0.7 - 0.3j]))
        ],
        ignore_index=True,
    )


def test_one_square_panel_per_area_with_the_unit_circle_and_the_regime(table, tmp_path):
    figure = plot_spectrum(table)
    panels = [axes for axes in figure.axes if axes.get_visible()]
    titles = [axes.get_title() for axes in panels]
    assert [title.split("\n")[0] for title in titles] == ["V1", "IT", "network"]  # hierarchy order, network last
    assert titles[0].split("\n")[1:] == ["oscillatory · 2/2", "ρ = 0.762 (mean)"]
    assert titles[1].split("\n")[1] == "stable · 2/2"
    assert titles[2].split("\n")[1] == "unstable · 2/2"
    for axes in panels:
        (circle,) = [line for line in axes.lines if line.get_gid() == UNIT_CIRCLE_GID]
        np.testing.assert_allclose(np.hypot(*circle.get_data()), 1.0)
        assert axes.get_aspect() == 1.0  # a circle is drawn round
        # Common limits holding the unit circle and the unstable eigenvalue 1.3.
        assert axes.get_xlim() == axes.get_ylim() == panels[0].get_xlim()
        assert axes.get_xlim()[1] >= 1.3
    # One open marker per image, as many points as eigenvalues.
    points = [c for c in panels[0].collections if isinstance(c, PathCollection)]
    assert [len(c.get_offsets()) for c in points] == [2, 2]
    np.testing.assert_allclose(sorted(points[0].get_offsets()[:, 1]), [-0.3, 0.3])
    assert [text.get_text() for text in figure.legends[0].get_texts()] == ["image 0", "image 1"]
    assert save_figure(figure, tmp_path / "spectrum.png").stat().st_size > 1000


def test_colour_by_rank_and_the_view_of_the_data(table):
    figure = plot_spectrum(table, color="rank", view="data", areas=["IT"])
    axes, colour_bar = figure.axes
    assert "rank" in colour_bar.get_ylabel()
    low, high = axes.get_xlim()
    assert 0.1 < low < 0.2 and 0.6 < high < 0.7  # around IT's eigenvalues 0.2 and 0.6, not the whole circle


def test_tables_the_figure_cannot_show_are_refused(table):
    mixed = pd.concat([table.assign(model="a"), table.assign(model="b")], ignore_index=True)
    with pytest.raises(TableError, match=r"column\(s\) \['model'\] take several values"):
        plot_spectrum(mixed)
    with pytest.raises(TableError, match=r"no eigenvalues of area\(s\) \['V4'\]; the table has \['V1', 'IT', 'network'\]"):
        plot_spectrum(table, areas=["V4"])
    with pytest.raises(ValueError, match=r"color must be one of \['image', 'rank'\]"):
        plot_spectrum(table, color="area")


def test_the_stability_commands(table, tmp_path, capsys):
    source = tmp_path / "spectrum.csv"
    table.assign(model="x").to_csv(source, index=False)
    figure = tmp_path / "spectrum.png"
    assert main(["plot-stability", str(source), "-o", str(figure), "--color", "rank"]) == 0
    assert figure.read_bytes().startswith(b"\x89PNG")
    summary = tmp_path / "summary.csv"
    assert main(["stability-summary", str(source), "-o", str(summary)]) == 0
    result = pd.read_csv(summary)
    assert list(result["area"]) == ["V1", "IT", "network"]
    assert list(result["model"]) == ["x"] * 3  # category columns group by default
    assert list(result["regime"]) == ["oscillatory", "stable", "unstable"]
    assert list(result["n_images"]) == [2, 2, 2]
    per_image = tmp_path / "per_image.csv"
    assert main(["stability-summary", str(source), "-o", str(per_image), "--per-image", "--tolerance", "0.35"]) == 0
    # With a tolerance of 0.35 the unit circle is a wide band: 1.3 counts as on it (a line attractor).
    assert list(pd.read_csv(per_image)["regime"]) == ["oscillatory", "stable", "line attractor"] * 2
    assert main(["plot-stability", str(tmp_path / "missing.csv"), "-o", str(figure)]) == 2
    assert "plot-stability: error:" in capsys.readouterr().err


def test_named_stimuli_label_the_legend_as_they_are_and_the_command_zooms_on_request(tmp_path):
    # The workflow names its stimuli ("blank", "test image 0 (class 7)"); numbered images read "image N".
    named = pd.concat([spectrum(0, "V1", [0.8, 0.5]), spectrum(1, "V1", [0.78, 0.4])], ignore_index=True)
    named["image"] = named["image"].map({0: "blank", 1: "test image 0 (class 7)"})
    labels = [text.get_text() for text in plot_spectrum(named).legends[0].get_texts()]
    assert labels == ["blank", "test image 0 (class 7)"]
    source, figure = tmp_path / "spectrum.csv", tmp_path / "zoomed.png"
    named.to_csv(source, index=False)
    assert main(["plot-stability", str(source), "-o", str(figure), "--view", "data"]) == 0
    assert figure.stat().st_size > 1000
