"""Hashed test folder names and their index."""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor

import pytest

from dynvision_workflow.specs import (
    SPEC_PATTERN,
    SpecError,
    is_hashed,
    join_spec,
    read_index,
    record_specs,
    spec_hash,
    split_spec,
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


def test_swept_model_overrides_follow_the_paradigm_part_of_a_spec():
    import re

    spec = join_spec("duration:intro=2+stimulus=10", {"idle": 5})
    assert spec == "duration:intro=2+stimulus=10@idle=5"
    assert split_spec(spec) == ("duration:intro=2+stimulus=10", {"idle": 5})
    assert join_spec("duration", {}) == "duration" and split_spec("duration") == ("duration", {})
    assert join_spec("duration", {"ffonly": True, "idle": 5}) == "duration@ffonly=true+idle=5"
    for text in (spec, "duration@idle=5", "duration:stimulus=3"):
        assert re.fullmatch(SPEC_PATTERN, text)
    for text in ("duration@", "duration:stimulus=3@idle", "duration@idle=5@tau=3"):
        assert not re.fullmatch(SPEC_PATTERN, text)
    hashed = test_identifier(spec + "+tau=3", 20)
    assert hashed == f"duration-{spec_hash(spec + '+tau=3')}" and is_hashed(hashed)


def test_aggregation_recovers_swept_overrides_of_hashed_and_written_out_tests(tmp_path):
    import pandas as pd

    from dynvision_workflow.runtime.tables import aggregate_tables

    specs = ["duration:intro=2+outro=8+stimulus=10@idle=0", "duration:intro=2+outro=8+stimulus=10@idle=40"]
    index = tmp_path / "test_specs.json"
    tables = []
    for spec, limit in zip(specs, (100, 20), strict=True):
        identifier = test_identifier(spec, limit)
        tables.append(tmp_path / identifier / "test_outputs.csv")
        tables[-1].parent.mkdir()
        pd.DataFrame({"sample": [0], "step": [0], "stimulus": [1]}).to_csv(tables[-1], index=False)
        if identifier != spec:
            record_specs(index, {identifier: spec})
    result = aggregate_tables(tables, spec_index=index)
    assert list(result["idle"]) == [0, 40] and list(result["paradigm_stimulus"]) == [10, 10]
    assert set(result["paradigm"]) == {"duration"} and "@" not in "".join(result.columns)


def test_the_test_step_records_the_full_spec_of_a_hashed_test_with_swept_overrides(tmp_path):
    """`dynvision test --spec` (passed by the workflow for hashed tests with swept overrides) is what the index
    records; it is written before the test itself runs (here it then fails: there is no model state)."""
    from dynvision_workflow.cli import main

    index = tmp_path / "test_specs.json"
    main(["test", str(tmp_path / "missing.pt"), "--dataset", str(tmp_path), "--outputs", str(tmp_path / "o.csv"),
          "--responses", str(tmp_path / "r.safetensors"), "--paradigm", "duration:stimulus=2",
          "--model-overrides", "{idle: 5}", "--identifier", "duration-0123456789",
          "--spec", "duration:stimulus=2@idle=5", "--spec-index", str(index)])
    assert read_index(index) == {"duration-0123456789": "duration:stimulus=2@idle=5"}
