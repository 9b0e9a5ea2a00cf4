"""Model state files (``init.pt``, ``trained.pt``): self-describing, safe to load, written atomically.

A state file is a ``torch.save`` of a plain dict, loaded with ``weights_only=True`` (no pickle code runs)::

    {"format": "dynvision-model-state", "version": 1,
     "model_name": "DyRCNNx2", "model_kwargs": {...},          # rebuilds the model with create_model
     "state_dict": {...},                                       # tensors
     "data": {"mean": [...], "std": [...], "classes": [...], "input_shape": [C, H, W]},
     "meta": {...}}                                             # seed, epochs, versions...

A state is used as the model its path names (``models/{model_name}/{model_name}{model_args}_{seed}/...``), on data
of given classes and image shape: :func:`check_identity` compares that expected :class:`ModelIdentity` with the one
the state records, before any work, and names both when they differ.
"""

from __future__ import annotations

import errno
import os
import pickle
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import plain
from .provenance import atomic_path

__all__ = [
    "ModelIdentity",
    "ModelState",
    "StateError",
    "UnreadableFile",
    "build_model",
    "check_identity",
    "load_state",
    "read_torch_file",
    "rerun_command",
    "save_state",
    "state_from_payload",
    "unreadable_reason",
]

FORMAT = "dynvision-model-state"
VERSION = 1


class StateError(ValueError):
    """A model state file that is missing, corrupt or does not match its model."""


class UnreadableFile(StateError):
    """A file that ``torch.load(weights_only=True)`` cannot read; ``reason`` says why (:func:`unreadable_reason`)."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(f"{str(path)!r} cannot be read: {reason}")
        self.reason = reason


@dataclass
class ModelState:
    """The content of a model state file."""

    model_name: str
    model_kwargs: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    data: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def save_state(path: str | os.PathLike[str], model: nn.Module, *, data: dict[str, Any], meta: dict[str, Any]) -> None:
    """Save a model created by ``dynvision_models.create_model`` with its data description, atomically."""
    for attribute in ("model_name", "model_kwargs"):
        if not hasattr(model, attribute):
            raise StateError(f"the model has no {attribute!r}: create it with dynvision_models.create_model.")
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model_name": model.model_name,
        "model_kwargs": dict(model.model_kwargs),
        "state_dict": {key: value.detach().cpu() for key, value in model.state_dict().items()},
        "data": data,
        "meta": meta,
    }
    with atomic_path(path) as temporary:
        torch.save(payload, temporary)


def unreadable_reason(error: BaseException) -> str:
    """Why ``torch.load(weights_only=True)`` could not read a file, in words a user can act on; never torch's advice
    to load it with ``weights_only=False`` (that would run whatever code a pickle holds)."""
    text = str(error)
    if isinstance(error, OSError) and error.errno in (errno.EACCES, errno.EPERM, errno.EISDIR):
        return f"{error.strerror} (check its permissions)"
    refused_code = "Weights only load failed" in text and "Unsupported operand" not in text
    if isinstance(error, pickle.UnpicklingError) and refused_code:
        return (
            "it holds pickled Python objects besides tensors, which could run code when loaded, so it was not loaded"
        )
    # Truncated zip archives, text, empty files and other pickles fail in many ways (RuntimeError, EOFError,
    # KeyError, IndexError, UnpicklingError...): to a user they are all the same.
    return "it is truncated or not a torch file"


def read_torch_file(path: str | os.PathLike[str]) -> Any:
    """``torch.load`` of ``path`` with ``weights_only=True`` (tensors and plain containers; no pickled code runs).

    Raises:
        UnreadableFile: the file cannot be read; the message names it and says why (:func:`unreadable_reason`),
            and the caller adds what to do.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a damaged or foreign file
        raise UnreadableFile(path, unreadable_reason(error)) from None


def rerun_command(state: str | os.PathLike[str], target: str | os.PathLike[str] | None = None) -> str:
    """The command that makes a state file again: delete it, then run the workflow for ``target`` (default: it)."""
    return f"rm {shlex.quote(str(state))} && dynvision run {shlex.quote(str(target or state))}"


