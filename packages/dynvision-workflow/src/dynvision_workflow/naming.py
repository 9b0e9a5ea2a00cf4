"""Identities of models and tests, encoded in file paths.

A model's identity is ``{model_name}{model_args}_{seed}``, e.g. ``DyRCNNx4:rctype=full+tsteps=20_0001``; a test's
identity is ``{paradigm}{paradigm_args}``, e.g. ``duration:intro=2+stimulus=10+outro=4``. An argument string is
either empty or ``:key=value+key=value`` with keys in the order given. Short aliases (``rctype``, ``tsteps``...) keep
paths readable; :data:`MODEL_ARG_ALIASES` maps them onto the model constructors' keyword arguments.

Values are written as they are given; sequences with ``~`` between items (``channels=16~32``). In configuration a
sequence argument is written as a comma string (``channels: "16,32"``, since a YAML list means a sweep) and becomes
``16~32`` in paths: a comma cannot appear in a wildcard value, because Snakemake separates the wildcards of a job
with commas when it submits the job to a cluster (``--target-jobs rule:a=1,b=2``). Parsing turns values back into
ints, floats, booleans, lists of those, or strings.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any

from dynvision_data.paradigms import PARADIGM_ALIASES
from dynvision_data.paradigms import UPSTREAM_PARADIGM_ALIASES as _UPSTREAM
from dynvision_models.checks import MODEL_ARG_ALIASES as _MODEL_ALIASES

__all__ = [
    "ARGS_PATTERN",
    "MODEL_ARG_ALIASES",
    "PARADIGM_ARG_ALIASES",
    "SEED_PATTERN",
    "UPSTREAM_PARADIGM_ALIASES",
    "ArgsError",
    "args_product",
    "canonical_model_args",
    "canonical_paradigm_args",
    "canonical_spelling",
    "encode_args",
    "expand_aliases",
    "format_seed",
    "format_value",
    "parse_args",
    "parse_value",
]

PREFIX, DELIMITER, ASSIGNER, LIST_SEPARATOR = ":", "+", "=", "~"
#: How a sequence is written in configuration (a YAML list would be a sweep); it becomes LIST_SEPARATOR in paths.
CONFIG_LIST_SEPARATOR = ","

#: Characters allowed in a key (an identifier: every keyword argument name, e.g. skip_mode) and in a value (no path
#: separators, no '_' which separates the seed, no ':' '+' '=' which structure the string).
_KEY = r"[A-Za-z][A-Za-z0-9_]*"
_VALUE = r"[A-Za-z0-9.~\-]+"
#: Regular expression of a whole argument string, empty or ``:k=v+k=v`` (used as a Snakemake wildcard constraint).
ARGS_PATTERN = rf"(:{_KEY}={_VALUE}(\+{_KEY}={_VALUE})*)?"
#: Seeds are digit strings; integers are written with at least four digits (``1`` -> ``0001``).
SEED_PATTERN = r"[0-9]+"

#: Short names accepted in argument strings and config, and the constructor keyword each stands for (declared
#: once by dynvision-models, importable without torch).
MODEL_ARG_ALIASES: Mapping[str, str] = _MODEL_ALIASES

#: Short names of paradigm parameters whose keyword has an underscore, and upstream DynVision's spellings
#: (``duration:stim=10``), both declared once by dynvision-data (which imports no torch for them); table columns and
#: parameter names use ours (``stimulus``, ``ssnr``, ``blank``, ``steps``).
PARADIGM_ARG_ALIASES: Mapping[str, str] = PARADIGM_ALIASES
UPSTREAM_PARADIGM_ALIASES: Mapping[str, str] = _UPSTREAM


class ArgsError(ValueError):
    """An argument string or value that cannot be encoded or parsed; ``key`` names the argument when one is at
    fault (so that a configuration check can name its key path, e.g. ``model_args.tau``)."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def format_seed(seed: int | str) -> str:
    """Return the canonical seed string: digits, at least four (``1`` -> ``"0001"``, ``"7000"`` -> ``"7000"``)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, str)):
        raise ArgsError(f"seed {seed!r} is not an integer or a digit string; use e.g. 1 or '0001'.")
    text = str(seed).strip()
    if not re.fullmatch(SEED_PATTERN, text):
        raise ArgsError(f"seed {seed!r} must consist of digits only (e.g. '0001', '7000').")
    return text if len(text) >= 4 else text.zfill(4)


def format_value(value: Any) -> str:
    """Render one argument value for a path: numbers without noise, booleans lowercase, sequences ``~``-joined
    (a configuration string ``"16,32"`` is a sequence too)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    if isinstance(value, (list, tuple)):
        if not value:
            raise ArgsError("an empty list cannot be written in an argument string.")
        return LIST_SEPARATOR.join(format_value(item) for item in value)
    text = str(value)
    if CONFIG_LIST_SEPARATOR in text:
        return LIST_SEPARATOR.join(format_value(item.strip()) for item in text.split(CONFIG_LIST_SEPARATOR))
    if not re.fullmatch(_VALUE, text):
        raise ArgsError(
            f"value {text!r} cannot be written in an argument string: allowed are letters, digits, '.', '-' and, "
            "between the items of a sequence, ',' (written '~' in paths)."
        )
    return text


