from __future__ import annotations

import json
import shlex

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file, save_file

from dynvision_workflow.runtime.tables import TableError, aggregate_tables, responses_table


def _responses_file(path, n=3, t=4, areas=("V1", "V2")):
    arrays = {"sample": np.arange(n, dtype=np.int64), "time_ms": np.arange(t, dtype=np.float32) * 2.0}
    arrays["stimulus"] = np.array([0, 1, 1, 0][:t], dtype=np.uint8)
    for k, area in enumerate(areas):
        arrays[f"{area}.mean"] = (np.arange(n * t, dtype=np.float32).reshape(n, t) + 100 * k)
        arrays[f"{area}.std"] = np.ones((n, t), dtype=np.float32)
    save_file(arrays, str(path), metadata={"areas": json.dumps(list(areas)), "dt": json.dumps(2.0)})
    return path


def test_responses_table_is_tidy_and_exact(tmp_path):
    table = responses_table(_responses_file(tmp_path / "r.safetensors"))
    assert list(table.columns) == ["sample", "step", "time_ms", "area", "response", "response_std", "stimulus"]
    assert len(table) == 3 * 4 * 2
    row = table[(table["area"] == "V2") & (table["sample"] == 1) & (table["step"] == 2)].iloc[0]
    assert row["response"] == 100 + 1 * 4 + 2
    assert row["time_ms"] == 4.0
    assert row["stimulus"] == 1


def test_written_responses_table_is_the_tidy_table_as_pandas_writes_it(tmp_path, monkeypatch):
    """`dynvision process-test` (and the one pass) format the tidy table themselves, in blocks of samples: the same
    bytes as pandas writing :func:`responses_table`, for values of every form (tiny, huge, negative, NaN)."""
    import dynvision_workflow.runtime.tables as tables

    path = _responses_file(tmp_path / "r.safetensors", n=5, t=4, areas=("V1", "V2", "IT"))
    arrays = load_file(str(path))
    rng = np.random.default_rng(0)
    arrays["V2.mean"] = (rng.standard_normal((5, 4)) * 10.0 ** rng.integers(-12, 12, (5, 4))).astype(np.float32)
    arrays["V2.std"][1, 2] = np.nan
    arrays["time_ms"] = (np.arange(4) * 2.5).astype(np.float32)
    save_file(arrays, str(path), metadata={"areas": json.dumps(["V1", "V2", "IT"]), "dt": json.dumps(2.5)})
    monkeypatch.setattr(tables, "_TEXT_BLOCK", 2)  # blocks of 2, 2 and 1 samples
    tables.write_responses_table(path, tmp_path / "r.csv")
    assert (tmp_path / "r.csv").read_text() == responses_table(path).to_csv(index=False)


