"""Markers cannot lie: the cheap checks of a dataset tree, a class group and a .beton against what their markers
record, and the temporaries a killed writer leaves (removed by the next writer, never a live one's)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dynvision_data import materialize_dataset
from dynvision_data._util import _HOST, atomic_write_json, make_temporary, remove_stale_temporaries
from dynvision_data.datasets.groups import READY_NAME, materialize_group
from dynvision_data.integrity import folder_times, group_problems, tree_problems


def _dead_pid() -> int:
    """The id of a process that has ended (not reused so soon)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.fixture
def digits(tmp_path: Path) -> tuple[Path, dict]:
    """A private digits tree and the image counts its dataset.json records."""
    folder = materialize_dataset("digits", tmp_path / "raw")
    return folder, json.loads((folder / "dataset.json").read_text())["counts"]


def test_a_tree_matches_its_counts_until_a_folder_or_image_goes(digits: tuple[Path, dict]) -> None:
    folder, counts = digits
    times = folder_times(folder, counts)
    assert tree_problems(folder, counts) == [] and tree_problems(folder, counts, times) == []
    next(iter(sorted((folder / "train" / "3").iterdir()))).unlink()
    shutil.rmtree(folder / "test" / "7")
    (folder / "test" / "extra").mkdir()
    problems = tree_problems(folder, counts, times)
    expected_train = counts["train"]["per_class"]["3"]
    assert sorted(problems) == sorted([
        f"class folder '{folder}/train/3' holds {expected_train - 1} images, {expected_train} when it was prepared",
        f"'{folder}/test' has class folders ['extra'] that were not there when it was prepared",
        f"class folder '{folder}/test/7' is missing",
    ])
    shutil.rmtree(folder)
    assert tree_problems(folder, counts) == [f"'{folder}' is missing"]


def test_a_folder_with_its_recorded_time_is_not_listed_again(digits: tuple[Path, dict]) -> None:
    folder, counts = digits
    times = folder_times(folder, counts)
    wrong = {split: {"per_class": {name: n + 1 for name, n in record["per_class"].items()}}
             for split, record in counts.items()}
    assert tree_problems(folder, wrong, times) == []  # unchanged folders: their listing is skipped
    assert len(tree_problems(folder, wrong)) == 20  # without the times every folder is counted


def test_a_group_whose_class_folder_went_is_reported_and_made_again(digits: tuple[Path, dict]) -> None:
    folder, _ = digits
    group = materialize_group(folder, "test", "38", ["3", "8"], root=folder.parent / "interim")
    assert group_problems(group) == []
    shutil.rmtree(folder / "test" / "8")
    assert group_problems(group) == [f"class '8' ('{group}/8') no longer leads to a class folder"]
    (folder / "test" / "8").mkdir()
    again = materialize_group(folder, "test", "38", ["3", "8"], root=folder.parent / "interim")
    assert again == group and group_problems(group) == [] and (group / READY_NAME).is_file()
    (group / READY_NAME).write_text("{")
    assert "is unreadable" in group_problems(group)[0]


def test_materialize_removes_a_killed_writers_tree_and_keeps_a_live_ones(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    stale = root / f".digits.{_HOST}-{_dead_pid()}.k1ll3d00.tmp"
    (stale / "train" / "0").mkdir(parents=True)
    (stale / "train" / "0" / "0001.png").write_bytes(b"half")
    live = root / f".digits.{_HOST}-{os.getppid()}.w0rk1n00.tmp"
    live.mkdir()
    materialize_dataset("digits", root)
    assert not stale.exists() and live.is_dir() and (root / "digits" / "dataset.json").is_file()


def test_a_group_link_removes_a_killed_linkers_temporary(digits: tuple[Path, dict]) -> None:
    folder, _ = digits
    stale = folder / f".test_38.{_HOST}-{_dead_pid()}.k1ll3d00.tmp"
    stale.mkdir()
    (stale / "3").symlink_to(folder / "test" / "3", target_is_directory=True)
    materialize_group(folder, "test", "38", ["3", "8"])
    assert not stale.exists() and len(list((folder / "test" / "3").iterdir())) > 0


def test_json_writes_remove_only_dead_processes_temporaries_of_this_host(tmp_path: Path) -> None:
    dead = _dead_pid()
    stale = tmp_path / f".x.json.{_HOST}-{dead}.abc12345.tmp"
    other_host = tmp_path / f".x.json.otherhost-{dead}.abc12345.tmp"
    other_name = tmp_path / f".y.json.{_HOST}-{dead}.abc12345.tmp"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".x.json.{_HOST}-{sleeper.pid}.abc12345.tmp"
        for path in (stale, other_host, other_name, live):
            path.write_text("partial")
        atomic_write_json(tmp_path / "x.json", {"a": 1})
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            ["x.json", other_host.name, other_name.name, live.name])
    finally:
        sleeper.kill()
        sleeper.wait()
    assert remove_stale_temporaries(tmp_path, "x.json") == [live]  # its writer is gone now


def test_temporaries_are_named_with_host_and_process(tmp_path: Path) -> None:
    fd, name = make_temporary(tmp_path, "train.beton")
    os.close(fd)
    assert Path(name).name.startswith(f".train.beton.{_HOST}-{os.getpid()}.") and name.endswith(".tmp")
    _, folder = make_temporary(tmp_path, "mnist", folder=True)
    assert Path(folder).is_dir() and Path(folder).name.startswith(f".mnist.{_HOST}-{os.getpid()}.")
