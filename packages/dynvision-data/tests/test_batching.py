from __future__ import annotations

import numpy as np
import pytest
import torch

from dynvision_data import Augmentation, BatchTransform, Stats, TensorBatchLoader, epoch_order, normalize
from dynvision_data._batching import order_seed

STATS = Stats(mean=(0.5,), std=(0.25,), count=10)


def _loader(n: int = 10, batch_size: int = 4, *, shuffle: bool = True, drop_last: bool = False, **kwargs):
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 2, 2).contiguous()
    labels = torch.arange(n) % 3
    augmentation = kwargs.pop("augmentation", None)
    return TensorBatchLoader(
        images,
        labels,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        transform=BatchTransform(STATS, augmentation),
        classes=("a", "b", "c"),
        **kwargs,
    )


def _ids(batches) -> list[int]:
    """Item ids of the synthetic loader (pixel value = item position), in yield order."""
    return [int(v) for images, _ in batches for v in (images[:, 0, 0, 0] * 0.25 + 0.5) * 255 + 0.5]


def test_epoch_order_is_numpys_seeded_permutation() -> None:
    base = order_seed(3)
    assert np.array_equal(epoch_order(10, seed=3, epoch=2), np.random.default_rng(base + 2).permutation(10))
    assert sorted(epoch_order(7, 0, 0)) == list(range(7))


def test_consecutive_seeds_do_not_share_shuffles_one_epoch_apart() -> None:
    # With default_rng(seed + epoch), seed 1 at epoch 1 replayed seed 2 at epoch 0.
    for seed in range(5):
        for epoch in range(3):
            assert not np.array_equal(epoch_order(100, seed, epoch + 1), epoch_order(100, seed + 1, epoch))
    assert order_seed(7) == order_seed(7)


def test_length_counts_batches_with_and_without_the_last_partial_one() -> None:
    assert len(_loader(10, 4, drop_last=False)) == 3
    assert len(_loader(10, 4, drop_last=True)) == 2
    assert [len(labels) for _, labels in _loader(10, 4, drop_last=False)] == [4, 4, 2]


def test_each_iteration_is_the_next_epoch_in_its_seeded_order() -> None:
    loader = _loader(seed=7)
    assert loader.epoch == 0
    first, second = list(loader), list(loader)
    assert loader.epoch == 2
    assert _ids(first) == epoch_order(10, 7, 0).tolist()
    assert _ids(second) == epoch_order(10, 7, 1).tolist()
    assert loader.order(1).tolist() == epoch_order(10, 7, 1).tolist()


def test_set_epoch_replays_an_epoch() -> None:
    loader = _loader(seed=1, augmentation=Augmentation(flip=True, translate=1))
    list(loader)
    third = list(loader)
    loader.set_epoch(1)
    again = list(loader)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(third, again, strict=True))
    with pytest.raises(ValueError, match="epoch must be >= 0"):
        loader.set_epoch(-1)


def test_unshuffled_loader_keeps_stored_order_every_epoch() -> None:
    loader = _loader(shuffle=False)
    assert _ids(loader) == list(range(10)) == _ids(loader)


def test_yielded_batches_are_fresh_tensors() -> None:
    loader = _loader(shuffle=False)
    stored = loader.images.clone()
    first = list(loader)
    for images, labels in first:
        images.zero_()
        labels.zero_()
    assert torch.equal(loader.images, stored)
    second = list(loader)
    assert torch.equal(second[0][0], normalize(stored[:4], STATS))
    assert second[0][1].tolist() == [0, 1, 2, 0]


def test_loader_that_would_yield_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="would yield no batches: 3 images, batch_size=4"):
        _loader(3, 4, drop_last=True)


def test_tensor_loader_checks_its_arrays() -> None:
    with pytest.raises(TypeError, match="images must be uint8 \\(N, C, H, W\\)"):
        TensorBatchLoader(
            torch.zeros(2, 1, 2, 2),
            torch.zeros(2),
            batch_size=1,
            shuffle=False,
            drop_last=False,
            transform=BatchTransform(STATS),
            classes=("a",),
        )
    with pytest.raises(ValueError, match="labels must have shape \\(2,\\)"):
        TensorBatchLoader(
            torch.zeros(2, 1, 2, 2, dtype=torch.uint8),
            torch.zeros(3),
            batch_size=1,
            shuffle=False,
            drop_last=False,
            transform=BatchTransform(STATS),
            classes=("a",),
        )


def test_repr_names_the_settings() -> None:
    text = repr(_loader(seed=4))
    assert text.startswith("TensorBatchLoader(n_samples=10, batch_size=4, shuffle=True")
    assert "seed=4" in text


# ----------------------------------------------------------------------------- data-parallel shards
@pytest.mark.parametrize(("shuffle", "drop_last"), [(True, False), (False, False), (True, True)])
def test_shards_split_each_epoch_without_overlap_and_with_equal_lengths(shuffle: bool, drop_last: bool) -> None:
    shards = []
    for rank in range(3):
        loader = _loader(n=11, batch_size=2, shuffle=shuffle, drop_last=drop_last, seed=5)
        loader.shard(rank, 3)
        shards.append(loader)
    assert len({len(loader) for loader in shards}) == 1  # no process waits for the others
    for epoch in range(2):
        ids = [_ids(iter(loader)) for loader in shards]
        assert len({len(part) for part in ids}) == 1
        flat = [i for part in ids for i in part]
        assert len(flat) == len(set(flat)) and len(flat) == (9 if not drop_last else 6)
        # The ranks interleave the unsharded epoch order (the same in every process).
        whole = _loader(n=11, batch_size=2, shuffle=shuffle, seed=5).order(epoch)[:9]
        assert sorted(flat) == sorted(whole.tolist()) if not drop_last else set(flat) <= set(whole.tolist())
        assert ids[1][: len(whole[1::3])] == whole[1::3].tolist()[: len(ids[1])]


def test_one_shard_is_the_whole_loader_and_bad_ranks_raise() -> None:
    loader = _loader(n=10, batch_size=4)
    loader.shard(0, 1)
    assert _ids(iter(loader)) == _loader(n=10, batch_size=4).order(0).tolist()
    with pytest.raises(ValueError, match=r"rank must be an integer in 0 .. 1 \(world_size=2\), got 2"):
        loader.shard(2, 2)
    with pytest.raises(ValueError, match="Shard 0 of 4 would yield no batches"):
        _loader(n=10, batch_size=4, drop_last=True).shard(0, 4)
