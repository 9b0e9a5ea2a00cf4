"""Seeded synthetic stimuli with parametric classes, generated in memory (no download).

* ``gratings``: full-contrast sinusoidal gratings whose class is the orientation; phase is random, spatial
  frequency and orientation are jittered, so only the orientation carries the label.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._util import check_int
from .registry import RawDataset, register_dataset

__all__ = ["GRATING_DEFAULTS", "make_gratings", "orientation_class_names"]

#: Parameters of the ``gratings`` dataset and their defaults (see :func:`make_gratings`).
GRATING_DEFAULTS: dict[str, Any] = {
    "n_classes": 8,
    "n_per_class": 100,
    "size": 32,
    "channels": 1,
    "cycles": 4.0,
    "cycles_jitter": 0.25,
    "orientation_jitter": 0.0,
    "contrast": 1.0,
    "noise": 0.0,
    "aperture": False,
    "seed": 0,
}


def orientation_class_names(n_classes: int) -> tuple[str, ...]:
    """Class names of ``n_classes`` orientations evenly spaced over [0, 180) degrees, e.g. ``"022.5deg"``.

    Zero-padded so that sorting the names (as class folders are sorted) keeps the orientation order.
    """
    n_classes = check_int("n_classes", n_classes, minimum=2)
    names = tuple(f"{180.0 * k / n_classes:05.1f}deg" for k in range(n_classes))
    if len(set(names)) != n_classes:
        raise ValueError(f"n_classes={n_classes} gives orientations closer than 0.1 degree; use at most 1800.")
    return names


def _number(name: str, value: Any, *, minimum: float = 0.0, maximum: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not minimum <= value <= maximum:
        raise ValueError(f"{name} must be a number in [{minimum}, {maximum}], got {value!r}.")
    return float(value)


def make_gratings(
    *,
    n_classes: int = 8,
    n_per_class: int = 100,
    size: int = 32,
    channels: int = 1,
    cycles: float = 4.0,
    cycles_jitter: float = 0.25,
    orientation_jitter: float = 0.0,
    contrast: float = 1.0,
    noise: float = 0.0,
    aperture: bool = False,
    seed: int = 0,
) -> RawDataset:
    """Oriented sinusoidal gratings; class ``k`` has orientation ``180 * k / n_classes`` degrees.

    The orientation is the direction in which luminance varies (the normal of the bars): 0 means vertical
    bars, 90 horizontal bars; angles grow counter-clockwise. Each image
    draws its own phase (uniform in [0, 2 pi)), spatial frequency (``cycles`` per image width, times a factor
    uniform in ``[1 - cycles_jitter, 1 + cycles_jitter]``) and orientation offset (uniform in
    ``+-orientation_jitter`` degrees). Pixels are ``0.5 + 0.5 * contrast * cos(...)`` plus Gaussian noise of
    standard deviation ``noise`` (both in [0, 1] units), clipped and rounded to uint8. With ``aperture``, a
    soft-edged circular window fades the grating into mean grey. Same parameters, same images.

    Args:
        n_classes: Number of orientations (>= 2).
        n_per_class: Images per orientation (>= 1).
        size: Height and width in pixels (>= 2).
        channels: 1 (grey) or 3 (the grey grating in every channel).
        cycles: Mean spatial frequency in cycles per image width (> 0).
        cycles_jitter: Relative frequency jitter in [0, 1).
        orientation_jitter: Orientation jitter in degrees, in [0, 90).
        contrast: Michelson contrast in [0, 1].
        noise: Standard deviation of additive pixel noise, in [0, 1] units.
        aperture: Show the grating through a circular window.
        seed: Seed of the random draws (integer >= 0).
    """
    n_classes = check_int("n_classes", n_classes, minimum=2)
    n_per_class = check_int("n_per_class", n_per_class, minimum=1)
    size = check_int("size", size, minimum=2)
    channels = check_int("channels", channels, minimum=1)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}.")
    seed = check_int("seed", seed, minimum=0)
    cycles = _number("cycles", cycles, minimum=1e-6)
    cycles_jitter = _number("cycles_jitter", cycles_jitter, maximum=0.999)
    orientation_jitter = _number("orientation_jitter", orientation_jitter, maximum=89.999)
    contrast = _number("contrast", contrast, maximum=1.0)
    noise = _number("noise", noise)
    if not isinstance(aperture, bool):
        raise TypeError(f"aperture must be True or False, got {aperture!r}.")
    classes = orientation_class_names(n_classes)

    rng = np.random.default_rng(seed)
    n = n_classes * n_per_class
    labels = np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)
    theta = np.deg2rad(180.0 * labels / n_classes + rng.uniform(-orientation_jitter, orientation_jitter, n))
    freq = cycles * rng.uniform(1.0 - cycles_jitter, 1.0 + cycles_jitter, n)
    phase = rng.uniform(0.0, 2.0 * np.pi, n)
    # Pixel centres in image-width units, origin at the centre, y pointing up.
    axis = (np.arange(size) - (size - 1) / 2.0) / size
    x, y = axis[None, :], -axis[:, None]
    window = None
    if aperture:
        radius = np.hypot(x, y) / 0.5
        window = np.clip((1.0 - radius) / 0.1, 0.0, 1.0)  # fades to grey over the outer 10% of the radius
    images = np.empty((n, size, size, channels), dtype=np.uint8)
    for start in range(0, n, 256):  # bounded float64 memory for large sizes
        sl = slice(start, min(start + 256, n))
        t, f, p = theta[sl, None, None], freq[sl, None, None], phase[sl, None, None]
        wave = np.cos(2.0 * np.pi * f * (x * np.cos(t) + y * np.sin(t)) + p)
        if window is not None:
            wave = wave * window
        values = 0.5 + 0.5 * contrast * wave
        if noise:
            values = values + rng.normal(0.0, noise, values.shape)
        images[sl] = np.rint(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)[..., None]
    return RawDataset(images, labels, classes)


@register_dataset(
    "gratings",
    description="Synthetic oriented sinusoidal gratings, classes = orientations (parametric, seeded)",
    image_shape=(GRATING_DEFAULTS["channels"], GRATING_DEFAULTS["size"], GRATING_DEFAULTS["size"]),
    license="Generated by dynvision-data (no third-party content)",
    params=GRATING_DEFAULTS,
)
def _load_gratings(cache_dir: Any, **params: Any) -> RawDataset:
    return make_gratings(**params)
