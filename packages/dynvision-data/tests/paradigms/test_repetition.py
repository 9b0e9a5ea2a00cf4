from __future__ import annotations

import pytest
import torch

from dynvision_data import RepetitionParadigm, create_paradigm


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.randn(4, 3, 5, 6, generator=torch.Generator().manual_seed(1))
    return images, torch.tensor([2, 0, 1, 2])


def test_every_step_shows_the_image_with_its_label(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = batch
    frames, step_labels, stimulus = create_paradigm("repetition", steps=7)(images, labels)
    assert frames.shape == (4, 7, 3, 5, 6) and step_labels.shape == (4, 7) and stimulus.tolist() == [True] * 7
    for t in range(7):
        assert torch.equal(frames[:, t], images) and torch.equal(step_labels[:, t], labels)


def test_frames_are_a_stride_0_view_of_the_images(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = batch
    frames, step_labels, _ = RepetitionParadigm(steps=20)(images, labels)
    assert frames.stride(1) == 0 and frames.data_ptr() == images.data_ptr()  # no copy, whatever T
    assert frames.untyped_storage().nbytes() == images.numel() * images.element_size()
    assert step_labels.stride(1) == 0
    with pytest.raises(RuntimeError):
        frames.add_(1.0)  # in-place writes into the broadcast view are refused, so the input stays intact


def test_defaults_params_and_ms(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    paradigm = create_paradigm("repetition")
    assert paradigm.n_timesteps == 20 and paradigm.params() == {"steps": 20, "blank": 0.0}
    assert paradigm.durations_ms(2) == {"stimulus": 40.0}
    assert repr(paradigm) == "RepetitionParadigm(steps=20, blank=0.0)"


def test_a_pattern_blanks_steps_and_then_copies(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = batch
    frames, step_labels, stimulus = create_paradigm("repetition", steps=4, pattern="10", blank=-1.0)(
        images, labels
    )
    assert stimulus.tolist() == [True, True, False, False]
    assert frames.is_contiguous() and frames[:, 2:].eq(-1.0).all() and torch.equal(frames[:, 1], images)
    assert step_labels[:, 2:].eq(-1).all()


@pytest.mark.parametrize(("steps", "match"), [(0, "steps must be >= 1, got 0"), (-3, "got -3")])
def test_bad_steps(steps: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        create_paradigm("repetition", steps=steps)
