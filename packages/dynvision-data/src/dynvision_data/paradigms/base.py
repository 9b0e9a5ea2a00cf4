"""Stimulus paradigms: what a network sees at each time step, as batched tensor operations.

A paradigm turns a batch of static images into a sequence of frames with one label per step. Time is
counted in discrete steps; a step lasts ``dt`` milliseconds of model time, which the paradigm does not
need to know (see :meth:`Paradigm.time_ms` for converting steps to ms in tables and plots).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple, TypeVar

import torch

from .._util import unknown_name_message

__all__ = [
    "IGNORE_INDEX",
    "Paradigm",
    "Presentation",
    "create_paradigm",
    "list_paradigms",
    "register_paradigm",
]

#: Label of steps without a stimulus; ``torch.nn.CrossEntropyLoss(ignore_index=-1)`` skips them.
IGNORE_INDEX = -1


class Presentation(NamedTuple):
    """A batch presented over time. A plain tuple ``(frames, labels, stimulus)`` to code that does not import this package.

    Attributes:
        frames: ``(B, T, C, H, W)``, same dtype and device as the input images; blank steps hold the
            paradigm's blank value.
        labels: int64 ``(B, T)``: the image's class index while a stimulus is shown, :data:`IGNORE_INDEX`
            (-1) elsewhere.
        stimulus: bool ``(T,)``: ``True`` at steps that show the stimulus.
    """

    frames: torch.Tensor
    labels: torch.Tensor
    stimulus: torch.Tensor


class Paradigm(ABC):
    """Base class of paradigms. Subclasses define their parameters (in steps) and :meth:`phases`.

    The default :meth:`__call__` shows the (possibly transformed, see :meth:`stimulus_frames`) image at
    steps whose phase is a stimulus phase and the blank value elsewhere, without any Python loop over
    samples or steps.
    """

    #: Registry name, set by :func:`register_paradigm`.
    name: ClassVar[str] = ""
    #: Phase names during which the stimulus is on screen.
    stimulus_phases: ClassVar[frozenset[str]] = frozenset({"stimulus"})

    def __init__(self, *, blank: float = 0.0) -> None:
        if isinstance(blank, bool) or not isinstance(blank, int | float):
            raise TypeError(f"blank must be a number (a normalised pixel value), got {blank!r}.")
        #: Value of every pixel of a blank frame, in normalised units; 0.0 is the dataset mean (mean-grey screen).
        self.blank = float(blank)

    @abstractmethod
    def phases(self) -> list[str]:
        """Name of the phase at each step, length :attr:`n_timesteps` (e.g. ``["intro", "stimulus", ...]``)."""

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """Constructor arguments: ``create_paradigm(p.name, **p.params())`` rebuilds ``p``."""

    @property
    def n_timesteps(self) -> int:
        """Number of steps ``T`` of a presentation."""
        return len(self.phases())

    def stimulus_mask(self, device: torch.device | str | None = None) -> torch.Tensor:
        """bool ``(T,)``: ``True`` at steps that show the stimulus."""
        return torch.tensor([p in self.stimulus_phases for p in self.phases()], dtype=torch.bool, device=device)

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

    def stimulus_frames(self, images: torch.Tensor) -> torch.Tensor:
        """What is shown during stimulus steps; identity here, subclasses may change it (e.g. contrast)."""
        return images

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> Presentation:
        """Present a batch.

        Args:
            images: ``(B, C, H, W)`` floating point, normalised (blank = dataset mean = 0.0 by default).
            labels: ``(B,)`` integer class indices, on the same device.

        Returns:
            A :class:`Presentation` on the images' device; ``frames`` is a new tensor (never a view that
            later calls overwrite).
        """
        _check_batch(images, labels)
        mask = self.stimulus_mask(images.device)
        shown = self.stimulus_frames(images).unsqueeze(1)
        frames = torch.where(mask.view(1, -1, 1, 1, 1), shown, torch.tensor(self.blank, dtype=images.dtype, device=images.device))
        step_labels = torch.where(mask.view(1, -1), labels.to(torch.int64).view(-1, 1), IGNORE_INDEX)
        return Presentation(frames, step_labels, mask)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


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
    if not isinstance(labels, torch.Tensor) or labels.shape != (images.shape[0],) or labels.is_floating_point():
        raise TypeError(
            f"labels must be an integer tensor of shape ({images.shape[0]},), got "
            f"{getattr(labels, 'dtype', type(labels).__name__)} {tuple(getattr(labels, 'shape', ()))}."
        )
    if labels.device != images.device:
        raise ValueError(f"images are on {images.device} but labels on {labels.device}; move both to one device.")


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
    listing the accepted ones.
    """
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise KeyError(unknown_name_message("paradigm", name, _REGISTRY)) from None
    import inspect

    accepted = [p for p in inspect.signature(cls).parameters if p != "self"]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise TypeError(f"Paradigm {name!r} got unknown parameter(s) {unknown}; it accepts {accepted}.")
    return cls(**params)
