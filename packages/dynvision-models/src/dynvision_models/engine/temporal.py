"""Temporal engine: the time loop shared by all recurrent models of the zoo.

Units: ``dt``, ``tau`` and every ``t_*`` delay are in milliseconds; the loop runs in integer time steps of
``dt`` ms, and a delay of ``t_x`` ms is ``t_x / dt`` steps (delays must be multiples of ``dt``).

Dynamics of area ``l`` at step ``t`` (``t = 0 .. T-1``; all states and rates before the first step are zero)::

    u_l(t) = F_l(s_l(t - d_ff), r_l(t - d_rec))                         feedforward + lateral recurrence
             (+|x) sum_j C_jl(r_j(t - d_skip))                           skip connections from lower areas j
             (+|x) sum_j C_jl(r_j(t - d_fb))                             feedback from higher areas j
             - b * a_l(t),  a_l(t) = a * a_l(t-1) + (1 - a) * r_l(t-1)   intrinsic adaptation (optional)
    h_l(t) = solver step of tau_l * dh/dt = -h + u_l(t) from h_l(t-1)     e.g. Euler: h += (dt/tau_l)(u - h)
    r_l(t) = g(ReLU(h_l(t)))                                             rate; g = supralinearity (optional)
    s_{l+1}(t) = norm_l(pool_l(r_l(t)))                                  output to the next area

This is the default ``leak="state"``: the step leaks the pre-rectification state ``h``, which may go negative
(an inhibited area recovers only as ``h`` climbs back to 0). With ``leak="rate"`` (upstream DynVision's update)
the step starts from the previous rate instead, ``h_l(t) = solver step ... from r_l(t-1)``, e.g. Euler
``y = r(t-1) + (dt/tau_l)(u - r(t-1))``, ``r_l(t) = g(ReLU(y))``: nothing below zero is remembered. Both forms
have the fixed point ``g(ReLU(u))`` for a constant drive and cost the same; see :data:`LEAKS`.

``F_l`` is the area's feedforward convolution(s) with the recurrence entering at the input, middle or output
(:class:`~dynvision_models.layers.RecurrentArea`), or, for a gated recurrence type, a gated cell of the
feedforward drive ``x = W_ff * s + b`` and the past rate, ``F_l = cell(x, r_l(t - d_rec), m_l(t - 1))``, which
also updates its memory ``m_l(t)`` where it has one (LSTM's cell state; :mod:`dynvision_models.layers.gated`);
skip and feedback connections and adaptation then act on the cell's output as on any drive. ``C_jl`` is a
:class:`~dynvision_models.layers.Connection` (``1 x 1`` conv at the smaller resolution plus nearest
resampling); ``(+|x)`` is ``+ C`` (``"additive"``) or ``* (1 + tanh C)`` (``"multiplicative"``). ``s_1(t)`` is
the stimulus frame ``x(t)``, passed through the retina when ``use_retina``. Delays in steps:
``d_ff = t_feedforward / dt`` between consecutive areas (V1 sees the stimulus without delay),
``d_rec = t_recurrence / dt >= 1``, ``d_skip = t_skip / dt >= 0`` (skips come from areas computed earlier in
the same step), ``d_fb = t_feedback / dt >= 1`` (feedback comes from areas computed later).
The classifier reads the last area's output at the same step:
``l(t) = W · readout(s_L(t)) + b``; the model returns ``logits(t)``, the temporal readout of the per-step
``l(s)`` (:data:`TEMPORAL_READOUTS`): ``l(t)`` itself (``"step"``, the default), their sum over ``s <= t``
(``"cumulative"``) or their average under learnt weights over steps (``"weighted"``).

Each area keeps a ring buffer of its last rates, as long as the longest delay anyone reads it with (its own
recurrence and adaptation, the skips and feedback leaving it); the next area's delayed input has its own ring.
All per-step bookkeeping is precomputed into plain tuples of ints and modules when the model is built.

One time step is a pure function ``_step(signal, carry, alphas, batch) -> (feature, rates, carry)`` of the
stimulus frame and the carried state (states, rings, delayed outputs, adaptation, gated cells' memories;
nested tuples whose rings are rotated, newest first, so the step reads fixed indices and never depends on
``t``). The time loop stays in Python and calls it once per step, which lets the step be

- recomputed in backward (``checkpoint_steps=True``: :func:`torch.utils.checkpoint.checkpoint` with
  ``use_reentrant=False`` around each step, so only the carried state of each step is kept for backward);
- compiled once (``compile_step=True``: :func:`torch.compile` of the step, so the compile time does not grow
  with ``T``);
- run window by window (:meth:`TemporalModel.init_state`, :meth:`TemporalModel.run`,
  :meth:`TemporalModel.windows`), e.g. to backpropagate each window of truncated BPTT before running the next.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .. import checks
from ..layers.adaptation import IntrinsicAdaptation, parse_adaptation
from ..layers.area import BIAS_TYPES, INTEGRATIONS, RECURRENCE_TARGETS, RecurrentArea
from ..layers.connections import Connection
from ..layers.recurrence import list_gated_recurrence_types, list_recurrence_types
from ..layers.retina import Retina
from ..layers.supralinearity import SupraLinearity
from .solvers import get_solver, list_solvers
from .timeline import FrameTimeline, as_timeline

__all__ = [
    "CONNECTION_MODES",
    "LEAKS",
    "READOUTS",
    "TEMPORAL_READOUTS",
    "TemporalModel",
    "TemporalState",
    "area_index",
    "check_area_names",
    "check_input_sequence",
    "common_kwargs",
    "delay_to_steps",
    "engine_choices",
    "engine_parameters",
    "engine_signature",
    "solver_limits",
]

#: Readouts from the last area's output ``(B, C, H, W)`` to classifier features.
READOUTS = ("avgpool", "flatten")
#: How the logits at step ``t`` are read from the per-step logits ``l(s) = classifier(features(s))`` of the
#: stimulus steps ``s = 0 .. t`` (the ``temporal_readout`` kwarg; idle steps are not read out):
#:
#: - ``"step"``: ``logits(t) = l(t)``, each step decides on its own (the default; no extra cost);
#: - ``"cumulative"``: ``logits(t) = sum_{s <= t} l(s)``, evidence accumulated in log-odds. A sum, not a mean:
#:   summed log-likelihood ratios are what an ideal observer accumulates, so consistent evidence makes the
#:   softmax ever more confident (a confidence threshold is then reached sooner for clearer stimuli, as in
#:   drift-diffusion models), while a mean would stay as confident as a single step;
#: - ``"weighted"``: ``logits(t) = sum_{s <= t} w_s l(s) / sum_{s <= t} w_s`` with ``w_s = exp(beta_s)``, a
#:   causal weighted average whose log-weights ``beta`` (``log_step_weights``, one per step of ``n_timesteps``)
#:   are learnt; they start at 0, i.e. as the running mean. Steps beyond ``n_timesteps`` (a longer test
#:   sequence) reuse the last weight ``w_{n_timesteps - 1}``.
TEMPORAL_READOUTS = ("step", "cumulative", "weighted")
#: How skip and feedback connections enter their target's drive (``skip_mode``, ``feedback_mode``).
CONNECTION_MODES = INTEGRATIONS
#: What one solver step leaks towards the drive ``u`` (the ``leak`` kwarg), with ``a = dt / tau`` (Euler shown;
#: every solver integrates the same linear leak over the step from the value named here, then rectifies):
#:
#: - ``"state"``: the pre-rectification state, ``h(t) = h(t-1) + a (u - h(t-1))``, ``r(t) = g(ReLU(h(t)))``;
#:   a leaky-integrator rate model whose state remembers inhibition below zero (the default);
#: - ``"rate"``: the previous rate, ``y = r(t-1) + a (u - r(t-1))``, ``r(t) = g(ReLU(y))``; upstream
#:   DynVision's update, i.e. ``tau dr/dt = -r + u`` kept at ``r >= 0`` (with the exponential solver the exact
#:   solution of that rectified ODE for a drive held over the step).
LEAKS = ("state", "rate")

def delay_to_steps(name: str, value: float, dt: float) -> int:
    """Convert the delay ``name`` of ``value`` ms into whole steps of ``dt`` ms.

    Raises:
        ValueError: negative ``value``, or not a multiple of ``dt`` (the message names the nearest allowed
            values; the rule is :func:`dynvision_models.checks.delay_problems`).
    """
    checks.raise_problems(checks.delay_problems(name, value, dt))
    return round(value / dt)


def engine_choices() -> dict[str, list[str]]:
    """The allowed values of the engine's choice kwargs, from the live registries (recurrence types, solvers)."""
    return {
        "recurrence_type": list_recurrence_types(),
        "recurrence_target": list(RECURRENCE_TARGETS),
        "integration": list(INTEGRATIONS),
        "solver": list_solvers(),
        "leak": list(LEAKS),
        "skip_mode": list(CONNECTION_MODES),
        "feedback_mode": list(CONNECTION_MODES),
        "bias": list(BIAS_TYPES),
        "readout": list(READOUTS),
        "temporal_readout": list(TEMPORAL_READOUTS),
    }


