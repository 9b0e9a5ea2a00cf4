"""Measures computed from the tidy tables; each returns a tidy DataFrame with a mean, its SEM and n."""

from __future__ import annotations

from .accuracy import accuracy_over_time
from .responses import response_over_time

__all__ = ["accuracy_over_time", "response_over_time"]
