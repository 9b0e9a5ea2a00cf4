from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from dynvision_models import create_model, list_recurrence_types
from dynvision_models.engine import delay_to_steps
from dynvision_models.layers.connections import Connection
from dynvision_models.zoo import DyRCNN

TINY = {"n_classes": 3, "input_shape": (1, 8, 8), "n_timesteps": 4, "channels": (3, 4)}
# DyRCNNx4 with narrow areas at 16x16: rates V1 16, V2 8, V4 4, IT 2 px.
TINY_X4 = {"n_classes": 3, "input_shape": (3, 16, 16), "n_timesteps": 6, "channels": (4, 5, 6, 7)}


def _set_centre_tap(conv: torch.nn.Conv2d, value: float) -> None:
    """Make a 1-in/1-out ``k x k`` conv multiply a 1x1 input by ``value`` (only the centre tap sees it)."""
    weight = torch.zeros_like(conv.weight)
    k = conv.weight.shape[-1] // 2
    weight[0, 0, k, k] = value
    conv.weight.copy_(weight)
    if conv.bias is not None:
        conv.bias.zero_()


def _single_unit(w_ff: float = 1.0, **kwargs: object) -> DyRCNN:
    """One area with one channel on a 1x1 input: u(t) = w_ff * x(t) (+ recurrence), a hand-checkable model."""
    model = DyRCNN(area_names=("V1",), channels=(1,), input_shape=(1, 1, 1), n_classes=1, **kwargs)
    with torch.no_grad():
        _set_centre_tap(model.areas["V1"].ff, w_ff)
        if model.areas["V1"].ff2 is not None:
            _set_centre_tap(model.areas["V1"].ff2, 1.0)
    return model


def _two_units(**kwargs: object) -> DyRCNN:
    """V1 -> V2, one unit each on a 1x1 input, feedforward weights 1 and zero biases."""
    model = DyRCNN(area_names=("V1", "V2"), channels=(1, 1), input_shape=(1, 1, 1), n_classes=1, **kwargs)
    with torch.no_grad():
        for area in model.areas.values():
            _set_centre_tap(area.ff, 1.0)
    return model


def _constant(value: float, n_steps: int) -> torch.Tensor:
    return torch.full((1, n_steps, 1, 1, 1), value)


# ----------------------------------------------------------------------------- validation of kwargs
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dt": 0.0}, "dt: 0.0 is not allowed"),
        (
            {"dt": 2.0, "tau": 1.0},
            "tau: 1.0 is too small for dt=2 ms with the 'euler' solver.*Use tau >= 2",
        ),
        ({"tau": (5.0, -1.0)}, "tau: \\(5.0, -1.0\\) is not allowed"),
        ({"tau": (5.0, 6.0, 7.0)}, "tau: \\(5.0, 6.0, 7.0\\) has 3 entries, not one per area.*\\['V1', 'V2'\\]"),
        (
            {"dt": 2.0, "t_feedforward": 3.0},
            "t_feedforward: 3.0 ms is not a multiple of dt=2 ms.*Use 2 or 4 ms",
        ),
        (
            {"dt": 2.0, "t_recurrence": 5.0},
            "t_recurrence: 5.0 ms is not a multiple of dt=2 ms.*Use 4 or 6 ms",
        ),
        ({"skip": True, "t_skip": 1.0}, "t_skip: 1.0 ms is not a multiple of dt=2 ms.*Use 0 or 2 ms"),
        ({"feedback": True, "t_feedback": 3.0}, "t_feedback: 3.0 ms is not a multiple of dt=2 ms"),
        ({"feedback": True, "t_feedback": 0.0}, "t_feedback: 0.0 ms is less than one time step.*computed later"),
        ({"t_recurrence": 0.0}, "t_recurrence: 0.0 ms is less than one time step"),
        ({"t_feedforward": -2.0}, "t_feedforward: -2.0 is not a finite delay >= 0"),
        ({"recurrence_type": "fully"}, "recurrence_type: 'fully' is not a known recurrence_type.*allowed: .*'full'"),
        (
            {"recurrence_target": "top"},
            "recurrence_target: 'top' is not a known recurrence_target.*'input', 'middle', 'output'",
        ),
        (
            {"recurrence_target": "middle"},
            "recurrence_target: 'middle' needs .*two convolution stages.*'input', 'output'",
        ),
        ({"integration": "mult"}, "integration: 'mult' is not a known integration.*'additive', 'multiplicative'"),
        ({"skip_mode": "add"}, "skip_mode: 'add' is not a known skip_mode.*'additive', 'multiplicative'"),
        ({"feedback_mode": "mul"}, "feedback_mode: 'mul' is not a known feedback_mode.*'additive', 'multiplicative'"),
        ({"solver": "heun"}, "solver: 'heun' is not a known solver.*'euler'"),
        ({"bias": "pixel"}, "bias: 'pixel' is not a known bias.*'channel', 'spatial', 'none'"),
        ({"readout": "max"}, "readout: 'max' is not a known readout.*'avgpool', 'flatten'"),
        ({"input_shape": (8, 8)}, "input_shape: \\(8, 8\\) is not \\(channels, height, width\\)"),
        ({"n_timesteps": 0}, "n_timesteps: 0 is out of range.*>= 1"),
        ({"idle_timesteps": -1}, "idle_timesteps: -1 is out of range.*>= 0"),
        ({"tbptt_steps": 1.5}, "tbptt_steps: 1.5 is not an integer"),
        ({"skip": "yes"}, "skip: 'yes' is not true or false"),
        ({"adaptation": (1.5, 0.5)}, "retention a=1.5 outside 0 <= a < 1"),
        ({"adaptation": (0.5, -1.0)}, "gain b=-1.0 < 0"),
        ({"adaptation": 0.5}, "adaptation: 0.5 is not a pair of numbers \\(a, b\\)"),
        ({"supralinearity": 0.0}, "supralinearity: 0.0 is not allowed"),
        ({"norm": "group"}, "norm: 'group' is not a known norm.*null, 'layer', 'batch'"),
        ({"channels": (3,)}, "channels: \\(3,\\) has 1 entries, not one per area"),
    ],
)
def test_constructor_rejects_bad_kwargs(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_model("DyRCNNx2", **{**TINY, **kwargs})


def test_switched_off_connections_do_not_validate_their_delays() -> None:
    # Changing dt must not fail on the default t_feedback = 30 ms of an unused feedback path.
    model = create_model("DyRCNNx2", **TINY, dt=4.0, tau=8.0, feedback=False)
    assert model.t_feedback == 30.0


def test_delays_tolerate_floating_point_multiples() -> None:
    assert delay_to_steps("t", 0.1 * 3, 0.1) == 3
    assert delay_to_steps("t", 0.0, 2.0) == 0


# ----------------------------------------------------------------------------- input handling
@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((2, 8, 8), "Expected input \\(batch, time, channels, height, width\\).*got shape \\(2, 8, 8\\)"),
        ((2, 3, 8, 8), "\\(channels, height, width\\)=\\(3, 8, 8\\).*input_shape=\\(1, 8, 8\\)"),
        ((2, 4, 1, 8, 9), "\\(channels, height, width\\)=\\(1, 8, 9\\).*input_shape=\\(1, 8, 8\\)"),
    ],
)
def test_bad_input_shapes_name_given_and_expected(shape: tuple[int, ...], message: str) -> None:
    model = create_model("DyRCNNx2", **TINY)
    with pytest.raises(ValueError, match=message):
        model(torch.zeros(shape))


