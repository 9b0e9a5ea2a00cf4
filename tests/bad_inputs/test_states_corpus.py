"""Bad-input corpus: model states, checkpoints and the train/test runtime.

A state used as another model (name, arguments, classes, input shape), a state file that is truncated, text or a
pickle that runs code, a broken ``last.ckpt``, a Lightning strategy that does not exist, an epoch that was not kept,
pretrained weights that do not fit. Each case runs the real runtime command as a rule runs it (or, for the issue's
case, ``dynvision run``) and asserts what a user must see (see conftest.assert_refused), or, for a broken
``last.ckpt``, that training goes on and says what it did.

The mismatched states are made once per module from the finished tiny run's data; each case works in its own
folder laid out as a working directory (the state at its workflow path), reading that run's data.
"""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODEL = "DyRCNNx2:channels=4~8+tau=4_0001"
MODEL_DIR = f"models/DyRCNNx2/{MODEL}/mnist5k"
STATE = f"{MODEL_DIR}/trained.pt"
REPORT = f"reports/response/{MODEL}/mnist5k:all_trained/duration:intro=1+outro=2+stimulus=3"
#: The identity options the workflow's rules pass with a state of MODEL_DIR.
IDENTITY = ("--model-name", "DyRCNNx2", "--model-args", ":channels=4~8+tau=4", "--seed", "0001")
#: The tiny run's training options (as its train rule passes them), for cases that train.
TRAINING = (
    "--batch-size", "32", "--limit-images", "256", "--threads", "2", "--backend", "torch",
    "--paradigm", '{"name": "duration", "args": {"intro": 1, "outro": 1, "stimulus": 3}}',
)  # fmt: skip


class _RunsCode:
    """Pickles into a call of ``touch marker``: loading it without weights_only would create the marker."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _class_folders(root: Path, classes: list[str], *, source: Path | None = None, colour: bool = False) -> Path:
    """Class folders below ``root``: links to ``source``'s folders, or two 28x28 RGB images each (``colour``)."""
    from PIL import Image

    root.mkdir(parents=True)
    for name in classes:
        if source is not None:
            (root / name).symlink_to(source / name, target_is_directory=True)
            continue
        (root / name).mkdir()
        for index in range(2):
            Image.new("RGB", (28, 28), (40 * index, 100 + index, 7 * int(name))).save(root / name / f"{index}.png")
    return root


@pytest.fixture(scope="module")
def tiny_run(_finished_once: Path) -> Path:
    """The finished tiny run (read only: cases copy what they change)."""
    return _finished_once


