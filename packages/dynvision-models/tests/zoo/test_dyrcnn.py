from __future__ import annotations

import json

import pytest
import torch

from dynvision_models import create_model, list_models, model_parameters

DYRCNNS = list_models("DyRCNN*")
# Narrow areas keep every variant fast; x8 needs 32x32 (four stride-2 convs and two pools).
SMALL = {
    "DyRCNNx2": {"channels": (4, 6), "input_shape": (3, 16, 16)},
    "DyRCNNx4": {"channels": (4, 5, 6, 7), "input_shape": (3, 16, 16)},
    "DyRCNNx8": {"channels": (4, 9, 16, 25), "input_shape": (3, 32, 32)},
}
# Everything on: every optional module exists and must get a gradient. t_recurrence = t_feedback = dt so that
# recurrent and feedback weights act within the few steps of the test.
ALL_FEATURES = {
    "skip": True,
    "feedback": True,
    "t_recurrence": 2.0,
    "t_feedback": 2.0,
    "feedback_mode": "multiplicative",
    "train_tau": True,
    "use_retina": True,
    "adaptation": (0.8, 0.3),
    "supralinearity": 1.5,
    "bias": "spatial",
    "idle_timesteps": 2,
    "tbptt_steps": 3,
    "norm": "layer",
    "recurrence_target": "input",
}


def test_all_variants_are_registered() -> None:
    assert DYRCNNS == ["DyRCNNx2", "DyRCNNx4", "DyRCNNx8"]


def _build(name: str, seed: int = 0, **kwargs: object) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model(name, n_classes=5, n_timesteps=5, **{**SMALL[name], **kwargs})


@pytest.mark.parametrize("features", ["defaults", "all"])
@pytest.mark.parametrize("name", DYRCNNS)
def test_forward_backward_reaches_every_parameter(name: str, features: str) -> None:
    model = _build(name, **(ALL_FEATURES if features == "all" else {}))
    x = torch.rand(2, *SMALL[name]["input_shape"])
    logits = model(x)
    assert logits.shape == (2, 5, 5)
    assert torch.isfinite(logits).all()
    logits.square().mean().backward()
    missing = [
        n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.any())
    ]
    assert not missing, f"no gradient for {missing}"


@pytest.mark.parametrize("name", DYRCNNS)
def test_same_seed_gives_the_same_model_and_output(name: str) -> None:
    x = torch.rand(2, *SMALL[name]["input_shape"])
    a, b, c = _build(name, seed=3), _build(name, seed=3), _build(name, seed=4)
    assert torch.equal(a(x), b(x))
    assert not torch.equal(a(x), c(x))


@pytest.mark.parametrize("name", DYRCNNS)
def test_kwargs_rebuild_the_same_architecture(name: str) -> None:
    model = _build(name, **ALL_FEATURES, tau=[4.0] * len(SMALL[name]["channels"]))
    saved = json.loads(json.dumps(model.model_kwargs))
    rebuilt = create_model(model.model_name, **saved)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in model.state_dict().items()
    }


def test_dyrcnnx4_defaults_match_upstream() -> None:
    params = model_parameters("DyRCNNx4")
    expected = {
        "dt": 2.0,
        "tau": 5.0,
        "t_recurrence": 6.0,
        "t_feedforward": 0.0,
        "t_skip": 0.0,
        "skip": True,
        "feedback": False,
        "recurrence_type": "full",
        "recurrence_target": "output",
    }
    assert {k: params[k] for k in expected} == expected
    model = create_model("DyRCNNx4", n_classes=10, input_shape=(3, 32, 32), n_timesteps=2)
    assert [a.out_channels for a in model.areas.values()] == [36, 64, 121, 256]
    assert [a.rate_shape[1:] for a in model.areas.values()] == [(32, 32), (16, 16), (8, 8), (4, 4)]
    assert model.areas["IT"].ff.stride == (2, 2)
    assert list(model.skips) == ["V1_to_V4", "V2_to_IT"] and not list(model.feedbacks)
    assert model.skip_pairs == (("V1", "V4"), ("V2", "IT"))
    assert model.feedback_pairs == (("V4", "V1"), ("IT", "V2"))
    with_feedback = create_model("DyRCNNx4", n_classes=10, input_shape=(3, 32, 32), feedback=True)
    assert list(with_feedback.feedbacks) == ["V4_to_V1", "IT_to_V2"]


def test_dyrcnnx8_has_two_convs_per_area_with_strides_two_then_one() -> None:
    model = create_model("DyRCNNx8", n_classes=10, input_shape=(3, 64, 64), n_timesteps=2)
    areas = model.areas
    assert [a.out_channels for a in areas.values()] == [64, 144, 256, 529]
    assert areas["V1"].ff.kernel_size == (5, 5) and areas["V2"].ff.kernel_size == (3, 3)
    for area in areas.values():
        assert area.ff.stride == (2, 2) and area.ff2.stride == (1, 1)
        assert area.ff.out_channels == area.ff2.out_channels == area.out_channels
    # 64 -> V1 32 (pool 16) -> V2 8 (pool 4) -> V4 2 -> IT 1
    assert [a.rate_shape[1:] for a in areas.values()] == [(32, 32), (8, 8), (2, 2), (1, 1)]


def test_dyrcnnx8_middle_target_differs_from_output_target() -> None:
    outputs = {}
    for target in ("middle", "output"):
        model = _build("DyRCNNx8", recurrence_target=target, t_recurrence=2.0)
        with torch.no_grad():
            for area in model.areas.values():
                area.recurrence.conv.weight.mul_(100.0)
        outputs[target] = model(torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)))
    assert outputs["middle"].shape == outputs["output"].shape
    assert not torch.allclose(outputs["middle"], outputs["output"])


def test_input_target_maps_the_recurrence_to_the_input_shape() -> None:
    model = _build("DyRCNNx4", recurrence_target="input")
    adapters = {name: area.recurrence_adapter for name, area in model.areas.items()}
    # V1: 4 ch at 16x16 -> the 3-channel stimulus; IT: 7 ch at 2x2 -> V4's 6 ch at 4x4 (stride-2 conv).
    assert adapters["V1"].target_shape == (3, 16, 16) and adapters["V1"].source_shape == (4, 16, 16)
    assert adapters["IT"].target_shape == (6, 4, 4) and adapters["IT"].source_shape == (7, 2, 2)


@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_norm_normalises_each_areas_output(norm: str) -> None:
    model = _build("DyRCNNx4", norm=norm)
    kind = torch.nn.GroupNorm if norm == "layer" else torch.nn.BatchNorm2d
    assert all(isinstance(area.norm, kind) for area in model.areas.values())
    assert model(torch.rand(2, 3, 16, 16)).shape == (2, 5, 5)


def test_workflow_kwargs_still_build_dyrcnnx2() -> None:
    model = create_model(
        "DyRCNNx2",
        n_classes=10,
        input_shape=(1, 28, 28),
        n_timesteps=6,
        dt=2.0,
        tau=4.0,
        t_feedforward=0.0,
        readout="avgpool",
        channels=[4, 8],
    )
    assert model.dt == 2.0 and model(torch.rand(2, 1, 28, 28)).shape == (2, 6, 10)
