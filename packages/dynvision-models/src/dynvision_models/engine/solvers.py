"""Numerical solvers for the leaky dynamics ``tau * dh/dt = -h + F(h, x)``, chosen by name.

One solver call advances the hidden state ``h`` of one area by one time step of ``dt`` milliseconds. It gets

- ``h``: the state at the previous step, or ``None`` for the zero initial state (saves allocating zeros); the
  engine passes the value its ``leak`` names, the state or the previous rate
  (:data:`~dynvision_models.engine.temporal.LEAKS`);
- ``drive``: a callable ``drive(h) -> u`` returning ``F(h, x)`` for the current step. Euler and the exponential
  solver evaluate it once, at the old state; RK4 evaluates it again at its three intermediate stages, so a
  drive that depends on the state (instantaneous recurrence, adaptation) is integrated to fourth order;
- ``alpha``: ``dt / tau`` (dimensionless; a float, or a tensor broadcastable to ``h`` -- e.g. ``(1, C, 1, 1)``
  or 0-d -- once tau is trainable; gradients flow through it).

Available solvers (see :func:`list_solvers`):

- ``"euler"``: forward Euler, first order, one drive evaluation, stable without oscillation for ``alpha <= 1``;
- ``"rk4"``: classical Runge-Kutta, fourth order, four drive evaluations, ``alpha <= 2.5``;
- ``"exponential"``: exponential Euler, exact when the drive is constant over the step (first order otherwise),
  one drive evaluation, unconditionally stable.

The drive callable has no time argument: every stage of one step sees the same input ``x`` (the engine holds
the input constant over a step). Under that zero-order hold a drive that ignores ``h`` is constant over the
step, so the exponential solver is exact and RK4 only approximates the same decay ``exp(-alpha)`` at four times
the cost; RK4 pays off when the drive depends on the state.

Solvers are small stateless objects (not ``nn.Module``s): the engine looks one up by name once, in its
constructor, and calls it directly in the time loop (no name lookup per step).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor

__all__ = [
    "Drive",
    "EulerSolver",
    "ExponentialSolver",
    "RK4Solver",
    "Solver",
    "get_solver",
    "list_solvers",
    "register_solver",
]

#: ``drive(h)`` returns the drive ``F(h, x)`` of the current step; ``h`` may be ``None`` (zero state).
Drive = Callable[[Tensor | None], Tensor]

_SOLVERS: dict[str, type[Solver]] = {}


class Solver:
    """Base class of a one-step solver for ``tau * dh/dt = -h + F(h, x)``.

    Subclasses set :attr:`name`, :attr:`drive_evaluations` (how often :meth:`step` calls ``drive``) and
    :attr:`max_alpha` (largest ``dt / tau`` for which the step is stable and non-oscillating; ``inf`` if any),
    and implement :meth:`step`.
    """

    name: ClassVar[str]
    drive_evaluations: ClassVar[int] = 1
    max_alpha: ClassVar[float] = float("inf")

    def step(self, h: Tensor | None, drive: Drive, alpha: float | Tensor) -> Tensor:
        """Return ``h(t)`` from ``h(t - dt)`` (``None`` = zeros), the drive callable and ``alpha = dt / tau``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def register_solver(cls: type[Solver]) -> type[Solver]:
    """Class decorator registering a :class:`Solver` subclass under its ``name``."""
    if cls.name in _SOLVERS:
        raise ValueError(
            f"A solver named {cls.name!r} is already registered ({_SOLVERS[cls.name].__qualname__})."
        )
    _SOLVERS[cls.name] = cls
    return cls


def _match_dtype(weight: float | Tensor, like: Tensor) -> float | Tensor:
    """Cast a tensor step weight to the dtype of the state, so that it neither promotes ``h`` nor trips ``lerp``.

    ``torch.lerp`` rejects a non-0-d weight of another dtype, and ``h + weight * k`` would silently promote a
    float32 state to float64. The cast is differentiable; floats and matching tensors pass through unchanged.
    """
    if isinstance(weight, Tensor) and weight.dtype != like.dtype:
        return weight.to(like.dtype)
    return weight


def _axpy(x: Tensor | None, a: float | Tensor, y: Tensor) -> Tensor:
    """``x + a * y`` with ``x = None`` meaning zeros; fused into one kernel when ``a`` is a Python number."""
    if x is None:
        return y * a
    if isinstance(a, Tensor):
        return x + a * y
    return torch.add(x, y, alpha=a)


@register_solver
class EulerSolver(Solver):
    """Forward Euler: ``h(t) = h(t-1) + (dt/tau) * (-h(t-1) + F(h(t-1), x(t)))``.

    First order in ``dt``; one drive evaluation, at the old state. For the decay ``dh/dt = -h / tau`` one step
    multiplies ``h`` by ``1 - dt/tau``: stable without oscillation for ``dt/tau <= 1``; with ``dt/tau > 1`` each
    step overshoots the fixed point (oscillation, divergence beyond 2), hence :attr:`max_alpha` = 1.
    """

    name = "euler"
    drive_evaluations = 1
    max_alpha = 1.0

    def step(self, h: Tensor | None, drive: Drive, alpha: float | Tensor) -> Tensor:
        u = drive(h)
        alpha = _match_dtype(alpha, u)
        if h is None:
            # Zero initial state: h + alpha * (u - h) reduces to alpha * u.
            return u * alpha
        # lerp computes h + alpha * (u - h) in one fused kernel (one allocation instead of three).
        return torch.lerp(h, u, alpha)


