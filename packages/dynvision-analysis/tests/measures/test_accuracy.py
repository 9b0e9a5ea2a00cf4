from __future__ import annotations

import math

import numpy as np
import pytest

from dynvision_analysis import TableError, accuracy_over_time


def test_accuracy_sem_and_confidence_are_exact(outputs_table):
    result = accuracy_over_time(outputs_table)
    assert list(result.columns) == ["step", "time_ms", "accuracy", "sem", "n", "confidence", "confidence_sem"]
    assert list(result["accuracy"]) == [0.25, 0.5, 1.0]
    assert list(result["n"]) == [4, 4, 4]
    # sem = sqrt(p (1 − p) / (n − 1)) for 0/1 values.
    expected = [math.sqrt(p * (1 - p) / 3) for p in (0.25, 0.5, 1.0)]
    np.testing.assert_allclose(result["sem"], expected, rtol=1e-12, atol=1e-15)
    # confidence = 0.1 (step + 1) + 0.01 sample, samples 0..3 → mean offset 0.015, sem = std(0,1,2,3)·0.01/2.
    np.testing.assert_allclose(result["confidence"], [0.115, 0.215, 0.315], rtol=1e-12)
    np.testing.assert_allclose(result["confidence_sem"], np.std([0, 1, 2, 3], ddof=1) * 0.01 / 2, rtol=1e-9)


def test_grouping_by_seed(outputs_table):
    result = accuracy_over_time(outputs_table, by=("seed",))
    assert list(result["seed"]) == [0, 0, 0, 1, 1, 1]
    # Seed 0 = samples 0, 1; seed 1 = samples 2, 3.
    assert list(result["accuracy"]) == [0.5, 1.0, 1.0, 0.0, 0.0, 1.0]
    assert list(result["n"]) == [2] * 6


def test_chunks_give_the_same_answer(outputs_table):
    whole = accuracy_over_time(outputs_table)
    streamed = accuracy_over_time([outputs_table.iloc[:5], outputs_table.iloc[5:]])
    np.testing.assert_allclose(streamed["accuracy"], whole["accuracy"])
    np.testing.assert_allclose(streamed["sem"], whole["sem"])
    np.testing.assert_allclose(streamed["confidence"], whole["confidence"])


def test_correct_must_be_zero_or_one(outputs_table):
    table = outputs_table.assign(correct=outputs_table["correct"] * 3)
    with pytest.raises(TableError, match=r"'correct' to be 0 or 1.*found 3"):
        accuracy_over_time(table)


def test_missing_confidence_is_named(outputs_table):
    with pytest.raises(TableError, match="'confidence'"):
        accuracy_over_time(outputs_table.drop(columns="confidence"))


def test_empty_table_is_refused(outputs_table):
    with pytest.raises(TableError, match="empty table"):
        accuracy_over_time(outputs_table.iloc[:0])
