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
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .naming import ArgsError, format_seed

__all__ = [
    "BUILTIN_DATASETS",
    "DATASET_SOURCES",
    "DOWNLOADABLE_DATASETS",
    "LAYERS",
    "SCHEMA_DEFAULT",
    "ConfigError",
    "config_sources",
    "dataset_problems",
    "deep_merge",
    "dump_yaml",
    "expand_location",
    "expand_path",
    "folder_path",
    "load_yaml",
    "resolve_config",
    "schema",
    "source_of",
]

#: Packaged configuration layers, lowest priority first.
LAYERS = ("config_data.yaml", "config_experiments.yaml", "config_workflow.yaml")

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


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file, a YAML syntax error or a non-mapping top level raises ConfigError."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist; check the path.") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {str(path)!r} must hold a mapping of keys to values at the top level, "
            f"not a {type(data).__name__}."
        )
    return data


def dump_yaml(config: Mapping[str, Any]) -> str:
    """Render a configuration as YAML with keys in their given order."""
    return yaml.safe_dump(_plain(config), sort_keys=False, default_flow_style=False, allow_unicode=True)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
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
    """The JSON schema of the workflow configuration (packaged with the workflow)."""
    text = (resources.files("dynvision_workflow") / "workflow" / "schemas" / "config.schema.yaml").read_text()
    return yaml.safe_load(text)


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
    files: Iterable[str | Path] = (), overrides: Mapping[str, Any] | None = None, *, packaged: bool = True
) -> dict[str, str]:
    """Where each configured value comes from, by dotted key path (e.g. ``train.epochs``).

    Labels: ``packaged <file>`` for the packaged layers, the path of a ``--configfile``, ``--config`` for command-line
    overrides. A path absent from the result has its :data:`SCHEMA_DEFAULT`. Later layers win, as in
    :func:`resolve_config`; a mapping replaced by a scalar drops the sources below it.
    """
    sources: dict[str, str] = {}
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if packaged:
        folder = resources.files("dynvision_workflow") / "config"
        layers += [(f"packaged {name}", load_yaml(Path(str(folder / name)))) for name in LAYERS]
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
) -> dict[str, Any]:
    """Merge the layers, fill defaults, validate and normalise; return the resolved configuration.

    ``user`` is the highest layer (e.g. Snakemake's ``config``, which already holds ``--configfile`` and
    ``--config`` values); ``files`` are YAML files merged below it and above the packaged layers. The overlay of
    the execution mode (``execution.modes.<mode>``, mode from ``execution.mode`` or detected in ``environ``, see
    :mod:`.execution`) goes right above the packaged layers; ``execution.active_mode`` records the mode.
    """
    base = _packaged_layers() if packaged else {}
    user_layers = [load_yaml(path) for path in files] + [dict(user or {})]
    merged = base
    for layer in user_layers:
        merged = deep_merge(merged, layer)
    full_schema = schema()
    mode = _active_mode(_fill_defaults(merged, full_schema, full_schema), environ)
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
        raise ConfigError("invalid DynVision configuration:\n" + "\n".join(f"  - {p}" for p in problems))
    return filled


def _active_mode(config: Mapping[str, Any], environ: Mapping[str, str] | None) -> str | None:
    """The execution mode, or None when ``execution.mode`` is malformed (the schema check then reports it)."""
    from .execution import resolve_mode

    try:
        return resolve_mode(config.get("execution", {}).get("mode", "auto"), environ)
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
        return f"{where}: {error.message}."
    if error.validator in ("oneOf", "anyOf"):
        description = _resolve_ref(error.schema, root).get("description", "see the schema")
        return f"{where}: {error.instance!r} has the wrong form. Expected: {description.strip()}"
    return f"{where}: {error.message}."


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
    return result, problems


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
    statuses = ("init", "trained")
    for status in config["status"]:
        if status not in statuses:
            problems.append(f"status: {status!r} is not allowed; choose from {', '.join(statuses)}.")
    categories = sorted(config["categories"])
    for name in config["category"]:
        if name not in categories:
            problems.append(_unknown("category", name, categories, "categories"))
    swept = {name: config["categories"][name] for name in config["category"] if name in config["categories"]}
    problems += _model_problems(config["model_name"], {**config["model_args"], **swept})
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


#: Packaged manifest of the model registry (names -> constructor parameter names) with a digest of the
#: dynvision_models sources that define it: checking model names and arguments then needs no torch import (about
#: 1.2 s of every workflow start). Regenerate with :func:`write_model_manifest` after changing a model.
MODEL_MANIFEST = "model_manifest.json"
#: dynvision_models sources that register models or define the registry (besides each constructor's own file).
_REGISTRY_SOURCES = ("__init__.py", "registry.py", "zoo/**/*.py")


