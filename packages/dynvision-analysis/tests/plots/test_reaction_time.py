"""The reaction-time figure: speed-accuracy trade-off and accuracy per reaction-time bin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dynvision_analysis import TableError, save_figure
from dynvision_analysis.measures import accuracy_by_reaction_time, speed_accuracy
from dynvision_analysis.plots import plot_reaction_times
from dynvision_analysis.plots.measures import GUIDE_GID, NOTE_GID


def _outputs(contrast: float, slowness: int) -> pd.DataFrame:
    """6 trials; trial i reaches confidence 0.9 at step 1 + i // slowness (never for i = 5), right when i is even."""
    rows = []
    for sample in range(6):
        for step in range(8):
            decided = sample < 5 and step >= 1 + sample // slowness
            correct = int(sample % 2 == 0)
            rows.append({"sample": sample, "step": step, "time_ms": 2.0 * step, "label": 0, "guess": 1 - correct,
                         "correct": correct, "confidence": 0.9 if decided else 0.6 if step >= 1 else 0.1,
                         "stimulus": int(step >= 1), "contrast": contrast})
    return pd.DataFrame(rows)


def _lines(axes) -> list:
    """The data line of each error-bar plot (not its caps, bars or the chance line)."""
    return [container.lines[0] for container in axes.containers]


def test_both_panels_draw_the_measures_and_say_how_many_trials_are_undecided(tmp_path) -> None:
    table = _outputs(1.0, 2)
    speed = speed_accuracy(table, [0.5, 0.8])
    bins = accuracy_by_reaction_time(table, 0.8, bins=2)
    figure = plot_reaction_times(speed, bins, threshold=0.8, n_classes=10)
    speed_axes, bins_axes = figure.axes[:2]
    (line,) = _lines(speed_axes)
    np.testing.assert_allclose(line.get_xdata(), speed["mean_rt_ms"])
    np.testing.assert_allclose(line.get_ydata(), speed["accuracy"])
    (binned,) = _lines(bins_axes)
    np.testing.assert_allclose(binned.get_xdata(), bins["mean_rt_ms"])
    np.testing.assert_allclose(binned.get_ydata(), bins["accuracy"])
    labels = [text.get_text() for text in speed_axes.texts if text.get_gid() == NOTE_GID]
    # At 0.5 every trial decides (confidence 0.6 from the onset); at 0.8 5 of 6 do (floored: 83%).
    assert labels == ["θ=0.5", "θ=0.8 (83%)"]
    notes = [text.get_text() for text in bins_axes.texts if text.get_gid() == NOTE_GID]
    assert notes == ["1 of 6 trials undecided"]
    for axes in (speed_axes, bins_axes):
        guides = [line for line in axes.get_lines() if line.get_gid() == GUIDE_GID]
        assert len(guides) == 1 and guides[0].get_ydata()[0] == pytest.approx(0.1)
        assert axes.get_ylim() == pytest.approx((-0.02, 1.02))
    assert "θ=0.8" in bins_axes.get_title()
    for suffix in (".png", ".svg"):
        assert save_figure(figure, tmp_path / f"rt{suffix}").stat().st_size > 1000


def test_one_line_per_hue_level_with_the_same_colour_in_both_panels() -> None:
    table = pd.concat([_outputs(1.0, 2), _outputs(0.5, 1)], ignore_index=True)
    speed = speed_accuracy(table, [0.5, 0.8], by=["contrast"])
    bins = accuracy_by_reaction_time(table, 0.8, bins=2, by=["contrast"])
    figure = plot_reaction_times(speed, bins, hue="contrast")
    colours = [[line.get_color() for line in _lines(axes)] for axes in figure.axes[:2]]
    assert len(colours[0]) == 2 and colours[0] == colours[1] and colours[0][0] != colours[0][1]
    legend = figure.axes[1].get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["0.5", "1.0"]


def test_the_trade_off_alone_and_bad_input() -> None:
    table = pd.concat([_outputs(1.0, 2), _outputs(0.5, 1)], ignore_index=True)
    speed = speed_accuracy(table, [0.5, 0.8], by=["contrast"])
    assert len(plot_reaction_times(speed, hue="contrast").axes) == 1
    with pytest.raises(TableError, match=r"one row per \('threshold',\).*\['contrast'\]"):
        plot_reaction_times(speed)
    with pytest.raises(ValueError, match="n_classes must be an integer of at least 2"):
        plot_reaction_times(speed, hue="contrast", n_classes=1)
    with pytest.raises(TableError, match="mean_rt_ms"):
        plot_reaction_times(speed.drop(columns=["mean_rt_ms"]), hue="contrast")


def test_many_lines_stay_readable_and_every_level_is_in_the_legend() -> None:
    # A level that never decides at θ has no bins, but its line in panel A must be named; labels go on the first
    # line only; accuracies near 1 get an axis that tells them apart.
    decided = _outputs(1.0, 2)
    never = _outputs(0.1, 1).assign(confidence=0.3)
    table = pd.concat([never, decided], ignore_index=True)
    speed = speed_accuracy(table, [0.2, 0.8], by=["contrast"])
    bins = accuracy_by_reaction_time(table, 0.8, bins=2, by=["contrast"])
    assert set(bins["contrast"]) == {1.0}
    figure = plot_reaction_times(speed, bins, threshold=0.8, hue="contrast")
    legend = figure.axes[1].get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["0.1", "1.0"]
    labels = [text.get_text() for text in figure.axes[0].texts if text.get_gid() == NOTE_GID]
    assert labels == ["θ=0.2"]  # the first line's thresholds only (it never reaches 0.8)
    notes = [text.get_text() for text in figure.axes[1].texts if text.get_gid() == NOTE_GID]
    assert notes == ["1.0: 1 of 6 trials undecided\n0.1: no trial decides"]
    high = pd.concat([_outputs(1.0, 2).assign(correct=1)], ignore_index=True)
    zoomed = plot_reaction_times(speed_accuracy(high, [0.5, 0.8]))
    assert zoomed.axes[0].get_ylim()[0] == pytest.approx(0.98)  # 1.0 - 0.02: all accuracies are 1


def test_a_share_that_floors_to_zero_reads_less_than_one_percent() -> None:
    from dynvision_analysis.plots.reaction_time import _decided_share

    assert [_decided_share(f) for f in (1.0, 0.997, 0.5, 0.004, 0.0)] == ["", "99%", "50%", "<1%", "0%"]
