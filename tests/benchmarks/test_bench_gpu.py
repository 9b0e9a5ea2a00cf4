"""GPU training and inference throughput of DyRCNNx4 (T = 20, 32x32, batch 64): eager against the GPU options.

Skipped without a CUDA device (CI has none). Each variant trains the same model (same seed) with AdamW; a
training step is forward, cross-entropy over every step, backward and the optimizer step. ``extra_info`` holds
images per second (batch / median step time) and the peak GPU memory of the step. The numbers in
packages/dynvision-models/README.md come from::

    python -m pytest tests/benchmarks/test_bench_gpu.py -p no:cacheprovider --benchmark-columns=median,rounds

Variants: ``fp32`` (NCHW, ``channels_last=False``; cuDNN may use TF32, PyTorch's default for convolutions),
``channels_last`` (the model's default: weights and frames in NHWC), ``bf16`` (``torch.autocast``), ``compile`` (``compile_step=True``), ``graph`` (the whole step
recorded once with :class:`~dynvision_models.engine.GraphedTrainStep` and replayed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor

from dynvision_models import create_model
from dynvision_models.engine import GraphedForward, GraphedTrainStep, graph_loss

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

BATCH, N_STEPS, SHAPE = 64, 20, (3, 32, 32)
# name -> (channels_last, autocast dtype, compile_step, CUDA graph)
TRAIN_VARIANTS: dict[str, tuple[bool, torch.dtype | None, bool, bool]] = {
    "fp32": (False, None, False, False),
    "channels_last": (True, None, False, False),
    "bf16": (False, torch.bfloat16, False, False),
    "bf16+channels_last": (True, torch.bfloat16, False, False),
    "compile+bf16": (True, torch.bfloat16, True, False),
    "graph": (False, None, False, True),
    "graph+bf16": (False, torch.bfloat16, False, True),
    "graph+bf16+channels_last": (True, torch.bfloat16, False, True),
}


def _batch(batch: int, channels_last: bool) -> tuple[Tensor, Tensor]:
    generator = torch.Generator(device="cuda").manual_seed(1)
    frames = torch.rand(batch, N_STEPS, *SHAPE, device="cuda", generator=generator)
    if channels_last:
        # (B, T, C, H, W) stored as (B, T, H, W, C): every frame x[:, t] is an NHWC view.
        frames = frames.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
    labels = torch.randint(0, 10, (batch, 1), device="cuda", generator=generator).expand(batch, N_STEPS)
    return frames, labels.contiguous()


def _model(channels_last: bool, compile_step: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(
        "DyRCNNx4", input_shape=SHAPE, n_timesteps=N_STEPS, compile_step=compile_step, channels_last=channels_last
    ).cuda()


def _record(benchmark: Any, run: Callable[[], Any], batch: int, rounds: int = 10) -> None:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()

    def timed() -> None:
        run()
        torch.cuda.synchronize()

    benchmark.pedantic(timed, rounds=rounds, iterations=1, warmup_rounds=3)
    median = benchmark.stats.stats.median
    benchmark.extra_info.update(
        batch=batch,
        n_timesteps=N_STEPS,
        img_per_s=round(batch / median, 1),
        peak_gpu_mib=round(torch.cuda.max_memory_allocated() / 2**20, 1),
        device=torch.cuda.get_device_name(),
    )


@pytest.mark.parametrize("batch", [BATCH, 256])
@pytest.mark.parametrize("variant", list(TRAIN_VARIANTS))
def test_dyrcnnx4_training_step_gpu(benchmark: Any, variant: str, batch: int) -> None:
    channels_last, dtype, compile_step, graphed = TRAIN_VARIANTS[variant]
    model = _model(channels_last, compile_step)
    frames, labels = _batch(batch, channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, capturable=graphed)
    benchmark.group = f"dyrcnnx4-train-gpu-b{batch}-t{N_STEPS}"

    if graphed:
        step = GraphedTrainStep(model, optimizer, frames, labels, autocast_dtype=dtype)

        def run() -> Tensor:
            return step(frames, labels)

    else:

        def run() -> Tensor:
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
                loss = graph_loss(model(frames), labels)
            loss.backward()
            optimizer.step()
            return loss.detach()

    _record(benchmark, run, batch)
    loss = run()
    assert torch.isfinite(loss).item()


FORWARD_VARIANTS = {
    "fp32": (None, False),
    "bf16": (torch.bfloat16, False),
    "graph": (None, True),
    "graph+bf16": (torch.bfloat16, True),
}


@pytest.mark.parametrize("variant", list(FORWARD_VARIANTS))
def test_dyrcnnx4_forward_gpu(benchmark: Any, variant: str) -> None:
    dtype, graphed = FORWARD_VARIANTS[variant]
    model = _model(False, False).eval()
    frames, _ = _batch(BATCH, False)
    benchmark.group = f"dyrcnnx4-forward-gpu-b{BATCH}-t{N_STEPS}"
    if graphed:
        forward = GraphedForward(model, frames, autocast_dtype=dtype)

        def run() -> Tensor:
            return forward(frames)

    else:

        @torch.no_grad()
        def run() -> Tensor:
            with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
                return model(frames)

    _record(benchmark, run, BATCH)
    assert run().shape == (BATCH, N_STEPS, 10)
