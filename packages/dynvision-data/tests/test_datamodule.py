from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch

from dynvision_data import (
    IGNORE_INDEX,
    Augmentation,
    Presentation,
    TestDataModule,
    Timeline,
    TrainingDataModule,
    load_stats,
    make_eval_loader,
    make_loader,
)

PARADIGM = {"intro": 1, "stimulus": 2, "outro": 1}


def _module(class_dir: Path, **kwargs) -> TrainingDataModule:
    defaults = {
        "batch_size": 16,
        "val_batch_size": 7,
        "val_fraction": 0.25,
        "seed": 2,
        "split_seed": 3,
        "paradigm": "duration",
        "paradigm_params": PARADIGM,
    }
    return TrainingDataModule(class_dir, **{**defaults, **kwargs})


def _same_batches(a, b) -> bool:
    a, b = list(a), list(b)
    return len(a) == len(b) and all(
        torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b, strict=True)
    )


class _Recorder(L.LightningModule):
    """Tiny model that records what Lightning hands to its steps."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3 * 8 * 8, 3)
        self.shapes: set[tuple] = set()
        self.train_labels: dict[int, list[int]] = {}

    def training_step(self, batch: Presentation, batch_idx: int) -> torch.Tensor:
        frames, labels, stimulus = batch
        self.shapes.add((tuple(frames.shape), tuple(labels.shape), tuple(stimulus.shape)))
        self.train_labels.setdefault(self.current_epoch, []).extend(labels[:, stimulus].select(1, 0).tolist())
        logits = self.linear(frames.flatten(2))
        return torch.nn.functional.cross_entropy(
            logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX
        )

    def validation_step(self, batch: Presentation, batch_idx: int) -> None:
        frames, _, stimulus = batch
        self.shapes.add(("val", tuple(frames.shape[1:]), tuple(stimulus.tolist())))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _trainer(max_epochs: int) -> L.Trainer:
    return L.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )


def test_torch_backend_loaders_yield_images_and_labels(class_folder: Path) -> None:
    data = _module(class_folder)
    train, val = data.train_dataloader(), data.val_dataloader()
    assert train.backend == val.backend == "torch"
    assert data.train_dataloader() is train  # built once
    images, labels = next(iter(train))
    assert images.shape == (16, 3, 8, 8) and images.dtype == torch.float32 and labels.dtype == torch.int64
    assert [len(labels) for _, labels in val] == [7, 7, 7, 7, 2]  # 30 images, nothing dropped
    assert data.classes == ("cat", "dog", "emu") and data.n_timesteps == 4
    assert data.stats == load_stats(class_folder)


def test_loaders_are_make_loader_with_the_module_settings(class_folder: Path) -> None:
    data = _module(class_folder, flip=True, translate=1, crop_scale=(0.5, 1.0))
    common = {"val_fraction": 0.25, "seed": 2, "split_seed": 3, "backend": "torch"}
    train = make_loader(
        class_folder,
        split="train",
        batch_size=16,
        augmentation=Augmentation(flip=True, translate=1, crop_scale=(0.5, 1.0)),
        **common,
    )
    val = make_loader(class_folder, split="val", batch_size=7, **common)
    assert _same_batches(data.train_dataloader(), train)
    assert _same_batches(data.val_dataloader(), val)  # validation is never augmented


def test_after_transfer_a_batch_becomes_a_presentation(class_folder: Path) -> None:
    data = _module(class_folder)
    images, labels = next(iter(data.train_dataloader()))
    assert data.lazy  # the default
    timeline, step_labels, stimulus = data.on_after_batch_transfer((images, labels), 0)
    # Blank steps with lazy=True: a Timeline (the image, the blank, the mask), not written-out frames.
    assert isinstance(timeline, Timeline) and timeline.image is images and timeline.shape == (16, 4, 3, 8, 8)
    assert step_labels.shape == (16, 4) and stimulus.shape == (4,)
    assert stimulus.tolist() == [False, True, True, False] and torch.equal(timeline.shown, stimulus)
    assert step_labels[:, 0].eq(IGNORE_INDEX).all() and torch.equal(step_labels[:, 2], labels)
    data.lazy = False
    frames, again, _ = data.on_after_batch_transfer((images, labels), 0)
    assert frames.shape == (16, 4, 3, 8, 8) and torch.equal(frames, timeline.materialize())
    assert torch.equal(frames[:, 1], images) and frames[:, 0].eq(0.0).all() and torch.equal(again, step_labels)


def test_state_dict_resumes_the_training_epoch_sequence(class_folder: Path) -> None:
    data = _module(class_folder, flip=True, translate=1)
    assert data.state_dict() == {"next_train_epoch": 0}
    train = data.train_dataloader()
    list(train), list(train)
    state = data.state_dict()
    assert state == {"next_train_epoch": 2}
    third = list(train)

    resumed = _module(class_folder, flip=True, translate=1)
    resumed.load_state_dict(state)  # before the loaders exist, as when Lightning restores a checkpoint
    assert resumed.state_dict() == {"next_train_epoch": 2}
    assert _same_batches(resumed.train_dataloader(), third)

    late = _module(class_folder, flip=True, translate=1)
    list(late.train_dataloader())
    late.load_state_dict(state)  # after: the existing loader jumps to the epoch
    assert _same_batches(late.train_dataloader(), third)


def test_lightning_fit_receives_presentations_and_checkpoints_the_epoch(
    class_folder: Path, tmp_path: Path
) -> None:
    data = _module(class_folder)
    model = _Recorder()
    trainer = _trainer(max_epochs=2)
    trainer.fit(model, datamodule=data)
    assert model.shapes == {
        ((16, 4, 3, 8, 8), (16, 4), (4,)),
        ("val", (4, 3, 8, 8), (False, True, True, False)),
    }
    assert data.state_dict() == {"next_train_epoch": 2}
    checkpoint = tmp_path / "last.ckpt"
    trainer.save_checkpoint(checkpoint)

    resumed_data, resumed_model = _module(class_folder), _Recorder()
    _trainer(max_epochs=3).fit(resumed_model, datamodule=resumed_data, ckpt_path=checkpoint)
    assert list(resumed_model.train_labels) == [2]
    reference = data.train_dataloader()
    reference.set_epoch(2)
    expected = torch.cat([labels for _, labels in reference]).tolist()
    assert resumed_model.train_labels[2] == expected  # epoch 2 of the resumed run is epoch 2, not epoch 0
    assert resumed_data.state_dict() == {"next_train_epoch": 3}


def test_hyperparameters_are_plain_values_that_load_with_weights_only(
    class_folder: Path, tmp_path: Path
) -> None:
    data = _module(class_folder, train_beton=None, val_beton=None)
    assert data.hparams["class_dir"] == str(class_folder) and data.hparams["paradigm_params"] == PARADIGM
    torch.save(dict(data.hparams), tmp_path / "hparams.pt")
    assert torch.load(tmp_path / "hparams.pt", weights_only=True)["class_dir"] == str(class_folder)


def test_limit_shrinks_training_only(class_folder: Path) -> None:
    data = _module(class_folder, limit=20)
    assert data.train_dataloader().n_samples == 20 and data.val_dataloader().n_samples == 30


def test_bad_paradigm_or_arguments_are_named(class_folder: Path) -> None:
    with pytest.raises(KeyError, match=r"Unknown paradigm 'duraton'\. Did you mean 'duration'"):
        _module(class_folder, paradigm="duraton")
    with pytest.raises(ValueError, match="stimulus must be >= 1, got 0"):
        _module(class_folder, paradigm_params={"intro": 1, "stimulus": 0, "outro": 1})
    with pytest.raises(ValueError, match="intro must be >= 0, got -2"):
        _module(class_folder, paradigm_params={"intro": -2})
    with pytest.raises(TypeError, match="unknown parameter"):
        _module(class_folder, paradigm_params={"steps": 3})
    with pytest.raises(ValueError, match="translate must be >= 0"):
        _module(class_folder, translate=-1)
    with pytest.raises(ValueError, match="val_fraction must be strictly between 0 and 1"):
        _module(class_folder, val_fraction=0)
    with pytest.raises(ValueError, match="backend='ffcv' needs train_beton and val_beton"):
        _module(class_folder, backend="ffcv")
    with pytest.raises(ValueError, match="Give both train_beton and val_beton"):
        _module(class_folder, train_beton=class_folder / "train.beton")


def test_missing_class_folder_is_named_when_loading(tmp_path: Path) -> None:
    data = _module(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="does not exist") as info:
        data.train_dataloader()
    assert str(tmp_path / "missing") in str(info.value)


@pytest.mark.ffcv
def test_betons_of_another_split_seed_are_refused(betons) -> None:
    with pytest.raises(ValueError, match=r"\(role, seed, val_fraction, class_dir\)") as info:
        _module(betons.class_dir, train_beton=betons.train, val_beton=betons.val, split_seed=4)
    assert str(betons.train) in str(info.value)
    with pytest.raises(ValueError, match="was written as"):
        _module(betons.class_dir, train_beton=betons.train, val_beton=betons.val, val_fraction=0.1)
    with pytest.raises(ValueError, match=r"val\.beton was written as .* = \('val'"):
        _module(betons.class_dir, train_beton=betons.val, val_beton=betons.train)


@pytest.mark.ffcv
def test_ffcv_and_torch_data_modules_yield_identical_batches(betons) -> None:
    settings = {"flip": True, "translate": 1, "limit": 40}
    ffcv = _module(
        betons.class_dir, train_beton=betons.train, val_beton=betons.val, num_workers=1, **settings
    )
    plain = _module(betons.class_dir, backend="torch", **settings)
    assert ffcv.train_dataloader().backend == "ffcv" and plain.train_dataloader().backend == "torch"
    assert ffcv.stats == plain.stats
    assert _same_batches(ffcv.train_dataloader(), plain.train_dataloader())
    assert _same_batches(ffcv.val_dataloader(), plain.val_dataloader())
    assert ffcv.state_dict() == plain.state_dict() == {"next_train_epoch": 1}


# ------------------------------------------------------------------------------------------- TestDataModule
def _test_module(class_dir: Path, **kwargs) -> TestDataModule:
    defaults = {
        "stats": load_stats(class_dir),
        "batch_size": 32,
        "paradigm": "duration",
        "paradigm_params": PARADIGM,
    }
    return TestDataModule(class_dir, **{**defaults, **kwargs})


class _Tester(L.LightningModule):
    """Records what ``Trainer.test`` hands to ``test_step``."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[Presentation] = []

    def test_step(self, batch: Presentation, batch_idx: int) -> None:
        self.batches.append(Presentation(*(t.clone() for t in batch)))