def solver_limits() -> dict[str, float | None]:
    """Solver name -> the largest ``dt / tau`` its step allows (``None``: no limit)."""
    limits = {name: get_solver(name).max_alpha for name in list_solvers()}
    return {name: (limit if math.isfinite(limit) else None) for name, limit in limits.items()}


def check_input_sequence(
    x: Tensor | Any, input_shape: tuple[int, int, int], n_timesteps: int, *, lazy: bool = False
) -> Tensor | FrameTimeline:
    """Validate ``x`` and return it as ``(B, T, C, H, W)``; a static ``(B, C, H, W)`` is expanded, not copied.

    ``x`` may also be a timeline (an image, a blank and a ``(T,)`` mask; :mod:`.timeline`): returned as a
    :class:`~dynvision_models.engine.timeline.FrameTimeline` with ``lazy=True`` (the engine picks each step's
    frame), else written out. Every model of the zoo checks its input with this function, so all fail alike.
    """
    timeline = as_timeline(x)
    if timeline is not None:
        check_input_sequence(timeline.image, input_shape, n_timesteps)
        return timeline if lazy else timeline.materialize()
    if x.dim() == 4:
        frame_shape = tuple(x.shape[1:])
    elif x.dim() == 5:
        frame_shape = tuple(x.shape[2:])
    else:
        raise ValueError(
            f"Expected input (batch, time, channels, height, width) or a static image (batch, channels, "
            f"height, width) with (channels, height, width)={input_shape}; got shape {tuple(x.shape)}."
        )
    if frame_shape != input_shape:
        raise ValueError(
            f"Input frames have (channels, height, width)={frame_shape} (input shape {tuple(x.shape)}), but "
            f"the model was built for input_shape={input_shape}. Resize the data or rebuild the model "
            "with a matching input_shape."
        )
    if x.dim() == 4:
        return x.unsqueeze(1).expand(x.shape[0], n_timesteps, *frame_shape)
    if x.shape[1] < 1:
        raise ValueError(f"Input has no time steps: shape {tuple(x.shape)}.")
    return x


def check_area_names(requested: Iterable[str] | None, area_names: tuple[str, ...]) -> tuple[str, ...]:
    """The areas to record (all if ``requested`` is ``None``), or a ``ValueError`` naming the unknown ones."""
    names = area_names if requested is None else tuple(requested)
    unknown = [a for a in names if a not in area_names]
    if unknown:
        raise ValueError(f"Unknown area(s) {unknown}. Areas of this model: {', '.join(area_names)}.")
    return names


def area_index(area: str, area_names: tuple[str, ...]) -> int:
    """Index of ``area`` in ``area_names`` (feedforward order), or a ``ValueError`` naming the areas."""
    try:
        return area_names.index(area)
    except ValueError:
        raise ValueError(f"Unknown area {area!r}. Areas of this model: {', '.join(area_names)}.") from None


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return value


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}.")
    return value


def common_kwargs(namespace: Mapping[str, object]) -> dict[str, object]:
    """The :class:`TemporalModel` constructor kwargs found in ``namespace`` (e.g. a subclass's ``locals()``).

    Lets a registered model list every kwarg explicitly in its own signature (what :func:`create_model`
    checks) and hand the common ones on without repeating each name.
    """
    return {name: namespace[name] for name in _COMMON_KWARGS if name in namespace}


def engine_parameters() -> dict[str, inspect.Parameter]:
    """The parameters of :class:`TemporalModel`'s constructor (without ``self``), in order: the engine kwargs."""
    return {n: p for n, p in inspect.signature(TemporalModel.__init__).parameters.items() if n != "self"}


def engine_signature(
    defaults: Mapping[str, Any] | None = None,
    extra: Sequence[inspect.Parameter] = (),
    exclude: Iterable[str] = (),
) -> inspect.Signature:
    """A keyword-only signature: the engine's kwargs (minus ``exclude``) with ``defaults`` overriding the
    engine's, then ``extra``. Models built on the engine publish it, so that an engine kwarg added to
    :class:`TemporalModel` is accepted and listed by every such model without editing it."""
    defaults = dict(defaults or {})
    excluded = set(exclude)
    params = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY, default=defaults.get(n, p.default))
        for n, p in engine_parameters().items()
        if n not in excluded
    ]
    return inspect.Signature([*params, *extra])


#: The carried state of the time loop: ``(states, rings, out_rings, adapt_states, memories)``; ``states[i]``,
#: ``adapt_states[i]`` and ``memories[i]`` are area ``i``'s state ``h`` (its rate ``r`` when
#: ``leak="rate"``), adaptation ``a`` and gated cell's memory ``m`` (:mod:`dynvision_models.layers.gated`;
#: always ``None`` for an area whose cell has none)
#: (``(B, C, H, W)`` or ``None`` = zeros),
#: ``rings[i][k]`` its rate ``k + 1`` steps back (newest first) and ``out_rings[i][k]`` its output ``k + 1`` steps
#: back (``None`` = not arrived yet).
Carry = tuple[tuple, tuple, tuple, tuple, tuple]


