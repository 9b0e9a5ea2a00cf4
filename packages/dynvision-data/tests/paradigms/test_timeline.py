"""A lazy Timeline stands in for the written frames wherever a tensor is expected, writing them at most once."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch

from dynvision_data import Timeline, create_paradigm


@pytest.fixture
def presented() -> tuple[Timeline, torch.Tensor]:
    paradigm = create_paradigm("contrast", intro=2, stimulus=3, outro=1, contrast=0.5, blank=0.25)
    images = torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(4)
    timeline = paradigm(images, labels, lazy=True).frames
    frames = paradigm(images, labels).frames
    assert isinstance(timeline, Timeline) and not isinstance(frames, Timeline)
    return timeline, frames


def test_shape_dtype_device_and_length_without_writing(presented: tuple[Timeline, torch.Tensor]) -> None:
    timeline, frames = presented
    assert timeline.shape == frames.shape == timeline.size() and timeline.size(1) == 6
    assert timeline.dim() == timeline.ndim == 5 and len(timeline) == 4
    assert timeline.dtype == frames.dtype and timeline.device == frames.device
    assert (timeline.is_cuda, timeline.layout, timeline.requires_grad) == (False, torch.strided, False)
    assert timeline.numel() == frames.numel()
    assert timeline._frames is None  # nothing above wrote the frames


def test_one_step_is_picked_without_writing_the_rest(presented: tuple[Timeline, torch.Tensor]) -> None:
    timeline, frames = presented
    for t in range(6):
        torch.testing.assert_close(timeline[:, t], frames[:, t], rtol=0, atol=0)
        torch.testing.assert_close(timeline.step(t), frames[:, t], rtol=0, atol=0)
    torch.testing.assert_close(timeline[:, -1], frames[:, -1], rtol=0, atol=0)
    assert timeline._frames is None


def test_tensor_functions_methods_indexing_and_arithmetic_see_the_frames(
    presented: tuple[Timeline, torch.Tensor],
) -> None:
    timeline, frames = presented
    assert torch.equal(torch.flatten(timeline, 0, 1), frames.flatten(0, 1))
    assert torch.equal(timeline.flatten(0, 1), frames.flatten(0, 1))
    assert torch.equal(torch.cat([timeline, timeline], dim=0), torch.cat([frames, frames], dim=0))
    assert torch.equal(timeline[1:3, 2:], frames[1:3, 2:])
    assert torch.equal(timeline * 2 + 1, frames * 2 + 1) and torch.equal(1 - timeline, 1 - frames)
    assert torch.equal(timeline == 0.25, frames == 0.25)
    assert timeline.mean().item() == pytest.approx(frames.mean().item())
    np.testing.assert_array_equal(np.asarray(timeline), frames.numpy())
    assert torch.equal(timeline // 0.5, frames // 0.5) and torch.equal(timeline % 0.5, frames % 0.5)
    assert torch.equal(2**timeline, 2**frames) and torch.equal(+timeline, frames)
    assert torch.equal(timeline[:, True], frames[:, True])  # a bool index is not a step
    assert timeline.numel() == frames.numel()
    # Written once, then reused.
    assert timeline.materialize() is timeline.materialize()


def test_to_keeps_it_lazy_and_casts_the_image(presented: tuple[Timeline, torch.Tensor]) -> None:
    timeline, frames = presented
    half = timeline.to(torch.float64)
    assert isinstance(half, Timeline) and half.dtype == torch.float64 and half._frames is None
    assert torch.equal(half.materialize(), frames.double())


def test_unknown_attributes_fail_clearly_and_copies_work(presented: tuple[Timeline, torch.Tensor]) -> None:
    timeline, frames = presented
    with pytest.raises(AttributeError, match="no attribute 'not_a_tensor_method'"):
        timeline.not_a_tensor_method  # noqa: B018
    for clone in (copy.copy(timeline), copy.deepcopy(timeline), pickle.loads(pickle.dumps(timeline))):
        assert isinstance(clone, Timeline) and torch.equal(clone.materialize(), frames)


def test_written_into_a_buffer(presented: tuple[Timeline, torch.Tensor]) -> None:
    timeline, frames = presented
    out = torch.full_like(frames, float("nan"))
    assert timeline.materialize(out=out) is out and torch.equal(out, frames)


@pytest.mark.parametrize("change", ["mul_", "zero_", "requires_grad_", "copy_", "retain_grad", "register_hook"])
def test_in_place_changes_and_gradients_are_refused_with_a_way_out(
    presented: tuple[Timeline, torch.Tensor], change: str
) -> None:
    # A model reads the image, the mask and the blank: a change made to written frames would be silently lost.
    timeline, _ = presented
    with pytest.raises(TypeError, match=rf"Timeline.{change}: a Timeline is read-only.*frames.materialize\(\)"):
        getattr(timeline, change)


def test_a_bool_of_many_frames_is_ambiguous_like_a_tensor(presented: tuple[Timeline, torch.Tensor]) -> None:
    timeline, _ = presented
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(timeline)
    assert "shown='001110'" in repr(timeline)
