"""Temporal engine: the time loop shared by all recurrent models of the zoo.

Units: ``dt``, ``tau`` and every ``t_*`` delay are in milliseconds; the loop runs in integer time steps of ``dt``
ms, and a delay of ``t_x`` ms is ``t_x / dt`` steps (delays must be multiples of ``dt``).

Dynamics of area ``l`` at step ``t`` (``t = 0 .. T-1``; all states and rates before ``t = 0`` are zero)::

    u_l(t) = W_ff,l * s_l(t - d_ff) + b_l + W_rec,l * r_l(t - d_rec)      drive
    h_l(t) = h_l(t-1) + (dt / tau) * (-h_l(t-1) + u_l(t))                  leaky integration (Euler)
    r_l(t) = ReLU(h_l(t))                                                   rate
    s_{l+1}(t) = pool_l(r_l(t))                                             output to the next area

``s_1(t)`` is the stimulus frame ``x(t)`` (V1 sees the stimulus without delay), ``d_ff = t_feedforward / dt``
steps between consecutive areas, ``d_rec = t_recurrence / dt >= 1`` steps. The classifier reads the last area's
output at the same step: ``logits(t) = W_cls · readout(s_L(t)) + b_cls``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from functools import partial

import torch
from torch import Tensor, nn

from ..layers.area import RecurrentArea
from ..layers.recurrence import check_recurrence_type
from .solvers import get_solver

__all__ = ["READOUTS", "TemporalModel", "delay_to_steps"]

#: Readouts from the last area's output ``(B, C, H, W)`` to classifier features.
READOUTS = ("avgpool", "flatten")

# Tolerance for "is a multiple of dt": delays such as 0.1 * 3 are not exact in binary floating point.
_REL_TOL = 1e-9


def delay_to_steps(name: str, value: float, dt: float) -> int:
    """Convert the delay ``name`` of ``value`` ms into whole steps of ``dt`` ms.

    Raises:
        ValueError: negative ``value``, or not a multiple of ``dt`` (the message names the nearest allowed values).
    """
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite delay >= 0 ms, got {value!r}.")
    steps = value / dt
    nearest = round(steps)
    if abs(steps - nearest) > _REL_TOL * max(1.0, abs(steps)):
        below, above = math.floor(steps) * dt, math.ceil(steps) * dt
        raise ValueError(
            f"{name}={value} ms is not a multiple of dt={dt} ms; delays are whole time steps. "
            f"Use {below:g} or {above:g} ms, or change dt."
        )
    return int(nearest)


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
    return value


class TemporalModel(nn.Module):
    """Base class of recurrent models unrolled in time; subclasses define the areas.

    Contract shared by all temporal models:

    - input ``(B, T, C, H, W)`` (a frame per time step) or a static image ``(B, C, H, W)`` shown for
      ``n_timesteps`` steps (repeated as a view, not copied); ``(C, H, W)`` must equal ``input_shape``;
    - output logits ``(B, T, n_classes)``, one classification per time step;
    - :meth:`forward_intermediates` additionally returns every area's rate at every step.

    Subclasses call ``super().__init__(...)`` with the common kwargs (validated here, once), then
    :meth:`_build` with their areas in feedforward order.

    Args:
        n_classes: number of output classes.
        input_shape: ``(C, H, W)`` of one stimulus frame.
        n_timesteps: steps a static image is shown for (a ``(B, T, ...)`` input sets ``T`` itself).
        dt: integration time step in ms (> 0).
        tau: membrane time constant in ms, the same for all areas (``>= dt`` for the Euler solver).
        t_feedforward: delay in ms between an area's output and the next area's input (multiple of ``dt``, >= 0).
        t_recurrence: delay in ms of the lateral recurrence (multiple of ``dt``, >= ``dt``); ``None`` = ``dt``.
        recurrence_type: lateral recurrence by name (``"full"``, ``"self"``, ``"none"``).
        solver: integration scheme by name (``"euler"``).
        readout: ``"avgpool"`` (global average over H, W, then Linear) or ``"flatten"`` (all units, then Linear).
    """

    def __init__(
        self,
        *,
        n_classes: int,
        input_shape: Sequence[int],
        n_timesteps: int,
        dt: float,
        tau: float,
        t_feedforward: float = 0.0,
        t_recurrence: float | None = None,
        recurrence_type: str = "full",
        solver: str = "euler",
        readout: str = "avgpool",
    ) -> None:
        super().__init__()
        self.n_classes = _check_positive_int("n_classes", n_classes)
        self.n_timesteps = _check_positive_int("n_timesteps", n_timesteps)
        shape = tuple(input_shape)
        if len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
            raise ValueError(f"input_shape must be (channels, height, width) of positive integers, got {input_shape!r}.")
        self.input_shape: tuple[int, int, int] = shape  # type: ignore[assignment]

        dt, tau = float(dt), float(tau)
        if not math.isfinite(dt) or dt <= 0:
            raise ValueError(f"dt must be a positive time step in ms, got {dt!r}.")
        self._solver = get_solver(solver)
        self.solver = solver
        if not math.isfinite(tau) or tau <= 0:
            raise ValueError(f"tau must be a positive time constant in ms, got {tau!r}.")
        if dt / tau > self._solver.max_alpha:
            raise ValueError(
                f"tau={tau} ms is smaller than dt={dt} ms: with dt/tau={dt / tau:.3g} > "
                f"{self._solver.max_alpha:g} the {solver!r} step h += (dt/tau)(-h + u) overshoots the fixed point "
                "every step (it oscillates, and diverges once dt/tau > 2). Use tau >= dt or a smaller dt."
            )
        self.dt, self.tau = dt, tau

        check_recurrence_type(recurrence_type)
        self.recurrence_type = recurrence_type
        t_recurrence = dt if t_recurrence is None else float(t_recurrence)
        self.t_feedforward = float(t_feedforward)
        self.t_recurrence = t_recurrence
        self._ff_steps = delay_to_steps("t_feedforward", self.t_feedforward, dt)
        rec_steps = delay_to_steps("t_recurrence", t_recurrence, dt)
        if rec_steps < 1:
            raise ValueError(
                f"t_recurrence must be at least one time step (dt={dt} ms), got {t_recurrence} ms: the recurrent "
                "input is the area's own past rate. Use t_recurrence >= dt."
            )
        self._rec_steps = rec_steps

        if readout not in READOUTS:
            raise ValueError(f"Unknown readout {readout!r}. Allowed: {', '.join(map(repr, READOUTS))}.")
        self.readout = readout

    # ------------------------------------------------------------------ construction
    def _build(self, areas: Mapping[str, RecurrentArea]) -> None:
        """Register ``areas`` (feedforward order), infer their shapes from ``input_shape``, build the classifier."""
        if not areas:
            raise ValueError("A temporal model needs at least one area.")
        self.areas = nn.ModuleDict(areas)
        self.area_names: tuple[str, ...] = tuple(areas)

        # One dry run of the feedforward path at batch 1 gives every area's rate shape and the readout width.
        signal = torch.zeros(1, *self.input_shape)
        with torch.no_grad():
            for name, area in areas.items():
                try:
                    rate = area.ff(signal)
                    signal = area.pool(rate) if area.pool is not None else rate
                except RuntimeError as err:
                    raise ValueError(
                        f"input_shape={self.input_shape} is too small or inconsistent for area {name!r} "
                        f"(input {tuple(signal.shape[1:])}): {err}"
                    ) from err
                area.rate_shape = tuple(rate.shape[1:])  # type: ignore[assignment]
        n_features = signal.shape[1] if self.readout == "avgpool" else signal[0].numel()
        self.classifier = nn.Linear(n_features, self.n_classes)

        # Plain tuples of modules and Python ints for the time loop: no ModuleDict or attribute lookups per step.
        n = len(areas)
        self._area_list: tuple[RecurrentArea, ...] = tuple(areas.values())
        self._area_ff_steps: tuple[int, ...] = (0,) + (self._ff_steps,) * (n - 1)
        self._area_rec_steps: tuple[int, ...] = tuple(
            self._rec_steps if a.recurrence is not None else 0 for a in self._area_list
        )
        self._area_alphas: tuple[float, ...] = (self.dt / self.tau,) * n

    # ------------------------------------------------------------------ public API
    def first_driven_step(self, area: str) -> int:
        """Index of the first step (0-based) at which a stimulus shown from step 0 reaches ``area``.

        With a feedforward delay of ``d_ff`` steps, area number ``i`` (0-based, feedforward order) is reached at
        step ``i * d_ff``; earlier it is driven by its bias only.
        """
        try:
            index = self.area_names.index(area)
        except ValueError:
            raise ValueError(f"Unknown area {area!r}. Areas of this model: {', '.join(self.area_names)}.") from None
        return sum(self._area_ff_steps[: index + 1])

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, T, n_classes)`` for ``x`` of shape ``(B, T, C, H, W)`` or static ``(B, C, H, W)``."""
        logits, _ = self._unroll(self._as_sequence(x), ())
        return logits

    def forward_intermediates(
        self, x: Tensor, areas: Iterable[str] | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Logits and per-area rates at every step.

        Args:
            x: ``(B, T, C, H, W)`` or static ``(B, C, H, W)`` (shown for ``n_timesteps`` steps).
            areas: names of the areas to record (default: all).

        Returns:
            ``(logits, responses)``: logits ``(B, T, n_classes)``; ``responses[area]`` is ``(B, T, C_a, H_a, W_a)``,
            the rate ``r_a(t) = ReLU(h_a(t))`` of that area at every step (after the nonlinearity, before pooling).
        """
        names = self.area_names if areas is None else tuple(areas)
        unknown = [a for a in names if a not in self.area_names]
        if unknown:
            raise ValueError(f"Unknown area(s) {unknown}. Areas of this model: {', '.join(self.area_names)}.")
        indices = tuple(self.area_names.index(a) for a in names)
        logits, recorded = self._unroll(self._as_sequence(x), indices)
        return logits, {self.area_names[i]: torch.stack(recorded[i], dim=1) for i in indices}

    def extra_repr(self) -> str:
        return (
            f"input_shape={self.input_shape}, n_timesteps={self.n_timesteps}, dt={self.dt} ms, tau={self.tau} ms, "
            f"t_feedforward={self.t_feedforward} ms, t_recurrence={self.t_recurrence} ms, "
            f"recurrence_type={self.recurrence_type!r}, solver={self.solver!r}, readout={self.readout!r}"
        )

    # ------------------------------------------------------------------ internals
    def _as_sequence(self, x: Tensor) -> Tensor:
        """Validate ``x`` and return it as ``(B, T, C, H, W)`` (a static image is expanded, not copied)."""
        if x.dim() == 4:
            frame_shape = tuple(x.shape[1:])
        elif x.dim() == 5:
            frame_shape = tuple(x.shape[2:])
        else:
            raise ValueError(
                f"Expected input (batch, time, channels, height, width) or a static image (batch, channels, "
                f"height, width) with (channels, height, width)={self.input_shape}; got shape {tuple(x.shape)}."
            )
        if frame_shape != self.input_shape:
            raise ValueError(
                f"Input frames have (channels, height, width)={frame_shape} (input shape {tuple(x.shape)}), but "
                f"the model was built for input_shape={self.input_shape}. Resize the data or rebuild the model "
                "with a matching input_shape."
            )
        if x.dim() == 4:
            return x.unsqueeze(1).expand(x.shape[0], self.n_timesteps, *frame_shape)
        if x.shape[1] < 1:
            raise ValueError(f"Input has no time steps: shape {tuple(x.shape)}.")
        return x

    def _unroll(self, x: Tensor, record: tuple[int, ...]) -> tuple[Tensor, dict[int, list[Tensor]]]:
        """Run the dynamics over all steps of ``x`` ``(B, T, C, H, W)``; record the rates of areas ``record``."""
        batch, n_steps = x.shape[0], x.shape[1]
        areas = self._area_list
        n_areas = len(areas)
        ff_steps, rec_steps, alphas = self._area_ff_steps, self._area_rec_steps, self._area_alphas
        solver = self._solver.step
        flatten = self.readout == "flatten"

        states: list[Tensor | None] = [None] * n_areas
        # Ring buffer of the last d_rec rates per area: slot t % d_rec holds r(t - d_rec) until step t overwrites it.
        rate_rings: list[list[Tensor | None]] = [[None] * d for d in rec_steps]
        # Ring buffer of the last d_ff + 1 outputs of area i, read by area i + 1 at slot (t - d_ff) % (d_ff + 1).
        out_rings: list[list[Tensor | None]] = [[None] * (ff_steps[i + 1] + 1) for i in range(n_areas - 1)]
        recorded: dict[int, list[Tensor]] = {i: [] for i in record}
        features: list[Tensor] = []

        for t in range(n_steps):
            signal: Tensor | None = x[:, t]
            out: Tensor
            for i in range(n_areas):
                area = areas[i]
                if i:
                    ring = out_rings[i - 1]
                    delay = ff_steps[i]
                    signal = ring[(t - delay) % (delay + 1)] if t >= delay else None
                rate_ring = rate_rings[i]
                if rate_ring:
                    slot = t % rec_steps[i]
                    h = solver(states[i], partial(area.drive, signal, rate_ring[slot], batch), alphas[i])
                    rate = torch.relu(h)
                    rate_ring[slot] = rate
                else:
                    h = solver(states[i], partial(area.drive, signal, None, batch), alphas[i])
                    rate = torch.relu(h)
                states[i] = h
                if i in recorded:
                    recorded[i].append(rate)
                out = area.pool(rate) if area.pool is not None else rate
                if i < n_areas - 1:
                    out_rings[i][t % (ff_steps[i + 1] + 1)] = out
            features.append(out.flatten(1) if flatten else out.mean(dim=(-2, -1)))

        logits = self.classifier(torch.stack(features, dim=1))
        return logits, recorded
