"""Tests of the topographic (``local``) recurrence against an explicit, loop-based sheet construction."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from dynvision_models.layers import TopographicRecurrence, create_recurrence
from dynvision_models.layers.topographic import default_sheet_kernel_size, sheet_index, sheet_side


# ----------------------------------------------------------------------------- explicit sheet, written out
def explicit_position(channels: int, c: int, y: int, x: int) -> tuple[int, int]:
    """Sheet (row, col) of channel ``c`` at pixel ``(y, x)``, written out from the documented layout."""
    s = math.ceil(math.sqrt(channels))
    i, j = divmod(c, s)  # row-major tile position ...
    if i % 2 == 1:  # ... in snake order: odd tile rows run right to left
        j = s - 1 - j
    if y % 2 == 1:  # tiles of odd pixel rows are mirrored top-bottom
        i = s - 1 - i
    if x % 2 == 1:  # tiles of odd pixel columns are mirrored left-right
        j = s - 1 - j
    return y * s + i, x * s + j


def explicit_sheet(r: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, 1, s*H, s*W)`` with Python loops; unused tile positions stay zero."""
    b, c, h, w = r.shape
    s = math.ceil(math.sqrt(c))
    sheet = torch.zeros(b, 1, s * h, s * w, dtype=r.dtype)
    for ch in range(c):
        for y in range(h):
            for x in range(w):
                row, col = explicit_position(c, ch, y, x)
                sheet[:, 0, row, col] = r[:, ch, y, x]
    return sheet


def explicit_unsheet(sheet: torch.Tensor, c: int, h: int, w: int) -> torch.Tensor:
    out = torch.zeros(sheet.shape[0], c, h, w, dtype=sheet.dtype)
    for ch in range(c):
        for y in range(h):
            for x in range(w):
                row, col = explicit_position(c, ch, y, x)
                out[:, ch, y, x] = sheet[:, 0, row, col]
    return out


def explicit_forward(module: TopographicRecurrence, r: torch.Tensor) -> torch.Tensor:
    _, c, h, w = r.shape
    sheet = explicit_sheet(r)
    pad = module.sheet_kernel_size // 2
    if module.padding_mode == "reflect":
        sheet = F.pad(sheet, (pad, pad, pad, pad), mode="reflect")
        pad = 0
    return explicit_unsheet(F.conv2d(sheet, module.weight, padding=pad), c, h, w)


def _positive_weights(module: TopographicRecurrence) -> None:
    with torch.no_grad():
        module.weight.uniform_(0.5, 1.0)


SHAPES = [(9, 3, 4), (10, 3, 4), (16, 2, 5), (36, 3, 3), (2, 4, 4), (1, 3, 2)]


# ----------------------------------------------------------------------------- the layout itself
@pytest.mark.parametrize(("channels", "height", "width"), SHAPES)
def test_sheet_index_matches_the_explicit_layout(channels: int, height: int, width: int) -> None:
    s = sheet_side(channels)
    index = sheet_index(channels, height, width)
    assert index.shape == (s * s, height, width)
    assert torch.equal(index.flatten().sort().values, torch.arange(s * s * height * width))  # a permutation
    for c in range(channels):
        for y in range(height):
            for x in range(width):
                row, col = explicit_position(channels, c, y, x)
                assert index[c, y, x] == row * s * width + col


@pytest.mark.parametrize("channels", [4, 9, 10, 16, 25, 36])
def test_consecutive_channels_are_sheet_neighbours(channels: int) -> None:
    for y, x in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        for c in range(channels - 1):
            (r0, c0), (r1, c1) = (
                explicit_position(channels, c, y, x),
                explicit_position(channels, c + 1, y, x),
            )
            assert abs(r0 - r1) + abs(c0 - c1) == 1


@pytest.mark.parametrize("channels", [4, 9, 16, 36])
def test_across_tile_borders_a_unit_faces_the_same_channel(channels: int) -> None:
    h, w = 3, 4
    s = sheet_side(channels)
    owner = torch.empty(s * h, s * w, dtype=torch.long)  # channel at each sheet position
    index = sheet_index(channels, h, w)
    owner.view(-1)[index.flatten()] = torch.arange(s * s).repeat_interleave(h * w)
    for border in range(s, s * w, s):  # vertical tile borders
        assert torch.equal(owner[:, border - 1], owner[:, border])
    for border in range(s, s * h, s):  # horizontal tile borders
        assert torch.equal(owner[border - 1], owner[border])


