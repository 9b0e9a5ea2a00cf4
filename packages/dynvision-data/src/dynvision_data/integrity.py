"""Cheap checks that data on disk still is what its marker records: a dataset's class folders against their image
counts, a class group's links, a ``.beton`` against its sidecar and header.

Torch-free and quick (directory listings, ``stat`` and a few header bytes, no image is opened), so that a workflow can
run them every time it starts and rebuild what no longer matches before any job reads it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BETON_ALLOC_ENTRY",
    "BETON_HEADER",
    "BETON_VERSION",
    "GROUP_READY",
    "IMAGE_EXTENSIONS",
    "beton_header_problem",
    "beton_problems",
    "count_images",
    "folder_times",
    "group_problems",
    "is_image_name",
    "metadata_path",
    "tree_problems",
]

#: File name endings read as images (lower case).
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".webp")

#: Marker written last inside a class group folder; its presence means the folder is complete.
GROUP_READY = ".ready"

# The .beton layout (FFCV file format version 2): a fixed header, then field descriptors, per-sample metadata and data
# pages, and an allocation table at ``alloc_table_ptr`` that runs to the end of the file.
BETON_HEADER = np.dtype(
    [("version", "<u2"), ("num_fields", "<u2"), ("page_size", "<u4"), ("num_samples", "<u8"), ("alloc_table_ptr", "<u8")],
    align=True,
)
BETON_ALLOC_ENTRY = np.dtype([("sample_id", "<u8"), ("ptr", "<u8"), ("size", "<u8")])
BETON_VERSION = 2


def is_image_name(name: str) -> bool:
    """Whether a file name is read as an image: a known ending (:data:`IMAGE_EXTENSIONS`), not hidden."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def count_images(folder: str | os.PathLike[str]) -> int:
    """Number of image files in ``folder`` (by name: :func:`is_image_name`; nothing is opened)."""
    with os.scandir(folder) as entries:
        return sum(1 for entry in entries if is_image_name(entry.name))


def folder_times(dataset_dir: str | os.PathLike[str], counts: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """Modification time (ns) of every class folder ``<dataset_dir>/<split>/<class>`` named in ``counts`` (the
    ``counts`` of a ``dataset.json``: ``{split: {"per_class": {class: n}}}``), following links.

    Adding or removing a file changes its folder's time, so :func:`tree_problems` counts the files of a folder only
    when its time differs from the recorded one.
    """
    root = Path(dataset_dir)
    return {
        split: {name: os.stat(root / split / name).st_mtime_ns for name in record["per_class"]}
        for split, record in counts.items()
    }


def tree_problems(
    dataset_dir: str | os.PathLike[str],
    counts: Mapping[str, Any],
    times: Mapping[str, Mapping[str, int]] | None = None,
) -> list[str]:
    """What no longer matches between a dataset's class folders and the image counts recorded for them.

    Args:
        dataset_dir: ``<root>/<name>`` with ``<split>/<class>/<images>``.
        counts: ``{split: {"per_class": {class: number of images}}}`` (as ``dataset.json`` records them).
        times: :func:`folder_times` when the counts were taken: a folder with its recorded time is not listed again.

    Returns:
        One line per difference (a missing folder, an extra class folder, another number of images); empty if all
        match.
    """
    root = Path(dataset_dir)
    if not root.is_dir():
        return [f"'{root}' is missing"]
    problems = []
    for split, record in counts.items():
        split_dir = root / split
        if not split_dir.is_dir():
            problems.append(f"'{split_dir}' is missing")
            continue
        expected: Mapping[str, int] = record["per_class"]
        with os.scandir(split_dir) as entries:
            present = {entry.name for entry in entries if not entry.name.startswith(".") and entry.is_dir()}
        extra = sorted(present - set(expected))
        if extra:
            problems.append(f"'{split_dir}' has class folders {extra} that were not there when it was prepared")
        recorded_times = (times or {}).get(split, {})
        for name, count in expected.items():
            folder = split_dir / name
            try:
                mtime = os.stat(folder).st_mtime_ns
            except OSError:  # gone, or a link whose target is gone
                problems.append(f"class folder '{folder}' is missing")
                continue
            if recorded_times.get(name) == mtime:
                continue
            found = count_images(folder)
            if found != count:
                problems.append(f"class folder '{folder}' holds {found} images, {count} when it was prepared")
    return problems


def group_problems(group_dir: str | os.PathLike[str]) -> list[str]:
    """What is wrong with a class group folder made by ``materialize_group``: a class link that is missing or no
    longer leads to a folder (the dataset's class folder was deleted or moved); empty if none."""
    group_dir = Path(group_dir)
    try:
        record = json.loads((group_dir / GROUP_READY).read_text(encoding="utf-8"))
        classes = [str(name) for name in record["classes"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        return [f"its marker '{group_dir / GROUP_READY}' is unreadable ({error})"]
    return [
        f"class '{name}' ('{group_dir / name}') no longer leads to a class folder"
        for name in classes
        if not (group_dir / name).is_dir()
    ]


def metadata_path(beton: str | os.PathLike[str]) -> Path:
    """Sidecar path of a ``.beton``: the file name with ``.json`` appended."""
    beton = Path(beton)
    return beton.with_name(beton.name + ".json")


def beton_header_problem(beton: str | os.PathLike[str], expected_count: int | None = None) -> str | None:
    """What is wrong with the header of a ``.beton`` file (size, format version, where its allocation table lies,
    its number of samples), or ``None``; reads 24 bytes."""
    size = os.stat(beton).st_size
    if size < BETON_HEADER.itemsize:
        return f"only {size} bytes, shorter than the {BETON_HEADER.itemsize}-byte header"
    header = np.fromfile(beton, dtype=BETON_HEADER, count=1)[0]
    if int(header["version"]) != BETON_VERSION:
        return f"format version {int(header['version'])}, expected {BETON_VERSION}"
    table_at, n_samples = int(header["alloc_table_ptr"]), int(header["num_samples"])
    if table_at == 0 or table_at > size or (size - table_at) % BETON_ALLOC_ENTRY.itemsize:
        return f"allocation table at byte {table_at} does not fit a file of {size} bytes (truncated?)"
    if (size - table_at) // BETON_ALLOC_ENTRY.itemsize < n_samples:
        return f"{(size - table_at) // BETON_ALLOC_ENTRY.itemsize} allocation entries for {n_samples} samples (truncated?)"
    if expected_count is not None and n_samples != expected_count:
        return f"{n_samples} samples, but its metadata records {expected_count}"
    return None


def beton_problems(beton: str | os.PathLike[str]) -> list[str]:
    """What no longer matches between a ``.beton`` file, its sidecar ``<file>.json`` (size, number of samples) and its
    header (:func:`beton_header_problem`); empty if all match. Reads the sidecar and 24 bytes of the file."""
    beton = Path(beton)
    sidecar = metadata_path(beton)
    if not beton.is_file():
        return [f"'{beton}' is missing"]
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
        recorded_bytes, count = int(record["beton_bytes"]), int(record["count"])
    except FileNotFoundError:
        return [f"'{beton}' has no metadata file '{sidecar.name}'"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        return [f"its metadata '{sidecar}' is unreadable ({error})"]
    size = beton.stat().st_size
    if size != recorded_bytes:
        return [f"'{beton}' has {size} bytes, but its metadata records {recorded_bytes} (truncated or replaced)"]
    problem = beton_header_problem(beton, count)
    return [] if problem is None else [f"'{beton}' is not a valid .beton file: {problem}"]
