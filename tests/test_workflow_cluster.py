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
    assert forced["execution"]["active_mode"] == "local" and forced["test"]["batch_size"] == 32


def test_profile_names_resolve_to_packaged_profiles_and_other_values_pass_through(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    packaged = str(paths.profile_dir("slurm"))
    assert resolve_profiles(["--profile", "slurm", "-n"]) == ["--profile", packaged, "-n"]
    assert resolve_profiles(["--profile=slurm"]) == [f"--profile={packaged}"]
    assert resolve_profiles(["--profile", "./mine", "--profile", "other"]) == ["--profile", "./mine", "--profile", "other"]
    (tmp_path / "slurm").mkdir()  # a local folder of that name wins
    assert resolve_profiles(["--profile", "slurm"]) == ["--profile", "slurm"]


def test_slurm_profile_dry_runs_without_a_cluster(tmp_path, dynvision):
    # The profile's options (squeue status checks) are valid; without configuration every job fits a small CPU
    # node and none asks for a GPU.
    result = dynvision("run", "--workdir", str(tmp_path), "--profile", "slurm", "-n", "-p", cwd=tmp_path, timeout=120)
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    assert "rule train_model:" in text and "gpu=" not in text and "mem_mb=8000" not in text
    # The submitting side plans the jobs with the cluster overlay, capped at the job's CPUs (2), as its jobs do.
    assert "--num-workers 2" in text
    assert [p.name for p in tmp_path.iterdir() if p.name != ".snakemake"] == []


def test_configured_resources_reach_the_slurm_jobs_and_command_line_resources_add_to_them(tmp_path, dynvision):
    config = tmp_path / "site.yaml"
    config.write_text(
        "train: {accelerator: gpu}\n"
        "execution:\n  resources:\n    default: {slurm_account: lab, slurm_partition: cpu}\n"
        "    train_model: {slurm_partition: gpu, mem_mb: 16000, threads: 8}\n"
    )
    # --cores caps every job's threads (Snakemake's _cores), also of the jobs it submits: give the largest.
    result = dynvision("run", "--workdir", str(tmp_path), "--profile", "slurm", "-n", "-p", "--configfile", str(config),
                       "--set-resources", "test_experiment:runtime=99", "--cores", "16", cwd=tmp_path, timeout=120)
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    jobs = {block.split(":", 1)[0]: block for block in text.split("\nrule ")[1:]}
    train, test = jobs["train_model"], jobs["test_experiment"]
    assert "slurm_partition=gpu" in train and "mem_mb=16000" in train and "gpu=1" in train
    assert "threads: 8" in train and "--num-workers 4" in train
    assert "slurm_account=lab" in test and "slurm_partition=cpu" in test and "runtime=99" in test and "gpu=" not in test


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


CONTAINER = {"executor_start": "env X=1 bash -c '", "executor_close": "'"}  # the documented shape


def test_every_rule_command_passes_through_a_container_wrapper_unchanged(tmp_path, dynvision):
    """Each shell command of a dry run, wrapped as a job wraps it (execution.job_shell) with a stand-in of the
    documented `apptainer exec ... bash -c '` wrapper, reaches a stub command with exactly its shell words."""
    import json
    import shlex
    import subprocess

    from dynvision_workflow.execution import job_shell

    result = dynvision("run", "--workdir", str(tmp_path), "-n", "-p", "--config", "data_name=digits",
                       cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    commands = [line.split("Shell command: ", 1)[1] for line in (result.stdout + result.stderr).splitlines()
                if "Shell command: " in line and not line.endswith("Shell command: None")]
    assert any("dynvision train " in c for c in commands) and any("dynvision-analysis " in c for c in commands)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("dynvision", "dynvision-analysis", "python"):
        stub = bin_dir / name
        stub.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                        f"print(json.dumps([os.environ.get('X'), {name!r}, *sys.argv[1:]]))\n")
        stub.chmod(0o755)
    prefix, suffix = job_shell(CONTAINER["executor_start"], CONTAINER["executor_close"])
    for command in commands:
        words = shlex.split(command)
        assert words[-2:] == [words[-2], "2>&1"] and words[-3] == ">>", command
        log = tmp_path / words[-2]
        log.parent.mkdir(parents=True, exist_ok=True)
        run = subprocess.run(["bash", "-c", f"{prefix} {command} {suffix}"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=30, env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, check=False)
        assert run.returncode == 0, (command, run.stderr)
        received = json.loads(log.read_text().splitlines()[-1])
        assert received == ["1", *words[:-3]], command


@pytest.mark.slow
def test_a_job_in_a_container_wrapper_runs_and_a_retry_keeps_the_failed_attempts_log(tmp_path, dynvision):
    import yaml

    config = tmp_path / "wrap.yaml"
    config.write_text(yaml.safe_dump({"data_name": "digits", "execution": CONTAINER}))
    result = dynvision("run", "--workdir", str(tmp_path), "--cores", "1", "data/raw/digits.ready",
                       "--configfile", str(config), cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "data/raw/digits.ready").is_file()
    log = tmp_path / "logs/data/raw/digits.ready.log"
    assert log.read_text().count("=== dynvision: attempt started") == 1
    # A first attempt that fails (a wrapper that breaks the command once), then a retry that succeeds.
    sabotage = "if [ ! -e tried ]; then touch tried; dynvision() { dynvision_job dynvision --no-such-option; }; fi; "
    config.write_text(yaml.safe_dump({"data_name": "digits", "execution": {"executor_start": sabotage}}))
    result = dynvision("run", "--workdir", str(tmp_path), "--cores", "1", "data/raw/digits.ready", "--configfile",
                       str(config), "--forcerun", "get_data", "--restart-times", "1", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    failed = tmp_path / "logs/data/raw/digits.ready.log.failed-1"
    assert "dynvision: error" in failed.read_text() and "attempt started" in failed.read_text()
    assert log.read_text().count("=== dynvision: attempt started") == 1 and "error" not in log.read_text()
