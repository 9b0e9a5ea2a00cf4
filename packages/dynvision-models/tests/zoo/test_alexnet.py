"""AlexNet on the temporal engine: torchvision's architecture by default, recurrence, official key layout."""

from __future__ import annotations

import inspect
import io
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from dynvision_models import create_model
from dynvision_models.engine.temporal import TemporalModel
from dynvision_models.layers.recurrence import SelfRecurrence
from dynvision_models.zoo.alexnet import (
    ALEXNET_AREAS,
    OFFICIAL_KEY_MAP,
    UNSUPPORTED_KWARGS,
    AlexNet,
    FixedSelfRecurrence,
)

# Tiny but valid: the 11x11/4 stem and three 3/2 max-pools need >= 63 px. conv1 15x15, conv2 7x7, conv3-5 3x3.
SMALL = {"n_classes": 5, "input_shape": (3, 64, 64)}

# torchvision's alexnet(num_classes=5): key -> shape.
OFFICIAL_SHAPES: dict[str, tuple[int, ...]] = {
    "features.0.weight": (64, 3, 11, 11),
    "features.0.bias": (64,),
    "features.3.weight": (192, 64, 5, 5),
    "features.3.bias": (192,),
    "features.6.weight": (384, 192, 3, 3),
    "features.6.bias": (384,),
    "features.8.weight": (256, 384, 3, 3),
    "features.8.bias": (256,),
    "features.10.weight": (256, 256, 3, 3),
    "features.10.bias": (256,),
    "classifier.1.weight": (4096, 9216),
    "classifier.1.bias": (4096,),
    "classifier.4.weight": (4096, 4096),
    "classifier.4.bias": (4096,),
    "classifier.6.weight": (5, 4096),
    "classifier.6.bias": (5,),
}


def _model(seed: int = 0, **kwargs: object) -> AlexNet:
    torch.manual_seed(seed)
    return AlexNet(**{**SMALL, **kwargs})


@pytest.fixture(scope="module")
def official() -> dict[str, torch.Tensor]:
    """A fake torchvision checkpoint (5 classes): the official names and shapes, random values."""
    generator = torch.Generator().manual_seed(123)
    return {k: 0.02 * torch.randn(shape, generator=generator) for k, shape in OFFICIAL_SHAPES.items()}


def reference_alexnet(x: torch.Tensor, w: dict[str, torch.Tensor]) -> torch.Tensor:
    """torchvision's AlexNet forward (eval mode) written out with functional ops; ``x`` ``(B, 3, H, W)``."""
    x = F.relu(F.conv2d(x, w["features.0.weight"], w["features.0.bias"], stride=4, padding=2))
    x = F.max_pool2d(x, kernel_size=3, stride=2)
    x = F.relu(F.conv2d(x, w["features.3.weight"], w["features.3.bias"], padding=2))
    x = F.max_pool2d(x, kernel_size=3, stride=2)
    x = F.relu(F.conv2d(x, w["features.6.weight"], w["features.6.bias"], padding=1))
    x = F.relu(F.conv2d(x, w["features.8.weight"], w["features.8.bias"], padding=1))
    x = F.relu(F.conv2d(x, w["features.10.weight"], w["features.10.bias"], padding=1))
    x = F.max_pool2d(x, kernel_size=3, stride=2)
    x = F.adaptive_avg_pool2d(x, (6, 6)).flatten(1)
    x = F.relu(F.linear(x, w["classifier.1.weight"], w["classifier.1.bias"]))
    x = F.relu(F.linear(x, w["classifier.4.weight"], w["classifier.4.bias"]))
    return F.linear(x, w["classifier.6.weight"], w["classifier.6.bias"])


def _as_official(model: AlexNet) -> dict[str, torch.Tensor]:
    state = model.state_dict()
    return {k: state[v] for k, v in OFFICIAL_KEY_MAP.items()}


