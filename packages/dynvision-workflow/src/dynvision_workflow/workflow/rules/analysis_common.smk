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


def get_swept_column(experiment):
    """The table column of an experiment's swept parameter (None for an experiment without one): a paradigm
    parameter's or a swept model override's (`parameter: idle`)."""
    return analysis_targets.swept_column(config, experiment)


def get_responses_options(wildcards):
    """A swept experiment: one line per parameter value (named in ms for a timing), one panel per area; each
    condition's stimulus is marked where the timings differ."""
    return responses_options(wildcards.experiment)


@functools.lru_cache(maxsize=None)
def responses_options(experiment):
    column = get_swept_column(experiment)
    if column is None:
        return ""
    return shlex.join(["--layout", "small_multiples", "--hue", column])


def get_accuracy_options(wildcards):
    """A swept experiment: one accuracy curve per parameter value, each condition's stimulus marked."""
    return accuracy_options(wildcards.experiment)


@functools.lru_cache(maxsize=None)
def accuracy_options(experiment):
    column = get_swept_column(experiment)
    return "" if column is None else shlex.join(["--hue", column])


def get_reaction_times_options(wildcards):
    """The confidence threshold the experiment's tests use (its own `test:` block over the run's `test:`)."""
    own = config["experiments"][wildcards.experiment].get("test") or {}
    threshold = own.get("reaction_threshold", config["test"]["reaction_threshold"])
    return shlex.join(["--threshold", str(threshold)])


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


# The temporal-dynamics study (rules/study.smk; dynvision_workflow.study) ------------------------------------------


def study_areas():
    """The areas of the study's model (from the torch-free model catalogue), one figure each."""
    from dynvision_workflow.config import model_catalogue

    model_name = studies.study_scale(config)["model_name"]
    engine = model_catalogue()[model_name].get("engine") or {}
    if not engine.get("areas"):
        refuse_requested(
            f"the study's model {model_name!r} is not an engine model with named areas; set "
            f"study.scales.{config['study']['scale']}.model_name to one (e.g. DyRCNNx2, DyRCNNx4)."
        )
    return list(engine["areas"])


def get_study_targets(wildcards):
    """The study's tables and figures at the configured scale."""
    return studies.study_targets(config, study_areas())


def get_study_tables(wildcards):
    """The aggregated responses table of every variant x seed x phenomenon of the scale in the path."""
    return list(study_tables(wildcards.scale).values())


def get_study_table_options(wildcards):
    """`--table variant:seed:phenomenon=TABLE` per table of the scale."""
    words = []
    for label, table in study_tables(wildcards.scale).items():
        words += ["--table", f"{label}={table}"]
    return shlex.join(words)


def study_tables(scale):
    if scale not in config["study"]["scales"]:
        refuse_requested(
            f"studies/{scale}: {scale!r} is not a scale of the study; scales: "
            f"{', '.join(sorted(config['study']['scales']))} (study.scales)."
        )
    return studies.study_tables(config, scale)
