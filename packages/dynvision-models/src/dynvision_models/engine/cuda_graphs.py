"""CUDA graphs: record a whole training step (or forward pass) of a model once, then replay it.

A recurrent model on small images is launch-bound on a GPU: DyRCNNx4 at 32x32 runs a few dozen small kernels
per area and time step, so at ``T = 20`` a training step launches thousands of kernels that each finish before
the CPU has issued the next. A CUDA graph records the kernels of one call and replays them with a single launch.
The time loop (Python) then runs only while recording.

What a graph needs, and how these classes provide it:

- fixed shapes and addresses: the input and target are copied into static buffers before each replay; a call
  with another shape, dtype or device is refused with an error that names both;
- no reads back to the host during the step: the default loss is
  :func:`~dynvision_models.losses.temporal_cross_entropy` without its validity check;
- an optimizer whose step runs on the device: Adam and AdamW need ``capturable=True`` (checked up front);
- warm-up before recording (cuDNN picks its algorithms, the optimizer creates its state): the warm-up steps
  run on a side stream as the PyTorch documentation prescribes, and afterwards the parameters, buffers and
  optimizer state are put back to their values from before (in place, the addresses the graph will use), so
  building a :class:`GraphedTrainStep` does not train the model.

The recorded step owns its memory for as long as it lives (the activations of the whole step, about the peak of
one eager step). Learning-rate schedules: a Python ``lr`` is baked into the graph; pass ``lr`` as a CUDA
tensor (``torch.optim.AdamW(params, lr=torch.tensor(1e-3, device="cuda"), capturable=True)``) and change it in
place to schedule it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from ..losses import temporal_cross_entropy

__all__ = ["GraphedForward", "GraphedTrainStep", "graph_loss"]

LossFn = Callable[[Tensor, Tensor], Tensor]


def graph_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy over every valid ``(batch, time)`` entry, with no read back to the host (capturable)."""
    return temporal_cross_entropy(logits, labels, check_valid=False)


def _check_cuda(model: nn.Module, *tensors: Tensor) -> torch.device:
    """The CUDA device that the model and tensors share; a clear error otherwise."""
    if not torch.cuda.is_available():
        raise RuntimeError(
            "CUDA graphs need a CUDA GPU, and torch.cuda.is_available() is False here. Run the model eagerly "
            "(call it directly) on this machine."
        )
    devices = {p.device for p in model.parameters()} | {t.device for t in tensors}
    if len(devices) != 1 or next(iter(devices)).type != "cuda":
        raise ValueError(
            f"CUDA graphs need the model and the example tensors on one CUDA device; found "
            f"{sorted(map(str, devices))}. Move them first, e.g. model.cuda() and x.cuda()."
        )
    return next(iter(devices))


def _check_capturable(optimizer: torch.optim.Optimizer) -> None:
    """Adam-style optimizers keep their step count on the host unless built with ``capturable=True``."""
    for group in optimizer.param_groups:
        if group.get("capturable") is False:
            kind = type(optimizer).__name__
            raise ValueError(
                f"{kind} was built with capturable=False, but a CUDA graph replays the optimizer step on the "
                f"device. Build it with capturable=True, e.g. torch.optim.{kind}(model.parameters(), lr=1e-3, "
                "capturable=True)."
            )


def _autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[Any]:
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def _check_like(name: str, given: Tensor, static: Tensor) -> None:
    if given.shape != static.shape or given.dtype != static.dtype or given.device != static.device:
        raise ValueError(
            f"The {name} has shape {tuple(given.shape)}, dtype {given.dtype} on {given.device}, but the graph "
            f"was recorded for shape {tuple(static.shape)}, dtype {static.dtype} on {static.device}. Pad or drop "
            "the last batch (e.g. drop_last=True), or record another graph for this shape."
        )


def _static_copy(x: Tensor) -> Tensor:
    """A buffer with the values and the memory layout (e.g. channels-last frames) of ``x``."""
    return torch.empty_like(x, memory_format=torch.preserve_format).copy_(x)


@contextlib.contextmanager
def _side_stream(device: torch.device) -> Iterator[None]:
    """Warm-up work on a side stream, joined back to the current one (as recording requires)."""
    stream = torch.cuda.Stream(device)
    stream.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(stream):
        yield
    torch.cuda.current_stream(device).wait_stream(stream)


