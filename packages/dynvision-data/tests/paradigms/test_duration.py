from __future__ import annotations

import pytest
import torch

from dynvision_data import IGNORE_INDEX, DurationParadigm, Presentation, create_paradigm


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.randn(3, 2, 4, 5, generator=torch.Generator().manual_seed(0))
    return images, torch.tensor([4, 0, 7])


def test_duration_presents_frames_b_t_c_h_w_with_labels_b_t(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = batch
    out = create_paradigm("duration", intro=2, stimulus=3, outro=4)(images, labels)
    assert isinstance(out, Presentation)
    frames, step_labels, stimulus = out  # a plain tuple to code that does not import the package
    assert frames.shape == (3, 9, 2, 4, 5) and frames.dtype == images.dtype
    assert step_labels.shape == (3, 9) and step_labels.dtype == torch.int64
    assert stimulus.shape == (9,) and stimulus.dtype == torch.bool


def test_stimulus_steps_show_the_image_and_carry_its_label(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = batch
    frames, step_labels, stimulus = create_paradigm("duration", intro=2, stimulus=3, outro=4)(images, labels)
    assert stimulus.tolist() == [False, False, True, True, True, False, False, False, False]
    for t in range(2, 5):
        assert torch.equal(frames[:, t], images)
        assert torch.equal(step_labels[:, t], labels)


def test_labels_are_ignore_index_outside_the_stimulus(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = batch
    _, step_labels, stimulus = create_paradigm("duration", intro=1, stimulus=2, outro=3)(images, labels)
    assert IGNORE_INDEX == -1
    assert step_labels[:, ~stimulus].eq(-1).all()
    assert step_labels[0].tolist() == [-1, 4, 4, -1, -1, -1]
    loss = torch.nn.functional.cross_entropy(
        torch.zeros(3 * 6, 8), step_labels.flatten(), ignore_index=IGNORE_INDEX, reduction="sum"
    )
    torch.testing.assert_close(
        loss, torch.tensor(6 * torch.log(torch.tensor(8.0)).item())
    )  # 3 samples x 2 steps


@pytest.mark.parametrize("blank", [0.0, -0.5, 2])
def test_frames_hold_the_blank_value_outside_the_stimulus(
    batch: tuple[torch.Tensor, torch.Tensor], blank: float
) -> None:
    images, labels = batch
    frames, _, stimulus = DurationParadigm(intro=2, stimulus=1, outro=2, blank=blank)(images, labels)
    assert frames[:, ~stimulus].eq(float(blank)).all()
    assert torch.equal(frames[:, 2], images)


def test_presentations_never_alias_the_input_or_each_other(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = batch
    original = images.clone()
    paradigm = create_paradigm("duration", intro=1, stimulus=2, outro=1)
    first = paradigm(images, labels)
    second = paradigm(images, labels)
    first.frames.add_(1.0)  # writing into one presentation ...
    first.labels.fill_(9)
    first.stimulus.fill_(False)
    assert torch.equal(images, original)  # ... changes neither the input ...
    assert (
        torch.equal(second.frames[:, 1], original) and second.frames[:, 0].eq(0.0).all()
    )  # ... nor another call
    assert second.labels[:, 1].tolist() == labels.tolist()
    assert second.stimulus.tolist() == [False, True, True, False]
    assert paradigm.stimulus_mask().tolist() == [False, True, True, False]
    assert first.frames.data_ptr() != second.frames.data_ptr()


def test_zero_intro_and_outro_show_only_the_stimulus(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = batch
    frames, step_labels, stimulus = create_paradigm("duration", intro=0, stimulus=1, outro=0)(images, labels)
    assert frames.shape == (3, 1, 2, 4, 5) and torch.equal(frames[:, 0], images)
    assert stimulus.tolist() == [True] and step_labels[:, 0].tolist() == labels.tolist()


def test_default_timeline_and_params_round_trip() -> None:
    paradigm = DurationParadigm()
    assert paradigm.n_timesteps == 30 and paradigm.phases()[:2] == ["intro", "stimulus"]
    assert paradigm.params() == {"intro": 1, "stimulus": 20, "outro": 9, "blank": 0.0}
    rebuilt = create_paradigm(paradigm.name, **paradigm.params())
    assert rebuilt.phases() == paradigm.phases()
    assert repr(rebuilt) == "DurationParadigm(intro=1, stimulus=20, outro=9, blank=0.0)"


def test_time_ms_and_durations_ms_convert_steps() -> None:
    paradigm = create_paradigm("duration", intro=2, stimulus=5, outro=13)
    times = paradigm.time_ms(10)
    assert times[:3] == [0.0, 10.0, 20.0] and len(times) == 20 and times[-1] == 190.0
    assert paradigm.durations_ms(10) == {"intro": 20.0, "stimulus": 50.0, "outro": 130.0}
    assert create_paradigm("duration", intro=0, stimulus=2, outro=0).durations_ms(2.5) == {"stimulus": 5.0}
    for bad in (0, -1, True, "10"):
        with pytest.raises(ValueError, match="dt is the duration of one step"):
            paradigm.time_ms(bad)
        with pytest.raises(ValueError, match="must be a positive number"):
            paradigm.durations_ms(bad)


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"intro": -1}, ValueError, "intro must be >= 0, got -1"),
        ({"outro": -2}, ValueError, "outro must be >= 0, got -2"),
        ({"stimulus": 0}, ValueError, "stimulus must be >= 1, got 0"),
        ({"stimulus": 2.5}, TypeError, "stimulus must be an integer, got 2.5"),
        ({"intro": True}, TypeError, "intro must be an integer, got the bool True"),
        ({"blank": "grey"}, TypeError, "blank must be a number"),
    ],
)
def test_bad_step_counts_are_refused_naming_the_parameter(
    params: dict, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        create_paradigm("duration", **params)


def test_bad_batches_are_refused(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = batch
    paradigm = create_paradigm("duration", intro=1, stimulus=1, outro=1)
    with pytest.raises(TypeError, match="floating point tensor \\(B, C, H, W\\)"):
        paradigm(images.to(torch.uint8), labels)
    with pytest.raises(TypeError, match="floating point tensor"):
        paradigm(images[0], labels)
    with pytest.raises(TypeError, match="integer tensor of shape \\(3,\\)"):
        paradigm(images, labels[:2])
    with pytest.raises(TypeError, match="integer tensor"):
        paradigm(images, labels.float())


def test_half_precision_images_keep_their_dtype(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = batch
    frames, _, _ = create_paradigm("duration", intro=1, stimulus=1, outro=1, blank=0.5)(images.half(), labels)
    assert frames.dtype == torch.float16 and frames[:, 0].eq(0.5).all()


def test_a_fully_on_timeline_is_a_broadcast_view(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = batch
    frames, step_labels, _ = create_paradigm("duration", intro=0, stimulus=20, outro=0)(images, labels)
    assert frames.stride(1) == 0 and frames.data_ptr() == images.data_ptr()
    assert torch.equal(frames[:, 19], images) and step_labels.stride(1) == 0


def test_blank_timelines_are_one_contiguous_copy(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = batch
    frames, _, _ = create_paradigm("duration", intro=2, stimulus=3, outro=1)(images.double(), labels)
    assert frames.is_contiguous() and frames.dtype == torch.float64
    assert frames.untyped_storage().data_ptr() != images.untyped_storage().data_ptr()


@pytest.mark.parametrize("name", ["duration", "repetition", "noise"])
def test_frames_can_be_written_into_a_caller_buffer(
    batch: tuple[torch.Tensor, torch.Tensor], name: str
) -> None:
    images, labels = batch
    paradigm = (
        create_paradigm(name) if name != "duration" else create_paradigm(name, intro=1, stimulus=2, outro=1)
    )
    expected = paradigm(images, labels, batch_index=0).frames
    buffer = torch.full(expected.shape, 9.0)
    frames = paradigm(images, labels, batch_index=0, out=buffer).frames
    assert frames is buffer and torch.equal(frames, expected)
    with pytest.raises(ValueError, match=r"out must be a torch.float32 tensor of shape \(3, "):
        paradigm(images, labels, out=torch.empty(1))
    with pytest.raises(ValueError, match="out must be"):
        paradigm(images, labels, out=buffer.double())
