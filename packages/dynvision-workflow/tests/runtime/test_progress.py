"""Progress in logs: without a terminal, training writes one line per epoch and the test step one per 10% of images."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from dynvision_workflow.runtime import test as runtime_test
from dynvision_workflow.runtime.data import prepare_data
from dynvision_workflow.runtime.init import init_model
from dynvision_workflow.runtime.progress import CountProgress, format_duration
from dynvision_workflow.runtime.train import TrainSettings, train_model

EPOCH_LINE = re.compile(
    r"^epoch (\d+)/2: train loss [\d.e+-]+, val loss [\d.e+-]+, val acc [\d.e+-]+; elapsed \d+:\d\d:\d\d, ETA \d+:\d\d:\d\d$"
)
TEST_LINE = re.compile(r"^test: (\d+)/(\d+) images \((\d+)%\); elapsed \d+:\d\d:\d\d, ETA \d+:\d\d:\d\d$")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Digits, DyRCNNx2 with channels [4, 8]: the data folder, the init state and the folder to train into."""
    folder = prepare_data("digits", root=tmp_path_factory.mktemp("data"))
    models = tmp_path_factory.mktemp("model")
    init = init_model("DyRCNNx2", {"channels": [4, 8], "tau": 4}, seed="0001", dataset=folder / "train",
                      output=models / "init.pt")
    return folder, init, models


def test_training_without_a_terminal_logs_one_line_per_epoch(trained, capsys):
    folder, init, models = trained
    settings = TrainSettings(backend="torch", epochs=2, batch_size=32, limit_images=96, threads=1,
                             paradigm={"name": "duration", "args": {"intro": 1, "outro": 1, "stimulus": 2}})
    train_model(init=init, output=models / "trained.pt", dataset=folder / "train", betons=None,
                checkpoints=models / "checkpoints", seed="0001", settings=settings)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("epoch ")]
    assert [EPOCH_LINE.match(line).group(1) for line in lines] == ["1", "2"], lines
    assert lines[-1].endswith("ETA 0:00:00")


def test_the_test_step_logs_its_progress_every_tenth_of_the_images(trained, tmp_path, capsys):
    folder, init, _ = trained
    settings = runtime_test.TestSettings(paradigm="duration:intro=1+outro=1+stimulus=2", batch_size=16, limit_images=160)
    runtime_test.test_model(init, dataset=folder / "test", outputs=tmp_path / "test_outputs.csv",
                            responses=tmp_path / "test_responses.safetensors", settings=settings)
    matches = [TEST_LINE.match(line) for line in capsys.readouterr().err.splitlines() if line.startswith("test: ")]
    assert all(matches), matches
    assert [int(match.group(3)) for match in matches] == list(range(10, 101, 10))
    assert {int(match.group(2)) for match in matches} == {160} and matches[-1].group(1) == "160"


def test_count_progress_writes_a_line_only_when_another_tenth_is_done():
    stream = io.StringIO()
    progress = CountProgress(100, label="test", stream=stream)
    for done in (5, 10, 15, 35, 100):  # 35 passes 20% and 30%: one line, at 35%
        progress.update(done)
    assert [line.split(" (")[1].split(")")[0] for line in stream.getvalue().splitlines()] == ["10%", "35%", "100%"]
    assert format_duration(3725.4) == "1:02:05"
