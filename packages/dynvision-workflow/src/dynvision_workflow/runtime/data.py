"""Data steps: materialise a dataset as class folders (builtin, downloaded or an existing tree linked in place),
write its FFCV files."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from .provenance import write_text_atomic

__all__ = ["build_betons", "parse_splits", "prepare_data"]

log = logging.getLogger(__name__)


def parse_splits(text: str | None) -> dict[str, str] | None:
    """``--splits`` ``"train=train,test=val"`` as ``{"train": "train", "test": "val"}`` (``None`` or ``""``: None)."""
    if not text:
        return None
    splits = {}
    for part in text.split(","):
        split, sep, folder = part.partition("=")
        if not sep or not split.strip() or not folder.strip():
            raise ValueError(
                f"malformed split {part!r} in {text!r}: expected split=folder joined by ',', e.g. 'train=train,test=val'."
            )
        splits[split.strip()] = folder.strip()
    return splits


def prepare_data(
    data_name: str,
    *,
    root: str | os.PathLike[str],
    ready: str | os.PathLike[str] | None = None,
    seed: int = 0,
    test_fraction: float = 0.2,
    source: str = "builtin",
    mirror: str | os.PathLike[str] | None = None,
    path: str | os.PathLike[str] | None = None,
    splits: Mapping[str, str] | None = None,
    class_index: str | os.PathLike[str] | None = None,
    resolution: int | None = None,
) -> Path:
    """Materialise ``data_name`` as ``<root>/<data_name>/{train,test}/<class>/<image>``, cache the training split's
    statistics, and write the ``ready`` marker (a JSON copy of the dataset record) last.

    Args:
        source: ``builtin`` (ships with dynvision-data), ``download`` (official archives, checksum-verified) or
            ``folder`` (an existing tree of class folders at ``path``, linked in place: nothing is copied).
        mirror: ``download`` only: a local directory or base URL holding the official archives, tried first.
        path: ``folder`` only (required): the dataset directory; ``~`` and environment variables are expanded.
        splits: ``folder`` only: our split name -> its folder under ``path`` (default train -> train, test -> val).
        class_index: ``folder`` only: a class index file with readable class names.
        resolution: Statistics of the training images resized to shorter side ``N`` and centre-cropped to
            ``N x N`` (``None``: as stored); recorded in the marker as ``resolution``.

    The marker also records ``data_source`` (the source kind) and ``train_stats``.
    """
    from dynvision_data import load_stats, materialize_dataset, register_folder_dataset

    from ..config import ConfigError, dataset_problems, expand_location

    settings = {
        "source": source,
        "mirror": None if mirror is None else os.fspath(mirror),
        "path": None if path is None else os.fspath(path),
        "splits": None if splits is None else dict(splits),
        "class_index": None if class_index is None else os.fspath(class_index),
    }
    if source not in ("builtin", "download", "folder"):
        raise ConfigError(f"source must be one of builtin, download, folder; got {source!r}.")
    problems = dataset_problems(data_name, settings)
    if problems:
        raise ConfigError("; ".join(problems))
    try:
        folder_dir, index, mirror = (expand_location(settings[key]) for key in ("path", "class_index", "mirror"))
    except ValueError as error:  # an environment variable that is not set
        raise ConfigError(str(error)) from None
    if source == "folder":
        # The registry lives in this process: register the tree, then materialising it links it in place.
        register_folder_dataset(data_name, folder_dir, splits=splits, class_index=index, replace=True)
        folder = materialize_dataset(data_name, root)
    else:
        folder = materialize_dataset(data_name, root, seed=seed, test_fraction=test_fraction, source=mirror)
    try:
        stats = load_stats(folder / "train", resolution=resolution)
    except ValueError as error:
        if resolution is None and "resolution=N" in str(error):  # images of several sizes
            raise ConfigError(
                f"{error} In the workflow configuration: set datasets.{data_name}.resolution: N (e.g. 64)."
            ) from None
        raise
    log.info(
        "dataset %s (%s) at %s; training statistics (resolution %s) mean=%s std=%s",
        data_name, source, folder, resolution, stats.mean, stats.std,
    )
    if ready is not None:
        record = json.loads((folder / "dataset.json").read_text())
        record["data_source"] = source
        record["resolution"] = resolution
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
    resolution: int | None = None,
) -> None:
    """Write ``train`` and ``val`` FFCV files from the class folders at ``source`` (seeded split; every image resized
    to shorter side ``resolution`` and centre-cropped when given), then the record ``meta`` (JSON: both files'
    metadata), last, so that its presence means both files are complete."""
    from dynvision_data import write_betons

    metas = write_betons(source, train, val, val_fraction=val_fraction, seed=seed, resolution=resolution)
    record = {meta.role: meta.to_dict() for meta in metas}
    log.info("wrote %s (%d images) and %s (%d images)", train, metas[0].count, val, metas[1].count)
    write_text_atomic(meta, json.dumps(record, indent=2) + "\n")
