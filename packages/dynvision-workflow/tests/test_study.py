"""The temporal-dynamics study's configuration and targets (no Snakemake jobs, no training)."""

from __future__ import annotations

import pytest

from dynvision_workflow import paths
from dynvision_workflow.config import ConfigError, resolve_config
from dynvision_workflow.naming import parse_args
from dynvision_workflow.options import apply_identity, split_identity
from dynvision_workflow.study import PHENOMENA, study_models, study_tables, study_targets
from dynvision_workflow.targets import experiment_config


def _problems(overrides: dict) -> str:
    with pytest.raises(ConfigError) as error:
        resolve_config(overrides)
    return str(error.value)


def test_the_packaged_study_crosses_recurrence_and_activity_loss_with_a_control_and_adaptation():
    config = resolve_config({})
    variants = config["study"]["variants"]
    recurrences = {args["rctype"] for args in variants.values()}
    losses = {args["activityloss"] for args in variants.values()}
    assert {"full", "self", "local", "none"} <= recurrences
    assert len(losses) == 3 and 0 in losses
    for rctype in ("full", "self", "local", "none"):  # every recurrence type at every activity-loss weight
        assert {a["activityloss"] for a in variants.values() if a["rctype"] == rctype and "adaptation" not in a} == losses
    assert any("adaptation" in args for args in variants.values())
    for scale in config["study"]["scales"].values():
        seeds = scale["seed"]
        assert isinstance(seeds, list) and len(seeds) >= 2


def test_every_variant_and_seed_is_one_model_with_the_scales_arguments_under_its_own():
    config = resolve_config({})
    models = study_models(config)
    assert len(models) == len(config["study"]["variants"]) * len(config["study"]["scales"]["laptop"]["seed"])
    strong = next(m for m in models if m.variant == "full-strong")
    args = parse_args(strong.model_args)
    assert args["rctype"] == "full" and args["channels"] == [8, 16] and args["epochs"] == 2
    # the identity's training arguments reach training: epochs and the activity-loss weight
    trained = apply_identity(config, split_identity(args)[1])
    assert trained["train"]["epochs"] == 2 and trained["train"]["activity_weight"] == 0.2
    assert len({m.model_args for m in models}) == len(config["study"]["variants"])  # no two variants alike


def test_study_tables_name_each_variant_seed_and_phenomenon_with_the_scales_experiment():
    config = resolve_config({})
    tables = study_tables(config)
    assert len(tables) == len(study_models(config)) * len(PHENOMENA)
    label, path = next((k, v) for k, v in tables.items() if k.endswith(":repetition"))
    _, seed, _ = label.split(":")
    experiment = config["study"]["scales"]["laptop"]["experiments"]["repetition"]
    assert path.startswith(f"reports/{experiment}/DyRCNNx2:") and path.endswith(
        f"_{seed}/mnist5k:all_trained/" + paths.AGGREGATED_RESPONSES.rsplit("/", 1)[1]
    )
    assert study_targets(config, ["V1", "V2"]) == [
        "studies/laptop/study.csv",
        "studies/laptop/effects.csv",
        "studies/laptop/study-V1.png",
        "studies/laptop/study-V2.png",
        "studies/laptop/effects.png",
    ]


def test_a_subset_of_variants_is_one_option_away():
    config = resolve_config({"study": {"select": ["full-strong", "none-0"]}})
    assert {m.variant for m in study_models(config)} == {"full-strong", "none-0"}
    assert len(study_tables(config)) == 2 * 2 * len(PHENOMENA)


def test_the_full_scale_is_one_switch_away():
    config = resolve_config({"study": {"scale": "full"}})
    models = study_models(config)
    assert {m.model_name for m in models} == {"DyRCNNx4"} and len({m.seed for m in models}) == 5
    assert all(path.split("/")[-2].startswith("cifar10:") for path in study_tables(config).values())


@pytest.mark.parametrize(
    ("overrides", "mentions"),
    [
        ({"study": {"scale": "huge"}}, ["study.scale", "'huge'", "laptop", "--config study.scale="]),
        (
            {"study": {"scales": {"laptop": {"experiments": {"contrast": "duration"}}}}},
            ["study.scales.laptop.experiments.contrast", "'duration'", "duration paradigm", "contrast paradigm"],
        ),
        (
            {"study": {"scales": {"laptop": {"experiments": {"repetition": "nosuch"}}}}},
            ["study.scales.laptop.experiments.repetition", "'nosuch'", "interval paradigm"],
        ),
        ({"study": {"variants": {"full-bad": {"rctype": "ful"}}}}, ["study.variants.full-bad", "'ful'", "full"]),
        ({"study": {"variants": {"full-neg": {"activityloss": -1}}}}, ["study.variants.full-neg", "-1"]),
        ({"study": {"variants": {"full-two": {"tau": [3, 5]}}}}, ["study.variants.full-two", "tau", "one model"]),
        ({"study": {"scales": {"laptop": {"data_name": "nosuch"}}}}, ["study.scales.laptop.data_name", "'nosuch'"]),
        ({"study": {"variants": {"Full_0": {"rctype": "full"}}}}, ["study.variants.Full_0", "Rename it"]),
        ({"study": {"select": ["full-0", "nonee"]}}, ["study.select", "'nonee'", "none-0", "--config 'study.select="]),
    ],
)
def test_a_study_that_cannot_run_is_refused_before_any_job_naming_the_key(overrides, mentions):
    message = _problems(overrides)
    for mention in mentions:
        assert mention in message, (mention, message)


def test_an_experiment_may_test_on_fewer_images_without_changing_the_runs_test_options():
    config = resolve_config({"test": {"batch_size": 32}})
    quick = experiment_config(config, "adaptionquick")
    assert quick["test"]["limit_images"] == 256 and quick["test"]["batch_size"] == 32
    assert config["test"]["limit_images"] is None
    assert experiment_config(config, "adaption") is config
    # the quick experiments sweep exactly the conditions of the experiments they shorten (one declaration)
    for quick_name, name in (("adaptionquick", "adaption"), ("durationquick", "duration"), ("contrastquick", "contrast")):
        assert config["experiments"][quick_name]["args"] == config["experiments"][name]["args"]


@pytest.mark.parametrize(
    ("test", "mentions"),
    [
        ({"limit_image": 5}, ["experiments.response.test", "limit_image", "limit_images"]),
        ({"limit_images": 0}, ["experiments.response.test.limit_images", "0"]),
        ({"max_identifier_length": 20}, ["max_identifier_length", "unknown key"]),
    ],
)
def test_an_experiments_test_options_are_checked_like_the_runs(test, mentions):
    message = _problems({"experiments": {"response": {"paradigm": "duration", "test": test}}})
    for mention in mentions:
        assert mention in message, (mention, message)
