"""Which files a configuration asks for: the figures of every experiment x model x sweep point x seed x status."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from . import paths
from .naming import (
    SEED_PATTERN,
    ArgsError,
    args_product,
    canonical_model_args,
    canonical_paradigm_args,
    encode_args,
    parse_args,
)
from .specs import HASHED_PATTERN, OVERRIDES_SEPARATOR, join_spec, split_spec, test_identifier

__all__ = [
    "FIGURES",
    "RequestedPath",
    "all_figures",
    "canonical_args",
    "canonical_target",
    "category_figures",
    "category_sweeps",
    "experiment_config",
    "experiment_statuses",
    "experiment_tests",
    "model_overrides",
    "requested_path",
    "swept_overrides",
]

#: The figures made for every experiment.
FIGURES = ("responses", "accuracy")


def canonical_args(args: Mapping[str, Any] | None) -> list[str]:
    """Model argument strings of a sweep, each key in its canonical spelling and sorted
    (:func:`~dynvision_workflow.naming.canonical_model_args`), so that an identity depends neither on YAML key order
    nor on which spelling of a keyword was used."""
    return args_product(canonical_model_args(args or {}))


def experiment_tests(config: Mapping[str, Any], experiment: str) -> list[tuple[str, str]]:
    """``(folder name, spec)`` of every test of an experiment, one per parameter combination (the paradigm's
    sweep crossed with the swept model overrides); the folder name is the spec ``{paradigm}{args}``, followed by
    ``@{overrides}`` for an experiment with swept overrides (keys in canonical spelling, sorted; see
    :mod:`.specs`) or, beyond ``test.max_identifier_length`` characters, its hashed name."""
    spec = config["experiments"][experiment]
    limit = config["test"]["max_identifier_length"]
    swept = args_product(swept_overrides(config, experiment))
    specs = [
        f"{spec['paradigm']}{args}" + (OVERRIDES_SEPARATOR + overrides[1:] if overrides else "")
        for args in args_product(canonical_paradigm_args(spec["args"]))
        for overrides in swept
    ]
    return [(test_identifier(text, limit), text) for text in specs]


def swept_overrides(config: Mapping[str, Any], experiment: str) -> dict[str, list[Any]]:
    """An experiment's swept model overrides (those given as a YAML list), keys in canonical spelling and sorted."""
    overrides = model_overrides(config, experiment)
    return {key: list(value) for key, value in overrides.items() if isinstance(value, (list, tuple))}


def model_overrides(config: Mapping[str, Any], experiment: str, spec: str | None = None) -> dict[str, Any]:
    """An experiment's model overrides, keys in canonical spelling and sorted (``{}`` for none): as configured
    (a swept one as its list), or with ``spec`` (one of :func:`experiment_tests`) those of that test, each swept
    override at the configured value the spec names (typed as in the configuration)."""
    overrides = canonical_model_args(config["experiments"][experiment].get("model_overrides", {}))
    if spec is None:
        return overrides
    from .naming import format_value

    point = {key: format_value(value) for key, value in canonical_model_args(split_spec(spec)[1]).items()}
    swept = {key: value for key, value in overrides.items() if isinstance(value, (list, tuple))}
    for key, value in swept.items():
        chosen = [item for item in value if key in point and format_value(item) == point[key]]
        if chosen:
            overrides[key] = chosen[0]
    if set(point) != set(swept) or any(isinstance(overrides[key], (list, tuple)) for key in swept):
        tests = ", ".join(text for _, text in experiment_tests(config, experiment))
        raise ArgsError(
            f"test {spec!r} is not a test of experiment {experiment!r}: its swept model overrides are "
            f"{swept or 'none'}; its tests: {tests}."
        )
    return overrides


def category_figures(config: Mapping[str, Any]) -> list[str]:
    """Figures of every configured experiment on the models of each selected category's sweep: ``model_args``
    with the category's argument set to each of its values in turn (one sweep per category, not their product);
    with no category selected, on the configured ``model_args`` sweep itself."""
    figures: dict[str, None] = {}
    for swept in category_sweeps(config):
        figures.update(dict.fromkeys(all_figures(config, model_args=swept)))
    return list(figures)


