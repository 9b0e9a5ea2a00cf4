"""Shared fixtures: small class folders of random PNGs, one real ``digits`` tree, the session's .beton files.

FFCV notes: every ``.beton`` of the session is written by the session fixture :func:`betons` (in a fresh
writer process) before any FFCV ``Loader`` exists; tests that read them share module-scoped loaders because
each new loader JIT-compiles on its first epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dynvision_data as dd

#: Class names written in a non-sorted order, so that tests see the sorting.
CLASSES = ("emu", "cat", "dog")
#: Images per class of the shared class folder.
PER_CLASS = 40
#: (C, H, W) of the shared class folder's images.
IMAGE_SHAPE = (3, 8, 8)
#: Train/val split of the shared .beton files.
VAL_FRACTION, SPLIT_SEED = 0.25, 3


def write_class_folder(
    root: Path,
    *,
    classes: Sequence[str] = CLASSES,
    per_class: int | Sequence[int] = PER_CLASS,
    shape: tuple[int, int, int] = IMAGE_SHAPE,
    seed: int = 0,
) -> Path:
    """Write random uint8 PNGs ``<root>/<class>/<i:03d>.png`` (grey for C=1, RGB for C=3); return ``root``."""
    rng = np.random.default_rng(seed)
    counts = [per_class] * len(classes) if isinstance(per_class, int) else list(per_class)
    channels, height, width = shape
    for name, count in zip(classes, counts, strict=True):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
            save_png(pixels, root / name / f"{i:03d}.png")
    return root


def save_png(pixels: np.ndarray, path: Path) -> None:
    """Save uint8 ``(H, W, C)`` (C = 1 or 3) or ``(H, W)`` pixels as PNG."""
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    Image.fromarray(np.ascontiguousarray(pixels)).save(path)


@pytest.fixture
def make_class_folder(tmp_path: Path) -> Callable[..., Path]:
    """Factory of class folders under this test's ``tmp_path``: ``make_class_folder(name="cf", **kwargs)``."""

    def make(name: str = "cf", **kwargs) -> Path:
        return write_class_folder(tmp_path / name, **kwargs)

    return make


@pytest.fixture(scope="session")
def class_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared, read-only class folder: 3 classes x 40 random RGB 8x8 images. Never modify it in a test."""
    return write_class_folder(tmp_path_factory.mktemp("shared") / "train")


@pytest.fixture(scope="session")
def digits_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real ``digits`` dataset materialised once (1,797 8x8 grey PNGs, seed 0, test_fraction 0.2)."""
    return dd.materialize_dataset("digits", tmp_path_factory.mktemp("datasets"))


#: (C, H, W) of the large class folders whose betons are JPEG-encoded (above the 64-pixel threshold).
LARGE_SHAPE = (3, 72, 80)


def write_smooth_class_folder(root: Path, *, classes: Sequence[str], per_class: int, shape: tuple[int, int, int]) -> Path:
    """Smooth random images (sums of low-frequency waves) ``<root>/<class>/<i:03d>.png``: JPEG keeps them well."""
    rng = np.random.default_rng(7)
    channels, height, width = shape
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = np.empty((height, width, channels))
            for c in range(channels):
                fx, fy, phase = rng.uniform(0.5, 2.5), rng.uniform(0.5, 2.5), rng.uniform(0, 2 * np.pi)
                pixels[..., c] = 128 + 100 * np.sin(2 * np.pi * (fx * x + fy * y) + phase)
            save_png(np.rint(pixels).astype(np.uint8), root / name / f"{i:03d}.png")
    return root


@dataclass(frozen=True)
class Betons:
    class_dir: Path
    train: Path
    val: Path
    train_meta: dd.BetonMetadata
    val_meta: dd.BetonMetadata


@pytest.fixture(scope="session")
def all_betons(
    class_folder: Path, digits_tree: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Betons]:
    """Every .beton of the session, written together before any FFCV loader exists (see module docstring)."""
    written = {}
    large = tmp_path_factory.mktemp("large")
    jpeg_rgb = write_smooth_class_folder(large / "rgb", classes=("b", "a"), per_class=12, shape=LARGE_SHAPE)
    jpeg_grey = write_smooth_class_folder(large / "grey", classes=("x", "y"), per_class=6, shape=(1, 66, 66))
    for name, class_dir in (
        ("rgb", class_folder),
        ("digits", digits_tree / "train"),
        ("jpeg", jpeg_rgb),  # encoding="auto" picks JPEG above 64 pixels
        ("jpeg-grey", jpeg_grey),
    ):
        out = tmp_path_factory.mktemp(f"betons-{name}")
        train_meta, val_meta = dd.write_betons(
            class_dir, out / "train.beton", out / "val.beton", val_fraction=VAL_FRACTION, seed=SPLIT_SEED
        )
        written[name] = Betons(class_dir.resolve(), out / "train.beton", out / "val.beton", train_meta, val_meta)
    return written


@pytest.fixture(scope="session")
def betons(all_betons: dict[str, Betons]) -> Betons:
    """train/val .beton files of :func:`class_folder` (val_fraction 0.25, split seed 3)."""
    return all_betons["rgb"]


@pytest.fixture(scope="session")
def jpeg_betons(all_betons: dict[str, Betons]) -> Betons:
    """JPEG-encoded train/val .beton files of a smooth RGB 72x80 class folder (2 classes x 12)."""
    return all_betons["jpeg"]


@pytest.fixture(scope="session")
def jpeg_grey_betons(all_betons: dict[str, Betons]) -> Betons:
    """JPEG-encoded train/val .beton files of a smooth grey 66x66 class folder (2 classes x 6)."""
    return all_betons["jpeg-grey"]


@pytest.fixture(scope="session")
def digits_betons(all_betons: dict[str, Betons]) -> Betons:
    """train/val .beton files of the grey ``digits`` training folder (val_fraction 0.25, split seed 3)."""
    return all_betons["digits"]
