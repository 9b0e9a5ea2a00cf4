"""Bad-input corpus: damaged test tables, responses files and aggregated tables, and figures that cannot be written.

Each case damages one file of a finished tiny run (or the disk under a figure) and runs the real command that reads
or writes it: ``dynvision run`` where the workflow layer is the point, else the runtime step directly (``dynvision
aggregate``, ``dynvision process-test``, the combine step) or the ``dynvision-analysis`` command a figure rule runs.
What a user must get (see conftest.assert_refused): a non-zero exit, one line naming the file and the command that
writes it again, no traceback, nothing new under a final name.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODEL = "DyRCNNx2:channels=4~8+tau=4_0001"
REPORT_DIR = f"reports/response/{MODEL}/mnist5k:all_trained"
TEST_DIR = f"{REPORT_DIR}/duration:intro=1+outro=2+stimulus=3"
FIGURE_DIR = f"figures/response/{MODEL}/mnist5k:all_trained"
#: The fix every damaged table's message gives: the step that writes it, run again (and those after it).
FIX = "dynvision run --forcerun"

needs_unshare = pytest.mark.skipif(
    shutil.which("unshare") is None
    or subprocess.run(["unshare", "-rm", "true"], capture_output=True, check=False).returncode != 0,
    reason="needs unshare -rm (user and mount namespaces) for a small file system of its own",
)


def _cut_last_line(path: Path, fields: int) -> None:
    """Cut ``path`` short inside its last line, after ``fields`` of its fields (as a killed copy leaves it)."""
    body, _, last = path.read_text().rstrip("\n").rpartition("\n")
    path.write_text(body + "\n" + ",".join(last.split(",")[:fields]))


def _without_column(text: str, column: str) -> str:
    """A CSV ``text`` without ``column`` (in the header and every row)."""
    rows = [line.split(",") for line in text.splitlines()]
    index = rows[0].index(column)
    return "".join(",".join(row[:index] + row[index + 1 :]) + "\n" for row in rows)


def _analysis(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The ``dynvision-analysis`` command, as the figure rules run it."""
    command = [sys.executable, "-m", "dynvision_analysis.cli", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def _aggregate(dynvision, workdir: Path) -> subprocess.CompletedProcess:
    """``dynvision aggregate`` of the tiny run's one test, written to new tables under ``again/``."""
    return dynvision(
        "aggregate",
        "--outputs", f"{TEST_DIR}/test_outputs.csv",
        "--responses", f"{TEST_DIR}/test_responses.csv",
        "--outputs-table", "again/test_outputs.csv",
        "--responses-table", "again/test_responses.csv",
        "--spec-index", "reports/test_specs.json",
        cwd=workdir, timeout=120,
    )  # fmt: skip


def test_a_truncated_test_table_is_tested_again_when_its_experiment_runs(finished_workdir, tiny_config, dynvision):
    """A test's table cut short (a killed copy) is not reused by its experiment's one-pass job: the test runs again
    and the run ends well, with the table whole."""
    table = finished_workdir / TEST_DIR / "test_outputs.csv"
    whole = table.read_bytes()
    _cut_last_line(table, 4)
    result = dynvision(
        "run", "--workdir", str(finished_workdir), "--cores", "2", "--configfile", str(tiny_config),
        "--forcerun", f"{REPORT_DIR}/test_outputs.csv", cwd=finished_workdir, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert table.read_bytes() == whole


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda text: "", "is empty (0 bytes)"),
        (lambda text: _without_column(text, "correct"), "lacks the column(s) ['correct']"),
        (lambda text: re.sub(r"(?m)^(0,1,[^,]*,)[^,]*,", r"\1zero,", text, count=1), "numeric column 'label'"),
        # the reported bug: aggregation crashed inside the code that built its message ('<' between float and str)
        (lambda text: text.rstrip("\n").rpartition("\n")[0] + "\n0,1,2", "cut short"),
    ],
    ids=["empty", "missing-column", "text-in-a-number-column", "truncated"],
)
def test_a_damaged_outputs_table_is_refused_by_aggregate(finished_workdir, dynvision, refused, snapshot, damage, says):
    table = finished_workdir / TEST_DIR / "test_outputs.csv"
    table.write_text(damage(table.read_text()))
    before = snapshot(finished_workdir)
    refused(_aggregate(dynvision, finished_workdir), f"{TEST_DIR}/test_outputs.csv", says, fix=FIX,
            workdir=finished_workdir, before=before)


def test_a_truncated_responses_table_is_refused_by_aggregate(finished_workdir, dynvision, refused, snapshot):
    table = finished_workdir / TEST_DIR / "test_responses.csv"
    table.write_text("".join(table.read_text().splitlines(keepends=True)[:-3]))  # cut at a line end
    before = snapshot(finished_workdir)
    refused(_aggregate(dynvision, finished_workdir), f"{TEST_DIR}/test_responses.csv", "incomplete", fix=FIX,
            workdir=finished_workdir, before=before)


