"""The workflow configuration: layered YAML, validated once against a JSON schema that owns defaults.

Layers, lowest first: the packaged ``config_data.yaml`` (datasets), ``config_experiments.yaml`` (experiments) and
``config_workflow.yaml`` (what to run), then any user config files in order, then ``--config key=value`` overrides.
Mappings merge key by key; lists and scalars replace. :func:`resolve_config` fills every default from the schema,
validates, normalises (names become lists, seeds four-digit strings) and cross-checks names (the dataset and each
experiment must be defined). Any problem raises :class:`ConfigError` listing every wrong key path with the value
given and what is allowed. Importing this module reads nothing and writes nothing.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

import yaml

from .naming import ArgsError, format_seed

__all__ = [
    "BUILTIN_DATASETS",
    "DATASET_SOURCES",
    "DOWNLOADABLE_DATASETS",
    "INVALID_CONFIG",
    "LAYERS",
    "SCHEMA_DEFAULT",
    "YTE_KEY",
    "ConfigError",
    "ConfigLoader",
    "config_sources",
    "dataset_problems",
    "deep_merge",
    "dump_yaml",
    "exit_invalid_config",
    "expand_location",
    "expand_path",
    "folder_path",
    "lightning_catalogue",
    "lightning_problems",
    "load_yaml",
    "model_identity_problems",
    "parse_overrides",
    "parse_yaml_value",
    "plain",
    "read_by_snakemake",
    "read_configfile",
    "requested_problems",
    "resolve_config",
    "retype_overrides",
    "schema",
    "source_of",
    "spec_problems",
]

#: Packaged configuration layers, lowest priority first.
LAYERS = ("config_data.yaml", "config_experiments.yaml", "config_study.yaml", "config_workflow.yaml")

#: Keys that hold one name or a list of names and are normalised to lists.
_LIST_KEYS = ("model_name", "status", "experiment", "category")

#: ``datasets.<name>.source`` values: where a dataset's images come from.
DATASET_SOURCES = ("builtin", "download", "folder")
#: dynvision-data datasets that ship with it (made without network), and those read from their official archives.
#: Written down here so that checking a configuration does not import dynvision_data (which imports torch, about
#: 1 s of every workflow start); packages/dynvision-workflow/tests/test_datasets.py checks them against its registry.
BUILTIN_DATASETS = ("digits", "gratings", "mnist5k")
DOWNLOADABLE_DATASETS = ("cifar10", "cifar100", "cifar100-coarse", "fashionmnist", "mnist")
#: Keys of a dataset's settings that only one source uses.
_SOURCE_KEYS = {"mirror": "download", "path": "folder", "splits": "folder", "class_index": "folder"}


class ConfigError(ValueError):
    """The configuration is invalid; the message lists every problem with its key path."""


class ConfigLoader(yaml.SafeLoader):
    """YAML's safe loader with integers read in base 10: ``0010`` is 10 (a seed), not YAML 1.1's octal 8."""


def _decimal_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    text = loader.construct_scalar(node)
    digits = str(text).replace("_", "")
    if digits.lstrip("+-").isdigit():
        return int(digits, 10)
    return yaml.SafeLoader.construct_yaml_int(loader, node)


ConfigLoader.add_constructor("tag:yaml.org,2002:int", _decimal_int)


def parse_yaml_value(text: str) -> Any:
    """A value written in YAML on a command line (``5`` -> 5, ``{epochs: 5}`` -> a mapping, ``0001`` -> 1), read as
    plain data (no tags; no key twice); ``ValueError`` says why it is not one."""
    try:
        return _load_plain(text, "<value>")
    except _NotPlainData as error:
        raise ValueError(f"{text!r} is not plain YAML data ({error})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at character {mark.column + 1}" if mark is not None and mark.line == 0 else ""
        raise ValueError(f"{text!r} is not a valid YAML value ({getattr(error, 'problem', None) or error}{where}).") from None


def parse_overrides(entries: Iterable[str]) -> dict[str, Any]:
    """``--config`` entries ``key=value`` as a mapping, values typed as YAML (``train={epochs: 5}`` gives the
    integer 5); a dotted key sets one value inside a section (``train.epochs=5``). Later entries win; mappings
    merge."""
    overrides: dict[str, Any] = {}
    for entry in entries:
        key, sep, text = entry.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--config entry {entry!r} must look like key=value, e.g. seed=0001, train.epochs=5 or "
                "'train={epochs: 5}'."
            )
        try:
            value = parse_yaml_value(text) if text else None
        except ValueError as error:
            raise ConfigError(
                f"--config entry {entry!r}: {error} Write the value as YAML, quoted for the shell, e.g. "
                "--config 'train={epochs: 5}' or --config train.epochs=5."
            ) from None
        for part in reversed(key.strip().split(".")[1:]):
            value = {part: value}
        overrides = deep_merge(overrides, {key.strip().split(".")[0]: value})
    return overrides


def retype_overrides(value: Any) -> Any:
    """Snakemake's ``--config`` values with the strings inside mappings and lists typed as YAML again.

    Snakemake reads a ``--config`` value that is a mapping or list with YAML's base loader, which keeps every
    scalar inside as a string (``train={epochs: 5}`` gives ``{"epochs": "5"}``); this types them as
    :func:`parse_overrides` does, so ``snakemake --config`` and ``dynvision run --config`` agree. Top-level scalars
    are typed by Snakemake already and stay as they are.
    """
    if isinstance(value, Mapping):
        return {key: _retype(item) for key, item in value.items()}
    return value


def _retype(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _retype(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_retype(item) for item in value]
    if isinstance(value, str) and value:
        try:
            parsed = parse_yaml_value(value)
        except ValueError:
            return value
        return parsed if not isinstance(parsed, (dict, list)) else value
    return value


#: Tags of plain data, the only ones a configuration may hold: YAML's strings, numbers, booleans, null, lists and
#: mappings, dates (as the safe loader reads ``2024-01-31``) and merge keys (``<<: *defaults``).
_DATA_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp", "merge")
)
#: A top-level key that makes Snakemake render a config file as a YTE template, running its Python expressions.
YTE_KEY = "__use_yte__"


def _shown_tag(tag: str) -> str:
    """A tag as it is written in a file (``!!python/name:os.system``, ``!custom``)."""
    return tag.replace("tag:yaml.org,2002:", "!!", 1)


def _data_problem(node: yaml.Node, where: str, loader: ConfigLoader, seen: set[int]) -> str | None:
    """The first thing in the YAML node tree ``node`` that is not plain data: a tag other than :data:`_DATA_TAGS`
    or a key given twice in one mapping; ``where`` is the node's dotted key path (``""`` at the top)."""
    if id(node) in seen:  # an alias of a node already checked
        return None
    seen.add(id(node))
    line = node.start_mark.line + 1
    at = f"line {line}" + (f", key {where}" if where else "")
    if node.tag not in _DATA_TAGS:
        kind = (
            "tags that build Python objects are not allowed in configuration"
            if node.tag.startswith("tag:yaml.org,2002:python/")
            else "tags other than those of plain data (strings, numbers, booleans, null, lists, mappings) are not "
            "allowed in configuration"
        )
        return f"{at}: {kind}: {_shown_tag(node.tag)}; remove the tag and write the value as plain YAML."
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problem = _data_problem(item, f"{where}[{index}]", loader, seen)
            if problem:
                return problem
    elif isinstance(node, yaml.MappingNode):
        first: dict[Any, int] = {}
        for key_node, value_node in node.value:
            problem = _data_problem(key_node, where, loader, seen)
            if problem:
                return problem
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                key, path = None, where
            else:
                key = loader.construct_object(key_node)
                path = f"{where}.{key}" if where else str(key)
                key_line = key_node.start_mark.line + 1
                if key in first:
                    lines = f"lines {first[key]} and {key_line}" if first[key] != key_line else f"both on line {key_line}"
                    return (
                        f"line {key_line}, key {path}: given twice ({lines}), and YAML would silently keep the last; "
                        "delete one of the two."
                    )
                first[key] = key_line
            problem = _data_problem(value_node, path, loader, seen)
            if problem:
                return problem
    return None


