"""Timeline inputs (an image or a blank at each step, never written out) give what their written frames give."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from dynvision_models import create_model
from dynvision_models.engine import FrameTimeline, as_timeline

SHOWN = [False, False, True, True, True, False, True, False]  # intro, stimulus, gap, second stimulus, outro


def _timeline(blank: float | torch.Tensor = 0.0, batch: int = 2) -> SimpleNamespace:
    image = torch.rand(batch, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    return SimpleNamespace(image=image, shown=torch.tensor(SHOWN), blank=blank)


def _frames(timeline: SimpleNamespace) -> torch.Tensor:
    blank = timeline.blank if isinstance(timeline.blank, torch.Tensor) else torch.full_like(timeline.image, timeline.blank)
    return torch.stack([timeline.image if on else blank for on in SHOWN], dim=1)


def _model(**kwargs: object) -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model("DyRCNNx4", input_shape=(3, 16, 16), n_timesteps=4, channels=(4, 5, 6, 7), **kwargs)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "recurrence" in name or "skips" in name:
                p.mul_(30.0)
    return model


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"use_retina": True, "idle_timesteps": 2}, {"tbptt_steps": 3}, {"checkpoint_steps": 3}, {"feedback": True}],
    ids=["plain", "retina+idle", "tbptt", "checkpoint", "feedback"],
)
@pytest.mark.parametrize("blank", [0.0, -0.5], ids=["mean-grey", "dark"])
def test_a_timeline_equals_its_written_frames(kwargs: dict, blank: float) -> None:
    model = _model(**kwargs)
    timeline = _timeline(blank)
    logits, rates = model.forward_intermediates(timeline)
    reference, reference_rates = model.forward_intermediates(_frames(timeline))
    torch.testing.assert_close(logits, reference, rtol=1e-5, atol=1e-6)
    for area, rate in reference_rates.items():
        torch.testing.assert_close(rates[area], rate, rtol=1e-5, atol=1e-6)
    logits.square().mean().backward()  # gradients flow through a timeline like through frames
    windows = torch.cat(list(model.windows(timeline, 3)), dim=1)
    torch.testing.assert_close(windows, torch.cat(list(model.windows(_frames(timeline), 3)), dim=1))


def test_a_blank_frame_per_sample_and_models_outside_the_engine() -> None:
    """A tensor blank (e.g. static noise in the gaps), and a zoo model that writes the frames out (ResNet)."""
    timeline = _timeline(blank=torch.randn(2, 3, 16, 16))
    model = _model()
    torch.testing.assert_close(model(timeline), model(_frames(timeline)))
    resnet = create_model("ResNet20", input_shape=(3, 16, 16), n_timesteps=4).eval()
    with torch.no_grad():
        torch.testing.assert_close(resnet(timeline), resnet(_frames(timeline)))


def test_timeline_indexing_and_errors() -> None:
    timeline = as_timeline(_timeline())
    assert isinstance(timeline, FrameTimeline) and tuple(timeline.shape) == (2, 8, 3, 16, 16)
    assert timeline[:, 2] is timeline.image and not timeline[:, 0].any()
    assert timeline[:, 2:5].shown == (True, True, True)
    assert repr(timeline) == "FrameTimeline(shape=(2, 8, 3, 16, 16), shown='00111010')"
    assert as_timeline(torch.zeros(1)) is None
    with pytest.raises(ValueError, match=r"blank frame has shape \(1, 3, 16, 16\), but its image has \(2, 3, 16, 16\)"):
        as_timeline(_timeline(blank=torch.zeros(1, 3, 16, 16)))
    with pytest.raises(ValueError, match="'shown' mask is empty"):
        as_timeline(SimpleNamespace(image=torch.zeros(1, 3, 4, 4), shown=[], blank=0.0))
    with pytest.raises(ValueError, match=r"built for input_shape=\(3, 16, 16\)"):
        _model()(SimpleNamespace(image=torch.zeros(1, 3, 8, 8), shown=[True], blank=0.0))
