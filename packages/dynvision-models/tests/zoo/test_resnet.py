"""Tests of the ResNets of the zoo under the temporal model contract (no torchvision needed)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

import dynvision_models.zoo.resnet as resnet  # registers the ResNets
from dynvision_models.registry import create_model, list_models

IMAGENET = ("ResNet18", "ResNet34", "ResNet50")
CIFAR = ("ResNet20", "ResNet32", "ResNet44", "ResNet56", "ResNet110")
SHAPE = {**dict.fromkeys(IMAGENET, (3, 64, 64)), **dict.fromkeys(CIFAR, (3, 32, 32))}
AREAS = {
    **dict.fromkeys(IMAGENET, ("stem", "layer1", "layer2", "layer3", "layer4")),
    **dict.fromkeys(CIFAR, ("stem", "layer1", "layer2", "layer3")),
}


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _build(name: str, seed: int = 0, **kwargs: object) -> nn.Module:
    torch.manual_seed(seed)
    return create_model(name, **{"n_classes": 5, "input_shape": SHAPE[name], "n_timesteps": 2, **kwargs})


# ----------------------------------------------------------------------------- registration and sizes
def test_all_resnets_are_registered() -> None:
    assert set(IMAGENET + CIFAR) <= set(list_models("ResNet*"))
    assert set(resnet.__all__) >= set(IMAGENET + CIFAR)


@pytest.mark.parametrize(
    ("name", "n_params"), [("ResNet18", 11_689_512), ("ResNet34", 21_797_672), ("ResNet50", 25_557_032)]
)
def test_imagenet_parameter_counts_equal_the_published_ones(name: str, n_params: int) -> None:
    model = create_model(name, n_classes=1000, input_shape=(3, 224, 224))
    assert _n_params(model) == n_params


@pytest.mark.parametrize(
    ("name", "option_a", "option_b"),
    [
        ("ResNet20", 269_722, 272_474),
        ("ResNet32", 464_154, 466_906),
        ("ResNet44", 658_586, 661_338),
        ("ResNet56", 853_018, 855_770),
        ("ResNet110", 1_727_962, 1_730_714),
    ],
)
def test_cifar_parameter_counts(name: str, option_a: int, option_b: int) -> None:
    """Option A (zero-padding shortcuts, the default) has no shortcut parameters; B adds two projections."""
    assert _n_params(create_model(name)) == option_a
    assert _n_params(create_model(name, shortcut="A")) == option_a
    assert _n_params(create_model(name, shortcut="B")) == option_b
    # The two projections 16 -> 32 and 32 -> 64 (1x1 conv + BatchNorm) are the whole difference.
    assert option_b - option_a == (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)


def test_resnet20_is_about_0_27_million_parameters() -> None:
    assert round(_n_params(create_model("ResNet20")) / 1e6, 2) == 0.27


@pytest.mark.parametrize(
    ("name", "blocks"),
    [
        ("ResNet18", (2, 2, 2, 2)),
        ("ResNet34", (3, 4, 6, 3)),
        ("ResNet50", (3, 4, 6, 3)),
        ("ResNet20", (3, 3, 3)),
        ("ResNet56", (9, 9, 9)),
        ("ResNet110", (18, 18, 18)),
    ],
)
def test_stage_depths(name: str, blocks: tuple[int, ...]) -> None:
    model = create_model(name)
    assert tuple(len(model.areas[f"layer{i + 1}"]) for i in range(len(blocks))) == blocks
    block_type = resnet.Bottleneck if name == "ResNet50" else resnet.BasicBlock
    assert all(isinstance(b, block_type) for i in range(len(blocks)) for b in model.areas[f"layer{i + 1}"])


# ----------------------------------------------------------------------------- every model trains
@pytest.mark.parametrize("name", IMAGENET + CIFAR)
def test_forward_backward_shapes_finite_and_every_parameter_gets_a_gradient(name: str) -> None:
    model = _build(name).train()
    x = torch.rand(2, 2, *SHAPE[name])
    logits = model(x)
    assert logits.shape == (2, 2, 5)
    assert torch.isfinite(logits).all()
    nn.functional.cross_entropy(logits.flatten(0, 1), torch.tensor([0, 1, 2, 3])).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or torch.count_nonzero(p.grad) == 0]
    assert not missing
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("name", IMAGENET + CIFAR)
def test_same_seed_gives_the_same_model_and_output(name: str) -> None:
    a, b = _build(name, seed=3).eval(), _build(name, seed=3).eval()
    for (key, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), key
    x = torch.rand(2, 2, *SHAPE[name])
    with torch.no_grad():
        assert torch.equal(a(x), b(x))
    c = _build(name, seed=4)
    assert not torch.equal(a.areas["stem"][0].weight, c.areas["stem"][0].weight)


# ----------------------------------------------------------------------------- temporal contract
@pytest.mark.parametrize("name", ["ResNet18", "ResNet20"])
def test_static_input_equals_repeated_frames_and_is_computed_once(name: str) -> None:
    model = _build(name, n_timesteps=3).eval()
    calls: list[tuple[int, ...]] = []
    model.areas["stem"].register_forward_hook(lambda m, args, out: calls.append(tuple(args[0].shape)))
    image = torch.rand(2, *SHAPE[name])
    frames = image.unsqueeze(1).repeat(1, 3, 1, 1, 1)
    with torch.no_grad():
        static_logits, static_responses = model.forward_intermediates(image)
        assert calls == [(2, *SHAPE[name])]  # one pass over the B images, not B * T
        calls.clear()
        logits, responses = model.forward_intermediates(frames)
        assert calls == [(6, *SHAPE[name])]  # T folded into the batch: one pass over B * T frames
        torch.testing.assert_close(static_logits, logits)
        torch.testing.assert_close(model(image), model(frames))
    for area in AREAS[name]:
        torch.testing.assert_close(static_responses[area], responses[area])
        assert static_responses[area].stride(1) == 0  # expanded over T, not copied
    assert static_logits.shape == (2, 3, 5) and static_logits.stride(1) == 0


@pytest.mark.parametrize("name", ["ResNet18", "ResNet50", "ResNet20"])
def test_frames_are_classified_independently(name: str) -> None:
    model = _build(name).eval()
    x = torch.rand(2, 2, *SHAPE[name])
    with torch.no_grad():
        logits = model(x)
        for t in range(2):
            torch.testing.assert_close(logits[:, t], model(x[:, t])[:, 0])


def test_temporal_input_sets_the_number_of_steps() -> None:
    model = _build("ResNet20", n_timesteps=4)
    assert model(torch.rand(2, 7, 3, 32, 32)).shape == (2, 7, 5)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 4, 5)


@pytest.mark.parametrize(
    ("name", "shapes"),
    [
        (
            "ResNet18",
            {
                "stem": (64, 32, 32),
                "layer1": (64, 16, 16),
                "layer2": (128, 8, 8),
                "layer3": (256, 4, 4),
                "layer4": (512, 2, 2),
            },
        ),
        (
            "ResNet50",
            {
                "stem": (64, 32, 32),
                "layer1": (256, 16, 16),
                "layer2": (512, 8, 8),
                "layer3": (1024, 4, 4),
                "layer4": (2048, 2, 2),
            },
        ),
        (
            "ResNet20",
            {"stem": (16, 32, 32), "layer1": (16, 32, 32), "layer2": (32, 16, 16), "layer3": (64, 8, 8)},
        ),
    ],
)
def test_forward_intermediates_records_every_area(name: str, shapes: dict[str, tuple[int, int, int]]) -> None:
    model = _build(name).eval()
    assert model.area_names == AREAS[name] == tuple(shapes)
    x = torch.rand(2, 2, *SHAPE[name])
    with torch.no_grad():
        logits, responses = model.forward_intermediates(x)
        torch.testing.assert_close(logits, model(x))
    assert list(responses) == list(shapes)
    for area, shape in shapes.items():
        assert responses[area].shape == (2, 2, *shape)
        assert responses[area].min() >= 0  # after the ReLU
    # The classifier reads the global average of the last area.
    last = responses[AREAS[name][-1]].mean(dim=(-2, -1))
    torch.testing.assert_close(logits, model.classifier(last))


def test_forward_intermediates_selects_areas_and_rejects_unknown_ones() -> None:
    model = _build("ResNet20")
    _, responses = model.forward_intermediates(torch.rand(1, 3, 32, 32), areas=["layer2"])
    assert list(responses) == ["layer2"]
    with pytest.raises(ValueError, match=r"Unknown area\(s\) \['V1'\].*stem, layer1, layer2, layer3"):
        model.forward_intermediates(torch.rand(1, 3, 32, 32), areas=["V1"])


@pytest.mark.parametrize("name", IMAGENET + CIFAR)
def test_first_driven_step_is_zero(name: str) -> None:
    model = create_model(name)
    assert all(model.first_driven_step(area) == 0 for area in model.area_names)
    with pytest.raises(ValueError, match=r"Unknown area 'IT'\. Areas of this model: stem, layer1"):
        model.first_driven_step("IT")


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((2, 32, 32), r"Expected input \(batch, time, channels, height, width\).*got shape \(2, 32, 32\)"),
        (
            (1, 2, 2, 3, 32, 32),
            r"with \(channels, height, width\)=\(3, 32, 32\); got shape \(1, 2, 2, 3, 32, 32\)",
        ),
        ((2, 1, 32, 32), r"\(channels, height, width\)=\(1, 32, 32\).*input_shape=\(3, 32, 32\)"),
        (
            (2, 4, 3, 32, 31),
            r"\(channels, height, width\)=\(3, 32, 31\) \(input shape \(2, 4, 3, 32, 31\)\)"
            r".*input_shape=\(3, 32, 32\)",
        ),
        ((2, 0, 3, 32, 32), r"Input has no time steps: shape \(2, 0, 3, 32, 32\)"),
    ],
)
@pytest.mark.parametrize("name", ["ResNet18", "ResNet20"])
def test_bad_input_shapes_name_given_and_expected(name: str, shape: tuple[int, ...], message: str) -> None:
    model = create_model(name)
    with pytest.raises(ValueError, match=message):
        model(torch.zeros(shape))
    with pytest.raises(ValueError, match=message):
        model.forward_intermediates(torch.zeros(shape))


# ----------------------------------------------------------------------------- construction
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_classes": 0}, "n_classes: 0 is out of range.*>= 1"),
        ({"n_timesteps": 0}, "n_timesteps: 0 is out of range.*>= 1"),
        ({"input_shape": (32, 32)}, r"input_shape: \(32, 32\) is not \(channels, height, width\)"),
        ({"input_shape": (3, 0, 32)}, r"input_shape: \(3, 0, 32\) has items that are not positive integers"),
        ({"shortcut": "C"}, "shortcut: 'C' is not a known shortcut; allowed: .*'A', 'B'"),
    ],
)
def test_constructor_rejects_bad_kwargs(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_model("ResNet20", **kwargs)


def test_cifar_depth_must_be_6n_plus_2() -> None:
    with pytest.raises(ValueError, match=r"depth = 6n \+ 2.*got 21"):
        resnet.CifarResNet(depth=21)
    assert len(resnet.CifarResNet(depth=8).areas["layer1"]) == 1


def test_imagenet_resnets_take_no_shortcut_kwarg() -> None:
    with pytest.raises(TypeError, match=r"unexpected keyword argument.*'shortcut'"):
        create_model("ResNet18", shortcut="A")


def test_create_model_records_json_kwargs_and_rebuilds() -> None:
    model = create_model("ResNet32", n_classes=7, input_shape=(1, 16, 16), n_timesteps=3, shortcut="B")
    assert model.model_name == "ResNet32"
    assert json.loads(json.dumps(model.model_kwargs)) == {
        "n_classes": 7,
        "input_shape": [1, 16, 16],
        "n_timesteps": 3,
        "shortcut": "B",
    }
    rebuilt = create_model(model.model_name, **model.model_kwargs)
    assert _n_params(rebuilt) == _n_params(model)
    assert rebuilt.input_shape == (1, 16, 16) and rebuilt.n_timesteps == 3 and rebuilt.n_classes == 7


@pytest.mark.parametrize("name", ["ResNet18", "ResNet20"])
def test_other_input_channels_and_sizes(name: str) -> None:
    model = create_model(name, input_shape=(1, 20, 12), n_classes=2).eval()
    assert model(torch.rand(3, 1, 20, 12)).shape == (3, 1, 2)


def test_kaiming_init_and_batchnorm_init() -> None:
    torch.manual_seed(0)
    model = create_model("ResNet18")
    conv = model.areas["layer3"][0].conv2  # 256 -> 256, 3 x 3: fan_out = 256 * 9
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / (256 * 9)), rel=0.05)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            assert torch.equal(module.weight, torch.ones_like(module.weight))
            assert torch.equal(module.bias, torch.zeros_like(module.bias))


def test_option_a_shortcut_subsamples_and_pads_zero_channels() -> None:
    shortcut = resnet.BasicBlock(16, 32, stride=2, shortcut="A").shortcut
    x = torch.rand(2, 16, 8, 8)
    y = shortcut(x)
    assert y.shape == (2, 32, 4, 4)
    torch.testing.assert_close(y[:, 8:24], x[:, :, ::2, ::2])  # the old channels in the middle
    assert torch.equal(y[:, :8], torch.zeros(2, 8, 4, 4)) and torch.equal(y[:, 24:], torch.zeros(2, 8, 4, 4))
    assert not list(shortcut.parameters())


def test_blocks_with_the_same_shape_use_the_identity() -> None:
    model = create_model("ResNet50")
    assert model.areas["layer1"][0].shortcut is not None  # 64 -> 256 channels: projection
    assert model.areas["layer1"][1].shortcut is None
    assert model.areas["layer2"][0].shortcut is not None  # stride 2
    assert model.areas["layer2"][0].conv2.stride == (2, 2)  # "v1.5": the stride is on the 3x3 conv
