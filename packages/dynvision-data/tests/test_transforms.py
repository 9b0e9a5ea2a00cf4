from __future__ import annotations

import numpy as np
import pytest
import torch

from dynvision_data import Augmentation, BatchTransform, Stats, epoch_generator, normalize

STATS = Stats(mean=(0.25, 0.5, 0.75), std=(0.1, 0.2, 0.3), count=1)


def _distinct_images(batch: int, channels: int = 1, height: int = 6, width: int = 7) -> torch.Tensor:
    """Images whose pixel values 1..H*W identify their position (value 0 is never used)."""
    pixels = torch.arange(1, height * width + 1, dtype=torch.uint8).reshape(1, 1, height, width)
    return pixels.expand(batch, channels, height, width).clone()


def _shifted(image: torch.Tensor, dy: int, dx: int, fill: int) -> torch.Tensor:
    """``image`` (C, H, W) moved down by ``dy`` and right by ``dx`` pixels, ``fill`` shifted in."""
    _, height, width = image.shape
    out = torch.full_like(image, fill)
    out[:, max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)] = image[
        :, max(-dy, 0) : height + min(-dy, 0), max(-dx, 0) : width + min(-dx, 0)
    ]
    return out


def test_normalize_is_pixel_over_255_minus_mean_over_std_per_channel() -> None:
    images = torch.randint(
        0, 256, (4, 3, 5, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    out = normalize(images, STATS)
    mean = torch.tensor(STATS.mean, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(STATS.std, dtype=torch.float64).view(1, 3, 1, 1)
    expected = (images.double() / 255.0 - mean) / std
    assert out.dtype == torch.float32 and out.shape == images.shape
    torch.testing.assert_close(out.double(), expected, rtol=0, atol=1e-5)


def test_normalize_maps_the_mean_to_zero_and_one_std_to_one() -> None:
    stats = Stats(mean=(100 / 255,), std=(20 / 255,), count=1)
    out = normalize(torch.tensor([100, 120, 80], dtype=torch.uint8).view(1, 1, 1, 3), stats)
    torch.testing.assert_close(out.flatten(), torch.tensor([0.0, 1.0, -1.0]), rtol=0, atol=1e-6)


def test_normalize_returns_a_new_tensor_and_refuses_bad_input() -> None:
    images = torch.zeros(1, 3, 2, 2, dtype=torch.uint8)
    normalize(images, STATS).fill_(5.0)
    assert images.eq(0).all()
    with pytest.raises(TypeError, match="uint8"):
        normalize(images.float(), STATS)
    with pytest.raises(ValueError, match="1 channel\\(s\\) but the statistics have 3"):
        normalize(torch.zeros(1, 1, 2, 2, dtype=torch.uint8), STATS)


def test_flip_mirrors_some_images_left_right_and_keeps_the_others() -> None:
    images = torch.randint(
        0, 256, (64, 3, 5, 6), dtype=torch.uint8, generator=torch.Generator().manual_seed(1)
    )
    out = Augmentation(flip=True)(images, torch.Generator().manual_seed(0))
    flipped = [torch.equal(o, torch.flip(i, dims=[-1])) for o, i in zip(out, images, strict=True)]
    kept = [torch.equal(o, i) for o, i in zip(out, images, strict=True)]
    assert all(f != k for f, k in zip(flipped, kept, strict=True))  # exactly one of the two, per image
    assert 16 < sum(flipped) < 48  # probability 0.5 each


def test_translate_moves_pixels_and_fills_with_fill() -> None:
    translate, fill = 2, 200
    images = _distinct_images(64)
    out = Augmentation(translate=translate, fill=fill)(images, torch.Generator().manual_seed(0))
    shifts = []
    for o, i in zip(out, images, strict=True):
        matches = [
            (dy, dx)
            for dy in range(-translate, translate + 1)
            for dx in range(-translate, translate + 1)
            if torch.equal(o, _shifted(i, dy, dx, fill))
        ]
        assert len(matches) == 1, "every output is one shift of its input"
        shifts.append(matches[0])
    assert len(set(shifts)) > 10  # 25 possible shifts, drawn per image
    assert {dy for dy, _ in shifts} == {dx for _, dx in shifts} == set(range(-translate, translate + 1))


def test_flip_and_translate_together_give_a_shifted_mirror_image() -> None:
    translate, fill = 1, 0
    images = _distinct_images(32)
    out = Augmentation(flip=True, translate=translate)(images, torch.Generator().manual_seed(3))
    n_flipped = 0
    for o, i in zip(out, images, strict=True):
        candidates = {
            (flip, dy, dx)
            for flip in (False, True)
            for dy in range(-translate, translate + 1)
            for dx in range(-translate, translate + 1)
            if torch.equal(o, _shifted(torch.flip(i, dims=[-1]) if flip else i, dy, dx, fill))
        }
        assert len(candidates) == 1
        n_flipped += next(iter(candidates))[0]
    assert 0 < n_flipped < 32


def test_shift_larger_than_the_image_gives_a_blank_image() -> None:
    images = _distinct_images(16, height=3, width=3)
    out = Augmentation(translate=10, fill=9)(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and (out == 9).float().mean() > 0.5


def test_augmentation_is_deterministic_for_a_generator_seed() -> None:
    augmentation = Augmentation(flip=True, translate=2, fill=3)
    images = torch.randint(
        0, 256, (32, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    first = augmentation(images, torch.Generator().manual_seed(11))
    again = augmentation(images, torch.Generator().manual_seed(11))
    other = augmentation(images, torch.Generator().manual_seed(12))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_augmentation_leaves_its_input_unchanged() -> None:
    images = _distinct_images(8, channels=3)
    before = images.clone()
    out = Augmentation(flip=True, translate=1)(images, torch.Generator().manual_seed(0))
    assert torch.equal(images, before) and out.data_ptr() != images.data_ptr()


def test_inactive_augmentation_returns_an_equal_copy() -> None:
    augmentation = Augmentation()
    assert not augmentation.active
    assert Augmentation(flip=True).active and Augmentation(translate=1).active
    images = _distinct_images(2)
    out = augmentation(images, torch.Generator())
    assert torch.equal(out, images)
    out.zero_()
    assert images.ne(0).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"translate": -1}, ValueError, "translate must be >= 0"),
        ({"translate": 1.5}, TypeError, "translate must be an integer"),
        ({"fill": 256}, ValueError, "fill is a uint8 pixel value"),
        ({"fill": -1}, ValueError, "fill must be >= 0"),
        ({"crop_scale": (0.0, 1.0)}, ValueError, r"crop_scale must satisfy 0 < low <= high <= 1.0"),
        (
            {"crop_scale": (0.5, 1.5)},
            ValueError,
            r"crop_scale must satisfy 0 < low <= high <= 1.0, got \(0.5, 1.5\)",
        ),
        ({"crop_scale": (0.8, 0.5)}, ValueError, "crop_scale must satisfy"),
        ({"crop_scale": "big"}, ValueError, "crop_scale must be a pair"),
        ({"crop_ratio": (2.0, 1.0)}, ValueError, "crop_ratio must satisfy 0 < low <= high"),
    ],
)
def test_augmentation_rejects_bad_parameters(kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        Augmentation(**kwargs)


def test_epoch_generators_differ_by_seed_and_epoch_and_repeat() -> None:
    def draw(seed: int, epoch: int) -> list[int]:
        return torch.randint(0, 1 << 30, (4,), generator=epoch_generator(seed, epoch)).tolist()

    assert draw(0, 0) == draw(0, 0)
    assert len({tuple(draw(s, e)) for s, e in [(0, 0), (0, 1), (1, 0), (1, 1)]}) == 4


def test_batch_transform_augments_then_normalizes() -> None:
    stats = Stats(mean=(0.5,), std=(0.25,), count=1)
    images = _distinct_images(8)
    augmentation = Augmentation(flip=True, translate=1)
    out = BatchTransform(stats, augmentation)(images, torch.Generator().manual_seed(4))
    expected = normalize(augmentation(images, torch.Generator().manual_seed(4)), stats)
    assert torch.equal(out, expected)
    assert torch.equal(BatchTransform(stats)(images, None), normalize(images, stats))
    with pytest.raises(ValueError, match="needs a generator"):
        BatchTransform(stats, augmentation)(images, None)


def test_normalize_handles_the_full_pixel_range_without_overflow() -> None:
    images = torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 1, 2)
    out = normalize(images, Stats(mean=(0.0,), std=(1.0,), count=1))
    np.testing.assert_allclose(out.flatten().numpy(), [0.0, 1.0], atol=1e-7)


def _column_ramp(batch: int, height: int = 24, width: int = 32) -> torch.Tensor:
    """Images whose pixel value is 8 x the column index (a linear ramp that bilinear resampling preserves)."""
    ramp = (8 * torch.arange(width, dtype=torch.float32)).to(torch.uint8)
    return ramp.view(1, 1, 1, width).expand(batch, 3, height, width).clone()


def test_resized_crop_of_the_whole_image_is_the_image() -> None:
    images = torch.randint(
        0, 256, (4, 3, 9, 9), dtype=torch.uint8, generator=torch.Generator().manual_seed(1)
    )
    out = Augmentation(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0))(images, torch.Generator().manual_seed(0))
    assert out.dtype == torch.uint8 and torch.equal(out, images)


def test_resized_crop_shows_its_box_scaled_to_the_image_size() -> None:
    augmentation = Augmentation(crop_scale=(0.2, 0.6))
    images = _column_ramp(64)
    out = augmentation(images, torch.Generator().manual_seed(7))
    boxes = augmentation.crop_boxes(64, 24, 32, torch.Generator().manual_seed(7))
    top, left, box_height, box_width = boxes.unbind(1)
    area = box_height * box_width
    assert out.shape == images.shape and out.dtype == torch.uint8
    assert (area >= 0.2 - 1e-9).all() and (area <= 0.6 + 1e-9).all()
    assert (
        (top >= 0).all()
        and (left >= 0).all()
        and (top + box_height <= 1).all()
        and (left + box_width <= 1).all()
    )
    ratio = (box_width * 32) / (box_height * 24)
    assert (ratio >= 3 / 4 - 1e-9).all() and (ratio <= 4 / 3 + 1e-9).all()
    # Output column j shows input column (left + box_width * (j + 0.5) / W) * W - 0.5 of the ramp.
    columns = torch.arange(32, dtype=torch.float64) + 0.5
    source = (left[:, None] + box_width[:, None] * columns / 32) * 32 - 0.5
    expected = (8 * source.clamp(0, 31)).round()
    torch.testing.assert_close(out[:, 0, 0, :].to(torch.float64), expected, rtol=0, atol=1.0)
    # Every row of a column ramp stays the same column ramp: the crop does not shear or flip.
    assert torch.equal(out, out[:, :, :1, :].expand_as(out))
    # Different images get different boxes.
    assert len({tuple(row.tolist()) for row in boxes}) == 64


def test_resized_crop_then_flip_and_translate_are_deterministic_per_seed() -> None:
    augmentation = Augmentation(flip=True, translate=2, crop_scale=(0.3, 1.0))
    images = torch.randint(
        0, 256, (8, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(2)
    )
    first = augmentation(images, torch.Generator().manual_seed(5))
    assert torch.equal(first, augmentation(images, torch.Generator().manual_seed(5)))
    assert not torch.equal(first, augmentation(images, torch.Generator().manual_seed(6)))
    assert Augmentation(crop_scale=(0.5, 1.0)).active
