"""THE key property: for the same data, split, seed and epoch, the FFCV and torch backends yield
identical batches.

Each FFCV loader JIT-compiles on its first epoch, so the loaders are module-scoped and few; every test sets
the epoch it reads explicitly, so the order of tests does not matter.
"""

from __future__ import annotations

import threading

import pytest
import torch

from dynvision_data import Augmentation, ClassFolderDataset, make_loader, split_indices
from dynvision_data.ffcv import FFCVBatchLoader
from dynvision_data.loaders import TensorBatchLoader

pytestmark = pytest.mark.ffcv

SEED, BATCH = 5, 16
AUGMENTATION = Augmentation(flip=True, translate=2, fill=17, crop_scale=(0.5, 1.0))


def _pair(source, **kwargs) -> tuple[FFCVBatchLoader, TensorBatchLoader]:
    ffcv = make_loader(source, backend="ffcv", seed=SEED, num_workers=1, **kwargs)
    torch_ = make_loader(source, backend="torch", seed=SEED, **kwargs)
    return ffcv, torch_  # type: ignore[return-value]


@pytest.fixture(scope="module")
def plain(betons):
    auto = make_loader(betons.train, backend="auto", seed=SEED, batch_size=BATCH, num_workers=1)
    assert isinstance(auto, FFCVBatchLoader)  # auto picks FFCV for a .beton when ffcv imports
    return auto, make_loader(betons.train, backend="torch", seed=SEED, batch_size=BATCH)


@pytest.fixture(scope="module")
def augmented(betons):
    return _pair(betons.train, batch_size=BATCH, augmentation=AUGMENTATION)


@pytest.fixture(scope="module")
def limited(betons):
    return _pair(betons.train, batch_size=BATCH, augmentation=AUGMENTATION, limit=37)


@pytest.fixture(scope="module")
def validation(betons):
    return _pair(betons.val, batch_size=7)


def _epoch(loader, epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    loader.set_epoch(epoch)
    return list(loader)


def _assert_identical(pair, epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    ffcv, torch_ = pair
    from_ffcv, from_torch = _epoch(ffcv, epoch), _epoch(torch_, epoch)
    assert len(from_ffcv) == len(from_torch) == len(ffcv) == len(torch_)
    for (a_images, a_labels), (b_images, b_labels) in zip(from_ffcv, from_torch, strict=True):
        assert a_images.dtype == b_images.dtype == torch.float32
        assert a_labels.dtype == b_labels.dtype == torch.int64
        assert torch.equal(a_labels, b_labels)
        assert torch.equal(a_images, b_images)  # bit-exact after augmentation and normalisation
    return from_ffcv


def _labels(batches) -> list[int]:
    return torch.cat([labels for _, labels in batches]).tolist()


@pytest.mark.parametrize("epoch", [0, 1])
def test_ffcv_and_torch_yield_identical_training_batches(plain, epoch: int) -> None:
    batches = _assert_identical(plain, epoch)
    assert [len(labels) for _, labels in batches] == [BATCH] * 5  # 90 images, ragged batch dropped


def test_ffcv_training_order_is_the_seeded_epoch_order(plain, betons) -> None:
    labels = ClassFolderDataset(betons.class_dir).labels
    train, _ = split_indices(labels, 0.25, seed=3)
    ffcv, _ = plain
    for epoch in (0, 1):
        assert _labels(_epoch(ffcv, epoch)) == labels[train][ffcv.order(epoch)].tolist()
    assert ffcv.order(0).tolist() != ffcv.order(1).tolist()


@pytest.mark.parametrize("epoch", [0, 1])
def test_ffcv_and_torch_yield_identical_augmented_batches(augmented, plain, epoch: int) -> None:
    batches = _assert_identical(augmented, epoch)
    unaugmented = _epoch(plain[0], epoch)
    assert _labels(batches) == _labels(unaugmented)  # same order ...
    assert not torch.equal(batches[0][0], unaugmented[0][0])  # ... different pixels


@pytest.mark.parametrize("epoch", [0, 1])
def test_ffcv_and_torch_yield_identical_batches_with_limit(limited, epoch: int) -> None:
    ffcv, torch_ = limited
    assert ffcv.n_samples == torch_.n_samples == 37
    batches = _assert_identical(limited, epoch)
    assert [len(labels) for _, labels in batches] == [BATCH, BATCH]


def test_ffcv_and_torch_yield_identical_validation_batches_in_stored_order(validation, betons) -> None:
    ffcv, _ = validation
    assert not ffcv.shuffle and not ffcv.drop_last
    first = _assert_identical(validation, 0)
    assert [len(labels) for _, labels in first] == [7, 7, 7, 7, 2]
    labels = ClassFolderDataset(betons.class_dir).labels
    assert _labels(first) == labels[split_indices(labels, 0.25, seed=3)[1]].tolist()
    second = _assert_identical(validation, 1)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, second, strict=True))


@pytest.fixture(scope="module")
def sharded(betons):
    """Rank 0 and rank 1 of two data-parallel processes, FFCV and torch backends each."""
    pairs = []
    for rank in range(2):
        ffcv, torch_ = _pair(betons.train, batch_size=BATCH, augmentation=AUGMENTATION)
        ffcv.shard(rank, 2)
        torch_.shard(rank, 2)
        pairs.append((ffcv, torch_))
    return pairs


