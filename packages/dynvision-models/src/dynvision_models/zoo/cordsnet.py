"""CordsNet: a convolutional continuous-time RNN dynamical system (CordsNet-R2/R4/R6/R8), as published.

Reference:
    Soo W. W. M., Battista A., Radmard P., Wang X.-J. (2024). Recurrent neural network dynamical systems for
    biological vision. Advances in Neural Information Processing Systems 37 (NeurIPS 2024).
    Official code: https://github.com/wmws2/cordsnet, ``cordsnet.py`` (class ``cordsnet``, methods
    ``forward``, ``rnn``, ``record``) and ``README.md``; weights ``cordsnetr8.pth`` (CordsNet-R8, ImageNet).
    This module re-describes that model; it shares no code with it.

Dynamics. Each area ``i = 0 .. D-1`` (``D = depth``) is a rate population ``r_i`` of shape ``(C_i, H_i, W_i)``
obeying ``tau dr_i/dt = -r_i + ReLU(W_rec,i * r_i + b_i + W_in,i * h_i)``, integrated with forward Euler at
``alpha = dt / tau`` (official: ``alpha = 0.2``, ``dt = 2 ms``, ``tau = 10 ms``)::

    r_i(t) = (1 - alpha) r_i(t-1) + alpha ReLU(W_rec,i * r_i(t-1) + b_i + W_in,i * h_i(t))
    s(t)   = AvgPool_3x3/2(W_stem * x(t))                                 the stimulus, 7x7/2 conv, no bias
    h_0(t) = s(t)
    h_1(t) = ReLU(r_0(t-1)) + W_skip,1 * s(t)                              3x3 conv of the stimulus
    h_i(t) = ReLU(r_{i-1}(t-1)) + S_i(ReLU(r_{i-2}(t-1)))    i >= 2       S_i = identity for even i,
                                                                          1x1/2 conv for odd i (3, 5, 7)
    logits(t) = W_out · mean_{h,w}(ReLU(r_{D-1}(t)) + ReLU(r_{D-2}(t))) + b_out

Note the order: the nonlinearity acts on the total input current, *then* the leaky integration; the recurrent
conv reads the state ``r`` itself (which stays >= 0). ``b_i`` is a spatial bias, one per unit ``(C_i, H_i,
W_i)``. Every convolution (stem, skips, recurrent, feedforward, readout) is weight-normalised (``w = g v /
||v||`` per output channel, :func:`torch.nn.utils.parametrizations.weight_norm`) and has no bias except the
readout. Channels ``C_i`` = 64, 64, 128, 128, 256, 256, 512, 512; the feedforward conv ``W_in,i`` (3x3) has
stride 2 for areas 2, 4, 6, so at 224x224 the areas are 56, 56, 28, 28, 14, 14, 7, 7 pixels wide.

Every area reads only the previous step's states (the official code updates the areas from the top down, in
place, which is the same synchronous update), so the stimulus reaches areas 0 and 1 at step 0 and every other
area one step after the earliest of its two sources: :meth:`CordsNet.first_driven_step` is 0, 0, 1, 1, 2, 2,
3, 3.

Presentation (official ``forward``/``record``): all states start at zero; ``idle_timesteps = 100`` steps with
a blank (zero) image, without gradient, bring the network to its spontaneous steady state (driven by the
biases); then the stimulus is shown for ``n_timesteps = 100`` steps (200 ms + 200 ms). The official
``forward`` returns the readout after the last stimulus step; here the readout is taken at every stimulus step
(the last one equals the official output) and idle steps are not returned. A sequence ``(B, T, C, H, W)``
shows frame ``t`` at step ``t``. (The official training script additionally averages the loss over stimulus
steps 70-99 and penalises the spontaneous state after the stimulus; that is training procedure, not the
model.)

Differences from the official code, none of which changes a number at 224x224: spatial sizes (states, spatial
biases) are computed from ``input_shape`` instead of hard-coded, and the stimulus conv is computed once per
frame instead of once per area and step (its result is the same).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

from .. import checks
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

__all__ = ["CORDSNET_DEPTHS", "CordsNet", "CordsNetArea"]

#: Depths (number of recurrent areas) of the published CordsNet-R2, -R4, -R6 and -R8.
CORDSNET_DEPTHS = (2, 4, 6, 8)
# Channels of area i and stride of its feedforward conv (official ``channels[i + 1]`` and ``strides[i]``).
_CHANNELS = (64, 64, 128, 128, 256, 256, 512, 512)
_STRIDES = (1, 1, 2, 1, 2, 1, 2, 1)
_STEM_CHANNELS = 64

_REASONS = {
    **COMMON_KWARG_REASONS,
    "train_tau": "the published model has one fixed alpha = dt / tau",
    "t_feedforward": "inter-area delays are fixed by the published update (one step; the stimulus none)",
    "t_recurrence": "the recurrent delay is fixed by the published Euler update (one step)",
    "solver": "the published update is forward Euler",
    "leak": "the published update leaks the rate towards the rectified drive, r <- (1 - alpha) r + alpha ReLU(u)",
    "bias": "the published bias is spatial, one per unit",
}


#: Specs (:mod:`dynvision_models.checks`) of CordsNet's kwargs that need more than the kind of their default.
_SPECS: dict[str, dict] = {
    "dt": {"kind": "number", "exclusive_minimum": 0, "doc": "the Euler time step in ms", "example": 2},
    "tau": {"kind": "number", "exclusive_minimum": 0, "doc": "the time constant in ms, >= dt", "example": 10},
    "depth": {
        "kind": "choice",
        "choices": list(CORDSNET_DEPTHS),
        "doc": "number of recurrent areas (CordsNet-R2 .. R8)",
    },
}


def _weight_normed(module: nn.Module) -> nn.Module:
    """``module`` with its weight parametrised as ``g v / ||v||`` (norm over all but the output dimension)."""
    return weight_norm(module, name="weight", dim=0)


def _weighted_conv(
    in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int
) -> nn.Module:
    """Weight-normalised conv without bias (all convs of CordsNet)."""
    return _weight_normed(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
    )


class CordsNetArea(nn.Module):
    """One CordsNet area: ``r <- (1 - alpha) r + alpha ReLU(W_rec * r + b + W_in * h)``.

    Args:
        in_channels: channels of the area's input current ``h`` (the lower area's, or the stimulus').
        channels: channels of the area.
        stride: stride of the feedforward conv ``W_in`` (3x3, padding 1).
        size: ``(H, W)`` of the area (shape of the spatial bias).
        skip: the module applied to the skip source before it is added to ``h``: ``None`` for area 0 (no
            skip), ``nn.Identity`` or a weight-normalised conv.

    Attributes:
        recurrent: weight-normalised 3x3 conv ``C -> C`` without bias (official ``area_conv[i]``).
        bias: spatial bias ``(C, H, W)``, initialised to zero (official ``conv_bias[i]``).
        feedforward: weight-normalised 3x3 conv ``C_in -> C`` without bias (official ``area_area[i]``).
        skip: see above (official ``inp_skip`` for area 1, ``skip_area[k]`` for areas 3, 5, 7).
    """

    def __init__(
        self, in_channels: int, channels: int, stride: int, size: tuple[int, int], skip: nn.Module | None
    ) -> None:
        super().__init__()
        self.channels = channels
        self.size = size
        self.recurrent = _weighted_conv(channels, channels, 3, 1, 1)
        self.bias = nn.Parameter(torch.zeros(channels, *size))
        self.feedforward = _weighted_conv(in_channels, channels, 3, stride, 1)
        self.skip = skip

    def forward(self, rate: Tensor, current: Tensor, alpha: float) -> Tensor:
        """One Euler step of ``tau dr/dt = -r + ReLU(W_rec * r + b + W_in * h)``.

        Args:
            rate: ``r(t-1)`` ``(B, C, H, W)``.
            current: the input current ``h(t)`` ``(B, C_in, H_in, W_in)``.
            alpha: ``dt / tau`` (dimensionless).

        Returns:
            ``r(t)`` ``(B, C, H, W)``.
        """
        drive = torch.relu(self.recurrent(rate) + self.bias + self.feedforward(current))
        return (1 - alpha) * rate + alpha * drive

    def extra_repr(self) -> str:
        return f"size={self.size}"


@register_model()
class CordsNet(nn.Module):
    """CordsNet-R``depth`` (Soo et al. 2024): convolutional continuous-time RNN with a spontaneous period.

    See the module docstring for the equations. Units: ``dt`` and ``tau`` in ms; ``n_timesteps`` and
    ``idle_timesteps`` in steps of ``dt`` ms. Kwargs that the temporal models share but CordsNet does not have
    (``train_tau``, the ``t_*`` delays, ``recurrence_type``, ``skip``, ``feedback``, ``solver``, ``bias``,
    ``tbptt_steps``, ...) are rejected with a ``TypeError`` that says why, rather than silently ignored.

    The forward pass caches the weight-norm parametrisations itself (once for the idle stage, without
    gradient, once for the stimulus stage). Do not wrap a training forward in your own
    :func:`torch.nn.utils.parametrize.cached`: the gradient-free weights of the idle stage would stay cached
    for the stimulus stage, and the weights would get no gradient.

    Args:
        n_classes: output classes (1000 for the official ImageNet checkpoint; 100 or 10 for the CIFAR and
            MNIST models of the paper).
        input_shape: ``(C, H, W)`` of a stimulus frame (official: ``(3, 224, 224)``; 1 channel for
            (Fashion-)MNIST).
        n_timesteps: stimulus steps a static image is shown for (official 100); a ``(B, T, ...)`` input sets
            ``T``.
        dt: integration time step in ms (official 2).
        tau: time constant of every unit in ms (official 10); ``alpha = dt / tau`` must be in ``(0, 1]``.
        idle_timesteps: steps of blank input before the stimulus, run without gradient and not returned
            (official 100).
        depth: number of recurrent areas, one of 2, 4, 6, 8 (CordsNet-R2 .. R8; the released checkpoint is
            R8).

    Attributes:
        area_names: ``("area0", ..., "area{depth-1}")``, numbered as the official ``rs[i]`` /
            ``record(layers=...)``.
        areas: ``nn.ModuleDict`` of :class:`CordsNetArea`.
        stem: weight-normalised 7x7/2 conv without bias (official ``inp_conv``) and 3x3/2 average pool.
        classifier: weight-normalised ``Linear(C_{D-1}, n_classes)`` (official ``out_fc``).
    """

    #: Catalogue facts (:func:`dynvision_models.describe_models`): specs, rejected kwargs, Euler's limit.
    KWARG_SPECS = _SPECS
    REJECTED_KWARGS = _REASONS
    TIME_LIMITS: ClassVar[dict[str, Any]] = {"max_alpha": 1.0, "solver": "euler"}

    def __init__(
        self,
        *,
        n_classes: int = 1000,
        input_shape: Sequence[int] = (3, 224, 224),
        n_timesteps: int = 100,
        dt: float = 2.0,
        tau: float = 10.0,
        idle_timesteps: int = 100,
        depth: int = 8,
        **unsupported: object,
    ) -> None:
        accepted = ("n_classes", "input_shape", "n_timesteps", "dt", "tau", "idle_timesteps", "depth")
        reject_kwargs(type(self).__name__, unsupported, accepted, _REASONS)
        super().__init__()
        self.n_classes = check_positive_int("n_classes", n_classes)
        self.n_timesteps = check_positive_int("n_timesteps", n_timesteps)
        self.idle_timesteps = check_positive_int("idle_timesteps", idle_timesteps, minimum=0)
        self.input_shape = check_input_shape(input_shape)
        checks.raise_problems(checks.value_problems("depth", depth, _SPECS["depth"]))
        self.depth = depth
        self.dt, self.tau = self._check_time(dt, tau)
        self.alpha = self.dt / self.tau

        in_channels, height, width = self.input_shape
        self.stem = nn.Sequential()
        self.stem.add_module("conv", _weighted_conv(in_channels, _STEM_CHANNELS, 7, 2, 3))
        self.stem.add_module("pool", nn.AvgPool2d(kernel_size=3, stride=2, padding=1))
        # Spatial sizes follow the convs (computed, not the official hard-coded 56 .. 7): the stem halves
        # twice (7x7/2 conv, 3x3/2 average pool), each stride-2 area halves again (padded: never below 1 px).
        height = conv_output_size(conv_output_size(height, 7, 2, 3), 3, 2, 1)
        width = conv_output_size(conv_output_size(width, 7, 2, 3), 3, 2, 1)
        areas: dict[str, CordsNetArea] = {}
        shapes: list[tuple[int, int, int]] = []
        previous_channels = _STEM_CHANNELS
        for i in range(depth):
            channels, stride = _CHANNELS[i], _STRIDES[i]
            height, width = conv_output_size(height, 3, stride, 1), conv_output_size(width, 3, stride, 1)
            skip: nn.Module | None
            if i == 0:
                skip = None
            elif i == 1:
                # The stimulus also reaches area 1 directly, through a 3x3 conv (official inp_skip).
                skip = _weighted_conv(_STEM_CHANNELS, _STEM_CHANNELS, 3, 1, 1)
            elif i % 2 == 1:
                # Residual projection of area i-2 across the stride-2 area i-1 (official skip_area).
                skip = _weighted_conv(_CHANNELS[i - 2], channels, 1, 2, 0)
            else:
                # Same shape: identity residual.
                skip = nn.Identity()
            areas[f"area{i}"] = CordsNetArea(previous_channels, channels, stride, (height, width), skip)
            shapes.append((channels, height, width))
            previous_channels = channels
        self.areas = nn.ModuleDict(areas)
        self.area_names: tuple[str, ...] = tuple(areas)
        self.area_shapes: tuple[tuple[int, int, int], ...] = tuple(shapes)
        self.classifier = _weight_normed(nn.Linear(previous_channels, self.n_classes))

        # Earliest arrival of the stimulus (in steps): areas 0 and 1 read it directly, area i >= 2 reads areas
        # i-1 and i-2 with a delay of one step.
        arrival = [0] * depth
        for i in range(2, depth):
            arrival[i] = min(arrival[i - 1], arrival[i - 2]) + 1
        self._arrival: tuple[int, ...] = tuple(arrival)

    @staticmethod
    def _check_time(dt: float, tau: float) -> tuple[float, float]:
        problems = [
            p for key, value in (("dt", dt), ("tau", tau)) for p in checks.value_problems(key, value, _SPECS[key])
        ]
        if not problems:
            problems = checks.tau_problems(
                tau, float(dt), CordsNet.TIME_LIMITS["max_alpha"], CordsNet.TIME_LIMITS["solver"]
            )
        checks.raise_problems(problems, "CordsNet")
        return float(dt), float(tau)

    # ------------------------------------------------------------------ public API
    def first_driven_step(self, area: str) -> int:
        """First stimulus step (0-based) at which a stimulus shown from step 0 reaches ``area``.

        ``0, 0, 1, 1, 2, 2, 3, 3`` for areas 0..7 (the readout, areas D-1 and D-2, changes from step 3 in R8).
        A stimulus change at step ``t0`` first changes ``area`` at ``t0 + first_driven_step(area)``; before
        that the area follows its spontaneous dynamics.
        """
        return self._arrival[area_index(area, self.area_names)]

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, T, n_classes)`` for ``x`` of shape ``(B, T, C, H, W)`` or static ``(B, C, H, W)``."""
        logits, _ = self._unroll(check_input_sequence(x, self.input_shape, self.n_timesteps), ())
        return logits

    def forward_intermediates(
        self, x: Tensor, areas: Iterable[str] | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Logits and per-area rates at every stimulus step (idle steps excluded).

        Args:
            x: ``(B, T, C, H, W)`` or static ``(B, C, H, W)`` (shown for ``n_timesteps`` steps).
            areas: names of the areas to record (default: all).

        Returns:
            ``(logits, responses)``: logits ``(B, T, n_classes)``; ``responses[area]`` is ``(B, T, C_a, H_a,
            W_a)``, the state ``r_a(t)`` after step ``t`` (what the official ``record`` stores).
        """
        names = check_area_names(areas, self.area_names)
        logits, recorded = self._unroll(check_input_sequence(x, self.input_shape, self.n_timesteps), names)
        return logits, {name: torch.stack(recorded[name], dim=1) for name in names}

    def official_key_map(self) -> dict[str, str]:
        """Official state-dict key -> this model's key, for every parameter.

        ``inp_conv.*`` -> ``stem.conv.*``; ``inp_skip.*`` -> ``areas.area1.skip.*``; ``area_conv.{i}.*`` ->
        ``areas.area{i}.recurrent.*``; ``area_area.{i}.*`` -> ``areas.area{i}.feedforward.*``;
        ``conv_bias.{i}`` -> ``areas.area{i}.bias``; ``skip_area.{k}.*`` -> ``areas.area{2k+3}.skip.*``;
        ``out_fc.*`` -> ``classifier.*``. Weight-normalised weights are
        ``<name>.parametrizations.weight.original0`` (``g``) and ``.original1`` (``v``) on both sides.
        """
        return {_official_name(key): key for key in self.state_dict()}

    def load_official_checkpoint(
        self,
        source: str | os.PathLike | Mapping[str, Any],
        *,
        strict_classifier: bool = True,
        map_location: Any = "cpu",
    ) -> CordsNet:
        """Load the official CordsNet weights (e.g. ``cordsnetr8.pth``) from a local file or mapping.

        The official file is a flat state dict of ``cordsnet(dataset, depth)`` (keys as in
        :meth:`official_key_map`). Also accepted: a ``{"state_dict": ...}`` wrapper, a ``"module."`` prefix
        (from multi-GPU training; the official ``utils.remove_data_parallel`` strips it) and weight-norm
        weights under the older ``<name>.weight_g`` / ``<name>.weight_v`` names. No network access.

        Args:
            source: path of the checkpoint, or an already loaded state dict.
            strict_classifier: if ``False``, keep this model's freshly initialised classifier instead of the
                checkpoint's ``out_fc`` (for another ``n_classes``).
            map_location: passed to ``torch.load``.

        Returns:
            ``self``.

        Raises:
            ValueError: the checkpoint does not match (names every missing and unexpected key and every shape
                mismatch, in official names, with hints on ``depth`` and ``input_shape``).
        """
        state = {_modern_weight_norm_name(k): v for k, v in read_state_dict(source, map_location).items()}
        hints = []
        depths = {int(m.group(1)) for k in state if (m := re.match(r"area_conv\.(\d+)\.", k))}
        if depths and max(depths) + 1 != self.depth:
            hints.append(
                f"The checkpoint has {max(depths) + 1} areas: build the model with depth={max(depths) + 1}."
            )
        expected_bias = tuple(self.areas["area0"].bias.shape)
        if "conv_bias.0" in state and tuple(state["conv_bias.0"].shape) != expected_bias:
            hints.append(
                "The spatial biases (conv_bias) fix the input size: a checkpoint with conv_bias.0 of shape "
                f"{tuple(state['conv_bias.0'].shape)} needs the input_shape it was trained on (official: "
                f"(3, 224, 224)); this model has input_shape={self.input_shape}."
            )
        load_official_state_dict(
            self,
            state,
            self.official_key_map(),
            model_label=f"CordsNet-R{self.depth}",
            strict_classifier=strict_classifier,
            hints=hints,
        )
        return self

    @classmethod
    def from_official_checkpoint(
        cls, source: str | os.PathLike | Mapping[str, Any], *, map_location: Any = "cpu", **kwargs: Any
    ) -> CordsNet:
        """Build a model (constructor ``kwargs``, official defaults) and load the official weights into it."""
        return cls(**kwargs).load_official_checkpoint(source, map_location=map_location)

    def extra_repr(self) -> str:
        return (
            f"depth={self.depth}, input_shape={self.input_shape}, n_timesteps={self.n_timesteps}, "
            f"idle_timesteps={self.idle_timesteps}, dt={self.dt} ms, tau={self.tau} ms, alpha={self.alpha:g}"
        )

    # ------------------------------------------------------------------ internals
    def _step(self, rates: list[Tensor], stimulus: Tensor, alpha: float) -> list[Tensor]:
        """Advance all areas by one step; every area reads only ``rates`` (the previous step's states).

        ``stimulus`` is the stem's output ``s(t)`` ``(B, 64, H_s, W_s)``.
        """
        relu = torch.relu
        areas: tuple[CordsNetArea, ...] = tuple(self.areas.values())  # type: ignore[assignment]
        new = []
        for i, area in enumerate(areas):
            if i == 0:
                current = stimulus
            else:
                source = stimulus if i == 1 else relu(rates[i - 2])
                current = relu(rates[i - 1]) + area.skip(source)  # type: ignore[misc]
            new.append(area(rates[i], current, alpha))
        return new

    def _readout_features(self, rates: list[Tensor]) -> Tensor:
        """``mean_{h,w}(ReLU(r_{D-1}) + ReLU(r_{D-2}))``, ``(B, C_{D-1})`` (official ``out_avgpool``)."""
        return (torch.relu(rates[-1]) + torch.relu(rates[-2])).mean(dim=(-2, -1))

    def _unroll(self, x: Tensor, record: Iterable[str]) -> tuple[Tensor, dict[str, list[Tensor]]]:
        """Idle steps, then the steps of ``x`` ``(B, T, C, H, W)``; logits, rates of the ``record`` areas."""
        batch, n_steps = x.shape[0], x.shape[1]
        alpha = self.alpha
        wanted = set(record)
        record_index = [i for i, name in enumerate(self.area_names) if name in wanted]
        recorded: dict[str, list[Tensor]] = {self.area_names[i]: [] for i in record_index}
        rates = [x.new_zeros(batch, *shape) for shape in self.area_shapes]

        if self.idle_timesteps:
            # Spontaneous period: blank image, no gradient (as published). The weight-norm parametrisations
            # are evaluated once per stage (cached), not once per step; this cache holds no autograd graph, so
            # it is dropped before the stimulus stage.
            with torch.no_grad(), parametrize.cached():
                blank = self.stem(x.new_zeros(1, *self.input_shape)).expand(batch, -1, -1, -1)
                for _ in range(self.idle_timesteps):
                    rates = self._step(rates, blank, alpha)

        # A static image is a stride-0 view over time: its stimulus drive is computed once.
        static = x.stride(1) == 0
        features: list[Tensor] = []
        with parametrize.cached():
            stimulus = self.stem(x[:, 0]) if static else None
            for t in range(n_steps):
                if not static:
                    stimulus = self.stem(x[:, t])
                rates = self._step(rates, stimulus, alpha)  # type: ignore[arg-type]
                for i in record_index:
                    recorded[self.area_names[i]].append(rates[i])
                features.append(self._readout_features(rates))
            logits = self.classifier(torch.stack(features, dim=1))
        return logits, recorded


def _official_name(key: str) -> str:
    """The official state-dict key of this model's ``key`` (see :meth:`CordsNet.official_key_map`)."""
    if key.startswith("stem.conv."):
        return "inp_conv." + key[len("stem.conv.") :]
    if key.startswith("classifier."):
        return "out_fc." + key[len("classifier.") :]
    match = re.fullmatch(r"areas\.area(\d+)\.(recurrent|feedforward|bias|skip)(\..*)?", key)
    if match is None:  # pragma: no cover - the model has no other parameters
        raise AssertionError(f"No official name for {key!r}.")
    index, part, rest = int(match.group(1)), match.group(2), match.group(3) or ""
    if part == "recurrent":
        return f"area_conv.{index}{rest}"
    if part == "feedforward":
        return f"area_area.{index}{rest}"
    if part == "bias":
        return f"conv_bias.{index}"
    if index == 1:
        return "inp_skip" + rest
    return f"skip_area.{(index - 3) // 2}{rest}"


def _modern_weight_norm_name(key: str) -> str:
    """Rename legacy ``torch.nn.utils.weight_norm`` keys (``weight_g``, ``weight_v``) as parametrisations."""
    if key.endswith(".weight_g"):
        return key[: -len("weight_g")] + "parametrizations.weight.original0"
    if key.endswith(".weight_v"):
        return key[: -len("weight_v")] + "parametrizations.weight.original1"
    return key
