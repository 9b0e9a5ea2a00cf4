"""Feedforward ResNets (He et al. 2016) under the temporal model contract, written without torchvision.

ImageNet-style (``ResNet18``, ``ResNet34`` with basic blocks; ``ResNet50`` with bottlenecks): 7x7/2 conv stem,
3x3/2 max-pool, four stages of 64, 128, 256, 512 channels (x4 for bottlenecks), global average pool, Linear.
The architecture is torchvision's (the stride of a bottleneck on its 3x3 conv, "v1.5"; 1x1 conv + BatchNorm
projection shortcuts where the shape changes), so the parameter counts equal the published ones: 11,689,512
for ResNet18 and 25,557,032 for ResNet50 (1000 classes).

CIFAR-style (``ResNet20/32/44/56/110``, depth ``6n + 2``): 3x3 conv stem with 16 channels, three stages of
``n`` basic blocks with 16, 32, 64 channels (stride 2 at the start of stages 2 and 3), global average pool,
Linear. Shortcuts where the shape changes are option A of the paper by default (``shortcut="A"``: subsample by
2 and pad the new channels with zeros, no parameters; ResNet20 has 269,722 parameters for 10 classes, the
0.27M of the paper); ``shortcut="B"`` uses 1x1 conv + BatchNorm projections (ResNet20: 272,474 parameters).

Temporal contract (shared with :class:`~dynvision_models.engine.TemporalModel`): kwargs ``n_classes``,
``input_shape`` ``(C, H, W)`` and ``n_timesteps``; input ``(B, T, C, H, W)`` or a static ``(B, C, H, W)``
shown for ``n_timesteps`` steps; logits ``(B, T, n_classes)``. A feedforward net has no state: each frame is
classified on its own (the ``T`` frames are folded into the batch, one pass over ``B * T`` images), and a
static image is computed once and its outputs expanded over ``T`` (stride-0 views: no recomputation, no
copies). Areas: ``"stem"`` (after the stem's ReLU, before the max-pool) and ``"layer1"`` .. ``"layer4"``
(``"layer3"`` for CIFAR ResNets), each the output of its stage. Every area is reached at step 0
(:meth:`~TemporalFeedforwardModel.first_driven_step` is 0).

Initialisation: Kaiming-normal convs (``fan_out``, ReLU gain), BatchNorm weight 1 and bias 0, Linear default.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from .. import checks
from ..registry import register_model
from ._contract import (
    area_index,
    check_area_names,
    check_input_sequence,
    check_input_shape,
    check_positive_int,
)

__all__ = [
    "CIFAR_SHORTCUTS",
    "BasicBlock",
    "Bottleneck",
    "CifarResNet",
    "ImageNetResNet",
    "ResNet18",
    "ResNet20",
    "ResNet32",
    "ResNet34",
    "ResNet44",
    "ResNet50",
    "ResNet56",
    "ResNet110",
    "TemporalFeedforwardModel",
]

#: Shortcut options of the CIFAR ResNets: "A" zero-padding identity, "B" 1x1 conv projection.
CIFAR_SHORTCUTS = ("A", "B")


#: Spec (:mod:`dynvision_models.checks`) of the CIFAR ResNets' ``shortcut`` kwarg.
_SHORTCUT_SPEC = {"kind": "choice", "choices": list(CIFAR_SHORTCUTS), "doc": "shortcut where the shape changes"}


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


def _projection(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """Option-B shortcut: 1x1 conv (stride) + BatchNorm."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
    )


class _ZeroPadShortcut(nn.Module):
    """Option-A shortcut: keep every ``stride``-th pixel and append zero channels up to ``out_channels``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(
                f"A zero-padding shortcut cannot reduce channels ({in_channels} -> {out_channels})."
            )
        self.stride = stride
        self.extra = out_channels - in_channels
        # Split the new channels over both sides as in the original CIFAR ResNets (planes // 4 on each side).
        self.before = self.extra // 2

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W)`` -> ``(N, C_out, ceil(H / stride), ceil(W / stride))``."""
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.before, self.extra - self.before))

    def extra_repr(self) -> str:
        return f"stride={self.stride}, zero_channels={self.extra}"


