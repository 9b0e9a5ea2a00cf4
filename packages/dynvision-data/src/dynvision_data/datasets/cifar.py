"""Reading the official CIFAR-10 / CIFAR-100 "python version" archives without torchvision."""

from __future__ import annotations

import os
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["read_cifar"]

_LAYOUT = {
    # variant: (folder in the archive, train members, test members, meta member, label key, names key)
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "batches.meta",
                b"labels", b"label_names"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "meta", b"fine_labels", b"fine_label_names"),
    "cifar100-coarse": ("cifar-100-python", ["train"], ["test"], "meta", b"coarse_labels", b"coarse_label_names"),
}


def read_cifar(
    archive: str | os.PathLike[str], variant: str = "cifar10"
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], int]:
    """Read a CIFAR ``*-python.tar.gz`` archive.

    Args:
        archive: ``cifar-10-python.tar.gz`` or ``cifar-100-python.tar.gz``. **Its checksum must have been verified
            first**: the members are Python pickles, and unpickling runs code chosen by whoever made the file.
        variant: ``"cifar10"``, ``"cifar100"`` (the 100 fine labels) or ``"cifar100-coarse"`` (the 20 superclasses).

    Returns:
        ``(images, labels, classes, n_train)``: uint8 ``(N, 32, 32, 3)`` with the official training images first
        and the test images after them, int64 labels, the class names from the archive's meta file, and the
        number of training images.
    """
    archive = Path(archive)
    try:
        folder, train, test, meta_name, label_key, names_key = _LAYOUT[variant]
    except KeyError:
        raise ValueError(f"variant must be one of {sorted(_LAYOUT)}, got {variant!r}.") from None
    try:
        with tarfile.open(archive, "r:gz") as tar:

            def load(member: str) -> dict[bytes, Any]:
                try:
                    handle = tar.extractfile(f"{folder}/{member}")
                except KeyError:
                    handle = None
                if handle is None:
                    raise ValueError(
                        f"{archive} has no member {folder}/{member}: it is not the official {variant} archive."
                    )
                # Safe only because fetch_file() verified the archive's official checksum before we get here.
                return pickle.load(handle, encoding="bytes")

            meta = load(meta_name)
            parts = [load(member) for member in train + test]
    except (EOFError, tarfile.TarError, zlib.error, OSError) as error:
        raise ValueError(
            f"{archive} is not a readable tar.gz archive ({error}): it is truncated or corrupt. Delete it and download "
            "it again."
        ) from error
    images = np.concatenate([np.asarray(p[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32) for p in parts])
    labels = np.concatenate([np.asarray(p[label_key], dtype=np.int64) for p in parts])
    classes = tuple(name.decode("utf-8") if isinstance(name, bytes) else str(name) for name in meta[names_key])
    n_train = sum(len(p[label_key]) for p in parts[: len(train)])
    if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
        raise ValueError(f"{archive} has labels outside 0..{len(classes) - 1}: it is corrupt.")
    # Rows are stored as 1024 red, 1024 green, 1024 blue values: channels first, move them last.
    return np.ascontiguousarray(images.transpose(0, 2, 3, 1)), labels, classes, n_train
