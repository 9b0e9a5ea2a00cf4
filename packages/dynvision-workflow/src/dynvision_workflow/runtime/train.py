"""Train step: fit a model from its initial state with Lightning, resumably, and save the trained state.

Precision goes through one dtype policy (:func:`dtype_policy`); devices, accelerator and strategy come from the
settings, so data-parallel training (``--devices 2 --strategy ddp``) runs through Lightning, with the training
data sharded per process. Metrics are logged to CSV (always), to TensorBoard when it is installed, and to
Weights & Biases on request (``--logger wandb``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple

from ..naming import format_seed, parse_args
from ..options import SettingsError, TrainSettings
from .init import seed_everything
from .provenance import write_resolved_config
from .states import build_model, check_identity, load_state, save_state

__all__ = [
    "ACTIVITY_MODES",
    "LOGGERS",
    "PRECISIONS",
    "DtypePolicy",
    "TrainSettings",
    "TrainingDiverged",
    "check_lightning_names",
    "crop_scale_range",
    "dtype_policy",
    "image_resolution_for",
    "make_loggers",
    "make_paradigm",
    "parse_devices",
    "split_paradigm",
    "train_model",
]

log = logging.getLogger(__name__)


def _choices(name: str) -> tuple[str, ...]:
    from dataclasses import fields

    return next(f for f in fields(TrainSettings) if f.name == name).metadata["option"].choices



#: Precisions of :func:`dtype_policy`, ``--logger`` choices and ``--activity-mode`` choices, as declared with the
#: training options (``auto`` = CSV, plus TensorBoard when installed; ``csv``; ``tensorboard``; ``wandb``).
PRECISIONS = _choices("precision")
LOGGERS = _choices("logger")
ACTIVITY_MODES = _choices("activity_mode")


def check_lightning_names(settings: TrainSettings) -> None:
    """Refuse a strategy or accelerator name that Lightning does not know, naming the allowed ones, before any
    work (Lightning itself would stop with a traceback once the data and model are loaded).

    Raises:
        SettingsError: naming the option, its config key, the value, the allowed names and a command.
    """
    from lightning.pytorch.accelerators import AcceleratorRegistry
    from lightning.pytorch.strategies import StrategyRegistry

    known = {
        "strategy": ("auto", *StrategyRegistry.available_strategies()),
        "accelerator": ("auto", "gpu", *sorted(AcceleratorRegistry.available_accelerators())),
    }
    for name, allowed in known.items():
        value = getattr(settings, name)
        if value not in allowed:
            raise SettingsError(
                f"--{name} (config key train.{name}): {value!r} is not a Lightning {name}; allowed: "
                f"{', '.join(allowed)}. Use e.g. --{name} auto, or in a run: dynvision run --config "
                f"train.{name}=auto"
            )


class DtypePolicy(NamedTuple):
    """Dtypes of one precision setting (names of ``torch`` dtypes, so that this module does not import torch).

    Attributes:
        precision: Lightning's precision name.
        model: dtype of the parameters and states.
        data: dtype of the batches the model receives.
        autocast: dtype the autocast regions compute in, or ``None`` without autocast.
    """

    precision: str
    model: str
    data: str
    autocast: str | None


def dtype_policy(precision: str) -> DtypePolicy:
    """The dtypes of ``precision``; the single place that maps a precision setting to dtypes.

    ``"32"``: everything float32. ``"bf16-mixed"`` / ``"16-mixed"``: parameters, states and data stay float32
    (the optimizer updates float32 master weights; the loaders' float32 batches are not converted); Lightning's
    autocast runs the matmuls and convolutions in bfloat16 / float16 (on CPU, Lightning runs ``"16-mixed"`` as
    bfloat16 autocast).

    Raises:
        ValueError: an unknown precision, naming the allowed ones.
    """
    policies = {
        "32": DtypePolicy("32", "float32", "float32", None),
        "bf16-mixed": DtypePolicy("bf16-mixed", "float32", "float32", "bfloat16"),
        "16-mixed": DtypePolicy("16-mixed", "float32", "float32", "float16"),
    }
    if precision not in policies:
        raise ValueError(f"Unknown precision {precision!r}. Allowed: {', '.join(map(repr, PRECISIONS))}.")
    return policies[precision]


def parse_devices(text: str | int) -> int | str | list[int]:
    """``--devices`` as Lightning takes it: ``"auto"``, a count (``"2"``) or device indices (``"0,1"``)."""
    value = str(text).strip()
    if value == "auto":
        return value
    try:
        if "," in value:
            return [int(part) for part in value.split(",") if part.strip()]
        count = int(value)
    except ValueError:
        count = 0
    if count < 1 and "," not in value:
        raise ValueError(f"devices must be 'auto', a count >= 1 or indices such as '0,1'; got {text!r}.")
    return count


def _tensorboard_available() -> bool:
    """Whether Lightning's TensorBoardLogger can run (``tensorboard`` or ``tensorboardX`` importable)."""
    return any(importlib.util.find_spec(name) is not None for name in ("tensorboard", "tensorboardX"))


def _wandb_available() -> bool:
    return importlib.util.find_spec("wandb") is not None


def make_loggers(kind: str, save_dir: str | os.PathLike[str]) -> list[Any]:
    """Lightning loggers of ``kind`` (:data:`LOGGERS`), all under ``save_dir/training``.

    The CSV log (``training/metrics.csv``) is always written; TensorBoard logs go to ``training/tensorboard``;
    W&B runs offline-capable from ``training/wandb``.

    Raises:
        ValueError: an unknown kind, naming the allowed ones.
        ModuleNotFoundError: ``tensorboard`` or ``wandb`` asked for but not installed (says how to install it).
    """
    from lightning.pytorch import loggers

    if kind not in LOGGERS:
        raise ValueError(f"Unknown logger {kind!r}. Allowed: {', '.join(map(repr, LOGGERS))}.")
    save_dir = str(save_dir)
    result: list[Any] = [loggers.CSVLogger(save_dir=save_dir, name="training", version="")]
    if kind == "tensorboard" and not _tensorboard_available():
        raise ModuleNotFoundError(
            "logger='tensorboard' needs the tensorboard package, which is not installed: pip install tensorboard "
            "(or use --logger auto/csv)."
        )
    if kind != "csv" and _tensorboard_available():
        result.append(loggers.TensorBoardLogger(save_dir=save_dir, name="training", version="tensorboard"))
    if kind == "wandb":
        if not _wandb_available():
            raise ModuleNotFoundError(
                "logger='wandb' needs the wandb package, which is not installed: pip install wandb "
                "(or use --logger auto/csv/tensorboard)."
            )
        result.append(loggers.WandbLogger(save_dir=str(Path(save_dir) / "training"), project="dynvision"))
    return result


def image_resolution_for(settings_value: int | None, state: Any, *, step: str) -> int | None:
    """The image resolution a step uses: ``settings_value`` when given, else the one recorded in the model state
    (``data["image_resolution"]``, written by the init step). A given value that differs from the recorded one is
    logged as a warning (the model's input shape was made for the recorded one)."""
    recorded = state.data.get("image_resolution")
    if settings_value is None:
        return recorded
    if settings_value < 2:
        raise SettingsError(
            f"--image-resolution must be an integer >= 2 (pixels), got {settings_value}; leave it out to use the "
            f"model's ({recorded})."
        )
    if "image_resolution" in state.data and recorded != settings_value:
        log.warning(
            "%s: image resolution %s differs from the resolution %s the model was initialised with (input shape "
            "%s)", step, settings_value, recorded, state.data.get("input_shape"),
        )
    return settings_value


def crop_scale_range(value: list[float] | None) -> tuple[float, float] | None:
    """``crop_scale`` ``[low, high]`` as a pair; ``None``: no crop. ``low > high`` raises :class:`SettingsError`."""
    if not value:
        return None
    low, high = (float(v) for v in value)
    if low > high:
        raise SettingsError(
            f"--crop-scale (config key datasets.<name>.crop_scale): {list(value)} has low > high; give [low, high] "
            "with 0 < low <= high <= 1 (shares of the image area), e.g. [0.35, 1.0]."
        )
    return low, high


def resolution_sources(sources: dict[str, str], given: int | None, used: int | None) -> dict[str, str]:
    """``sources`` with ``image_resolution`` attributed to the model state when it was not given but taken from it."""
    if given is None and used is not None:
        return {**sources, "image_resolution": "model state (init)"}
    return sources


def split_paradigm(text: str) -> tuple[str, dict[str, Any]]:
    """``name:key=value+...`` (as in a test's folder name) as the paradigm's name and parameters; short keys
    (``noisetype``...: :data:`~dynvision_workflow.naming.PARADIGM_ARG_ALIASES`) and upstream DynVision's
    (``stim``, ``noiselevel``...: :data:`~dynvision_workflow.naming.UPSTREAM_PARADIGM_ALIASES`) become the
    parameter names."""
    from ..naming import PARADIGM_ARG_ALIASES, UPSTREAM_PARADIGM_ALIASES, expand_aliases

    name, _, args = text.partition(":")
    aliases = {**PARADIGM_ARG_ALIASES, **UPSTREAM_PARADIGM_ALIASES}
    return name, expand_aliases(parse_args(":" + args if args else ""), aliases)


def make_paradigm(text: str) -> Any:
    """Build a paradigm from ``name:key=value+...`` (a training paradigm or a test spec), aliases expanded."""
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
    data_name: str | None = None,
    identity: dict[str, Any] | None = None,
    model_name: str | None = None,
    model_args: str | None = None,
) -> Path:
    """Train the model in ``init`` and save it to ``output``.

    Seeded (same seed, same data, CPU: bitwise-identical weights), resumable (a run killed midway restarts from
    ``checkpoints/last.ckpt``), logged to CSV beside the checkpoints. ``output`` is written atomically at the end.
    ``identity``: the training arguments of the model's identity (``{"activityloss": 0.02}``), recorded as the
    source of the options they set. The initial state is checked before any work against the training data's
    classes and image shape and, when ``model_name`` is given (as the workflow does), against the identity of its
    path: ``model_name``, ``model_args`` (the path's argument string) and ``seed`` (:func:`~.states.check_identity`).

    An unreadable or foreign ``last.ckpt`` is set aside and training resumes from the newest good kept checkpoint
    or starts over (:func:`~.checkpoints.resume_point`).
    """
    import lightning
    import torch
    from lightning.pytorch.callbacks import ModelCheckpoint

    from dynvision_data import TrainingDataModule
    from dynvision_models.system import TemporalClassifier

    from ..paths import CHECKPOINT_BEST, CHECKPOINT_LAST
    from .callbacks import EpochProgress, KeepEpochs, StopOnNonFiniteLoss
    from .checkpoints import resume_point
    from .init import used_as
    from .progress import quiet_library_noise

    quiet_library_noise()
    check_lightning_names(settings)
    policy = dtype_policy(settings.precision)
    devices = parse_devices(settings.devices)
    lr_factors = dict(settings.lr_factors)
    crop_scale = crop_scale_range(settings.crop_scale)
    checkpoints = Path(checkpoints)
    loggers = make_loggers(settings.logger, checkpoints.parent)
    torch.set_num_threads(settings.threads)
    seed_value = seed_everything(seed)
    state = load_state(init, target=output)
    resolution = image_resolution_for(settings.image_resolution, state, step="training")
    path_seed = None if model_name is None else format_seed(seed)
    expected = used_as(
        model_name, model_args, path_seed, dataset=dataset, state=state, resolution=resolution,
        given_resolution=settings.image_resolution,
    )
    check_identity(state, init, expected, target=output)
    model = build_model(state).to(getattr(torch, policy.model))
    paradigm_name, paradigm_params = settings.paradigm["name"], settings.paradigm.get("args", {})
    # A class group is read from its folder with the torch loader (the betons hold the whole dataset); its labels
    # are positions in the full dataset's class list, which the model state records.
    in_group = settings.data_group != "all"
    use_betons = betons is not None and settings.backend != "torch" and not in_group
    if use_betons and settings.backend == "auto":
        from dynvision_data import ffcv_available

        use_betons = ffcv_available()
    datamodule = TrainingDataModule(
        dataset,
        train_beton=Path(betons) / "train.beton" if use_betons else None,
        val_beton=Path(betons) / "val.beton" if use_betons else None,
        backend="ffcv" if use_betons else "torch",
        classes=state.data["classes"] if in_group else None,
        batch_size=settings.batch_size,
        val_fraction=settings.val_fraction,
        split_seed=settings.split_seed,
        flip=settings.flip,
        translate=settings.translate,
        crop_scale=crop_scale,
        paradigm=paradigm_name,
        paradigm_params=paradigm_params,
        num_workers=settings.num_workers,
        seed=seed_value,
        lazy=True,  # blank steps as a timeline: the models pick each step's frame, nothing T-sized is written
        limit=settings.limit_images,
        resolution=resolution,
    )
    system = TemporalClassifier(
        model,
        lr=settings.lr,
        weight_decay=settings.weight_decay,
        optimizer=settings.optimizer,
        scheduler=None if settings.scheduler == "none" else settings.scheduler,
        activity_weight=settings.activity_weight,
        activity_mode=settings.activity_mode,
        rest_weight=settings.rest_weight,
        lr_factors=lr_factors or None,
    )
    groups = system.parameter_groups()
    last = checkpoints / CHECKPOINT_LAST
    resume_from = resume_point(checkpoints, system.state_dict(), main_process=_is_main_process())
    log_dir = checkpoints.parent / "training"
    if resume_from is not None:
        log.info("resuming from %s", resume_from)
        if _is_main_process():
            _set_aside_metrics(log_dir)
    terminal = sys.stderr.isatty()
    trainer = lightning.Trainer(
        max_epochs=settings.epochs,
        accelerator=settings.accelerator,
        devices=devices,
        strategy=settings.strategy,
        precision=policy.precision,
        gradient_clip_val=settings.gradient_clip or None,
        accumulate_grad_batches=settings.accumulate_grad_batches,
        deterministic=True,
        logger=loggers,
        callbacks=[
            # best.ckpt (lowest val/loss, status `best`) and last.ckpt (resume); a fixed name, overwritten when
            # a better epoch comes (no -v1 copies after a resumed run).
            ModelCheckpoint(
                dirpath=str(checkpoints),
                filename=Path(CHECKPOINT_BEST).stem,
                monitor="val/loss",
                mode="min",
                save_top_k=1,
                save_last=True,
                auto_insert_metric_name=False,
                enable_version_counter=False,
            ),
            KeepEpochs(checkpoints, settings.keep_epochs),  # epoch=N.ckpt for the statuses `epoch=N`
            StopOnNonFiniteLoss(last),
            # A terminal shows the progress bar; a log (no terminal) gets one line per epoch instead.
            *([] if terminal else [EpochProgress()]),
        ],
        enable_progress_bar=terminal,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=10,
    )
    trainer.fit(
        system, datamodule=datamodule, ckpt_path=str(resume_from) if resume_from else None, weights_only=True
    )
    if trainer.world_size > 1:
        write_weights_digest(log_dir, system.model, rank=trainer.global_rank, world_size=trainer.world_size)
    if not trainer.is_global_zero:
        # Other DDP processes (strategy "ddp" runs this function in each) leave the outputs to rank 0.
        return Path(output)
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
        parameters={
            "model_name": state.model_name,
            "model_kwargs": state.model_kwargs,
            **asdict(settings),
            "image_resolution": resolution,
            "dtype_policy": policy._asdict(),
            "world_size": trainer.world_size,
            "parameter_groups": {
                name: {"lr_factor": group["lr_factor"], "lr": group["lr"], "tensors": len(group["parameters"])}
                for name, group in groups.items()
            },
        },
        sources=resolution_sources(settings.sources(given or set(), data_name=data_name, identity=identity), settings.image_resolution, resolution),
        seed=format_seed(seed),
        inputs={"init": str(init), "dataset": str(dataset), "betons": str(betons)},
    )
    return Path(output)


def weights_digest(model: Any) -> str:
    """SHA-256 of a model's state (every tensor's name, dtype, shape and bytes, in name order)."""
    import hashlib

    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def write_weights_digest(log_dir: Path, model: Any, *, rank: int, world_size: int) -> Path:
    """Each process of a data-parallel training writes ``weights.rank<N>.json`` (rank, world size, the digest of
    its final weights: :func:`weights_digest`) to the training log folder; equal digests show the ranks agree."""
    import json

    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"weights.rank{rank}.json"
    record = {"rank": rank, "world_size": world_size, "sha256": weights_digest(model)}
    path.write_text(json.dumps(record) + "\n")
    return path


def _is_main_process() -> bool:
    """Rank 0 of a launched data-parallel run (``RANK`` / ``LOCAL_RANK`` unset or 0), before the Trainer exists."""
    return all(os.environ.get(name, "0") == "0" for name in ("RANK", "LOCAL_RANK"))


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
