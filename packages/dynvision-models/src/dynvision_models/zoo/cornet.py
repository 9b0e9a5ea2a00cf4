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

This module also holds the small helpers shared with :mod:`dynvision_models.zoo.cordsnet` for input
validation, the rejection of common temporal kwargs that a published model does not have, and
official-checkpoint loading.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..registry import register_model

__all__ = [
    "COMMON_KWARG_REASONS",
    "CORNET_RT_AREAS",
    "CORblockRT",
    "CorNetRT",
    "check_area_names",
    "check_input_sequence",
    "check_input_shape",
    "check_positive_int",
    "conv_output_size",
    "describe_key_problems",
    "load_official_state_dict",
    "read_state_dict",
    "reject_kwargs",
]

#: Areas of CORnet-RT in feedforward order.
CORNET_RT_AREAS = ("V1", "V2", "V4", "IT")
# (out_channels, kernel_size, stride) of each area's input conv, as in the official CORnet_RT.__init__.
_CORNET_RT_SPECS = ((64, 7, 4), (128, 3, 2), (256, 3, 2), (512, 3, 2))
# GroupNorm groups of both norms of every block (official: nn.GroupNorm(32, out_channels)).
_GROUPS = 32

# Common kwargs of the temporal models (engine/temporal.py) with why a published model cannot honour them;
# each model overrides the entries it does support. Listed explicitly so that a config written for DyRCNN
# fails loudly.
_NOT_PUBLISHED = "not part of the published model"
COMMON_KWARG_REASONS: dict[str, str] = {
    "dt": "the published model runs in abstract steps without an integration time step",
    "tau": "the published model has no membrane time constant",
    "train_tau": "the published model has no time constant to learn",
    "t_feedforward": "inter-area delays are fixed by the published update (one step)",
    "t_recurrence": "the recurrent delay is fixed by the published update (one step)",
    "t_skip": "skip delays are fixed by the published update",
    "t_feedback": "the published model has no feedback connections",
    "recurrence_type": "the published recurrence is a fixed full 3x3 convolution",
    "recurrence_target": "the published model fixes where the recurrence enters",
    "integration": "the published recurrence is additive",
    "solver": "the published update is fixed",
    "skip": "the published connectivity is fixed",
    "feedback": "the published model has no feedback connections",
    "skip_mode": "the published connectivity is fixed",
    "feedback_mode": "the published model has no feedback connections",
    "idle_timesteps": "the published model starts from a zero state with the stimulus at step 0",
    "tbptt_steps": _NOT_PUBLISHED,
    "feedforward_only": _NOT_PUBLISHED,
    "supralinearity": "the published rate nonlinearity is a plain ReLU",
    "bias": "the published biases are fixed",
    "use_retina": _NOT_PUBLISHED,
    "adaptation": _NOT_PUBLISHED,
    "readout": "the published readout (global average pool, Linear) is fixed",
}


