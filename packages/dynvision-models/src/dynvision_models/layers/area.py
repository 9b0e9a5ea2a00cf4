"""One cortical area of a recurrent CNN: feedforward convolution(s), lateral recurrence and output pooling.

The area only computes its drive; the time loop (delays, state, solver, skip and feedback connections,
adaptation) lives in :class:`dynvision_models.engine.TemporalModel`, which calls :meth:`RecurrentArea.drive`
once per time step.

Stages of an area (``x``: input ``(B, C_in, H_in, W_in)``; ``r``: the area's own past rate
``r(t - d_rec)`` of shape ``(B, C, H, W)``; ``R = recurrence(r)``, in the area's own ``(C, H, W)`` space)::

    single-stage:  u = W_ff * x + b
    two-stage:     m = ReLU(W_1 * x + b_1)   ->   u = W_2 * m + b      (the first conv may be strided)

``recurrence_target`` says where ``R`` enters (``integration`` says how: ``"additive"`` ``y + R``,
``"multiplicative"`` ``y * (1 + tanh(R))``, a gain in ``(0, 2)`` that keeps the sign of ``y``):

- ``"output"``: into the drive ``u`` (the default, as in upstream DynVision);
- ``"input"``: into ``x`` before the feedforward conv, so recurrence is filtered by the same receptive fields
  as the stimulus. ``R`` is mapped from ``(C, H, W)`` to the input's ``(C_in, H_in, W_in)`` by a
  :class:`~dynvision_models.layers.connections.Connection` (``1 x 1`` conv at the smaller resolution plus
  nearest resampling; omitted when the shapes already agree), initialised variance-preserving
  (std ``1 / sqrt(C)``) because the recurrence weights are already small;
- ``"middle"``: into ``W_1 * x + b_1`` before the ReLU of a two-stage area (mapped the same way if its shape
  differs). Single-stage areas have no middle and reject this target.

A *gated* recurrence type (:func:`~dynvision_models.layers.recurrence.list_gated_recurrence_types`) is a cell
that combines the drive itself: ``u, m = cell(W_ff * x + b, r, m)`` (:meth:`RecurrentArea.cell_drive`, with
the memory ``m`` the engine carries for the cells that have one; :mod:`dynvision_models.layers.gated`). Such
an area takes ``recurrence_target="output"`` and ``integration="additive"`` only; the engine adds skip and
feedback connections to the cell's output ``u``, as to any drive.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .. import checks
from .connections import Connection
from .gated import GatedCell
from .recurrence import create_recurrence, list_gated_recurrence_types

__all__ = ["BIAS_TYPES", "INTEGRATIONS", "RECURRENCE_TARGETS", "RecurrentArea", "check_choice"]

#: Where the lateral recurrence enters an area (see the module docstring).
RECURRENCE_TARGETS = ("input", "middle", "output")
#: How a recurrent, skip or feedback signal ``R`` is combined with the signal ``y`` it targets.
INTEGRATIONS = ("additive", "multiplicative")
#: ``"channel"``: one bias per channel (the conv bias); ``"spatial"``: one per unit ``(C, H, W)``, as in
#: CordsNet; ``"none"``: no bias in the area's convolutions.
BIAS_TYPES = ("channel", "spatial", "none")

# Integer codes so that the time loop branches on ints, not strings.
_INPUT, _MIDDLE, _OUTPUT = 0, 1, 2


def check_choice(name: str, value: object, allowed: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``allowed``; else raise ``ValueError`` naming it and the choices."""
    checks.raise_problems(checks.choice_problems(name, value, allowed))
    return value  # type: ignore[return-value]


def _pair(name: str, value: int | Sequence[int]) -> tuple[int, int]:
    values = (value, value) if isinstance(value, int) else tuple(value)
    if len(values) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
        raise ValueError(f"{name} must be a positive integer or a pair of them, got {value!r}.")
    return values  # type: ignore[return-value]


