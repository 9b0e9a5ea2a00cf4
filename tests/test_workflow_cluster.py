"""Cluster execution: a small sweep runs through job scripts with the cluster-generic executor (local submit)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SWEEP = ["DyRCNNx2:channels=3~4+tau=4_0001", "DyRCNNx2:channels=3~4+tau=6_0001"]


def test_a_sweep_runs_through_cluster_job_scripts(tmp_path, dynvision):
    targets = [f"models/DyRCNNx2/{identity}/digits/init.pt" for identity in SWEEP]
    result = dynvision(
        "run", "--workdir", str(tmp_path), "--executor", "cluster-generic",
        "--cluster-generic-submit-cmd", "bash", "--jobs", "2",
        "--config", "data_name=digits", 'model_args={tau: [4, 6], channels: "3,4"}',
        "--", *targets, cwd=tmp_path, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    for target in targets:
        assert (tmp_path / target).is_file()
        assert (tmp_path / (target + ".config.yaml")).is_file()
    # Every job ran in its own job script (remote mode), which re-reads the workflow and its configuration.
    assert (tmp_path / "data/raw/digits.ready").is_file()