class _NotPlainData(ValueError):
    """YAML text that is not plain data (the message says where and why, starting with ``line N``)."""


def _load_plain(text: str, name: str, *, refuse_templates: bool = False) -> Any:
    """``text`` read as plain YAML data (``None`` when empty); :class:`_NotPlainData` for a tag beyond plain data
    or a key given twice, and with ``refuse_templates`` for a YTE template; ``yaml.YAMLError`` for a syntax error."""
    loader = ConfigLoader(text)
    loader.name = name
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if refuse_templates and isinstance(node, yaml.MappingNode):
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == YTE_KEY:
                    raise _NotPlainData(
                        f"line {key_node.start_mark.line + 1}: {YTE_KEY} makes Snakemake render the file as a YTE "
                        "template, running the Python expressions in it (even in a dry run); configuration is plain "
                        f"data. Delete the {YTE_KEY} line and write each value out."
                    )
        problem = _data_problem(node, "", loader, set())
        if problem:
            raise _NotPlainData(problem)
        return loader.construct_document(node)
    finally:
        loader.dispose()


@lru_cache(maxsize=64)
def _parse_config_text(text: str, name: str) -> Any:
    """:func:`_load_plain` of a config file's text, remembered: one workflow start reads the packaged layers and
    each config file two or three times (resolving, recording sources, reading them again as data), and the pure
    Python YAML loader costs ~10 ms a file. Errors are not remembered (they end the run)."""
    return _load_plain(text, name, refuse_templates=True)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a configuration file as plain data: a YAML mapping of keys to strings, numbers, booleans, null, lists
    and mappings.

    Raises :class:`ConfigError` naming the file, the line and what to do, for a missing or unreadable file, a YAML
    syntax error, a top level that is not a mapping, a YTE template (top-level ``__use_yte__``, which Snakemake
    would render, running Python), a tag that builds Python objects or any other tag beyond plain data, and a key
    given twice in one mapping (at any depth).
    """
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        target = (
            " (if it is a target: --configfile takes every word after it, so put targets before --configfile)"
            if not path.suffix and len(path.parts) == 1
            else ""
        )
        raise ConfigError(f"config file {name!r} does not exist; check the path{target}.") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigError(f"config file {name!r} cannot be read ({reason}); give a readable YAML file.") from None
    try:
        data = copy.deepcopy(_parse_config_text(text, name))
    except _NotPlainData as error:
        raise ConfigError(f"config file {name!r}, {error}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        reason = getattr(error, "problem", None) or str(error)
        raise ConfigError(
            f"config file {name!r} is not valid YAML{where}: {reason}; fix that line (quote values that contain "
            "': ' or start with a special character, indent with spaces, not tabs)."
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {name!r} must hold a mapping of keys to values at the top level, "
            f"not a {type(data).__name__}; write it as `key: value` lines (`dynvision config show` prints every key)."
        )
    return data


#: First line of a message listing configuration problems (one ``  - key: ...`` line each follows).
INVALID_CONFIG = "invalid DynVision configuration:"

#: Config files a Snakefile read with :func:`read_configfile` (real paths), as opposed to Snakemake's own loader.
_READ_AS_DATA: set[str] = set()


def exit_invalid_config(error: ConfigError) -> NoReturn:
    """Stop a Snakefile being parsed on a configuration problem: ``dynvision: error: invalid DynVision
    configuration:`` and the problem lines on stderr, exit status 2. (A ``WorkflowError`` raised there makes
    Snakemake print the Snakefile's line as a traceback frame under the message; on ``SystemExit`` it prints
    nothing more.)"""
    import sys

    text = str(error)
    lines = text.removeprefix(INVALID_CONFIG).lstrip("\n") if text.startswith(INVALID_CONFIG) else f"  - {text}"
    print(f"dynvision: error: {INVALID_CONFIG}\n{lines}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def read_configfile(workflow: Any, path: str) -> None:
    """What Snakemake's ``configfile: path`` directive does, with the file read as plain data (:func:`load_yaml`:
    Snakemake's loader would render a YTE template, running its Python expressions): the file's values update
    ``config`` and the command line's (``--configfile``, ``--config``) go on top; a missing file is an error unless
    config files are given on the command line. Call it from a Snakefile (``workflow`` is its global); a problem
    ends the run as :func:`exit_invalid_config` does."""
    from snakemake.utils import update_config

    settings = workflow.config_settings
    try:
        if Path(path).exists():
            workflow.configfiles.append(path)
            _READ_AS_DATA.add(os.path.realpath(path))
            values = load_yaml(path)
            if settings.overwrite_config and settings.replace_workflow_config:
                workflow.globals["config"] = {}
            else:
                update_config(workflow.config, values)
        elif not settings.configfiles:
            raise ConfigError(
                f"config file {path!r} (read by the Snakefile) does not exist in {os.getcwd()}; create it "
                "(dynvision init-workdir . writes a commented one) or give one: --configfile FILE."
            )
    except ConfigError as error:
        exit_invalid_config(error)
    update_config(workflow.config, settings.overwrite_config)


def read_by_snakemake(files: Iterable[str | Path]) -> list[str]:
    """Those of ``files`` (loaded by a ``configfile:`` directive) that Snakemake's own loader read, not
    :func:`read_configfile`: it renders YTE templates."""
    return [str(path) for path in files if os.path.realpath(str(path)) not in _READ_AS_DATA]


def dump_yaml(config: Mapping[str, Any]) -> str:
    """Render a configuration as YAML with keys in their given order."""
    return yaml.safe_dump(plain(config), sort_keys=False, default_flow_style=False, allow_unicode=True)


def plain(value: Any) -> Any:
    """``value`` as plain data (YAML, JSON, JSON schema): mappings as dicts with string keys, tuples as lists,
    paths as strings."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """A new mapping: ``update`` over ``base``; nested mappings merge, everything else replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@cache
