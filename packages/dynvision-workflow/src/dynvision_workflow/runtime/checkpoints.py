"""Training checkpoints: which one a training resumes from (:func:`resume_point`), and the export step, which
writes a kept checkpoint (``best``, ``epoch=N``) as a model state file beside ``trained.pt``."""

from __future__ import annotations

import datetime as _dt
import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..naming import format_seed
from ..paths import CHECKPOINT_BEST, CHECKPOINT_EPOCH, CHECKPOINT_LAST, fill
from ..statuses import parse_status
from .provenance import write_resolved_config
from .states import (
    ModelIdentity,
    ModelState,
    StateError,
    UnreadableFile,
    build_model,
    check_identity,
    load_state,
    read_torch_file,
    save_state,
)

__all__ = ["SET_ASIDE_SUFFIX", "checkpoint_for", "checkpoint_problem", "export_state", "resume_point"]

#: What an unusable ``last.ckpt`` is renamed to (never deleted): ``last.ckpt.corrupt-<UTC time>``.
SET_ASIDE_SUFFIX = ".corrupt-{time}"

#: Entries of a Lightning checkpoint that a training resumes from (weights, optimizer, loops, counters).
_RESUMABLE_KEYS = ("state_dict", "optimizer_states", "loops", "epoch", "global_step")

#: Prefix of the model's keys in a checkpoint of :class:`dynvision_models.system.TemporalClassifier`.
_MODEL_PREFIX = "model."


def checkpoint_for(checkpoints: str | os.PathLike[str], status: str) -> Path:
    """The checkpoint file below ``checkpoints`` that holds ``status`` (``best`` or ``epoch=N``)."""
    kind, epoch = parse_status(status)
    if kind == "best":
        return Path(checkpoints) / CHECKPOINT_BEST
    if kind == "epoch":
        return Path(checkpoints) / fill(CHECKPOINT_EPOCH, epoch=epoch)
    raise ValueError(f"status {status!r} is not exported from a checkpoint; only best and epoch=N are.")


def checkpoint_problem(path: str | os.PathLike[str], expected: Mapping[str, Any]) -> str | None:
    """Why the Lightning checkpoint ``path`` cannot resume the training whose module has the state dict
    ``expected`` (names -> tensors), or ``None`` when it can: unreadable (truncated, not a torch file, pickled
    code), not a training checkpoint, or the weights of another model (other names or shapes)."""
    try:
        payload = read_torch_file(path)
    except UnreadableFile as error:
        return error.reason
    if not isinstance(payload, Mapping) or any(key not in payload for key in _RESUMABLE_KEYS):
        return "it is not a Lightning training checkpoint (no training state to resume)"
    weights = payload["state_dict"]
    if not isinstance(weights, Mapping):
        return "it is not a Lightning training checkpoint (no training state to resume)"
    shapes = {name: tuple(getattr(value, "shape", ())) for name, value in weights.items()}
    wanted = {name: tuple(value.shape) for name, value in expected.items()}
    if shapes != wanted:
        made_for = (payload.get("hyper_parameters") or {}).get("model_name")
        differing = sorted(set(shapes) ^ set(wanted) | {k for k in set(shapes) & set(wanted) if shapes[k] != wanted[k]})
        return (
            f"it holds the weights of another model{f' ({made_for})' if made_for else ''}: "
            f"{len(differing)} tensors differ in name or shape, e.g. {differing[:3]}"
        )
    return None


def resume_point(
    checkpoints: str | os.PathLike[str], expected: Mapping[str, Any], *, main_process: bool = True
) -> Path | None:
    """The checkpoint a training resumes from: ``last.ckpt`` in ``checkpoints`` when it can resume this training
    (:func:`checkpoint_problem`); ``None`` when there is none (training starts).

    An unusable ``last.ckpt`` is set aside (renamed ``last.ckpt.corrupt-<UTC time>``, never deleted; by the main
    process only) with one line on stderr saying why and what is done: training resumes from the newest good kept
    checkpoint in the same folder (``best.ckpt``, ``epoch=N.ckpt``; highest epoch and step) or starts over.
    """
    folder = Path(checkpoints)
    last = folder / CHECKPOINT_LAST
    if not last.exists():
        return None
    problem = checkpoint_problem(last, expected)
    if problem is None:
        return last
    time = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = last.with_name(last.name + SET_ASIDE_SUFFIX.format(time=time))
    if main_process:
        last.rename(aside)
    candidates = [folder / CHECKPOINT_BEST, *sorted(folder.glob(fill(CHECKPOINT_EPOCH, epoch="*")))]
    usable = []
    for candidate in candidates:
        if candidate.is_file() and checkpoint_problem(candidate, expected) is None:
            record = read_torch_file(candidate)
            usable.append((int(record["epoch"]), int(record["global_step"]), candidate))
    if usable:
        epoch, _, chosen = max(usable, key=lambda item: item[:2])
        outcome = f"resuming from {chosen.name} (end of epoch {epoch + 1})"
    else:
        chosen, outcome = None, "no other checkpoint can resume it, so training starts over"
    if main_process:
        print(
            f"dynvision train: note: {shlex.quote(str(last))} cannot resume this training ({problem}); it was set "
            f"aside as {aside.name} (delete it when no longer needed); {outcome}",
            file=sys.stderr,
            flush=True,
        )
    return chosen


