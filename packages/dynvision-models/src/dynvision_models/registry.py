"""Model registry: models are registered by name and built from their constructor kwargs.

The kwargs given to :func:`create_model` *are* the model's configuration: the created model carries them in
``model.model_kwargs`` (JSON-serialisable) together with ``model.model_name``, so a runtime can persist both
and rebuild exactly the same architecture with ``create_model(model.model_name, **model.model_kwargs)``.

Importing this module imports no torch; the functions that answer about the registered models
(:func:`create_model`, :func:`list_models`, :func:`model_parameters`, :func:`is_model`,
:func:`describe_models`) first import the zoo, which registers the models (and imports torch).
"""

from __future__ import annotations

import copy
import difflib
import fnmatch
import importlib
import inspect
import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from . import checks

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "REQUIRED",
    "create_model",
    "describe_models",
    "is_model",
    "list_models",
    "model_parameters",
    "register_model",
]

_ModelFactory = TypeVar("_ModelFactory", bound=Callable[..., "nn.Module"])

# name -> model class or factory function. Module-level so registration happens on import of the zoo.
_MODEL_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
_ZOO_IMPORTED = False


def _ensure_zoo() -> None:
    """Import the zoo (once), so that its models are registered before the registry answers."""
    global _ZOO_IMPORTED
    if not _ZOO_IMPORTED:
        importlib.import_module(f"{__package__}.zoo")
        _ZOO_IMPORTED = True

#: Default value reported by :func:`model_parameters` for a constructor argument without a default.
REQUIRED: Any = inspect.Parameter.empty


def register_model(name: str | None = None) -> Callable[[_ModelFactory], _ModelFactory]:
    """Class/function decorator that registers a model constructor under ``name`` (default: its ``__name__``).

    Raises:
        ValueError: if a model with that name is already registered (names must be unique so that a saved
            ``model_name`` always rebuilds the same architecture).
    """

    def decorator(factory: _ModelFactory) -> _ModelFactory:
        key = name if name is not None else factory.__name__
        if not isinstance(key, str) or not key:
            raise ValueError(f"A model name must be a non-empty string, got {key!r}.")
        if key in _MODEL_REGISTRY:
            existing = _MODEL_REGISTRY[key]
            raise ValueError(
                f"A model named {key!r} is already registered ({existing.__module__}.{existing.__qualname__}); "
                f"cannot register {factory.__module__}.{factory.__qualname__} under the same name. "
                "Pass a different name to @register_model(name=...)."
            )
        _MODEL_REGISTRY[key] = factory
        return factory

    return decorator


def list_models(pattern: str | None = None) -> list[str]:
    """Sorted names of the registered models, optionally filtered by an ``fnmatch`` pattern (e.g. ``"DyRCNN*"``)."""
    _ensure_zoo()
    names = sorted(_MODEL_REGISTRY)
    if pattern is None:
        return names
    return [n for n in names if fnmatch.fnmatchcase(n, pattern)]


def is_model(name: str) -> bool:
    """Whether ``name`` is a registered model."""
    _ensure_zoo()
    return name in _MODEL_REGISTRY


def _get_factory(name: str) -> Callable[..., nn.Module]:
    _ensure_zoo()
    try:
        return _MODEL_REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_MODEL_REGISTRY), n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"Unknown model name {name!r}.{hint} Registered models: {', '.join(list_models()) or '(none)'}."
        ) from None


def _signature_parameters(factory: Callable[..., nn.Module]) -> tuple[dict[str, Any], bool]:
    """Named constructor parameters with defaults, and whether the constructor takes ``**kwargs``."""
    signature = inspect.signature(factory)
    params: dict[str, Any] = {}
    takes_var_kwargs = False
    for p in signature.parameters.values():
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            takes_var_kwargs = True
        elif p.kind is not inspect.Parameter.VAR_POSITIONAL:
            params[p.name] = p.default
    return params, takes_var_kwargs


def model_parameters(name: str) -> dict[str, Any]:
    """Constructor parameters of model ``name`` mapped to their defaults (:data:`REQUIRED` if there is none).

    This is what ``create_model(name, **kwargs)`` accepts, e.g. for listing in a command-line interface
    (besides the short aliases of :data:`dynvision_models.checks.MODEL_ARG_ALIASES`).
    """
    params, _ = _signature_parameters(_get_factory(name))
    return params