class RecurrentArea(nn.Module):
    """Feedforward conv(s) (Kaiming init), lateral recurrence chosen by name, optional pooling and norm.

    Args:
        in_channels: channels of the input (the stimulus, the retina's output, or the area below's output).
        out_channels: channels ``C`` of the area's state and rate.
        kernel_size: feedforward kernel (odd; padding ``k // 2``), of both convs in a two-stage area.
        stride: feedforward stride; for a two-stage area an int (first conv; the second has stride 1) or a
            pair.
        mid_channels: width of the middle stage; ``None`` (default) for a single-stage area.
        recurrence_type: name from :func:`~dynvision_models.layers.list_recurrence_types`.
        recurrence_kernel_size: kernel of convolutional recurrence (default: ``kernel_size``).
        recurrence_init_scale: recurrent weights start uniform in ``±recurrence_init_scale``.
        recurrence_target: ``"output"``, ``"input"`` or ``"middle"`` (two-stage areas only); gated types
            take ``"output"`` only.
        integration: ``"additive"`` or ``"multiplicative"`` (how the recurrence is combined with its target);
            gated types take ``"additive"`` only (the cell combines the drive itself).
        bias: ``"channel"``, ``"spatial"`` or ``"none"`` (see :data:`BIAS_TYPES`).
        pool: module applied to the rate before it feeds the next area (``None``: no pooling).
        norm: module applied to the (pooled) output before it feeds the next area (``None``: none).

    Shapes are inferred by :meth:`build_shapes` (the engine calls it with the input shape); it also creates
    the per-unit bias and the recurrence adapter, whose sizes depend on them.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        kernel_size: int = 3,
        stride: int | Sequence[int] = 1,
        mid_channels: int | None = None,
        recurrence_type: str = "full",
        recurrence_kernel_size: int | None = None,
        recurrence_init_scale: float = 1e-3,
        recurrence_target: str = "output",
        integration: str = "additive",
        bias: str = "channel",
        pool: nn.Module | None = None,
        norm: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.recurrence_target = check_choice("recurrence_target", recurrence_target, RECURRENCE_TARGETS)
        self.integration = check_choice("integration", integration, INTEGRATIONS)
        self.bias_type = check_choice("bias", bias, BIAS_TYPES)
        checks.raise_problems(
            checks.gated_cell_problems(
                recurrence_type, recurrence_target, integration, list_gated_recurrence_types()
            )
        )
        if recurrence_target == "middle" and mid_channels is None:
            raise ValueError(
                "recurrence_target='middle' needs an area with two convolution stages (mid_channels), e.g. "
                "DyRCNNx8; this area has a single convolution. Allowed here: 'input', 'output'."
            )
        padding = kernel_size // 2
        if mid_channels is None:
            if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
                raise ValueError(f"A single-stage area takes one positive integer stride, got {stride!r}.")
            self.ff = nn.Conv2d(
                in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias == "channel"
            )
            self.ff2: nn.Conv2d | None = None
        else:
            first, second = _pair("stride", (stride, 1) if isinstance(stride, int) else stride)
            # The first conv keeps a per-channel bias unless biases are off (a per-unit bias follows conv 2).
            self.ff = nn.Conv2d(
                in_channels, mid_channels, kernel_size, stride=first, padding=padding, bias=bias != "none"
            )
            self.ff2 = nn.Conv2d(
                mid_channels,
                out_channels,
                kernel_size,
                stride=second,
                padding=padding,
                bias=bias == "channel",
            )
        for conv in (self.ff, self.ff2):
            if conv is not None:
                nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
                if conv.bias is not None:
                    nn.init.zeros_(conv.bias)
        self.recurrence = create_recurrence(
            recurrence_type,
            out_channels,
            kernel_size=recurrence_kernel_size or kernel_size,
            init_scale=recurrence_init_scale,
        )
        self.recurrence_adapter: Connection | None = None
        self.spatial_bias: nn.Parameter | None = None
        self.pool = pool
        self.norm = norm
        self.out_channels = out_channels
        # Shapes (C, H, W) of the input, middle stage and rate; set by build_shapes (rate_shape may also be
        # set directly for a standalone single-stage area with a channel bias).
        self.input_shape: tuple[int, int, int] | None = None
        self.mid_shape: tuple[int, int, int] | None = None
        self.rate_shape: tuple[int, int, int] | None = None
        self._target = {"input": _INPUT, "middle": _MIDDLE, "output": _OUTPUT}[recurrence_target]
        self._multiplicative = integration == "multiplicative"

    # ------------------------------------------------------------------ construction
    @property
    def has_middle_stage(self) -> bool:
        """Whether the area has two convolution stages (and so a ``"middle"`` recurrence target)."""
        return self.ff2 is not None

    @property
    def cell(self) -> GatedCell | None:
        """The area's gated cell (its recurrence module, for the gated types), else ``None``."""
        return self.recurrence if isinstance(self.recurrence, GatedCell) else None

    def build_shapes(self, input_shape: Sequence[int]) -> tuple[int, int, int]:
        """Infer the shapes from the input ``(C_in, H_in, W_in)``, create shape-dependent parameters.

        Returns the ``(C, H, W)`` of the area's output (after pooling), the input of the next area.

        Raises:
            RuntimeError: the convolutions or the pooling cannot run on that input (too small, wrong
                channels).
        """
        self.input_shape = tuple(int(s) for s in input_shape)  # type: ignore[assignment]
        weight = self.ff.weight
        with torch.no_grad():
            signal = torch.zeros(1, *self.input_shape, dtype=weight.dtype, device=weight.device)
            mid = self.ff(signal)
            rate = self.ff2(mid) if self.ff2 is not None else mid
            output = self.pool(rate) if self.pool is not None else rate
        self.mid_shape = tuple(mid.shape[1:]) if self.ff2 is not None else None  # type: ignore[assignment]
        self.rate_shape = tuple(rate.shape[1:])  # type: ignore[assignment]
        if self.bias_type == "spatial":
            self.spatial_bias = nn.Parameter(
                torch.zeros(self.rate_shape, dtype=weight.dtype, device=weight.device)
            )
        target_shape = {_INPUT: self.input_shape, _MIDDLE: self.mid_shape, _OUTPUT: self.rate_shape}[
            self._target
        ]
        if self.recurrence is not None and target_shape != self.rate_shape:
            self.recurrence_adapter = Connection(self.rate_shape, target_shape, init_std=None)
        return tuple(output.shape[1:])  # type: ignore[return-value]

    # ------------------------------------------------------------------ one time step
    def drive(self, signal: Tensor | None, r_past: Tensor | None, batch: int) -> Tensor:
        """Drive ``u`` ``(batch, C, H, W)`` of one time step, a new tensor the caller may modify in place.

        Args:
            signal: feedforward input ``(B, C_in, H_in, W_in)`` at ``t - d_ff``; ``None`` means zeros (the
                delayed signal has not arrived yet, or a blank stimulus), which contributes the bias only.
            r_past: the area's own rate ``r(t - d_rec)``; ``None`` means zeros (no recurrent contribution).
            batch: batch size ``B`` (needed when both inputs are ``None``).

        Raises:
            TypeError: the area's gated cell has a memory, which this call cannot carry (use
                :meth:`cell_drive`). A gated cell without memory gives its drive ``u`` here.
        """
        recurrence = self.recurrence
        if isinstance(recurrence, GatedCell):
            if recurrence.has_memory:
                raise TypeError(
                    f"RecurrentArea.drive cannot carry the memory of the area's {type(recurrence).__name__}; "
                    "call RecurrentArea.cell_drive(signal, r_past, memory, batch), which returns (u, memory)."
                )
            return self.cell_drive(signal, r_past, None, batch)[0]
        rec = None
        if r_past is not None and recurrence is not None:
            rec = recurrence(r_past)
            if self.recurrence_adapter is not None:
                rec = self.recurrence_adapter(rec)
        target = self._target
        if target == _OUTPUT:
            u = self._feedforward(signal, None, batch)
            if rec is not None:
                # u is a fresh conv output: adding in place is safe (the conv's backward does not need it).
                u = torch.addcmul(u, u, rec.tanh()) if self._multiplicative else u.add_(rec)
            return u
        if target == _INPUT and rec is not None:
            if signal is None:
                # A zero input times (1 + tanh R) stays zero; added, the recurrence alone is the input.
                signal = None if self._multiplicative else rec
            else:
                signal = torch.addcmul(signal, signal, rec.tanh()) if self._multiplicative else signal + rec
            rec = None
        return self._feedforward(signal, rec, batch)

    def cell_drive(
        self, signal: Tensor | None, r_past: Tensor | None, memory: Tensor | None, batch: int
    ) -> tuple[Tensor, Tensor | None]:
        """Drive ``u`` and new memory of a gated area: ``cell(W_ff * signal + b, r_past, memory)``.

        Args:
            signal: feedforward input ``(B, C_in, H_in, W_in)`` at ``t - d_ff``; ``None`` means zeros.
            r_past: the area's own rate ``r(t - d_rec)`` ``(B, C, H, W)``; ``None`` means zeros (the gates of
                the feedforward drive still act).
            memory: the cell's memory ``m(t - 1)`` ``(B, C, H, W)``; ``None`` means zeros.
            batch: batch size ``B`` (needed when ``signal`` is ``None``).

        Returns:
            ``(u, memory)``: ``u`` ``(B, C, H, W)`` is a new tensor the caller may modify in place; the
            memory is ``None`` for cells without one.

        Raises:
            TypeError: the area's recurrence is not a gated cell (use :meth:`drive`).
        """
        cell = self.recurrence
        if not isinstance(cell, GatedCell):
            raise TypeError(
                f"RecurrentArea.cell_drive needs a gated recurrence type; this area's recurrence is "
                f"{type(cell).__name__}. Call RecurrentArea.drive(signal, r_past, batch) instead."
            )
        return cell(self._feedforward(signal, None, batch), r_past, memory)

    def feedforward_drive(self, signal: Tensor | None, batch: int) -> Tensor:
        """The feedforward drive ``W_ff * signal + b`` alone ``(batch, C, H, W)``, a new tensor (the drive of
        any area without its recurrence; ``signal`` ``None`` means zeros)."""
        return self._feedforward(signal, None, batch)

    def _feedforward(self, signal: Tensor | None, mid_rec: Tensor | None, batch: int) -> Tensor:
        """Feedforward drive (convs, bias) of ``signal`` (``None`` = zeros); ``mid_rec`` enters the middle."""
        if self.ff2 is None:
            if signal is None:
                return self._null_drive(batch).clone()
            u = self.ff(signal)
        else:
            mid = self._null_middle(batch) if signal is None else self.ff(signal)
            if mid_rec is not None:
                mid = torch.addcmul(mid, mid, mid_rec.tanh()) if self._multiplicative else mid + mid_rec
            u = self.ff2(torch.relu(mid))
        if self.spatial_bias is not None:
            u.add_(self.spatial_bias)
        return u

    def _null_middle(self, batch: int) -> Tensor:
        """Middle stage for an all-zero input: the first conv's bias (or zeros), broadcast (a view)."""
        if self.mid_shape is None:
            raise RuntimeError("RecurrentArea.mid_shape is unset; call build_shapes first (the engine does).")
        c, height, width = self.mid_shape
        if self.ff.bias is None:
            return self.ff.weight.new_zeros(batch, c, height, width)
        return self.ff.bias.view(1, c, 1, 1).expand(batch, c, height, width)

    def _null_drive(self, batch: int) -> Tensor:
        """Drive of a single-stage area for zero input: the bias broadcast to ``(batch, C, H, W)``, a view."""
        if self.rate_shape is None:
            raise RuntimeError(
                "RecurrentArea.rate_shape is unset; the engine sets it when the model is built."
            )
        c, height, width = self.rate_shape
        if self.spatial_bias is not None:
            return self.spatial_bias.unsqueeze(0).expand(batch, c, height, width)
        if self.ff.bias is None:
            return self.ff.weight.new_zeros(batch, c, height, width)
        return self.ff.bias.view(1, c, 1, 1).expand(batch, c, height, width)
