"""Which files a configuration asks for: the figures of every experiment x model x sweep point x seed x status."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import paths
from .naming import args_product

__all__ = ["FIGURES", "all_figures", "canonical_args"]

#: The figures made for every experiment.
FIGURES = ("responses", "accuracy")


def canonical_args(args: Mapping[str, Any] | None) -> list[str]:
    """Argument strings of a sweep with keys sorted, so an identity does not depend on YAML key order."""
    return args_product(dict(sorted((args or {}).items())))


def all_figures(config: Mapping[str, Any]) -> list[str]:
    """Paths (relative to the working directory) of every figure a resolved configuration asks for."""
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
        for model_args in canonical_args(config["model_args"])
        for seed in config["seed"]
        for status in config["status"]
        for figure in FIGURES
    ]
