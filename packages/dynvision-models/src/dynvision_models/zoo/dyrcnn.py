"""DyRCNN: a stack of recurrent convolutional areas with leaky (tau, dt) dynamics, lateral recurrence, and
optional skip and feedback connections.

Registered variants (at a 32x32 input; all convs "same"-padded, max-pools 3x3/2 with padding 1):

- ``DyRCNNx2``: V1 (36 ch, 3x3) -> pool -> V2 (64, 3x3); skip V1 -> V2, feedback V2 -> V1.
- ``DyRCNNx4``: V1 (36) -> pool -> V2 (64) -> pool -> V4 (121) -> IT (256, stride 2), 3x3 convs; rates
  32, 16, 8, 4 px; skips V1 -> V4 and V2 -> IT, feedback V4 -> V1 and IT -> V2.
- ``DyRCNNx8``: two convs per area (first stride 2, second stride 1): V1 (64, 5x5) -> pool -> V2 (144, 3x3)
  -> pool -> V4 (256) -> IT (529); rates 16, 4, 1, 1 px; "middle" recurrence enters between the two convs;
  skips and feedback as x4.

Channel counts of x4 and x8 are perfect squares (for topographic recurrence types). See
:mod:`dynvision_models.engine.temporal` for the equations and units, and :class:`TemporalModel` for the common
kwargs. Defaults follow upstream DynVision's DyRCNN (``dt=2``, ``tau=5``, ``t_recurrence=6``, ``skip=True``
for x4 and x8, ``t_feedback=30``), except that ``DyRCNNx2`` keeps its lighter defaults (no skip,
``t_recurrence = dt``).

The variants are data (:data:`DYRCNN_VARIANTS`, like timm's named configs over one class): a name, the fixed
architecture (areas, strides, pools, kernels, two-stage areas, skip and feedback pairs), the default widths and
the defaults that differ from the engine's. Each is registered as a factory whose signature is the engine's
(:func:`~dynvision_models.engine.engine_signature`, read from :class:`TemporalModel`) with the variant's
defaults, plus ``channels`` and ``norm``; a kwarg added to the engine is accepted and listed by every variant.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from .. import checks
from ..engine.temporal import TemporalModel, engine_signature
from ..layers.area import RecurrentArea
from ..registry import register_model
from ._contract import reject_kwargs

__all__ = [
    "DYRCNN_KWARG_SPECS",
    "DYRCNN_VARIANTS",
    "NORMS",
    "DyRCNN",
    "DyRCNNVariant",
    "DyRCNNx2",
    "DyRCNNx4",
    "DyRCNNx8",
]

#: Normalisation of each area's output (``norm`` kwarg): ``"layer"`` = GroupNorm with one group (over C, H, W
#: of each sample and step); ``"batch"`` = BatchNorm2d (statistics shared over all time steps).
NORMS = ("layer", "batch")

#: Specs (:mod:`dynvision_models.checks`) of the kwargs a DyRCNN variant takes besides the engine's.
DYRCNN_KWARG_SPECS: dict[str, dict[str, Any]] = {
    "channels": {
        "kind": "int_list",
        "nullable": True,
        "per_area": True,
        "doc": "width of each area (null = the variant's widths)",
        "example": [36, 64],
    },
    "norm": {"kind": "choice", "choices": [None, *NORMS], "doc": "normalisation of each area's output"},
}

_X4_AREAS = ("V1", "V2", "V4", "IT")
_X4_SKIPS = (("V1", "V4"), ("V2", "IT"))
_X4_FEEDBACKS = (("V4", "V1"), ("IT", "V2"))


def _per_area(name: str, value: object, area_names: Sequence[str]) -> tuple:
    """``value`` repeated for every area, or checked to have one entry per area."""
    if value is None or isinstance(value, int | bool | str):
        return (value,) * len(area_names)
    values = tuple(value)  # type: ignore[arg-type]
    if len(values) != len(area_names):
        raise ValueError(f"{name} needs one entry per area {tuple(area_names)}, got {value!r}.")
    return values


def _check_channels(channels: Sequence[int], area_names: Sequence[str]) -> tuple[int, ...]:
    spec = DYRCNN_KWARG_SPECS["channels"]
    if channels is None:  # the generic DyRCNN has no widths of its own (a variant substitutes its own)
        spec = {**spec, "nullable": False}
    checks.raise_problems(checks.value_problems("channels", channels, spec, area_names=area_names))
    return tuple(channels)


def _make_norm(norm: str | None, channels: int) -> nn.Module | None:
    if norm is None:
        return None
    if norm == "layer":
        return nn.GroupNorm(1, channels)
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    checks.raise_problems(checks.value_problems("norm", norm, DYRCNN_KWARG_SPECS["norm"]))
    raise AssertionError(norm)  # unreachable: the check above raises


class DyRCNN(TemporalModel):
    """Generic DyRCNN: area ``i`` convolves to ``channels[i]`` and has lateral recurrence.

    Not registered itself; the registered variants (:data:`DYRCNN_VARIANTS`) fix the architecture and expose
    the common kwargs.

    Args:
        area_names: names of the areas in feedforward order (e.g. ``("V1", "V2")``).
        channels: width of each area.
        strides: feedforward stride of each area (an int, or for two-stage areas a pair ``(first, second)``).
        pool_after: whether a 3x3/2 max-pool (padding 1) follows each area's rate.
        kernel_size: feedforward kernel size, one for all areas or one per area (recurrence uses the same).
        two_stage: each area has two convs ``in -> C -> C`` (first with the area's stride, ReLU between).
        skips: ``(source, target)`` area pairs of the skip connections (used when ``skip``).
        feedbacks: ``(source, target)`` area pairs of the feedback connections (used when ``feedback``).
        norm: normalisation of each area's output, ``None``, ``"layer"`` or ``"batch"``.
        recurrence_init_scale: recurrent weights start uniform in ``±recurrence_init_scale``.
        **common: the :class:`~dynvision_models.engine.TemporalModel` kwargs.
    """

    def __init__(
        self,
        *,
        area_names: Sequence[str],
        channels: Sequence[int],
        strides: Sequence[int | Sequence[int]] | None = None,
        pool_after: Sequence[bool] | None = None,
        kernel_size: int | Sequence[int] = 3,
        two_stage: bool = False,
        skips: Sequence[tuple[str, str]] = (),
        feedbacks: Sequence[tuple[str, str]] = (),
        norm: str | None = None,
        recurrence_init_scale: float = 1e-3,
        n_classes: int = 10,
        input_shape: Sequence[int] = (3, 32, 32),
        n_timesteps: int = 10,
        dt: float = 2.0,
        tau: float | Sequence[float] = 5.0,
        **common: object,
    ) -> None:
        super().__init__(
            n_classes=n_classes, input_shape=input_shape, n_timesteps=n_timesteps, dt=dt, tau=tau, **common
        )
        names = tuple(area_names)
        widths = _check_channels(channels, names)
        strides = _per_area("strides", strides if strides is not None else 1, names)
        pool_after = _per_area("pool_after", pool_after if pool_after is not None else False, names)
        kernels = _per_area("kernel_size", kernel_size, names)
        self._check_structure(names, [two_stage] * len(names))
        checks.raise_problems(checks.value_problems("norm", norm, DYRCNN_KWARG_SPECS["norm"]))
        self.norm = norm
        areas: dict[str, RecurrentArea] = {}
        in_channels = self.stimulus_channels
        for name, width, stride, pool, kernel in zip(
            names, widths, strides, pool_after, kernels, strict=True
        ):
            areas[name] = RecurrentArea(
                in_channels,
                width,
                kernel_size=kernel,
                stride=stride,
                mid_channels=width if two_stage else None,
                recurrence_type=self.recurrence_type,
                recurrence_init_scale=recurrence_init_scale,
                recurrence_target=self.recurrence_target,
                integration=self.integration,
                bias=self.bias,
                pool=nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if pool else None,
                norm=_make_norm(norm, width),
            )
            in_channels = width
        self._build(areas, skips=skips, feedbacks=feedbacks)



@dataclass(frozen=True)
class DyRCNNVariant:
    """A registered DyRCNN: a name, its fixed architecture and the defaults that differ from the engine's.

    Attributes:
        name: the registered name (``create_model(name, ...)``).
        area_names: the areas in feedforward order.
        channels: the widths used when ``channels`` is not given (``None``).
        strides: feedforward stride of each area (a pair ``(first, second)`` for two-stage areas).
        pool_after: whether a 3x3/2 max-pool (padding 1) follows each area's rate.
        kernel_size: feedforward kernel, one for all areas or one per area.
        two_stage: every area has two convs.
        skips: ``(source, target)`` pairs of the skip connections (built when ``skip``).
        feedbacks: ``(source, target)`` pairs of the feedback connections (built when ``feedback``).
        defaults: kwarg -> default, where the variant's default differs from the engine's (or the engine has
            none); every other engine kwarg keeps the engine's default.
        summary: one line for the factory's docstring.
    """

    name: str
    area_names: tuple[str, ...]
    channels: tuple[int, ...]
    strides: tuple[int | tuple[int, int], ...]
    pool_after: tuple[bool, ...]
    kernel_size: int | tuple[int, ...] = 3
    two_stage: bool = False
    skips: tuple[tuple[str, str], ...] = ()
    feedbacks: tuple[tuple[str, str], ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    summary: str = ""

    def signature(self) -> inspect.Signature:
        """The kwargs of the variant: the engine's with the variant's defaults, then ``channels`` and ``norm``."""
        own = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None) for name in DYRCNN_KWARG_SPECS
        ]
        return engine_signature(self.defaults, own)

    def build(self, **kwargs: Any) -> DyRCNN:
        """The model with ``kwargs`` (the variant's defaults where not given); unknown kwargs raise ``TypeError``."""
        allowed = tuple(self.signature().parameters)
        reject_kwargs(self.name, {k: v for k, v in kwargs.items() if k not in allowed}, allowed, {})
        values = {**self.defaults, **kwargs}
        channels = values.pop("channels", None)
        return DyRCNN(
            area_names=self.area_names,
            channels=self.channels if channels is None else channels,
            strides=self.strides,
            pool_after=self.pool_after,
            kernel_size=self.kernel_size,
            two_stage=self.two_stage,
            skips=self.skips,
            feedbacks=self.feedbacks,
            **values,
        )


# Defaults shared by the DyRCNN variants where the engine has another (or none): upstream DynVision's.
_DYRCNN_DEFAULTS: dict[str, Any] = {
    "n_classes": 10,
    "input_shape": (3, 32, 32),
    "n_timesteps": 10,
    "dt": 2.0,
    "tau": 5.0,
    "t_feedback": 30.0,
}

#: The registered DyRCNN variants by name.
DYRCNN_VARIANTS: dict[str, DyRCNNVariant] = {
    variant.name: variant
    for variant in (
        DyRCNNVariant(
            name="DyRCNNx2",
            area_names=("V1", "V2"),
            channels=(36, 64),
            strides=(1, 1),
            pool_after=(True, False),
            skips=(("V1", "V2"),),
            feedbacks=(("V2", "V1"),),
            defaults=_DYRCNN_DEFAULTS,
            summary=(
                "Two areas: V1 (3x3 conv, 36 ch) -> max-pool 3/2/1 -> V2 (3x3 conv, 64 ch) -> average pool -> "
                "Linear. Skip V1 -> V2 (when ``skip``), feedback V2 -> V1 (when ``feedback``). Lighter defaults "
                "than x4 (no skip, ``t_recurrence = dt``)."
            ),
        ),
        DyRCNNVariant(
            name="DyRCNNx4",
            area_names=_X4_AREAS,
            channels=(36, 64, 121, 256),
            strides=(1, 1, 1, 2),
            pool_after=(True, True, False, False),
            skips=_X4_SKIPS,
            feedbacks=_X4_FEEDBACKS,
            defaults={**_DYRCNN_DEFAULTS, "t_recurrence": 6.0, "skip": True},
            summary=(
                "Four areas: V1 (36 ch) -> pool -> V2 (64) -> pool -> V4 (121) -> IT (256, stride 2) -> Linear "
                "readout; all convs 3x3, pools max-pool 3/2/1; at 32x32 input the rates are V1 32, V2 16, V4 8, "
                "IT 4 px. Skips V1 -> V4 and V2 -> IT (on by default), feedback V4 -> V1 and IT -> V2 (off by "
                "default). Defaults as upstream DynVision: ``dt=2``, ``tau=5``, ``t_recurrence=6`` (3 steps), "
                "``t_feedback=30``."
            ),
        ),
        DyRCNNVariant(
            name="DyRCNNx8",
            area_names=_X4_AREAS,
            channels=(64, 144, 256, 529),
            strides=((2, 1),) * 4,
            pool_after=(True, True, False, False),
            kernel_size=(5, 3, 3, 3),
            two_stage=True,
            skips=_X4_SKIPS,
            feedbacks=_X4_FEEDBACKS,
            defaults={**_DYRCNN_DEFAULTS, "t_recurrence": 6.0, "skip": True},
            summary=(
                "Four two-stage areas: V1 (64 ch, 5x5) -> pool -> V2 (144, 3x3) -> pool -> V4 (256) -> IT (529); "
                "each area convolves ``in -> C`` with stride 2, ReLU, ``C -> C`` with stride 1, and "
                "``recurrence_target='middle'`` adds the recurrence between the two. At 224x224 input the rates "
                "are V1 112, V2 28, V4 7, IT 4 px; at 32x32: 16, 4, 1, 1. Skips, feedback and defaults as "
                "DyRCNNx4."
            ),
        ),
    )
}


def _variant_factory(variant: DyRCNNVariant) -> Callable[..., DyRCNN]:
    """A function ``variant.name(**kwargs) -> DyRCNN`` with the variant's signature and catalogue facts."""

    def factory(**kwargs: Any) -> DyRCNN:
        return variant.build(**kwargs)

    factory.__name__ = factory.__qualname__ = variant.name
    factory.__module__ = __name__
    factory.__signature__ = variant.signature()  # type: ignore[attr-defined]
    factory.__doc__ = (
        f"{variant.summary}\n\nBuilds a :class:`DyRCNN`. Kwargs: those of "
        ":class:`~dynvision_models.engine.TemporalModel` (with this variant's defaults), and\n\n"
        f"Args:\n    channels: widths of {variant.area_names}; default (``None``) {variant.channels}.\n"
        "    norm: normalisation of each area's output: ``None``, ``\"layer\"`` or ``\"batch\"``.\n"
    )
    factory.variant = variant  # type: ignore[attr-defined]
    factory.KWARG_SPECS = DYRCNN_KWARG_SPECS  # type: ignore[attr-defined]
    factory.ENGINE_STRUCTURE = {  # type: ignore[attr-defined]
        "areas": list(variant.area_names),
        "middle_stage": [variant.two_stage] * len(variant.area_names),
        "default_channels": list(variant.channels),
    }
    return register_model(variant.name)(factory)


DyRCNNx2 = _variant_factory(DYRCNN_VARIANTS["DyRCNNx2"])
DyRCNNx4 = _variant_factory(DYRCNN_VARIANTS["DyRCNNx4"])
DyRCNNx8 = _variant_factory(DYRCNN_VARIANTS["DyRCNNx8"])