def test_missing_or_foreign_responses_file_is_named(tmp_path):
    with pytest.raises(TableError, match="does not exist"):
        responses_table(tmp_path / "none.safetensors")
    save_file({"x": np.zeros(2, dtype=np.float32)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(TableError, match="names no areas"):
        responses_table(tmp_path / "foreign.safetensors")
    (tmp_path / "corrupt.safetensors").write_bytes(b"\x00\x01garbage")
    with pytest.raises(TableError, match="cannot be read"):
        responses_table(tmp_path / "corrupt.safetensors")


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda data: data[: len(data) // 2], "cannot be read .*cut short"),
        (lambda data: bytes(range(256)) * 8, "cannot be read"),
        (lambda data: b"", "cannot be read"),
    ],
    ids=["truncated", "garbage", "empty"],
)
def test_a_damaged_responses_file_is_refused_with_the_command_that_writes_it_again(tmp_path, damage, problem):
    path = _responses_file(tmp_path / "test_responses.safetensors")
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(TableError, match=problem) as caught:
        responses_table(path)
    assert f"write it again: dynvision run --forcerun {path}" in str(caught.value)


def test_a_responses_file_without_an_area_s_tensors_is_refused(tmp_path):
    path = tmp_path / "test_responses.safetensors"
    arrays = {"sample": np.arange(2), "time_ms": np.zeros(3, np.float32), "stimulus": np.zeros(3, np.uint8),
              "V1.mean": np.zeros((2, 3), np.float32)}
    save_file(arrays, str(path), metadata={"areas": json.dumps(["V1"])})
    with pytest.raises(TableError, match=r"lacks the tensor\(s\) \['V1.std'\].*: dynvision run --forcerun "):
        responses_table(path)


def test_aggregate_adds_paradigm_parameters_from_folder_names(tmp_path):
    paths = []
    for stim in (2, 4):
        folder = tmp_path / f"duration:intro=1+stimulus={stim}"
        folder.mkdir()
        pd.DataFrame({"sample": [0, 1], "stimulus": [1, 0]}).to_csv(folder / "t.csv", index=False)
        paths.append(folder / "t.csv")
    table = aggregate_tables(paths)
    assert set(table["paradigm"]) == {"duration"}
    assert list(table["paradigm_stimulus"]) == [2, 2, 4, 4]
    assert list(table["intro"]) == [1, 1, 1, 1]
    assert list(table["stimulus"]) == [1, 0, 1, 0]


def test_aggregate_names_a_swept_model_override_column_by_its_canonical_spelling(tmp_path):
    from dynvision_workflow.runtime.tables import override_column

    folder = tmp_path / "duration:stimulus=2@idle=5+seed=3"
    folder.mkdir()
    pd.DataFrame({"sample": [0], "stimulus": [1]}).to_csv(folder / "t.csv", index=False)
    table = aggregate_tables([folder / "t.csv"])
    assert table["idle"].tolist() == [5] and table["paradigm_stimulus"].tolist() == [2]
    # a model keyword named like a paradigm parameter (the common option `seed`) or a measurement column
    assert table["model_seed"].tolist() == [3] and "seed" not in table.columns
    assert override_column("idle_timesteps", "duration") == "idle" and override_column("step") == "model_step"


def test_aggregate_names_upstream_spellings_by_our_columns(tmp_path):
    """A folder named with upstream DynVision's short keys (stim, noiselevel) gets our columns."""
    folder = tmp_path / "noise:noiselevel=0.3+stim=2"
    folder.mkdir()
    pd.DataFrame({"sample": [0], "stimulus": [1]}).to_csv(folder / "t.csv", index=False)
    table = aggregate_tables([folder / "t.csv"])
    assert table.loc[0, "ssnr"] == 0.3 and table.loc[0, "paradigm_stimulus"] == 2
    assert "stim" not in table.columns and "noiselevel" not in table.columns


def test_aggregate_of_nothing_or_missing_raises(tmp_path):
    with pytest.raises(TableError, match="no test tables"):
        aggregate_tables([])
    with pytest.raises(TableError, match="does not exist"):
        aggregate_tables([tmp_path / "x" / "t.csv"])


def test_aggregate_keeps_the_columns_a_test_recorded_and_adds_no_duplicates(tmp_path):
    paths = []
    for contrast in (0.2, 0.8):
        folder = tmp_path / f"contrast:contrast={contrast}+stimulus=3"
        folder.mkdir()
        pd.DataFrame({"sample": [0, 1], "stimulus": [1, 0], "paradigm": "contrast", "intro": 2,
                      "paradigm_stimulus": 3, "outro": 3, "blank": 0.0, "contrast": contrast}).to_csv(
            folder / "t.csv", index=False)
        paths.append(folder / "t.csv")
    table = aggregate_tables(paths)
    assert list(table.columns) == ["sample", "stimulus", "paradigm", "intro", "paradigm_stimulus", "outro", "blank",
                                   "contrast", "test_identifier"]
    assert list(table["contrast"]) == [0.2, 0.2, 0.8, 0.8]


def test_written_aggregate_copies_each_tests_text_and_holds_the_joined_values(tmp_path):
    """`dynvision aggregate` joins the tests' tables as text: a test's lines are copied as written (6 significant
    digits stay 6, an integer-valued float stays as the test wrote it) with its parameters appended; tables whose
    columns sit elsewhere in the joined header, or that quote a field, are moved field by field. The values are
    those of joining the tables in memory."""
    from dynvision_workflow.runtime.tables import write_aggregates

    tables = {
        "duration:stimulus=2": "sample,confidence,time_ms,paradigm,note\n0,0.123457,2,duration,a\n1,1e-05,4,duration,b\n",
        # another column order (the joined header puts 'extra' before 'note') and a quoted field with a comma
        "duration:stimulus=4": 'sample,confidence,time_ms,paradigm,extra,note\n0,0.5,2,duration,x,"c,d"\n',
        "duration:stimulus=6@idle=3": "sample,confidence,time_ms,paradigm,note\n0,0.25,2.5,duration,e\n",
        # every column but one: its single empty field is written bare
        "duration:stimulus=8": "sample,confidence,time_ms,paradigm,note,test_identifier,paradigm_stimulus,extra\n"
        "0,0.75,2,duration,f,duration:stimulus=8,8,y\n",
    }
    paths = []
    for name, text in tables.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "t.csv").write_text(text)
        paths.append(tmp_path / name / "t.csv")
    write_aggregates([(paths, tmp_path / "joined.csv", ["sample"])])
    lines = (tmp_path / "joined.csv").read_text().splitlines()
    assert lines[0] == "sample,confidence,time_ms,paradigm,note,test_identifier,paradigm_stimulus,extra,idle"
    assert lines[1:3] == ["0,0.123457,2,duration,a,duration:stimulus=2,2,,", "1,1e-05,4,duration,b,duration:stimulus=2,2,,"]
    assert lines[3] == '0,0.5,2,duration,"c,d",duration:stimulus=4,4,x,'
    assert lines[4:] == ["0,0.25,2.5,duration,e,duration:stimulus=6@idle=3,6,,3", "0,0.75,2,duration,f,duration:stimulus=8,8,y,"]
    joined = aggregate_tables(paths, columns=["sample"])
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "joined.csv"), joined[lines[0].split(",")], check_dtype=False)


