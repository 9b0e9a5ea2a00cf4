"""The packaged human reference (Groen et al. 2022): schema, the paper's effects, errors, packaging."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dynvision_analysis
from dynvision_analysis import reference
from dynvision_analysis.reference import (
    CONDITION_NAMES,
    HUMAN_REFERENCE,
    PHENOMENON_MEASURES,
    REFERENCES,
    human_reference,
    reference_path,
)
from dynvision_analysis.tables import TableError

#: Stimulus design of Groen et al. (2022): first stimulus of the repetition pairs and longest duration, in ms.
FIRST_STIMULUS_MS = 133.0
LONGEST_DURATION_MS = 533.0


@pytest.fixture(scope="module")
def groen() -> pd.DataFrame:
    return human_reference("groen2022")


def _curve(table: pd.DataFrame, measure: str) -> pd.DataFrame:
    """The V1 rows of one measure, ordered by condition."""
    rows = table[(table["measure"] == measure) & (table["area"] == "V1")]
    return rows.sort_values("condition").reset_index(drop=True)


def test_schema_is_the_contract_with_numeric_values_and_a_source_for_every_row(groen):
    assert list(groen.columns) == list(HUMAN_REFERENCE.names)
    for column in ("condition", "normalized_condition", "value", "low", "high"):
        assert groen[column].dtype == np.float64, column
    assert groen["how"].str.strip().str.len().gt(0).all()
    assert not groen.duplicated(["phenomenon", "area", "measure", "condition"]).any()
    intervals = groen.dropna(subset=["low", "high"])
    assert (intervals["low"] <= intervals["value"]).all() and (intervals["value"] <= intervals["high"]).all()


def test_every_phenomenon_and_measure_is_present_with_its_condition_name(groen):
    for phenomenon, measures in PHENOMENON_MEASURES.items():
        rows = groen[groen["phenomenon"] == phenomenon]
        assert set(rows["measure"]) == set(measures), phenomenon
        assert set(rows["condition_name"]) == {CONDITION_NAMES[phenomenon]}, phenomenon


def test_conditions_follow_the_paper_design_and_normalisation(groen):
    repetition = _curve(groen, "peak_ratio")
    assert repetition["condition"].tolist() == [0, 17, 33, 67, 133, 267, 533]
    np.testing.assert_allclose(
        repetition["normalized_condition"], repetition["condition"] / FIRST_STIMULUS_MS, atol=1e-3
    )
    duration = _curve(groen, "normalized_summed")
    assert duration["condition"].tolist() == [17, 33, 67, 133, 267, 533]
    np.testing.assert_allclose(
        duration["normalized_condition"], duration["condition"] / LONGEST_DURATION_MS, atol=1e-3
    )
    contrast = _curve(groen, "time_to_peak_ms")
    assert contrast["condition"].tolist() == [0.0625, 0.125, 0.25, 0.5, 1.0]
    np.testing.assert_array_equal(contrast["normalized_condition"], contrast["condition"])


def test_repetition_is_suppressed_at_the_shortest_gap_and_recovers_toward_one(groen):
    ratio = _curve(groen, "peak_ratio")
    assert ratio["value"].iloc[0] < 0.5  # strong suppression when the stimuli abut
    assert ratio["high"].iloc[0] < 1.0
    assert ratio["value"].iloc[-1] > 0.9  # recovered by the longest gap ...
    assert ratio["low"].iloc[-1] <= 1.0 <= ratio["high"].iloc[-1]  # ... to no suppression
    assert ratio["value"].iloc[-1] - ratio["value"].iloc[0] > 0.5


def test_summation_is_subadditive_above_the_linear_prediction(groen):
    summed = _curve(groen, "normalized_summed")
    shorter = summed.iloc[:-1]
    # the linear prediction of a normalised summed response is the normalised duration itself
    assert (shorter["value"] > shorter["normalized_condition"]).all()
    assert (shorter["value"].iloc[:3] > 2 * shorter["normalized_condition"].iloc[:3]).all()
    assert summed["value"].iloc[-1] == pytest.approx(1.0)
    assert summed["value"].is_monotonic_increasing


def test_time_to_peak_decreases_with_contrast_and_the_relative_measure_matches_it(groen):
    peak = _curve(groen, "time_to_peak_ms")
    assert peak["value"].is_monotonic_decreasing
    assert peak["value"].between(50, 300).all()  # ms, human V1 broadband
    relative = _curve(groen, "relative_time_to_peak")
    np.testing.assert_allclose(relative["value"], peak["value"] / peak["value"].iloc[-1], atol=0.01)
    assert relative["value"].iloc[-1] == pytest.approx(1.0)
    assert relative["value"].iloc[0] > 1.5


def test_unknown_reference_name_says_which_are_known():
    with pytest.raises(ValueError, match="groen2022") as raised:
        human_reference("groen2021")
    assert "'groen2021'" in str(raised.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.assign(value=t["high"] + 1.0), "outside their"),
        (lambda t: t.assign(measure="peak_time"), "measure or condition_name"),
        (lambda t: t.assign(phenomenon="masking"), "unknown phenomenon"),
        (lambda t: t.assign(extra=1), "unexpected column"),
        (lambda t: t.drop(columns="how"), "'how'"),
    ],
)
def test_a_malformed_reference_file_is_refused(groen, tmp_path, monkeypatch, change, message):
    broken = tmp_path / "broken.csv"
    change(groen.copy()).to_csv(broken, index=False)
    monkeypatch.setattr(reference, "reference_path", lambda name="groen2022": broken)
    with pytest.raises(TableError, match=message):
        human_reference("groen2022")


def test_reference_files_ship_inside_the_wheel_package():
    package_dir = Path(dynvision_analysis.__file__).parent
    pyproject = tomllib.loads((package_dir.parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    wheel = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]
    # hatch ships every non-ignored file under the listed package directory, data files included
    assert "src/dynvision_analysis" in wheel["packages"]
    assert not wheel.get("exclude")
    for name in REFERENCES:
        csv = Path(str(reference_path(name)))
        assert csv.is_file() and package_dir in csv.parents
        assert csv.with_suffix(".md").is_file()
