"""The FFCV backend: reads a ``.beton`` written by :func:`~dynvision_data.ffcv.write_betons`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._batching import BatchLoader, order_seed
from ..transforms import BatchTransform
from ._availability import require_ffcv
from .metadata import BetonMetadata, read_beton_metadata, validate_beton

__all__ = ["FFCVBatchLoader"]


class FFCVBatchLoader(BatchLoader):
    """:class:`~dynvision_data.BatchLoader` over a ``.beton`` file.

    FFCV only decodes the uint8 pixels (raw, or JPEG for large images) and labels; it visits them in
    :meth:`order` (a custom FFCV traversal order: :func:`~dynvision_data.epoch_order` of ``seed`` and the epoch over
    the items or the ``indices`` subset, or stored order, and this process's shard after :meth:`shard`).
    Augmentation and normalisation run in the shared torch :class:`~dynvision_data.transforms.BatchTransform`, so
    batches equal the torch backend's, sharded or not. The first epoch of each loader spends a moment
    JIT-compiling.
    """

    backend = "ffcv"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        batch_size: int,
        shuffle: bool,
        drop_last: bool,
        transform: BatchTransform,
        seed: int = 0,
        num_workers: int | None = None,
        metadata: BetonMetadata | None = None,
        indices: np.ndarray | None = None,
    ) -> None:
        require_ffcv()  # its import keeps torch's threads (see _availability)
        # FFCV sets torch's intra-op threads to its decoding workers in Loader and at every epoch; the caller's
        # setting (train.threads) is put back after each, so training uses the CPUs it was given.
        self._torch_threads = torch.get_num_threads()
        from ffcv.fields.decoders import IntDecoder, NDArrayDecoder, SimpleRGBImageDecoder
        from ffcv.loader import Loader
        from ffcv.transforms import ToTensor

        self.path = Path(path)
        self.metadata = metadata if metadata is not None else read_beton_metadata(self.path)
        validate_beton(self.path, expected_count=self.metadata.count)
        self.indices = None if indices is None else np.asarray(indices, dtype=np.int64)
        super().__init__(
            n_samples=self.metadata.count if self.indices is None else len(self.indices),
            batch_size=batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            transform=transform,
            seed=seed,
            classes=self.metadata.classes,
            image_shape=self.metadata.image_shape,
        )
        # JPEG images decode to (H, W, 3); _raw_batches moves channels first (and keeps one for grey data).
        self._jpeg = self.metadata.encoding == "jpeg"
        decoder = SimpleRGBImageDecoder() if self._jpeg else NDArrayDecoder()
        workers = num_workers if num_workers is not None else len(os.sched_getaffinity(0))
        self._loader = Loader(
            str(self.path),
            batch_size=self.batch_size,
            num_workers=max(1, workers),
            order=_follow(self),
            seed=order_seed(self.seed),
            drop_last=drop_last,
            indices=self.indices,
            pipelines={"image": [decoder, ToTensor()], "label": [IntDecoder(), ToTensor()]},
        )
        torch.set_num_threads(self._torch_threads)

    def _raw_batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        # FFCV derives the order from its own epoch counter; set it so that set_epoch() is honoured.
        self._loader.next_epoch = epoch
        iterator = iter(self._loader)
        torch.set_num_threads(self._torch_threads)
        channels = self.metadata.image_shape[0]
        try:
            if not self._jpeg:
                yield from iterator
            else:
                for images, labels in iterator:
                    # FFCV reuses its batch buffers: the permuted copy must be made before the next batch.
                    yield images[..., :channels].permute(0, 3, 1, 2).contiguous(), labels
        finally:
            # Stop FFCV's prefetch thread even when the consumer breaks out early; a lingering thread
            # would make a later fork (e.g. by FFCV's writer) unsafe.
            iterator.close()
            iterator.join(timeout=5.0)


def _follow(owner: FFCVBatchLoader) -> Any:
    """An FFCV traversal order that visits the items in ``owner.order(epoch)``.

    FFCV's own ``RANDOM`` order shards only through ``torch.distributed`` (a ``DistributedSampler`` with its own
    permutation); following :meth:`~dynvision_data.BatchLoader.order` instead keeps one definition of each
    epoch's order for both backends, sharded or not. FFCV 1.0's ``Loader`` accepts a ``TraversalOrder`` instance
    and calls it with the loader, so the instance binds itself there.
    """
    from ffcv.traversal_order.base import TraversalOrder

    class FollowOrder(TraversalOrder):
        def __init__(self) -> None:  # bound in __call__, when FFCV's Loader exists
            self.sampler = None

        def __call__(self, loader: Any) -> FollowOrder:
            self.loader, self.indices, self.seed, self.distributed = loader, loader.indices, loader.seed, False
            return self

        def sample_order(self, epoch: int) -> np.ndarray:
            # Positions in the items (or the ``indices`` subset) -> sample ids in the .beton.
            return self.indices[owner.order(epoch)]

    return FollowOrder()
