"""The ``noise`` paradigm: a ``duration`` timeline with noise at a set signal-to-noise ratio.

Noise model (all in normalised pixel units, per image ``b`` of the batch):

- Signal power ``P_s[b]`` is the variance of the image over all its pixels and channels, always measured
  on the *image*, also for noise on blank steps (so noise on blanks is as strong as on the stimulus).
- ``ssnr = P_s / (P_s + P_n)`` in [0, 1], so the noise power is ``P_n = P_s * (1 - ssnr) / ssnr``.
  ``ssnr = 1``: no noise. ``ssnr = 0``: the stimulus steps show the blank plus noise of power ``P_s``
  (noise only, at the image's power; the formula's infinite noise would be useless).
- ``uniform``, ``gaussian`` and ``phasescrambled`` noise is additive and zero-mean: ``frame = base + n``
  with ``var(n) = P_n``; ``base`` is the image on stimulus steps and the blank value on blank steps.
- ``gaussian`` with ``spatialcorr = s > 0``: white noise filtered by a normalised Gaussian kernel of standard
  deviation ``s`` pixels (circular boundary, kernel cut at 3 s and at the image size), then divided by the
  kernel's gain ``sqrt(sum k^2)`` so its variance stays exactly ``P_n``.
- ``phasescrambled``: a random-phase field ``irfft2(A * exp(i phi))`` with ``phi`` the phase of a white noise
  field (one phase per image, shared by its channels), scaled to power ``P_n``. The amplitude spectrum ``A``
  is the image's own (``|rfft2(image - mean)|`` per channel, DC removed; ``alpha=None``) or ``1/f^alpha``
  (radial frequency ``f`` in cycles per image, DC = 0).
- ``poisson`` (shot noise): with ``lo[b]`` the image's darkest pixel as zero photons, intensities
  ``s = base - lo`` (clamped at 0) are drawn as ``Poisson(k s) / k`` with ``k = mean(s_image) / P_n``, so
  ``frame = lo + Poisson(k s) / k >= lo`` (non-negative counts), the noise variance ``s / k`` grows with
  intensity and averages ``P_n`` over the image.
- ``saltpepper``: a fraction ``p`` of pixel positions (all channels together) is set to the image's
  per-channel maximum (salt, ``p/2``) or minimum (pepper, ``p/2``), with ``p`` chosen so that the expected
  power of ``frame - base`` over the image is ``P_n`` (``p`` is capped at 1, which bounds how low the
  measured ``ssnr`` can go).

Temporal modes: ``static`` draws one noise sample per batch and shows it on every noisy step; ``dynamic``
draws fresh noise at every step; ``correlated`` makes it a stationary process with lag-1 correlation
``tempcorr`` (lag-k correlation ``tempcorr**k``): an AR(1) ``n_t = r n_{t-1} + sqrt(1 - r^2) w_t`` for the
additive types (keeps Gaussianity and spatial correlation), and "keep each pixel's noise with probability
``r``, else redraw" for ``poisson`` and ``saltpepper`` (keeps their value distribution).

Seeding: batch ``k`` (the paradigm's call counter, reset by :meth:`Paradigm.reset`, or the ``batch_index``
argument) draws from a generator seeded with ``SeedSequence([noise_seed, k, 2])``; with a deterministic
loader (e.g. :class:`~dynvision_data.TestDataModule`, which resets the counter every epoch) each test image
gets the same noise in every run. ``noise_seed=None`` draws fresh entropy.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from .._util import check_int, unknown_name_message
from .base import Paradigm, register_paradigm

if TYPE_CHECKING:
    import torch

__all__ = ["NOISE_TYPES", "TEMPORAL_MODES", "NoiseParadigm"]

NoiseType = Literal["uniform", "gaussian", "poisson", "saltpepper", "phasescrambled"]
TemporalMode = Literal["static", "dynamic", "correlated"]
#: Accepted ``noise_type`` values.
NOISE_TYPES: tuple[str, ...] = ("uniform", "gaussian", "poisson", "saltpepper", "phasescrambled")
#: Accepted ``temporal_mode`` values.
TEMPORAL_MODES: tuple[str, ...] = ("static", "dynamic", "correlated")


@register_paradigm("noise")
class NoiseParadigm(Paradigm):
    """Show each image in noise at signal-to-noise ``ssnr`` (see the module docstring for the noise model).

    Timeline as ``duration`` (``T = intro + stimulus + outro`` steps); the stimulus steps show ``image +
    noise``; the blank steps show ``blank + noise`` when ``noise_void`` (default) or the plain blank.
    E.g. ``dt = 10`` ms, ``intro=5, stimulus=10, outro=5, noise_type="gaussian", ssnr=0.5,
    temporal_mode="dynamic"``: 50 ms of flickering noise, 100 ms of the image in fresh noise every 10 ms
    (noise as strong as the image), then 50 ms of noise again.

    Args:
        intro, stimulus, outro: Steps, as for ``duration`` (defaults: the stimulus fills all 20 steps).
        noise_type: One of :data:`NOISE_TYPES`.
        ssnr: ``signal / (signal + noise)`` power ratio in [0, 1]; 1 = no noise.
        temporal_mode: One of :data:`TEMPORAL_MODES`.
        tempcorr: Lag-1 (one step) correlation of ``correlated`` noise, strictly between 0 and 1.
        spatialcorr: Standard deviation in pixels of the Gaussian kernel correlating ``gaussian`` noise in
            space (0 = white noise; other noise types accept only 0).
        alpha: ``phasescrambled`` only: spectrum ``1/f^alpha`` (alpha >= 0); ``None`` uses the image's own
            amplitude spectrum.
        noise_void: Also put noise on blank steps (alias of upstream's ``noisevoid``/``noise_void``).
        noise_seed: Seed of the noise draws (integer >= 0), or ``None`` for unseeded noise.
        blank: Pixel value of blank steps, normalised units.
        **options: Common options (``rt``, ``pattern``, ...; see :mod:`dynvision_data.paradigms.base`).
    """

    def __init__(
        self,
        *,
        intro: int = 0,
        stimulus: int = 20,
        outro: int = 0,
        noise_type: NoiseType = "gaussian",
        ssnr: float = 0.5,
        temporal_mode: TemporalMode = "static",
        tempcorr: float = 0.5,
        spatialcorr: float = 0.0,
        alpha: float | None = None,
        noise_void: bool = True,
        noise_seed: int | None = 0,
        blank: float = 0.0,
        **options: Any,
    ) -> None:
        super().__init__(blank=blank, **options)
        self.intro = check_int("intro", intro, minimum=0)
        self.stimulus = check_int("stimulus", stimulus, minimum=1)
        self.outro = check_int("outro", outro, minimum=0)
        if noise_type not in NOISE_TYPES:
            raise ValueError(unknown_name_message("noise_type", str(noise_type), NOISE_TYPES))
        if temporal_mode not in TEMPORAL_MODES:
            raise ValueError(unknown_name_message("temporal_mode", str(temporal_mode), TEMPORAL_MODES))
        self.noise_type: NoiseType = noise_type
        self.temporal_mode: TemporalMode = temporal_mode
        self.ssnr = _number("ssnr", ssnr, "in [0, 1] (signal / (signal + noise); 1 = no noise)", 0.0, 1.0)
        self.tempcorr = _number("tempcorr", tempcorr, "strictly between 0 and 1", 0.0, 1.0, open_=True)
        self.spatialcorr = _number("spatialcorr", spatialcorr, ">= 0 (pixels)", 0.0, math.inf)
        if self.spatialcorr > 0 and noise_type != "gaussian":
            raise ValueError(
                f"spatialcorr={self.spatialcorr} applies to gaussian noise only; noise_type={noise_type!r} "
                "takes spatialcorr=0."
            )
        self.alpha = None if alpha is None else _number("alpha", alpha, ">= 0 or None", 0.0, math.inf)
        if alpha is not None and noise_type != "phasescrambled":
            raise ValueError(
                f"alpha={alpha} applies to phasescrambled noise only, not noise_type={noise_type!r}."
            )
        if not isinstance(noise_void, bool):
            raise TypeError(f"noise_void must be True or False, got {noise_void!r}.")
        self.noise_void = noise_void
        self.noise_seed = None if noise_seed is None else check_int("noise_seed", noise_seed, minimum=0)

    def phases(self) -> list[str]:
        return ["intro"] * self.intro + ["stimulus"] * self.stimulus + ["outro"] * self.outro

    def params(self) -> dict[str, Any]:
        return {
            "intro": self.intro,
            "stimulus": self.stimulus,
            "outro": self.outro,
            "noise_type": self.noise_type,
            "ssnr": self.ssnr,
            "temporal_mode": self.temporal_mode,
            "tempcorr": self.tempcorr,
            "spatialcorr": self.spatialcorr,
            "alpha": self.alpha,
            "noise_void": self.noise_void,
            "noise_seed": self.noise_seed,
            "blank": self.blank,
        }

    def noise_generator(self, batch_index: int, device: torch.device | str = "cpu") -> torch.Generator:
        """Generator of batch ``batch_index``'s noise (``SeedSequence([noise_seed, batch_index, 2])``)."""
        import numpy as np
        import torch

        if self.noise_seed is None:
            generator = torch.Generator(device=device)
            generator.seed()
            return generator
        state = np.random.SeedSequence([self.noise_seed, batch_index, 2]).generate_state(2, np.uint32)
        return torch.Generator(device=device).manual_seed(int(state[0]) << 32 | int(state[1]))

    def lazy_frames(self, images: torch.Tensor, batch_index: int) -> torch.Tensor | None:
        # Without noise (ssnr = 1) the frames are the image or the blank; noisy frames are written out.
        return images if self.ssnr == 1.0 else None

    def render(
        self, images: torch.Tensor, on: torch.Tensor, batch_index: int, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        import torch

        from ._noise_source import NoiseSource
        from .timeline import timeline_frames

        if self.ssnr == 1.0:
            return timeline_frames(images, on, self.blank, out=out)
        work = images if images.dtype in (torch.float32, torch.float64) else images.float()
        noise = NoiseSource(self, work, self.noise_generator(batch_index, images.device))
        signal = work if self.ssnr > 0 else torch.full_like(work, self.blank)
        blank = torch.full_like(work, self.blank)
        shape = (work.shape[0], on.numel(), *work.shape[1:])
        frames = out if out is not None else torch.empty(shape, dtype=images.dtype, device=images.device)
        static: dict[bool, torch.Tensor] = {}
        state: torch.Tensor | None = None
        for t, shown in enumerate(on.tolist()):
            base = signal if shown else blank
            if not (shown or self.noise_void):
                frames[:, t] = base
                continue
            if self.temporal_mode == "static":
                key = bool(shown) if self.noise_type == "poisson" else True
                if key not in static:
                    static[key] = noise.draw(base)
                state = static[key]
            elif self.temporal_mode == "dynamic" or state is None:
                state = noise.draw(base)
            else:
                state = noise.continue_(state, noise.draw(base))
            frames[:, t] = noise.apply(state, base)
        return frames


def _number(name: str, value: Any, allowed: str, low: float, high: float, *, open_: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise TypeError(f"{name} must be a number {allowed}, got {value!r}.")
    value = float(value)
    inside = low < value < high if open_ else low <= value <= high
    if not inside:
        raise ValueError(f"{name} must be {allowed}, got {value}.")
    return value
