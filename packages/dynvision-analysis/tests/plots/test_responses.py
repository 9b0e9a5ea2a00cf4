from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from dynvision_analysis import TableError, plot_responses, response_over_time, save_figure, stimulus_intervals
from dynvision_analysis.style import AREA_COLORS


@pytest.fixture
def measure(make_responses) -> pd.DataFrame:
    return response_over_time(make_responses(samples=5, steps=8, areas=("IT", "pool", "V4", "V1", "V2")))


def _stimulus_spans(axes):
    return [patch for patch in axes.patches if patch.get_gid() == "stimulus"]


def test_one_line_and_band_per_area_in_hierarchy_order(measure):
    figure = plot_responses(measure, stimulus_intervals=[(20.0, 50.0)])
    assert isinstance(figure, Figure)
    (axes,) = figure.axes
    assert [line.get_label() for line in axes.lines] == ["V1", "V2", "V4", "IT", "pool"]
    assert len(axes.collections) == 5  # one SEM band per area
    assert axes.lines[0].get_color() == AREA_COLORS["V1"]
    assert [text.get_text() for text in axes.get_legend().get_texts()] == [
        "V1",
        "V2",
        "V4",
        "IT",
        "pool",
        "stimulus",
    ]
    assert axes.get_xlabel() == "time (ms)"
    assert axes.get_ylabel() == "response (a.u.)"


def test_lines_show_the_measure(measure):
    axes = plot_responses(measure).axes[0]
    v1 = measure[measure["area"] == "V1"]
    np.testing.assert_allclose(axes.lines[0].get_xdata(), v1["time_ms"])
    np.testing.assert_allclose(axes.lines[0].get_ydata(), v1["mean"])


def test_stimulus_is_shaded_once_per_presentation(make_responses):
    table = make_responses(samples=3, steps=8)
    measure = response_over_time(table)
    axes = plot_responses(measure, stimulus_intervals=stimulus_intervals(table)).axes[0]
    (span,) = _stimulus_spans(axes)
    # Steps 2, 3, 4 on at dt = 10 ms: shaded from 20 ms to 50 ms.
    assert (span.get_x(), span.get_x() + span.get_width()) == (20.0, 50.0)
    axes = plot_responses(measure, stimulus_intervals=[(0.0, 10.0), (40.0, 50.0)]).axes[0]
    assert len(_stimulus_spans(axes)) == 2
    assert [text.get_text() for text in axes.get_legend().get_texts()].count("stimulus") == 1
    assert _stimulus_spans(plot_responses(measure).axes[0]) == []


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_figure_saves_in_every_format(tmp_path, measure, suffix):
    path = save_figure(
        plot_responses(measure, stimulus_intervals=[(20.0, 50.0)], title="DyRCNNx4"), tmp_path / f"r{suffix}"
    )
    assert path.stat().st_size > 1000


def test_draws_into_a_given_axes(measure):
    figure = Figure()
    left, right = figure.subplots(1, 2)
    assert plot_responses(measure, ax=right) is figure
    assert len(right.lines) == 5
    assert len(left.lines) == 0


def test_global_rcparams_are_untouched(measure):
    def snapshot():
        return {key: mpl.rcParams[key] for key in mpl.rcParams if key != "backend"}

    before = snapshot()
    plot_responses(measure)
    assert snapshot() == before


def test_repeated_rows_per_area_and_time_are_refused_with_the_culprit(make_responses):
    table = make_responses(samples=3, steps=4).assign(seed=lambda frame: frame["sample"] % 2)
    measure = response_over_time(table, by=("area", "seed"))
    with pytest.raises(TableError, match=r"one row per \('area', 'time_ms'\).*column\(s\) \['seed'\]"):
        plot_responses(measure)
    assert len(plot_responses(measure[measure["seed"] == 0]).axes[0].lines) == 4


def test_hue_can_be_another_category(make_responses):
    table = make_responses(samples=3, steps=4, areas=("V1",)).assign(seed=lambda frame: frame["sample"] % 2)
    measure = response_over_time(table, by=("seed",))
    axes = plot_responses(measure, hue="seed").axes[0]
    assert [line.get_label() for line in axes.lines] == ["0", "1"]


def test_missing_measure_columns_are_named(measure):
    with pytest.raises(TableError, match=r"plot_responses needs the column\(s\) 'sem'"):
        plot_responses(measure.drop(columns="sem"))


def test_a_reversed_interval_is_refused(measure):
    with pytest.raises(ValueError, match=r"must end after it starts, got \(50.0, 20.0\)"):
        plot_responses(measure, stimulus_intervals=[(50.0, 20.0)])


@pytest.mark.parametrize("layout", ["small_multiples", "ridge"])
def test_layouts_show_every_area_with_the_stimulus(measure, layout):
    figure = plot_responses(measure, stimulus_intervals=[(20.0, 50.0)], layout=layout)
    areas = ["V1", "V2", "V4", "IT", "pool"]
    if layout == "small_multiples":
        assert len(figure.axes) == 5
        assert [axes.get_ylabel() for axes in figure.axes] == areas
        for axes, area in zip(figure.axes, areas, strict=True):
            (line,) = axes.lines
            np.testing.assert_allclose(line.get_ydata(), measure[measure["area"] == area]["mean"])
            assert len(_stimulus_spans(axes)) == 1
        assert figure.axes[-1].get_xlabel() == "time (ms)"
    else:
        (axes,) = figure.axes
        assert [label.get_text() for label in axes.get_yticklabels()] == areas
        # V1 on top: its zero line is highest; each line is its area's mean shifted by a constant offset.
        ticks = axes.get_yticks()
        assert list(ticks) == sorted(ticks, reverse=True)
        curves = [line for line in axes.lines if line.get_label() in areas]
        for line, area, tick in zip(curves, areas, ticks, strict=True):
            np.testing.assert_allclose(line.get_ydata() - tick, measure[measure["area"] == area]["mean"])
        assert [line for line in axes.lines if line.get_gid() == "scale_bar"]
        assert len(_stimulus_spans(axes)) == 1


def test_small_multiples_with_a_condition_as_hue(make_responses):
    table = make_responses(samples=3, steps=6, areas=("V1", "IT")).assign(
        contrast=lambda frame: np.where(frame["sample"] == 0, 0.5, 1.0)
    )
    measure = response_over_time(table, by=("area", "contrast"))
    figure = plot_responses(measure, layout="small_multiples", hue="contrast")
    assert [line.get_label() for line in figure.axes[0].lines] == ["0.5", "1.0"]
    assert [text.get_text() for text in figure.legends[0].get_texts()] == ["0.5", "1.0"]
    ridge = plot_responses(measure, layout="ridge", hue="contrast")
    assert [text.get_text() for text in ridge.legends[0].get_texts()] == ["0.5", "1.0"]


def test_unknown_layout_and_ax_with_panels_are_refused(measure):
    with pytest.raises(ValueError, match="layout must be one of"):
        plot_responses(measure, layout="grid")
    with pytest.raises(ValueError, match="cannot draw into a given ax"):
        plot_responses(measure, layout="ridge", ax=Figure().add_subplot())
