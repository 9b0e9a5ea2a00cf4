"""Registry of datasets that :func:`~dynvision_data.datasets.materialize_dataset` can write to disk."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from .._util import unknown_name_message

__all__ = ["DatasetSpec", "RawDataset", "get_dataset_spec", "list_datasets", "register_dataset", "resolve_params"]


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
        load: ``load(cache_dir, **params) -> RawDataset``; ``cache_dir`` is where downloads may be kept.
        description: One line for listings.
        image_shape: ``(C, H, W)`` of every image (with the default ``params`` for parametric datasets).
        license: Licence or credit of the images.
        params: Parameters of a parametric dataset (e.g. a stimulus generator) with their defaults; empty for
            fixed datasets. :func:`materialize_dataset` passes the resolved values to ``load`` as keywords and
            records them.
    """

    name: str
    load: Callable[..., RawDataset]
    description: str
    image_shape: tuple[int, int, int]
    license: str = ""
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


_REGISTRY: dict[str, DatasetSpec] = {}


def register_dataset(
    name: str,
    *,
    description: str,
    image_shape: tuple[int, int, int],
    license: str = "",
    params: Mapping[str, Any] | None = None,
) -> Callable[[Callable[..., RawDataset]], Callable[..., RawDataset]]:
    """Decorator registering a loader function under ``name``; a duplicate name raises ``ValueError``.

    ``params`` declares the keyword parameters of a parametric loader and their defaults (JSON values).
    """

    def decorator(load: Callable[..., RawDataset]) -> Callable[..., RawDataset]:
        if name in _REGISTRY:
            raise ValueError(f"Dataset {name!r} is already registered; pick another name.")
        defaults = MappingProxyType(dict(params or {}))
        _REGISTRY[name] = DatasetSpec(name, load, description, image_shape, license, defaults)
        return load

    return decorator


def resolve_params(spec: DatasetSpec, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The spec's default parameters updated with ``params``; an unknown key raises ``TypeError`` listing the known ones."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        known = ", ".join(sorted(spec.params)) or "none: it is not parametric"
        raise TypeError(f"Dataset {spec.name!r} has no parameter(s) {unknown}. Its parameters: {known}.")
    return {**spec.params, **params}


def list_datasets() -> list[str]:
    """Names of all registered datasets, sorted."""
    return sorted(_REGISTRY)


def get_dataset_spec(name: str) -> DatasetSpec:
    """Return the :class:`DatasetSpec` registered as ``name``; an unknown name raises ``KeyError`` with close matches."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(unknown_name_message("dataset", name, _REGISTRY)) from None
