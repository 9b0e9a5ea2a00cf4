"""Gated convolutional recurrent cells (ConvRNN): the drive of an area computed by a gated cell.

After Nayebi, Bear, Kubilius et al. (2018), "Task-driven convolutional recurrent models of the visual
system" (NeurIPS), who compared these cells as the local recurrence of deep CNNs, and Collins,
Sohl-Dickstein and Sussillo (2017), "Capacity and trainability in recurrent neural networks" (ICLR), for the
UGRNN and the IntersectionRNN.

A gated cell replaces the additive recurrent term of the other recurrence types: it combines the area's
feedforward drive with its own past rate itself and returns the drive ``u`` that the engine integrates
(:mod:`dynvision_models.engine.temporal`). Per area and time step, with shapes ``(B, C, H, W)``:

- ``x = W_ff * s + b``: the area's feedforward drive (its convolution(s) of the input ``s``, with the bias);
- ``r = r(t - d_rec)``: the area's own past rate, the cell's previous output (zeros while there is no
  history);
- ``m = m(t - 1)``: the cell's memory from the previous step, for the cells that have one (zeros at first).

Notation: ``W_a * x`` and ``U_a * r`` are ``k x k`` convolutions ``C -> C`` ("same" padding, no bias),
``b_a`` one bias per channel, ``σ`` the logistic sigmoid, ``.`` the elementwise product. The cells:

- ``gru``: ``z = σ(W_z*x + U_z*r + b_z)``, ``g = σ(W_g*x + U_g*r + b_g)``, candidate
  ``c~ = x + U*(g . r)``, ``u = (1 - z) . r + z . c~``;
- ``lstm``: ``i, f, o = σ(W_a*x + U_a*r + b_a)`` for ``a = i, f, o``, candidate ``c~ = x + U*r``, memory
  ``c = f . m + i . c~``, ``u = o . c``;
- ``ugrnn`` (Collins et al.): ``g = σ(W_g*x + U_g*r + b_g)``, ``c~ = x + U*r``,
  ``u = (1 - g) . r + g . c~``;
- ``intersection`` (Collins et al.'s +RNN): two outputs, ``y`` through depth and ``h`` through time (the
  memory). ``g_y, g_h = σ(W_a*x + U_a*m + b_a)``, ``y~ = ReLU(x + U_y*m)``, ``h~ = tanh(x + U_h*m)``,
  ``u = g_y . x + (1 - g_y) . y~``, memory ``h = g_h . m + (1 - g_h) . h~``;
- ``reciprocalgated`` (Nayebi et al.): the memory ``c`` gates the input to the output, the output gates the
  input to the memory, and both carry a gated copy of themselves:
  ``u = (1 - σ(W_ch*m + b_ch)) . x + (1 - σ(W_hh*r + b_hh)) . r``,
  memory ``c = ELU((1 - σ(W_hc*r + b_hc)) . x + (1 - σ(W_cc*m + b_cc)) . m)``.

Differences from the textbook cells, all deliberate:

- **Output nonlinearity**: the engine rectifies after each solver step (``rate = g(ReLU(h))``, with the
  optional supralinearity ``g``), so the cells return the drive before any output nonlinearity. The textbook
  tanh of the GRU, LSTM and UGRNN candidate and of the LSTM output, and the ELU of the reciprocal gated
  cell's output, are replaced by the engine's rate nonlinearity, applied once to ``u``; candidates are linear
  in ``x`` and ``r``. Internal nonlinearities that do not produce the output are kept (the IntersectionRNN's
  ``ReLU`` and ``tanh``, the ELU of the reciprocal gated cell's memory). With ``dt = tau`` (Euler,
  ``leak="state"``, no supralinearity, ``t_recurrence = dt``) the area's rate is then exactly the textbook
  recursion with ReLU as the output nonlinearity, ``r(t) = ReLU(u(t))``.
- **Input weights**: the candidate's input weight is the area's feedforward convolution (``x`` enters the
  candidates as it is, as the ``full`` recurrence adds to it); the gates get their own convolutions of ``x``.
- **Gate orientation**: every update gate weighs the candidate (``z``, ``g``, ``g_y`` near 1 let the
  feedforward drive through); Collins et al. write the UGRNN with ``g`` and ``1 - g`` exchanged.
- **Biases**: gates have biases (the reciprocal gated cell of the paper has none) so that the cell can start
  close to its feedforward sweep.
- **Time**: the cell reads the past *rate* ``r(t - d_rec)`` (``t_recurrence`` applies, as to every lateral
  input) and its *memory* from the previous step (the unit's own state, no conduction delay). The
  IntersectionRNN's recurrence runs entirely through its memory ``h``: it never reads its rate, so
  ``t_recurrence`` does not change it. The memory is updated once per step, before the solver step, which
  then integrates ``tau dh/dt = -h + u`` as for any recurrence type (every solver, ``tau`` and ``leak``
  apply).
- **Connections**: skip and feedback connections (and intrinsic adaptation) enter the drive after the
  cell, ``u + sum_j C_jl(r_j)``, as for every other type; the cell never sees them. ``feedforward_only``
  bypasses the cell (``u = x``).

Initialisation (the untrained network behaves close to its feedforward sweep, as with the other recurrence
types): all convolution weights start uniform in ``±init_scale``; gate biases start at ``±GATE_BIAS`` so
that each gate lets the feedforward drive pass (``σ(3) ≈ 0.95``): GRU ``z``, ``g`` open; LSTM ``i``, ``o``
open and ``f`` closed; UGRNN ``g`` open; IntersectionRNN ``g_y`` open (the output is the drive) and ``g_h``
closed (the memory follows ``h~``); reciprocal gated cell ``b_ch = b_hc = -GATE_BIAS`` (the input passes to
output and memory), ``b_hh = b_cc = +GATE_BIAS`` (neither integrates itself). For a constant drive the GRU,
UGRNN, IntersectionRNN and reciprocal gated cell then settle at the feedforward rate ``ReLU(x)`` (up to the
small recurrent weights), the LSTM at ``σ(GATE_BIAS) ReLU(x)``.

Every cell is a :class:`GatedCell`: ``cell(x, r, m) -> (u, m_new)``, with ``r`` or ``m`` ``None`` for zeros
(``m_new`` is ``None`` for the cells without memory). ``u`` is always a new tensor (the engine adds skip and
feedback connections to it in place).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .topographic import _check_init_scale, _check_odd_kernel

__all__ = [
    "GATE_BIAS",
    "GRUCell",
    "GatedCell",
    "IntersectionCell",
    "LSTMCell",
    "ReciprocalGatedCell",
    "UGRNNCell",
]

#: Magnitude of the initial gate biases: an open gate starts at ``σ(3) ≈ 0.953``, a closed one at ``0.047``,
#: so the untrained cell passes its feedforward drive within 5% while the gates still get gradient
#: (``σ'(3) ≈ 0.045``; a gate saturated to the ``1e-3`` closeness of the other types' weights would hardly
#: learn).
GATE_BIAS = 3.0


def _conv(channels: int, out_channels: int, kernel_size: int, init_scale: float, bias: bool) -> nn.Conv2d:
    """``k x k`` conv ``channels -> out_channels``, "same" padding, weights uniform in ``±init_scale``."""
    conv = nn.Conv2d(channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)
    nn.init.uniform_(conv.weight, -init_scale, init_scale)
    return conv


def _set_bias(conv: nn.Conv2d, values: list[float], channels: int) -> None:
    """Fill the bias of ``conv`` block by block: ``values[j]`` for output channels ``j*C .. (j+1)*C - 1``."""
    assert conv.bias is not None
    with torch.no_grad():
        conv.bias.copy_(torch.tensor(values).repeat_interleave(channels))


def _bias(conv: nn.Conv2d) -> Tensor:
    """The bias of ``conv`` as ``(1, C_out, 1, 1)``: its output for a zero input."""
    assert conv.bias is not None
    return conv.bias.view(1, -1, 1, 1)


class GatedCell(nn.Module):
    """Base class of the gated cells: ``cell(x, r, m) -> (u, m_new)`` (see the module docstring).

    Subclasses set :attr:`has_memory` (the engine carries ``m`` from step to step) and :attr:`reads_rate`
    (whether the cell reads the past rate ``r``; the engine then keeps the rate history for it).
    """

    has_memory: ClassVar[bool] = False
    reads_rate: ClassVar[bool] = True

    def __init__(self, channels: int, kernel_size: int, init_scale: float) -> None:
        super().__init__()
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels must be an integer >= 1, got {channels!r}.")
        self.channels = channels
        self.kernel_size = _check_odd_kernel("Recurrent kernel_size", kernel_size)
        self.init_scale = _check_init_scale(init_scale)

    def forward(self, x: Tensor, r: Tensor | None, memory: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """``(u, m_new)`` from the feedforward drive ``x``, the past rate ``r`` and the memory ``m``.

        Args:
            x: feedforward drive ``(B, C, H, W)``.
            r: past rate ``r(t - d_rec)`` ``(B, C, H, W)``; ``None`` means zeros (no history yet).
            memory: ``m(t - 1)`` ``(B, C, H, W)``; ``None`` means zeros (first step; ignored without memory).
        """
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"channels={self.channels}, kernel_size={self.kernel_size}"


class GRUCell(GatedCell):
    """Convolutional GRU: update gate ``z``, reset gate ``g``, candidate ``x + U*(g . r)``.

    ``u = (1 - z) . r + z . c~``. Weights: ``input_gates`` ``(W_z; W_g)`` with biases ``(b_z; b_g)``,
    ``recurrent_gates`` ``(U_z; U_g)``, ``candidate`` ``U``. Parameters: ``5 C**2 k**2 + 2 C``.
    """

    def __init__(self, channels: int, kernel_size: int = 3, init_scale: float = 1e-3) -> None:
        super().__init__(channels, kernel_size, init_scale)
        c, k, s = channels, self.kernel_size, self.init_scale
        self.input_gates = _conv(c, 2 * c, k, s, bias=True)
        self.recurrent_gates = _conv(c, 2 * c, k, s, bias=False)
        self.candidate = _conv(c, c, k, s, bias=False)
        _set_bias(self.input_gates, [GATE_BIAS, GATE_BIAS], c)

    def forward(self, x: Tensor, r: Tensor | None, memory: Tensor | None) -> tuple[Tensor, None]:
        gates = self.input_gates(x)
        if r is None:
            # r = 0: the reset gate has nothing to reset and the candidate is x.
            return torch.sigmoid(gates[:, : self.channels]) * x, None
        z, g = torch.sigmoid(gates + self.recurrent_gates(r)).chunk(2, dim=1)
        candidate = x + self.candidate(g * r)
        return torch.lerp(r, candidate, z), None


class LSTMCell(GatedCell):
    """Convolutional LSTM: gates ``i``, ``f``, ``o``, memory ``c = f . m + i . (x + U*r)``, ``u = o . c``.

    Weights: ``input_gates`` ``(W_i; W_f; W_o)`` with biases ``(b_i; b_f; b_o)``, ``recurrent``
    ``(U_i; U_f; U_o; U)`` (the gates' and the candidate's convolutions of ``r``, computed as one).
    Parameters: ``7 C**2 k**2 + 3 C``.
    """

    has_memory = True

    def __init__(self, channels: int, kernel_size: int = 3, init_scale: float = 1e-3) -> None:
        super().__init__(channels, kernel_size, init_scale)
        c, k, s = channels, self.kernel_size, self.init_scale
        self.input_gates = _conv(c, 3 * c, k, s, bias=True)
        self.recurrent = _conv(c, 4 * c, k, s, bias=False)
        _set_bias(self.input_gates, [GATE_BIAS, -GATE_BIAS, GATE_BIAS], c)

    def forward(self, x: Tensor, r: Tensor | None, memory: Tensor | None) -> tuple[Tensor, Tensor]:
        gates = self.input_gates(x)
        candidate = x
        if r is not None:
            recurrent = self.recurrent(r)
            gates = gates + recurrent[:, : 3 * self.channels]
            candidate = x + recurrent[:, 3 * self.channels :]
        i, f, o = torch.sigmoid(gates).chunk(3, dim=1)
        c = i * candidate if memory is None else torch.addcmul(i * candidate, f, memory)
        return o * c, c


class UGRNNCell(GatedCell):
    """Convolutional UGRNN (Collins et al. 2017): one update gate ``g``, ``u = (1 - g) . r + g . (x + U*r)``.

    Weights: ``input_gate`` ``W_g`` with bias ``b_g``, ``recurrent`` ``(U_g; U)``. Parameters:
    ``3 C**2 k**2 + C``.
    """

    def __init__(self, channels: int, kernel_size: int = 3, init_scale: float = 1e-3) -> None:
        super().__init__(channels, kernel_size, init_scale)
        c, k, s = channels, self.kernel_size, self.init_scale
        self.input_gate = _conv(c, c, k, s, bias=True)
        self.recurrent = _conv(c, 2 * c, k, s, bias=False)
        _set_bias(self.input_gate, [GATE_BIAS], c)

    def forward(self, x: Tensor, r: Tensor | None, memory: Tensor | None) -> tuple[Tensor, None]:
        gate = self.input_gate(x)
        if r is None:
            return torch.sigmoid(gate) * x, None
        u_g, u_c = self.recurrent(r).chunk(2, dim=1)
        return torch.lerp(r, x + u_c, torch.sigmoid(gate + u_g)), None


class IntersectionCell(GatedCell):
    """Convolutional IntersectionRNN (+RNN, Collins et al. 2017): output ``y`` through depth, memory ``h``
    through time; ``u = g_y . x + (1 - g_y) . ReLU(x + U_y*m)``,
    ``h = g_h . m + (1 - g_h) . tanh(x + U_h*m)``.

    Reads its memory, not its rate (``t_recurrence`` does not apply). Weights: ``input_gates``
    ``(W_gy; W_gh)`` with biases ``(b_gy; b_gh)``, ``recurrent`` ``(U_gy; U_gh; U_y; U_h)`` (convolutions of
    the memory).
    Parameters: ``6 C**2 k**2 + 2 C``.
    """

    has_memory = True
    reads_rate = False

    def __init__(self, channels: int, kernel_size: int = 3, init_scale: float = 1e-3) -> None:
        super().__init__(channels, kernel_size, init_scale)
        c, k, s = channels, self.kernel_size, self.init_scale
        self.input_gates = _conv(c, 2 * c, k, s, bias=True)
        self.recurrent = _conv(c, 4 * c, k, s, bias=False)
        _set_bias(self.input_gates, [GATE_BIAS, -GATE_BIAS], c)

    def forward(self, x: Tensor, r: Tensor | None, memory: Tensor | None) -> tuple[Tensor, Tensor]:
        gates = self.input_gates(x)
        y_in = h_in = x
        if memory is not None:
            recurrent = self.recurrent(memory)
            c = self.channels
            gates = gates + recurrent[:, : 2 * c]
            y_in = x + recurrent[:, 2 * c : 3 * c]
            h_in = x + recurrent[:, 3 * c :]
        g_y, g_h = torch.sigmoid(gates).chunk(2, dim=1)
        u = torch.lerp(torch.relu(y_in), x, g_y)
        h_in = torch.tanh(h_in)
        h = h_in * (1.0 - g_h) if memory is None else torch.lerp(h_in, memory, g_h)
        return u, h


class ReciprocalGatedCell(GatedCell):
    """Reciprocal gated cell (Nayebi et al. 2018): output and memory gate each other's input.

    ``u = (1 - σ(W_ch*m + b_ch)) . x + (1 - σ(W_hh*r + b_hh)) . r`` and
    ``c = ELU((1 - σ(W_hc*r + b_hc)) . x + (1 - σ(W_cc*m + b_cc)) . m)``. Weights: ``rate_gates``
    ``(W_hh; W_hc)`` with biases ``(b_hh; b_hc)`` (convolutions of ``r``), ``memory_gates`` ``(W_ch; W_cc)``
    with biases ``(b_ch; b_cc)`` (convolutions of ``m``). Parameters: ``4 C**2 k**2 + 4 C``.
    """

    has_memory = True

    def __init__(self, channels: int, kernel_size: int = 3, init_scale: float = 1e-3) -> None:
        super().__init__(channels, kernel_size, init_scale)
        c, k, s = channels, self.kernel_size, self.init_scale
        self.rate_gates = _conv(c, 2 * c, k, s, bias=True)
        self.memory_gates = _conv(c, 2 * c, k, s, bias=True)
        _set_bias(self.rate_gates, [GATE_BIAS, -GATE_BIAS], c)
        _set_bias(self.memory_gates, [-GATE_BIAS, GATE_BIAS], c)

    def forward(self, x: Tensor, r: Tensor | None, memory: Tensor | None) -> tuple[Tensor, Tensor]:
        # A zero r (m) gives each gate its bias alone; 1 - σ(a) = σ(-a).
        rate_gates = _bias(self.rate_gates) if r is None else self.rate_gates(r)
        memory_gates = _bias(self.memory_gates) if memory is None else self.memory_gates(memory)
        rate_self, memory_input = torch.sigmoid(-rate_gates).chunk(2, dim=1)
        rate_input, memory_self = torch.sigmoid(-memory_gates).chunk(2, dim=1)
        u = rate_input * x if r is None else torch.addcmul(rate_input * x, rate_self, r)
        c = memory_input * x if memory is None else torch.addcmul(memory_input * x, memory_self, memory)
        return u, F.elu(c)
