"""The contract every zoo model follows: input checks, kwarg rejection, official checkpoint reading and
key-problem messages.

Shared by the models of :mod:`dynvision_models.zoo` so that they all fail alike:

- constructor checks (:func:`check_positive_int`, :func:`check_input_shape`) and the rejection of kwargs a
  model does not take, with the reason (:func:`reject_kwargs`, :data:`COMMON_KWARG_REASONS` for the common
  temporal kwargs a published model does not have);
- input checks (:func:`check_input_sequence`: ``(B, T, C, H, W)`` or a static ``(B, C, H, W)``, with the
  messages of the temporal engine) and area names (:func:`check_area_names`, :func:`area_index`);
- official checkpoints: :func:`read_state_dict` (file or mapping, unwrapped, without ``"module."``),
  :func:`load_official_state_dict` (translate, check and load all at once) and
  :func:`describe_key_problems` (the phrases of their error messages);
- :func:`conv_output_size`, the spatial size after a convolution or pooling.
"""

from __future__ import annotations

import difflib
import os
import pickle
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .. import checks
from ..engine.temporal import area_index, check_area_names, check_input_sequence

__all__ = [
    "COMMON_KWARG_REASONS",
    "area_index",
    "check_area_names",
    "check_input_sequence",
    "check_input_shape",
    "check_positive_int",
    "conv_output_size",
    "describe_key_problems",
    "load_official_state_dict",
    "load_weights_file",
    "read_state_dict",
    "reject_kwargs",
]

# Common kwargs of the temporal models (engine/temporal.py) with why a published model cannot honour them;
# each model overrides the entries it does support. Listed explicitly so that a config written for DyRCNN
# fails loudly.
_NOT_PUBLISHED = "not part of the published model"
COMMON_KWARG_REASONS: dict[str, str] = {
    "dt": "the published model runs in abstract steps without an integration time step",
    "tau": "the published model has no membrane time constant",
    "train_tau": "the published model has no time constant to learn",
    "t_feedforward": "inter-area delays are fixed by the published update (one step)",
    "t_recurrence": "the recurrent delay is fixed by the published update (one step)",
    "t_skip": "skip delays are fixed by the published update",
    "t_feedback": "the published model has no feedback connections",
    "recurrence_type": "the published recurrence is a fixed full 3x3 convolution",
    "recurrence_target": "the published model fixes where the recurrence enters",
    "integration": "the published recurrence is additive",
    "solver": "the published update is fixed",
    "leak": "the published update is fixed",
    "skip": "the published connectivity is fixed",
    "feedback": "the published model has no feedback connections",
    "skip_mode": "the published connectivity is fixed",
    "feedback_mode": "the published model has no feedback connections",
    "idle_timesteps": "the published model starts from a zero state with the stimulus at step 0",
    "tbptt_steps": _NOT_PUBLISHED,
    "feedforward_only": _NOT_PUBLISHED,
    "supralinearity": "the published rate nonlinearity is a plain ReLU",
    "bias": "the published biases are fixed",
    "use_retina": _NOT_PUBLISHED,
    "adaptation": _NOT_PUBLISHED,
    "readout": "the published readout (global average pool, Linear) is fixed",
    "temporal_readout": "the published decoder reads each step on its own (no readout over time)",
}


def reject_kwargs(
    model_name: str, unsupported: Mapping[str, object], accepted: Iterable[str], reasons: Mapping[str, str]
) -> None:
    """Raise a clear ``TypeError`` for constructor kwargs the model does not take (no-op if there are none).

    Args:
        model_name: class name used in the message.
        unsupported: the kwargs collected by the constructor's ``**kwargs``.
        accepted: the kwargs the constructor does take (listed in the message).
        reasons: known kwarg name -> why this model does not take it (common temporal kwargs).
    """
    if not unsupported:
        return
    accepted = tuple(accepted)
    lines = []
    for key in unsupported:
        if key in reasons:
            lines.append(f"{key!r}: {reasons[key]}")
        else:
            close = difflib.get_close_matches(key, accepted, n=1, cutoff=0.6)
            lines.append(f"{key!r}: unknown" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise TypeError(
        f"{model_name} does not take the keyword argument(s) {', '.join(map(repr, unsupported))} ("
        + "; ".join(lines)
        + f"). Allowed kwargs: {', '.join(accepted)}."
    )


def check_positive_int(name: str, value: object, minimum: int = 1) -> int:
    """``value`` if it is an ``int`` (not a ``bool``) ``>= minimum``; otherwise a ``ValueError`` naming it."""
    spec = {**checks.ENGINE_SPECS.get(name, {}), "kind": "int", "minimum": minimum}
    checks.raise_problems(checks.value_problems(name, value, spec))
    return value  # type: ignore[return-value]


def check_input_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    """``input_shape`` as a ``(C, H, W)`` tuple of positive ints, or a ``ValueError``."""
    checks.raise_problems(checks.value_problems("input_shape", input_shape, checks.ENGINE_SPECS["input_shape"]))
    return tuple(input_shape)  # type: ignore[return-value]


def describe_key_problems(
    missing: Sequence[str], unexpected: Sequence[str], mismatched: Sequence[tuple[str, Any, Any]]
) -> list[str]:
    """One phrase per kind of checkpoint problem: missing keys, unexpected keys, ``(key, checkpoint shape, model
    shape)`` mismatches (by official key name), for the error of an official-checkpoint loader."""
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected)}")
    if mismatched:
        problems.append(
            f"shape mismatches ({len(mismatched)}): "
            + ", ".join(f"{k} (checkpoint {c}, model {m})" for k, c, m in mismatched)
        )
    return problems


