"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 from their official archives (downloaded, checksum-verified).

The archives are fetched with :func:`~dynvision_data.datasets.downloads.fetch_file` into the download cache
``<root>/.downloads/<dataset>/`` and parsed here without torchvision; the official train/test split is kept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .cifar import read_cifar
from .downloads import fetch_file
from .idx import read_idx
from .registry import RawDataset, register_dataset

__all__ = ["FASHION_MNIST_CLASSES"]

#: Fashion-MNIST's official class names, with "/" (not allowed in folder names) written as "_": "T-shirt_top".
FASHION_MNIST_CLASSES = (
    "T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
_DIGITS = tuple(str(d) for d in range(10))


def _check_classes(classes: tuple[str, ...], source: str) -> tuple[str, ...]:
    cleaned = tuple(c.replace("/", "_").replace("\\", "_") for c in classes)
    if len(set(cleaned)) != len(cleaned) or any(c in ("", ".", "..") or c.startswith(".") for c in cleaned):
        raise ValueError(f"Class names {list(classes)} of {source} cannot all be folder names.")
    return cleaned


def _idx_dataset(dataset: str, cache_dir: Path, classes: tuple[str, ...]) -> RawDataset:
    parts = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images_path = fetch_file(dataset, f"{prefix}-images-idx3-ubyte.gz", cache_dir)
        labels_path = fetch_file(dataset, f"{prefix}-labels-idx1-ubyte.gz", cache_dir)
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.dtype != np.uint8 or images.ndim != 3 or labels.dtype != np.uint8 or labels.ndim != 1:
            raise ValueError(
                f"{images_path.name} / {labels_path.name} of {dataset} have shapes {images.shape} ({images.dtype}) and "
                f"{labels.shape} ({labels.dtype}); expected uint8 (N, H, W) images and (N,) labels."
            )
        if len(images) != len(labels):
            raise ValueError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels.")
        if labels.size and labels.max() >= len(classes):
            raise ValueError(f"{labels_path} has label {int(labels.max())}; {dataset} has {len(classes)} classes.")
        parts[split] = (images, labels.astype(np.int64))
    n_train = len(parts["train"][1])
    images = np.concatenate([parts["train"][0], parts["test"][0]])[..., None]
    labels = np.concatenate([parts["train"][1], parts["test"][1]])
    splits = {"train": np.arange(n_train), "test": np.arange(n_train, len(labels))}
    return RawDataset(images, labels, classes, splits)


def _cifar_dataset(variant: str, cache_dir: Path) -> RawDataset:
    dataset = "cifar10" if variant == "cifar10" else "cifar100"
    filename = "cifar-10-python.tar.gz" if variant == "cifar10" else "cifar-100-python.tar.gz"
    # Both CIFAR-100 label sets come from one archive: share its download cache.
    archive = fetch_file(dataset, filename, cache_dir.parent / dataset)
    images, labels, classes, n_train = read_cifar(archive, variant)
    splits = {"train": np.arange(n_train), "test": np.arange(n_train, len(labels))}
    return RawDataset(images, labels, _check_classes(classes, filename), splits)


@register_dataset(
    "mnist",
    description="MNIST handwritten digits (official IDX files): 60,000 train + 10,000 test, 28x28 grey",
    image_shape=(1, 28, 28),
    license="MNIST (LeCun, Cortes, Burges); usually credited CC BY-SA 3.0",
)
def _load_mnist(cache_dir: Path) -> RawDataset:
    return _idx_dataset("mnist", cache_dir, _DIGITS)


@register_dataset(
    "fashionmnist",
    description="Fashion-MNIST (official IDX files): 60,000 train + 10,000 test, 28x28 grey, 10 garment classes",
    image_shape=(1, 28, 28),
    license="MIT (Zalando Research)",
)
def _load_fashionmnist(cache_dir: Path) -> RawDataset:
    return _idx_dataset("fashionmnist", cache_dir, FASHION_MNIST_CLASSES)


@register_dataset(
    "cifar10",
    description="CIFAR-10 (official python archive): 50,000 train + 10,000 test, 32x32 RGB, 10 classes",
    image_shape=(3, 32, 32),
    license="CIFAR-10 (Krizhevsky 2009); no explicit licence, cite the tech report",
)
def _load_cifar10(cache_dir: Path) -> RawDataset:
    return _cifar_dataset("cifar10", cache_dir)


@register_dataset(
    "cifar100",
    description="CIFAR-100 (official python archive): 50,000 train + 10,000 test, 32x32 RGB, 100 fine classes",
    image_shape=(3, 32, 32),
    license="CIFAR-100 (Krizhevsky 2009); no explicit licence, cite the tech report",
)
def _load_cifar100(cache_dir: Path) -> RawDataset:
    return _cifar_dataset("cifar100", cache_dir)


@register_dataset(
    "cifar100-coarse",
    description="CIFAR-100 with its 20 coarse superclass labels (same archive and images as cifar100)",
    image_shape=(3, 32, 32),
    license="CIFAR-100 (Krizhevsky 2009); no explicit licence, cite the tech report",
)
def _load_cifar100_coarse(cache_dir: Path) -> RawDataset:
    return _cifar_dataset("cifar100-coarse", cache_dir)
