"""Dry runs: each line logged once, nothing written, no torch import while the workflow is read; the model
manifest that makes the last possible; the Snakemake logging and resource helpers behind the first."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from dynvision_workflow import config as config_module
from dynvision_workflow import paths
from dynvision_workflow.execution import constant_system_tmpdir, log_run_info_once

SMALL_SWEEP = "model_args: {tau: [5, 6]}\nseed: [1, 2]\nexperiment: [duration]\n"


def _run(command: list[str], cwd: Path) -> str:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    text = result.stdout + result.stderr
    assert result.returncode == 0, text[-3000:]
    return text


def _written(folder: Path) -> list[Path]:
    """Files and folders a run left in ``folder``, apart from Snakemake's own metadata folder."""
    return sorted(p for p in folder.rglob("*") if ".snakemake" not in p.relative_to(folder).parts)


@pytest.mark.parametrize("via", ["dynvision", "snakemake"])
def test_dry_run_logs_job_stats_once_and_writes_nothing(tmp_path, via):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(SMALL_SWEEP)
    workdir = tmp_path / "work"
    workdir.mkdir()
    if via == "dynvision":
        command = [sys.executable, "-m", "dynvision_workflow", "run", "--workdir", str(workdir), "--cores", "2",
                   "-n", "--configfile", str(sweep)]
    else:
        command = [sys.executable, "-m", "snakemake", "-n", "-s", str(paths.snakefile()), "--directory",
                   str(workdir), "--cores", "2", "--configfile", str(sweep)]
    text = _run(command, cwd=workdir)
    assert text.count("Job stats:") == 1, text[-3000:]
    totals = [line for line in text.splitlines() if line.split()[:1] == ["total"]]
    assert len(totals) == 1, totals
    assert "This was a dry-run" in text
    assert _written(workdir) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.yaml", "work"]


def test_reading_the_workflow_imports_no_torch(tmp_path):
    """Model names and arguments are checked against the cached model catalogue and paradigms are built by
    dynvision-data without torch: no torch import (~1.2 s) at start once the catalogue is cached."""
    config_module.model_catalogue()  # the first start after installing dynvision_models caches it
    text = _run([sys.executable, "-X", "importtime", "-m", "snakemake", "-n", "-s", str(paths.snakefile()),
                 "--directory", str(tmp_path), "--cores", "1", "--quiet", "all"], cwd=tmp_path)
    imported = {line.rsplit("|", 1)[-1].strip() for line in text.splitlines() if line.startswith("import time:")}
    assert "snakemake" in imported and "dynvision_models.checks" in imported
    assert "torch" not in imported


def test_the_model_catalogue_is_cached_per_version_of_the_model_sources(tmp_path, monkeypatch):
    """Built from the live registry once per digest of dynvision_models' sources, then read from the cache; an
    edited model source is a new digest (nothing to regenerate by hand); an unwritable cache only costs time."""
    import json

    monkeypatch.setenv(config_module.CACHE_VARIABLE, str(tmp_path / "cache"))
    calls = []
    live = config_module.live_model_catalogue()
    monkeypatch.setattr(config_module, "live_model_catalogue", lambda: calls.append(1) or live)
    digest = config_module._models_source_digest()
    try:
        config_module.model_catalogue.cache_clear()
        assert config_module.model_catalogue() == live and len(calls) == 1
        (cached,) = (tmp_path / "cache").glob("model-catalogue-*.json")
        assert digest[:20] in cached.name and json.loads(cached.read_text()) == live
        config_module.model_catalogue.cache_clear()
        assert config_module.model_catalogue() == live and len(calls) == 1  # read back, not rebuilt
        monkeypatch.setattr(config_module, "_models_source_digest", lambda: "0" * 64)  # a model source changed
        config_module.model_catalogue.cache_clear()
        assert config_module.model_catalogue() == live and len(calls) == 2
        assert len(list((tmp_path / "cache").glob("model-catalogue-*.json"))) == 2
        (tmp_path / "cache").chmod(0o500)
        monkeypatch.setattr(config_module, "_models_source_digest", lambda: "1" * 64)
        config_module.model_catalogue.cache_clear()
        assert config_module.model_catalogue() == live and len(calls) == 3
    finally:
        (tmp_path / "cache").chmod(0o700)
        config_module.model_catalogue.cache_clear()


def test_model_check_messages_name_the_key_the_value_and_what_is_allowed():
    config = {"model_name": ["DyRCNNx5", "DyRCNNx2"], "model_args": {"rctyp": "full", "tau": 5}, "category": [],
              "categories": {}, "experiment": [], "experiments": {}}
    problems = config_module._model_problems(config)
    assert problems[0].startswith("model_name: 'DyRCNNx5' is not a registered model. Did you mean")
    assert problems[1].startswith("model_args.rctyp") and "'rctype'" in problems[1]


def _record(message: str, event: str | None) -> logging.LogRecord:
    record = logging.LogRecord("snakemake.logging", logging.INFO, __file__, 1, message, None, None)
    if event is not None:
        record.event = event
    return record


def test_run_info_is_logged_once_and_other_lines_pass():
    logger = logging.getLogger("dynvision-test-run-info-once")
    log_run_info_once(logger)
    log_run_info_once(logger)  # idempotent: one filter
    assert len(logger.filters) == 1
    stats = "Job stats:\njob  count\n---  -----\nall      1\ntotal    1\n"
    assert logger.filter(_record(stats, "run_info"))
    assert not logger.filter(_record(stats, "run_info"))
    assert logger.filter(_record(stats.replace("1", "2"), "run_info"))
    assert logger.filter(_record("Building DAG of jobs...", None))
    assert logger.filter(_record("Building DAG of jobs...", None))


def test_system_tmpdir_default_becomes_its_value_and_user_settings_stay():
    import tempfile

    from snakemake.resources import Resources

    defaults = Resources.default("bare")
    workflow = SimpleNamespace(resource_settings=SimpleNamespace(_parsed_default_resources=defaults))
    assert constant_system_tmpdir(workflow)
    assert not defaults["tmpdir"].is_evaluable()
    assert defaults["tmpdir"].value == tempfile.gettempdir()
    assert not constant_system_tmpdir(workflow)  # already a value

    from snakemake.resources import Resource

    custom = Resources.default("bare")
    custom["tmpdir"] = Resource.from_cli_expression("tmpdir", "'/scratch/' + 'me'")
    workflow = SimpleNamespace(resource_settings=SimpleNamespace(_parsed_default_resources=custom))
    assert not constant_system_tmpdir(workflow)
    assert custom["tmpdir"].is_evaluable()
    assert not constant_system_tmpdir(SimpleNamespace())  # another Snakemake: left alone


def test_gc_tuning_raises_the_threshold_and_freezes_at_exit():
    code = (
        "import gc; from dynvision_workflow.execution import tune_gc_for_large_dags as tune; tune(); "
        "assert gc.get_threshold()[0] == 100_000, gc.get_threshold(); assert gc.get_freeze_count() > 0"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
