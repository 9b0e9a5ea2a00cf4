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


def plain_dyrcnnx4_forward(model: DyRCNNx4, x: Tensor, *, skips_at_source: bool = False) -> Tensor:
    """The DyRCNNx4 dynamics at its defaults written out by hand; reads the weights of ``model``.

    Defaults: Euler with ``alpha = dt / tau``, ``t_feedforward = 0``, full recurrence on the output with
    ``t_recurrence = 6`` ms (3 steps), additive skips V1 -> V4 and V2 -> IT with ``t_skip = 0`` computed at
    the target's resolution (subsample the source rate by 4, then the 1x1 conv). ``x``: ``(B, T, C, H, W)`` ->
    logits ``(B, T, n_classes)``. ``skips_at_source=True``: the order of upstream DynVision (the 1x1 conv at the
    source's resolution, then nearest-resized to the target's); the same values, 16 times the skip
    convolutions' work and a copy of their full-resolution output.
    """
    alpha = model.dt / model.tau
    d_rec = round(model.t_recurrence / model.dt)
    layers = [
        (area.ff.weight, area.ff.bias, area.ff.stride, area.recurrence.conv.weight, area.pool is not None)
        for area in model.areas.values()
    ]
    # target area -> (source area, 1x1 weight, subsampling stride); at 32x32: V1 32 -> V4 8, V2 16 -> IT 4.
    skips = {2: (0, model.skips["V1_to_V4"].conv.weight, 4), 3: (1, model.skips["V2_to_IT"].conv.weight, 4)}
    states: list[Tensor | None] = [None] * len(layers)
    history: list[list[Tensor]] = [[] for _ in layers]
    logits = []
    for t in range(x.shape[1]):
        signal = x[:, t]
        for i, (w_ff, b_ff, stride, w_rec, pooled) in enumerate(layers):
            u = F.conv2d(signal, w_ff, b_ff, stride=stride, padding=1)
            if t >= d_rec:
                u = u + F.conv2d(history[i][t - d_rec], w_rec, padding=1)
            if i in skips:
                source, w_skip, step = skips[i]
                if skips_at_source:
                    full = F.conv2d(history[source][t], w_skip)
                    u = u + F.interpolate(full, size=u.shape[-2:], mode="nearest")
                else:
                    u = u + F.conv2d(history[source][t][:, :, ::step, ::step], w_skip)
            h = states[i]
            states[i] = alpha * u if h is None else h + alpha * (u - h)
            rate = F.relu(states[i])
            history[i].append(rate)
            signal = F.max_pool2d(rate, 3, 2, 1) if pooled else rate
        logits.append(model.classifier(signal.mean(dim=(2, 3))))
    return torch.stack(logits, dim=1)


@pytest.fixture(scope="module")
def two_threads() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def model(two_threads: None) -> DyRCNNx4:
    torch.manual_seed(0)
    model = create_model("DyRCNNx4", input_shape=INPUT_SHAPE, n_timesteps=N_STEPS).eval()
    # Scale the recurrent and skip weights up from their tiny init so the comparison exercises those paths.
    with torch.no_grad():
        for area in model.areas.values():
            area.recurrence.conv.weight.mul_(50.0)
        for skip in model.skips.values():
            skip.conv.weight.mul_(50.0)
    return model


# (batch, steps): the CI-sized case, and batch 1 where the per-step Python overhead weighs most.
CASES = {"b8-t5": (BATCH, N_STEPS), "b1-t20": (1, 20)}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("implementation", ["engine", "plain-loop"])
def test_dyrcnnx4_forward_speed(benchmark, model: DyRCNNx4, case: str, implementation: str) -> None:
    batch, n_steps = CASES[case]
    x = torch.randn(batch, n_steps, *INPUT_SHAPE, generator=torch.Generator().manual_seed(1))
    run: Callable[[Tensor], Tensor] = (
        model if implementation == "engine" else (lambda inp: plain_dyrcnnx4_forward(model, inp))
    )

    def forward() -> Tensor:
        with torch.no_grad():
            return run(x)

    benchmark.group = f"dyrcnnx4-forward-{case}"
    benchmark.extra_info.update(batch=batch, n_timesteps=n_steps, threads=torch.get_num_threads())
    out = benchmark.pedantic(forward, rounds=5, iterations=1, warmup_rounds=2)

    with torch.no_grad():
        reference = plain_dyrcnnx4_forward(model, x)
    assert out.shape == (batch, n_steps, 10)
    # The engine fuses h + a*(u - h) into one lerp, so results agree to float32 rounding, not bit for bit.
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def compiled_model(model: DyRCNNx4) -> DyRCNNx4:
    """``model`` with ``compile_step=True``, compiled once for the module (15-30 s on CPU)."""
    compiled = create_model("DyRCNNx4", input_shape=INPUT_SHAPE, n_timesteps=N_STEPS, compile_step=True).eval()
    compiled.load_state_dict(model.state_dict())
    with torch.no_grad():
        compiled(torch.zeros(BATCH, COMPILE_STEPS, *INPUT_SHAPE))
    return compiled