def test_static_image_equals_the_same_frame_at_every_step() -> None:
    torch.manual_seed(0)
    model = create_model("DyRCNNx2", **TINY)
    image = torch.rand(2, 1, 8, 8)
    sequence = image.unsqueeze(1).repeat(1, TINY["n_timesteps"], 1, 1, 1)
    assert torch.equal(model(image), model(sequence))
    # The static image is shown through a view (stride 0 over time), not copied.
    assert model._as_sequence(image).stride(1) == 0


def test_temporal_input_sets_the_number_of_steps() -> None:
    model = create_model("DyRCNNx2", **TINY)
    assert model(torch.rand(2, 7, 1, 8, 8)).shape == (2, 7, 3)


# ----------------------------------------------------------------------------- dynamics of one unit
def test_leaky_integration_matches_the_discrete_solution_for_a_constant_drive() -> None:
    dt, tau, c, n_steps = 1.0, 4.0, 2.0, 6
    model = _single_unit(dt=dt, tau=tau, recurrence_type="none", n_timesteps=n_steps)
    _, responses = model.forward_intermediates(torch.full((1, 1, 1, 1), c))
    alpha = dt / tau
    # h(t) = h(t-1) + alpha (c - h(t-1)), h(-1) = 0  =>  h(t) = c (1 - (1 - alpha)^(t + 1))
    expected = torch.tensor([c * (1 - (1 - alpha) ** (t + 1)) for t in range(n_steps)])
    torch.testing.assert_close(responses["V1"].flatten(), expected)


def test_rate_is_rectified_state() -> None:
    model = _single_unit(dt=1.0, tau=2.0, recurrence_type="none", n_timesteps=3)
    _, responses = model.forward_intermediates(torch.full((1, 1, 1, 1), -1.0))
    assert torch.equal(responses["V1"], torch.zeros(1, 3, 1, 1, 1))


def _simulate(n_steps: int, alpha: float, drive, post=lambda r: max(r, 0.0)) -> list[float]:
    """Euler-integrate a single unit whose drive is ``drive(t, rates_so_far)``; returns the rates."""
    h, rates = 0.0, []
    for t in range(n_steps):
        h = h + alpha * (drive(t, rates) - h)
        rates.append(post(h))
    return rates


def test_delayed_self_recurrence_reads_the_rate_d_rec_steps_back() -> None:
    dt, tau, w, c, d_rec, n_steps = 1.0, 2.0, 0.5, 1.0, 3, 8
    model = _single_unit(dt=dt, tau=tau, recurrence_type="self", t_recurrence=d_rec * dt, n_timesteps=n_steps)
    with torch.no_grad():
        model.areas["V1"].recurrence.weight.fill_(w)
    _, responses = model.forward_intermediates(torch.full((1, 1, 1, 1), c))
    expected = _simulate(n_steps, dt / tau, lambda t, r: c + w * (r[t - d_rec] if t >= d_rec else 0.0))
    torch.testing.assert_close(responses["V1"].flatten(), torch.tensor(expected))


def test_multiplicative_integration_scales_the_drive_by_one_plus_tanh() -> None:
    dt, tau, w, c, n_steps = 1.0, 2.0, 0.8, 1.5, 6
    model = _single_unit(
        dt=dt, tau=tau, recurrence_type="self", integration="multiplicative", n_timesteps=n_steps
    )
    with torch.no_grad():
        model.areas["V1"].recurrence.weight.fill_(w)
    _, responses = model.forward_intermediates(torch.full((1, 1, 1, 1), c))
    # u = ff * (1 + tanh(rec)), rec = w * r(t - 1)
    expected = _simulate(n_steps, dt / tau, lambda t, r: c * (1 + math.tanh(w * (r[t - 1] if t else 0.0))))
    torch.testing.assert_close(responses["V1"].flatten(), torch.tensor(expected))


