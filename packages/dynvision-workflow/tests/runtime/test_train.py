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

from dynvision_workflow.options import SettingsError
from dynvision_workflow.runtime import train as train_module
from dynvision_workflow.runtime.data import prepare_data
from dynvision_workflow.runtime.init import init_model
from dynvision_workflow.runtime.states import load_state
from dynvision_workflow.runtime.train import (
    TrainingDiverged,
    TrainSettings,
    crop_scale_range,
    dtype_policy,
    image_resolution_for,
    make_loggers,
    parse_devices,
    resolution_sources,
    train_model,
)

slow = pytest.mark.slow

MODEL_ARGS = {"channels": [4, 8], "tau": 4}
SETTINGS = {
    "backend": "torch", "epochs": 3, "batch_size": 32, "lr": 0.01, "limit_images": 128, "threads": 1,
    "translate": 1, "paradigm": {"name": "duration", "args": {"intro": 1, "outro": 1, "stimulus": 2}},
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


@slow
def test_same_seed_gives_bitwise_identical_weights_and_another_seed_differs(init_state, dataset, tmp_path):
    first = _train(init_state, dataset, tmp_path / "a")
    second = _train(init_state, dataset, tmp_path / "b")
    other = _train(init_state, dataset, tmp_path / "c", seed="0002")
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert any(not torch.equal(first[k], other[k]) for k in first)


# Runs the train CLI, but parks it at the start of the second epoch (the first epoch's checkpoint is then on
# disk) and says so in a marker file: the test kills it there, however fast the machine finishes an epoch.
PARK_AT_SECOND_EPOCH = """
import runpy, sys, time
from pathlib import Path
from lightning.pytorch.callbacks import ModelCheckpoint

marker = Path(sys.argv.pop(1))

def park(self, trainer, module):
    if trainer.current_epoch == 1:
        marker.touch()
        time.sleep(600)

ModelCheckpoint.on_train_epoch_start = park
sys.argv[0] = "dynvision_workflow"
runpy.run_module("dynvision_workflow", run_name="__main__", alter_sys=True)
"""


@slow
def test_a_run_killed_midway_resumes_and_ends_with_the_same_weights(init_state, dataset, tmp_path):
    reference = _train(init_state, dataset, tmp_path / "uninterrupted")

    folder = tmp_path / "killed"
    parked = tmp_path / "parked"
    command = [
        sys.executable, "-c", PARK_AT_SECOND_EPOCH, str(parked), "train", "--model-name", "DyRCNNx2",
        "--model-args", ":channels=4~8+tau=4", "--seed", "0001", "--init", str(init_state), "--dataset", str(dataset),
        "--checkpoints", str(folder / "checkpoints"), "--output", str(folder / "trained.pt"),
        *[word for key, value in SETTINGS.items() for word in (f"--{key.replace('_', '-')}", str(value))],
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not parked.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert parked.is_file() and process.poll() is None, f"training did not reach epoch 1: {process.stderr.read()}"
    assert (folder / "checkpoints" / "last.ckpt").is_file() and (folder / "checkpoints" / "best.ckpt").is_file()
    os.kill(process.pid, signal.SIGKILL)  # no chance to clean up, as on a preempted cluster node
    process.wait()
    assert not (folder / "trained.pt").exists()

    resumed = _train(init_state, dataset, folder)
    assert all(torch.equal(reference[k], resumed[k]) for k in reference)
    # The CSV log keeps the epochs of the killed attempt as well as the resumed ones.
    metrics = pd.read_csv(folder / "training" / "metrics.csv")
    assert sorted(metrics["epoch"].dropna().unique()) == [0, 1, 2]


@slow
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


# ----------------------------------------------------------------------------- precision, devices, loggers
def test_dtype_policy_keeps_fp32_data_under_mixed_precision_and_names_the_allowed_values() -> None:
    assert dtype_policy("32") == ("32", "float32", "float32", None)
    assert dtype_policy("bf16-mixed") == ("bf16-mixed", "float32", "float32", "bfloat16")
    assert dtype_policy("16-mixed").data == "float32" and dtype_policy("16-mixed").autocast == "float16"
    with pytest.raises(ValueError, match=r"Unknown precision 'bf16'. Allowed: '32', 'bf16-mixed', '16-mixed'"):
        dtype_policy("bf16")


def test_devices_parse_and_crop_scale_is_checked() -> None:
    assert parse_devices("auto") == "auto" and parse_devices("2") == 2 and parse_devices("0,1") == [0, 1]
    with pytest.raises(ValueError, match="devices must be 'auto', a count >= 1 or indices"):
        parse_devices("two")
    assert crop_scale_range(None) is None and crop_scale_range([0.35, 1.0]) == (0.35, 1.0)
    with pytest.raises(SettingsError, match=r"\[0.9, 0.3\] has low > high"):
        crop_scale_range([0.9, 0.3])
    with pytest.raises(SettingsError, match=r"--crop-scale \(config key datasets.\*.crop_scale\): \[0.35\]"):
        TrainSettings(crop_scale=[0.35])


def test_image_resolution_comes_from_the_model_state_unless_given_and_says_so() -> None:
    from types import SimpleNamespace

    state = SimpleNamespace(data={"image_resolution": 16, "input_shape": [3, 16, 16]})
    assert image_resolution_for(None, state, step="training") == 16
    assert image_resolution_for(24, state, step="training") == 24
    with pytest.raises(SettingsError, match=r"--image-resolution must be an integer >= 2 .* got 1"):
        image_resolution_for(1, state, step="training")
    sources = {"image_resolution": "default", "flip": "default"}
    assert resolution_sources(sources, None, 16)["image_resolution"] == "model state (init)"
    assert resolution_sources(sources, 24, 24) == sources and resolution_sources(sources, None, None) == sources
    # The command line prints these errors without a traceback.
    from dynvision_workflow.cli import _user_errors

    assert SettingsError in _user_errors()


def test_loggers_csv_always_tensorboard_when_installed_wandb_on_request(tmp_path, monkeypatch) -> None:
    from lightning.pytorch import loggers

    class FakeLogger:
        def __init__(self, **kwargs) -> None:
            self.kwargs = kwargs

    monkeypatch.setattr(loggers, "TensorBoardLogger", FakeLogger)
    monkeypatch.setattr(loggers, "WandbLogger", FakeLogger)
    monkeypatch.setattr(train_module, "_tensorboard_available", lambda: False)
    monkeypatch.setattr(train_module, "_wandb_available", lambda: False)
    assert [type(x).__name__ for x in make_loggers("auto", tmp_path)] == ["CSVLogger"]
    with pytest.raises(ModuleNotFoundError, match="pip install tensorboard"):
        make_loggers("tensorboard", tmp_path)
    with pytest.raises(ModuleNotFoundError, match=r"logger=.wandb. needs the wandb package.*pip install wandb"):
        make_loggers("wandb", tmp_path)
    with pytest.raises(ValueError, match=r"Unknown logger .mlflow.. Allowed: 'auto', 'csv', 'tensorboard', 'wandb'"):
        make_loggers("mlflow", tmp_path)
    monkeypatch.setattr(train_module, "_tensorboard_available", lambda: True)
    monkeypatch.setattr(train_module, "_wandb_available", lambda: True)
    csv, tensorboard = make_loggers("auto", tmp_path)
    assert tensorboard.kwargs["version"] == "tensorboard" and Path(csv.log_dir) == tmp_path / "training"
    assert [type(x).__name__ for x in make_loggers("csv", tmp_path)] == ["CSVLogger"]
    assert [type(x).__name__ for x in make_loggers("wandb", tmp_path)] == ["CSVLogger", "FakeLogger", "FakeLogger"]


def test_train_settings_expose_the_new_options_on_the_command_line() -> None:
    import argparse

    from dynvision_workflow.options import add_settings_arguments

    parser = argparse.ArgumentParser()
    add_settings_arguments(parser, TrainSettings)
    options = parser.parse_args(
        ["--devices", "2", "--strategy", "ddp", "--accelerator", "cpu", "--activity-weight", "0.1",
         "--activity-mode", "balance", "--rest-weight", "0.5", "--lr-factors", "{recurrence: 0.2}", "--logger", "csv",
         "--crop-scale", "[0.5, 1.0]", "--paradigm", "duration:intro=1+stimulus=3"]
    )
    settings = TrainSettings.from_namespace(options)
    assert (settings.devices, settings.strategy, settings.accelerator) == (2, "ddp", "cpu")
    assert (settings.activity_weight, settings.activity_mode, settings.rest_weight) == (0.1, "balance", 0.5)
    assert settings.lr_factors == {"recurrence": 0.2} and settings.logger == "csv"
    assert settings.crop_scale == [0.5, 1.0]
    assert settings.paradigm == {"name": "duration", "args": {"intro": 1, "stimulus": 3}}


@slow
def test_two_process_ddp_on_cpu_shards_the_data_and_saves_once(init_state, dataset, tmp_path):
    """2-process data-parallel training (gloo on CPU) with the penalties and parameter groups on."""
    import yaml

    state = _train(
        init_state, dataset, tmp_path, epochs=1, accelerator="cpu", devices="2", strategy="ddp_spawn",
        activity_weight=0.01, rest_weight=0.01, lr_factors={"recurrence": 0.2},
    )
    assert all(torch.isfinite(value).all() for value in state.values())
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 2  # 128 images / 2 processes / 32 per batch: each rank ran half
    config = yaml.safe_load((tmp_path / "trained.pt.config.yaml").read_text())
    text = str(config)
    assert "'world_size': 2" in text and "'recurrence'" in text and "'bfloat16'" not in text
    metrics = pd.read_csv(tmp_path / "training" / "metrics.csv")
    assert {"val/acc", "val/acc_t01", "train/activity_epoch"} <= set(metrics.columns)


def test_training_and_test_paradigms_accept_the_same_short_keys():
    from dynvision_workflow.runtime import test as testing
    from dynvision_workflow.runtime.train import make_paradigm, split_paradigm

    assert split_paradigm("noise:noisetype=uniform+ssnr=0.5+stimulus=4") == (
        "noise",
        {"noise_type": "uniform", "ssnr": 0.5, "stimulus": 4},
    )
    # Upstream DynVision's spellings too (stim, noiselevel, voidinput, repeat); an alias with its long name is an error.
    assert split_paradigm("duration:intro=2+stim=5+voidinput=-1") == (
        "duration",
        {"intro": 2, "stimulus": 5, "blank": -1},
    )
    assert split_paradigm("noise:noiselevel=0.3")[1] == {"ssnr": 0.3}
    assert make_paradigm("repetition:repeat=7").n_timesteps == 7
    with pytest.raises(ValueError, match="'stimulus' is given twice"):
        split_paradigm("duration:stim=5+stimulus=6")
    assert testing.make_paradigm is make_paradigm  # one parser for both steps
    assert make_paradigm("noise:noisetype=uniform+ssnr=0.5+stimulus=4").n_timesteps == 4


@slow
def test_accumulated_gradients_make_one_optimizer_step_per_group_of_batches(init_state, dataset, tmp_path):
    _train(init_state, dataset, tmp_path, epochs=1, accumulate_grad_batches=2)
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 2  # 128 images / 32 per batch = 4 batches, 2 per step


# ----------------------------------------------------------------------------- refused before any work
def test_an_unknown_strategy_or_accelerator_is_refused_listing_the_allowed_names() -> None:
    from types import SimpleNamespace

    from dynvision_workflow.runtime.train import check_lightning_names

    check_lightning_names(SimpleNamespace(strategy="ddp", accelerator="cpu"))
    with pytest.raises(SettingsError) as caught:
        check_lightning_names(SimpleNamespace(strategy="foo", accelerator="auto"))
    message = str(caught.value)
    assert "--strategy (config key train.strategy): 'foo' is not a Lightning strategy" in message
    assert "allowed: auto, ddp, ddp_spawn" in message and "dynvision run --config train.strategy=auto" in message
    with pytest.raises(SettingsError, match=r"'tpuu' is not a Lightning accelerator; allowed: auto, gpu, cpu"):
        check_lightning_names(SimpleNamespace(strategy="auto", accelerator="tpuu"))


def test_an_initial_state_of_another_model_than_its_path_is_refused_before_training(init_state, dataset, tmp_path):
    from dynvision_workflow.runtime.states import StateError

    with pytest.raises(StateError, match=r"was made for DyRCNNx2 \{channels: \[4, 8\], tau: 4\}.*tau: 4 in the state, 5"):
        train_model(init=init_state, output=tmp_path / "trained.pt", dataset=dataset, betons=None,
                    checkpoints=tmp_path / "checkpoints", seed="0001", settings=TrainSettings(**SETTINGS),
                    model_name="DyRCNNx2", model_args=":channels=4~8+tau=5")
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "training").exists()


# ----------------------------------------------------------------------------- what the training log shows
@slow
def test_the_training_log_has_no_library_warnings_a_user_cannot_act_on(init_state, dataset, tmp_path):
    """The log of a tiny training, as a rule writes it (stdout and stderr of `dynvision train`, no terminal)."""
    import re

    from dynvision_workflow.runtime.progress import UNACTIONABLE_MESSAGES

    unactionable = re.compile("|".join(UNACTIONABLE_MESSAGES))
    # The second attempt resumes from the first's checkpoints, for one more epoch.
    for epochs in (1, 2):
        command = [
            sys.executable, "-m", "dynvision_workflow", "train", "--model-name", "DyRCNNx2",
            "--model-args", ":channels=4~8+tau=4", "--seed", "0001", "--init", str(init_state),
            "--dataset", str(dataset), "--checkpoints", str(tmp_path / "checkpoints"), "--output",
            str(tmp_path / f"trained{epochs}.pt"),
            *[word for key, value in {**SETTINGS, "epochs": epochs}.items()
              for word in (f"--{key.replace('_', '-')}", str(value))],
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        log = result.stdout + result.stderr
        assert result.returncode == 0, log
        assert f"epoch {epochs}/{epochs}: train loss" in log
        noisy = [line for line in log.splitlines() if unactionable.search(line) or re.search(r"\.py:\d+: ", line)]
        assert not noisy, f"training log of {epochs} epochs:\n{log}"