def test_aggregate_refuses_a_table_of_another_paradigm(tmp_path):
    folder = tmp_path / "duration:stimulus=3"
    folder.mkdir()
    pd.DataFrame({"sample": [0], "paradigm": ["contrast"]}).to_csv(folder / "t.csv", index=False)
    with pytest.raises(TableError, match="records paradigm"):
        aggregate_tables([folder / "t.csv"])


def _outputs_table(tmp_path, samples=3, steps=4):
    """A test's outputs table as ``dynvision test`` writes it (measurement columns, then the paradigm's)."""
    from dynvision_workflow.runtime.tables import OUTPUT_COLUMNS

    folder = tmp_path / "duration:intro=1+outro=2+stimulus=3"
    folder.mkdir(exist_ok=True)
    rows = samples * steps
    table = pd.DataFrame(
        {
            "sample": np.repeat(np.arange(samples), steps),
            "step": np.tile(np.arange(steps), samples),
            "time_ms": np.tile(np.arange(steps) * 2.0, samples),
            "label": 1,
            "guess": np.arange(rows) % 3,
            "correct": (np.arange(rows) % 3 == 1).astype(int),
            "confidence": np.linspace(0.1, 0.9, rows).round(6),
            "label_rank": np.arange(rows) % 2,
            "stimulus": np.tile([0, 1, 1, 0], samples)[:rows],
        },
        columns=OUTPUT_COLUMNS,
    ).assign(paradigm="duration", intro=1, paradigm_stimulus=3, outro=2, blank=0)
    path = folder / "test_outputs.csv"
    table.to_csv(path, index=False)
    return path


def _drop_column(text: str, column: str) -> str:
    lines = [line.split(",") for line in text.splitlines()]
    index = lines[0].index(column)
    return "".join(",".join(fields[:index] + fields[index + 1 :]) + "\n" for fields in lines)


def _cut_last_line(text: str, fields: int) -> str:
    """``text`` cut short inside its last line, after ``fields`` of its fields (as a killed copy leaves it)."""
    body, _, last = text.rstrip("\n").rpartition("\n")
    return body + "\n" + ",".join(last.split(",")[:fields])


