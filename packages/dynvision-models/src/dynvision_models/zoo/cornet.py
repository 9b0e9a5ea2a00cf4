"""CORnet-RT: four recurrent areas (V1, V2, V4, IT) unrolled for five steps, as published.

Reference:
    Kubilius J.*, Schrimpf M.*, Nayebi A., Bear D., Yamins D. L. K., DiCarlo J. J. (2018). CORnet: Modeling
    the Neural Mechanisms of Core Object Recognition. bioRxiv 408385, doi:10.1101/408385.
    Official code: https://github.com/dicarlolab/CORnet, ``cornet/cornet_rt.py`` (``CORblock_RT``,
    ``CORnet_RT``); weights ``cornet_rt-933c001c.pth``. This module re-describes that model; it shares no code
    with it.

Dynamics (time is counted in abstract steps ``t = 0 .. T-1``: CORnet-RT has no time constant and no ``dt``).
For area ``k`` with output ``y_k(t)`` (``y_k(-1) = 0``)::

    d_V1(t)   = ReLU(GN_in(W_in * x(t) + b_in))                          the stimulus, at every step
    d_k(t)    = ReLU(GN_in(W_in * y_{k-1}(t-1) + b_in))  k > V1, t >= 1  the lower area's previous output
    d_k(0)    = 0                                        k > V1          nothing has arrived yet
    y_k(t)    = ReLU(GN_1(W_1 * (d_k(t) + y_k(t-1))))                    the own previous output is the state
    logits(t) = W_dec · mean_{h,w} y_IT(t) + b_dec

``GN`` is GroupNorm with 32 groups; ``W_in`` is 7x7 stride 4 for V1 (64 channels) and 3x3 stride 2 for V2, V4,
IT (128, 256, 512 channels), padding ``k // 2``; ``W_1`` is a 3x3 "same" conv without bias. The official model
returns only ``logits(T - 1)``; here the decoder reads IT at every step (the last step equals the official
output). Because every inter-area connection is delayed by one step, area ``k`` (0-based) is first reached by
the stimulus at step ``k`` (:meth:`CorNetRT.first_driven_step`); before that it responds to zeros only.

Differences from the official code, none of which changes a number at 224x224: the zero input of the first
step has the spatial size computed from ``input_shape`` (the official code hard-codes 56, 28, 14, 7), and a
sequence ``(B, T, C, H, W)`` shows frame ``t`` to V1 at step ``t`` (the official model takes one static
image).

Input checks, kwarg rejection and official-checkpoint loading follow the zoo's contract
(:mod:`dynvision_models.zoo._contract`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..registry import register_model
from ._contract import (
    COMMON_KWARG_REASONS,
    area_index,
    check_area_names,
    check_input_sequence,
    check_input_shape,
    check_positive_int,
    conv_output_size,
    load_official_state_dict,
    read_state_dict,
    reject_kwargs,
)

__all__ = [
    "CORNET_RT_AREAS",
    "CORblockRT",
    "CorNetRT",
]

#: Areas of CORnet-RT in feedforward order.
CORNET_RT_AREAS = ("V1", "V2", "V4", "IT")
# (out_channels, kernel_size, stride) of each area's input conv, as in the official CORnet_RT.__init__.
_CORNET_RT_SPECS = ((64, 7, 4), (128, 3, 2), (256, 3, 2), (512, 3, 2))
# GroupNorm groups of both norms of every block (official: nn.GroupNorm(32, out_channels)).
_GROUPS = 32


# ---------------------------------------------------------------------------------------------- CORnet-RT
class CORblockRT(nn.Module):
    """One CORnet-RT area: input conv + GroupNorm + ReLU, added to the state, then conv + GroupNorm + ReLU.

    Official ``CORblock_RT`` (same submodule names, so checkpoint keys map one to one).

    Args:
        in_channels: channels of the input (the image for V1, the lower area's output otherwise).
        out_channels: channels of the area (a multiple of 32, for GroupNorm(32)).
        kernel_size: kernel of the input conv (padding ``kernel_size // 2``).
        stride: stride of the input conv.
        out_size: ``(H, W)`` of the area's output, for the zero input of the first step.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int, out_size: tuple[int, int]
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.out_size = out_size
        self.conv_input = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2
        )
        self.norm_input = nn.GroupNorm(_GROUPS, out_channels)
        self.conv1 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.norm1 = nn.GroupNorm(_GROUPS, out_channels)

    def input_drive(self, inp: Tensor | None, batch: int, like: Tensor) -> Tensor:
        """The area's input ``d = ReLU(GN_in(W_in * inp + b_in))`` ``(B, C, H, W)``.

        Args:
            inp: ``(B, C_in, H_in, W_in)``, or ``None`` when nothing has reached the area yet (first step of
                V2 and up): the drive is then zeros of the output's shape (official ``CORblock_RT``).
            batch: ``B`` (for the zero drive).
            like: any tensor with the dtype and device of the computation.
        """
        if inp is None:
            return like.new_zeros(batch, self.out_channels, *self.out_size)
        return torch.relu(self.norm_input(self.conv_input(inp)))

    def forward(self, drive: Tensor, state: Tensor | None) -> Tensor:
        """One step: ``y = ReLU(GN_1(W_1 * (d + state)))``.

        Args:
            drive: the input drive ``d`` (:meth:`input_drive`) ``(B, C, H, W)``.
            state: the area's output of the previous step ``(B, C, H, W)``, or ``None`` (zero) at step 0.

        Returns:
            The area's output ``(B, C, H, W)``, which is also its next state.
        """
        skip = drive if state is None else drive + state
        return torch.relu(self.norm1(self.conv1(skip)))

    def extra_repr(self) -> str:
        return f"out_size={self.out_size}"


@register_model()
class CorNetRT(nn.Module):
    """CORnet-RT (Kubilius et al. 2018): V1 -> V2 -> V4 -> IT with one-step delays and self-recurrence.

    See the module docstring for the equations. Kwargs that the temporal models share but CORnet-RT does not
    have (``dt``, ``tau``, the ``t_*`` delays, ``skip``, ``feedback``, ``idle_timesteps``, ``tbptt_steps``,
    ...) are rejected with a ``TypeError`` that says why, rather than silently ignored.

    Args:
        n_classes: output classes (1000 for the official ImageNet checkpoint).
        input_shape: ``(C, H, W)`` of a stimulus frame (official: ``(3, 224, 224)``, ImageNet-normalised).
        n_timesteps: steps a static image is shown for (official ``times=5``); a ``(B, T, ...)`` input sets
            ``T``.

    Attributes:
        area_names: ``("V1", "V2", "V4", "IT")``.
        areas: ``nn.ModuleDict`` of :class:`CORblockRT` in that order.
        classifier: ``Linear(512, n_classes)`` on the spatially averaged IT output (official
            ``decoder.linear``).
    """

    #: Kwargs of the temporal models that CORnet-RT does not take -> why (catalogue and errors).
    REJECTED_KWARGS = COMMON_KWARG_REASONS

    def __init__(
        self,
        *,
        n_classes: int = 1000,
        input_shape: Sequence[int] = (3, 224, 224),
        n_timesteps: int = 5,
        **unsupported: object,
    ) -> None:
        reject_kwargs(
            type(self).__name__,
            unsupported,
            ("n_classes", "input_shape", "n_timesteps"),
            COMMON_KWARG_REASONS,
        )
        super().__init__()
        self.n_classes = check_positive_int("n_classes", n_classes)
        self.n_timesteps = check_positive_int("n_timesteps", n_timesteps)
        self.input_shape = check_input_shape(input_shape)

        self.areas = nn.ModuleDict()
        in_channels, height, width = self.input_shape
        for name, (channels, kernel, stride) in zip(CORNET_RT_AREAS, _CORNET_RT_SPECS, strict=True):
            # The output size of each area, for its zero input at step 0 (official: hard-coded 56, 28, 14, 7
            # for 224x224). The convs are padded by kernel // 2, so any input leaves at least one pixel.
            height = conv_output_size(height, kernel, stride, kernel // 2)
            width = conv_output_size(width, kernel, stride, kernel // 2)
            self.areas[name] = CORblockRT(in_channels, channels, kernel, stride, (height, width))
            in_channels = channels
        self.area_names: tuple[str, ...] = tuple(self.areas)
        self.classifier = nn.Linear(in_channels, self.n_classes)

    # ------------------------------------------------------------------ public API
    def first_driven_step(self, area: str) -> int:
        """First step (0-based) at which a stimulus shown from step 0 reaches ``area``: V1 0 .. IT 3.

        Each inter-area connection delays by one step. A stimulus change at step ``t0`` first changes ``area``
        at ``t0 + first_driven_step(area)``.
        """
        return area_index(area, self.area_names)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, T, n_classes)`` for ``x`` of shape ``(B, T, C, H, W)`` or static ``(B, C, H, W)``."""
        logits, _ = self._unroll(check_input_sequence(x, self.input_shape, self.n_timesteps), ())
        return logits

    def forward_intermediates(
        self, x: Tensor, areas: Iterable[str] | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Logits and per-area outputs at every step.

        Args:
            x: ``(B, T, C, H, W)`` or static ``(B, C, H, W)`` (shown for ``n_timesteps`` steps).
            areas: names of the areas to record (default: all).

        Returns:
            ``(logits, responses)``: logits ``(B, T, n_classes)``; ``responses[area]`` is ``(B, T, C_a, H_a,
            W_a)``, the area's output ``y_a(t)`` (after its last ReLU) at every step.
        """
        names = check_area_names(areas, self.area_names)
        logits, recorded = self._unroll(check_input_sequence(x, self.input_shape, self.n_timesteps), names)
        return logits, {name: torch.stack(recorded[name], dim=1) for name in names}

    def official_key_map(self) -> dict[str, str]:
        """Official checkpoint key (without ``"module."``) -> this model's state-dict key.

        ``V1.conv_input.weight`` -> ``areas.V1.conv_input.weight`` (likewise ``conv_input.bias``,
        ``norm_input.weight/bias``, ``conv1.weight``, ``norm1.weight/bias`` of V1, V2, V4, IT) and
        ``decoder.linear.weight/bias`` -> ``classifier.weight/bias``.
        """
        mapping = {}
        for key in self.state_dict():
            if key.startswith("areas."):
                mapping[key[len("areas.") :]] = key
            elif key.startswith("classifier."):
                mapping["decoder.linear." + key[len("classifier.") :]] = key
            else:  # pragma: no cover - the model has no other parameters
                raise AssertionError(f"No official name for {key!r}.")
        return mapping

    def load_official_checkpoint(
        self,
        source: str | os.PathLike | Mapping[str, Any],
        *,
        strict_classifier: bool = True,
        map_location: Any = "cpu",
    ) -> CorNetRT:
        """Load the official CORnet-RT weights (e.g. ``cornet_rt-933c001c.pth``) from a local file or mapping.

        The official file is ``{"state_dict": {"module.V1.conv_input.weight": ..., ...}, ...}`` (saved from
        ``nn.DataParallel``); the wrapper and the ``"module."`` prefix are optional here. No network access.

        Args:
            source: path of the checkpoint, or an already loaded checkpoint / state dict.
            strict_classifier: if ``False``, keep this model's freshly initialised classifier instead of the
                checkpoint's ``decoder.linear`` (for another ``n_classes``).
            map_location: passed to ``torch.load``.

        Returns:
            ``self``.

        Raises:
            ValueError: the checkpoint does not match (names every missing and unexpected key and every shape
                mismatch, in official names).
        """
        hints = []
        if self.input_shape[0] != 3:
            hints.append(
                f"The official model takes 3 input channels; this one has input_shape={self.input_shape}."
            )
        load_official_state_dict(
            self,
            read_state_dict(source, map_location),
            self.official_key_map(),
            model_label="CORnet-RT",
            strict_classifier=strict_classifier,
            hints=hints,
        )
        return self

    @classmethod
    def from_official_checkpoint(
        cls, source: str | os.PathLike | Mapping[str, Any], *, map_location: Any = "cpu", **kwargs: Any
    ) -> CorNetRT:
        """Build a model (constructor ``kwargs``, official defaults) and load the official weights into it."""
        return cls(**kwargs).load_official_checkpoint(source, map_location=map_location)

    def extra_repr(self) -> str:
        return f"input_shape={self.input_shape}, n_timesteps={self.n_timesteps}, n_classes={self.n_classes}"

    # ------------------------------------------------------------------ internals
    def _unroll(self, x: Tensor, record: Iterable[str]) -> tuple[Tensor, dict[str, list[Tensor]]]:
        """Run all steps of ``x`` ``(B, T, C, H, W)``; logits and the outputs of the ``record`` areas."""
        batch, n_steps = x.shape[0], x.shape[1]
        blocks: tuple[CORblockRT, ...] = tuple(self.areas.values())  # type: ignore[assignment]
        wanted = set(record)
        record_index = [i for i, name in enumerate(self.area_names) if name in wanted]
        recorded: dict[str, list[Tensor]] = {self.area_names[i]: [] for i in record_index}
        previous: list[Tensor | None] = [None] * len(blocks)  # y_k(t - 1); None = zero (before step 0)
        # A static image is a stride-0 view over time: V1's input drive is then computed once.
        v1_drive = blocks[0].input_drive(x[:, 0], batch, x) if x.stride(1) == 0 else None
        features: list[Tensor] = []
        for t in range(n_steps):
            frame = x[:, t]
            # Every area reads the outputs of the *previous* step (its own and the lower area's), so the new
            # outputs go to a fresh list: this is the official one-step delay between areas.
            current = []
            for k, block in enumerate(blocks):
                if k == 0:
                    drive = v1_drive if v1_drive is not None else block.input_drive(frame, batch, x)
                else:
                    drive = block.input_drive(previous[k - 1], batch, x)
                current.append(block(drive, previous[k]))
            previous = current  # type: ignore[assignment]
            for i in record_index:
                recorded[self.area_names[i]].append(current[i])
            features.append(
                current[-1].mean(dim=(-2, -1))
            )  # official decoder: AdaptiveAvgPool2d(1) + flatten
        return self.classifier(torch.stack(features, dim=1)), recorded
