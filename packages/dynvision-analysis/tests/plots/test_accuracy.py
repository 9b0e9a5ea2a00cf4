from __future__ import annotations

import pytest
from matplotlib.figure import Figure

from dynvision_analysis import accuracy_over_time, plot_accuracy, save_figure, stimulus_intervals


@pytest.fixture
def measure(outputs_table):
    return accuracy_over_time(outputs_table)


def test_accuracy_line_band_chance_and_stimulus(outputs_table, measure):
    figure = plot_accuracy(measure, n_classes=10, stimulus_intervals=stimulus_intervals(outputs_table))
    assert isinstance(figure, Figure)
    axes = figure.axes[0]
    assert [line.get_label() for line in axes.lines] == ["accuracy", "chance (1/10)"]
    assert list(axes.lines[0].get_ydata()) == [0.25, 0.5, 1.0]
    (chance,) = [line for line in axes.lines if line.get_gid() == "chance"]
    assert list(chance.get_ydata()) == [0.1, 0.1]
    assert len(axes.collections) == 1  # SEM band
    (span,) = [patch for patch in axes.patches if patch.get_gid() == "stimulus"]
    assert (span.get_x(), span.get_width()) == (0.0, 10.0)
    assert axes.get_ylim() == (-0.02, 1.02)
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("time (ms)", "accuracy")


def test_no_chance_line_without_n_classes(measure):
    assert [line.get_label() for line in plot_accuracy(measure).axes[0].lines] == ["accuracy"]


def test_confidence_adds_a_dashed_line(measure):
    axes = plot_accuracy(measure, confidence=True).axes[0]
    assert [line.get_label() for line in axes.lines] == ["accuracy", "confidence"]
    assert axes.lines[1].get_linestyle() == "--"
    assert axes.get_ylabel() == "accuracy / confidence"


def test_one_line_per_hue_level(outputs_table):
    axes = plot_accuracy(accuracy_over_time(outputs_table, by=("seed",)), hue="seed").axes[0]
    assert [line.get_label() for line in axes.lines] == ["0", "1"]
    assert len(axes.collections) == 2


@pytest.mark.parametrize("n_classes", [1, 0, 2.5, True])
def test_bad_n_classes_is_refused(measure, n_classes):
    with pytest.raises(ValueError, match="n_classes must be an integer of at least 2"):
        plot_accuracy(measure, n_classes=n_classes)


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_figure_saves_in_every_format(tmp_path, measure, suffix):
    path = save_figure(
        plot_accuracy(measure, n_classes=10, stimulus_intervals=[(0.0, 10.0)]), tmp_path / f"a{suffix}"
    )
    assert path.stat().st_size > 1000
