"""The temporal-dynamics study: which model variants show the brain's temporal phenomena (``dynvision run study``).

The study (section ``study`` of the configuration, packaged in ``config/config_study.yaml``) crosses model
*variants* (recurrence type x activity-loss weight, intrinsic adaptation, a feed-forward control) with *seeds* at
one *scale* (model, dataset, training length, the three experiments), trains every model, tests it under the
repetition, duration and contrast experiments, and hands the aggregated responses tables to
``dynvision-analysis study-table`` (one row per variant x area x phenomenon x condition, with bootstrap confidence
intervals over seeds and images) and ``plot-study`` (the figure per area beside the human reference, and the
effect sizes). Nothing here imports torch or pandas: the functions run while Snakemake builds its DAG.

Layout (one folder per scale, so that the laptop and the full study live side by side)::

    studies/{scale}/study.csv           the measures per variant x area x phenomenon x measure x condition
    studies/{scale}/effects.csv         the effect sizes per variant x area x effect (with `shows`)
    studies/{scale}/study-{area}.png    the phenomena of every variant in one area, beside the human reference
    studies/{scale}/effects.png         the effect sizes with their intervals, every variant and area
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from . import paths
from .naming import ArgsError, canonical_model_args, encode_args

__all__ = [
    "EFFECTS_FIGURE",
    "EFFECTS_TABLE",
    "PARADIGMS",
    "PHENOMENA",
    "STUDY_DIR",
    "STUDY_FIGURE",
    "STUDY_TABLE",
    "StudyModel",
    "selected_variants",
    "study_figures",
    "study_models",
    "study_problems",
    "study_scale",
    "study_tables",
    "study_targets",
]

STUDY_DIR = "studies/{scale}"
STUDY_TABLE = STUDY_DIR + "/study.csv"
EFFECTS_TABLE = STUDY_DIR + "/effects.csv"
STUDY_FIGURE = STUDY_DIR + "/study-{area}.png"
EFFECTS_FIGURE = STUDY_DIR + "/effects.png"

#: The phenomena of the study, each measured on one experiment of the scale (``study.scales.<scale>.experiments``):
#: repetition suppression and its recovery (two presentations and a gap), temporal summation (durations) and
#: contrast-dependent timing (contrasts).
PHENOMENA = ("repetition", "duration", "contrast")
#: The paradigm of the experiment that measures each phenomenon.
PARADIGMS = {"repetition": "interval", "duration": "duration", "contrast": "contrast"}


class StudyModel(NamedTuple):
    """One trained model of the study: its variant, identity (``model_args`` canonical and encoded, as in paths) and
    seed."""

    variant: str
    model_name: str
    model_args: str
    seed: str


def study_scale(config: Mapping[str, Any], scale: str | None = None) -> Mapping[str, Any]:
    """The settings of a scale of the study (the configured ``study.scale`` by default)."""
    study = config["study"]
    return study["scales"][study["scale"] if scale is None else scale]


def _identity(scale: Mapping[str, Any], variant: Mapping[str, Any]) -> str:
    return encode_args(canonical_model_args({**scale.get("model_args", {}), **variant}))


def study_models(config: Mapping[str, Any], scale: str | None = None) -> list[StudyModel]:
    """Every model of a scale of the study: each variant (the scale's ``model_args`` with the variant's arguments
    over them) with each of the scale's seeds."""
    from .naming import format_seed

    settings = study_scale(config, scale)
    seeds = settings["seed"] if isinstance(settings["seed"], list) else [settings["seed"]]
    return [
        StudyModel(variant, settings["model_name"], _identity(settings, arguments), format_seed(seed))
        for variant, arguments in selected_variants(config).items()
        for seed in seeds
    ]


