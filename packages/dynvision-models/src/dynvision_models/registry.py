"""Model registry: models are registered by name and built from their constructor kwargs.

The kwargs given to :func:`create_model` *are* the model's configuration: the created model carries them in
``model.model_kwargs`` (JSON-serialisable) together with ``model.model_name``, so a runtime can persist both
and rebuild exactly the same architecture with ``create_model(model.model_name, **model.model_kwargs)``.
"""

from __future__ import annotations

import copy
import difflib
import fnmatch
import inspect
import json
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

__all__ = [
    "REQUIRED",
    "create_model",
    "is_model",
    "list_models",
    "model_parameters",
    "register_model",
]

_ModelFactory = TypeVar("_ModelFactory", bound=Callable[..., nn.Module])

# name -> model class or factory function. Module-level so registration happens on import of the zoo.
_MODEL_REGISTRY: dict[str, Callable[..., nn.Module]] = {}

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
    names = sorted(_MODEL_REGISTRY)
    if pattern is None:
        return names
    return [n for n in names if fnmatch.fnmatchcase(n, pattern)]


def is_model(name: str) -> bool:
    """Whether ``name`` is a registered model."""
    return name in _MODEL_REGISTRY


def _get_factory(name: str) -> Callable[..., nn.Module]:
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

    This is what ``create_model(name, **kwargs)`` accepts, e.g. for listing in a command-line interface.
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

    The returned model carries ``model.model_name`` (``name``) and ``model.model_kwargs`` (a JSON-serialisable
    copy of exactly the kwargs given, tuples as lists), so ``create_model(model.model_name, **model.model_kwargs)``
    rebuilds the same architecture.

    Raises:
        ValueError: unknown ``name`` (the message suggests close matches and lists the registered models).
        TypeError: a kwarg the constructor does not accept (the message lists the accepted kwargs), or a kwarg
            value that is not JSON-serialisable (it could not be persisted).
    """
    factory = _get_factory(name)
    allowed, takes_var_kwargs = _signature_parameters(factory)
    if not takes_var_kwargs:
        unknown = [k for k in kwargs if k not in allowed]
        if unknown:
            hints = []
            for key in unknown:
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
