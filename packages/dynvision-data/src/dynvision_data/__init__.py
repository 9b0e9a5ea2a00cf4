"""dynvision-data: datasets, FFCV/torch loaders and stimulus paradigms for temporal vision models.

Typical flow: :func:`materialize_dataset` writes PNG class folders, :func:`write_betons` writes FFCV files
with a seeded train/val split, :class:`TrainingDataModule` feeds a LightningModule with
``(frames (B, T, C, H, W), labels (B, T), stimulus (T,))``, and :class:`TestDataModule` (or
:func:`make_eval_loader` plus a paradigm from :func:`create_paradigm`) presents test images. FFCV is optional: everything also runs on plain torch.

The package imports lazily (PEP 562): ``import dynvision_data`` loads nothing but its version, and each name loads
its submodule on first use, so ``create_paradigm``, ``paradigm_parameters`` and the other paradigm names import no
torch, and Lightning is loaded only for the data modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .__about__ import __version__

if TYPE_CHECKING:
    from ._batching import Batch, BatchLoader, epoch_order
    from ._util import make_temporary, remove_stale_temporaries
    from .datamodule import TestDataModule, TrainingDataModule
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
    from .errors import DataError
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
        PARADIGM_ALIASES,
        TEMPORAL_MODES,
        UPSTREAM_PARADIGM_ALIASES,
        ContrastParadigm,
        DurationParadigm,
        IntervalParadigm,
        NoiseParadigm,
        Paradigm,
        Presentation,
        RepetitionParadigm,
        Timeline,
        canonical_paradigm_params,
        create_paradigm,
        list_paradigms,
        paradigm_parameters,
        register_paradigm,
    )
    from .stats import Stats, compute_stats, default_stats_path, load_stats
    from .transforms import Augmentation, BatchTransform, epoch_generator, normalize

#: Submodule (relative to this package) that defines each public name, imported when the name is first used.
_SOURCES: dict[str, str] = {
    **dict.fromkeys(("Batch", "BatchLoader", "epoch_order"), "_batching"),
    # Atomic outputs: temporaries named by their process, and the removal of those a killed process left.
    **dict.fromkeys(("make_temporary", "remove_stale_temporaries"), "_util"),
    "DataError": "errors",
    # Lightning takes ~2 s to import (and pulls in matplotlib through torchmetrics).
    **dict.fromkeys(("TestDataModule", "TrainingDataModule"), "datamodule"),
    **dict.fromkeys(
        (
            "CLASS_GROUPS",
            "ClassFolderDataset",
            "DatasetSpec",
            "RawDataset",
            "get_dataset_spec",
            "link_folder_dataset",
            "list_datasets",
            "materialize_dataset",
            "materialize_group",
            "read_image",
            "register_dataset",
            "register_folder_dataset",
            "split_indices",
        ),
        "datasets",
    ),
    **dict.fromkeys(
        (
            "BetonMetadata",
            "CorruptBetonError",
            "ffcv_available",
            "read_beton_metadata",
            "validate_beton",
            "write_betons",
        ),
        "ffcv",
    ),
    **dict.fromkeys(("Backend", "Split", "TensorBatchLoader", "make_eval_loader", "make_loader"), "loaders"),
    # Torch-free: building and checking paradigms must stay fast (a workflow does it at parse time).
    **dict.fromkeys(
        (
            "IGNORE_INDEX",
            "NOISE_TYPES",
            "PARADIGM_ALIASES",
            "TEMPORAL_MODES",
            "UPSTREAM_PARADIGM_ALIASES",
            "ContrastParadigm",
            "DurationParadigm",
            "IntervalParadigm",
            "NoiseParadigm",
            "Paradigm",
            "Presentation",
            "RepetitionParadigm",
            "Timeline",
            "canonical_paradigm_params",
            "create_paradigm",
            "list_paradigms",
            "paradigm_parameters",
            "register_paradigm",
        ),
        "paradigms",
    ),
    **dict.fromkeys(("Stats", "compute_stats", "default_stats_path", "load_stats"), "stats"),
    **dict.fromkeys(("Augmentation", "BatchTransform", "epoch_generator", "normalize"), "transforms"),
}

__all__ = [
    "CLASS_GROUPS",
    "IGNORE_INDEX",
    "NOISE_TYPES",
    "PARADIGM_ALIASES",
    "TEMPORAL_MODES",
    "UPSTREAM_PARADIGM_ALIASES",
    "Augmentation",
    "Backend",
    "Batch",
    "BatchLoader",
    "BatchTransform",
    "BetonMetadata",
    "ClassFolderDataset",
    "ContrastParadigm",
    "CorruptBetonError",
    "DataError",
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
    "canonical_paradigm_params",
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
    "make_temporary",
    "materialize_dataset",
    "materialize_group",
    "normalize",
    "paradigm_parameters",
    "read_beton_metadata",
    "read_image",
    "register_dataset",
    "register_folder_dataset",
    "register_paradigm",
    "remove_stale_temporaries",
    "split_indices",
    "validate_beton",
    "write_betons",
]


def __getattr__(name: str) -> Any:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{source}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