@pytest.fixture(scope="module")
def states(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """State files that do not fit MODEL_DIR, each made by the init step for another identity or other data."""
    from dynvision_workflow.runtime.init import init_model

    folder = tmp_path_factory.mktemp("states")
    train = tiny_run / "data/raw/mnist5k/train"
    digits = sorted(path.name for path in train.iterdir())
    made = {
        "DyRCNNx4": ("DyRCNNx4", {"channels": [4, 8, 8, 8], "tau": 4}, train),
        "tau=5": ("DyRCNNx2", {"channels": [4, 8], "tau": 5}, train),
        "3 classes": ("DyRCNNx2", {"channels": [4, 8], "tau": 4},
                      _class_folders(folder / "three", digits[:3], source=train)),
        "colour": ("DyRCNNx2", {"channels": [4, 8], "tau": 4}, _class_folders(folder / "colour", digits, colour=True)),
    }  # fmt: skip
    return {
        name: init_model(model, args, seed="0001", dataset=data, output=folder / f"{name}.pt")
        for name, (model, args, data) in made.items()
    }


@pytest.fixture
def workdir(tmp_path: Path, tiny_run: Path) -> Path:
    """A folder laid out as a working directory with the tiny run's model folder (states, checkpoints, logs)."""
    shutil.copytree(tiny_run / MODEL_DIR, tmp_path / MODEL_DIR, symlinks=True)
    return tmp_path


def _test(dynvision, workdir: Path, tiny_run: Path, state: str = STATE) -> object:
    """The test step as the workflow's rule runs it (identity options included), on the tiny run's test data."""
    return dynvision(
        "test", state, *IDENTITY, "--dataset", str(tiny_run / "data/interim/mnist5k/test_all"),
        "--outputs", f"{REPORT}/test_outputs.csv", "--responses", f"{REPORT}/test_responses.safetensors",
        "--paradigm", "duration:intro=1+outro=2+stimulus=3", "--limit-images", "32",
        cwd=workdir, timeout=300,
    )  # fmt: skip


def _train(dynvision, workdir: Path, tiny_run: Path, *options: str) -> object:
    """The train step as the workflow's rule runs it, writing ``trained.pt`` again (two epochs: one more)."""
    return dynvision(
        "train", *IDENTITY, "--init", f"{MODEL_DIR}/init.pt", "--dataset", str(tiny_run / "data/raw/mnist5k/train"),
        "--checkpoints", f"{MODEL_DIR}/checkpoints", "--output", f"{MODEL_DIR}/retrained.pt", "--epochs", "2",
        *TRAINING, *options, cwd=workdir, timeout=300,
    )  # fmt: skip


# States used as another model --------------------------------------------------------------------------------------


def test_a_state_of_another_model_is_refused_before_any_table_is_written(finished_workdir, states, tiny_config,
                                                                         dynvision, refused, snapshot):
    """The issue's case, through the workflow: a DyRCNNx4 trained.pt placed at a DyRCNNx2 path."""
    shutil.copyfile(states["DyRCNNx4"], finished_workdir / STATE)
    before = snapshot(finished_workdir)
    result = dynvision("run", "--workdir", str(finished_workdir), "--configfile", str(tiny_config), "--cores", "2",
                       cwd=finished_workdir, timeout=300)
    refused(result, f"{STATE} was made for DyRCNNx4 {{channels: [4, 8, 8, 8], tau: 4}}",
            "but is used as DyRCNNx2 {channels: [4, 8], tau: 4}", fix=f"rm '{STATE}' && dynvision run",
            workdir=finished_workdir, before=before)
    # The experiment's table (its one-pass job's output) is gone, not remade from the wrong state; the test's own
    # table left by the earlier run is older than the state, so a later run tests it again (never reuses it).
    assert not (finished_workdir / REPORT).parent.joinpath("test_outputs.csv").exists()
    assert (finished_workdir / REPORT / "test_outputs.csv").stat().st_mtime < (finished_workdir / STATE).stat().st_mtime


@pytest.mark.parametrize(
    ("made", "mentions"),
    [
        ("tau=5", ["was made for DyRCNNx2 {channels: [4, 8], tau: 5}", "tau: 5 in the state, 4 in the path"]),
        ("3 classes", ["(seed 0001, 3 classes, input 1x28x28) but is used as", "7 of them ([3, 4, 5, 6, 7, 8, 9])"]),
        ("colour", ["input shape 3x28x28 in the state, 1x28x28 in the data"]),
    ],
)
def test_a_state_made_for_other_arguments_classes_or_images_is_refused(made, mentions, states, workdir, tiny_run,
                                                                       dynvision, refused, snapshot):
    shutil.copyfile(states[made], workdir / STATE)
    before = snapshot(workdir)
    refused(_test(dynvision, workdir, tiny_run), STATE, *mentions,
            fix=f"rm '{STATE}' && dynvision run '{REPORT}/test_outputs.csv'", workdir=workdir, before=before)


def test_an_initial_state_of_another_model_is_refused_before_training(states, workdir, tiny_run, dynvision,
                                                                      refused, snapshot):
    shutil.copyfile(states["DyRCNNx4"], workdir / MODEL_DIR / "init.pt")
    before = snapshot(workdir)
    refused(_train(dynvision, workdir, tiny_run), f"{MODEL_DIR}/init.pt was made for DyRCNNx4",
            fix=f"rm '{MODEL_DIR}/init.pt' && dynvision run '{MODEL_DIR}/retrained.pt'", workdir=workdir, before=before)


def test_export_refuses_a_trained_state_of_another_model(states, workdir, dynvision, refused, snapshot):
    shutil.copyfile(states["tau=5"], workdir / STATE)
    before = snapshot(workdir)
    result = dynvision("export-state", "--trained", STATE, "--checkpoints", f"{MODEL_DIR}/checkpoints",
                       "--status", "best", *IDENTITY, "--output", f"{MODEL_DIR}/best.pt", cwd=workdir, timeout=300)
    refused(result, "tau: 5 in the state, 4 in the path", fix=f"rm '{STATE}' && dynvision run '{MODEL_DIR}/best.pt'",
            workdir=workdir, before=before)


# State files that cannot be read ---------------------------------------------------------------------------------


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:4000])


def _text(path: Path) -> None:
    path.write_text("trained weights: see the lab's drive\n")


@pytest.mark.parametrize("damage", [_truncated, _text])
def test_a_damaged_state_is_refused_naming_it(damage, workdir, tiny_run, dynvision, refused, snapshot):
    damage(workdir / STATE)
    before = snapshot(workdir)
    reason = "it is truncated or not a torch file"
    text = refused(_test(dynvision, workdir, tiny_run), f"model state '{STATE}' cannot be read: {reason}",
                   fix=f"rm '{STATE}' && dynvision run", workdir=workdir, before=before)
    assert "weights_only" not in text


