"""The torch backend of make_loader / make_eval_loader (tests/ffcv compares the FFCV backend with it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from dynvision_data import (
    Augmentation,
    ClassFolderDataset,
    Stats,
    epoch_order,
    load_stats,
    make_eval_loader,
    make_loader,
    normalize,
    split_indices,
)
from dynvision_data.loaders import limit_indices

N_IMAGES, N_VAL = 120, 12  # the shared class folder: 3 classes x 40 images; default val_fraction 0.1


def _cat(loader) -> tuple[torch.Tensor, torch.Tensor]:
    batches = list(loader)
    return torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])


def _reference(
    class_dir: Path, positions: np.ndarray, stats: Stats | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised images and labels of the given dataset positions, decoded independently of the loader."""
    images, labels = ClassFolderDataset(class_dir).load_arrays(positions)
    return normalize(torch.from_numpy(images), stats or load_stats(class_dir)), torch.from_numpy(labels)


def _same(a: tuple[torch.Tensor, torch.Tensor], b: tuple[torch.Tensor, torch.Tensor]) -> bool:
    return torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_torch_backend_batches_have_shapes_and_dtypes(class_folder: Path) -> None:
    loader = make_loader(class_folder, split="train", batch_size=16)
    assert loader.backend == "torch" and loader.classes == ("cat", "dog", "emu")
    assert loader.image_shape == (3, 8, 8) and loader.n_samples == N_IMAGES - N_VAL
    batches = list(loader)
    assert len(batches) == len(loader) == 6  # 108 images: the ragged last batch is dropped
    for images, labels in batches:
        assert images.dtype == torch.float32 and images.shape == (16, 3, 8, 8)
        assert labels.dtype == torch.int64 and labels.shape == (16,)


def test_train_batches_are_the_normalised_split_images_in_epoch_order(class_folder: Path) -> None:
    loader = make_loader(class_folder, split="train", batch_size=16, seed=2)
    train, _ = split_indices(ClassFolderDataset(class_folder).labels, 0.1, seed=2)
    order = epoch_order(len(train), seed=2, epoch=0)[:96]
    assert _same(_cat(loader), _reference(class_folder, train[order]))
    assert loader.stats == load_stats(class_folder)


def test_shuffling_differs_between_epochs_and_is_reproducible_from_seed(class_folder: Path) -> None:
    first = make_loader(class_folder, split="train", batch_size=16, seed=4)
    again = make_loader(class_folder, split="train", batch_size=16, seed=4)
    other = make_loader(class_folder, split="train", batch_size=16, seed=5)
    epochs = [_cat(first) for _ in range(2)]
    assert all(_same(e, _cat(again)) for e in epochs)
    assert not torch.equal(epochs[0][1], epochs[1][1])
    assert not torch.equal(epochs[0][0], _cat(other)[0])
    # each epoch draws its 96 images from the same 108 without repetition
    for images, _ in epochs:
        assert torch.unique(images.flatten(1), dim=0).shape[0] == 96


def test_augmented_training_is_reproducible_and_changes_images_not_labels(class_folder: Path) -> None:
    augmentation = Augmentation(flip=True, translate=2, fill=0)
    plain = _cat(make_loader(class_folder, split="train", batch_size=16, seed=1))
    augmented = _cat(
        make_loader(class_folder, split="train", batch_size=16, seed=1, augmentation=augmentation)
    )
    again = _cat(make_loader(class_folder, split="train", batch_size=16, seed=1, augmentation=augmentation))
    assert _same(augmented, again)
    assert torch.equal(augmented[1], plain[1])
    assert not torch.equal(augmented[0], plain[0])


@pytest.mark.parametrize(
    "kwargs",
    [{"split": "val"}, {"split": "all"}, {"split": "train", "shuffle": False}],
)
def test_validation_is_never_augmented(class_folder: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError, match="Augmentation is only for shuffled training loaders"):
        make_loader(class_folder, augmentation=Augmentation(flip=True), **kwargs)


