"""Speed of the DyRCNNx4 time loop against a plain hand-written unrolled loop with the same weights.

Both run in the same session and benchmark group, so pytest-benchmark's table shows their ratio (the engine's
overhead). Only correctness is asserted; times are recorded, not judged. Small batch and T keep CI fast; the
numbers quoted in packages/dynvision-models/README.md use batch 64 and T = 20.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from dynvision_models import create_model
from dynvision_models.zoo import DyRCNNx4

BATCH, N_STEPS, INPUT_SHAPE = 8, 5, (3, 32, 32)


def plain_dyrcnnx4_forward(model: DyRCNNx4, x: Tensor) -> Tensor:
    """The DyRCNNx4 dynamics written out by hand (defaults: t_feedforward = 0, t_recurrence = dt, full recurrence).

    ``x``: ``(B, T, C, H, W)`` -> logits ``(B, T, n_classes)``; reads the weights of ``model``.
    """
    alpha = model.dt / model.tau
    layers = [
        (area.ff.weight, area.ff.bias, area.ff.stride, area.recurrence.conv.weight, area.pool is not None)
        for area in model.areas.values()
    ]
    states: list[Tensor | None] = [None] * len(layers)
    rates: list[Tensor | None] = [None] * len(layers)
    logits = []
    for t in range(x.shape[1]):
        signal = x[:, t]
        for i, (w_ff, b_ff, stride, w_rec, pooled) in enumerate(layers):
            u = F.conv2d(signal, w_ff, b_ff, stride=stride, padding=1)
            if rates[i] is not None:
                u = u + F.conv2d(rates[i], w_rec, padding=1)
            h = states[i]
            states[i] = alpha * u if h is None else h + alpha * (u - h)
            rates[i] = F.relu(states[i])
            signal = F.max_pool2d(rates[i], 3, 2, 1) if pooled else rates[i]
        logits.append(model.classifier(signal.mean(dim=(2, 3))))
    return torch.stack(logits, dim=1)


@pytest.fixture(scope="module")
def two_threads() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def model_and_input(two_threads: None) -> tuple[DyRCNNx4, Tensor]:
    torch.manual_seed(0)
    model = create_model("DyRCNNx4", input_shape=INPUT_SHAPE, n_timesteps=N_STEPS).eval()
    # Scale the recurrent weights up from their tiny init so the comparison exercises the recurrent path.
    with torch.no_grad():
        for area in model.areas.values():
            area.recurrence.conv.weight.mul_(50.0)
    x = torch.randn(BATCH, N_STEPS, *INPUT_SHAPE)
    return model, x


@pytest.mark.benchmark(group="dyrcnnx4-forward-b8-t5")
@pytest.mark.parametrize("implementation", ["engine", "plain-loop"])
def test_dyrcnnx4_forward_speed(benchmark, model_and_input: tuple[DyRCNNx4, Tensor], implementation: str) -> None:
    model, x = model_and_input
    run: Callable[[Tensor], Tensor] = model if implementation == "engine" else (
        lambda inp: plain_dyrcnnx4_forward(model, inp)
    )

    def forward() -> Tensor:
        with torch.no_grad():
            return run(x)

    benchmark.extra_info.update(batch=BATCH, n_timesteps=N_STEPS, threads=torch.get_num_threads())
    out = benchmark.pedantic(forward, rounds=5, iterations=1, warmup_rounds=2)

    with torch.no_grad():
        reference = plain_dyrcnnx4_forward(model, x)
    assert out.shape == (BATCH, N_STEPS, 10)
    # The engine fuses h + a*(u - h) into one lerp, so results agree to float32 rounding, not bit for bit.
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-5)
