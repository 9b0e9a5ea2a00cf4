"""Model statuses and pretrained starts in the configuration and the workflow: what is allowed, the errors at
start, and the jobs a dry run plans for `best` and `epoch=N`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dynvision_workflow.config import ConfigError, resolve_config
from dynvision_workflow.statuses import STATUS_PATTERN, parse_status


def test_statuses_parse_and_are_valid_path_parts():
    assert [parse_status(s) for s in ("init", "trained", "best", "epoch=0", "epoch=12")] == [
        ("init", None), ("trained", None), ("best", None), ("epoch", 0), ("epoch", 12)]
    for bad in ("epoch=01", "epoch=-1", "last", "trained-best"):
        assert not re.fullmatch(STATUS_PATTERN, bad)
        with pytest.raises(ValueError, match="not a model status"):
            parse_status(bad)


def test_kept_epochs_and_best_resolve():
    config = resolve_config({"status": ["trained", "best", "epoch=1"], "train": {"keep_epochs": [1]}})
    assert config["status"] == ["trained", "best", "epoch=1"] and config["train"]["keep_epochs"] == [1]
    # Asking for a state keeps its checkpoint: the run's status and a selected experiment's own status.
    config = resolve_config({"status": ["epoch=2"], "experiment": ["response", "responseintermediate"]})
    assert config["train"]["keep_epochs"] == [0, 1, 2]
    from dynvision_workflow.targets import all_figures

    figures = all_figures(config)
    assert any("responseintermediate/" in f and "_epoch=0/" in f for f in figures)
    assert not any("/response/" in f and "_epoch=0/" in f for f in figures)  # response tests the run's status
    with pytest.raises(Exception, match=r"experiments\.responseintermediate\.status: 'epoch=1' names epoch 1"):
        resolve_config({"experiment": ["responseintermediate"], "train": {"epochs": 1}})
    assert (config["init"]["pretrained"], config["init"]["pretrained_sha256"]) == (None, None)
    assert "same" in config["init"]["weights"]


@pytest.mark.parametrize(
    ("user", "message"),
    [
        ({"status": ["epoch=3"], "train": {"keep_epochs": [3]}}, r"status: 'epoch=3' names epoch 3, but training "
         r"runs epochs 0\.\.2 \(train\.epochs: 3"),
        ({"status": "latest"}, r"status: 'latest' is not a model status; allowed: init, trained, best, epoch=N"),
        ({"train": {"keep_epochs": [-1]}}, r"train\.keep_epochs\.0: -1 is less than the minimum of 0"),
        ({"init": {"pretrained": "https://host/w.pth"}}, r"init\.pretrained: the URL .* needs init\.pretrained_sha256"),
        ({"init": {"pretrained": "ftp://host/w.pth", "pretrained_sha256": "a" * 64}}, r"scheme 'ftp'"),
        ({"init": {"pretrained_sha256": "a" * 64}}, r"init\.pretrained_sha256: given without init\.pretrained"),
        ({"init": {"pretrained_sha256": "xyz", "pretrained": "w.pt"}}, r"init\.pretrained_sha256: 'xyz' does not match"),
    ],
)
def test_config_errors_name_the_key_the_value_and_the_fix(user, message):
    with pytest.raises(ConfigError, match=message):
        resolve_config(user)


def _dry_run(workdir: Path, *config: str) -> str:
    command = [sys.executable, "-m", "dynvision_workflow", "run", "--workdir", str(workdir), "--cores", "1", "-n", "-p",
               "--config", *config]
    result = subprocess.run(command, cwd=workdir, env=dict(os.environ, PYTHONUNBUFFERED="1"), capture_output=True,
                            text=True, timeout=300, check=False)
    text = result.stdout + result.stderr
    assert result.returncode == 0, text[-3000:]
    return text


def test_a_dry_run_exports_and_tests_each_status(tmp_path):
    text = _dry_run(tmp_path, "status=[trained,best,epoch=1]", "train={keep_epochs: [1]}",
                    "init={pretrained: ~/weights.pt}")
    exported = re.findall(r"output: (models/\S+/(?:best|epoch=\d+)\.pt)", text)
    assert sorted(exported) == ["models/DyRCNNx2/DyRCNNx2_0001/mnist5k/best.pt",
                                "models/DyRCNNx2/DyRCNNx2_0001/mnist5k/epoch=1.pt"]
    for status in ("trained", "best", "epoch=1"):
        assert f"reports/response/DyRCNNx2_0001/mnist5k:all_{status}/" in text
    assert text.count("rule train_model:") == 1  # one training run serves every status
    assert f"--pretrained {Path.home() / 'weights.pt'}" in text  # expanded; passed to the init job