def selected_variants(config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The variants the study runs: those named in ``study.select``, or every one of ``study.variants``."""
    variants, select = config["study"]["variants"], config["study"]["select"]
    return {name: variants[name] for name in select} if select else dict(variants)


def study_tables(config: Mapping[str, Any], scale: str | None = None) -> dict[str, str]:
    """The aggregated responses table of every model x phenomenon of a scale, keyed ``variant:seed:phenomenon``
    (the label ``dynvision-analysis study-table --table`` takes)."""
    settings = study_scale(config, scale)
    return {
        f"{model.variant}:{model.seed}:{phenomenon}": paths.fill(
            paths.AGGREGATED_RESPONSES,
            experiment=settings["experiments"][phenomenon],
            model_name=model.model_name,
            model_args=model.model_args,
            seed=model.seed,
            data_name=settings["data_name"],
            data_group="all",
            status="trained",
        )
        for model in study_models(config, scale)
        for phenomenon in PHENOMENA
    }


def study_figures(config: Mapping[str, Any], areas: list[str], scale: str | None = None) -> list[str]:
    """The figures of a scale of the study: one per area of its model (``areas``) and the effect sizes."""
    name = config["study"]["scale"] if scale is None else scale
    return [*(STUDY_FIGURE.format(scale=name, area=area) for area in areas), EFFECTS_FIGURE.format(scale=name)]


def study_targets(config: Mapping[str, Any], areas: list[str], scale: str | None = None) -> list[str]:
    """Everything ``dynvision run study`` makes: the two tables and the figures."""
    name = config["study"]["scale"] if scale is None else scale
    tables = [STUDY_TABLE.format(scale=name), EFFECTS_TABLE.format(scale=name)]
    return tables + study_figures(config, areas, scale)


def study_problems(config: Mapping[str, Any]) -> tuple[list[str], list[tuple[str, str, dict[str, Any]]]]:
    """What the study of the configured scale would fail on, before any job: an unknown scale, dataset or experiment,
    an experiment of the wrong paradigm for its phenomenon, a variant that sweeps; and the model of each variant
    still to check against its constructor and training, as ``(where, model_name, kwargs)`` (the caller checks
    them with :func:`dynvision_workflow.config.model_problems`, which this module does not import)."""
    study = config["study"]
    scales = list(study["scales"])
    if study["scale"] not in study["scales"]:
        return [
            f"study.scale: {study['scale']!r} is not a scale of the study; choose one of {', '.join(scales)} "
            f"(e.g. --config study.scale={scales[0] if scales else 'laptop'}), or add it under study.scales."
        ], []
    where = f"study.scales.{study['scale']}"
    settings = study["scales"][study["scale"]]
    problems = []
    if settings["data_name"] not in config["datasets"]:
        problems.append(
            f"{where}.data_name: {settings['data_name']!r} is not a dataset of `datasets`; choose one of "
            f"{', '.join(sorted(config['datasets']))}, or declare it under datasets."
        )
    for phenomenon in PHENOMENA:
        paradigm = PARADIGMS[phenomenon]
        name = settings["experiments"].get(phenomenon)
        experiment = config["experiments"].get(name) if name is not None else None
        if experiment is None:
            problems.append(
                f"{where}.experiments.{phenomenon}: {name!r} is not an experiment of `experiments`; name one with "
                f"the {paradigm} paradigm (e.g. {phenomenon}: {_example(config, paradigm)})."
            )
        elif experiment["paradigm"] != paradigm:
            problems.append(
                f"{where}.experiments.{phenomenon}: the experiment {name!r} uses the {experiment['paradigm']} "
                f"paradigm; the {phenomenon} phenomenon needs one with the {paradigm} paradigm (e.g. "
                f"{phenomenon}: {_example(config, paradigm)})."
            )
    if not study["variants"]:
        problems.append("study.variants: the study has no variants; add at least one (see config_study.yaml).")
    unknown = [name for name in study["select"] if name not in study["variants"]]
    if unknown:
        problems.append(
            f"study.select: {', '.join(map(repr, unknown))} is not a variant of study.variants; variants: "
            f"{', '.join(study['variants'])} (e.g. --config 'study.select=[{next(iter(study['variants']), '')}]')."
        )
        return problems, []
    models = []
    for variant, arguments in selected_variants(config).items():
        merged = {**settings.get("model_args", {}), **arguments}
        swept = sorted(key for key, value in merged.items() if isinstance(value, list))
        if swept:
            problems.append(
                f"study.variants.{variant}: {', '.join(swept)} is a list; a variant is one model (give each value "
                "its own variant)."
            )
            continue
        try:
            models.append((f"study.variants.{variant}", settings["model_name"], canonical_model_args(merged)))
        except ArgsError as error:
            problems.append(f"study.variants.{variant}: {error}")
    return problems, models


def _example(config: Mapping[str, Any], paradigm: str) -> str:
    names = sorted(name for name, spec in config["experiments"].items() if spec.get("paradigm") == paradigm)
    return names[0] if names else "<an experiment>"
