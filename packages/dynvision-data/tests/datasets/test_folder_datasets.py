"""Existing class-folder datasets (ImageNet / TinyImageNet layouts) linked in place, on tiny fake trees."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dynvision_data import ClassFolderDataset, DataError, materialize_dataset
from dynvision_data._util import _HOST
from dynvision_data.datasets import folder_sources
from dynvision_data.datasets.folder_sources import read_class_index, register_folder_dataset
from dynvision_data.datasets.groups import materialize_group

WNIDS = ("n01440764", "n01443537", "n01484850")


def _dead_pid() -> int:
    """The id of a process that has ended (not reused so soon)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


@pytest.fixture(autouse=True)
def private_folder_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(folder_sources, "_FOLDER_REGISTRY", {})


def _jpeg(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), value, dtype=np.uint8)).save(path, format="JPEG")


@pytest.fixture
def imagenet(tmp_path: Path) -> Path:
    """ImageNet layout: train/<wnid>/*.JPEG, val/<wnid>/*.JPEG, and the Keras-style class index JSON."""
    root = tmp_path / "imagenet"
    for k, wnid in enumerate(WNIDS):
        for i in range(3):
            _jpeg(root / "train" / wnid / f"{wnid}_{i}.JPEG", 40 * k + i)
        _jpeg(root / "val" / wnid / f"ILSVRC2012_val_{k:08d}.JPEG", 40 * k)
    index = {"0": [WNIDS[0], "tench"], "1": [WNIDS[1], "goldfish"], "2": [WNIDS[2], "great_white_shark"],
             "3": ["n01491361", "tiger_shark"]}
    (tmp_path / "imagenet_class_index.json").write_text(json.dumps(index))
    return root


@pytest.fixture
def tinyimagenet(tmp_path: Path) -> Path:
    """TinyImageNet layout: train/<wnid>/images/*.JPEG (+ boxes file), val/images + val_annotations.txt, words.txt."""
    root = tmp_path / "tiny-imagenet-200"
    for k, wnid in enumerate(WNIDS[:2]):
        for i in range(2):
            _jpeg(root / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", 50 * k + i)
        (root / "train" / wnid / f"{wnid}_boxes.txt").write_text("")
    lines = []
    for i, wnid in enumerate([WNIDS[1], WNIDS[0], WNIDS[1]]):
        _jpeg(root / "val" / "images" / f"val_{i}.JPEG", 10 * i)
        lines.append(f"val_{i}.JPEG\t{wnid}\t0\t0\t7\t7")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    (root / "words.txt").write_text(f"{WNIDS[0]}\ttench, Tinca tinca\n{WNIDS[1]}\tgoldfish\nn00000001\tother\n")
    return root


def test_imagenet_layout_is_linked_with_class_names(imagenet: Path, tmp_path: Path) -> None:
    register_folder_dataset("fakenet", imagenet, class_index=tmp_path / "imagenet_class_index.json")
    tree = materialize_dataset("fakenet", tmp_path / "data")
    assert tree == tmp_path / "data" / "fakenet"
    assert os.path.islink(tree / "train" / WNIDS[0])
    assert Path(os.readlink(tree / "test" / WNIDS[2])) == (imagenet / "val" / WNIDS[2]).resolve()
    marker = json.loads((tree / "dataset.json").read_text())
    assert marker["classes"] == list(WNIDS) and marker["kind"] == "folder"
    assert marker["class_names"] == {WNIDS[0]: "tench", WNIDS[1]: "goldfish", WNIDS[2]: "great_white_shark"}
    train, test = ClassFolderDataset(tree / "train"), ClassFolderDataset(tree / "test", classes=list(WNIDS))
    assert (len(train), len(test)) == (9, 3) and train.image_shape == (3, 8, 8)
    assert test.labels.tolist() == [0, 1, 2]
    assert materialize_dataset("fakenet", tmp_path / "data") == tree  # idempotent
    group = materialize_group(tree, "test", "fish", [WNIDS[0], WNIDS[1]])
    assert len(ClassFolderDataset(group)) == 2


def test_tinyimagenet_val_annotations_become_class_folders(tinyimagenet: Path, tmp_path: Path) -> None:
    register_folder_dataset("tiny", tinyimagenet)
    tree = materialize_dataset("tiny", tmp_path / "data")
    # train/<wnid> links to the images/ sub-folder, so the boxes file is not seen as a class image.
    assert Path(os.readlink(tree / "train" / WNIDS[0])) == (tinyimagenet / "train" / WNIDS[0] / "images").resolve()
    test = ClassFolderDataset(tree / "test")
    assert test.classes == [WNIDS[0], WNIDS[1]]
    assert [p.name for p, _ in test.samples] == ["val_1.JPEG", "val_0.JPEG", "val_2.JPEG"]
    assert test.labels.tolist() == [0, 1, 1]
    marker = json.loads((tree / "dataset.json").read_text())
    assert marker["class_names"] == {WNIDS[0]: "tench, Tinca tinca", WNIDS[1]: "goldfish"}
    assert len(ClassFolderDataset(tree / "train")) == 4


def test_errors_name_the_problem(imagenet: Path, tinyimagenet: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="builtin dataset name"):
        register_folder_dataset("mnist", imagenet)
    register_folder_dataset("nowhere", tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match=r"missing' is not a directory; correct the path .*dynvision run"):
        materialize_dataset("nowhere", tmp_path / "data")
    register_folder_dataset("badsplit", imagenet, splits={"train": "train", "test": "test"})
    with pytest.raises(DataError, match=r"split 'test' of folder dataset 'badsplit': .*test' is not a directory; create"):
        materialize_dataset("badsplit", tmp_path / "data")
    assert not (tmp_path / "data" / "badsplit").exists()
    assert all(not p.name.startswith(".badsplit") for p in (tmp_path / "data").iterdir())
    (tinyimagenet / "val" / "images" / "val_2.JPEG").unlink()
    register_folder_dataset("broken", tinyimagenet)
    with pytest.raises(DataError, match=r"val_annotations.txt:3 names val_2.JPEG"):
        materialize_dataset("broken", tmp_path / "data")
    register_folder_dataset("fakenet", imagenet)
    materialize_dataset("fakenet", tmp_path / "data")
    register_folder_dataset("fakenet", tinyimagenet, replace=True)
    with pytest.raises(ValueError, match="never overwritten"):
        materialize_dataset("fakenet", tmp_path / "data")


def test_class_index_formats(tmp_path: Path) -> None:
    (tmp_path / "plain.json").write_text(json.dumps({"a": "Apple"}))
    assert read_class_index(tmp_path / "plain.json") == {"a": "Apple"}
    (tmp_path / "bad.json").write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match=r"bad\.json is not a class index"):
        read_class_index(tmp_path / "bad.json")