def test_a_state_that_would_run_code_is_refused_without_running_it(workdir, tiny_run, dynvision, refused, snapshot):
    import torch

    marker = workdir / "code-ran"
    torch.save({"format": "dynvision-model-state", "state_dict": _RunsCode(marker)}, workdir / STATE)
    before = snapshot(workdir)
    text = refused(_test(dynvision, workdir, tiny_run), STATE, "could run code when loaded, so it was not loaded",
                   fix=f"rm '{STATE}' && dynvision run", workdir=workdir, before=before)
    assert not marker.exists()
    assert "weights_only" not in text and "trusted source" not in text


# Training checkpoints ----------------------------------------------------------------------------------------------


def test_a_truncated_last_checkpoint_is_set_aside_and_training_resumes(workdir, tiny_run, dynvision):
    last = workdir / MODEL_DIR / "checkpoints/last.ckpt"
    last.write_bytes(last.read_bytes()[:5000])
    result = _train(dynvision, workdir, tiny_run)
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    aside = list(last.parent.glob("last.ckpt.corrupt-*"))
    assert len(aside) == 1 and aside[0].stat().st_size == 5000
    assert (f"{MODEL_DIR}/checkpoints/last.ckpt' cannot resume this training (it is truncated or not a torch file); "
            f"it was set aside as {aside[0].name}") in text  # fmt: skip
    assert "resuming from best.ckpt" in text and "Traceback" not in text
    assert (workdir / MODEL_DIR / "retrained.pt").is_file() and last.is_file()


def test_a_foreign_last_checkpoint_is_set_aside_and_training_starts_over(states, workdir, tiny_run, dynvision):
    import torch

    checkpoints = workdir / MODEL_DIR / "checkpoints"
    foreign = torch.load(checkpoints / "last.ckpt", weights_only=True)
    foreign["hyper_parameters"]["model_name"] = "DyRCNNx4"
    foreign["state_dict"] = {f"model.{key}": value for key, value in torch.load(states["DyRCNNx4"], weights_only=True)["state_dict"].items()}
    torch.save(foreign, checkpoints / "last.ckpt")
    (checkpoints / "best.ckpt").unlink()
    result = _train(dynvision, workdir, tiny_run)
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    assert "cannot resume this training (it holds the weights of another model (DyRCNNx4)" in text
    assert "training starts over" in text and "epoch 2/2" in text
    assert len(list(checkpoints.glob("last.ckpt.corrupt-*"))) == 1


def test_an_unknown_strategy_is_refused_listing_the_allowed_ones(workdir, tiny_run, dynvision, refused, snapshot):
    before = snapshot(workdir)
    refused(_train(dynvision, workdir, tiny_run, "--strategy", "foo"),
            "--strategy (config key train.strategy): 'foo' is not a Lightning strategy", "allowed: auto, ddp",
            fix="dynvision run --config train.strategy=auto", workdir=workdir, before=before)


def test_exporting_an_epoch_that_was_not_kept_says_how_to_keep_it(workdir, dynvision, refused, snapshot):
    before = snapshot(workdir)
    result = dynvision("export-state", "--trained", STATE, "--checkpoints", f"{MODEL_DIR}/checkpoints",
                       "--status", "epoch=3", *IDENTITY, "--output", f"{MODEL_DIR}/epoch=3.pt", cwd=workdir,
                       timeout=300)
    refused(result, f"checkpoint '{MODEL_DIR}/checkpoints/epoch=3.ckpt'", "add 3 to train.keep_epochs",
            fix=f"rm -r '{MODEL_DIR}/checkpoints' '{STATE}' && dynvision run '{MODEL_DIR}/epoch=3.pt'",
            workdir=workdir, before=before)


# Pretrained starts -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("weights", ["DyRCNNx4", "text"])
def test_pretrained_weights_that_do_not_fit_are_refused(weights, states, workdir, tiny_run, dynvision, refused,
                                                        snapshot):
    source = workdir / "weights.pt"
    if weights == "text":
        source.write_bytes(pickle.dumps("not weights", protocol=2)[:10])
    else:
        shutil.copyfile(states[weights], source)
    before = snapshot(workdir)
    result = dynvision("init", *IDENTITY, "--dataset", str(tiny_run / "data/raw/mnist5k/train"),
                       "--output", "pretrained/init.pt", "--pretrained", str(source), cwd=workdir, timeout=300)
    mention = "holds model DyRCNNx4 (not DyRCNNx2)" if weights == "DyRCNNx4" else "cannot be read: it is"
    refused(result, "init.pretrained", str(source), mention, fix="dynvision run --config init.pretrained=none",
            workdir=workdir, before=before)
