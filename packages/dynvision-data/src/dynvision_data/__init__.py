"""dynvision-data: datasets, FFCV/torch loaders and stimulus paradigms for temporal vision models.

Typical flow: :func:`materialize_dataset` writes PNG class folders, :func:`write_betons` writes FFCV files
with a seeded train/val split, :class:`TrainingDataModule` feeds a LightningModule with
``(frames (B, T, C, H, W), labels (B, T), stimulus (T,))``, and :class:`TestDataModule` (or
:func:`make_eval_loader` plus a paradigm from :func:`create_paradigm`) presents test images. FFCV is optional: everything also runs on plain torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .__about__ import __version__
from ._batching import Batch, BatchLoader, epoch_order
from .datasets import (
    CLASS_GROUPS,
    ClassFolderDataset,
    DatasetSpec,
    RawDataset,
    get_dataset_spec,
    link_folder_dataset,
    list_datasets,
    materialize_dataset,
    materialize_group,
    read_image,
    register_dataset,
    register_folder_dataset,
    split_indices,
)
from .ffcv import (
    BetonMetadata,
    CorruptBetonError,
    ffcv_available,
    read_beton_metadata,
    validate_beton,
    write_betons,
)
from .loaders import Backend, Split, TensorBatchLoader, make_eval_loader, make_loader
from .paradigms import (
    IGNORE_INDEX,
    NOISE_TYPES,
    TEMPORAL_MODES,
    ContrastParadigm,
    DurationParadigm,
    IntervalParadigm,
    NoiseParadigm,
    Paradigm,
    Presentation,
    RepetitionParadigm,
    Timeline,
    create_paradigm,
    list_paradigms,
    register_paradigm,
)
from .stats import Stats, compute_stats, default_stats_path, load_stats
from .transforms import Augmentation, BatchTransform, epoch_generator, normalize

if TYPE_CHECKING:
    from .datamodule import TestDataModule, TrainingDataModule

__all__ = [
    "CLASS_GROUPS",
    "IGNORE_INDEX",
    "NOISE_TYPES",
    "TEMPORAL_MODES",
    "Augmentation",
    "Backend",
    "Batch",
    "BatchLoader",
    "BatchTransform",
    "BetonMetadata",
    "ClassFolderDataset",
    "ContrastParadigm",
    "CorruptBetonError",
    "DatasetSpec",
    "DurationParadigm",
    "IntervalParadigm",
    "NoiseParadigm",
    "Paradigm",
    "Presentation",
    "RawDataset",
    "RepetitionParadigm",
    "Split",
    "Stats",
    "TensorBatchLoader",
    "TestDataModule",
    "Timeline",
    "TrainingDataModule",
    "__version__",
    "compute_stats",
    "create_paradigm",
    "default_stats_path",
    "epoch_generator",
    "epoch_order",
    "ffcv_available",
    "get_dataset_spec",
    "link_folder_dataset",
    "list_datasets",
    "list_paradigms",
    "load_stats",
    "make_eval_loader",
    "make_loader",
    "materialize_dataset",
    "materialize_group",
    "normalize",
    "read_beton_metadata",
    "read_image",
    "register_dataset",
    "register_folder_dataset",
    "register_paradigm",
    "split_indices",
    "validate_beton",
    "write_betons",
]


def __getattr__(name: str) -> Any:
    # Lightning takes ~2 s to import (and pulls in matplotlib through torchmetrics); load it only when the data
    # module is asked for, so loaders, datasets and paradigms stay quick to import.
    if name in ("TrainingDataModule", "TestDataModule"):
        from . import datamodule

        return getattr(datamodule, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
