from __future__ import annotations

import numpy as np
import pandas as pd

from dynvision_analysis.measures.aggregate import combine_moments, grouped_moments, summarize_moments


def test_combined_moments_equal_one_pass_moments():
    rng = np.random.default_rng(1)
    table = pd.DataFrame({"g": rng.integers(0, 5, 1000), "x": rng.normal(3.0, 2.0, 1000)})
    one_pass = grouped_moments(table, ["g"], ["x"]).sort_values("g").reset_index(drop=True)
    parts = [grouped_moments(table.iloc[start : start + 137], ["g"], ["x"]) for start in range(0, 1000, 137)]
    merged = combine_moments(parts, ["g"], ["x"]).sort_values("g").reset_index(drop=True)
    assert list(merged["x__n"]) == list(one_pass["x__n"])
    np.testing.assert_allclose(merged["x__mean"], one_pass["x__mean"], rtol=1e-12)
    np.testing.assert_allclose(merged["x__m2"], one_pass["x__m2"], rtol=1e-10)


def test_summary_uses_ddof_one():
    table = pd.DataFrame({"g": [0, 0, 0, 0], "x": [1.0, 2.0, 3.0, 4.0]})
    summary = summarize_moments(grouped_moments(table, ["g"], ["x"]), ["g"], "x")
    assert summary["mean"].item() == 2.5
    assert summary["sem"].item() == np.std([1, 2, 3, 4], ddof=1) / 2
