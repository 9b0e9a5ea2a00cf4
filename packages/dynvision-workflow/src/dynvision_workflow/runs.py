"""What one ``dynvision run`` leaves for the next: who holds the working directory's lock, and why jobs failed.

Snakemake locks a working directory while it runs (``.snakemake/locks``) and removes the lock when it ends; a run
killed with SIGKILL leaves the lock behind, and the next run refuses to start until ``--unlock``. ``dynvision run``
records the Snakemake process it starts (:func:`record_run`), so that the next run can tell a live holder (refused,
naming its process) from a dead one (its lock is removed, with a note) (:func:`check_lock`).

Jobs write their one-line errors (``dynvision test: error: ...``) to their logs; :func:`failed_jobs` finds them, so
that a failed run ends with what went wrong and where the whole log is, instead of only Snakemake's job summary.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .paths import LOG_ROOT

__all__ = ["JobFailure", "LockHolder", "check_lock", "failed_jobs", "record_run"]

#: Where ``dynvision run`` records the Snakemake process it started (relative to the working directory).
RUN_RECORD = ".snakemake/dynvision-run.json"
_LOCKS = ".snakemake/locks"
_HOST = socket.gethostname()

#: A runtime command's error line (see ``dynvision_workflow.cli.main``).
_ERROR_LINE = re.compile(r"^(dynvision(?:-analysis)? [\w-]+): error: (.+)$")


@dataclass(frozen=True)
class LockHolder:
    """A Snakemake process that works in a directory: its pid, host and how it was found."""

    pid: int
    host: str
    found: (
        str  # "recorded" (started by dynvision run) or "running" (a snakemake process whose directory it is)
    )


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first); ``None`` without /proc or process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot), to tell it from a later process given the same
    pid; ``None`` where /proc is missing or the process is gone."""
    fields = _stat(pid)
    return fields[19] if fields and len(fields) > 19 else None


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs: exists and is not a zombie (a killed process nobody has reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = _stat(pid)
    return not (fields and fields[0] in ("Z", "X"))


@contextlib.contextmanager
def record_run(workdir: Path, pid: int) -> Iterator[None]:
    """Record Snakemake's process ``pid`` as the one working in ``workdir`` while the block runs."""
    record = workdir / RUN_RECORD
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"pid": pid, "host": _HOST, "start": _start_time(pid)}) + "\n")
    try:
        yield
    finally:
        record.unlink(missing_ok=True)


def _recorded(workdir: Path) -> tuple[LockHolder | None, bool]:
    """The recorded run of ``workdir`` if it still runs, and whether a record was there at all."""
    try:
        record = json.loads((workdir / RUN_RECORD).read_text())
        pid, host, start = int(record["pid"]), str(record["host"]), record.get("start")
    except (OSError, ValueError, KeyError, TypeError):
        return None, False
    if host != _HOST:
        return LockHolder(pid, host, "recorded"), True  # cannot be checked from here: assume it runs
    if _alive(pid) and (start is None or _start_time(pid) in (None, start)):
        return LockHolder(pid, host, "recorded"), True
    return None, True


def _running_snakemake(workdir: Path) -> LockHolder | None:
    """A Snakemake process of this host whose directory is ``workdir`` (e.g. a plain ``snakemake`` run), from
    /proc; ``None`` where there is none or /proc is missing."""
    proc = Path("/proc")
    target = workdir.resolve()
    for entry in proc.glob("[0-9]*"):
        pid = int(entry.name)
        if pid == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            if not any(b"snakemake" in word for word in command[:3]) or not _alive(pid):
                continue
            if Path(os.readlink(entry / "cwd")).resolve() == target:
                return LockHolder(pid, _HOST, "running")
        except OSError:
            continue
    return None


def check_lock(workdir: Path) -> tuple[LockHolder | None, list[str]]:
    """Who holds ``workdir``'s Snakemake lock, if anyone: ``(holder, notes)``.

    With lock files and a live holder (recorded by :func:`record_run`, or a Snakemake process working there), the
    holder is returned. With lock files and no live holder on this host, the lock is stale (its run was killed):
    its files are removed and a note says so. A record from another host cannot be checked: it counts as live.
    """
    locks = workdir / _LOCKS
    files = sorted(locks.glob("*.lock")) if locks.is_dir() else []
    if not files:
        return None, []
    holder, recorded = _recorded(workdir)
    if holder is None:
        holder = _running_snakemake(workdir)
    if holder is None and not recorded and not Path("/proc").is_dir():
        return None, []  # nothing to tell a live run from a dead one here: Snakemake decides
    if holder is not None:
        return holder, []
    for file in files:
        file.unlink(missing_ok=True)
    (workdir / RUN_RECORD).unlink(missing_ok=True)
    return None, [
        f"removed the lock of {workdir} left by a run that no longer runs (killed?); its unfinished jobs run again"
    ]


@dataclass(frozen=True)
class JobFailure:
    """A failed job's log and its error line (``None``: the log ends in an unexpected error, a bug)."""

    log: Path
    error: str | None
    last_line: str


def failed_jobs(workdir: Path, since: float) -> list[JobFailure]:
    """Logs under ``workdir/logs`` written since ``since`` (a time.time()) that end in an error: a runtime
    command's one-line error, or a traceback (an unexpected error)."""
    root = workdir / LOG_ROOT
    failures = []
    for log in sorted(root.rglob("*.log")) if root.is_dir() else []:
        try:
            if log.stat().st_mtime < since:
                continue
            lines = log.read_text(errors="replace").splitlines()[-200:]
        except OSError:
            continue
        errors = [match.group(0) for match in map(_ERROR_LINE.match, lines) if match]
        if errors:
            failures.append(JobFailure(log, errors[-1], errors[-1]))
        elif any(line.startswith("Traceback (most recent call last)") for line in lines):
            last = next((line for line in reversed(lines) if line.strip()), "")
            failures.append(JobFailure(log, None, last.strip()))
    return failures