def _copy_by_hand(model: AlexNet, official: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for area, index in zip(ALEXNET_AREAS, (0, 3, 6, 8, 10), strict=True):
            model.areas[area].ff.weight.copy_(official[f"features.{index}.weight"])
            model.areas[area].ff.bias.copy_(official[f"features.{index}.bias"])
        for index in (1, 4, 6):
            model.classifier[index].weight.copy_(official[f"classifier.{index}.weight"])
            model.classifier[index].bias.copy_(official[f"classifier.{index}.bias"])


# ----------------------------------------------------------------------------------- architecture
def test_parameter_count_equals_torchvision_alexnet() -> None:
    model = create_model("AlexNet")
    assert sum(p.numel() for p in model.parameters()) == 61_100_840
    assert model.area_names == ALEXNET_AREAS
    assert (model.dt, model.tau, model.n_timesteps, model.recurrence_type) == (1.0, 1.0, 1, "none")
    assert all(area.recurrence is None for area in model.areas.values())


def test_default_is_classic_alexnet_at_every_step(official: dict[str, torch.Tensor]) -> None:
    model = _model(n_timesteps=3).eval()
    _copy_by_hand(model, official)  # random biases too (the areas start with zero biases)
    weights = _as_official(model)
    # A different frame at each step: with alpha = dt / tau = 1 nothing leaks from one step to the next.
    video = torch.rand(2, 3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits, rates = model.forward_intermediates(video)
        static = model(video[:, 1])
        for t in range(3):
            torch.testing.assert_close(logits[:, t], reference_alexnet(video[:, t], weights))
            torch.testing.assert_close(static[:, t], reference_alexnet(video[:, 1], weights))
    assert logits.shape == (2, 3, 5)
    shapes = {area: tuple(r.shape[2:]) for area, r in rates.items()}
    assert shapes == {
        "conv1": (64, 15, 15),
        "conv2": (192, 7, 7),
        "conv3": (384, 3, 3),
        "conv4": (256, 3, 3),
        "conv5": (256, 3, 3),
    }


@pytest.mark.parametrize("recurrence_type", ["full", "self"])
def test_recurrent_leaky_alexnet_trains(recurrence_type: str) -> None:
    model = _model(recurrence_type=recurrence_type, tau=3.0, n_timesteps=3, dropout=0.0)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    logits = model(x)
    assert logits.shape == (2, 3, 5) and torch.isfinite(logits).all()
    logits.pow(2).mean().backward()
    for name, area in model.areas.items():
        grads = [p.grad for p in area.recurrence.parameters()]
        assert grads and all(g is not None and g.abs().sum() > 0 for g in grads), name
    assert model.classifier[1].weight.grad is not None
    # Leaky (tau > dt): the first step sees only a third of the drive, so the steps differ.
    with torch.no_grad():
        assert not torch.allclose(logits[:, 0], logits[:, 2])


def test_leaky_integration_without_recurrence() -> None:
    """tau = 2 dt, no recurrence, alpha = 1/2: conv1's state after steps 1, 2 is u/2, 3u/4 of the drive."""
    model = _model(tau=2.0, n_timesteps=2).eval()
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        _, rates = model.forward_intermediates(x, areas=["conv1"])
        u = model.areas["conv1"].ff(x)
    torch.testing.assert_close(rates["conv1"][:, 0], torch.relu(u) / 2)
    torch.testing.assert_close(rates["conv1"][:, 1], torch.relu(u) * 3 / 4)


# ------------------------------------------------------------------------------- official weights
def test_official_checkpoint_file_equals_copy_by_hand(
    official: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    path = tmp_path / "alexnet-owt.pth"
    torch.save(official, path)
    loaded = _model(seed=1).load_official_state_dict(path)
    by_hand = _model(seed=2)
    _copy_by_hand(by_hand, official)
    for key, value in by_hand.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value, rtol=0, atol=0, msg=key)
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(x)[:, 0], reference_alexnet(x, official))


def test_wrapped_and_prefixed_checkpoint(official: dict[str, torch.Tensor]) -> None:
    wrapped = {"state_dict": {f"module.{k}": v for k, v in official.items()}, "epoch": torch.tensor(90)}
    model = AlexNet.from_official_state_dict(wrapped, **SMALL)
    torch.testing.assert_close(model.areas["conv3"].ff.weight, official["features.6.weight"])


def test_bad_keys_give_a_clear_error_and_load_nothing(official: dict[str, torch.Tensor]) -> None:
    bad = dict(official)
    del bad["features.3.bias"]
    bad["features.1.weight"] = torch.zeros(3)
    bad["classifier.4.weight"] = torch.zeros(4096, 100)
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError) as info:
        model.load_official_state_dict(bad)
    message = str(info.value)
    assert "missing keys (1): features.3.bias" in message
    assert "unexpected keys (1): features.1.weight" in message
    assert "classifier.4.weight (checkpoint (4096, 100), model (4096, 4096))" in message
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_other_n_classes_needs_strict_classifier_false(official: dict[str, torch.Tensor]) -> None:
    model = _model(n_classes=7)
    with pytest.raises(ValueError, match="strict_classifier=False"):
        model.load_official_state_dict(official)
    fresh = {k: model.classifier[6].state_dict()[k].clone() for k in ("weight", "bias")}
    model.load_official_state_dict(official, strict_classifier=False)
    state = model.state_dict()
    for key, local in OFFICIAL_KEY_MAP.items():
        if not key.startswith("classifier.6."):
            torch.testing.assert_close(state[local], official[key], rtol=0, atol=0, msg=key)
    torch.testing.assert_close(model.classifier[6].weight, fresh["weight"], rtol=0, atol=0)
    torch.testing.assert_close(model.classifier[6].bias, fresh["bias"], rtol=0, atol=0)
    # Without the last layer in the checkpoint at all, strict_classifier=False still loads the rest.
    partial = {k: v for k, v in official.items() if not k.startswith("classifier.6.")}
    _model(n_classes=7).load_official_state_dict(partial, strict_classifier=False)
    with pytest.raises(ValueError, match="missing keys"):
        _model().load_official_state_dict(partial)


