"""What a `dynvision run` leaves for the next: the holder of a working directory's lock, failed jobs' errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dynvision_workflow.runs import RUN_RECORD, check_lock, failed_jobs

needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)")


def _lock(workdir: Path) -> Path:
    locks = workdir / ".snakemake/locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("a\n")
    return locks


def _record(workdir: Path, pid: int, host: str | None = None) -> None:
    (workdir / RUN_RECORD).write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(), "start": None}))


def test_no_lock_no_holder(tmp_path):
    assert check_lock(tmp_path) == (None, [])


@needs_proc
def test_a_lock_whose_run_is_gone_is_removed_with_a_note(tmp_path):
    locks = _lock(tmp_path)
    gone = subprocess.Popen(["true"])
    gone.wait()
    _record(tmp_path, gone.pid)
    holder, notes = check_lock(tmp_path)
    assert holder is None and len(notes) == 1 and "no longer runs" in notes[0]
    assert list(locks.iterdir()) == [] and not (tmp_path / RUN_RECORD).exists()


@needs_proc
def test_a_recorded_live_run_holds_the_lock(tmp_path):
    locks = _lock(tmp_path)
    _record(tmp_path, os.getpid())
    holder, notes = check_lock(tmp_path)
    assert holder is not None and holder.pid == os.getpid() and notes == []
    assert list(locks.iterdir())


def test_a_run_on_another_host_cannot_be_checked_and_counts_as_live(tmp_path):
    _lock(tmp_path)
    _record(tmp_path, 1, host="some-other-node")
    holder, _ = check_lock(tmp_path)
    assert holder is not None and holder.host == "some-other-node"


@needs_proc
def test_an_unrecorded_snakemake_process_in_the_directory_holds_the_lock(tmp_path):
    _lock(tmp_path)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)  # snakemake"], cwd=tmp_path)
    try:
        time.sleep(0.2)
        holder, _ = check_lock(tmp_path)
        assert holder is not None and holder.pid == sleeper.pid and holder.found == "running"
    finally:
        sleeper.kill()
        sleeper.wait()
    holder, notes = check_lock(tmp_path)
    assert holder is None and notes


def test_failed_jobs_are_found_in_the_logs_of_this_run(tmp_path):
    logs = tmp_path / "logs/reports/x"
    logs.mkdir(parents=True)
    old = logs / "old.log"
    old.write_text("dynvision test: error: from an earlier run\n")
    os.utime(old, (1, 1))
    (logs / "user.log").write_text("=== attempt ===\nprogress\ndynvision test: error: state 'a.pt' is bad; rm it\n")
    (logs / "bug.log").write_text("Traceback (most recent call last):\n  File \"x\", line 1\nKeyError: 'k'\n")
    (logs / "fine.log").write_text("all good\n")
    failures = {failure.log.name: failure for failure in failed_jobs(tmp_path, since=time.time() - 60)}
    assert set(failures) == {"user.log", "bug.log"}
    assert failures["user.log"].error == "dynvision test: error: state 'a.pt' is bad; rm it"
    assert failures["bug.log"].error is None and failures["bug.log"].last_line == "KeyError: 'k'"
