"""Temporal engine: the time loop (:class:`TemporalModel`), the solvers chosen by name, CUDA-graph replay."""

from __future__ import annotations

from .cuda_graphs import GraphedForward, GraphedTrainStep, graph_loss
from .solvers import Drive, EulerSolver, Solver, get_solver, list_solvers, register_solver
from .temporal import CONNECTION_MODES, LEAKS, READOUTS, TemporalModel, common_kwargs, delay_to_steps
from .timeline import FrameTimeline, as_timeline

__all__ = [
    "CONNECTION_MODES",
    "LEAKS",
    "READOUTS",
    "Drive",
    "EulerSolver",
    "FrameTimeline",
    "GraphedForward",
    "GraphedTrainStep",
    "Solver",
    "TemporalModel",
    "as_timeline",
    "common_kwargs",
    "delay_to_steps",
    "get_solver",
    "graph_loss",
    "list_solvers",
    "register_solver",
]
