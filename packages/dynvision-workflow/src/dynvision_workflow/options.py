"""Every option of the runtime steps, declared once: type, default, description, allowed values, config key, flag.

A settings class (:class:`TrainSettings`, :class:`TestSettings`) is a dataclass whose fields are declared with
:func:`option`: the field's annotation is the option's type, and :func:`option` records its default, its
description, its allowed values and constraints (JSON-schema keywords such as ``minimum``), the dotted key of the
workflow configuration it is read from (``train.epochs``; ``datasets.*.flip`` for a setting of the dataset in use)
and an optional short command-line alias. Everything else is derived from these fields:

- the JSON schema of those configuration keys (:func:`schema_properties`, merged into the packaged schema by
  :func:`dynvision_workflow.config.schema`), so ``dynvision config show`` and validation see the same defaults;
- the command-line options of ``dynvision train`` / ``dynvision test`` (:func:`add_settings_arguments`), typed
  from the annotation (YAML for lists and mappings) and validated against the same schema fragment;
- the options a workflow rule passes to its command (:func:`settings_options`), read from the resolved
  configuration at each option's key;
- the provenance of every value (:meth:`Settings.sources`), from the configuration layers the workflow records in
  the environment variable :data:`SOURCES_VARIABLE` (never a rule parameter, so moving a value from one config file
  to another with the same value reruns nothing).

A value used by several steps (``datasets.*.resolution`` is the training, test and data resolution) is declared
once with :func:`option` and reused elsewhere with :func:`shared`; declaring the same key twice is an error at
import time. Adding a training option means adding one field to :class:`TrainSettings` and using it in
:func:`dynvision_workflow.runtime.train.train_model`.

This module imports neither torch nor Snakemake.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from .config import plain

__all__ = [
    "PRECISIONS",
    "SOURCES_VARIABLE",
    "BetonSettings",
    "DataSettings",
    "GroupSettings",
    "IdentityArgument",
    "InitSettings",
    "OptionSpec",
    "Settings",
    "SettingsError",
    "StabilitySettings",
    "TestSettings",
    "TrainSettings",
    "add_settings_arguments",
    "apply_identity",
    "declared_default",
    "identity_arguments",
    "identity_problems",
    "option",
    "read_sources",
    "schema_properties",
    "settings_options",
    "shared",
    "split_identity",
]

#: Environment variable through which the workflow hands its jobs the source of every configured value (a JSON
#: object: dotted key -> layer label). Jobs inherit it; it is not part of any rule's parameters.
SOURCES_VARIABLE = "DYNVISION_CONFIG_SOURCES"
#: Source label of an option given on the command line by hand, and of one left at its default.
COMMAND_LINE, DEFAULT = "command line", "default"

S = TypeVar("S", bound="Settings")


class SettingsError(ValueError):
    """A runtime option has a value that is not allowed (the message names the option, its config key, the value
    and what is allowed); the command line prints it without a traceback."""


@dataclasses.dataclass(frozen=True)
class IdentityArgument:
    """A training or data option that a model's identity may set, so that it can vary between models of one run
    (and be swept by a category): ``DyRCNNx2:activityloss=0.02_0001`` trains with ``train.activity_weight: 0.02``.

    Attributes:
        part: where in the option's value the argument goes (``"args.rt"`` in the training paradigm's mapping), or
            ``""`` for the whole value.
        kind: the value's type (a path value is parsed as a number where it looks like one: ``pattern=1011`` must
            stay the string ``"1011"``), or ``None`` to keep the parsed value.
        help: what the argument means, in the option's words.
    """

    part: str = ""
    kind: type | None = None
    help: str = ""


@dataclasses.dataclass(frozen=True)
class OptionSpec:
    """What :func:`option` records about a field besides its default.

    Attributes:
        key: dotted key of the workflow configuration the value is read from (``*`` stands for the name of the
            dataset in use), or ``None`` for an option that only the command line sets.
        help: one-line description (the schema's ``description`` and the ``--help`` text).
        choices: the allowed values, or ``None``.
        constraints: further JSON-schema keywords (``minimum``, ``exclusiveMinimum``, ``items``...).
        short: a short command-line alias such as ``-e``, or ``None``.
        parse: turns command-line text into the value (default: by the annotation; YAML for lists and mappings).
        shared: the field reuses the declaration of ``key`` made by another settings class (:func:`shared`).
    """

    key: str | None
    help: str
    choices: tuple[Any, ...] | None = None
    constraints: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    short: str | None = None
    parse: Callable[[str], Any] | None = None
    shared: bool = False
    identity: Mapping[str, IdentityArgument] = dataclasses.field(default_factory=dict)


#: Lightning's precision names, for training and testing: float32, or autocast in bfloat16 / float16 (on a CPU
#: Lightning runs ``16-mixed`` as bfloat16) with float32 parameters (``runtime.train.dtype_policy``).
PRECISIONS = ("32", "bf16-mixed", "16-mixed")

#: Declarations by config key (filled as the settings classes below are defined).
_DECLARED: dict[str, tuple[Any, OptionSpec]] = {}


def option(
    key: str | None,
    default: Any,
    help: str,
    *,
    choices: Iterable[Any] | None = None,
    short: str | None = None,
    parse: Callable[[str], Any] | None = None,
    identity: Mapping[str, IdentityArgument] | None = None,
    **constraints: Any,
) -> Any:
    """Declare a settings field: its default, description, config key, allowed values and constraints.

    A mutable default (a list or mapping) is copied for every instance. ``identity`` names the model-identity
    arguments that set this option (or a part of it) for one model (:class:`IdentityArgument`). Raises
    ``ValueError`` when ``key`` is declared already (use :func:`shared` for a second field reading the same value).
    """
    spec = OptionSpec(
        key, help, tuple(choices) if choices is not None else None, constraints, short, parse, False, identity or {}
    )
    if key is not None:
        if key in _DECLARED:
            raise ValueError(f"option {key!r} is declared twice; declare it once and reuse it with shared({key!r}).")
        _DECLARED[key] = (default, spec)
    return _field(default, spec)


def shared(key: str, **changes: Any) -> Any:
    """A field that reads the value declared under ``key`` by another settings class (same default, description,
    allowed values); ``changes`` may replace ``help`` or ``parse`` for this command."""
    default, spec = _DECLARED[key]
    return _field(default, dataclasses.replace(spec, shared=True, **changes))


def _field(default: Any, spec: OptionSpec) -> Any:
    metadata = {"option": spec}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: json.loads(json.dumps(default)), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def declared_default(key: str) -> Any:
    """The default of the option declared under config key ``key`` (e.g. ``data.split_seed``)."""
    return _DECLARED[key][0]


def _spec(field: dataclasses.Field[Any]) -> OptionSpec:
    return field.metadata["option"]


# JSON schema of a field ----------------------------------------------------------------------------------------------

_JSON_TYPES: dict[Any, str] = {int: "integer", float: "number", bool: "boolean", str: "string"}


def _type_schema(hint: Any) -> dict[str, Any]:
    """JSON schema of a type annotation: scalars, ``X | None``, unions of scalars, ``list[X]``, ``dict[str, X]``."""
    if hint is Any:
        return {}
    origin = typing.get_origin(hint)
    if isinstance(hint, types.UnionType) or origin is typing.Union:
        members = [_type_schema(member) for member in typing.get_args(hint)]
        if all(set(m) == {"type"} for m in members):
            names: list[str] = []
            for member in members:
                names += member["type"] if isinstance(member["type"], list) else [member["type"]]
            return {"type": names}
        return {"anyOf": members}
    if hint is type(None):
        return {"type": "null"}
    if hint in _JSON_TYPES:
        return {"type": _JSON_TYPES[hint]}
    if origin in (list, tuple, typing.Sequence):
        (item,) = typing.get_args(hint)[:1] or (Any,)
        return {"type": "array", "items": _type_schema(item)}
    if origin in (dict, typing.Mapping):
        _, value = typing.get_args(hint) or (str, Any)
        return {"type": "object", "additionalProperties": _type_schema(value)}
    raise TypeError(f"no JSON schema for the annotation {hint!r}; declare the option with a simpler type.")


def _field_schema(field: dataclasses.Field[Any], hint: Any) -> dict[str, Any]:
    spec = _spec(field)
    fragment = _type_schema(hint)
    if spec.choices is not None:
        fragment = {"enum": list(spec.choices)}
    fragment.update(spec.constraints)
    fragment["default"] = _default_of(field)
    fragment["description"] = spec.help
    return fragment


def _default_of(field: dataclasses.Field[Any]) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def schema_properties() -> dict[str, dict[str, Any]]:
    """The JSON schema fragment of every option declared with a config key, by key (e.g. ``train.epochs``)."""
    properties: dict[str, dict[str, Any]] = {}
    for cls in SETTINGS_CLASSES:
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            spec = _spec(field)
            if spec.key is not None and not spec.shared:
                properties[spec.key] = _field_schema(field, hints[field.name])
    return properties


# Settings ------------------------------------------------------------------------------------------------------------




class Settings:
    """Base of the settings dataclasses: values checked against their declarations, built from parsed arguments,
    with the source of every value."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            parse = _spec(field).parse
            if parse is not None and isinstance(value, str):
                # The command line's spelling works in Python too (e.g. paradigm="duration:stimulus=5").
                try:
                    value = parse(value)
                except argparse.ArgumentTypeError as error:
                    raise SettingsError(f"--{field.name.replace('_', '-')}: {error}") from None
                setattr(self, field.name, value)
            problem = _problem(_field_schema(field, hints[field.name]), value)
            if problem is not None:
                spec = _spec(field)
                where = f" (config key {spec.key})" if spec.key else ""
                allowed = f"; allowed: {', '.join(map(repr, spec.choices))}" if spec.choices else ""
                raise SettingsError(
                    f"--{field.name.replace('_', '-')}{where}: {value!r} is not allowed: {problem}{allowed}. "
                    f"{spec.help}"
                )

    @classmethod
    def from_namespace(cls: type[S], namespace: argparse.Namespace) -> S:
        """The settings of parsed command-line arguments (one attribute per field)."""
        return cls(**{f.name: getattr(namespace, f.name) for f in dataclasses.fields(cls)})  # type: ignore[arg-type]

    def sources(
        self,
        given: Iterable[str],
        *,
        data_name: str | None = None,
        configured: Mapping[str, str] | None = None,
        identity: Mapping[str, Any] | None = None,
    ) -> dict[str, str]:
        """Where each value came from: for an option given on the command line, the training argument of the
        model's identity that set it (``identity``, e.g. ``{"activityloss": 0.02}``), else the configuration layer
        that set its key when the workflow passed it (``configured``, default: :func:`read_sources`), else
        ``command line``; for one not given, ``default``."""
        from .config import source_of

        given = set(given)
        configured = read_sources() if configured is None else configured
        known = identity_arguments()
        from_identity = {known[name][0]: f"model identity ({name}={value})" for name, value in (identity or {}).items()
                         if name in known}
        result = {}
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            key = _spec(field).key
            if field.name in given and key in from_identity:
                result[field.name] = from_identity[key]
            elif field.name not in given:
                result[field.name] = DEFAULT
            elif configured and key is not None and ("*" not in key or data_name):
                result[field.name] = source_of(configured, key.replace("*", data_name or "*"))
            else:
                result[field.name] = COMMAND_LINE
        return result


def read_sources(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The configuration sources the workflow handed its job (:data:`SOURCES_VARIABLE`); empty outside it."""
    text = (os.environ if environ is None else environ).get(SOURCES_VARIABLE)
    if not text:
        return {}
    try:
        sources = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return {str(k): str(v) for k, v in sources.items()} if isinstance(sources, dict) else {}


# Command line --------------------------------------------------------------------------------------------------------


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not a boolean; use true or false.")


def _parse_yaml(text: str) -> Any:
    from .config import parse_yaml_value

    try:
        return parse_yaml_value(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _converter(hint: Any) -> Callable[[str], Any]:
    """Command-line text -> value for an annotation (checked afterwards against the option's schema)."""
    origin = typing.get_origin(hint)
    if isinstance(hint, types.UnionType) or origin is typing.Union:
        members = [m for m in typing.get_args(hint) if m is not type(None)]
        if len(members) == 1 and len(typing.get_args(hint)) == 2:
            inner = _converter(members[0])

            def optional(text: str) -> Any:
                return None if text.lower() in ("none", "null", "") else inner(text)

            optional.__name__ = getattr(inner, "__name__", "value")
            return optional
        return _parse_yaml
    if hint is bool:
        return _parse_bool
    if hint in (int, float, str):
        return hint
    return _parse_yaml


def _problem(fragment: Mapping[str, Any], value: Any) -> str | None:
    """The first way ``value`` breaks its option's schema ``fragment``, or None."""
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(fragment).iter_errors(plain(value)), key=lambda e: list(e.path))
    return errors[0].message if errors else None


def _checked(convert: Callable[[str], Any], fragment: Mapping[str, Any]) -> Callable[[str], Any]:
    """``convert`` followed by the check of the option's schema (argparse then names the option and the value)."""

    def parse(text: str) -> Any:
        value = convert(text)
        problem = _problem(fragment, value)
        if problem is not None and "enum" not in fragment:  # argparse lists the choices itself
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed: {problem}")
        return value

    parse.__name__ = getattr(convert, "__name__", "value")
    return parse


def add_settings_arguments(parser: argparse.ArgumentParser, cls: type[Settings]) -> None:
    """Add one ``--option`` per field of ``cls`` (plus its short alias), typed from its annotation, with its
    description, allowed values and default as help."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        spec = _spec(field)
        flags = ["--" + field.name.replace("_", "-")] + ([spec.short] if spec.short else [])
        default = _default_of(field)
        where = f"; config: {spec.key}" if spec.key else ""
        parser.add_argument(
            *flags,
            dest=field.name,
            type=_checked(spec.parse or _converter(hints[field.name]), _field_schema(field, hints[field.name])),
            default=default,
            choices=spec.choices,
            help=f"{spec.help} (default: {default!r}{where})",
        )


def _format(value: Any) -> str:
    """A value as command-line text that :func:`add_settings_arguments` parses back to the same value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    return json.dumps(plain(value), separators=(",", ":"), sort_keys=True)


def lookup(config: Mapping[str, Any], key: str, data_name: str | None = None) -> Any:
    """The value at dotted ``key`` of a resolved configuration (``*`` = ``data_name``)."""
    value: Any = config
    for part in key.split("."):
        value = value[data_name if part == "*" else part]
    return value


def settings_options(
    cls: type[Settings], config: Mapping[str, Any], *, data_name: str | None = None, **values: Any
) -> str:
    """The shell-quoted options a rule passes to the command of ``cls``: every field with a config key, read from
    the resolved ``config`` (``*`` in a key = ``data_name``), and the fields given in ``values`` (which win).
    ``None`` values are left out (the command's default is ``None`` then too)."""
    words: list[str] = []
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = _spec(field).key
        if field.name in values:
            value = values[field.name]
        elif key is not None:
            value = lookup(config, key, data_name)
        else:
            continue
        if value is not None:
            words += ["--" + field.name.replace("_", "-"), _format(value)]
    return shlex.join(words)


# The settings of the runtime steps -------------------------------------------------------------------------------


def _train_paradigm(text: str) -> dict[str, Any]:
    """``--paradigm``: a mapping ``{name: ..., args: {...}}`` (YAML/JSON) or ``name:key=value+...``."""
    if text.lstrip().startswith("{"):
        return _parse_yaml(text)
    from .naming import ArgsError, parse_args

    name, _, args = text.partition(":")
    try:
        return {"name": name, "args": parse_args(":" + args if args else "")}
    except ArgsError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


_PARADIGM_CONSTRAINTS = {
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "description": "Registered paradigm name (see `dynvision paradigms`)."},
        "args": {"type": "object", "description": "The paradigm's parameters (time steps)."},
    },
}