def test_recurrent_model_loads_official_weights_and_keeps_its_recurrence(
    official: dict[str, torch.Tensor],
) -> None:
    model = _model(recurrence_type="full", tau=2.0)
    recurrence = {k: v.clone() for k, v in model.state_dict().items() if ".recurrence." in k}
    assert recurrence
    model.load_official_state_dict(official)
    torch.testing.assert_close(model.areas["conv5"].ff.bias, official["features.10.bias"])
    for key, value in recurrence.items():
        assert torch.equal(model.state_dict()[key], value), key


def test_official_layout_needs_channel_biases(official: dict[str, torch.Tensor]) -> None:
    with pytest.raises(ValueError, match="bias='channel'"):
        _model(bias="none").load_official_state_dict(official)


# ----------------------------------------------------------------------------------------- kwargs
def test_kwargs_that_do_not_apply_are_rejected() -> None:
    with pytest.raises(TypeError, match="'skip': AlexNet has no skip or feedback connections"):
        AlexNet(skip=True)
    with pytest.raises(TypeError, match="'readout'"):
        create_model("AlexNet", readout="avgpool")
    with pytest.raises(TypeError, match=r"'dropuot': unknown \(did you mean 'dropout'\?\)"):
        AlexNet(dropuot=0.1)
    with pytest.raises(ValueError, match="recurrence_target: 'middle' needs areas with two convolution stages"):
        _model(recurrence_target="middle")
    with pytest.raises(ValueError, match="dropout"):
        _model(dropout=1.5)
    with pytest.raises(ValueError, match="too small"):
        AlexNet(input_shape=(3, 32, 32))


def test_engine_kwargs_not_named_by_alexnet_are_passed_on() -> None:
    """Engine kwargs that AlexNet's __init__ does not name (all but its own: they come from the engine's
    signature, so one added to the engine later needs no edit of AlexNet) reach the engine."""
    engine = inspect.signature(TemporalModel.__init__).parameters
    named = inspect.signature(AlexNet.__init__).parameters
    extra = {
        k: p.default
        for k, p in engine.items()
        if k != "self" and k not in named and k not in UNSUPPORTED_KWARGS and p.default is not p.empty
    }
    if not extra:
        pytest.skip("AlexNet names every engine kwarg that applies")
    model = _model(**extra)
    for key, value in extra.items():
        if hasattr(model, key) and value is not None:  # None: the engine's "derive it" (t_recurrence = dt)
            assert getattr(model, key) == value, key