def encode_args(args: Mapping[str, Any] | None) -> str:
    """Encode a mapping as ``:key=value+key=value`` (keys in the order given); ``""`` for no arguments."""
    if not args:
        return ""
    parts = []
    for key, value in args.items():
        if not re.fullmatch(_KEY, str(key)):
            raise ArgsError(
                f"key {key!r} cannot be written in an argument string: use letters, digits and '_', starting with a "
                "letter.",
                key=str(key),
            )
        try:
            parts.append(f"{key}{ASSIGNER}{format_value(value)}")
        except ArgsError as error:
            raise ArgsError(str(error), key=str(key)) from None
    return PREFIX + DELIMITER.join(parts)


def parse_value(text: str) -> Any:
    """Turn a value written in a path back into ``int``, ``float``, ``bool``, a list, or ``str``."""
    if LIST_SEPARATOR in text:
        return [parse_value(item) for item in text.split(LIST_SEPARATOR)]
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_args(text: str) -> dict[str, Any]:
    """Parse ``:key=value+key=value`` (or ``""``) into a dict with typed values.

    Raises :class:`ArgsError` naming the malformed part and the expected form.
    """
    if text == "":
        return {}
    if not text.startswith(PREFIX):
        raise ArgsError(f"argument string {text!r} must be empty or start with ':' (e.g. ':rctype=full+tsteps=20').")
    parsed: dict[str, Any] = {}
    for part in text[1:].split(DELIMITER):
        key, sep, value = part.partition(ASSIGNER)
        if not sep or not re.fullmatch(_KEY, key) or not re.fullmatch(_VALUE, value):
            raise ArgsError(
                f"malformed argument {part!r} in {text!r}: expected key=value with a key of letters, digits and '_' "
                "and a value of letters, digits, '.', '~' or '-' (e.g. ':rctype=full+tsteps=20')."
            )
        if key in parsed:
            raise ArgsError(f"argument {key!r} is given twice in {text!r}.")
        parsed[key] = parse_value(value)
    return parsed


def expand_aliases(args: Mapping[str, Any], aliases: Mapping[str, str] = MODEL_ARG_ALIASES) -> dict[str, Any]:
    """Replace short aliases by the keyword names they stand for; an alias and its long name together is an error."""
    expanded: dict[str, Any] = {}
    for key, value in args.items():
        name = aliases.get(key, key)
        if name in expanded:
            raise ArgsError(f"{name!r} is given twice (as {key!r} and as another spelling); give it once.")
        expanded[name] = value
    return expanded


def canonical_spelling(
    args: Mapping[str, Any], aliases: Mapping[str, str], *, also: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """``args`` with every key in its one canonical spelling, sorted by it: the short alias where a keyword has one
    (``recurrence_type`` -> ``rctype``), else the keyword itself. ``also`` maps further spellings onto keywords
    (upstream DynVision's ``stim`` -> ``stimulus``). Two spellings of one keyword raise :class:`ArgsError`.

    The spelling in paths and folder names, so that ``tsteps=20+rctype=full`` and ``recurrence_type=full+
    n_timesteps=20`` name the same model folder.
    """
    short = {long: alias for alias, long in aliases.items()}
    result: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in args.items():
        long = aliases.get(key) or (also or {}).get(key) or key
        name = short.get(long, long)
        if name in result:
            raise ArgsError(f"{long!r} is given twice (as {spelled[name]!r} and as {key!r}); give it once.")
        result[name], spelled[name] = value, key
    return dict(sorted(result.items()))


def canonical_model_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """Model keyword arguments in their canonical spelling (:data:`MODEL_ARG_ALIASES`), sorted."""
    return canonical_spelling(args, MODEL_ARG_ALIASES)


def canonical_paradigm_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """Paradigm parameters in their canonical spelling (:data:`PARADIGM_ARG_ALIASES`; upstream DynVision's
    spellings such as ``stim`` become ours), sorted."""
    return canonical_spelling(args, PARADIGM_ARG_ALIASES, also=UPSTREAM_PARADIGM_ALIASES)


def args_product(args: Mapping[str, Any] | None) -> list[str]:
    """All argument strings of the Cartesian product of the list-valued entries (a YAML list is a sweep).

    ``{"rctype": ["full", "self"], "tsteps": 20}`` gives ``[":rctype=full+tsteps=20", ":rctype=self+tsteps=20"]``.
    An argument that itself takes a sequence is written as a comma string (``channels: "16,32"``), which stays one
    value here (``channels=16~32``) and is parsed back into ``[16, 32]`` by :func:`parse_args`.
    """
    if not args:
        return [""]
    options = [list(value) if isinstance(value, (list, tuple)) else [value] for value in args.values()]
    for key, values in zip(args, options, strict=True):
        if not values:
            raise ArgsError(f"argument {key!r} has an empty list of values to sweep; give at least one value.")
    return [encode_args(dict(zip(args, combo, strict=True))) for combo in itertools.product(*options)]