def _detach(carry: Carry) -> Carry:
    def cut(items: tuple) -> tuple:
        return tuple(cut(r) if isinstance(r, tuple) else (None if r is None else r.detach()) for r in items)

    return cut(carry)  # type: ignore[return-value]


def _is_full(carry: Carry, adaptation: bool, memory: tuple[bool, ...]) -> bool:
    """Whether no slot of ``carry`` in use is ``None`` (the steady state, after the longest delay);
    ``memory[i]`` says whether area ``i`` carries a gated cell's memory."""
    states, rings, out_rings, adapt_states, memories = carry
    return (
        all(h is not None for h in states)
        and all(r is not None for ring in (*rings, *out_rings) for r in ring)
        and (not adaptation or all(a is not None for a in adapt_states))
        and all(m is not None for m, used in zip(memories, memory, strict=True) if used)
    )


def _zero_filled(carry: Carry, memory: tuple[bool, ...]) -> Carry:
    """``carry`` with every ``None`` slot in use replaced by zeros shaped like the newest entry of its buffer
    (the memories of the areas with ``memory[i]``: like the area's state)."""
    states, rings, out_rings, adapt_states, memories = carry

    def fill(ring: tuple) -> tuple:
        return tuple(torch.zeros_like(ring[0]) if r is None else r for r in ring)

    adapt_states = tuple(
        torch.zeros_like(h) if a is None else a for a, h in zip(adapt_states, states, strict=True)
    )
    memories = tuple(
        torch.zeros_like(h) if m is None and used else m
        for m, h, used in zip(memories, states, memory, strict=True)
    )
    return (
        states,
        tuple(fill(r) if r else r for r in rings),
        tuple(fill(r) if r else r for r in out_rings),
        adapt_states,
        memories,
    )


class TemporalState:
    """State of a :class:`TemporalModel` between two windows of time steps (see :meth:`TemporalModel.run`).

    Attributes:
        batch: batch size ``B``.
        carry: the per-area states, rate rings, delayed outputs, adaptation states and gated cells' memories
            (nested tuples of ``(B, C, H, W)`` tensors or ``None`` for zeros, :data:`Carry`); treat as opaque.
        steps: stimulus steps run so far (idle steps not counted).
        readout: the running sums of the temporal readout (:data:`TEMPORAL_READOUTS`) over the steps run so
            far: ``None`` for ``"step"`` and before the first stimulus step; ``(sum_s l(s),)`` ``(B, n_classes)``
            for ``"cumulative"``; ``(sum_s w_s l(s), sum_s w_s)`` (``(B, n_classes)`` and ``()``) for
            ``"weighted"``.
    """

    __slots__ = ("batch", "carry", "readout", "steps")

    def __init__(
        self, batch: int, carry: Carry, steps: int = 0, readout: tuple[Tensor, ...] | None = None
    ) -> None:
        self.batch = batch
        self.carry = carry
        self.steps = steps
        self.readout = readout

    def detach(self) -> TemporalState:
        """A copy whose tensors are cut from the autograd graph (truncated backpropagation through time)."""
        readout = None if self.readout is None else tuple(r.detach() for r in self.readout)
        return TemporalState(self.batch, _detach(self.carry), self.steps, readout)