# ------------------------------------------------------------------------------------------ shared helpers
def reject_kwargs(
    model_name: str, unsupported: Mapping[str, object], accepted: Iterable[str], reasons: Mapping[str, str]
) -> None:
    """Raise a clear ``TypeError`` for constructor kwargs the model does not take (no-op if there are none).

    Args:
        model_name: class name used in the message.
        unsupported: the kwargs collected by the constructor's ``**kwargs``.
        accepted: the kwargs the constructor does take (listed in the message).
        reasons: known kwarg name -> why this model does not take it (common temporal kwargs).
    """
    if not unsupported:
        return
    accepted = tuple(accepted)
    lines = []
    for key in unsupported:
        if key in reasons:
            lines.append(f"{key!r}: {reasons[key]}")
        else:
            close = difflib.get_close_matches(key, accepted, n=1, cutoff=0.6)
            lines.append(f"{key!r}: unknown" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise TypeError(
        f"{model_name} does not take the keyword argument(s) {', '.join(map(repr, unsupported))} ("
        + "; ".join(lines)
        + f"). Allowed kwargs: {', '.join(accepted)}."
    )


def check_positive_int(name: str, value: object, minimum: int = 1) -> int:
    """``value`` if it is an ``int`` (not a ``bool``) ``>= minimum``; otherwise a ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return value


def check_input_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    """``input_shape`` as a ``(C, H, W)`` tuple of positive ints, or a ``ValueError``."""
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise ValueError(
            f"input_shape must be (channels, height, width) of positive integers, got {input_shape!r}."
        )
    return shape  # type: ignore[return-value]


def check_input_sequence(x: Tensor, input_shape: tuple[int, int, int], n_timesteps: int) -> Tensor:
    """Validate ``x`` and return it as ``(B, T, C, H, W)``; a static ``(B, C, H, W)`` is expanded, not copied.

    The messages are those of the temporal engine's input check, so all models of the zoo fail alike.
    """
    if x.dim() == 4:
        frame_shape = tuple(x.shape[1:])
    elif x.dim() == 5:
        frame_shape = tuple(x.shape[2:])
    else:
        raise ValueError(
            f"Expected input (batch, time, channels, height, width) or a static image (batch, channels, "
            f"height, width) with (channels, height, width)={input_shape}; got shape {tuple(x.shape)}."
        )
    if frame_shape != input_shape:
        raise ValueError(
            f"Input frames have (channels, height, width)={frame_shape} (input shape {tuple(x.shape)}), but "
            f"the model was built for input_shape={input_shape}. Resize the data or rebuild the model "
            "with a matching input_shape."
        )
    if x.dim() == 4:
        return x.unsqueeze(1).expand(x.shape[0], n_timesteps, *frame_shape)
    if x.shape[1] < 1:
        raise ValueError(f"Input has no time steps: shape {tuple(x.shape)}.")
    return x


def check_area_names(requested: Iterable[str] | None, area_names: tuple[str, ...]) -> tuple[str, ...]:
    """The areas to record (all if ``requested`` is ``None``), or a ``ValueError`` naming the unknown ones."""
    names = area_names if requested is None else tuple(requested)
    unknown = [a for a in names if a not in area_names]
    if unknown:
        raise ValueError(f"Unknown area(s) {unknown}. Areas of this model: {', '.join(area_names)}.")
    return names


def describe_key_problems(
    missing: Sequence[str], unexpected: Sequence[str], mismatched: Sequence[tuple[str, Any, Any]]
) -> list[str]:
    """One phrase per kind of checkpoint problem: missing keys, unexpected keys, ``(key, checkpoint shape, model
    shape)`` mismatches (by official key name), for the error of an official-checkpoint loader."""
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected)}")
    if mismatched:
        problems.append(
            f"shape mismatches ({len(mismatched)}): "
            + ", ".join(f"{k} (checkpoint {c}, model {m})" for k, c, m in mismatched)
        )
    return problems


def conv_output_size(size: int, kernel_size: int, stride: int, padding: int) -> int:
    """Output length of a convolution or pooling (no dilation, floor mode) along one spatial axis."""
    return (size + 2 * padding - kernel_size) // stride + 1


def read_state_dict(
    source: str | os.PathLike | Mapping[str, Any], map_location: Any = "cpu"
) -> dict[str, Tensor]:
    """A flat ``{key: tensor}`` from a checkpoint file or mapping, unwrapped, without ``"module."`` prefixes.

    Accepts ``{"state_dict": {...}, ...}`` (training checkpoints such as CORnet's, which also hold the epoch
    and optimiser) and keys prefixed with ``"module."`` by ``nn.DataParallel`` / ``DistributedDataParallel``.
    Files are read with ``torch.load(weights_only=True)``: tensors and plain containers only, no pickled code.
    """
    if isinstance(source, str | os.PathLike):
        loaded = torch.load(source, map_location=map_location, weights_only=True)
        where = f"checkpoint file {os.fspath(source)!r}"
    else:
        loaded = source
        where = "the given state dict"
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping):
        raise ValueError(
            f"Expected a state dict (a mapping of names to tensors) in {where}, got {type(loaded)}."
        )
    state: dict[str, Tensor] = {}
    for key, value in loaded.items():
        if not isinstance(value, Tensor):
            raise ValueError(f"Entry {key!r} of {where} is a {type(value).__name__}, not a tensor.")
        name = str(key)
        while name.startswith("module."):
            name = name[len("module.") :]
        state[name] = value
    return state


def load_official_state_dict(
    model: nn.Module,
    state: Mapping[str, Tensor],
    official_to_local: Mapping[str, str],
    *,
    model_label: str,
    classifier_prefix: str = "classifier.",
    strict_classifier: bool = True,
    hints: Sequence[str] = (),
) -> None:
    """Load ``state`` (official key names) into ``model`` through ``official_to_local``, or fail saying why.

    Every key of ``model.state_dict()`` must be a value of ``official_to_local``. All problems are collected
    and reported at once, in the official key names: keys the model needs that the checkpoint lacks,
    checkpoint keys the model does not know, and shape mismatches (checkpoint vs model). Nothing is loaded
    unless all fit.

    Args:
        model: the model to fill.
        state: the checkpoint's state dict (see :func:`read_state_dict`).
        official_to_local: official key -> the model's key, for every parameter and buffer of the model.
        model_label: how to name the official model in messages (e.g. ``"CORnet-RT"``).
        classifier_prefix: prefix of the model's classifier keys.
        strict_classifier: if ``False``, the checkpoint's classifier is not loaded and the model keeps its own
            freshly initialised classifier (e.g. for another ``n_classes``); if ``True`` it must fit.
        hints: extra sentences appended to the error (e.g. which constructor kwargs the checkpoint needs).
    """
    local_keys = set(model.state_dict())
    mapped = set(official_to_local.values())
    if mapped != local_keys:  # a bug in the model's key map, not in the checkpoint
        raise AssertionError(
            f"Key map of {type(model).__name__} is incomplete: {sorted(local_keys ^ mapped)}."
        )

    def is_classifier(official: str) -> bool:
        return official_to_local[official].startswith(classifier_prefix)

    expected = {k for k in official_to_local if strict_classifier or not is_classifier(k)}
    local_state = model.state_dict()
    missing = sorted(k for k in expected if k not in state)
    unexpected = sorted(k for k in state if k not in official_to_local)
    mismatched = sorted(
        (k, tuple(state[k].shape), tuple(local_state[official_to_local[k]].shape))
        for k in expected
        if k in state and state[k].shape != local_state[official_to_local[k]].shape
    )
    if missing or unexpected or mismatched:
        problems = describe_key_problems(missing, unexpected, mismatched)
        advice = list(hints)
        if any(is_classifier(k) for k, _, _ in mismatched) or (
            strict_classifier and any(is_classifier(k) for k in missing)
        ):
            advice.append(
                "The classifier does not fit: pass strict_classifier=False to keep the model's freshly "
                "initialised classifier, or build the model with the checkpoint's n_classes."
            )
        raise ValueError(
            f"The state dict does not match the official {model_label} layout expected by "
            f"{type(model).__name__}: " + "; ".join(problems) + "." + "".join(f" {a}" for a in advice)
        )
    translated = {official_to_local[k]: state[k] for k in expected}
    result = model.load_state_dict(translated, strict=strict_classifier)
    # With strict_classifier=False only the classifier may be left out; anything else is a bug of the key map.
    leftover = [k for k in result.missing_keys if not k.startswith(classifier_prefix)]
    if leftover or result.unexpected_keys:
        raise AssertionError(f"Unexpected load result: {result}.")


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
        try:
            return self.area_names.index(area)
        except ValueError:
            raise ValueError(
                f"Unknown area {area!r}. Areas of this model: {', '.join(self.area_names)}."
            ) from None

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
