from __future__ import annotations

import lightning as L
import pytest
import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from dynvision_models import create_model, temporal_cross_entropy
from dynvision_models.system import TemporalClassifier, WarmupCosine, _labels_per_step

TINY = {"n_classes": 3, "input_shape": (1, 8, 8), "n_timesteps": 4, "channels": (3, 4)}


def test_a_time_mask_shared_by_the_batch_scores_only_its_steps() -> None:
    labels = torch.tensor([2, 0])
    mask = torch.tensor([False, True, True, False])
    per_step = _labels_per_step(labels, mask, batch=2, n_steps=4, ignore_index=-1)
    assert per_step.tolist() == [[-1, 2, 2, -1], [-1, 0, 0, -1]]


def test_a_per_sample_mask_and_a_wrong_mask_shape() -> None:
    labels = torch.tensor([[1, 1, 1], [2, 2, 2]])
    mask = torch.tensor([[True, False, True], [False, False, True]])
    assert _labels_per_step(labels, mask, 2, 3, -1).tolist() == [[1, -1, 1], [-1, -1, 2]]
    with pytest.raises(ValueError, match=r"stimulus_mask must be \(batch, time\)=\(2, 3\) or \(time,\)=\(3,\)"):
        _labels_per_step(labels, torch.ones(5, dtype=torch.bool), 2, 3, -1)


def test_loss_ignores_unscored_steps() -> None:
    logits = torch.randn(2, 3, 4)
    labels = torch.tensor([[1, -1, 3], [-1, -1, 0]])
    expected = torch.nn.functional.cross_entropy(logits[labels >= 0], labels[labels >= 0])
    torch.testing.assert_close(temporal_cross_entropy(logits, labels), expected)
    with pytest.raises(ValueError, match="No valid time step"):
        temporal_cross_entropy(logits, torch.full((2, 3), -1))


def test_lightning_fits_on_paradigm_batches_and_the_loss_falls(tmp_path) -> None:
    torch.manual_seed(0)
    images = torch.randn(64, 1, 8, 8)
    classes = (images.mean(dim=(1, 2, 3)) > 0).long()
    frames = images.unsqueeze(1).expand(64, 4, 1, 8, 8).clone()
    frames[:, 0] = 0.0  # one blank step before the stimulus
    labels = classes.view(-1, 1).expand(64, 4)
    stimulus = torch.tensor([False, True, True, True])

    def collate(items):
        batch_frames, batch_labels = torch.utils.data.default_collate(items)
        return batch_frames, batch_labels, stimulus  # (T,) mask, as dynvision-data paradigms give it

    loader = DataLoader(TensorDataset(frames, labels), batch_size=16, collate_fn=collate)
    system = TemporalClassifier(create_model("DyRCNNx2", **{**TINY, "n_classes": 2}), lr=0.01)
    trainer = L.Trainer(max_epochs=4, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path)
    before = _mean_loss(system, loader)
    trainer.fit(system, loader)
    assert _mean_loss(system, loader) < before
    assert {"train/loss", "train/acc"} <= set(trainer.callback_metrics)


def _mean_loss(system: TemporalClassifier, loader: DataLoader) -> float:
    with torch.no_grad():
        losses = []
        for frames, labels, stimulus in loader:
            scored = _labels_per_step(labels, stimulus, labels.shape[0], labels.shape[1], -1)
            losses.append(temporal_cross_entropy(system(frames), scored))
    return float(torch.stack(losses).mean())


def test_warmup_cosine_schedule() -> None:
    schedule = WarmupCosine(warmup=2, total=10)
    assert schedule(0) == pytest.approx(1 / 3) and schedule(1) == pytest.approx(2 / 3)
    assert schedule(2) == pytest.approx(1.0)
    assert schedule(10) == pytest.approx(0.0)


