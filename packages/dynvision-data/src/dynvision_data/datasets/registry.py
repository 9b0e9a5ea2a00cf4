"""Registry of datasets that :func:`~dynvision_data.datasets.materialize_dataset` can write to disk."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._util import unknown_name_message

__all__ = ["DatasetSpec", "RawDataset", "get_dataset_spec", "list_datasets", "register_dataset"]


@dataclass(frozen=True)
class RawDataset:
    """A dataset in memory, as a builtin loader returns it.

    Attributes:
        images: uint8 ``(N, H, W, C)``, pixel values 0..255.
        labels: int64 ``(N,)``, positions in ``classes``.
        classes: Class names; they become the class folder names.
        splits: Official split membership (e.g. ``{"train": idx, "test": idx}``), or ``None`` when the source
            has no official split and :func:`materialize_dataset` draws a seeded stratified one.
    """

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    splits: Mapping[str, np.ndarray] | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, H, W, C), got {self.images.dtype} {self.images.shape}.")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels must have shape ({self.images.shape[0]},), got {self.labels.shape}.")


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset: how to obtain it and what it looks like.

    Attributes:
        name: Registry name (also the directory name under the materialisation root).
        load: ``load(cache_dir) -> RawDataset``; ``cache_dir`` is where downloads may be kept.
        description: One line for listings.
        image_shape: ``(C, H, W)`` of every image.
        license: Licence or credit of the images.
    """

    name: str
    load: Callable[[Path], RawDataset]
    description: str
    image_shape: tuple[int, int, int]
    license: str = ""


_REGISTRY: dict[str, DatasetSpec] = {}


def register_dataset(
    name: str, *, description: str, image_shape: tuple[int, int, int], license: str = ""
) -> Callable[[Callable[[Path], RawDataset]], Callable[[Path], RawDataset]]:
    """Decorator registering a loader function under ``name``; a duplicate name raises ``ValueError``."""

    def decorator(load: Callable[[Path], RawDataset]) -> Callable[[Path], RawDataset]:
        if name in _REGISTRY:
            raise ValueError(f"Dataset {name!r} is already registered; pick another name.")
        _REGISTRY[name] = DatasetSpec(name, load, description, image_shape, license)
        return load

    return decorator


def list_datasets() -> list[str]:
    """Names of all registered datasets, sorted."""
    return sorted(_REGISTRY)


def get_dataset_spec(name: str) -> DatasetSpec:
    """Return the :class:`DatasetSpec` registered as ``name``; an unknown name raises ``KeyError`` with close matches."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(unknown_name_message("dataset", name, _REGISTRY)) from None
