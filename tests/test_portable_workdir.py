"""A finished working directory copied elsewhere (a staged or moved run) trains and tests again: nothing in it
records an absolute path that later work depends on (FFCV sidecars name their class folder relative to the .beton)."""

from __future__ import annotations

import json
import shutil

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.ffcv]

MODEL = "models/DyRCNNx2/DyRCNNx2:channels=4~8_0001/digits"
TEST = "reports/response/DyRCNNx2:channels=4~8_0001/digits:all_trained/duration:intro=1+outro=1+stimulus=2"
TINY = """
model_name: [DyRCNNx2]
model_args: {channels: "4,8"}
seed: ["0001"]
data_name: digits
experiment: [response]
experiments:
  response: {paradigm: duration, args: {intro: 1, stimulus: 2, outro: 1}}
train:
  epochs: 1
  batch_size: 32
  limit_images: 64
  paradigm: {name: duration, args: {intro: 1, stimulus: 2, outro: 1}}
test: {batch_size: 32, limit_images: 32}
"""


def test_a_copied_working_directory_retrains_and_retests(tmp_path, dynvision):
    original = tmp_path / "original"
    original.mkdir()
    (original / "tiny.yaml").write_text(TINY)
    targets = [f"{MODEL}/trained.pt"]
    result = dynvision("run", "--workdir", str(original), "--cores", "2", "--configfile", "tiny.yaml", "--",
                       *targets, cwd=original, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    sidecar = json.loads((original / "data/processed/digits/train.beton.json").read_text())
    assert not sidecar["class_dir"].startswith("/")

    copy = tmp_path / "copy"
    shutil.copytree(original, copy, symlinks=True)  # copy2: times kept, so nothing is out of date
    shutil.rmtree(original)  # nothing may still point into the original
    result = dynvision("run", "--workdir", str(copy), "--cores", "2", "--configfile", "tiny.yaml", "-n", "--",
                       *targets, cwd=copy, timeout=300)
    assert result.returncode == 0 and "Nothing to be done" in result.stdout + result.stderr, result.stderr[-3000:]
    result = dynvision("run", "--workdir", str(copy), "--cores", "2", "--configfile", "tiny.yaml",
                       "--forcerun", "train_model", "--", *targets, f"{TEST}/test_outputs.csv", cwd=copy, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "build_betons" not in result.stdout + result.stderr  # the copied betons are used as they are
    assert (copy / f"{TEST}/test_outputs.csv").is_file()
