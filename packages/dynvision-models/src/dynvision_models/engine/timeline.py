"""Stimulus timelines: ``(B, T, C, H, W)`` frames that show one image or a blank at each step, never written.

A paradigm with blank steps (an intro before the stimulus, a gap between two presentations) cannot be a strided
view of the images, so materialising its frames writes ``B * T`` images per batch. A timeline keeps the image
``(B, C, H, W)``, the blank and a ``(T,)`` mask instead, and the engine picks the frame at each step: the cost
of presenting a batch no longer grows with ``T``.

Any object with the attributes ``image`` (``(B, C, H, W)`` tensor), ``shown`` (bool ``(T,)`` tensor or
sequence) and ``blank`` (a number, or a ``(B, C, H, W)`` tensor) is accepted as a model's input: e.g.
``dynvision_data``'s ``Timeline``, which its paradigms return with ``lazy=True``. The models package does not
import the data package; :func:`as_timeline` reads those three attributes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

__all__ = ["FrameTimeline", "as_timeline"]


class FrameTimeline:
    """Frames ``(B, T, C, H, W)``: ``image`` at the steps where ``shown`` is true, ``blank`` at the others.

    Supports what the engine needs of a 5-d input: :attr:`shape`, ``x[:, t]`` (a frame, no copy),
    ``x[:, a:b]`` (a shorter timeline), :meth:`new_zeros`; :meth:`materialize` writes the frames out.
    """

    def __init__(self, image: Tensor, shown: tuple[bool, ...], blank: Tensor) -> None:
        self.image, self.shown, self.blank = image, shown, blank

    @property
    def shape(self) -> torch.Size:
        return torch.Size((self.image.shape[0], len(self.shown), *self.image.shape[1:]))

    @property
    def dtype(self) -> torch.dtype:
        return self.image.dtype

    @property
    def device(self) -> torch.device:
        return self.image.device

    def dim(self) -> int:
        return 5

    def new_zeros(self, *size: Any, **kwargs: Any) -> Tensor:
        return self.image.new_zeros(*size, **kwargs)

    def __getitem__(self, index: tuple[slice, int | slice]) -> Any:
        batch, time = index
        if batch != slice(None):
            raise IndexError("A timeline is indexed by time only: x[:, t] or x[:, a:b].")
        if isinstance(time, slice):
            return FrameTimeline(self.image, self.shown[time], self.blank)
        return self.image if self.shown[time] else self.blank

    def map_frames(self, fn: Callable[[Tensor], Tensor]) -> FrameTimeline:
        """The timeline of ``fn(image)`` and ``fn(blank)`` (e.g. a retina applied once to each, not per step)."""
        return FrameTimeline(fn(self.image), self.shown, fn(self.blank))

    def materialize(self) -> Tensor:
        """The frames as one ``(B, T, C, H, W)`` tensor (written out: ``T`` frames per sample)."""
        return torch.stack([self.image if on else self.blank for on in self.shown], dim=1)

    def __repr__(self) -> str:
        steps = "".join("1" if on else "0" for on in self.shown)
        return f"FrameTimeline(shape={tuple(self.shape)}, shown={steps!r})"


def as_timeline(x: object) -> FrameTimeline | None:
    """``x`` as a :class:`FrameTimeline` if it is a timeline (``image``, ``shown``, ``blank``), else ``None``.

    Raises:
        ValueError: a timeline whose parts do not fit together (names the shapes).
    """
    if isinstance(x, FrameTimeline):
        return x
    if isinstance(x, Tensor) or not all(hasattr(x, name) for name in ("image", "shown", "blank")):
        return None
    image, shown, blank = x.image, x.shown, x.blank  # type: ignore[attr-defined]
    if not isinstance(image, Tensor) or image.dim() != 4:
        raise ValueError(
            f"A timeline's image must be a (batch, channels, height, width) tensor, got "
            f"{tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__}."
        )
    steps = tuple(bool(v) for v in (shown.tolist() if isinstance(shown, Tensor) else shown))
    if not steps:
        raise ValueError("A timeline needs at least one time step; its 'shown' mask is empty.")
    if isinstance(blank, Tensor):
        if blank.shape != image.shape:
            raise ValueError(
                f"A timeline's blank frame has shape {tuple(blank.shape)}, but its image has {tuple(image.shape)}."
            )
        frame = blank
    else:
        frame = torch.full_like(image, float(blank))
    return FrameTimeline(image, steps, frame)
