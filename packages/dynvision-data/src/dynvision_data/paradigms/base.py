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

Parameters are also accepted under the aliases :data:`PARADIGM_ALIASES` and :data:`UPSTREAM_PARADIGM_ALIASES`
(:func:`canonical_paradigm_params`). This module imports no torch: building a paradigm, validating its
parameters and reading :meth:`Paradigm.params`, :meth:`Paradigm.config`, :meth:`Paradigm.phases` and
:attr:`Paradigm.n_timesteps` are plain Python (a workflow does it at parse time); the methods that make tensors
import torch (and :mod:`dynvision_data.paradigms.timeline`) when first called. Subclasses keep it so: import torch
inside the methods that present, not at module level.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple, TypeVar

from .._util import check_int, unknown_name_message

if TYPE_CHECKING:
    import torch

    from .timeline import Timeline

__all__ = [
    "COMMON_OPTIONS",
    "IGNORE_INDEX",
    "PARADIGM_ALIASES",
    "UPSTREAM_PARADIGM_ALIASES",
    "Paradigm",
    "Presentation",
    "canonical_paradigm_params",
    "create_paradigm",
    "list_paradigms",
    "paradigm_parameters",
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

#: Short names of paradigm parameters whose long name has an underscore (a key in a workflow path has none):
#: ``create_paradigm("noise", noisetype="poisson")`` is ``create_paradigm("noise", noise_type="poisson")``.
PARADIGM_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "noisetype": "noise_type",
        "tempmode": "temporal_mode",
        "noisevoid": "noise_void",
        "noiseseed": "noise_seed",
        "patternmode": "pattern_mode",
        "patternshuffle": "pattern_shuffle",
    }
)
#: Upstream DynVision's names of paradigm parameters, accepted wherever a paradigm is built
#: (``create_paradigm("duration", stim=10)``); parameters, :meth:`Paradigm.config` and tables use the long names.
UPSTREAM_PARADIGM_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "stim": "stimulus",
        "noiselevel": "ssnr",
        "voidinput": "blank",
        "repeat": "steps",
    }
)
_ALIASES: dict[str, str] = {**PARADIGM_ALIASES, **UPSTREAM_PARADIGM_ALIASES}


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
        import torch

        return torch.tensor(
            [p in self.stimulus_phases for p in self.phases()], dtype=torch.bool, device=device
        )

    def pattern_mask(self, batch_index: int | None = None) -> torch.Tensor | None:
        """bool ``(T,)`` on the CPU: ``pattern`` fitted to T (shuffled for ``batch_index`` if asked), or ``None``."""
        if self.pattern is None:
            return None
        import torch

        from .timeline import fit_pattern

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
        import numpy as np
        import torch

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
        import torch

        frames_module = _timeline_module()  # (a cached module: a from-import here would cost 0.5 us a call)
        frames_module._check_batch(images, labels)
        if batch_index is None:
            batch_index = self._batch_counter
            self._batch_counter += 1
        else:
            batch_index = check_int("batch_index", batch_index, minimum=0)
        on, label_on = self.timeline(batch_index)
        if out is not None:
            frames_module._check_out(out, images, on.numel())
        device = images.device
        stimulus = on.to(device)
        shown = self.lazy_frames(images, batch_index) if lazy and out is None and not bool(on.all()) else None
        if shown is not None:
            frames: torch.Tensor | Timeline = frames_module.Timeline(shown, stimulus, self.blank)
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
            from .timeline import label_mask

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
        return _timeline_module().timeline_frames(self.stimulus_frames(images), on, self.blank, out=out)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


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


def _check_dt(dt: float) -> float:
    if isinstance(dt, bool) or not isinstance(dt, int | float) or dt <= 0:
        raise ValueError(f"dt is the duration of one step in ms and must be a positive number, got {dt!r}.")
    return float(dt)


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


def paradigm_parameters(name: str) -> dict[str, Any]:
    """Every parameter the paradigm registered as ``name`` accepts, by its long name, with its default.

    Its own parameters first, in the order of its constructor's signature (defaults as there), then the common
    options (:data:`COMMON_OPTIONS`) it accepts besides them, with their defaults. A parameter without a default
    maps to ``inspect.Parameter.empty``. Aliases (:data:`PARADIGM_ALIASES`, :data:`UPSTREAM_PARADIGM_ALIASES`)
    are not listed. Imports no torch. An unknown name raises ``KeyError`` listing close matches.

    ``paradigm_parameters("repetition")`` is ``{"steps": 20, "blank": 0.0, "rt": 0, "pattern": None,
    "pattern_mode": "stretch", "pattern_shuffle": False, "seed": 0}``.
    """
    own, common = _accepted(_lookup(name))
    return {**own, **{key: COMMON_OPTIONS[key] for key in common}}


