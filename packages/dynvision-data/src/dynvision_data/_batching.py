"""The batch-loader base class that both backends implement."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator

import numpy as np
import torch

from ._util import check_int
from .stats import Stats
from .transforms import BatchTransform, epoch_generator

__all__ = ["Batch", "BatchLoader", "epoch_order", "order_seed"]

#: ``(images, labels)``: float32 ``(B, C, H, W)`` normalised pixels and int64 ``(B,)`` class indices.
Batch = tuple[torch.Tensor, torch.Tensor]


def order_seed(seed: int) -> int:
    """The base of the epoch orders of a run seeded with ``seed``: a 32-bit number drawn from ``seed``.

    Epoch ``e`` is shuffled with ``order_seed(seed) + e``. Adding the epoch to the seed itself would give seed
    ``s`` at epoch ``e + 1`` the order of seed ``s + 1`` at epoch ``e``: models of consecutive seeds would see the
    same shuffles one epoch apart. Scrambling the seed first keeps the runs of different seeds independent.
    """
    return int(np.random.SeedSequence(seed).generate_state(1, dtype=np.uint32)[0])


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """Shuffled item order of one epoch: ``numpy.random.default_rng(order_seed(seed) + epoch).permutation(n)``.

    This is exactly FFCV's ``OrderOption.RANDOM`` order for a loader seeded with :func:`order_seed`, so both
    backends visit items in the same order.
    """
    return np.random.default_rng(order_seed(seed) + epoch).permutation(n)


class BatchLoader(ABC):
    """Iterable of :data:`Batch` es over a fixed set of images; one full iteration is one epoch.

    Every iteration starts the next epoch (0, 1, 2, ... unless :meth:`set_epoch` says otherwise), which
    fixes its shuffled order (:func:`epoch_order`) and its augmentation draws (:func:`epoch_generator`),
    so training is reproducible from ``seed`` alone and can be re-iterated every epoch (as Lightning does).
    Batches are fresh tensors: nothing yielded is overwritten later.

    Attributes:
        backend: ``"torch"`` or ``"ffcv"``.
        n_samples: Number of images.
        batch_size: Images per batch (the last batch may be smaller unless ``drop_last``).
        shuffle: Whether each epoch has its own random order; otherwise items come in stored order.
        drop_last: Whether an incomplete last batch is dropped.
        classes: Class names; a label is a position in this list.
        image_shape: ``(C, H, W)``.
        stats: The normalisation statistics applied.
        seed: Seed of order and augmentation.
        rank, world_size: This process's shard (:meth:`shard`): ``0`` and ``1`` unless data-parallel.
    """

    backend: str = ""

    def __init__(
        self,
        *,
        n_samples: int,
        batch_size: int,
        shuffle: bool,
        drop_last: bool,
        transform: BatchTransform,
        seed: int,
        classes: tuple[str, ...],
        image_shape: tuple[int, int, int],
    ) -> None:
        self.n_samples = n_samples
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.transform = transform
        self.seed = check_int("seed", seed, minimum=0)
        self.classes = classes
        self.image_shape = image_shape
        self._next_epoch = 0
        self.rank, self.world_size = 0, 1
        if len(self) == 0:
            raise ValueError(
                f"This loader would yield no batches: {n_samples} images, batch_size={batch_size}, drop_last=True. "
                "Use a smaller batch_size or drop_last=False."
            )

    @property
    def stats(self) -> Stats:
        return self.transform.stats

    @property
    def epoch(self) -> int:
        """The epoch the next iteration will produce."""
        return self._next_epoch

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration produce epoch ``epoch`` (e.g. when resuming from a checkpoint)."""
        self._next_epoch = check_int("epoch", epoch, minimum=0)

    def shard(self, rank: int, world_size: int) -> None:
        """Yield only shard ``rank`` of ``world_size`` from now on (data-parallel training, e.g. DDP).

        Lightning injects a ``DistributedSampler`` only into torch ``DataLoader`` s, so a loader of this class
        shards itself: each epoch's order (the same in every process, from ``seed`` and the epoch) is cut to a
        multiple of ``world_size`` items (fewer than ``world_size`` dropped) and process ``rank`` takes items
        ``rank, rank + world_size, ...``. Every process gets the same number of batches, so none waits forever
        for the others at a collective operation. Both backends follow :meth:`order`, so their shards are equal.

        Raises:
            ValueError: ``rank`` not in ``0 .. world_size - 1``, or a shard too small for one batch.
        """
        world_size = check_int("world_size", world_size, minimum=1)
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world_size:
            raise ValueError(f"rank must be an integer in 0 .. {world_size - 1} (world_size={world_size}), got {rank!r}.")
        self.rank, self.world_size = rank, world_size
        if len(self) == 0:
            raise ValueError(
                f"Shard {rank} of {world_size} would yield no batches: {self.n_samples // world_size} images per "
                f"process, batch_size={self.batch_size}, drop_last=True."
            )

    def __len__(self) -> int:
        """Number of batches per epoch (of this process's shard)."""
        n_samples = self.n_samples // self.world_size if self.world_size > 1 else self.n_samples
        if self.drop_last:
            return n_samples // self.batch_size
        return math.ceil(n_samples / self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        epoch = self._next_epoch
        self._next_epoch += 1
        augmenting = self.transform.augmentation is not None and self.transform.augmentation.active
        generator = epoch_generator(self.seed, epoch) if augmenting else None
        for images, labels in self._raw_batches(epoch):
            yield self.transform(images, generator), labels.reshape(-1).to(torch.int64, copy=True)

    def order(self, epoch: int) -> np.ndarray:
        """Positions of the items in the order epoch ``epoch`` visits them (this shard's, after dropping the last
        batch)."""
        order = epoch_order(self.n_samples, self.seed, epoch) if self.shuffle else np.arange(self.n_samples)
        if self.world_size > 1:
            order = order[: (self.n_samples // self.world_size) * self.world_size][self.rank :: self.world_size]
        return order[: len(self) * self.batch_size]

    @abstractmethod
    def _raw_batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield uint8 ``(B, C, H, W)`` images and integer labels in :meth:`order` of ``epoch``."""

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n_samples={self.n_samples}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, augmentation={self.transform.augmentation}, seed={self.seed}"
            + (f", rank={self.rank}, world_size={self.world_size})" if self.world_size > 1 else ")")
        )
