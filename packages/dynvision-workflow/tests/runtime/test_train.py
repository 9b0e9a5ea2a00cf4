"""The training step: seeded, resumable after a kill, stops on a diverging loss, keeps its logs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from dynvision_workflow.runtime.data import prepare_data
from dynvision_workflow.runtime.init import init_model
from dynvision_workflow.runtime.states import load_state
from dynvision_workflow.runtime.train import TrainingDiverged, TrainSettings, train_model

pytestmark = pytest.mark.slow

MODEL_ARGS = {"channels": [4, 8], "tau": 4}
SETTINGS = {
    "backend": "torch", "epochs": 3, "batch_size": 32, "lr": 0.01, "limit_images": 128, "threads": 1,
    "translate": 1, "paradigm": "duration:intro=1+outro=1+stimulus=2",
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    return prepare_data("digits", root=root) / "train"


@pytest.fixture(scope="module")
def init_state(tmp_path_factory: pytest.TempPathFactory, dataset: Path) -> Path:
    output = tmp_path_factory.mktemp("model") / "init.pt"
    return init_model("DyRCNNx2", dict(MODEL_ARGS), seed="0001", dataset=dataset, output=output)


def _train(init: Path, dataset: Path, folder: Path, seed: str = "0001", **overrides) -> dict[str, torch.Tensor]:
    settings = TrainSettings(**{**SETTINGS, **overrides})
    output = folder / "trained.pt"
    train_model(init=init, output=output, dataset=dataset, betons=None, checkpoints=folder / "checkpoints",
                seed=seed, settings=settings)
    return load_state(output).state_dict


def test_same_seed_gives_bitwise_identical_weights_and_another_seed_differs(init_state, dataset, tmp_path):
    first = _train(init_state, dataset, tmp_path / "a")
    second = _train(init_state, dataset, tmp_path / "b")
    other = _train(init_state, dataset, tmp_path / "c", seed="0002")
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert any(not torch.equal(first[k], other[k]) for k in first)


def test_a_run_killed_midway_resumes_and_ends_with_the_same_weights(init_state, dataset, tmp_path):
    reference = _train(init_state, dataset, tmp_path / "uninterrupted")

    folder = tmp_path / "killed"
    command = [
        sys.executable, "-m", "dynvision_workflow", "train", "--model-name", "DyRCNNx2", "--seed", "0001",
        "--init", str(init_state), "--dataset", str(dataset), "--checkpoints", str(folder / "checkpoints"),
        "--output", str(folder / "trained.pt"),
        *[word for key, value in SETTINGS.items() for word in (f"--{key.replace('_', '-')}", str(value))],
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    first_epoch = folder / "checkpoints" / "epoch=0.ckpt"
    deadline = time.monotonic() + 300
    while not first_epoch.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, f"training ended before it could be killed: {process.stderr.read()}"
    os.kill(process.pid, signal.SIGKILL)  # no chance to clean up, as on a preempted cluster node
    process.wait()
    assert not (folder / "trained.pt").exists()

    resumed = _train(init_state, dataset, folder)
    assert all(torch.equal(reference[k], resumed[k]) for k in reference)
    # The CSV log keeps the epochs of the killed attempt as well as the resumed ones.
    metrics = pd.read_csv(folder / "training" / "metrics.csv")
    assert sorted(metrics["epoch"].dropna().unique()) == [0, 1, 2]


def test_a_diverging_loss_stops_training_and_keeps_the_last_good_checkpoint(init_state, dataset, tmp_path, monkeypatch):
    import dynvision_models.system as system

    original, calls = system.temporal_cross_entropy, {"n": 0}

    def poisoned(logits, labels, ignore_index=-1):
        calls["n"] += 1
        loss = original(logits, labels, ignore_index)
        return loss * float("nan") if calls["n"] > 6 else loss  # 4 batches per epoch: NaN in the 2nd epoch

    monkeypatch.setattr(system, "temporal_cross_entropy", poisoned)
    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 1.*last good checkpoint is .*last\.ckpt"):
        _train(init_state, dataset, tmp_path, limit_images=128, batch_size=32)
    assert not (tmp_path / "trained.pt").exists()
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["epoch"] == 0
    assert all(torch.isfinite(value).all() for value in checkpoint["state_dict"].values())
