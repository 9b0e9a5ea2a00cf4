"""dynvision-data: datasets, FFCV/torch loaders and stimulus paradigms for temporal vision models.

Typical flow: :func:`materialize_dataset` writes PNG class folders, :func:`write_betons` writes FFCV files
with a seeded train/val split, :class:`TrainingDataModule` feeds a LightningModule with
``(frames (B, T, C, H, W), labels (B, T), stimulus (T,))``, and :func:`make_eval_loader` plus a paradigm
from :func:`create_paradigm` present test images. FFCV is optional: everything also runs on plain torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .__about__ import __version__
from ._batching import Batch, BatchLoader, epoch_order
from .datasets import (
    ClassFolderDataset,
    DatasetSpec,
    RawDataset,
    get_dataset_spec,
    list_datasets,
    materialize_dataset,
    read_image,
    register_dataset,
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
    DurationParadigm,
    Paradigm,
    Presentation,
    create_paradigm,
    list_paradigms,
    register_paradigm,
)
from .stats import Stats, compute_stats, default_stats_path, load_stats
from .transforms import Augmentation, BatchTransform, epoch_generator, normalize

if TYPE_CHECKING:
    from .datamodule import TrainingDataModule

__all__ = [
    "IGNORE_INDEX",
    "Augmentation",
    "Backend",
    "Batch",
    "BatchLoader",
    "BatchTransform",
    "BetonMetadata",
    "ClassFolderDataset",
    "CorruptBetonError",
    "DatasetSpec",
    "DurationParadigm",
    "Paradigm",
    "Presentation",
    "RawDataset",
    "Split",
    "Stats",
    "TensorBatchLoader",
    "TrainingDataModule",
    "__version__",
    "compute_stats",
    "create_paradigm",
    "default_stats_path",
    "epoch_generator",
    "epoch_order",
    "ffcv_available",
    "get_dataset_spec",
    "list_datasets",
    "list_paradigms",
    "load_stats",
    "make_eval_loader",
    "make_loader",
    "materialize_dataset",
    "normalize",
    "read_beton_metadata",
    "read_image",
    "register_dataset",
    "register_paradigm",
    "split_indices",
    "validate_beton",
    "write_betons",
]


def __getattr__(name: str) -> Any:
    # Lightning takes ~2 s to import (and pulls in matplotlib through torchmetrics); load it only when the data
    # module is asked for, so loaders, datasets and paradigms stay quick to import.
    if name == "TrainingDataModule":
        from .datamodule import TrainingDataModule

        return TrainingDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
