from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dynvision_analysis import TableError, summarize
from dynvision_analysis.measures import summary as summary_module
from dynvision_analysis.measures.summary import bootstrap_means


@pytest.fixture
def observations() -> pd.DataFrame:
    """Latencies of two areas: V1 = 10, 12, 14, 16 ms; IT = 30, 30, 30 ms and one NaN."""
    return pd.DataFrame(
        {
            "area": ["IT"] * 4 + ["V1"] * 4,
            "latency_ms": [30.0, 30.0, 30.0, np.nan, 10.0, 12.0, 14.0, 16.0],
            "peak": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        }
    )


def test_mean_sem_and_bounds_in_tidy_form(observations):
    result = summarize(observations, ["latency_ms", "peak"], by=("area",))
    assert list(result.columns) == ["area", "measure", "mean", "sem", "n", "low", "high", "error_bars"]
    assert list(result["area"]) == ["V1", "V1", "IT", "IT"]
    assert list(result["measure"]) == ["latency_ms", "peak", "latency_ms", "peak"]
    v1 = result.iloc[0]
    sem = np.std([10, 12, 14, 16], ddof=1) / 2
    assert (v1["mean"], v1["n"]) == (13.0, 4)
    assert v1["sem"] == pytest.approx(sem)
    assert (v1["low"], v1["high"]) == pytest.approx((13.0 - sem, 13.0 + sem))
    assert v1["error_bars"] == "±1 SEM"
    # The NaN latency of IT is left out of n.
    assert result.iloc[2]["n"] == 3


def test_no_grouping_summarizes_every_row(observations):
    result = summarize(observations, "peak")
    assert list(result.columns) == ["measure", "mean", "sem", "n", "low", "high", "error_bars"]
    assert result["mean"].item() == 4.5


def test_chunks_give_the_same_summary(observations):
    whole = summarize(observations, "peak", by=("area",))
    streamed = summarize([observations.iloc[:3], observations.iloc[3:]], "peak", by=("area",))
    pd.testing.assert_frame_equal(whole, streamed)


def test_bootstrap_is_seeded_and_close_to_the_normal_interval():
    rng = np.random.default_rng(3)
    table = pd.DataFrame({"g": np.repeat([0, 1], [400, 150]), "x": rng.normal(5.0, 2.0, 550)})
    first = summarize(table, "x", by=("g",), ci="bootstrap", n_boot=4000, seed=7)
    again = summarize(table, "x", by=("g",), ci="bootstrap", n_boot=4000, seed=7)
    pd.testing.assert_frame_equal(first, again)
    other = summarize(table, "x", by=("g",), ci="bootstrap", n_boot=4000, seed=8)
    assert not np.array_equal(first["low"], other["low"])
    assert list(first["error_bars"]) == ["95% bootstrap CI"] * 2
    # For a mean of many normal values the percentile interval is close to mean ± 1.96 SEM.
    half_width = (first["high"] - first["low"]) / 2
    np.testing.assert_allclose(half_width, 1.96 * first["sem"], rtol=0.1)
    assert ((first["low"] < first["mean"]) & (first["mean"] < first["high"])).all()


def test_bootstrap_of_constant_groups_is_exact_and_single_values_have_no_interval():
    table = pd.DataFrame({"g": ["a", "a", "a", "b", "b", "c"], "x": [2.0, 2.0, 2.0, -1.0, -1.0, 9.0]})
    result = summarize(table, "x", by=("g",), ci="bootstrap", n_boot=50)
    assert list(result["low"][:2]) == [2.0, -1.0]
    assert list(result["high"][:2]) == [2.0, -1.0]
    assert math.isnan(result["low"].iloc[2]) and math.isnan(result["high"].iloc[2])


def test_bootstrap_means_match_a_per_group_reference():
    rng = np.random.default_rng(0)
    values, codes = rng.normal(size=30), np.repeat([2, 0, 1], [5, 15, 10])
    means = bootstrap_means(values, codes, 4, n_boot=3000, rng=np.random.default_rng(1))
    assert means.shape == (3000, 4)
    assert np.isnan(means[:, 3]).all()  # an empty group
    for group in range(3):
        own = values[codes == group]
        # The bootstrap distribution of the mean is centred on the mean with spread s/√n (ddof 0).
        assert means[:, group].mean() == pytest.approx(own.mean(), abs=0.05)
        assert means[:, group].std() == pytest.approx(own.std() / math.sqrt(own.size), rel=0.1)


def test_bootstrap_blocks_do_not_change_the_result(monkeypatch):
    rng = np.random.default_rng(0)
    values, codes = rng.normal(size=40), np.repeat([0, 1], 20)
    whole = bootstrap_means(values, codes, 2, n_boot=100, rng=np.random.default_rng(5))
    monkeypatch.setattr(summary_module, "_DRAWS_PER_BLOCK", 120)  # blocks of 3 resamples
    blocked = bootstrap_means(values, codes, 2, n_boot=100, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(whole, blocked)


def test_bad_arguments_are_refused(observations):
    with pytest.raises(ValueError, match="ci must be 'sem' or 'bootstrap'"):
        summarize(observations, "peak", ci="t")
    with pytest.raises(ValueError, match="level must be in"):
        summarize(observations, "peak", ci="bootstrap", level=95)
    with pytest.raises(ValueError, match="both values and grouping columns"):
        summarize(observations, "peak", by=("peak",))
    with pytest.raises(TableError, match=r"summarize needs the column\(s\) 'onset'"):
        summarize(observations, "onset")
    with pytest.raises(TableError, match="empty table"):
        summarize(observations.iloc[:0], "peak")


def test_a_swept_parameter_named_interval_can_be_a_grouping_key() -> None:
    """The error-bar description has its own column name, so it does not clash with an ``interval`` sweep."""
    table = pd.DataFrame({"interval": [2, 2, 4, 4], "accuracy": [0.5, 0.7, 0.8, 1.0]})
    result = summarize(table, "accuracy", by=["interval"])
    assert list(result["interval"]) == [2, 4] and result["mean"].tolist() == pytest.approx([0.6, 0.9])
    assert set(result["error_bars"]) == {"±1 SEM"}
