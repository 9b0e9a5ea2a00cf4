"""Connections between areas (skip, feedback) that adapt channels and spatial size automatically.

A :class:`Connection` maps a source rate ``(B, C_s, H_s, W_s)`` to a contribution ``(B, C_t, H_t, W_t)`` to
the target's drive with a ``1 x 1`` convolution (no bias) and nearest-neighbour resampling. A ``1 x 1``
convolution acts on each pixel independently and nearest resampling only selects or repeats pixels, so the two
commute exactly; the connection therefore always runs its convolution at the *smaller* of the two resolutions:

- downsampling (a skip from a higher-resolution area, e.g. V1 32x32 -> V4 8x8): subsample first (strided
  slicing, ``[::s, ::s]``, for an integer ratio ``s``; nearest interpolation otherwise), then convolve at the
  target size;
- upsampling (feedback from a lower-resolution area, e.g. V4 8x8 -> V1 32x32): convolve at the source size,
  then repeat pixels (nearest) up to the target size.

Computing the convolution at the source resolution and then discarding all but ``1 / s^2`` of its outputs (as
upstream DynVision does) gives the same numbers at ``s^2`` times the cost.

The same class maps an area's recurrent signal onto the input or middle stage of the area
(``recurrence_target``), with a larger initial scale (see :class:`~dynvision_models.layers.RecurrentArea`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["CONNECTION_INIT_STD", "Connection"]

#: Initial weights of skip and feedback convolutions: truncated normal with this std (cut at 2 std), so that
#: a new connection starts as a small perturbation of the feedforward drive (upstream DynVision: std <= 1e-3).
CONNECTION_INIT_STD = 1e-3


def _resample_plan(source: int, target: int) -> int:
    """Integer subsampling stride from ``source`` to ``target`` pixels; 0 if slicing cannot do it exactly."""
    if source >= target and source % target == 0:
        return source // target
    return 0


class Connection(nn.Module):
    """``1 x 1`` conv ``C_s -> C_t`` and nearest resampling ``(H_s, W_s) -> (H_t, W_t)``, at the smaller size.

    Args:
        source_shape: ``(C_s, H_s, W_s)`` of the source rate.
        target_shape: ``(C_t, H_t, W_t)`` of the target drive.
        init_std: std of the truncated-normal initial weights (cut at ``±2 init_std``); ``None`` uses
            ``1 / sqrt(C_s)`` (variance preserving, for maps that should pass a signal on at full strength).

    Forward: ``r`` ``(B, C_s, H_s, W_s)`` -> ``(B, C_t, H_t, W_t)``. Zero input gives zero output (no bias),
    so a connection whose source has no history yet contributes nothing.
    """

    def __init__(
        self,
        source_shape: Sequence[int],
        target_shape: Sequence[int],
        *,
        init_std: float | None = CONNECTION_INIT_STD,
    ) -> None:
        super().__init__()
        c_s, h_s, w_s = (int(v) for v in source_shape)
        c_t, h_t, w_t = (int(v) for v in target_shape)
        self.source_shape = (c_s, h_s, w_s)
        self.target_shape = (c_t, h_t, w_t)
        self.conv = nn.Conv2d(c_s, c_t, kernel_size=1, bias=False)
        std = 1.0 / math.sqrt(c_s) if init_std is None else float(init_std)
        nn.init.trunc_normal_(self.conv.weight, std=std, a=-2 * std, b=2 * std)
        self.size = (h_t, w_t)
        # Resample before the conv when that shrinks the map (fewer pixels to convolve), after it otherwise.
        self.resample_first = h_s * w_s > h_t * w_t
        self.resample = (h_s, w_s) != (h_t, w_t)
        stride_h, stride_w = _resample_plan(h_s, h_t), _resample_plan(w_s, w_t)
        # Strided slicing picks pixels 0, s, 2s, ...: exactly what nearest interpolation picks for an integer
        # ratio s, without an interpolation kernel or a copy (the slice is a view).
        self.slice_strides = (stride_h, stride_w) if self.resample_first and stride_h and stride_w else None

    def forward(self, r: Tensor) -> Tensor:
        if not self.resample:
            return self.conv(r)
        if self.resample_first:
            if self.slice_strides is not None:
                sh, sw = self.slice_strides
                return self.conv(r[:, :, ::sh, ::sw])
            return self.conv(F.interpolate(r, size=self.size, mode="nearest"))
        return F.interpolate(self.conv(r), size=self.size, mode="nearest")

    def extra_repr(self) -> str:
        order = "resample, then conv" if self.resample_first else "conv, then resample"
        order = order if self.resample else "no resample"
        return f"source={self.source_shape}, target={self.target_shape}, {order}"
