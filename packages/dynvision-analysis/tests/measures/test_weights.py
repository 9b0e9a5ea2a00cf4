from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dynvision_analysis import TableError, weight_summary


def test_summary_of_single_weights_and_of_a_histogram_agree():
    values = pd.DataFrame(
        {
            "area": ["V1"] * 5 + ["V2"] * 2,
            "connection": ["feedforward"] * 3 + ["recurrence"] * 2 + ["feedforward"] * 2,
            "value": [1.0, 1.0, 4.0, -2.0, -2.0, 0.5, 0.5],
        }
    )
    binned = pd.DataFrame(
        {
            "area": ["V1", "V1", "V1", "V2"],
            "connection": ["feedforward", "feedforward", "recurrence", "feedforward"],
            "value": [1.0, 4.0, -2.0, 0.5],
            "count": [2, 1, 2, 2],
        }
    )
    single, histogram = weight_summary(values), weight_summary(binned)
    assert list(single.columns) == ["area", "connection", "n", "mean", "std"]
    pd.testing.assert_frame_equal(single, histogram)
    first = single.iloc[0]
    assert (first["area"], first["connection"], first["n"], first["mean"]) == ("V1", "feedforward", 3, 2.0)
    assert first["std"] == pytest.approx(np.std([1.0, 1.0, 4.0]))
    chunked = weight_summary([values.iloc[:2], values.iloc[2:]])
    pd.testing.assert_frame_equal(chunked, single)


def test_missing_connection_is_named():
    with pytest.raises(TableError, match=r"weight_summary needs the column\(s\) 'connection'"):
        weight_summary(pd.DataFrame({"area": ["V1"], "value": [0.1]}))
