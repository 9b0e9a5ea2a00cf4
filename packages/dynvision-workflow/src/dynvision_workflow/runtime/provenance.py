"""Atomic output writing and the resolved-config record written beside every primary output."""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import functools
import os
import platform
import shlex
import subprocess
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from ..config import dump_yaml, plain
from ..paths import RESOLVED_CONFIG_SUFFIX, RUN_CONFIG_DIR

__all__ = [
    "OutputError",
    "atomic_path",
    "output_error",
    "package_versions",
    "write_resolved_config",
    "write_run_config",
    "write_text_atomic",
]

_PACKAGES = (
    "dynvision-models",
    "dynvision-data",
    "dynvision-analysis",
    "dynvision-workflow",
    "torch",
    "lightning",
    "ffcv",
    "snakemake",
    "numpy",
    "pandas",
)


#: Errors of the file system that the user, not the program, must fix: a full disk or quota, a read-only or
#: unwritable folder.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})

#: What libraries that do not raise OSError (torch.save, safetensors) say when the file system refused a write.
_DISK_MESSAGES = {
    "No space left on device": errno.ENOSPC,
    "Disk quota exceeded": errno.EDQUOT,
    "Read-only file system": errno.EROFS,
    "Permission denied": errno.EACCES,
}

#: Free bytes below which a failed write (torch's "file write failed") is put down to a full file system.
_NEARLY_FULL_BYTES = 1 << 20

class OutputError(OSError):
    """An output cannot be written for a reason outside the program (a full disk, a read-only or unwritable
    folder); its message names the path and what to do."""

    def __str__(self) -> str:
        return str(self.strerror)


def output_error(path: str | os.PathLike[str], error: BaseException, writing: bool = False) -> OutputError | None:
    """``error`` as an :class:`OutputError` naming ``path`` when the file system refused the write (full, over
    quota, read-only, not writable), else ``None`` (the error is something else: a bug or bad input). ``writing``:
    the error came from writing ``path`` (then any error while its file system is nearly full counts as full)."""
    path = Path(path)
    code = error.errno if isinstance(error, OSError) and error.errno in DISK_ERRNOS else None
    if code is None and not isinstance(error, OSError):
        text = str(error)
        code = next((number for message, number in _DISK_MESSAGES.items() if message in text), None)
        if code is None and writing and _free_bytes(path) < _NEARLY_FULL_BYTES:
            code = errno.ENOSPC  # torch says "unexpected pos", "iostream error" or "file write failed"
    if code is None:
        return None
    folder = path.parent
    if code in (errno.ENOSPC, errno.EDQUOT):
        remedy = f"free space there (df -h {shlex.quote(str(folder))}) and run the same command again"
    else:
        remedy = (
            f"make {shlex.quote(str(folder))} writable (or run in a working directory you can write to) and run the "
            "same command again"
        )
    return OutputError(
        code,
        f"cannot write {str(path)!r}: {os.strerror(code)}; nothing was written under that name; {remedy}",
    )


def _free_bytes(path: Path) -> int:
    for folder in (path.parent, *path.parents):
        try:
            stats = os.statvfs(folder)
        except OSError:
            continue
        return stats.f_bavail * stats.f_frsize
    return _NEARLY_FULL_BYTES


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it onto ``target``, on error remove it.

    No half-written file ever carries the final name, so an interrupted job leaves either the old file or nothing;
    temporaries that an earlier, killed writer of ``target`` left are removed first
    (:func:`dynvision_data.make_temporary`). A write the file system refuses (full, read-only, not writable) raises
    :class:`OutputError` naming ``target``.
    """
    from dynvision_data import make_temporary

    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, name = make_temporary(target.parent, target.name)
    except OSError as error:
        raise output_error(target, error) or error from None
    os.close(handle)
    # mkstemp creates the file readable by its owner only; give it the mode a plain open() would (0o666 less the
    # umask), so that outputs on a shared file system stay readable by the group as usual.
    os.chmod(name, 0o666 & ~_current_umask())
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, target)
    except Exception as error:
        failure = output_error(target, error, writing=True)  # before the temporary goes: it may fill the disk
        temporary.unlink(missing_ok=True)
        if failure is None:
            raise
        raise failure from error
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomic(target: str | os.PathLike[str], text: str) -> None:
    """Write text to ``target`` atomically."""
    with atomic_path(target) as temporary:
        temporary.write_text(text)


def package_versions() -> dict[str, str]:
    """Installed versions of DynVision and its main dependencies (``missing`` when not installed): those of the
    code this process runs, looked up once (a test pass records them for every condition)."""
    return dict(_installed_versions())


@functools.cache
def _installed_versions() -> tuple[tuple[str, str], ...]:
    versions = []
    for name in _PACKAGES:
        try:
            versions.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            versions.append((name, "missing"))
    return tuple(versions)


@functools.cache
def _git_commit(start: Path) -> str | None:
    """The commit of the checkout the code runs from (looked up once per process), or ``None``."""
    try:
        result = subprocess.run(
            ["git", "-C", str(start), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def write_resolved_config(
    output: str | os.PathLike[str],
    *,
    command: str,
    parameters: Mapping[str, Any],
    sources: Mapping[str, str],
    seed: str | int | None = None,
    inputs: Mapping[str, str] | None = None,
) -> Path:
    """Write ``<output>.config.yaml``: every parameter with where it came from, seed, inputs, versions, git commit.

    ``sources`` maps each parameter to where its value came from: ``default`` (the command's default),
    ``command line`` (given by hand), or, for commands run by the workflow, the configuration layer that set it
    (``schema default``, ``packaged config_workflow.yaml``, a ``--configfile`` path, ``--config``).
    """
    output = Path(output)
    record = {
        "command": command,
        "output": str(output),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "seed": None if seed is None else str(seed),
        "inputs": dict(inputs or {}),
        "parameters": {key: plain(value) for key, value in parameters.items()},
        "sources": dict(sources),
        "versions": package_versions(),
        "python": platform.python_version(),
        "git_commit": _git_commit(Path(__file__).parent),
    }
    target = output.with_name(output.name + RESOLVED_CONFIG_SUFFIX)
    write_text_atomic(target, dump_yaml(record))
    return target


def write_run_config(
    config: Mapping[str, Any], sources: Mapping[str, str], *, folder: str | os.PathLike[str] = RUN_CONFIG_DIR
) -> Path:
    """Write the resolved workflow configuration of one run, with the source of every configured value.

    The file is ``<folder>/run-<UTC timestamp>.yaml`` (relative to the working directory), so every run keeps its
    own record; values not listed under ``sources`` are schema defaults.
    """
    now = _dt.datetime.now(_dt.UTC)
    record = {
        "created": now.isoformat(timespec="seconds"),
        "config": plain(dict(config)),
        "sources": dict(sorted(sources.items())),
        "versions": package_versions(),
        "git_commit": _git_commit(Path(__file__).parent),
    }
    target = Path(folder) / f"run-{now.strftime('%Y%m%dT%H%M%S.%fZ')}.yaml"
    write_text_atomic(target, dump_yaml(record))
    return target


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
