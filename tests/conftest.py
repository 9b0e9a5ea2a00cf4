"""Shared fixtures of the cross-package tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

DYNVISION = [sys.executable, "-m", "dynvision_workflow"]


def run_dynvision(*args: str, cwd: Path, timeout: float = 600, check: bool = False) -> subprocess.CompletedProcess:
    """Run the `dynvision` command in a subprocess and capture its output (text)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    result = subprocess.run(
        [*DYNVISION, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"dynvision {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def dynvision():
    """The `dynvision` command, run in a subprocess: ``dynvision(*args, cwd=..., timeout=..., check=...)``."""
    return run_dynvision


@pytest.fixture(scope="session")
def small_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reduced demo: few images, one epoch, a narrow network, a short paradigm."""
    path = tmp_path_factory.mktemp("config") / "small.yaml"
    path.write_text(
        """
model_name: [DyRCNNx2]
model_args: {channels: "4,8", tau: 4}
seed: ["0001"]
data_name: mnist5k
experiment: [response]
experiments:
  response:
    paradigm: duration
    args: {intro: 1, stimulus: 3, outro: 2}
train:
  epochs: 1
  batch_size: 32
  limit_images: 256
  paradigm: {name: duration, args: {intro: 1, stimulus: 3, outro: 1}}
test:
  batch_size: 64
  limit_images: 96
"""
    )
    return path


# A working directory's own Snakefile (it names `dynvision_workflow`, which marks a working directory): one job that
# writes its process id to job.pid and sleeps $DYNVISION_TEST_SLEEP seconds (default 600: long enough to be stopped
# or killed while it runs); like the workflow's jobs, it writes its output only at the end.
SLEEPING_SNAKEFILE = """# A dynvision_workflow test workflow: one job that sleeps.
rule all:
    input:
        "slept.txt",


rule sleep:
    output:
        "slept.txt",
    log:
        "sleep.log",
    shell:
        "echo $$ > job.pid; exec python -c 'import os, pathlib, time; time.sleep(float(os.environ.get(\\"DYNVISION_TEST_SLEEP\\", 600))); pathlib.Path(\\"{output}\\").touch()' 2> {log}"
"""


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def wait_for():
    """``wait_for(condition, timeout, what)``: poll ``condition()`` every 0.2 s; fail naming ``what`` at ``timeout``."""
    return _wait_for


@pytest.fixture
def sleeping_workdir(tmp_path: Path) -> Path:
    """A working directory whose workflow is one job that sleeps (see :data:`SLEEPING_SNAKEFILE`)."""
    (tmp_path / "workflow").mkdir()
    (tmp_path / "workflow/Snakefile").write_text(SLEEPING_SNAKEFILE)
    return tmp_path