@pytest.mark.parametrize(
    ("channels", "side", "kernel"),
    [
        (1, 1, 3),
        (4, 2, 3),
        (10, 4, 3),
        (36, 6, 3),
        (64, 8, 3),
        (121, 11, 3),
        (144, 12, 3),
        (256, 16, 5),
        (400, 20, 5),
        (576, 24, 7),
        (1024, 32, 9),
    ],
)
def test_default_sheet_kernel_is_a_quarter_tile_made_odd(channels: int, side: int, kernel: int) -> None:
    assert sheet_side(channels) == side
    assert default_sheet_kernel_size(channels) == kernel
    assert TopographicRecurrence(channels).sheet_kernel_size == kernel


# ----------------------------------------------------------------------------- the module against the layout
@pytest.mark.parametrize(("channels", "height", "width"), SHAPES)
@pytest.mark.parametrize("padding_mode", ["zeros", "reflect"])
def test_forward_equals_the_explicit_sheet_convolution(
    channels: int, height: int, width: int, padding_mode: str
) -> None:
    torch.manual_seed(0)
    module = TopographicRecurrence(channels, init_scale=1.0, padding_mode=padding_mode).double()
    r = torch.rand(2, channels, height, width, dtype=torch.float64)
    torch.testing.assert_close(module.to_sheet(r), explicit_sheet(r), rtol=0, atol=0)
    torch.testing.assert_close(module(r), explicit_forward(module, r))
    torch.testing.assert_close(module.from_sheet(module.to_sheet(r), height, width), r, rtol=0, atol=0)


@pytest.mark.parametrize("channels", [9, 10, 36])
@pytest.mark.parametrize("sheet_kernel_size", [3, 5])
@pytest.mark.parametrize("pixel", [(0, 0), (1, 2), (2, 3), (1, 0)])
def test_an_impulse_spreads_only_to_sheet_neighbours(
    channels: int, sheet_kernel_size: int, pixel: tuple[int, int]
) -> None:
    """A unit impulse at channel c, pixel (y, x) reaches exactly the units within the kernel on the sheet."""
    torch.manual_seed(0)
    h, w = 3, 4
    module = TopographicRecurrence(channels, sheet_kernel_size=sheet_kernel_size).double()
    _positive_weights(module)
    half = sheet_kernel_size // 2
    y, x = pixel
    for c in range(channels):
        impulse = torch.zeros(1, channels, h, w, dtype=torch.float64)
        impulse[0, c, y, x] = 1.0
        out = module(impulse)[0]
        source = explicit_position(channels, c, y, x)
        expected = torch.zeros(channels, h, w, dtype=torch.float64)
        for c2 in range(channels):
            for y2 in range(h):
                for x2 in range(w):
                    target = explicit_position(channels, c2, y2, x2)
                    dr, dc = source[0] - target[0], source[1] - target[1]
                    if max(abs(dr), abs(dc)) <= half:
                        # Cross-correlation: out[p] = sum_d w[d] in[p + d - centre],
                        # so an impulse at q gives out[p] = w[q - p + centre].
                        expected[c2, y2, x2] = module.weight[0, 0, half + dr, half + dc]
        torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_impulse_reaches_the_same_channel_at_the_neighbouring_pixel() -> None:
    """Channel 2 of a 9-channel area is at the right edge of its tile: it touches channel 2 of pixel x + 1."""
    module = TopographicRecurrence(9).double()
    _positive_weights(module)
    impulse = torch.zeros(1, 9, 2, 2, dtype=torch.float64)
    impulse[0, 2, 0, 0] = 1.0
    out = module(impulse)[0]
    assert out[2, 0, 1] > 0
    assert out[0, 0, 1] == 0 and out[2, 1, 1] == 0  # far on the sheet


def test_padding_channels_of_a_non_square_area_are_zero() -> None:
    torch.manual_seed(0)
    module = TopographicRecurrence(10).double()  # tile 4 x 4: 6 zero channels
    r = torch.rand(2, 10, 3, 3, dtype=torch.float64)
    sheet = module.to_sheet(r)
    assert sheet.shape == (2, 1, 12, 12)
    index = sheet_index(10, 3, 3)
    assert torch.equal(sheet.flatten(1)[:, index[10:].flatten()], torch.zeros(2, 6 * 9, dtype=torch.float64))
    assert sheet.flatten(1)[:, index[:10].flatten()].gt(0).all()