class TemporalModel(nn.Module):
    """Base class of recurrent models unrolled in time; subclasses define the areas.

    Contract shared by all temporal models:

    - input ``(B, T, C, H, W)`` (a frame per time step) or a static image ``(B, C, H, W)`` shown for
      ``n_timesteps`` steps (repeated as a view, not copied); ``(C, H, W)`` must equal ``input_shape``;
    - output logits ``(B, T, n_classes)``, one classification per time step;
    - :meth:`forward_intermediates` additionally returns every area's rate at every step.

    Subclasses call ``super().__init__(...)`` with the common kwargs (validated here, once), then
    :meth:`_build` with their areas in feedforward order and their skip and feedback pairs. They build their
    areas from the validated attributes (``recurrence_type``, ``recurrence_target``, ``integration``,
    ``bias``, ``stimulus_channels``).

    Args:
        n_classes: number of output classes.
        input_shape: ``(C, H, W)`` of one stimulus frame.
        n_timesteps: steps a static image is shown for (a ``(B, T, ...)`` input sets ``T`` itself).
        dt: integration time step in ms (> 0).
        tau: membrane time constant in ms, one value for all areas or one per area (``dt / tau`` must not
            exceed the solver's limit, e.g. ``tau >= dt`` for Euler).
        train_tau: learn each area's tau, as ``log(tau)`` (so tau stays positive); ``dt / tau`` is recomputed
            from it at every forward. Nothing keeps a learnt tau above the solver's limit.
        t_feedforward: delay in ms between an area's output and the next area's input (a multiple of ``dt``,
            >= 0).
        t_recurrence: delay in ms of the lateral recurrence (a multiple of ``dt``, >= ``dt``); ``None``
            means ``dt``.
        t_skip: delay in ms of skip connections (multiple of ``dt``, >= 0; used when ``skip``).
        t_feedback: delay in ms of feedback connections (multiple of ``dt``, >= ``dt``; used when
            ``feedback``); ``None`` = ``max(dt, t_feedforward)``.
        recurrence_type: lateral recurrence by name (see
            :func:`~dynvision_models.layers.list_recurrence_types`); the gated types
            (:func:`~dynvision_models.layers.list_gated_recurrence_types`) take ``recurrence_target="output"``
            and ``integration="additive"`` only. ``feedforward_only`` bypasses a gated cell
            (``u = W_ff * s + b``).
        recurrence_target: where the recurrence enters an area: ``"output"``, ``"input"`` or ``"middle"``.
        integration: how the recurrence is combined: ``"additive"`` or ``"multiplicative"``
            (``y * (1 + tanh R)``).
        solver: integration scheme by name (see :func:`~dynvision_models.engine.list_solvers`).
        leak: what each step leaks towards the drive (equations at :data:`LEAKS`): ``"state"``, the
            pre-rectification state ``h``, or ``"rate"``, the previous rate (upstream DynVision's update). Same
            cost and same fixed point ``g(ReLU(u))``; they differ after a negative drive, which the state form
            remembers (``h`` goes below zero and must climb back before the area fires again) and the rate form
            forgets (the rate stays at zero and follows the next positive drive at once). ``"state"`` is the
            default: it is the leaky integrator ``tau dh/dt = -h + u`` with a rectified output that the module
            docstring, the solvers and the docs describe, and it keeps the outputs of every model built or saved
            before this option bit for bit. Use ``"rate"`` to reproduce upstream DynVision's dynamics (to
            compare with its results or run its trained weights). Works with every solver, delay, recurrence
            type and connection; the carried state is then the rate itself.
        skip: use the model's skip connections (lower -> higher area, skipping areas in between).
        feedback: use the model's feedback connections (higher -> lower area).
        skip_mode: ``"additive"`` or ``"multiplicative"``: how skips enter the target's drive.
        feedback_mode: ``"additive"`` or ``"multiplicative"``: how feedback enters the target's drive.
        idle_timesteps: steps of blank (zero) input run before the stimulus, without gradient and not
            returned, so the stimulus meets the network's spontaneous state rather than zeros.
        tbptt_steps: detach all states every ``tbptt_steps`` stimulus steps (truncated backpropagation through
            time); ``0`` = never. This bounds the length of every gradient path (and the backward cost per
            step). :meth:`forward` keeps the activations of all windows until ``backward``; to keep training
            memory flat in ``T``, backpropagate window by window (:meth:`windows`), as
            :class:`~dynvision_models.TemporalClassifier` does when ``tbptt_steps > 0``.
        feedforward_only: ignore recurrence, skip and feedback (their weights are kept, so a trained model can
            be run feedforward). Can be changed after construction.
        supralinearity: exponent ``n`` of the rate transfer ``sign(r) |r|^n`` applied after the ReLU
            (``1`` = off).
        bias: ``"channel"`` (one per channel), ``"spatial"`` (one per unit ``(C, H, W)``) or ``"none"``.
        use_retina: filter each frame with a :class:`~dynvision_models.layers.Retina` (``C -> 36 -> 18``, 9x9)
            before the first area, which then receives 18 channels.
        adaptation: ``None`` (off) or ``(a, b)``: intrinsic adaptation with retention ``0 <= a < 1`` per step
            and gain ``b >= 0`` (see :mod:`dynvision_models.layers.adaptation`).
        readout: ``"avgpool"`` (global average over H, W, then Linear) or ``"flatten"`` (all units, then a
            Linear layer).
        temporal_readout: how the returned logits at step ``t`` are read from the per-step logits ``l(s)``
            of the stimulus steps ``s <= t`` (equations at :data:`TEMPORAL_READOUTS`): ``"step"`` (``l(t)``;
            the default, today's behaviour at no extra cost), ``"cumulative"`` (their sum: evidence
            accumulation, confidence grows while the evidence agrees) or ``"weighted"`` (their average under
            learnt weights ``exp(log_step_weights)``, one per step of ``n_timesteps``, starting as the running
            mean; later steps reuse the last weight). Steps count from the first stimulus step: idle steps are
            not read out, but blank frames given in the input (or a timeline's blanks) are. The running sums
            are carried across windows (:class:`TemporalState`; detached with it), so windows equal
            :meth:`forward` exactly; they are accumulated in at least float32.
        checkpoint_steps: activation checkpointing in segments of this many steps (``0``/``False``: off;
            ``True`` = 1). When gradients are enabled only the carried state at the start of each segment is
            kept for backward (the states ``h``, which the delay rings then hold, and delayed outputs), and the
            segment is recomputed in backward: one extra forward per step. Memory per step falls with the
            segment length (a segment keeps as many past states per area as the longest delay ring), while one
            segment's activations are held during its recomputation. Gradients are unchanged. With
            ``norm="batch"`` the recomputation updates the running statistics a second time.
        compile_step: compile one time step with :func:`torch.compile` (the loop stays in Python, so the
            compile time does not depend on ``T``). The first steps, while delay buffers still hold ``None``,
            and idle steps run eagerly; the steady-state step is compiled on first use (15-30 s on CPU).
            A new batch size causes one recompile, after which the batch dimension is dynamic. Outputs equal
            the eager ones to float32 rounding.
        channels_last: keep the 4-d weights in channels-last memory format (NHWC), so that every convolution,
            pooling and rate of the loop runs in that layout whatever the input's layout (the values are the
            same up to float32 rounding). On CPU this makes DyRCNNx4 about 1.5x faster forward and 1.2x in
            training; ``False`` keeps PyTorch's default layout.
    """

    def __init__(
        self,
        *,
        n_classes: int,
        input_shape: Sequence[int],
        n_timesteps: int,
        dt: float,
        tau: float | Sequence[float],
        train_tau: bool = False,
        t_feedforward: float = 0.0,
        t_recurrence: float | None = None,
        t_skip: float = 0.0,
        t_feedback: float | None = None,
        recurrence_type: str = "full",
        recurrence_target: str = "output",
        integration: str = "additive",
        solver: str = "euler",
        leak: str = "state",
        skip: bool = False,
        feedback: bool = False,
        skip_mode: str = "additive",
        feedback_mode: str = "additive",
        idle_timesteps: int = 0,
        tbptt_steps: int = 0,
        feedforward_only: bool = False,
        supralinearity: float = 1.0,
        bias: str = "channel",
        use_retina: bool = False,
        adaptation: Sequence[float] | None = None,
        readout: str = "avgpool",
        temporal_readout: str = "step",
        checkpoint_steps: int | bool = 0,
        compile_step: bool = False,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        # Every rule lives in dynvision_models.checks, so that a torch-free check of the kwargs (the
        # workflow's, at parse time) finds exactly the problems raised here.
        values = {name: value for name, value in locals().items() if name in _COMMON_KWARGS}
        checks.raise_problems(
            checks.engine_problems(
                values,
                choices=engine_choices(),
                solver_max_alpha=solver_limits(),
                gated_recurrence_types=list_gated_recurrence_types(),
            ),
            type(self).__name__,
        )
        self.n_classes = n_classes
        self.n_timesteps = n_timesteps
        self.input_shape: tuple[int, int, int] = tuple(input_shape)  # type: ignore[assignment]
        dt = float(dt)
        self._solver = get_solver(solver)
        self.solver = solver
        self.leak = leak
        # Read by _step on every step: a bool, so that the compiled step guards on a constant.
        self._leak_rate = leak == "rate"
        self.dt = dt
        taus = (float(tau),) if isinstance(tau, int | float) else tuple(map(float, tau))
        self.tau: float | tuple[float, ...] = taus[0] if isinstance(tau, int | float) else taus
        self._tau_given = tau  # as given, for the messages of _check_structure
        self.train_tau = train_tau
        self.recurrence_type = recurrence_type
        self.recurrence_target = recurrence_target
        self.integration = integration
        self.bias = bias

        self.t_feedforward = float(t_feedforward)
        self.t_recurrence = dt if t_recurrence is None else float(t_recurrence)
        self._ff_steps = delay_to_steps("t_feedforward", self.t_feedforward, dt)
        self._rec_steps = delay_to_steps("t_recurrence", self.t_recurrence, dt)
        self.skip = skip
        self.feedback = feedback
        self.skip_mode = skip_mode
        self.feedback_mode = feedback_mode
        self.t_skip = float(t_skip)
        self.t_feedback = max(dt, self.t_feedforward) if t_feedback is None else float(t_feedback)
        # Delays of switched-off connections are not checked: changing dt must not fail on an unused default.
        self._skip_steps = delay_to_steps("t_skip", self.t_skip, dt) if self.skip else 0
        self._fb_steps = delay_to_steps("t_feedback", self.t_feedback, dt) if self.feedback else 0

        self.idle_timesteps = idle_timesteps
        self.tbptt_steps = tbptt_steps
        self._feedforward_only = feedforward_only
        # True/False: one step per segment / off (the spelling before segments existed).
        self.checkpoint_steps = int(checkpoint_steps)
        self.compile_step = compile_step
        self.channels_last = channels_last
        self._compiled_step: Any = None

        self.supralinearity = float(supralinearity)
        self.supra = SupraLinearity(self.supralinearity) if self.supralinearity != 1.0 else None
        self.adaptation = parse_adaptation(adaptation)
        self.adapt = IntrinsicAdaptation(*self.adaptation) if self.adaptation is not None else None
        self.use_retina = use_retina
        self.retina = Retina(self.input_shape[0]) if self.use_retina else None
        self.readout = readout
        self.temporal_readout = temporal_readout
        if temporal_readout == "weighted":
            # beta_s = log w_s: positive weights, and beta = 0 starts the readout as the running mean.
            self.log_step_weights = nn.Parameter(torch.zeros(n_timesteps))

    def _check_structure(self, area_names: Sequence[str], middle_stage: Sequence[bool]) -> None:
        """Raise for kwargs that do not fit the areas (per-area ``tau`` lengths, ``recurrence_target="middle"``
        with single-stage areas); subclasses may call it before building their areas, :meth:`_build` does."""
        checks.raise_problems(
            checks.structure_problems(
                {"tau": self._tau_given, "recurrence_target": self.recurrence_target},
                area_names=area_names,
                middle_stage=middle_stage,
            ),
            type(self).__name__,
        )

    @property
    def stimulus_channels(self) -> int:
        """Channels the first area receives: the retina's output channels, or the stimulus channels."""
        return self.retina.out_channels if self.retina is not None else self.input_shape[0]

    # ------------------------------------------------------------------ construction
    def _build(
        self,
        areas: Mapping[str, RecurrentArea],
        *,
        skips: Sequence[tuple[str, str]] = (),
        feedbacks: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Register ``areas`` (feedforward order), infer their shapes, build connections and the classifier.

        Args:
            areas: name -> area, in feedforward order.
            skips: ``(source, target)`` pairs with the source before the target; built when ``skip``.
            feedbacks: ``(source, target)`` pairs with the source after the target; built when ``feedback``.
        """
        if not areas:
            raise ValueError("A temporal model needs at least one area.")
        self.areas = nn.ModuleDict(areas)
        self.area_names: tuple[str, ...] = tuple(areas)
        n = len(areas)
        self._check_structure(self.area_names, [area.has_middle_stage for area in areas.values()])
        taus = (self.tau,) * n if isinstance(self.tau, float) else self.tau
        self._taus: tuple[float, ...] = taus

        # One dry run of the feedforward path at batch 1 gives every area's shapes and the readout width.
        signal_shape: tuple[int, ...] = (self.stimulus_channels, *self.input_shape[1:])
        for name, area in areas.items():
            try:
                signal_shape = area.build_shapes(signal_shape)
            except RuntimeError as err:
                raise ValueError(
                    f"input_shape={self.input_shape} is too small or inconsistent for area {name!r} "
                    f"(input {signal_shape}): {err}"
                ) from err
        n_features = signal_shape[0] if self.readout == "avgpool" else math.prod(signal_shape)
        self.classifier = nn.Linear(n_features, self.n_classes)

        self.skip_pairs = self._check_pairs("skip", skips, before=True)
        self.feedback_pairs = self._check_pairs("feedback", feedbacks, before=False)
        index = {name: i for i, name in enumerate(self.area_names)}
        area_list = tuple(areas.values())

        def connections(pairs: tuple[tuple[str, str], ...], enabled: bool) -> nn.ModuleDict:
            built = {
                f"{source}_to_{target}": Connection(
                    area_list[index[source]].rate_shape, area_list[index[target]].rate_shape
                )
                for source, target in (pairs if enabled else ())
            }
            return nn.ModuleDict(built)

        self.skips = connections(self.skip_pairs, self.skip)
        self.feedbacks = connections(self.feedback_pairs, self.feedback)
        if self.train_tau:
            self.log_tau = nn.Parameter(torch.tensor(taus, dtype=torch.float32).log())
        self._compile()
        if self.channels_last:
            # Convolutions then produce channels-last rates from any input layout, and every later op keeps it.
            self.to(memory_format=torch.channels_last)

    def _check_pairs(
        self, kind: str, pairs: Sequence[tuple[str, str]], *, before: bool
    ) -> tuple[tuple[str, str], ...]:
        checked = []
        for pair in pairs:
            source, target = pair
            if source not in self.area_names or target not in self.area_names:
                raise ValueError(
                    f"{kind} {pair!r} names an unknown area; areas: {', '.join(self.area_names)}."
                )
            i, j = self.area_names.index(source), self.area_names.index(target)
            if (i < j) != before or i == j:
                direction = "a lower area to a higher one" if before else "a higher area to a lower one"
                raise ValueError(f"A {kind} connection goes from {direction}; got {source!r} -> {target!r}.")
            checked.append((source, target))
        return tuple(checked)

    def _compile(self) -> None:
        """Build the loop plan: per area a plain tuple of ints and modules (no lookups per step)."""
        areas = tuple(self.areas.values())
        n = len(areas)
        index = {name: i for i, name in enumerate(self.area_names)}
        ff_only = self._feedforward_only
        cells = [None if ff_only else a.cell for a in areas]
        # A gated cell that reads no rate (its recurrence runs through its memory) needs no rate history.
        rec_delays = [
            0 if ff_only or a.recurrence is None or (c is not None and not c.reads_rate) else self._rec_steps
            for a, c in zip(areas, cells, strict=True)
        ]
        # How each area computes its drive in _step: None when no area has a gated cell (the plain path, no
        # per-area test); else per area 0 = RecurrentArea.drive, 1 = its gated cell, 2 = its feedforward drive
        # alone (a gated area when feedforward_only: the cell is bypassed, u = W_ff * s + b).
        kinds = tuple(
            1 if c is not None else 2 if a.cell is not None else 0 for a, c in zip(areas, cells, strict=True)
        )
        self._drive_kinds: tuple[int, ...] | None = kinds if any(kinds) else None
        self._memory_areas: tuple[bool, ...] = tuple(c is not None and c.has_memory for c in cells)
        # (source, target, delay in steps, module, multiplicative) for every connection in use.
        links: list[tuple[int, int, int, nn.Module, bool]] = []
        if not ff_only:
            for pairs, modules, steps, mode in (
                (self.skip_pairs, self.skips, self._skip_steps, self.skip_mode),
                (self.feedback_pairs, self.feedbacks, self._fb_steps, self.feedback_mode),
            ):
                for source, target in pairs:
                    key = f"{source}_to_{target}"
                    if key in modules:
                        links.append(
                            (index[source], index[target], steps, modules[key], mode == "multiplicative")
                        )

        # Ring length of each area's rate history: one more than the longest delay it is read with.
        longest = [rec_delays[i] if rec_delays[i] else -1 for i in range(n)]
        if self.adapt is not None:
            longest = [max(d, 1) for d in longest]
        for source, _, steps, _, _ in links:
            longest[source] = max(longest[source], steps)
        ring_lengths = tuple(d + 1 for d in longest)  # 0 where nobody reads the history
        ff = self._ff_steps
        self._out_lengths: tuple[int, ...] = tuple(ff + 1 if (ff and i < n - 1) else 0 for i in range(n))
        self._ring_lengths = ring_lengths
        # Rings are rotated (newest first) when an area writes its rate, so a source computed earlier in the
        # step (skip) holds r(t - d) at index d and one computed later (feedback) at index d - 1.
        self._plan: tuple[tuple, ...] = tuple(
            (
                areas[i],
                ff if i else 0,
                rec_delays[i],
                ring_lengths[i],
                tuple(
                    (source, steps - 1 if source > target else steps, module, multiplicative)
                    for source, target, steps, module, multiplicative in links
                    if target == i
                ),
                self.supra,
                areas[i].pool,
                areas[i].norm,
                self._out_lengths[i],
            )
            for i in range(n)
        )
        self._alphas: tuple[float, ...] = tuple(self.dt / tau for tau in self._taus)
        self._compiled_step = None  # the plan changed: compile again on next use
        # With checkpointing the rings hold states h and reads rectify them again (an elementwise op): then
        # each checkpointed step keeps one tensor per area alive for backward (h) instead of h and the rate.
        # When the rate leaks, the carried state is the rate: the rings hold that same tensor, one per area.
        self._rings_hold_state = bool(self.checkpoint_steps) and not self._leak_rate

        # Earliest arrival of a stimulus onset at each area: shortest path over the delays in use
        # (Bellman-Ford; a handful of areas, computed once).
        edges = [(i - 1, i, ff) for i in range(1, n)] + [(s, t, d) for s, t, d, _, _ in links]
        arrival = [0] + [math.inf] * (n - 1)
        for _ in range(n):
            for source, target, steps in edges:
                arrival[target] = min(arrival[target], arrival[source] + steps)
        self._arrival: tuple[int, ...] = tuple(int(a) for a in arrival)

    # ------------------------------------------------------------------ public API
    @property
    def feedforward_only(self) -> bool:
        """Whether recurrence, skip and feedback are ignored (settable; rebuilds the loop plan)."""
        return self._feedforward_only

    @feedforward_only.setter
    def feedforward_only(self, value: bool) -> None:
        self._feedforward_only = _check_bool("feedforward_only", value)
        if hasattr(self, "_plan"):
            self._compile()

    def area_tau(self) -> dict[str, float]:
        """Current time constant of each area in ms (the learnt value when ``train_tau``)."""
        values = self.log_tau.detach().exp().tolist() if self.train_tau else list(self._taus)
        return dict(zip(self.area_names, values, strict=True))

    def first_driven_step(self, area: str) -> int:
        """Index of the first step (0-based) at which a stimulus shown from step 0 reaches ``area``.

        The shortest path over the connections in use: ``d_ff`` steps per feedforward hop, ``d_skip`` per
        skip, ``d_fb`` per feedback. Before that step the area is driven by its bias (and its own history)
        only; a stimulus change at step ``t0`` first changes the area at ``t0 + first_driven_step(area)``.
        Multiplicative connections count as paths: they scale the target's drive, which carries its bias.
        """
        return self._arrival[area_index(area, self.area_names)]

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, T, n_classes)`` for ``x`` of shape ``(B, T, C, H, W)``, static ``(B, C, H, W)``, or a
        timeline (an image shown at some steps and a blank at the others, never written out; :mod:`.timeline`)."""
        return torch.cat(list(self.windows(x)), dim=1)

    def forward_intermediates(
        self,
        x: Tensor,
        areas: Iterable[str] | None = None,
        reduce: Callable[[Tensor], Tensor] | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Logits and per-area rates at every step.

        Args:
            x: ``(B, T, C, H, W)`` or static ``(B, C, H, W)`` (shown for ``n_timesteps`` steps).
            areas: names of the areas to record (default: all).
            reduce: applied to the rate ``(B, C_a, H_a, W_a)`` of each recorded area at each step, e.g. the
                mean over units, ``lambda r: r.mean(dim=(1, 2, 3))``; it returns ``(B, *S)`` and the responses
                become ``(B, T, *S)``. A summary of every step then costs what the summary costs: the rates are
                neither copied into one ``(B, T, C, H, W)`` tensor nor re-laid out.

        Returns:
            ``(logits, responses)``: logits ``(B, T, n_classes)``; ``responses[area]`` is
            ``(B, T, C_a, H_a, W_a)``, the rate ``r_a(t)`` of that area at every stimulus step (after the
            nonlinearity, before pooling; idle steps are not included), or ``(B, T, *S)`` with ``reduce``.
        """
        names = check_area_names(areas, self.area_names)
        indices = tuple(self.area_names.index(a) for a in names)
        logits, recorded = [], {i: [] for i in indices}
        for window_logits, window_rates in self._windows(x, None, indices, reduce):
            logits.append(window_logits)
            for i in indices:
                recorded[i].extend(window_rates[i])
        return torch.cat(logits, dim=1), {
            self.area_names[i]: torch.stack(recorded[i], dim=1) for i in indices
        }

    def init_state(self, x: Tensor) -> TemporalState:
        """The state before the first stimulus step: zeros, advanced through the ``idle_timesteps`` (no grad).

        Args:
            x: the input (or a window of it), ``(B, T, C, H, W)`` or ``(B, C, H, W)``; gives the batch size,
                dtype and device.
        """
        x = self._as_sequence(x)
        batch = x.shape[0]
        carry: Carry = (
            (None,) * len(self._plan),
            tuple((None,) * length for length in self._ring_lengths),
            tuple((None,) * length for length in self._out_lengths),
            (None,) * len(self._plan),
            (None,) * len(self._plan),
        )
        if self.idle_timesteps:
            with torch.no_grad():
                blank = None
                if self.retina is not None:
                    frame = self.retina(x.new_zeros(1, *self.input_shape))
                    blank = frame.expand(batch, *frame.shape[1:])
                alphas = self._alphas_now()
                for _ in range(self.idle_timesteps):
                    _, _, carry = self._step(blank, carry, alphas, batch)
        return TemporalState(batch, carry)

    def run(self, x: Tensor, state: TemporalState) -> tuple[Tensor, TemporalState]:
        """Advance ``state`` through the frames of ``x``; the window API behind :meth:`forward`.

        Args:
            x: a window of frames ``(B, k, C, H, W)`` (or a static ``(B, C, H, W)``, shown for
                ``n_timesteps`` steps).
            state: from :meth:`init_state` or a previous :meth:`run`; not modified.

        Returns:
            ``(logits, state)``: logits ``(B, k, n_classes)`` and the state after the window. The state keeps
            its autograd history (call :meth:`TemporalState.detach` to truncate backpropagation); no
            ``tbptt_steps`` detaching happens inside a window.
        """
        logits, _, state = self._run_window(self._as_sequence(x), state, ())
        return logits, state

    def windows(self, x: Tensor, steps: int | None = None) -> Iterator[Tensor]:
        """Run ``x`` window by window, yielding logits ``(B, k, n_classes)`` of each window of ``k`` steps.

        The state is detached between windows (truncated BPTT), so a caller may backpropagate each window's
        loss before asking for the next one: the activations of only one window are then alive at a time.
        Concatenated over ``dim=1`` the windows equal :meth:`forward`.

        Args:
            x: ``(B, T, C, H, W)`` or static ``(B, C, H, W)``.
            steps: window length in steps; default ``tbptt_steps`` (``0``: one window of all ``T`` steps).
        """
        for logits, _ in self._windows(x, steps, ()):
            yield logits

    def _windows(
        self,
        x: Tensor,
        steps: int | None,
        record: tuple[int, ...],
        reduce: Callable[[Tensor], Tensor] | None = None,
    ) -> Iterator[tuple[Tensor, dict[int, list[Tensor]]]]:
        x = self._as_sequence(x)
        n_steps = x.shape[1]
        steps = self.tbptt_steps if steps is None else _check_int("steps", steps, 0)
        steps = steps or n_steps
        state = self.init_state(x)
        for start in range(0, n_steps, steps):
            if start:
                state = state.detach()
            logits, recorded, state = self._run_window(x[:, start : start + steps], state, record, reduce)
            yield logits, recorded

    def extra_repr(self) -> str:
        return (
            f"input_shape={self.input_shape}, n_timesteps={self.n_timesteps}, dt={self.dt} ms, "
            f"tau={self.tau} ms, train_tau={self.train_tau}, t_feedforward={self.t_feedforward} ms, "
            f"t_recurrence={self.t_recurrence} ms, t_skip={self.t_skip} ms, t_feedback={self.t_feedback} ms, "
            f"recurrence_type={self.recurrence_type!r}, recurrence_target={self.recurrence_target!r}, "
            f"integration={self.integration!r}, solver={self.solver!r}, leak={self.leak!r}, "
            f"skip={self.skip}, feedback={self.feedback}, idle_timesteps={self.idle_timesteps}, "
            f"tbptt_steps={self.tbptt_steps}, feedforward_only={self.feedforward_only}, "
            f"readout={self.readout!r}, temporal_readout={self.temporal_readout!r}, "
            f"checkpoint_steps={self.checkpoint_steps}, compile_step={self.compile_step}, "
            f"channels_last={self.channels_last}"
        )

    # ------------------------------------------------------------------ internals
    def _as_sequence(self, x: Tensor) -> Tensor:
        """Validate ``x`` and return it as ``(B, T, C, H, W)`` (a static image is expanded, not copied)."""
        return check_input_sequence(x, self.input_shape, self.n_timesteps, lazy=True)  # type: ignore[return-value]

    def _alphas_now(self) -> tuple[float | Tensor, ...]:
        """``dt / tau`` of each area; recomputed from ``log_tau`` at every call when ``train_tau``."""
        return tuple((self.dt * torch.exp(-self.log_tau)).unbind()) if self.train_tau else self._alphas

    def _run_window(
        self,
        x: Tensor,
        state: TemporalState,
        record: tuple[int, ...],
        reduce: Callable[[Tensor], Tensor] | None = None,
    ) -> tuple[Tensor, dict[int, list[Tensor]], TemporalState]:
        """Run the steps of ``x`` ``(B, k, C, H, W)`` from ``state``; record the rates of areas ``record`` (each
        step's passed through ``reduce`` as soon as it is computed, when given)."""
        batch, n_steps = x.shape[0], x.shape[1]
        if batch != state.batch:
            raise ValueError(f"The state is for batch size {state.batch}, but the input has batch {batch}.")
        alphas = self._alphas_now()
        retina = self.retina
        per_frame_retina = False
        if retina is not None:
            if isinstance(x, FrameTimeline):
                x = x.map_frames(retina)  # the image and the blank, filtered once each
            elif x.stride(1) == 0:
                # A static image (a view repeated over time): filter it once, show the result at every step.
                filtered = retina(x[:, 0])
                x = filtered.unsqueeze(1).expand(batch, n_steps, *filtered.shape[1:])
            else:
                # Frame by frame inside the loop: filtering all B*T frames at once would hold them in memory.
                per_frame_retina = True
        segment = self.checkpoint_steps if torch.is_grad_enabled() else 0
        compiled = self._get_compiled_step() if self.compile_step else None
        features: list[Tensor] = []
        recorded: dict[int, list[Tensor]] = {i: [] for i in record}
        carry = state.carry
        for start in range(0, n_steps, segment or n_steps):
            frames = x[:, start : start + (segment or n_steps)]
            if segment:
                # Keep only the carried state at the segment's start; recompute the segment in backward.
                out = checkpoint(
                    self._run_steps, frames, carry, alphas, batch, per_frame_retina, compiled, record, reduce,
                    use_reentrant=False,
                )
            else:
                out = self._run_steps(frames, carry, alphas, batch, per_frame_retina, compiled, record, reduce)
            segment_features, segment_rates, carry = out
            features.extend(segment_features)
            for i, rates in zip(record, segment_rates, strict=True):
                recorded[i].extend(rates)
        logits = self.classifier(torch.stack(features, dim=1))
        # Outside the (checkpointed, compiled) steps: the readout over time is a few elementwise ops per step.
        logits, readout = self._read_out_over_time(logits, state)
        return logits, recorded, TemporalState(batch, carry, state.steps + n_steps, readout)

    def _read_out_over_time(
        self, logits: Tensor, state: TemporalState
    ) -> tuple[Tensor, tuple[Tensor, ...] | None]:
        """The temporal readout (:data:`TEMPORAL_READOUTS`) of a window's per-step logits ``l`` ``(B, k, n)``
        whose first step is stimulus step ``state.steps``: ``(logits (B, k, n), running sums after it)``."""
        mode = self.temporal_readout
        if mode == "step":
            return logits, None
        # One running sum, added to step by step: the same additions in the same order however the steps are
        # split into windows (a cumsum per window would regroup them), so windows equal forward exactly.
        dtype = torch.promote_types(logits.dtype, torch.float32)
        per_step = logits.to(dtype).unbind(1)
        out: list[Tensor] = []
        if mode == "cumulative":
            total = None if state.readout is None else state.readout[0]
            for step_logits in per_step:
                total = step_logits if total is None else total + step_logits
                out.append(total)
            return torch.stack(out, dim=1), (total,)  # type: ignore[return-value]
        weights = self.log_step_weights.exp()
        last = weights.shape[0] - 1
        numerator, denominator = (None, None) if state.readout is None else state.readout
        for k, step_logits in enumerate(per_step):
            weight = weights[min(state.steps + k, last)]  # steps beyond n_timesteps reuse the last weight
            weighted = weight * step_logits
            numerator = weighted if numerator is None else numerator + weighted
            denominator = weight if denominator is None else denominator + weight
            out.append(numerator / denominator)
        return torch.stack(out, dim=1), (numerator, denominator)  # type: ignore[return-value]

    def _run_steps(
        self,
        x: Tensor,
        carry: Carry,
        alphas: tuple[float | Tensor, ...],
        batch: int,
        per_frame_retina: bool,
        compiled: Any,
        record: tuple[int, ...],
        reduce: Callable[[Tensor], Tensor] | None = None,
    ) -> tuple[list[Tensor], list[list[Tensor]], Carry]:
        """Steps of ``x`` ``(B, k, C, H, W)`` from ``carry``: features, recorded rates (per area; reduced at once
        with ``reduce``: a step's rates are then freed with the step, not held to the window's end), final carry."""
        eager = self._step
        adaptation, memory = self.adapt is not None, self._memory_areas
        full = _is_full(carry, adaptation, memory)
        features: list[Tensor] = []
        recorded: list[list[Tensor]] = [[] for _ in record]
        for k in range(x.shape[1]):
            signal = x[:, k]
            if per_frame_retina:
                signal = self.retina(signal)  # type: ignore[misc]
            if not full:
                full = _is_full(carry, adaptation, memory)
                if not full and compiled is not None and carry[0][0] is not None:
                    # After one eager step every buffer has a tensor to copy the shape from: fill the slots
                    # still empty with zeros (they contribute exactly what None does), so that one compiled
                    # graph serves every later step.
                    carry, full = _zero_filled(carry, memory), True
            step = compiled if compiled is not None and full else eager
            feature, rates, carry = step(signal, carry, alphas, batch)
            features.append(feature)
            for rates_of_area, i in zip(recorded, record, strict=True):
                rates_of_area.append(rates[i] if reduce is None else reduce(rates[i]))
        return features, recorded, carry

    def _get_compiled_step(self) -> Any:
        if self._compiled_step is None:
            # The step reads the plan (modules, ints) from self; dynamo guards on it. Batch sizes: the first
            # call compiles for its shapes, a second size recompiles once with a dynamic batch dimension.
            self._compiled_step = torch.compile(self._step, fullgraph=True)
        return self._compiled_step

    def _step(
        self, signal: Tensor | None, carry: Carry, alphas: tuple[float | Tensor, ...], batch: int
    ) -> tuple[Tensor, tuple[Tensor, ...], Carry]:
        """One time step, a pure function (inputs are not modified; safe to recompute and to compile).

        Args:
            signal: the stimulus frame ``(B, C, H, W)`` (after the retina), or ``None`` for a blank one.
            carry: the state before the step (see :data:`Carry`).
            alphas: ``dt / tau`` of each area.
            batch: batch size ``B`` (for areas whose inputs are all zeros).

        Returns:
            ``(feature, rates, carry)``: the readout features of the last area ``(B, F)``, every area's rate
            ``r_i(t)`` ``(B, C_i, H_i, W_i)``, and the state after the step.
        """
        plan = self._plan
        solver_step = self._solver.step
        leak_rate = self._leak_rate
        supra = self.supra
        hold_state = self._rings_hold_state

        def past_rate(r: Tensor | None) -> Tensor | None:
            if r is None or not hold_state:
                return r
            r = torch.relu(r)
            return supra(r) if supra is not None else r

        adapt = self.adapt
        gain = adapt.gain if adapt is not None else 0.0
        kinds = self._drive_kinds  # None: no area has a gated cell
        states_in, rings_in, out_rings_in, adapt_in, memories_in = carry
        states, rings, out_rings, adapt_states = (
            list(states_in),
            list(rings_in),
            list(out_rings_in),
            list(adapt_in),
        )
        memories = memories_in if kinds is None else list(memories_in)
        rates: list[Tensor] = []
        for i in range(len(plan)):
            area, d_ff, d_rec, length, links, post, pool, norm, out_length = plan[i]
            if d_ff:
                # Slots not yet written hold None: the delayed signal has not arrived (zero input).
                signal = out_rings[i - 1][d_ff]
            ring = rings[i]
            r_past = past_rate(ring[d_rec - 1]) if d_rec else None
            if kinds is None or not kinds[i]:
                u = area.drive(signal, r_past, batch)
            elif kinds[i] == 1:
                # The gated cell combines the feedforward drive and r_past itself and updates its memory once
                # per step (the solver integrates its output u like any drive).
                u, memories[i] = area.cell_drive(signal, r_past, memories[i], batch)  # type: ignore[index]
            else:
                u = area.feedforward_drive(signal, batch)
            for source, index, module, multiplicative in links:
                r_source = past_rate(rings[source][index])
                if r_source is not None:
                    c = module(r_source)
                    # u is a fresh tensor (the contract of RecurrentArea.drive, cell_drive and
                    # feedforward_drive): in place is safe.
                    u = torch.addcmul(u, u, c.tanh()) if multiplicative else u.add_(c)
            if adapt is not None:
                suppression = adapt.update(adapt_states[i], past_rate(ring[0]))
                adapt_states[i] = suppression
                if suppression is not None:
                    u = u.sub_(suppression, alpha=gain)
            # The drive is fixed for the step (every input is delayed by >= 1 step or comes from earlier
            # areas), so the solver gets it as a constant function of the state.
            # states[i] is h(t-1) (leak "state") or r(t-1) (leak "rate"): the value the step leaks from.
            h = solver_step(states[i], lambda _h, u=u: u, alphas[i])
            rate = torch.relu(h)
            if post is not None:
                rate = post(rate)
            states[i] = rate if leak_rate else h
            if length:
                rings[i] = (h if hold_state else rate, *ring[:-1])
            rates.append(rate)
            signal = pool(rate) if pool is not None else rate
            if norm is not None:
                signal = norm(signal)
            if out_length:
                out_rings[i] = (signal, *out_rings[i][:-1])
        # signal is the last area's output here (never None: every area emits at every step).
        assert signal is not None
        feature = signal.flatten(1) if self.readout == "flatten" else signal.mean(dim=(-2, -1))
        carried = (tuple(states), tuple(rings), tuple(out_rings), tuple(adapt_states), tuple(memories))
        return feature, tuple(rates), carried


_COMMON_KWARGS: tuple[str, ...] = tuple(
    name for name in inspect.signature(TemporalModel.__init__).parameters if name != "self"
)
