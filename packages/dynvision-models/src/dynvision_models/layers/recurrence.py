"""Lateral recurrence of an area, chosen by name through :func:`create_recurrence`.

A recurrence module maps an area's past rate ``r_l(t - d_rec)`` of shape ``(B, C, H, W)`` to an additive
contribution of the same shape to the area's drive. Recurrence modules have **no bias**: the area's bias lives in
its feedforward convolution (counted once), and a zero rate then gives exactly zero recurrent input, which lets
the engine skip the recurrent term while the history is still empty.

Weights start small (uniform in ``±init_scale``, default 1e-3) so an untrained network behaves almost like its
feedforward sweep and early training is stable; training grows them as needed. Types made of two factors
start each factor uniform in ``±sqrt(init_scale)``: every composed weight is a product bounded by
``init_scale``, as for ``full``, while each factor still receives a gradient of useful size.

Types and their parameter counts (``C`` channels, ``k`` the odd retinotopic ``kernel_size`` in pixels, ``k_s``
the sheet kernel of the topographic types, see :mod:`dynvision_models.layers.topographic`):

==================  =========================================================  =======================
name                connectivity                                               parameters
==================  =========================================================  =======================
``full``            ``k x k`` conv ``C -> C``                                  ``C**2 * k**2``
``self``            each unit onto itself, one weight per channel              ``C``
``none``            no recurrence (the builder returns ``None``)               ``0``
``depthpointwise``  depthwise ``k x k`` (``groups=C``), then pointwise 1 x 1   ``C * k**2 + C**2``
``pointdepthwise``  pointwise 1 x 1, then depthwise ``k x k``                  ``C**2 + C * k**2``
``local``           ``k_s x k_s`` conv on the cortical sheet of the area       ``k_s**2``
``localdepthwise``  ``local``, then depthwise ``k x k``                        ``k_s**2 + C * k**2``
==================  =========================================================  =======================

Every module is built for a fixed ``C`` (an input with another channel count fails). The topographic types
accept any ``H, W``; they build index buffers for it on their first forward pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from .. import checks
from .topographic import LocalDepthwiseRecurrence, TopographicRecurrence, _check_init_scale

__all__ = [
    "DepthPointwiseRecurrence",
    "FullRecurrence",
    "PointDepthwiseRecurrence",
    "SelfRecurrence",
    "check_recurrence_type",
    "create_recurrence",
    "list_recurrence_types",
    "register_recurrence",
]

#: Signature of a recurrence builder: ``(channels, kernel_size, init_scale) -> module or None``.
RecurrenceBuilder = Callable[[int, int, float], nn.Module | None]

_RECURRENCE_TYPES: dict[str, RecurrenceBuilder] = {}


def register_recurrence(name: str) -> Callable[[RecurrenceBuilder], RecurrenceBuilder]:
    """Decorator registering a recurrence builder ``(channels, kernel_size, init_scale)`` under ``name``."""

    def decorator(builder: RecurrenceBuilder) -> RecurrenceBuilder:
        if name in _RECURRENCE_TYPES:
            raise ValueError(f"A recurrence type named {name!r} is already registered.")
        _RECURRENCE_TYPES[name] = builder
        return builder

    return decorator


def _check_kernel_size(kernel_size: object) -> int:
    if (
        isinstance(kernel_size, bool)
        or not isinstance(kernel_size, int)
        or kernel_size < 1
        or kernel_size % 2 != 1
    ):
        raise ValueError(
            f"Recurrent kernel_size must be odd so that 'same' padding keeps H and W, got {kernel_size!r}."
        )
    return kernel_size


def _depthwise(channels: int, kernel_size: int) -> nn.Conv2d:
    return nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels, bias=False)


def _pointwise(channels: int) -> nn.Conv2d:
    return nn.Conv2d(channels, channels, 1, bias=False)


class FullRecurrence(nn.Module):
    """All-to-all lateral recurrence: a ``k x k`` convolution ``C -> C`` with "same" padding and no bias.

    Parameters: ``C**2 * k**2``.
    """

    def __init__(self, channels: int, kernel_size: int = 3, init_scale: float = 1e-3) -> None:
        super().__init__()
        _check_kernel_size(kernel_size)
        init_scale = _check_init_scale(init_scale)
        self.conv = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, bias=False)
        nn.init.uniform_(self.conv.weight, -init_scale, init_scale)

    def forward(self, r: Tensor) -> Tensor:
        """``r``: past rate ``(B, C, H, W)`` -> recurrent drive ``(B, C, H, W)``."""
        return self.conv(r)


class SelfRecurrence(nn.Module):
    """Self-connection: each unit feeds back onto itself with one weight per channel (or one scalar)."""

    def __init__(self, channels: int, init_scale: float = 1e-3, per_channel: bool = True) -> None:
        super().__init__()
        shape = (1, channels, 1, 1) if per_channel else (1, 1, 1, 1)
        init_scale = _check_init_scale(init_scale)
        self.weight = nn.Parameter(torch.empty(shape).uniform_(-init_scale, init_scale))

    def forward(self, r: Tensor) -> Tensor:
        """``r``: past rate ``(B, C, H, W)`` -> ``w_c * r`` of the same shape."""
        return r * self.weight


class DepthPointwiseRecurrence(nn.Module):
    """Depthwise ``k x k`` conv (each channel over its own neighbourhood), then pointwise 1 x 1 ``C -> C``.

    Equivalent to a ``k x k`` conv with the rank-structured kernel ``W[o, i] = P[o, i] * D[i]``.
    Parameters: ``C * k**2 + C**2``; no bias. Both factors start uniform in ``±sqrt(init_scale)``.
    """

    def __init__(self, channels: int, kernel_size: int = 3, init_scale: float = 1e-3) -> None:
        super().__init__()
        _check_kernel_size(kernel_size)
        self.depthwise = _depthwise(channels, kernel_size)
        self.pointwise = _pointwise(channels)
        factor_scale = math.sqrt(_check_init_scale(init_scale, two_factors=True))
        for conv in (self.depthwise, self.pointwise):
            nn.init.uniform_(conv.weight, -factor_scale, factor_scale)

    def forward(self, r: Tensor) -> Tensor:
        """``r``: past rate ``(B, C, H, W)`` -> recurrent drive ``(B, C, H, W)``."""
        return self.pointwise(self.depthwise(r))


class PointDepthwiseRecurrence(nn.Module):
    """Pointwise ``1 x 1`` ``C -> C`` conv, then depthwise ``k x k`` conv.

    Equivalent to a ``k x k`` conv with the kernel ``W[o, i] = D[o] * P[o, i]``.
    Parameters: ``C**2 + C * k**2``; no bias. Both factors start uniform in ``±sqrt(init_scale)``.
    """

    def __init__(self, channels: int, kernel_size: int = 3, init_scale: float = 1e-3) -> None:
        super().__init__()
        _check_kernel_size(kernel_size)
        self.pointwise = _pointwise(channels)
        self.depthwise = _depthwise(channels, kernel_size)
        factor_scale = math.sqrt(_check_init_scale(init_scale, two_factors=True))
        for conv in (self.pointwise, self.depthwise):
            nn.init.uniform_(conv.weight, -factor_scale, factor_scale)

    def forward(self, r: Tensor) -> Tensor:
        """``r``: past rate ``(B, C, H, W)`` -> recurrent drive ``(B, C, H, W)``."""
        return self.depthwise(self.pointwise(r))


@register_recurrence("full")
def _build_full(channels: int, kernel_size: int, init_scale: float) -> nn.Module:
    return FullRecurrence(channels, kernel_size, init_scale)


@register_recurrence("self")
def _build_self(channels: int, kernel_size: int, init_scale: float) -> nn.Module:
    return SelfRecurrence(channels, init_scale)


@register_recurrence("none")
def _build_none(channels: int, kernel_size: int, init_scale: float) -> None:
    return None


@register_recurrence("depthpointwise")
def _build_depthpointwise(channels: int, kernel_size: int, init_scale: float) -> nn.Module:
    return DepthPointwiseRecurrence(channels, kernel_size, init_scale)


@register_recurrence("pointdepthwise")
def _build_pointdepthwise(channels: int, kernel_size: int, init_scale: float) -> nn.Module:
    return PointDepthwiseRecurrence(channels, kernel_size, init_scale)


@register_recurrence("local")
def _build_local(channels: int, kernel_size: int, init_scale: float) -> nn.Module:
    # kernel_size is retinotopic (pixels); the sheet kernel follows from C (see layers.topographic).
    return TopographicRecurrence(channels, init_scale=init_scale)


@register_recurrence("localdepthwise")
def _build_localdepthwise(channels: int, kernel_size: int, init_scale: float) -> nn.Module:
    return LocalDepthwiseRecurrence(channels, kernel_size, init_scale)


def list_recurrence_types() -> list[str]:
    """Sorted names accepted by :func:`create_recurrence`."""
    return sorted(_RECURRENCE_TYPES)


def check_recurrence_type(name: str) -> None:
    """Raise ``ValueError`` naming the allowed types if ``name`` is not an available recurrence type."""
    checks.raise_problems(checks.choice_problems("recurrence_type", name, list_recurrence_types()))


def create_recurrence(
    name: str, channels: int, *, kernel_size: int = 3, init_scale: float = 1e-3
) -> nn.Module | None:
    """Build the recurrence ``name`` for an area with ``channels`` channels (``None`` for ``"none"``).

    Args:
        name: one of :func:`list_recurrence_types` (see the table in the module docstring).
        channels: channels ``C`` of the area's rate; the module only accepts rates with ``C`` channels.
        kernel_size: odd retinotopic kernel in pixels of the ``k x k`` (depthwise) convolutions; ignored by
            ``"self"`` and ``"local"`` (whose sheet kernel follows from ``C``).
        init_scale: weights start uniform in ``[-init_scale, init_scale]`` (two-factor types: each factor in
            ``±sqrt(init_scale)``).

    Raises:
        ValueError: unknown ``name`` (the message suggests a close match and lists the allowed types), or an
            even ``kernel_size`` for a type that uses it.
    """
    check_recurrence_type(name)
    return _RECURRENCE_TYPES[name](channels, kernel_size, init_scale)
