"""Test specifications: a paradigm with its parameters, named by a folder of the reports tree.

A test's folder is named by its *identifier*: ``{paradigm}{args}`` (e.g. ``duration:intro=2+outro=8+stimulus=10``)
when that is at most ``max_length`` characters long, otherwise ``{paradigm}-{hash}`` with ``hash`` the first
:data:`HASH_LENGTH` hex digits of the SHA-256 of the full spec. A hashed name is stable (same spec, same name on
every machine and run) and short enough for any file system; the index file (:data:`paths.TEST_SPEC_INDEX`, JSON)
maps each hashed name back to its spec. The index is merged, never overwritten: every writer takes a lock, reads
what is there, adds its entries and replaces the file atomically; two specs with one name is an error.

An experiment that sweeps a model override (``model_overrides: {idle: [0, 5, 10]}``) has one test per value; its
spec carries the swept overrides after :data:`OVERRIDES_SEPARATOR`, keys in the models' canonical spelling and
sorted: ``duration:intro=2+outro=8+stimulus=10@idle=5``. Specs of experiments without swept overrides have no such
part (their folder names are those of a paradigm alone).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .naming import ARGS_PATTERN, encode_args, parse_args

__all__ = [
    "HASHED_PATTERN",
    "HASH_LENGTH",
    "OVERRIDES_SEPARATOR",
    "SPEC_PATTERN",
    "SpecError",
    "is_hashed",
    "join_spec",
    "read_index",
    "record_specs",
    "spec_hash",
    "split_spec",
    "test_identifier",
]

#: Hex digits of a hashed test folder name (40 bits: a collision among 10^5 specs has odds ~ 5e-3 %).
HASH_LENGTH = 10
#: Regular expression of a hashed test identifier ``{paradigm}-{hash}``.
HASHED_PATTERN = rf"[a-z]+-[0-9a-f]{{{HASH_LENGTH}}}"
#: Separates a spec's paradigm part from its swept model overrides (``duration:stimulus=10@idle=5``).
OVERRIDES_SEPARATOR = "@"
#: Regular expression of a written-out spec: ``{paradigm}{args}``, optionally ``@key=value+...`` (swept overrides).
SPEC_PATTERN = rf"[a-z]+{ARGS_PATTERN}(?:{OVERRIDES_SEPARATOR}{ARGS_PATTERN.removeprefix('(:')[:-2]})?"


class SpecError(ValueError):
    """A test spec index that cannot be read, or two specs sharing one hashed name."""


def spec_hash(spec: str) -> str:
    """The first :data:`HASH_LENGTH` hex digits of the SHA-256 of a canonical spec (UTF-8)."""
    return hashlib.sha256(spec.encode()).hexdigest()[:HASH_LENGTH]


def split_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """A spec's paradigm part ``{paradigm}{args}`` and its swept model overrides (``{}`` when it has none), values
    parsed as from a path.

    Raises:
        ArgsError: the overrides part is malformed.
    """
    paradigm, separator, overrides = spec.partition(OVERRIDES_SEPARATOR)
    return paradigm, parse_args(":" + overrides) if separator else {}


def join_spec(paradigm: str, overrides: Mapping[str, Any] | None = None) -> str:
    """The spec of a paradigm part ``{paradigm}{args}`` with swept model overrides (keys as given: pass them in
    canonical spelling, :func:`~dynvision_workflow.naming.canonical_model_args`); the paradigm part alone for none."""
    if not overrides:
        return paradigm
    return paradigm + OVERRIDES_SEPARATOR + encode_args(overrides)[1:]


def test_identifier(spec: str, max_length: int) -> str:
    """The folder name of a spec ``{paradigm}{args}[@overrides]``: the spec itself, or ``{paradigm}-{hash}`` when
    longer than ``max_length`` characters."""
    if len(spec) <= max_length:
        return spec
    return f"{re.match(r'[a-z]*', spec).group(0)}-{spec_hash(spec)}"  # type: ignore[union-attr]


test_identifier.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def is_hashed(identifier: str) -> bool:
    """Whether a test folder name is a hashed one."""
    return re.fullmatch(HASHED_PATTERN, identifier) is not None


def read_index(path: str | os.PathLike[str]) -> dict[str, str]:
    """Hashed identifier -> spec, from an index file (empty when the file does not exist)."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise SpecError(f"test spec index {str(path)!r} is not valid JSON ({error}); delete it and rerun.") from None
    if not isinstance(data, dict):
        raise SpecError(f"test spec index {str(path)!r} must hold a JSON object of identifier -> spec.")
    return {str(key): str(value) for key, value in data.items()}


def _collisions(index: Mapping[str, str], entries: Mapping[str, str]) -> list[str]:
    return [
        f"{identifier!r} names both {index[identifier]!r} and {spec!r}"
        for identifier, spec in entries.items()
        if identifier in index and index[identifier] != spec
    ]


def record_specs(path: str | os.PathLike[str], entries: Mapping[str, str]) -> dict[str, str]:
    """Merge ``identifier -> spec`` entries into the index at ``path`` (locked, atomic); return the merged index.

    Raises :class:`SpecError` when an identifier already names another spec (a hash collision), or when two of
    ``entries`` would share a name.
    """
    entries = {key: value for key, value in entries.items()}
    if not entries:
        return read_index(path)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    import fcntl

    from .runtime.provenance import write_text_atomic

    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        index = read_index(path)
        problems = _collisions(index, entries)
        if problems:
            raise SpecError(
                "hashed test folder names collide: " + "; ".join(problems) + ". Raise test.max_identifier_length "
                "so that one of these specs is written out in full."
            )
        if all(index.get(key) == value for key, value in entries.items()):
            return index
        index.update(entries)
        write_text_atomic(path, json.dumps(dict(sorted(index.items())), indent=1) + "\n")
    return index