def load_state(path: str | os.PathLike[str], *, target: str | os.PathLike[str] | None = None) -> ModelState:
    """Load a state file; a missing, corrupt or foreign file raises :class:`StateError` naming it and the command
    that makes it again (``target``: the output the user wants, default the state itself)."""
    path = Path(path)
    if not path.is_file():
        raise StateError(
            f"model state {str(path)!r} does not exist; make it (and what needs it): dynvision run "
            f"{shlex.quote(str(target or path))}"
        )
    try:
        payload = read_torch_file(path)
    except StateError as error:
        raise StateError(f"model state {error}; delete it and rerun: {rerun_command(path, target)}") from None
    return state_from_payload(payload, path, target=target)


def state_from_payload(
    payload: Any, path: str | os.PathLike[str], *, target: str | os.PathLike[str] | None = None
) -> ModelState:
    """The :class:`ModelState` of a state file's content already read from ``path`` (:func:`read_torch_file`);
    content that is not a DynVision state of this format version raises :class:`StateError` as
    :func:`load_state` does."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise StateError(
            f"{str(path)!r} is not a DynVision model state (no {FORMAT!r} format marker); delete it and rerun: "
            f"{rerun_command(path, target)}"
        )
    if payload.get("version") != VERSION:
        raise StateError(
            f"{str(path)!r} has state format version {payload.get('version')!r}; this reads {VERSION}; delete it "
            f"and rerun: {rerun_command(path, target)}"
        )
    return ModelState(
        model_name=payload["model_name"],
        model_kwargs=payload["model_kwargs"],
        state_dict=payload["state_dict"],
        data=payload.get("data", {}),
        meta=payload.get("meta", {}),
    )


#: Keyword arguments that the init step takes from the dataset (not from the model's path).
_DATA_KWARGS = ("n_classes", "input_shape")


@dataclass(frozen=True)
class ModelIdentity:
    """What a state file is used as: the model its path names and the data it meets. ``None``: not checked.

    Attributes:
        model_name: the registered model name of the path.
        model_args: the path's argument string (``:channels=4~8+tau=4``; aliases and training arguments allowed).
        seed: the path's seed.
        classes: the class folders of the data the state is used on (they must be among the state's classes: a
            class group is a subset).
        input_shape: ``(C, H, W)`` of that data's images as the model receives them.
        check_size: whether ``H`` and ``W`` must match (``False`` where a resolution other than the state's was
            asked for explicitly: only the channels are compared).
    """

    model_name: str | None = None
    model_args: str | None = None
    seed: str | None = None
    classes: Sequence[str] | None = None
    input_shape: Sequence[int] | None = None
    check_size: bool = True

    def expected_kwargs(self) -> dict[str, Any] | None:
        """The model keyword arguments the path names (aliases expanded, training arguments left out)."""
        if self.model_args is None:
            return None
        from ..naming import ArgsError, expand_aliases, parse_args
        from ..options import split_identity

        try:
            return plain(expand_aliases(split_identity(parse_args(self.model_args))[0]))
        except ArgsError as error:
            raise StateError(f"model arguments {self.model_args!r}: {error}") from None


def _describe(name: str | None, kwargs: Mapping[str, Any] | None, seed: Any, classes: Any, shape: Any) -> str:
    """``DyRCNNx2 {channels: [4, 8], tau: 4} (seed 0001, 10 classes, input 1x28x28)``: what is known of it."""
    text = name or "(any model)"
    if kwargs is not None:
        text += " {" + ", ".join(f"{k}: {v!r}" for k, v in kwargs.items() if k not in _DATA_KWARGS) + "}"
    details = [f"seed {seed}"] if seed is not None else []
    if classes is not None:
        details.append(f"{len(classes)} classes")
    if shape is not None:
        details.append("input " + "x".join(str(int(s)) for s in shape))
    return text + (f" ({', '.join(details)})" if details else "")


def _short(items: Sequence[Any], limit: int = 8) -> str:
    shown = ", ".join(map(str, items[:limit]))
    return f"[{shown}{', ...' if len(items) > limit else ''}]"


def check_identity(
    state: ModelState,
    path: str | os.PathLike[str],
    expected: ModelIdentity,
    *,
    target: str | os.PathLike[str] | None = None,
) -> None:
    """Refuse a state used as another model than it was made for, before any work.

    Compares the model name, the path's model arguments against the state's keyword arguments (aliases expanded;
    ``n_classes`` and ``input_shape`` are the data's), the seed, the classes (the data's classes must be among the
    state's) and the input shape (channels always; height and width unless ``expected.check_size`` is false).

    Raises:
        StateError: naming the file, the identity it was made for, the one it is used as, what differs, and the
            command that makes it again (``target``: the output the user wants, default the state itself).
    """
    differences: list[str] = []
    if expected.model_name is not None and state.model_name != expected.model_name:
        differences.append(f"model {state.model_name} in the state, {expected.model_name} in the path")
    kwargs = plain(state.model_kwargs)
    wanted = expected.expected_kwargs()
    if wanted is not None:
        for key in sorted(set(wanted) | (set(kwargs) - set(_DATA_KWARGS))):
            if key not in wanted:
                differences.append(f"{key}: {kwargs[key]!r} in the state, not in the path")
            elif key not in kwargs:
                differences.append(f"{key}: not in the state, {wanted[key]!r} in the path")
            elif kwargs[key] != wanted[key]:
                differences.append(f"{key}: {kwargs[key]!r} in the state, {wanted[key]!r} in the path")
    recorded_seed = state.meta.get("seed")
    if expected.seed is not None and recorded_seed is not None:
        from ..naming import format_seed

        if format_seed(recorded_seed) != format_seed(expected.seed):
            differences.append(f"seed {recorded_seed} in the state, {expected.seed} in the path")
    classes = list(state.data.get("classes") or [])
    if expected.classes is not None and classes:
        missing = [name for name in expected.classes if name not in classes]
        if missing:
            differences.append(
                f"classes: the data has {len(expected.classes)} classes {_short(list(expected.classes))}, "
                f"{len(missing)} of them ({_short(missing)}) not among the state's {len(classes)} {_short(classes)}"
            )
    shape = state.data.get("input_shape") or kwargs.get("input_shape")
    if expected.input_shape is not None and shape:
        theirs, ours = [int(s) for s in shape], [int(s) for s in expected.input_shape]
        compared = slice(None) if expected.check_size else slice(0, 1)
        if theirs[compared] != ours[compared]:
            differences.append(
                f"input shape {'x'.join(map(str, theirs))} in the state, {'x'.join(map(str, ours))} in the data"
            )
    if not differences:
        return
    made_for = _describe(state.model_name, kwargs, recorded_seed, classes or None, shape)
    used_as = _describe(
        expected.model_name or state.model_name,
        wanted if wanted is not None else None,
        expected.seed,
        expected.classes,
        expected.input_shape,
    )
    raise StateError(
        f"{path} was made for {made_for} but is used as {used_as} ({'; '.join(differences)}); delete it and rerun: "
        f"{rerun_command(path, target)}"
    )


def build_model(state: ModelState) -> nn.Module:
    """Rebuild the model of a state and load its weights; mismatched keys are named in the error."""
    from dynvision_models import create_model

    model = create_model(state.model_name, **state.model_kwargs)
    expected, given = set(model.state_dict()), set(state.state_dict)
    missing, unexpected = sorted(expected - given), sorted(given - expected)
    if missing or unexpected:
        raise StateError(
            f"the state does not match model {state.model_name} {state.model_kwargs}: "
            f"missing keys {missing[:10]}{'...' if len(missing) > 10 else ''}, "
            f"unexpected keys {unexpected[:10]}{'...' if len(unexpected) > 10 else ''}."
        )
    try:
        model.load_state_dict(state.state_dict, strict=True)
    except RuntimeError as error:
        raise StateError(f"the state does not fit model {state.model_name}: {error}") from None
    return model
