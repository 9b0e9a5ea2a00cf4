from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from dynvision_data import ClassFolderDataset
from dynvision_data.datasets.groups import READY_NAME, list_groups, materialize_group


@pytest.fixture
def dataset_dir(tmp_path: Path, make_class_folder) -> Path:
    """``<tmp>/ds/{train,test}/{emu,cat,dog}`` with a dataset.json naming it ``mydata`` (no builtin groups)."""
    root = tmp_path / "ds"
    make_class_folder("ds/train", per_class=3)
    make_class_folder("ds/test", per_class=2, seed=1)
    (root / "dataset.json").write_text(json.dumps({"name": "mydata"}))
    return root


def test_group_is_a_folder_of_relative_symlinks_with_ready_marker(dataset_dir: Path) -> None:
    group = materialize_group(dataset_dir, "test", "pets", ["dog", "cat"])
    assert group == dataset_dir / "test_pets"
    assert sorted(p.name for p in group.iterdir()) == [READY_NAME, "cat", "dog"]
    assert os.readlink(group / "cat") == os.path.join("..", "test", "cat")
    assert json.loads((group / READY_NAME).read_text())["classes"] == ["dog", "cat"]
    subset = ClassFolderDataset(group, classes=["cat", "dog", "emu"])  # full class list keeps label indices
    full = ClassFolderDataset(dataset_dir / "test", classes=["cat", "dog", "emu"])
    assert len(subset) == 4 and set(subset.labels.tolist()) == {0, 1}
    images, _ = subset.load_arrays()
    np.testing.assert_array_equal(images, full.load_arrays(np.flatnonzero(full.labels < 2))[0])
    assert not any(p.name.startswith(".test_pets") for p in dataset_dir.iterdir())  # no temporaries left


def test_group_is_idempotent_and_refuses_other_classes(dataset_dir: Path) -> None:
    group = materialize_group(dataset_dir, "train", "pets", ["cat", "dog"])
    mtime = (group / READY_NAME).stat().st_mtime_ns
    assert materialize_group(dataset_dir, "train", "pets", ["cat", "dog"]) == group
    assert (group / READY_NAME).stat().st_mtime_ns == mtime
    with pytest.raises(ValueError, match=r"already holds group 'pets' with classes \['cat', 'dog'\]"):
        materialize_group(dataset_dir, "train", "pets", ["cat"])


def test_wrong_class_name_lists_available_classes(dataset_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"\['cow'\].*Available classes: cat, dog, emu"):
        materialize_group(dataset_dir, "train", "farm", ["cow", "dog"])
    assert not (dataset_dir / "train_farm").exists()


def test_never_overwrites_a_real_file_or_folder(dataset_dir: Path) -> None:
    (dataset_dir / "train_mine").mkdir()
    (dataset_dir / "train_mine" / "notes.txt").write_text("keep me")
    (dataset_dir / "test_x").write_text("a file")
    with pytest.raises(FileExistsError, match=r"train_mine exists but is not a group folder"):
        materialize_group(dataset_dir, "train", "mine", ["cat"])
    with pytest.raises(FileExistsError, match=r"test_x exists"):
        materialize_group(dataset_dir, "test", "x", ["cat"])
    assert (dataset_dir / "train_mine" / "notes.txt").read_text() == "keep me"
    assert (dataset_dir / "test_x").read_text() == "a file"


def test_all_and_named_groups_from_a_table(dataset_dir: Path) -> None:
    everything = materialize_group(dataset_dir, "test", "all")
    assert sorted(p.name for p in everything.iterdir() if p.is_dir()) == ["cat", "dog", "emu"]
    table = {"birds": ["emu"]}
    assert sorted(p.name for p in materialize_group(dataset_dir, "test", "birds", groups=table).iterdir()) == [
        READY_NAME, "emu"]
    with pytest.raises(KeyError, match=r"Unknown class group 'fish'.*birds.*'all'"):
        materialize_group(dataset_dir, "test", "fish", groups=table)
    with pytest.raises(FileNotFoundError, match="has no split 'val'"):
        materialize_group(dataset_dir, "val", "all")
    with pytest.raises(ValueError, match="group must be a plain"):
        materialize_group(dataset_dir, "test", "../x", ["cat"])


def test_builtin_group_table_for_materialised_digits(digits_tree: Path) -> None:
    assert list_groups(digits_tree)["38"] == ["3", "8"]
    group = materialize_group(digits_tree, "test", "38")
    try:
        dataset = ClassFolderDataset(group)
        assert dataset.classes == ["3", "8"] and len(dataset) == 72  # 36 + 36 of 359 test digits
    finally:  # the digits tree is shared by the session: leave it as found
        for link in group.iterdir():
            link.unlink()
        group.rmdir()
