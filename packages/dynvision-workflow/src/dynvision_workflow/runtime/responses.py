"""Stream recorded responses to a safetensors file batch by batch, so memory stays bounded on long tests.

A safetensors file is an 8-byte little-endian header length, a JSON header giving every tensor's dtype, shape and
byte range, then the raw row-major data. When every tensor's full shape is known in advance (the number of test
images, the steps of the paradigm and each area's shape), the header can be written first and each batch's rows
copied straight to their final offsets: nothing accumulates in memory, and the result loads with the standard
``safetensors`` readers (no pickle involved).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["SafetensorsStream"]

_DTYPES = {
    np.dtype("float16"): "F16",
    np.dtype("float32"): "F32",
    np.dtype("float64"): "F64",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
    np.dtype("uint8"): "U8",
    np.dtype("int8"): "I8",
}


class SafetensorsStream:
    """Write a safetensors file whose tensors are filled row by row along their first dimension.

    Args:
        path: File to write (use a temporary path and rename it when :meth:`close` returned, for atomicity).
        tensors: ``name -> (dtype, shape)`` of every tensor, with their full shapes.
        metadata: String metadata stored in the header (``__metadata__``).

    Every row of every tensor must be written once (:meth:`write`) before :meth:`close`; rows never written would
    read as zeros, so :meth:`close` checks that each tensor was filled completely.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        tensors: Mapping[str, tuple[np.dtype | str, tuple[int, ...]]],
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        header: dict[str, Any] = {}
        if metadata:
            header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
        self._layout: dict[str, tuple[np.dtype, tuple[int, ...], int]] = {}
        offset = 0
        for name, (dtype, shape) in tensors.items():
            dtype = np.dtype(dtype)
            if dtype not in _DTYPES:
                raise TypeError(f"tensor {name!r}: dtype {dtype} is not supported; use one of {sorted(map(str, _DTYPES))}.")
            shape = tuple(int(s) for s in shape)
            size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            header[name] = {"dtype": _DTYPES[dtype], "shape": list(shape), "data_offsets": [offset, offset + size]}
            self._layout[name] = (dtype, shape, offset)
            offset += size
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)  # the data section starts 8-byte aligned
        self._data_start = 8 + len(text)
        self._rows_written = {name: 0 for name in self._layout}
        self._handle = open(path, "wb")  # noqa: SIM115 (kept open across write() calls, closed in close())
        self._handle.write(len(text).to_bytes(8, "little"))
        self._handle.write(text)
        self._handle.truncate(self._data_start + offset)

    def write(self, name: str, start: int, rows: np.ndarray) -> None:
        """Write ``rows`` (shape ``(n, *shape[1:])``) as rows ``start .. start + n`` of tensor ``name``."""
        dtype, shape, offset = self._layout[name]
        rows = np.ascontiguousarray(rows, dtype=dtype)
        if rows.shape[1:] != shape[1:] or start < 0 or start + rows.shape[0] > shape[0]:
            raise ValueError(
                f"rows of shape {rows.shape} at row {start} do not fit tensor {name!r} of shape {shape}."
            )
        row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        self._handle.seek(self._data_start + offset + start * row_bytes)
        self._handle.write(rows.tobytes())
        self._rows_written[name] += rows.shape[0]

    def close(self) -> None:
        """Finish the file; raise ``ValueError`` naming any tensor whose rows were not all written."""
        self._handle.close()
        incomplete = {
            name: (written, self._layout[name][1][0])
            for name, written in self._rows_written.items()
            if written != (self._layout[name][1][0] if self._layout[name][1] else 1)
        }
        if incomplete:
            raise ValueError(f"tensors not completely written (rows written, rows expected): {incomplete}.")

    def abort(self) -> None:
        """Close the file without checks (after an error; the caller deletes it)."""
        self._handle.close()