def test_checkpoint_rebuilds_the_model_by_name(tmp_path) -> None:
    model = create_model("DyRCNNx2", **TINY)
    system = TemporalClassifier(model, scheduler=None)
    trainer = L.Trainer(max_epochs=0, logger=False, enable_progress_bar=False, default_root_dir=tmp_path)
    trainer.strategy.connect(system)
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    restored = TemporalClassifier.from_checkpoint(path)
    x = torch.rand(2, 1, 8, 8)
    torch.testing.assert_close(restored(x), system(x))


# ----------------------------------------------------------------------------- truncated BPTT, window by window
def _windowed_gradients(model: torch.nn.Module, batch: tuple) -> tuple[Tensor, dict[str, Tensor]]:
    """Loss and gradients of one training step without a Trainer (what Lightning's closure does)."""
    system = TemporalClassifier(model, scheduler=None)
    loss = system.training_step(batch, 0)
    # Lightning zeroes the gradients here, then backpropagates the returned loss and calls on_after_backward.
    loss.backward()
    system.on_after_backward()
    return loss, {name: p.grad for name, p in model.named_parameters()}


def _reference_gradients(model: torch.nn.Module, batch: tuple) -> dict[str, Tensor]:
    frames, labels, mask = batch
    logits = model(frames)
    scored = _labels_per_step(labels, mask, logits.shape[0], logits.shape[1], -1)
    temporal_cross_entropy(logits, scored).backward()
    return {name: p.grad for name, p in model.named_parameters()}


def _tbptt_model(tbptt: int) -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model("DyRCNNx2", **{**TINY, "n_timesteps": 7}, tbptt_steps=tbptt, feedback=True, skip=True)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "recurrence" in name or "feedbacks" in name:
                p.mul_(30.0)
    return model


def _tbptt_batch() -> tuple[Tensor, Tensor, Tensor]:
    generator = torch.Generator().manual_seed(1)
    frames = torch.randn(3, 7, 1, 8, 8, generator=generator)
    labels = torch.randint(0, 3, (3, 7), generator=generator)
    mask = torch.tensor([False, True, True, False, True, True, True])
    return frames, labels, mask


@pytest.mark.parametrize("tbptt", [7, 20])
def test_windows_as_long_as_the_input_equal_full_bptt(tbptt: int) -> None:
    loss, grads = _windowed_gradients(_tbptt_model(tbptt), _tbptt_batch())
    reference = _reference_gradients(_tbptt_model(0), _tbptt_batch())
    frames, labels, mask = _tbptt_batch()
    with torch.no_grad():
        expected = temporal_cross_entropy(_tbptt_model(0)(frames), _labels_per_step(labels, mask, 3, 7, -1))
    torch.testing.assert_close(loss.detach(), expected)
    for name, grad in reference.items():
        torch.testing.assert_close(grads[name], grad, msg=name)


@pytest.mark.parametrize("tbptt", [1, 2, 3])
def test_window_by_window_backward_equals_detaching_every_k_steps(tbptt: int) -> None:
    batch = _tbptt_batch()
    _, grads = _windowed_gradients(_tbptt_model(tbptt), batch)
    # The reference: one forward of all steps with the states detached every k steps, one backward.
    model = _tbptt_model(tbptt)
    reference = _reference_gradients(model, batch)
    assert grads.keys() == reference.keys()
    for name, grad in reference.items():
        torch.testing.assert_close(grads[name], grad, msg=name)


def test_lightning_trains_window_by_window_with_gradient_clipping(tmp_path) -> None:
    frames, labels, _ = _tbptt_batch()
    loader = DataLoader(TensorDataset(frames, labels), batch_size=3)
    system = TemporalClassifier(_tbptt_model(3), lr=0.01, scheduler="cosine")
    before = [p.detach().clone() for p in system.model.parameters()]
    trainer = L.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path, gradient_clip_val=0.5,
                        accumulate_grad_batches=1)
    trainer.fit(system, loader)
    assert system.automatic_optimization
    assert any(not torch.equal(b, p) for b, p in zip(before, system.model.parameters(), strict=True))
    assert {"train/loss", "train/acc"} <= set(trainer.callback_metrics)