def conv_output_size(size: int, kernel_size: int, stride: int, padding: int) -> int:
    """Output length of a convolution or pooling (no dilation, floor mode) along one spatial axis."""
    return (size + 2 * padding - kernel_size) // stride + 1


def load_weights_file(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain containers only, no pickled code runs.

    Raises:
        ValueError: the file cannot be read, naming it and why, without torch's advice to load it with
            ``weights_only=False`` (which would run whatever code the file holds).
    """
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as error:  # torch raises many types for a damaged or foreign file
        text = str(error)
        refused_code = "Weights only load failed" in text and "Unsupported operand" not in text
        if isinstance(error, pickle.UnpicklingError) and refused_code:
            reason = "it holds pickled Python objects besides tensors, which could run code, so it was not loaded"
        else:
            reason = "it is truncated or not a torch file"
    raise ValueError(f"checkpoint file {os.fspath(path)!r} cannot be read: {reason}.")


def read_state_dict(
    source: str | os.PathLike | Mapping[str, Any], map_location: Any = "cpu"
) -> dict[str, Tensor]:
    """A flat ``{key: tensor}`` from a checkpoint file or mapping, unwrapped, without ``"module."`` prefixes.

    Accepts ``{"state_dict": {...}, ...}`` (training checkpoints such as CORnet's, which also hold the epoch
    and optimiser) and keys prefixed with ``"module."`` by ``nn.DataParallel`` / ``DistributedDataParallel``.
    Files are read with ``torch.load(weights_only=True)``: tensors and plain containers only, no pickled code.
    """
    if isinstance(source, str | os.PathLike):
        loaded = load_weights_file(source, map_location=map_location)
        where = f"checkpoint file {os.fspath(source)!r}"
    else:
        loaded = source
        where = "the given state dict"
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping):
        raise ValueError(
            f"Expected a state dict (a mapping of names to tensors) in {where}, got {type(loaded)}."
        )
    state: dict[str, Tensor] = {}
    for key, value in loaded.items():
        if not isinstance(value, Tensor):
            raise ValueError(f"Entry {key!r} of {where} is a {type(value).__name__}, not a tensor.")
        name = str(key)
        while name.startswith("module."):
            name = name[len("module.") :]
        state[name] = value
    return state


def load_official_state_dict(
    model: nn.Module,
    state: Mapping[str, Tensor],
    official_to_local: Mapping[str, str],
    *,
    model_label: str,
    classifier_prefix: str = "classifier.",
    strict_classifier: bool = True,
    hints: Sequence[str] = (),
) -> None:
    """Load ``state`` (official key names) into ``model`` through ``official_to_local``, or fail saying why.

    Every key of ``model.state_dict()`` must be a value of ``official_to_local``. All problems are collected
    and reported at once, in the official key names: keys the model needs that the checkpoint lacks,
    checkpoint keys the model does not know, and shape mismatches (checkpoint vs model). Nothing is loaded
    unless all fit.

    Args:
        model: the model to fill.
        state: the checkpoint's state dict (see :func:`read_state_dict`).
        official_to_local: official key -> the model's key, for every parameter and buffer of the model.
        model_label: how to name the official model in messages (e.g. ``"CORnet-RT"``).
        classifier_prefix: prefix of the model's classifier keys.
        strict_classifier: if ``False``, the checkpoint's classifier is not loaded and the model keeps its own
            freshly initialised classifier (e.g. for another ``n_classes``); if ``True`` it must fit.
        hints: extra sentences appended to the error (e.g. which constructor kwargs the checkpoint needs).
    """
    local_keys = set(model.state_dict())
    mapped = set(official_to_local.values())
    if mapped != local_keys:  # a bug in the model's key map, not in the checkpoint
        raise AssertionError(
            f"Key map of {type(model).__name__} is incomplete: {sorted(local_keys ^ mapped)}."
        )

    def is_classifier(official: str) -> bool:
        return official_to_local[official].startswith(classifier_prefix)

    expected = {k for k in official_to_local if strict_classifier or not is_classifier(k)}
    local_state = model.state_dict()
    missing = sorted(k for k in expected if k not in state)
    unexpected = sorted(k for k in state if k not in official_to_local)
    mismatched = sorted(
        (k, tuple(state[k].shape), tuple(local_state[official_to_local[k]].shape))
        for k in expected
        if k in state and state[k].shape != local_state[official_to_local[k]].shape
    )
    if missing or unexpected or mismatched:
        problems = describe_key_problems(missing, unexpected, mismatched)
        advice = list(hints)
        if any(is_classifier(k) for k, _, _ in mismatched) or (
            strict_classifier and any(is_classifier(k) for k in missing)
        ):
            advice.append(
                "The classifier does not fit: pass strict_classifier=False to keep the model's freshly "
                "initialised classifier, or build the model with the checkpoint's n_classes."
            )
        raise ValueError(
            f"The state dict does not match the official {model_label} layout expected by "
            f"{type(model).__name__}: " + "; ".join(problems) + "." + "".join(f" {a}" for a in advice)
        )
    translated = {official_to_local[k]: state[k] for k in expected}
    result = model.load_state_dict(translated, strict=strict_classifier)
    # With strict_classifier=False only the classifier may be left out; anything else is a bug of the key map.
    leftover = [k for k in result.missing_keys if not k.startswith(classifier_prefix)]
    if leftover or result.unexpected_keys:
        raise AssertionError(f"Unexpected load result: {result}.")
