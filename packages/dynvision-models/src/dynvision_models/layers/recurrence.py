"""Lateral recurrence of an area, chosen by name through :func:`create_recurrence`.

A recurrence module maps an area's past rate ``r_l(t - d_rec)`` of shape ``(B, C, H, W)`` to an additive
contribution of the same shape to the area's drive. Recurrence modules have **no bias**: the area's bias lives in
its feedforward convolution (counted once), and a zero rate then gives exactly zero recurrent input, which lets
the engine skip the recurrent term while the history is still empty.

Weights start small (uniform in ``±init_scale``, default 1e-3) so an untrained network behaves almost like its
feedforward sweep and early training is stable; training grows them as needed.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = [
    "FullRecurrence",
    "SelfRecurrence",
    "check_recurrence_type",
    "create_recurrence",
    "list_recurrence_types",
    "register_recurrence",
]

#: Signature of a recurrence builder: ``(channels, kernel_size, init_scale) -> module or None``.
RecurrenceBuilder = Callable[[int, int, float], nn.Module | None]

_RECURRENCE_TYPES: dict[str, RecurrenceBuilder] = {}
# Types of upstream DynVision not implemented yet; they get a dedicated error message.
_PLANNED_TYPES = ("depthpointwise", "pointdepthwise", "local", "localdepthwise")


def register_recurrence(name: str) -> Callable[[RecurrenceBuilder], RecurrenceBuilder]:
    """Decorator registering a recurrence builder ``(channels, kernel_size, init_scale)`` under ``name``."""

    def decorator(builder: RecurrenceBuilder) -> RecurrenceBuilder:
        if name in _RECURRENCE_TYPES:
            raise ValueError(f"A recurrence type named {name!r} is already registered.")
        _RECURRENCE_TYPES[name] = builder
        return builder

    return decorator


class FullRecurrence(nn.Module):
    """All-to-all lateral recurrence: a ``k x k`` convolution ``C -> C`` with "same" padding and no bias."""

    def __init__(self, channels: int, kernel_size: int = 3, init_scale: float = 1e-3) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(
                f"Recurrent kernel_size must be odd so that 'same' padding keeps H and W, got {kernel_size}."
            )
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
        self.weight = nn.Parameter(torch.empty(shape).uniform_(-init_scale, init_scale))

    def forward(self, r: Tensor) -> Tensor:
        """``r``: past rate ``(B, C, H, W)`` -> ``w_c * r`` of the same shape."""
        return r * self.weight


@register_recurrence("full")
def _build_full(channels: int, kernel_size: int, init_scale: float) -> nn.Module:
    return FullRecurrence(channels, kernel_size, init_scale)


@register_recurrence("self")
def _build_self(channels: int, kernel_size: int, init_scale: float) -> nn.Module:
    return SelfRecurrence(channels, init_scale)


@register_recurrence("none")
def _build_none(channels: int, kernel_size: int, init_scale: float) -> None:
    return None


def list_recurrence_types() -> list[str]:
    """Sorted names accepted by :func:`create_recurrence`."""
    return sorted(_RECURRENCE_TYPES)


def check_recurrence_type(name: str) -> None:
    """Raise ``ValueError`` naming the allowed types if ``name`` is not an available recurrence type."""
    if name in _RECURRENCE_TYPES:
        return
    allowed = ", ".join(repr(n) for n in list_recurrence_types())
    if name in _PLANNED_TYPES:
        raise ValueError(
            f"recurrence_type {name!r} is planned but not implemented in this version of dynvision-models. "
            f"Allowed: {allowed}."
        )
    close = difflib.get_close_matches(str(name), list(_RECURRENCE_TYPES), n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"Unknown recurrence_type {name!r}.{hint} Allowed: {allowed}.")


def create_recurrence(
    name: str, channels: int, *, kernel_size: int = 3, init_scale: float = 1e-3
) -> nn.Module | None:
    """Build the recurrence ``name`` for an area with ``channels`` channels (``None`` for ``"none"``).

    Args:
        name: one of :func:`list_recurrence_types` (``"full"``, ``"self"``, ``"none"``).
        channels: channels ``C`` of the area's rate.
        kernel_size: spatial kernel of convolutional types (odd; ignored by ``"self"``).
        init_scale: weights start uniform in ``[-init_scale, init_scale]``.
    """
    check_recurrence_type(name)
    return _RECURRENCE_TYPES[name](channels, kernel_size, init_scale)
