"""Working directories (`dynvision init-workdir`): plain `snakemake` with the packaged workflow as a module, the
upstream README's commands (§9) typed in one, `dynvision run`/`config show` there, old cluster options, the demo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from dynvision_workflow import paths
from dynvision_workflow.config import resolve_config
from dynvision_workflow.legacy import ClusterOptionError, map_cluster_options, repair_typos
from dynvision_workflow.workdir import WorkdirError, init_workdir, is_workdir, run_configfiles

#: The model of the seed's §9.1 command, in canonical spelling.
SEED_MODEL = "DyRCNNx4:rctype=full+tsteps=20_0001"


def snakemake(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """Plain `snakemake` (this interpreter's) in ``cwd``, as a user types it there."""
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    init_workdir(directory)
    return directory


def test_init_workdir_writes_the_deployment_layout(tmp_path, dynvision):
    result = dynvision("init-workdir", "project", cwd=tmp_path, check=True)
    snakefile = tmp_path / "project" / "workflow" / "Snakefile"
    config = tmp_path / "project" / "config" / "config.yaml"
    assert f"created  {Path('project/workflow/Snakefile')}" in result.stdout
    text = snakefile.read_text()
    assert 'read_configfile(workflow, "config/config.yaml")' in text  # as data: no YTE rendering
    assert "\nconfigfile:" not in text
    assert "module dynvision:" in text and "use rule * from dynvision" in text
    assert "from dynvision_workflow.paths import snakefile" in text and "dynvision.onstart()" in text
    assert "dynvision config show" in config.read_text()
    assert is_workdir(tmp_path / "project")


def test_the_starting_config_asks_for_what_the_packaged_defaults_ask_for(workdir):
    started, packaged = resolve_config(files=[workdir / paths.WORKDIR_CONFIG]), resolve_config()
    for key in ("model_name", "model_args", "seed", "data_name", "status", "experiment"):
        assert started[key] == packaged[key], key


def test_init_workdir_again_keeps_every_file(workdir, dynvision):
    config = workdir / paths.WORKDIR_CONFIG
    config.write_text("seed: ['0042']\n")
    (workdir / paths.WORKDIR_SNAKEFILE).write_text((workdir / paths.WORKDIR_SNAKEFILE).read_text() + "\n# mine\n")
    result = dynvision("init-workdir", str(workdir), cwd=workdir.parent, check=True)
    assert result.stdout.count("kept") == 2
    assert config.read_text() == "seed: ['0042']\n"
    assert (workdir / paths.WORKDIR_SNAKEFILE).read_text().endswith("# mine\n")
    config.unlink()
    assert [file.action for file in init_workdir(workdir)] == ["kept", "created"]


def test_init_workdir_refuses_a_busy_directory_or_a_file(tmp_path, dynvision):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    result = dynvision("init-workdir", "busy", cwd=tmp_path)
    assert result.returncode == 2
    assert "busy is not empty (notes.txt) and is not a DynVision working directory" in result.stderr
    assert "give a new or empty directory" in result.stderr
    assert not (tmp_path / "busy" / "workflow").exists()
    (tmp_path / "file").write_text("")
    result = dynvision("init-workdir", "file", cwd=tmp_path)
    assert result.returncode == 2 and "file is a file, not a directory" in result.stderr
    with pytest.raises(WorkdirError, match="cannot set up"):
        init_workdir(tmp_path / "file" / "below")


def test_a_folder_of_earlier_workflow_outputs_becomes_a_working_directory(tmp_path):
    for name in ("models", "figures", ".snakemake"):
        (tmp_path / name).mkdir()
    assert [file.action for file in init_workdir(tmp_path)] == ["created", "created"]


def test_plain_snakemake_runs_the_seed_command_in_a_working_directory(workdir):
    # §9.1, with the spelling corrected: `{rctype: full, tsteps: 20}`.
    result = snakemake("-c2", "-n", "--config", "model_name=DyRCNNx4", "seed=0001",
                       "model_args={rctype: full, tsteps: 20}", cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"models/DyRCNNx4/{SEED_MODEL}/mnist5k/trained.pt" in result.stdout
    assert f"figures/response/{SEED_MODEL}/mnist5k:all_trained/accuracy.png" in result.stdout


def test_the_seed_commands_typos_are_read_with_a_note(workdir):
    # §9.1 as typed upstream: YAML reads `rctype:full` as one key without a value, and `tsteps=:20` too.
    result = snakemake("-c2", "-n", "--config", "model_name=DyRCNNx4", "seed=0001",
                       "model_args={rctype:full, tsteps=:20}", cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'note: --config model_args: read as {rctype: full, tsteps: 20}' in result.stderr
    assert 'model_args="{rctype: full, tsteps: 20}"' in result.stderr
    assert f"models/DyRCNNx4/{SEED_MODEL}/mnist5k/trained.pt" in result.stdout


def test_repair_typos_splits_keys_that_swallowed_their_value():
    repaired, notes = repair_typos({"seed": "0001", "model_args": {"rctype:full": "", "tsteps=:20": None}})
    assert repaired == {"seed": "0001", "model_args": {"rctype": "full", "tsteps": 20}}
    assert len(notes) == 1
    # Right spellings and keys already set are left alone (validation reports the latter).
    assert repair_typos({"model_args": {"rctype": "full"}}) == ({"model_args": {"rctype": "full"}}, [])
    assert repair_typos({"a": {"rctype:full": None, "rctype": "self"}})[0] == {"a": {"rctype:full": None, "rctype": "self"}}


def test_plain_snakemake_targets_of_the_seed_examples(workdir):
    # §9.3
    result = snakemake("-n", "plot_experiments_on_models", cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "plot_weights" in result.stdout and "plot_training" in result.stdout
    # §9.2 as written: without a category, all_experiments runs every experiment on the model_args sweep.
    result = snakemake("-n", "-j4", "all_experiments", "--config", "experiment=adaption",
                       "model_args={rctype: [full, self, pointdepthwise, depthpointwise]}", cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    trained = {line.split()[-1] for line in result.stdout.splitlines() if line.strip().startswith("output: models/")}
    assert trained == {f"models/DyRCNNx2/DyRCNNx2:rctype={kind}_0001/mnist5k/{state}.pt"
                       for kind in ("full", "self", "pointdepthwise", "depthpointwise") for state in ("init", "trained")}
    assert "/adaption/" in result.stdout
    # With categories it sweeps each of them instead.
    result = snakemake("-n", "all_experiments", "--config", "experiment=response", "category=[rctype]",
                       "categories={rctype: [full, self]}", cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    trained = {line.split()[-1] for line in result.stdout.splitlines() if line.strip().startswith("output: models/")}
    assert trained == {f"models/DyRCNNx2/DyRCNNx2:rctype={kind}_0001/mnist5k/{state}.pt"
                       for kind in ("full", "self") for state in ("init", "trained")}


def test_dynvision_run_and_config_show_use_the_working_directorys_config(workdir, dynvision):
    (workdir / paths.WORKDIR_CONFIG).write_text("seed: ['0042']\nmodel_args: {tau: 7}\n")
    result = dynvision("run", "-n", cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "models/DyRCNNx2/DyRCNNx2:tau=7_0042/mnist5k/trained.pt" in result.stdout
    shown = yaml.safe_load(dynvision("config", "show", cwd=workdir, check=True).stdout)
    assert shown["seed"] == ["0042"] and shown["model_args"] == {"tau": 7}
    elsewhere = yaml.safe_load(dynvision("config", "show", "--workdir", str(workdir), cwd=workdir.parent,
                                         check=True).stdout)
    assert elsewhere["seed"] == ["0042"]
    assert yaml.safe_load(dynvision("config", "show", cwd=workdir.parent, check=True).stdout)["seed"] == ["0001"]


def test_a_real_run_in_a_working_directory_records_its_configuration_and_sources(workdir):
    # The workflow's onstart runs through the working directory's Snakefile, and the provenance names its config.
    (workdir / paths.WORKDIR_CONFIG).write_text("seed: ['0042']\ndata_name: digits\n")
    result = snakemake("-c1", "--config", "seed=0007", "--", paths.fill(paths.RAW_READY, data_name="digits"),
                       cwd=workdir, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    (record,) = (workdir / paths.RUN_CONFIG_DIR).glob("run-*.yaml")
    record = yaml.safe_load(record.read_text())
    assert record["config"]["seed"] == ["0007"]
    assert record["sources"]["data_name"] == paths.WORKDIR_CONFIG and record["sources"]["seed"] == "--config"


def test_run_configfiles_puts_the_working_directorys_config_below_configfiles():
    workflow = SimpleNamespace(
        config_settings=SimpleNamespace(configfiles=[Path("extra.yaml")]),
        configfiles=[Path("extra.yaml"), "config/config.yaml"],
    )
    assert run_configfiles(workflow) == ["config/config.yaml", "extra.yaml"]


def test_old_cluster_option_runs_through_the_cluster_generic_executor(workdir, dynvision):
    result = dynvision("run", "-n", "--cluster", "bash", "--jobs", "2", cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert ("note: --cluster was removed in Snakemake 8; running with --cluster-generic-submit-cmd bash and "
            "--executor cluster-generic") in result.stderr
    assert "train_model" in result.stdout


def test_cluster_options_map_or_stop_with_the_command_to_run():
    words, notes = map_cluster_options(["-j100", "all", "--cluster", "sbatch -p gpu", "--cluster-status=st.sh"])
    assert words == ["--executor", "cluster-generic", "-j100", "all", "--cluster-generic-submit-cmd", "sbatch -p gpu",
                     "--cluster-generic-status-cmd", "st.sh"]
    assert len(notes) == 2 and "--profile slurm" in notes[0]
    assert map_cluster_options(["-n", "--executor", "slurm"]) == (["-n", "--executor", "slurm"], [])
    with pytest.raises(ClusterOptionError, match=r"Run: dynvision run --executor cluster-generic "
                       r"--cluster-generic-submit-cmd bash -n --profile PROFILE$"):
        map_cluster_options(["--cluster", "bash", "--cluster-config", "cluster.yaml", "-n"])
    with pytest.raises(ClusterOptionError, match="do not go together"):
        map_cluster_options(["--executor", "slurm", "--cluster", "bash"])


def test_the_demo_directory_is_a_working_directory(tmp_path, dynvision):
    demo = tmp_path / "demo"
    result = dynvision("demo", "--workdir", str(demo), "--dry-run", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    packaged = (paths.config_dir() / "config_demo.yaml").read_text()
    assert is_workdir(demo) and (demo / paths.WORKDIR_CONFIG).read_text() == packaged
    shown = yaml.safe_load(dynvision("config", "show", cwd=demo, check=True).stdout)
    assert shown["model_args"] == yaml.safe_load(packaged)["model_args"]
    result = dynvision("run", "-n", cwd=demo)
    assert result.returncode == 0, result.stderr[-3000:]
    trained = [line for line in result.stdout.splitlines() if line.strip().startswith("output: models/")]
    assert trained and all("DyRCNNx2:channels=16" in line and "+tau=6_0001/mnist5k/" in line for line in trained)