def schema() -> dict[str, Any]:
    """The JSON schema of the workflow configuration: the packaged ``config.schema.yaml`` (what to run, datasets,
    experiments, execution) with the properties of every runtime option merged in from their one declaration
    (:mod:`dynvision_workflow.options`): ``train.*``, ``test.*``, ``data.*`` and ``datasets.<name>.*``."""
    from .options import schema_properties

    text = (resources.files("dynvision_workflow") / "workflow" / "schemas" / "config.schema.yaml").read_text()
    full = yaml.safe_load(text)
    for key, fragment in schema_properties().items():
        section, *rest = key.split(".")
        if section == "datasets" and rest[:1] == ["*"]:
            node, rest = full["$defs"]["dataset"], rest[1:]
        else:
            node = full["properties"][section]
        for part in rest[:-1]:
            node = node["properties"][part]
        node.setdefault("properties", {})[rest[-1]] = fragment
    # An experiment may change the test step's options for its own tests (`test: {limit_images: 256}`): their
    # fragments without the defaults (an unset key keeps the run's value); not the naming of test folders.
    test_options = {key.split(".", 1)[1] for key in schema_properties() if key.startswith("test.")}
    full["$defs"]["experiment"]["properties"]["test"]["properties"] = {
        key: {k: v for k, v in fragment.items() if k != "default"}
        for key, fragment in full["properties"]["test"]["properties"].items()
        if key in test_options
    }
    return full


def _packaged_layers() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    folder = resources.files("dynvision_workflow") / "config"
    for name in LAYERS:
        merged = deep_merge(merged, load_yaml(Path(str(folder / name))))
    return merged


#: Source label of a value that no layer set (the schema's default).
SCHEMA_DEFAULT = "schema default"


def _leaf_paths(value: Any, prefix: str = "") -> Iterable[str]:
    if isinstance(value, Mapping) and value:
        for key, sub in value.items():
            yield from _leaf_paths(sub, f"{prefix}.{key}" if prefix else str(key))
    elif prefix:
        yield prefix


def config_sources(
    files: Iterable[str | Path] = (),
    overrides: Mapping[str, Any] | None = None,
    *,
    packaged: bool = True,
    mode: str | None = None,
    overlay: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Where each configured value comes from, by dotted key path (e.g. ``train.epochs``).

    Labels: ``packaged <file>`` for the packaged layers, ``execution.modes.<mode>`` for the values of the active
    execution mode's ``overlay`` (above the packaged layers, as in :func:`resolve_config`), the path of a
    ``--configfile``, ``--config`` for command-line overrides. A path absent from the result has its
    :data:`SCHEMA_DEFAULT`. Later layers win; a mapping replaced by a scalar drops the sources below it.
    """
    sources: dict[str, str] = {}
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if packaged:
        folder = resources.files("dynvision_workflow") / "config"
        layers += [(f"packaged {name}", load_yaml(Path(str(folder / name)))) for name in LAYERS]
    if mode is not None and overlay:
        layers.append((f"execution.modes.{mode}", overlay))
    layers += [(str(path), load_yaml(path)) for path in files]
    layers.append(("--config", dict(overrides or {})))
    for label, layer in layers:
        for path in _leaf_paths(layer):
            # A value replaces whatever an earlier layer set below it (a mapping replaced by a scalar) or as its
            # parent (an empty mapping now filled in).
            parents = {path.rsplit(".", depth)[0] for depth in range(1, path.count(".") + 1)}
            for existing in [key for key in sources if key.startswith(path + ".") or key in parents]:
                del sources[existing]
            sources[path] = label
    return sources


def source_of(sources: Mapping[str, str], path: str) -> str:
    """The source of ``path`` (dotted): its own, else that of the values below it (a mapping such as an experiment;
    several layers are joined with ``" + "``, lowest layer first), else that of the nearest configured parent, else
    :data:`SCHEMA_DEFAULT`."""
    if path in sources:
        return sources[path]
    below = list(dict.fromkeys(label for key, label in sources.items() if key.startswith(path + ".")))
    if below:
        return " + ".join(below)
    while path:
        path = path.rpartition(".")[0]
        if path in sources:
            return sources[path]
    return SCHEMA_DEFAULT


def resolve_config(
    user: Mapping[str, Any] | None = None,
    files: Iterable[str | Path] = (),
    *,
    packaged: bool = True,
    environ: Mapping[str, str] | None = None,
    submits_jobs: bool = False,
) -> dict[str, Any]:
    """Merge the layers, fill defaults, validate and normalise; return the resolved configuration.

    ``user`` is the highest layer (e.g. Snakemake's ``config``, which already holds ``--configfile`` and
    ``--config`` values); ``files`` are YAML files merged below it and above the packaged layers. The overlay of
    the execution mode (``execution.modes.<mode>``, mode from ``execution.mode`` or detected in ``environ``, see
    :mod:`.execution`; ``submits_jobs``: the workflow submits its jobs to a cluster, whose jobs then resolve the
    same mode) goes right above the packaged layers; ``execution.active_mode`` records the mode.
    """
    base = _packaged_layers() if packaged else {}
    user_layers = [load_yaml(path) for path in files] + [dict(user or {})]
    merged = base
    for layer in user_layers:
        merged = deep_merge(merged, layer)
    full_schema = schema()
    mode = _active_mode(_fill_defaults(merged, full_schema, full_schema), environ, submits_jobs)
    if mode is not None:
        overlay = merged.get("execution", {}).get("modes", {}).get(mode, {})
        merged = deep_merge(base, overlay if isinstance(overlay, Mapping) else {})
        for layer in user_layers:
            merged = deep_merge(merged, layer)
        merged = deep_merge(merged, {"execution": {"active_mode": mode}})
    filled = _fill_defaults(merged, full_schema, full_schema)
    problems = _schema_problems(filled, full_schema)
    if not problems:
        filled, problems = _normalise(filled)
    if not problems:
        problems = _cross_check(filled)
    if problems:
        raise ConfigError(f"{INVALID_CONFIG}\n" + "\n".join(f"  - {p}" for p in problems))
    return _note_changed_experiments(filled, base, user_layers)


#: Keys of an experiment that make its packaged description untrue when a user layer changes them.
_DESCRIBED_KEYS = ("paradigm", "args", "model_overrides")


def _show(value: Any) -> str:
    """A configured value as written in YAML flow style (``[2, 4]``, ``true``, ``gaussian``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}: {_show(item)}" for key, item in value.items()) + "}"
    return "null" if value is None else str(value)