def test_validation_is_deterministic_in_stored_order_without_dropping(class_folder: Path) -> None:
    loader = make_loader(class_folder, split="val", batch_size=5, augmentation=Augmentation())
    assert not loader.shuffle and not loader.drop_last
    assert [len(labels) for _, labels in loader] == [5, 5, 2]
    _, val = split_indices(ClassFolderDataset(class_folder).labels, 0.1, seed=0)
    first, second = _cat(loader), _cat(loader)
    assert _same(first, second) and _same(first, _reference(class_folder, val))
    assert torch.equal(first[1], torch.sort(first[1]).values)


def test_drop_last_default_drops_only_a_ragged_shuffled_batch_that_leaves_one(class_folder: Path) -> None:
    assert make_loader(class_folder, split="train", batch_size=50).drop_last  # 108 -> 2 batches
    small = make_loader(class_folder, split="train", batch_size=200)  # would leave none: kept
    assert not small.drop_last and [len(labels) for _, labels in small] == [108]
    assert not make_loader(class_folder, split="all", batch_size=50).drop_last
    kept = make_loader(class_folder, split="train", batch_size=50, drop_last=False)
    assert [len(labels) for _, labels in kept] == [50, 50, 8]
    with pytest.raises(ValueError, match="would yield no batches"):
        make_loader(class_folder, split="train", batch_size=200, drop_last=True)


def test_limit_takes_a_seeded_subset_of_the_part_in_stored_order(class_folder: Path) -> None:
    labels = ClassFolderDataset(class_folder).labels
    train, val = split_indices(labels, 0.1, seed=3)
    subset = limit_indices(len(train), 20, seed=3)
    assert subset is not None and len(subset) == 20 and np.all(np.diff(subset) > 0)
    assert set(labels[train[subset]].tolist()) == {0, 1, 2}  # a random subset still covers the classes

    loader = make_loader(class_folder, split="train", batch_size=8, seed=3, limit=20)
    assert loader.n_samples == 20 and len(loader) == 2
    raw, _ = ClassFolderDataset(class_folder).load_arrays(train[subset])
    assert torch.equal(loader.images, torch.from_numpy(raw))
    val_loader = make_loader(class_folder, split="val", seed=3, limit=5)
    assert _same(_cat(val_loader), _reference(class_folder, val[limit_indices(len(val), 5, seed=3)]))

    assert make_loader(class_folder, split="train", limit=500).n_samples == 108  # a large limit takes all
    with pytest.raises(ValueError, match="limit must be >= 1"):
        make_loader(class_folder, split="train", limit=0)


def test_limit_subset_depends_on_the_split_seed_only(class_folder: Path) -> None:
    a = make_loader(class_folder, split="train", seed=0, split_seed=9, limit=30)
    b = make_loader(class_folder, split="train", seed=1, split_seed=9, limit=30)
    c = make_loader(class_folder, split="train", seed=0, split_seed=8, limit=30)
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)


def test_split_seed_is_separate_from_the_order_seed(class_folder: Path) -> None:
    val = {seed: _cat(make_loader(class_folder, split="val", seed=seed, split_seed=5)) for seed in (0, 1)}
    assert _same(val[0], val[1])  # every training seed is validated on the same images
    assert _same(val[0], _cat(make_loader(class_folder, split="val", seed=5)))  # default: split_seed = seed
    assert not torch.equal(val[0][0], _cat(make_loader(class_folder, split="val", seed=0, split_seed=6))[0])
    train = [make_loader(class_folder, split="train", seed=s, split_seed=5, batch_size=16) for s in (0, 1)]
    assert torch.equal(train[0].images, train[1].images)  # same membership ...
    assert not torch.equal(_cat(train[0])[1], _cat(train[1])[1])  # ... different epoch order


