"""Train step: fit a model from its initial state with Lightning, resumably, and save the trained state."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..naming import format_seed, parse_args
from .init import seed_everything
from .provenance import write_resolved_config
from .settings import Settings, schema_default
from .states import build_model, load_state, save_state

__all__ = ["TrainSettings", "TrainingDiverged", "make_paradigm", "split_paradigm", "train_model"]

log = logging.getLogger(__name__)

_DEFAULT_PARADIGM = schema_default("train", "paradigm")


def _paradigm_text(spec: dict[str, Any]) -> str:
    from ..naming import encode_args

    return spec["name"] + encode_args(dict(sorted(spec.get("args", {}).items())))


@dataclass
class TrainSettings(Settings):
    """How a model is trained; defaults are the workflow configuration's (``train:`` and ``data:`` sections)."""

    backend: str = field(default="ffcv", metadata={"choices": ["ffcv", "torch"], "help": "training data loader"})
    epochs: int = field(default=schema_default("train", "epochs"), metadata={"help": "training epochs"})
    batch_size: int = field(default=schema_default("train", "batch_size"), metadata={"help": "images per batch"})
    optimizer: str = field(
        default=schema_default("train", "optimizer"), metadata={"choices": ["adam", "adamw", "sgd"], "help": "optimizer"}
    )
    lr: float = field(default=schema_default("train", "lr"), metadata={"help": "learning rate"})
    weight_decay: float = field(default=schema_default("train", "weight_decay"), metadata={"help": "weight decay"})
    scheduler: str = field(
        default=schema_default("train", "scheduler"),
        metadata={"choices": ["cosine", "none"], "help": "learning-rate schedule over epochs"},
    )
    gradient_clip: float = field(
        default=schema_default("train", "gradient_clip"), metadata={"help": "gradient norm clip (0: off)"}
    )
    precision: str = field(
        default=schema_default("train", "precision"),
        metadata={"choices": ["32", "bf16-mixed", "16-mixed"], "help": "Lightning precision"},
    )
    limit_images: int | None = field(default=None, metadata={"help": "train on the first N images only"})
    threads: int = field(default=schema_default("train", "threads"), metadata={"help": "torch CPU threads"})
    num_workers: int = field(default=schema_default("data", "num_workers"), metadata={"help": "loader workers"})
    split_seed: int = field(default=schema_default("data", "split_seed"), metadata={"help": "train/val split seed"})
    val_fraction: float = field(default=schema_default("data", "val_fraction"), metadata={"help": "validation share"})
    flip: bool = field(default=False, metadata={"help": "random horizontal flips"})
    translate: int = field(default=0, metadata={"help": "largest random shift in pixels"})
    paradigm: str = field(
        default=_paradigm_text(_DEFAULT_PARADIGM),
        metadata={"help": "how images are shown over time: name:key=value+... (steps)"},
    )


def split_paradigm(text: str) -> tuple[str, dict[str, Any]]:
    """``name:key=value+...`` (as in a test's folder name) as the paradigm's name and parameters."""
    name, _, args = text.partition(":")
    return name, parse_args(":" + args if args else "")


def make_paradigm(text: str) -> Any:
    """Build a paradigm from ``name:key=value+...`` (as in a test's folder name)."""
    from dynvision_data import create_paradigm

    name, params = split_paradigm(text)
    return create_paradigm(name, **params)


