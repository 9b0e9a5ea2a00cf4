"""Errors of dynvision-data that describe bad input (a dataset folder, an image, a data file) rather than a bug."""

from __future__ import annotations

__all__ = ["DataError"]


class DataError(ValueError):
    """Bad data on disk: the message names the file or folder, what is wrong with it and what to do."""
