"""Existing class-folder datasets on disk (ImageNet, Imagenette, TinyImageNet layouts), used in place.

:func:`register_folder_dataset` names a directory; :func:`~dynvision_data.materialize_dataset` (or
:func:`link_folder_dataset`) then makes ``<root>/<name>/<split>/<class>`` symlinks into it -- no image is
copied -- plus the usual ``dataset.json`` marker, so class groups, statistics and the loaders work on it like
on any materialised dataset. Two split layouts are understood:

* class folders: ``<split dir>/<class>/<images>``; a class folder holding only an ``images/`` sub-folder
  (TinyImageNet's ``train/<wnid>/images/``) is linked to that sub-folder;
* TinyImageNet validation: ``<split dir>/images/<file>`` plus ``<split dir>/val_annotations.txt`` (tab
  separated: file, class id, box) -- each image is linked into a folder of its class.

Class ids (e.g. WordNet ids ``n01440764``) stay the folder names; readable names come from a class index:
ImageNet's ``imagenet_class_index.json`` (``{"0": ["n01440764", "tench"], ...}``), a plain JSON object
``{id: name}``, or TinyImageNet's ``words.txt`` (found automatically in the dataset directory).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._util import atomic_write_json, make_temporary, read_json, unknown_name_message
from ..errors import DataError
from ..integrity import IMAGE_EXTENSIONS, count_images

__all__ = [
    "FolderSource",
    "get_folder_source",
    "link_folder_dataset",
    "list_folder_datasets",
    "read_class_index",
    "register_folder_dataset",
]

_FOLDER_REGISTRY: dict[str, FolderSource] = {}


@dataclass(frozen=True)
class FolderSource:
    """A class-folder dataset on disk: ``path``, its split folders and an optional class index file."""

    name: str
    path: Path
    splits: Mapping[str, str] = field(default_factory=lambda: {"train": "train", "test": "val"})
    class_index: Path | None = None


def register_folder_dataset(
    name: str,
    path: str | os.PathLike[str],
    *,
    splits: Mapping[str, str] | None = None,
    class_index: str | os.PathLike[str] | None = None,
    replace: bool = False,
) -> FolderSource:
    """Register the class-folder dataset at ``path`` under ``name`` for :func:`materialize_dataset`.

    Args:
        name: Registry name; must not clash with a builtin dataset.
        path: Dataset directory (need not exist yet; it is checked when linked).
        splits: Our split name -> folder under ``path``; default ``{"train": "train", "test": "val"}`` (ImageNet,
            Imagenette and TinyImageNet all call their test set ``val``).
        class_index: JSON class index (see module docstring); default: ``words.txt`` in ``path`` if present.
        replace: Allow re-registering ``name`` (e.g. after the data moved).
    """
    from . import registry

    if name in registry._REGISTRY:
        raise ValueError(f"{name!r} is a builtin dataset name; register the folder under another name.")
    if name in _FOLDER_REGISTRY and not replace:
        raise ValueError(f"Folder dataset {name!r} is already registered (at {_FOLDER_REGISTRY[name].path}); "
                         "pass replace=True to change it.")
    source = FolderSource(
        name, Path(path).expanduser(), dict(splits or {"train": "train", "test": "val"}),
        None if class_index is None else Path(class_index).expanduser(),
    )
    _FOLDER_REGISTRY[name] = source
    return source


def list_folder_datasets() -> list[str]:
    """Names registered with :func:`register_folder_dataset`, sorted."""
    return sorted(_FOLDER_REGISTRY)


def get_folder_source(name: str) -> FolderSource:
    """The :class:`FolderSource` registered as ``name`` (``KeyError`` with close matches otherwise)."""
    try:
        return _FOLDER_REGISTRY[name]
    except KeyError:
        raise KeyError(unknown_name_message("folder dataset", name, _FOLDER_REGISTRY)) from None


def read_class_index(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a class index into ``{class id: readable name}`` (formats in the module docstring)."""
    path = Path(path)
    if path.suffix == ".txt":  # TinyImageNet words.txt: "<wnid>\t<name, synonyms>"
        result = {}
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                wnid, sep, names = line.partition("\t")
                if not sep:
                    raise ValueError(f"{path}:{number} is not '<id><TAB><name>': {line!r}.")
                result[wnid.strip()] = names.strip()
        return result
    data = read_json(path)
    if isinstance(data, dict) and all(isinstance(v, list) and len(v) == 2 for v in data.values()):
        return {str(v[0]): str(v[1]) for v in data.values()}  # ImageNet: {"0": [wnid, name]}
    if isinstance(data, dict) and all(isinstance(v, str) for v in data.values()):
        return {str(k): v for k, v in data.items()}
    raise ValueError(
        f"{path} is not a class index: expected {{\"0\": [id, name], ...}} (ImageNet) or {{id: name}}."
    )


def _has_images(folder: Path) -> bool:
    return any(p.suffix.lower() in IMAGE_EXTENSIONS for p in folder.iterdir() if p.is_file())


