"""The configuration seam as a user meets it: YAML-typed overrides, every keyword reachable, canonical identities,
and everything a job would reject refused before Snakemake schedules anything."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dynvision_workflow import paths
from dynvision_workflow.config import ConfigError, resolve_config


def _snakemake(*args: str, cwd) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(paths.snakefile()), "--directory", str(cwd),
               "--cores", "1", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


# Overrides typed as YAML ---------------------------------------------------------------------------------------------


def test_config_overrides_are_typed_as_yaml_in_run_show_and_plain_snakemake(tmp_path, dynvision):
    shown = dynvision("config", "show", "--config", "train={epochs: 5}", "train.lr=0.01", "seed=0010",
                      cwd=tmp_path, check=True).stdout
    assert "  epochs: 5\n" in shown and "  lr: 0.01\n" in shown and "- '0010'" in shown
    run = dynvision("run", "--workdir", str(tmp_path), "-n", "-p", "--config", "train={epochs: 5}", cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "--epochs 5 " in run.stdout
    dotted = dynvision("run", "--workdir", str(tmp_path), "-n", "-p", "--config", "train.epochs=6", cwd=tmp_path)
    assert dotted.returncode == 0 and "--epochs 6 " in dotted.stdout, dotted.stderr[-2000:]
    plain = _snakemake("-n", "-p", "--config", "train={epochs: 7, limit_images: 32}", cwd=tmp_path)
    assert plain.returncode == 0 and "--epochs 7 " in plain.stdout, plain.stderr[-2000:]


# Every keyword reachable, names agree across layers -----------------------------------------------------------------


def test_keywords_with_underscores_are_reachable_from_yaml_and_paths(tmp_path, dynvision):
    result = dynvision(
        "run", "--workdir", str(tmp_path), "-n", "--config",
        "model_args={skip_mode: multiplicative, checkpoint_steps: 2, recurrence_type: self}", cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "DyRCNNx2:checkpoint_steps=2+rctype=self+skip_mode=multiplicative_0001" in result.stdout
    target = "models/DyRCNNx4/DyRCNNx4:feedback=true+feedback_mode=multiplicative_0001/mnist5k/init.pt"
    result = dynvision("run", "--workdir", str(tmp_path), "-n", target, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_paradigm_parameters_take_the_api_names_and_the_short_aliases_as_one_test():
    long = resolve_config({"experiments": {"n": {"paradigm": "noise", "args": {"noise_type": "gaussian", "ssnr": 0.5}}}},
                          environ={})
    short = resolve_config({"experiments": {"n": {"paradigm": "noise", "args": {"noisetype": "gaussian", "ssnr": 0.5}}}},
                           environ={})
    from dynvision_workflow.targets import experiment_tests

    assert experiment_tests(long, "n") == experiment_tests(short, "n") == [
        ("noise:noisetype=gaussian+ssnr=0.5",) * 2
    ]


# One folder per model --------------------------------------------------------------------------------------------


def test_a_model_identity_is_canonical_in_config_paths_and_requests(tmp_path, dynvision):
    from dynvision_workflow.targets import canonical_args

    assert canonical_args({"tsteps": 20, "rctype": "full"}) == canonical_args({"recurrence_type": "full",
                                                                                "n_timesteps": 20})
    assert canonical_args({"tsteps": 20, "rctype": "full"}) == [":rctype=full+tsteps=20"]
    request = "models/DyRCNNx2/DyRCNNx2:tsteps=20+recurrence_type=self_0001/mnist5k/init.pt"
    canonical = "models/DyRCNNx2/DyRCNNx2:rctype=self+tsteps=20_0001/mnist5k/init.pt"
    result = dynvision("run", "--workdir", str(tmp_path), "-n", request, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert f"is written {canonical}" in result.stderr and canonical in result.stdout
    plain = _snakemake("-n", request, cwd=tmp_path)
    assert plain.returncode != 0
    assert "is written DyRCNNx2:rctype=self+tsteps=20" in plain.stdout + plain.stderr


# Checked before any job -----------------------------------------------------------------------------------------------

BAD = [
    ({"model_args": {"dt": 0}}, "model_args.dt: 0"),
    ({"model_args": {"tau": 0}}, "model_args.tau: 0"),
    ({"model_args": {"tff": 3}}, "model_args.t"),
    ({"model_args": {"channels": "4,x"}}, "model_args.channels"),
    ({"model_args": {"readout": "middlepool"}}, "model_args.readout: 'middlepool'"),
    ({"model_args": {"rctarget": "middle"}}, "model_args.recurrence_target: 'middle'"),
    ({"model_args": {"rctype": ["full", "sideways"]}}, "'sideways'"),
    ({"model_args": {"skip_mode": "sometimes"}}, "model_args.skip_mode: 'sometimes'"),
    ({"model_args": {"tsteps": "many"}}, "model_args.n_timesteps"),
    ({"category": ["tau"], "categories": {"tau": [5, -1]}}, "categories.tau: -1"),
    ({"experiment": ["durationffonly"], "experiments": {"durationffonly": {"paradigm": "duration",
      "model_overrides": {"idle": -2}}}}, "experiments.durationffonly.model_overrides.idle: -2"),
    # every value of a swept override, named as the experiment spells the key
    ({"experiment": ["idleresponse"], "experiments": {"idleresponse": {"model_overrides": {"idle": [0, 5, -3]}}}},
     "experiments.idleresponse.model_overrides.idle: -3"),
    ({"experiment": ["x"], "experiments": {"x": {"paradigm": "duration", "model_overrides": {
        "idle_timesteps": [0, -4]}}}}, "experiments.x.model_overrides.idle_timesteps: -4"),
    ({"experiments": {"x": {"paradigm": "duration", "model_overrides": {"idle": []}}}},
     "experiments.x.model_overrides.idle: [] has the wrong form"),
    ({"experiments": {"x": {"paradigm": "flicker"}}}, "experiments.x.paradigm: "),
    ({"experiments": {"x": {"paradigm": "duration", "args": {"stimulus": [4, -1]}}}}, "experiments.x: "),
    ({"experiments": {"x": {"paradigm": "duration", "args": {"stimulsu": 4}}}}, "stimulsu"),
    ({"experiments": {"x": {"paradigm": "noise", "args": {"noisetype": "pink"}}}}, "pink"),
    ({"train": {"paradigm": {"name": "duration", "args": {"intro": -1}}}}, "train.paradigm: "),
    ({"train": {"paradigm": {"name": "durashun"}}}, "train.paradigm.name: "),
]


@pytest.mark.parametrize(("override", "message"), BAD, ids=[m for _, m in BAD])
def test_what_a_job_would_reject_is_refused_when_the_configuration_is_read(override, message):
    with pytest.raises(ConfigError) as error:
        resolve_config(override, environ={})
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--config", "model_args={tff: 3}"], "model_args.t"),
        (["--config", "model_args={channels: '4,x'}"], "model_args.channels"),
        (["--config", "experiments={response: {paradigm: duration, args: {stimulus: -2}}}"], "experiments.response"),
        (["models/DyRCNNx2/DyRCNNx2:dt=0_0001/mnist5k/init.pt"], "dt: 0"),
        (["reports/response/DyRCNNx2_0001/mnist5k:all_trained/duration:stimulus=-3/test_outputs.csv"],
         "duration:stimulus=-3"),
    ],
)
def test_bad_values_stop_dynvision_run_before_any_job_without_a_traceback(tmp_path, args, message, dynvision):
    result = dynvision("run", "--workdir", str(tmp_path), "-n", *args, cwd=tmp_path, timeout=120)
    text = result.stdout + result.stderr
    assert result.returncode != 0, text[-2000:]
    assert message in text and "Traceback" not in text, text[-3000:]
    assert not (tmp_path / "data").exists()


def test_training_arguments_in_the_identity_make_separate_models_trained_differently(tmp_path, dynvision):
    result = dynvision("run", "--workdir", str(tmp_path), "-n", "-p", "--config",
                       "model_args={activityloss: [0, 0.02], lossrt: 4, dloader: torch}", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    trains = [line for line in result.stdout.splitlines() if "dynvision train " in line]
    assert len(trains) == 2
    (strong,) = [line for line in trains if "activityloss=0.02+dloader=torch+lossrt=4_0001" in line]
    assert "--activity-weight 0.02 " in strong and '"rt":4' in strong and "--backend torch " in strong
    inits = [line for line in result.stdout.splitlines() if "dynvision init " in line]
    assert len(inits) == 2  # the init step builds the model from its keyword arguments only


def test_the_pretrained_category_starts_a_model_from_named_weights_the_workflow_makes_first(tmp_path, dynvision):
    result = dynvision("run", "--workdir", str(tmp_path), "-n", "-p", "all_experiments", "--config",
                       "category=pretrained", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (init,) = [line for line in result.stdout.splitlines() if "--model-args :pretrained=same " in line
               and "dynvision init" in line]
    assert "--pretrained models/DyRCNNx2/DyRCNNx2_0001/mnist5k/trained.pt " in init
    trains = [line for line in result.stdout.splitlines() if "dynvision train" in line]
    assert any("--output models/DyRCNNx2/DyRCNNx2_0001/mnist5k/trained.pt" in line for line in trains)
    bad = dynvision("run", "--workdir", str(tmp_path), "-n", "--config", "model_args={pretrained: mine}",
                    cwd=tmp_path)
    assert bad.returncode != 0 and "'mine' is not a name of init.weights; allowed: none, same" in bad.stderr