def test_an_empty_class_folder_is_refused_naming_it_not_dropped(imagenet: Path, tmp_path: Path) -> None:
    empty = imagenet / "val" / "n09999999"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    register_folder_dataset("withempty", imagenet)
    with pytest.raises(DataError, match=r"class folder '.*n09999999' holds no images") as info:
        materialize_dataset("withempty", tmp_path / "data")
    assert f"rmdir '{empty}'" in str(info.value) and "then rerun: dynvision run" in str(info.value)
    assert _leftovers(tmp_path / "data") == []  # nothing linked, no temporary left


def test_a_split_without_class_folders_is_refused(imagenet: Path, tmp_path: Path) -> None:
    for folder in (imagenet / "val").iterdir():
        for image in folder.iterdir():
            image.rename(imagenet / "val" / image.name)  # images straight in the split folder
        folder.rmdir()
    register_folder_dataset("flat", imagenet)
    with pytest.raises(DataError, match=r"val' has no class folders .*put one folder per class"):
        materialize_dataset("flat", tmp_path / "data")


def test_the_marker_records_the_images_of_every_class(imagenet: Path, tinyimagenet: Path, tmp_path: Path) -> None:
    register_folder_dataset("fakenet", imagenet)
    counts = json.loads((materialize_dataset("fakenet", tmp_path / "data") / "dataset.json").read_text())["counts"]
    assert counts["train"] == {"total": 3 * len(WNIDS), "per_class": dict.fromkeys(WNIDS, 3)}
    register_folder_dataset("tiny", tinyimagenet)
    counts = json.loads((materialize_dataset("tiny", tmp_path / "data") / "dataset.json").read_text())["counts"]
    assert counts["test"]["per_class"] == {WNIDS[0]: 1, WNIDS[1]: 2}  # from val_annotations.txt


def test_a_killed_linkers_temporary_is_removed_and_a_live_ones_kept(imagenet: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    dead = _dead_pid()
    stale = root / f".fakenet.{_HOST}-{dead}.abcd1234.tmp"
    (stale / "train").mkdir(parents=True)
    (stale / "train" / "n01").symlink_to(imagenet / "train" / WNIDS[0])
    live = root / f".fakenet.{_HOST}-{os.getppid()}.abcd1234.tmp"  # the process that runs these tests
    elsewhere = root / f".fakenet.otherhost-{dead}.abcd1234.tmp"  # another node of a shared file system
    live.mkdir()
    elsewhere.mkdir()
    register_folder_dataset("fakenet", imagenet)
    materialize_dataset("fakenet", root)
    assert _leftovers(root) == sorted(["fakenet", live.name, elsewhere.name])
    assert len(list((imagenet / "train" / WNIDS[0]).iterdir())) == 3  # the links went, never what they lead to
