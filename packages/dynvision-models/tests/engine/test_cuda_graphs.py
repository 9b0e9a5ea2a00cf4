"""GPU options of the engine: CUDA-graph replay (on a GPU), bf16 autocast and channels-last (also on CPU)."""

from __future__ import annotations

import pytest
import torch

from dynvision_models import create_model, temporal_cross_entropy
from dynvision_models.engine import GraphedForward, GraphedTrainStep, graph_loss
from dynvision_models.engine.cuda_graphs import _Snapshot

SHAPE = (3, 16, 16)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _model(**kwargs: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(
        "DyRCNNx2", input_shape=SHAPE, n_timesteps=6, channels=(4, 8), t_recurrence=2, dt=1, tau=3, **kwargs
    )


def _batch(batch: int = 4, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    frames = torch.rand(batch, 6, *SHAPE, generator=generator)
    labels = torch.randint(0, 10, (batch, 1), generator=generator).expand(batch, 6).contiguous()
    return frames.to(device), labels.to(device)


def test_graph_loss_is_the_temporal_cross_entropy() -> None:
    logits, labels = torch.randn(3, 5, 10), torch.randint(0, 10, (3, 5))
    labels[0, :2] = -1
    torch.testing.assert_close(graph_loss(logits, labels), temporal_cross_entropy(logits, labels))
    # No host sync, so no validity check: a batch without valid steps gives NaN instead of an error.
    assert torch.isnan(graph_loss(logits, torch.full((3, 5), -1)))


def test_an_optimizer_that_cannot_be_recorded_is_refused_by_name() -> None:
    model = _model()
    frames, labels = _batch()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    with pytest.raises(ValueError, match=r"AdamW was built with capturable=False.*capturable=True"):
        GraphedTrainStep(model, optimizer, frames, labels)


def test_without_a_gpu_the_error_says_to_run_eagerly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    model = _model()
    frames, labels = _batch()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, capturable=True)
    with pytest.raises(RuntimeError, match=r"need a CUDA GPU.*eagerly"):
        GraphedTrainStep(model, optimizer, frames, labels)
    with pytest.raises(RuntimeError, match="need a CUDA GPU"):
        GraphedForward(model, frames)


@needs_cuda
def test_a_model_left_on_the_cpu_is_named() -> None:
    frames, _ = _batch(device="cuda")
    with pytest.raises(ValueError, match=r"one CUDA device; found \['cpu', 'cuda:0'\]"):
        GraphedForward(_model(), frames)


def test_the_warmup_is_undone_in_place() -> None:
    """Building a graphed step must not train the model: weights back, fresh optimizer state zeroed, same tensors."""
    model = _model()
    frames, labels = _batch()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    addresses = [p.data_ptr() for p in model.parameters()]
    snapshot = _Snapshot(model, optimizer)
    for _ in range(2):
        optimizer.zero_grad()
        graph_loss(model(frames), labels).backward()
        optimizer.step()
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters())
    snapshot.restore(optimizer)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p, before[name], rtol=0, atol=0)
    assert [p.data_ptr() for p in model.parameters()] == addresses
    for state in optimizer.state.values():
        assert all(not torch.any(v) for v in state.values() if isinstance(v, torch.Tensor))


def test_bf16_autocast_trains_on_the_cpu() -> None:
    """The engine under bf16 autocast (the GPU's mixed precision, here on the CPU): finite, close, all gradients."""
    model = _model(skip=True)
    frames, labels = _batch()
    reference = model(frames)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(frames)
        loss = graph_loss(logits, labels)
    loss.backward()
    assert logits.dtype == torch.bfloat16
    torch.testing.assert_close(logits.float(), reference, rtol=0.05, atol=0.05)
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_channels_last_frames_give_the_same_responses() -> None:
    """Frames stored NHWC (as a channels-last loader yields them) into either weight layout: same responses."""
    frames, _ = _batch()
    nhwc = frames.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
    reference, responses = _model(skip=True, channels_last=False).forward_intermediates(frames)
    for channels_last in (False, True):
        logits, nhwc_responses = _model(skip=True, channels_last=channels_last).forward_intermediates(nhwc)
        torch.testing.assert_close(logits, reference, rtol=1e-5, atol=1e-6)
        for area, rate in responses.items():
            torch.testing.assert_close(nhwc_responses[area], rate, rtol=1e-5, atol=1e-6)


@pytest.mark.gpu
@needs_cuda
def test_graphed_training_matches_eager_training() -> None:
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    frames, labels = _batch(device="cuda")
    eager, graphed = _model().cuda(), _model().cuda()
    opt_eager = torch.optim.AdamW(eager.parameters(), lr=1e-2, capturable=True)
    opt_graphed = torch.optim.AdamW(graphed.parameters(), lr=1e-2, capturable=True)
    step = GraphedTrainStep(graphed, opt_graphed, frames, labels)
    for p, q in zip(eager.parameters(), graphed.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)  # recording trained nothing
    for i in range(3):
        batch = (frames.roll(i, 0), labels.roll(i, 0))
        opt_eager.zero_grad()
        loss = graph_loss(eager(batch[0]), batch[1])
        loss.backward()
        opt_eager.step()
        torch.testing.assert_close(step(*batch), loss.detach(), rtol=1e-4, atol=1e-5)
    for p, q in zip(eager.parameters(), graphed.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"shape \(2, 6, 3, 16, 16\).*recorded for shape \(4, 6, 3, 16, 16\)"):
        step(frames[:2], labels[:2])


@pytest.mark.gpu
@needs_cuda
def test_graphed_forward_matches_eager() -> None:
    model = _model(skip=True).cuda().eval()
    frames, _ = _batch(device="cuda")
    graphed = GraphedForward(model, frames)
    for i in range(2):
        x = frames.roll(i, 0) * (i + 1)
        with torch.no_grad():
            torch.testing.assert_close(graphed(x), model(x))
