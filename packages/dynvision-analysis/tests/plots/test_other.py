"""Confusion matrix, weight distributions and training curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dynvision_analysis import (
    TableError,
    confusion_matrix,
    plot_confusion,
    plot_training,
    plot_weights,
    save_figure,
)


def test_confusion_rows_sum_to_100_percent_and_missing_pairs_are_zero(tmp_path):
    table = pd.DataFrame({"label": [0, 0, 0, 0, 2, 2], "guess": [0, 0, 0, 2, 2, 0]})
    figure = plot_confusion(confusion_matrix(table), class_names=["cat", "dog", "owl"])
    axes = figure.axes[0]
    matrix = np.ma.getdata(axes.images[0].get_array())
    # Classes that appear as label or guess: 0 and 2 (class 1 never occurs).
    np.testing.assert_allclose(matrix, [[75.0, 25.0], [50.0, 50.0]])
    assert [label.get_text() for label in axes.get_yticklabels()] == ["cat", "owl"]
    assert sorted(text.get_text() for text in axes.texts) == ["25", "50", "50", "75"]
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("guessed class", "true class")
    for suffix in (".png", ".svg", ".pdf"):
        assert save_figure(figure, tmp_path / f"c{suffix}").stat().st_size > 1000


def test_confusion_cells_and_colour_bar_share_one_unit():
    table = pd.DataFrame({"label": [0, 0, 0, 0, 1], "guess": [0, 0, 0, 1, 1]})
    figure = plot_confusion(confusion_matrix(table))
    matrix_axes, colour_bar = figure.axes
    image = matrix_axes.images[0]
    # Cells are written in percent, so the colour bar runs over 0–100 % too and says so.
    assert (image.norm.vmin, image.norm.vmax) == (0.0, 100.0)
    assert "%" in colour_bar.get_ylabel()
    written = sorted(float(text.get_text()) for text in matrix_axes.texts)  # empty cells are left blank
    cells = np.ma.getdata(image.get_array()).ravel()
    np.testing.assert_allclose(written, sorted(cells[cells > 0]))


def test_confusion_of_several_groups_is_refused():
    table = pd.DataFrame({"label": [0, 0], "guess": [0, 0], "seed": [1, 2]})
    with pytest.raises(TableError, match=r"one row per \(label, guess\).*\['seed'\]"):
        plot_confusion(confusion_matrix(table, by=("seed",)))


@pytest.fixture
def weights() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    parts = []
    for area in ("IT", "V1"):
        parts.append(
            pd.DataFrame({"area": area, "connection": "feedforward", "value": rng.normal(0, 1, 300)})
        )
        parts.append(
            pd.DataFrame({"area": area, "connection": "recurrence", "value": rng.normal(-1, 0.2, 100)})
        )
    return pd.concat(parts, ignore_index=True)


def test_weights_one_panel_per_area_one_outline_per_connection(weights):
    figure = plot_weights(weights, bins=20)
    assert [axes.get_title() for axes in figure.axes] == ["V1", "IT"]
    for axes in figure.axes:
        outlines = axes.patches
        assert len(outlines) == 2
        # Each outline is a density: its area is 1.
        for outline in outlines:
            values, edges, _ = outline.get_data()
            assert np.sum(values * np.diff(edges)) == pytest.approx(1.0)
    labels = [text.get_text() for text in figure.legends[0].get_texts()]
    assert labels == ["feedforward (n=600)", "recurrence (n=200)"]


def test_weights_from_histogram_rows_use_the_counts():
    binned = pd.DataFrame(
        {"area": "V1", "connection": ["skip", "skip"], "value": [-1.0, 1.0], "count": [3, 1]}
    )
    figure = plot_weights(binned, bins=2, panel=None)
    values, edges, _ = figure.axes[0].patches[0].get_data()
    np.testing.assert_allclose(values * np.diff(edges), [0.75, 0.25])
    with pytest.raises(TableError, match=r"plot_weights needs the column\(s\) 'connection'"):
        plot_weights(binned.drop(columns="connection"))


@pytest.fixture
def metrics() -> pd.DataFrame:
    nan = np.nan
    return pd.DataFrame(
        {
            "epoch": [0, 0, 0, 1, 1, 1],
            "step": [1, 3, 3, 5, 7, 7],
            "train/loss_step": [2.0, 1.5, nan, 1.0, 0.8, nan],
            "train/acc_step": [0.2, 0.4, nan, 0.6, 0.7, nan],
            "val/loss": [nan, nan, 1.6, nan, nan, 1.1],
            "val/acc": [nan, nan, 0.5, nan, nan, 0.7],
            "val/acc_last": [nan, nan, 0.4, nan, nan, 0.6],
        }
    )


def test_training_panels_loss_then_accuracy(tmp_path, metrics):
    figure = plot_training(metrics)
    loss, accuracy = figure.axes
    assert (loss.get_ylabel(), accuracy.get_ylabel()) == ("loss (cross-entropy)", "accuracy")
    assert [line.get_label() for line in loss.lines] == ["train/loss (step)", "val/loss"]
    assert [line.get_label() for line in accuracy.lines] == ["train/acc (step)", "val/acc", "val/acc_last"]
    assert accuracy.lines[2].get_linestyle() == "--"
    np.testing.assert_allclose(loss.lines[1].get_xdata(), [1.0, 2.0])
    assert loss.get_xlabel() == "epochs trained"
    assert [line.get_label() for line in plot_training(metrics, steps=False).axes[0].lines] == ["val/loss"]
    assert len(plot_training(metrics, panels=["acc"]).axes) == 1
    with pytest.raises(TableError, match=r"no metric of the family \['lr'\]"):
        plot_training(metrics, panels=["lr"])
    assert save_figure(figure, tmp_path / "training.pdf").stat().st_size > 1000


def test_accuracy_per_time_step_is_one_legend_entry(metrics):
    """val/acc_t00, val/acc_t01... (one per model time step) are drawn, but named once in the legend."""
    per_step = metrics.assign(**{f"val/acc_t{t:02d}": metrics["val/acc"] * (0.5 + t / 20) for t in range(10)})
    accuracy = plot_training(per_step).axes[1]
    dotted = [line for line in accuracy.lines if line.get_linestyle() == ":"]
    assert len(dotted) == 10
    labels = [text.get_text() for text in accuracy.get_legend().get_texts()]
    assert labels == ["train/acc (step)", "val/acc", "val/acc_last", "val/acc_t (each time step)"]
