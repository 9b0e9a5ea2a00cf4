from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dynvision_analysis import (
    TableError,
    accuracy_over_time,
    class_accuracy,
    confusion_matrix,
    topk_accuracy_over_time,
)


@pytest.fixture
def ranked(outputs_table) -> pd.DataFrame:
    """The outputs table with label_rank: 0 where correct, else 1 + (sample + step) % 3 (ranks 1, 2, 3)."""
    rank = np.where(
        outputs_table["correct"] == 1, 0, 1 + (outputs_table["sample"] + outputs_table["step"]) % 3
    )
    return outputs_table.assign(label_rank=rank)


def test_topk_accuracy_counts_ranks_below_k(ranked):
    result = topk_accuracy_over_time(ranked, k=(1, 2, 4))
    assert list(result.columns) == ["k", "step", "time_ms", "accuracy", "sem", "n"]
    assert list(result["k"]) == [1, 1, 1, 2, 2, 2, 4, 4, 4]
    expected = {
        k: [(ranked[ranked["step"] == step]["label_rank"] < k).mean() for step in range(3)] for k in (1, 2, 4)
    }
    np.testing.assert_allclose(result["accuracy"], [*expected[1], *expected[2], *expected[4]])
    # Top-1 is the plain accuracy; top-4 covers every rank used here.
    np.testing.assert_allclose(result[result["k"] == 1]["accuracy"], accuracy_over_time(ranked)["accuracy"])
    assert result[result["k"] == 4]["accuracy"].eq(1.0).all()
    p = result["accuracy"].iloc[0]
    assert result["sem"].iloc[0] == pytest.approx(math.sqrt(p * (1 - p) / 3))


def test_topk_by_group_and_in_chunks(ranked):
    whole = topk_accuracy_over_time(ranked, k=2, by=("seed",))
    assert list(whole.columns[:3]) == ["seed", "k", "step"]
    streamed = topk_accuracy_over_time([ranked.iloc[:5], ranked.iloc[5:]], k=2, by=("seed",))
    pd.testing.assert_frame_equal(whole, streamed)


def test_topk_without_label_rank_names_the_column(outputs_table):
    with pytest.raises(TableError, match=r"needs the column 'label_rank'.*top-k correct = label_rank < k"):
        topk_accuracy_over_time(outputs_table)


@pytest.mark.parametrize("k", [0, -1, (), (1, 0), 2.5, True])
def test_bad_k_is_refused(ranked, k):
    with pytest.raises(ValueError, match="k must be one or more positive integers"):
        topk_accuracy_over_time(ranked, k=k)


def test_negative_ranks_are_refused(ranked):
    with pytest.raises(TableError, match="rank >= 0"):
        topk_accuracy_over_time(ranked.assign(label_rank=-1))


@pytest.fixture
def predictions() -> pd.DataFrame:
    # Class 0: 3 of 4 right (one taken for 1); class 1: 1 of 2 right (one taken for 2); class 2: 2 of 2.
    labels = [0, 0, 0, 0, 1, 1, 2, 2]
    guesses = [0, 0, 0, 1, 1, 2, 2, 2]
    return pd.DataFrame(
        {
            "label": labels,
            "guess": guesses,
            "correct": [int(a == b) for a, b in zip(labels, guesses, strict=True)],
            "step": 0,
        }
    )


def test_class_accuracy(predictions):
    result = class_accuracy(predictions)
    assert list(result.columns) == ["label", "accuracy", "sem", "n"]
    assert list(result["label"]) == [0, 1, 2]
    assert list(result["accuracy"]) == [0.75, 0.5, 1.0]
    assert list(result["n"]) == [4, 2, 2]
    assert result["sem"].iloc[0] == pytest.approx(math.sqrt(0.75 * 0.25 / 3))
    assert list(class_accuracy(predictions, by=("step",))["step"]) == [0, 0, 0]


def test_confusion_counts_and_row_fractions(predictions):
    result = confusion_matrix(predictions)
    assert list(result.columns) == ["label", "guess", "count", "fraction"]
    cells = {(row.label, row.guess): (row.count, row.fraction) for row in result.itertuples()}
    assert cells == {
        (0, 0): (3, 0.75),
        (0, 1): (1, 0.25),
        (1, 1): (1, 0.5),
        (1, 2): (1, 0.5),
        (2, 2): (2, 1.0),
    }
    assert result.groupby("label")["fraction"].sum().eq(1.0).all()
    streamed = confusion_matrix(predictions.iloc[start : start + 3] for start in range(0, 8, 3))
    pd.testing.assert_frame_equal(streamed, result)


def test_confusion_names_missing_guess(predictions):
    with pytest.raises(TableError, match=r"confusion_matrix needs the column\(s\) 'guess'"):
        confusion_matrix(predictions.drop(columns="guess"))
    with pytest.raises(TableError, match="no chunks"):
        confusion_matrix(iter([]))