class _Snapshot:
    """The parameters, buffers and optimizer state of before the warm-up, to restore in place after it."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer | None) -> None:
        self.tensors = [(t, t.detach().clone()) for t in (*model.parameters(), *model.buffers())]
        self.state: dict[int, dict[str, Any]] = {}
        if optimizer is not None:
            for group in optimizer.param_groups:
                for p in group["params"]:
                    saved = optimizer.state.get(p, {})
                    self.state[id(p)] = {
                        key: value.detach().clone() if isinstance(value, Tensor) else value
                        for key, value in saved.items()
                    }

    @torch.no_grad()
    def restore(self, optimizer: torch.optim.Optimizer | None) -> None:
        for tensor, value in self.tensors:
            tensor.copy_(value)
        if optimizer is None:
            return
        for group in optimizer.param_groups:
            for p in group["params"]:
                before = self.state.get(id(p), {})
                state = optimizer.state.get(p, {})
                for key, value in state.items():
                    if not isinstance(value, Tensor):
                        continue
                    if key in before:
                        value.copy_(before[key])
                    else:
                        # State the warm-up created (moments, step count): fresh state is zeros.
                        value.zero_()


class GraphedTrainStep:
    """One training step (forward, loss, backward, optimizer step) recorded as a CUDA graph.

    Example::

        model = create_model("DyRCNNx4", n_timesteps=20, input_shape=(3, 32, 32)).cuda()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, capturable=True)
        step = GraphedTrainStep(model, optimizer, frames[:64].cuda(), labels[:64].cuda(),
                                autocast_dtype=torch.bfloat16)
        for frames, labels in loader:          # same shapes every batch (drop_last=True)
            loss = step(frames.cuda(non_blocking=True), labels.cuda(non_blocking=True))

    Args:
        model: the model, on a CUDA device, in the mode (train/eval) it should train in.
        optimizer: its optimizer (Adam/AdamW with ``capturable=True``; SGD works as it is).
        example_input: a batch with the shape, dtype and memory layout of every later batch.
        example_target: labels ``(B, T)`` (or whatever ``loss_fn`` takes) of that shape and dtype.
        loss_fn: ``loss_fn(logits, target) -> scalar``; must not read values back to the host
            (default :func:`graph_loss`).
        autocast_dtype: e.g. ``torch.bfloat16`` to record the step under autocast (mixed precision).
        warmup_steps: eager steps before recording (their effect on the weights is undone).
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        example_input: Tensor,
        example_target: Tensor,
        *,
        loss_fn: LossFn = graph_loss,
        autocast_dtype: torch.dtype | None = None,
        warmup_steps: int = 3,
    ) -> None:
        _check_capturable(optimizer)
        device = _check_cuda(model, example_input, example_target)
        self.model, self.optimizer = model, optimizer
        self.static_input = _static_copy(example_input)
        self.static_target = _static_copy(example_target)

        def step() -> Tensor:
            with _autocast(device, autocast_dtype):
                loss = loss_fn(model(self.static_input), self.static_target)
            loss.backward()
            optimizer.step()
            return loss.detach()

        snapshot = _Snapshot(model, optimizer)
        with _side_stream(device):
            for _ in range(max(1, warmup_steps)):
                optimizer.zero_grad(set_to_none=True)
                step()
        snapshot.restore(optimizer)
        # Gradients are allocated inside the graph (from its memory pool), overwritten at every replay.
        optimizer.zero_grad(set_to_none=True)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.static_loss = step()

    def __call__(self, inputs: Tensor, target: Tensor) -> Tensor:
        """Train on one batch; returns the loss (a fresh scalar tensor on the device, no host sync)."""
        _check_like("input", inputs, self.static_input)
        _check_like("target", target, self.static_target)
        self.static_input.copy_(inputs, non_blocking=True)
        self.static_target.copy_(target, non_blocking=True)
        self.graph.replay()
        return self.static_loss.clone()


class GraphedForward:
    """The forward pass of a model (no gradient) recorded as a CUDA graph, e.g. to test a trained model fast.

    Args:
        model: the model, on a CUDA device (usually in eval mode).
        example_input: a batch with the shape, dtype and memory layout of every later batch.
        autocast_dtype: e.g. ``torch.bfloat16`` to record under autocast.
        warmup_steps: eager calls before recording (buffers such as batch-norm statistics are restored after).
    """

    def __init__(
        self,
        model: nn.Module,
        example_input: Tensor,
        *,
        autocast_dtype: torch.dtype | None = None,
        warmup_steps: int = 2,
    ) -> None:
        device = _check_cuda(model, example_input)
        self.model = model
        self.static_input = _static_copy(example_input)

        @torch.no_grad()
        def forward() -> Tensor:
            with _autocast(device, autocast_dtype):
                return model(self.static_input)

        snapshot = _Snapshot(model, None)
        with _side_stream(device):
            for _ in range(max(1, warmup_steps)):
                forward()
        snapshot.restore(None)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.static_output = forward()

    def __call__(self, inputs: Tensor) -> Tensor:
        """The model's output for ``inputs`` (a fresh tensor; the graph's own buffer is reused next call)."""
        _check_like("input", inputs, self.static_input)
        self.static_input.copy_(inputs, non_blocking=True)
        self.graph.replay()
        return self.static_output.clone()
