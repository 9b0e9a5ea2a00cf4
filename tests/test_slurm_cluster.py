"""The workflow on a real SLURM cluster: a one-node cluster started by the test (tests/slurm/cluster.py) runs
a tiny workflow (data, training, testing, tables, figures) through the packaged ``--profile slurm`` with the
SLURM executor, and its tables must equal, byte for byte, those of the same configuration run locally.

Needs root (the daemons; apt-get installs slurm-wlm and munge when they are missing); skips, saying so, without.
About 1.5 minutes on 2 CPU cores (2.5 on a busy machine): the local run goes alongside the cluster run, which
is three SLURM jobs (each costs 10-15 s of job-step start-up and status polling)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.slow, pytest.mark.slurm, pytest.mark.e2e]


def _load_harness():
    """tests/ is no package (pytest runs with --import-mode=importlib): load the harness by its path."""
    name = "dynvision_tests_slurm_cluster"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / "slurm" / "cluster.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up here
        spec.loader.exec_module(module)
    return sys.modules[name]


harness = _load_harness()

MODEL = "DyRCNNx2:channels=4~8+tau=4_0001"
REPORT = f"reports/response/{MODEL}/digits:all_trained"
FIGURES = f"figures/response/{MODEL}/digits:all_trained"
SMALL = """
model_name: [DyRCNNx2]
model_args: {channels: "4,8", tau: 4}
seed: ["0001"]
data_name: digits
experiment: [response]
experiments:
  response:
    paradigm: duration
    args: {intro: 1, stimulus: 3, outro: 2}
train:
  epochs: 1
  batch_size: 32
  limit_images: 128
  paradigm: {name: duration, args: {intro: 1, stimulus: 3, outro: 1}}
test:
  batch_size: 64
  limit_images: 64
