"""Shared fixtures of the cross-package tests."""

from __future__ import annotations

import os
import subprocess
import sys
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
