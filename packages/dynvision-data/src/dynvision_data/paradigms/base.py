"""Stimulus paradigms: what a network sees at each time step, as batched tensor operations.

A paradigm turns a batch of static images into a sequence of frames with one label per step. Time is
counted in discrete steps; a step lasts ``dt`` milliseconds of model time, which the paradigm does not
need to know (see :meth:`Paradigm.time_ms` for converting steps to ms in tables and plots).

Every paradigm also takes the *common options* (:data:`COMMON_OPTIONS`), handled here so that they compose
with any timeline:

- ``blank``: pixel value of blank steps (normalised units, 0.0 = dataset mean).
- ``pattern``: a training-time presentation pattern, e.g. ``"1011"``: the paradigm's stimulus steps are
  kept only where the pattern is ``1``. The pattern is fitted to the ``T`` steps of the timeline by
  ``pattern_mode="stretch"`` (default; step ``t`` uses ``pattern[t * len(pattern) // T]``, so ``"1011"`` at
  T=8 gives ``11001111``) or ``"repeat"`` (tiled: ``"1011"`` at T=6 gives ``101110``).
  ``pattern_shuffle=True`` permutes the pattern's characters anew for every batch (seeded, see below).
- ``rt``: reaction-time label masking: labels are :data:`IGNORE_INDEX` for the first ``rt`` steps after
  every stimulus onset (rising edge of the stimulus mask, including a stimulus already on at step 0), so a
  loss does not punish the model's latency. The stimulus mask itself is unchanged.
- ``seed``: seed of the per-batch pattern shuffling (the ``noise`` paradigm seeds its noise with its own
  ``noise_seed`` the same way). Batch ``k`` of a paradigm (``k`` counts calls since construction or
  :meth:`Paradigm.reset`, or is passed as ``batch_index``) uses a generator seeded with
  ``SeedSequence([seed, k, stream])``, so a deterministic loader gives every image the same draws in every
  run.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal, NamedTuple, TypeVar

import numpy as np
import torch

from .._util import check_int, unknown_name_message

__all__ = [
    "COMMON_OPTIONS",
    "IGNORE_INDEX",
    "Paradigm",
    "Presentation",
    "Timeline",
    "create_paradigm",
    "list_paradigms",
    "register_paradigm",
]

#: Label of steps without a stimulus; ``torch.nn.CrossEntropyLoss(ignore_index=-1)`` skips them.
IGNORE_INDEX = -1

PatternMode = Literal["stretch", "repeat"]
_PATTERN_MODES = ("stretch", "repeat")
#: Options every paradigm accepts (keyword-only) besides its own timeline parameters, with their defaults.
COMMON_OPTIONS: dict[str, Any] = {
    "blank": 0.0,
    "rt": 0,
    "pattern": None,
    "pattern_mode": "stretch",
    "pattern_shuffle": False,
    "seed": 0,
}


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


class Presentation(NamedTuple):
    """A batch presented over time. A plain tuple ``(frames, labels, stimulus)`` to code that does not import this package.

    Attributes:
        frames: ``(B, T, C, H, W)``, same dtype and device as the input images; blank steps hold the
            paradigm's blank value. When every step shows the unmodified image (``repetition``, or any
            timeline without blank steps), ``frames`` is a broadcast view ``images.unsqueeze(1).expand(...)``
            (stride 0 over T, no copy): index it (``frames[:, t]``) but do not write into it (in-place writes
            into such a view raise). Otherwise it is a fresh tensor.
        labels: int64 ``(B, T)``: the image's class index while a stimulus is shown (after ``rt`` masking),
            :data:`IGNORE_INDEX` (-1) elsewhere. A broadcast view of the input labels when every step is
            labelled (read-only, like ``frames``), else a fresh tensor.
        stimulus: bool ``(T,)``: ``True`` at steps that show the stimulus.

    With ``lazy=True`` a timeline with blank steps gives ``frames`` as a :class:`Timeline` instead.
    """

    frames: torch.Tensor | Timeline
    labels: torch.Tensor
    stimulus: torch.Tensor


class Paradigm(ABC):
    """Base class of paradigms. Subclasses define their parameters (in steps), :meth:`phases` and :meth:`params`.

    The default :meth:`__call__` shows the (possibly transformed, see :meth:`stimulus_frames`) image at
    steps whose phase is a stimulus phase and the blank value elsewhere, without any Python loop over
    samples: a broadcast view when every step shows the image, else one ``torch.empty`` filled by one slice
    assignment per run of equal steps.

    Args:
        blank, rt, pattern, pattern_mode, pattern_shuffle, seed: The common options (module docstring).
    """

    #: Registry name, set by :func:`register_paradigm`.
    name: ClassVar[str] = ""
    #: Phase names during which the stimulus is on screen.
    stimulus_phases: ClassVar[frozenset[str]] = frozenset({"stimulus"})

    def __init__(
        self,
        *,
        blank: float = 0.0,
        rt: int = 0,
        pattern: str | Sequence[int] | None = None,
        pattern_mode: PatternMode = "stretch",
        pattern_shuffle: bool = False,
        seed: int = 0,
    ) -> None:
        if isinstance(blank, bool) or not isinstance(blank, int | float):
            raise TypeError(f"blank must be a number (a normalised pixel value), got {blank!r}.")
        #: Value of every pixel of a blank frame, in normalised units; 0.0 is the dataset mean (mean-grey screen).
        self.blank = float(blank)
        #: Steps after each stimulus onset whose label is IGNORE_INDEX.
        self.rt = check_int("rt", rt, minimum=0)
        self.pattern = _check_pattern(pattern)
        if pattern_mode not in _PATTERN_MODES:
            raise ValueError(f"pattern_mode must be one of {list(_PATTERN_MODES)}, got {pattern_mode!r}.")
        self.pattern_mode: PatternMode = pattern_mode
        if not isinstance(pattern_shuffle, bool):
            raise TypeError(f"pattern_shuffle must be True or False, got {pattern_shuffle!r}.")
        self.pattern_shuffle = pattern_shuffle
        self.seed = check_int("seed", seed, minimum=0)
        self._batch_counter = 0
        self._timeline_cache: tuple[tuple[Any, ...], tuple[torch.Tensor, torch.Tensor]] | None = None

    # ----------------------------------------------------------------------------------------- timeline
    @abstractmethod
    def phases(self) -> list[str]:
        """Name of the phase at each step, length :attr:`n_timesteps` (e.g. ``["intro", "stimulus", ...]``)."""

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The paradigm's own constructor arguments (timeline and stimulus); see :meth:`config` for all."""

    def options(self) -> dict[str, Any]:
        """Common options that differ from their defaults (``blank`` is reported by :meth:`params`)."""
        values = {
            "rt": self.rt,
            "pattern": self.pattern,
            "pattern_mode": self.pattern_mode,
            "pattern_shuffle": self.pattern_shuffle,
            "seed": self.seed,
        }
        return {k: v for k, v in values.items() if v != COMMON_OPTIONS[k]}

    def config(self) -> dict[str, Any]:
        """All constructor arguments: ``create_paradigm(p.name, **p.config())`` rebuilds ``p``."""
        return {**self.params(), **self.options()}

    @property
    def n_timesteps(self) -> int:
        """Number of steps ``T`` of a presentation."""
        return len(self.phases())

    def check_fits(self, n_timesteps: int) -> int:
        """Raise ``ValueError`` naming both numbers if the timeline is longer than ``n_timesteps``; return ``T``.

        Use it with a model's step count, e.g. ``paradigm.check_fits(model.n_timesteps)``.
        """
        n_timesteps = check_int("n_timesteps", n_timesteps, minimum=1)
        if self.n_timesteps > n_timesteps:
            raise ValueError(
                f"Paradigm {self.name!r} needs {self.n_timesteps} steps ({_describe(self.params())}), "
                f"but only n_timesteps={n_timesteps} are available. Shorten the paradigm's phases or run "
                f"the model for at least {self.n_timesteps} steps."
            )
        return self.n_timesteps

    def stimulus_mask(self, device: torch.device | str | None = None) -> torch.Tensor:
        """bool ``(T,)``: ``True`` at steps whose phase shows the stimulus (before any ``pattern``)."""
        return torch.tensor(
            [p in self.stimulus_phases for p in self.phases()], dtype=torch.bool, device=device
        )

    def pattern_mask(self, batch_index: int | None = None) -> torch.Tensor | None:
        """bool ``(T,)`` on the CPU: ``pattern`` fitted to T (shuffled for ``batch_index`` if asked), or ``None``."""
        if self.pattern is None:
            return None
        pattern = torch.tensor([c == "1" for c in self.pattern], dtype=torch.bool)
        if self.pattern_shuffle:
            generator = self.generator(0 if batch_index is None else batch_index, stream=1)
            pattern = pattern[torch.randperm(len(pattern), generator=generator)]
        return fit_pattern(pattern, self.n_timesteps, self.pattern_mode)

    def time_ms(self, dt: float) -> list[float]:
        """Onset of every step in ms when one step lasts ``dt`` ms (step ``t`` covers ``[t*dt, (t+1)*dt)``)."""
        dt = _check_dt(dt)
        return [t * dt for t in range(self.n_timesteps)]

    def durations_ms(self, dt: float) -> dict[str, float]:
        """Total duration of each phase in ms when one step lasts ``dt`` ms."""
        dt = _check_dt(dt)
        out: dict[str, float] = {}
        for phase in self.phases():
            out[phase] = out.get(phase, 0.0) + dt
        return out

    # ------------------------------------------------------------------------------------ randomness
    def reset(self, batch_index: int = 0) -> None:
        """Set the batch counter that seeds per-batch draws (e.g. to 0 at the start of a test epoch)."""
        self._batch_counter = check_int("batch_index", batch_index, minimum=0)

    def generator(
        self, batch_index: int, device: torch.device | str = "cpu", *, stream: int = 0
    ) -> torch.Generator:
        """Generator for batch ``batch_index``: seeded with ``SeedSequence([seed, batch_index, stream])``."""
        state = np.random.SeedSequence([self.seed, batch_index, stream]).generate_state(2, np.uint32)
        return torch.Generator(device=device).manual_seed(int(state[0]) << 32 | int(state[1]))

    # -------------------------------------------------------------------------------------- presentation
    def stimulus_frames(self, images: torch.Tensor) -> torch.Tensor:
        """What is shown during stimulus steps; identity here, subclasses may change it (e.g. contrast)."""
        return images

    def __call__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        batch_index: int | None = None,
        out: torch.Tensor | None = None,
        lazy: bool = False,
    ) -> Presentation:
        """Present a batch.

        Args:
            images: ``(B, C, H, W)`` floating point, normalised (blank = dataset mean = 0.0 by default).
            labels: ``(B,)`` integer class indices, on the same device.
            batch_index: Index of this batch for seeded draws; default: the paradigm's call counter (which
                then advances by one).
            out: Optional ``(B, T, C, H, W)`` tensor (images' dtype and device) to write the frames into,
                which is then returned as ``frames``. Reusing one buffer across batches saves allocating a
                fresh tensor (on CPU, first-touch page faults are most of the cost of a 60 MiB
                presentation); the caller decides when the previous frames are no longer needed (nothing is
                reused implicitly).
            lazy: Where the frames are the paradigm's stimulus image at some steps and the blank at the
                others (every paradigm but noise with noise), return them as a :class:`Timeline` instead of
                writing them out: the cost no longer grows with ``T``. Frames that are a broadcast view anyway
                stay one.

        Returns:
            A :class:`Presentation` on the images' device (``frames`` may be a broadcast view of ``images``,
            see there).
        """
        _check_batch(images, labels)
        if batch_index is None:
            batch_index = self._batch_counter
            self._batch_counter += 1
        else:
            batch_index = check_int("batch_index", batch_index, minimum=0)
        on, label_on = self.timeline(batch_index)
        if out is not None:
            _check_out(out, images, on.numel())
        device = images.device
        stimulus = on.to(device)
        shown = self.lazy_frames(images, batch_index) if lazy and out is None and not bool(on.all()) else None
        if shown is not None:
            frames: torch.Tensor | Timeline = Timeline(shown, stimulus, self.blank)
        else:
            frames = self.render(images, on, batch_index, out=out)
        labels = labels.to(torch.int64).view(-1, 1)
        if bool(label_on.all()):  # every step labelled: a broadcast view, like the frames
            step_labels = labels.expand(-1, label_on.numel())
        else:
            step_labels = torch.where(label_on.to(device).view(1, -1), labels, IGNORE_INDEX)
        return Presentation(frames, step_labels, stimulus)

    def timeline(self, batch_index: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """CPU bool masks ``(T,)`` of batch ``batch_index``: stimulus shown (``pattern`` applied), label kept
        (``rt`` applied).

        Cached unless the pattern is shuffled per batch; the returned tensors are copies.
        """
        key = (tuple(self.phases()), self.pattern, self.pattern_mode, self.rt)
        if self.pattern_shuffle or self._timeline_cache is None or self._timeline_cache[0] != key:
            on = self.stimulus_mask()
            gate = self.pattern_mask(batch_index)
            if gate is not None:
                on = on & gate
            masks = (on, label_mask(on, self.rt))
            if self.pattern_shuffle:
                return masks
            self._timeline_cache = (key, masks)
        on, label_on = self._timeline_cache[1]
        return on.clone(), label_on.clone()

    def lazy_frames(self, images: torch.Tensor, batch_index: int) -> torch.Tensor | None:
        """What stimulus steps show, when every frame is that or the blank (then a :class:`Timeline` can stand
        for the frames); ``None`` when :meth:`render` must write the frames (e.g. noise that changes per step)."""
        return self.stimulus_frames(images)

    def render(
        self, images: torch.Tensor, on: torch.Tensor, batch_index: int, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Frames ``(B, T, C, H, W)`` for the CPU bool mask ``on`` ``(T,)``: the stimulus where on, blank elsewhere."""
        return timeline_frames(self.stimulus_frames(images), on, self.blank, out=out)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


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


def _check_pattern(pattern: str | Sequence[int] | None) -> str | None:
    if pattern is None:
        return None
    text = (
        pattern
        if isinstance(pattern, str)
        else "".join(str(int(v)) if isinstance(v, bool | int) else "?" for v in pattern)
    )
    if not text or set(text) - {"0", "1"}:
        raise ValueError(
            "pattern must be a non-empty string or list of 0/1 (e.g. '1011' or [1, 0, 1, 1]), "
            f"got {pattern!r}."
        )
    if "1" not in text:
        raise ValueError(f"pattern {pattern!r} never shows the stimulus; give at least one 1.")
    return text


def _describe(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items() if isinstance(v, int) and not isinstance(v, bool))


def _check_out(out: torch.Tensor, images: torch.Tensor, n_steps: int) -> None:
    shape = (images.shape[0], n_steps, *images.shape[1:])
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != shape or out.dtype != images.dtype:
        raise ValueError(
            f"out must be a {images.dtype} tensor of shape {shape} (B, T, C, H, W), got "
            f"{getattr(out, 'dtype', type(out).__name__)} {tuple(getattr(out, 'shape', ()))}."
        )
    if out.device != images.device:
        raise ValueError(f"out is on {out.device} but the images on {images.device}.")


def _check_dt(dt: float) -> float:
    if isinstance(dt, bool) or not isinstance(dt, int | float) or dt <= 0:
        raise ValueError(f"dt is the duration of one step in ms and must be a positive number, got {dt!r}.")
    return float(dt)


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


_REGISTRY: dict[str, type[Paradigm]] = {}
P = TypeVar("P", bound=type[Paradigm])


def register_paradigm(name: str) -> Callable[[P], P]:
    """Class decorator registering a :class:`Paradigm` subclass under ``name``; a duplicate raises ``ValueError``."""

    def decorator(cls: P) -> P:
        if name in _REGISTRY:
            raise ValueError(f"Paradigm {name!r} is already registered (by {_REGISTRY[name].__name__}).")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorator


def list_paradigms() -> list[str]:
    """Names of all registered paradigms, sorted."""
    return sorted(_REGISTRY)


def create_paradigm(name: str, **params: Any) -> Paradigm:
    """Build the paradigm registered as ``name`` from its parameters (the config, in steps).

    An unknown name raises ``KeyError`` listing close matches; an unknown parameter raises ``TypeError``
    listing the paradigm's own parameters and the common options it accepts.
    """
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise KeyError(unknown_name_message("paradigm", name, _REGISTRY)) from None
    signature = inspect.signature(cls).parameters
    takes_options = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.values())
    own = [k for k, p in signature.items() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    common = [k for k in COMMON_OPTIONS if k not in own] if takes_options else []
    unknown = sorted(set(params) - set(own) - set(common))
    if unknown:
        extra = f" and the common options {common}" if common else ""
        raise TypeError(f"Paradigm {name!r} got unknown parameter(s) {unknown}; it accepts {own}{extra}.")
    return cls(**params)
