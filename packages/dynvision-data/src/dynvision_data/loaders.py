"""One entry point for batches of normalised images, from FFCV ``.beton`` files or from class folders.

:func:`make_loader` picks the backend; both yield identical batches for the same data, split, seed and epoch
(same membership, order, augmentation draws and normalisation), so FFCV is a speed-up, never a semantic
change.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ._batching import BatchLoader
from ._util import check_fraction, check_int
from .datasets.folder import ClassFolderDataset
from .datasets.split import split_indices
from .ffcv._availability import ffcv_available, require_ffcv
from .ffcv.metadata import (
    BetonMetadata,
    CorruptBetonError,
    beton_class_dir,
    read_beton_metadata,
    rebuild_advice,
)
from .stats import Stats, load_stats
from .transforms import Augmentation, BatchTransform

__all__ = ["Backend", "Split", "TensorBatchLoader", "limit_indices", "make_eval_loader", "make_loader"]

Backend = Literal["auto", "ffcv", "torch"]
#: ``"train"``/``"val"``: a part of the seeded split of a class folder; ``"all"``: every image (e.g. a test folder).
Split = Literal["train", "val", "all"]
_BACKENDS = ("auto", "ffcv", "torch")
_SPLITS = ("train", "val", "all")


class TensorBatchLoader(BatchLoader):
    """The torch backend: :class:`~dynvision_data.BatchLoader` over uint8 images held in memory.

    Images are decoded once into one uint8 tensor ``(N, C, H, W)``; a batch is one indexing operation plus
    the vectorised :class:`~dynvision_data.transforms.BatchTransform`, in the calling process (no workers).
    """

    backend = "torch"

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        batch_size: int,
        shuffle: bool,
        drop_last: bool,
        transform: BatchTransform,
        seed: int = 0,
        classes: Sequence[str],
    ) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise TypeError(f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}.")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}.")
        self.images = images
        self.labels = labels.to(torch.int64)
        super().__init__(
            n_samples=images.shape[0],
            batch_size=batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            transform=transform,
            seed=seed,
            classes=tuple(classes),
            image_shape=tuple(images.shape[1:]),  # type: ignore[arg-type]
        )

    def _raw_batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.from_numpy(self.order(epoch))
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            yield self.images.index_select(0, index), self.labels.index_select(0, index)


def make_loader(
    source: str | os.PathLike[str],
    *,
    split: Split | None = None,
    batch_size: int = 256,
    shuffle: bool | None = None,
    augmentation: Augmentation | None = None,
    stats: Stats | None = None,
    backend: Backend = "auto",
    val_fraction: float = 0.1,
    seed: int = 0,
    drop_last: bool | None = None,
    num_workers: int | None = None,
    classes: Sequence[str] | None = None,
    split_seed: int | None = None,
    limit: int | None = None,
    resolution: int | None = None,
) -> BatchLoader:
    """Build a loader of ``(images float32 (B, C, H, W), labels int64 (B,))`` batches.

    Images are normalised per channel, ``(pixel / 255 - mean) / std`` (see :class:`~dynvision_data.Stats`).

    Args:
        source: A ``.beton`` written by :func:`~dynvision_data.write_betons` (its sidecar says whether it
            holds the ``train`` or ``val`` part), or a class folder ``<source>/<class>/<image>``.
        split: For a class folder: ``"train"`` or ``"val"`` (the part given by
            :func:`~dynvision_data.split_indices` with ``val_fraction`` and ``seed``, as ``write_betons``
            uses), or ``"all"`` (default) for every image. For a ``.beton``: its role (default), other values
            raise.
        batch_size: Images per batch.
        shuffle: New seeded order every epoch; default ``True`` for ``split="train"``, else ``False``.
        augmentation: Random flip, translate and resized crop (:class:`~dynvision_data.Augmentation`); only for shuffled training loaders (``split="val"`` raises,
            so validation is always deterministic). Default: none.
        stats: Normalisation statistics. Default: the ``.beton``'s sidecar, or the class folder's own
            (cached, :func:`~dynvision_data.load_stats`). For test data pass the training statistics.
        backend: ``"ffcv"`` (needs a ``.beton`` and ffcv), ``"torch"`` (class folder in memory; for a
            ``.beton`` it reads the class folder recorded in the sidecar with the same split), or ``"auto"``:
            FFCV for a ``.beton`` when ffcv imports (else torch, with a warning), torch for a class folder.
        val_fraction: Share of each class in ``"val"`` (class folders only; a ``.beton`` records its own).
        seed: Seed of the epoch orders and of the augmentation (and of the split, unless ``split_seed`` is given).
        drop_last: Drop an incomplete last batch. Default: only for shuffled loaders that still yield at least
            one batch, so small validation sets never yield zero batches.
        num_workers: FFCV decoding threads (default: the usable cores); the torch backend ignores it.
        classes: Class list to map folder names to labels (class folders only): default the sorted folder
            names; give the training classes when reading a test folder with fewer classes.
        split_seed: Seed of the train/val split of a class folder (default: ``seed``); a ``.beton`` records its own.
            Keeping it apart from ``seed`` lets every training seed see the same validation images.
        limit: Use only this many images of the part (a seeded subset, :func:`limit_indices`, the same for both
            backends), e.g. for a quick run. ``None``: all.
        resolution: Resize every image to shorter side ``N`` and centre-crop it to ``N x N``
            (:class:`~dynvision_data.ClassFolderDataset`), e.g. for ImageNet-like trees of photos in many
            sizes; the default statistics are then those of the resized images. ``None``: images as stored.
            A ``.beton`` records the resolution it was written with, and that is used; a different value raises.
    """
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}.")
    if split is not None and split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}.")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    split_seed = seed if split_seed is None else check_int("split_seed", split_seed, minimum=0)
    if limit is not None:
        limit = check_int("limit", limit, minimum=1)
    if resolution is not None:
        resolution = check_int("resolution", resolution, minimum=2)
    source = Path(source)

    meta: BetonMetadata | None = None
    if source.is_file() or source.suffix == ".beton":
        meta = read_beton_metadata(source)
        if split is not None and split != meta.role:
            raise ValueError(f"{source} holds the {meta.role!r} part of its split, but split={split!r} was asked.")
        if classes is not None and tuple(classes) != meta.classes:
            raise ValueError(f"classes={list(classes)} differ from the classes {list(meta.classes)} of {source}.")
        if resolution is not None and resolution != meta.resolution:
            raise ValueError(
                f"resolution={resolution} differs from resolution={meta.resolution} that {source} was written "
                f"with. Leave resolution out (or pass {meta.resolution}) to read it as written, or write the "
                f".beton files again with write_betons(..., resolution={resolution})."
            )
        resolution = meta.resolution  # the torch backend must resize exactly as the writer did
        split = meta.role
        class_dir = beton_class_dir(source, meta)
        val_fraction, split_seed = meta.val_fraction, meta.seed
        stats = stats if stats is not None else meta.stats
        if backend == "auto" and not ffcv_available():
            warnings.warn(
                f"ffcv is not importable; reading {source.name} through the torch backend from {class_dir} "
                "(same batches, slower).",
                stacklevel=2,
            )
            backend = "torch"
        elif backend == "auto":
            backend = "ffcv"
    else:
        if backend == "ffcv":
            require_ffcv()
            raise ValueError(
                f"The ffcv backend reads .beton files, but {source} is not one. Write them with "
                "dynvision_data.write_betons() and pass the .beton path, or use backend='torch'."
            )
        backend = "torch"
        split = split or "all"
        class_dir = source
        val_fraction = check_fraction("val_fraction", val_fraction)

    shuffle = (split == "train") if shuffle is None else bool(shuffle)
    if augmentation is not None and augmentation.active and (split == "val" or not shuffle):
        raise ValueError(
            f"Augmentation is only for shuffled training loaders (got split={split!r}, shuffle={shuffle}); "
            "validation and test data are read deterministically without augmentation."
        )

    if backend == "ffcv":
        from .ffcv.loader import FFCVBatchLoader

        assert meta is not None
        subset = limit_indices(meta.count, limit, meta.seed)
        n = meta.count if subset is None else len(subset)
        drop = _default_drop_last(drop_last, shuffle, n, batch_size)
        assert stats is not None
        return FFCVBatchLoader(
            source,
            batch_size=batch_size,
            shuffle=shuffle,
            drop_last=drop,
            transform=BatchTransform(stats, augmentation),
            seed=seed,
            num_workers=num_workers,
            metadata=meta,
            indices=subset,
        )

    dataset = ClassFolderDataset(class_dir, classes=classes, resolution=resolution)
    if meta is not None and dataset.fingerprint() != meta.fingerprint:
        raise CorruptBetonError(
            f"The class folder {class_dir} changed since {source} was written, so the torch backend cannot "
            f"reproduce its membership; {rebuild_advice(source)}"
        )
    if split == "all":
        chosen = np.arange(len(dataset))
    else:
        parts = dict(zip(("train", "val"), split_indices(dataset.labels, val_fraction, split_seed), strict=True))
        chosen = parts[split]
    subset = limit_indices(len(chosen), limit, split_seed)
    if subset is not None:
        chosen = chosen[subset]
    if stats is None:
        stats = load_stats(class_dir, resolution=resolution)
    images, labels = dataset.load_arrays(chosen)
    drop = _default_drop_last(drop_last, shuffle, len(chosen), batch_size)
    return TensorBatchLoader(
        torch.from_numpy(images),
        torch.from_numpy(labels),
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop,
        transform=BatchTransform(stats, augmentation),
        seed=seed,
        classes=dataset.classes,
    )


def make_eval_loader(
    class_dir: str | os.PathLike[str],
    *,
    stats: Stats,
    batch_size: int = 256,
    classes: Sequence[str] | None = None,
    limit: int | None = None,
    resolution: int | None = None,
) -> BatchLoader:
    """Deterministic loader over every image of a test class folder (torch backend, stored order, no augmentation).

    Args:
        class_dir: Test class folder ``<class_dir>/<class>/<image>``.
        stats: The training data's statistics (e.g. ``TrainingDataModule.stats``), so test images are
            normalised exactly like training images.
        batch_size: Images per batch; the last batch may be smaller (nothing is dropped).
        classes: The training class list, so labels keep their training indices (recommended).
        limit: Test only a seeded subset of this many images (in stored order); ``None``: all of them.
        resolution: Resize every image to shorter side ``N`` and centre-crop it to ``N x N`` (use the training
            data's resolution); ``None``: images as stored.
    """
    return make_loader(
        class_dir,
        split="all",
        batch_size=batch_size,
        shuffle=False,
        stats=stats,
        backend="torch",
        drop_last=False,
        classes=classes,
        limit=limit,
        resolution=resolution,
    )


def limit_indices(n: int, limit: int | None, seed: int) -> np.ndarray | None:
    """Sorted positions of a seeded random subset of ``limit`` out of ``n`` items (``None``: no limit needed).

    Sorted, so the subset keeps the stored order; random, so a small limit still covers every class.
    """
    if limit is None or limit >= n:
        return None
    return np.sort(np.random.default_rng(seed).permutation(n)[:limit])


def _default_drop_last(drop_last: bool | None, shuffle: bool, n: int, batch_size: int) -> bool:
    if drop_last is not None:
        return bool(drop_last)
    # Dropping the ragged last batch of a shuffled epoch avoids tiny batches (e.g. BatchNorm of one image);
    # never drop when that would leave no batch at all.
    return shuffle and n >= batch_size