@pytest.mark.parametrize("target", ["input", "output"])
def test_recurrence_target_input_passes_recurrence_through_the_feedforward_conv(target: str) -> None:
    dt, tau, w_ff, w, c, n_steps = 1.0, 2.0, 2.0, 0.5, 1.0, 6
    model = _single_unit(
        w_ff, dt=dt, tau=tau, recurrence_type="self", recurrence_target=target, n_timesteps=n_steps
    )
    with torch.no_grad():
        model.areas["V1"].recurrence.weight.fill_(w)
    _, responses = model.forward_intermediates(torch.full((1, 1, 1, 1), c))

    def drive(t: int, r: list[float]) -> float:
        rec = w * (r[t - 1] if t else 0.0)
        return w_ff * (c + rec) if target == "input" else w_ff * c + rec

    torch.testing.assert_close(responses["V1"].flatten(), torch.tensor(_simulate(n_steps, dt / tau, drive)))


def test_recurrence_target_middle_enters_before_the_middle_relu() -> None:
    dt, tau, w, c, b1, n_steps = 1.0, 2.0, -3.0, 1.0, 0.25, 6
    model = _single_unit(
        dt=dt,
        tau=tau,
        two_stage=True,
        strides=((1, 1),),
        recurrence_type="self",
        recurrence_target="middle",
        n_timesteps=n_steps,
    )
    with torch.no_grad():
        model.areas["V1"].recurrence.weight.fill_(w)
        model.areas["V1"].ff.bias.fill_(b1)
    _, responses = model.forward_intermediates(torch.full((1, 1, 1, 1), c))
    # m = c + b1 + w r(t-1); u = ReLU(m) (second conv: weight 1, bias 0). The strong negative w makes the
    # middle ReLU matter.
    expected = _simulate(n_steps, dt / tau, lambda t, r: max(c + b1 + w * (r[t - 1] if t else 0.0), 0.0))
    torch.testing.assert_close(responses["V1"].flatten(), torch.tensor(expected))


def test_supralinearity_raises_the_rate_to_the_power_n() -> None:
    dt, tau, c, n, n_steps = 1.0, 2.0, 3.0, 2.0, 5
    model = _single_unit(dt=dt, tau=tau, recurrence_type="none", supralinearity=n, n_timesteps=n_steps)
    _, responses = model.forward_intermediates(torch.full((1, 1, 1, 1), c))
    expected = _simulate(n_steps, dt / tau, lambda t, r: c, post=lambda h: max(h, 0.0) ** n)
    torch.testing.assert_close(responses["V1"].flatten(), torch.tensor(expected))


def test_adaptation_subtracts_a_low_pass_filtered_rate() -> None:
    dt, tau, a, b, c, n_steps = 1.0, 2.0, 0.7, 0.5, 2.0, 10
    model = _single_unit(dt=dt, tau=tau, recurrence_type="none", adaptation=(a, b), n_timesteps=n_steps)
    _, responses = model.forward_intermediates(torch.full((1, 1, 1, 1), c))
    # By hand: s(t) = a s(t-1) + (1 - a) r(t-1); h(t) = h(t-1) + alpha (c - b s(t) - h(t-1)); r = ReLU(h).
    alpha, h, s, r, expected = dt / tau, 0.0, 0.0, 0.0, []
    for _ in range(n_steps):
        s = a * s + (1 - a) * r
        h = h + alpha * (c - b * s - h)
        r = max(h, 0.0)
        expected.append(r)
    torch.testing.assert_close(responses["V1"].flatten(), torch.tensor(expected))
    # The suppression makes the response peak and then sag below its peak (adaptation).
    rates = responses["V1"].flatten()
    assert rates[-1] < rates.max()


def test_adaptation_off_for_zero_or_none() -> None:
    for value in (None, 0, (0.5, 0.0)):
        assert create_model("DyRCNNx2", **TINY, adaptation=value).adapt is None


# ----------------------------------------------------------------------------- leak forms
def _rk4_weight(a: float) -> float:
    """Fraction of the way to a constant drive that one RK4 step covers: ``1 - R(-a)``, ``R`` RK4's polynomial."""
    return 1.0 - (1.0 - a + a**2 / 2 - a**3 / 6 + a**4 / 24)


# Per solver: the fraction w(a) of the way from the leaked value to a drive held constant over the step.
STEP_WEIGHTS = {"euler": lambda a: a, "exponential": lambda a: -math.expm1(-a), "rk4": _rk4_weight}


def _recurrent_area(**kwargs: object) -> DyRCNN:
    """One float64 area, 3 channels at 5x5, full recurrence delayed by 2 steps, strong enough to matter."""
    torch.manual_seed(0)
    model = DyRCNN(
        area_names=("V1",),
        channels=(3,),
        input_shape=(2, 5, 5),
        n_classes=2,
        dt=2.0,
        tau=5.0,
        recurrence_type="full",
        t_recurrence=4.0,
        **kwargs,
    ).double()
    with torch.no_grad():
        model.areas["V1"].recurrence.conv.weight.normal_(0.0, 0.3)
    return model


def _upstream_rates(model: DyRCNN, x: torch.Tensor, weight: float) -> torch.Tensor:
    """Upstream DynVision's update by hand: ``y = r(t-1) + w (u - r(t-1))``, ``r(t) = g(ReLU(y))``, with
    ``u(t) = W_ff * x(t) + W_rec * r(t - d_rec)`` and ``r(-1) = 0``; rates ``(B, T, C, H, W)``."""
    area = model.areas["V1"]
    d_rec = round(model.t_recurrence / model.dt)
    rates: list[torch.Tensor] = []
    r = torch.zeros_like(area.ff(x[:, 0]))
    for t in range(x.shape[1]):
        u = area.ff(x[:, t])
        if t >= d_rec:
            u = u + area.recurrence(rates[t - d_rec])
        y = r + weight * (u - r)
        r = torch.relu(y)
        if model.supra is not None:
            r = model.supra(r)
        rates.append(r)
    return torch.stack(rates, dim=1)


