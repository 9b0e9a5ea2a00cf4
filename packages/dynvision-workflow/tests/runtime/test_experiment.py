"""One pass per experiment (`dynvision test-experiment`): every condition's files bit for bit as the per-condition
test step writes them, the experiment's tables as `dynvision aggregate` writes them, finished conditions kept."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from dynvision_workflow.cli import main
from dynvision_workflow.runtime.tables import OUTPUT_COLUMNS, RESPONSE_COLUMNS, aggregate_tables

#: Conditions of different lengths (so one pass cannot simply stack them) and a swept model override.
TESTS = [
    ("duration:intro=1+outro=2+stimulus=1", {}),
    ("duration:intro=1+outro=2+stimulus=4", {}),
    ("duration:intro=1+outro=2+stimulus=4@idle=2", {"idle": 2}),
    ("contrast:contrast=0.3+intro=1+outro=1+stimulus=2", {"ffonly": True}),
]
COMMON = ["--batch-size", "16", "--limit-images", "40", "--threads", "1"]


def _tests(tests=TESTS) -> list[dict]:
    """The --tests list: each test's folder is named by its spec, in the folder of the experiment's tables."""
    return [
        {"identifier": spec, "spec": spec, "paradigm": spec.split("@")[0], "overrides": overrides}
        for spec, overrides in tests
    ]


def _experiment(setup, root: Path, tests=TESTS) -> int:
    dataset, state = setup
    return main(["test-experiment", str(state), "--dataset", str(dataset), "--tests", json.dumps(_tests(tests)),
                 "--outputs-table", str(root / "test_outputs.csv"), "--responses-table",
                 str(root / "test_responses.csv"), *COMMON])


def _per_condition(setup, root: Path) -> None:
    """The per-condition design: `dynvision test`, `process-test` and `aggregate`, one call per test."""
    dataset, state = setup
    for spec, overrides in TESTS:
        folder = root / spec
        extra = ["--model-overrides", json.dumps(overrides)] if overrides else []
        assert main(["test", str(state), "--dataset", str(dataset), "--outputs", str(folder / "test_outputs.csv"),
                     "--responses", str(folder / "test_responses.safetensors"), "--paradigm", spec.split("@")[0],
                     *extra, *COMMON]) == 0
        assert main(["process-test", str(folder / "test_responses.safetensors"),
                     "--output", str(folder / "test_responses.csv")]) == 0
    assert main(["aggregate", "--outputs", *(str(root / s / "test_outputs.csv") for s, _ in TESTS),
                 "--responses", *(str(root / s / "test_responses.csv") for s, _ in TESTS),
                 "--outputs-table", str(root / "test_outputs.csv"),
                 "--responses-table", str(root / "test_responses.csv")]) == 0


RESULT_FILES = ("test_outputs.csv", "test_responses.safetensors", "test_responses.csv")


def test_one_pass_writes_every_file_bit_for_bit_as_the_per_condition_design(setup, tmp_path):
    _per_condition(setup, tmp_path / "single")
    assert _experiment(setup, tmp_path / "one") == 0
    for spec, _ in TESTS:
        for name in RESULT_FILES:
            single, one = tmp_path / "single" / spec / name, tmp_path / "one" / spec / name
            assert one.read_bytes() == single.read_bytes(), (spec, name)
    for name, columns in (("test_outputs.csv", OUTPUT_COLUMNS), ("test_responses.csv", RESPONSE_COLUMNS)):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "single" / name).read_bytes(), name
        # the same table as joining them in memory (streamed one test at a time: a column that some tests lack
        # is written as their own type in each test's rows, so compare values)
        joined = aggregate_tables([tmp_path / "one" / spec / name for spec, _ in TESTS], columns=columns)
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "one" / name), joined, check_dtype=False)


def test_a_condition_added_to_a_finished_experiment_is_the_only_one_tested(setup, tmp_path, caplog):
    assert _experiment(setup, tmp_path, TESTS[:2]) == 0
    kept = {name: (tmp_path / TESTS[0][0] / name).stat().st_mtime_ns for name in RESULT_FILES}
    caplog.clear()
    with caplog.at_level("INFO"):
        assert _experiment(setup, tmp_path) == 0
    assert "2 of 4 conditions already tested" in caplog.text
    assert {name: (tmp_path / TESTS[0][0] / name).stat().st_mtime_ns for name in RESULT_FILES} == kept
    assert (tmp_path / TESTS[3][0] / "test_outputs.csv").is_file()
    # The experiment's tables hold all four tests.
    assert sum(1 for _ in (tmp_path / "test_outputs.csv").open()) == 1 + 40 * (4 + 7 + 7 + 4)  # steps of each test (idle steps are not recorded)


def test_results_are_tested_again_when_what_made_them_changed(setup, tmp_path, caplog):
    assert _experiment(setup, tmp_path, TESTS[:1]) == 0
    outputs = tmp_path / TESTS[0][0] / "test_outputs.csv"
    first = outputs.stat().st_mtime_ns
    # a newer state
    os.utime(setup[1])
    caplog.clear()
    with caplog.at_level("INFO"):
        assert _experiment(setup, tmp_path, TESTS[:1]) == 0
    assert "0 of 1 conditions already tested" in caplog.text and outputs.stat().st_mtime_ns > first
    # other parameters (fewer images)
    dataset, state = setup
    assert main(["test-experiment", str(state), "--dataset", str(dataset), "--tests",
                 json.dumps(_tests(TESTS[:1])), "--outputs-table", str(tmp_path / "o.csv"),
                 "--responses-table", str(tmp_path / "r.csv"), "--batch-size", "16", "--limit-images", "20"]) == 0
    assert sum(1 for _ in outputs.open()) == 1 + 20 * 4
    # a missing file of a condition
    (tmp_path / TESTS[0][0] / "test_responses.csv").unlink()
    assert _experiment(setup, tmp_path, TESTS[:1]) == 0
    assert sum(1 for _ in outputs.open()) == 1 + 40 * 4
    # damaged files (a killed copy, a full disk): tested again, not reused
    whole = outputs.read_bytes()
    for damaged, cut in ((outputs, len(whole) - 7), (tmp_path / TESTS[0][0] / "test_responses.safetensors", 100)):
        damaged.write_bytes(damaged.read_bytes()[:cut])
        caplog.clear()
        with caplog.at_level("INFO"):
            assert _experiment(setup, tmp_path, TESTS[:1]) == 0
        assert "0 of 1 conditions already tested" in caplog.text, damaged.name
        assert outputs.read_bytes() == whole


def test_a_bad_tests_list_is_refused_in_one_line(setup, tmp_path, capsys):
    dataset, state = setup
    code = main(["test-experiment", str(state), "--dataset", str(dataset), "--tests", '[{"spec": "x"}]',
                 "--outputs-table", str(tmp_path / "o.csv"), "--responses-table", str(tmp_path / "r.csv")])
    err = capsys.readouterr().err
    assert code == 2 and "--tests must be a JSON list" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