@dataclasses.dataclass
class TrainSettings(Settings):
    """How a model is trained: the ``train:`` and ``data:`` sections and the settings of the dataset in use."""

    backend: str = option(
        "data.backend",
        "auto",
        "Training loader: FFCV .beton files, the plain torch loader, or FFCV when installed and its files given.",
        choices=("auto", "ffcv", "torch"),
        identity={"dloader": IdentityArgument(kind=str, help="the training loader (upstream's data_loader)")},
    )
    epochs: int = option(
        "train.epochs",
        3,
        "Training epochs.",
        minimum=1,
        identity={"epochs": IdentityArgument(kind=int, help="the training epochs")},
    )
    batch_size: int = option("train.batch_size", 64, "Training images per batch.", minimum=1)
    optimizer: str = option("train.optimizer", "adamw", "Optimizer.", choices=("adam", "adamw", "sgd"))
    lr: float = option("train.lr", 0.002, "Learning rate.", exclusiveMinimum=0)
    weight_decay: float = option("train.weight_decay", 0.0, "Weight decay.", minimum=0)
    scheduler: str = option(
        "train.scheduler", "cosine", "Learning-rate schedule over the epochs.", choices=("cosine", "none")
    )
    gradient_clip: float = option("train.gradient_clip", 1.0, "Gradient norm clip (0: off).", minimum=0)
    accumulate_grad_batches: int = option(
        "train.accumulate_grad_batches", 1, "Batches whose gradients are summed before each optimizer step.", minimum=1
    )
    precision: str = option(
        "train.precision",
        "32",
        "Lightning precision: 32 (float32), bf16-mixed or 16-mixed (autocast; parameters stay float32).",
        choices=PRECISIONS,
    )
    accelerator: str = option(
        "train.accelerator",
        "auto",
        "Lightning accelerator; with gpu/cuda and an integer `devices`, train jobs request that many GPUs.",
        choices=("auto", "cpu", "gpu", "cuda", "mps"),
    )
    devices: int | str = option(
        "train.devices", 1, "Lightning devices: a count, `auto`, or indices such as `0,1` (several: strategy ddp)."
    )
    strategy: str = option(
        "train.strategy", "auto", "Lightning strategy: `auto`, `ddp` (one process per device), `ddp_spawn`..."
    )
    logger: str = option(
        "train.logger",
        "auto",
        "Training logs: CSV always; `auto` adds TensorBoard when installed; `wandb` needs wandb installed.",
        choices=("auto", "csv", "tensorboard", "wandb"),
    )
    activity_weight: float = option(
        "train.activity_weight",
        0.0,
        "Weight of the activity penalty on every area's rates (0: off).",
        minimum=0,
        identity={"activityloss": IdentityArgument(kind=float, help="the activity (energy) loss weight")},
    )
    activity_mode: str = option(
        "train.activity_mode",
        "metabolic",
        "Activity penalty: `metabolic` mean |rate| over units, `balance` |mean rate| over units.",
        choices=("metabolic", "balance"),
    )
    rest_weight: float = option(
        "train.rest_weight",
        0.0,
        "Weight of the return-to-rest penalty on activity after the stimulus (0: off).",
        minimum=0,
    )
    lr_factors: dict[str, float] = option(
        "train.lr_factors",
        {},
        "Learning-rate factors by parameter-name substring, e.g. {recurrence: 0.2, feedback: 0.5}.",
        propertyNames={"pattern": "^[A-Za-z0-9_.]+$"},
        additionalProperties={"type": "number", "exclusiveMinimum": 0},
    )
    limit_images: int | None = option(
        "train.limit_images",
        None,
        "Use only the first N training images (quick runs); null: all.",
        minimum=1,
        identity={"trainimages": IdentityArgument(kind=int, help="the number of training images used")},
    )
    threads: int = option("train.threads", 2, "torch CPU threads per training job.", minimum=1)
    keep_epochs: list[int] = option(
        "train.keep_epochs",
        [],
        "Epochs (0-based, as Lightning counts them and names its checkpoints `epoch=N.ckpt`) whose end-of-epoch "
        "checkpoint is kept, so that `status: epoch=N` can test the model after epoch N. The best checkpoint (by "
        "val/loss) is always kept.",
        items={"type": "integer", "minimum": 0},
        uniqueItems=True,
    )
    paradigm: dict[str, Any] = option(
        "train.paradigm",
        {"name": "duration", "args": {"intro": 2, "stimulus": 10, "outro": 4}},
        "How training images are shown over time: a paradigm name and its parameters in steps.",
        parse=_train_paradigm,
        identity={
            "lossrt": IdentityArgument("args.rt", int, "steps after onset without loss (reaction time)"),
            "pattern": IdentityArgument("args.pattern", str, "presentation pattern of the stimulus steps, e.g. 1011"),
            "dsteps": IdentityArgument("args.stimulus", int, "stimulus steps of the training presentation"),
        },
        **_PARADIGM_CONSTRAINTS,
    )
    data_group: str = option(
        "train.data_group",
        "all",
        "Class group to train on (a key of datasets.<name>.groups, or `all`); the model keeps every class of the "
        "dataset as an output (labels are the full dataset's), and a group is read from its class folders with the "
        "torch loader (FFCV files hold the whole dataset). Usually set per model: traingroup=38 in model_args.",
        pattern="^[a-z0-9]+$",
        identity={"traingroup": IdentityArgument(kind=str, help="the class group trained on")},
    )
    num_workers: int = option("data.num_workers", 0, "Loader worker processes.", minimum=0)
    split_seed: int = option("data.split_seed", 0, "Seed of the train/test and train/val splits.", minimum=0)
    val_fraction: float = option(
        "data.val_fraction", 0.1, "Share of the training images held out for validation.", exclusiveMinimum=0,
        exclusiveMaximum=1,
    )
    flip: bool = option("datasets.*.flip", False, "Random horizontal flips during training.")
    translate: int = option("datasets.*.translate", 0, "Largest random shift during training, in pixels.", minimum=0)
    crop_scale: list[float] | None = option(
        "datasets.*.crop_scale",
        None,
        "Random resized crop during training: [low, high] range of the crop box's share of the image area (e.g. "
        "[0.35, 1.0]); the box is scaled back to the image size. null: no crop.",
        items={"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        minItems=2,
        maxItems=2,
    )
    image_resolution: int | None = option(
        "datasets.*.resolution",
        None,
        "Resize every image so that its shorter side is N pixels and crop the centre N x N square, for training "
        "(statistics, .beton files, loaders), model input shape and testing alike; needed for trees of photos in "
        "many sizes. null: images as stored (they must all have one size; a step then uses the resolution the "
        "model state was initialised with).",
        minimum=2,
    )


@dataclasses.dataclass
class TestSettings(Settings):
    """How a model is tested: the ``test:`` section, the experiment's paradigm and model overrides, and the
    resolution of the dataset in use."""

    __test__ = False  # not a pytest test class

    paradigm: str = option(
        None,
        "duration:intro=2+outro=8+stimulus=10",
        "How test images are shown: name:key=value+... (steps); the workflow passes the experiment's test spec.",
    )
    model_overrides: dict[str, Any] = option(
        None,
        {},
        "Model keyword arguments changed for this test only (aliases such as ffonly, idle accepted), e.g. "
        "{ffonly: true} to test without recurrence; the weights are unchanged.",
    )
    batch_size: int = option(
        "test.batch_size",
        32,
        "Test images per batch. Memory grows with it (the model's readout features of every step of a batch, and "
        "at unit resolution every unit's rate: the demo's test peaks at 0.38 GB with 32, 0.78 GB with 256, equally "
        "fast on a CPU).",
        minimum=1,
    )
    limit_images: int | None = option(
        "test.limit_images", None, "Test only the first N images (logged when used); null: the whole test set.",
        minimum=1,
    )
    response_resolution: str = option(
        "test.response_resolution",
        "layer",
        "`layer`: mean and std of each area's activity per sample and step (small); `unit`: every unit's rate at "
        "every step (float16, large: samples x steps x channels x height x width per area).",
        choices=("layer", "unit"),
    )
    threads: int = option("test.threads", 2, "torch CPU threads per test job.", minimum=1)
    reaction_threshold: float = option(
        "test.reaction_threshold",
        0.8,
        "Confidence (softmax probability of the guess) at which the model answers: the outputs table's "
        "reaction_time_ms is the time from the stimulus onset to the first step that reaches it (other thresholds: "
        "dynvision-analysis reaction-times).",
        exclusiveMinimum=0,
        maximum=1,
    )
    precision: str = option(
        "test.precision",
        "32",
        "32 (float32) or bf16-mixed / 16-mixed: convolutions and matmuls under bfloat16 autocast (on a CPU both mixed "
        "precisions run bfloat16, as in training); parameters stay float32 and responses are recorded as float32.",
        choices=PRECISIONS,
    )
    image_resolution: int | None = shared("datasets.*.resolution")


def _splits(text: str) -> dict[str, str] | None:
    """``--splits``: a mapping (YAML/JSON) or ``train=train,test=val``."""
    if text.lstrip().startswith("{"):
        return _parse_yaml(text)
    from .runtime.data import parse_splits

    try:
        return parse_splits(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


@dataclasses.dataclass
class DataSettings(Settings):
    """How a dataset is made ready as class folders: its ``datasets.<name>`` settings and the ``data:`` split."""

    seed: int = shared("data.split_seed")
    test_fraction: float = option(
        "data.test_fraction",
        0.2,
        "Share of a dataset without an official test split that is held out for testing.",
        exclusiveMinimum=0,
        exclusiveMaximum=1,
    )
    source: str = option(
        "datasets.*.source",
        "builtin",
        "Where the images come from. `builtin`: a dataset that ships with dynvision-data (digits, mnist5k, "
        "gratings; no network). `download`: the official archives of mnist, fashionmnist, cifar10, cifar100 or "
        "cifar100-coarse, checksum-verified (`mirror` or the DYNVISION_DATA_MIRROR variable name local copies). "
        "`folder`: an existing tree of class folders at `path` (ImageNet, Imagenette, TinyImageNet layouts), "
        "linked in place (nothing is copied).",
        choices=("builtin", "download", "folder"),
    )
    mirror: str | None = option(
        "datasets.*.mirror",
        None,
        "source `download` only: a local directory or a base URL (file://, https://) holding the official archive "
        "files, tried before DYNVISION_DATA_MIRROR and the public mirrors; `~` and $VARIABLES in a directory are "
        "expanded. null: DYNVISION_DATA_MIRROR, then the public mirrors.",
        minLength=1,
    )
    path: str | None = option(
        "datasets.*.path",
        None,
        "source `folder` only (required there): the dataset directory holding the split folders (e.g. train/ and "
        "val/ with one folder per class); `~` and environment variables ($NAME or ${NAME}) are expanded, a "
        "relative path is relative to the working directory.",
        minLength=1,
    )
    splits: dict[str, str] | None = option(
        "datasets.*.splits",
        None,
        "source `folder` only: our split name -> its folder under `path`, e.g. {train: train, test: val}. null: "
        "train -> train, test -> val (ImageNet, Imagenette and TinyImageNet call their test set val).",
        parse=_splits,
        required=["train", "test"],
        properties={"train": {"type": "string", "minLength": 1}, "test": {"type": "string", "minLength": 1}},
        additionalProperties=False,
    )
    class_index: str | None = option(
        "datasets.*.class_index",
        None,
        "source `folder` only: a class index file giving readable class names (ImageNet's "
        "imagenet_class_index.json, a JSON object {id: name}, or TinyImageNet's words.txt); `~` and $VARIABLES "
        "are expanded. null: words.txt in `path` if present.",
        minLength=1,
    )
    resolution: int | None = shared("datasets.*.resolution")


@dataclasses.dataclass
class BetonSettings(Settings):
    """How a dataset's FFCV files are written: the train/val split and the image resolution."""

    seed: int = shared("data.split_seed")
    val_fraction: float = shared("data.val_fraction")
    resolution: int | None = shared("datasets.*.resolution")


@dataclasses.dataclass
class InitSettings(Settings):
    """How a model's initial weights are made: drawn from its seed, or read from a pretrained weights file."""

    pretrained: str | None = option(
        "init.pretrained",
        None,
        "Start from these weights instead of random ones: a DynVision state file (same model and arguments) or an "
        "official checkpoint of CORnet-RT, CordsNet or AlexNet; a local path (`~` and $VARIABLES expanded, "
        "relative to the working directory) or an http(s):// or file:// URL (downloaded once into "
        "models/.pretrained/), or the name of an entry of init.weights. null or `none`: random weights from the "
        "seed. Usually set per model: pretrained=<name of init.weights> in model_args.",
        minLength=1,
        identity={"pretrained": IdentityArgument(kind=str, help="named pretrained weights (init.weights) or none")},
    )
    pretrained_sha256: str | None = option(
        "init.pretrained_sha256",
        None,
        "SHA-256 (hex) of the pretrained weights file; required for a URL (the download is checked against it), "
        "checked for a local file when given.",
        pattern="^[0-9a-fA-F]{64}$",
    )
    weights: dict[str, dict[str, Any]] = option(
        "init.weights",
        {"same": {"location": "models/{model_name}/{model_name}{model_args}_{seed}/{data_name}/trained.pt"}},
        "Named pretrained weights that init.pretrained (or pretrained=<name> in a model's identity) can start "
        "from: name -> {location, sha256}. A location may hold {model_name}, {model_args} (the model's identity "
        "without `pretrained`), {seed} and {data_name}; one inside the working directory is made by the workflow "
        "first. `same`: the same model trained from random weights (so pretrained=same trains it twice as long).",
        propertyNames={"pattern": "^[a-z0-9]+$"},
        additionalProperties={
            "type": "object",
            "additionalProperties": False,
            "required": ["location"],
            "properties": {
                "location": {"type": "string", "minLength": 1},
                "sha256": {"type": ["string", "null"], "pattern": "^[0-9a-fA-F]{64}$"},
            },
        },
    )


def _group_classes(text: str) -> dict[str, list[str]]:
    """``--groups``: a mapping of group names to class names (YAML/JSON); names are strings ("38", "3")."""
    value = _parse_yaml(text)
    if isinstance(value, dict):
        return {str(k): [str(c) for c in v] if isinstance(v, list) else v for k, v in value.items()}
    return value


@dataclasses.dataclass
class GroupSettings(Settings):
    """Class groups of a dataset: named subsets of its classes that tests (and training) can be limited to."""

    groups: dict[str, list[str]] = option(
        "datasets.*.groups",
        {},
        "Class groups: a name (letters and digits, e.g. '38') -> the class folder names it selects, e.g. {'38': ['3', "
        "'8'], vehicles: [airplane, automobile, ship, truck]}. `data_group: <name>` tests on those classes only "
        "(labels keep their full-dataset indices); `all` (every class) needs no entry.",
        parse=_group_classes,
        propertyNames={"pattern": "^[a-z0-9]+$"},
        additionalProperties={"type": "array", "items": {"type": ["string", "integer"]}, "minItems": 1},
    )


@dataclasses.dataclass
class StabilitySettings(Settings):
    """How a model state's stability is analysed: the ``stability:`` section (the leading eigenvalues of the
    linearised recurrent step, :func:`dynvision_models.engine.recurrent_spectrum`)."""

    images: int = option(
        "stability.images",
        2,
        "Test images whose state is analysed besides a blank one (a seeded subset in stored order, as "
        "test.limit_images picks): one spectrum per image. 0: the blank image only.",
        minimum=0,
    )
    k: int = option("stability.k", 6, "Leading eigenvalues per area and image (largest modulus first).", minimum=1)
    steps: int | None = option(
        "stability.steps",
        None,
        "Steps the image is shown before the step is linearised; null: the model's n_timesteps.",
        minimum=1,
    )
    tol: float | None = option(
        "stability.tol",
        None,
        "Convergence tolerance of an eigenvalue's residual, relative to the unit circle; null: 1e-5 for a float32 "
        "model. Eigenvalues that do not meet it are kept, marked converged=False.",
        exclusiveMinimum=0,
        exclusiveMaximum=1,
    )
    threads: int = shared("test.threads", help="torch CPU threads of the job.")
    image_resolution: int | None = shared("datasets.*.resolution")


#: Every settings class whose options the configuration schema holds.
SETTINGS_CLASSES: tuple[type[Settings], ...] = (
    TrainSettings,
    TestSettings,
    DataSettings,
    BetonSettings,
    InitSettings,
    GroupSettings,
    StabilitySettings,
)


# Training arguments in a model's identity --------------------------------------------------------------------------


def identity_arguments() -> dict[str, tuple[str, IdentityArgument]]:
    """Every argument a model identity may carry besides the model's keyword arguments: name -> (config key of the
    option it sets, how)."""
    found: dict[str, tuple[str, IdentityArgument]] = {}
    for cls in SETTINGS_CLASSES:
        for field in dataclasses.fields(cls):
            spec = _spec(field)
            if spec.key is not None and not spec.shared:
                found.update({name: (spec.key, argument) for name, argument in spec.identity.items()})
    return found


def split_identity(args: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A model identity's arguments as (the model's keyword arguments, the training arguments)."""
    known = identity_arguments()
    model = {k: v for k, v in args.items() if k not in known}
    return model, {k: v for k, v in args.items() if k in known}


def identity_value(name: str, value: Any) -> Any:
    """A training argument's value as its option takes it (``pattern=1011`` parsed from a path is ``"1011"``)."""
    kind = identity_arguments()[name][1].kind
    if kind is None or isinstance(value, kind) or value is None:
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return kind(value) if kind is str else value


def apply_identity(config: Mapping[str, Any], args: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with the training arguments of a model identity applied (a copy; ``config`` is unchanged)."""
    import copy

    known = identity_arguments()
    result = dict(config)
    for name, value in args.items():
        if name not in known:
            continue
        key, argument = known[name]
        section, *rest = key.split(".")
        result[section] = node = copy.deepcopy(result[section])
        path = rest + [p for p in argument.part.split(".") if p]
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = identity_value(name, value)
    return result


def identity_problems(args: Mapping[str, Any], where: str) -> list[str]:
    """Training arguments whose value their option refuses (``where``: the key path they came from); values inside
    the training paradigm are checked by building the paradigm (:func:`dynvision_workflow.config.resolve_config`)."""
    known = identity_arguments()
    problems = []
    for name, value in args.items():
        key, argument = known[name]
        if argument.part:
            continue
        field, hint = next(
            (f, typing.get_type_hints(cls)[f.name])
            for cls in SETTINGS_CLASSES
            for f in dataclasses.fields(cls)
            if _spec(f).key == key and not _spec(f).shared
        )
        problem = _problem(_field_schema(field, hint), identity_value(name, value))
        if problem is not None:
            spec = _spec(field)
            allowed = f"; allowed: {', '.join(map(repr, spec.choices))}" if spec.choices else ""
            problems.append(f"{where}.{name}: {value!r} is not allowed ({key}: {problem}){allowed}. {spec.help}")
    return problems