#: Damaged outputs tables (text -> text) and what the refusal says.
DAMAGED_OUTPUTS = {
    "truncated mid line": (lambda text: _cut_last_line(text, 5), "ends in the middle of a row"),
    "empty": (lambda text: "", r"is empty \(0 bytes\)"),
    "header only": (lambda text: text.splitlines(keepends=True)[0], "has no rows"),
    "no line end": (lambda text: text.rstrip("\n"), "does not end with a line end"),
    "cut at a line end": (lambda text: "".join(text.splitlines(keepends=True)[:-2]), "rows for sample 2 where"),
    "a missing column": (lambda text: _drop_column(text, "correct"), r"lacks the column\(s\) \['correct'\]"),
    # one more field in every row: pandas would take the first column as the index and shift the others silently
    "an extra field": (lambda text: text.replace("\n", ",7\n").replace(",7\n", "\n", 1), "header of 14 columns but 15"),
    "text in a number column": (
        lambda text: text.replace("\n0,1,2.0,1,", "\n0,1,2.0,one,", 1), "text in its numeric column 'label'"
    ),
    "an empty value": (
        lambda text: text.replace("\n0,1,2.0,1,", "\n0,1,,1,", 1), r"empty value in column 'time_ms' \(line 3\)"
    ),
    "binary": (lambda text: "\x00\x01" + text, "binary data"),
}


@pytest.mark.parametrize("case", list(DAMAGED_OUTPUTS))
def test_aggregating_a_damaged_outputs_table_names_it_and_the_command_that_writes_it_again(tmp_path, case):
    """A truncated table once crashed aggregation inside the code that built its message ('<' between float and
    str); every damage now ends in a TableError naming the file, what is wrong and the fix as a command."""
    from dynvision_workflow.runtime.tables import OUTPUT_COLUMNS

    path = _outputs_table(tmp_path)
    damage, problem = DAMAGED_OUTPUTS[case]
    path.write_text(damage(path.read_text()))
    with pytest.raises(TableError, match=problem) as caught:
        aggregate_tables([path], columns=OUTPUT_COLUMNS)
    assert str(path) in str(caught.value) and f"dynvision run --forcerun {shlex.quote(str(path))}" in str(caught.value)


def test_an_intact_outputs_table_is_aggregated_whole(tmp_path):
    from dynvision_workflow.runtime.tables import OUTPUT_COLUMNS

    table = aggregate_tables([_outputs_table(tmp_path)], columns=OUTPUT_COLUMNS)
    assert len(table) == 12 and table["test_identifier"].unique().tolist() == ["duration:intro=1+outro=2+stimulus=3"]


def test_aggregate_writes_neither_table_when_one_input_is_damaged(tmp_path):
    """The outputs table used to be written before the responses tables were read."""
    from dynvision_workflow.cli import main

    outputs = _outputs_table(tmp_path)
    responses = outputs.parent / "test_responses.csv"
    responses.write_text("sample,step,time_ms,area,response,response_std,stimulus\n0,0,0.0,V1,0.5")
    written = tmp_path / "out"
    code = main(["aggregate", "--outputs", str(outputs), "--responses", str(responses),
                 "--outputs-table", str(written / "o.csv"), "--responses-table", str(written / "r.csv")])
    assert code == 2 and not (written / "o.csv").exists() and not (written / "r.csv").exists()


def test_a_responses_table_cut_short_is_refused(tmp_path):
    from dynvision_workflow.runtime.tables import RESPONSE_COLUMNS, write_csv

    folder = tmp_path / "duration:stimulus=3"
    folder.mkdir()
    path = folder / "test_responses.csv"
    write_csv(responses_table(_responses_file(tmp_path / "r.safetensors")), path)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))  # the last sample of the last area lost one step
    with pytest.raises(TableError, match=r"has 7 rows for sample 2 where the other samples have 8.*--forcerun "):
        aggregate_tables([path], columns=RESPONSE_COLUMNS)