# ----------------------------------------------------------------------------- module contract
def test_local_contract_shape_no_bias_zero_and_parameter_count() -> None:
    module = create_recurrence("local", 10)
    r = torch.rand(2, 10, 5, 7)
    assert module(r).shape == r.shape
    assert torch.equal(module(torch.zeros_like(r)), torch.zeros_like(r))
    assert [n for n, _ in module.named_parameters()] == ["weight"]
    assert module.weight.shape == (1, 1, 3, 3)
    assert sum(p.numel() for p in module.parameters()) == 9


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect"])
def test_gradcheck(padding_mode: str) -> None:
    torch.manual_seed(0)
    module = TopographicRecurrence(10, init_scale=1.0, padding_mode=padding_mode).double()
    r = torch.rand(2, 10, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(module, (r,))
    module(r).pow(2).sum().backward()
    assert torch.count_nonzero(module.weight.grad) == module.weight.numel()


def test_indices_are_non_persistent_buffers_rebuilt_for_a_new_size() -> None:
    torch.manual_seed(0)
    module = TopographicRecurrence(10, init_scale=1.0).double()
    assert list(module.state_dict()) == ["weight"]
    for h, w in [(3, 4), (5, 2), (3, 4)]:
        r = torch.rand(1, 10, h, w, dtype=torch.float64)
        torch.testing.assert_close(module(r), explicit_forward(module, r))
        assert module._to_sheet.numel() == 16 * h * w
        assert module._from_sheet.numel() == 10 * h * w
    assert {n for n, _ in module.named_buffers()} == {"_to_sheet", "_from_sheet"}
    assert list(module.state_dict()) == ["weight"]


def test_indices_built_in_inference_mode_still_train() -> None:
    """A first call under torch.inference_mode() (e.g. a validation sanity check) must not break training."""
    module = TopographicRecurrence(10)
    with torch.inference_mode():
        module(torch.rand(2, 10, 3, 3))
    assert not module._to_sheet.is_inference()
    r = torch.rand(2, 10, 3, 3, requires_grad=True)
    module(r).sum().backward()
    assert r.grad is not None and module.weight.grad is not None


def test_spatial_shape_builds_the_indices_at_construction() -> None:
    module = TopographicRecurrence(36, spatial_shape=(4, 5))
    assert module._to_sheet.numel() == 36 * 4 * 5
    clone = TopographicRecurrence(36)
    clone.load_state_dict(module.state_dict())  # the buffers are not part of a checkpoint
    r = torch.rand(2, 36, 4, 5)
    torch.testing.assert_close(module(r), clone(r))


def test_wrong_channel_count_names_the_shape() -> None:
    module = TopographicRecurrence(10)
    with pytest.raises(ValueError, match=r"built for 10 channels.*got shape \(2, 9, 3, 3\)"):
        module(torch.rand(2, 9, 3, 3))
    with pytest.raises(ValueError, match=r"got shape \(10, 3, 3\)"):
        module(torch.rand(10, 3, 3))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sheet_kernel_size": 4}, "sheet_kernel_size must be odd"),
        ({"sheet_kernel_size": 0}, "sheet_kernel_size must be odd"),
        ({"padding_mode": "circular"}, "Unknown padding_mode 'circular'.*Allowed: 'zeros', 'reflect'"),
    ],
)
def test_bad_arguments_name_value_and_allowed(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TopographicRecurrence(9, **kwargs)


def test_bad_channel_count() -> None:
    with pytest.raises(ValueError, match="channels must be an integer >= 1, got 0"):
        TopographicRecurrence(0)


def test_reflect_padding_needs_a_sheet_larger_than_the_padding() -> None:
    module = TopographicRecurrence(1, padding_mode="reflect")  # a 1 x 1 sheet per pixel
    with pytest.raises(ValueError, match="padding_mode='reflect' needs the sheet"):
        module(torch.rand(1, 1, 1, 1))
    assert module(torch.rand(1, 1, 2, 2)).shape == (1, 1, 2, 2)


def test_batch_elements_are_independent() -> None:
    torch.manual_seed(0)
    module = TopographicRecurrence(10, init_scale=1.0).double()
    r = torch.rand(3, 10, 4, 4, dtype=torch.float64)
    batched = module(r)
    for i in range(3):
        torch.testing.assert_close(batched[i : i + 1], module(r[i : i + 1]))