def _models_root() -> Path | None:
    """dynvision_models' package folder, found without importing it."""
    from importlib.util import find_spec

    spec = find_spec("dynvision_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _models_source_digest(extra: Iterable[str] = ()) -> str | None:
    """SHA-256 over the dynvision_models sources that decide its registry: :data:`_REGISTRY_SOURCES` and ``extra``
    (paths relative to the package, e.g. a base class whose ``__init__`` a model inherits); None if one is missing."""
    import hashlib

    root = _models_root()
    if root is None:
        return None
    files = {path.relative_to(root).as_posix() for pattern in _REGISTRY_SOURCES for path in root.glob(pattern)}
    digest = hashlib.sha256()
    for name in sorted(files | set(extra)):
        path = root / name
        if not path.is_file():
            return None
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _constructor_files() -> list[str]:
    """Files (relative to dynvision_models) that define the registered constructors' signatures."""
    import inspect

    from dynvision_models.registry import _MODEL_REGISTRY

    root = _models_root()
    files = set()
    for factory in _MODEL_REGISTRY.values():
        function = inspect.unwrap(factory.__init__ if inspect.isclass(factory) else factory)
        filename = getattr(getattr(function, "__code__", None), "co_filename", None)
        if root is not None and filename is not None and Path(filename).is_relative_to(root):
            files.add(Path(filename).relative_to(root).as_posix())
    return sorted(files)


def live_model_catalogue() -> dict[str, list[str]]:
    """Registered model names -> their constructor parameter names, from dynvision_models (imports torch)."""
    from dynvision_models import list_models, model_parameters

    return {name: list(model_parameters(name)) for name in list_models()}


def write_model_manifest(path: str | Path | None = None) -> Path:
    """(Re)write the packaged model manifest from the live registry; run after changing dynvision_models' models:
    ``python -c "from dynvision_workflow.config import write_model_manifest; write_model_manifest()"``."""
    import json

    target = Path(path) if path is not None else Path(__file__).with_name(MODEL_MANIFEST)
    models = live_model_catalogue()
    files = _constructor_files()
    manifest = {"source_digest": _models_source_digest(files), "files": files, "models": models}
    target.write_text(json.dumps(manifest, indent=1) + "\n")
    return target


@cache
def model_catalogue() -> dict[str, list[str]]:
    """Registered model names -> constructor parameter names: the packaged manifest when it was written from the
    installed dynvision_models sources (same digest), else the live registry (which imports torch)."""
    import json

    try:
        manifest = json.loads(Path(__file__).with_name(MODEL_MANIFEST).read_text())
        files, models, digest = manifest["files"], manifest["models"], manifest["source_digest"]
    except (OSError, ValueError, TypeError, KeyError):
        return live_model_catalogue()
    if digest is None or not isinstance(models, dict) or digest != _models_source_digest(files):
        return live_model_catalogue()
    return {str(name): list(params) for name, params in models.items()}


def _model_problems(model_names: Iterable[str], model_args: Mapping[str, Any]) -> list[str]:
    """Unknown model names, and model arguments (aliases expanded) that a model's constructor does not take."""
    from .naming import MODEL_ARG_ALIASES

    problems = []
    catalogue = model_catalogue()
    registered = sorted(catalogue)
    for name in model_names:
        if name not in registered:
            hint = difflib.get_close_matches(name, registered, n=1)
            suggestion = f" Did you mean {hint[0]!r}?" if hint else ""
            problems.append(
                f"model_name: {name!r} is not a registered model.{suggestion} Registered models: "
                f"{', '.join(registered)} (`dynvision models` lists their arguments; a new model needs only "
                "@register_model in an imported module)."
            )
            continue
        accepted = set(catalogue[name])
        for key in model_args:
            if MODEL_ARG_ALIASES.get(key, key) in accepted:
                continue
            aliases = sorted(alias for alias, long in MODEL_ARG_ALIASES.items() if long in accepted)
            hint = difflib.get_close_matches(key, sorted(accepted | set(aliases)), n=1)
            suggestion = f" Did you mean {hint[0]!r}?" if hint else ""
            problems.append(
                f"model_args.{key}: {name} takes no argument {key!r}.{suggestion} It takes: "
                f"{', '.join(sorted(accepted))} (aliases: {', '.join(aliases) or 'none'})."
            )
    return problems


def _unknown(key: str, value: str, allowed: list[str], section: str) -> str:
    hint = difflib.get_close_matches(value, allowed, n=1)
    suggestion = f" Did you mean {hint[0]!r}?" if hint else ""
    return (
        f"{key}: {value!r} is not defined.{suggestion} Defined in `{section}`: {', '.join(allowed) or '(none)'}; "
        f"add it there or pick one of these."
    )