class BasicBlock(nn.Module):
    """Two 3x3 convs with BatchNorm, ``out = ReLU(bn2(conv2(ReLU(bn1(conv1(x))))) + shortcut(x))``.

    Args:
        in_channels: input channels.
        channels: output channels (``expansion = 1``).
        stride: stride of the first conv (and of the shortcut).
        shortcut: ``"B"`` (1x1 conv + BatchNorm) or ``"A"`` (zero padding) where the shape changes.
    """

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1, shortcut: str = "B") -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_channels, channels, stride)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = _conv3x3(channels, channels)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_channels != channels:
            self.shortcut = (
                _ZeroPadShortcut(in_channels, channels, stride)
                if shortcut == "A"
                else _projection(in_channels, channels, stride)
            )

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W)`` -> ``(N, channels, H / stride, W / stride)``."""
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        identity = x if self.shortcut is None else self.shortcut(x)
        return F.relu(out + identity, inplace=True)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (with the stride), 1x1 expand (x4), each with BatchNorm; projection shortcuts.

    Args:
        in_channels: input channels.
        channels: width of the 3x3 conv; the block outputs ``4 * channels``.
        stride: stride of the 3x3 conv (and of the shortcut).
    """

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = _conv3x3(channels, channels, stride)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = nn.Conv2d(channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = _projection(in_channels, out_channels, stride)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W)`` -> ``(N, 4 * channels, H / stride, W / stride)``."""
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = F.relu(self.bn2(self.conv2(out)), inplace=True)
        out = self.bn3(self.conv3(out))
        identity = x if self.shortcut is None else self.shortcut(x)
        return F.relu(out + identity, inplace=True)


class TemporalFeedforwardModel(nn.Module):
    """Base class: a feedforward stack of areas applied to every frame, under the temporal model contract.

    Subclasses call ``super().__init__(...)`` with the common kwargs, register their areas in ``self.areas``
    (an ``nn.ModuleDict`` in feedforward order; area ``i`` is applied to the output of area ``i - 1``), the
    optional ``self.pool_after`` (``{area: module}`` applied to an area's response before the next area) and
    ``self.classifier`` (``Linear`` on the globally average-pooled output of the last area), then call
    :meth:`_init_weights`.

    Args:
        n_classes: number of output classes.
        input_shape: ``(C, H, W)`` of one stimulus frame.
        n_timesteps: steps a static image is shown for (a ``(B, T, ...)`` input sets ``T`` itself).
    """

    def __init__(self, *, n_classes: int, input_shape: Sequence[int], n_timesteps: int) -> None:
        super().__init__()
        self.n_classes = check_positive_int("n_classes", n_classes)
        self.n_timesteps = check_positive_int("n_timesteps", n_timesteps)
        self.input_shape = check_input_shape(input_shape)
        self.areas = nn.ModuleDict()
        self.pool_after = nn.ModuleDict()
        self.area_names: tuple[str, ...] = ()

    def _init_weights(self) -> None:
        """Kaiming-normal convs (fan_out, ReLU), BatchNorm weight 1 and bias 0; fix ``area_names``."""
        self.area_names = tuple(self.areas)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    # ------------------------------------------------------------------ public API
    def first_driven_step(self, area: str) -> int:
        """Index of the first step at which a stimulus shown from step 0 reaches ``area``: 0 (no delays)."""
        area_index(area, self.area_names)
        return 0

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, T, n_classes)`` for ``x`` of shape ``(B, T, C, H, W)`` or static ``(B, C, H, W)``."""
        frames, batch, n_steps = self._as_frames(x)
        logits, _ = self._run(frames, ())
        return self._unfold(logits, batch, n_steps, isinstance(x, Tensor) and x.dim() == 4)

    def forward_intermediates(
        self, x: Tensor, areas: Iterable[str] | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Logits and per-area responses at every step.

        Args:
            x: ``(B, T, C, H, W)`` or static ``(B, C, H, W)`` (shown for ``n_timesteps`` steps).
            areas: names of the areas to record (default: all).

        Returns:
            ``(logits, responses)``: logits ``(B, T, n_classes)``; ``responses[area]`` is
            ``(B, T, C_a, H_a, W_a)``, the output of that area (after its ReLU, before any pooling) for every
            frame. For a static image both are stride-0 views over ``T``.
        """
        names = check_area_names(areas, self.area_names)
        frames, batch, n_steps = self._as_frames(x)
        logits, recorded = self._run(frames, names)
        static = isinstance(x, Tensor) and x.dim() == 4
        responses = {name: self._unfold(recorded[name], batch, n_steps, static) for name in names}
        return self._unfold(logits, batch, n_steps, static), responses

    # ------------------------------------------------------------------ internals
    def _as_frames(self, x: Tensor) -> tuple[Tensor, int, int]:
        """Validate ``x``; return ``(frames (N, C, H, W), B, T)``, ``N = B * T`` (``B`` if static)."""
        sequence = check_input_sequence(x, self.input_shape, self.n_timesteps)
        if isinstance(x, Tensor) and x.dim() == 4:  # a static image is computed once; _unfold expands it over T
            return x, x.shape[0], self.n_timesteps
        return sequence.reshape(-1, *self.input_shape), sequence.shape[0], sequence.shape[1]

    @staticmethod
    def _unfold(y: Tensor, batch: int, n_steps: int, static: bool) -> Tensor:
        """``(B * T, ...)`` -> ``(B, T, ...)``; a static image's ``(B, ...)`` is expanded over ``T``."""
        if static:
            return y.unsqueeze(1).expand(batch, n_steps, *y.shape[1:])
        return y.view(batch, n_steps, *y.shape[1:])

    def _run(self, frames: Tensor, record: Iterable[str]) -> tuple[Tensor, dict[str, Tensor]]:
        """Run the areas and the classifier on ``frames`` ``(N, C, H, W)``: logits and the recorded areas."""
        record = set(record)
        recorded: dict[str, Tensor] = {}
        out = frames
        for name, area in self.areas.items():
            out = area(out)
            if name in record:
                recorded[name] = out
            if name in self.pool_after:
                out = self.pool_after[name](out)
        return self.classifier(out.mean(dim=(-2, -1))), recorded


class ImageNetResNet(TemporalFeedforwardModel):
    """ImageNet-style ResNet: 7x7/2 conv stem + BatchNorm + ReLU, 3x3/2 max-pool, four stages, average pool.

    Not registered itself; the registered variants fix ``block`` and ``layers``.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: number of blocks in each of the four stages (64, 128, 256, 512 channels, times
            ``block.expansion``).
        n_classes: output classes.
        input_shape: ``(C, H, W)`` of a stimulus frame.
        n_timesteps: steps a static image is shown for.
    """

    def __init__(
        self,
        *,
        block: type[BasicBlock] | type[Bottleneck],
        layers: Sequence[int],
        n_classes: int = 10,
        input_shape: Sequence[int] = (3, 32, 32),
        n_timesteps: int = 1,
    ) -> None:
        super().__init__(n_classes=n_classes, input_shape=input_shape, n_timesteps=n_timesteps)
        if len(layers) != 4 or not all(isinstance(n, int) and n > 0 for n in layers):
            raise ValueError(f"layers must give 4 positive block counts, got {layers!r}.")
        self.areas["stem"] = nn.Sequential(
            nn.Conv2d(self.input_shape[0], 64, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
        )
        self.pool_after["stem"] = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_channels = 64
        for i, (width, n_blocks) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
            blocks: list[nn.Module] = []
            for j in range(n_blocks):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(block(in_channels, width, stride))
                in_channels = width * block.expansion
            self.areas[f"layer{i + 1}"] = nn.Sequential(*blocks)
        self.classifier = nn.Linear(in_channels, self.n_classes)
        self._init_weights()


class CifarResNet(TemporalFeedforwardModel):
    """CIFAR-style ResNet of depth ``6n + 2``: 3x3 conv stem (16 ch), three stages of ``n`` basic blocks.

    Not registered itself; the registered variants fix ``depth``.

    Args:
        depth: ``6n + 2`` (20, 32, 44, 56, 110, ...).
        n_classes: output classes.
        input_shape: ``(C, H, W)`` of a stimulus frame.
        n_timesteps: steps a static image is shown for.
        shortcut: ``"A"`` (subsample + zero channels, parameter-free, as in the paper) or ``"B"`` (1x1 conv +
            BatchNorm) where a block changes the shape.
    """

    def __init__(
        self,
        *,
        depth: int,
        n_classes: int = 10,
        input_shape: Sequence[int] = (3, 32, 32),
        n_timesteps: int = 1,
        shortcut: str = "A",
    ) -> None:
        super().__init__(n_classes=n_classes, input_shape=input_shape, n_timesteps=n_timesteps)
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6 != 0:
            raise ValueError(
                f"A CIFAR ResNet needs depth = 6n + 2 with n >= 1 (20, 32, 44, ...), got {depth!r}."
            )
        checks.raise_problems(checks.value_problems("shortcut", shortcut, _SHORTCUT_SPEC))
        self.depth = depth
        self.shortcut = shortcut
        n_blocks = (depth - 2) // 6
        self.areas["stem"] = nn.Sequential(
            _conv3x3(self.input_shape[0], 16), nn.BatchNorm2d(16), nn.ReLU(inplace=True)
        )
        in_channels = 16
        for i, width in enumerate((16, 32, 64)):
            blocks: list[nn.Module] = []
            for j in range(n_blocks):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(BasicBlock(in_channels, width, stride, shortcut=shortcut))
                in_channels = width
            self.areas[f"layer{i + 1}"] = nn.Sequential(*blocks)
        self.classifier = nn.Linear(in_channels, self.n_classes)
        self._init_weights()


# ---------------------------------------------------------------------------------------------- registered
_FRAME_ARGS = """
    Args:
        n_classes: output classes.
        input_shape: ``(C, H, W)`` of a stimulus frame.
        n_timesteps: steps a static image is shown for.
"""


def _imagenet_variant(name: str, block: type[nn.Module], layers: tuple[int, ...], summary: str) -> type:
    """Register ``name``: an :class:`ImageNetResNet` with fixed blocks whose kwargs are the frame's alone."""

    class Variant(ImageNetResNet):
        def __init__(
            self, *, n_classes: int = 10, input_shape: Sequence[int] = (3, 32, 32), n_timesteps: int = 1
        ) -> None:
            super().__init__(
                block=block, layers=layers, n_classes=n_classes, input_shape=input_shape, n_timesteps=n_timesteps
            )

    Variant.__name__ = Variant.__qualname__ = name
    Variant.__doc__ = f"{summary}\n{_FRAME_ARGS}"
    return register_model()(Variant)


def _cifar_variant(depth: int, parameters: str) -> type:
    """Register ``ResNet{depth}``: a :class:`CifarResNet` of that depth (its kwargs: the frame's and ``shortcut``)."""

    class Variant(CifarResNet):
        def __init__(
            self,
            *,
            n_classes: int = 10,
            input_shape: Sequence[int] = (3, 32, 32),
            n_timesteps: int = 1,
            shortcut: str = "A",
        ) -> None:
            super().__init__(
                depth=depth, n_classes=n_classes, input_shape=input_shape, n_timesteps=n_timesteps, shortcut=shortcut
            )

    Variant.KWARG_SPECS = {"shortcut": _SHORTCUT_SPEC}  # type: ignore[attr-defined]
    Variant.__name__ = Variant.__qualname__ = f"ResNet{depth}"
    Variant.__doc__ = (
        f"ResNet-{depth} for CIFAR: three stages of {(depth - 2) // 6} basic blocks (16, 32, 64 channels).\n\n"
        f"    Parameters for 10 classes: {parameters}.\n{_FRAME_ARGS}"
        '        shortcut: ``"A"`` (zero padding, default) or ``"B"`` (1x1 conv + BatchNorm) where the shape changes.\n'
    )
    return register_model()(Variant)


ResNet18 = _imagenet_variant(
    "ResNet18", BasicBlock, (2, 2, 2, 2), "ResNet-18: basic blocks [2, 2, 2, 2]; 11,689,512 parameters for 1000 classes."
)
ResNet34 = _imagenet_variant(
    "ResNet34", BasicBlock, (3, 4, 6, 3), "ResNet-34: basic blocks [3, 4, 6, 3]; 21,797,672 parameters for 1000 classes."
)
ResNet50 = _imagenet_variant(
    "ResNet50",
    Bottleneck,
    (3, 4, 6, 3),
    "ResNet-50: bottleneck blocks [3, 4, 6, 3]; 25,557,032 parameters for 1000 classes.",
)
ResNet20 = _cifar_variant(20, "269,722 with option-A shortcuts (default), 272,474 with option B")
ResNet32 = _cifar_variant(32, "464,154 with option-A shortcuts (default), 466,906 with option B")
ResNet44 = _cifar_variant(44, "658,586 with option-A shortcuts (default), 661,338 with option B")
ResNet56 = _cifar_variant(56, "853,018 with option-A shortcuts (default), 855,770 with option B")
ResNet110 = _cifar_variant(110, "1,727,962 with option-A shortcuts (default), 1,730,714 with option B")
