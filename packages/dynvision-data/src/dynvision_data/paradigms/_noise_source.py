"""Noise draws of the ``noise`` paradigm (see :mod:`dynvision_data.paradigms.noise` for the noise model).

Needs torch, so it is loaded when noisy frames are first rendered, not when a paradigm is built.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from .noise import NoiseParadigm

__all__ = ["NoiseSource"]

_ADDITIVE = frozenset({"uniform", "gaussian", "phasescrambled"})


class NoiseSource:
    """Per-batch noise parameters (from the images) and draws of one noise type."""

    def __init__(self, paradigm: NoiseParadigm, images: torch.Tensor, generator: torch.Generator) -> None:
        self.kind = paradigm.noise_type
        self.generator = generator
        self.rho = paradigm.tempcorr
        self.shape = images.shape
        ssnr = paradigm.ssnr
        signal_power = images.flatten(1).var(dim=1, unbiased=False)
        noise_power = signal_power if ssnr == 0 else signal_power * ((1.0 - ssnr) / ssnr)
        self.noise_power = noise_power.view(-1, 1, 1, 1)
        self.scale = self.noise_power.sqrt()
        if self.kind == "gaussian" and paradigm.spatialcorr > 0:
            self.kernel = _gaussian_kernel(paradigm.spatialcorr, min(images.shape[-2:]), images)
        else:
            self.kernel = None
        if self.kind == "phasescrambled":
            height, width = images.shape[-2:]
            if paradigm.alpha is None:
                centred = images - images.mean(dim=(-2, -1), keepdim=True)
                self.amplitude = torch.fft.rfft2(centred).abs()
            else:
                fy = torch.fft.fftfreq(height, device=images.device).view(-1, 1) * height
                fx = torch.fft.rfftfreq(width, device=images.device).view(1, -1) * width
                radial = (fy**2 + fx**2).sqrt()
                amplitude = radial.clamp_min(1e-12).pow(-paradigm.alpha)
                amplitude[0, 0] = 0.0
                self.amplitude = amplitude.to(images.dtype).expand(*images.shape[:2], -1, -1)
        if self.kind == "poisson":
            self.low = images.amin(dim=(1, 2, 3), keepdim=True)
            mean_intensity = (images - self.low).mean(dim=(1, 2, 3), keepdim=True)
            self.photons = torch.where(
                self.noise_power > 0, mean_intensity / self.noise_power.clamp_min(1e-30), 0.0
            )
        if self.kind == "saltpepper":
            self.high = images.amax(dim=(-2, -1), keepdim=True)
            self.low = images.amin(dim=(-2, -1), keepdim=True)
            spread = (((self.high - images) ** 2 + (self.low - images) ** 2) / 2).mean(
                dim=(1, 2, 3), keepdim=True
            )
            self.fraction = (self.noise_power / spread.clamp_min(1e-30)).clamp(0.0, 1.0)

    def draw(self, base: torch.Tensor) -> torch.Tensor:
        """A fresh noise state: unit-power field (additive), deviation (poisson) or code (saltpepper)."""
        batch, _, height, width = self.shape
        g, dtype, device = self.generator, base.dtype, base.device
        if self.kind == "uniform":
            return (torch.rand(self.shape, generator=g, dtype=dtype, device=device) * 2 - 1) * math.sqrt(3.0)
        if self.kind == "gaussian":
            field = torch.randn(self.shape, generator=g, dtype=dtype, device=device)
            return field if self.kernel is None else _smooth(field, self.kernel)
        if self.kind == "phasescrambled":
            white = torch.randn((batch, 1, height, width), generator=g, dtype=dtype, device=device)
            spectrum = torch.fft.rfft2(white)
            phase = spectrum / spectrum.abs().clamp_min(1e-30)
            field = torch.fft.irfft2(self.amplitude * phase, s=(height, width))
            power = field.pow(2).mean(dim=(1, 2, 3), keepdim=True)
            return field / power.sqrt().clamp_min(1e-30)
        if self.kind == "poisson":
            intensity = (base - self.low).clamp_min(0.0)
            rate = intensity * self.photons
            counts = torch.poisson(rate, generator=g)
            return torch.where(self.photons > 0, counts / self.photons.clamp_min(1e-30) - intensity, 0.0)
        # saltpepper: +1 salt, -1 pepper, 0 untouched, per pixel position
        u = torch.rand((batch, 1, height, width), generator=g, dtype=dtype, device=device)
        half = self.fraction / 2
        return (u < half).to(dtype) - ((u >= half) & (u < self.fraction)).to(dtype)

    def continue_(self, previous: torch.Tensor, fresh: torch.Tensor) -> torch.Tensor:
        """The next state of the ``correlated`` process (lag-1 correlation ``rho``)."""
        if self.kind in _ADDITIVE:
            return previous * self.rho + fresh * math.sqrt(1.0 - self.rho**2)
        keep = (
            torch.rand(previous.shape, generator=self.generator, dtype=fresh.dtype, device=fresh.device)
            < self.rho
        )
        return torch.where(keep, previous, fresh)

    def apply(self, state: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        """The noisy frame ``(B, C, H, W)`` for ``base`` (image or blank)."""
        if self.kind in _ADDITIVE:
            return base + state * self.scale
        if self.kind == "poisson":
            return base + state
        return torch.where(state > 0, self.high, torch.where(state < 0, self.low, base))


def _gaussian_kernel(sigma: float, size: int, like: torch.Tensor) -> torch.Tensor:
    radius = min(math.ceil(3 * sigma), (size - 1) // 2)
    x = torch.arange(-radius, radius + 1, dtype=like.dtype, device=like.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    # White noise filtered by k has variance sum(k^2) per pass; dividing by that gain keeps it at 1.
    return kernel / kernel.pow(2).sum().sqrt()


def _smooth(field: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    batch, channels, height, width = field.shape
    radius = kernel.numel() // 2
    flat = field.reshape(batch * channels, 1, height, width)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="circular"), kernel.view(1, 1, 1, -1))
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="circular"), kernel.view(1, 1, -1, 1))
    return flat.view(batch, channels, height, width)
