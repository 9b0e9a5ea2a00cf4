"""Batched image transforms in plain torch, shared by the FFCV and torch backends.

Both backends decode uint8 batches ``(B, C, H, W)`` (values 0..255) and pass them through the same
:class:`BatchTransform`, so augmentation and normalisation are identical whichever backend reads the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ._util import check_int
from .stats import Stats

__all__ = ["Augmentation", "BatchTransform", "epoch_generator", "normalize"]


@dataclass(frozen=True)
class Augmentation:
    """Random training augmentation of uint8 batches, drawn per image.

    Attributes:
        flip: Mirror each image left-right with probability 0.5. Leave off for digits and text.
        translate: Shift each image by a random whole number of pixels in ``[-translate, translate]`` along
            each axis; pixels shifted in take the value ``fill``. 0 switches it off.
        fill: uint8 value (0..255) of pixels shifted in; 0 = black, the background of digit images.
    """

    flip: bool = False
    translate: int = 0
    fill: int = 0

    def __post_init__(self) -> None:
        check_int("translate", self.translate, minimum=0)
        check_int("fill", self.fill, minimum=0)
        if self.fill > 255:
            raise ValueError(f"fill is a uint8 pixel value 0..255, got {self.fill}.")

    @property
    def active(self) -> bool:
        """Whether this augmentation changes anything."""
        return self.flip or self.translate > 0

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return a new augmented uint8 batch ``(B, C, H, W)``; ``images`` is not modified."""
        if not self.active:
            return images.clone()
        batch, channels, height, width = images.shape
        pad = self.translate
        # One gather does flip and shift together: each output pixel reads one pixel of the padded input.
        padded = F.pad(images, (pad, pad, pad, pad), value=self.fill) if pad else images
        padded_width = width + 2 * pad
        dy = torch.randint(0, 2 * pad + 1, (batch,), generator=generator)
        dx = torch.randint(0, 2 * pad + 1, (batch,), generator=generator)
        flips = torch.rand(batch, generator=generator) < 0.5 if self.flip else torch.zeros(batch, dtype=torch.bool)
        rows = torch.arange(height)[:, None] * padded_width
        cols = torch.arange(width)[None, :]
        base = (rows + cols).reshape(-1)
        base_flipped = (rows + (width - 1 - cols)).reshape(-1)
        index = torch.where(flips[:, None], base_flipped, base) + (dy * padded_width + dx)[:, None]
        index = index.to(images.device)[:, None, :].expand(batch, channels, height * width)
        out = padded.reshape(batch, channels, -1).gather(2, index)
        return out.reshape(batch, channels, height, width)


def normalize(images: torch.Tensor, stats: Stats) -> torch.Tensor:
    """Convert uint8 pixels (0..255) to float32 ``(p / 255 - mean) / std`` per channel, in a new tensor."""
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise TypeError(f"normalize expects uint8 (B, C, H, W), got {images.dtype} {tuple(images.shape)}.")
    if images.shape[1] != len(stats.mean):
        raise ValueError(
            f"Images have {images.shape[1]} channel(s) but the statistics have {len(stats.mean)}; "
            "use the statistics of the dataset these images come from."
        )
    mean = torch.tensor(stats.mean, dtype=torch.float64)
    std = torch.tensor(stats.std, dtype=torch.float64)
    scale = (1.0 / (255.0 * std)).to(torch.float32).view(1, -1, 1, 1).to(images.device)
    shift = (mean / std).to(torch.float32).view(1, -1, 1, 1).to(images.device)
    return images.to(torch.float32).mul_(scale).sub_(shift)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """CPU generator for the augmentation of one epoch, seeded from ``(seed, epoch)`` independently of each other."""
    state = np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


@dataclass(frozen=True)
class BatchTransform:
    """Optional augmentation followed by normalisation: uint8 ``(B, C, H, W)`` to float32 ``(B, C, H, W)``."""

    stats: Stats
    augmentation: Augmentation | None = None

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if self.augmentation is not None and self.augmentation.active:
            if generator is None:
                raise ValueError("An active augmentation needs a generator (see epoch_generator).")
            images = self.augmentation(images, generator)
        return normalize(images, self.stats)
