"""Tests of the ConvRNN cells (``layers.gated`` and the ungated ``timedecay``, ``simplernn``) in the engine.

The central test runs one area with ``dt == tau`` (Euler, ``leak="state"``, no supralinearity,
``t_recurrence == dt``), where the engine reduces to the cell's own recursion, and compares the area's rates with
the textbook equations of each cell written out by hand below (ReLU as the output nonlinearity).
"""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch._dynamo.utils import counters

from dynvision_models import create_model
from dynvision_models.engine.temporal import _is_full, _zero_filled
from dynvision_models.layers import (
    GatedCell,
    GRUCell,
    IntersectionCell,
    LSTMCell,
    ReciprocalGatedCell,
    RecurrentArea,
    UGRNNCell,
    create_recurrence,
    list_gated_recurrence_types,
    list_recurrence_types,
    recurrence,
    register_recurrence,
)
from dynvision_models.layers.gated import GATE_BIAS
from dynvision_models.zoo import DyRCNN

GATED = ["gru", "intersection", "lstm", "reciprocalgated", "ugrnn"]
CONVRNN = ["timedecay", "simplernn", *GATED]
CLASSES = {
    "gru": GRUCell,
    "lstm": LSTMCell,
    "ugrnn": UGRNNCell,
    "intersection": IntersectionCell,
    "reciprocalgated": ReciprocalGatedCell,
}
MEMORY = ["intersection", "lstm", "reciprocalgated"]
C, H, W, C_IN, T = 3, 5, 4, 2, 6


