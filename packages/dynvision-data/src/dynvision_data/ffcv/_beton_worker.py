"""Write ``.beton`` files from ``.npy`` arrays; run as a script in a fresh interpreter by ``write_betons``.

A fresh process has no threads, so FFCV's ``DatasetWriter`` can fork its workers safely (forking a process
that has live loader or OpenMP threads can deadlock), and the parent can put a timeout on the whole write.
This file imports only numpy and ffcv, never dynvision_data, to start quickly.
"""

from __future__ import annotations

import json
import sys

import numpy as np


class _Arrays:
    """Indexable ``(image (C, H, W) uint8, label int)`` pairs over memory-mapped arrays."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return np.ascontiguousarray(self.images[index]), int(self.labels[index])


def main(spec_path: str) -> None:
    from ffcv.fields import IntField, NDArrayField
    from ffcv.writer import DatasetWriter

    with open(spec_path, encoding="utf-8") as handle:
        spec = json.load(handle)
    for job in spec["jobs"]:
        images = np.load(job["images"], mmap_mode="r")
        labels = np.load(job["labels"])
        fields = {"image": NDArrayField(np.dtype("uint8"), tuple(images.shape[1:])), "label": IntField()}
        writer = DatasetWriter(job["out"], fields, page_size=spec["page_size"], num_workers=spec["num_workers"])
        writer.from_indexed_dataset(_Arrays(images, labels), chunksize=spec["chunksize"])


if __name__ == "__main__":
    main(sys.argv[1])
