"""DyRCNN: a stack of recurrent convolutional areas with leaky (tau, dt) dynamics and lateral recurrence.

Registered variants: ``DyRCNNx2`` (V1, V2) and ``DyRCNNx4`` (V1, V2, V4, IT). See
:mod:`dynvision_models.engine.temporal` for the equations and units.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..engine.temporal import TemporalModel
from ..layers.area import RecurrentArea
from ..registry import register_model

__all__ = ["DyRCNN", "DyRCNNx2", "DyRCNNx4"]


def _check_channels(channels: Sequence[int], area_names: Sequence[str]) -> tuple[int, ...]:
    widths = tuple(channels)
    if len(widths) != len(area_names) or not all(
        isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in widths
    ):
        raise ValueError(
            f"channels must give one positive integer width per area {tuple(area_names)}, got {channels!r}."
        )
    return widths


class DyRCNN(TemporalModel):
    """Generic DyRCNN: area ``i`` is a ``kernel_size`` conv to ``channels[i]`` with lateral recurrence.

    Not registered itself; the registered variants fix the architecture and expose the common kwargs.

    Args:
        area_names: names of the areas in feedforward order (e.g. ``("V1", "V2")``).
        channels: width of each area.
        strides: feedforward conv stride of each area.
        pool_after: whether a 3x3/2 max-pool (padding 1) follows each area's rate.
        kernel_size: feedforward (and recurrent) kernel size.
        recurrence_init_scale: recurrent weights start uniform in ``±recurrence_init_scale``.
        **common: the :class:`~dynvision_models.engine.TemporalModel` kwargs (``n_classes``, ``input_shape``,
            ``n_timesteps``, ``dt``, ``tau``, ``t_feedforward``, ``t_recurrence``, ``recurrence_type``, ``solver``,
            ``readout``).
    """

    def __init__(
        self,
        *,
        area_names: Sequence[str],
        channels: Sequence[int],
        strides: Sequence[int] | None = None,
        pool_after: Sequence[bool] | None = None,
        kernel_size: int = 3,
        recurrence_init_scale: float = 1e-3,
        n_classes: int = 10,
        input_shape: Sequence[int] = (3, 32, 32),
        n_timesteps: int = 10,
        dt: float = 2.0,
        tau: float = 5.0,
        t_feedforward: float = 0.0,
        t_recurrence: float | None = None,
        recurrence_type: str = "full",
        solver: str = "euler",
        readout: str = "avgpool",
    ) -> None:
        super().__init__(
            n_classes=n_classes,
            input_shape=input_shape,
            n_timesteps=n_timesteps,
            dt=dt,
            tau=tau,
            t_feedforward=t_feedforward,
            t_recurrence=t_recurrence,
            recurrence_type=recurrence_type,
            solver=solver,
            readout=readout,
        )
        names = tuple(area_names)
        widths = _check_channels(channels, names)
        strides = tuple(strides) if strides is not None else (1,) * len(names)
        pool_after = tuple(pool_after) if pool_after is not None else (False,) * len(names)
        if len(strides) != len(names) or len(pool_after) != len(names):
            raise ValueError(
                f"strides {strides} and pool_after {pool_after} need one entry per area {names}."
            )
        areas: dict[str, RecurrentArea] = {}
        in_channels = self.input_shape[0]
        for name, width, stride, pool in zip(names, widths, strides, pool_after, strict=True):
            areas[name] = RecurrentArea(
                in_channels,
                width,
                kernel_size=kernel_size,
                stride=stride,
                recurrence_type=recurrence_type,
                recurrence_init_scale=recurrence_init_scale,
                pool=nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if pool else None,
            )
            in_channels = width
        self._build(areas)


@register_model()
class DyRCNNx2(DyRCNN):
    """Two areas: V1 (3x3 conv, 36 ch) -> max-pool 3/2/1 -> V2 (3x3 conv, 64 ch) -> average pool -> Linear.

    Args:
        n_classes: output classes.
        input_shape: ``(C, H, W)`` of a stimulus frame.
        n_timesteps: steps a static image is shown for.
        dt: time step in ms.
        tau: time constant in ms (``>= dt``).
        t_feedforward: V1 -> V2 delay in ms (multiple of ``dt``).
        t_recurrence: lateral recurrence delay in ms (multiple of ``dt``, ``>= dt``; ``None`` = ``dt``).
        recurrence_type: ``"full"``, ``"self"`` or ``"none"``.
        solver: ``"euler"``.
        readout: ``"avgpool"`` or ``"flatten"``.
        channels: widths of (V1, V2); default ``(36, 64)``.
    """

    def __init__(
        self,
        *,
        n_classes: int = 10,
        input_shape: Sequence[int] = (3, 32, 32),
        n_timesteps: int = 10,
        dt: float = 2.0,
        tau: float = 5.0,
        t_feedforward: float = 0.0,
        t_recurrence: float | None = None,
        recurrence_type: str = "full",
        solver: str = "euler",
        readout: str = "avgpool",
        channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__(
            area_names=("V1", "V2"),
            channels=channels if channels is not None else (36, 64),
            strides=(1, 1),
            pool_after=(True, False),
            n_classes=n_classes,
            input_shape=input_shape,
            n_timesteps=n_timesteps,
            dt=dt,
            tau=tau,
            t_feedforward=t_feedforward,
            t_recurrence=t_recurrence,
            recurrence_type=recurrence_type,
            solver=solver,
            readout=readout,
        )


@register_model()
class DyRCNNx4(DyRCNN):
    """Four areas V1 (36 ch) -> pool -> V2 (64) -> pool -> V4 (121) -> IT (256, stride 2) -> average pool -> Linear.

    All convs 3x3; pools are max-pool 3/2/1. At 32x32 input the rates are V1 32x32, V2 16x16, V4 8x8, IT 4x4.
    Channel counts are perfect squares (for topographic recurrence, planned).

    Args:
        n_classes: output classes.
        input_shape: ``(C, H, W)`` of a stimulus frame.
        n_timesteps: steps a static image is shown for.
        dt: time step in ms.
        tau: time constant in ms (``>= dt``).
        t_feedforward: delay between consecutive areas in ms (multiple of ``dt``).
        t_recurrence: lateral recurrence delay in ms (multiple of ``dt``, ``>= dt``; ``None`` = ``dt``).
        recurrence_type: ``"full"``, ``"self"`` or ``"none"``.
        solver: ``"euler"``.
        readout: ``"avgpool"`` or ``"flatten"``.
        channels: widths of (V1, V2, V4, IT); default ``(36, 64, 121, 256)``.
    """

    def __init__(
        self,
        *,
        n_classes: int = 10,
        input_shape: Sequence[int] = (3, 32, 32),
        n_timesteps: int = 10,
        dt: float = 2.0,
        tau: float = 5.0,
        t_feedforward: float = 0.0,
        t_recurrence: float | None = None,
        recurrence_type: str = "full",
        solver: str = "euler",
        readout: str = "avgpool",
        channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__(
            area_names=("V1", "V2", "V4", "IT"),
            channels=channels if channels is not None else (36, 64, 121, 256),
            strides=(1, 1, 1, 2),
            pool_after=(True, True, False, False),
            n_classes=n_classes,
            input_shape=input_shape,
            n_timesteps=n_timesteps,
            dt=dt,
            tau=tau,
            t_feedforward=t_feedforward,
            t_recurrence=t_recurrence,
            recurrence_type=recurrence_type,
            solver=solver,
            readout=readout,
        )
