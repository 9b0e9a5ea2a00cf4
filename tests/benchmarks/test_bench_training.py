"""Speed of one training epoch through Lightning (``TemporalClassifier`` + ``Trainer``) against a bare loop.

Both train the same small DyRCNNx2 (same initial weights, AdamW, same learning rate) on the same random 1x16x16
images from a :class:`~dynvision_data.TensorBatchLoader` (static images shown for ``T`` steps, cross-entropy over
every step), one epoch of the same number of optimizer steps, in one benchmark group, so pytest-benchmark's table
shows the ratio (Lightning's overhead). The Trainer runs without logger, checkpoints, progress bar or sanity
check; the module logs what it always logs. Only correctness is asserted (finite losses, same step count); the
ratio measured on the development machine is quoted in packages/dynvision-models/README.md ("Performance").
"""

from __future__ import annotations

import lightning as L
import pytest
import torch

from dynvision_data import BatchTransform, Stats, TensorBatchLoader
from dynvision_models import create_model, temporal_cross_entropy
from dynvision_models.system import TemporalClassifier

N_IMAGES, BATCH, N_STEPS, LR = 1024, 32, 5, 1e-3  # 32 optimizer steps per epoch
_MEDIANS: dict[str, float] = {}
MODEL = {"n_classes": 4, "input_shape": (1, 16, 16), "n_timesteps": N_STEPS, "channels": (8, 16)}


def _loader() -> TensorBatchLoader:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (N_IMAGES, 1, 16, 16), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 4, (N_IMAGES,), generator=generator)
    stats = Stats(mean=(0.5,), std=(0.25,), count=N_IMAGES)
    return TensorBatchLoader(
        images, labels, batch_size=BATCH, shuffle=True, drop_last=False, transform=BatchTransform(stats), seed=0,
        classes=("a", "b", "c", "d"),
    )


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: a small model gains little from more, and a shared CI runner's load skews them less."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("DyRCNNx2", **MODEL)


def bare_epoch(model: torch.nn.Module, loader: TensorBatchLoader) -> list[float]:
    """One epoch written out: forward, cross-entropy over all steps, backward, AdamW step."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR)
    model.train()
    losses = []
    for images, labels in loader:
        logits = model(images)
        loss = temporal_cross_entropy(logits, labels.unsqueeze(1).expand(-1, logits.shape[1]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


class _Count(L.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))


def lightning_epoch(model: torch.nn.Module, loader: TensorBatchLoader) -> list[float]:
    """One epoch through Lightning with the same optimizer and steps."""
    system = TemporalClassifier(model, lr=LR, optimizer="adamw", scheduler=None)
    count = _Count()
    trainer = L.Trainer(
        max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, callbacks=[count],
    )
    trainer.fit(system, loader)
    return count.losses


def _check(losses: list[float]) -> None:
    assert len(losses) == len(_loader())
    assert all(torch.isfinite(torch.tensor(losses)))


@pytest.mark.benchmark(group="training-epoch")
def test_bench_lightning_epoch(benchmark) -> None:
    benchmark.extra_info.update(batch=BATCH, steps=N_STEPS, images=N_IMAGES)
    losses = benchmark.pedantic(lightning_epoch, setup=lambda: ((_model(), _loader()), {}), rounds=3, warmup_rounds=1)
    _check(losses)
    _MEDIANS["lightning"] = benchmark.stats.stats.median


@pytest.mark.benchmark(group="training-epoch")
def test_bench_bare_loop(benchmark) -> None:
    benchmark.extra_info.update(batch=BATCH, steps=N_STEPS, images=N_IMAGES)
    losses = benchmark.pedantic(bare_epoch, setup=lambda: ((_model(), _loader()), {}), rounds=3, warmup_rounds=1)
    _check(losses)
    if "lightning" in _MEDIANS:  # recorded, not judged: the ratio of the medians, Lightning over bare
        benchmark.extra_info["lightning_over_bare"] = _MEDIANS["lightning"] / benchmark.stats.stats.median


def test_both_loops_compute_the_same_first_loss() -> None:
    torch.manual_seed(0)
    bare, lightning = bare_epoch(_model(), _loader()), lightning_epoch(_model(), _loader())
    assert len(bare) == len(lightning)
    assert bare[0] == pytest.approx(lightning[0], rel=1e-5)
