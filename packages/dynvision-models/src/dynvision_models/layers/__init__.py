"""Building blocks of recurrent areas; recurrence types are chosen by name through :func:`create_recurrence`."""

from __future__ import annotations

from .area import RecurrentArea
from .recurrence import (
    FullRecurrence,
    SelfRecurrence,
    check_recurrence_type,
    create_recurrence,
    list_recurrence_types,
    register_recurrence,
)

__all__ = [
    "FullRecurrence",
    "RecurrentArea",
    "SelfRecurrence",
    "check_recurrence_type",
    "create_recurrence",
    "list_recurrence_types",
    "register_recurrence",
]