def category_sweeps(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The model-argument sweeps of ``all_experiments``: one per selected category (``model_args`` with the
    category's values), or ``model_args`` itself when no category is selected (a YAML list in it is a sweep)."""
    if not config["category"]:
        return [dict(config["model_args"])]
    return [
        {**config["model_args"], category: list(config["categories"][category])} for category in config["category"]
    ]


def experiment_config(config: Mapping[str, Any], experiment: str) -> Mapping[str, Any]:
    """The configuration an experiment's tests run with: the run's, with the experiment's own ``test`` options
    (``experiments.<name>.test``, e.g. ``{limit_images: 256}``) over the run's ``test`` section."""
    own = config["experiments"][experiment].get("test") or {}
    return {**config, "test": {**config["test"], **own}} if own else config


def experiment_statuses(config: Mapping[str, Any], experiment: str) -> list[str]:
    """The model states an experiment tests: its own ``status`` when it names them, else the run's."""
    return list(config["experiments"][experiment].get("status") or config["status"])


def all_figures(config: Mapping[str, Any], *, model_args: Mapping[str, Any] | None = None) -> list[str]:
    """Paths (relative to the working directory) of every figure a resolved configuration asks for (optionally
    with other ``model_args`` than the configured ones)."""
    sweep = canonical_args(config["model_args"] if model_args is None else model_args)
    return [
        paths.fill(
            paths.FIGURE,
            experiment=experiment,
            model_name=model_name,
            model_args=model_args,
            seed=seed,
            data_name=config["data_name"],
            data_group=config["data_group"],
            status=status,
            figure=figure,
        )
        for experiment in config["experiment"]
        for model_name in config["model_name"]
        for model_args in sweep
        for seed in config["seed"]
        for status in experiment_statuses(config, experiment)
        for figure in FIGURES
    ]


#: First folders of the workflow's output paths whose third part is a model identity, and the position of the test
#: folder in a reports path.
_IDENTITY_ROOTS = ("models", "reports", "figures")
_MODEL_POSITION, _TEST_POSITION = 2, 4


class RequestedPath(NamedTuple):
    """What a requested path names: the model, its arguments as parsed (values as a job receives them), and for a
    test's file the paradigm and its parameters (``None`` otherwise, and for a hashed test folder) and the swept
    model overrides its spec names (``{}`` for none)."""

    model_name: str
    model_args: dict[str, Any]
    paradigm: str | None
    paradigm_args: dict[str, Any] | None
    canonical: str
    test_overrides: dict[str, Any] | None = None


def requested_path(target: str) -> RequestedPath | None:
    """Parse a requested path of the workflow's outputs (``None`` for rule names and other files).

    Raises:
        ArgsError: the model identity or the test spec is malformed (naming the part and the expected form).
    """
    parts = target.split("/")
    if parts[0] not in _IDENTITY_ROOTS or len(parts) <= _MODEL_POSITION:
        return None
    identity = parts[_MODEL_POSITION]
    head, sep, seed = identity.rpartition("_")
    match = re.fullmatch(r"([A-Za-z][A-Za-z0-9]*)(.*)", head)
    if not sep or not match or not re.fullmatch(SEED_PATTERN, seed):
        raise ArgsError(
            f"requested path {target!r}: {identity!r} is not a model identity; expected "
            "{model_name}{model_args}_{seed}, e.g. 'DyRCNNx2:rctype=full+tau=5_0001'."
        )
    try:
        args = parse_args(match.group(2))
        parts[_MODEL_POSITION] = f"{match.group(1)}{encode_args(canonical_model_args(args))}_{seed}"
    except ArgsError as error:
        raise ArgsError(f"requested path {target!r}: {error}") from None
    paradigm = paradigm_args = test_overrides = None
    if parts[0] == "reports" and len(parts) > _TEST_POSITION + 1 and not re.fullmatch(HASHED_PATTERN, parts[4]):
        test = parts[_TEST_POSITION]
        head, separator, tail = test.partition(OVERRIDES_SEPARATOR)
        paradigm, _, text = head.partition(":")
        if not re.fullmatch(r"[a-z]+", paradigm):
            raise ArgsError(
                f"requested path {target!r}: {test!r} is not a test spec; expected {{paradigm}}:key=value+... "
                "(a lower-case paradigm name; swept model overrides after '@') or a hashed name "
                "{paradigm}-{10 hex digits}."
            )
        try:
            paradigm_args = parse_args(":" + text if text else "")
            test_overrides = parse_args(":" + tail) if separator else {}
            canonical = paradigm + encode_args(canonical_paradigm_args(paradigm_args))
            parts[_TEST_POSITION] = join_spec(canonical, canonical_model_args(test_overrides))
        except ArgsError as error:
            raise ArgsError(f"requested path {target!r}: test {test!r}: {error}") from None
    return RequestedPath(match.group(1), args, paradigm, paradigm_args, "/".join(parts), test_overrides)


def canonical_target(target: str) -> str:
    """A requested path with its model identity and test spec in canonical spelling (keys sorted, one spelling per
    keyword); other words (rule names, other files) unchanged. Raises :class:`ArgsError` when malformed."""
    parsed = requested_path(target)
    return target if parsed is None else parsed.canonical