@pytest.mark.parametrize(
    ("solver", "supralinearity"), [("euler", 1.0), ("euler", 1.5), ("exponential", 1.0), ("rk4", 1.0)]
)
def test_rate_leak_reproduces_upstreams_update_at_every_step(solver: str, supralinearity: float) -> None:
    model = _recurrent_area(leak="rate", solver=solver, supralinearity=supralinearity)
    x = torch.randn(2, 12, 2, 5, 5, dtype=torch.float64)  # inputs of both signs: the ReLU clips often
    with torch.no_grad():
        _, responses = model.forward_intermediates(x)
        expected = _upstream_rates(model, x, STEP_WEIGHTS[solver](model.dt / model.tau))
    torch.testing.assert_close(responses["V1"], expected, rtol=1e-12, atol=1e-12)
    assert bool((expected == 0).any()) and bool((expected > 0).any())
    # The default state leak is a different update on the same weights: the comparison above discriminates.
    state = _recurrent_area(solver=solver, supralinearity=supralinearity)
    state.load_state_dict(model.state_dict())
    with torch.no_grad():
        _, state_responses = state.forward_intermediates(x)
    assert (state_responses["V1"] - expected).abs().max() > 1e-2


def test_state_leak_remembers_inhibition_and_rate_leak_forgets_it() -> None:
    # alpha = 1/2; drive -2 for three steps, then +1.
    x = torch.tensor([-2.0, -2.0, -2.0, 1.0, 1.0, 1.0]).view(1, 6, 1, 1, 1)
    rates = {}
    for leak in ("state", "rate"):
        model = _single_unit(dt=1.0, tau=2.0, recurrence_type="none", leak=leak)
        _, responses = model.forward_intermediates(x)
        rates[leak] = responses["V1"].flatten().tolist()
    # State: h = -1, -1.5, -1.75, then -0.375 (still silent), 0.3125, 0.65625.
    assert rates["state"] == [0.0, 0.0, 0.0, 0.0, 0.3125, 0.65625]
    # Rate: r stays at 0 under the negative drive and follows the positive one at once.
    assert rates["rate"] == [0.0, 0.0, 0.0, 0.5, 0.75, 0.875]


def test_leak_forms_agree_while_the_state_stays_non_negative() -> None:
    x = torch.rand(1, 6, 1, 1, 1) + 0.1  # a positive drive (and positive recurrence) keeps h >= 0
    rates = []
    for leak in ("state", "rate"):
        model = _single_unit(dt=1.0, tau=3.0, recurrence_type="self", leak=leak)
        with torch.no_grad():
            model.areas["V1"].recurrence.weight.fill_(0.5)
            rates.append(model.forward_intermediates(x)[1]["V1"])
    assert torch.equal(rates[0], rates[1])


def test_rate_leak_keeps_checkpointing_windows_and_idle_steps_exact(assert_checkpointing_changes_nothing) -> None:
    """Rate leak with feedback, skips, adaptation, supralinearity, a learnt tau and idle steps: checkpointed
    segments and windows give the plain outputs and gradients."""
    x = torch.randn(2, 6, 3, 16, 16)
    model = assert_checkpointing_changes_nothing(
        lambda steps: _rich_model(leak="rate", checkpoint_steps=steps, train_tau=True, idle_timesteps=2), x, 2
    )
    with torch.no_grad():
        torch.testing.assert_close(torch.cat(list(model.windows(x, 4)), dim=1), model(x), rtol=0, atol=0)


def test_leak_is_checked_and_recorded() -> None:
    assert create_model("DyRCNNx2", **TINY).leak == "state"
    model = create_model("DyRCNNx2", **TINY, leak="rate")
    assert model.leak == "rate" and model.model_kwargs["leak"] == "rate"
    with pytest.raises(ValueError, match=r"leak: 'rates' is not a known leak \(did you mean 'rate'\?\).*'state', 'rate'"):
        create_model("DyRCNNx2", **TINY, leak="rates")


# ----------------------------------------------------------------------------- time constants
def test_per_area_tau_sets_each_areas_integration_speed() -> None:
    torch.manual_seed(0)
    per_area = create_model("DyRCNNx2", **TINY, dt=2.0, tau=(4.0, 10.0))
    assert per_area.area_tau() == {"V1": 4.0, "V2": 10.0}
    uniform = create_model("DyRCNNx2", **TINY, dt=2.0, tau=4.0)
    uniform.load_state_dict(per_area.state_dict())
    x = torch.rand(2, 1, 8, 8)
    _, a = per_area.forward_intermediates(x)
    _, b = uniform.forward_intermediates(x)
    torch.testing.assert_close(a["V1"], b["V1"])  # same tau in V1
    assert not torch.allclose(a["V2"], b["V2"])  # slower V2


def test_train_tau_learns_log_tau_and_recomputes_alpha_each_forward() -> None:
    torch.manual_seed(0)
    model = create_model("DyRCNNx2", **TINY, dt=2.0, tau=(4.0, 8.0), train_tau=True)
    fixed = create_model("DyRCNNx2", **TINY, dt=2.0, tau=(4.0, 8.0))
    fixed.load_state_dict(model.state_dict(), strict=False)
    x = torch.rand(2, 1, 8, 8)
    torch.testing.assert_close(model(x), fixed(x))
    model(x).square().sum().backward()
    grad = model.log_tau.grad
    assert grad is not None and grad.shape == (2,) and bool((grad != 0).all())
    with torch.no_grad():
        model.log_tau.copy_(torch.tensor([6.0, 8.0]).log())  # tau stays positive: exp of anything
    assert model.area_tau() == pytest.approx({"V1": 6.0, "V2": 8.0})
    slower = create_model("DyRCNNx2", **TINY, dt=2.0, tau=(6.0, 8.0))
    slower.load_state_dict(model.state_dict(), strict=False)
    torch.testing.assert_close(model(x), slower(x))