# Past the 3-step recurrent delay, so most steps run the compiled steady-state step.
COMPILE_STEPS = 8


@pytest.mark.slow
@pytest.mark.parametrize("implementation", ["eager", "eager-nchw", "compiled-step"])
def test_dyrcnnx4_compiled_step_speed(
    benchmark, model: DyRCNNx4, compiled_model: DyRCNNx4, implementation: str
) -> None:
    """Compiled step against eager with the default channels-last weights and with PyTorch's NCHW layout."""
    x = torch.randn(BATCH, COMPILE_STEPS, *INPUT_SHAPE, generator=torch.Generator().manual_seed(2))
    run = {"compiled-step": compiled_model, "eager": model}.get(implementation)
    if run is None:
        run = create_model("DyRCNNx4", input_shape=INPUT_SHAPE, n_timesteps=N_STEPS, channels_last=False).eval()
        run.load_state_dict(model.state_dict())

    def forward() -> Tensor:
        with torch.no_grad():
            return run(x)

    benchmark.group = f"dyrcnnx4-compile-b{BATCH}-t{COMPILE_STEPS}"
    benchmark.extra_info.update(batch=BATCH, n_timesteps=COMPILE_STEPS, threads=torch.get_num_threads())
    out = benchmark.pedantic(forward, rounds=5, iterations=1, warmup_rounds=1)
    with torch.no_grad():
        torch.testing.assert_close(out, model(x), rtol=1e-4, atol=1e-5)


IMPLEMENTATIONS: dict[str, Callable[[DyRCNNx4, Tensor], Tensor]] = {
    "engine": lambda model, x: model(x),
    "plain-loop": plain_dyrcnnx4_forward,
    "upstream-order": lambda model, x: plain_dyrcnnx4_forward(model, x, skips_at_source=True),
}


@pytest.mark.parametrize("implementation", list(IMPLEMENTATIONS))
def test_dyrcnnx4_training_step_speed(benchmark, model: DyRCNNx4, implementation: str) -> None:
    """Forward, cross-entropy over every step and backward (upstream's baseline measures the same step).

    ``upstream-order`` computes the skips at the source's resolution as upstream DynVision does; the ratio to
    ``engine`` is the training speed-up of computing nothing that is thrown away.
    """
    x = torch.randn(BATCH, N_STEPS, *INPUT_SHAPE, generator=torch.Generator().manual_seed(3))
    labels = torch.randint(0, 10, (BATCH, N_STEPS), generator=torch.Generator().manual_seed(4))
    run = IMPLEMENTATIONS[implementation]

    def step() -> list[Tensor]:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(run(model, x).flatten(0, 1), labels.flatten()).backward()
        return [p.grad for p in model.parameters()]

    benchmark.group = f"dyrcnnx4-train-b{BATCH}-t{N_STEPS}"
    benchmark.extra_info.update(batch=BATCH, n_timesteps=N_STEPS, threads=torch.get_num_threads())
    grads = benchmark.pedantic(step, rounds=5, iterations=1, warmup_rounds=1)
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x).flatten(0, 1), labels.flatten()).backward()
    for grad, p in zip(grads, model.parameters(), strict=True):
        torch.testing.assert_close(grad, p.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("recurrence_type", ["none", "self", "full", "timedecay", "gru", "lstm", "ugrnn",
                                             "intersection", "reciprocalgated"])
def test_recurrence_type_forward_speed(benchmark, two_threads: None, recurrence_type: str) -> None:
    """Every recurrence type in one group (the gated ConvRNN cells beside the engine's convolutions), CI-sized;
    the README's table (packages/dynvision-models/README.md, Performance) uses batch 64 and T = 20."""
    torch.manual_seed(0)
    model = create_model("DyRCNNx4", input_shape=INPUT_SHAPE, n_timesteps=N_STEPS,
                         recurrence_type=recurrence_type).eval()
    x = torch.randn(BATCH, *INPUT_SHAPE, generator=torch.Generator().manual_seed(5))

    def forward() -> Tensor:
        with torch.no_grad():
            return model(x)

    benchmark.group = f"dyrcnnx4-recurrence-types-b{BATCH}-t{N_STEPS}"
    benchmark.extra_info.update(batch=BATCH, n_timesteps=N_STEPS, recurrence_type=recurrence_type)
    out = benchmark.pedantic(forward, rounds=3, iterations=1, warmup_rounds=1)
    assert out.shape == (BATCH, N_STEPS, 10) and torch.isfinite(out).all()
