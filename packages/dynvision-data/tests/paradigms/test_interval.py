from __future__ import annotations

import pytest
import torch

from dynvision_data import create_paradigm
from dynvision_data.paradigms import onsets


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(2))
    return images, torch.tensor([5, 1, 3])


def test_two_presentations_of_the_same_image_with_a_gap(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = batch
    paradigm = create_paradigm("interval", intro=1, stimulus=2, interval=3, outro=2, blank=0.25)
    frames, step_labels, stimulus = paradigm(images, labels)
    assert paradigm.n_timesteps == 10 and frames.shape == (3, 10, 1, 4, 4)
    assert stimulus.int().tolist() == [0, 1, 1, 0, 0, 0, 1, 1, 0, 0]
    for t in (1, 2, 6, 7):
        assert torch.equal(frames[:, t], images)
    assert frames[:, ~stimulus].eq(0.25).all()
    assert step_labels[1].tolist() == [-1, 1, 1, -1, -1, -1, 1, 1, -1, -1]
    assert onsets(stimulus).nonzero().flatten().tolist() == [1, 6]
    assert paradigm.phases()[3:6] == ["interval"] * 3


def test_defaults_and_ms() -> None:
    paradigm = create_paradigm("interval")
    assert paradigm.params() == {"intro": 0, "stimulus": 2, "interval": 2, "outro": 24, "blank": 0.0}
    assert paradigm.n_timesteps == 30
    assert create_paradigm("interval", intro=2, stimulus=2, interval=4, outro=10).durations_ms(10) == {
        "intro": 20.0,
        "stimulus": 40.0,
        "interval": 40.0,
        "outro": 100.0,
    }


def test_zero_interval_merges_the_presentations(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = batch
    frames, _, stimulus = create_paradigm("interval", intro=0, stimulus=2, interval=0, outro=0)(
        images, labels
    )
    assert stimulus.all() and frames.stride(1) == 0  # fully on: a broadcast view


@pytest.mark.parametrize(
    ("params", "match"),
    [({"interval": -1}, "interval must be >= 0, got -1"), ({"stimulus": 0}, "stimulus must be >= 1, got 0")],
)
def test_bad_steps(params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        create_paradigm("interval", **params)
