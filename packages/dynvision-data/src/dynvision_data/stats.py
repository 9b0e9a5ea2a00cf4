"""Per-channel pixel statistics of a class folder, computed from the images and cached as JSON."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._util import atomic_write_json, check_int, read_json
from .datasets.folder import ClassFolderDataset

__all__ = ["Stats", "compute_stats", "default_stats_path", "load_stats"]


@dataclass(frozen=True)
class Stats:
    """Per-channel mean and standard deviation of pixel values in [0, 1] units (pixel / 255).

    Normalisation maps a uint8 pixel ``p`` of channel ``c`` to ``(p / 255 - mean[c]) / std[c]``, so the dataset
    mean becomes 0.0 (a mean-grey screen) and one standard deviation becomes 1.0.

    Attributes:
        mean: One value per channel, in [0, 1].
        std: One value per channel (population standard deviation over all pixels of all images), > 0.
        count: Number of images the values were computed from.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    count: int

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std) or not self.mean:
            raise ValueError(f"mean and std need one value per channel, got mean={self.mean}, std={self.std}.")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std must be > 0 in every channel, got {self.std} (constant images cannot be normalised).")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (floats survive a JSON round trip exactly)."""
        return {"mean": list(self.mean), "std": list(self.std), "count": self.count, "pixel_range": "0-1"}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stats:
        """Inverse of :meth:`to_dict`."""
        return cls(tuple(float(m) for m in data["mean"]), tuple(float(s) for s in data["std"]), int(data["count"]))


def compute_stats(images: np.ndarray, *, chunk: int = 4096) -> Stats:
    """Per-channel mean/std of uint8 images ``(N, C, H, W)`` (values 0..255), in [0, 1] units.

    Sums are accumulated in float64 over chunks of ``chunk`` images, so memory stays bounded and the result
    does not depend on the order of chunks beyond float64 rounding.
    """
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(f"images must be a non-empty uint8 array (N, C, H, W), got {images.dtype} {images.shape}.")
    channels = images.shape[1]
    total = np.zeros(channels, dtype=np.float64)
    total_sq = np.zeros(channels, dtype=np.float64)
    for start in range(0, images.shape[0], chunk):
        block = images[start : start + chunk].astype(np.float64)
        total += block.sum(axis=(0, 2, 3))
        total_sq += np.square(block).sum(axis=(0, 2, 3))
    n_pixels = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / n_pixels
    var = np.maximum(total_sq / n_pixels - mean**2, 0.0)
    return Stats(
        tuple(float(m) / 255.0 for m in mean), tuple(float(np.sqrt(v)) / 255.0 for v in var), int(images.shape[0])
    )


def default_stats_path(class_dir: str | os.PathLike[str], resolution: int | None = None) -> Path:
    """Cache file of a class folder's statistics, beside the folder: ``<parent>/<folder name>.stats.json``, or
    ``<parent>/<folder name>.stats-<N>px.json`` for the images resized to ``resolution=N``."""
    class_dir = Path(class_dir)
    if class_dir.name in ("", ".."):  # "." or ".../..": name the folder itself, not the dot
        class_dir = Path(os.path.abspath(class_dir))
    suffix = "" if resolution is None else f"-{check_int('resolution', resolution, minimum=2)}px"
    return class_dir.with_name(f"{class_dir.name}.stats{suffix}.json")


def load_stats(
    class_dir: str | os.PathLike[str],
    *,
    cache: str | os.PathLike[str] | bool = True,
    images: np.ndarray | None = None,
    resolution: int | None = None,
) -> Stats:
    """Statistics of every image in a class folder, read from the cache if it matches the folder's content.

    Args:
        class_dir: The class folder (``<class_dir>/<class>/<image>``).
        cache: ``True`` for :func:`default_stats_path`, a path for another cache file, ``False`` to neither
            read nor write a cache. The cache records the folder's fingerprint (file names, sizes, times)
            and is recomputed when it differs.
        images: The folder's images, already decoded by :meth:`ClassFolderDataset.load_arrays` (saves a
            second decode); must be all images in dataset order, read with the same ``resolution``.
        resolution: ``None``: the images as stored (all must have one shape). ``N``: every image resized to
            shorter side ``N`` and centre-cropped to ``N x N``, as ``ClassFolderDataset(resolution=N)`` reads
            them (needed for trees of photos in many sizes). Each resolution has its own cache file
            (:func:`default_stats_path`), and the cache records it.
    """
    dataset = ClassFolderDataset(class_dir, resolution=resolution)
    fingerprint = dataset.fingerprint()
    if cache is True:
        cache_path: Path | None = default_stats_path(class_dir, dataset.resolution)
    else:
        cache_path = None if cache is False else Path(cache)
    if cache_path is not None and cache_path.is_file():
        cached = read_json(cache_path)
        # Caches written before resolution existed have no such key: they hold images as stored (None).
        if cached.get("fingerprint") == fingerprint and cached.get("resolution") == dataset.resolution:
            return Stats.from_dict(cached)
    if images is None:
        images, _ = dataset.load_arrays()
    elif images.shape[0] != len(dataset):
        raise ValueError(f"images holds {images.shape[0]} images but {class_dir} has {len(dataset)}.")
    elif tuple(images.shape[1:]) != tuple(dataset.image_shape):
        raise ValueError(
            f"images are {tuple(images.shape[1:])}, but {class_dir} with resolution={dataset.resolution} gives "
            f"{dataset.image_shape}; decode them with the same resolution."
        )
    stats = compute_stats(images)
    if cache_path is not None:
        record = {**stats.to_dict(), "fingerprint": fingerprint, "class_dir": str(class_dir)}
        if dataset.resolution is not None:  # the None cache keeps its old form
            record["resolution"] = dataset.resolution
        atomic_write_json(cache_path, record)
    return stats
