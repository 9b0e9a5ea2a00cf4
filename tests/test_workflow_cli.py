"""The `dynvision` command as a user meets it: lint, dry runs, configuration errors, listings."""

from __future__ import annotations

import pytest


def test_snakemake_lint_is_clean(tmp_path, dynvision):
    result = dynvision("run", "--workdir", str(tmp_path), "--lint", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr


def test_demo_dry_run_plans_every_stage_and_writes_nothing(tmp_path, dynvision):
    result = dynvision("demo", "--workdir", str(tmp_path / "demo"), "--dry-run", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    text = result.stdout + result.stderr
    for rule in ("get_data", "build_betons", "init_model", "train_model", "test_model", "process_test",
                 "aggregate_experiment", "plot_responses", "plot_accuracy"):
        assert rule in text
    produced = [p for p in (tmp_path / "demo").rglob("*") if ".snakemake" not in p.parts]
    assert produced == []


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train={epoch: 3}", "train.epoch: unknown key. Did you mean 'epochs'?"),
        ("data_name=mnist", "data_name: 'mnist' is not defined"),
        ("experiment=nope", "experiment: 'nope' is not defined"),
        ("train={optimizer: lbfgs}", "train.optimizer: 'lbfgs' is not allowed"),
        ("model_name=DyRCNNx5", "model_name: 'DyRCNNx5' is not a registered model. Did you mean"),
        ("model_args={rctyp: full}", "model_args.rctyp: DyRCNNx2 takes no argument 'rctyp'. Did you mean 'rctype'?"),
    ],
)
def test_bad_config_stops_before_any_job_with_a_message(tmp_path, override, message, dynvision):
    result = dynvision("run", "--workdir", str(tmp_path), "-n", "--config", override, cwd=tmp_path, timeout=120)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not (tmp_path / "data").exists()


def test_config_show_prints_resolved_defaults(tmp_path, dynvision):
    result = dynvision("config", "show", "--config", "seed=7", cwd=tmp_path, check=True)
    assert "seed:\n- '0007'" in result.stdout
    assert "epochs:" in result.stdout and "backend: auto" in result.stdout


def test_models_and_paradigms_are_listed(tmp_path, dynvision):
    models = dynvision("models", cwd=tmp_path, check=True).stdout
    assert "DyRCNNx2" in models and "DyRCNNx4" in models and "tau" in models
    paradigms = dynvision("paradigms", cwd=tmp_path, check=True).stdout
    assert "duration" in paradigms


def test_requesting_a_malformed_model_path_fails_clearly(tmp_path, dynvision):
    result = dynvision("run", "--workdir", str(tmp_path), "-n",
                           "models/DyRCNNx2/DyRCNNx2:tau_0001/mnist5k/init.pt", cwd=tmp_path, timeout=120)
    assert result.returncode != 0
    assert "MissingRuleException" in result.stdout + result.stderr or "No rule to produce" in result.stdout + result.stderr


def test_workflow_files_are_snakefmt_formatted():
    import subprocess
    import sys
    from pathlib import Path

    workflow = Path(__file__).resolve().parents[1] / "packages/dynvision-workflow/src/dynvision_workflow/workflow"
    snakefmt = Path(sys.executable).with_name("snakefmt")
    result = subprocess.run([str(snakefmt), "--check", str(workflow)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_file_helpers_do_not_shadow_snakemake_globals():
    """Rule files execute in snakemake.workflow's namespace; a helper named like one of its globals replaces it
    (a `partial` helper once broke Snakemake's own `onstart`)."""
    import re
    from pathlib import Path

    import snakemake.api
    import snakemake.workflow

    workflow = Path(__file__).resolve().parents[1] / "packages/dynvision-workflow/src/dynvision_workflow/workflow"
    defined = set()
    for path in [workflow / "Snakefile", *workflow.rglob("*.smk")]:
        text = path.read_text()
        defined |= set(re.findall(r"^def (\w+)", text, flags=re.MULTILINE))
        defined |= set(re.findall(r"^([A-Za-z_]\w*) =", text, flags=re.MULTILINE))
    clashes = defined & set(vars(snakemake.workflow))
    assert not clashes, f"rule-file helpers shadow snakemake.workflow globals: {sorted(clashes)}"
