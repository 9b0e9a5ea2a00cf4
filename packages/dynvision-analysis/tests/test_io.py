from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from dynvision_analysis import TableError, iter_table, read_table, save_figure, write_table

HAS_PARQUET = (
    importlib.util.find_spec("pyarrow") is not None or importlib.util.find_spec("fastparquet") is not None
)


@pytest.fixture
def wide_csv(tmp_path, responses_table):
    """The responses table plus 20 unused float columns and a model-name column."""
    extra = {f"unused_{index}": np.arange(len(responses_table), dtype="float64") for index in range(20)}
    path = tmp_path / "test_responses.csv"
    responses_table.assign(model="DyRCNNx4", **extra).to_csv(path, index=False)
    return path


def test_only_the_requested_columns_are_read_in_compact_dtypes(wide_csv):
    table = read_table(wide_csv, ["area", "step", "time_ms", "response"])
    assert list(table.columns) == ["area", "step", "time_ms", "response"]
    assert table["area"].dtype == "category"
    assert table["step"].dtype == "int32"
    assert table["response"].dtype == "float32"
    assert table["time_ms"].dtype == "float64"
    assert len(table) == 24


def test_optional_columns_are_read_when_present(wide_csv):
    table = read_table(wide_csv, ["step"], optional=["model", "seed"])
    assert list(table.columns) == ["step", "model"]
    # A repeated string becomes a categorical: one small integer per row instead of a Python string.
    assert table["model"].dtype == "category"


def test_reading_everything_downcasts_extra_integers(tmp_path):
    path = tmp_path / "table.csv"
    pd.DataFrame({"seed": [1, 2, 3], "step": [0, 1, 2]}).to_csv(path, index=False)
    table = read_table(path)
    assert table["seed"].dtype == "int8"
    assert read_table(path, downcast=False)["seed"].dtype == "int64"


def test_missing_columns_are_named(wide_csv):
    with pytest.raises(TableError, match=r"lacks the required column\(s\) \['label', 'guess'\]"):
        read_table(wide_csv, ["step", "label", "guess"])


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_table(tmp_path / "absent.csv")


def test_unknown_suffix_lists_the_allowed_ones(tmp_path):
    with pytest.raises(TableError, match=r"Unknown table format '\.xlsx'.*\.csv"):
        read_table(tmp_path / "table.xlsx")


