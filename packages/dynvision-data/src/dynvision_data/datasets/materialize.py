"""Write a registered dataset to disk as class folders, atomically and idempotently."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..__about__ import __version__
from .._util import atomic_write_json, check_fraction, check_int, make_temporary, read_json
from . import folder_sources, registry
from .downloads import download_source
from .registry import get_dataset_spec, resolve_params
from .split import split_indices

__all__ = ["MARKER_NAME", "materialize_dataset"]

#: Completion marker inside ``<root>/<name>/``; its presence means the tree is complete.
MARKER_NAME = "dataset.json"
_FORMAT_VERSION = 1


def materialize_dataset(
    name: str,
    root: str | os.PathLike[str],
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    params: Mapping[str, Any] | None = None,
    directory: str | None = None,
    source: str | os.PathLike[str] | None = None,
) -> Path:
    """Write dataset ``name`` as PNG class folders ``<root>/<name>/<split>/<class>/<index>.png``.

    Splits are ``train`` and ``test``. Datasets without an official split get a stratified split drawn with
    :func:`~dynvision_data.datasets.split_indices` (``test_fraction`` of every class, chosen with ``seed``);
    for datasets with an official split, ``seed`` and ``test_fraction`` are recorded but unused. ``<index>``
    is the item's position in the source dataset, zero-padded so that name order equals index order.
    Pixels are stored unchanged as 8-bit PNG (grey ``L`` for 1 channel, ``RGB`` for 3).

    The tree is built in a hidden temporary sibling directory and renamed into place, with a completion
    marker ``dataset.json`` (name, params, seed, split, counts, image shape, classes). A second call with the
    same arguments returns at once; a call with different arguments (including ``params``) on an existing tree
    raises ``ValueError`` rather than overwriting it.

    Downloaded datasets (``mnist``, ``cifar10``, ...) keep their verified archives in ``<root>/.downloads/``.

    Args:
        name: A name from :func:`~dynvision_data.datasets.list_datasets`.
        root: Directory that receives ``<name>/`` (created if missing).
        seed: Seed of the train/test split (integer >= 0).
        test_fraction: Share of each class put in ``test``, strictly between 0 and 1.
        params: Parameters of a parametric dataset (e.g. ``{"n_classes": 4, "size": 64}`` for ``gratings``);
            missing ones take the registered defaults. Recorded in ``dataset.json``.
        directory: Name of the dataset directory under ``root`` (default ``name``), e.g. to keep several
            parameter sets of one generator side by side.
        source: A local directory or base URL holding the official archives, tried before the configured
            mirrors (see :mod:`~dynvision_data.datasets.downloads`). Not recorded: it does not change the data.

    Returns:
        The dataset directory ``<root>/<directory or name>``.
    """
    if name in folder_sources._FOLDER_REGISTRY and name not in registry._REGISTRY:
        if params or directory not in (None, name):
            raise ValueError(f"Folder dataset {name!r} takes no params or directory; it is linked as <root>/{name}.")
        return folder_sources.link_folder_dataset(name, root)
    spec = get_dataset_spec(name)
    resolved = resolve_params(spec, params)
    seed = check_int("seed", seed, minimum=0)
    test_fraction = check_fraction("test_fraction", test_fraction)
    root = Path(root)
    directory = name if directory is None else directory
    if not directory or directory in (".", "..") or "/" in directory or os.sep in directory:
        raise ValueError(f"directory must be a plain folder name, got {directory!r}.")
    target = root / directory
    check = {"name": name, "seed": seed, "test_fraction": test_fraction, "params": resolved}
    if target.exists():
        return _check_existing(target, **check)

    root.mkdir(parents=True, exist_ok=True)
    with download_source(source):
        raw = spec.load(root / ".downloads" / name, **resolved)
    if raw.splits is None:
        train, test = split_indices(raw.labels, test_fraction, seed)
        splits = {"train": train, "test": test}
        split_kind = "stratified"
    else:
        splits = {key: np.asarray(value, dtype=np.int64) for key, value in raw.splits.items()}
        split_kind = "official"
    channels = raw.images.shape[3]
    marker: dict[str, Any] = {
        "format_version": _FORMAT_VERSION,
        "name": name,
        "params": resolved,
        "seed": seed,
        "test_fraction": test_fraction,
        "split": split_kind,
        "classes": list(raw.classes),
        "image_shape": [channels, raw.images.shape[1], raw.images.shape[2]],
        "counts": {
            split: {
                "total": len(idx),
                "per_class": {c: int(np.sum(raw.labels[idx] == i)) for i, c in enumerate(raw.classes)},
            }
            for split, idx in splits.items()
        },
        "description": spec.description,
        "license": spec.license,
        "written_by": f"dynvision-data {__version__}",
    }

    tmp = Path(make_temporary(root, directory, folder=True)[1])
    try:
        width = len(str(len(raw.labels) - 1))
        mode = "L" if channels == 1 else "RGB"
        for split, idx in splits.items():
            for class_name in raw.classes:
                (tmp / split / class_name).mkdir(parents=True)
            for i in idx:
                pixels = raw.images[i, :, :, 0] if channels == 1 else raw.images[i]
                path = tmp / split / raw.classes[raw.labels[i]] / f"{int(i):0{width}d}.png"
                _save_png(pixels, mode, path)
        atomic_write_json(tmp / MARKER_NAME, marker)
        try:
            os.rename(tmp, target)
        except OSError:
            # Another process finished the same tree first: accept it if it matches, else report.
            if (target / MARKER_NAME).exists():
                shutil.rmtree(tmp, ignore_errors=True)
                return _check_existing(target, **check)
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _save_png(pixels: np.ndarray, mode: str, path: Path) -> None:
    # compress_level=1: files ~10% larger than the default, written several times faster.
    Image.fromarray(np.ascontiguousarray(pixels), mode=mode).save(path, format="PNG", compress_level=1)


def _check_existing(target: Path, *, name: str, seed: int, test_fraction: float, params: dict[str, Any]) -> Path:
    marker_path = target / MARKER_NAME
    if not marker_path.is_file():
        raise FileExistsError(
            f"{target} exists but has no completion marker {MARKER_NAME}: it was not written by "
            "materialize_dataset or is incomplete. Remove it (or choose another root) and call again."
        )
    marker = read_json(marker_path)
    # JSON round trip, so that tuples and lists compare equal.
    params = json.loads(json.dumps(params))
    recorded: dict[str, Any] = {"name": marker.get("name"), "params": marker.get("params", {})}
    requested: dict[str, Any] = {"name": name, "params": params}
    if marker.get("split") != "official":  # seed and fraction do not matter for an official split
        recorded.update(seed=marker.get("seed"), test_fraction=marker.get("test_fraction"))
        requested.update(seed=seed, test_fraction=test_fraction)
    if recorded != requested:
        raise ValueError(
            f"{target} already holds a materialisation made with {recorded}, but {requested} was requested. "
            "It is never overwritten: use another root directory, or delete the tree to rebuild it."
        )
    return target
