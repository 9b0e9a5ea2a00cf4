"""Building blocks of recurrent areas; recurrence types are chosen by name through :func:`create_recurrence`."""

from __future__ import annotations

from .area import RecurrentArea
from .gated import GatedCell, GRUCell, IntersectionCell, LSTMCell, ReciprocalGatedCell, UGRNNCell
from .recurrence import (
    DepthPointwiseRecurrence,
    FullRecurrence,
    PointDepthwiseRecurrence,
    SelfRecurrence,
    check_recurrence_type,
    create_recurrence,
    list_gated_recurrence_types,
    list_recurrence_types,
    register_recurrence,
)
from .topographic import LocalDepthwiseRecurrence, TopographicRecurrence

__all__ = [
    "DepthPointwiseRecurrence",
    "FullRecurrence",
    "GRUCell",
    "GatedCell",
    "IntersectionCell",
    "LSTMCell",
    "LocalDepthwiseRecurrence",
    "PointDepthwiseRecurrence",
    "ReciprocalGatedCell",
    "RecurrentArea",
    "SelfRecurrence",
    "TopographicRecurrence",
    "UGRNNCell",
    "check_recurrence_type",
    "create_recurrence",
    "list_gated_recurrence_types",
    "list_recurrence_types",
    "register_recurrence",
]
