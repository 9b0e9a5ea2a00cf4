from __future__ import annotations

import pytest
import torch

from dynvision_data import ContrastParadigm, create_paradigm


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.randn(3, 2, 4, 4, generator=torch.Generator().manual_seed(3))
    return images, torch.tensor([0, 1, 2])


@pytest.mark.parametrize("contrast", [0.0, 0.3, 1.0, 2.0])
@pytest.mark.parametrize("blank", [0.0, -0.5])
def test_stimulus_is_scaled_around_the_blank(
    batch: tuple[torch.Tensor, torch.Tensor], contrast: float, blank: float
) -> None:
    images, labels = batch
    original = images.clone()
    frames, step_labels, stimulus = create_paradigm(
        "contrast", intro=1, stimulus=2, outro=1, contrast=contrast, blank=blank
    )(images, labels)
    assert stimulus.tolist() == [False, True, True, False]
    torch.testing.assert_close(frames[:, 1], blank + contrast * (images - blank))
    assert frames[:, ~stimulus].eq(blank).all()
    assert torch.equal(images, original)  # the input is not scaled in place
    assert torch.equal(step_labels[:, 1], labels)  # labels do not depend on contrast


def test_contrast_0_equals_the_blank_frame(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = batch
    frames, _, _ = create_paradigm("contrast", intro=1, stimulus=2, outro=1, contrast=0, blank=0.1)(
        images, labels
    )
    torch.testing.assert_close(frames, torch.full_like(frames, 0.1))


def test_defaults_and_params() -> None:
    paradigm = ContrastParadigm()
    assert paradigm.n_timesteps == 15 and paradigm.contrast == 1.0
    assert paradigm.params() == {"intro": 2, "stimulus": 10, "outro": 3, "blank": 0.0, "contrast": 1.0}
    rebuilt = create_paradigm("contrast", **ContrastParadigm(contrast=0.25).config())
    assert rebuilt.contrast == 0.25


@pytest.mark.parametrize(
    ("contrast", "error", "match"),
    [
        (-0.1, ValueError, "contrast must be >= 0 .*got -0.1"),
        (float("inf"), TypeError, "finite number"),
        ("high", TypeError, "contrast must be a finite number >= 0, got 'high'"),
    ],
)
def test_bad_contrast(contrast: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        create_paradigm("contrast", contrast=contrast)
