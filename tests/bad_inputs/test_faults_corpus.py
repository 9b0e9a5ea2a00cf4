"""Bad-input corpus: faults (kills, locks, full and read-only disks, stale temporaries) and the command line.

Each case runs the real command and asserts what a user must see (see conftest.assert_refused): a non-zero exit,
one message naming the file or value and what to do, no traceback, nothing new under a final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e]

needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)")
needs_unshare = pytest.mark.skipif(
    shutil.which("unshare") is None
    or subprocess.run(["unshare", "-rm", "true"], capture_output=True, check=False).returncode != 0,
    reason="needs unshare -rm (user and mount namespaces) for a small file system of its own",
)

MODEL = "DyRCNNx2:channels=4~8+tau=4_0001"
STATE = f"models/DyRCNNx2/{MODEL}/mnist5k/trained.pt"
REPORT = f"reports/response/{MODEL}/mnist5k:all_trained/duration:intro=1+outro=2+stimulus=3"

def _session(sid: int) -> list[int]:
    """Every live process of session ``sid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def _kill_session(sid: int) -> None:
    """SIGKILL every process of session ``sid``, as a crash, an OOM killer or a lost node would end a run."""
    for pid in _session(sid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _test_command(state: str = STATE, report: str = REPORT) -> list[str]:
    return [
        "test", state, "--dataset", "data/interim/mnist5k/test_all", "--outputs", f"{report}/test_outputs.csv",
        "--responses", f"{report}/test_responses.safetensors", "--paradigm", "duration:intro=1+outro=2+stimulus=3",
        "--limit-images", "32",
    ]  # fmt: skip


@pytest.fixture
def held_lock(sleeping_workdir: Path, wait_for):
    """A `dynvision run` (in its own session) whose job sleeps while it holds the working directory's lock."""
    run = subprocess.Popen(
        [sys.executable, "-m", "dynvision_workflow", "run", "--workdir", str(sleeping_workdir), "--cores", "1"],
        cwd=sleeping_workdir, env=dict(os.environ, PYTHONUNBUFFERED="1"), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: (sleeping_workdir / "job.pid").is_file(), 60, "the job to start")
        wait_for(lambda: list((sleeping_workdir / ".snakemake/locks").glob("*.lock")), 10, "the lock")
        yield run
    finally:
        _kill_session(run.pid)
        run.wait()


@needs_proc
def test_a_live_run_keeps_its_lock_and_a_second_run_is_refused(held_lock, sleeping_workdir, dynvision, refused):
    record = json.loads((sleeping_workdir / ".snakemake/dynvision-run.json").read_text())
    result = dynvision("run", "--workdir", str(sleeping_workdir), "--cores", "1", cwd=sleeping_workdir, timeout=60)
    refused(result, "another Snakemake run", f"pid {record['pid']}", str(sleeping_workdir), fix=f"kill -INT {record['pid']}")
    assert list((sleeping_workdir / ".snakemake/locks").glob("*.lock")), "the live run's lock was removed"
    dry = dynvision("run", "--workdir", str(sleeping_workdir), "-n", cwd=sleeping_workdir, timeout=60)
    assert dry.returncode == 0, dry.stderr  # a dry run takes no lock: it may look while another run works


@needs_proc
def test_a_plain_snakemake_run_is_found_through_its_process(sleeping_workdir, dynvision, refused, wait_for):
    run = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--cores", "1"], cwd=sleeping_workdir, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: list((sleeping_workdir / ".snakemake/locks").glob("*.lock")), 60, "the lock")
        result = dynvision("run", "--workdir", str(sleeping_workdir), "--cores", "1", cwd=sleeping_workdir, timeout=60)
        refused(result, "another Snakemake run", f"pid {run.pid}", fix=f"kill -INT {run.pid}")
    finally:
        _kill_session(run.pid)
        run.wait()


@needs_proc
def test_after_sigkill_of_the_whole_run_the_next_run_proceeds(held_lock, sleeping_workdir, dynvision):
    _kill_session(held_lock.pid)
    held_lock.wait()
    assert list((sleeping_workdir / ".snakemake/locks").glob("*.lock")), "SIGKILL should leave Snakemake's lock"
    env = dict(os.environ, DYNVISION_TEST_SLEEP="0")
    result = subprocess.run(
        [sys.executable, "-m", "dynvision_workflow", "run", "--workdir", str(sleeping_workdir), "--cores", "1"],
        cwd=sleeping_workdir, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "removed the lock" in result.stderr and "no longer runs" in result.stderr
    assert (sleeping_workdir / "slept.txt").is_file()
    assert list((sleeping_workdir / ".snakemake/locks").glob("*.lock")) == []


@pytest.mark.slow
def test_stale_temporaries_of_a_killed_test_are_removed_when_it_runs_again(finished_workdir, dynvision):
    report = finished_workdir / REPORT
    dead = subprocess.Popen(["true"])
    dead.wait()
    host = socket.gethostname().split(".")[0]
    stale = [
        report / f".test_outputs.csv.{host}-{dead.pid}.k1l2m3n4.tmp",  # a killed writer of this host
        report / ".test_responses.safetensors.x8y9z0w1.tmp",  # an older release's name, without its writer
    ]
    foreign = report / ".test_outputs.csv.another-node-4242.a1b2c3d4.tmp"  # a node of a cluster: cannot be checked
    for path in [*stale, foreign]:
        path.write_text("half-written")
    result = dynvision(*_test_command(), cwd=finished_workdir, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not any(path.exists() for path in stale)
    assert foreign.exists()
    assert "left by an interrupted earlier attempt" in result.stderr
    assert not [path for path in report.iterdir() if path.name.startswith(".") and path != foreign]


@pytest.mark.slow
def test_a_failed_job_ends_the_run_with_its_error_and_log(finished_workdir, tiny_config, dynvision, refused, snapshot):
    state = finished_workdir / STATE
    state.write_bytes(state.read_bytes()[:4000])  # truncated: the test step fails
    before = snapshot(finished_workdir)
    result = dynvision("run", "--workdir", str(finished_workdir), "--configfile", str(tiny_config), "--cores", "2",
                       cwd=finished_workdir, timeout=300)
    experiment_log = f"(log: logs/{REPORT.rsplit('/', 1)[0]}/test_outputs.log"  # the experiment's one-pass job
    text = refused(result, "a job failed: dynvision test-experiment: error:", "trained.pt", experiment_log, fix="rm ",
                   workdir=finished_workdir, before=before)
    assert text.count("a job failed") == 1


@pytest.mark.slow
def test_verbose_runs_keep_the_traceback_for_a_bug_report(finished_workdir, dynvision):
    state = finished_workdir / STATE
    state.write_bytes(state.read_bytes()[:4000])
    env_before = os.environ.get("DYNVISION_VERBOSE")
    os.environ["DYNVISION_VERBOSE"] = "1"
    try:
        result = dynvision(*_test_command(), cwd=finished_workdir, timeout=300)
    finally:
        if env_before is None:
            del os.environ["DYNVISION_VERBOSE"]
        else:
            os.environ["DYNVISION_VERBOSE"] = env_before
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("dynvision test: error: ")


def _in_small_file_system(script: str, *, read_only: bool = False) -> str:
    """``script`` (bash) with ``$FS`` a fresh 256 KiB tmpfs (read-only with ``read_only``), in its own namespace."""
    remount = ' && mount -o remount,ro "$FS"' if read_only else ""
    return f'FS=$(mktemp -d) && mount -t tmpfs -o size=256k tmpfs "$FS"{remount} && {script}'


def _run_in_namespace(script: str, cwd: Path) -> subprocess.CompletedProcess:
    command = ["unshare", "-rm", "bash", "-c", script]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False,
                          env=dict(os.environ, PYTHONUNBUFFERED="1"))


DYNVISION = f"{sys.executable} -m dynvision_workflow"


@needs_unshare
@pytest.mark.parametrize("read_only", [False, True], ids=["disk full", "read-only"])
def test_a_state_on_a_full_or_read_only_disk(finished_workdir, read_only, refused):
    script = _in_small_file_system(
        f"{DYNVISION} init --model-name DyRCNNx2 --model-args :channels=64~128 --dataset data/raw/mnist5k/train "
        '--output "$FS/models/init.pt"; code=$?; find "$FS" -type f; exit $code',
        read_only=read_only,
    )
    result = _run_in_namespace(script, finished_workdir)
    reason = "Read-only file system" if read_only else "No space left on device"
    text = refused(result, "models/init.pt'", reason, fix=["df -h", "writable"])
    assert "/init.pt\n" not in text and ".tmp" not in text  # `find` listed no file: nothing under any name


@needs_unshare
@pytest.mark.slow
def test_tables_on_a_full_disk(finished_workdir, refused):
    script = _in_small_file_system(
        f"{DYNVISION} {' '.join(_test_command(report='$FS/report'))}; code=$?; find \"$FS\" -type f; exit $code"
    ).replace("--limit-images 32", "--limit-images 2000")
    result = _run_in_namespace(script, finished_workdir)
    text = refused(result, "No space left on device", "/report/test_", fix="df -h")
    assert "test_outputs.csv\n" not in text and "test_responses.safetensors\n" not in text


@pytest.mark.parametrize(
    ("args", "mentions", "fix"),
    [
        (["frobnicate"], ["invalid choice: 'frobnicate'", "run"], "usage: dynvision"),
        (["run", "--cores", "-3", "-n"], ["--cores", "'-3'"], "integer >= 1"),
        (["run", "--cores", "many", "-n"], ["--cores", "'many'"], "integer >= 1"),
        (["train", "--init", "x.pt"], ["--output", "required"], "usage: dynvision train"),
        (["test", "nowhere/trained.pt", "--dataset", "d", "--outputs", "o.csv", "--responses", "r.safetensors"],
         ["nowhere/trained.pt", "does not exist"], "dynvision run"),
        (["config", "show", "--configfile", "missing.yaml"], ["missing.yaml", "does not exist"], "check the path"),
        (["init", "--model-name", "NoSuchNet", "--dataset", "d", "--output", "o/init.pt"], ["NoSuchNet"],
         "dynvision models"),
    ],
    ids=["unknown command", "negative cores", "cores not a number", "missing option", "missing state",
         "missing config file", "unknown model"],
)
def test_command_line_mistakes(args, mentions, fix, fresh_workdir, dynvision, refused, snapshot):
    before = snapshot(fresh_workdir)
    result = dynvision(*args, cwd=fresh_workdir, timeout=120)
    refused(result, *mentions, fix=fix, workdir=fresh_workdir, before=before)


def test_a_working_directory_that_is_a_file(tmp_path, dynvision, refused):
    (tmp_path / "results").write_text("not a folder")
    result = dynvision("run", "--workdir", str(tmp_path / "results"), "-n", cwd=tmp_path, timeout=60)
    refused(result, "results", "is a file, not a folder", fix="dynvision run --workdir DIR")
