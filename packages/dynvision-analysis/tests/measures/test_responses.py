from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dynvision_analysis import TableError, response_over_time


def test_means_and_sems_are_exact(responses_table):
    result = response_over_time(responses_table)
    assert list(result.columns) == ["area", "step", "time_ms", "mean", "sem", "n"]
    # V1 before IT although IT comes first in the table and sorts first alphabetically.
    assert list(result["area"]) == ["V1"] * 4 + ["IT"] * 4
    assert list(result["step"]) == [0, 1, 2, 3] * 2
    assert list(result["time_ms"]) == [0.0, 10.0, 20.0, 30.0] * 2
    expected_mean = [1.0 + 10.0 * step + offset for offset in (0.0, 100.0) for step in range(4)]
    np.testing.assert_allclose(result["mean"], expected_mean, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result["sem"], 1.0 / math.sqrt(3.0), rtol=1e-12)
    assert list(result["n"]) == [3] * 8


def test_empty_by_pools_the_areas(responses_table):
    result = response_over_time(responses_table, by=())
    assert list(result.columns) == ["step", "time_ms", "mean", "sem", "n"]
    assert list(result["n"]) == [6] * 4
    # Values at step 0: 0, 1, 2, 100, 101, 102.
    values = np.array([0.0, 1.0, 2.0, 100.0, 101.0, 102.0])
    assert result["mean"].iloc[0] == pytest.approx(values.mean())
    assert result["sem"].iloc[0] == pytest.approx(values.std(ddof=1) / math.sqrt(6))


def test_extra_category_columns_can_be_kept_apart(responses_table):
    table = responses_table.assign(seed=responses_table["sample"] % 2)
    result = response_over_time(table, by=("area", "seed"))
    assert list(result.columns[:3]) == ["area", "seed", "step"]
    first = result[(result["area"] == "V1") & (result["seed"] == 0) & (result["step"] == 0)]
    # Seed 0 holds samples 0 and 2: values 0 and 2.
    assert first["mean"].item() == 1.0
    assert first["sem"].item() == pytest.approx(math.sqrt(2.0) / math.sqrt(2.0))


def test_a_single_sample_has_no_sem(responses_table):
    result = response_over_time(responses_table[responses_table["sample"] == 0])
    assert result["n"].eq(1).all()
    assert result["sem"].isna().all()


def test_missing_values_are_left_out_of_n(responses_table):
    table = responses_table.copy()
    table.loc[(table["sample"] == 2) & (table["area"] == "V1") & (table["step"] == 0), "response"] = np.nan
    first = response_over_time(table).iloc[0]
    assert first["n"] == 2
    assert first["mean"] == 0.5


def test_chunks_give_the_same_answer_as_the_whole_table(make_responses):
    table = make_responses(samples=37, steps=9)
    whole = response_over_time(table)
    chunks = (table.iloc[start : start + 100] for start in range(0, len(table), 100))
    streamed = response_over_time(chunks)
    pd.testing.assert_frame_equal(
        whole[["area", "step", "time_ms", "n"]], streamed[["area", "step", "time_ms", "n"]]
    )
    np.testing.assert_allclose(streamed["mean"], whole["mean"], rtol=1e-12)
    np.testing.assert_allclose(streamed["sem"], whole["sem"], rtol=1e-9)


def test_sem_is_stable_for_a_small_spread_around_a_large_mean():
    # Σx² − n·mean² would lose every digit of the spread here; the deviation form keeps them.
    values = 1e8 + np.array([0.0, 0.001, 0.002] * 1000)
    table = pd.DataFrame({"area": "V1", "step": 0, "time_ms": 0.0, "response": values})
    halves = [table.iloc[:1500], table.iloc[1500:]]
    expected = values.std(ddof=1) / math.sqrt(values.size)
    assert response_over_time(table)["sem"].item() == pytest.approx(expected, rel=1e-6)
    assert response_over_time(halves)["sem"].item() == pytest.approx(expected, rel=1e-6)


def test_another_value_column_can_be_averaged(responses_table):
    result = response_over_time(responses_table, value="response_std")
    assert result["mean"].eq(0.5).all()
    assert result["sem"].eq(0.0).all()


def test_missing_columns_are_named(responses_table):
    with pytest.raises(TableError, match=r"response_over_time needs the column\(s\) 'area'"):
        response_over_time(responses_table.drop(columns="area"))


def test_an_empty_table_is_refused(responses_table):
    with pytest.raises(TableError, match="empty table"):
        response_over_time(responses_table.iloc[:0])


def test_no_chunks_is_refused():
    with pytest.raises(TableError, match="no chunks"):
        response_over_time(iter([]))


def test_value_must_not_be_a_grouping_column(responses_table):
    with pytest.raises(ValueError, match="also a grouping column"):
        response_over_time(responses_table, by=("area",), value="area")
