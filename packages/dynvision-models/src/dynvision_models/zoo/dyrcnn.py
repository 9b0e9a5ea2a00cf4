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
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..engine.temporal import TemporalModel, common_kwargs
from ..layers.area import RecurrentArea
from ..registry import register_model

__all__ = ["NORMS", "DyRCNN", "DyRCNNx2", "DyRCNNx4", "DyRCNNx8"]

#: Normalisation of each area's output (``norm`` kwarg): ``"layer"`` = GroupNorm with one group (over C, H, W
#: of each sample and step); ``"batch"`` = BatchNorm2d (statistics shared over all time steps).
NORMS = ("layer", "batch")

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
    widths = tuple(channels)
    if len(widths) != len(area_names) or not all(
        isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in widths
    ):
        raise ValueError(
            f"channels must give one positive integer width per area {tuple(area_names)}, got {channels!r}."
        )
    return widths


def _make_norm(norm: str | None, channels: int) -> nn.Module | None:
    if norm is None:
        return None
    if norm == "layer":
        return nn.GroupNorm(1, channels)
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    raise ValueError(f"Unknown norm {norm!r}. Allowed: None, {', '.join(map(repr, NORMS))}.")


class DyRCNN(TemporalModel):
    """Generic DyRCNN: area ``i`` convolves to ``channels[i]`` and has lateral recurrence.

    Not registered itself; the registered variants fix the architecture and expose the common kwargs.

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
        if norm is not None and norm not in NORMS:
            raise ValueError(f"Unknown norm {norm!r}. Allowed: None, {', '.join(map(repr, NORMS))}.")
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


@register_model()
class DyRCNNx2(DyRCNN):
    """Two areas: V1 (3x3 conv, 36 ch) -> max-pool 3/2/1 -> V2 (3x3 conv, 64 ch) -> average pool -> Linear.

    Skip V1 -> V2 (when ``skip``), feedback V2 -> V1 (when ``feedback``). Lighter defaults than x4 (no skip,
    ``t_recurrence = dt``); the other kwargs are those of :class:`~dynvision_models.engine.TemporalModel`.

    Args:
        channels: widths of (V1, V2); default ``(36, 64)``.
        norm: normalisation of each area's output: ``None``, ``"layer"`` or ``"batch"``.
    """

    def __init__(
        self,
        *,
        n_classes: int = 10,
        input_shape: Sequence[int] = (3, 32, 32),
        n_timesteps: int = 10,
        dt: float = 2.0,
        tau: float | Sequence[float] = 5.0,
        train_tau: bool = False,
        t_feedforward: float = 0.0,
        t_recurrence: float | None = None,
        t_skip: float = 0.0,
        t_feedback: float | None = 30.0,
        recurrence_type: str = "full",
        recurrence_target: str = "output",
        integration: str = "additive",
        solver: str = "euler",
        skip: bool = False,
        feedback: bool = False,
        skip_mode: str = "additive",
        feedback_mode: str = "additive",
        idle_timesteps: int = 0,
        tbptt_steps: int = 0,
        feedforward_only: bool = False,
        supralinearity: float = 1.0,
        bias: str = "channel",
        use_retina: bool = False,
        adaptation: Sequence[float] | None = None,
        readout: str = "avgpool",
        checkpoint_steps: int | bool = 0,
        compile_step: bool = False,
        channels_last: bool = True,
        channels: Sequence[int] | None = None,
        norm: str | None = None,
    ) -> None:
        super().__init__(
            area_names=("V1", "V2"),
            channels=channels if channels is not None else (36, 64),
            strides=(1, 1),
            pool_after=(True, False),
            skips=(("V1", "V2"),),
            feedbacks=(("V2", "V1"),),
            norm=norm,
            **common_kwargs(locals()),
        )


@register_model()
class DyRCNNx4(DyRCNN):
    """Four areas: V1 (36 ch) -> pool -> V2 (64) -> pool -> V4 (121) -> IT (256, stride 2) -> Linear readout.

    All convs 3x3; pools are max-pool 3/2/1. At 32x32 input the rates are V1 32x32, V2 16x16, V4 8x8, IT 4x4.
    Skips V1 -> V4 and V2 -> IT (on by default, computed at the target's resolution), feedback V4 -> V1 and
    IT -> V2 (off by default). Defaults as upstream DynVision: ``dt=2``, ``tau=5``, ``t_recurrence=6`` (3
    steps), ``t_feedforward=0``, ``t_skip=0``, ``t_feedback=30``, full recurrence on the output. The other
    kwargs are those of :class:`~dynvision_models.engine.TemporalModel`.

    Args:
        channels: widths of (V1, V2, V4, IT); default ``(36, 64, 121, 256)``.
        norm: normalisation of each area's output: ``None``, ``"layer"`` or ``"batch"``.
    """

    def __init__(
        self,
        *,
        n_classes: int = 10,
        input_shape: Sequence[int] = (3, 32, 32),
        n_timesteps: int = 10,
        dt: float = 2.0,
        tau: float | Sequence[float] = 5.0,
        train_tau: bool = False,
        t_feedforward: float = 0.0,
        t_recurrence: float | None = 6.0,
        t_skip: float = 0.0,
        t_feedback: float | None = 30.0,
        recurrence_type: str = "full",
        recurrence_target: str = "output",
        integration: str = "additive",
        solver: str = "euler",
        skip: bool = True,
        feedback: bool = False,
        skip_mode: str = "additive",
        feedback_mode: str = "additive",
        idle_timesteps: int = 0,
        tbptt_steps: int = 0,
        feedforward_only: bool = False,
        supralinearity: float = 1.0,
        bias: str = "channel",
        use_retina: bool = False,
        adaptation: Sequence[float] | None = None,
        readout: str = "avgpool",
        checkpoint_steps: int | bool = 0,
        compile_step: bool = False,
        channels_last: bool = True,
        channels: Sequence[int] | None = None,
        norm: str | None = None,
    ) -> None:
        super().__init__(
            area_names=_X4_AREAS,
            channels=channels if channels is not None else (36, 64, 121, 256),
            strides=(1, 1, 1, 2),
            pool_after=(True, True, False, False),
            skips=_X4_SKIPS,
            feedbacks=_X4_FEEDBACKS,
            norm=norm,
            **common_kwargs(locals()),
        )


@register_model()
class DyRCNNx8(DyRCNN):
    """Four two-stage areas: V1 (64 ch, 5x5) -> pool -> V2 (144, 3x3) -> pool -> V4 (256) -> IT (529).

    Each area convolves ``in -> C`` with stride 2, then ReLU, then ``C -> C`` with stride 1;
    ``recurrence_target="middle"`` adds the recurrence between the two. Pools are max-pool 3/2/1 after V1 and
    V2. At 224x224 input the rates are V1 112, V2 28, V4 7, IT 4 px; at 32x32: 16, 4, 1, 1. Skips, feedback
    and defaults as :class:`DyRCNNx4`; ``norm`` optionally normalises each area's output (upstream listed a
    norm step without using it).

    Args:
        channels: widths of (V1, V2, V4, IT); default ``(64, 144, 256, 529)``.
        norm: normalisation of each area's output: ``None``, ``"layer"`` or ``"batch"``.
    """

    def __init__(
        self,
        *,
        n_classes: int = 10,
        input_shape: Sequence[int] = (3, 32, 32),
        n_timesteps: int = 10,
        dt: float = 2.0,
        tau: float | Sequence[float] = 5.0,
        train_tau: bool = False,
        t_feedforward: float = 0.0,
        t_recurrence: float | None = 6.0,
        t_skip: float = 0.0,
        t_feedback: float | None = 30.0,
        recurrence_type: str = "full",
        recurrence_target: str = "output",
        integration: str = "additive",
        solver: str = "euler",
        skip: bool = True,
        feedback: bool = False,
        skip_mode: str = "additive",
        feedback_mode: str = "additive",
        idle_timesteps: int = 0,
        tbptt_steps: int = 0,
        feedforward_only: bool = False,
        supralinearity: float = 1.0,
        bias: str = "channel",
        use_retina: bool = False,
        adaptation: Sequence[float] | None = None,
        readout: str = "avgpool",
        checkpoint_steps: int | bool = 0,
        compile_step: bool = False,
        channels_last: bool = True,
        channels: Sequence[int] | None = None,
        norm: str | None = None,
    ) -> None:
        super().__init__(
            area_names=_X4_AREAS,
            channels=channels if channels is not None else (64, 144, 256, 529),
            strides=((2, 1),) * 4,
            pool_after=(True, True, False, False),
            kernel_size=(5, 3, 3, 3),
            two_stage=True,
            skips=_X4_SKIPS,
            feedbacks=_X4_FEEDBACKS,
            norm=norm,
            **common_kwargs(locals()),
        )
