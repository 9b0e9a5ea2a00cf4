from __future__ import annotations

import pytest
import torch

from dynvision_models import create_model
from dynvision_models.engine import delay_to_steps
from dynvision_models.zoo import DyRCNN

TINY = {"n_classes": 3, "input_shape": (1, 8, 8), "n_timesteps": 4, "channels": (3, 4)}


def _single_unit(**kwargs: object) -> DyRCNN:
    """One area with one channel on a 1x1 input: u(t) = x(t) (+ recurrence), a hand-checkable model."""
    model = DyRCNN(area_names=("V1",), channels=(1,), input_shape=(1, 1, 1), n_classes=1, **kwargs)
    with torch.no_grad():
        weight = torch.zeros_like(model.areas["V1"].ff.weight)
        weight[0, 0, 1, 1] = 1.0  # only the centre tap sees a 1x1 input through "same" padding
        model.areas["V1"].ff.weight.copy_(weight)
        model.areas["V1"].ff.bias.zero_()
    return model


# ----------------------------------------------------------------------------- validation of kwargs
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dt": 0.0}, "dt must be a positive time step"),
        ({"dt": 2.0, "tau": 1.0}, "tau=1.0 ms is smaller than dt=2.0 ms.*overshoots"),
        ({"dt": 2.0, "t_feedforward": 3.0}, "t_feedforward=3.0 ms is not a multiple of dt=2.0 ms.*Use 2 or 4 ms"),
        ({"dt": 2.0, "t_recurrence": 5.0}, "t_recurrence=5.0 ms is not a multiple of dt=2.0 ms.*Use 4 or 6 ms"),
        ({"t_recurrence": 0.0}, "t_recurrence must be at least one time step"),
        ({"t_feedforward": -2.0}, "t_feedforward must be a finite delay >= 0"),
        ({"recurrence_type": "fully"}, "Unknown recurrence_type 'fully'.*Allowed: 'full', 'none', 'self'"),
        ({"solver": "heun"}, "Unknown solver 'heun'.*Available solvers: 'euler'"),
        ({"readout": "max"}, "Unknown readout 'max'.*'avgpool', 'flatten'"),
        ({"input_shape": (8, 8)}, "input_shape must be \\(channels, height, width\\)"),
        ({"n_timesteps": 0}, "n_timesteps must be an integer >= 1"),
        ({"channels": (3,)}, "one positive integer width per area"),
    ],
)
def test_constructor_rejects_bad_kwargs(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_model("DyRCNNx2", **{**TINY, **kwargs})


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


# ----------------------------------------------------------------------------- dynamics
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


def test_delayed_self_recurrence_reads_the_rate_d_rec_steps_back() -> None:
    dt, tau, w, c, d_rec, n_steps = 1.0, 2.0, 0.5, 1.0, 3, 8
    model = _single_unit(dt=dt, tau=tau, recurrence_type="self", t_recurrence=d_rec * dt, n_timesteps=n_steps)
    with torch.no_grad():
        model.areas["V1"].recurrence.weight.fill_(w)
    _, responses = model.forward_intermediates(torch.full((1, 1, 1, 1), c))
    alpha, h, rates = dt / tau, 0.0, []
    for t in range(n_steps):
        r_past = rates[t - d_rec] if t >= d_rec else 0.0
        h = h + alpha * (-h + c + w * r_past)
        rates.append(max(h, 0.0))
    torch.testing.assert_close(responses["V1"].flatten(), torch.tensor(rates))


def test_feedforward_delay_reaches_the_second_area_at_the_predicted_step() -> None:
    dt, t_feedforward, change_at, n_steps = 2.0, 4.0, 2, 8  # d_ff = 2 steps
    torch.manual_seed(0)
    model = create_model("DyRCNNx2", **{**TINY, "n_timesteps": n_steps}, dt=dt, t_feedforward=t_feedforward)
    assert model.first_driven_step("V1") == 0 and model.first_driven_step("V2") == 2
    before = torch.rand(1, n_steps, 1, 8, 8)
    after = before.clone()
    after[:, change_at:] += 1.0

    def first_difference(a: torch.Tensor, b: torch.Tensor) -> int:
        differs = (a - b).flatten(2).abs().amax(dim=2)[0] > 0
        return int(differs.nonzero()[0])

    logits_a, resp_a = model.forward_intermediates(before)
    logits_b, resp_b = model.forward_intermediates(after)
    assert first_difference(resp_a["V1"], resp_b["V1"]) == change_at
    assert first_difference(resp_a["V2"], resp_b["V2"]) == change_at + 2
    assert first_difference(logits_a.unsqueeze(-1), logits_b.unsqueeze(-1)) == change_at + 2


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
