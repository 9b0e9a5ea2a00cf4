"""The analysis rules through Snakemake: dry runs of the target rules, and a real run of the per-model figures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

MODEL = "DyRCNNx2:channels=4~8+tau=4_0001"
#: A tiny model trained for two short epochs on 128 images of the builtin digits (torch data loading, no FFCV).
SMALL_CONFIG = """
model_name: [DyRCNNx2]
model_args: {channels: "4,8", tau: 4}
seed: ["0001"]
data_name: digits
data: {backend: torch}
experiment: [response]
train:
  epochs: 2
  batch_size: 32
  limit_images: 128
  threads: 1
  paradigm: {name: duration, args: {intro: 1, stimulus: 2, outro: 1}}
stability: {images: 1, k: 3}
"""
#: Magic numbers of the figure formats the rules may write.
FIGURE_MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".svg": b"<?xml", ".pdf": b"%PDF"}


def _dynvision(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "dynvision_workflow", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def _job_counts(output: str) -> dict[str, int]:
    """Snakemake's `Job stats` table of a dry run: rule -> count."""
    lines = output.split("Job stats:", 1)[1].splitlines()
    counts = {}
    for line in lines[3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        counts[parts[0]] = int(parts[1])
    return counts


def _assert_figure(path: Path) -> None:
    assert path.is_file(), f"{path} was not written"
    assert path.stat().st_size > 1000
    assert path.read_bytes().startswith(FIGURE_MAGIC[path.suffix])


def test_plot_experiments_on_models_asks_for_every_analysis_rule(tmp_path):
    result = _dynvision("run", "-n", "plot_experiments_on_models", "--workdir", str(tmp_path), "--config",
                        "experiment=[response,duration,contrast,interval,uniformnoise]", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    counts = _job_counts(result.stdout + result.stderr)
    assert counts["plot_responses"] == counts["plot_accuracy"] == counts["plot_confusion"] == 5
    assert counts["plot_reaction_times"] == 5
    # every experiment that sweeps a parameter (all but response)
    assert counts["plot_performance"] == counts["combine_performance"] == 4
    assert counts["plot_dynamics"] == counts["plot_training"] == 1
    assert counts["write_weights_table"] == counts["plot_weights"] == 1
    assert counts["write_stability_table"] == counts["plot_stability"] == 1
    # The noise and duration experiments are compared with their feedforward-only variants.
    assert counts["test_experiment"] == 5 + 2


def test_a_stability_figure_of_a_model_without_the_engine_is_refused_before_any_job(tmp_path):
    result = _dynvision("run", "-n", "figures/stability/ResNet18_0001/mnist5k:all_trained/stability.png",
                        "--workdir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert "the stability of ResNet18 cannot be analysed: it is not built on the temporal engine" in result.stderr
    assert "DyRCNNx2" in result.stderr and "Traceback" not in result.stdout + result.stderr


def test_all_experiments_includes_the_new_figures_of_each_category_model(tmp_path):
    result = _dynvision("run", "-n", "all_experiments", "--workdir", str(tmp_path), "--config", "category=[tau]",
                        cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    counts = _job_counts(result.stdout + result.stderr)
    assert counts["train_model"] == 3  # tau = 3, 5, 9
    assert counts["plot_confusion"] == counts["plot_weights"] == counts["plot_training"] == 3


@pytest.fixture(scope="module")
def model_figures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("analysis")
    (workdir / "small.yaml").write_text(SMALL_CONFIG)
    targets = [
        f"figures/weights/{MODEL}/digits_trained/weights.png",
        f"figures/weights/{MODEL}/digits_init/weights.png",
        f"figures/training/{MODEL}/digits/training.png",
        f"figures/stability/{MODEL}/digits:all_trained/stability.png",
    ]
    result = _dynvision("run", *targets, "--workdir", str(workdir), "--cores", "2", "--configfile", "small.yaml",
                        cwd=workdir, timeout=600)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return workdir


@pytest.mark.slow
def test_weights_and_training_figures_of_a_trained_model(model_figures):
    workdir = model_figures
    for status in ("init", "trained"):
        _assert_figure(workdir / f"figures/weights/{MODEL}/digits_{status}/weights.png")
        table = pd.read_csv(workdir / f"reports/weights/{MODEL}/digits_{status}/weights.csv")
        assert list(table.columns) == ["connection", "area", "parameter", "value"]
        assert set(table["connection"]) == {"feedforward", "recurrence", "classifier"}
        assert set(table["area"]) == {"V1", "V2", "classifier"}
    _assert_figure(workdir / f"figures/training/{MODEL}/digits/training.png")
    # Logs and benchmarks mirror the outputs, as for every rule.
    assert (workdir / f"logs/figures/training/{MODEL}/digits/training.log").is_file()
    assert (workdir / f"benchmarks/reports/weights/{MODEL}/digits_trained/weights.tsv").is_file()


@pytest.mark.slow
def test_the_stability_figure_of_a_trained_model(model_figures):
    workdir = model_figures
    _assert_figure(workdir / f"figures/stability/{MODEL}/digits:all_trained/stability.png")
    table = pd.read_csv(workdir / f"reports/stability/{MODEL}/digits:all_trained/spectrum.csv")
    # The configured stability section reaches the job: a blank and one test image, 3 eigenvalues per area.
    assert table["image"].nunique() == 2 and table.groupby(["image", "area"]).size().eq(3).all()
    assert set(table["area"]) == {"V1", "V2", "network"} and (table["modulus"] > 0).all()
    assert (workdir / f"benchmarks/reports/stability/{MODEL}/digits:all_trained/spectrum.tsv").is_file()
