"""Torch-free checks of model kwargs: the one declaration of the rules that the constructors enforce.

The constructors of the temporal engine (:class:`~dynvision_models.engine.TemporalModel`), of the zoo and of
the layers raise through the functions of this module, and :func:`kwarg_problems` applies the same functions to
a catalogue entry of :func:`dynvision_models.describe_models`, so a workflow can check a model's kwargs at parse
time, without importing torch, and get exactly the problems the constructor would raise.

Every problem is one string shaped like ``"<key>: <value!r> <what is wrong>; allowed: <...>. <what to do>"``,
e.g. ``"dt: 0 is not allowed; allowed: the integration time step in ms, a number > 0. Give e.g. dt: 2"``.

Values are checked as they arrive from paths and YAML: ints, floats, bools, strings, ``None`` and lists (a
sequence may arrive as a list or a tuple). Units: ``dt``, ``tau`` and the ``t_*`` delays are in milliseconds;
``n_timesteps``, ``idle_timesteps``, ``tbptt_steps`` and ``checkpoint_steps`` count time steps of ``dt`` ms.

A parameter's *spec* (a JSON-able dict, as stored in the catalogue) says what it takes:

- ``kind``: ``"bool"``, ``"int"``, ``"number"``, ``"str"``, ``"choice"`` (one of ``choices``), ``"shape"``
  (``(C, H, W)`` of positive ints), ``"int_list"`` (positive ints), ``"number_or_list"`` (a number or a
  non-empty list of numbers), ``"bool_or_int"``, ``"adaptation"`` (``None``/``0`` or a pair ``(a, b)``),
  ``"list"`` or ``"any"``;
- optional ``minimum``, ``exclusive_minimum``, ``maximum`` (numbers), ``odd`` (ints), ``nullable`` (``None``
  allowed), ``per_area`` (a list needs one entry per area), ``requires`` (``{other_kwarg: [allowed values]}``,
  applied when the value is not ``None``), ``doc`` (what it is, with units) and ``example`` (a good value).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "CATALOGUE_VERSION",
    "ENGINE_SPECS",
    "MODEL_ARG_ALIASES",
    "REQUIRED_DEFAULT",
    "adaptation_problems",
    "choice_problems",
    "delay_problems",
    "engine_problems",
    "expand_aliases",
    "format_problems",
    "gated_cell_problems",
    "kwarg_problems",
    "per_area_problems",
    "raise_problems",
    "spec_from_default",
    "structure_problems",
    "tau_problems",
    "value_problems",
]

#: Version of the catalogue format of :func:`dynvision_models.describe_models` (each entry carries it);
#: :func:`kwarg_problems` refuses entries of another version (e.g. a stale cached manifest).
CATALOGUE_VERSION = 1
#: The catalogue's ``default`` of a parameter without a default (its spec also has ``"required": True``).
REQUIRED_DEFAULT = "<required>"

#: Short names accepted wherever model kwargs are given (paths, config, :func:`create_model`) -> the kwarg.
MODEL_ARG_ALIASES: dict[str, str] = {
    "tsteps": "n_timesteps",
    "rctype": "recurrence_type",
    "rctarget": "recurrence_target",
    "tff": "t_feedforward",
    "trc": "t_recurrence",
    "tsk": "t_skip",
    "tfb": "t_feedback",
    "idle": "idle_timesteps",
    "tbptt": "tbptt_steps",
    "taugrad": "train_tau",
    "supralin": "supralinearity",
    "retina": "use_retina",
    "ffonly": "feedforward_only",
}

# Tolerance for "is a multiple of dt": delays such as 0.1 * 3 are not exact in binary floating point.
_REL_TOL = 1e-9

#: Specs of the engine's kwargs (:class:`~dynvision_models.engine.TemporalModel`); the choices of ``"choice"``
#: kinds come from the live registries (``choices`` of :func:`engine_problems`). An engine kwarg missing here
#: is checked by the kind of its default (:func:`spec_from_default`). The delays' relation to ``dt`` and the
#: time constant's to the solver are checked by :func:`engine_problems`.
ENGINE_SPECS: dict[str, dict[str, Any]] = {
    "n_classes": {"kind": "int", "minimum": 1, "doc": "number of output classes", "example": 10},
    "input_shape": {"kind": "shape", "doc": "(channels, height, width) of a frame in px", "example": [3, 32, 32]},
    "n_timesteps": {"kind": "int", "minimum": 1, "doc": "steps a static image is shown for", "example": 10},
    "dt": {"kind": "number", "exclusive_minimum": 0, "doc": "the integration time step in ms", "example": 2},
    "tau": {
        "kind": "number_or_list",
        "exclusive_minimum": 0,
        "per_area": True,
        "doc": "the membrane time constant in ms, one value or one per area",
        "example": 5,
    },
    "train_tau": {"kind": "bool", "doc": "learn each area's tau"},
    "t_feedforward": {"kind": "number", "doc": "feedforward delay in ms, a multiple of dt >= 0", "example": 0},
    "t_recurrence": {
        "kind": "number",
        "nullable": True,
        "doc": "recurrent delay in ms, a multiple of dt >= dt (null = dt)",
        "example": 6,
    },
    "t_skip": {"kind": "number", "doc": "skip delay in ms, a multiple of dt >= 0", "example": 0},
    "t_feedback": {
        "kind": "number",
        "nullable": True,
        "doc": "feedback delay in ms, a multiple of dt >= dt (null = max(dt, t_feedforward))",
        "example": 30,
    },
    "recurrence_type": {"kind": "choice", "doc": "lateral recurrence by name"},
    "recurrence_target": {"kind": "choice", "doc": "where the recurrence enters an area"},
    "integration": {"kind": "choice", "doc": "how the recurrence is combined"},
    "solver": {"kind": "choice", "doc": "integration scheme by name"},
    "leak": {
        "kind": "choice",
        "doc": "what each step leaks towards the drive: the state h (default) or the previous rate (upstream's)",
    },
    "skip": {"kind": "bool", "doc": "use the model's skip connections"},
    "feedback": {"kind": "bool", "doc": "use the model's feedback connections"},
    "skip_mode": {"kind": "choice", "doc": "how skips enter the target's drive"},
    "feedback_mode": {"kind": "choice", "doc": "how feedback enters the target's drive"},
    "idle_timesteps": {"kind": "int", "minimum": 0, "doc": "blank steps before the stimulus", "example": 0},
    "tbptt_steps": {"kind": "int", "minimum": 0, "doc": "truncated BPTT window in steps (0 = off)", "example": 0},
    "feedforward_only": {"kind": "bool", "doc": "switch off recurrence, skips and feedback"},
    "supralinearity": {
        "kind": "number",
        "exclusive_minimum": 0,
        "doc": "exponent n of the rate transfer (1 = off)",
        "example": 1,
    },
    "bias": {"kind": "choice", "doc": "bias of the areas' convolutions"},
    "use_retina": {"kind": "bool", "doc": "filter each frame with a retina stage before the first area"},
    "adaptation": {
        "kind": "adaptation",
        "nullable": True,
        "doc": "null (off) or [a, b]: retention 0 <= a < 1 per step and gain b >= 0",
        "example": [0.96, 0.7],
    },
    "readout": {"kind": "choice", "doc": "readout of the last area's output"},
    "temporal_readout": {
        "kind": "choice",
        "doc": "how each step's logits read the per-step logits so far: that step's, their sum, or a learnt "
        "weighted average",
    },
    "checkpoint_steps": {
        "kind": "bool_or_int",
        "minimum": 0,
        "doc": "activation checkpointing segment in steps (0/false = off, true = 1)",
        "example": 0,
    },
    "compile_step": {"kind": "bool", "doc": "compile one time step with torch.compile"},
    "channels_last": {"kind": "bool", "doc": "keep the weights in channels-last memory format"},
}
# Engine kwargs whose rules need other kwargs; engine_problems checks them (after their type).
_DELAYS = ("t_feedforward", "t_recurrence", "t_skip", "t_feedback")


# ------------------------------------------------------------------------------------------------ helpers
def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_sequence(value: object) -> bool:
    return isinstance(value, list | tuple)


def _yaml(value: object) -> str:
    """``value`` as written in YAML/config (numbers without noise, lowercase booleans, ``null``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if _is_sequence(value):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"  # type: ignore[union-attr]
    return str(value)


def _problem(key: str, value: object, wrong: str, allowed: str, todo: str) -> str:
    return f"{key}: {value!r} {wrong}; allowed: {allowed}. {todo}"


def _close(value: object, names: Sequence[Any], cutoff: float = 0.6) -> str:
    # str(value): the Python None of a config is close to the choice "none".
    close = difflib.get_close_matches(str(value), [str(n) for n in names], n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


def format_problems(problems: Sequence[str], model: str | None = None) -> str:
    """One message for ``problems``: the problem itself if there is one, else a bulleted list."""
    if len(problems) == 1:
        return problems[0]
    where = f" of {model}" if model else ""
    return f"{len(problems)} problems with the kwargs{where}:\n" + "\n".join(f"- {p}" for p in problems)


def raise_problems(problems: Sequence[str], model: str | None = None, error: type[Exception] = ValueError) -> None:
    """Raise ``error`` (``ValueError``) with every problem in ``problems``; no-op if there are none."""
    if problems:
        raise error(format_problems(problems, model))


def expand_aliases(kwargs: Mapping[str, Any], aliases: Mapping[str, str] = MODEL_ARG_ALIASES) -> dict[str, Any]:
    """``kwargs`` with short aliases (:data:`MODEL_ARG_ALIASES`) replaced by the kwargs they stand for.

    Raises:
        ValueError: an alias and its long name (or two spellings of one kwarg) are given together.
    """
    expanded: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in kwargs.items():
        name = aliases.get(key, key)
        if name in expanded:
            raise ValueError(
                f"{name}: given twice, as {spelled[name]!r} and as {key!r}; allowed: one spelling per kwarg "
                f"({', '.join(repr(a) for a, n in aliases.items() if n == name)} stand(s) for {name!r}). "
                "Give it once."
            )
        expanded[name] = value
        spelled[name] = key
    return expanded


def spec_from_default(default: object) -> dict[str, Any]:
    """The spec a parameter gets from its default when nothing declares one (the kind of the default)."""
    if default is None:
        return {"kind": "any", "nullable": True}
    if isinstance(default, bool):
        return {"kind": "bool"}
    if isinstance(default, int):
        return {"kind": "int", "example": default}
    if isinstance(default, float):
        return {"kind": "number", "example": default}
    if isinstance(default, str):
        return {"kind": "str", "example": default}
    if _is_sequence(default):
        return {"kind": "list", "example": list(default)}  # type: ignore[call-overload]
    return {"kind": "any"}


def _range_text(spec: Mapping[str, Any]) -> str:
    parts = []
    if spec.get("exclusive_minimum") is not None:
        parts.append(f"> {_yaml(spec['exclusive_minimum'])}")
    if spec.get("minimum") is not None:
        parts.append(f">= {_yaml(spec['minimum'])}")
    if spec.get("maximum") is not None:
        parts.append(f"<= {_yaml(spec['maximum'])}")
    return " and ".join(parts)


_KIND_TEXT = {
    "bool": "true or false",
    "int": "an integer",
    "number": "a number",
    "str": "a string",
    "shape": "a list [channels, height, width] of positive integers",
    "int_list": "a list of positive integers",
    "number_or_list": "a number or a list of numbers",
    "bool_or_int": "true, false or an integer",
    "list": "a list",
    "any": "any value",
}


def _allowed_text(spec: Mapping[str, Any], n_areas: int | None = None) -> str:
    kind = spec.get("kind", "any")
    if kind == "choice":
        text = ", ".join(_yaml(c) if c is None else repr(c) for c in spec.get("choices") or ())
    else:
        text = _KIND_TEXT.get(kind, kind)
        bounds = _range_text(spec)
        if bounds:
            text += f" {bounds}"
        if spec.get("odd"):
            text += ", odd"
        if spec.get("per_area") and n_areas is not None and kind != "number_or_list":
            text += f", one per area ({n_areas})"
        elif spec.get("per_area") and n_areas is not None:
            text += f" (one per area: {n_areas})"
    if spec.get("nullable") and kind != "choice":
        text += ", or null"
    doc = spec.get("doc")
    if not doc:
        return text
    return f"{doc}: {text}" if kind == "choice" else f"{doc}, {text}"


def _todo(key: str, spec: Mapping[str, Any]) -> str:
    if spec.get("kind") == "choice" and spec.get("choices"):
        return f"Give one of them, e.g. {key}: {_yaml(spec['choices'][0])}"
    if "example" in spec:
        return f"Give e.g. {key}: {_yaml(spec['example'])}"
    if "default" in spec and spec["default"] != REQUIRED_DEFAULT:
        return f"Give e.g. {key}: {_yaml(spec['default'])}"
    return f"Give a value of that kind for {key}"


def _in_range(value: float, spec: Mapping[str, Any]) -> bool:
    if not math.isfinite(value):
        return False
    if spec.get("exclusive_minimum") is not None and not value > spec["exclusive_minimum"]:
        return False
    if spec.get("minimum") is not None and not value >= spec["minimum"]:
        return False
    return not (spec.get("maximum") is not None and not value <= spec["maximum"])


# ------------------------------------------------------------------------------------------------ rules
def choice_problems(key: str, value: object, allowed: Sequence[Any], doc: str | None = None) -> list[str]:
    """``value`` must be one of ``allowed`` (same type: ``True`` is not ``1``)."""
    if any(value == c and type(value) is type(c) for c in allowed):
        return []
    spec = {"kind": "choice", "choices": list(allowed), "doc": doc}
    wrong = f"is not a known {key}{_close(value, [c for c in allowed if c is not None], 0.5)}"
    return [_problem(key, value, wrong, _allowed_text(spec), _todo(key, spec))]


def per_area_problems(key: str, value: object, area_names: Sequence[str]) -> list[str]:
    """A list ``value`` must have one entry per area (a single value applies to all)."""
    if not _is_sequence(value) or len(value) == len(area_names):  # type: ignore[arg-type]
        return []
    return [
        _problem(
            key,
            value,
            f"has {len(value)} entries, not one per area",  # type: ignore[arg-type]
            f"one value, or one per area {list(area_names)} ({len(area_names)})",
            f"Give {len(area_names)} values or a single one",
        )
    ]


def value_problems(
    key: str,
    value: object,
    spec: Mapping[str, Any],
    *,
    area_names: Sequence[str] | None = None,
    values: Mapping[str, Any] | None = None,
) -> list[str]:
    """Problems of one kwarg ``value`` under its ``spec`` (see the module docstring).

    Args:
        key: the kwarg's name (used in the messages).
        value: its value, as parsed from a path or YAML, or given to a constructor.
        spec: what the kwarg takes.
        area_names: the model's areas, for ``per_area`` lengths (not checked when ``None``).
        values: all kwargs of the model (defaults filled in), for ``requires``.
    """
    kind = spec.get("kind", "any")
    n_areas = None if area_names is None else len(area_names)
    allowed = _allowed_text(spec, n_areas)
    todo = _todo(key, spec)
    if value is None:
        if spec.get("nullable") or (kind == "choice" and None in (spec.get("choices") or ())) or kind == "any":
            return []
        return [_problem(key, value, "is not allowed (null)", allowed, todo)]
    if kind == "choice":
        return choice_problems(key, value, spec.get("choices") or (), spec.get("doc"))
    if kind == "adaptation":
        return adaptation_problems(value)
    wrong: str | None = None
    if kind == "bool":
        if not isinstance(value, bool):
            wrong = "is not true or false"
    elif kind in ("int", "bool_or_int"):
        if kind == "bool_or_int" and isinstance(value, bool):
            return []
        if not _is_int(value):
            wrong = "is not an integer"
        elif not _in_range(value, spec):  # type: ignore[arg-type]
            wrong = "is out of range"
        elif spec.get("odd") and value % 2 != 1:  # type: ignore[operator]
            wrong = "is not odd"
    elif kind == "number":
        if not _is_number(value):
            wrong = "is not a number"
        elif not _in_range(float(value), spec):  # type: ignore[arg-type]
            wrong = "is not allowed"
    elif kind == "str":
        if not isinstance(value, str):
            wrong = "is not a string"
    elif kind == "shape":
        if not _is_sequence(value) or len(value) != 3:  # type: ignore[arg-type]
            wrong = "is not (channels, height, width)"
        elif not all(_is_int(v) and v > 0 for v in value):  # type: ignore[union-attr]
            wrong = "has items that are not positive integers"
    elif kind == "int_list":
        if not _is_sequence(value) or not value:
            wrong = "is not a list of integers"
        elif not all(_is_int(v) and v > 0 for v in value):  # type: ignore[union-attr]
            wrong = "has items that are not positive integers"
    elif kind == "number_or_list":
        items = value if _is_sequence(value) else [value]
        if not items:
            wrong = "is an empty list"
        elif not all(_is_number(v) for v in items):  # type: ignore[union-attr]
            wrong = "is not a number" if not _is_sequence(value) else "has items that are not numbers"
        elif not all(_in_range(float(v), spec) for v in items):  # type: ignore[union-attr]
            wrong = "is not allowed"
    elif kind == "list" and not _is_sequence(value):
        wrong = "is not a list"
    if wrong is not None:
        return [_problem(key, value, wrong, allowed, todo)]
    problems: list[str] = []
    if spec.get("per_area") and area_names is not None:
        problems += per_area_problems(key, value, area_names)
    for other, accepted in (spec.get("requires") or {}).items():
        given = (values or {}).get(other)
        if values is not None and given not in accepted:
            problems.append(
                _problem(
                    key,
                    value,
                    f"cannot be combined with {other}={given!r}",
                    f"{key} together with {other} in {list(accepted)}",
                    f"Set {other} to one of {', '.join(map(repr, accepted))}, or {key}: null",
                )
            )
    return problems


def adaptation_problems(value: object) -> list[str]:
    """``adaptation``: ``None``/``False``/``0`` (off) or a pair ``(a, b)`` with ``0 <= a < 1`` and ``b >= 0``."""
    if value is None or value is False or (_is_number(value) and value == 0):
        return []
    allowed = "null (off) or [a, b]: the suppression state's retention per step 0 <= a < 1 and its gain b >= 0"
    todo = "Give e.g. adaptation: [0.96, 0.7]"
    if not _is_sequence(value) or len(value) != 2 or not all(_is_number(v) for v in value):  # type: ignore[arg-type]
        return [_problem("adaptation", value, "is not a pair of numbers (a, b)", allowed, todo)]
    a, b = (float(v) for v in value)  # type: ignore[union-attr]
    problems = []
    if not (math.isfinite(a) and 0.0 <= a < 1.0):
        problems.append(_problem("adaptation", value, f"has retention a={a!r} outside 0 <= a < 1", allowed, todo))
    if not (math.isfinite(b) and b >= 0.0):
        problems.append(_problem("adaptation", value, f"has gain b={b!r} < 0", allowed, todo))
    return problems


def tau_problems(tau: object, dt: float, max_alpha: float | None, solver: str | None = None) -> list[str]:
    """``dt / tau`` must not exceed the solver's limit ``max_alpha`` (``None``/``inf``: any ``tau > 0``).

    Only the relation is checked here; the type and sign of ``dt`` and ``tau`` by :func:`value_problems`.
    """
    if max_alpha is None or not math.isfinite(max_alpha):
        return []
    items = tau if _is_sequence(tau) else [tau]
    with_solver = f" with the {solver!r} solver" if solver else ""
    for value in items:  # type: ignore[union-attr]
        if _is_number(value) and value > 0 and dt / value > max_alpha:
            return [
                _problem(
                    "tau",
                    tau,
                    f"is too small for dt={dt:g} ms{with_solver}: dt/tau={dt / value:.3g} exceeds its limit "
                    f"{max_alpha:g}, beyond which each step overshoots the fixed point (the state oscillates or "
                    "diverges)",
                    f"tau >= {dt / max_alpha:g} ms",
                    f"Use tau >= {dt / max_alpha:g} ms or a smaller dt",
                )
            ]
    return []


def delay_problems(key: str, value: object, dt: float, *, min_steps: int = 0, why: str = "") -> list[str]:
    """A delay ``value`` in ms must be finite, ``>= 0``, a multiple of ``dt`` ms and at least ``min_steps``
    steps (``why`` says why, for the message)."""
    allowed = f"a multiple of dt={dt:g} ms >= {min_steps * dt:g} ms"
    if not _is_number(value) or not math.isfinite(value) or value < 0:  # type: ignore[operator]
        wrong = "is not a number" if not _is_number(value) else "is not a finite delay >= 0 ms"
        return [_problem(key, value, wrong, allowed, f"Give e.g. {key}: {_yaml(max(min_steps, 1) * dt)}")]
    steps = float(value) / dt  # type: ignore[arg-type]
    nearest = round(steps)
    if abs(steps - nearest) > _REL_TOL * max(1.0, abs(steps)):
        below, above = math.floor(steps) * dt, math.ceil(steps) * dt
        return [
            _problem(
                key,
                value,
                f"ms is not a multiple of dt={dt:g} ms (delays are whole time steps)",
                allowed,
                f"Use {below:g} or {above:g} ms, or change dt",
            )
        ]
    if nearest < min_steps:
        reason = f" ({why})" if why else ""
        return [
            _problem(
                key,
                value,
                f"ms is less than one time step of dt={dt:g} ms{reason}",
                allowed,
                f"Use {key} >= dt, e.g. {key}: {_yaml(dt)}",
            )
        ]
    return []


def gated_cell_problems(
    recurrence_type: object, recurrence_target: object, integration: object, gated_types: Sequence[str]
) -> list[str]:
    """A gated recurrence type (one of ``gated_types``) takes ``recurrence_target="output"`` and
    ``integration="additive"`` only: the cell combines the feedforward drive and its past rate itself, and its
    output is the area's drive (see :mod:`dynvision_models.layers.gated`)."""
    if recurrence_type not in gated_types:
        return []
    listed = ", ".join(repr(t) for t in gated_types)
    why = (
        f"cannot be combined with recurrence_type={recurrence_type!r}: a gated cell combines the feedforward "
        "drive and its own past rate itself, and its output is the area's drive"
    )
    todo = "or a recurrence_type that is not gated, e.g. 'full'"
    problems = []
    if recurrence_target is not None and recurrence_target != "output":
        problems.append(
            _problem(
                "recurrence_target",
                recurrence_target,
                why,
                f"'output' with the gated recurrence types ({listed})",
                f"Give recurrence_target: output, {todo}",
            )
        )
    if integration is not None and integration != "additive":
        problems.append(
            _problem(
                "integration",
                integration,
                f"{why} (its gates are the multiplicative interaction)",
                f"'additive' (the default, unused by gated cells) with the gated recurrence types ({listed})",
                f"Give integration: additive, {todo}",
            )
        )
    return problems


def engine_problems(
    values: Mapping[str, Any],
    *,
    choices: Mapping[str, Sequence[Any]],
    solver_max_alpha: Mapping[str, float | None],
    specs: Mapping[str, Mapping[str, Any]] = ENGINE_SPECS,
    gated_recurrence_types: Sequence[str] = (),
) -> list[str]:
    """Every problem :class:`~dynvision_models.engine.TemporalModel` rejects in its kwargs ``values``.

    Checks each kwarg by its spec (``specs``, with the ``choices`` of the live registries), then the rules
    between kwargs: a gated recurrence type's target and integration (:func:`gated_cell_problems`), ``tau``
    against ``dt`` and the solver's limit, the delays against ``dt`` (``t_skip`` only when ``skip``,
    ``t_feedback`` only when ``feedback``) and ``adaptation``. The per-area lengths and the recurrence
    target's need for two-stage areas are :func:`structure_problems`.

    Args:
        values: the engine's kwargs (the ones not given are not checked).
        choices: kwarg -> allowed values of the ``"choice"`` kwargs (recurrence types, solvers, ...).
        solver_max_alpha: solver name -> largest ``dt / tau`` it allows (``None`` = no limit).
        specs: the specs of the engine's kwargs (default :data:`ENGINE_SPECS`).
        gated_recurrence_types: the gated recurrence types (from the live registry,
            :func:`~dynvision_models.layers.recurrence.list_gated_recurrence_types`).
    """
    problems: list[str] = []
    for key, value in values.items():
        spec = specs.get(key)
        if spec is None:
            continue
        if key in choices:
            spec = {**spec, "kind": "choice", "choices": list(choices[key])}
        problems += value_problems(key, value, spec)
    wrong = {p.split(":", 1)[0] for p in problems}
    if not wrong & {"recurrence_type", "recurrence_target", "integration"}:
        problems += gated_cell_problems(
            values.get("recurrence_type"),
            values.get("recurrence_target"),
            values.get("integration"),
            gated_recurrence_types,
        )
    dt = values.get("dt")
    if not (_is_number(dt) and math.isfinite(dt) and dt > 0):
        return problems  # the relations to dt cannot be checked
    bad = {p.split(":", 1)[0] for p in problems}
    solver = values.get("solver", "euler")
    if "tau" in values and "tau" not in bad and isinstance(solver, str) and solver in solver_max_alpha:
        problems += tau_problems(values["tau"], dt, solver_max_alpha[solver], solver)
    delays = {
        "t_feedforward": (True, 0, ""),
        "t_recurrence": (True, 1, "the recurrent input is the area's own past rate"),
        "t_skip": (values.get("skip") is True, 0, ""),
        "t_feedback": (values.get("feedback") is True, 1, "feedback comes from areas computed later in the step"),
    }
    for key, (in_use, min_steps, why) in delays.items():
        # Delays of switched-off connections are not checked: changing dt must not fail on an unused default.
        if key in values and key not in bad and in_use and values[key] is not None:
            problems += delay_problems(key, values[key], dt, min_steps=min_steps, why=why)
    return problems


def structure_problems(
    values: Mapping[str, Any], *, area_names: Sequence[str], middle_stage: Sequence[bool]
) -> list[str]:
    """Problems of ``values`` with the model's areas: per-area ``tau`` lengths and ``recurrence_target="middle"``
    where an area has one convolution stage (``middle_stage[i]`` says whether area ``i`` has two)."""
    problems = per_area_problems("tau", values.get("tau"), area_names) if "tau" in values else []
    if values.get("recurrence_target") == "middle":
        single = [a for a, two in zip(area_names, middle_stage, strict=True) if not two]
        if single:
            problems.append(
                _problem(
                    "recurrence_target",
                    "middle",
                    f"needs areas with two convolution stages; areas {single} of this model have one",
                    "'input', 'output' for this model",
                    "Use 'input' or 'output' (or a model with two-stage areas, e.g. DyRCNNx8)",
                )
            )
    return problems


# ------------------------------------------------------------------------------------------------ catalogue
def _parameter_names(entry: Mapping[str, Any]) -> str:
    return ", ".join(entry["parameters"])


def _unknown_problem(key: str, value: object, entry: Mapping[str, Any]) -> str:
    model = entry["name"]
    params = list(entry["parameters"])
    aliases = {a: n for a, n in MODEL_ARG_ALIASES.items() if n in entry["parameters"]}
    rejected = entry.get("rejected") or {}
    alias_text = f"; aliases: {', '.join(f'{a}={n}' for a, n in aliases.items())}" if aliases else ""
    if key in rejected:
        return _problem(
            key,
            value,
            f"is not taken by {model}: {rejected[key]}",
            _parameter_names(entry) + alias_text,
            f"Remove {key}",
        )
    hint = _close(key, [*params, *aliases])
    return (
        f"{key}: {model} takes no argument {key!r}{hint}; allowed: {_parameter_names(entry)}{alias_text}. "
        "Remove it or use one of the allowed names"
    )


def kwarg_problems(entry: Mapping[str, Any], kwargs: Mapping[str, Any]) -> list[str]:
    """Every problem the constructor of the model described by ``entry`` would reject in ``kwargs``.

    Imports no torch. Aliases (:data:`MODEL_ARG_ALIASES`) are accepted; kwargs not given take their defaults
    from the entry, so the rules between kwargs see what the constructor sees.

    Args:
        entry: one value of :func:`dynvision_models.describe_models` (or the same JSON, read back).
        kwargs: the model kwargs, as parsed from paths or YAML.

    Returns:
        One string per problem (empty if the constructor accepts ``kwargs``), each shaped like
        ``"<key>: <value!r> <what is wrong>; allowed: <...>. <what to do>"``.

    Raises:
        ValueError: ``entry`` is of another :data:`CATALOGUE_VERSION` (regenerate the catalogue).
    """
    version = entry.get("catalogue_version")
    if version != CATALOGUE_VERSION:
        raise ValueError(
            f"catalogue_version: {version!r} is not the version this dynvision_models reads; allowed: "
            f"{CATALOGUE_VERSION}. Regenerate the catalogue with dynvision_models.describe_models()."
        )
    try:
        given = expand_aliases(kwargs)
    except ValueError as err:
        return [str(err)]
    params: Mapping[str, Mapping[str, Any]] = entry["parameters"]
    problems = [_unknown_problem(k, v, entry) for k, v in given.items() if k not in params]
    known = {k: v for k, v in given.items() if k in params}
    for key, spec in params.items():
        if spec.get("required") and key not in known:
            problems.append(f"{key}: missing; allowed: {_allowed_text(spec)}. {_todo(key, spec)}")
    values = {k: s["default"] for k, s in params.items() if not s.get("required")}
    values.update(known)
    engine = entry.get("engine")
    if engine:
        area_names = engine["areas"]
        engine_values = {k: v for k, v in values.items() if k in engine["kwargs"]}
        problems += engine_problems(
            engine_values,
            choices=engine["choices"],
            solver_max_alpha=engine["solver_max_alpha"],
            gated_recurrence_types=engine.get("gated_recurrence_types", ()),
        )
        # Engine kwargs without a spec (added later): checked by the kind of their default.
        for key in engine["kwargs"]:
            if key in known and key not in ENGINE_SPECS:
                problems += value_problems(key, known[key], params[key], values=values)
        if not any(p.startswith(("tau:", "recurrence_target:")) for p in problems):
            problems += structure_problems(
                values, area_names=area_names, middle_stage=engine["middle_stage"]
            )
        own = [k for k in params if k not in engine["kwargs"]]
    else:
        area_names = None
        own = list(params)
    for key in own:
        if key in known:
            problems += value_problems(key, known[key], params[key], area_names=area_names, values=values)
    time = entry.get("time") or {}
    max_alpha = time.get("max_alpha")
    dt, tau = values.get("dt"), values.get("tau")
    if not engine and max_alpha is not None and _is_number(dt) and dt > 0 and not any(
        p.startswith(("dt:", "tau:")) for p in problems
    ):
        problems += tau_problems(tau, dt, max_alpha, time.get("solver"))
    return problems