def export_state(
    *,
    trained: str | os.PathLike[str],
    checkpoints: str | os.PathLike[str],
    status: str,
    output: str | os.PathLike[str],
    model_name: str | None = None,
    model_args: str | None = None,
    seed: str | None = None,
) -> Path:
    """Write the model of the ``status`` checkpoint (``best``: lowest val/loss; ``epoch=N``: end of epoch N,
    0-based) as a state file ``output``, in the format of ``trained`` (whose model name, arguments and data
    description it takes); its ``meta`` records the checkpoint, its epoch (0-based) and step. Atomic, with
    ``<output>.config.yaml`` beside it. ``model_name``, ``model_args``, ``seed``: the identity of the output's path,
    which ``trained`` must have (each checked when given: :func:`~.states.check_identity`).

    Raises:
        StateError: the checkpoint is missing (training did not keep it), unreadable, or does not fit the model;
            ``trained`` is of another model than the path names.
    """
    from .progress import quiet_library_noise

    quiet_library_noise()
    source = checkpoint_for(checkpoints, status)
    retrain = (
        f"rm -r {shlex.quote(str(checkpoints))} {shlex.quote(str(trained))} && dynvision run "
        f"{shlex.quote(str(output))}"
    )
    if not source.is_file():
        kind, epoch = parse_status(status)
        remedy = (
            f"add {epoch} to train.keep_epochs in the configuration and train again: {retrain}"
            if kind == "epoch"
            else f"train again: {retrain}"
        )
        raise StateError(f"checkpoint {str(source)!r} for status {status!r} does not exist; {remedy}")
    reference = load_state(trained, target=output)
    check_identity(reference, trained, ModelIdentity(model_name, model_args, seed), target=output)
    try:
        checkpoint: dict[str, Any] = read_torch_file(source)
    except StateError as error:
        raise StateError(f"checkpoint {error}; train again: {retrain}") from None
    if not isinstance(checkpoint, dict):
        raise StateError(f"checkpoint {str(source)!r} is not a Lightning checkpoint; train again: {retrain}")
    weights = {
        key[len(_MODEL_PREFIX) :]: value
        for key, value in checkpoint.get("state_dict", {}).items()
        if key.startswith(_MODEL_PREFIX)
    }
    try:
        model = build_model(ModelState(reference.model_name, reference.model_kwargs, weights))
    except StateError as error:
        raise StateError(f"checkpoint {str(source)!r}: {error}; train again: {retrain}") from None
    seed = reference.meta.get("seed")
    meta = {
        "seed": seed,
        "status": status,
        "checkpoint": str(source),
        "epoch": checkpoint.get("epoch"),
        "global_step": checkpoint.get("global_step"),
        "epochs": reference.meta.get("epochs"),
    }
    best = _best_score(checkpoint)
    if best is not None:
        meta["val_loss"] = best
    save_state(output, model, data=reference.data, meta=meta)
    write_resolved_config(
        output,
        command="dynvision export-state",
        parameters={
            "model_name": reference.model_name,
            "model_kwargs": reference.model_kwargs,
            "status": status,
            "checkpoint_epoch": checkpoint.get("epoch"),
            "global_step": checkpoint.get("global_step"),
        },
        sources={"status": "command line"},
        seed=None if seed is None else format_seed(seed),
        inputs={"trained": str(trained), "checkpoint": str(source)},
    )
    return Path(output)


def _best_score(checkpoint: dict[str, Any]) -> float | None:
    """The val/loss the ModelCheckpoint callback recorded as best when the checkpoint was written, if any."""
    for key, state in (checkpoint.get("callbacks") or {}).items():
        if "ModelCheckpoint" in str(key) and isinstance(state, dict) and state.get("best_model_score") is not None:
            return float(state["best_model_score"])
    return None
