"""Supralinear rate transfer ``k * sign(x) * |x|^n``, as in stabilised supralinear network models.

With ``n > 1`` weak inputs are attenuated and strong inputs amplified (e.g. Rubin, Van Hooser and Miller
2015); applied to the rectified rate of an area when ``supralinearity != 1``.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

__all__ = ["SupraLinearity"]

# |x| is clamped from below so that the gradient n |x|^(n-1) stays finite at 0 for n < 1, and from above so
# that |x|^n cannot overflow float32 for moderate n.
_MIN_ABS, _MAX_ABS = 1e-6, 1e6


class SupraLinearity(nn.Module):
    """``k * sign(x) * |x|^n`` elementwise (no parameters).

    Args:
        exponent: ``n > 0``.
        gain: ``k > 0``. Default 1, so that ``n = 1`` is the identity (upstream DynVision fixes ``k = 0.8``
            but skips the module for ``n = 1``, which makes the transfer jump at ``n = 1``).
    """

    def __init__(self, exponent: float, gain: float = 1.0) -> None:
        super().__init__()
        exponent, gain = float(exponent), float(gain)
        if not (math.isfinite(exponent) and exponent > 0):
            raise ValueError(f"supralinearity (exponent n) must be a positive number, got {exponent!r}.")
        if not (math.isfinite(gain) and gain > 0):
            raise ValueError(f"supralinearity gain k must be a positive number, got {gain!r}.")
        self.exponent, self.gain = exponent, gain

    def forward(self, x: Tensor) -> Tensor:
        magnitude = x.abs().clamp(_MIN_ABS, _MAX_ABS).pow(self.exponent)
        return x.sign() * magnitude * self.gain

    def extra_repr(self) -> str:
        return f"exponent={self.exponent}, gain={self.gain}"
