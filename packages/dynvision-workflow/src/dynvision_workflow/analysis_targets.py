"""Paths and targets of the analysis rules beyond the per-experiment responses and accuracy figures.

Figures per model (training curves, weight distributions), per experiment (confusion matrix, performance against
the swept parameter) and across experiments (the dynamics panels of the duration, contrast and interval
experiments). Nothing here imports pandas or torch: the functions run while Snakemake builds its DAG.

Layout (beside :mod:`.paths`)::

    models/{model_name}/{model_name}{model_args}_{seed}/{data_name}/training/metrics.csv     (written by training)
    figures/training/{model_name}{model_args}_{seed}/{data_name}/training.png
    reports/weights/{model_name}{model_args}_{seed}/{data_name}_{status}/weights.csv
    figures/weights/{model_name}{model_args}_{seed}/{data_name}_{status}/weights.png
    reports/stability/{model_name}{model_args}_{seed}/{data_name}:{data_group}_{status}/spectrum.csv  (engine models)
    figures/stability/{model_name}{model_args}_{seed}/{data_name}:{data_group}_{status}/stability.png
    figures/{experiment}/.../{data_name}:{data_group}_{status}/confusion.png         (paths.FIGURE)
    figures/{experiment}/.../{data_name}:{data_group}_{status}/reactiontimes.png     (paths.FIGURE)
    reports/{experiment}/.../{data_name}:{data_group}_{status}/performance.csv       (with its ffonly variant)
    figures/{experiment}/.../{data_name}:{data_group}_{status}/performance.png       (experiments with `parameter`)
    figures/dynamics/{model_name}{model_args}_{seed}/{data_name}:{data_group}_{status}/dynamics.png
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import paths
from .targets import all_figures, canonical_args, category_sweeps, experiment_statuses

__all__ = [
    "DYNAMICS_EXPERIMENTS",
    "DYNAMICS_FIGURE",
    "EXPERIMENT_FIGURES",
    "PERFORMANCE_TABLE",
    "STABILITY_FIGURE",
    "STABILITY_TABLE",
    "TRAINING_FIGURE",
    "TRAINING_METRICS",
    "WEIGHTS_FIGURE",
    "WEIGHTS_TABLE",
    "category_experiment_figures",
    "dynamics_experiments",
    "experiment_figures",
    "feedforward_variant",
    "has_stability",
    "performance_experiments",
    "swept_column",
]

_MODEL = "{model_name}{model_args}_{seed}"
#: Lightning's CSV log of a training run (``dynvision train`` writes it beside the checkpoints).
TRAINING_METRICS = paths.MODEL_DIR + "/training/metrics.csv"
TRAINING_FIGURE = f"figures/training/{_MODEL}/{{data_name}}/training.png"
WEIGHTS_TABLE = f"reports/weights/{_MODEL}/{{data_name}}_{{status}}/weights.csv"
WEIGHTS_FIGURE = f"figures/weights/{_MODEL}/{{data_name}}_{{status}}/weights.png"
#: The leading eigenvalues of a state's linearised recurrent step (runtime.stability) and their figure.
STABILITY_TABLE = f"reports/stability/{_MODEL}/{{data_name}}:{{data_group}}_{{status}}/spectrum.csv"
STABILITY_FIGURE = f"figures/stability/{_MODEL}/{{data_name}}:{{data_group}}_{{status}}/stability.png"
#: An experiment's outputs table stacked with its feedforward-only variant's (column ``connections``).
PERFORMANCE_TABLE = paths.AGGREGATED_OUTPUTS.rsplit("/", 1)[0] + "/performance.csv"
DYNAMICS_FIGURE = f"figures/dynamics/{_MODEL}/{{data_name}}:{{data_group}}_{{status}}/dynamics.png"

#: The dynamics panels: plot-dynamics option -> the experiment that feeds it (duration -> temporal summation,
#: contrast -> latency, interval -> recovery).
DYNAMICS_EXPERIMENTS = {"duration": "duration", "contrast": "contrast", "interval": "interval"}
#: Figures of every experiment beyond :data:`dynvision_workflow.targets.FIGURES`.
EXPERIMENT_FIGURES = ("confusion", "reactiontimes")


def feedforward_variant(config: Mapping[str, Any], experiment: str) -> str | None:
    """The experiment that repeats ``experiment`` without recurrence (same paradigm, arguments and other model
    overrides, plus the override ``ffonly: true``), ``{experiment}ffonly`` preferred; ``None`` when there is none."""
    from .naming import canonical_model_args

    experiments = config["experiments"]
    spec = experiments[experiment]
    candidates = [f"{experiment}ffonly", *sorted(experiments)]
    for name in candidates:
        other = experiments.get(name)
        if name == experiment or other is None:
            continue
        overrides = canonical_model_args(other.get("model_overrides") or {})
        if (
            overrides.pop("ffonly", None) is True
            and other.get("paradigm") == spec.get("paradigm")
            and other.get("args") == spec.get("args")
            # the same other overrides (a swept `idle` is a column the variant must have too)
            and overrides == canonical_model_args(spec.get("model_overrides") or {})
        ):
            return name
    return None


#: Parameters whose column a summary table of dynvision-analysis also has: performance against them cannot be
#: summarised.
_SUMMARY_COLUMNS = frozenset({"measure", "mean", "sem", "n", "low", "high", "error_bars"})


def performance_experiments(config: Mapping[str, Any], experiments: list[str] | None = None) -> list[str]:
    """Experiments with a swept ``parameter`` and no fixed model overrides (a feed-forward-only variant is drawn in
    its experiment's figure; swept overrides such as ``idle: [0, 5, 10]`` are a parameter): each gets a performance
    figure."""
    names = config["experiment"] if experiments is None else experiments
    chosen = []
    for name in names:
        spec = config["experiments"][name]
        parameter = spec.get("parameter")
        fixed = [value for value in (spec.get("model_overrides") or {}).values() if not isinstance(value, list)]
        if parameter and parameter not in _SUMMARY_COLUMNS and not fixed:
            chosen.append(name)
    return chosen


def swept_column(config: Mapping[str, Any], experiment: str) -> str | None:
    """The table column of an experiment's swept ``parameter`` (``None`` for an experiment without one): a paradigm
    parameter's column (:func:`~dynvision_workflow.runtime.tables.parameter_column`, e.g. ``paradigm_stimulus``),
    or a swept model override's (:func:`~dynvision_workflow.runtime.tables.override_column`, e.g. ``idle``)."""
    spec = config["experiments"][experiment]
    parameter = spec.get("parameter")
    if not parameter:
        return None
    from .naming import canonical_model_args, canonical_paradigm_args
    from .runtime.tables import override_column, parameter_column  # pandas: only for swept experiments
    from .targets import swept_overrides

    in_args = next(iter(canonical_paradigm_args({parameter: None}))) in canonical_paradigm_args(spec.get("args", {}))
    if not in_args and next(iter(canonical_model_args({parameter: None}))) in swept_overrides(config, experiment):
        return override_column(parameter, spec["paradigm"])
    return parameter_column(parameter)


def dynamics_experiments(config: Mapping[str, Any]) -> dict[str, str]:
    """plot-dynamics option -> experiment, for the dynamics experiments in ``experiment`` (or, when none is, all
    that are defined under ``experiments``)."""
    defined = {option: name for option, name in DYNAMICS_EXPERIMENTS.items() if name in config["experiments"]}
    selected = {option: name for option, name in defined.items() if name in config["experiment"]}
    return selected or defined


def has_stability(model_name: str) -> bool:
    """Whether a model runs on the temporal engine, whose step the stability analysis linearises (from the cached
    model catalogue: no torch)."""
    from .config import model_catalogue

    return bool((model_catalogue().get(model_name) or {}).get("engine"))


def _models(config: Mapping[str, Any], model_args: Mapping[str, Any] | None) -> list[dict[str, str]]:
    sweep = canonical_args(config["model_args"] if model_args is None else model_args)
    return [
        {"model_name": model_name, "model_args": args, "seed": seed, "data_name": config["data_name"]}
        for model_name in config["model_name"]
        for args in sweep
        for seed in config["seed"]
    ]


def experiment_figures(config: Mapping[str, Any], *, model_args: Mapping[str, Any] | None = None) -> list[str]:
    """Every figure of the configured experiments on the configured models (optionally other ``model_args``):
    per experiment responses, accuracy, confusion, reaction times and (with a swept parameter) performance; per
    model and status the dynamics panels (when a duration, contrast or interval experiment is configured), the
    weights and (for a model on the temporal engine) the stability spectrum; per trained model its training
    curves."""
    figures: dict[str, None] = dict.fromkeys(all_figures(config, model_args=model_args))
    performance = performance_experiments(config)
    dynamics = any(name in config["experiment"] for name in DYNAMICS_EXPERIMENTS.values())
    for model in _models(config, model_args):
        for experiment in config["experiment"]:
            extra = [*EXPERIMENT_FIGURES, *(["performance"] if experiment in performance else [])]
            for status in experiment_statuses(config, experiment):
                state = {**model, "status": status, "data_group": config["data_group"]}
                for figure in extra:
                    figures[paths.fill(paths.FIGURE, experiment=experiment, figure=figure, **state)] = None
        for status in config["status"]:
            state = {**model, "status": status, "data_group": config["data_group"]}
            if dynamics:
                figures[paths.fill(DYNAMICS_FIGURE, **state)] = None
            figures[paths.fill(WEIGHTS_FIGURE, **state)] = None
            if has_stability(model["model_name"]):
                figures[paths.fill(STABILITY_FIGURE, **state)] = None
        if "trained" in config["status"]:
            figures[paths.fill(TRAINING_FIGURE, **model)] = None
    return list(figures)


def category_experiment_figures(config: Mapping[str, Any]) -> list[str]:
    """:func:`experiment_figures` on the models of each category sweep in ``category`` (one sweep per category;
    the ``model_args`` sweep itself without a category)."""
    figures: dict[str, None] = {}
    for swept in category_sweeps(config):
        figures.update(dict.fromkeys(experiment_figures(config, model_args=swept)))
    return list(figures)

