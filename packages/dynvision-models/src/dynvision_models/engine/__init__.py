"""Temporal engine: the time loop (:class:`TemporalModel`) and the solvers chosen by name."""

from __future__ import annotations

from .solvers import Drive, EulerSolver, Solver, get_solver, list_solvers, register_solver
from .temporal import CONNECTION_MODES, READOUTS, TemporalModel, common_kwargs, delay_to_steps

__all__ = [
    "CONNECTION_MODES",
    "READOUTS",
    "Drive",
    "EulerSolver",
    "Solver",
    "TemporalModel",
    "common_kwargs",
    "delay_to_steps",
    "get_solver",
    "list_solvers",
    "register_solver",
]
