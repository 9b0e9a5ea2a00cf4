"""The JSON sidecar ``<file>.beton.json`` that describes a ``.beton`` written by :func:`write_betons`,
and a structural check of ``.beton`` files that needs no ``ffcv`` import."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .._util import read_json
from ..errors import DataError
from ..integrity import BETON_ALLOC_ENTRY, BETON_HEADER, beton_header_problem, metadata_path
from ..stats import Stats

__all__ = [
    "BetonMetadata",
    "CorruptBetonError",
    "beton_class_dir",
    "metadata_path",
    "read_beton_metadata",
    "rebuild_advice",
    "relative_class_dir",
    "validate_beton",
]

_FORMAT_VERSION = 1


class CorruptBetonError(DataError):
    """A ``.beton`` file (or its sidecar) is truncated, corrupt or does not match its metadata."""


def rebuild_advice(beton: str | os.PathLike[str]) -> str:
    """The fix for a bad ``.beton`` (or sidecar), as commands: delete the file and let the workflow write it again
    (or call :func:`~dynvision_data.ffcv.write_betons` again)."""
    return (
        f"delete it and rebuild it: rm -f '{beton}' && dynvision run (outside the workflow: call write_betons() "
        "again)"
    )


@dataclass(frozen=True)
class BetonMetadata:
    """What :func:`write_betons` recorded about one ``.beton`` file.

    Attributes:
        role: ``"train"`` or ``"val"``: which part of the split this file holds.
        class_dir: The class folder the file was written from, relative to the folder of the ``.beton`` (so that a
            copied or moved working directory still matches; older sidecars hold an absolute path, which is read
            as it is). :func:`beton_class_dir` gives the resolved path.
        classes: Class names; a label is a position in this list.
        image_shape: ``(C, H, W)`` of the stored uint8 images (``(C, N, N)`` with ``resolution=N``).
        count: Number of images in this file.
        counts: Images per role, e.g. ``{"train": 3600, "val": 400}``.
        val_fraction: Share of each class held out for validation.
        seed: Seed of the split (:func:`~dynvision_data.datasets.split_indices`).
        stats: Per-channel mean/std in [0, 1] units of the whole class folder (train and val parts).
        fingerprint: Fingerprint of the class folder when the file was written.
        encoding: How images are stored: ``"raw-uint8-chw"`` (an NDArrayField of the uint8 pixels, lossless) or
            ``"jpeg"`` (an RGBImageField of JPEG bytes at ``jpeg_quality``, lossy; grey images stored as RGB).
        beton_bytes: Size of the ``.beton`` file in bytes, to detect truncation or a stale sidecar.
        jpeg_quality: JPEG quality (1..100) for ``encoding="jpeg"``, else ``None``.
        resolution: The images were resized to shorter side ``N`` and centre-cropped to ``N x N``
            (``ClassFolderDataset(resolution=N)``), or ``None``: stored as in the class folder. The torch
            backend reads the class folder with this resolution. Sidecars written before it existed read as ``None``.
    """

    role: Literal["train", "val"]
    class_dir: str
    classes: tuple[str, ...]
    image_shape: tuple[int, int, int]
    count: int
    counts: dict[str, int]
    val_fraction: float
    seed: int
    stats: Stats
    fingerprint: str
    encoding: str
    beton_bytes: int
    jpeg_quality: int | None = None
    resolution: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(stats=self.stats.to_dict(), classes=list(self.classes), image_shape=list(self.image_shape))
        return {"format_version": _FORMAT_VERSION, **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BetonMetadata:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields.update(
            stats=Stats.from_dict(data["stats"]),
            classes=tuple(data["classes"]),
            image_shape=tuple(int(s) for s in data["image_shape"]),
        )
        return cls(**fields)


def relative_class_dir(class_dir: str | os.PathLike[str], beton: str | os.PathLike[str]) -> str:
    """``class_dir`` as a sidecar records it: relative to the folder of ``beton`` (both resolved first)."""
    return os.path.relpath(Path(class_dir).resolve(), Path(beton).resolve().parent)


def beton_class_dir(beton: str | os.PathLike[str], meta: BetonMetadata) -> Path:
    """The resolved class folder ``meta`` (the sidecar of ``beton``) was written from: a relative ``class_dir`` is
    taken from the folder of ``beton``; an absolute one (sidecars of older versions) as it is."""
    recorded = Path(meta.class_dir)
    if recorded.is_absolute():
        return recorded
    return (Path(beton).resolve().parent / recorded).resolve()


def read_beton_metadata(beton: str | os.PathLike[str]) -> BetonMetadata:
    """Read and check the sidecar of ``beton``; raise :class:`CorruptBetonError` if it is missing or stale."""
    beton = Path(beton)
    if not beton.is_file():
        raise FileNotFoundError(
            f"'{beton}' does not exist; build it: dynvision run (outside the workflow: dynvision_data.write_betons())"
        )
    sidecar = metadata_path(beton)
    if not sidecar.is_file():
        raise CorruptBetonError(
            f"'{beton}' has no metadata file {sidecar.name}: it was not written by write_betons() or the write was "
            f"interrupted; {rebuild_advice(beton)}"
        )
    try:
        meta = BetonMetadata.from_dict(read_json(sidecar))
    except (KeyError, TypeError, ValueError) as error:
        raise CorruptBetonError(f"metadata '{sidecar}' of '{beton}' is unreadable ({error}); {rebuild_advice(beton)}") from error
    size = beton.stat().st_size
    if size != meta.beton_bytes:
        raise CorruptBetonError(
            f"'{beton}' has {size} bytes but its metadata records {meta.beton_bytes}: the file is truncated, corrupt "
            f"or was replaced; {rebuild_advice(beton)}"
        )
    return meta


def validate_beton(beton: str | os.PathLike[str], expected_count: int | None = None) -> int:
    """Check the structure of a ``.beton`` file (header, allocation table) and return its number of samples.

    Reading a truncated file with FFCV can crash the process instead of raising, so every loader calls
    this first. Raises :class:`CorruptBetonError` naming the file and the commands that rebuild it.
    """
    beton = Path(beton)

    def corrupt(reason: str) -> CorruptBetonError:
        return CorruptBetonError(f"'{beton}' is not a valid .beton file: {reason}; {rebuild_advice(beton)}")

    problem = beton_header_problem(beton, expected_count)
    if problem is not None:
        raise corrupt(problem)
    header = np.fromfile(beton, dtype=BETON_HEADER, count=1)[0]
    table_at = int(header["alloc_table_ptr"])
    table = np.fromfile(beton, dtype=BETON_ALLOC_ENTRY, offset=table_at)
    if len(table) and int((table["ptr"] + table["size"]).max()) > table_at:
        raise corrupt("a sample's data lies past the allocation table (truncated or overwritten)")
    return int(header["num_samples"])
