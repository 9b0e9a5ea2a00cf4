"""Atomic output writing and the resolved-config record written beside every primary output."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from ..config import dump_yaml, plain
from ..paths import RESOLVED_CONFIG_SUFFIX, RUN_CONFIG_DIR

__all__ = ["atomic_path", "package_versions", "write_resolved_config", "write_run_config", "write_text_atomic"]

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


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it onto ``target``, on error remove it.

    No half-written file ever carries the final name, so an interrupted job leaves either the old file or nothing.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    # mkstemp creates the file readable by its owner only; give it the mode a plain open() would (0o666 less the
    # umask), so that outputs on a shared file system stay readable by the group as usual.
    os.chmod(name, 0o666 & ~_current_umask())
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomic(target: str | os.PathLike[str], text: str) -> None:
    """Write text to ``target`` atomically."""
    with atomic_path(target) as temporary:
        temporary.write_text(text)


def package_versions() -> dict[str, str]:
    """Installed versions of DynVision and its main dependencies (``missing`` when not installed)."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions


def _git_commit(start: Path) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(start), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
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
