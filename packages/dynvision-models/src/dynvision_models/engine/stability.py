"""Stability of an engine model: the leading eigenvalues of its linearised recurrent step (CordsNet-style spectra).

Every model built on :class:`~dynvision_models.engine.TemporalModel` advances a carried state ``c`` (per area:
its state ``h``, the ring of its past rates, its delayed outputs on their way to the next area, its adaptation
state and any further memory the step keeps; treated here as an opaque tree of tensors) with one pure step
function. This module reads how that step amplifies small perturbations.

Definitions (``t`` counts steps of ``dt`` ms):

- **Linearisation point** ``c*``: the carry reached after showing one image for ``steps`` steps (default: the
  model's ``n_timesteps``), after the model's idle steps, with the frame held fixed; a blank stimulus is a zero
  image. A batch of images gives one linearisation point, and one spectrum, per image.
- **The map** ``F(c) = step(frame, c)``, one step of ``dt`` ms with the same frame, and its Jacobian
  ``J = dF/dc`` at ``c*`` (dimensionless: a perturbation ``delta`` becomes ``J delta`` one step later).
- **Per area** ``l``: the diagonal block ``J_ll = dF_l / dc_l``, where ``c_l`` are area ``l``'s own carried
  components (every slot that the step keeps at index ``l``: state, delay ring, delayed output, adaptation,
  memory). Perturbations start on ``c_l`` only (zero on every other area) and are read on ``c_l`` only. With a
  recurrence delay of ``d`` steps the ring makes this the companion (delay-embedded) operator, whose
  eigenvalues are the roots of the delay system's characteristic polynomial; e.g. Euler, ``leak="state"``,
  ``a = dt / tau``, a unit with self-weight ``w`` and a positive state: ``lambda^d = (1 - a) lambda^(d-1) + a w``.
  Slots that only feed the next area (the delayed outputs) and unused ring entries add eigenvalues 0. Paths
  that leave the area and return within the same step (feedback into a lower area whose output reaches ``l``
  without delay) are part of ``dF_l / dc_l`` and are included.
- **The network** (``area="network"``): the whole ``J``, all areas' components together.
- Slots that the step passes through unchanged (e.g. the adaptation state of a model without adaptation) are
  constants of the dynamics, not states: they are held fixed. Slots still empty at ``c*`` (``None``: a delay
  longer than ``steps``) are filled with zeros, which is what an empty slot contributes.

Reading of an eigenvalue ``lambda`` (a mode that evolves as ``lambda^t``):

- ``modulus = |lambda|`` (per step; the mode decays when ``< 1``, grows when ``> 1``) and ``angle = arg lambda``
  in radians per step, in ``(-pi, pi]``;
- ``tau_ms = -dt / ln|lambda|`` in ms, the decay time constant of the mode's envelope ``|lambda|^t =
  exp(-t dt / tau_ms)``: ``inf`` for ``|lambda| = 1``, negative for a growing mode (its growth time constant),
  ``0`` for ``lambda = 0``;
- ``frequency_hz = angle / (2 pi dt) * 1000`` in Hz, the rotation frequency of the mode (the conjugate of a
  complex pair has the negative frequency);
- ``residual = ||J v - lambda v||`` for the unit Ritz vector ``v``, computed with extra Jacobian-vector
  products (not estimated): a pair is ``converged`` when ``residual <= tol * max(|lambda_0|, 1)``, ``lambda_0``
  the leading eigenvalue, i.e. relative to the unit circle, where stability is decided.

Method: matrix-free. ``J v`` is one forward-mode Jacobian-vector product of the step
(:mod:`torch.autograd.forward_ad`, about 1.7 forward steps); no Jacobian is ever formed.
:func:`recurrent_spectrum` finds the ``k`` eigenvalues of largest modulus by Arnoldi iteration with thick
restarts in real arithmetic: a Krylov basis ``V`` of ``krylov_size = m`` vectors (two passes of classical
Gram-Schmidt) and their images ``J V`` are kept, so the projected matrix ``V^T J V`` is exact for any basis and
every Ritz residual is computed rather than estimated; the ``k + (m - k) // 2`` leading Ritz vectors (complex
pairs kept whole, as the real and imaginary parts of one member) are kept and the basis is extended again, until
the ``k`` leading residuals meet ``tol`` or ``max_restarts`` restarts are spent. A Krylov space holds one copy of
each eigenvalue per starting direction, so an invariant subspace is continued with a fresh random direction, and
once the ``k`` leading have converged one more cycle starts from a fresh direction with only them kept: the
spectrum is final when that cycle changes none of the ``k`` values (repeated eigenvalues, e.g. of units that
share a channel's weights, come out with their multiplicity). Memory: ``2 m`` vectors of the operator's
dimension. :func:`leading_mode` runs power iteration on a block of two vectors (so that a leading complex pair is
found as well as a real eigenvalue) with Rayleigh-Ritz on the block.

The model runs in evaluation mode (BatchNorm with its running statistics; its training flags are restored
afterwards) and without gradients; the step is the eager one (``compile_step`` is not used).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.autograd.forward_ad as fwAD
from torch import Tensor, nn
from torch.utils._pytree import TreeSpec, tree_flatten, tree_unflatten

from .temporal import TemporalModel, check_input_sequence

__all__ = [
    "DEFAULT_K",
    "NETWORK",
    "SPECTRUM_COLUMNS",
    "LeadingMode",
    "leading_mode",
    "recurrent_spectrum",
]

#: The ``area`` of the whole network's operator (all areas' carried components together).
NETWORK = "network"
#: Eigenvalues per area and image that :func:`recurrent_spectrum` returns by default.
DEFAULT_K = 6
#: Columns of a row of :func:`recurrent_spectrum`, in order (units in the module docstring).
SPECTRUM_COLUMNS: tuple[str, ...] = (
    "image",
    "area",
    "rank",
    "real",
    "imag",
    "modulus",
    "angle",
    "tau_ms",
    "frequency_hz",
    "residual",
    "converged",
    "dimension",
    "steps",
    "dt_ms",
)

#: Default ``tol`` per dtype of the model: about 100 machine epsilons, what a float32 Jacobian-vector product
#: still resolves. Looser tolerances let the strongly non-normal network operator (large feedforward weights
#: below the diagonal) pass Ritz values that lie in its pseudospectrum but are no eigenvalues.
_DEFAULT_TOL: dict[torch.dtype, float] = {torch.float64: 1e-10, torch.float32: 1e-5}
#: Default ``tol`` of half-precision models.
_HALF_TOL = 1e-2
#: Fewest basis vectors of the default Krylov space (more than ``2 k + 1`` helps clustered spectra).
_MIN_KRYLOV = 40
#: A new basis vector whose norm after orthogonalisation is below this many machine epsilons of its norm
#: before is taken as an invariant subspace (Arnoldi breakdown).
_BREAKDOWN_EPS = 100.0


@dataclass(frozen=True)
class LeadingMode:
    """The leading eigenvalue and eigenvector of one area's (or the network's) linearised step, one image.

    Attributes:
        image: index of the image in the batch.
        area: the area's name, or ``"network"``.
        eigenvalue: the eigenvalue of largest modulus (per step; for a complex pair, the one with
            ``imag >= 0``).
        vector: the unit eigenvector ``(dimension,)`` (complex), over the area's carried components in the
            order of the carry's leaves.
        components: the eigenvector on the carry: a tree shaped like the model's carry with a complex
            ``(C, H, W)`` tensor in every slot of the area and ``None`` elsewhere (e.g. the mode's pattern on
            the area's state ``h``).
        residual: ``||J v - lambda v||`` of the unit vector.
        converged: whether ``residual <= tol * max(|lambda|, 1)``.
        iterations: power iterations done.
        tau_ms: decay time constant ``-dt / ln|lambda|`` in ms (``inf`` at ``|lambda| = 1``, negative: growth).
        frequency_hz: ``arg(lambda) / (2 pi dt) * 1000`` in Hz.
    """

    image: int
    area: str
    eigenvalue: complex
    vector: Tensor
    components: Any
    residual: float
    converged: bool
    iterations: int
    tau_ms: float
    frequency_hz: float


# ---------------------------------------------------------------------------------------------- public API
def recurrent_spectrum(
    model: nn.Module,
    stimulus: Tensor | None = None,
    *,
    areas: Sequence[str] | None = None,
    k: int = DEFAULT_K,
    steps: int | None = None,
    tol: float | None = None,
    krylov_size: int | None = None,
    max_restarts: int = 100,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """The ``k`` leading eigenvalues of each area's linearised step (and the whole network's), per image.

    Args:
        model: a model built on the temporal engine (:class:`~dynvision_models.engine.TemporalModel`).
        stimulus: the image held fixed, ``(C, H, W)`` or a batch ``(B, C, H, W)`` (one spectrum per image;
            moved to the model's device and dtype), or ``None`` for a blank (zero) image.
        areas: area names, and/or ``"network"`` for the whole network's operator; default: every area, then
            the network.
        k: eigenvalues per area and image (at most the dimension of the area's carried state).
        steps: steps of the stimulus before linearising (>= 1); default the model's ``n_timesteps``.
        tol: convergence tolerance of a Ritz pair's residual, relative to ``max(|lambda_0|, 1)``; default
            1e-5 for a float32 model, 1e-10 for float64 (1e-2 for half precision).
        krylov_size: basis vectors of the Arnoldi iteration (at least ``k + 2`` unless it spans the whole
            space); default ``min(dimension, max(2 k + 1, 40))``.
        max_restarts: thick restarts at most; pairs still above ``tol`` after them are returned with
            ``converged=False``.
        seed: seed of the random start vector (the same seed gives the same spectrum).

    Returns:
        Rows (dicts with the keys of :data:`SPECTRUM_COLUMNS`), per image, per area in the order asked, ``k``
        rows by rank (0 = largest modulus; a complex pair's member with ``imag > 0`` first): ``real``,
        ``imag``, ``modulus`` (per step), ``angle`` (rad per step), ``tau_ms`` (ms), ``frequency_hz`` (Hz),
        ``residual`` (``||J v - lambda v||``, unit ``v``), ``converged``, ``dimension`` (size of the operator),
        ``steps`` (of the linearisation point) and ``dt_ms``. Definitions in the module docstring.

    Raises:
        TypeError: ``model`` is not built on the temporal engine (the message lists the models that are).
        ValueError: an unknown area (the message lists the areas), ``k`` larger than an operator's dimension,
            a stimulus of the wrong shape, or a bad ``steps``/``tol``/``krylov_size``/``max_restarts``.
    """
    _check_int("k", k, 1)
    _check_int("max_restarts", max_restarts, 0)
    if krylov_size is not None:
        _check_int("krylov_size", krylov_size, 2)
    engine = _check_model(model)
    with _evaluation(engine), torch.no_grad():
        return list(_spectrum_rows(engine, stimulus, areas, k, steps, tol, krylov_size, max_restarts, seed))


def _spectrum_rows(
    model: TemporalModel,
    stimulus: Tensor | None,
    areas: Sequence[str] | None,
    k: int,
    steps: int | None,
    tol: float | None,
    krylov_size: int | None,
    max_restarts: int,
    seed: int,
) -> Iterator[dict[str, Any]]:
    """The rows of :func:`recurrent_spectrum` (called in evaluation mode, without gradients)."""
    for point in _linearisation_points(model, stimulus, steps):
        tolerance = _tolerance(tol, point.dtype)
        operators = [point.operator(area) for area in _check_areas(areas, point.area_names)]
        for operator in operators:
            if k > operator.dimension:
                raise ValueError(
                    f"k={k} eigenvalues asked, but the operator of {operator.area!r} has dimension "
                    f"{operator.dimension} (its carried state); give k <= {operator.dimension}."
                )
            size = _krylov_size(krylov_size, k, operator.dimension)
            generator = torch.Generator(device=point.device).manual_seed(seed)
            theta, _, _, residuals = _arnoldi(
                operator.matvec, operator.dimension, k, size, tolerance, max_restarts, generator, point.dtype,
                point.device,
            )
            scale = max(abs(theta[0]), 1.0)
            for rank, (value, residual) in enumerate(zip(theta, residuals, strict=True)):
                tau_ms, frequency_hz = _continuous(complex(value), point.dt)
                yield {
                    "image": point.image,
                    "area": operator.area,
                    "rank": rank,
                    "real": float(value.real),
                    "imag": float(value.imag),
                    "modulus": float(abs(value)),
                    "angle": float(np.angle(value)),
                    "tau_ms": tau_ms,
                    "frequency_hz": frequency_hz,
                    "residual": residual,
                    "converged": bool(residual <= tolerance * scale),
                    "dimension": operator.dimension,
                    "steps": point.steps,
                    "dt_ms": point.dt,
                }


def leading_mode(
    model: nn.Module,
    stimulus: Tensor | None = None,
    *,
    areas: Sequence[str] | None = None,
    steps: int | None = None,
    tol: float | None = None,
    max_iter: int = 1000,
    seed: int = 0,
) -> list[LeadingMode]:
    """The leading eigenvalue and eigenvector of each area's linearised step (and the network's), per image,
    by power iteration.

    Power iteration on a block of two vectors with Rayleigh-Ritz on the block (a real leading eigenvalue and a
    leading complex pair both converge, at the rate ``|lambda_3 / lambda_1|`` per iteration; two
    Jacobian-vector products per iteration). Arguments as :func:`recurrent_spectrum`; ``max_iter`` bounds the
    iterations (a mode still above ``tol`` after them is returned with ``converged=False``).

    Returns:
        One :class:`LeadingMode` per image and area, in the order of :func:`recurrent_spectrum`'s rows.
    """
    _check_int("max_iter", max_iter, 1)
    engine = _check_model(model)
    with _evaluation(engine), torch.no_grad():
        return list(_leading_modes(engine, stimulus, areas, steps, tol, max_iter, seed))


def _leading_modes(
    model: TemporalModel,
    stimulus: Tensor | None,
    areas: Sequence[str] | None,
    steps: int | None,
    tol: float | None,
    max_iter: int,
    seed: int,
) -> Iterator[LeadingMode]:
    """The modes of :func:`leading_mode` (called in evaluation mode, without gradients)."""
    for point in _linearisation_points(model, stimulus, steps):
        tolerance = _tolerance(tol, point.dtype)
        for area in _check_areas(areas, point.area_names):
            operator = point.operator(area)
            generator = torch.Generator(device=point.device).manual_seed(seed)
            value, vector, residual, iterations = _block_power(
                operator.matvec, operator.dimension, tolerance, max_iter, generator, point.dtype, point.device
            )
            tau_ms, frequency_hz = _continuous(value, point.dt)
            yield LeadingMode(
                image=point.image,
                area=area,
                eigenvalue=value,
                vector=vector,
                components=operator.components(vector),
                residual=residual,
                converged=bool(residual <= tolerance * max(abs(value), 1.0)),
                iterations=iterations,
                tau_ms=tau_ms,
                frequency_hz=frequency_hz,
            )


# ------------------------------------------------------------------------------------ checks at the boundary
def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return value


def _tolerance(tol: float | None, dtype: torch.dtype) -> float:
    if tol is None:
        return _DEFAULT_TOL.get(dtype, _HALF_TOL)
    if isinstance(tol, bool) or not isinstance(tol, int | float) or not 0 < tol < 1:
        raise ValueError(
            f"tol must be a number in (0, 1), the largest residual relative to max(|lambda_0|, 1), got {tol!r}; "
            "e.g. 1e-6 (leave it None for the default of the model's dtype)."
        )
    return float(tol)


def _krylov_size(requested: int | None, k: int, dimension: int) -> int:
    size = max(2 * k + 1, _MIN_KRYLOV) if requested is None else requested
    size = min(size, dimension)
    if size < dimension and size < k + 2:
        raise ValueError(
            f"krylov_size={requested} is too small for k={k}: a restarted Arnoldi iteration needs at least "
            f"k + 2 = {k + 2} basis vectors (or the whole dimension, {dimension}). Give krylov_size >= {k + 2} "
            "or leave it None."
        )
    return size


def _engine_models() -> list[str]:
    """Names of the registered models built on the temporal engine."""
    from ..registry import describe_models  # the registry imports the zoo, which imports this package

    return [name for name, entry in describe_models().items() if entry.get("engine") is not None]


def _check_model(model: nn.Module) -> TemporalModel:
    if not isinstance(model, TemporalModel):
        raise TypeError(
            f"The stability analysis linearises the one-step function of the temporal engine, but "
            f"{type(model).__name__} is not built on it (dynvision_models.engine.TemporalModel) and runs its own "
            f"time loop. Models with the engine: {', '.join(_engine_models())}."
        )
    return model


def _check_areas(areas: Sequence[str] | None, area_names: tuple[str, ...]) -> list[str]:
    if areas is None:
        return [*area_names, NETWORK]
    if isinstance(areas, str):
        areas = [areas]
    names = list(dict.fromkeys(areas))
    unknown = [name for name in names if name not in (*area_names, NETWORK)]
    if unknown or not names:
        raise ValueError(
            f"Unknown area(s) {unknown if unknown else '(none given)'}. Areas of this model: "
            f"{', '.join(area_names)}; or {NETWORK!r} for the whole network."
        )
    return names


def _check_stimulus(model: TemporalModel, stimulus: Tensor | None) -> Tensor:
    """The stimulus as a ``(B, C, H, W)`` batch on the model's device and dtype (a zero image for ``None``)."""
    parameter = next(model.parameters())
    if stimulus is None:
        return parameter.new_zeros(1, *model.input_shape)
    if not isinstance(stimulus, Tensor) or stimulus.dim() not in (3, 4):
        shape = tuple(stimulus.shape) if isinstance(stimulus, Tensor) else type(stimulus).__name__
        raise ValueError(
            f"The stimulus must be one image (C, H, W) or a batch (B, C, H, W) with (C, H, W)="
            f"{model.input_shape}, held fixed while the state is reached; got {shape}. Give None for a blank."
        )
    images = stimulus.unsqueeze(0) if stimulus.dim() == 3 else stimulus
    check_input_sequence(images, model.input_shape, 1)
    return images.detach().to(device=parameter.device, dtype=parameter.dtype)


@contextmanager
def _evaluation(model: nn.Module) -> Iterator[None]:
    """Evaluation mode inside the block (no BatchNorm statistics updated); each module's flag restored after."""
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in flags:
            module.training = training


# ------------------------------------------------------------------------------------ linearisation points
@dataclass
class _Operator:
    """The Jacobian of one step restricted to the carry's leaves ``indices`` (input and output alike)."""

    area: str
    step: Callable[[Any], Any]
    leaves: list[Tensor | None]
    spec: TreeSpec
    indices: tuple[int, ...]

    def __post_init__(self) -> None:
        self.sizes = [self.leaves[j].numel() for j in self.indices]  # type: ignore[union-attr]
        self.dimension = sum(self.sizes)

    def matvec(self, vector: Tensor) -> Tensor:
        """``J v`` for ``v`` ``(dimension,)``: one forward-mode Jacobian-vector product of the step."""
        with fwAD.dual_level():
            leaves = list(self.leaves)
            for j, part in zip(self.indices, vector.split(self.sizes), strict=True):
                primal = self.leaves[j]
                assert primal is not None
                # Same memory layout as the primal (channels-last states), read in logical (C, H, W) order.
                tangent = torch.empty_like(primal).copy_(part.view(primal.shape))
                leaves[j] = fwAD.make_dual(primal, tangent)
            out, _ = tree_flatten(self.step(tree_unflatten(leaves, self.spec)))
            parts = []
            for j, size in zip(self.indices, self.sizes, strict=True):
                tangent = fwAD.unpack_dual(out[j]).tangent
                parts.append(vector.new_zeros(size) if tangent is None else tangent.reshape(-1))
        return torch.cat(parts)

    def components(self, vector: Tensor) -> Any:
        """``vector`` laid out on the carry: the area's slots as ``(C, H, W)`` tensors, ``None`` elsewhere."""
        slots: list[Tensor | None] = [None] * len(self.leaves)
        for j, part in zip(self.indices, vector.split(self.sizes), strict=True):
            slots[j] = part.view(self.leaves[j].shape[1:])  # type: ignore[union-attr]
        return tree_unflatten(slots, self.spec)


@dataclass
class _Point:
    """One image's linearisation point: the carry's leaves, their areas, and the one-step map."""

    image: int
    area_names: tuple[str, ...]
    step: Callable[[Any], Any]
    leaves: list[Tensor | None]
    spec: TreeSpec
    labels: list[int]
    state: list[bool]
    steps: int
    dt: float
    dtype: torch.dtype
    device: torch.device

    def operator(self, area: str) -> _Operator:
        """The operator of ``area`` (its own slots) or of ``"network"`` (every state slot)."""
        index = None if area == NETWORK else self.area_names.index(area)
        indices = tuple(
            j for j, (label, is_state) in enumerate(zip(self.labels, self.state, strict=True))
            if is_state and (index is None or label == index)
        )
        return _Operator(area, self.step, self.leaves, self.spec, indices)


def _area_labels(carry: Any, n_areas: int) -> list[int]:
    """The area of every leaf of ``carry``: each field of the carry holds one entry per area (as ``_step``
    indexes it), and every leaf under entry ``i`` belongs to area ``i``."""
    labels: list[int] = []
    for field in carry:
        if not isinstance(field, tuple | list) or len(field) != n_areas:
            raise RuntimeError(
                "The stability analysis expects every field of the engine's carried state to hold one entry "
                f"per area ({n_areas}); got a field {type(field).__name__} of length "
                f"{len(field) if isinstance(field, tuple | list) else '-'}. The engine's carry changed: update "
                "dynvision_models.engine.stability._area_labels."
            )
        for area, entry in enumerate(field):
            labels.extend([area] * len(tree_flatten(entry)[0]))
    return labels


def _linearisation_points(model: TemporalModel, stimulus: Tensor | None, steps: int | None) -> Iterator[_Point]:
    """Run each image for ``steps`` steps and yield its linearisation point (checks the inputs first; the
    caller runs it in evaluation mode and without gradients)."""
    images = _check_stimulus(model, stimulus)
    steps = model.n_timesteps if steps is None else _check_int("steps", steps, 1)
    batch = images.shape[0]
    state = model.init_state(images)  # zeros, advanced through the idle steps
    frames = model.retina(images) if model.retina is not None else images
    alphas = tuple(a.detach() if isinstance(a, Tensor) else a for a in model._alphas_now())
    carry = state.carry
    for _ in range(steps):
        _, _, carry = model._step(frames, carry, alphas, batch)
    batch_leaves, spec = tree_flatten(carry)
    labels = _area_labels(carry, len(model.area_names))
    for image in range(batch):
        frame = frames[image : image + 1]

        def step(c: Any, frame: Tensor = frame) -> Any:
            return model._step(frame, c, alphas, 1)[2]

        leaves = [None if leaf is None else leaf[image : image + 1] for leaf in batch_leaves]
        leaves, state_slots = _fill_and_classify(step, leaves, spec)
        yield _Point(
            image=image,
            area_names=model.area_names,
            step=step,
            leaves=leaves,
            spec=spec,
            labels=labels,
            state=state_slots,
            steps=steps,
            dt=float(model.dt),
            dtype=images.dtype,
            device=images.device,
        )


def _fill_and_classify(
    step: Callable[[Any], Any], leaves: list[Tensor | None], spec: TreeSpec
) -> tuple[list[Tensor | None], list[bool]]:
    """Fill the empty slots that the step writes with zeros (what an empty slot contributes), and say which
    slots are states: filled, and not passed through unchanged by the step (those are constants)."""
    leaves = list(leaves)
    for _ in range(len(leaves) + 1):  # a ring fills one slot per step, so this ends within its length
        out, out_spec = tree_flatten(step(tree_unflatten(leaves, spec)))
        if out_spec != spec:
            raise RuntimeError(
                f"One step changed the structure of the engine's carried state ({spec} -> {out_spec}); the "
                "stability analysis needs a step that maps the carry onto itself."
            )
        empty = [j for j, (a, b) in enumerate(zip(leaves, out, strict=True)) if a is None and b is not None]
        if not empty:
            break
        for j in empty:
            leaves[j] = torch.zeros_like(out[j])  # type: ignore[arg-type]
    state = [a is not None and b is not None and b is not a for a, b in zip(leaves, out, strict=True)]
    return leaves, state


# ------------------------------------------------------------------------------------------- eigen-solvers
def _continuous(value: complex, dt: float) -> tuple[float, float]:
    """``(tau_ms, frequency_hz)`` of an eigenvalue per step of ``dt`` ms (see the module docstring)."""
    modulus = abs(value)
    if modulus == 0.0:
        tau_ms = 0.0
    elif modulus == 1.0:
        tau_ms = math.inf
    else:
        tau_ms = -dt / math.log(modulus)
    return tau_ms, math.atan2(value.imag, value.real) / (2.0 * math.pi * dt) * 1000.0


def _orthogonalize(basis: Tensor, vector: Tensor) -> tuple[Tensor, Tensor]:
    """``vector`` minus its projection on the rows of ``basis`` (two passes of classical Gram-Schmidt, which
    keeps the basis orthogonal to working precision), and the coefficients."""
    coefficients = basis @ vector
    vector = vector - basis.T @ coefficients
    correction = basis @ vector
    return vector - basis.T @ correction, coefficients + correction


def _random_unit(generator: torch.Generator, basis: Tensor | None, n: int, dtype: torch.dtype,
                 device: torch.device) -> Tensor:
    vector = torch.randn(n, generator=generator, dtype=dtype, device=device)
    if basis is not None:
        vector, _ = _orthogonalize(basis, vector)
    return vector / vector.norm()


def _sorted_ritz(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and unit eigenvectors of a small real matrix, by modulus (largest first; ``imag > 0``
    first within a complex pair)."""
    theta, vectors = np.linalg.eig(matrix)
    # Moduli rounded to 10 decimals, so that the copies of a repeated pair sort by the sign of imag, not by
    # rounding noise.
    order = np.lexsort((-theta.imag, -np.round(np.abs(theta), 10)))
    return theta[order], vectors[:, order]


def _real_basis(theta: np.ndarray, vectors: np.ndarray, count: int) -> np.ndarray:
    """Orthonormal real basis ``(m, >= count)`` of the span of the ``count`` leading Ritz vectors, with both
    members of every complex pair (the real and imaginary parts of one member span the pair)."""
    columns: list[np.ndarray] = []
    used: set[int] = set()
    for i, value in enumerate(theta):
        if len(columns) >= count:
            break
        if i in used:
            continue
        if value.imag == 0.0:  # LAPACK returns exactly real eigenvalues of a real matrix with imag 0
            columns.append(vectors[:, i].real)
            continue
        partners = [j for j in range(len(theta)) if j != i and j not in used]
        partner = min(partners, key=lambda j: abs(theta[j] - np.conj(value)))
        used.add(partner)
        columns.extend([vectors[:, i].real, vectors[:, i].imag])
    basis, _ = np.linalg.qr(np.stack(columns, axis=1))
    return basis


def _ritz_pairs(
    values: np.ndarray, vectors: np.ndarray, basis: Tensor, images: Tensor
) -> tuple[Tensor, Tensor, list[float]]:
    """Ritz vectors ``x = basis^T y`` (real and imaginary parts, ``(k, n)`` each) of the coefficient vectors
    ``y`` (columns of ``vectors``) and their residuals ``||J x - theta x||``, with ``J x = images^T y`` read
    from the stored images (no product of the operator)."""
    dtype, device = basis.dtype, basis.device
    y_real = torch.as_tensor(vectors.real.T.copy(), dtype=dtype, device=device)
    y_imag = torch.as_tensor(vectors.imag.T.copy(), dtype=dtype, device=device)
    real, imag = y_real @ basis, y_imag @ basis
    image_real, image_imag = y_real @ images, y_imag @ images
    residuals = []
    for value, x_real, x_imag, j_real, j_imag in zip(values, real, imag, image_real, image_imag, strict=True):
        # J x - theta x with x = x_real + i x_imag and theta = a + i b, split into real and imaginary parts.
        a, b = float(value.real), float(value.imag)
        squared = (j_real - a * x_real + b * x_imag).square().sum() + (j_imag - a * x_imag - b * x_real).square().sum()
        residuals.append(math.sqrt(float(squared)))
    return real, imag, residuals


def _arnoldi(
    matvec: Callable[[Tensor], Tensor],
    n: int,
    k: int,
    m: int,
    tol: float,
    max_restarts: int,
    generator: torch.Generator,
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[np.ndarray, Tensor, Tensor, list[float]]:
    """The ``k`` leading Ritz values of the operator ``matvec`` on ``R^n``, their unit Ritz vectors (real and
    imaginary parts, ``(k, n)`` each) and residuals, by thick-restarted Arnoldi with ``m`` basis vectors.

    The images ``J v`` of the basis vectors are kept beside them, so the projected matrix ``V J V^T`` is the
    exact Rayleigh quotient of any basis (a kept Ritz basis, a fresh direction) and each residual is computed,
    not estimated from the Arnoldi relation.
    """
    basis = torch.empty(m + 1, n, dtype=dtype, device=device)
    images = torch.empty(m, n, dtype=dtype, device=device)
    basis[0] = _random_unit(generator, None, n, dtype, device)
    projected = np.zeros((m + 1, m))  # projected[i, j] = v_i . J v_j
    breakdown = _BREAKDOWN_EPS * torch.finfo(dtype).eps
    start = 0
    restarts = 0
    checked: np.ndarray | None = None  # the k leading values before a cycle from a fresh direction
    while True:
        for j in range(start, m):
            images[j] = matvec(basis[j])
            residual, coefficients = _orthogonalize(basis[: j + 1], images[j])
            projected[: j + 1, j] = coefficients.double().cpu().numpy()
            if j + 1 == n:  # the basis spans the whole space: the projection is J itself
                basis[j + 1].zero_()
                continue
            beta = float(residual.norm())
            if beta <= breakdown * float(images[j].norm()):
                # An invariant subspace: continue with a new direction, so that an eigenvalue shared by many
                # units is found as often as it occurs.
                basis[j + 1] = _random_unit(generator, basis[: j + 1], n, dtype, device)
            else:
                basis[j + 1] = residual / beta
            if j + 1 < m:
                projected[j + 1, : j + 1] = (images[: j + 1] @ basis[j + 1]).double().cpu().numpy()
        theta, vectors = _sorted_ritz(projected[:m, :m])
        real, imag, residuals = _ritz_pairs(theta[:k], vectors[:, :k], basis[:m], images)
        scale = tol * max(abs(theta[0]), 1.0)
        converged = max(residuals) <= scale
        if converged and (m == n or (checked is not None and np.max(np.abs(theta[:k] - checked)) <= scale)):
            break
        if restarts >= max_restarts or m == n:
            break
        # Thick restart: keep the leading Ritz vectors and extend the basis again from the residual direction.
        # Once the k leading have converged, keep only them and extend from a fresh random direction instead:
        # a Krylov space holds one copy of each eigenvalue per starting direction, so this finds further copies
        # of a repeated eigenvalue (and any larger one missed); the spectrum is final when such a cycle changes
        # none of the k leading values.
        checked = theta[:k].copy() if converged else None
        kept = _real_basis(theta, vectors, k if converged else min(k + (m - k) // 2, m - 2))
        p = kept.shape[1]
        rotation = torch.as_tensor(kept.T.copy(), dtype=dtype, device=device)
        new_basis, new_images = rotation @ basis[:m], rotation @ images
        if converged:
            basis[p] = _random_unit(generator, new_basis, n, dtype, device)
        else:
            basis[p] = basis[m]
        basis[:p], images[:p] = new_basis, new_images
        kept_projection = kept.T @ projected[:m, :m] @ kept
        projected[:] = 0.0
        projected[:p, :p] = kept_projection
        projected[p, :p] = (images[:p] @ basis[p]).double().cpu().numpy()
        start = p
        restarts += 1
    return theta[:k], real, imag, residuals


def _block_power(
    matvec: Callable[[Tensor], Tensor],
    n: int,
    tol: float,
    max_iter: int,
    generator: torch.Generator,
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[complex, Tensor, float, int]:
    """Power iteration on a block of ``min(2, n)`` vectors with Rayleigh-Ritz: the leading eigenvalue, its unit
    eigenvector (complex, ``(n,)``), the residual ``||J x - lambda x||`` and the iterations done."""
    width = min(2, n)
    complex_dtype = torch.promote_types(dtype, torch.complex64)
    block, _ = torch.linalg.qr(torch.randn(n, width, generator=generator, dtype=dtype, device=device))
    iterations = 0
    while True:
        iterations += 1
        images = torch.stack([matvec(block[:, i]) for i in range(width)], dim=1)
        theta, vectors = _sorted_ritz((block.T @ images).double().cpu().numpy())
        value = complex(theta[0])
        coefficients = torch.as_tensor(vectors[:, 0], device=device).to(complex_dtype)
        vector = block.to(complex_dtype) @ coefficients
        # J x read from the images of the block (no further product): the residual is computed, not estimated.
        residual = float((images.to(complex_dtype) @ coefficients - value * vector).norm())
        if residual <= tol * max(abs(value), 1.0) or iterations >= max_iter or not float(images.norm()) > 0.0:
            break
        block, _ = torch.linalg.qr(images)
    vector = vector / vector.norm()
    # A fixed phase: the largest entry real and positive, so the same mode always reads the same.
    largest = vector[vector.abs().argmax()]
    vector = vector * (largest.abs() / largest) if largest.abs() > 0 else vector
    return value, vector, residual, iterations
