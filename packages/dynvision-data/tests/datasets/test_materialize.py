from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from dynvision_data import ClassFolderDataset, materialize_dataset, read_image, split_indices
from dynvision_data.datasets import materialize, registry
from dynvision_data.datasets.registry import RawDataset, get_dataset_spec, register_dataset


@pytest.fixture
def private_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register test datasets in a copy of the registry so that they do not leak into other tests."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def _tiny_raw(channels: int = 1, splits: dict[str, np.ndarray] | None = None) -> RawDataset:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 4, 5, channels), dtype=np.uint8)
    return RawDataset(images, np.arange(12) % 3, ("a", "b", "c"), splits)


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_digits_tree_has_split_class_folders_of_png_files(digits_tree: Path) -> None:
    assert digits_tree.name == "digits"
    classes = [str(d) for d in range(10)]
    for split in ("train", "test"):
        assert sorted(p.name for p in (digits_tree / split).iterdir() if p.is_dir()) == classes
        assert all(p.suffix == ".png" for p in (digits_tree / split).glob("*/*") if p.is_file())
    n_train = len(list((digits_tree / "train").glob("*/*.png")))
    n_test = len(list((digits_tree / "test").glob("*/*.png")))
    assert (n_train, n_test) == (1438, 359)  # round(1797 * 0.2) = 359


def test_digits_tree_marker_records_parameters_and_counts(digits_tree: Path) -> None:
    marker = json.loads((digits_tree / "dataset.json").read_text())
    assert marker["name"] == "digits" and marker["seed"] == 0 and marker["test_fraction"] == 0.2
    assert marker["split"] == "stratified"
    assert marker["image_shape"] == [1, 8, 8]
    assert marker["classes"] == [str(d) for d in range(10)]
    assert marker["counts"]["test"]["total"] == 359 and marker["counts"]["train"]["total"] == 1438
    for split in ("train", "test"):
        on_disk = {c: len(list((digits_tree / split / c).glob("*.png"))) for c in marker["classes"]}
        assert marker["counts"][split]["per_class"] == on_disk


def test_digits_files_hold_the_source_pixels_of_the_seeded_split(digits_tree: Path) -> None:
    raw = get_dataset_spec("digits").load(Path("unused"))
    train, test = split_indices(raw.labels, 0.2, seed=0)
    for split, expected in (("train", train), ("test", test)):
        files = sorted((digits_tree / split).glob("*/*.png"))
        indices = sorted(int(p.stem) for p in files)
        assert indices == expected.tolist()
        assert all(len(p.stem) == 4 for p in files)  # zero-padded: name order is index order
    for path in sorted((digits_tree / "test").glob("3/*.png"))[:5]:
        index = int(path.stem)
        assert raw.labels[index] == 3
        np.testing.assert_array_equal(read_image(path)[0], raw.images[index, :, :, 0])
    assert ClassFolderDataset(digits_tree / "train").image_shape == (1, 8, 8)


