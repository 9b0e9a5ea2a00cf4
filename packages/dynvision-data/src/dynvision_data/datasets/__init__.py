"""Datasets: a registry of named datasets, class-folder reading, and the shared seeded split."""

from __future__ import annotations

from . import builtin as _builtin  # noqa: F401  (registers the builtin datasets)
from . import official as _official  # noqa: F401  (registers mnist, fashionmnist, cifar10, cifar100)
from . import synthetic as _synthetic  # noqa: F401  (registers gratings)
from .folder import IMAGE_EXTENSIONS, ClassFolderDataset, read_image, resize_center_crop
from .folder_sources import (
    FolderSource,
    link_folder_dataset,
    list_folder_datasets,
    read_class_index,
    register_folder_dataset,
)
from .groups import CLASS_GROUPS, READY_NAME, list_groups, materialize_group
from .materialize import MARKER_NAME, materialize_dataset
from .registry import DatasetSpec, RawDataset, get_dataset_spec, list_datasets, register_dataset
from .split import split_indices

__all__ = [
    "CLASS_GROUPS",
    "IMAGE_EXTENSIONS",
    "MARKER_NAME",
    "READY_NAME",
    "ClassFolderDataset",
    "DatasetSpec",
    "FolderSource",
    "RawDataset",
    "get_dataset_spec",
    "link_folder_dataset",
    "list_datasets",
    "list_folder_datasets",
    "list_groups",
    "materialize_dataset",
    "materialize_group",
    "read_class_index",
    "read_image",
    "register_dataset",
    "register_folder_dataset",
    "resize_center_crop",
    "split_indices",
]
