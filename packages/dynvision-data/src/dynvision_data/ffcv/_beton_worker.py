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
    """Indexable ``(image, label int)`` pairs over memory-mapped ``(N, C, H, W)`` uint8 arrays.

    ``hwc_rgb``: give images as ``(H, W, 3)`` (grey repeated in every channel), as ``RGBImageField`` wants;
    otherwise as stored, ``(C, H, W)``.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, hwc_rgb: bool = False) -> None:
        self.images = images
        self.labels = labels
        self.hwc_rgb = hwc_rgb

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        image = self.images[index]
        if self.hwc_rgb:
            image = np.repeat(image, 3, axis=0) if image.shape[0] == 1 else image
            image = image.transpose(1, 2, 0)
        return np.ascontiguousarray(image), int(self.labels[index])


def main(spec_path: str) -> None:
    from ffcv.fields import IntField, NDArrayField, RGBImageField
    from ffcv.writer import DatasetWriter

    with open(spec_path, encoding="utf-8") as handle:
        spec = json.load(handle)
    for job in spec["jobs"]:
        images = np.load(job["images"], mmap_mode="r")
        labels = np.load(job["labels"])
        jpeg = spec.get("encoding") == "jpeg"
        if jpeg:
            # Every image JPEG-compressed at its stored size (no resizing here: max_resolution=None; with
            # write_betons(resolution=N) the arrays already hold the resized N x N images).
            image_field = RGBImageField(write_mode="jpg", jpeg_quality=spec["jpeg_quality"])
        else:
            image_field = NDArrayField(np.dtype("uint8"), tuple(images.shape[1:]))
        fields = {"image": image_field, "label": IntField()}
        writer = DatasetWriter(job["out"], fields, page_size=spec["page_size"], num_workers=spec["num_workers"])
        writer.from_indexed_dataset(_Arrays(images, labels, hwc_rgb=jpeg), chunksize=spec["chunksize"])


if __name__ == "__main__":
    main(sys.argv[1])
