"""Every registered model meets the shared contract on a tiny input (a new registration is covered automatically)."""

from __future__ import annotations

import pytest
import torch

from dynvision_models import create_model, list_models, list_recurrence_types

#: Kwargs that keep each model tiny; a model not named here gets DEFAULT.
DEFAULT = {"n_classes": 3, "input_shape": (3, 32, 32), "n_timesteps": 3}
# Enough steps that every connection reaches the readout: IT of CORnet-RT is first driven at step 3, the R8 readout
# of CordsNet at step 3 (and its first area's recurrence 4 steps later), and DyRCNNx4/x8 recur with a 3-step delay.
TINY = {
    # AlexNet's 11x11/4 stem and three 3/2 pools need at least ~63 px; dropout off keeps it deterministic.
    "AlexNet": {"input_shape": (3, 64, 64), "n_timesteps": 2, "dropout": 0.0},
    "CorNetRT": {"input_shape": (3, 64, 64), "n_timesteps": 5},
    "CordsNet": {"input_shape": (3, 64, 64), "n_timesteps": 8, "idle_timesteps": 2},
    "DyRCNNx4": {"n_timesteps": 6},
    "DyRCNNx8": {"input_shape": (3, 64, 64), "n_timesteps": 6},
    "ResNet18": {"input_shape": (3, 64, 64), "n_timesteps": 2},
    "ResNet34": {"input_shape": (3, 64, 64), "n_timesteps": 2},
    "ResNet50": {"input_shape": (3, 64, 64), "n_timesteps": 2},
    "ResNet110": {"n_timesteps": 2},
}


def tiny_model(name: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model(name, **{**DEFAULT, **TINY.get(name, {})})


@pytest.mark.parametrize("name", list_models())
def test_forward_backward_shapes_gradients_and_determinism(name: str) -> None:
    model = tiny_model(name)
    kwargs = {**DEFAULT, **TINY.get(name, {})}
    batch, steps = 2, kwargs["n_timesteps"]
    torch.manual_seed(1)
    x = torch.rand(batch, *kwargs["input_shape"])

    logits = model(x)
    assert logits.shape == (batch, steps, kwargs["n_classes"])
    assert torch.isfinite(logits).all()

    logits.float().pow(2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.any())]
    assert not missing, f"{name}: parameters without gradient: {missing}"

    again = tiny_model(name)
    model.zero_grad()
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("name", list_models())
def test_intermediates_cover_every_area_at_every_step(name: str) -> None:
    model = tiny_model(name).eval()
    kwargs = {**DEFAULT, **TINY.get(name, {})}
    x = torch.rand(2, *kwargs["input_shape"])
    with torch.no_grad():
        logits, responses = model.forward_intermediates(x)
        torch.testing.assert_close(logits, model(x))
    assert list(responses) == list(model.area_names)
    for area, rate in responses.items():
        assert rate.shape[:2] == (2, kwargs["n_timesteps"]) and rate.dim() == 5, area
        assert 0 <= model.first_driven_step(area) < kwargs["n_timesteps"] + 10


# ----------------------------------------------------------------------------- every recurrence type
#: DyRCNNx2 small enough to build and train once per recurrence type.
RECURRENCE_TINY = {"n_classes": 3, "input_shape": (3, 16, 16), "n_timesteps": 4, "channels": (4, 6)}


def _rates(recurrence_type: str, x: torch.Tensor, **kwargs: object) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = create_model("DyRCNNx2", **{**RECURRENCE_TINY, **kwargs}, recurrence_type=recurrence_type)
    with torch.no_grad():
        return model.forward_intermediates(x)[1]


@pytest.mark.parametrize("recurrence_type", list_recurrence_types())
def test_every_recurrence_type_trains_with_the_contract_shapes(recurrence_type: str) -> None:
    torch.manual_seed(0)
    model = create_model("DyRCNNx2", **RECURRENCE_TINY, recurrence_type=recurrence_type)
    logits, rates = model.forward_intermediates(torch.rand(2, 3, 16, 16))
    assert logits.shape == (2, 4, 3) and torch.isfinite(logits).all()
    assert rates["V1"].shape == (2, 4, 4, 16, 16) and rates["V2"].shape == (2, 4, 6, 8, 8)
    logits.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing, f"{recurrence_type}: parameters without gradient: {missing}"


@pytest.mark.parametrize("recurrence_type", list_recurrence_types())
def test_every_recurrence_type_follows_tau_and_the_delays(recurrence_type: str) -> None:
    x, other = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    # tau: the first step from the zero state is (dt / tau) u(0), and u(0) does not depend on tau.
    slow, fast = _rates(recurrence_type, x, tau=4.0), _rates(recurrence_type, x, tau=2.0)
    torch.testing.assert_close(slow["V1"][:, 0] * 2, fast["V1"][:, 0])
    # t_feedforward: V2 sees the stimulus d_ff = 2 steps late.
    late, late_other = (_rates(recurrence_type, s, t_feedforward=4.0)["V2"] for s in (x, other))
    assert torch.equal(late[:, :2], late_other[:, :2]) and not torch.equal(late[:, 2], late_other[:, 2])
    # t_recurrence: the past rate is first read at step d_rec (2 against 4 steps: the same until step 2), by every
    # type that reads it (not "none", nor "intersection", whose recurrence runs through its memory).
    soon, later = (_rates(recurrence_type, x, t_recurrence=t)["V1"] for t in (4.0, 8.0))
    assert torch.equal(soon[:, :2], later[:, :2])
    area = create_model("DyRCNNx2", **RECURRENCE_TINY, recurrence_type=recurrence_type).areas["V1"]
    reads_rate = area.recurrence is not None and (area.cell is None or area.cell.reads_rate)
    assert torch.equal(soon[:, 2], later[:, 2]) != reads_rate
