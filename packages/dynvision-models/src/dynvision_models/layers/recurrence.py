"""Lateral recurrence of an area, chosen by name through :func:`create_recurrence`.

A recurrence module maps an area's past rate ``r_l(t - d_rec)`` of shape ``(B, C, H, W)`` to an additive
contribution of the same shape to the area's drive. Recurrence modules have **no bias**: the area's bias lives in
its feedforward convolution (counted once), and a zero rate then gives exactly zero recurrent input, which lets
the engine skip the recurrent term while the history is still empty.

The *gated* types (:func:`list_gated_recurrence_types`: the gated cells of the ConvRNN family,
:mod:`dynvision_models.layers.gated`) are :class:`~dynvision_models.layers.gated.GatedCell` modules instead:
they combine the area's feedforward drive ``x`` with its past rate themselves, ``u = cell(x, r, m)``, carry a
memory ``m`` from step to step where the cell has one, and so only take ``recurrence_target="output"`` and
``integration="additive"``. Their gates have biases and act on ``x`` even before any history exists.

Weights start small (uniform in ``±init_scale``, default 1e-3) so an untrained network behaves almost like its
feedforward sweep and early training is stable; training grows them as needed. Types made of two factors
start each factor uniform in ``±sqrt(init_scale)``: every composed weight is a product bounded by
``init_scale``, as for ``full``, while each factor still receives a gradient of useful size.

Types and their parameter counts (``C`` channels, ``k`` the odd retinotopic ``kernel_size`` in pixels, ``k_s``
the sheet kernel of the topographic types, see :mod:`dynvision_models.layers.topographic`):

===================  ========================================================  =======================
name                 connectivity                                              parameters
===================  ========================================================  =======================
``full``             ``k x k`` conv ``C -> C``                                 ``C**2 * k**2``
``self``             each unit onto itself, one weight per channel             ``C``
``none``             no recurrence (the builder returns ``None``)              ``0``
``depthpointwise``   depthwise ``k x k`` (``groups=C``), then pointwise 1 x 1  ``C * k**2 + C**2``
``pointdepthwise``   pointwise 1 x 1, then depthwise ``k x k``                 ``C**2 + C * k**2``
``local``            ``k_s x k_s`` conv on the cortical sheet of the area      ``k_s**2``
``localdepthwise``   ``local``, then depthwise ``k x k``                       ``k_s**2 + C * k**2``
``timedecay``        each unit onto itself, one weight per area (ConvRNN's     ``1``
                     time decay ``u = x + λ r``)
``simplernn``        ConvRNN's SimpleRNN ``u = x + U*r``: the ``full`` module  ``C**2 * k**2``
``gru``              gated: update and reset gates, candidate                  ``5 C**2 k**2 + 2 C``
                     ``x + U*(g . r)``
``lstm``             gated: input, forget, output gates, memory ``c``          ``7 C**2 k**2 + 3 C``
``ugrnn``            gated: one update gate (Collins et al. 2017)              ``3 C**2 k**2 + C``
``intersection``     gated: +RNN (Collins et al.), output through depth,       ``6 C**2 k**2 + 2 C``
                     memory through time
``reciprocalgated``  gated: output and memory gate each other (Nayebi et al.   ``4 C**2 k**2 + 4 C``
                     2018)
===================  ========================================================  =======================

``timedecay`` and ``simplernn`` name the two ungated cells of the ConvRNN family. Both are additive and
take every target and integration; with ``recurrence_target="output"`` (additive) ``simplernn`` is the same
model as ``full`` and ``timedecay`` is ``self`` with one weight shared by the channels. The leaky integration
of the engine (``tau``) is itself a time decay of the state ``h``; ``timedecay`` adds a learnt one of the
rate.

Every module is built for a fixed ``C`` (an input with another channel count fails). The topographic types
accept any ``H, W``; they build index buffers for it on their first forward pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from .. import checks
from .gated import GatedCell, GRUCell, IntersectionCell, LSTMCell, ReciprocalGatedCell, UGRNNCell
from .topographic import LocalDepthwiseRecurrence, TopographicRecurrence, _check_init_scale

__all__ = [
    "DepthPointwiseRecurrence",
    "FullRecurrence",
    "PointDepthwiseRecurrence",
    "SelfRecurrence",
    "check_recurrence_type",
    "create_recurrence",
    "list_gated_recurrence_types",
    "list_recurrence_types",
    "register_recurrence",
]

#: Signature of a recurrence builder: ``(channels, kernel_size, init_scale) -> module or None``.
RecurrenceBuilder = Callable[[int, int, float], nn.Module | None]

_RECURRENCE_TYPES: dict[str, RecurrenceBuilder] = {}
# The registered names whose builders return a GatedCell (declared once, at registration).
_GATED_TYPES: set[str] = set()


def register_recurrence(
    name: str, *, gated: bool = False
) -> Callable[[RecurrenceBuilder], RecurrenceBuilder]:
    """Decorator registering a recurrence builder ``(channels, kernel_size, init_scale)`` under ``name``.

    ``gated=True`` declares that the builder returns a :class:`~dynvision_models.layers.gated.GatedCell`
    (listed by :func:`list_gated_recurrence_types`; the target and integration rules follow from it).
    """

    def decorator(builder: RecurrenceBuilder) -> RecurrenceBuilder:
        if name in _RECURRENCE_TYPES:
            raise ValueError(f"A recurrence type named {name!r} is already registered.")
        _RECURRENCE_TYPES[name] = builder
        if gated:
            _GATED_TYPES.add(name)
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


@register_recurrence("timedecay")
def _build_timedecay(channels: int, kernel_size: int, init_scale: float) -> nn.Module:
    # Nayebi et al.'s time decay: one learnt decay of the area's own past rate, shared by its channels.
    return SelfRecurrence(channels, init_scale, per_channel=False)


@register_recurrence("simplernn")
def _build_simplernn(channels: int, kernel_size: int, init_scale: float) -> nn.Module:
    # The SimpleRNN's input weight is the area's feedforward conv and its output tanh the engine's
    # rectification, which leaves the recurrent k x k conv of the full type.
    return FullRecurrence(channels, kernel_size, init_scale)


@register_recurrence("gru", gated=True)
def _build_gru(channels: int, kernel_size: int, init_scale: float) -> nn.Module:
    return GRUCell(channels, kernel_size, init_scale)


@register_recurrence("lstm", gated=True)
def _build_lstm(channels: int, kernel_size: int, init_scale: float) -> nn.Module:
    return LSTMCell(channels, kernel_size, init_scale)


@register_recurrence("ugrnn", gated=True)
def _build_ugrnn(channels: int, kernel_size: int, init_scale: float) -> nn.Module:
    return UGRNNCell(channels, kernel_size, init_scale)


@register_recurrence("intersection", gated=True)
def _build_intersection(channels: int, kernel_size: int, init_scale: float) -> nn.Module:
    return IntersectionCell(channels, kernel_size, init_scale)


@register_recurrence("reciprocalgated", gated=True)
def _build_reciprocalgated(channels: int, kernel_size: int, init_scale: float) -> nn.Module:
    return ReciprocalGatedCell(channels, kernel_size, init_scale)


def list_recurrence_types() -> list[str]:
    """Sorted names accepted by :func:`create_recurrence`."""
    return sorted(_RECURRENCE_TYPES)


def list_gated_recurrence_types() -> list[str]:
    """Sorted names of the gated types: their modules are :class:`~dynvision_models.layers.gated.GatedCell`
    (they take ``recurrence_target="output"`` and ``integration="additive"`` only)."""
    return sorted(_GATED_TYPES)


def check_recurrence_type(name: str) -> None:
    """Raise ``ValueError`` naming the allowed types if ``name`` is not an available recurrence type."""
    checks.raise_problems(checks.choice_problems("recurrence_type", name, list_recurrence_types()))


def create_recurrence(
    name: str, channels: int, *, kernel_size: int = 3, init_scale: float = 1e-3
) -> nn.Module | None:
    """Build the recurrence ``name`` for an area with ``channels`` channels (``None`` for ``"none"``; a
    :class:`~dynvision_models.layers.gated.GatedCell` for the gated types).

    Args:
        name: one of :func:`list_recurrence_types` (see the table in the module docstring).
        channels: channels ``C`` of the area's rate; the module only accepts rates with ``C`` channels.
        kernel_size: odd retinotopic kernel in pixels of the ``k x k`` (depthwise) convolutions, the gated
            cells' included; ignored by ``"self"``, ``"timedecay"`` and ``"local"`` (whose sheet kernel
            follows from ``C``).
        init_scale: weights start uniform in ``[-init_scale, init_scale]`` (two-factor types: each factor in
            ``±sqrt(init_scale)``; gated cells: every convolution, their gate biases start at
            ``±``:data:`~dynvision_models.layers.gated.GATE_BIAS`).

    Raises:
        ValueError: unknown ``name`` (the message suggests a close match and lists the allowed types), or an
            even ``kernel_size`` for a type that uses it.
        TypeError: the builder of ``name`` returns a gated cell without being registered ``gated=True``
            (or the reverse): a registration error, not a user error.
    """
    check_recurrence_type(name)
    module = _RECURRENCE_TYPES[name](channels, kernel_size, init_scale)
    if isinstance(module, GatedCell) != (name in _GATED_TYPES):
        raise TypeError(
            f"The recurrence type {name!r} is registered with gated={name in _GATED_TYPES}, but its builder "
            f"returns {type(module).__name__}; register a builder of a GatedCell with gated=True, any other "
            "with gated=False."
        )
    return module
