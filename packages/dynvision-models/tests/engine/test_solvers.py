"""Tests of the solvers for ``tau * dh/dt = -h + F(h, x)``: registry, step formulas, the zero state, gradients
through a trainable ``tau``, and convergence against analytic solutions (float64 throughout the numerics)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from dynvision_models.engine.solvers import (
    EulerSolver,
    ExponentialSolver,
    RK4Solver,
    Solver,
    get_solver,
    list_solvers,
)

SOLVERS = ("euler", "rk4", "exponential")
F64 = torch.float64

# Where, as a fraction of dt after the step's start, each solver evaluates the drive (in call order). The Solver
# interface passes no time, so the harness below infers the stage time from the call count.
STAGE_OFFSETS: dict[str, tuple[float, ...]] = {
    "euler": (0.0,),
    "rk4": (0.0, 0.5, 0.5, 1.0),
    "exponential": (0.0,),
}

# A drive of the continuous problem: F(t, h) -> tensor, with h = None meaning the zero state.
TimeDrive = Callable[[float, Tensor | None], Tensor]


def integrate(
    name: str, drive: TimeDrive, tau: float | Tensor, t_end: float, n_steps: int, h0: Tensor | None = None
):
    """Integrate ``tau * dh/dt = -h + F(t, h)`` from ``h(0) = h0`` (``None`` = zeros) to ``t_end`` in ``n_steps``.

    Test-only time loop: each step hands the solver a drive ``drive(h)`` that evaluates ``F`` at the stage time
    ``t + offset * dt`` of its k-th call, so RK4 sees the drive at ``t, t + dt/2, t + dt/2, t + dt``.
    """
    solver = get_solver(name)
    offsets = STAGE_OFFSETS[name]
    assert len(offsets) == solver.drive_evaluations
    dt = t_end / n_steps
    alpha = dt / tau
    h = h0
    for i in range(n_steps):
        t = i * dt
        calls = 0

        def stage_drive(state: Tensor | None, t: float = t) -> Tensor:
            nonlocal calls
            offset = offsets[calls]
            calls += 1
            return drive(t + offset * dt, state)

        h = solver.step(h, stage_drive, alpha)
        assert calls == solver.drive_evaluations
    return h


def _zeros_if_none(h: Tensor | None) -> Tensor:
    return torch.zeros(3, dtype=F64) if h is None else h


# Analytic test problems with h(0) = 0, tau = 10 ms, solved to t = 20 ms. Each is (drive F(t, h), exact h(t)).
TAU, T_END = 10.0, 20.0
U, OMEGA, K, C = 2.0, 0.5, 1.0, 1.0


def _constant(t: float, h: Tensor | None) -> Tensor:
    return torch.full((3,), U, dtype=F64)


def _constant_exact(t: float) -> float:
    return U * (1.0 - math.exp(-t / TAU))


def _sine(t: float, h: Tensor | None) -> Tensor:
    return torch.full((3,), math.sin(OMEGA * t), dtype=F64)


def _sine_exact(t: float) -> float:
    # Particular solution (sin(w t) - w tau cos(w t)) / (1 + (w tau)^2) plus the decaying homogeneous part.
    wt = OMEGA * TAU
    return (math.sin(OMEGA * t) - wt * math.cos(OMEGA * t) + wt * math.exp(-t / TAU)) / (1.0 + wt**2)


def _linear(t: float, h: Tensor | None) -> Tensor:
    # State-dependent drive F(h) = C - K h: tau dh/dt = C - (1 + K) h.
    return C - K * _zeros_if_none(h)


def _linear_exact(t: float) -> float:
    return C / (1.0 + K) * (1.0 - math.exp(-(1.0 + K) * t / TAU))


PROBLEMS = {
    "constant": (_constant, _constant_exact),
    "sine": (_sine, _sine_exact),
    "linear": (_linear, _linear_exact),
}
N_STEPS = (20, 40, 80, 160, 320)  # dt = 1, 0.5, ..., 0.0625 ms; alpha = dt / tau <= 0.1


def convergence_slope(
    name: str, problem: str, n_steps: tuple[int, ...] = N_STEPS
) -> tuple[float, list[float]]:
    """Least-squares slope of log(error at T_END) against log(dt), and the errors."""
    drive, exact = PROBLEMS[problem]
    errors = [abs(integrate(name, drive, TAU, T_END, n)[0].item() - exact(T_END)) for n in n_steps]
    log_dt = torch.log(torch.tensor([T_END / n for n in n_steps], dtype=F64))
    log_err = torch.log(torch.tensor(errors, dtype=F64))
    centered = log_dt - log_dt.mean()
    slope = (centered * (log_err - log_err.mean())).sum() / (centered**2).sum()
    return slope.item(), errors


# --------------------------------------------------------------------------------------------------- registry


def test_solvers_are_available_by_name() -> None:
    assert list_solvers() == ["euler", "exponential", "rk4"]
    assert isinstance(get_solver("euler"), EulerSolver)
    assert isinstance(get_solver("rk4"), RK4Solver)
    assert isinstance(get_solver("exponential"), ExponentialSolver)


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("eular", "euler"), ("rk5", "rk4"), ("RK4", "rk4"), ("exponental", "exponential"), ("heun", None)],
)
def test_unknown_solver_suggests_close_match_and_lists_available_ones(
    name: str, suggestion: str | None
) -> None:
    with pytest.raises(ValueError, match=f"Unknown solver {name!r}") as info:
        get_solver(name)
    message = str(info.value)
    assert "Available solvers: 'euler', 'exponential', 'rk4'." in message
    if suggestion is None:
        assert "Did you mean" not in message
    else:
        assert f"Did you mean {suggestion!r}?" in message


def test_solver_metadata() -> None:
    assert (
        EulerSolver.drive_evaluations,
        RK4Solver.drive_evaluations,
        ExponentialSolver.drive_evaluations,
    ) == (1, 4, 1)
    assert EulerSolver.max_alpha == 1.0
    assert ExponentialSolver.max_alpha == math.inf
    # RK4's amplification factor for dh/dt = -h / tau stays in (0, 1) up to max_alpha (bound ~2.785).
    a = RK4Solver.max_alpha
    amplification = 1 - a + a**2 / 2 - a**3 / 6 + a**4 / 24
    assert 0 < amplification < 1
    assert 2.0 <= a < 2.785


# ---------------------------------------------------------------------------------------- one step, call pattern


@pytest.mark.parametrize("name", SOLVERS)
@pytest.mark.parametrize("zero_state", [True, False])
def test_drive_is_called_drive_evaluations_times_with_none_only_first(name: str, zero_state: bool) -> None:
    solver = get_solver(name)
    h = None if zero_state else torch.tensor([0.5, -1.0, 2.0], dtype=F64)
    seen: list[Tensor | None] = []

    def drive(state: Tensor | None) -> Tensor:
        seen.append(state)
        return 1.0 - 0.5 * _zeros_if_none(state)

    solver.step(h, drive, 0.3)
    assert len(seen) == solver.drive_evaluations
    assert seen[0] is h
    assert all(isinstance(s, Tensor) for s in seen[1:])


def test_euler_step_matches_formula_and_evaluates_drive_once_at_old_state() -> None:
    solver = get_solver("euler")
    u = torch.tensor([1.0, -2.0, 3.0])
    h = torch.tensor([0.5, 0.5, -1.0])
    torch.testing.assert_close(solver.step(h, lambda _: u, 0.4), h + 0.4 * (u - h))
    # None stands for the zero initial state.
    torch.testing.assert_close(solver.step(None, lambda _: u, 0.4), 0.4 * u)


def test_exponential_step_matches_formula() -> None:
    solver = get_solver("exponential")
    u = torch.tensor([1.0, -2.0, 3.0], dtype=F64)
    h = torch.tensor([0.5, 0.5, -1.0], dtype=F64)
    for alpha in (1e-9, 0.3, 1.0, 7.5):
        decay = math.exp(-alpha)
        torch.testing.assert_close(
            solver.step(h, lambda _: u, alpha), u + (h - u) * decay, rtol=1e-15, atol=1e-15
        )
        torch.testing.assert_close(
            solver.step(None, lambda _: u, alpha), u * (1 - decay), rtol=1e-12, atol=1e-15
        )


@pytest.mark.parametrize("alpha", [0.1, 1.0, 2.5])
def test_rk4_step_equals_taylor_polynomial_for_linear_drive(alpha: float) -> None:
    # For F(h) = c - k h, tau dh/dt = c - (1 + k) h; one RK4 step multiplies the deviation from the fixed point
    # c / (1 + k) by R(-z) = 1 - z + z^2/2 - z^3/6 + z^4/24 with z = (1 + k) alpha.
    c, k = torch.tensor([1.0, -2.0, 0.5], dtype=F64), 0.7
    h = torch.tensor([0.3, 0.1, -4.0], dtype=F64)
    fixed = c / (1 + k)
    z = (1 + k) * alpha
    amplification = 1 - z + z**2 / 2 - z**3 / 6 + z**4 / 24
    drive = lambda s: c - k * _zeros_if_none(s)  # noqa: E731
    solver = get_solver("rk4")
    torch.testing.assert_close(solver.step(h, drive, alpha), fixed + (h - fixed) * amplification)
    torch.testing.assert_close(solver.step(None, drive, alpha), fixed * (1 - amplification))


@pytest.mark.parametrize("name", SOLVERS)
def test_zero_state_none_equals_explicit_zeros(name: str) -> None:
    solver = get_solver(name)
    c = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    drive = lambda s: c - 0.8 * _zeros_if_none(s)  # noqa: E731
    torch.testing.assert_close(
        solver.step(None, drive, 0.4), solver.step(torch.zeros(3, dtype=F64), drive, 0.4)
    )


@pytest.mark.parametrize("name", SOLVERS)
def test_drive_output_is_not_modified_in_place(name: str) -> None:
    # The engine's drive can return a broadcast view of a parameter (the bias for an all-zero input).
    bias = torch.nn.Parameter(torch.tensor([1.0, -1.0, 2.0]))
    before = bias.detach().clone()
    h = torch.randn(2, 3, 4, 4)
    drive = lambda s: bias.view(1, 3, 1, 1).expand(2, 3, 4, 4)  # noqa: E731
    solver = get_solver(name)
    for state in (None, h):
        solver.step(state, drive, 0.5).sum().backward()
    torch.testing.assert_close(bias.detach(), before)
    assert bias.grad is not None and torch.isfinite(bias.grad).all()


# ----------------------------------------------------------------------------------------- tensor alpha, dtype


@pytest.mark.parametrize("name", SOLVERS)
def test_tensor_alpha_matches_float_alpha_per_channel(name: str) -> None:
    solver = get_solver(name)
    torch.manual_seed(0)
    h, c = torch.randn(2, 3, 4, 4, dtype=F64), torch.randn(2, 3, 4, 4, dtype=F64)
    drive = lambda s: c - 0.5 * (0 if s is None else s)  # noqa: E731
    alphas = [0.1, 0.5, 0.9]
    per_channel = torch.tensor(alphas, dtype=F64).view(1, 3, 1, 1)
    for state in (None, h):
        expected = torch.stack([solver.step(state, drive, a)[:, i] for i, a in enumerate(alphas)], dim=1)
        torch.testing.assert_close(solver.step(state, drive, per_channel), expected)
        scalar = solver.step(state, drive, torch.tensor(0.5, dtype=F64))
        torch.testing.assert_close(scalar, solver.step(state, drive, 0.5))


@pytest.mark.parametrize("name", SOLVERS)
@pytest.mark.parametrize("zero_state", [True, False])
def test_float64_alpha_does_not_promote_float32_state(name: str, zero_state: bool) -> None:
    solver = get_solver(name)
    h = None if zero_state else torch.randn(2, 3, 4, 4)
    u = torch.randn(2, 3, 4, 4)
    for alpha in (torch.full((1, 3, 1, 1), 0.3, dtype=F64), torch.tensor(0.3, dtype=F64)):
        out = solver.step(h, lambda _: u, alpha)
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, solver.step(h, lambda _: u, 0.3))


# ------------------------------------------------------------------------------------- gradients through tau


def _final_state(name: str, tau: Tensor, n_steps: int = 8, dt: float = 1.0) -> Tensor:
    """State after ``n_steps`` of a state-dependent drive, starting from the zero state (None)."""
    torch.manual_seed(1)
    c = torch.randn(2, 3, 2, 2, dtype=F64)
    solver = get_solver(name)
    h = None
    for _ in range(n_steps):
        h = solver.step(h, lambda s: c - 0.5 * (0 if s is None else s), dt / tau)
    return h


@pytest.mark.parametrize("name", SOLVERS)
@pytest.mark.parametrize("shape", [(), (1, 3, 1, 1)])
def test_gradient_through_trainable_tau_matches_finite_differences(name: str, shape: tuple[int, ...]) -> None:
    tau = torch.full(shape, 3.0, dtype=F64) + 0.5 * torch.arange(math.prod(shape), dtype=F64).view(shape)
    tau.requires_grad_(True)
    (grad,) = torch.autograd.grad(_final_state(name, tau).sum(), tau)
    assert torch.isfinite(grad).all() and (grad != 0).all()
    assert torch.autograd.gradcheck(lambda t: _final_state(name, t), (tau,))


@pytest.mark.parametrize(("name", "tol"), [("exponential", 1e-13), ("rk4", 1e-6), ("euler", 2e-2)])
def test_gradient_through_tau_matches_analytic_derivative(name: str, tol: float) -> None:
    # Constant drive U from h(0) = 0: h(T) = U (1 - exp(-T / tau)), dh/dtau = -U T / tau^2 exp(-T / tau).
    tau = torch.tensor(TAU, dtype=F64, requires_grad=True)
    h = integrate(name, _constant, tau, T_END, 40)
    (grad,) = torch.autograd.grad(h[0], tau)
    expected = -U * T_END / TAU**2 * math.exp(-T_END / TAU)
    assert abs(grad.item() - expected) < tol * abs(expected)


# ------------------------------------------------------------------------------- convergence against analytic


@pytest.mark.parametrize(
    ("name", "problem", "order"),
    [
        ("euler", "constant", 1),
        ("euler", "sine", 1),
        ("euler", "linear", 1),
        ("rk4", "constant", 4),
        ("rk4", "sine", 4),
        ("rk4", "linear", 4),
        ("exponential", "sine", 1),
        ("exponential", "linear", 1),
    ],
)
def test_convergence_order(name: str, problem: str, order: int) -> None:
    slope, errors = convergence_slope(name, problem)
    assert abs(slope - order) < 0.1, f"{name} on {problem}: slope {slope:.3f}, errors {errors}"
    assert all(e1 > e2 for e1, e2 in itertools.pairwise(errors)), errors


def test_rk4_reaches_small_error_at_moderate_step() -> None:
    # Fourth order pays off: at dt = tau / 10 RK4 is 3-5 orders of magnitude more accurate than Euler.
    for problem in PROBLEMS:
        drive, exact = PROBLEMS[problem]
        rk4 = abs(integrate("rk4", drive, TAU, T_END, 20)[0].item() - exact(T_END))
        euler = abs(integrate("euler", drive, TAU, T_END, 20)[0].item() - exact(T_END))
        assert rk4 < 1e-3 * euler, problem


@pytest.mark.parametrize("n_steps", [1, 2, 3, 10, 1000])
def test_exponential_is_exact_for_constant_drive_at_any_step(n_steps: int) -> None:
    # Includes alpha = dt / tau = 2, far beyond Euler's and RK4's bounds.
    h = integrate("exponential", _constant, TAU, T_END, n_steps)
    assert abs(h[0].item() - _constant_exact(T_END)) < 1e-14
    # Also from a non-zero initial state: h(T) = U + (h0 - U) exp(-T / tau).
    h0 = torch.full((3,), -3.0, dtype=F64)
    h = integrate("exponential", _constant, TAU, T_END, n_steps, h0=h0)
    assert abs(h[0].item() - (U + (-3.0 - U) * math.exp(-T_END / TAU))) < 1e-14


def test_rk4_without_stage_times_is_first_order_for_time_varying_drive() -> None:
    # Documents the interface limit: if every stage sees the drive at the step start (zero-order hold, as in
    # the engine), RK4 integrates a held input and converges to the continuous solution at first order only.
    solver = get_solver("rk4")
    errors = []
    for n in (40, 80, 160):
        dt, h = T_END / n, None
        for i in range(n):
            u = _sine(i * dt, None)
            h = solver.step(h, lambda _, u=u: u, dt / TAU)
        errors.append(abs(h[0].item() - _sine_exact(T_END)))
    slopes = [math.log2(e1 / e2) for e1, e2 in itertools.pairwise(errors)]
    assert all(abs(s - 1) < 0.15 for s in slopes), (errors, slopes)


@pytest.mark.parametrize(("name", "order"), [("euler", 1), ("rk4", 4), ("exponential", 1)])
def test_convergence_with_time_carried_in_the_state(name: str, order: int) -> None:
    # No harness: make the problem autonomous. h = (s, x) with drive (s + tau, sin(w s)) gives ds/dt = 1, so s is
    # the time, and tau dx/dt = -x + sin(w t) is driven through the plain drive(h) interface.
    def drive(h: Tensor | None) -> Tensor:
        s = torch.zeros((), dtype=F64) if h is None else h[0]
        return torch.stack([s + TAU, torch.sin(OMEGA * s)])

    solver: Solver = get_solver(name)
    errors = []
    for n in (20, 40, 80, 160):
        h = None
        for _ in range(n):
            h = solver.step(h, drive, (T_END / n) / TAU)
        errors.append(abs(h[1].item() - _sine_exact(T_END)))
    slopes = [math.log2(e1 / e2) for e1, e2 in itertools.pairwise(errors)]
    assert abs(slopes[-1] - order) < 0.15, (errors, slopes)
