"""Data steps: materialise a dataset as class folders, write its FFCV files."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from .provenance import write_text_atomic

__all__ = ["build_betons", "prepare_data"]

log = logging.getLogger(__name__)


def prepare_data(
    data_name: str,
    *,
    root: str | os.PathLike[str],
    ready: str | os.PathLike[str] | None = None,
    seed: int = 0,
    test_fraction: float = 0.2,
) -> Path:
    """Materialise ``data_name`` as ``<root>/<data_name>/{train,test}/<class>/*.png``, cache the training split's
    statistics, and write the ``ready`` marker (a JSON copy of the dataset record) last."""
    from dynvision_data import load_stats, materialize_dataset

    folder = materialize_dataset(data_name, root, seed=seed, test_fraction=test_fraction)
    stats = load_stats(folder / "train")
    log.info("dataset %s at %s; training statistics mean=%s std=%s", data_name, folder, stats.mean, stats.std)
    if ready is not None:
        record = json.loads((folder / "dataset.json").read_text())
        record["train_stats"] = stats.to_dict()
        write_text_atomic(ready, json.dumps(record, indent=2) + "\n")
    return folder


def build_betons(
    source: str | os.PathLike[str],
    *,
    train: str | os.PathLike[str],
    val: str | os.PathLike[str],
    meta: str | os.PathLike[str],
    seed: int = 0,
    val_fraction: float = 0.1,
) -> None:
    """Write ``train`` and ``val`` FFCV files from the class folders at ``source`` (seeded split), then the record
    ``meta`` (JSON: both files' metadata), last, so that its presence means both files are complete."""
    from dynvision_data import write_betons

    metas = write_betons(source, train, val, val_fraction=val_fraction, seed=seed)
    record = {meta.role: meta.to_dict() for meta in metas}
    log.info("wrote %s (%d images) and %s (%d images)", train, metas[0].count, val, metas[1].count)
    write_text_atomic(meta, json.dumps(record, indent=2) + "\n")