# -------------------------------------------------------------------------------- fixed_self_weight
def test_fixed_self_weight_is_an_untrained_self_connection() -> None:
    model = _model(fixed_self_weight=0.5, n_timesteps=2, dropout=0.0)
    assert model.recurrence_type == "self" and model.fixed_self_weight == 0.5
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert not [n for n in trainable if ".recurrence" in n]
    model.requires_grad_(True)  # a buffer: unfreezing everything does not make it trainable
    assert not [n for n, p in model.named_parameters() if ".recurrence" in n]
    for name, area in model.areas.items():
        assert isinstance(area.recurrence, FixedSelfRecurrence), name
        assert area.recurrence.weight.shape == (1, area.out_channels, 1, 1)
        assert torch.equal(area.recurrence.weight, torch.full_like(area.recurrence.weight, 0.5)), name
    # Every trainable parameter still gets a gradient (the contract of test_every_model).
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    model(x).pow(2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing
    assert all(area.recurrence.weight.grad is None for area in model.areas.values())


@pytest.mark.parametrize("weight", [0.5, -0.1])
def test_fixed_self_weight_by_hand(weight: float) -> None:
    """dt = tau (alpha = 1), zero biases (the engine's init): r_k(1) = (1 + k w) r_k(0) in area k = 1 .. 5.

    Step 0 has no past rate: the feedforward sweep ``r(0)``. At step 1 area 1 gets ``u + w relu(u)``, i.e.
    ``(1 + w) r(0)``; a bias-free area whose input is scaled by ``c > 0`` has its drive scaled by ``c``, so
    area ``k`` gets ``(1 + (k - 1) w) u + w relu(u)``, i.e. ``(1 + k w) r(0)`` (while ``1 + k w > 0``).
    """
    model = _model(fixed_self_weight=weight, n_timesteps=2, dropout=0.0).eval()
    plain = _model(n_timesteps=2, dropout=0.0).eval()
    plain.load_state_dict(model.state_dict(), strict=False)  # same weights, no recurrence
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits, rates = model.forward_intermediates(x)
        plain_logits, plain_rates = plain.forward_intermediates(x)
        u = model.areas["conv1"].ff(x)
    torch.testing.assert_close(rates["conv1"][:, 0], torch.relu(u))
    torch.testing.assert_close(rates["conv1"][:, 1], (1 + weight) * torch.relu(u))
    for k, area in enumerate(ALEXNET_AREAS, start=1):
        assert rates[area][:, 0].any(), area
        torch.testing.assert_close(rates[area][:, 0], plain_rates[area][:, 0])
        # Five stacked convolutions of a scaled input: float32 rounding, relative ~1e-5.
        torch.testing.assert_close(rates[area][:, 1], (1 + k * weight) * rates[area][:, 0], rtol=1e-5, atol=1e-4)
        torch.testing.assert_close(plain_rates[area][:, 1], plain_rates[area][:, 0])  # no recurrence
    torch.testing.assert_close(logits[:, 0], plain_logits[:, 0])
    assert not torch.allclose(logits[:, 1], plain_logits[:, 1])


def test_fixed_self_weight_survives_state_dict_round_trips(official: dict[str, torch.Tensor]) -> None:
    model = create_model("AlexNet", fixed_self_weight=0.5, n_timesteps=2, dropout=0.0, **SMALL)
    assert model.model_kwargs["fixed_self_weight"] == 0.5
    rebuilt = create_model(model.model_name, **model.model_kwargs)
    assert rebuilt.fixed_self_weight == 0.5 and rebuilt.recurrence_type == "self"
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    rebuilt.load_state_dict(torch.load(buffer, weights_only=True))  # strict: the same keys
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval()(x), model.eval()(x), rtol=0, atol=0)
    # Same keys and shapes as a trainable "self" recurrence, so states load both ways.
    trainable = _model(recurrence_type="self", n_timesteps=2)
    assert isinstance(trainable.areas["conv1"].recurrence, SelfRecurrence)
    trainable.load_state_dict(model.state_dict())
    assert torch.equal(trainable.areas["conv3"].recurrence.weight, model.areas["conv3"].recurrence.weight)
    # Official weights leave the fixed self-connection as it is.
    model.load_official_state_dict(official)
    assert all(torch.all(area.recurrence.weight == 0.5) for area in model.areas.values())


def test_fixed_self_weight_rejects_bad_values_and_other_recurrence_types() -> None:
    for bad in (math.nan, math.inf, "0.5", True, [0.5]):
        with pytest.raises(ValueError, match=r"fixed_self_weight: .* is not (a number|allowed)"):
            _model(fixed_self_weight=bad)
    with pytest.raises(
        ValueError,
        match=r"fixed_self_weight: 0.5 cannot be combined with recurrence_type='full'.*Set recurrence_type to one of 'self', 'none'",
    ):
        _model(fixed_self_weight=0.5, recurrence_type="full")
    assert _model(fixed_self_weight=1, recurrence_type="self").fixed_self_weight == 1.0
    assert _model(fixed_self_weight=None, recurrence_type="full").fixed_self_weight is None
