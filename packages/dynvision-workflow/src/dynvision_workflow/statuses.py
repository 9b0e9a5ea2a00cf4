"""Model statuses: which state of a model a path names, and what training must keep for each (torch-free).

A status is the ``{status}`` part of ``models/.../{status}.pt`` and of ``reports/.../{data_name}:{data_group}_{status}``:

- ``init``: the initial state (random from the seed, or pretrained weights: ``init.pretrained``);
- ``trained``: the state at the end of training;
- ``best``: the checkpoint of the training run with the lowest ``val/loss`` (always kept);
- ``epoch=N``: the state at the end of epoch ``N``, counted from 0 as Lightning counts epochs (its checkpoint
  ``checkpoints/epoch=N.ckpt``, the ``epoch`` column of ``training/metrics.csv``); kept only for the epochs listed
  in ``train.keep_epochs``. With ``train.epochs: E``, ``epoch=E-1`` is the same model as ``trained``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "EXPORTED_STATUSES",
    "STATUS_PATTERN",
    "parse_status",
    "pretrained_problems",
    "status_problems",
]

#: Every status (Snakemake wildcard constraint of ``{status}``).
STATUS_PATTERN = r"init|trained|best|epoch=(?:0|[1-9][0-9]*)"
#: Statuses written by the export step from a training checkpoint (a regular expression).
EXPORTED_STATUSES = r"best|epoch=(?:0|[1-9][0-9]*)"


def parse_status(status: str) -> tuple[str, int | None]:
    """``("init" | "trained" | "best", None)`` or ``("epoch", N)``; ``ValueError`` for anything else."""
    if not re.fullmatch(STATUS_PATTERN, status):
        raise ValueError(
            f"{status!r} is not a model status; allowed: init, trained, best, epoch=N (N = 0, 1, ...: the end of "
            "epoch N, counted from 0 as Lightning counts)."
        )
    if status.startswith("epoch="):
        return "epoch", int(status.partition("=")[2])
    return status, None


def status_problems(config: Mapping[str, Any]) -> list[str]:
    """What is wrong with ``status`` of a resolved configuration: unknown statuses, and ``epoch=N`` for an epoch
    that training does not keep (not in ``train.keep_epochs``, or beyond ``train.epochs``)."""
    problems = []
    train = config.get("train", {})
    epochs, kept = train.get("epochs"), list(train.get("keep_epochs") or [])
    requested = [("status", status) for status in config["status"]]
    for name in config.get("experiment", []):
        statuses = config.get("experiments", {}).get(name, {}).get("status") or []
        requested += [(f"experiments.{name}.status", status) for status in statuses]
    for key, status in requested:
        try:
            kind, epoch = parse_status(str(status))
        except ValueError as error:
            problems.append(f"{key}: {error}")
            continue
        if kind != "epoch":
            continue
        if isinstance(epochs, int) and epoch >= epochs:
            problems.append(
                f"{key}: {status!r} names epoch {epoch}, but training runs epochs 0..{epochs - 1} (train.epochs: "
                f"{epochs}; epochs count from 0). Use epoch=0..epoch={epochs - 1} or raise train.epochs."
            )
        elif epoch not in kept and key == "status":
            problems.append(
                f"{key}: {status!r} needs the checkpoint of epoch {epoch}, which training does not keep "
                f"(train.keep_epochs: {kept}). Add {epoch} to train.keep_epochs (e.g. --config "
                f"'train={{keep_epochs: {sorted({*kept, epoch})}}}')."
            )
    return problems


def pretrained_problems(config: Mapping[str, Any]) -> list[str]:
    """``init.pretrained`` given as a URL needs ``init.pretrained_sha256``; a checksum without weights is an error."""
    init = config.get("init", {})
    location, checksum = init.get("pretrained"), init.get("pretrained_sha256")
    if location is not None and "://" in location:
        scheme = location.partition("://")[0].lower()
        if scheme not in ("http", "https", "file"):
            return [f"init.pretrained: {location!r} has scheme {scheme!r}; allowed: http, https, file, or a path."]
        if checksum is None:
            return [
                f"init.pretrained: the URL {location!r} needs init.pretrained_sha256, the SHA-256 of the file (the "
                "download is checked against it); compute it with `sha256sum <file>`."
            ]
    if location is None and checksum is not None:
        return ["init.pretrained_sha256: given without init.pretrained; set init.pretrained or remove it."]
    return []