# ----------------------------------------------------------------------------- delays and connections
def _first_difference(a: torch.Tensor, b: torch.Tensor) -> int:
    differs = (a - b).flatten(2).abs().amax(dim=2)[0] > 0
    return int(differs.nonzero()[0])


def test_feedforward_delay_reaches_the_second_area_at_the_predicted_step() -> None:
    dt, t_feedforward, change_at, n_steps = 2.0, 4.0, 2, 8  # d_ff = 2 steps
    torch.manual_seed(0)
    model = create_model("DyRCNNx2", **{**TINY, "n_timesteps": n_steps}, dt=dt, t_feedforward=t_feedforward)
    assert model.first_driven_step("V1") == 0 and model.first_driven_step("V2") == 2
    before = torch.rand(1, n_steps, 1, 8, 8)
    after = before.clone()
    after[:, change_at:] += 1.0
    logits_a, resp_a = model.forward_intermediates(before)
    logits_b, resp_b = model.forward_intermediates(after)
    assert _first_difference(resp_a["V1"], resp_b["V1"]) == change_at
    assert _first_difference(resp_a["V2"], resp_b["V2"]) == change_at + 2
    assert _first_difference(logits_a.unsqueeze(-1), logits_b.unsqueeze(-1)) == change_at + 2


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        # d_ff = 3 steps; feedforward only: V1 0, V2 3, V4 6, IT 9.
        ({"skip": False}, {"V1": 0, "V2": 3, "V4": 6, "IT": 9}),
        # Skips V1 -> V4 and V2 -> IT with d_skip = 1: V4 at 0 + 1, IT at min(V4 + 3, V2 + 1) = 4.
        ({"skip": True, "t_skip": 2.0}, {"V1": 0, "V2": 3, "V4": 1, "IT": 4}),
        # Feedback IT -> V2 with d_fb = 1 cannot beat V2's direct path; V4 -> V1 neither.
        (
            {"skip": True, "t_skip": 2.0, "feedback": True, "t_feedback": 2.0},
            {"V1": 0, "V2": 3, "V4": 1, "IT": 4},
        ),
        # Feedforward only switches the skips off again.
        ({"skip": True, "t_skip": 2.0, "feedforward_only": True}, {"V1": 0, "V2": 3, "V4": 6, "IT": 9}),
    ],
)
def test_step_onset_reaches_each_area_when_the_delays_predict(kwargs: dict, expected: dict[str, int]) -> None:
    onset, n_steps = 2, 14
    torch.manual_seed(0)
    model = create_model("DyRCNNx4", **{**TINY_X4, "n_timesteps": n_steps}, t_feedforward=6.0, **kwargs)
    with torch.no_grad():  # make skip and feedback strong enough that their effect is not lost to rounding
        for connection in [*model.skips.values(), *model.feedbacks.values()]:
            connection.conv.weight.mul_(100.0)
    assert {area: model.first_driven_step(area) for area in model.area_names} == expected
    baseline = torch.rand(1, 3, 16, 16).expand(1, n_steps, 3, 16, 16).clone()
    stepped = baseline.clone()
    stepped[:, onset:] += 1.0  # a step onset at t0 = 2
    _, resp_a = model.forward_intermediates(baseline)
    _, resp_b = model.forward_intermediates(stepped)
    for area in model.area_names:
        assert _first_difference(resp_a[area], resp_b[area]) == onset + expected[area], area


def test_skip_at_target_resolution_equals_the_naive_compute_then_resize_with_fewer_flops() -> None:
    torch.manual_seed(0)
    r = torch.rand(2, 36, 32, 32)
    for target in [(121, 8, 8), (121, 5, 7)]:  # integer ratio (strided slice) and non-integer (interpolation)
        connection = Connection((36, 32, 32), target)
        seen: list[tuple[int, ...]] = []
        connection.conv.register_forward_hook(
            lambda _m, inputs, _o, seen=seen: seen.append(tuple(inputs[0].shape))
        )
        naive = F.interpolate(F.conv2d(r, connection.conv.weight), size=target[1:], mode="nearest")
        torch.testing.assert_close(connection(r), naive, rtol=0, atol=1e-7)
        # The conv ran on the target's pixels only: 8*8 (or 5*7) instead of 32*32 positions.
        assert seen == [(2, 36, *target[1:])]


def test_feedback_convolves_at_the_source_resolution_then_upsamples() -> None:
    torch.manual_seed(0)
    r = torch.rand(2, 121, 8, 8)
    connection = Connection((121, 8, 8), (36, 32, 32))
    seen: list[tuple[int, ...]] = []
    connection.conv.register_forward_hook(lambda _m, inputs, _o: seen.append(tuple(inputs[0].shape)))
    naive = F.conv2d(F.interpolate(r, size=(32, 32), mode="nearest"), connection.conv.weight)
    torch.testing.assert_close(connection(r), naive)
    assert seen == [(2, 121, 8, 8)]


def test_connections_start_small_and_have_no_bias() -> None:
    connection = Connection((36, 32, 32), (121, 8, 8))
    assert connection.conv.bias is None
    assert connection.conv.weight.abs().max() <= 2e-3  # truncated normal, std 1e-3, cut at 2 std
    assert connection(torch.zeros(1, 36, 32, 32)).abs().max() == 0