def test_test_module_yields_every_image_in_stored_order(class_folder: Path) -> None:
    stats = load_stats(class_folder)
    data = _test_module(class_folder, classes=("cat", "dog", "emu"))
    assert data.n_timesteps == 4 and data.classes == ("cat", "dog", "emu")
    reference = make_eval_loader(class_folder, stats=stats, batch_size=32, classes=("cat", "dog", "emu"))
    assert _same_batches(data.test_dataloader(), reference)
    assert [len(labels) for _, labels in data.test_dataloader()] == [
        32,
        32,
        32,
        24,
    ]  # 120 images, none dropped


def test_trainer_test_receives_presentations(class_folder: Path) -> None:
    data = _test_module(
        class_folder,
        paradigm="interval",
        paradigm_params={"intro": 1, "stimulus": 1, "interval": 1, "outro": 1},
    )
    model = _Tester()
    _trainer(max_epochs=1).test(model, datamodule=data, verbose=False)
    assert len(model.batches) == 4
    frames, labels, stimulus = model.batches[0]
    assert (
        frames.shape == (32, 5, 3, 8, 8)
        and labels.shape == (32, 5)
        and stimulus.tolist() == [False, True, False, True, False]
    )
    images, truth = next(iter(data.test_dataloader()))
    assert (
        torch.equal(frames[:, 3], images)
        and torch.equal(labels[:, 1], truth)
        and labels[:, 2].eq(IGNORE_INDEX).all()
    )


