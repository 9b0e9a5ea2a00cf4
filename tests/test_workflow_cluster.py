"""Cluster execution: execution modes, the packaged SLURM profile, the command wrapper, and a small sweep through
job scripts with the cluster-generic executor (local submit)."""

from __future__ import annotations

import sys

import pytest

from dynvision_workflow import paths
from dynvision_workflow.cli import resolve_profiles
from dynvision_workflow.config import resolve_config
from dynvision_workflow.execution import detect_mode

SWEEP = ["DyRCNNx2:channels=3~4+tau=4_0001", "DyRCNNx2:channels=3~4+tau=6_0001"]


@pytest.mark.parametrize(
    ("environ", "mode"),
    [({}, "local"), ({"SLURM_JOB_ID": "42"}, "cluster"), ({"PBS_JOBID": "7.server"}, "cluster"),
     ({"HOSTNAME": "login1.hpc.example.org"}, "local"), ({"SLURM_JOB_ID": ""}, "local")],
)
def test_mode_comes_from_scheduler_variables_never_host_names(environ, mode):
    assert detect_mode(environ) == mode


def test_mode_overlay_sits_below_user_values():
    cluster = resolve_config(environ={"SLURM_JOB_ID": "42"})
    assert cluster["execution"]["active_mode"] == "cluster"
    assert cluster["data"]["num_workers"] == 4 and cluster["test"]["batch_size"] == 512
    local = resolve_config(environ={})
    assert local["execution"]["active_mode"] == "local" and local["data"]["num_workers"] == 0
    user = resolve_config({"data": {"num_workers": 1}}, environ={"SLURM_JOB_ID": "42"})
    assert user["data"]["num_workers"] == 1 and user["test"]["batch_size"] == 512
    forced = resolve_config({"execution": {"mode": "local"}}, environ={"SLURM_JOB_ID": "42"})
    assert forced["execution"]["active_mode"] == "local" and forced["test"]["batch_size"] == 256


def test_profile_names_resolve_to_packaged_profiles_and_other_values_pass_through(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    packaged = str(paths.profile_dir("slurm"))
    assert resolve_profiles(["--profile", "slurm", "-n"]) == ["--profile", packaged, "-n"]
    assert resolve_profiles(["--profile=slurm"]) == [f"--profile={packaged}"]
    assert resolve_profiles(["--profile", "./mine", "--profile", "other"]) == ["--profile", "./mine", "--profile", "other"]
    (tmp_path / "slurm").mkdir()  # a local folder of that name wins
    assert resolve_profiles(["--profile", "slurm"]) == ["--profile", "slurm"]


def test_slurm_profile_dry_runs_without_a_cluster(tmp_path, dynvision):
    result = dynvision("run", "--workdir", str(tmp_path), "--profile", "slurm", "-n", cwd=tmp_path, timeout=120)
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    assert "gpu=1" in text and "cpus_per_task=8" in text  # train_model's resources from the profile
    assert [p.name for p in tmp_path.iterdir() if p.name != ".snakemake"] == []


def test_slurm_executor_dry_runs_with_ddp_settings(tmp_path):
    import subprocess

    command = [sys.executable, "-m", "snakemake", "--snakefile", str(paths.snakefile()), "--directory", str(tmp_path),
               "--executor", "slurm", "--jobs", "10", "-n", "-p", "--config", "train={accelerator: gpu, devices: 4, strategy: ddp}"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False)
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    assert "gpu=4" in text and "--devices 4" in text and "--strategy ddp" in text


@pytest.mark.slow
def test_executor_wrapper_surrounds_every_job_command(tmp_path, dynvision):
    config = tmp_path / "wrap.yaml"
    config.write_text(
        "data_name: digits\n"
        "execution: {executor_start: 'echo start >> wrapped.txt; ', executor_close: '; echo close >> wrapped.txt'}\n"
    )
    result = dynvision("run", "--workdir", str(tmp_path), "--cores", "1", "data/raw/digits.ready",
                       "--configfile", str(config), cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "data/raw/digits.ready").is_file()
    assert (tmp_path / "wrapped.txt").read_text() == "start\nclose\n"


@pytest.mark.e2e
@pytest.mark.slow
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
