"""Temporal engine: the time loop (:class:`TemporalModel`), the solvers chosen by name, CUDA-graph replay, and the
stability analysis of the linearised step (:func:`recurrent_spectrum`, :func:`leading_mode`)."""

from __future__ import annotations

from .cuda_graphs import GraphedForward, GraphedTrainStep, graph_loss
from .solvers import Drive, EulerSolver, Solver, get_solver, list_solvers, register_solver
from .stability import LeadingMode, leading_mode, recurrent_spectrum
from .temporal import (
    CONNECTION_MODES,
    LEAKS,
    READOUTS,
    TEMPORAL_READOUTS,
    TemporalModel,
    common_kwargs,
    delay_to_steps,
)
from .timeline import FrameTimeline, as_timeline

__all__ = [
    "CONNECTION_MODES",
    "LEAKS",
    "READOUTS",
    "TEMPORAL_READOUTS",
    "Drive",
    "EulerSolver",
    "FrameTimeline",
    "GraphedForward",
    "GraphedTrainStep",
    "LeadingMode",
    "Solver",
    "TemporalModel",
    "as_timeline",
    "common_kwargs",
    "delay_to_steps",
    "get_solver",
    "graph_loss",
    "leading_mode",
    "list_solvers",
    "recurrent_spectrum",
    "register_solver",
]