def test_skip_in_the_model_runs_at_the_target_resolution() -> None:
    model = create_model("DyRCNNx4", n_classes=3, input_shape=(3, 32, 32), n_timesteps=2)
    seen: dict[str, tuple[int, ...]] = {}

    def record(name: str):
        def hook(_module, inputs, _output) -> None:
            seen.setdefault(name, tuple(inputs[0].shape))

        return hook

    for name, connection in model.skips.items():
        connection.conv.register_forward_hook(record(name))
    model(torch.rand(1, 3, 32, 32))
    assert seen == {"V1_to_V4": (1, 36, 8, 8), "V2_to_IT": (1, 64, 4, 4)}


@pytest.mark.parametrize("mode", ["additive", "multiplicative"])
def test_skip_and_feedback_modes_follow_their_formula(mode: str) -> None:
    dt, tau, w_skip, c, n_steps = 1.0, 2.0, 0.6, 1.0, 5
    model = _two_units(
        dt=dt,
        tau=tau,
        recurrence_type="none",
        skips=(("V1", "V2"),),
        skip=True,
        skip_mode=mode,
        n_timesteps=n_steps,
    )
    with torch.no_grad():
        model.skips["V1_to_V2"].conv.weight.fill_(w_skip)
    _, responses = model.forward_intermediates(torch.full((1, 1, 1, 1), c))
    alpha = dt / tau
    r1 = _simulate(n_steps, alpha, lambda t, r: c)

    def drive(t: int, r: list[float]) -> float:
        # V2's feedforward drive is r1(t) (d_ff = 0); the skip reads r1(t) too (d_skip = 0).
        skip = w_skip * r1[t]
        return r1[t] + skip if mode == "additive" else r1[t] * (1 + math.tanh(skip))

    torch.testing.assert_close(responses["V2"].flatten(), torch.tensor(_simulate(n_steps, alpha, drive)))


def test_feedback_arrives_after_its_delay() -> None:
    dt, tau, w_fb, c, d_fb, n_steps = 1.0, 2.0, 0.5, 1.0, 2, 7
    model = _two_units(
        dt=dt,
        tau=tau,
        recurrence_type="none",
        feedbacks=(("V2", "V1"),),
        feedback=True,
        t_feedback=d_fb * dt,
        n_timesteps=n_steps,
    )
    with torch.no_grad():
        model.feedbacks["V2_to_V1"].conv.weight.fill_(w_fb)
    _, responses = model.forward_intermediates(torch.full((1, 1, 1, 1), c))
    alpha, h1, h2, r1, r2 = dt / tau, 0.0, 0.0, [], []
    for t in range(n_steps):
        h1 += alpha * (c + w_fb * (r2[t - d_fb] if t >= d_fb else 0.0) - h1)
        r1.append(max(h1, 0.0))
        h2 += alpha * (r1[t] - h2)
        r2.append(max(h2, 0.0))
    torch.testing.assert_close(responses["V1"].flatten(), torch.tensor(r1))
    torch.testing.assert_close(responses["V2"].flatten(), torch.tensor(r2))


# ----------------------------------------------------------------------------- idle, tbptt, feedforward only
def test_idle_steps_warm_up_without_gradient_and_are_not_returned() -> None:
    dt, tau, bias, c, idle, n_steps = 1.0, 4.0, 0.5, 2.0, 5, 3
    model = _single_unit(dt=dt, tau=tau, recurrence_type="none", idle_timesteps=idle, n_timesteps=n_steps)
    with torch.no_grad():
        model.areas["V1"].ff.bias.fill_(bias)
    logits, responses = model.forward_intermediates(torch.full((1, 1, 1, 1), c))
    assert logits.shape == (1, n_steps, 1) and responses["V1"].shape == (1, n_steps, 1, 1, 1)
    # Idle: blank input, drive = bias, so h(idle - 1) = bias (1 - (1 - alpha)^idle); then the stimulus.
    alpha = dt / tau
    h = bias * (1 - (1 - alpha) ** idle)
    expected = []
    for _ in range(n_steps):
        h = h + alpha * (c + bias - h)
        expected.append(h)
    torch.testing.assert_close(responses["V1"].flatten(), torch.tensor(expected))
    # The warm-up is outside the graph: d r(0) / d bias = alpha, not alpha + (1 - alpha) d h_idle / d bias.
    responses["V1"][0, 0].sum().backward()
    torch.testing.assert_close(model.areas["V1"].ff.bias.grad, torch.tensor([alpha]))


def test_idle_steps_change_the_initial_state() -> None:
    torch.manual_seed(0)
    cold = create_model("DyRCNNx2", **TINY)
    warm = create_model("DyRCNNx2", **TINY, idle_timesteps=3)
    warm.load_state_dict(cold.state_dict())
    with torch.no_grad():
        for model in (cold, warm):
            model.areas["V1"].ff.bias.fill_(0.3)
    x = torch.rand(2, 1, 8, 8)
    _, a = cold.forward_intermediates(x)
    _, b = warm.forward_intermediates(x)
    assert not torch.allclose(a["V1"][:, 0], b["V1"][:, 0])


def test_tbptt_cuts_the_gradient_to_earlier_windows() -> None:
    torch.manual_seed(0)
    n_steps = 6
    for tbptt, reaches_first_step in ((0, True), (2, False), (6, True)):
        model = create_model("DyRCNNx2", **{**TINY, "n_timesteps": n_steps}, tbptt_steps=tbptt)
        x = torch.rand(2, n_steps, 1, 8, 8, requires_grad=True)
        model(x)[:, -1].sum().backward()
        first, last = x.grad[:, 0].abs().sum(), x.grad[:, -1].abs().sum()
        assert last > 0
        assert (first > 0) == reaches_first_step, tbptt


