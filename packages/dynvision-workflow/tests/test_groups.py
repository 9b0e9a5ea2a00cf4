"""Class groups end to end: configured per dataset, checked at start, linked as folders, tested on with the labels
of the whole dataset."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dynvision_workflow.config import ConfigError, resolve_config
from dynvision_workflow.runtime import test as runtime
from dynvision_workflow.runtime.data import prepare_data
from dynvision_workflow.runtime.init import init_model
from dynvision_workflow.runtime.test import TestSettings


def _dynvision(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dynvision_workflow", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False)


def test_groups_are_configured_per_dataset_and_checked_at_start():
    config = resolve_config({"data_group": 38}, environ={})  # digits as names: --config data_group=38 is an int
    assert config["data_group"] == "38" and config["datasets"]["mnist5k"]["groups"]["38"] == ["3", "8"]
    assert resolve_config({"data_group": 1}, environ={})["data_group"] == "01"  # YAML and --config read 01 as 1
    custom = resolve_config({"datasets": {"mnist5k": {"groups": {"odd": [1, 3, 5, 7, 9]}}}, "data_group": "odd"},
                            environ={})
    assert custom["datasets"]["mnist5k"]["groups"]["odd"] == ["1", "3", "5", "7", "9"]
    with pytest.raises(ConfigError, match=r"data_group: 'zz' is not a class group of the dataset in use.*01, 38, 89"):
        resolve_config({"data_group": "zz"}, environ={})
    with pytest.raises(ConfigError, match=r"datasets.mnist5k.groups.Odd"):
        resolve_config({"datasets": {"mnist5k": {"groups": {"Odd": ["1"]}}}}, environ={})


def test_a_test_on_a_group_reads_only_its_images_and_keeps_the_labels(tmp_path):
    folder = prepare_data("digits", root=tmp_path / "data/raw")
    state = init_model("DyRCNNx2", {"channels": [3, 4], "tau": 4}, seed="0001", dataset=folder / "train",
                       output=tmp_path / "init.pt")
    root = tmp_path / "data/interim/digits"
    result = _dynvision("link-group", "digits", "--source", str(folder), "--output", str(root / "test_38"),
                        "--split", "test", "--group", "38", "--groups", '{"38": ["3", "8"]}', cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    group = root / "test_38"
    assert sorted(p.name for p in group.iterdir()) == [".ready", "3", "8"] and (group / "3").is_symlink()
    runtime.test_model(state, dataset=group, outputs=tmp_path / "out.csv", responses=tmp_path / "resp.safetensors",
                       settings=TestSettings(paradigm="duration:intro=1+outro=1+stimulus=2", batch_size=64))
    table = pd.read_csv(tmp_path / "out.csv")
    assert set(table["label"]) == {3, 8}  # the model's class indices, not 0 and 1
    n_images = sum(1 for c in ("3", "8") for _ in (folder / "test" / c).glob("*.png"))
    assert table["sample"].nunique() == n_images
    # A group naming a class the dataset does not have: one line naming the key, the class and what exists.
    bad = _dynvision("link-group", "digits", "--source", str(folder), "--output", str(root / "test_ab"),
                     "--split", "test", "--group", "ab", "--groups", '{"ab": ["3", "x"]}', cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "datasets.digits.groups.ab" in bad.stderr and "'x'" in bad.stderr and "Available classes" in bad.stderr


def test_the_workflow_links_the_group_and_tests_on_it(tmp_path):
    result = _dynvision("run", "--workdir", str(tmp_path), "-n", "-p", "--config", "data_group=38", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "dynvision link-group mnist5k" in result.stdout and "--group 38" in result.stdout
    assert "--dataset data/interim/mnist5k/test_38 " in result.stdout and "mnist5k:38_trained" in result.stdout


@pytest.mark.slow
def test_training_on_a_group_reads_its_classes_with_the_labels_of_the_whole_dataset(tmp_path):
    from dynvision_workflow.options import TrainSettings
    from dynvision_workflow.runtime.states import load_state
    from dynvision_workflow.runtime.train import train_model

    folder = prepare_data("digits", root=tmp_path / "data/raw")
    init = init_model("DyRCNNx2", {"channels": [3, 4], "tau": 4}, seed="0001", dataset=folder / "train",
                      output=tmp_path / "init.pt")
    root = tmp_path / "data/interim/digits"
    assert _dynvision("link-group", "digits", "--source", str(folder), "--output", str(root / "train_38"),
                      "--split", "train", "--group", "38", "--groups", '{"38": ["3", "8"]}', cwd=tmp_path).returncode == 0
    settings = TrainSettings(backend="torch", epochs=2, batch_size=16, lr=0.02, threads=1, data_group="38",
                             paradigm="duration:intro=1+outro=1+stimulus=2")
    output = train_model(init=init, output=tmp_path / "trained.pt", dataset=root / "train_38", betons=None,
                         checkpoints=tmp_path / "checkpoints", seed="0001", settings=settings)
    state = load_state(output)
    assert state.data["classes"] == [str(d) for d in range(10)]  # every class stays an output
    assert _dynvision("link-group", "digits", "--source", str(folder), "--output", str(root / "test_38"),
                      "--split", "test", "--group", "38", "--groups", '{"38": ["3", "8"]}', cwd=tmp_path).returncode == 0
    runtime.test_model(output, dataset=root / "test_38", outputs=tmp_path / "out.csv",
                       responses=tmp_path / "resp.safetensors",
                       settings=TestSettings(paradigm="duration:intro=1+outro=1+stimulus=2", batch_size=64))
    table = pd.read_csv(tmp_path / "out.csv")
    during = table[table["stimulus"] == 1]
    assert during["guess"].isin([3, 8]).mean() > 0.9  # it learnt the group's two classes under their own labels
