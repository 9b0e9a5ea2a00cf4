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
