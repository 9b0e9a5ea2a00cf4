"""Execution settings: per-rule resources merged from the configuration, loader workers within the allocation,
the execution-mode overlay named in provenance, and the quoting-safe command wrapper."""

from __future__ import annotations

import json
import shlex
import subprocess

import pytest

from dynvision_workflow.config import ConfigError, config_sources, resolve_config, source_of
from dynvision_workflow.execution import (
    RULE_RESOURCES,
    cap_workers,
    job_resources,
    job_shell,
    job_threads,
    submits_jobs,
)


def test_rule_defaults_fit_a_small_cpu_node():
    for rule in RULE_RESOURCES:
        assert job_threads(rule) <= 2
        resources = job_resources(rule)
        assert resources["mem_mb"] <= 4000 and "gpu" not in resources and "threads" not in resources


def test_configured_resources_merge_key_by_key_over_the_rule_defaults():
    configured = {
        "default": {"slurm_account": "lab", "slurm_partition": "cpu"},
        "train_model": {"mem_mb": 16000, "slurm_partition": "gpu", "threads": 8},
    }
    train = job_resources("train_model", configured, gpus=1)
    assert train == {"mem_mb": 16000, "disk_mb": 1000, "runtime": 240, "slurm_account": "lab",
                     "slurm_partition": "gpu", "gpu": 1}
    assert job_threads("train_model", configured) == 8
    test = job_resources("test_model", configured)
    assert test["slurm_partition"] == "cpu" and test["mem_mb"] == 4000 and "gpu" not in test
    assert job_threads("test_model", configured) == 2
    # A configured gpu wins over what training asks for; 0 or null requests none.
    assert job_resources("train_model", {"train_model": {"gpu": 2}}, gpus=1)["gpu"] == 2
    assert "gpu" not in job_resources("train_model", {"train_model": {"gpu": 0}}, gpus=1)
    assert "slurm_account" not in job_resources("get_data", {"default": {"slurm_account": "x"},
                                                             "get_data": {"slurm_account": None}})
    # cpus_per_task stands for threads when threads is not set.
    assert job_threads("init_model", {"init_model": {"cpus_per_task": 4}}) == 4


def test_resources_are_declared_in_the_schema():
    config = resolve_config({"execution": {"resources": {"train_model": {"mem_mb": 16000, "slurm_extra": "-C a"}}}})
    assert config["execution"]["resources"]["train_model"]["mem_mb"] == 16000
    with pytest.raises(ConfigError, match=r"execution\.resources\.train_model\.mem_mb: 'lots'"):
        resolve_config({"execution": {"resources": {"train_model": {"mem_mb": "lots"}}}})


def test_loader_workers_never_exceed_the_cpus_of_the_job():
    assert cap_workers(4, 2) == 2 and cap_workers(0, 8) == 0 and cap_workers(3, 8) == 3


def test_a_workflow_that_submits_to_a_cluster_plans_with_the_cluster_overlay():
    assert submits_jobs(["--executor", "slurm", "-n"], environ={})
    assert submits_jobs(["--executor", "slurm-jobstep"], environ={})
    assert not submits_jobs(["-n", "--cores", "2"], environ={})
    assert not submits_jobs(["--executor", "local", "--cores", "1"], environ={})
    planned = resolve_config(environ={}, submits_jobs=True)
    assert planned["execution"]["active_mode"] == "cluster" and planned["data"]["num_workers"] == 4
    assert resolve_config({"execution": {"mode": "local"}}, environ={}, submits_jobs=True)["data"]["num_workers"] == 0


def test_provenance_names_the_mode_overlay_as_the_source_of_its_values():
    config = resolve_config(environ={"SLURM_JOB_ID": "42"})
    sources = config_sources(mode="cluster", overlay=config["execution"]["modes"]["cluster"])
    assert source_of(sources, "data.num_workers") == "execution.modes.cluster"
    assert source_of(sources, "test.batch_size") == "execution.modes.cluster"
    assert source_of(config_sources(["/dev/null"], {"data": {"num_workers": 1}}, mode="cluster",
                                    overlay={"data": {"num_workers": 4}}), "data.num_workers") == "--config"


# The options of the train and test rules are shell-quoted with single quotes (shlex): a command with them, its
# log redirection and a header, through a wrapper of the documented container shape.
COMMAND = ("dynvision train --paradigm " + shlex.quote('{"name": "duration", "args": {"intro": 1}}')
           + " --label " + shlex.quote("it's") + " >> job.log 2>&1")


def _run_wrapped(tmp_path, start, close, command=COMMAND):
    stub = tmp_path / "bin" / "dynvision"
    stub.parent.mkdir(exist_ok=True)
    stub.write_text('#!/usr/bin/env python3\nimport json, os, sys\nprint(json.dumps([os.environ.get("X"), *sys.argv[1:]]))\n'
                    'sys.exit(3 if sys.argv[1:] == ["fail"] else 0)\n')
    stub.chmod(0o755)
    prefix, suffix = job_shell(start, close)
    script = f"{prefix} {command} {suffix}"  # as Snakemake joins them
    return subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=30,
                          env={"PATH": f"{stub.parent}:/usr/bin:/bin", "HOSTNAME": "node1", "SLURM_JOB_ID": "7"},
                          check=False)


def test_container_wrapper_receives_the_command_unchanged_and_the_log_gets_every_attempt(tmp_path):
    for _ in range(2):  # a retry appends to the log under its own header
        result = _run_wrapped(tmp_path, "env X=1 bash -c '", "'")
        assert result.returncode == 0, result.stderr
    lines = (tmp_path / "job.log").read_text().splitlines()
    headers = [line for line in lines if line.startswith("=== dynvision: attempt started")]
    assert len(headers) == 2 and all("on node1 (SLURM job 7)" in line for line in headers)
    received = [json.loads(line) for line in lines if line.startswith("[")]
    expected = ["1", "train", "--paradigm", '{"name": "duration", "args": {"intro": 1}}', "--label", "it's"]
    assert received == [expected, expected]


def test_a_failing_command_fails_the_wrapped_job_and_keeps_its_log_for_the_retry(tmp_path):
    result = _run_wrapped(tmp_path, "env X=1 bash -c '", "'", "dynvision fail >> job.log 2>&1; dynvision never")
    assert result.returncode == 3 and "never" not in (tmp_path / "job.log").read_text()
    # Snakemake deletes the log before the next attempt: the failed attempt's log is kept beside it.
    assert (tmp_path / "job.log.failed-1").read_text() == (tmp_path / "job.log").read_text()
    assert '"fail"' in (tmp_path / "job.log.failed-1").read_text()
    _run_wrapped(tmp_path, "", "", "dynvision fail >> job.log 2>&1")
    assert (tmp_path / "job.log.failed-2").is_file()


def test_other_wrappers_are_put_around_the_command_as_they_are(tmp_path):
    result = _run_wrapped(tmp_path, "echo start >> wrapped.txt; ", "; echo close >> wrapped.txt")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "wrapped.txt").read_text() == "start\nclose\n"
    assert json.loads((tmp_path / "job.log").read_text().splitlines()[-1])[1:3] == ["train", "--paradigm"]