def test_seeded_noise_is_the_same_in_every_test_run(class_folder: Path) -> None:
    params = {
        "stimulus": 3,
        "noise_type": "gaussian",
        "ssnr": 0.5,
        "temporal_mode": "dynamic",
        "noise_seed": 1,
    }
    runs = []
    for data in (_test_module(class_folder, paradigm="noise", paradigm_params=params),) * 2 + (
        _test_module(class_folder, paradigm="noise", paradigm_params=params),
    ):
        model = _Tester()
        _trainer(max_epochs=1).test(model, datamodule=data, verbose=False)
        runs.append(model.batches)
    for batches in runs[1:]:  # the same module twice, then a fresh module: identical noise per batch
        assert all(torch.equal(a.frames, b.frames) for a, b in zip(runs[0], batches, strict=True))
    first = runs[0][0]
    assert not torch.equal(first.frames[:, 0], first.frames[:, 1])  # dynamic: fresh noise each step
    assert torch.isfinite(first.frames).all()
    assert first.frames.shape == (32, 3, 3, 8, 8)


def test_test_module_limit_warns_and_caps(class_folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = _test_module(class_folder, limit=50)
    with pytest.warns(UserWarning, match="Testing only a seeded subset of 50 images"):
        loader = data.test_dataloader()
    assert sum(len(labels) for _, labels in loader) == 50
    assert "limit=50" in caplog.text


def test_test_module_checks_its_arguments(class_folder: Path) -> None:
    with pytest.raises(ValueError, match=r"needs 4 steps .*but only n_timesteps=3"):
        _test_module(class_folder, n_timesteps=3)
    assert _test_module(class_folder, n_timesteps=4).n_timesteps == 4
    with pytest.raises(KeyError, match=r"Unknown paradigm 'noize'\. Did you mean 'noise'"):
        _test_module(class_folder, paradigm="noize")
    with pytest.raises(ValueError, match=r"ssnr must be in \[0, 1\]"):
        _test_module(class_folder, paradigm="noise", paradigm_params={"ssnr": 2})
    with pytest.raises(TypeError, match=r"stats must be a dynvision_data\.Stats"):
        _test_module(class_folder, stats={"mean": (0.5,), "std": (0.2,)})
    with pytest.raises(ValueError, match="limit must be >= 1, got 0"):
        _test_module(class_folder, limit=0)