"""

# Three SLURM jobs, for time only (the cluster needs no grouping): data, init and training in one job, the
# experiment's one-pass test in a second; the profile's own `plots` group makes the third.
GROUPS = [
    "--groups",
    *(
        f"{rule}=prepare_and_train"
        for rule in ("get_data", "link_group", "build_betons", "init_model", "train_model")
    ),
    "test_experiment=test",
]


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[object]:
    """A running one-node cluster (``harness.SlurmCluster``): ``.env`` has its SLURM_CONF, ``.command(...)`` runs a
    client. Installs Slurm and MUNGE when missing; skips only where that or the daemons need root we lack."""
    try:
        note = harness.ensure_installed(timeout=600)
    except harness.ClusterUnavailable as reason:
        pytest.skip(f"no SLURM cluster test here: {reason}")
    print(f"slurm_cluster: {note}")
    with harness.running_cluster(timeout=60) as cluster:
        yield cluster


def _slurm_job_logs(workdir: Path, lines: int = 30) -> str:
    parts = []
    for log in sorted((workdir / ".snakemake/slurm_logs").rglob("*.log")):
        parts.append(f"--- {log} ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:]))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def runs(slurm_cluster, tmp_path_factory) -> dict:
    """The small workflow run twice at the same time: through SLURM with the packaged profile, and locally."""
    cluster = slurm_cluster
    base = tmp_path_factory.mktemp("slurm_vs_local")
    config = base / "small.yaml"
    config.write_text(SMALL)
    local, remote = base / "local", base / "slurm"
    dynvision = [sys.executable, "-m", "dynvision_workflow", "run", "--configfile", str(config)]
    slurm_command = [
        *dynvision,
        "--workdir",
        str(remote),
        "--profile",
        "slurm",
        # Time only: first status check 1 s after submission instead of 40 s.
        "--slurm-init-seconds-before-status-checks",
        "1",
        *GROUPS,
    ]  # and nothing about resources or job states: the packaged profile fits a small CPU node without accounting
    # Inside a SLURM job `execution.mode: auto` is `cluster`, whose overlay sets data.num_workers (this changes the
    # trained weights in the last bits): the local run takes the same overlay to compute the same numbers.
    local_command = [
        *dynvision,
        "--workdir",
        str(local),
        "--cores",
        "2",
        "--config",
        "execution.mode=cluster",
    ]
    start = time.monotonic()
    with open(base / "local.log", "w") as local_log:
        local_run = subprocess.Popen(
            local_command,
            cwd=base,
            stdout=local_log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        try:
            slurm_run = subprocess.run(
                slurm_command,
                cwd=base,
                env=dict(cluster.env, PYTHONUNBUFFERED="1"),
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            slurm_seconds = time.monotonic() - start
            local_code = local_run.wait(timeout=600)
        finally:
            if local_run.poll() is None:
                local_run.kill()
                local_run.wait()
    print(
        f"runs: SLURM {slurm_seconds:.0f} s, both {time.monotonic() - start:.0f} s; jobs:\n{cluster.jobs()}"
    )
    text = slurm_run.stdout + slurm_run.stderr
    assert slurm_run.returncode == 0, (
        f"the SLURM run failed ({slurm_run.returncode}): {' '.join(slurm_command)}\n{text[-6000:]}\n"
        f"--- squeue ---\n{cluster.jobs()}\n{_slurm_job_logs(remote)}\n{cluster.log_tails()}\n"
        "(a request the node cannot hold fails at sbatch: compare the log's resources with sinfo's node above)"
    )
    assert local_code == 0, (
        f"the local run failed ({local_code}):\n{(base / 'local.log').read_text()[-6000:]}"
    )
    return {"slurm": remote, "local": local, "slurm_log": text, "jobs": cluster.jobs()}


def test_every_job_ran_through_slurm(runs):
    jobs = [line.split() for line in runs["jobs"].splitlines() if line.strip()]
    states = [job[2] for job in jobs]
    assert states == ["COMPLETED"] * 3, runs["jobs"]  # prepare_and_train, test, plots
    assert "has been submitted with SLURM jobid" in runs["slurm_log"]
    # Inside the jobs `execution.mode: auto` saw SLURM_JOB_ID and chose the cluster overlay.
    record = yaml.safe_load(
        (runs["slurm"] / f"models/DyRCNNx2/{MODEL}/digits/trained.pt.config.yaml").read_text()
    )
    assert record["sources"]["num_workers"] == "execution.modes.cluster"


def test_tables_equal_the_local_run(runs):
    tables = sorted(path.relative_to(runs["local"]) for path in (runs["local"] / "reports").rglob("*.csv"))
    assert Path(REPORT, "test_outputs.csv") in tables and Path(REPORT, "test_responses.csv") in tables
    assert (
        sorted(path.relative_to(runs["slurm"]) for path in (runs["slurm"] / "reports").rglob("*.csv"))
        == tables
    )
    different = [
        str(table)
        for table in tables
        if (runs["slurm"] / table).read_bytes() != (runs["local"] / table).read_bytes()
    ]
    assert not different, f"the SLURM run's tables differ from the local run's: {different}"


def test_figures_exist(runs):
    for name in ("accuracy.png", "responses.png"):
        data = (runs["slurm"] / FIGURES / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, name


# The small run with one training job of two DDP processes (torch loader; the betons are not needed).
DDP = SMALL + """
data: {backend: torch}
"""
DDP = DDP.replace("  batch_size: 32\n  limit_images: 128\n", "  batch_size: 16\n  limit_images: 64\n"
                  "  accelerator: cpu\n  devices: 2\n  strategy: ddp\n")


def test_ddp_training_runs_two_ranks_under_srun(slurm_cluster, tmp_path):
    """`train: {devices: 2, strategy: ddp}` through the profile: one SLURM job of 2 tasks whose `srun` starts both
    ranks (gloo on CPU); rank 0 saves the model, and both ranks end with the same weights."""
    base = tmp_path
    (base / "ddp.yaml").write_text(DDP)
    trained = f"models/DyRCNNx2/{MODEL}/digits/trained.pt"
    command = [
        sys.executable, "-m", "dynvision_workflow", "run", "--configfile", str(base / "ddp.yaml"),
        "--workdir", str(base / "run"), "--profile", "slurm", "--slurm-init-seconds-before-status-checks", "1",
        "--groups", *(f"{rule}=train" for rule in ("get_data", "link_group", "init_model", "train_model")),
        trained,
    ]
    result = subprocess.run(
        command, cwd=base, env=dict(slurm_cluster.env, PYTHONUNBUFFERED="1"), capture_output=True, text=True,
        timeout=300, check=False,
    )
    text = result.stdout + result.stderr
    assert result.returncode == 0, (
        f"{text[-6000:]}\n{slurm_cluster.jobs()}\n{_slurm_job_logs(base / 'run')}\n{slurm_cluster.log_tails()}"
    )
    run = base / "run"
    assert (run / trained).is_file()
    log = (run / f"logs/{trained}.log") if (run / f"logs/{trained}.log").is_file() else None
    training = run / f"models/DyRCNNx2/{MODEL}/digits/training"
    records = [yaml.safe_load(path.read_text()) for path in sorted(training.glob("weights.rank*.json"))]
    assert [record["rank"] for record in records] == [0, 1], (records, log and log.read_text()[-3000:])
    assert {record["world_size"] for record in records} == {2}
    assert records[0]["sha256"] == records[1]["sha256"], records
    config = yaml.safe_load((run / f"{trained}.config.yaml").read_text())
    assert config["parameters"]["world_size"] == 2
