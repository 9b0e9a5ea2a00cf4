"""Which files a configuration asks for: the figures of every experiment x model x sweep point x seed x status."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import paths
from .naming import args_product, encode_args
from .specs import test_identifier

__all__ = ["FIGURES", "all_figures", "canonical_args", "category_figures", "experiment_tests", "model_overrides"]

#: The figures made for every experiment.
FIGURES = ("responses", "accuracy")


def canonical_args(args: Mapping[str, Any] | None) -> list[str]:
    """Argument strings of a sweep with keys sorted, so an identity does not depend on YAML key order."""
    return args_product(dict(sorted((args or {}).items())))


def experiment_tests(config: Mapping[str, Any], experiment: str) -> list[tuple[str, str]]:
    """``(folder name, spec)`` of every test of an experiment, one per parameter combination; the folder name is
    the spec ``{paradigm}{args}`` or, beyond ``test.max_identifier_length`` characters, its hashed name."""
    spec = config["experiments"][experiment]
    limit = config["test"]["max_identifier_length"]
    specs = [f"{spec['paradigm']}{args}" for args in canonical_args(spec["args"])]
    return [(test_identifier(text, limit), text) for text in specs]


def model_overrides(config: Mapping[str, Any], experiment: str) -> str:
    """An experiment's model overrides as an argument string (``:ffonly=true``; ``""`` for none), keys sorted."""
    return encode_args(dict(sorted(config["experiments"][experiment].get("model_overrides", {}).items())))


def category_figures(config: Mapping[str, Any]) -> list[str]:
    """Figures of every configured experiment on the models of each selected category's sweep: ``model_args``
    with the category's argument set to each of its values in turn (one sweep per category, not their product)."""
    figures: dict[str, None] = {}
    for category in config["category"]:
        swept = {**config["model_args"], category: list(config["categories"][category])}
        figures.update(dict.fromkeys(all_figures(config, model_args=swept)))
    return list(figures)


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
        for status in config["status"]
        for figure in FIGURES
    ]