def test_val_fraction_sets_the_size_of_the_validation_part(class_folder: Path) -> None:
    assert make_loader(class_folder, split="val", val_fraction=0.25).n_samples == 30
    assert make_loader(class_folder, split="train", val_fraction=0.25).n_samples == 90
    assert make_loader(class_folder).n_samples == N_IMAGES  # default split: every image
    with pytest.raises(ValueError, match="val_fraction must be strictly between 0 and 1"):
        make_loader(class_folder, split="val", val_fraction=1.0)


def test_explicit_stats_are_applied(class_folder: Path) -> None:
    stats = Stats(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), count=1)
    images, _ = _cat(make_loader(class_folder, split="all", batch_size=40, stats=stats))
    raw, _ = ClassFolderDataset(class_folder).load_arrays()
    torch.testing.assert_close(images, torch.from_numpy(raw).float() / 255.0, rtol=0, atol=1e-6)


def test_eval_loader_keeps_stored_order_and_training_class_indices(
    make_class_folder: Callable[..., Path],
) -> None:
    test_dir = make_class_folder("test", classes=("dog", "emu"), per_class=(3, 4), shape=(3, 8, 8), seed=5)
    stats = Stats(mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3), count=120)
    loader = make_eval_loader(test_dir, stats=stats, batch_size=3, classes=("cat", "dog", "emu"))
    assert loader.classes == ("cat", "dog", "emu") and not loader.shuffle and not loader.drop_last
    assert [len(labels) for _, labels in loader] == [3, 3, 1]
    images, labels = _cat(loader)
    assert labels.tolist() == [1, 1, 1, 2, 2, 2, 2]
    raw, _ = ClassFolderDataset(test_dir).load_arrays()
    assert torch.equal(images, normalize(torch.from_numpy(raw), stats))
    assert _same((images, labels), _cat(loader))
    # without the training classes the folder's own (fewer) classes would shift the labels
    assert _cat(make_eval_loader(test_dir, stats=stats))[1].tolist() == [0, 0, 0, 1, 1, 1, 1]


def test_eval_loader_limit_is_a_seeded_subset_in_stored_order(make_class_folder: Callable[..., Path]) -> None:
    test_dir = make_class_folder("test", classes=("a", "b"), per_class=10, shape=(1, 4, 4))
    stats = Stats(mean=(0.5,), std=(0.3,), count=1)
    loader = make_eval_loader(test_dir, stats=stats, limit=6)
    images, labels = _cat(loader)
    subset = limit_indices(20, 6, seed=0)
    assert _same((images, labels), _reference(test_dir, subset, stats))
    assert _same((images, labels), _cat(make_eval_loader(test_dir, stats=stats, limit=6)))


def test_digits_tree_loads_as_grey_batches(digits_tree: Path) -> None:
    loader = make_loader(digits_tree / "train", split="train", batch_size=64, seed=0)
    images, labels = next(iter(loader))
    assert images.shape == (64, 1, 8, 8) and labels.max() <= 9
    test = make_eval_loader(digits_tree / "test", stats=loader.stats, classes=loader.classes, batch_size=100)
    assert test.n_samples == 359 and len(test) == 4


def test_missing_class_folder_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "train"
    with pytest.raises(FileNotFoundError, match="does not exist") as info:
        make_loader(missing, split="train")
    assert str(missing) in str(info.value)
    with pytest.raises(FileNotFoundError, match="write_betons") as info:
        make_loader(tmp_path / "train.beton")
    assert "train.beton" in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"backend": "jax"}, ValueError, "backend must be one of"),
        ({"split": "test"}, ValueError, "split must be one of \\('train', 'val', 'all'\\), got 'test'"),
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
        ({"seed": -1}, ValueError, "seed must be >= 0"),
        ({"split_seed": 1.0}, TypeError, "split_seed must be an integer"),
    ],
)
def test_bad_loader_arguments_are_named(
    class_folder: Path, kwargs: dict, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        make_loader(class_folder, **kwargs)


def test_classes_of_another_dataset_are_refused(class_folder: Path) -> None:
    with pytest.raises(ValueError, match="not among the given classes"):
        make_loader(class_folder, classes=("cat", "dog"))
