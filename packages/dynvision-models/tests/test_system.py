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
    assert {"train/loss_epoch", "train/acc_epoch"} <= set(trainer.callback_metrics)


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
    assert {"train/loss_epoch", "train/acc_epoch"} <= set(trainer.callback_metrics)


# ----------------------------------------------------------------------------- penalties on the recorded rates
def _penalised_reference(model: torch.nn.Module, batch: tuple, weights: dict) -> tuple[Tensor, dict[str, Tensor]]:
    """CE + lambda_a A + lambda_r R from forward_intermediates (detached every tbptt_steps), one backward."""
    from dynvision_models.losses import activity_penalty, post_stimulus_steps, rest_penalty

    frames, labels, mask = batch
    logits, responses = model.forward_intermediates(frames)
    scored = _labels_per_step(labels, mask, logits.shape[0], logits.shape[1], -1)
    loss = temporal_cross_entropy(logits, scored)
    loss = loss + weights.get("activity_weight", 0.0) * activity_penalty(
        responses, weights.get("activity_mode", "metabolic")
    )
    loss = loss + weights.get("rest_weight", 0.0) * rest_penalty(responses, post_stimulus_steps(scored))
    loss.backward()
    return loss.detach(), {name: p.grad for name, p in model.named_parameters()}


@pytest.mark.parametrize(
    ("tbptt", "weights"),
    [
        (0, {"activity_weight": 0.5}),
        (0, {"activity_weight": 0.3, "activity_mode": "balance", "rest_weight": 2.0}),
        (2, {"activity_weight": 0.5, "rest_weight": 1.0}),
        (3, {"rest_weight": 1.5}),
    ],
)
def test_penalties_are_on_when_weighted_and_windows_add_up_to_the_full_loss(tbptt: int, weights: dict) -> None:
    frames, labels, _ = _tbptt_batch()
    batch = (frames, labels, torch.tensor([False, True, True, True, True, False, False]))  # 2 post-stimulus steps
    system = TemporalClassifier(_tbptt_model(tbptt), scheduler=None, **weights)
    assert system.records_responses
    loss = system.training_step(batch, 0)
    loss.backward()
    system.on_after_backward()
    grads = {name: p.grad for name, p in system.model.named_parameters()}
    expected_loss, reference = _penalised_reference(_tbptt_model(tbptt), batch, weights)
    if tbptt == 0:
        torch.testing.assert_close(loss.detach(), expected_loss)
    for name, grad in reference.items():
        torch.testing.assert_close(grads[name], grad, msg=name)
    # The penalty changes the gradients: no hidden opt-in is needed for it to act.
    _, plain = _windowed_gradients(_tbptt_model(tbptt), batch)
    assert any(
        plain[name] is None or not torch.allclose(grads[name], plain[name]) for name in plain if grads[name] is not None
    )


def test_penalty_arguments_are_checked() -> None:
    model = create_model("DyRCNNx2", **TINY)
    with pytest.raises(ValueError, match=r"Unknown activity_mode 'l2'. Allowed: 'metabolic', 'balance'"):
        TemporalClassifier(model, activity_mode="l2")
    with pytest.raises(ValueError, match="rest_weight must be a finite number >= 0, got -1"):
        TemporalClassifier(model, rest_weight=-1)
    with pytest.raises(ValueError, match="is not a TemporalModel"):
        TemporalClassifier(torch.nn.Linear(2, 2), activity_weight=0.1)
    assert not TemporalClassifier(model).records_responses


# ----------------------------------------------------------------------------- parameter groups
def test_lr_factors_put_each_parameter_in_exactly_one_group() -> None:
    model = create_model("DyRCNNx2", **TINY, feedback=True)
    system = TemporalClassifier(model, lr=0.1, scheduler=None, lr_factors={"recurrence": 0.2, "feedback": 0.5})
    groups = system.parameter_groups()
    assert list(groups) == ["recurrence", "feedback", "default"]
    assert groups["recurrence"]["parameters"] == ["areas.V1.recurrence.conv.weight", "areas.V2.recurrence.conv.weight"]
    assert groups["feedback"]["parameters"] == ["feedbacks.V2_to_V1.conv.weight"]
    names = [n for group in groups.values() for n in group["parameters"]]
    assert sorted(names) == sorted(n for n, _ in model.named_parameters())
    optimizer = system.configure_optimizers()
    assert [(g["name"], g["lr"]) for g in optimizer.param_groups] == [
        ("recurrence", pytest.approx(0.02)), ("feedback", pytest.approx(0.05)), ("default", pytest.approx(0.1))
    ]


def test_lr_factors_errors_name_the_problem() -> None:
    model = create_model("DyRCNNx2", **TINY)
    with pytest.raises(ValueError, match=r"key\(s\) \['recurent'\] match no trainable parameter.*areas.V1"):
        TemporalClassifier(model, lr_factors={"recurent": 0.2})
    with pytest.raises(ValueError, match=r"matches several lr_factors keys \['V1', 'recurrence'\]"):
        TemporalClassifier(model, lr_factors={"V1": 0.5, "recurrence": 0.2})
    with pytest.raises(ValueError, match=r"lr_factors\['recurrence'\] must be a number > 0"):
        TemporalClassifier(model, lr_factors={"recurrence": 0})


# ----------------------------------------------------------------------------- per-step accuracy
def test_validation_logs_accuracy_per_time_step(tmp_path) -> None:
    torch.manual_seed(0)
    frames = torch.randn(20, 4, 1, 8, 8)
    labels = torch.randint(0, 3, (20,))
    stimulus = torch.tensor([False, True, True, True])

    def collate(items):
        batch_frames, batch_labels = torch.utils.data.default_collate(items)
        return batch_frames, batch_labels, stimulus

    loader = DataLoader(TensorDataset(frames, labels), batch_size=8, collate_fn=collate)
    system = TemporalClassifier(create_model("DyRCNNx2", **TINY), scheduler=None, activity_weight=0.1, rest_weight=0.1)
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(system, loader, loader)
    metrics = trainer.callback_metrics
    assert {"val/acc_t01", "val/acc_t02", "val/acc_t03", "train/ce_epoch", "train/activity_epoch", "train/rest_epoch"} <= set(metrics)
    assert "val/acc_t00" not in metrics  # step 0 is blank: no valid label
    with torch.no_grad():
        predictions = system(frames).argmax(-1)
    for t in (1, 2, 3):
        expected = (predictions[:, t] == labels).float().mean()
        torch.testing.assert_close(metrics[f"val/acc_t{t:02d}"], expected)
    (result,) = trainer.test(system, loader, verbose=False)
    assert {"test/acc", "test/acc_t03"} <= set(result)


@pytest.mark.parametrize("tbptt", [0, 3])
def test_a_timeline_batch_trains_like_its_written_frames(tbptt: int) -> None:
    """A paradigm's lazy Timeline (image, blank, mask) in a batch: same loss and gradients as the frames."""
    from types import SimpleNamespace

    _, labels, mask = _tbptt_batch()
    image = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    timeline = SimpleNamespace(image=image, shown=mask, blank=0.0)
    frames = torch.stack([image if on else torch.zeros_like(image) for on in mask.tolist()], dim=1)
    lazy_loss, lazy_grads = _windowed_gradients(_tbptt_model(tbptt), (timeline, labels, mask))
    loss, grads = _windowed_gradients(_tbptt_model(tbptt), (frames, labels, mask))
    torch.testing.assert_close(lazy_loss, loss)
    for name, grad in grads.items():
        torch.testing.assert_close(lazy_grads[name], grad, msg=name)
