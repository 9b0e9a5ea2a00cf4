from __future__ import annotations

import pandas as pd
import pytest

from dynvision_analysis.tables import (
    COLUMN_DTYPES,
    OUTPUTS,
    RESPONSES,
    TableError,
    order_areas,
    require_columns,
)


def test_contracts_name_every_documented_column():
    assert OUTPUTS.names == (
        "sample",
        "step",
        "time_ms",
        "label",
        "guess",
        "correct",
        "confidence",
        "stimulus",
    )
    assert RESPONSES.names == ("sample", "step", "time_ms", "area", "response", "response_std", "stimulus")
    assert COLUMN_DTYPES["area"] == "category"
    assert COLUMN_DTYPES["time_ms"] == "float64"


def test_require_columns_names_missing_columns_and_close_matches():
    table = pd.DataFrame({"time_ms": [0.0], "responses": [1.0]})
    with pytest.raises(TableError, match=r"'response' \(did you mean 'responses'\?\).*'step'"):
        require_columns(table, ["time_ms", "response", "step"], what="test")


def test_require_columns_rejects_an_empty_table():
    with pytest.raises(TableError, match="empty table"):
        require_columns(pd.DataFrame({"step": []}), ["step"], what="test")


def test_require_columns_rejects_a_non_dataframe():
    with pytest.raises(TypeError, match="needs a pandas DataFrame, got str"):
        require_columns("table.csv", ["step"], what="test")  # type: ignore[arg-type]


def test_order_areas_puts_the_hierarchy_first_then_others_as_seen():
    assert order_areas(["IT", "pool", "V1", "V4", "IT", "fc"]) == ["V1", "V4", "IT", "pool", "fc"]


def test_optional_outputs_columns_are_documented_with_their_definitions():
    from dynvision_analysis.tables import OUTPUTS

    assert OUTPUTS.optional_names == ("label_rank", "reaction_time_ms")
    rank, reaction = OUTPUTS.optional
    assert rank.dtype == "int32"
    assert "label_rank < k" in rank.description and "0-based" in rank.description
    assert COLUMN_DTYPES["label_rank"] == "int32"
    assert reaction.unit == "ms" and "test.reaction_threshold" in reaction.description


def test_weights_and_metrics_contracts():
    from dynvision_analysis.tables import METRICS, WEIGHTS

    assert WEIGHTS.names == ("connection", "area", "value")
    assert WEIGHTS.optional_names == ("count", "parameter")
    assert METRICS.names == ("epoch", "step")
