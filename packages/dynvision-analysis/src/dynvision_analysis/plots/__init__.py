"""Figures from measure tables; every function returns a matplotlib Figure and never shows it."""

from __future__ import annotations

from .accuracy import plot_accuracy
from .responses import plot_responses

__all__ = ["plot_accuracy", "plot_responses"]
