"""Numerical solvers for the leaky dynamics ``tau * dh/dt = -h + F(h, x)``, chosen by name.

One solver call advances the hidden state ``h`` of one area by one time step of ``dt`` milliseconds. It gets

- ``h``: the state at the previous step, or ``None`` for the zero initial state (saves allocating zeros);
- ``drive``: a callable ``drive(h) -> u`` returning ``F(h, x)`` for the current step. Euler evaluates it once
  at the old state; higher-order solvers (RK4, planned) evaluate it again at their intermediate stages, so a
  drive that depends on the state (instantaneous recurrence, adaptation) is integrated correctly;
- ``alpha``: ``dt / tau`` (dimensionless; a float, or a tensor once tau is trainable).

Solvers are small stateless objects (not ``nn.Module``s): the engine looks one up by name once, in its
constructor, and calls it directly in the time loop (no name lookup per step).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor

__all__ = ["Drive", "EulerSolver", "Solver", "get_solver", "list_solvers", "register_solver"]

#: ``drive(h)`` returns the drive ``F(h, x)`` of the current step; ``h`` may be ``None`` (zero state).
Drive = Callable[[Tensor | None], Tensor]

_SOLVERS: dict[str, type[Solver]] = {}
# Names announced in the documentation but not implemented yet; they get a dedicated error message.
_PLANNED_SOLVERS = ("rk4", "exponential")


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
        raise ValueError(f"A solver named {cls.name!r} is already registered ({_SOLVERS[cls.name].__qualname__}).")
    _SOLVERS[cls.name] = cls
    return cls


@register_solver
class EulerSolver(Solver):
    """Forward Euler: ``h(t) = h(t-1) + (dt/tau) * (-h(t-1) + F(h(t-1), x(t)))``.

    Stable without oscillation for ``dt/tau <= 1``; with ``dt/tau > 1`` each step overshoots the fixed point
    (oscillation, divergence beyond 2), hence :attr:`max_alpha` = 1.
    """

    name = "euler"
    drive_evaluations = 1
    max_alpha = 1.0

    def step(self, h: Tensor | None, drive: Drive, alpha: float | Tensor) -> Tensor:
        u = drive(h)
        if h is None:
            # Zero initial state: h + alpha * (u - h) reduces to alpha * u.
            return u * alpha
        # lerp computes h + alpha * (u - h) in one fused kernel (one allocation instead of three).
        return torch.lerp(h, u, alpha)


def list_solvers() -> list[str]:
    """Sorted names of the available solvers."""
    return sorted(_SOLVERS)


def get_solver(name: str) -> Solver:
    """Instantiate the solver registered as ``name`` (e.g. ``"euler"``).

    Raises:
        ValueError: unknown or not yet implemented name; the message lists the available solvers.
    """
    try:
        return _SOLVERS[name]()
    except KeyError:
        available = ", ".join(repr(n) for n in list_solvers())
        if name in _PLANNED_SOLVERS:
            raise ValueError(
                f"Solver {name!r} is planned but not implemented in this version of dynvision-models. "
                f"Available solvers: {available}."
            ) from None
        close = difflib.get_close_matches(str(name), list(_SOLVERS), n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown solver {name!r}.{hint} Available solvers: {available}.") from None
