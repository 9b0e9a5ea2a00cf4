"""CORnet-RT (Kubilius et al. 2018): equations, official forward, official checkpoint, temporal contract."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from dynvision_models import create_model
from dynvision_models.zoo.cornet import CorNetRT

SMALL = {"n_classes": 7, "input_shape": (3, 64, 64), "n_timesteps": 5}


def _model(seed: int = 0, **kwargs: object) -> CorNetRT:
    torch.manual_seed(seed)
    return CorNetRT(**{**SMALL, **kwargs})


@pytest.fixture(scope="module")
def model() -> CorNetRT:
    return _model().eval()


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))


# ----------------------------------------------------------------------------- official layout, by hand
# Official key -> shape, from the module names of dicarlolab/CORnet cornet/cornet_rt.py (CORnet_RT).
OFFICIAL_SHAPES: dict[str, tuple[int, ...]] = {}
for _area, (_cin, _cout, _k) in {
    "V1": (3, 64, 7),
    "V2": (64, 128, 3),
    "V4": (128, 256, 3),
    "IT": (256, 512, 3),
}.items():
    OFFICIAL_SHAPES |= {
        f"{_area}.conv_input.weight": (_cout, _cin, _k, _k),
        f"{_area}.conv_input.bias": (_cout,),
        f"{_area}.norm_input.weight": (_cout,),
        f"{_area}.norm_input.bias": (_cout,),
        f"{_area}.conv1.weight": (_cout, _cout, 3, 3),
        f"{_area}.norm1.weight": (_cout,),
        f"{_area}.norm1.bias": (_cout,),
    }
OFFICIAL_SHAPES |= {"decoder.linear.weight": (1000, 512), "decoder.linear.bias": (1000,)}


def _fake_official_state(seed: int = 3) -> dict[str, torch.Tensor]:
    """Random values under the official names, prefixed by ``module.`` as saved from nn.DataParallel."""
    generator = torch.Generator().manual_seed(seed)
    return {
        f"module.{key}": 0.1 * torch.randn(shape, generator=generator) + (1.0 if "norm" in key else 0.0)
        for key, shape in OFFICIAL_SHAPES.items()
    }


def _official_forward(model: CorNetRT, image: torch.Tensor, times: int) -> torch.Tensor:
    """The official CORnet_RT.forward, re-told: outputs dict per step, step 0 special, decoder at the end."""

    def block(area: str, inp: torch.Tensor | None, state: torch.Tensor | None, batch: int) -> torch.Tensor:
        b = model.areas[area]
        if inp is None:  # nothing has arrived yet: zeros of the (official, hard-coded at 224) output shape
            inp = torch.zeros(batch, b.out_channels, *b.out_size)
        else:
            inp = F.relu(F.group_norm(b.conv_input(inp), 32, b.norm_input.weight, b.norm_input.bias))
        skip = inp + (0 if state is None else state)
        return F.relu(F.group_norm(b.conv1(skip), 32, b.norm1.weight, b.norm1.bias))

    names = ["inp", "V1", "V2", "V4", "IT"]
    outputs = {"inp": image}
    states = {}
    for name in names[1:]:
        out = block(name, image if name == "V1" else None, None, len(image))
        outputs[name] = states[name] = out
    for _ in range(1, times):
        fresh = {"inp": image}
        for name in names[1:]:
            out = block(name, outputs[names[names.index(name) - 1]], states[name], len(image))
            fresh[name] = states[name] = out
        outputs = fresh
    pooled = F.adaptive_avg_pool2d(outputs["IT"], 1).flatten(1)
    return F.linear(pooled, model.classifier.weight, model.classifier.bias)


# ----------------------------------------------------------------------------- architecture and equations
def test_official_architecture_at_224() -> None:
    torch.manual_seed(0)
    official = CorNetRT()
    assert official.n_timesteps == 5 and official.n_classes == 1000 and official.input_shape == (3, 224, 224)
    assert official.area_names == ("V1", "V2", "V4", "IT")
    # The official zero inputs of step 0 are hard-coded to these sizes; ours are computed from input_shape.
    assert [b.out_size for b in official.areas.values()] == [(56, 56), (28, 28), (14, 14), (7, 7)]
    assert {k: tuple(v.shape) for k, v in official.state_dict().items()} == {
        (f"areas.{k}" if not k.startswith("decoder") else k.replace("decoder.linear", "classifier")): v
        for k, v in OFFICIAL_SHAPES.items()
    }
    assert sum(p.numel() for p in official.parameters()) == 5_208_936


def test_other_input_sizes_get_matching_zero_inputs() -> None:
    m = _model(input_shape=(1, 50, 37), n_timesteps=2)
    assert [b.out_size for b in m.areas.values()] == [(13, 10), (7, 5), (4, 3), (2, 2)]
    _, responses = m.forward_intermediates(torch.randn(1, 1, 50, 37))
    assert [tuple(r.shape[-2:]) for r in responses.values()] == [b.out_size for b in m.areas.values()]


def test_block_step_is_the_published_equation(model: CorNetRT) -> None:
    block = model.areas["V2"]
    generator = torch.Generator().manual_seed(5)
    inp = torch.randn(2, 64, 16, 16, generator=generator)
    state = torch.rand(2, 128, 8, 8, generator=generator)
    with torch.no_grad():
        drive = F.conv2d(inp, block.conv_input.weight, block.conv_input.bias, stride=2, padding=1)
        drive = torch.relu(F.group_norm(drive, 32, block.norm_input.weight, block.norm_input.bias))
        expected = F.conv2d(drive + state, block.conv1.weight, padding=1)
        expected = torch.relu(F.group_norm(expected, 32, block.norm1.weight, block.norm1.bias))
        torch.testing.assert_close(block(block.input_drive(inp, 2, inp), state), expected)
        # Step 0 of V2 and up: no input yet (zeros), no state (zero).
        empty = F.conv2d(torch.zeros(2, 128, 8, 8), block.conv1.weight, padding=1)
        empty = torch.relu(F.group_norm(empty, 32, block.norm1.weight, block.norm1.bias))
        torch.testing.assert_close(block(block.input_drive(None, 2, inp), None), empty)


@pytest.mark.parametrize("times", [1, 2, 5])
def test_each_step_equals_the_official_forward_run_for_that_many_steps(
    model: CorNetRT, image: torch.Tensor, times: int
) -> None:
    with torch.no_grad():
        logits = model(image)
        expected = _official_forward(model, image, times)
    assert logits.shape == (2, 5, 7)
    torch.testing.assert_close(logits[:, times - 1], expected, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- official checkpoint
def test_official_checkpoint_file_gives_the_same_model_as_copying_by_hand(tmp_path: Path) -> None:
    state = _fake_official_state()
    path = tmp_path / "cornet_rt-933c001c.pth"
    torch.save({"epoch": 25, "arch": "CORnet_RT", "state_dict": state}, path)

    loaded = CorNetRT.from_official_checkpoint(path, input_shape=(3, 64, 64), n_timesteps=3)
    by_hand = _model(seed=9, n_classes=1000, n_timesteps=3)
    with torch.no_grad():
        for area, block in by_hand.areas.items():
            for part in ("conv_input", "norm_input", "conv1", "norm1"):
                module = getattr(block, part)
                module.weight.copy_(state[f"module.{area}.{part}.weight"])
                if module.bias is not None:
                    module.bias.copy_(state[f"module.{area}.{part}.bias"])
        by_hand.classifier.weight.copy_(state["module.decoder.linear.weight"])
        by_hand.classifier.bias.copy_(state["module.decoder.linear.bias"])
        x = torch.randn(1, 3, 64, 64)
        torch.testing.assert_close(loaded(x), by_hand(x), rtol=0, atol=0)
        # A flat state dict without the DataParallel prefix is the same checkpoint.
        flat = CorNetRT(input_shape=(3, 64, 64), n_timesteps=3).load_official_checkpoint(
            {k.removeprefix("module."): v for k, v in state.items()}
        )
        torch.testing.assert_close(flat(x), by_hand(x), rtol=0, atol=0)


def test_checkpoint_errors_name_missing_unexpected_and_mismatched_keys() -> None:
    state = _fake_official_state()
    del state["module.V4.norm1.bias"]
    state["module.V4.conv2.weight"] = torch.zeros(1)
    state["module.IT.conv1.weight"] = torch.zeros(512, 512, 1, 1)
    target = CorNetRT(input_shape=(3, 64, 64))
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(ValueError, match="CORnet-RT") as info:
        target.load_official_checkpoint(state)
    message = str(info.value)
    assert "missing keys (1): V4.norm1.bias" in message
    assert "unexpected keys (1): V4.conv2.weight" in message
    assert "IT.conv1.weight (checkpoint (512, 512, 1, 1), model (512, 512, 3, 3))" in message
    # Nothing was loaded.
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())


def test_other_n_classes_needs_strict_classifier_false() -> None:
    state = _fake_official_state()
    target = _model(seed=4, n_classes=10)
    with pytest.raises(ValueError, match=r"decoder\.linear\.weight .*strict_classifier=False"):
        target.load_official_checkpoint(state)
    fresh = target.classifier.weight.detach().clone()
    target.load_official_checkpoint(state, strict_classifier=False)
    assert torch.equal(target.classifier.weight, fresh)
    assert torch.equal(target.areas["IT"].conv1.weight, state["module.IT.conv1.weight"])


# ----------------------------------------------------------------------------- temporal contract
def test_forward_backward_on_a_tiny_input() -> None:
    m = _model(n_timesteps=4).train()
    logits, responses = m.forward_intermediates(torch.randn(2, 3, 64, 64))
    assert logits.shape == (2, 4, 7)
    assert {k: tuple(v.shape) for k, v in responses.items()} == {
        "V1": (2, 4, 64, 16, 16),
        "V2": (2, 4, 128, 8, 8),
        "V4": (2, 4, 256, 4, 4),
        "IT": (2, 4, 512, 2, 2),
    }
    assert torch.isfinite(logits).all()
    logits.square().mean().backward()
    for name, parameter in m.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


def test_same_seed_same_output(image: torch.Tensor) -> None:
    with torch.no_grad():
        torch.testing.assert_close(_model(seed=11)(image), _model(seed=11)(image), rtol=0, atol=0)
        assert not torch.equal(_model(seed=11)(image), _model(seed=12)(image))


def test_static_image_equals_repeated_frames(model: CorNetRT, image: torch.Tensor) -> None:
    with torch.no_grad():
        static_logits, static_responses = model.forward_intermediates(image)
        video = image.unsqueeze(1).repeat(1, 5, 1, 1, 1)
        video_logits, video_responses = model.forward_intermediates(video, areas=["V1", "IT"])
    torch.testing.assert_close(static_logits, video_logits, rtol=0, atol=0)
    for area in ("V1", "IT"):
        torch.testing.assert_close(static_responses[area], video_responses[area], rtol=0, atol=0)


def test_first_driven_step_is_when_a_stimulus_onset_arrives(model: CorNetRT, image: torch.Tensor) -> None:
    onset, n_steps = 2, 7
    blank = torch.zeros(2, n_steps, 3, 64, 64)
    stimulus = blank.clone()
    stimulus[:, onset:] = image.unsqueeze(1)
    with torch.no_grad():
        _, without = model.forward_intermediates(blank)
        _, with_onset = model.forward_intermediates(stimulus)
    assert [model.first_driven_step(a) for a in model.area_names] == [0, 1, 2, 3]
    for area in model.area_names:
        changed = (with_onset[area] - without[area]).flatten(2).abs().amax(dim=2).amax(dim=0) > 0
        assert changed.nonzero()[0].item() == onset + model.first_driven_step(area), area
    with pytest.raises(ValueError, match="Unknown area 'V3'"):
        model.first_driven_step("V3")


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((2, 64, 64), r"Expected input \(batch, time, channels, height, width\).*got shape \(2, 64, 64\)"),
        ((2, 1, 64, 64), r"\(channels, height, width\)=\(1, 64, 64\).*input_shape=\(3, 64, 64\)"),
        ((2, 3, 3, 64, 63), r"\(channels, height, width\)=\(3, 64, 63\).*input_shape=\(3, 64, 64\)"),
        ((2, 0, 3, 64, 64), r"no time steps"),
    ],
)
def test_input_validation(model: CorNetRT, shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        model(torch.zeros(shape))


def test_registered_and_rejects_kwargs_it_does_not_have() -> None:
    built = create_model("CorNetRT", n_classes=3, input_shape=(3, 32, 32), n_timesteps=2)
    assert isinstance(built, CorNetRT) and built.model_kwargs["n_timesteps"] == 2
    with pytest.raises(TypeError, match=r"'tau': the published model has no membrane time constant"):
        create_model("CorNetRT", tau=5.0)
    with pytest.raises(TypeError, match=r"'idle_timesteps': .*zero state"):
        CorNetRT(idle_timesteps=10)
    with pytest.raises(TypeError, match=r"'n_clases': unknown \(did you mean 'n_classes'\?\)"):
        CorNetRT(n_clases=10)
    with pytest.raises(ValueError, match=r"n_timesteps: 0 is out of range.*>= 1"):
        CorNetRT(n_timesteps=0)
    with pytest.raises(ValueError, match=r"input_shape: \(64, 64\) is not \(channels, height, width\)"):
        CorNetRT(input_shape=(64, 64))
    with pytest.raises(ValueError, match=r"Unknown area\(s\) \['V3'\]"):
        built.forward_intermediates(torch.zeros(1, 3, 32, 32), areas=["V3"])
