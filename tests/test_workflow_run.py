"""`dynvision run` around Snakemake: a stop signal cancels the jobs and releases the lock with nothing left running;
a remote executor without --jobs gets a default."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dynvision_workflow import paths
from dynvision_workflow.cli import REMOTE_JOBS, default_remote_jobs

needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)")

def _processes() -> dict[int, tuple[int, int]]:
    """Every process as ``pid: (parent pid, process group)``."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            table[int(entry.name)] = (int(fields[1]), int(fields[2]))
    return table


@needs_proc
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_cancels_the_job_and_releases_the_lock(sleeping_workdir, stop, dynvision, wait_for):
    tmp_path = sleeping_workdir
    run = subprocess.Popen(
        [sys.executable, "-m", "dynvision_workflow", "run", "--workdir", str(tmp_path), "--cores", "1"],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # SIGTERM: as started in the background (`dynvision run &` in a script), where SIGINT is ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN if stop == signal.SIGTERM else signal.SIG_DFL),
    )
    try:
        wait_for(lambda: (tmp_path / "job.pid").is_file() and (tmp_path / "job.pid").read_text().strip(), 60,
                  "the job to start")
        job = int((tmp_path / "job.pid").read_text())
        wait_for(lambda: "time.sleep" in Path(f"/proc/{job}/cmdline").read_text(errors="replace"), 10,
                  "the job's command")
        snakemake = [pid for pid, (parent, _) in _processes().items() if parent == run.pid]
        assert len(snakemake) == 1 and _processes()[snakemake[0]][1] == snakemake[0]  # its own process group
        started = time.monotonic()
        run.send_signal(stop)
        _, stderr = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert time.monotonic() - started < 30
    assert run.returncode == 128 + stop
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        f"dynvision run: stopped by {stop.name}; Snakemake cancelled its jobs and released the lock"
    )
    left = [pid for pid, (_, group) in _processes().items() if group == snakemake[0] or pid == job]
    assert left == []
    assert list((tmp_path / ".snakemake/locks").glob("*")) == []
    again = dynvision("run", "--workdir", str(tmp_path), "-n", cwd=tmp_path, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "sleep" in again.stdout + again.stderr


@pytest.mark.parametrize(
    ("words", "added"),
    [
        (["-n"], False),
        (["--executor", "local", "-n"], False),
        (["--executor", "slurm", "-n"], True),
        (["--executor=cluster-generic", "--cluster-generic-submit-cmd", "bash"], True),
        (["--executor", "slurm", "-j", "5"], False),
        (["--executor", "slurm", "--jobs=5"], False),
        (["--profile", str(paths.profile_dir("slurm"))], False),  # its jobs: 100
        (["--profile", "PROFILE"], True),  # executor: slurm, no jobs:
    ],
)
def test_a_remote_executor_without_jobs_gets_a_default(words, added, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SNAKEMAKE_PROFILE", raising=False)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine/config.yaml").write_text("executor: slurm\nlatency-wait: 5\n")
    words = [str(tmp_path / "mine") if word == "PROFILE" else word for word in words]
    snakemake_args = ["--snakefile", str(paths.snakefile()), "--cores", "all", *words]
    result = default_remote_jobs(snakemake_args, words)
    assert result == ([*words, "--jobs", str(REMOTE_JOBS)] if added else words)
    assert ("--jobs 100" in capsys.readouterr().err) == added


@pytest.mark.parametrize(
    "executor", [["--executor", "slurm"], ["--executor", "cluster-generic", "--cluster-generic-submit-cmd", "bash"]],
    ids=["slurm", "cluster-generic"],
)
def test_run_with_a_remote_executor_needs_no_jobs_option(executor, tmp_path, dynvision):
    result = dynvision("run", "--workdir", str(tmp_path), *executor, "-n", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert f"submits at most {REMOTE_JOBS} jobs at a time" in result.stderr
    assert "train_model" in result.stdout + result.stderr
