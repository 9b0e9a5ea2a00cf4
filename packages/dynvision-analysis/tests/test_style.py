from __future__ import annotations

import matplotlib as mpl
import pytest

from dynvision_analysis.style import (
    AREA_COLORS,
    OKABE_ITO,
    PALETTE,
    area_colors,
    axis_label,
    category_colors,
    figure_size,
    figure_style,
)


def test_palette_is_okabe_ito():
    assert set(PALETTE) == set(OKABE_ITO.values())
    assert len(PALETTE) == 8


def test_known_areas_keep_their_colours_and_others_get_unused_ones():
    colors = area_colors(["pool", "IT", "V1"])
    assert list(colors) == ["V1", "IT", "pool"]
    assert colors["V1"] == AREA_COLORS["V1"]
    assert colors["pool"] not in AREA_COLORS.values()


def test_category_colours_cycle():
    colors = category_colors(range(10))
    assert colors["0"] == colors["8"] == PALETTE[0]


def test_figure_style_is_scoped():
    before = mpl.rcParams["font.size"]
    with figure_style({"font.size": 13}):
        assert mpl.rcParams["font.size"] == 13
        assert mpl.rcParams["svg.fonttype"] == "none"
    assert mpl.rcParams["font.size"] == before


def test_labels_carry_units():
    assert axis_label("time_ms") == "time (ms)"
    assert axis_label("response") == "response (a.u.)"
    assert axis_label("contrast") == "contrast"


def test_figure_sizes():
    assert figure_size("single") == (3.5, 2.4)
    assert figure_size((4, 3)) == (4.0, 3.0)
    with pytest.raises(ValueError, match="Unknown figure size 'huge'"):
        figure_size("huge")
