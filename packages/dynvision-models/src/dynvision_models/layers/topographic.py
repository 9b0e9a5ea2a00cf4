"""Topographic lateral recurrence: an area's channels laid out as one 2-D cortical sheet, convolved locally.

Sheet layout
------------
An area has ``C`` channels on an ``H x W`` pixel grid; let ``s = ceil(sqrt(C))``. The ``C`` channels of each
pixel form an ``s x s`` *tile* (a hypercolumn); the tiles of all pixels form one sheet of ``(s*H) x (s*W)``
units:

- **Within a tile** channels run in boustrophedon (snake) order: row ``i = c // s`` of the tile holds channels
  ``i*s .. i*s + s - 1``, left to right on even rows and right to left on odd rows, so channels ``c`` and
  ``c + 1`` are always direct (4-)neighbours on the sheet.
- **Between tiles** the tile of a pixel with odd ``x`` is mirrored left-right and the tile of a pixel with odd
  ``y`` is mirrored top-bottom. Neighbouring tiles are mirror images of each other: across a tile border a
  unit faces the *same* channel at the neighbouring pixel, so the sheet varies smoothly in both feature
  (channel) and retinotopic (pixel) position.
- When ``C`` is not a perfect square, the last ``s*s - C`` tile positions (the end of the snake) hold zero
  channels; their output is discarded.

The recurrent drive is one single-channel ``k_s x k_s`` convolution on the sheet (no bias), mapped back to
``(B, C, H, W)``. Both mappings are fixed permutations, applied as one ``index_select`` each with precomputed
index buffers (non-persistent: rebuilt from the shape, never saved in a checkpoint).

Sheet kernel: ``k_s`` is measured in sheet units, and one pixel spans ``s`` units, so by default it scales
with the tile: ``k_s = s // 4``, made odd (``+1`` if even), at least 3 (``C = 36 -> 3``, ``64 -> 3``,
``121 -> 3``, ``256 -> 5``, ``1024 -> 9``). The retinotopic ``kernel_size`` of the other recurrence types
(in pixels) does not apply to the sheet; :class:`LocalDepthwiseRecurrence` uses it for its depthwise stage.

Padding of the sheet: zeros by default (units at the border of the visual field have fewer lateral partners,
as with the "same" zero padding of every other recurrence type); ``padding_mode="reflect"`` is available.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "SHEET_PADDING_MODES",
    "LocalDepthwiseRecurrence",
    "TopographicRecurrence",
    "default_sheet_kernel_size",
    "sheet_index",
    "sheet_side",
]

#: Padding modes of the sheet convolution.
SHEET_PADDING_MODES = ("zeros", "reflect")


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
    return value


def _check_odd_kernel(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value % 2 != 1:
        raise ValueError(
            f"{name} must be odd (an integer >= 1) so that 'same' padding keeps the size, got {value!r}."
        )
    return value


def _check_init_scale(value: object, *, two_factors: bool = False) -> float:
    """``init_scale`` must be finite and >= 0 (> 0 for two factors: two zero factors never get a gradient)."""
    scale = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
    if not math.isfinite(scale) or scale < 0 or (two_factors and scale == 0):
        bound = "> 0 for a recurrence made of two factors" if two_factors else ">= 0"
        raise ValueError(f"init_scale must be a finite number {bound}, got {value!r}.")
    return scale


def sheet_side(channels: int) -> int:
    """Side ``s = ceil(sqrt(channels))`` of the square tile that holds one pixel's channels."""
    _check_positive_int("channels", channels)
    return math.isqrt(channels - 1) + 1


def default_sheet_kernel_size(channels: int) -> int:
    """Default sheet kernel for ``C`` channels: ``s // 4`` made odd, at least 3 (``s = ceil(sqrt(C))``)."""
    k = sheet_side(channels) // 4
    if k % 2 == 0:
        k += 1
    return max(3, k)


def sheet_index(channels: int, height: int, width: int) -> Tensor:
    """Flat sheet position of every unit: int64 tensor ``(s*s, height, width)``, ``s = ceil(sqrt(channels))``.

    Entry ``[c, y, x]`` is ``Y * (s * width) + X``, the row-major position on the ``(s*height) x (s*width)``
    sheet of channel ``c`` at pixel ``(y, x)`` (see the module docstring for the layout). Channels
    ``c >= channels`` are the zero padding channels. The tensor is a permutation of
    ``range(s*s*height*width)``.
    """
    s = sheet_side(channels)
    _check_positive_int("height", height)
    _check_positive_int("width", width)
    c = torch.arange(s * s)
    row = c // s
    col = torch.where(row % 2 == 1, s - 1 - c % s, c % s)  # snake order inside the tile
    y = torch.arange(height)
    x = torch.arange(width)
    # Mirror the tile at odd pixel rows (top-bottom) and odd pixel columns (left-right).
    rows = y.view(1, -1) * s + torch.where(y.view(1, -1) % 2 == 1, s - 1 - row.view(-1, 1), row.view(-1, 1))
    cols = x.view(1, -1) * s + torch.where(x.view(1, -1) % 2 == 1, s - 1 - col.view(-1, 1), col.view(-1, 1))
    return rows.view(s * s, height, 1) * (s * width) + cols.view(s * s, 1, width)