def test_feedforward_only_equals_a_model_without_recurrence_skip_and_feedback() -> None:
    torch.manual_seed(0)
    kwargs = {**TINY_X4, "t_feedback": 2.0}
    full = create_model("DyRCNNx4", **kwargs, skip=True, feedback=True, feedforward_only=True)
    plain = create_model("DyRCNNx4", **kwargs, recurrence_type="none", skip=False, feedback=False)
    missing, unexpected = plain.load_state_dict(full.state_dict(), strict=False)
    assert not missing and unexpected  # the recurrent, skip and feedback weights exist but are unused
    x = torch.rand(2, 3, 16, 16)
    torch.testing.assert_close(full(x), plain(x), rtol=0, atol=0)
    full.feedforward_only = False  # switching back rebuilds the loop plan
    assert not torch.allclose(full(x), plain(x))


# ----------------------------------------------------------------------------- bias, retina
def test_spatial_bias_has_one_value_per_unit() -> None:
    torch.manual_seed(0)
    model = create_model("DyRCNNx2", **TINY, bias="spatial")
    v1 = model.areas["V1"]
    assert v1.ff.bias is None and v1.spatial_bias.shape == (3, 8, 8)
    assert model.areas["V2"].spatial_bias.shape == (4, 4, 4)
    with torch.no_grad():
        v1.spatial_bias.copy_(torch.randn(3, 8, 8))
    # With a blank input the drive is the bias itself, different at every unit.
    torch.testing.assert_close(v1.drive(None, None, batch=2), v1.spatial_bias.expand(2, 3, 8, 8))
    model(torch.rand(2, 1, 8, 8)).sum().backward()
    assert v1.spatial_bias.grad is not None and v1.spatial_bias.grad.abs().sum() > 0


def test_bias_none_removes_all_biases() -> None:
    model = create_model("DyRCNNx2", **TINY, bias="none")
    assert all(area.ff.bias is None and area.spatial_bias is None for area in model.areas.values())


def test_retina_is_applied_before_v1() -> None:
    torch.manual_seed(0)
    model = create_model("DyRCNNx4", **{**TINY_X4, "n_timesteps": 3}, use_retina=True)
    assert model.areas["V1"].ff.in_channels == 18
    assert (model.retina.conv1.in_channels, model.retina.conv1.out_channels) == (3, 36)
    assert (model.retina.conv2.out_channels, model.retina.conv2.kernel_size) == (18, (9, 9))
    calls: list[tuple[int, ...]] = []
    model.retina.register_forward_hook(lambda _m, inputs, _o: calls.append(tuple(inputs[0].shape)))
    image = torch.rand(2, 3, 16, 16)
    before = model(image)
    assert calls == [(2, 3, 16, 16)]  # a static image is filtered once and shown at every step
    movie = torch.rand(2, 3, 3, 16, 16)
    model(movie)
    assert calls[1:] == [(2, 3, 16, 16)] * 3  # a movie is filtered frame by frame
    with torch.no_grad():
        model.retina.conv2.weight.mul_(2.0)
    assert not torch.allclose(model(image), before)


def test_retina_idle_input_is_a_filtered_blank() -> None:
    torch.manual_seed(0)
    model = create_model("DyRCNNx2", **TINY, use_retina=True, idle_timesteps=2)
    with torch.no_grad():
        model.retina.conv2.bias.fill_(0.5)  # a blank frame then drives V1 through the retina's bias
    reference = create_model("DyRCNNx2", **TINY, use_retina=True)
    reference.load_state_dict(model.state_dict())
    x = torch.rand(2, 1, 8, 8)
    assert not torch.allclose(model(x), reference(x))


# ----------------------------------------------------------------------------- recording
def test_forward_intermediates_records_rates_without_changing_logits() -> None:
    model = create_model("DyRCNNx2", **TINY)
    x = torch.rand(2, 1, 8, 8)
    logits, responses = model.forward_intermediates(x)
    assert torch.equal(logits, model(x))
    assert responses["V1"].shape == (2, 4, 3, 8, 8) and responses["V2"].shape == (2, 4, 4, 4, 4)
    assert bool((responses["V1"] >= 0).all())
    _, only_v2 = model.forward_intermediates(x, areas=["V2"])
    assert list(only_v2) == ["V2"] and torch.equal(only_v2["V2"], responses["V2"])
    with pytest.raises(ValueError, match="Unknown area"):
        model.forward_intermediates(x, areas=["V3"])
    with pytest.raises(ValueError, match="Unknown area 'IT'"):
        model.first_driven_step("IT")



def test_forward_intermediates_reduces_each_rate_while_the_steps_run() -> None:
    """With ``reduce``, a step's rate is summarised as soon as it is computed and freed with the step (it was
    held to the end of the window: every step's full rates of every area in memory at once, and a test of the
    packaged duration experiment 1.3 s slower than its forward passes)."""
    import gc
    import weakref

    model = create_model("DyRCNNx2", **TINY)
    x = torch.rand(2, 20, 1, 8, 8)
    seen: list[weakref.ref] = []
    most_alive = 0

    def mean(rate: torch.Tensor) -> torch.Tensor:
        nonlocal most_alive
        gc.collect()
        most_alive = max(most_alive, sum(ref() is not None for ref in seen))
        seen.append(weakref.ref(rate))
        return rate.mean(dim=(1, 2, 3))

    with torch.no_grad():
        logits, responses = model.forward_intermediates(x, reduce=mean)
        full = model.forward_intermediates(x)[1]
    assert torch.equal(logits, model(x))
    for area, rates in full.items():
        torch.testing.assert_close(responses[area], rates.mean(dim=(2, 3, 4)))
    # alive: the rates the recurrence still reads (one step back per area) and the current step's
    assert len(seen) == 2 * 20 and most_alive <= 2 * 2

