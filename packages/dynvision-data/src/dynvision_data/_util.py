"""Small shared helpers: atomic file output, JSON I/O, friendly "did you mean" messages, argument checks."""

from __future__ import annotations

import difflib
import json
import operator
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_write_json",
    "check_fraction",
    "check_int",
    "read_json",
    "unknown_name_message",
]


def unknown_name_message(kind: str, name: str, available: Iterable[str]) -> str:
    """Return an error message for an unknown registry name, listing close matches and all names."""
    names = sorted(available)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"Unknown {kind} {name!r}.{hint} Available: {', '.join(names) or '(none registered)'}."


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    """Return ``value`` as an ``int`` or raise a ``TypeError``/``ValueError`` that names the parameter."""
    # bool is an int subclass; a stray True/False in a config is almost always a mistake.
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got the bool {value!r}.")
    try:
        result = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be an integer, got {value!r} ({type(value).__name__}). "
            "Give whole numbers (e.g. 3, not 3.0 or '3')."
        ) from None
    if minimum is not None and result < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {result}.")
    return result


def check_fraction(name: str, value: Any) -> float:
    """Return ``value`` as a float strictly between 0 and 1, or raise a ``ValueError`` naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number strictly between 0 and 1, got {value!r}.")
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be strictly between 0 and 1, got {value}.")
    return value


def atomic_write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` via a temporary sibling file and an atomic rename.

    Readers therefore see either the previous file or the complete new one, never a partial file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file, turning a syntax error into a message that names the file."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path} is not valid JSON ({error}). Delete it so that it is rebuilt, or restore it."
        ) from error
