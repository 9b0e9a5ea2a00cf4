"""AlexNet (Krizhevsky et al. 2012, torchvision layout) on the temporal engine, with optional recurrence.

Five areas ``conv1`` .. ``conv5`` (:class:`~dynvision_models.layers.RecurrentArea`) and torchvision's
three-layer classifier. Shapes at the default 224x224 input (``C x H x W`` of each area's rate, then of its
output after pooling)::

    conv1  11x11/4, pad 2,   64 ch   55x55  -> max-pool 3/2 -> 27x27
    conv2   5x5/1,  pad 2,  192 ch   27x27  -> max-pool 3/2 -> 13x13
    conv3   3x3/1,  pad 1,  384 ch   13x13
    conv4   3x3/1,  pad 1,  256 ch   13x13
    conv5   3x3/1,  pad 1,  256 ch   13x13  -> max-pool 3/2 -> 6x6 -> adaptive average pool to 6x6
    classifier: flatten (9216) -> dropout -> Linear 9216->4096 -> ReLU -> dropout -> Linear 4096->4096 -> ReLU
                -> Linear 4096->n_classes

The pools are torchvision's (max-pool 3x3, stride 2, no padding); the adaptive average pool belongs to conv5's
output (the engine's ``"flatten"`` readout then feeds the classifier), so any input of at least 63x63 pixels
gives the 9216 classifier features. With 1000 classes and no recurrence the model has 61,100,840 parameters,
exactly torchvision's ``alexnet``; :meth:`AlexNet.load_official_state_dict` loads torchvision's checkpoint key
layout (``features.{0,3,6,8,10}.*``, ``classifier.{1,4,6}.*``) from a local file.

Dynamics (see :mod:`dynvision_models.engine.temporal`; times in ms): each area integrates its drive
``u = W * s + b (+ R(r(t - t_recurrence)))`` with ``tau dh/dt = -h + u``, rate ``r = ReLU(h)``. The defaults
``dt = tau = 1`` give ``alpha = dt / tau = 1``, where the Euler step ``h(t) = h + alpha (u - h)`` is exactly
``h(t) = u(t)``: without recurrence (``recurrence_type="none"``, the default) the model is the classic
feedforward AlexNet applied to every frame, one classification per step. ``tau > dt`` gives leaky dynamics
(``h`` relaxes towards ``u`` with ``alpha < 1`` per step); ``recurrence_type`` (any registered type, e.g.
``"full"`` or ``"self"``) adds lateral recurrence with a ``recurrence_kernel_size`` kernel (default 3x3 in every
area, also in conv1 whose feedforward kernel is 11x11). Upstream DynVision's AlexNet also had ``dt=1`` and
zero delays.

``fixed_self_weight=w`` (as upstream) makes the lateral recurrence of every area a fixed self-connection: each
unit receives its own past rate times ``w``, ``R(r) = w r`` (:class:`FixedSelfRecurrence`). The weight is a
buffer, not a parameter: it is never trained (no gradient, not in ``model.parameters()``), and it is saved and
loaded with the state dict under the key of a trainable ``"self"`` recurrence (``areas.<area>.recurrence.weight``,
shape ``(1, C, 1, 1)``). It implies ``recurrence_type="self"``: the default ``"none"`` becomes ``"self"``, and any
other type is a ``ValueError``. With ``dt = tau`` and ``recurrence_target="output"``, a conv1 unit with positive
drive ``u`` from a static image then has the rate ``u`` at the first step and ``(1 + w) u`` at the next
(``w > -1``).

Initialisation: convs Kaiming-normal (``fan_in``, ReLU gain) with zero bias (as every engine area), the
classifier PyTorch's default ``Linear`` init (as torchvision), recurrent weights uniform in
``±recurrence_init_scale``.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from .. import checks
from ..engine.temporal import TemporalModel, engine_parameters, engine_signature
from ..layers.area import RecurrentArea
from ..registry import register_model
from ._contract import describe_key_problems, read_state_dict, reject_kwargs

__all__ = [
    "ALEXNET_AREAS",
    "ALEXNET_ENGINE_DEFAULTS",
    "ALEXNET_KWARG_SPECS",
    "OFFICIAL_KEY_MAP",
    "UNSUPPORTED_KWARGS",
    "AlexNet",
    "FixedSelfRecurrence",
]

#: Areas of AlexNet in feedforward order.
ALEXNET_AREAS = ("conv1", "conv2", "conv3", "conv4", "conv5")
# (out_channels, kernel_size, stride, padding, max-pool after) of each area, as torchvision's ``features``.
_SPECS = (
    (64, 11, 4, 2, True),
    (192, 5, 1, 2, True),
    (384, 3, 1, 1, False),
    (256, 3, 1, 1, False),
    (256, 3, 1, 1, True),
)
# Index of each area's conv in torchvision's ``features`` Sequential.
_FEATURE_INDEX = (0, 3, 6, 8, 10)
# Spatial size of the adaptive average pool before the classifier, and the classifier's hidden width.
_POOLED = (6, 6)
_HIDDEN = 4096

#: torchvision key -> :class:`AlexNet` key, for every parameter of the feedforward model (channel biases).
OFFICIAL_KEY_MAP: dict[str, str] = {
    **{
        f"features.{index}.{kind}": f"areas.{area}.ff.{kind}"
        for area, index in zip(ALEXNET_AREAS, _FEATURE_INDEX, strict=True)
        for kind in ("weight", "bias")
    },
    **{f"classifier.{i}.{kind}": f"classifier.{i}.{kind}" for i in (1, 4, 6) for kind in ("weight", "bias")},
}
# The last classifier layer: left out by ``strict_classifier=False`` when it does not fit.
_LAST_LAYER = ("classifier.6.weight", "classifier.6.bias")

#: Common temporal kwargs (and DyRCNN kwargs) AlexNet does not take -> why (a DyRCNN config fails loudly).
_NO_CONNECTIONS = "AlexNet has no skip or feedback connections"
UNSUPPORTED_KWARGS: dict[str, str] = {
    "skip": _NO_CONNECTIONS,
    "feedback": _NO_CONNECTIONS,
    "t_skip": _NO_CONNECTIONS,
    "t_feedback": _NO_CONNECTIONS,
    "skip_mode": _NO_CONNECTIONS,
    "feedback_mode": _NO_CONNECTIONS,
    "readout": "AlexNet's readout is fixed (adaptive average pool to 6x6, flatten, three-layer classifier)",
    "channels": "AlexNet's widths are fixed (64, 192, 384, 256, 256)",
    "norm": "AlexNet has no normalisation layers",
}
#: AlexNet's defaults of engine kwargs, where they differ from the engine's (or it has none); every other
#: engine kwarg that applies keeps the engine's default.
ALEXNET_ENGINE_DEFAULTS: dict[str, Any] = {
    "n_classes": 1000,
    "input_shape": (3, 224, 224),
    "n_timesteps": 1,
    "dt": 1.0,
    "tau": 1.0,
    "recurrence_type": "none",
}
# Recurrence types that fixed_self_weight can be combined with ("none" then means "self").
_FIXED_SELF_TYPES = ("self", "none")
#: Specs (:mod:`dynvision_models.checks`) of AlexNet's own kwargs (the constructor checks them with these).
ALEXNET_KWARG_SPECS: dict[str, dict[str, Any]] = {
    "recurrence_kernel_size": {
        "kind": "int",
        "minimum": 1,
        "odd": True,
        "doc": "kernel of convolutional recurrence in px",
        "example": 3,
    },
    "recurrence_init_scale": {
        "kind": "number",
        "minimum": 0,
        "doc": "recurrent weights start uniform in +-this",
        "example": 0.001,
    },
    "dropout": {
        "kind": "number",
        "minimum": 0,
        "maximum": 1,
        "doc": "dropout probability of the classifier",
        "example": 0.5,
    },
    "fixed_self_weight": {
        "kind": "number",
        "nullable": True,
        "requires": {"recurrence_type": list(_FIXED_SELF_TYPES)},
        "doc": "weight of a fixed, untrained self-connection of every unit (null = trainable recurrence)",
        "example": 0.5,
    },
}
# AlexNet's own kwargs and their defaults (after the engine's in its signature).
_OWN_DEFAULTS: dict[str, Any] = {
    "recurrence_kernel_size": 3,
    "recurrence_init_scale": 1e-3,
    "dropout": 0.5,
    "fixed_self_weight": None,
}


class FixedSelfRecurrence(nn.Module):
    """Fixed self-connection: each unit feeds back onto itself with one constant, untrained weight ``w``.

    ``R(r) = w r``. The weight is a buffer (``weight``, shape ``(1, C, 1, 1)`` like the trainable ``"self"``
    recurrence's parameter, so state dicts fit both ways): no gradient, no optimiser step, saved and loaded with
    the state dict.

    Args:
        channels: channels ``C`` of the area's rate.
        weight: the fixed weight ``w``.
    """

    weight: Tensor

    def __init__(self, channels: int, weight: float) -> None:
        super().__init__()
        self.register_buffer("weight", torch.full((1, channels, 1, 1), float(weight)))

    def forward(self, r: Tensor) -> Tensor:
        """``r``: past rate ``(B, C, H, W)`` -> ``w * r`` of the same shape."""
        return r * self.weight


def _check_fixed_self_weight(value: object, recurrence_type: object) -> float | None:
    """``fixed_self_weight`` as a float (``None`` if not given), or a ``ValueError`` saying what is allowed."""
    checks.raise_problems(
        checks.value_problems(
            "fixed_self_weight",
            value,
            ALEXNET_KWARG_SPECS["fixed_self_weight"],
            values={"recurrence_type": recurrence_type},
        )
    )
    return None if value is None else float(value)  # type: ignore[arg-type]


@register_model()
class AlexNet(TemporalModel):
    """AlexNet with areas ``conv1`` .. ``conv5`` on the temporal engine; classic AlexNet by default.

    Input ``(B, T, C, H, W)`` or a static ``(B, C, H, W)`` shown for ``n_timesteps`` steps; output logits
    ``(B, T, n_classes)``. See the module docstring for the layers, shapes and dynamics. Kwargs that do not
    apply (``skip``, ``feedback``, their delays and modes, ``readout``) are rejected with a ``TypeError`` that
    says why.

    Args:
        n_classes: output classes (1000 for torchvision's ImageNet checkpoint).
        input_shape: ``(C, H, W)`` of a stimulus frame; ``H, W >= 63`` px (the 11x11/4 stem and three 3/2
            max-pools need it).
        n_timesteps: steps a static image is shown for (default 1: one feedforward pass).
        dt: integration time step in ms (default 1).
        tau: membrane time constant in ms, one value or one per area (default 1 = ``dt``: no leak, exactly
            feedforward with the Euler solver); ``tau > dt`` gives leaky integration.
        t_recurrence: delay of the lateral recurrence in ms (``None`` = ``dt``).
        recurrence_type: lateral recurrence by name (default ``"none"``; any registered type).
        recurrence_kernel_size: kernel of convolutional recurrence types in every area (default 3).
        recurrence_init_scale: recurrent weights start uniform in ``±recurrence_init_scale``.
        dropout: dropout probability before each of the first two classifier layers (torchvision: 0.5).
            Dropout is active in training mode only, independently at every step.
        fixed_self_weight: if given (a finite number), the lateral recurrence of every area is a fixed,
            untrained self-connection of this weight (:class:`FixedSelfRecurrence`, as upstream's option); it
            implies ``recurrence_type="self"`` (``"none"`` becomes ``"self"``; other types raise
            ``ValueError``). ``recurrence_init_scale`` then does not apply. Default ``None``: the recurrence
            of ``recurrence_type``, trainable.
        train_tau, t_feedforward, recurrence_target, integration, solver, idle_timesteps, tbptt_steps,
        feedforward_only, supralinearity, bias, use_retina, adaptation: as in
            :class:`~dynvision_models.engine.TemporalModel` (``recurrence_target="middle"`` is rejected:
            the areas have one conv each). Only ``bias="channel"`` without retina matches the official
            checkpoint.
        **engine_kwargs: every :class:`~dynvision_models.engine.TemporalModel` kwarg that applies (the class's
            signature, ``inspect.signature(AlexNet)``, lists them with AlexNet's defaults,
            :data:`ALEXNET_ENGINE_DEFAULTS`); the ones that do not apply (:data:`UNSUPPORTED_KWARGS`) and
            unknown names raise ``TypeError``.

    Attributes:
        area_names: ``("conv1", "conv2", "conv3", "conv4", "conv5")``.
        areas: ``nn.ModuleDict`` of :class:`~dynvision_models.layers.RecurrentArea`; ``areas[a].ff`` is the
            feedforward conv (torchvision ``features.{0,3,6,8,10}``).
        classifier: ``nn.Sequential(Dropout, Linear, ReLU, Dropout, Linear, ReLU, Linear)``, torchvision's
            ``classifier`` (same indices), applied to the ``(B, T, 9216)`` features of every step.
    """

    #: Engine kwargs AlexNet does not take -> why (the catalogue and the errors say it).
    REJECTED_KWARGS = UNSUPPORTED_KWARGS
    KWARG_SPECS = ALEXNET_KWARG_SPECS
    ENGINE_STRUCTURE: ClassVar[dict[str, Any]] = {"areas": list(ALEXNET_AREAS), "middle_stage": [False] * len(ALEXNET_AREAS)}

    def __init__(
        self,
        *,
        recurrence_kernel_size: int = 3,
        recurrence_init_scale: float = 1e-3,
        dropout: float = 0.5,
        fixed_self_weight: float | None = None,
        **engine_kwargs: Any,
    ) -> None:
        # The engine kwargs are the engine's own (TemporalModel's signature), with AlexNet's defaults; the class's
        # published signature (AlexNet.__signature__) lists them, so a new engine kwarg needs no edit here.
        accepted = tuple(inspect.signature(type(self)).parameters)
        reject_kwargs(
            type(self).__name__,
            {k: v for k, v in engine_kwargs.items() if k not in accepted},
            accepted,
            UNSUPPORTED_KWARGS,
        )
        namespace = {**ALEXNET_ENGINE_DEFAULTS, **engine_kwargs}
        recurrence_type = namespace["recurrence_type"]
        own = {"recurrence_kernel_size": recurrence_kernel_size, "recurrence_init_scale": recurrence_init_scale,
               "dropout": dropout}
        checks.raise_problems(
            [p for key, value in own.items() for p in checks.value_problems(key, value, ALEXNET_KWARG_SPECS[key])],
            type(self).__name__,
        )
        dropout = float(dropout)
        fixed_self_weight = _check_fixed_self_weight(fixed_self_weight, recurrence_type)
        if fixed_self_weight is not None:
            namespace["recurrence_type"] = "self"
        super().__init__(readout="flatten", **namespace)
        self.dropout = dropout
        self.fixed_self_weight = fixed_self_weight
        self.recurrence_kernel_size = recurrence_kernel_size
        self.recurrence_init_scale = recurrence_init_scale
        self._check_structure(ALEXNET_AREAS, [False] * len(ALEXNET_AREAS))

        areas: dict[str, RecurrentArea] = {}
        in_channels = self.stimulus_channels
        for i, (name, (width, kernel, stride, padding, pool)) in enumerate(
            zip(ALEXNET_AREAS, _SPECS, strict=True)
        ):
            pooling: nn.Module | None = nn.MaxPool2d(kernel_size=3, stride=2) if pool else None
            if i == len(_SPECS) - 1:
                pooling = nn.Sequential(pooling, nn.AdaptiveAvgPool2d(_POOLED))  # type: ignore[arg-type]
            area = RecurrentArea(
                in_channels,
                width,
                kernel_size=kernel,
                stride=stride,
                recurrence_type=self.recurrence_type,
                recurrence_kernel_size=recurrence_kernel_size,
                recurrence_init_scale=recurrence_init_scale,
                recurrence_target=self.recurrence_target,
                integration=self.integration,
                bias=self.bias,
                pool=pooling,
            )
            # RecurrentArea pads by kernel // 2; torchvision's 11x11 stem pads by 2 (the others agree).
            area.ff.padding = (padding, padding)
            if fixed_self_weight is not None:
                area.recurrence = FixedSelfRecurrence(width, fixed_self_weight)
            areas[name] = area
            in_channels = width
        self._build(areas)
        # The engine builds a single Linear on the flattened readout (9216 features); AlexNet's head replaces
        # it. The engine applies ``self.classifier`` to the stacked features (B, T, 9216) once per forward.
        n_features = in_channels * _POOLED[0] * _POOLED[1]
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(n_features, _HIDDEN),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(_HIDDEN, _HIDDEN),
            nn.ReLU(),
            nn.Linear(_HIDDEN, self.n_classes),
        )

    # ------------------------------------------------------------------ official weights
    @staticmethod
    def official_key_map() -> dict[str, str]:
        """torchvision key -> this model's key (:data:`OFFICIAL_KEY_MAP`, a copy)."""
        return dict(OFFICIAL_KEY_MAP)

    def load_official_state_dict(
        self,
        path_or_dict: str | os.PathLike | Mapping[str, Any],
        strict_classifier: bool = True,
        *,
        map_location: Any = "cpu",
    ) -> AlexNet:
        """Load weights in torchvision's AlexNet key layout from a local file or a state dict (no network).

        Keys: ``features.{0,3,6,8,10}.{weight,bias}`` (conv1 .. conv5) and ``classifier.{1,4,6}.{weight,bias}``;
        an optional ``{"state_dict": ...}`` wrapper and ``"module."`` prefixes are accepted. Parameters that
        the official model lacks (recurrence, learnt tau, a fixed self-weight) keep their current values. Nothing is loaded unless
        everything fits.

        Args:
            path_or_dict: path of the checkpoint (read with ``torch.load(weights_only=True)``), or a mapping.
            strict_classifier: if ``False``, the last classifier layer (``classifier.6``) is loaded only when
                the checkpoint has it with this model's shape; otherwise the model keeps its freshly
                initialised last layer (e.g. for another ``n_classes``). The hidden layers are always loaded.
            map_location: passed to ``torch.load``.

        Returns:
            ``self``.

        Raises:
            ValueError: the model is not built like the official one (``bias``, ``use_retina``), or the
                checkpoint does not match: the message lists every missing and unexpected key and every shape
                mismatch (checkpoint vs model), in torchvision names.
        """
        if self.bias != "channel" or self.use_retina:
            raise ValueError(
                "The official AlexNet has one bias per channel and no retina; this model was built with "
                f"bias={self.bias!r}, use_retina={self.use_retina}. Build it with bias='channel', "
                "use_retina=False to load official weights."
            )
        state = read_state_dict(path_or_dict, map_location)
        local = self.state_dict()
        optional = set() if strict_classifier else set(_LAST_LAYER)
        missing = sorted(k for k in OFFICIAL_KEY_MAP if k not in state and k not in optional)
        unexpected = sorted(k for k in state if k not in OFFICIAL_KEY_MAP)
        mismatched = sorted(
            (k, tuple(state[k].shape), tuple(local[v].shape))
            for k, v in OFFICIAL_KEY_MAP.items()
            if k in state and k not in optional and state[k].shape != local[v].shape
        )
        if missing or unexpected or mismatched:
            problems = describe_key_problems(missing, unexpected, mismatched)
            advice = ""
            if any(k in _LAST_LAYER for k, _, _ in mismatched):
                advice = (
                    f" The last classifier layer does not fit this model's n_classes={self.n_classes}: pass "
                    "strict_classifier=False to keep a freshly initialised last layer, or build the model "
                    "with the checkpoint's n_classes."
                )
            if self.input_shape[0] != 3:
                advice += f" The official model takes 3 input channels; input_shape={self.input_shape}."
            raise ValueError(
                f"The state dict does not match torchvision's AlexNet layout expected by {type(self).__name__}: "
                + "; ".join(problems)
                + "."
                + advice
            )
        translated = {
            v: state[k]
            for k, v in OFFICIAL_KEY_MAP.items()
            if k in state and state[k].shape == local[v].shape
        }
        result = self.load_state_dict(translated, strict=False)
        if result.unexpected_keys:  # a bug of the key map, not of the checkpoint
            raise AssertionError(f"Unexpected load result: {result}.")
        return self

    @classmethod
    def from_official_state_dict(
        cls,
        path_or_dict: str | os.PathLike | Mapping[str, Any],
        *,
        strict_classifier: bool = True,
        map_location: Any = "cpu",
        **kwargs: Any,
    ) -> AlexNet:
        """Build a model (constructor ``kwargs``) and load torchvision-layout weights into it."""
        return cls(**kwargs).load_official_state_dict(
            path_or_dict, strict_classifier, map_location=map_location
        )

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, recurrence_kernel_size={self.recurrence_kernel_size}, "
            f"dropout={self.dropout}"
            + ("" if self.fixed_self_weight is None else f", fixed_self_weight={self.fixed_self_weight}")
        )


# The published signature: the engine's kwargs that apply (AlexNet's defaults), then AlexNet's own.
AlexNet.__signature__ = engine_signature(  # type: ignore[attr-defined]
    ALEXNET_ENGINE_DEFAULTS,
    [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v) for k, v in _OWN_DEFAULTS.items()],
    exclude=[k for k in engine_parameters() if k in UNSUPPORTED_KWARGS],
)