class TopographicRecurrence(nn.Module):
    """``local`` recurrence: one ``k_s x k_s`` convolution on the cortical sheet of the area (no bias).

    Maps a past rate ``(B, C, H, W)`` to a recurrent drive ``(B, C, H, W)``; a zero rate gives exactly zero.
    Parameters: ``k_s**2`` (a single-channel kernel shared by the whole sheet).

    The index buffers depend on ``(H, W)``. They are built on the first forward pass (or at construction when
    ``spatial_shape`` is given) and rebuilt if a later input has another ``H, W``.

    Args:
        channels: channels ``C`` of the area (any ``C >= 1``; a non-square ``C`` is padded with zero
            channels).
        sheet_kernel_size: odd kernel size on the sheet, in sheet units (``None``:
            :func:`default_sheet_kernel_size`).
        init_scale: the kernel starts uniform in ``[-init_scale, init_scale]``.
        padding_mode: ``"zeros"`` or ``"reflect"`` padding of the sheet border.
        spatial_shape: ``(H, W)`` to build the index buffers for right away (optional).
    """

    def __init__(
        self,
        channels: int,
        sheet_kernel_size: int | None = None,
        init_scale: float = 1e-3,
        padding_mode: str = "zeros",
        spatial_shape: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.channels = _check_positive_int("channels", channels)
        self.side = sheet_side(channels)
        if sheet_kernel_size is None:
            sheet_kernel_size = default_sheet_kernel_size(channels)
        self.sheet_kernel_size = _check_odd_kernel("sheet_kernel_size", sheet_kernel_size)
        if padding_mode not in SHEET_PADDING_MODES:
            raise ValueError(
                f"Unknown padding_mode {padding_mode!r} for the sheet convolution. "
                f"Allowed: {', '.join(map(repr, SHEET_PADDING_MODES))}."
            )
        self.padding_mode = padding_mode
        init_scale = _check_init_scale(init_scale)
        k = self.sheet_kernel_size
        #: The sheet kernel ``(1, 1, k_s, k_s)``, shared by every unit of the sheet.
        self.weight = nn.Parameter(torch.empty(1, 1, k, k).uniform_(-init_scale, init_scale))

        self._n_pad_channels = self.side * self.side - channels
        self._spatial_shape: tuple[int, int] | None = None
        # layer (padded, flat) -> sheet (flat), and sheet (flat) -> layer (flat, real channels only).
        self.register_buffer("_to_sheet", torch.empty(0, dtype=torch.long), persistent=False)
        self.register_buffer("_from_sheet", torch.empty(0, dtype=torch.long), persistent=False)
        if spatial_shape is not None:
            height, width = spatial_shape
            self._build_indices(height, width, torch.device("cpu"))

    def _build_indices(self, height: int, width: int, device: torch.device) -> None:
        if self.padding_mode == "reflect":
            pad = self.sheet_kernel_size // 2
            if pad >= self.side * min(height, width):
                raise ValueError(
                    f"padding_mode='reflect' needs the sheet ({self.side * height} x {self.side * width} "
                    f"units for {self.channels} channels at {height} x {width} pixels) to be larger than the "
                    f"padding {pad} of sheet_kernel_size={self.sheet_kernel_size}. Use padding_mode='zeros' "
                    "or a smaller kernel."
                )
        # Normal tensors even when the first call runs under torch.inference_mode() (e.g. a validation sanity
        # check): inference tensors could not be saved for the backward pass of later training steps.
        with torch.inference_mode(False):
            # padded layer unit -> sheet position, and its inverse
            position = sheet_index(self.channels, height, width).flatten()
            to_sheet = torch.empty_like(position)
            to_sheet[position] = torch.arange(position.numel())
            self._to_sheet = to_sheet.to(device)
            self._from_sheet = position[: self.channels * height * width].to(device)
        self._spatial_shape = (height, width)

    def to_sheet(self, r: Tensor) -> Tensor:
        """Lay out ``r`` ``(B, C, H, W)`` as the sheet ``(B, 1, s*H, s*W)`` (padding channels are zero)."""
        batch, _, height, width = self._check_input(r)
        return self._to_sheet_unchecked(r, batch, height, width)

    def from_sheet(self, sheet: Tensor, height: int, width: int) -> Tensor:
        """Inverse of :meth:`to_sheet`: sheet ``(B, 1, s*H, s*W)`` -> ``(B, C, H, W)`` (padding dropped)."""
        expected = (1, self.side * height, self.side * width)
        if sheet.dim() != 4 or tuple(sheet.shape[1:]) != expected:
            raise ValueError(
                f"A sheet of {self.channels} channels at {height} x {width} pixels has shape "
                f"(batch, *{expected}); got shape {tuple(sheet.shape)}."
            )
        if (height, width) != self._spatial_shape:
            self._build_indices(height, width, sheet.device)
        return self._from_sheet_unchecked(sheet, sheet.shape[0], height, width)

    def _to_sheet_unchecked(self, r: Tensor, batch: int, height: int, width: int) -> Tensor:
        flat = r.reshape(batch, -1)
        if self._n_pad_channels:
            flat = F.pad(flat, (0, self._n_pad_channels * height * width))
        return flat.index_select(1, self._to_sheet).view(batch, 1, self.side * height, self.side * width)

    def _from_sheet_unchecked(self, sheet: Tensor, batch: int, height: int, width: int) -> Tensor:
        return (
            sheet.reshape(batch, -1)
            .index_select(1, self._from_sheet)
            .view(batch, self.channels, height, width)
        )

    def _check_input(self, r: Tensor) -> tuple[int, int, int, int]:
        """Validate ``r`` ``(B, C, H, W)``, (re)build the index buffers for its ``H, W``; return its shape."""
        if r.dim() != 4 or r.shape[1] != self.channels:
            raise ValueError(
                f"Topographic recurrence built for {self.channels} channels expects a rate "
                f"(batch, {self.channels}, height, width); got shape {tuple(r.shape)}."
            )
        batch, channels, height, width = r.shape
        if (height, width) != self._spatial_shape:
            self._build_indices(height, width, r.device)
        return batch, channels, height, width

    def sheet_conv(self, sheet: Tensor) -> Tensor:
        """``k_s x k_s`` convolution of sheets ``(B, 1, Y, X)`` -> ``(B, 1, Y, X)`` ("same" size, no bias)."""
        batch, _, rows, cols = sheet.shape
        pad = self.sheet_kernel_size // 2
        if self.padding_mode == "reflect":
            sheet = F.pad(sheet, (pad, pad, pad, pad), mode="reflect")
            pad = 0
        # The B sheets as the B channels of one image, convolved depthwise with the shared kernel: the same
        # result as a 1 -> 1 channel conv over the batch, but several times faster on CPU (depthwise kernels).
        out = F.conv2d(
            sheet.reshape(1, batch, *sheet.shape[2:]),
            self.weight.expand(batch, 1, -1, -1),
            padding=pad,
            groups=batch,
        )
        return out.view(batch, 1, rows, cols)

    def forward(self, r: Tensor) -> Tensor:
        """``r``: past rate ``(B, C, H, W)`` -> recurrent drive ``(B, C, H, W)`` via the sheet convolution."""
        batch, _, height, width = self._check_input(r)
        sheet = self.sheet_conv(self._to_sheet_unchecked(r, batch, height, width))
        return self._from_sheet_unchecked(sheet, batch, height, width)

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, tile={self.side}x{self.side}, "
            f"sheet_kernel_size={self.sheet_kernel_size}, padding_mode={self.padding_mode!r}"
        )


