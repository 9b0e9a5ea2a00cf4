"""Input and parameter functions of the analysis rules (rules/analysis.smk) and the analysis targets."""

from dynvision_workflow import analysis_targets
from dynvision_workflow.analysis_targets import (
    category_experiment_figures,
    dynamics_experiments,
    experiment_figures,
    feedforward_variant,
)


def get_experiment_figures(wildcards):
    """Every figure of the configured experiments on the configured models (see analysis_targets)."""
    return experiment_figures(config)


def get_category_experiment_figures(wildcards):
    """Every experiment's figures on the models of each category sweep in `category` (see `categories`), or on
    the `model_args` sweep when no category is selected."""
    return category_experiment_figures(config)


def get_performance_tables(wildcards):
    """An experiment's outputs table and, when it has one, its feedforward-only variant's."""
    fields = dict(wildcards.items())
    tables = {"all": paths.fill(paths.AGGREGATED_OUTPUTS, **fields)}
    variant = feedforward_variant(config, wildcards.experiment)
    if variant is not None:
        tables["feedforward"] = paths.fill(
            paths.AGGREGATED_OUTPUTS, **{**fields, "experiment": variant}
        )
    return tables


def get_performance_combine_options(wildcards, input):
    """`--table LABEL=TABLE` per input of the combine step."""
    words = []
    for label in ("all", "feedforward"):
        if label in input.keys():
            words += ["--table", f"{label}={input[label]}"]
    return shlex.join(words)


def get_performance_options(wildcards):
    """The swept parameter's column on the x axis; the feedforward-only variant (if any) drawn as reference."""
    column = get_swept_column(wildcards.experiment)
    if column is None:
        refuse_requested(
            f"experiment {wildcards.experiment!r} has no `parameter` (the swept one) to plot performance against."
        )
    reference = (
        "feedforward"
        if feedforward_variant(config, wildcards.experiment) is not None
        else None
    )
    return options(x=column, hue="connections", reference=reference)


#: Paradigm parameters that move the stimulus in time: sweeping one mixes stimulus timings in one table.
TIMING_PARAMETERS = frozenset({"intro", "stimulus", "interval", "outro"})


def get_swept_column(experiment):
    """The table column of an experiment's swept parameter (None for an experiment without one): a paradigm
    parameter's or a swept model override's (`parameter: idle`)."""
    return analysis_targets.swept_column(config, experiment)


def get_responses_options(wildcards):
    """A swept experiment: one line per parameter value, one panel per area; no shading when timings differ."""
    column = get_swept_column(wildcards.experiment)
    if column is None:
        return ""
    parameter = config["experiments"][wildcards.experiment]["parameter"]
    words = ["--layout", "small_multiples", "--hue", column]
    return shlex.join(
        words + (["--no-stimulus"] if parameter in TIMING_PARAMETERS else [])
    )


def get_accuracy_options(wildcards):
    """No stimulus shading when the experiment sweeps the stimulus timing (the conditions disagree on it)."""
    parameter = config["experiments"][wildcards.experiment].get("parameter")
    return "--no-stimulus" if parameter in TIMING_PARAMETERS else ""


def get_dynamics_tables(wildcards):
    """The responses tables of the duration, contrast and interval experiments (those configured, else all)."""
    selected = dynamics_experiments(config)
    if not selected:
        refuse_requested(
            "the dynamics figure needs a duration, contrast or interval experiment under `experiments:`."
        )
    fields = dict(wildcards.items())
    return {
        option: paths.fill(
            paths.AGGREGATED_RESPONSES, **{**fields, "experiment": experiment}
        )
        for option, experiment in selected.items()
    }


def get_dynamics_options(wildcards, input):
    """`--duration TABLE --contrast TABLE --interval TABLE` for the tables given."""
    words = []
    for option in analysis_targets.DYNAMICS_EXPERIMENTS:
        if option in input.keys():
            words += [f"--{option}", input[option]]
    return shlex.join(words)
