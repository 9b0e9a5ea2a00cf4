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
    for rule in ("get_data", "build_betons", "init_model", "train_model", "test_experiment", "plot_responses",
                 "plot_accuracy"):
        assert rule in text
    # The demo's directory is set up as a working directory (its two files); the dry run itself writes nothing.
    produced = [p.relative_to(tmp_path / "demo").as_posix() for p in (tmp_path / "demo").rglob("*")
                if ".snakemake" not in p.parts]
    assert sorted(produced) == ["config", "config/config.yaml", "workflow", "workflow/Snakefile"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train={epoch: 3}", "train.epoch: unknown key. Did you mean 'epochs'?"),
        ("data_name=mnist", "data_name: 'mnist' is not defined"),
        ("experiment=nope", "experiment: 'nope' is not defined"),
        ("train={optimizer: lbfgs}", "train.optimizer: 'lbfgs' is not allowed"),
        ("model_name=DyRCNNx5", "model_name: 'DyRCNNx5' is not a registered model. Did you mean"),
        ("model_args={rctyp: full}", "model_args.rctyp: DyRCNNx2 takes no argument 'rctyp' (did you mean 'rctype'?)"),
        ("category=[rctyp]", "category: 'rctyp' is not defined. Did you mean 'rctype'? Defined in `categories`:"),
        ("data_name=cifar", "Defined in `datasets`: cifar10, digits, mnist5k"),
        ("experiment=[durations]",
         "Did you mean 'duration'? Defined in `experiments`: adaption, adaptionquick, contrast, contrastquick,"),
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


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("models/DyRCNNx2/DyRCNNx2:tau_0001/mnist5k/init.pt", "malformed argument 'tau' in ':tau'"),
        ("models/DyRCNNx2/DyRCNNx2:tau=5/mnist5k/init.pt", "is not a model identity; expected {model_name}"),
        ("reports/response/DyRCNNx2_0001/mnist5k:all_trained/duration:stim/test_outputs.csv",
         "test 'duration:stim': malformed argument 'stim'"),
        ("reports/response/DyRCNNx2_0001/mnist5k:all_trained/Duration/test_outputs.csv", "is not a test spec"),
    ],
)
def test_requesting_a_malformed_path_fails_clearly(tmp_path, target, message, dynvision):
    result = dynvision("run", "--workdir", str(tmp_path), "-n", target, cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("reports/nope/DyRCNNx2_0001/mnist5k:all_trained/test_outputs.csv",
         "experiment 'nope' (in a requested path) is not defined; defined experiments: adaption, adaptionquick"),
        ("models/DyRCNNx2/DyRCNNx2_0001/cifar/init.pt",
         "dataset 'cifar' (in a requested path) is not defined; defined datasets: cifar10, digits, mnist5k"),
    ],
)
def test_requesting_an_unknown_name_in_a_path_names_the_defined_ones(tmp_path, target, message, dynvision):
    result = dynvision("run", "--workdir", str(tmp_path), "-n", target, cwd=tmp_path, timeout=120)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("text", ["a: [1\n", "- just\n- a list\n"])
def test_a_config_file_that_is_not_a_yaml_mapping_is_named(tmp_path, text, dynvision):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = dynvision("run", "--workdir", str(tmp_path), "-n", "--configfile", str(bad), cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert f"config file {str(bad)!r}" in result.stderr
    assert "valid YAML" in result.stderr or "must hold a mapping" in result.stderr


def test_every_packaged_experiment_plans_its_tests(tmp_path, dynvision):
    """Experiments need YAML only: each packaged one dry-runs, ffonly variants pass the model override, swept
    overrides make one test per value, long specs get hashed folder names, and a category sweep (the new dt and
    ffonly categories too) runs every experiment on each swept model."""
    from dynvision_workflow.config import resolve_config

    experiments = sorted(resolve_config(environ={})["experiments"])
    assert len(experiments) >= 27
    config = tmp_path / "c.yaml"
    config.write_text(
        f"experiment: [{', '.join(experiments)}]\n"
        "test: {max_identifier_length: 60}\ncategory: [tau, dt, ffonly]\n"
    )
    result = dynvision("run", "--workdir", str(tmp_path), "-n", "-p", "all_experiments", "--configfile", str(config),
                       cwd=tmp_path, timeout=180)
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    for name in experiments:
        assert f"reports/{name}/DyRCNNx2:dt=4_0001/mnist5k:all_trained/test_outputs.csv" in text, name
    assert "DyRCNNx2:ffonly=true_0001" in text
    # each experiment is tested in one job, its tests listed as JSON (--tests): folder, spec, paradigm, overrides
    assert '"overrides":{"ffonly":true}' in text
    assert '"identifier":"duration:intro=2+outro=8+stimulus=10@idle=40"' in text
    assert '"overrides":{"idle":40}' in text
    assert '"paradigm":"duration:intro=2+outro=8+stimulus=10"' in text
    assert "--x idle" in text  # the performance figure of idleresponse: against its swept override
    assert '"paradigm":"noise:intro=2+noisetype=phasescrambled+outro=8+ssnr=0.1+stimulus=10+tempmode=dynamic"' in text
    assert '"identifier":"noise-' in text
    assert "--spec-index reports/test_specs.json" in text
    assert not (tmp_path / "reports").exists()  # a dry run writes no index


def test_a_hashed_test_with_swept_overrides_records_its_full_spec(tmp_path, dynvision):
    result = dynvision("run", "--workdir", str(tmp_path), "-n", "-p", "--config", "experiment=[idleresponse]",
                       "test.max_identifier_length=30", cwd=tmp_path, timeout=120)
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    assert '"spec":"duration:intro=2+outro=8+stimulus=10@idle=5"' in text and "--spec-index" in text
    assert '"paradigm":"duration:intro=2+outro=8+stimulus=10"' in text and '"overrides":{"idle":5}' in text


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


def test_the_demo_takes_config_overrides_as_dynvision_run_does(tmp_path, dynvision):
    # A dotted override reached Snakemake as it was typed and ended in its traceback ("Config entry must start with a
    # valid identifier"); the demo now rewrites and checks its Snakemake options as `dynvision run` does.
    result = dynvision("demo", "--workdir", str(tmp_path / "demo"), "--dry-run", "--config",
                       "train.precision=bf16-mixed", "test.precision=bf16-mixed", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "train_model" in result.stdout + result.stderr
    bad = dynvision("demo", "--workdir", str(tmp_path / "demo"), "--dry-run", "--config", "train.precision=bf15",
                    cwd=tmp_path, timeout=120)
    assert bad.returncode != 0
    assert "Traceback" not in bad.stdout + bad.stderr
    assert "train.precision" in bad.stdout + bad.stderr and "bf16-mixed" in bad.stdout + bad.stderr
