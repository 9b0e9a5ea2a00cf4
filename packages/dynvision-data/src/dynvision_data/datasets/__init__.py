"""Datasets: a registry of named datasets, class-folder reading, and the shared seeded split."""

from __future__ import annotations

from . import builtin as _builtin  # noqa: F401  (registers the builtin datasets)
from .folder import IMAGE_EXTENSIONS, ClassFolderDataset, read_image
from .materialize import MARKER_NAME, materialize_dataset
from .registry import DatasetSpec, RawDataset, get_dataset_spec, list_datasets, register_dataset
from .split import split_indices

__all__ = [
    "IMAGE_EXTENSIONS",
    "MARKER_NAME",
    "ClassFolderDataset",
    "DatasetSpec",
    "RawDataset",
    "get_dataset_spec",
    "list_datasets",
    "materialize_dataset",
    "read_image",
    "register_dataset",
    "split_indices",
]