def _link_split(src: Path, out: Path) -> dict[str, int]:
    """Link one split folder ``src`` into ``out`` (one folder or link per class); return the images per class.

    Raises:
        DataError: a class folder without images, or no class folder at all (naming the folder and the fix).
    """
    annotations = src / "val_annotations.txt"
    if annotations.is_file() and (src / "images").is_dir():
        counts: dict[str, int] = {}
        for number, line in enumerate(annotations.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) < 2:
                raise DataError(f"{annotations}:{number} is not '<file><TAB><class>...': {line!r}; correct or "
                                "remove the line, then rerun: dynvision run")
            image = src / "images" / parts[0]
            if not image.is_file():
                raise DataError(f"{annotations}:{number} names {parts[0]}, but '{image}' does not exist; restore the "
                                "image or remove the line, then rerun: dynvision run")
            (out / parts[1]).mkdir(parents=True, exist_ok=True)
            os.symlink(image.resolve(), out / parts[1] / parts[0])
            counts[parts[1]] = counts.get(parts[1], 0) + 1
        if not counts:
            raise DataError(f"{annotations} lists no images; restore it, then rerun: dynvision run")
        return dict(sorted(counts.items()))
    out.mkdir(parents=True)
    counts = {}
    for folder in sorted(p for p in src.iterdir() if p.is_dir() and not p.name.startswith(".")):
        inner = folder / "images"
        target = inner if inner.is_dir() and not _has_images(folder) else folder
        counts[folder.name] = count_images(target)
        if not counts[folder.name]:
            raise DataError(
                f"class folder '{target}' holds no images (files ending in {', '.join(IMAGE_EXTENSIONS)}); add its "
                f"images, or remove the empty folder (rmdir '{target}'), then rerun: dynvision run"
            )
        os.symlink(target.resolve(), out / folder.name, target_is_directory=True)
    if not counts:
        raise DataError(
            f"'{src}' has no class folders (expected <class>/<images>, or images/ + val_annotations.txt); put one "
            "folder per class with its images in it, then rerun: dynvision run"
        )
    return counts


def link_folder_dataset(source: FolderSource | str, root: str | os.PathLike[str]) -> Path:
    """Make ``<root>/<name>/<split>/<class>`` symlinks into a folder dataset; idempotent and atomic.

    A second call for the same source returns at once; a tree made from another path or split mapping raises
    ``ValueError`` and is never overwritten.
    """
    if isinstance(source, str):
        source = get_folder_source(source)
    path = source.path.resolve()
    if not path.is_dir():
        raise FileNotFoundError(
            f"folder dataset {source.name!r}: '{path}' is not a directory; correct the path (in the workflow: "
            f"datasets.{source.name}.path), then rerun: dynvision run"
        )
    root = Path(root)
    target = root / source.name
    record: dict[str, Any] = {"source": str(path), "source_splits": dict(source.splits)}
    if target.exists():
        return _check_existing(target, record)
    index_file = source.class_index or (path / "words.txt" if (path / "words.txt").is_file() else None)
    index = read_class_index(index_file) if index_file is not None else {}

    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(make_temporary(root, source.name, folder=True)[1])
    try:
        counts = {}
        for split, folder in source.splits.items():
            src = path / folder
            if not src.is_dir():
                raise DataError(
                    f"split {split!r} of folder dataset {source.name!r}: '{src}' is not a directory; create it, or map "
                    f"the split to an existing folder of {path} (in the workflow: datasets.{source.name}.splits, e.g. "
                    "{train: train, test: val}), then rerun: dynvision run"
                )
            counts[split] = _link_split(src, tmp / split)
        classes_per_split = {split: sorted(per_class) for split, per_class in counts.items()}
        classes = sorted(set().union(*classes_per_split.values()))
        missing = [c for c in classes if index and c not in index]
        if missing:
            raise ValueError(f"Class index {index_file} has no entry for classes {missing[:10]} of {path}.")
        marker = {
            "format_version": 1, "name": source.name, "kind": "folder", "split": "official", "params": {},
            "classes": classes, "classes_per_split": classes_per_split,
            "class_names": {c: index[c] for c in classes} if index else {},
            "class_index": None if index_file is None else str(index_file), **record,
            "counts": {
                split: {"total": sum(per_class.values()), "per_class": per_class} for split, per_class in counts.items()
            },
        }
        atomic_write_json(tmp / "dataset.json", marker)
        try:
            os.rename(tmp, target)
        except OSError:
            if (target / "dataset.json").exists():
                shutil.rmtree(tmp, ignore_errors=True)
                return _check_existing(target, record)
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # removes our symlinks only, never their targets
        raise
    return target


def _check_existing(target: Path, record: dict[str, Any]) -> Path:
    marker_path = target / "dataset.json"
    if not marker_path.is_file():
        raise FileExistsError(f"{target} exists but has no dataset.json marker; it is never overwritten. "
                              "Remove it or choose another root.")
    marker = read_json(marker_path)
    recorded = {k: marker.get(k) for k in record}
    if json.loads(json.dumps(record)) != recorded:
        raise ValueError(f"{target} links {recorded}, but {record} was requested. It is never overwritten: use "
                         "another root, or delete the tree (only symlinks) to rebuild it.")
    return target