def test_materialize_twice_returns_at_once_without_loading_or_rewriting(
    digits_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [digits_tree / "dataset.json", *sorted((digits_tree / "train" / "0").glob("*.png"))[:3]]
    before = [p.stat().st_mtime_ns for p in files]

    def must_not_load(cache_dir: Path) -> RawDataset:
        raise AssertionError("an existing tree must not be loaded again")

    spec = get_dataset_spec("digits")
    monkeypatch.setitem(registry._REGISTRY, "digits", dataclasses.replace(spec, load=must_not_load))
    assert materialize_dataset("digits", digits_tree.parent) == digits_tree
    assert materialize_dataset("digits", str(digits_tree.parent), seed=0, test_fraction=0.2) == digits_tree
    assert [p.stat().st_mtime_ns for p in files] == before


@pytest.mark.parametrize("changed", [{"seed": 1}, {"test_fraction": 0.3}])
def test_existing_tree_with_other_parameters_is_refused_not_overwritten(
    digits_tree: Path, changed: dict
) -> None:
    marker = (digits_tree / "dataset.json").read_bytes()
    with pytest.raises(ValueError, match="already holds a materialisation") as info:
        materialize_dataset("digits", digits_tree.parent, **changed)
    assert str(digits_tree) in str(info.value)
    assert (digits_tree / "dataset.json").read_bytes() == marker


def test_tree_without_marker_is_refused(tmp_path: Path) -> None:
    (tmp_path / "digits" / "train").mkdir(parents=True)
    with pytest.raises(FileExistsError, match=r"no completion marker dataset\.json") as info:
        materialize_dataset("digits", tmp_path)
    assert str(tmp_path / "digits") in str(info.value)
    assert _leftovers(tmp_path / "digits") == ["train"]


def test_failing_loader_leaves_no_tree(tmp_path: Path, private_registry: None) -> None:
    @register_dataset("broken-download", description="fails", image_shape=(1, 4, 5))
    def load(cache_dir: Path) -> RawDataset:
        raise ConnectionError("no network")

    with pytest.raises(ConnectionError, match="no network"):
        materialize_dataset("broken-download", tmp_path / "root")
    assert _leftovers(tmp_path / "root") == []


def test_failure_while_writing_leaves_no_half_tree(
    tmp_path: Path, private_registry: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_dataset("tiny", description="12 images", image_shape=(1, 4, 5))(lambda cache_dir: _tiny_raw())
    saved: list[Path] = []
    original = materialize._save_png

    def save_then_fail(pixels: np.ndarray, mode: str, path: Path) -> None:
        if len(saved) == 5:
            raise OSError("disk full")
        original(pixels, mode, path)
        saved.append(path)

    monkeypatch.setattr(materialize, "_save_png", save_then_fail)
    with pytest.raises(OSError, match="disk full"):
        materialize_dataset("tiny", tmp_path)
    assert len(saved) == 5 and not any(p.exists() for p in saved)  # files were written, then removed
    assert _leftovers(tmp_path) == []  # neither tiny/ nor a hidden temporary folder

    monkeypatch.setattr(materialize, "_save_png", original)
    target = materialize_dataset("tiny", tmp_path)  # a later call builds the tree normally
    assert len(list(target.glob("*/*/*.png"))) == 12


def test_colour_dataset_is_written_as_rgb_png(tmp_path: Path, private_registry: None) -> None:
    raw = _tiny_raw(channels=3)
    register_dataset("tiny-rgb", description="12 images", image_shape=(3, 4, 5))(lambda cache_dir: raw)
    target = materialize_dataset("tiny-rgb", tmp_path, seed=2, test_fraction=0.25)
    files = sorted(target.glob("*/*/*.png"))
    assert len(files) == 12 and len(list(target.glob("test/*/*.png"))) == 3
    for path in files:
        index = int(path.stem)
        assert path.parent.name == raw.classes[raw.labels[index]]
        np.testing.assert_array_equal(read_image(path), raw.images[index].transpose(2, 0, 1))


def test_official_split_is_kept_and_seed_is_not_checked(tmp_path: Path, private_registry: None) -> None:
    splits = {"train": np.arange(9), "test": np.arange(9, 12)}
    register_dataset("tiny-official", description="12 images", image_shape=(1, 4, 5))(
        lambda cache_dir: _tiny_raw(splits=splits)
    )
    target = materialize_dataset("tiny-official", tmp_path, seed=5)
    marker = json.loads((target / "dataset.json").read_text())
    assert marker["split"] == "official"
    assert sorted(int(p.stem) for p in target.glob("test/*/*.png")) == [9, 10, 11]
    assert materialize_dataset("tiny-official", tmp_path, seed=6) == target


def test_unknown_dataset_or_bad_arguments_touch_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with pytest.raises(KeyError, match="Did you mean 'mnist5k'"):
        materialize_dataset("mnist5", root)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        materialize_dataset("digits", root, seed=-1)
    with pytest.raises(ValueError, match="test_fraction must be strictly between 0 and 1"):
        materialize_dataset("digits", root, test_fraction=1.5)
    assert not root.exists()