@register_solver
class RK4Solver(Solver):
    """Classical fourth-order Runge-Kutta for ``dh/dt = (-h + F(h, x)) / tau``, in units of the step ``dt``.

    With ``a = dt / tau`` and ``k(s) = F(s, x) - s`` (the right-hand side times ``tau``)::

        k1 = k(h)
        k2 = k(h + a/2 * k1)
        k3 = k(h + a/2 * k2)
        k4 = k(h + a * k3)
        h(t) = h(t-1) + a/6 * (k1 + 2 k2 + 2 k3 + k4)

    Four drive evaluations per step: ``drive(h)`` at the old state (``drive(None)`` for the zero state; later
    stages always pass tensors), then at the three intermediate states. The stages correspond to the times
    ``t-dt, t-dt/2, t-dt/2, t``, but the drive has no time argument: the engine's input is held constant over
    the step. Local error ``O(dt^5)``, global error ``O(dt^4)`` for a drive that is smooth in ``h``.

    Stability: for the test equation ``dh/dt = -h / tau`` (drive independent of ``h``) one step multiplies
    ``h - F`` by ``R(-a) = 1 - a + a^2/2 - a^3/6 + a^4/24``. ``R`` is positive for every real argument (an
    even-degree Taylor polynomial of ``exp``), so RK4 never flips the sign of the deviation (no oscillation),
    and ``|R(-a)| < 1`` exactly for ``a < 2.7853``. :attr:`max_alpha` is set conservatively to 2.5, about 10%
    below that bound, because the drive itself can add decay: the bound applies to the effective step
    ``(1 - lambda) * a`` for each eigenvalue ``lambda`` of ``dF/dh``, e.g. ``(1 + k) * a`` for a state-dependent
    drive ``F = -k h + ...``. Note that accuracy degrades well before the bound: ``R(-a)`` is smallest
    at ``a = 1.596`` and beyond it a larger step decays *less* per step (``R(-2.5) = 0.65`` against
    ``exp(-2.5) = 0.08``).
    """

    name = "rk4"
    drive_evaluations = 4
    max_alpha = 2.5

    def step(self, h: Tensor | None, drive: Drive, alpha: float | Tensor) -> Tensor:
        u1 = drive(h)
        alpha = _match_dtype(alpha, u1)
        half = alpha * 0.5
        # k = F(s) - s; with the zero state (h is None) the first stage is k1 = F(0) and h + c * k = c * k.
        k1 = u1 if h is None else u1 - h
        s2 = _axpy(h, half, k1)
        k2 = drive(s2) - s2
        s3 = _axpy(h, half, k2)
        k3 = drive(s3) - s3
        s4 = _axpy(h, alpha, k3)
        k4 = drive(s4) - s4
        # k1 + 2 (k2 + k3) + k4; out of place throughout: drive outputs may be views of parameters (a broadcast
        # bias) and the stages are saved for backward when alpha requires grad.
        increment = torch.add(k1, k2 + k3, alpha=2.0) + k4
        return _axpy(h, alpha / 6.0, increment)


@register_solver
class ExponentialSolver(Solver):
    """Exponential Euler: ``h(t) = u + (h(t-1) - u) * exp(-dt/tau)`` with ``u = F(h(t-1), x(t))``.

    The exact solution of ``tau * dh/dt = -h + u`` over one step when the drive ``u`` is constant over the
    step, so exact for any ``dt`` under the engine's zero-order hold of the input with a drive that ignores
    ``h`` (delayed recurrence); first order in ``dt`` when the drive varies over the step (state-dependent or
    time-varying drive). One drive evaluation, at the old state. Computed as
    ``lerp(h, u, 1 - exp(-dt/tau))`` with ``1 - exp(-a) = -expm1(-a)`` (accurate for small ``a``).

    Unconditionally stable: the deviation from ``u`` is multiplied by ``exp(-dt/tau)`` in ``(0, 1)`` for every
    ``dt / tau > 0``, never overshooting, hence :attr:`max_alpha` = ``inf``.
    """

    name = "exponential"
    drive_evaluations = 1
    max_alpha = float("inf")

    def step(self, h: Tensor | None, drive: Drive, alpha: float | Tensor) -> Tensor:
        u = drive(h)
        alpha = _match_dtype(alpha, u)
        # weight = 1 - exp(-alpha), the fraction of the way from h to u covered in one step.
        weight = torch.expm1(-alpha).neg() if isinstance(alpha, Tensor) else -math.expm1(-alpha)
        if h is None:
            # Zero initial state: u + (0 - u) * exp(-alpha) = weight * u.
            return u * weight
        return torch.lerp(h, u, weight)


def list_solvers() -> list[str]:
    """Sorted names of the available solvers."""
    return sorted(_SOLVERS)


def get_solver(name: str) -> Solver:
    """Instantiate the solver registered as ``name`` (``"euler"``, ``"rk4"`` or ``"exponential"``).

    Raises:
        ValueError: unknown name; the message suggests a close match and lists the available solvers.
    """
    cls = _SOLVERS.get(name) if isinstance(name, str) else None
    if cls is None:
        available = ", ".join(repr(n) for n in list_solvers())
        close = difflib.get_close_matches(str(name).lower(), list(_SOLVERS), n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown solver {name!r}.{hint} Available solvers: {available}.")
    return cls()