# ----------------------------------------------------------------------------- the textbook equations, by hand
def _conv(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    return F.conv2d(x, weight, bias, padding=weight.shape[-1] // 2)


def _b(bias: Tensor) -> Tensor:
    return bias.view(1, -1, 1, 1)


def _reference_rates(name: str, xs: list[Tensor], cell: nn.Module) -> list[Tensor]:
    """The rates ``r(t) = ReLU(output(t))`` of cell ``name`` for feedforward drives ``xs``, from zero history."""
    σ, relu = torch.sigmoid, torch.relu
    r = torch.zeros_like(xs[0])
    m = torch.zeros_like(xs[0])  # the memory: LSTM's c, the +RNN's h, the reciprocal gated cell's c
    rates = []
    for x in xs:
        if name == "timedecay":  # Nayebi et al.: one decay per area
            y = x + cell.weight.reshape(()) * r
        elif name == "simplernn":  # tanh(W x + U h + b) with W x + b the area's conv and ReLU for tanh
            y = x + _conv(r, cell.conv.weight)
        elif name == "gru":
            w_z, w_g = cell.input_gates.weight.split(C)
            b_z, b_g = cell.input_gates.bias.split(C)
            u_z, u_g = cell.recurrent_gates.weight.split(C)
            z = σ(_conv(x, w_z) + _conv(r, u_z) + _b(b_z))
            g = σ(_conv(x, w_g) + _conv(r, u_g) + _b(b_g))
            candidate = x + _conv(g * r, cell.candidate.weight)
            y = (1 - z) * r + z * candidate
        elif name == "lstm":
            w_i, w_f, w_o = cell.input_gates.weight.split(C)
            b_i, b_f, b_o = cell.input_gates.bias.split(C)
            u_i, u_f, u_o, u_c = cell.recurrent.weight.split(C)
            i = σ(_conv(x, w_i) + _conv(r, u_i) + _b(b_i))
            f = σ(_conv(x, w_f) + _conv(r, u_f) + _b(b_f))
            o = σ(_conv(x, w_o) + _conv(r, u_o) + _b(b_o))
            m = f * m + i * (x + _conv(r, u_c))
            y = o * m  # o * tanh(c), with ReLU in place of the tanh: ReLU(o * c) = o * ReLU(c)
        elif name == "ugrnn":
            u_g, u_c = cell.recurrent.weight.split(C)
            g = σ(_conv(x, cell.input_gate.weight, cell.input_gate.bias) + _conv(r, u_g))
            y = (1 - g) * r + g * (x + _conv(r, u_c))
        elif name == "intersection":  # Collins et al.'s +RNN: y through depth, h (= m) through time
            w_gy, w_gh = cell.input_gates.weight.split(C)
            b_gy, b_gh = cell.input_gates.bias.split(C)
            u_gy, u_gh, u_y, u_h = cell.recurrent.weight.split(C)
            g_y = σ(_conv(x, w_gy) + _conv(m, u_gy) + _b(b_gy))
            g_h = σ(_conv(x, w_gh) + _conv(m, u_gh) + _b(b_gh))
            y = g_y * x + (1 - g_y) * relu(x + _conv(m, u_y))
            m = g_h * m + (1 - g_h) * torch.tanh(x + _conv(m, u_h))
        elif name == "reciprocalgated":  # Nayebi et al.: h (the rate) and c (= m) gate each other's input
            w_hh, w_hc = cell.rate_gates.weight.split(C)
            b_hh, b_hc = cell.rate_gates.bias.split(C)
            w_ch, w_cc = cell.memory_gates.weight.split(C)
            b_ch, b_cc = cell.memory_gates.bias.split(C)
            y = (1 - σ(_conv(m, w_ch) + _b(b_ch))) * x + (1 - σ(_conv(r, w_hh) + _b(b_hh))) * r
            m = F.elu((1 - σ(_conv(r, w_hc) + _b(b_hc))) * x + (1 - σ(_conv(m, w_cc) + _b(b_cc))) * m)
        else:
            raise AssertionError(name)
        r = relu(y)
        rates.append(r)
    return rates


def _one_area(name: str, **kwargs: object) -> DyRCNN:
    """One area of ``C`` channels on a ``C_IN x H x W`` input; ``dt == tau`` unless ``kwargs`` say otherwise."""
    settings = {"dt": 2.0, "tau": 2.0, "t_recurrence": 2.0, "solver": "euler", "leak": "state", **kwargs}
    return DyRCNN(
        area_names=("V1",), channels=(C,), input_shape=(C_IN, H, W), n_classes=2, n_timesteps=T,
        recurrence_type=name, **settings,
    )


def _randomise(module: nn.Module, seed: int = 0) -> None:
    """Weights of a size at which every gate and recurrent path matters."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * 0.5)


def _stimulus(seed: int = 1, steps: int = T) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(2, steps, C_IN, H, W, generator=generator, dtype=torch.float64)


@pytest.mark.parametrize("name", CONVRNN)
def test_rates_equal_the_textbook_cell_with_dt_equal_to_tau(name: str) -> None:
    model = _one_area(name).double()
    _randomise(model)
    x = _stimulus()
    with torch.no_grad():
        _, rates = model.forward_intermediates(x)
        area = model.areas["V1"]
        xs = [_conv(x[:, t], area.ff.weight, area.ff.bias) for t in range(T)]
        expected = _reference_rates(name, xs, area.recurrence)
    assert rates["V1"].shape == (2, T, C, H, W)
    assert rates["V1"][:, 1:].abs().sum() > 0 and (rates["V1"] == 0).any()  # the ReLU is active both ways
    for t in range(T):
        torch.testing.assert_close(rates["V1"][:, t], expected[t], msg=f"{name} at step {t}")


@pytest.mark.parametrize("name", MEMORY)
def test_the_memory_matters(name: str) -> None:
    """The same cell without its memory (zeroed each step) gives other rates: the engine carries it."""
    model = _one_area(name).double()
    _randomise(model)
    x = _stimulus()
    with torch.no_grad():
        _, rates = model.forward_intermediates(x)
        area = model.areas["V1"]
        forgetful, r = [], None
        for t in range(T):
            u, _ = area.cell_drive(x[:, t], r, None, 2)
            r = torch.relu(u)
            forgetful.append(r)
    assert not torch.allclose(rates["V1"][:, -1], forgetful[-1])


# ----------------------------------------------------------------------------- registry, parameters, init
def test_the_gated_types_are_listed_once_among_the_recurrence_types() -> None:
    assert list_gated_recurrence_types() == GATED
    assert set(CONVRNN) <= set(list_recurrence_types())
    for name in list_recurrence_types():
        assert isinstance(create_recurrence(name, 4), GatedCell) == (name in GATED), name


@pytest.mark.parametrize(("name", "cls"), sorted(CLASSES.items()))
def test_factory_builds_each_cell(name: str, cls: type[GatedCell]) -> None:
    cell = create_recurrence(name, 4, kernel_size=5)
    assert type(cell) is cls and cell.kernel_size == 5
    assert cell.has_memory == (name in MEMORY)


@pytest.mark.parametrize(("channels", "k"), [(4, 3), (6, 5), (1, 1)])
def test_parameter_counts_are_as_documented(channels: int, k: int) -> None:
    c2k2 = channels * channels * k * k
    expected = {
        "timedecay": 1,
        "simplernn": c2k2,
        "gru": 5 * c2k2 + 2 * channels,
        "lstm": 7 * c2k2 + 3 * channels,
        "ugrnn": 3 * c2k2 + channels,
        "intersection": 6 * c2k2 + 2 * channels,
        "reciprocalgated": 4 * c2k2 + 4 * channels,
    }
    for name, count in expected.items():
        module = create_recurrence(name, channels, kernel_size=k)
        assert sum(p.numel() for p in module.parameters()) == count, name


@pytest.mark.parametrize("name", GATED)
def test_weights_start_within_init_scale_and_gate_biases_at_the_gate_bias(name: str) -> None:
    torch.manual_seed(0)
    cell = create_recurrence(name, 4, init_scale=1e-2)
    for param_name, p in cell.named_parameters():
        if param_name.endswith("bias"):
            assert set(p.abs().tolist()) == {GATE_BIAS}, param_name
        else:
            assert 0 < p.abs().max() <= 1e-2, param_name


@pytest.mark.parametrize("name", GATED)
@pytest.mark.parametrize("kernel_size", [2, 0])
def test_cells_need_an_odd_kernel(name: str, kernel_size: int) -> None:
    with pytest.raises(ValueError, match="must be odd"):
        create_recurrence(name, 3, kernel_size=kernel_size)


@pytest.mark.parametrize("name", GATED)
def test_untrained_model_stays_close_to_its_feedforward_sweep(name: str) -> None:
    """Gates open to the feedforward drive and small recurrent weights: each area within the 5% of σ(GATE_BIAS)
    (the LSTM's output gate scales its steady rate by σ(GATE_BIAS), and V2 receives V1's)."""
    kwargs = {"n_classes": 3, "input_shape": (3, 16, 16), "n_timesteps": 12, "channels": (4, 6)}
    torch.manual_seed(0)
    gated = create_model("DyRCNNx2", **kwargs, recurrence_type=name)
    plain = create_model("DyRCNNx2", **kwargs, recurrence_type="none")
    plain.load_state_dict(gated.state_dict(), strict=False)
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        _, cell_rates = gated.forward_intermediates(x)
        _, ff_rates = plain.forward_intermediates(x)
    for depth, (area, rate) in enumerate(ff_rates.items(), start=1):
        error = (cell_rates[area][:, -1] - rate[:, -1]).norm() / rate[:, -1].norm()
        assert error < 1 - torch.sigmoid(torch.tensor(GATE_BIAS)) ** depth + 0.01, (area, float(error))


# ----------------------------------------------------------------------------- the cells on their own
@pytest.mark.parametrize("name", GATED)
def test_gradcheck_in_float64_with_rate_and_memory(name: str) -> None:
    torch.manual_seed(0)
    cell = create_recurrence(name, 2, init_scale=0.5).double()
    x, m = (torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True) for _ in range(2))
    r = torch.rand(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)  # a rate is >= 0

    def outputs(x: Tensor, r: Tensor, m: Tensor) -> tuple[Tensor, ...]:
        u, memory = cell(x, r, m)
        return (u,) if memory is None else (u, memory)

    assert torch.autograd.gradcheck(outputs, (x, r, m))


@pytest.mark.parametrize("name", GATED)
def test_none_means_zeros_and_the_gates_of_the_input_still_act(name: str) -> None:
    torch.manual_seed(0)
    cell = create_recurrence(name, 3, init_scale=0.3).double()
    _randomise(cell)
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    zeros = torch.zeros_like(x)
    u, memory = cell(x, None, None)
    u_zeros, memory_zeros = cell(x, zeros, zeros)
    torch.testing.assert_close(u, u_zeros)
    if memory is not None:
        torch.testing.assert_close(memory, memory_zeros)
    assert not torch.allclose(u, x)  # a gate of x scales the drive even without history


@pytest.mark.parametrize("name", GATED)
def test_every_parameter_learns(name: str) -> None:
    torch.manual_seed(0)
    cell = create_recurrence(name, 3, init_scale=0.1)
    x, r, m = torch.randn(2, 3, 4, 5), torch.rand(2, 3, 4, 5), torch.randn(2, 3, 4, 5)
    u, memory = cell(x, r, m)
    (u.sum() + (0 if memory is None else memory.sum())).backward()
    for param_name, p in cell.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, param_name


# ----------------------------------------------------------------------------- target and integration
@pytest.mark.parametrize("name", GATED)
@pytest.mark.parametrize("target", ["input", "middle"])
def test_gated_types_reject_other_targets(name: str, target: str) -> None:
    message = (
        f"recurrence_target: {target!r} cannot be combined with recurrence_type={name!r}: a gated cell combines "
        "the feedforward drive and its own past rate itself, and its output is the area's drive; allowed: "
        "'output' with the gated recurrence types ('gru', 'intersection', 'lstm', 'reciprocalgated', 'ugrnn'). "
        "Give recurrence_target: output, or a recurrence_type that is not gated, e.g. 'full'"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        RecurrentArea(3, 4, mid_channels=4, recurrence_type=name, recurrence_target=target)
    with pytest.raises(ValueError, match=re.escape(message)):
        create_model("DyRCNNx8", input_shape=(3, 32, 32), recurrence_type=name, recurrence_target=target)


def test_gated_types_reject_multiplicative_integration() -> None:
    message = r"integration: 'multiplicative' cannot be combined with recurrence_type='lstm'.*Give integration: additive"
    with pytest.raises(ValueError, match=message):
        create_model("DyRCNNx2", recurrence_type="lstm", integration="multiplicative")


def test_ungated_convrnn_types_take_every_target() -> None:
    for name in ("timedecay", "simplernn"):
        create_model("DyRCNNx2", recurrence_type=name, recurrence_target="input", integration="multiplicative")


def test_a_typo_suggests_the_cell() -> None:
    message = "'reciprocalgate' is not a known recurrence_type (did you mean 'reciprocalgated'?)"
    with pytest.raises(ValueError, match=re.escape(message)):
        create_model("DyRCNNx2", recurrence_type="reciprocalgate")


def test_a_builder_must_be_registered_as_gated_exactly_when_it_returns_a_cell() -> None:
    register_recurrence("test_unflagged_cell")(lambda c, k, s: GRUCell(c, k, s))
    try:
        with pytest.raises(TypeError, match="registered with gated=False, but its builder returns GRUCell"):
            create_recurrence("test_unflagged_cell", 3)
    finally:
        recurrence._RECURRENCE_TYPES.pop("test_unflagged_cell")
    assert "test_unflagged_cell" not in list_recurrence_types()


def test_drive_gives_a_memoryless_cell_and_refuses_to_drop_a_memory() -> None:
    torch.manual_seed(0)
    gru = RecurrentArea(2, 3, recurrence_type="gru")
    gru.build_shapes((2, 5, 5))
    s, r = torch.randn(2, 2, 5, 5), torch.rand(2, 3, 5, 5)
    torch.testing.assert_close(gru.drive(s, r, 2), gru.cell_drive(s, r, None, 2)[0])
    lstm = RecurrentArea(2, 3, recurrence_type="lstm")
    lstm.build_shapes((2, 5, 5))
    with pytest.raises(TypeError, match=r"memory of the area's LSTMCell; call RecurrentArea\.cell_drive"):
        lstm.drive(s, r, 2)
    full = RecurrentArea(2, 3, recurrence_type="full")
    with pytest.raises(TypeError, match=r"needs a gated recurrence type; this area's recurrence is FullRecurrence"):
        full.cell_drive(s, r, None, 2)
    assert full.cell is None and isinstance(lstm.cell, LSTMCell)


# ----------------------------------------------------------------------------- tau, delays, solvers, connections
@pytest.mark.parametrize("name", CONVRNN)
def test_tau_scales_the_first_step_and_slows_the_dynamics(name: str) -> None:
    rates = {}
    for tau in (2.0, 8.0):
        model = _one_area(name, tau=tau).double()
        _randomise(model)
        with torch.no_grad():
            rates[tau] = model.forward_intermediates(_stimulus())[1]["V1"]
    # Step 0 from the zero state: r = ReLU((dt / tau) u(0)), with u(0) independent of tau.
    torch.testing.assert_close(rates[8.0][:, 0] * 4.0, rates[2.0][:, 0])
    assert not torch.allclose(rates[8.0][:, 1:] * 4.0, rates[2.0][:, 1:])


@pytest.mark.parametrize("name", CONVRNN)
def test_the_recurrent_delay_holds_the_past_rate_back(name: str) -> None:
    """With d_rec = 3 and 5 steps the cells agree until step 3, when the first reads r(0) and the second zeros."""
    rates = {}
    for d_rec in (3, 5):
        model = _one_area(name, tau=4.0, t_recurrence=2.0 * d_rec).double()
        _randomise(model)
        with torch.no_grad():
            rates[d_rec] = model.forward_intermediates(_stimulus())[1]["V1"]
    torch.testing.assert_close(rates[3][:, :3], rates[5][:, :3], rtol=0, atol=0)
    if name == "intersection":  # its recurrence runs through its memory, one step back: no rate is read
        torch.testing.assert_close(rates[3], rates[5], rtol=0, atol=0)
    else:
        assert not torch.allclose(rates[3][:, 3], rates[5][:, 3])


@pytest.mark.parametrize("name", GATED)
def test_the_feedforward_delay_reaches_the_second_area_late(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(
        "DyRCNNx2", n_classes=3, input_shape=(3, 8, 8), n_timesteps=6, channels=(3, 4), recurrence_type=name,
        t_feedforward=4.0,
    )
    assert model.first_driven_step("V2") == 2
    with torch.no_grad():
        _, a = model.forward_intermediates(torch.rand(2, 3, 8, 8))
        _, b = model.forward_intermediates(torch.rand(2, 3, 8, 8))
    torch.testing.assert_close(a["V2"][:, :2], b["V2"][:, :2], rtol=0, atol=0)
    assert not torch.allclose(a["V2"][:, 2], b["V2"][:, 2])


def _euler_alpha(solver: str, alpha: float) -> float:
    """The Euler weight of one step of ``solver`` for a drive held constant over the step."""
    if solver == "exponential":
        return -math.expm1(-alpha)
    return 1.0 - (1.0 - alpha + alpha**2 / 2 - alpha**3 / 6 + alpha**4 / 24)  # rk4: 1 - R(-alpha)


@pytest.mark.parametrize("solver", ["exponential", "rk4"])
@pytest.mark.parametrize("name", MEMORY)
def test_every_solver_integrates_the_cells_drive(solver: str, name: str) -> None:
    """The cell's drive and memory are fixed over a step, so every solver is an Euler step of some weight."""
    model = _one_area(name, solver=solver).double()
    _randomise(model)
    euler = _one_area(name, tau=2.0 / _euler_alpha(solver, 1.0)).double()
    euler.load_state_dict(model.state_dict())
    with torch.no_grad():
        expected = euler.forward_intermediates(_stimulus())[1]["V1"]
        torch.testing.assert_close(model.forward_intermediates(_stimulus())[1]["V1"], expected)


def test_feedback_enters_the_drive_after_the_cell() -> None:
    """V1 (an LSTM) at dt == tau: r_V1(t) = ReLU(cell(x(t), r_V1(t-1), c(t-1)) + C(r_V2(t-1)))."""
    torch.manual_seed(0)
    model = create_model(
        "DyRCNNx2", n_classes=3, input_shape=(2, 6, 6), n_timesteps=5, channels=(3, 3), recurrence_type="lstm",
        dt=2.0, tau=2.0, feedback=True, t_feedback=2.0, skip=False,
    ).double()
    _randomise(model)
    x = torch.rand(2, 5, 2, 6, 6, dtype=torch.float64)
    with torch.no_grad():
        _, rates = model.forward_intermediates(x)
        v1, feedback = model.areas["V1"], model.feedbacks["V2_to_V1"]
        r, memory = None, None
        for t in range(5):
            u, memory = v1.recurrence(v1.ff(x[:, t]), r, memory)
            if t:
                u = u + feedback(rates["V2"][:, t - 1])
            r = torch.relu(u)
            torch.testing.assert_close(rates["V1"][:, t], r, msg=f"step {t}")


@pytest.mark.parametrize("name", GATED)
def test_feedforward_only_bypasses_the_cell(name: str) -> None:
    kwargs = {"n_classes": 3, "input_shape": (3, 8, 8), "n_timesteps": 4, "channels": (3, 4)}
    torch.manual_seed(0)
    gated = create_model("DyRCNNx2", **kwargs, recurrence_type=name, feedforward_only=True)
    plain = create_model("DyRCNNx2", **kwargs, recurrence_type="none")
    plain.load_state_dict(gated.state_dict(), strict=False)
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(gated(x), plain(x), rtol=0, atol=0)
        gated.feedforward_only = False
        assert not torch.allclose(gated(x), plain(x))


# ----------------------------------------------------------------------------- the carried memory
def _x4(name: str, **kwargs: object) -> DyRCNN:
    """DyRCNNx4 with every path of the step: feedback, adaptation, supralinearity, delays."""
    torch.manual_seed(0)
    model = create_model(
        "DyRCNNx4", n_classes=3, input_shape=(3, 8, 8), n_timesteps=6, channels=(4, 5, 6, 7),
        recurrence_type=name, feedback=True, t_feedback=4.0, adaptation=(0.5, 0.2), supralinearity=1.5,
        t_feedforward=2.0, **kwargs,
    )
    with torch.no_grad():  # make the cells matter
        for param_name, p in model.named_parameters():
            if "recurrence" in param_name and not param_name.endswith("bias"):
                p.mul_(100.0)
    return model


@pytest.mark.parametrize("name", MEMORY)
def test_the_memory_is_carried_across_windows(name: str) -> None:
    model = _x4(name, idle_timesteps=2)
    x = torch.randn(2, 7, 3, 8, 8)
    with torch.no_grad():
        full = model(x)
        torch.testing.assert_close(torch.cat(list(model.windows(x, 3)), dim=1), full, rtol=0, atol=0)
        state = model.init_state(x)
        assert len(state.carry) == 5 and all(m is not None for m in state.carry[4])  # idle steps ran the cells
        first, state = model.run(x[:, :4], state)
        second, state = model.run(x[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), full, rtol=0, atol=0)
    assert all(m.shape == r.shape for m, r in zip(state.carry[4], state.carry[0], strict=True))


def test_only_cells_with_a_memory_carry_one() -> None:
    model = _x4("gru")
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        _, state = model.run(x, model.init_state(x))
    assert state.carry[4] == (None,) * 4


@pytest.mark.parametrize("name", MEMORY)
def test_detach_cuts_the_memory_from_the_graph(name: str) -> None:
    model = _x4(name)
    x = torch.randn(2, 2, 3, 8, 8)
    _, state = model.run(x, model.init_state(x))
    assert all(m.requires_grad for m in state.carry[4])
    assert not any(m.requires_grad for m in state.detach().carry[4])


@pytest.mark.parametrize("name", MEMORY)
def test_truncated_bptt_detaches_the_carried_state_memory_included(name: str) -> None:
    grads = {}
    for tbptt in (0, 2):
        model = _one_area(name, tbptt_steps=tbptt, tau=4.0).double()
        _randomise(model)
        x = _stimulus(steps=4).requires_grad_(True)
        logits = torch.cat(list(model.windows(x)), dim=1)
        logits[:, -1].sum().backward()
        grads[tbptt] = x.grad[:, :2].abs().sum()
    assert grads[0] > 0 and grads[2] == 0


@pytest.mark.parametrize(("name", "segment"), [("intersection", True), ("lstm", 2), ("reciprocalgated", 3)])
def test_checkpointed_steps_give_the_same_rates_and_gradients(
    name: str, segment: int, assert_checkpointing_changes_nothing
) -> None:
    x = torch.randn(2, 5, 3, 8, 8)
    assert_checkpointing_changes_nothing(lambda steps: _x4(name, checkpoint_steps=steps), x, segment)


def test_zero_filling_covers_the_memories_in_use_and_changes_nothing() -> None:
    """What compile_step needs: after one step the empty slots, memories included, can be zero-filled."""
    model = _x4("lstm", leak="rate")
    model.areas["V2"].recurrence = None  # a mixed model: V2 has no cell (and so no memory)
    model._compile()
    x = torch.randn(2, 3, 8, 8)
    memory = model._memory_areas
    assert memory == (True, False, True, True)
    with torch.no_grad():
        state = model.init_state(x)
        _, state = model.run(x[:, None], state)
        assert not _is_full(state.carry, True, memory)
        filled = _zero_filled(state.carry, memory)
        assert filled[4][1] is None and all(filled[4][i] is not None for i in (0, 2, 3))
        _, _, after = model._step(x, state.carry, model._alphas_now(), 2)
        _, _, after_filled = model._step(x, filled, model._alphas_now(), 2)
    for m, m_filled in zip(after[4], after_filled[4], strict=True):
        assert (m is None and m_filled is None) or torch.equal(m, m_filled)


@pytest.mark.slow
def test_compiled_step_with_a_memory_equals_eager() -> None:
    eager = _x4("reciprocalgated")
    compiled = _x4("reciprocalgated", compile_step=True)
    compiled.load_state_dict(eager.state_dict())
    x = torch.randn(2, 6, 3, 8, 8)
    counters.clear()
    try:
        with torch.no_grad():
            torch.testing.assert_close(compiled(x), eager(x))
        assert counters["stats"]["unique_graphs"] >= 1  # the steady-state step ran compiled
    finally:
        torch._dynamo.reset()
