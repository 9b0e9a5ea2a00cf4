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
    """Model names and arguments are checked against the packaged manifest: no torch import (~1.2 s) at start."""
    text = _run([sys.executable, "-X", "importtime", "-m", "snakemake", "-n", "-s", str(paths.snakefile()),
                 "--directory", str(tmp_path), "--cores", "1", "--quiet", "all"], cwd=tmp_path)
    imported = {line.rsplit("|", 1)[-1].strip() for line in text.splitlines() if line.startswith("import time:")}
    assert "snakemake" in imported
    assert "torch" not in imported
    assert "dynvision_models" not in imported


def test_packaged_model_manifest_matches_the_registry():
    """Regenerate after changing dynvision_models' models:
    python -c "from dynvision_workflow.config import write_model_manifest; write_model_manifest()"."""
    import json

    manifest = json.loads((Path(config_module.__file__).with_name(config_module.MODEL_MANIFEST)).read_text())
    regenerate = (
        "The packaged model manifest is stale (dynvision_models' models changed). Regenerate it: python -c "
        '"from dynvision_workflow.config import write_model_manifest; write_model_manifest()"'
    )
    assert manifest["files"] == config_module._constructor_files(), regenerate
    assert manifest["source_digest"] == config_module._models_source_digest(manifest["files"]), regenerate
    assert manifest["models"] == config_module.live_model_catalogue()


def test_model_catalogue_falls_back_to_the_registry_when_the_manifest_is_stale(monkeypatch):
    config_module.model_catalogue.cache_clear()
    monkeypatch.setattr(config_module, "_models_source_digest", lambda files=(): "not the packaged digest")
    monkeypatch.setattr(config_module, "live_model_catalogue", lambda: {"Live": ["tau"]})
    try:
        assert config_module.model_catalogue() == {"Live": ["tau"]}
        problems = config_module._model_problems(["DyRCNNx2"], {})
        assert problems and problems[0].startswith("model_name: 'DyRCNNx2' is not a registered model.")
    finally:
        config_module.model_catalogue.cache_clear()


def test_model_check_messages_are_those_of_the_live_registry(monkeypatch):
    """The manifest changes where the names come from, not what a user is told."""
    names, args = ["DyRCNNx5", "DyRCNNx2", "ResNet18"], {"rctyp": "full", "tau": 5, "rctype": "full"}
    from_manifest = config_module._model_problems(names, args)
    monkeypatch.setattr(config_module, "model_catalogue", config_module.live_model_catalogue)
    assert from_manifest == config_module._model_problems(names, args)
    assert from_manifest[0].startswith("model_name: 'DyRCNNx5' is not a registered model. Did you mean")
    assert from_manifest[1].startswith("model_args.rctyp: DyRCNNx2 takes no argument 'rctyp'. Did you mean 'rctype'?")


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
