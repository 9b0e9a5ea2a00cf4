"""Frames of a presentation as tensors: the lazy :class:`Timeline` and the helpers that build step masks and
write frames.

Everything here needs torch, so :mod:`dynvision_data.paradigms` loads this module on first use (presenting a
batch, or asking for :class:`Timeline`, :func:`onsets`, :func:`label_mask`, :func:`fit_pattern`): building and
validating a paradigm (:func:`~dynvision_data.paradigms.create_paradigm`) does not import torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from .base import PatternMode

__all__ = [
    "Timeline",
    "fit_pattern",
    "label_mask",
    "onsets",
    "runs",
    "timeline_frames",
]


class Timeline:
    """Frames ``(B, T, C, H, W)`` that show ``image`` where ``shown`` is true and ``blank`` elsewhere, written only
    when something needs them as a tensor.

    What :meth:`Paradigm.__call__` returns as ``frames`` with ``lazy=True`` when the timeline has blank steps:
    presenting a batch then costs the same at any ``T``. dynvision-models' models take it as input directly (they
    pick each step's frame, nothing of size ``T`` is written).

    Anything else may read it as the frames tensor: ``frames[:, t]`` gives step ``t`` (one ``(B, C, H, W)``
    frame, the rest is not written); any other indexing, a torch function (``torch.flatten(frames, 0, 1)``), a
    tensor method or attribute (``frames.flatten(0, 1)``, ``frames.mean()``) and arithmetic work on the written
    frames, which are made once (:meth:`materialize`) and kept for the timeline's lifetime.

    It is read-only: in-place methods (``frames.mul_(2)``, ``frames.requires_grad_()``, ...) raise ``TypeError``,
    since a model reads the image, the mask and the blank, never a written copy. To change the frames or take
    gradients with respect to them, write them out (``frames = frames.materialize()`` or ``lazy=False``) and
    give that tensor to the model. ``isinstance(frames, torch.Tensor)`` is ``False``.

    Attributes:
        image: ``(B, C, H, W)``, what stimulus steps show (after the paradigm's changes, e.g. contrast).
        shown: bool ``(T,)`` on the image's device: ``True`` at stimulus steps.
        blank: the blank steps' pixel value (normalised units).
    """

    __slots__ = ("_frames", "blank", "image", "shown")

    def __init__(self, image: torch.Tensor, shown: torch.Tensor, blank: float) -> None:
        self.image, self.shown, self.blank = image, shown, float(blank)
        self._frames: torch.Tensor | None = None

    def __repr__(self) -> str:
        steps = "".join("1" if on else "0" for on in self.shown.tolist())
        return f"Timeline(shape={tuple(self.shape)}, shown={steps!r}, blank={self.blank})"

    def __getstate__(self) -> tuple[torch.Tensor, torch.Tensor, float]:
        return self.image, self.shown, self.blank

    def __setstate__(self, state: tuple[torch.Tensor, torch.Tensor, float]) -> None:
        self.__init__(*state)  # type: ignore[misc]

    @property
    def shape(self) -> torch.Size:
        return torch.Size((self.image.shape[0], self.shown.numel(), *self.image.shape[1:]))

    def size(self, dim: int | None = None) -> torch.Size | int:
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return 5

    @property
    def ndim(self) -> int:
        return 5

    def numel(self) -> int:
        return self.shape.numel()

    def __len__(self) -> int:
        return self.image.shape[0]

    @property
    def dtype(self) -> torch.dtype:
        return self.image.dtype

    @property
    def device(self) -> torch.device:
        return self.image.device

    @property
    def is_cuda(self) -> bool:
        return self.image.is_cuda

    @property
    def layout(self) -> torch.layout:
        return self.image.layout

    @property
    def requires_grad(self) -> bool:
        return self.image.requires_grad  # as the written frames would (they are made from the image)

    def to(self, *args: Any, **kwargs: Any) -> Timeline:
        """The same timeline with its image moved or cast as ``Tensor.to`` does (still not written out)."""
        image = self.image.to(*args, **kwargs)
        return Timeline(image, self.shown.to(image.device), self.blank)

    def step(self, t: int) -> torch.Tensor:
        """The ``(B, C, H, W)`` frame of step ``t``: the image, or a blank frame (no host-device synchronisation)."""
        return torch.where(self.shown[t], self.image, self.blank)

    def materialize(self, out: torch.Tensor | None = None) -> torch.Tensor:
        """The frames as one ``(B, T, C, H, W)`` tensor: written into ``out`` if given, else written once and kept
        (the same tensor on every call: do not modify it)."""
        if out is not None:
            return timeline_frames(self.image, self.shown.cpu(), self.blank, out=out)
        if self._frames is None:
            self._frames = timeline_frames(self.image, self.shown.cpu(), self.blank)
        return self._frames

    def __getitem__(self, index: Any) -> torch.Tensor:
        if (
            self._frames is None
            and isinstance(index, tuple)
            and len(index) == 2
            and index[0] == slice(None)
            and isinstance(index[1], int)
            and not isinstance(index[1], bool)
        ):
            return self.step(index[1])
        return self.materialize()[index]

    def __bool__(self) -> bool:
        return bool(self.materialize())  # as a tensor: an error unless it holds one element

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the timeline lacks: tensor methods and attributes act on the written frames.
        if name.startswith("_") or name not in _TENSOR_NAMES:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        if name in _IN_PLACE_NAMES:
            raise TypeError(
                f"Timeline.{name}: a Timeline is read-only (a model reads its image, mask and blank, never a written "
                "copy), so in-place changes and gradients would be lost. Write the frames out first "
                "(frames = frames.materialize(), or present with lazy=False) and use that tensor."
            )
        return getattr(self.materialize(), name)

    @classmethod
    def __torch_function__(
        cls,
        func: Callable[..., Any],
        types: Any,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        def written(value: Any) -> Any:
            if isinstance(value, Timeline):
                return value.materialize()
            if isinstance(value, list | tuple):
                return type(value)(written(v) for v in value)
            return value

        return func(*written(tuple(args)), **{k: written(v) for k, v in (kwargs or {}).items()})


_TENSOR_NAMES = frozenset(dir(torch.Tensor))
#: Tensor methods that change a tensor or its autograd state: refused by a read-only Timeline.
_IN_PLACE_NAMES = frozenset(
    {name for name in _TENSOR_NAMES if name.endswith("_") and not name.startswith("_")}
    | {"retain_grad", "register_hook", "register_post_accumulate_grad_hook", "grad", "backward", "set_", "copy_"}
)


def _timeline_operator(name: str) -> Callable[..., Any]:
    def operator(self: Timeline, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.materialize(), name)(*args, **kwargs)

    operator.__name__ = name
    return operator


# Arithmetic and comparisons on a timeline act on its written frames (special methods bypass __getattr__).
for _name in (
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
    "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__",
    "__neg__", "__pos__", "__abs__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__array__",
):  # fmt: skip
    setattr(Timeline, _name, _timeline_operator(_name))


def timeline_frames(
    shown: torch.Tensor, on: torch.Tensor, blank: float, out: torch.Tensor | None = None
) -> torch.Tensor:
    """``(B, T, C, H, W)`` frames: ``shown`` ``(B, C, H, W)`` where the CPU bool mask ``on`` ``(T,)`` is set,
    ``blank`` elsewhere.

    All on: a stride-0 broadcast view of ``shown`` (no copy). Otherwise one ``torch.empty`` and one slice
    assignment per run of equal steps (a constant fill for blank runs, a broadcast copy for stimulus runs).
    With ``out``, the frames are always written into ``out``, which is returned.
    """
    batch, n_steps = shown.shape[0], on.numel()
    if out is None and bool(on.all()):
        return shown.unsqueeze(1).expand(batch, n_steps, *shown.shape[1:])
    frames = (
        out
        if out is not None
        else torch.empty((batch, n_steps, *shown.shape[1:]), dtype=shown.dtype, device=shown.device)
    )
    for start, stop, value in runs(on):
        if value:
            frames[:, start:stop] = shown.unsqueeze(1)
        else:
            frames[:, start:stop].fill_(blank)
    return frames


def runs(mask: torch.Tensor) -> list[tuple[int, int, bool]]:
    """Runs of equal values of a CPU bool ``(T,)`` mask as ``(start, stop, value)`` (``stop`` exclusive)."""
    values = mask.tolist()
    out: list[tuple[int, int, bool]] = []
    start = 0
    for t in range(1, len(values) + 1):
        if t == len(values) or values[t] != values[start]:
            out.append((start, t, bool(values[start])))
            start = t
    return out


def onsets(on: torch.Tensor) -> torch.Tensor:
    """bool ``(T,)``: rising edges of the stimulus mask (a stimulus on at step 0 counts as an onset)."""
    previous = torch.cat([on.new_zeros(1), on[:-1]])
    return on & ~previous


def label_mask(on: torch.Tensor, rt: int) -> torch.Tensor:
    """bool ``(T,)``: stimulus steps that keep their label: ``on`` minus the ``rt`` steps after each onset."""
    if rt == 0:
        return on.clone()
    steps = torch.arange(on.numel())
    last_onset = torch.where(onsets(on), steps, -(rt + 1)).cummax(0).values
    return on & (steps - last_onset >= rt)


def fit_pattern(pattern: torch.Tensor, n_steps: int, mode: PatternMode) -> torch.Tensor:
    """Fit a bool pattern ``(L,)`` to ``n_steps``: ``"stretch"`` (index scaling) or ``"repeat"`` (tiling)."""
    length = pattern.numel()
    steps = torch.arange(n_steps)
    index = steps * length // n_steps if mode == "stretch" else steps % length
    return pattern[index]


def _check_out(out: torch.Tensor, images: torch.Tensor, n_steps: int) -> None:
    shape = (images.shape[0], n_steps, *images.shape[1:])
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != shape or out.dtype != images.dtype:
        raise ValueError(
            f"out must be a {images.dtype} tensor of shape {shape} (B, T, C, H, W), got "
            f"{getattr(out, 'dtype', type(out).__name__)} {tuple(getattr(out, 'shape', ()))}."
        )
    if out.device != images.device:
        raise ValueError(f"out is on {out.device} but the images on {images.device}.")


def _check_batch(images: torch.Tensor, labels: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
        raise TypeError(
            "images must be a floating point tensor (B, C, H, W) of normalised pixels, got "
            f"{getattr(images, 'dtype', type(images).__name__)} {tuple(getattr(images, 'shape', ()))}."
        )
    if (
        not isinstance(labels, torch.Tensor)
        or labels.shape != (images.shape[0],)
        or labels.is_floating_point()
    ):
        raise TypeError(
            f"labels must be an integer tensor of shape ({images.shape[0]},), got "
            f"{getattr(labels, 'dtype', type(labels).__name__)} {tuple(getattr(labels, 'shape', ()))}."
        )
    if labels.device != images.device:
        raise ValueError(
            f"images are on {images.device} but labels on {labels.device}; move both to one device."
        )
