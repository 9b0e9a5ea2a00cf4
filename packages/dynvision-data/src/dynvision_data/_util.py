"""Small shared helpers: atomic file output, JSON I/O, friendly "did you mean" messages, argument checks."""

from __future__ import annotations

import difflib
import json
import operator
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_write_json",
    "check_fraction",
    "check_int",
    "make_temporary",
    "read_json",
    "remove_stale_temporaries",
    "temporary_prefix",
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
    fd, tmp = make_temporary(path.parent, path.name)
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


# Temporaries ---------------------------------------------------------------------------------------------------------
# Every temporary file or folder that becomes an output by a rename is named ``.<final name>.<host>-<pid>.<random>.tmp``
# beside it (the workflow's atomic outputs use the same form), so that a later run can tell the debris of a killed
# process (this host, process gone) from the work in progress of a live one (another process, or another host on a
# shared file system), and remove only the former.

#: This machine, as temporaries name it (the first label of its host name).
_HOST = socket.gethostname().split(".")[0]


def temporary_prefix(name: str) -> str:
    """The name start of this process's temporaries for the final name ``name``: ``.<name>.<host>-<pid>.``."""
    return f".{name}.{_HOST}-{os.getpid()}."


def make_temporary(directory: str | os.PathLike[str], name: str, *, folder: bool = False) -> tuple[int, str]:
    """Create this process's temporary for the final name ``name`` in ``directory`` (:func:`temporary_prefix`).

    First removes the temporaries of ``name`` that killed processes of this host left there
    (:func:`remove_stale_temporaries`).

    Returns:
        ``(fd, path)`` of a new file (as :func:`tempfile.mkstemp`), or ``(-1, path)`` of a new folder with
        ``folder=True``.
    """
    remove_stale_temporaries(directory, name)
    if folder:
        return -1, tempfile.mkdtemp(prefix=temporary_prefix(name), suffix=".tmp", dir=directory)
    return tempfile.mkstemp(prefix=temporary_prefix(name), suffix=".tmp", dir=directory)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def _temporary_pattern(name: str) -> re.Pattern[str]:
    """Names of the temporaries of the final name ``name``: ``.<name>.<host>-<pid>.<random>.tmp`` (this release), or
    ``.<name>.<random>.tmp`` (earlier releases, which did not name their process). ``<random>`` is the 8 characters
    :mod:`tempfile` adds, so the temporaries of another name that starts alike (``trained.pt.config.yaml`` for
    ``trained.pt``) never match."""
    return re.compile(rf"\.{re.escape(name)}\.(?:(?P<host>[^.]*)-(?P<pid>\d+)\.)?[a-z0-9_]{{8}}\.tmp")


def remove_stale_temporaries(directory: str | os.PathLike[str], name: str) -> list[Path]:
    """Remove the temporaries of the final name ``name`` in ``directory`` that a killed writer left (it could not
    clean up); return them.

    Removed: those of processes of this host that no longer run, and those of earlier releases (no process named).
    Kept: a concurrent writer's temporary (a live process here, or any process on another host: a cluster node
    sharing the file system, which cannot be checked from here).
    """
    pattern = _temporary_pattern(name)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None:
            continue
        if match["host"] is not None:
            pid = int(match["pid"])
            if match["host"] != _HOST or pid == os.getpid() or _process_alive(pid):
                continue
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path, ignore_errors=True)  # removes the links in it, never what they lead to
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed
