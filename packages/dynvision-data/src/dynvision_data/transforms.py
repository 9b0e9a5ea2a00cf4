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

    Applied in this order: a random resized crop (if ``crop_scale`` is set), then flip and translation.

    Attributes:
        flip: Mirror each image left-right with probability 0.5. Leave off for digits and text.
        translate: Shift each image by a random whole number of pixels in ``[-translate, translate]`` along
            each axis; pixels shifted in take the value ``fill``. 0 switches it off.
        fill: uint8 value (0..255) of pixels shifted in; 0 = black, the background of digit images.
        crop_scale: Random resized crop: each image is cut to a random box covering a fraction of its area
            drawn uniformly from ``(low, high)`` (e.g. ``(0.35, 1.0)``; the ImageNet recipe uses
            ``(0.08, 1.0)``), whose width/height ratio is drawn log-uniformly from ``crop_ratio``, placed
            uniformly inside the image, and scaled back to the image's size (bilinear). A side that would not
            fit is cut to the image's side (the box's area and aspect ratio then differ from the draw). ``None`` (default) switches it off.
        crop_ratio: ``(low, high)`` range of the crop box's aspect ratio (width / height), default
            ``(3/4, 4/3)``.
    """

    flip: bool = False
    translate: int = 0
    fill: int = 0
    crop_scale: tuple[float, float] | None = None
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)

    def __post_init__(self) -> None:
        check_int("translate", self.translate, minimum=0)
        check_int("fill", self.fill, minimum=0)
        if self.fill > 255:
            raise ValueError(f"fill is a uint8 pixel value 0..255, got {self.fill}.")
        if self.crop_scale is not None:
            object.__setattr__(self, "crop_scale", _check_range("crop_scale", self.crop_scale, upper=1.0))
        object.__setattr__(self, "crop_ratio", _check_range("crop_ratio", self.crop_ratio, upper=None))

    @property
    def active(self) -> bool:
        """Whether this augmentation changes anything."""
        return self.flip or self.translate > 0 or self.crop_scale is not None

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return a new augmented uint8 batch ``(B, C, H, W)``; ``images`` is not modified."""
        if not self.active:
            return images.clone()
        if self.crop_scale is not None:
            images = self._resized_crop(images, generator)
        if not (self.flip or self.translate):
            return images
        batch, channels, height, width = images.shape
        pad = self.translate
        # One gather does flip and shift together: each output pixel reads one pixel of the padded input.
        padded = F.pad(images, (pad, pad, pad, pad), value=self.fill) if pad else images
        padded_width = width + 2 * pad
        dy = torch.randint(0, 2 * pad + 1, (batch,), generator=generator)
        dx = torch.randint(0, 2 * pad + 1, (batch,), generator=generator)
        flips = (
            torch.rand(batch, generator=generator) < 0.5
            if self.flip
            else torch.zeros(batch, dtype=torch.bool)
        )
        rows = torch.arange(height)[:, None] * padded_width
        cols = torch.arange(width)[None, :]
        base = (rows + cols).reshape(-1)
        base_flipped = (rows + (width - 1 - cols)).reshape(-1)
        index = torch.where(flips[:, None], base_flipped, base) + (dy * padded_width + dx)[:, None]
        index = index.to(images.device)[:, None, :].expand(batch, channels, height * width)
        out = padded.reshape(batch, channels, -1).gather(2, index)
        return out.reshape(batch, channels, height, width)

    def crop_boxes(self, batch: int, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
        """Draw ``batch`` crop boxes as float64 ``(batch, 4)`` rows ``(top, left, box height, box width)``, in
        fractions of the image's height and width (the draws :meth:`__call__` makes, in the same order)."""
        assert self.crop_scale is not None
        low, high = self.crop_scale
        area = low + (high - low) * torch.rand(batch, generator=generator, dtype=torch.float64)
        log_low, log_high = np.log(self.crop_ratio[0]), np.log(self.crop_ratio[1])
        ratio = torch.exp(
            log_low + (log_high - log_low) * torch.rand(batch, generator=generator, dtype=torch.float64)
        )
        # A box of pixel aspect ratio r and area a * H * W: w = sqrt(a * r * H / W), h = sqrt(a * W / (r * H)).
        box_width = torch.sqrt(area * ratio * height / width).clamp(max=1.0)
        box_height = torch.sqrt(area * width / (ratio * height)).clamp(max=1.0)
        top = (1.0 - box_height) * torch.rand(batch, generator=generator, dtype=torch.float64)
        left = (1.0 - box_width) * torch.rand(batch, generator=generator, dtype=torch.float64)
        return torch.stack([top, left, box_height, box_width], dim=1)

    def _resized_crop(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch, _, height, width = images.shape
        top, left, box_height, box_width = self.crop_boxes(batch, height, width, generator).unbind(1)
        # One batched bilinear resampling. The sampling grid (grid_sample's coordinates, -1..1 across the input)
        # maps output pixel centres linearly onto the box; built per axis, as a box has no rotation.
        ys = _box_coordinates(top, box_height, height)[:, :, None].expand(batch, height, width)
        xs = _box_coordinates(left, box_width, width)[:, None, :].expand(batch, height, width)
        grid = torch.stack([xs, ys], dim=-1).to(images.device)
        pixels = F.grid_sample(
            images.to(torch.float32), grid, mode="bilinear", padding_mode="border", align_corners=False
        )
        return pixels.round_().clamp_(0, 255).to(torch.uint8)


def _box_coordinates(start: torch.Tensor, size: torch.Tensor, n: int) -> torch.Tensor:
    """float32 ``(B, n)``: where output pixel centre ``j`` of ``n`` samples a box ``[start, start + size]`` (fractions
    of the image), in grid_sample's input coordinates (-1 and 1 at the image's outer edges)."""
    centres = (2 * torch.arange(n, dtype=torch.float64) + 1) / n - 1  # output pixel centres, -1..1
    return (size[:, None] * centres + (2 * start + size - 1)[:, None]).to(torch.float32)


def _check_range(name: str, value: tuple[float, float], *, upper: float | None) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high) of numbers, got {value!r}.") from None
    if not 0 < low <= high or (upper is not None and high > upper):
        allowed = f"0 < low <= high <= {upper}" if upper is not None else "0 < low <= high"
        raise ValueError(f"{name} must satisfy {allowed}, got {value!r}.")
    return low, high


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
