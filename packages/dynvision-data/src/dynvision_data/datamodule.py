"""Lightning data modules for training (FFCV or torch) and testing, presented over time by a paradigm."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import lightning as L

from ._batching import BatchLoader
from ._util import check_fraction, check_int
from .ffcv.metadata import beton_class_dir, read_beton_metadata, validate_beton
from .loaders import Backend, make_eval_loader, make_loader
from .paradigms import Paradigm, Presentation, create_paradigm
from .stats import Stats, load_stats
from .transforms import Augmentation

__all__ = ["TestDataModule", "TrainingDataModule"]

log = logging.getLogger(__name__)


class TrainingDataModule(L.LightningDataModule):
    """Training and validation batches for a LightningModule, as :class:`~dynvision_data.Presentation` s.

    Loaders yield ``(images (B, C, H, W) float32, labels (B,) int64)``; after Lightning moves a batch to the
    model's device, :meth:`on_after_batch_transfer` applies the paradigm there, so the LightningModule's
    ``training_step``/``validation_step`` receive ``(frames (B, T, C, H, W), labels (B, T), stimulus (T,))``
    (``frames`` a read-only :class:`~dynvision_data.Timeline` where the paradigm has blank steps, unless
    ``lazy=False``)
    with labels -1 outside the stimulus.

    Validation is deterministic: stored order, no augmentation, no dropped batch.

    Under data-parallel training (``Trainer(devices=n, strategy="ddp")``, ``world_size > 1``) each process gets its
    shard of every epoch (:meth:`~dynvision_data.BatchLoader.shard`; torch backend).

    Args:
        class_dir: Training class folder (e.g. ``<root>/mnist5k/train``); the torch backend reads it.
        train_beton: ``.beton`` with the training part (from :func:`~dynvision_data.write_betons`); needed
            for the FFCV backend.
        val_beton: ``.beton`` with the validation part.
        backend: ``"auto"`` (FFCV when both betons are given and ffcv imports, else torch), ``"ffcv"``, ``"torch"``.
        val_fraction: Share of each class held out for validation (must match the betons').
        seed: Seed of the epoch orders and of augmentation (e.g. the model's seed).
        split_seed: Seed of the train/val split (must match the betons'); default ``seed``. Keep it fixed
            across model seeds so that every model is validated on the same images.
        batch_size: Training images per batch.
        val_batch_size: Validation images per batch (default ``batch_size``).
        flip: Random left-right flips in training (leave off for digits).
        translate: Random shifts of up to this many pixels in training (0 = off).
        crop_scale: Random resized crop in training: range ``(low, high)`` of the box's share of the image area
            (see :class:`~dynvision_data.Augmentation`); ``None`` (default) = off.
        paradigm: Registered paradigm name (see :func:`~dynvision_data.list_paradigms`).
        paradigm_params: The paradigm's parameters, in steps (e.g. ``{"intro": 1, "stimulus": 5, "outro": 4}``).
        num_workers: FFCV decoding threads (default: usable cores).
        limit: Train on a seeded subset of this many training images (validation is unchanged); ``None``: all.
        lazy: Present timelines with blank steps as a :class:`~dynvision_data.Timeline` (the image, the blank
            and the mask; dynvision-models' models pick each step's frame) instead of writing
            ``(B, T, C, H, W)`` frames, so presenting a batch costs the same at any ``T``. A LightningModule
            of your own can use the timeline as the frames tensor (``frames[:, t]``, torch functions, tensor
            methods; the frames are then written once). ``False`` always writes them.
        resolution: Resize every image to shorter side ``N`` and centre-crop it to ``N x N`` (trees of photos in
            many sizes, e.g. ImageNet); ``None``: images as stored. Betons use the resolution they were written
            with (:func:`~dynvision_data.write_betons`); a different value raises.
        classes: The full dataset's class list when ``class_dir`` holds only some classes (a class group), so that
            labels keep their indices in it; ``None``: the folder's classes. Class folders only (not betons).
    """

    def __init__(
        self,
        class_dir: str | os.PathLike[str],
        *,
        train_beton: str | os.PathLike[str] | None = None,
        val_beton: str | os.PathLike[str] | None = None,
        backend: Backend = "auto",
        val_fraction: float = 0.1,
        seed: int = 0,
        split_seed: int | None = None,
        batch_size: int = 128,
        val_batch_size: int | None = None,
        flip: bool = False,
        translate: int = 0,
        crop_scale: tuple[float, float] | None = None,
        paradigm: str = "duration",
        paradigm_params: Mapping[str, Any] | None = None,
        num_workers: int | None = None,
        limit: int | None = None,
        lazy: bool = True,
        resolution: int | None = None,
        classes: tuple[str, ...] | list[str] | None = None,
    ) -> None:
        super().__init__()
        # Hyperparameters go into checkpoints; plain strings keep them loadable by torch.load(weights_only=True),
        # which refuses pathlib objects and so would break resuming with ckpt_path.
        class_dir = os.fspath(class_dir)
        train_beton = None if train_beton is None else os.fspath(train_beton)
        val_beton = None if val_beton is None else os.fspath(val_beton)
        self.save_hyperparameters()
        self.class_dir = Path(class_dir)
        self.val_fraction = check_fraction("val_fraction", val_fraction)
        self.seed = check_int("seed", seed, minimum=0)
        self.split_seed = self.seed if split_seed is None else check_int("split_seed", split_seed, minimum=0)
        self.limit = None if limit is None else check_int("limit", limit, minimum=1)
        self.resolution = None if resolution is None else check_int("resolution", resolution, minimum=2)
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.val_batch_size = check_int("val_batch_size", val_batch_size or batch_size, minimum=1)
        self.augmentation = Augmentation(flip=bool(flip), translate=translate, crop_scale=crop_scale)
        self.paradigm: Paradigm = create_paradigm(paradigm, **dict(paradigm_params or {}))
        self.lazy = bool(lazy)
        self.num_workers = num_workers
        self.backend = backend
        self.classes_arg = None if classes is None else tuple(classes)
        if self.classes_arg is not None and train_beton is not None:
            raise ValueError(
                "classes= applies to class folders (e.g. a class group with the full dataset's labels); .beton files "
                "record their own classes: give either classes or the betons."
            )
        if (train_beton is None) != (val_beton is None):
            raise ValueError("Give both train_beton and val_beton, or neither.")
        if backend == "ffcv" and train_beton is None:
            raise ValueError(
                "backend='ffcv' needs train_beton and val_beton (write them with write_betons())."
            )
        self.betons = None if train_beton is None else {"train": Path(train_beton), "val": Path(val_beton)}  # type: ignore[arg-type]
        if self.betons is not None:
            for role, path in self.betons.items():
                meta = read_beton_metadata(path)
                # The structure too, before anything is written (a logger's files): a damaged file of the recorded
                # size would otherwise stop training only when its loader is made.
                validate_beton(path, expected_count=meta.count)
                recorded = (meta.role, meta.seed, meta.val_fraction, beton_class_dir(path, meta))
                expected = (role, self.split_seed, self.val_fraction, self.class_dir.resolve())
                if recorded != expected:
                    raise ValueError(
                        f"{path} was written as (role, seed, val_fraction, class_dir) = {recorded}, but this data "
                        f"module expects {expected}. Pass matching arguments or rewrite the betons, so that "
                        "both backends see the same train/val membership."
                    )
        self._loaders: dict[str, BatchLoader] = {}
        self._resume_epoch: int | None = None

    @property
    def stats(self) -> Stats:
        """Normalisation statistics of the training class folder (pass them to :func:`~dynvision_data.make_eval_loader`)."""
        if self.betons is not None:
            return read_beton_metadata(self.betons["train"]).stats
        return load_stats(self.class_dir, resolution=self.resolution)

    @property
    def n_timesteps(self) -> int:
        """Steps per presentation."""
        return self.paradigm.n_timesteps

    def _loader(self, role: str) -> BatchLoader:
        if role not in self._loaders:
            training = role == "train"
            source = self.betons[role] if self.betons is not None else self.class_dir
            backend = self.backend if self.betons is not None else "torch"
            self._loaders[role] = make_loader(
                source,
                split=role,  # type: ignore[arg-type]
                batch_size=self.batch_size if training else self.val_batch_size,
                augmentation=self.augmentation if training else None,
                backend=backend,
                val_fraction=self.val_fraction,
                seed=self.seed,
                split_seed=self.split_seed,
                num_workers=self.num_workers,
                limit=self.limit if training else None,
                resolution=self.resolution,
                classes=self.classes_arg,
            )
            if training and self._resume_epoch is not None:
                self._loaders[role].set_epoch(self._resume_epoch)
            # Data-parallel (DDP): Lightning shards only torch DataLoaders, so shard ours by the trainer's rank.
            trainer = self.trainer
            if trainer is not None and trainer.world_size > 1:
                self._loaders[role].shard(trainer.global_rank, trainer.world_size)
        return self._loaders[role]

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names of the training data; a label is a position in this list."""
        return self._loader("val").classes

    def train_dataloader(self) -> BatchLoader:
        return self._loader("train")

    def val_dataloader(self) -> BatchLoader:
        return self._loader("val")

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Presentation:
        """Turn ``(images, labels)`` into ``Presentation(frames, labels, stimulus)`` on the batch's device."""
        images, labels = batch
        return self.paradigm(images, labels, lazy=self.lazy)

    def state_dict(self) -> dict[str, Any]:
        """Checkpointed state: the next training epoch, so a resumed run continues the same epoch sequence."""
        loader = self._loaders.get("train")
        return {"next_train_epoch": loader.epoch if loader is not None else (self._resume_epoch or 0)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._resume_epoch = int(state_dict.get("next_train_epoch", 0))
        if "train" in self._loaders:
            self._loaders["train"].set_epoch(self._resume_epoch)


class TestDataModule(L.LightningDataModule):
    """Test batches of a class folder for ``Trainer.test``, presented over time by a paradigm.

    The loader is deterministic: every image (unless ``limit``) in stored order, no augmentation, nothing
    dropped, normalised with the *training* statistics. :meth:`on_after_batch_transfer` applies the paradigm
    on the batch's device, so ``test_step`` receives
    ``(frames (B, T, C, H, W), labels (B, T), stimulus (T,))`` (``frames`` a read-only
    :class:`~dynvision_data.Timeline` where the paradigm has blank steps, unless ``lazy=False``).
    The paradigm's batch counter restarts at 0 every time the test loader is iterated, so seeded noise or
    pattern draws give every test image the same frames in every run.

    Args:
        class_dir: Test class folder ``<class_dir>/<class>/<image>``.
        stats: Normalisation statistics of the training data (e.g. ``TrainingDataModule.stats``).
        classes: The training class list, so labels keep their training indices (default: the folder's
            sorted names).
        paradigm: Registered paradigm name (see :func:`~dynvision_data.list_paradigms`).
        paradigm_params: The paradigm's parameters, in steps (e.g. ``{"intro": 2, "stimulus": 10}``).
        batch_size: Test images per batch (the last batch may be smaller).
        limit: Test only a seeded subset of this many images (a warning and a log line say so); ``None``: all.
        n_timesteps: The model's number of steps, if fixed: the paradigm must fit
            (:meth:`~dynvision_data.Paradigm.check_fits`).
        lazy: As in :class:`TrainingDataModule`: timelines with blank steps as a :class:`~dynvision_data.Timeline`.
        resolution: As in :class:`TrainingDataModule` (use the training data's).
    """

    __test__ = False  # not a pytest test class despite its name

    def __init__(
        self,
        class_dir: str | os.PathLike[str],
        *,
        stats: Stats,
        classes: tuple[str, ...] | list[str] | None = None,
        paradigm: str = "duration",
        paradigm_params: Mapping[str, Any] | None = None,
        batch_size: int = 256,
        limit: int | None = None,
        n_timesteps: int | None = None,
        lazy: bool = True,
        resolution: int | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(stats, Stats):
            raise TypeError(
                f"stats must be a dynvision_data.Stats (the training statistics), got {type(stats).__name__}."
            )
        self.class_dir = Path(class_dir)
        self.stats = stats
        self.classes_arg = None if classes is None else tuple(classes)
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.limit = None if limit is None else check_int("limit", limit, minimum=1)
        self.resolution = None if resolution is None else check_int("resolution", resolution, minimum=2)
        self.paradigm: Paradigm = create_paradigm(paradigm, **dict(paradigm_params or {}))
        if n_timesteps is not None:
            self.paradigm.check_fits(n_timesteps)
        self.lazy = bool(lazy)
        self._loader: BatchLoader | None = None

    @property
    def n_timesteps(self) -> int:
        """Steps per presentation."""
        return self.paradigm.n_timesteps

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names; a label is a position in this list."""
        return self.loader.classes

    @property
    def loader(self) -> BatchLoader:
        """The deterministic ``(images, labels)`` loader, built on first use."""
        if self._loader is None:
            if self.limit is not None:
                message = (
                    f"Testing only a seeded subset of {self.limit} images of {self.class_dir} "
                    f"(limit={self.limit})."
                )
                warnings.warn(message, stacklevel=2)
                log.warning(message)
            self._loader = make_eval_loader(
                self.class_dir,
                stats=self.stats,
                batch_size=self.batch_size,
                classes=self.classes_arg,
                limit=self.limit,
                resolution=self.resolution,
            )
        return self._loader

    def test_dataloader(self) -> _EpochResetLoader:
        return _EpochResetLoader(self.loader, self.paradigm)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Presentation:
        """Turn ``(images, labels)`` into ``Presentation(frames, labels, stimulus)`` on the batch's device."""
        images, labels = batch
        return self.paradigm(images, labels, lazy=self.lazy)


class _EpochResetLoader:
    """Iterates a loader after resetting the paradigm's batch counter, so each pass draws the same noise."""

    def __init__(self, loader: BatchLoader, paradigm: Paradigm) -> None:
        self.loader, self.paradigm = loader, paradigm

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        self.paradigm.reset()
        return iter(self.loader)
