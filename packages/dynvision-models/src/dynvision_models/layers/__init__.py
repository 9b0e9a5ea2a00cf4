"""Building blocks of recurrent areas; recurrence types are chosen by name through :func:`create_recurrence`."""

from __future__ import annotations

from .area import RecurrentArea
from .recurrence import (
    DepthPointwiseRecurrence,
    FullRecurrence,
    PointDepthwiseRecurrence,
    SelfRecurrence,
    check_recurrence_type,
    create_recurrence,
    list_recurrence_types,
    register_recurrence,
)
from .topographic import LocalDepthwiseRecurrence, TopographicRecurrence

__all__ = [
    "DepthPointwiseRecurrence",
    "FullRecurrence",
    "LocalDepthwiseRecurrence",
    "PointDepthwiseRecurrence",
    "RecurrentArea",
    "SelfRecurrence",
    "TopographicRecurrence",
    "check_recurrence_type",
    "create_recurrence",
    "list_recurrence_types",
    "register_recurrence",
]
