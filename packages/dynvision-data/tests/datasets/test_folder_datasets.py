"""Existing class-folder datasets (ImageNet / TinyImageNet layouts) linked in place, on tiny fake trees."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dynvision_data import ClassFolderDataset, materialize_dataset
from dynvision_data.datasets import folder_sources
from dynvision_data.datasets.folder_sources import read_class_index, register_folder_dataset
from dynvision_data.datasets.groups import materialize_group

WNIDS = ("n01440764", "n01443537", "n01484850")


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
    with pytest.raises(FileNotFoundError, match=r"missing is not a directory"):
        materialize_dataset("nowhere", tmp_path / "data")
    register_folder_dataset("badsplit", imagenet, splits={"train": "train", "test": "test"})
    with pytest.raises(FileNotFoundError, match=r"Split 'test' of 'badsplit'"):
        materialize_dataset("badsplit", tmp_path / "data")
    assert not (tmp_path / "data" / "badsplit").exists()
    assert all(not p.name.startswith(".badsplit") for p in (tmp_path / "data").iterdir())
    (tinyimagenet / "val" / "images" / "val_2.JPEG").unlink()
    register_folder_dataset("broken", tinyimagenet)
    with pytest.raises(FileNotFoundError, match=r"val_annotations.txt:3 names val_2.JPEG"):
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