def test_an_empty_file_is_reported(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(TableError, match="is empty"):
        read_table(path)


def test_text_in_a_numeric_column_is_reported(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("step,time_ms\n0,0.0\nfirst,10.0\n")
    with pytest.raises(TableError, match=r"Could not parse.*'step': 'int32'"):
        read_table(path, ["step"])


def test_compressed_csv_is_read(tmp_path, responses_table):
    path = tmp_path / "test_responses.csv.gz"
    write_table(responses_table, path)
    pd.testing.assert_series_equal(
        read_table(path, ["response"])["response"], responses_table["response"].astype("float32")
    )


def test_iter_table_yields_bounded_chunks_that_add_up(wide_csv):
    chunks = list(iter_table(wide_csv, ["area", "response"], chunksize=10))
    assert [len(chunk) for chunk in chunks] == [10, 10, 4]
    assert sum(chunk["response"].sum() for chunk in chunks) == pytest.approx(
        read_table(wide_csv)["response"].sum()
    )


def test_iter_table_rejects_a_non_positive_chunksize(wide_csv):
    with pytest.raises(ValueError, match="chunksize must be a positive number of rows, got 0"):
        next(iter_table(wide_csv, chunksize=0))


def test_write_table_round_trips_and_leaves_no_temporary_file(tmp_path, outputs_table):
    path = write_table(outputs_table, tmp_path / "sub" / "measure.csv")
    assert [item.name for item in path.parent.iterdir()] == ["measure.csv"]
    pd.testing.assert_frame_equal(pd.read_csv(path), outputs_table)


def test_parquet_round_trip_or_a_clear_error_without_engine(tmp_path, responses_table):
    # One test for both environments, so neither case is ever silently skipped.
    path = tmp_path / "test_responses.parquet"
    if HAS_PARQUET:
        write_table(responses_table, path)
        table = read_table(path, ["area", "response"])
        assert list(table.columns) == ["area", "response"]
        np.testing.assert_allclose(table["response"], responses_table["response"])
        return
    path.write_bytes(b"PAR1 not really parquet")
    with pytest.raises(ImportError, match=r"needs pyarrow.*pip install pyarrow"):
        read_table(path)
    with pytest.raises(ImportError, match=r"Writing the Parquet file .* needs pyarrow"):
        write_table(responses_table, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_parquet_is_streamed_in_row_batches_or_a_clear_error_without_engine(tmp_path, make_responses):
    from dynvision_analysis import response_over_time

    path = tmp_path / "test_responses.parquet"
    table = make_responses(samples=10, steps=5)
    if HAS_PARQUET:
        write_table(table, path)
        chunks = list(iter_table(path, ["area", "step", "time_ms", "response"], chunksize=64))
        assert [len(chunk) for chunk in chunks] == [64, 64, 64, 8]
        assert list(chunks[0].columns) == ["area", "step", "time_ms", "response"]
        assert chunks[0]["step"].dtype == "int32"
        streamed = response_over_time(iter_table(path, ["area", "step", "time_ms", "response"], chunksize=64))
        whole = response_over_time(table)
        np.testing.assert_allclose(streamed["mean"], whole["mean"], rtol=1e-6)  # response read as float32
        with pytest.raises(TableError, match="lacks the required column"):
            next(iter_table(path, ["label"]))
        return
    path.write_bytes(b"PAR1 not really parquet")
    with pytest.raises(ImportError, match=r"needs pyarrow"):
        next(iter_table(path, ["area"]))


@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_save_figure_in_each_format(tmp_path, suffix, magic):
    figure = Figure()
    figure.add_subplot().plot([0, 1], [0, 1])
    path = save_figure(figure, tmp_path / f"figure{suffix}")
    assert path.read_bytes().startswith(magic)
    assert [item.name for item in tmp_path.iterdir()] == [f"figure{suffix}"]


def test_vector_figures_are_reproducible(tmp_path):
    figure = Figure()
    figure.add_subplot().plot([0, 1], [0, 1])
    first = save_figure(figure, tmp_path / "a.svg").read_bytes()
    assert save_figure(figure, tmp_path / "b.svg").read_bytes() == first


def test_save_figure_rejects_an_unknown_format(tmp_path):
    with pytest.raises(ValueError, match=r"Unknown figure format '\.jpg'.*'\.pdf', '\.png', '\.svg'"):
        save_figure(Figure(), tmp_path / "figure.jpg")


def test_written_files_get_the_usual_permissions_not_owner_only(tmp_path, responses_table):
    import os
    import stat

    previous = os.umask(0o022)
    try:
        table = write_table(responses_table, tmp_path / "table.csv")
        figure = save_figure(Figure(), tmp_path / "figure.png")
    finally:
        os.umask(previous)
    # An atomic write goes through a temporary file that mkstemp creates as 0o600; the final file must be
    # readable by the group and others like any file the user writes (shared cluster file systems).
    for path in (table, figure):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


# Damaged tables and refused writes -------------------------------------------------------------------------------

#: A plain CSV damaged as a full disk, a killed copy or a hand edit leaves it, and what the refusal says.
DAMAGED_CSV = {
    "cut inside a row": ("step,time_ms,stimulus\n0,0.0,0\n1,2.0", "ends in the middle of a row .*2 of the header's 3"),
    "cut inside the last field": ("step,time_ms,stimulus\n0,0.0,0\n1,2.0,", "ends in the middle of a row"),
    "an extra field in every row": ("step,time_ms\n0,0.0,0\n1,2.0,1\n", "header of 2 columns but 3 fields"),
    "a field too few in the first row": ("step,time_ms,stimulus\n0,0.0\n1,2.0,1\n", "header of 3 columns but 2"),
    "binary data": ("\x00\x01\x02\x03garbage\n", "holds binary data"),
    "empty": ("", r"is empty \(0 bytes\)"),
}


@pytest.mark.parametrize("case", list(DAMAGED_CSV))
def test_a_damaged_csv_is_refused_naming_it_and_how_to_write_it_again(tmp_path, case):
    """Before, pandas read these as rows with missing values or columns shifted one place, without a word."""
    text, problem = DAMAGED_CSV[case]
    path = tmp_path / "test_outputs.csv"
    path.write_text(text)
    for read in (lambda: read_table(path), lambda: next(iter_table(path, ["step"]))):
        with pytest.raises(TableError, match=problem) as caught:
            read()
        assert f"dynvision run --forcerun {path})" in str(caught.value)


def test_csv_problem_accepts_whole_tables_and_a_missing_final_line_end_unless_asked(tmp_path):
    from dynvision_analysis.io import csv_problem

    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n")
    assert csv_problem(path) is None
    path.write_text("a,b\n1,2")  # written by hand: no line end at the end, but every field
    assert csv_problem(path) is None
    assert "does not end with a line end" in csv_problem(path, final_newline=True)
    long_row = ",".join(["x" * 10_000] * 20)  # rows longer than the probe are left to the parser
    path.write_text(f"{','.join('abcdefghijklmnopqrst')}\n{long_row}\n{long_row}\n")
    assert csv_problem(path) is None


def test_a_compressed_csv_cut_short_is_refused(tmp_path, responses_table):
    path = tmp_path / "test_responses.csv.gz"
    responses_table.to_csv(path, index=False)
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(TableError, match=r"cannot be read .*dynvision run --forcerun "):
        read_table(path)


def test_stale_temporaries_of_the_target_go_and_nothing_else(tmp_path):
    import os
    import socket

    from dynvision_analysis.io import remove_stale_temporaries

    host = socket.gethostname().split(".")[0]
    stale = [tmp_path / ".accuracy.png.k2j4_x9a.tmp", tmp_path / f".accuracy.png.{host}-999999999.abc12345.tmp"]
    kept = [
        tmp_path / f".accuracy.png.{host}-{os.getpid()}.abc12345.tmp",  # a live writer
        tmp_path / ".accuracy.png.othernode-12.abc12345.tmp",  # another host's: it cannot be checked from here
        tmp_path / ".responses.png.k2j4_x9a.tmp",  # another output's
        tmp_path / "accuracy.png.tmp",
        tmp_path / "notes.txt",
    ]
    for path in stale + kept:
        path.write_text("x")
    assert sorted(remove_stale_temporaries(tmp_path / "accuracy.png")) == sorted(stale)
    assert sorted(tmp_path.iterdir()) == sorted(kept)
    save_figure(Figure(), tmp_path / "responses.png")  # writing an output clears its own stale temporaries
    assert not (tmp_path / ".responses.png.k2j4_x9a.tmp").exists()


def test_a_refused_write_names_the_path_and_leaves_nothing(tmp_path, monkeypatch):
    """matplotlib may wrap the OSError of a full disk; the chain is searched for it."""
    import errno

    from dynvision_analysis.io import OutputError

    def full(self, target, **kwargs):
        Path(target).write_bytes(b"\x89PNG half")
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as error:
            raise RuntimeError("Error building image") from error

    monkeypatch.setattr(Figure, "savefig", full)
    with pytest.raises(OutputError, match=r"cannot write '.*figure\.png': No space left on device; .*df -h") as caught:
        save_figure(Figure(), tmp_path / "figure.png")
    assert caught.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []
