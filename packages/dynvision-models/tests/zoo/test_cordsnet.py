"""CordsNet (Soo et al. 2024): equations, official forward, official checkpoint layout, temporal contract."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from dynvision_models import create_model
from dynvision_models.zoo.cordsnet import CordsNet

TINY = {"n_classes": 5, "input_shape": (3, 32, 32), "n_timesteps": 4, "idle_timesteps": 3}


def _model(seed: int = 0, **kwargs: object) -> CordsNet:
    torch.manual_seed(seed)
    return CordsNet(**{**TINY, **kwargs})


def _randomise(model: nn.Module, seed: int = 2) -> None:
    """Non-zero spatial biases (they start at zero: the idle period would have no spontaneous state to reach)
    and weight-norm gains ``g = 2`` (at the default ``g = ||v||`` the activity fades over the eight areas, and
    the deep areas would carry too little signal for a comparison to mean anything)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if (
                parameter.dim() == 3
            ):  # only the spatial biases ("conv_bias.i" officially, "areas.area<i>.bias" here)
                parameter.copy_(0.2 * torch.randn(parameter.shape, generator=generator))
            elif name.endswith("original0"):
                parameter.fill_(2.0)


def _assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Equal up to float rounding, relative to the scale of ``expected`` (it differs a lot between areas)."""
    assert expected.abs().max() > 0
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-6 * expected.abs().max().item())


# ----------------------------------------------------------------------------- the official model, re-told
class OfficialCordsNet(nn.Module):
    """Layout and algorithm of the official ``cordsnet`` class (wmws2/cordsnet, cordsnet.py), re-told.

    Same attribute names and containers (so torch produces the official state-dict keys), same update: areas
    updated from the top down, in place, each from the image, the lower areas and itself. Spatial sizes are
    computed from ``size`` instead of the official hard-coded 56 .. 7.
    """

    CHANNELS = (64, 64, 64, 128, 128, 256, 256, 512, 512)  # input channels of area 0, then area i's channels
    STRIDES = (1, 1, 2, 1, 2, 1, 2, 1)
    SKIP_CHANNELS = (64, 128, 256, 512)

    def __init__(self, depth: int, n_classes: int, in_channels: int, size: int) -> None:
        super().__init__()
        self.depth = depth
        ch = self.CHANNELS
        self.inp_conv = weight_norm(nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False))
        self.inp_avgpool = nn.AvgPool2d(3, stride=2, padding=1)
        self.inp_skip = weight_norm(nn.Conv2d(64, 64, 3, padding=1, bias=False))
        # A padded stride-2 conv or pool maps n pixels to ceil(n / 2): two in the stem, one per stride-2 area.
        side = math.ceil(math.ceil(size / 2) / 2)
        sizes = []
        for stride in self.STRIDES[:depth]:
            side = math.ceil(side / stride)
            sizes.append(side)
        self.sizes = sizes
        # ParameterList holding modules, as in the official code (it names them "area_conv.0", ...).
        self.area_conv = nn.ParameterList(
            [weight_norm(nn.Conv2d(ch[i + 1], ch[i + 1], 3, padding=1, bias=False)) for i in range(depth)]
        )
        self.conv_bias = nn.ParameterList(
            [nn.Parameter(torch.zeros(ch[i + 1], s, s)) for i, s in enumerate(sizes)]
        )
        self.area_area = nn.ParameterList(
            [
                weight_norm(nn.Conv2d(ch[i], ch[i + 1], 3, stride=self.STRIDES[i], padding=1, bias=False))
                for i in range(depth)
            ]
        )
        sc = self.SKIP_CHANNELS
        self.skip_area = nn.ParameterList(
            [weight_norm(nn.Conv2d(sc[k], sc[k + 1], 1, stride=2, bias=False)) for k in range(depth // 2 - 1)]
        )
        self.out_fc = weight_norm(nn.Linear(ch[depth], n_classes))

    def area_update(
        self, area: int, r: list[torch.Tensor], image: torch.Tensor, alpha: float
    ) -> torch.Tensor:
        stimulus = self.inp_avgpool(self.inp_conv(image))
        if area == 0:
            current = stimulus
        elif area == 1:
            current = F.relu(r[0]) + self.inp_skip(stimulus)
        elif area % 2 == 0:
            current = F.relu(r[area - 1]) + F.relu(r[area - 2])
        else:
            current = F.relu(r[area - 1]) + self.skip_area[(area - 3) // 2](F.relu(r[area - 2]))
        total = self.area_conv[area](r[area]) + self.conv_bias[area] + self.area_area[area](current)
        return (1 - alpha) * r[area] + alpha * F.relu(total)

    def readout(self, r: list[torch.Tensor]) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(F.relu(r[self.depth - 1]) + F.relu(r[self.depth - 2]), 1)
        return self.out_fc(pooled.flatten(1))

    def run(
        self, image: torch.Tensor, alpha: float, idle: int, steps: int
    ) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        """Logits after each stimulus step, and every area's state after each stimulus step."""
        ch = self.CHANNELS[1:]
        r = [torch.zeros(len(image), ch[j], s, s) for j, s in enumerate(self.sizes)]
        with torch.no_grad():
            for _ in range(idle):
                for j in reversed(range(self.depth)):
                    r[j] = self.area_update(j, r, image * 0, alpha)
        logits, activity = [], []
        for _ in range(steps):
            for j in reversed(range(self.depth)):
                r[j] = self.area_update(j, r, image, alpha)
            logits.append(self.readout(r))
            activity.append(list(r))
        return logits, activity


@pytest.fixture(scope="module")
def official() -> OfficialCordsNet:
    torch.manual_seed(21)
    reference = OfficialCordsNet(depth=8, n_classes=5, in_channels=3, size=32)
    _randomise(reference)
    return reference.eval()


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def _wn(module: nn.Module) -> torch.Tensor:
    """The weight-normalised weight ``g v / ||v||`` (norm over all but the output dimension), by hand."""
    g = module.parametrizations.weight.original0
    v = module.parametrizations.weight.original1
    return g * v / v.flatten(1).norm(dim=1).view(-1, *[1] * (v.dim() - 1))


# ----------------------------------------------------------------------------- architecture and equations
def test_official_defaults_and_architecture_at_224() -> None:
    torch.manual_seed(0)
    model = CordsNet()
    assert (model.n_timesteps, model.idle_timesteps, model.dt, model.tau, model.depth) == (
        100,
        100,
        2.0,
        10.0,
        8,
    )
    assert model.alpha == pytest.approx(0.2)
    assert model.n_classes == 1000 and model.input_shape == (3, 224, 224)
    assert model.area_names == tuple(f"area{i}" for i in range(8))
    assert model.area_shapes == (
        (64, 56, 56), (64, 56, 56), (128, 28, 28), (128, 28, 28),
        (256, 14, 14), (256, 14, 14), (512, 7, 7), (512, 7, 7),
    )  # fmt: skip
    torch.manual_seed(0)
    reference = OfficialCordsNet(depth=8, n_classes=1000, in_channels=3, size=224)
    official_shapes = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert len(official_shapes) == 53
    mapping = model.official_key_map()
    local = model.state_dict()
    assert {k: tuple(local[v].shape) for k, v in mapping.items()} == official_shapes
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in reference.parameters())


def test_area_update_is_the_published_euler_step() -> None:
    model = _model(depth=4, dt=2.0, tau=8.0)
    area = model.areas["area2"]
    generator = torch.Generator().manual_seed(3)
    rate = torch.rand(2, 128, 4, 4, generator=generator)
    current = torch.randn(2, 64, 8, 8, generator=generator)
    with torch.no_grad():
        area.bias.normal_()
        drive = F.conv2d(rate, _wn(area.recurrent), padding=1) + area.bias
        drive = drive + F.conv2d(current, _wn(area.feedforward), stride=2, padding=1)
        expected = (1 - 0.25) * rate + 0.25 * torch.relu(drive)
        torch.testing.assert_close(area(rate, current, model.alpha), expected)


def test_every_step_equals_the_official_forward(
    tmp_path: Path, official: OfficialCordsNet, image: torch.Tensor
) -> None:
    # The official release is a flat state dict (cordsnetr8.pth); this one has the same keys.
    path = tmp_path / "cordsnetr8.pth"
    torch.save(official.state_dict(), path)
    saved = torch.load(path, weights_only=True)
    for key in (
        "inp_conv.parametrizations.weight.original0",
        "inp_skip.parametrizations.weight.original1",
        "area_conv.7.parametrizations.weight.original1",
        "area_area.0.parametrizations.weight.original0",
        "conv_bias.7",
        "skip_area.2.parametrizations.weight.original1",
        "out_fc.parametrizations.weight.original0",
        "out_fc.bias",
    ):
        assert key in saved
    model = CordsNet.from_official_checkpoint(path, **{**TINY, "n_timesteps": 5})
    with torch.no_grad():
        logits, responses = model.forward_intermediates(image)
        expected_logits, activity = official.run(image, alpha=0.2, idle=3, steps=5)
    assert logits.shape == (2, 5, 5)
    _assert_close(logits, torch.stack(expected_logits, dim=1))
    for i, name in enumerate(model.area_names):
        _assert_close(responses[name], torch.stack([step[i] for step in activity], dim=1))


# ----------------------------------------------------------------------------- official checkpoint
def _copy_by_hand(model: CordsNet, state: dict[str, torch.Tensor]) -> None:
    def put(module: nn.Module, prefix: str) -> None:
        module.parametrizations.weight.original0.copy_(state[f"{prefix}.parametrizations.weight.original0"])
        module.parametrizations.weight.original1.copy_(state[f"{prefix}.parametrizations.weight.original1"])

    with torch.no_grad():
        put(model.stem.conv, "inp_conv")
        for i in range(model.depth):
            area = model.areas[f"area{i}"]
            put(area.recurrent, f"area_conv.{i}")
            put(area.feedforward, f"area_area.{i}")
            area.bias.copy_(state[f"conv_bias.{i}"])
        put(model.areas["area1"].skip, "inp_skip")
        for k, i in enumerate((3, 5, 7)):
            put(model.areas[f"area{i}"].skip, f"skip_area.{k}")
        put(model.classifier, "out_fc")
        model.classifier.bias.copy_(state["out_fc.bias"])


def test_official_checkpoint_gives_the_same_model_as_copying_by_hand(
    tmp_path: Path, official: OfficialCordsNet, image: torch.Tensor
) -> None:
    state = official.state_dict()
    by_hand = _model(seed=8)
    _copy_by_hand(by_hand, state)
    path = tmp_path / "wrapped.pth"
    # Multi-GPU training adds "module."; training checkpoints may wrap the state dict.
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    legacy = {}  # older torch.nn.utils.weight_norm names: <name>.weight_g / <name>.weight_v
    for key, value in state.items():
        key = key.replace(".parametrizations.weight.original0", ".weight_g")
        legacy[key.replace(".parametrizations.weight.original1", ".weight_v")] = value
    with torch.no_grad():
        expected = by_hand(image)
        for source in (path, legacy):
            loaded = _model(seed=9).load_official_checkpoint(source)
            torch.testing.assert_close(loaded(image), expected, rtol=0, atol=0)


def test_checkpoint_errors_name_missing_unexpected_and_mismatched_keys(official: OfficialCordsNet) -> None:
    state = dict(official.state_dict())
    del state["skip_area.1.parametrizations.weight.original0"]
    state["area_conv.0.weight"] = torch.zeros(64, 64, 3, 3)
    state["conv_bias.0"] = torch.zeros(64, 56, 56)
    target = _model()
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(ValueError, match="CordsNet-R8") as info:
        target.load_official_checkpoint(state)
    message = str(info.value)
    assert "missing keys (1): skip_area.1.parametrizations.weight.original0" in message
    assert "unexpected keys (1): area_conv.0.weight" in message
    assert "conv_bias.0 (checkpoint (64, 56, 56), model (64, 8, 8))" in message
    assert "input_shape it was trained on (official: (3, 224, 224))" in message
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())

    shallow = _model(depth=4)
    with pytest.raises(
        ValueError, match=r"unexpected keys \(\d+\): area_area\.4\..*build the model with depth=8"
    ):
        shallow.load_official_checkpoint(official.state_dict())


def test_other_n_classes_needs_strict_classifier_false(official: OfficialCordsNet) -> None:
    target = _model(n_classes=10)
    with pytest.raises(
        ValueError, match=r"out_fc\.bias \(checkpoint \(5,\), model \(10,\)\).*strict_classifier"
    ):
        target.load_official_checkpoint(official.state_dict())
    fresh = {k: v.clone() for k, v in target.classifier.state_dict().items()}
    target.load_official_checkpoint(official.state_dict(), strict_classifier=False)
    assert all(torch.equal(fresh[k], v) for k, v in target.classifier.state_dict().items())
    assert torch.equal(target.areas["area7"].bias, official.conv_bias[7])


# ----------------------------------------------------------------------------- presentation and contract
def test_forward_backward_on_a_tiny_input() -> None:
    # Five steps: the readout areas 6 and 7 are first reached at step 3 (before, no gradient reaches below).
    model = _model(input_shape=(3, 64, 64), n_timesteps=5, idle_timesteps=2).train()
    logits, responses = model.forward_intermediates(torch.randn(2, 3, 64, 64))
    assert logits.shape == (2, 5, 5)
    assert [tuple(r.shape) for r in responses.values()] == [
        (2, 5, 64, 16, 16), (2, 5, 64, 16, 16), (2, 5, 128, 8, 8), (2, 5, 128, 8, 8),
        (2, 5, 256, 4, 4), (2, 5, 256, 4, 4), (2, 5, 512, 2, 2), (2, 5, 512, 2, 2),
    ]  # fmt: skip
    assert torch.isfinite(logits).all()
    logits.square().mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


def test_idle_steps_run_without_gradient_and_equal_blank_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model(depth=4, n_timesteps=3, idle_timesteps=4)
    _randomise(model)
    x = torch.randn(1, 3, 32, 32)
    grad_modes: list[bool] = []
    original_step = CordsNet._step

    def spy(self: CordsNet, *args: object) -> list[torch.Tensor]:
        grad_modes.append(torch.is_grad_enabled())
        return original_step(self, *args)

    with monkeypatch.context() as patch:
        patch.setattr(CordsNet, "_step", spy)
        logits = model(x)
    assert grad_modes == [False] * 4 + [True] * 3
    assert logits.shape == (1, 3, 5)  # idle steps are not returned
    # The idle period is the official blank image (zeros) shown before the stimulus.
    model.idle_timesteps = 0
    video = torch.cat([torch.zeros(1, 4, 3, 32, 32), x.unsqueeze(1).expand(1, 3, 3, 32, 32)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(model(video)[:, 4:], logits.detach(), rtol=0, atol=0)
        # ... and it matters: the spontaneous state is not zero.
        assert not torch.allclose(model(x), logits)


def test_same_seed_same_output(image: torch.Tensor) -> None:
    with torch.no_grad():
        first, second = _model(seed=5, depth=2), _model(seed=5, depth=2)
        torch.testing.assert_close(first(image), second(image), rtol=0, atol=0)
        assert not torch.equal(first(image), _model(seed=6, depth=2)(image))


def test_static_image_equals_repeated_frames(image: torch.Tensor) -> None:
    model = _model(depth=4)
    _randomise(model)
    with torch.no_grad():
        static_logits, static_responses = model.forward_intermediates(image)
        video_logits, video_responses = model.forward_intermediates(image.unsqueeze(1).repeat(1, 4, 1, 1, 1))
    torch.testing.assert_close(static_logits, video_logits, rtol=0, atol=0)
    for name in model.area_names:
        torch.testing.assert_close(static_responses[name], video_responses[name], rtol=0, atol=0)


def test_first_driven_step_is_when_a_stimulus_onset_arrives(
    official: OfficialCordsNet, image: torch.Tensor
) -> None:
    model = _model(n_timesteps=7, idle_timesteps=2).load_official_checkpoint(official.state_dict())
    onset = 2
    blank = torch.zeros(2, 8, 3, 32, 32)
    stimulus = blank.clone()
    stimulus[:, onset:] = image.unsqueeze(1)
    with torch.no_grad():
        _, without = model.forward_intermediates(blank)
        _, with_onset = model.forward_intermediates(stimulus)
    assert [model.first_driven_step(a) for a in model.area_names] == [0, 0, 1, 1, 2, 2, 3, 3]
    for name in model.area_names:
        changed = (with_onset[name] - without[name]).flatten(2).abs().amax(dim=2).amax(dim=0) > 0
        assert changed.nonzero()[0].item() == onset + model.first_driven_step(name), name
    with pytest.raises(ValueError, match="Unknown area 'V1'"):
        model.first_driven_step("V1")


@pytest.mark.parametrize(
    ("depth", "arrival", "features"), [(2, [0, 0], 64), (4, [0, 0, 1, 1], 128), (6, [0, 0, 1, 1, 2, 2], 256)]
)
def test_shallower_published_depths(depth: int, arrival: list[int], features: int) -> None:
    model = _model(depth=depth, n_timesteps=2, idle_timesteps=1)
    assert [model.first_driven_step(a) for a in model.area_names] == arrival
    assert model.classifier.in_features == features
    reference = OfficialCordsNet(depth=depth, n_classes=5, in_channels=3, size=32)
    official_shapes = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    local = model.state_dict()
    assert {k: tuple(local[v].shape) for k, v in model.official_key_map().items()} == official_shapes
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 2, 5)


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((2, 32, 32), r"Expected input \(batch, time, channels, height, width\).*got shape \(2, 32, 32\)"),
        ((2, 1, 32, 32), r"\(channels, height, width\)=\(1, 32, 32\).*input_shape=\(3, 32, 32\)"),
        ((2, 3, 3, 32, 31), r"\(channels, height, width\)=\(3, 32, 31\).*input_shape=\(3, 32, 32\)"),
    ],
)
def test_input_validation(shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _model(depth=2)(torch.zeros(shape))


def test_dt_tau_and_rejected_kwargs(image: torch.Tensor) -> None:
    with torch.no_grad():
        torch.testing.assert_close(
            _model(depth=2, dt=1.0, tau=5.0)(image), _model(depth=2, dt=2.0, tau=10.0)(image), rtol=0, atol=0
        )
    with pytest.raises(ValueError, match=r"tau: 1.0 is too small for dt=2 ms with the 'euler' solver.*overshoots"):
        CordsNet(dt=2.0, tau=1.0)
    with pytest.raises(ValueError, match=r"dt: 0.0 is not allowed; allowed: the Euler time step in ms, a number > 0"):
        CordsNet(dt=0.0)
    with pytest.raises(ValueError, match=r"depth: 5 is not a known depth; allowed: .*2, 4, 6, 8"):
        CordsNet(depth=5)
    with pytest.raises(
        TypeError, match=r"'t_feedforward': inter-area delays are fixed.*'solver': .*forward Euler"
    ):
        create_model("CordsNet", t_feedforward=2.0, solver="rk4")
    with pytest.raises(TypeError, match=r"'bias': the published bias is spatial"):
        CordsNet(bias="channel")
    built = create_model(
        "CordsNet", n_classes=3, input_shape=(1, 32, 32), dt=1.0, tau=5.0, idle_timesteps=0, depth=2
    )
    assert isinstance(built, CordsNet) and built.alpha == pytest.approx(0.2)