# ----------------------------------------------------------------------------- windows, checkpointing
# Every path of the step: x4 with skips, feedback, adaptation, supralinearity and a feedforward delay.
RICH_X4 = {**TINY_X4, "feedback": True, "adaptation": (0.5, 0.2), "supralinearity": 1.5, "t_feedforward": 2.0}


def _rich_model(**kwargs: object) -> DyRCNN:
    torch.manual_seed(0)
    model = create_model("DyRCNNx4", **{**RICH_X4, **kwargs})
    with torch.no_grad():  # make recurrence, skips and feedback matter
        for name, p in model.named_parameters():
            if "recurrence" in name or "skips" in name or "feedbacks" in name:
                p.mul_(30.0)
    return model


def test_windows_concatenated_equal_forward_and_run_carries_the_state() -> None:
    model = _rich_model(idle_timesteps=2)
    x = torch.randn(2, 7, 3, 16, 16)
    with torch.no_grad():
        full = model(x)
        torch.testing.assert_close(torch.cat(list(model.windows(x, 3)), dim=1), full, rtol=0, atol=0)
        state = model.init_state(x)
        parts = []
        for start in (0, 1, 4):  # windows of 1, 3 and 2 steps
            logits, state = model.run(x[:, start : min(start + 3, 6) if start else 1], state)
            parts.append(logits)
        assert state.steps == 6
        torch.testing.assert_close(torch.cat(parts, dim=1), full[:, :6], rtol=0, atol=0)


def test_run_rejects_a_state_of_another_batch_size() -> None:
    model = _rich_model()
    state = model.init_state(torch.randn(2, 3, 16, 16))
    with pytest.raises(ValueError, match="batch size 2, but the input has batch 3"):
        model.run(torch.randn(3, 2, 3, 16, 16), state)


@pytest.mark.parametrize(("tbptt", "segment"), [(0, True), (2, True), (0, 4), (3, 2), (0, 6)])
def test_checkpointed_steps_give_the_same_outputs_and_gradients(tbptt: int, segment: int) -> None:
    """Segments of 1, 2, 4 and 6 steps, also across truncation windows and a last segment that is shorter."""
    x = torch.randn(2, 6, 3, 16, 16)
    grads = []
    for checkpoint_steps in (False, segment):
        model = _rich_model(checkpoint_steps=checkpoint_steps, tbptt_steps=tbptt, train_tau=True)
        logits = model(x)
        logits.square().mean().backward()
        grads.append((logits.detach(), {n: p.grad for n, p in model.named_parameters()}))
    torch.testing.assert_close(grads[1][0], grads[0][0])
    assert grads[0][1].keys() == grads[1][1].keys()
    for name, grad in grads[0][1].items():
        torch.testing.assert_close(grads[1][1][name], grad, msg=name)


@pytest.mark.parametrize("segment", [True, 3])
def test_checkpointed_steps_record_the_same_rates(segment: int) -> None:
    x = torch.randn(2, 5, 3, 16, 16)
    _, plain = _rich_model().forward_intermediates(x)
    _, checkpointed = _rich_model(checkpoint_steps=segment).forward_intermediates(x)
    for area, rate in plain.items():
        torch.testing.assert_close(checkpointed[area], rate)


def test_checkpoint_and_compile_flags_are_checked() -> None:
    assert create_model("DyRCNNx2", **TINY, checkpoint_steps=True).checkpoint_steps == 1
    assert create_model("DyRCNNx2", **TINY, checkpoint_steps=False).checkpoint_steps == 0
    with pytest.raises(ValueError, match="checkpoint_steps: -1 is out of range"):
        create_model("DyRCNNx2", **TINY, checkpoint_steps=-1)
    with pytest.raises(ValueError, match=r"checkpoint_steps: 2\.5 is not an integer"):
        create_model("DyRCNNx2", **TINY, checkpoint_steps=2.5)
    with pytest.raises(ValueError, match="compile_step: 'yes' is not true or false"):
        create_model("DyRCNNx2", **TINY, compile_step="yes")


@pytest.mark.parametrize("recurrence_type", list_recurrence_types())
def test_channels_last_changes_only_the_layout(recurrence_type: str) -> None:
    """Default channels-last weights: rates come out NHWC, values and gradients as with the default layout."""
    x = torch.randn(2, 5, 3, 16, 16)
    results: list = []
    layouts: dict[bool, list[bool]] = {False: [], True: []}
    for channels_last in (False, True):
        model = _rich_model(channels_last=channels_last, recurrence_type=recurrence_type, feedback=True)
        model.areas["V2"].ff.register_forward_hook(
            lambda _m, _i, out, key=channels_last: layouts[key].append(
                out.is_contiguous(memory_format=torch.channels_last)
            )
        )
        logits, rates = model.forward_intermediates(x)
        logits.square().mean().backward()
        results.append((logits, rates, {n: p.grad for n, p in model.named_parameters()}))
    (plain, plain_rates, plain_grads), (nhwc, nhwc_rates, nhwc_grads) = results
    # V2's drive at each step it is driven: NCHW with the default layout, NHWC with channels-last weights.
    assert layouts[True] and all(layouts[True]) and not any(layouts[False])
    torch.testing.assert_close(nhwc, plain, rtol=1e-4, atol=1e-5)
    for area, rate in plain_rates.items():
        torch.testing.assert_close(nhwc_rates[area], rate, rtol=1e-4, atol=1e-5, msg=area)
    for name, grad in plain_grads.items():
        torch.testing.assert_close(nhwc_grads[name], grad, rtol=1e-3, atol=1e-5, msg=name)
