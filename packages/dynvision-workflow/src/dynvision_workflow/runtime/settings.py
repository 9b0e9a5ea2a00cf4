"""Settings of the runtime steps as dataclasses, turned into command-line options without repeating them.

Defaults shared with the workflow configuration are read from its JSON schema, so they are written down once.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from ..config import schema

__all__ = ["Settings", "SettingsError", "add_settings_arguments", "schema_default"]

S = TypeVar("S", bound="Settings")


def schema_default(section: str, key: str) -> Any:
    """The default of ``<section>.<key>`` in the workflow's config schema."""
    return schema()["properties"][section]["properties"][key]["default"]


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not a boolean; use true or false.")


def _optional(kind: type) -> Any:
    def parse(text: str) -> Any:
        return None if text.lower() in ("none", "null", "") else kind(text)

    parse.__name__ = f"optional {kind.__name__}"
    return parse


class SettingsError(ValueError):
    """A runtime option has a value that is not allowed (the message names the option, the value and what is
    allowed); the command line prints it without a traceback."""


class Settings:
    """Mixin for settings dataclasses: build from parsed arguments, report which values were given."""

    @classmethod
    def from_namespace(cls: type[S], namespace: argparse.Namespace) -> S:
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        return cls(**{name: getattr(namespace, name) for name in names})

    def sources(self, given: Iterable[str], declared: Mapping[str, str] | None = None) -> dict[str, str]:
        """Where each setting came from: ``declared[name]`` when the caller says (the workflow passes the config
        layer of every option it sets), else ``command line`` for options present on the command line, else
        ``default``."""
        given, declared = set(given), dict(declared or {})
        return {
            f.name: declared.get(f.name) or ("command line" if f.name in given else "default")
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
        }


def add_settings_arguments(parser: argparse.ArgumentParser, cls: type[Settings]) -> None:
    """Add one ``--option`` per dataclass field, typed from its annotation, with its help from field metadata."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        hint = hints[field.name]
        optional = False
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
            members = [m for m in typing.get_args(hint) if m is not type(None)]
            optional, hint = True, members[0]
        if hint is bool:
            convert: Any = _parse_bool
        elif optional:
            convert = _optional(hint)
        else:
            convert = hint
        default = field.default
        choices = field.metadata.get("choices")
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            type=convert,
            default=default,
            choices=choices,
            help=f"{field.metadata.get('help', '')} (default: {default})",
        )