def _note_changed_experiments(
    config: dict[str, Any], packaged: Mapping[str, Any], user_layers: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """Keep packaged descriptions true: a packaged experiment whose ``paradigm``, ``args`` or ``model_overrides``
    a user layer (config file or ``--config``) changed without giving a new ``description`` gets its packaged
    description followed by what changed, e.g. ``(args changed: stimulus [2, 4] instead of [1, 2, 3]; set
    experiments.duration.description to describe it)``."""
    given: dict[str, list[Mapping[str, Any]]] = {}
    for layer in user_layers:
        for name, settings in (layer.get("experiments") or {}).items():
            if isinstance(settings, Mapping):
                given.setdefault(name, []).append(settings)
    for name, original in (packaged.get("experiments") or {}).items():
        layers = given.get(name, [])
        if not layers or any("description" in settings for settings in layers) or name not in config["experiments"]:
            continue
        resolved = config["experiments"][name]
        notes = []
        for key in _DESCRIBED_KEYS:
            before, after = original.get(key, {} if key != "paradigm" else None), resolved.get(key)
            if before == after:
                continue
            if isinstance(before, Mapping) and isinstance(after, Mapping):
                changes = [
                    f"{item} {_show(after[item])} instead of {_show(before[item])}"
                    if item in before
                    else f"{item} {_show(after[item])} added"
                    for item in after
                    if before.get(item) != after[item] or item not in before
                ]
            else:
                changes = [f"{_show(after)} instead of {_show(before)}"]
            notes.append(f"{key} changed: {', '.join(changes)}")
        if notes:
            text = (resolved.get("description") or "").rstrip()
            resolved["description"] = (
                f"{text} ({'; '.join(notes)}; set experiments.{name}.description to describe it)".lstrip()
            )
    return config


def _active_mode(
    config: Mapping[str, Any], environ: Mapping[str, str] | None, submits_jobs: bool = False
) -> str | None:
    """The execution mode, or None when ``execution.mode`` is malformed (the schema check then reports it)."""
    from .execution import resolve_mode

    try:
        return resolve_mode(config.get("execution", {}).get("mode", "auto"), environ, submits_jobs=submits_jobs)
    except (ValueError, AttributeError):
        return None


# Defaults ----------------------------------------------------------------------------------------------------------


def _resolve_ref(node: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in node:
        ref = node["$ref"]
        target: Any = root
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        extra = {k: v for k, v in node.items() if k != "$ref"}
        node = {**target, **extra}
    return node


def _fill_defaults(value: Any, node: Mapping[str, Any], root: Mapping[str, Any]) -> Any:
    """Fill defaults of object properties recursively (also inside additionalProperties of mappings)."""
    node = _resolve_ref(node, root)
    if not isinstance(value, dict):
        return value
    result = dict(value)
    for key, sub in node.get("properties", {}).items():
        sub = _resolve_ref(sub, root)
        if key not in result and "default" in sub:
            result[key] = copy.deepcopy(sub["default"])
        if key in result:
            result[key] = _fill_defaults(result[key], sub, root)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        for key in result:
            if key not in node.get("properties", {}):
                result[key] = _fill_defaults(result[key], extra, root)
    return result


# Validation --------------------------------------------------------------------------------------------------------


def _schema_problems(config: Mapping[str, Any], full_schema: Mapping[str, Any]) -> list[str]:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(full_schema)
    problems = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        problems.append(_describe(error, full_schema))
    return problems


def _key_path(parts: Iterable[Any]) -> str:
    text = ".".join(str(p) for p in parts)
    return text or "(top level)"


def _describe(error: Any, root: Mapping[str, Any]) -> str:
    """One line per schema error: key path, value given, what is allowed."""
    where = _key_path(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(_resolve_ref(error.schema, root).get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        lines = []
        for key in unknown:
            path = f"{where}.{key}" if error.absolute_path else key
            hint = difflib.get_close_matches(key, allowed, n=1)
            suggestion = f" Did you mean {hint[0]!r}?" if hint else ""
            lines.append(f"{path}: unknown key.{suggestion} Allowed keys: {', '.join(allowed)}.")
        return "\n  - ".join(lines)
    if "propertyNames" in error.schema_path:
        path = f"{where}.{error.instance}" if error.absolute_path else str(error.instance)
        rule = _resolve_ref(error.schema, root).get("description") or error.message
        return f"{path}: the name {error.instance!r} is not allowed: {rule}. Rename it."
    if error.validator == "enum":
        allowed = ", ".join(repr(v) for v in error.validator_value)
        return f"{where}: {error.instance!r} is not allowed; choose one of {allowed}."
    if error.validator == "required":
        return f"{where}: {error.message}; add it."
    change = f" {_change(where)}" if error.absolute_path else ""
    if error.validator in ("oneOf", "anyOf"):
        description = _resolve_ref(error.schema, root).get("description", "see the schema")
        return f"{where}: {error.instance!r} has the wrong form. Expected: {description.strip()}{change}"
    description = re.split(r"\. |; ", (_resolve_ref(error.schema, root).get("description") or "").strip())[0]
    description = description.rstrip(".")  # its first sentence
    return f"{where}: {error.message}" + (f" ({description})" if description else "") + f".{change}"


def _change(key: str) -> str:
    """What to do about a wrong value at ``key``."""
    return f"Change it in the config file (or with --config {key}=VALUE)."


def _normalise(config: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    problems: list[str] = []
    result = dict(config)
    for key in _LIST_KEYS:
        value = result[key]
        result[key] = [value] if isinstance(value, str) else list(value)
    seeds = result["seed"]
    seeds = seeds if isinstance(seeds, list) else [seeds]
    try:
        result["seed"] = [format_seed(seed) for seed in seeds]
    except ArgsError as error:
        problems.append(f"seed: {error}")
    result["datasets"] = {
        name: {**settings, "groups": {str(k): [str(c) for c in v] for k, v in settings.get("groups", {}).items()}}
        for name, settings in result["datasets"].items()
    }
    result["data_group"], problem = _data_group(result["data_group"], result["datasets"].get(result["data_name"], {}))
    problems += [problem] if problem else []
    result["train"] = {**result["train"], "keep_epochs": _kept_epochs(result)}
    return result, problems


def _kept_epochs(config: Mapping[str, Any]) -> list[int]:
    """``train.keep_epochs`` with every epoch that a requested state ``epoch=N`` needs (the run's ``status`` and
    the ``status`` of each selected experiment): asking to test a state keeps its checkpoint."""
    from .statuses import parse_status

    requested = list(config["status"])
    for name in config["experiment"]:
        requested += config["experiments"].get(name, {}).get("status") or []
    epochs = set(config["train"]["keep_epochs"])
    for status in requested:
        try:
            kind, epoch = parse_status(str(status))
        except ValueError:
            continue  # reported by the status check
        if kind == "epoch" and epoch is not None:
            epochs.add(epoch)
    return sorted(epochs)


def _data_group(value: str | int, dataset: Mapping[str, Any]) -> tuple[str, str | None]:
    """``data_group`` as the name of a group of the dataset in use (or ``all``); a number finds the group of that
    number (``1`` -> ``"01"``, as YAML and ``--config`` read ``01``)."""
    groups = sorted(dataset.get("groups", {}))
    text = str(value)
    if text == "all" or text in groups:
        return text, None
    if isinstance(value, int):
        matches = [name for name in groups if name.isdigit() and int(name) == value]
        if len(matches) == 1:
            return matches[0], None
    hint = difflib.get_close_matches(text, groups, n=1)
    suggestion = f" Did you mean {hint[0]!r}?" if hint else ""
    return text, (
        f"data_group: {value!r} is not a class group of the dataset in use.{suggestion} Its groups: "
        f"{', '.join(groups) or '(none)'} and 'all'. Define it under datasets.<data_name>.groups, e.g. "
        "groups: {'38': ['3', '8']}."
    )


def _cross_check(config: Mapping[str, Any]) -> list[str]:
    problems = []
    for name, settings in config["datasets"].items():
        problems += dataset_problems(name, settings)
    datasets = sorted(config["datasets"])
    if config["data_name"] not in datasets:
        problems.append(_unknown("data_name", config["data_name"], datasets, "datasets"))
    experiments = sorted(config["experiments"])
    for name in config["experiment"]:
        if name not in experiments:
            problems.append(_unknown("experiment", name, experiments, "experiments"))
    from .statuses import pretrained_problems, status_problems

    problems += status_problems(config) + pretrained_problems(config) + lightning_problems(config["train"])
    categories = sorted(config["categories"])
    for name in config["category"]:
        if name not in categories:
            problems.append(_unknown("category", name, categories, "categories"))
    if config["data_name"] in config["datasets"]:
        problems += _train_group_problems(config, "train.data_group")
    problems += _parameter_problems(config)
    return list(dict.fromkeys(problems + _model_problems(config) + _paradigm_problems(config) + _study_problems(config)))


def _study_problems(config: Mapping[str, Any]) -> list[str]:
    """What the study of the configured scale would fail on (:func:`dynvision_workflow.study.study_problems`), with
    each variant's model checked like every other model identity."""
    from .study import study_problems

    problems, models = study_problems(config)
    for where, model_name, kwargs in models:
        problems += model_problems(model_name, _as_job_values(kwargs), where)
    return problems


def dataset_problems(name: str, settings: Mapping[str, Any]) -> list[str]:
    """What is wrong with the settings of dataset ``name`` (``datasets.<name>``) for its ``source``: a ``builtin``
    name that dynvision-data does not ship, a ``download`` name without official archives, a ``folder`` without
    ``path`` or named like a dynvision-data dataset, keys that the source does not use. Empty when nothing is."""
    key = f"datasets.{name}"
    source = settings.get("source", "builtin")
    problems = []
    if source == "builtin" and name not in BUILTIN_DATASETS:
        if name in DOWNLOADABLE_DATASETS:
            remedy = f"{name!r} is read from its official archives: set {key}.source: download."
        else:
            remedy = (
                _did_you_mean(name, BUILTIN_DATASETS + DOWNLOADABLE_DATASETS)
                + f"For images of your own set {key}.source: folder and {key}.path: <directory with train/ and "
                "val/ class folders>."
            )
        problems.append(
            f"{key}.source: 'builtin', but dynvision-data ships no dataset {name!r}; builtin datasets: "
            f"{', '.join(BUILTIN_DATASETS)}. {remedy}"
        )
    elif source == "download" and name not in DOWNLOADABLE_DATASETS:
        remedy = (
            f"{name!r} ships with dynvision-data: set {key}.source: builtin."
            if name in BUILTIN_DATASETS
            else _did_you_mean(name, DOWNLOADABLE_DATASETS) + "Name the dataset like one of these."
        )
        problems.append(
            f"{key}.source: 'download', but {name!r} has no official archives to download; downloadable datasets: "
            f"{', '.join(DOWNLOADABLE_DATASETS)}. {remedy}"
        )
    elif source == "folder":
        if name in BUILTIN_DATASETS or name in DOWNLOADABLE_DATASETS:
            problems.append(
                f"{key}.source: 'folder', but {name!r} is the name of a dynvision-data dataset; give the folder "
                f"dataset another name (e.g. '{name}-folder'), or set {key}.source: "
                f"{'builtin' if name in BUILTIN_DATASETS else 'download'} to use dynvision-data's."
            )
        if not settings.get("path"):
            problems.append(
                f"{key}.path: required with source: folder: the directory holding the split folders (e.g. train/ "
                "and val/, one folder per class inside); `~` and $VARIABLES are expanded."
            )
    crop = settings.get("crop_scale")
    if crop is not None and len(crop) == 2 and crop[0] > crop[1]:
        problems.append(
            f"{key}.crop_scale: {list(crop)} has low > high; give [low, high] with 0 < low <= high <= 1 "
            "(shares of the image area), e.g. [0.35, 1.0]."
        )
    for option, user in _SOURCE_KEYS.items():
        if settings.get(option) is not None and source != user:
            problems.append(
                f"{key}.{option}: {settings[option]!r} is only used with source: {user}, but {key}.source is "
                f"{source!r}; remove {option} or set source: {user}."
            )
    return problems


def _did_you_mean(value: str, allowed: Iterable[str]) -> str:
    hint = difflib.get_close_matches(value, list(allowed), n=1)
    return f"Did you mean {hint[0]!r}? " if hint else ""


def expand_path(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with environment variables (``$NAME``, ``${NAME}``) and a leading ``~`` expanded.

    Raises:
        ValueError: a variable is not set (naming it), so that a path never silently keeps a literal ``$NAME``.
    """
    import os
    import re

    environ = os.environ if environ is None else environ
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        variable = match.group(1) or match.group(2)
        if variable not in environ:
            missing.append(variable)
            return match.group(0)
        return environ[variable]

    expanded = re.sub(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))", substitute, text)
    if missing:
        raise ValueError(
            f"{text!r} names environment variable(s) that are not set: {', '.join(dict.fromkeys(missing))}. "
            "Set them (e.g. export NAME=/data/...) or write the path out."
        )
    return os.path.expanduser(expanded)


def expand_location(value: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """A configured file, directory or URL: :func:`expand_path` for paths; URLs (``scheme://...``) and ``None`` as
    they are."""
    if value is None or "://" in value:
        return value
    return expand_path(value, environ)


def folder_path(name: str, settings: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> str:
    """The expanded ``path`` of folder dataset ``name``; :class:`ConfigError` naming the key when a variable in it
    is not set or the directory does not exist."""
    key = f"datasets.{name}.path"
    try:
        path = expand_path(settings["path"], environ)
    except ValueError as error:
        raise ConfigError(f"{key}: {error}") from None
    if not Path(path).is_dir():
        raise ConfigError(
            f"{key}: {settings['path']!r} (= {path}) is not a directory. Give the directory that holds the split "
            "folders (e.g. train/ and val/) of the dataset."
        )
    return path


#: Device indices as Lightning's ``Trainer(devices=...)`` takes them in a string: ``0,1``, ``1,`` (spaces allowed).
_DEVICE_INDICES = re.compile(r"[0-9]+(\s*,\s*[0-9]+)*\s*,?")

#: Environment variable naming the folder of the model catalogue cache (default: ``$XDG_CACHE_HOME/dynvision`` or
#: ``~/.cache/dynvision``).
CACHE_VARIABLE = "DYNVISION_CACHE_DIR"


def _models_root() -> Path | None:
    """dynvision_models' package folder, found without importing it."""
    from importlib.util import find_spec

    spec = find_spec("dynvision_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _models_source_digest() -> str | None:
    """SHA-256 over every source file of the installed dynvision_models (None when it is not found)."""
    import hashlib

    root = _models_root()
    if root is None:
        return None
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where DynVision caches what it derives from installed code (the model and Lightning catalogues)."""
    import os

    environ = os.environ if environ is None else environ
    if environ.get(CACHE_VARIABLE):
        return Path(environ[CACHE_VARIABLE])
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dynvision"


def live_model_catalogue() -> dict[str, dict[str, Any]]:
    """The registered models' catalogue from dynvision_models (imports torch): per model its parameters, their
    defaults and allowed values, and what the checks of :func:`dynvision_models.checks.kwarg_problems` need."""
    from dynvision_models import describe_models

    return describe_models()


def _cached_json(path: Path | None, build: Callable[[], Any]) -> Any:
    """The JSON data stored at ``path`` under :func:`cache_dir`, or, when there is none (or it is unreadable),
    ``build()``, stored there atomically for the next call (an unwritable cache only costs time)."""
    import json

    if path is not None and path.is_file():
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            pass
    data = build()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temporary.write_text(json.dumps(data))
            os.replace(temporary, path)
        except OSError:
            pass
    return data


@cache
def model_catalogue() -> dict[str, dict[str, Any]]:
    """The model catalogue, cached per version of the installed dynvision_models sources.

    The first call after dynvision_models changed (or was installed) builds it from the live registry (importing
    torch, about 1.5 s) and stores it under :func:`cache_dir`, named by a digest of every dynvision_models source
    file; later calls read that file, so checking model names and arguments at workflow start imports no torch.
    Nothing needs regenerating by hand: an edited model is a new digest. An unwritable cache only costs time.
    """
    digest = _models_source_digest()
    return _cached_json(cache_dir() / f"model-catalogue-{digest[:20]}.json" if digest else None, live_model_catalogue)


def live_lightning_catalogue() -> dict[str, list[str]]:
    """What Lightning's ``Trainer`` accepts by name (imports lightning and torch, about 3 s): ``strategy``:
    ``auto`` and every name of its ``StrategyRegistry`` (the Trainer lowercases a name first and refuses any
    other)."""
    from lightning.pytorch.strategies import StrategyRegistry

    return {"strategy": ["auto", *sorted(StrategyRegistry.available_strategies())]}


def _lightning_version() -> str | None:
    """The installed Lightning's version, read from its package metadata (without importing it); None if absent."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lightning")
    except PackageNotFoundError:
        return None


@cache
def lightning_catalogue() -> dict[str, list[str]]:
    """:func:`live_lightning_catalogue`, cached under :func:`cache_dir` per installed Lightning version (named by a
    digest of it), so that checking ``train.strategy`` at workflow start imports no torch after the first time."""
    import hashlib

    version = _lightning_version()
    if version is None:
        return {}
    digest = hashlib.sha256(f"lightning {version}".encode()).hexdigest()[:20]
    try:
        return _cached_json(cache_dir() / f"lightning-catalogue-{digest}.json", live_lightning_catalogue)
    except ImportError:  # Lightning installed but not importable: training reports that itself
        return {}


def lightning_problems(train: Mapping[str, Any]) -> list[str]:
    """What Lightning's ``Trainer`` would refuse in the ``train`` section, found without importing it: a
    ``strategy`` name it does not know (:func:`lightning_catalogue`; ``auto`` is known without it) and a
    ``devices`` value that is none of a positive count, -1 (all), ``auto`` or device indices such as ``0,1``."""
    problems = []
    strategy = train.get("strategy")
    if isinstance(strategy, str) and strategy != "auto":
        known = lightning_catalogue().get("strategy")
        if known and strategy not in known:
            hint = difflib.get_close_matches(strategy.lower(), known, n=1)
            suggestion = f" Did you mean {hint[0]!r}?" if hint else ""
            problems.append(
                f"train.strategy: {strategy!r} is not a strategy of Lightning {_lightning_version()}.{suggestion} "
                f"Allowed: {', '.join(known)}. Set one, e.g. dynvision run --config train.strategy=auto"
            )
    devices = train.get("devices", "auto")
    if isinstance(devices, str):
        text = devices.strip()
        valid = text in ("auto", "-1") or (_DEVICE_INDICES.fullmatch(text) is not None and text != "0")
    else:
        valid = isinstance(devices, int) and not isinstance(devices, bool) and (devices == -1 or devices > 0)
    if not valid:
        problems.append(
            f"train.devices: {devices!r} is not a device setting Lightning accepts; allowed: a count of 1 or more, "
            "-1 (every device), auto, or device indices such as '0,1'. Set one, e.g. dynvision run --config "
            "train.devices=1"
        )
    return problems


def model_problems(
    model_name: str,
    kwargs: Mapping[str, Any],
    where: str,
    separator: str = ".",
    config: Mapping[str, Any] | None = None,
) -> list[str]:
    """What the constructor of ``model_name`` would reject in ``kwargs`` (values as a job receives them), each
    problem prefixed by ``where`` and ``separator`` (a config key path and ``.``, or a requested path and ``: ``);
    torch-free."""
    from dynvision_models.checks import kwarg_problems

    catalogue = model_catalogue()
    if model_name not in catalogue:
        registered = sorted(catalogue)
        hint = difflib.get_close_matches(model_name, registered, n=1)
        suggestion = f" Did you mean {hint[0]!r}?" if hint else ""
        return [
            f"{'model_name' if separator == '.' else where}: {model_name!r} is not a registered model.{suggestion} "
            "Registered models: "
            f"{', '.join(registered)} (`dynvision models` lists their arguments; a new model needs only "
            "@register_model in an imported module)."
        ]
    from .options import identity_arguments, split_identity

    kwargs, training = split_identity(kwargs)
    extra = f"; training arguments: {', '.join(sorted(identity_arguments()))}. Remove it"
    problems = [
        f"{where}{separator}{problem}".replace(". Remove it", extra, 1) if "takes no argument" in problem else
        f"{where}{separator}{problem}"
        for problem in kwarg_problems(catalogue[model_name], kwargs)
    ]
    return problems + training_problems(training, where, separator, config)


def training_problems(
    args: Mapping[str, Any], where: str, separator: str = ".", config: Mapping[str, Any] | None = None
) -> list[str]:
    """What training with the training arguments of a model identity (``activityloss``, ``lossrt``...; see
    :func:`dynvision_workflow.options.identity_arguments`) would reject: each value against its option, and with
    ``config``, the training paradigm they change, built."""
    from .options import apply_identity, identity_problems

    if not args:
        return []
    problems = [p.replace(f"{where}.", f"{where}{separator}", 1) for p in identity_problems(args, where)]
    if config is not None and not problems:
        changed = apply_identity(config, args)
        problems += _train_group_problems(changed, f"{where}{separator}{', '.join(args)}: train.data_group")
        named = changed["init"]["pretrained"]
        if "pretrained" in args and named not in (None, "none", *changed["init"]["weights"]):
            problems.append(
                f"{where}{separator}pretrained: {named!r} is not a name of init.weights; allowed: none, "
                f"{', '.join(sorted(changed['init']['weights']))}. Add it there with its location (and sha256)."
            )
        paradigm = changed["train"]["paradigm"]
        if paradigm != config["train"]["paradigm"]:
            problems += paradigm_problems(
                paradigm["name"], paradigm.get("args", {}), f"{where}{separator}{', '.join(args)}: train.paradigm"
            )
    return problems


def _args_problem(where: str, error: ArgsError) -> str:
    """An argument that cannot be written into a path, named by its key path (``model_args.tau: value ...``) and
    with what to do."""
    key = f"{where}.{error.key}" if error.key else where
    return f"{key}: {error} {_change(key)}"


def _as_job_values(args: Mapping[str, Any]) -> dict[str, Any]:
    """Argument values as a job receives them: written into a path and parsed back (``"16,32"`` -> ``[16, 32]``)."""
    from .naming import encode_args, parse_args

    return parse_args(encode_args(args))


def _sweep_points(args: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every combination of a sweep (a YAML list is a sweep), values as a job receives them."""
    import itertools

    keys = list(args)
    values = [v if isinstance(v, list) else [v] for v in args.values()]
    return [_as_job_values(dict(zip(keys, combo, strict=True))) for combo in itertools.product(*values)]


def _model_problems(config: Mapping[str, Any]) -> list[str]:
    """Every model name and keyword-argument value a job would reject: ``model_args`` (each sweep point), each
    selected category sweep, and each experiment's ``model_overrides`` on every model built."""
    from .naming import ArgsError

    problems: list[str] = []
    points: list[tuple[str, dict[str, Any]]] = []
    where = "model_args"
    try:
        points += [(where, point) for point in _sweep_points(config["model_args"])]
        for category in config["category"]:
            where = "categories"
            values = config["categories"].get(category, [])
            for value in values:
                sweep = {**config["model_args"], category: value}
                points += [(where, point) for point in _sweep_points(sweep)]
    except ArgsError as error:
        return [_args_problem(where, error)]
    seen: set[str] = set()
    for model_name in config["model_name"]:
        for where, kwargs in points:
            key = repr((model_name, sorted(kwargs.items())))
            if key in seen:
                continue
            seen.add(key)
            found = model_problems(model_name, kwargs, where)
            problems += [p for p in found if p not in problems]
            if found and found[0].startswith("model_name:"):
                break
            for name in config["experiment"]:
                overrides = config["experiments"].get(name, {}).get("model_overrides") or {}
                if overrides:
                    found = _override_problems(model_name, kwargs, f"experiments.{name}.model_overrides", overrides)
                    problems += [p for p in found if p not in problems]
    return problems


def _override_problems(
    model_name: str, kwargs: Mapping[str, Any], where: str, overrides: Mapping[str, Any]
) -> list[str]:
    """What the constructor of ``model_name`` would reject in ``kwargs`` with an experiment's model overrides
    applied, at every point of the overrides' sweep (a YAML list is swept, one test per value); each problem names
    the key as the experiment spells it (``experiments.<name>.model_overrides.idle: -5 ...``)."""
    from .naming import MODEL_ARG_ALIASES, ArgsError, canonical_model_args

    spelled = {MODEL_ARG_ALIASES.get(key, key): key for key in overrides}  # keyword -> the experiment's spelling
    problems: list[str] = []
    try:
        base = canonical_model_args(kwargs)
        for point in _sweep_points(overrides):
            for problem in model_problems(model_name, {**base, **canonical_model_args(point)}, where):
                keyword, separator, rest = problem[len(where) + 1 :].partition(":")
                if separator and spelled.get(keyword, keyword) != keyword:
                    problem = f"{where}.{spelled[keyword]}:{rest}"
                if problem not in problems:
                    problems.append(problem)
    except ArgsError as error:
        return [_args_problem(where, error)]
    return problems


def paradigm_problems(name: str, args: Mapping[str, Any], where: str, name_key: str | None = None) -> list[str]:
    """What building paradigm ``name`` with ``args`` (values as a job receives them) would reject, prefixed by
    ``where`` (an unknown name by ``name_key`` when given: the key path of the name); builds the paradigm with
    dynvision_data, which imports no torch for it."""
    from dynvision_data.paradigms import create_paradigm

    try:
        create_paradigm(name, **args)
    except KeyError as error:
        return [f"{name_key or where}: {error.args[0] if error.args else error} (`dynvision paradigms` lists them)."]
    except (TypeError, ValueError) as error:
        return [f"{where}: paradigm {name!r} with {dict(args)}: {error}"]
    return []


def model_identity_problems(
    model_name: str, model_args: str, where: str, config: Mapping[str, Any] | None = None
) -> list[str]:
    """What a job would reject in a model identity ``{model_name}{model_args}`` taken from a path: malformed
    arguments, a spelling that is not the canonical one (naming it), a model or value its constructor refuses."""
    from .naming import ArgsError, canonical_model_args, encode_args, parse_args

    try:
        args = parse_args(model_args)
        canonical = encode_args(canonical_model_args(args))
    except ArgsError as error:
        return [f"{where}: {error}"]
    if canonical != model_args:
        return [
            f"{where}: the model {model_name}{model_args} is written {model_name}{canonical} (keys sorted, one "
            "spelling per argument); request the path with that identity (`dynvision run` rewrites it itself)."
        ]
    return model_problems(model_name, args, where, ": ", config)


def spec_problems(spec: str, where: str) -> list[str]:
    """What a job would reject in a test spec ``{paradigm}{args}`` (with swept model overrides after ``@``) taken
    from a path: malformed parameters, a spelling that is not the canonical one (naming it), a paradigm or value it
    refuses."""
    from .naming import ArgsError, canonical_model_args, canonical_paradigm_args, encode_args, parse_args
    from .specs import join_spec, split_spec

    try:
        head, overrides = split_spec(spec)
        name, _, text = head.partition(":")
        args = parse_args(":" + text if text else "")
        canonical = join_spec(name + encode_args(canonical_paradigm_args(args)), canonical_model_args(overrides))
    except ArgsError as error:
        return [f"{where}: test {spec!r}: {error}"]
    if canonical != spec:
        return [f"{where}: the test {spec} is written {canonical} (keys sorted, one spelling per parameter)."]
    return paradigm_problems(name, args, f"{where}: test {spec!r}")


def requested_problems(target: str) -> list[str]:
    """What a job would reject in a requested path: a malformed identity, a spelling that is not the canonical one
    (naming it), a model or argument value its constructor refuses, a paradigm or parameter value it refuses."""
    from .naming import ArgsError
    from .targets import requested_path

    try:
        parsed = requested_path(target)
    except ArgsError as error:
        return [str(error)]
    if parsed is None:
        return []
    if parsed.canonical != target:
        return [
            f"requested path {target!r} is written {parsed.canonical!r} (keys sorted, one spelling per argument); "
            "request that path (`dynvision run` rewrites requested paths itself)."
        ]
    where = f"requested path {target!r}"
    from .naming import canonical_model_args

    try:  # a test's swept overrides replace the model's own values (in whichever spelling)
        kwargs = {**canonical_model_args(parsed.model_args), **canonical_model_args(parsed.test_overrides or {})}
    except ArgsError as error:
        return [f"{where}: {error}"]
    problems = model_problems(parsed.model_name, kwargs, where, ": ")
    if parsed.paradigm is not None:
        problems += paradigm_problems(parsed.paradigm, parsed.paradigm_args or {}, f"{where}: test")
    return problems


def _train_group_problems(config: Mapping[str, Any], where: str) -> list[str]:
    """The class group training reads (``train.data_group``) must be a group of the dataset in use."""
    group = config["train"]["data_group"]
    groups = sorted(config["datasets"].get(config["data_name"], {}).get("groups", {}))
    if group == "all" or group in groups:
        return []
    return [
        f"{where}: {group!r} is not a class group of {config['data_name']}; its groups: {', '.join(groups) or '(none)'}"
        f" and 'all'. Define it under datasets.{config['data_name']}.groups."
    ]


def _identity_paradigm_problems(config: Mapping[str, Any]) -> list[str]:
    """The training paradigm as each model of the run changes it through training arguments of its identity
    (``lossrt``, ``pattern``, ``dsteps``), built once per distinct change."""
    from .naming import ArgsError
    from .options import split_identity

    sweeps = [("model_args", config["model_args"])] + [
        (f"categories.{name}", {**config["model_args"], name: config["categories"].get(name, [])})
        for name in config["category"]
    ]
    problems: list[str] = []
    seen: set[str] = set()
    for where, sweep in sweeps:
        try:
            points = _sweep_points(sweep)
        except ArgsError:
            continue  # reported with the model arguments
        for point in points:
            training = split_identity(point)[1]
            key = repr(sorted(training.items()))
            if training and key not in seen:
                seen.add(key)
                problems += [p for p in training_problems(training, where, ".", config) if p not in problems]
    return problems


def _paradigm_problems(config: Mapping[str, Any]) -> list[str]:
    """Every paradigm and parameter value a job would reject: the training paradigm and every test of every
    configured experiment (each sweep point)."""
    from .naming import ArgsError

    problems: list[str] = []
    train = config["train"]["paradigm"]
    try:
        problems += paradigm_problems(
            train["name"], _as_job_values(train.get("args", {})), "train.paradigm", "train.paradigm.name"
        )
    except ArgsError as error:
        problems.append(_args_problem("train.paradigm.args", error))
    problems += _identity_paradigm_problems(config)
    for name, experiment in config["experiments"].items():
        where = f"experiments.{name}"
        try:
            points = _sweep_points(experiment["args"])
        except ArgsError as error:
            problems.append(_args_problem(f"{where}.args", error))
            continue
        for point in points:
            found = paradigm_problems(experiment["paradigm"], point, where, f"{where}.paradigm")
            problems += [p for p in found if p not in problems]
            if found:
                break
    return problems


def _parameter_problems(config: Mapping[str, Any]) -> list[str]:
    """An experiment's ``parameter`` (the swept parameter its figures put on an axis) must be one of its paradigm
    parameters (``args``) or model overrides, in any spelling."""
    from .naming import canonical_model_args, canonical_paradigm_args

    problems = []
    for name, experiment in config["experiments"].items():
        parameter = experiment.get("parameter")
        if parameter is None:
            continue
        args, overrides = experiment.get("args") or {}, experiment.get("model_overrides") or {}
        try:
            known = parameter in args or parameter in overrides or (
                next(iter(canonical_paradigm_args({parameter: None}))) in canonical_paradigm_args(args)
                or next(iter(canonical_model_args({parameter: None}))) in canonical_model_args(overrides)
            )
        except ArgsError:
            continue  # two spellings of one argument: reported with the arguments
        if not known:
            allowed = [*args, *overrides]
            problems.append(
                f"experiments.{name}.parameter: {parameter!r} is not a parameter of the experiment. "
                f"{_did_you_mean(parameter, allowed)}Allowed: {', '.join(map(str, allowed)) or '(none)'} (the keys of "
                f"experiments.{name}.args and .model_overrides), or null. Set one of these."
            )
    return problems


def _unknown(key: str, value: str, allowed: list[str], section: str) -> str:
    hint = difflib.get_close_matches(value, allowed, n=1)
    suggestion = f" Did you mean {hint[0]!r}?" if hint else ""
    return (
        f"{key}: {value!r} is not defined.{suggestion} Defined in `{section}`: {', '.join(allowed) or '(none)'}; "
        f"add it there or pick one of these."
    )
