from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dynvision_analysis.cli import main


@pytest.fixture
def responses_csv(tmp_path, make_responses) -> Path:
    path = tmp_path / "test_responses.csv"
    make_responses(samples=4, steps=10).assign(seed=lambda frame: frame["sample"] % 2).to_csv(
        path, index=False
    )
    return path


@pytest.fixture
def outputs_csv(tmp_path, outputs_table) -> Path:
    path = tmp_path / "test_outputs.csv"
    outputs_table.to_csv(path, index=False)
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dynvision_analysis.cli", *args], capture_output=True, text=True
    )


def test_plot_responses_end_to_end_writes_a_png(tmp_path, responses_csv):
    out = tmp_path / "figures" / "responses.png"
    result = _run("plot-responses", str(responses_csv), "-o", str(out), "--title", "test")
    assert result.returncode == 0, result.stderr
    assert out.read_bytes().startswith(b"\x89PNG")


def test_a_bad_table_exits_2_with_one_line_naming_the_missing_column(tmp_path, outputs_csv):
    # An outputs table given where a responses table is expected.
    result = _run("plot-responses", str(outputs_csv), "-o", str(tmp_path / "r.png"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("dynvision-analysis plot-responses: error:")
    assert "['area', 'response']" in result.stderr
    assert not (tmp_path / "r.png").exists()


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "dynvision-analysis"
    executable = str(script) if script.exists() else shutil.which("dynvision-analysis")
    assert executable, "the console script dynvision-analysis is not installed next to the interpreter"
    result = subprocess.run([executable, "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.startswith("dynvision-analysis ")


def test_plot_accuracy_in_process(tmp_path, outputs_csv):
    for suffix in (".png", ".svg", ".pdf"):
        assert (
            main(["plot-accuracy", str(outputs_csv), "-o", str(tmp_path / f"a{suffix}"), "--n-classes", "10"])
            == 0
        )
        assert (tmp_path / f"a{suffix}").stat().st_size > 1000


def test_measure_responses_writes_the_measure(tmp_path, responses_csv):
    out = tmp_path / "measure.csv"
    assert main(["measure", "responses", str(responses_csv), "-o", str(out), "--chunksize", "7"]) == 0
    measure = pd.read_csv(out)
    assert list(measure.columns) == ["area", "step", "time_ms", "mean", "sem", "n"]
    assert list(measure["area"].unique()) == ["V1", "V2", "V4", "IT"]
    assert measure["n"].eq(4).all()


def test_measure_accuracy_by_seed(tmp_path, outputs_csv):
    out = tmp_path / "accuracy.csv"
    assert main(["measure", "accuracy", str(outputs_csv), "-o", str(out), "--by", "seed"]) == 0
    assert list(pd.read_csv(out)["accuracy"]) == [0.5, 1.0, 1.0, 0.0, 0.0, 1.0]


def test_where_filters_rows(tmp_path, responses_csv):
    out = tmp_path / "measure.csv"
    assert main(["measure", "responses", str(responses_csv), "-o", str(out), "--where", "seed=1"]) == 0
    assert pd.read_csv(out)["n"].eq(2).all()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--where", "seed=7"], "No rows of"),
        (["--where", "seed"], "--where expects COLUMN=VALUE"),
        (["-o", "figure.jpg"], "Unknown figure format '.jpg'"),
    ],
)
def test_bad_input_exits_2(tmp_path, responses_csv, capsys, arguments, message):
    argv = ["plot-responses", str(responses_csv), "-o", str(tmp_path / "r.png"), *arguments]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_missing_file_exits_2(tmp_path, capsys):
    assert main(["measure", "accuracy", str(tmp_path / "absent.csv"), "-o", str(tmp_path / "a.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_unknown_output_table_format_exits_2_before_reading(tmp_path, capsys):
    assert main(["measure", "accuracy", str(tmp_path / "absent.csv"), "-o", str(tmp_path / "a.xlsx")]) == 2
    assert "Unknown table format '.xlsx'" in capsys.readouterr().err


def test_mixed_stimulus_timing_asks_for_a_filter(tmp_path, make_responses, capsys):
    short = make_responses(samples=2, steps=6).assign(duration=30)
    long = make_responses(samples=2, steps=6).assign(duration=40)
    long.loc[long["step"] == 5, "stimulus"] = 1
    path = tmp_path / "mixed.csv"
    pd.concat([short, long]).to_csv(path, index=False)
    assert main(["plot-responses", str(path), "-o", str(tmp_path / "r.png")]) == 2
    assert "mixes conditions" in capsys.readouterr().err
    assert main(["plot-responses", str(path), "-o", str(tmp_path / "r.png"), "--where", "duration=40"]) == 0


@pytest.fixture
def interval_csv(tmp_path) -> Path:
    """Two presentations (steps 1 and 4 on) for 3 samples and two areas: evoked peaks 1.0 then 0.5."""
    rows = []
    on = [0, 1, 0, 0, 1, 0, 0]
    response = [0.0, 1.0, 0.2, 0.0, 0.5, 0.1, 0.0]
    for area in ("V1", "IT"):
        for sample in range(3):
            for step, (flag, value) in enumerate(zip(on, response, strict=True)):
                rows.append(
                    {
                        "sample": sample,
                        "step": step,
                        "time_ms": step * 10.0,
                        "area": area,
                        "response": value + 0.01 * sample,
                        "stimulus": flag,
                        "interval": 2,
                    }
                )
    path = tmp_path / "interval.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_curve_measure_then_summary(tmp_path, interval_csv):
    ratios = tmp_path / "ratio.csv"
    assert main(["measure", "peak-ratio", str(interval_csv), "-o", str(ratios)]) == 0
    measure = pd.read_csv(ratios)
    assert list(measure.columns[:3]) == ["area", "sample", "interval"]
    np.testing.assert_allclose(measure["peak_ratio"], 0.5)
    summary = tmp_path / "summary.csv"
    argv = ["summarize", str(ratios), "-o", str(summary), "--values", "peak_ratio", "--by", "area", "isi_ms"]
    assert main([*argv, "--ci", "bootstrap", "--n-boot", "200"]) == 0
    result = pd.read_csv(summary)
    assert list(result["area"]) == ["V1", "IT"]
    assert list(result["isi_ms"]) == [20.0, 20.0]
    assert result["error_bars"].eq("95% bootstrap CI").all()


def test_a_one_presentation_table_names_the_missing_presentation(tmp_path, responses_csv, capsys):
    argv = ["measure", "peak-ratio", str(responses_csv), "-o", str(tmp_path / "r.csv"), "--condition", "seed"]
    assert main(argv) == 2
    assert "needs two stimulus presentations per curve" in capsys.readouterr().err


def test_measure_topk_without_label_rank_exits_2(tmp_path, outputs_csv, capsys):
    assert main(["measure", "topk", str(outputs_csv), "-o", str(tmp_path / "t.csv")]) == 2
    assert "'label_rank'" in capsys.readouterr().err


def test_topk_and_confusion_from_the_outputs_table(tmp_path, outputs_table):
    path = tmp_path / "outputs.csv"
    outputs_table.assign(label_rank=1 - outputs_table["correct"]).to_csv(path, index=False)
    out = tmp_path / "topk.csv"
    assert main(["measure", "topk", str(path), "-o", str(out), "--k", "1", "2"]) == 0
    topk = pd.read_csv(out)
    assert list(topk[topk["k"] == 2]["accuracy"]) == [1.0, 1.0, 1.0]
    assert main(["plot-accuracy", str(path), "-o", str(tmp_path / "topk.png"), "--top-k", "1", "2"]) == 0
    assert main(["measure", "confusion", str(path), "-o", str(tmp_path / "c.csv"), "--where", "step=2"]) == 0
    assert pd.read_csv(tmp_path / "c.csv")["count"].tolist() == [4]
    assert main(["plot-confusion", str(path), "-o", str(tmp_path / "c.svg")]) == 0


@pytest.mark.parametrize("layout", ["small_multiples", "ridge"])
def test_plot_responses_layouts(tmp_path, responses_csv, layout):
    out = tmp_path / f"{layout}.png"
    assert main(["plot-responses", str(responses_csv), "-o", str(out), "--layout", layout]) == 0
    assert out.stat().st_size > 1000


def test_plot_dynamics_from_a_responses_table(tmp_path, interval_csv):
    out = tmp_path / "dynamics.pdf"
    assert main(["plot-dynamics", "-o", str(out), "--interval", str(interval_csv)]) == 0
    assert out.stat().st_size > 1000


def test_plot_performance_weights_and_training(tmp_path, outputs_table, capsys):
    outputs = tmp_path / "outputs.csv"
    outputs_table.assign(rctype=outputs_table["sample"] % 2, ssnr=0.5).to_csv(outputs, index=False)
    argv = ["plot-performance", str(outputs), "-o", str(tmp_path / "p.png"), "--x", "ssnr", "--hue", "rctype"]
    assert main([*argv, "--reference", "0", "--n-classes", "10"]) == 0
    weights = tmp_path / "weights.csv"
    pd.DataFrame({"area": "V1", "connection": ["feedforward", "recurrence"], "value": [0.1, -0.2]}).to_csv(
        weights, index=False
    )
    assert main(["plot-weights", str(weights), "-o", str(tmp_path / "w.svg"), "--log"]) == 0
    metrics = tmp_path / "metrics.csv"
    pd.DataFrame(
        {"epoch": [0, 0], "step": [0, 0], "train/loss_step": [1.0, None], "val/acc": [None, 0.5]}
    ).to_csv(metrics, index=False)
    assert main(["plot-training", str(metrics), "-o", str(tmp_path / "t.png")]) == 0
    assert main(["plot-weights", str(metrics), "-o", str(tmp_path / "w.png")]) == 2
    assert "lacks the required column(s) ['connection', 'value', 'area']" in capsys.readouterr().err


def test_a_table_cut_short_ends_in_one_line_naming_it_and_the_fix(tmp_path, outputs_csv, capsys):
    """Before, the missing fields of the cut row were read as NaN and the figure drawn without a word."""
    text = outputs_csv.read_text()
    outputs_csv.write_text(text[: text.rstrip("\n").rfind(",")])
    assert main(["plot-accuracy", str(outputs_csv), "-o", str(tmp_path / "accuracy.png")]) == 2
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith(f"dynvision-analysis plot-accuracy: error: Table '{outputs_csv}' ends in the")
    assert f"dynvision run --forcerun {outputs_csv})" in stderr
    assert sorted(item.name for item in tmp_path.iterdir()) == ["test_outputs.csv"]


def test_an_empty_table_ends_in_one_line_with_the_fix(tmp_path, outputs_csv, capsys):
    outputs_csv.write_text(outputs_csv.read_text().splitlines(keepends=True)[0])
    assert main(["measure", "accuracy", str(outputs_csv), "-o", str(tmp_path / "accuracy.csv")]) == 2
    stderr = capsys.readouterr().err
    assert f"Table '{outputs_csv}' has no rows" in stderr and "dynvision run --forcerun" in stderr
    assert not (tmp_path / "accuracy.csv").exists()


def test_the_traceback_is_printed_too_only_when_asked(tmp_path, outputs_csv):
    import os

    args = [sys.executable, "-m", "dynvision_analysis.cli", "plot-responses", str(outputs_csv),
            "-o", str(tmp_path / "r.png")]
    verbose = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "DYNVISION_VERBOSE": "1"})
    assert verbose.returncode == 2 and "Traceback (most recent call last)" in verbose.stderr
    assert verbose.stderr.rstrip("\n").splitlines()[-1].startswith("dynvision-analysis plot-responses: error:")


def test_a_rerun_removes_the_temporaries_a_killed_run_left_and_nothing_else(tmp_path, outputs_csv, capsys):
    figures = tmp_path / "figures"
    figures.mkdir()
    left = figures / ".accuracy.png.k2j4_x9a.tmp"  # what the writer of a killed run leaves
    others = [figures / ".confusion.png.k2j4_x9a.tmp", figures / "notes.txt"]
    for path in [left, *others]:
        path.write_text("half a figure")
    assert main(["plot-accuracy", str(outputs_csv), "-o", str(figures / "accuracy.png")]) == 0
    assert f"dynvision-analysis plot-accuracy: note: removed {left}" in capsys.readouterr().err
    assert sorted(figures.iterdir()) == sorted([figures / "accuracy.png", *others])


def _in_a_small_file_system(
    folder: Path, command: list[str], *, read_only: bool = False
) -> subprocess.CompletedProcess:
    """Run ``command`` with a 64 KiB tmpfs mounted on ``folder`` (read-only if asked) in a user and mount namespace
    (no root needed); the output ends with the listing of ``folder`` after the command, under a marker line."""
    import shlex

    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed: a full or read-only file system cannot be made")
    remount = f" && mount -o remount,ro {shlex.quote(str(folder))}" if read_only else ""
    script = (
        f"mount -t tmpfs -o size=64k tmpfs {shlex.quote(str(folder))}{remount} || exit 99; "
        f"{shlex.join(command)}; status=$?; echo '--- listing'; ls -A {shlex.quote(str(folder))}; exit $status"
    )
    result = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True)
    if result.returncode == 99 or "unshare: " in result.stderr:
        pytest.skip(f"no user namespace to mount a small file system in: {result.stderr.strip()}")
    return result


@pytest.mark.parametrize(
    ("read_only", "says"),
    [(False, "No space left on device; nothing was written under that name; free space there (df -h"),
     (True, "Read-only file system; nothing was written under that name; make")],
    ids=["full", "read-only"],
)
def test_a_full_or_read_only_disk_ends_in_one_line_naming_the_figure(tmp_path, make_responses, read_only, says):
    table = tmp_path / "test_responses.csv"
    make_responses(samples=40, steps=30).to_csv(table, index=False)
    folder = tmp_path / "figures"
    folder.mkdir()
    out = folder / "responses.png"
    command = [sys.executable, "-m", "dynvision_analysis.cli", "plot-responses", str(table), "-o", str(out),
               "--dpi", "600"]
    result = _in_a_small_file_system(folder, command, read_only=read_only)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"dynvision-analysis plot-responses: error: cannot write '{out}': {says}")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stdout.split("--- listing\n", 1)[1] == "", "something was left in the folder"


def _duration_sweep(kind: str) -> pd.DataFrame:
    """Two conditions of a duration sweep (stimulus 1 and 3 steps of 2 ms), two samples each."""
    frames = []
    for duration in (1, 3):
        on = np.zeros(6, dtype=int)
        on[1 : 1 + duration] = 1
        for sample in (0, 1):
            base = {"sample": sample, "step": np.arange(6), "time_ms": np.arange(6) * 2.0, "stimulus": on,
                    "paradigm": "duration", "intro": 1, "paradigm_stimulus": duration}
            if kind == "outputs":
                correct = on.cumsum() > duration - 1
                frames.append(pd.DataFrame({**base, "label": 0, "guess": np.where(correct, 0, 1),
                                            "correct": correct.astype(int), "confidence": 0.5}))
            else:
                frames.append(pd.DataFrame({**base, "area": "V1", "response": on * 1.0, "response_std": 0.0}))
    return pd.concat(frames, ignore_index=True)


def _captured(monkeypatch) -> list:
    figures: list = []
    monkeypatch.setattr("dynvision_analysis.cli.save_figure", lambda figure, path, dpi=300: figures.append(figure))
    return figures


def test_plot_accuracy_draws_one_curve_per_condition_in_ms(tmp_path, monkeypatch):
    path = tmp_path / "outputs.csv"
    _duration_sweep("outputs").to_csv(path, index=False)
    figures = _captured(monkeypatch)
    assert main(["plot-accuracy", str(path), "-o", str(tmp_path / "a.png")]) == 0
    axes = figures[0].axes[0]
    labels = [line.get_label() for line in axes.lines]
    assert labels == ["stimulus 2 ms", "stimulus 6 ms"]  # not pooled, and named in ms, not steps
    # Each condition's stimulus period is marked (the timings differ, so one bar per condition).
    assert len([patch for patch in axes.patches if patch.get_gid() == "stimulus"]) == 2
    assert main(["plot-accuracy", str(path), "-o", str(tmp_path / "b.png"), "--hue", "none", "--no-stimulus"]) == 0
    assert [line.get_label() for line in figures[1].axes[0].lines] == ["accuracy"]


def test_plot_responses_names_timing_conditions_in_ms_and_marks_each_stimulus(tmp_path, monkeypatch):
    path = tmp_path / "responses.csv"
    _duration_sweep("responses").to_csv(path, index=False)
    figures = _captured(monkeypatch)
    command = ["plot-responses", str(path), "-o", str(tmp_path / "r.png"), "--layout", "small_multiples"]
    assert main([*command, "--hue", "paradigm_stimulus"]) == 0
    axes = figures[0].axes[0]
    assert [line.get_label() for line in axes.lines] == ["stimulus 2 ms", "stimulus 6 ms"]
    assert len([patch for patch in axes.patches if patch.get_gid() == "stimulus"]) == 2
