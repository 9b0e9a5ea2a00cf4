"""One cortical area of a recurrent CNN: feedforward convolution, lateral recurrence and output pooling.

The area only computes; the time loop (delays, state, solver) lives in
:class:`dynvision_models.engine.TemporalModel`, which calls :meth:`RecurrentArea.drive` once per time step.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .recurrence import create_recurrence

__all__ = ["RecurrentArea"]


class RecurrentArea(nn.Module):
    """Feedforward ``k x k`` conv (Kaiming init, with bias), lateral recurrence chosen by name, optional pooling.

    Args:
        in_channels: channels of the input (the stimulus or the pooled output of the area below).
        out_channels: channels ``C`` of the area's state and rate.
        kernel_size: feedforward kernel (odd; padding ``k // 2``).
        stride: feedforward stride.
        recurrence_type: name from :func:`~dynvision_models.layers.list_recurrence_types`.
        recurrence_kernel_size: kernel of convolutional recurrence (default: ``kernel_size``).
        recurrence_init_scale: recurrent weights start uniform in ``±recurrence_init_scale``.
        pool: module applied to the rate before it feeds the next area (``None``: no pooling).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        kernel_size: int = 3,
        stride: int = 1,
        recurrence_type: str = "full",
        recurrence_kernel_size: int | None = None,
        recurrence_init_scale: float = 1e-3,
        pool: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.ff = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2)
        nn.init.kaiming_normal_(self.ff.weight, mode="fan_in", nonlinearity="relu")
        nn.init.zeros_(self.ff.bias)
        self.recurrence = create_recurrence(
            recurrence_type,
            out_channels,
            kernel_size=recurrence_kernel_size or kernel_size,
            init_scale=recurrence_init_scale,
        )
        self.pool = pool
        # Rate shape (C, H, W) of this area; set by the engine from input_shape once all areas exist.
        self.rate_shape: tuple[int, int, int] | None = None

    def drive(self, signal: Tensor | None, r_prev: Tensor | None, batch: int, h: Tensor | None = None) -> Tensor:
        """Drive ``u = W_ff * signal + b + W_rec * r_prev`` of shape ``(batch, C, H, W)`` for one time step.

        Args:
            signal: feedforward input ``(B, C_in, H_in, W_in)`` at ``t - d_ff``; ``None`` means zeros (the delayed
                signal has not arrived yet), which contributes the bias only.
            r_prev: the area's own rate ``r(t - d_rec)``; ``None`` means zeros (no recurrent contribution).
            batch: batch size ``B`` (needed when both inputs are ``None``).
            h: current state; unused by this drive (the recurrence is delayed by at least one step), accepted so
                that solvers can re-evaluate any drive at intermediate states.
        """
        if signal is not None:
            u = self.ff(signal)
            if r_prev is not None and self.recurrence is not None:
                # In place is safe: the conv's backward does not need its output.
                u.add_(self.recurrence(r_prev))
            return u
        u = self._null_drive(batch)
        if r_prev is not None and self.recurrence is not None:
            u = u + self.recurrence(r_prev)
        return u

    def _null_drive(self, batch: int) -> Tensor:
        """Feedforward term for an all-zero input: the bias broadcast to ``(batch, C, H, W)`` (a view, no copy)."""
        if self.rate_shape is None:
            raise RuntimeError("RecurrentArea.rate_shape is unset; the engine sets it when the model is built.")
        c, height, width = self.rate_shape
        weight = self.ff.weight
        if self.ff.bias is None:
            return torch.zeros(batch, c, height, width, dtype=weight.dtype, device=weight.device)
        return self.ff.bias.view(1, c, 1, 1).expand(batch, c, height, width)