class LocalDepthwiseRecurrence(nn.Module):
    """``localdepthwise`` recurrence: :class:`TopographicRecurrence` followed by a depthwise ``k x k`` conv.

    The sheet convolution connects nearby features at (nearly) the same position; the depthwise convolution
    then spreads each channel over a ``k x k`` pixel neighbourhood (longer-range, same-feature connections).
    Both factors start uniform in ``±sqrt(init_scale)``, so the composed weights are products bounded by
    ``init_scale``.
    Parameters: ``k_s**2 + C * k**2``; no bias, a zero rate gives exactly zero.

    Args:
        channels: channels ``C`` of the area.
        kernel_size: odd depthwise kernel in pixels ("same" zero padding).
        init_scale: scale of the composed weights (each factor starts uniform in ``±sqrt(init_scale)``).
        sheet_kernel_size: sheet kernel of the topographic stage (``None``:
            :func:`default_sheet_kernel_size`).
        padding_mode: sheet padding of the topographic stage (``"zeros"`` or ``"reflect"``).
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int = 3,
        init_scale: float = 1e-3,
        sheet_kernel_size: int | None = None,
        padding_mode: str = "zeros",
    ) -> None:
        super().__init__()
        _check_odd_kernel("Recurrent kernel_size", kernel_size)
        factor_scale = math.sqrt(_check_init_scale(init_scale, two_factors=True))
        self.local = TopographicRecurrence(channels, sheet_kernel_size, factor_scale, padding_mode)
        self.depthwise = nn.Conv2d(
            channels, channels, kernel_size, padding=kernel_size // 2, groups=channels, bias=False
        )
        nn.init.uniform_(self.depthwise.weight, -factor_scale, factor_scale)

    def forward(self, r: Tensor) -> Tensor:
        """``r``: past rate ``(B, C, H, W)`` -> recurrent drive ``(B, C, H, W)``."""
        return self.depthwise(self.local(r))
