from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dynvision_data import ClassFolderDataset, DataError, read_image
from dynvision_data.datasets.folder import verify_images


@pytest.mark.parametrize(
    ("mode", "channels"), [("L", 1), ("1", 1), ("LA", 1), ("RGB", 3), ("RGBA", 3), ("P", 3)]
)
def test_read_image_gives_uint8_chw_with_one_or_three_channels(
    tmp_path: Path, mode: str, channels: int
) -> None:
    path = tmp_path / "image.png"
    Image.new(mode, (5, 4)).save(path)
    array = read_image(path)
    assert array.shape == (channels, 4, 5) and array.dtype == np.uint8


def test_read_image_keeps_pixels_exactly(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.png"), pixels.transpose(2, 0, 1))
    Image.fromarray(pixels[:, :, 0]).save(tmp_path / "grey.png")
    np.testing.assert_array_equal(read_image(tmp_path / "grey.png"), pixels[None, :, :, 0])


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_read_image_returns_a_writable_array(tmp_path: Path, mode: str) -> None:
    # A read-only array would make torch.from_numpy (dataset items) alias an immutable buffer.
    Image.new(mode, (3, 2)).save(tmp_path / "image.png")
    array = read_image(tmp_path / "image.png")
    assert array.flags.writeable and array.flags.c_contiguous


def test_read_image_refuses_16_bit_images_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((4, 4), 1000, np.uint16)).save(path)
    with pytest.raises(ValueError, match="16-bit or float pixels") as info:
        read_image(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("damage", ["text", "truncated png", "truncated jpeg"])
def test_read_image_of_a_broken_file_names_it_and_the_fix(tmp_path: Path, damage: str) -> None:
    path = tmp_path / ("broken.jpg" if "jpeg" in damage else "broken.png")
    if damage == "text":
        path.write_text("not a png at all")
    else:
        Image.fromarray(np.arange(64 * 64, dtype=np.uint8).reshape(64, 64)).save(path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    link = tmp_path / "link.png"
    link.symlink_to(path)  # a folder dataset is read through links: the message names the file itself
    for given in (path, link):
        with pytest.raises(DataError) as info:
            read_image(given)
        assert str(info.value).startswith(f"cannot read image '{path}' (")
        assert str(info.value).endswith("); remove or replace it, then rerun: dynvision run")


def test_verify_images_decodes_every_image_and_names_the_first_unreadable(
    make_class_folder: Callable[..., Path],
) -> None:
    root = make_class_folder(classes=("a", "b"), per_class=2, shape=(1, 4, 4))
    assert verify_images(root) == 4
    damaged = root / "b" / "001.png"
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    with pytest.raises(DataError, match=r"cannot read image '.*b/001\.png'"):
        verify_images(root)


def test_classes_are_sorted_folder_names_and_labels_their_positions(
    make_class_folder: Callable[..., Path],
) -> None:
    root = make_class_folder(classes=("zebra", "ant", "mole"), per_class=(2, 3, 1), shape=(1, 4, 4))
    (root / ".hidden").mkdir()
    (root / "ant" / "notes.txt").write_text("not an image")
    dataset = ClassFolderDataset(root)
    assert dataset.classes == ["ant", "mole", "zebra"]
    assert dataset.class_to_index == {"ant": 0, "mole": 1, "zebra": 2}
    assert dataset.labels.tolist() == [0, 0, 0, 1, 2, 2]
    assert [p.name for p, _ in dataset.samples] == [
        "000.png",
        "001.png",
        "002.png",
        "000.png",
        "000.png",
        "001.png",
    ]
    assert len(dataset) == 6 and dataset.image_shape == (1, 4, 4)


def test_items_are_uint8_tensors_with_int_labels(make_class_folder: Callable[..., Path]) -> None:
    root = make_class_folder(classes=("a", "b"), per_class=2, shape=(3, 4, 6))
    dataset = ClassFolderDataset(root)
    image, label = dataset[3]
    assert isinstance(image, torch.Tensor) and image.dtype == torch.uint8 and image.shape == (3, 4, 6)
    assert label == 1 and isinstance(label, int)
    np.testing.assert_array_equal(image.numpy(), read_image(root / "b" / "001.png"))


def test_load_arrays_decodes_the_selection_in_the_given_order(make_class_folder: Callable[..., Path]) -> None:
    root = make_class_folder(classes=("a", "b"), per_class=3, shape=(1, 4, 4))
    dataset = ClassFolderDataset(root)
    images, labels = dataset.load_arrays([4, 0, 2])
    assert images.shape == (3, 1, 4, 4) and images.dtype == np.uint8 and labels.dtype == np.int64
    assert labels.tolist() == [1, 0, 0]
    for row, index in zip(images, [4, 0, 2], strict=True):
        np.testing.assert_array_equal(row, dataset[index][0].numpy())
    all_images, all_labels = dataset.load_arrays()
    assert all_images.shape[0] == 6 and all_labels.tolist() == [0, 0, 0, 1, 1, 1]


def test_given_classes_keep_training_label_indices(make_class_folder: Callable[..., Path]) -> None:
    root = make_class_folder(classes=("b", "c"), per_class=1, shape=(1, 2, 2))
    dataset = ClassFolderDataset(root, classes=["a", "b", "c"])
    assert dataset.classes == ["a", "b", "c"] and dataset.labels.tolist() == [1, 2]
    with pytest.raises(ValueError, match=r"has classes \['c'\] that are not among the given classes"):
        ClassFolderDataset(root, classes=["a", "b"])


def test_image_of_the_wrong_size_gives_an_error_naming_the_file(
    make_class_folder: Callable[..., Path],
) -> None:
    root = make_class_folder(classes=("a", "b"), per_class=2, shape=(1, 4, 4))
    odd = root / "b" / "001.png"
    Image.fromarray(np.zeros((5, 4), np.uint8)).save(odd)
    dataset = ClassFolderDataset(root)
    assert dataset.image_shape == (1, 4, 4)
    with pytest.raises(ValueError, match=r"has shape \(C, H, W\) = \(1, 5, 4\)") as info:
        dataset[3]
    assert str(odd) in str(info.value)
    with pytest.raises(ValueError, match="expects \\(1, 4, 4\\)") as info:
        dataset.load_arrays()
    assert str(odd) in str(info.value)


def test_image_with_other_channel_count_is_refused(make_class_folder: Callable[..., Path]) -> None:
    root = make_class_folder(classes=("a",), per_class=2, shape=(3, 4, 4))
    dataset = ClassFolderDataset(root, image_shape=(1, 4, 4))
    with pytest.raises(ValueError, match=r"000\.png has shape"):
        dataset.load_arrays()


def test_missing_root_gives_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="does not exist or is not a directory") as info:
        ClassFolderDataset(missing)
    assert str(missing) in str(info.value)


def test_root_without_classes_or_images_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"has no class folders .*put one folder per class .*then rerun: dynvision run"):
        ClassFolderDataset(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "readme.txt").write_text("")
    with pytest.raises(DataError, match=r"holds no images .*add the images, then rerun: dynvision run"):
        ClassFolderDataset(tmp_path)


def test_fingerprint_is_stable_and_changes_when_files_change(make_class_folder: Callable[..., Path]) -> None:
    root = make_class_folder(classes=("a", "b"), per_class=2, shape=(1, 4, 4))
    first = ClassFolderDataset(root).fingerprint()
    assert ClassFolderDataset(root).fingerprint() == first
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / "a" / "new.png")
    assert ClassFolderDataset(root).fingerprint() != first