@pytest.mark.parametrize(
    ("damage", "says"),
    [(lambda data: os.urandom(4096), "cannot be read"), (lambda data: data[: len(data) * 2 // 3], "cut short")],
    ids=["garbage", "truncated"],
)
def test_a_damaged_responses_file_is_refused_by_process_test(
    finished_workdir, dynvision, refused, snapshot, damage, says
):
    responses = finished_workdir / TEST_DIR / "test_responses.safetensors"
    responses.write_bytes(damage(responses.read_bytes()))
    before = snapshot(finished_workdir)
    result = dynvision("process-test", f"{TEST_DIR}/test_responses.safetensors", "--output", "again/responses.csv",
                       cwd=finished_workdir, timeout=120)
    refused(result, f"{TEST_DIR}/test_responses.safetensors", says, fix=FIX, workdir=finished_workdir, before=before)


def test_a_damaged_aggregated_table_is_refused_by_its_figure_command(finished_workdir, refused, snapshot):
    table = finished_workdir / REPORT_DIR / "test_outputs.csv"
    _cut_last_line(table, 3)
    before = snapshot(finished_workdir)
    result = _analysis("plot-accuracy", f"{REPORT_DIR}/test_outputs.csv", "-o", "again/accuracy.png",
                       cwd=finished_workdir)
    text = refused(result, f"{REPORT_DIR}/test_outputs.csv", "cut short", fix=FIX, workdir=finished_workdir,
                   before=before)
    assert text.startswith("dynvision-analysis plot-accuracy: error: ")


def test_an_empty_aggregated_table_is_refused_by_its_figure_command(finished_workdir, refused, snapshot):
    table = finished_workdir / REPORT_DIR / "test_responses.csv"
    table.write_text(table.read_text().splitlines(keepends=True)[0])  # the header only
    before = snapshot(finished_workdir)
    result = _analysis("plot-responses", f"{REPORT_DIR}/test_responses.csv", "-o", "again/responses.png",
                       cwd=finished_workdir)
    refused(result, f"{REPORT_DIR}/test_responses.csv", "has no rows", fix=FIX, workdir=finished_workdir,
            before=before)


def test_a_damaged_aggregated_table_is_refused_by_the_combine_step(finished_workdir, refused, snapshot):
    table = finished_workdir / REPORT_DIR / "test_outputs.csv"
    table.write_bytes(b"\x00\x01" + table.read_bytes())
    before = snapshot(finished_workdir)
    command = [sys.executable, "-m", "dynvision_workflow.runtime.combine", "--column", "connections",
               "--table", f"all={REPORT_DIR}/test_outputs.csv", "--output", "again/performance.csv"]
    result = subprocess.run(command, cwd=finished_workdir, capture_output=True, text=True, timeout=120, check=False)
    refused(result, f"{REPORT_DIR}/test_outputs.csv", "binary data", fix=FIX, workdir=finished_workdir,
            before=before)


@needs_unshare
@pytest.mark.parametrize(
    ("read_only", "says", "fix"),
    [(False, "No space left on device", "df -h"), (True, "Read-only file system", "writable")],
    ids=["disk-full", "read-only"],
)
def test_a_figure_on_a_full_or_read_only_disk_ends_in_one_line_naming_it(finished_workdir, refused, read_only, says,
                                                                         fix):
    folder = finished_workdir / "small"
    folder.mkdir()
    figure = folder / "accuracy.png"
    command = [sys.executable, "-m", "dynvision_analysis.cli", "plot-accuracy", f"{REPORT_DIR}/test_outputs.csv",
               "-o", str(figure), "--dpi", "1200"]
    remount = f" && mount -o remount,ro {shlex.quote(str(folder))}" if read_only else ""
    script = (
        f"mount -t tmpfs -o size=64k tmpfs {shlex.quote(str(folder))}{remount} || exit 99; {shlex.join(command)}; "
        f"status=$?; echo \"left: $(ls -A {shlex.quote(str(folder))})\"; exit $status"
    )
    result = subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=finished_workdir, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode != 99, result.stderr
    refused(result, f"cannot write '{figure}'", says, fix=fix)
    assert "left: \n" in result.stdout, f"something was left under the figure's folder: {result.stdout}"


def test_a_rerun_removes_the_temporaries_a_killed_figure_command_left(finished_workdir):
    figures = finished_workdir / FIGURE_DIR
    left = figures / ".accuracy.png.k2j4_x9a.tmp"  # the hidden temporary of a killed plot_accuracy job
    others = [figures / ".responses.png.k2j4_x9a.tmp", figures / "notes.txt"]  # not the command's: they stay
    for path in [left, *others]:
        path.write_text("half a figure")
    result = _analysis("plot-accuracy", f"{REPORT_DIR}/test_outputs.csv", "-o", f"{FIGURE_DIR}/accuracy.png",
                       cwd=finished_workdir)
    assert result.returncode == 0, result.stderr
    assert f"note: removed {FIGURE_DIR}/.accuracy.png.k2j4_x9a.tmp" in result.stderr
    assert not left.exists() and all(path.exists() for path in others)
    assert not list(figures.glob(".accuracy.png.*.tmp"))
