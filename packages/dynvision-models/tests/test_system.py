from __future__ import annotations

import lightning as L
import pytest
import torch
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
