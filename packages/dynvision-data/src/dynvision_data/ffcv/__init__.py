"""Optional FFCV backend: write ``.beton`` files and read them. ``ffcv`` itself is imported lazily."""

from __future__ import annotations

from ._availability import INSTALL_HINT, ffcv_available, require_ffcv
from .loader import FFCVBatchLoader
from .metadata import BetonMetadata, CorruptBetonError, metadata_path, read_beton_metadata, validate_beton
from .writer import write_betons

__all__ = [
    "INSTALL_HINT",
    "BetonMetadata",
    "CorruptBetonError",
    "FFCVBatchLoader",
    "ffcv_available",
    "metadata_path",
    "read_beton_metadata",
    "require_ffcv",
    "validate_beton",
    "write_betons",
]
