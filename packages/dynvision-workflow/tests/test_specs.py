"""Hashed test folder names and their index."""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor

import pytest

from dynvision_workflow.specs import (
    SpecError,
    is_hashed,
    read_index,
    record_specs,
    spec_hash,
    test_identifier,
)

LONG = "noise:intro=2+noisetype=phasescrambled+outro=8+ssnr=0.1+stimulus=10+tempmode=correlated+tempcorr=0.9"


def test_short_specs_keep_their_name_and_long_ones_get_a_stable_hash():
    assert test_identifier("duration:stimulus=3", 100) == "duration:stimulus=3"
    hashed = test_identifier(LONG, 60)
    assert hashed == f"noise-{spec_hash(LONG)}" and len(hashed) == len("noise-") + 10
    assert hashed == test_identifier(LONG, 60)  # stable
    assert is_hashed(hashed) and not is_hashed("duration:stimulus=3")
    assert spec_hash(LONG) == "b0784a8ad9"  # sha256, pinned: a changed hash would orphan every hashed folder


def test_index_merges_entries_and_detects_collisions(tmp_path):
    index = tmp_path / "reports" / "test_specs.json"
    record_specs(index, {"noise-0000000001": "noise:a=1"})
    record_specs(index, {"noise-0000000002": "noise:a=2", "noise-0000000001": "noise:a=1"})
    assert read_index(index) == {"noise-0000000001": "noise:a=1", "noise-0000000002": "noise:a=2"}
    with pytest.raises(SpecError, match="names both 'noise:a=1' and 'noise:a=3'"):
        record_specs(index, {"noise-0000000001": "noise:a=3"})
    assert json.loads(index.read_text())["noise-0000000001"] == "noise:a=1"
    assert not list(index.parent.glob("*.tmp"))


def _record(args):
    path, number = args
    record_specs(path, {f"noise-{number:010d}": f"noise:a={number}"})


def test_concurrent_writers_lose_no_entry(tmp_path):
    index = tmp_path / "test_specs.json"
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_record, [(index, n) for n in range(12)]))
    assert len(read_index(index)) == 12


def test_aggregation_recovers_the_parameters_of_hashed_tests(tmp_path):
    import pandas as pd

    from dynvision_workflow.runtime.tables import TableError, aggregate_tables

    identifier = test_identifier(LONG, 40)
    table = tmp_path / identifier / "test_outputs.csv"
    table.parent.mkdir()
    pd.DataFrame({"sample": [0], "step": [0], "stimulus": [1]}).to_csv(table, index=False)
    index = tmp_path / "test_specs.json"
    with pytest.raises(TableError, match="missing from the test spec index"):
        aggregate_tables([table], spec_index=index)
    record_specs(index, {identifier: LONG})
    result = aggregate_tables([table], spec_index=index)
    row = result.iloc[0]
    assert row["test_identifier"] == identifier and row["paradigm"] == "noise"
    assert row["noisetype"] == "phasescrambled" and row["tempcorr"] == 0.9 and row["paradigm_stimulus"] == 10