def _to_jsonable(value: Any) -> Any:
    """Tuples become lists (JSON has no tuples); everything else must already be JSON-serialisable."""
    if isinstance(value, tuple | list):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_jsonable(v) for k, v in value.items()}
    return copy.deepcopy(value)


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the registered model ``name`` with constructor ``kwargs`` (its configuration).

    Short aliases (:data:`dynvision_models.checks.MODEL_ARG_ALIASES`, e.g. ``rctype`` for
    ``recurrence_type``) are expanded first. The returned model carries ``model.model_name`` (``name``) and
    ``model.model_kwargs`` (a JSON-serialisable copy of exactly the kwargs given, under their long names, tuples
    as lists), so ``create_model(model.model_name, **model.model_kwargs)`` rebuilds the same architecture.

    Raises:
        ValueError: unknown ``name`` (the message suggests close matches and lists the registered models), an
            alias given together with its long name, or a kwarg value the constructor rejects.
        TypeError: a kwarg the constructor does not accept (the message lists the accepted kwargs), or a kwarg
            value that is not JSON-serialisable (it could not be persisted).
    """
    factory = _get_factory(name)
    kwargs = checks.expand_aliases(kwargs)
    allowed, takes_var_kwargs = _signature_parameters(factory)
    if not takes_var_kwargs:
        unknown = [k for k in kwargs if k not in allowed]
        if unknown:
            reasons = getattr(factory, "REJECTED_KWARGS", {})
            hints = []
            for key in unknown:
                if key in reasons:
                    hints.append(f"{key!r} ({reasons[key]})")
                    continue
                close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
                hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise TypeError(
                f"Model {name!r} got unexpected keyword argument(s) {', '.join(hints)}. "
                f"Allowed kwargs: {', '.join(allowed)}."
            )
    model_kwargs = _to_jsonable(kwargs)
    try:
        json.dumps(model_kwargs)
    except TypeError as err:
        raise TypeError(
            f"create_model({name!r}, ...) needs JSON-serialisable kwargs so that the model can be saved and "
            f"rebuilt by name ({err}). Pass plain numbers, strings, booleans, lists or dicts."
        ) from None
    model = factory(**kwargs)
    model.model_name = name
    model.model_kwargs = model_kwargs
    return model


def _json_default(value: Any) -> Any:
    """A default as JSON: tuples as lists, non-finite floats as ``None``; anything else must be JSON already."""
    value = _to_jsonable(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def describe_models() -> dict[str, dict[str, Any]]:
    """A JSON-serialisable catalogue of the registered models: all that is needed to check kwargs without torch.

    Each entry (``{name: entry}``, see :func:`dynvision_models.checks.kwarg_problems`) holds

    - ``name``, ``catalogue_version`` (:data:`~dynvision_models.checks.CATALOGUE_VERSION`);
    - ``parameters``: kwarg -> spec: its ``default`` (JSON; :data:`~dynvision_models.checks.REQUIRED_DEFAULT`
      with ``"required": true`` where there is none), its ``kind`` and, for choice kwargs, the allowed
      ``choices`` (recurrence types and solvers from their live registries; ``recurrence_target`` without
      ``"middle"`` for models whose areas have one convolution stage), bounds and a description with units;
    - ``rejected``: kwargs of the engine the model does not take -> why;
    - ``aliases``: the short aliases that stand for one of its kwargs;
    - ``engine`` (models on the temporal engine, else ``None``): ``kwargs`` (the engine's, as taken),
      ``areas``, ``middle_stage`` (per area: has two convolution stages), ``choices`` (of every engine choice
      kwarg), ``solver_max_alpha`` (solver -> the largest ``dt / tau`` it allows; ``None``: no limit) and
      ``gated_recurrence_types`` (the recurrence types that take ``recurrence_target="output"`` only), plus
      model-specific facts such as ``default_channels``;
    - ``time`` (models with their own fixed integration, e.g. CordsNet): ``{"max_alpha": ...}``.

    Imports the zoo (and torch); the result can be stored (e.g. as a manifest) and used by
    :func:`~dynvision_models.checks.kwarg_problems` in a process that never imports torch.
    """
    _ensure_zoo()
    from .engine.temporal import engine_choices, engine_parameters, solver_limits
    from .layers.recurrence import list_gated_recurrence_types

    engine_names = tuple(engine_parameters())
    choices = engine_choices()
    limits = solver_limits()
    catalogue: dict[str, dict[str, Any]] = {}
    for name in list_models():
        factory = _MODEL_REGISTRY[name]
        defaults, _ = _signature_parameters(factory)
        structure = getattr(factory, "ENGINE_STRUCTURE", None)
        own_specs: dict[str, Any] = dict(getattr(factory, "KWARG_SPECS", {}))
        engine: dict[str, Any] | None = None
        if structure is not None:
            middle = [bool(m) for m in structure["middle_stage"]]
            engine = {
                **{k: _json_default(v) for k, v in structure.items()},
                "kwargs": [k for k in engine_names if k in defaults],
                "middle_stage": middle,
                "choices": {k: list(v) for k, v in choices.items()},
                "solver_max_alpha": dict(limits),
                "gated_recurrence_types": list_gated_recurrence_types(),
            }
        parameters: dict[str, Any] = {}
        for key, default in defaults.items():
            if key in own_specs:
                spec = dict(own_specs[key])
            elif key in checks.ENGINE_SPECS and (engine is not None or key in _SHARED_SPECS):
                spec = dict(checks.ENGINE_SPECS[key])
            else:
                spec = checks.spec_from_default(None if default is REQUIRED else default)
            if engine is not None and key in choices and "choices" not in spec:
                allowed = list(choices[key])
                if key == "recurrence_target" and not all(engine["middle_stage"]):
                    allowed = [c for c in allowed if c != "middle"]
                spec.update(kind="choice", choices=allowed)
            if default is REQUIRED:
                spec.update(default=checks.REQUIRED_DEFAULT, required=True)
            else:
                spec["default"] = _json_default(default)
            parameters[key] = spec
        entry = {
            "name": name,
            "catalogue_version": checks.CATALOGUE_VERSION,
            "parameters": parameters,
            "rejected": {
                k: v for k, v in getattr(factory, "REJECTED_KWARGS", {}).items() if k not in parameters
            },
            "aliases": {a: n for a, n in checks.MODEL_ARG_ALIASES.items() if n in parameters},
            "engine": engine,
            "time": getattr(factory, "TIME_LIMITS", None),
        }
        catalogue[name] = json.loads(json.dumps(entry))
    return catalogue


#: Engine kwargs whose spec also applies to models outside the engine that take a kwarg of that name.
_SHARED_SPECS = ("n_classes", "input_shape", "n_timesteps", "idle_timesteps")