@pytest.mark.parametrize("epoch", [0, 1])
def test_ffcv_shards_equal_the_torch_shards_and_split_each_epoch(sharded, betons, epoch: int) -> None:
    labels = ClassFolderDataset(betons.class_dir).labels
    train, _ = split_indices(labels, 0.25, seed=3)
    orders = []
    for ffcv, _ in sharded:
        batches = _assert_identical((ffcv, _), epoch)
        assert len(batches) == 2  # 90 images -> 45 per process -> two full batches of 16
        assert _labels(batches) == labels[train][ffcv.order(epoch)].tolist()
        orders.append(set(ffcv.order(epoch).tolist()))
    assert not orders[0] & orders[1]  # no image in both processes


def test_set_epoch_replays_the_same_ffcv_epoch(augmented) -> None:
    ffcv, _ = augmented
    first = _assert_identical(augmented, 3)
    assert ffcv.epoch == 4
    again = _epoch(ffcv, 3)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again, strict=True))


def test_breaking_out_of_an_epoch_stops_ffcv_threads(plain) -> None:
    ffcv, _ = plain
    threads = threading.active_count()
    ffcv.set_epoch(0)
    for _ in ffcv:
        break
    assert threading.active_count() == threads
    _assert_identical(plain, 1)  # the next full epoch is unaffected


def test_ffcv_loader_reports_the_sidecar(plain, betons) -> None:
    ffcv, torch_ = plain
    assert ffcv.backend == "ffcv" and torch_.backend == "torch"
    assert ffcv.classes == torch_.classes == betons.train_meta.classes
    assert ffcv.image_shape == (3, 8, 8) and ffcv.n_samples == 90
    assert ffcv.stats == torch_.stats == betons.train_meta.stats
    assert ffcv.drop_last and ffcv.shuffle and ffcv.seed == SEED


def test_a_beton_only_reads_its_own_part_and_classes(betons) -> None:
    with pytest.raises(ValueError, match="holds the 'train' part of its split, but split='val'"):
        make_loader(betons.train, split="val")
    with pytest.raises(ValueError, match="differ from the classes"):
        make_loader(betons.train, backend="torch", classes=("cat", "dog"))
    with pytest.raises(ValueError, match="Augmentation is only for shuffled training loaders"):
        make_loader(betons.val, augmentation=AUGMENTATION)


def test_ffcv_backend_needs_a_beton(class_folder) -> None:
    with pytest.raises(ValueError, match=r"reads \.beton files") as info:
        make_loader(class_folder, backend="ffcv")
    assert str(class_folder) in str(info.value)


def test_torch_backend_of_a_beton_uses_its_recorded_split(betons) -> None:
    from_beton = make_loader(betons.val, backend="torch", batch_size=100)
    from_folder = make_loader(
        betons.class_dir,
        split="val",
        val_fraction=0.25,
        split_seed=3,
        batch_size=100,
        stats=betons.val_meta.stats,
    )
    (a_images, a_labels), (b_images, b_labels) = next(iter(from_beton)), next(iter(from_folder))
    assert torch.equal(a_images, b_images) and torch.equal(a_labels, b_labels)


def test_ffcv_and_torch_yield_identical_grey_digit_batches(digits_betons) -> None:
    pair = _pair(digits_betons.train, batch_size=64, augmentation=Augmentation(translate=1))
    assert pair[0].image_shape == (1, 8, 8) and pair[0].n_samples == 1078  # 1438 - round(1438 * 0.25)
    batches = _assert_identical(pair, 0)
    assert batches[0][0].shape == (64, 1, 8, 8)


def _pixels(images: torch.Tensor, loader) -> torch.Tensor:
    """Undo the normalisation: back to pixel units 0..255."""
    mean = torch.tensor(loader.stats.mean).view(1, -1, 1, 1)
    std = torch.tensor(loader.stats.std).view(1, -1, 1, 1)
    return (images * std + mean) * 255.0


@pytest.mark.parametrize("which", ["jpeg_betons", "jpeg_grey_betons"])
def test_jpeg_betons_match_the_torch_backend_within_jpeg_error(which: str, request) -> None:
    """JPEG is lossy, so FFCV (decoding the stored JPEG) and torch (reading the original PNGs) cannot be
    bit-exact; they must agree on order, labels, layout and, closely, on pixels (smooth test images, q=90)."""
    source = request.getfixturevalue(which)
    ffcv = make_loader(source.val, backend="ffcv", seed=SEED, num_workers=1, batch_size=4)
    torch_ = make_loader(source.val, backend="torch", seed=SEED, batch_size=4)
    a, b = list(ffcv), list(torch_)
    assert len(a) == len(b) > 0
    for (a_images, a_labels), (b_images, b_labels) in zip(a, b, strict=True):
        assert a_images.shape == b_images.shape and a_images.shape[1:] == source.val_meta.image_shape
        assert torch.equal(a_labels, b_labels)
        x, y = _pixels(a_images, ffcv), _pixels(b_images, torch_)
        difference = (x - y).abs()
        # Colour images lose most to JPEG's chroma subsampling; a wrong channel order would differ by ~100.
        assert difference.mean() < 4.0 and difference.max() < 48.0
        assert torch.corrcoef(torch.stack([x.flatten(), y.flatten()]))[0, 1] > 0.99


def test_reading_a_beton_keeps_the_torch_threads_the_process_set(betons) -> None:
    """FFCV sets torch's intra-op threads to its decoding workers (on import, in its Loader and at every epoch),
    which made training run on one core whatever train.threads said; the loader puts the caller's setting back."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        loader = make_loader(betons.train, backend="ffcv", seed=SEED, batch_size=BATCH, num_workers=1)
        assert torch.get_num_threads() == 2
        for epoch in (0, 1):
            loader.set_epoch(epoch)
            for _ in loader:
                assert torch.get_num_threads() == 2  # where the model runs on each batch
    finally:
        torch.set_num_threads(before)