def train_model(
    *,
    init: str | os.PathLike[str],
    output: str | os.PathLike[str],
    dataset: str | os.PathLike[str],
    betons: str | os.PathLike[str] | None,
    checkpoints: str | os.PathLike[str],
    seed: str | int,
    settings: TrainSettings,
    given: set[str] | None = None,
    declared: dict[str, str] | None = None,
) -> Path:
    """Train the model in ``init`` and save it to ``output``.

    Seeded (same seed, same data, CPU: bitwise-identical weights), resumable (a run killed midway restarts from
    ``checkpoints/last.ckpt``), logged to CSV beside the checkpoints. ``output`` is written atomically at the end.
    """
    import lightning
    import torch
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    from dynvision_data import TrainingDataModule
    from dynvision_models.system import TemporalClassifier

    from .callbacks import StopOnNonFiniteLoss

    torch.set_num_threads(settings.threads)
    seed_value = seed_everything(seed)
    state = load_state(init)
    model = build_model(state)
    checkpoints = Path(checkpoints)
    paradigm_name, paradigm_params = split_paradigm(settings.paradigm)
    use_betons = betons is not None and settings.backend != "torch"
    datamodule = TrainingDataModule(
        dataset,
        train_beton=Path(betons) / "train.beton" if use_betons else None,
        val_beton=Path(betons) / "val.beton" if use_betons else None,
        backend=settings.backend if use_betons else "torch",
        batch_size=settings.batch_size,
        val_fraction=settings.val_fraction,
        split_seed=settings.split_seed,
        flip=settings.flip,
        translate=settings.translate,
        paradigm=paradigm_name,
        paradigm_params=paradigm_params,
        num_workers=settings.num_workers,
        seed=seed_value,
        limit=settings.limit_images,
    )
    system = TemporalClassifier(
        model,
        lr=settings.lr,
        weight_decay=settings.weight_decay,
        optimizer=settings.optimizer,
        scheduler=None if settings.scheduler == "none" else settings.scheduler,
    )
    last = checkpoints / "last.ckpt"
    resume_from = last if last.is_file() else None
    log_dir = checkpoints.parent / "training"
    if resume_from is not None:
        log.info("resuming from %s", resume_from)
        _set_aside_metrics(log_dir)
    trainer = lightning.Trainer(
        max_epochs=settings.epochs,
        accelerator="auto",
        devices=1,
        precision=settings.precision,
        gradient_clip_val=settings.gradient_clip or None,
        deterministic=True,
        logger=CSVLogger(save_dir=str(checkpoints.parent), name="training", version=""),
        callbacks=[
            ModelCheckpoint(dirpath=str(checkpoints), filename="{epoch}", save_last=True, save_top_k=1),
            StopOnNonFiniteLoss(last),
        ],
        enable_progress_bar=sys.stderr.isatty(),
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=10,
    )
    trainer.fit(system, datamodule=datamodule, ckpt_path=str(resume_from) if resume_from else None)
    _merge_metrics(log_dir)
    metrics = {key: float(value) for key, value in trainer.callback_metrics.items()}
    log.info("finished training: %s", metrics)
    save_state(
        output,
        system.model,
        data=state.data,
        meta={"seed": format_seed(seed), "status": "trained", "epochs": settings.epochs, "metrics": metrics},
    )
    write_resolved_config(
        output,
        command="dynvision train",
        parameters={"model_name": state.model_name, "model_kwargs": state.model_kwargs, **asdict(settings)},
        sources=settings.sources(given or set(), declared),
        seed=format_seed(seed),
        inputs={"init": str(init), "dataset": str(dataset), "betons": str(betons)},
    )
    return Path(output)


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; training stopped and the last good checkpoint was kept."""


_PREVIOUS_METRICS = "metrics.previous.csv"


def _set_aside_metrics(log_dir: Path) -> None:
    """Before resuming, keep the CSV log of earlier attempts (Lightning's CSVLogger would delete it)."""
    import pandas as pd

    current, previous = log_dir / "metrics.csv", log_dir / _PREVIOUS_METRICS
    if not current.is_file():
        return
    frames = [pd.read_csv(path) for path in (previous, current) if path.is_file() and path.stat().st_size]
    if frames:
        from .provenance import atomic_path

        with atomic_path(previous) as temporary:
            pd.concat(frames, ignore_index=True).to_csv(temporary, index=False)
    current.unlink()


def _merge_metrics(log_dir: Path) -> None:
    """After a resumed run, prepend the earlier attempts' rows of the epochs that were not re-run."""
    import pandas as pd

    current, previous = log_dir / "metrics.csv", log_dir / _PREVIOUS_METRICS
    if not previous.is_file():
        return
    new = pd.read_csv(current) if current.is_file() else pd.DataFrame()
    old = pd.read_csv(previous)
    if "epoch" in old.columns and "epoch" in new.columns and len(new):
        # An interrupted epoch is trained again from its start: its rows from the killed attempt are stale.
        old = old[old["epoch"] < new["epoch"].min()]
    from .provenance import atomic_path

    with atomic_path(current) as temporary:
        pd.concat([old, new], ignore_index=True).to_csv(temporary, index=False)
    previous.unlink()