def canonical_paradigm_params(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` of the paradigm registered as ``name`` with every alias replaced by the long name it stands for.

    A key is kept as it is when the paradigm accepts it (its own parameters and the common options it takes),
    else replaced through :data:`PARADIGM_ALIASES` (``noisetype`` -> ``noise_type``) or
    :data:`UPSTREAM_PARADIGM_ALIASES` (``stim`` -> ``stimulus``) when the paradigm accepts the long name; the
    order of ``params`` and the values are kept, nothing else is checked or filled in. This is how
    :func:`create_paradigm` reads its keyword arguments, so a workflow can check a paradigm's parameters (and
    name them the same way in paths and tables) without building it. Imports no torch.

    Raises:
        KeyError: ``name`` is not registered (the message lists close matches).
        TypeError: a key is neither a parameter of this paradigm nor an alias of one (an alias of another
            paradigm's parameter, e.g. ``noisetype`` for ``duration``, is unknown here); the message lists the
            accepted names and aliases.
        ValueError: a parameter is given twice, e.g. as an alias and by its long name (``stim`` and
            ``stimulus``); the message names both spellings.
    """
    cls = _lookup(name)
    own, common = _accepted(cls)
    accepted = {*own, *common}
    canonical: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    unknown: list[str] = []
    twice: list[tuple[str, str, str]] = []
    for key, value in params.items():
        long = key if key in accepted else _ALIASES.get(key)
        if long is None or long not in accepted:
            unknown.append(key)
        elif long in canonical:
            twice.append((long, spelled[long], key))
        else:
            canonical[long], spelled[long] = value, key
    if unknown:
        extra = f" and the common options {common}" if common else ""
        aliases = ", ".join(f"{alias}={long}" for alias, long in _ALIASES.items() if long in accepted)
        also = f" (or the aliases {aliases})" if aliases else ""
        raise TypeError(
            f"Paradigm {name!r} got unknown parameter(s) {sorted(unknown)}; it accepts {list(own)}{extra}{also}. "
            f"Check the spelling; paradigm_parameters({name!r}) lists the parameters with their defaults."
        )
    if twice:
        long, first, second = twice[0]
        raise ValueError(
            f"Paradigm {name!r} got the parameter {long!r} twice, as {first!r} and as {second!r} (an alias "
            f"stands for its long name); give only one of them, preferably {long!r}."
        )
    return canonical


def create_paradigm(name: str, **params: Any) -> Paradigm:
    """Build the paradigm registered as ``name`` from its parameters (the config, in steps).

    Parameters may be given by their long names (``noise_type``), their short aliases (:data:`PARADIGM_ALIASES`,
    ``noisetype``) or upstream DynVision's spellings (:data:`UPSTREAM_PARADIGM_ALIASES`, ``stim``); see
    :func:`canonical_paradigm_params`. Building a paradigm validates every value and imports no torch (torch is
    loaded when a batch is presented), so a workflow can check a configuration quickly.

    An unknown name raises ``KeyError`` listing close matches; an unknown parameter raises ``TypeError``
    listing the paradigm's own parameters and the common options it accepts; a parameter given twice (an alias
    and its long name) raises ``ValueError``; a bad value raises ``ValueError`` or ``TypeError`` naming it.
    """
    cls = _lookup(name)
    return cls(**canonical_paradigm_params(name, params))


def _lookup(name: str) -> type[Paradigm]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(unknown_name_message("paradigm", name, _REGISTRY)) from None


def _accepted(cls: type[Paradigm]) -> tuple[dict[str, Any], list[str]]:
    """The paradigm class's own keyword parameters with their defaults, and the common options it also accepts
    (all of them not among its own when its constructor takes ``**options``, else none)."""
    signature = inspect.signature(cls).parameters
    variadic = (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    takes_options = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.values())
    own = {k: p.default for k, p in signature.items() if p.kind not in variadic}
    common = [k for k in COMMON_OPTIONS if k not in own] if takes_options else []
    return own, common


_TIMELINE_MODULE: ModuleType | None = None


def _timeline_module() -> ModuleType:
    """:mod:`.timeline` (which imports torch), imported on first use: building a paradigm needs no torch."""
    global _TIMELINE_MODULE
    if _TIMELINE_MODULE is None:
        from . import timeline

        _TIMELINE_MODULE = timeline
    return _TIMELINE_MODULE


# Torch-only helpers that lived here before they moved to .timeline (loaded on first use, so that building a
# paradigm imports no torch); still importable from here.
_MOVED = frozenset({"Timeline", "fit_pattern", "label_mask", "onsets", "runs", "timeline_frames"})


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        return getattr(_timeline_module(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
