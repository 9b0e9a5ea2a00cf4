"""Pretrained starts: load weights from a file or URL into a freshly created model (the init step's option).

Two kinds of file are read, both with ``torch.load(weights_only=True)`` (no pickled code runs):

- a DynVision state file (``init.pt``, ``trained.pt``, ``best.pt``... of :mod:`.states`): the model name and
  keyword arguments must be those of the model being created;
- an official checkpoint of a zoo model that reads one (CORnet-RT's ``cornet_rt-*.pth``, CordsNet's
  ``cordsnet*.pth``, torchvision's AlexNet), through the model's own loader (``load_official_checkpoint`` or
  ``load_official_state_dict``). When the checkpoint's classifier does not fit the dataset's classes, the model
  keeps the classifier drawn from its seed (recorded in the state's ``meta["pretrained"]["classifier"]``).

URLs (``http://``, ``https://``, ``file://``) are downloaded once into :data:`~dynvision_workflow.paths.PRETRAINED_CACHE`
(below the working directory) with dynvision-data's checksum-verified, atomic and resumable download.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from ..config import expand_location, plain
from ..paths import PRETRAINED_CACHE, fill
from .states import FORMAT, StateError, UnreadableFile, read_torch_file, state_from_payload

__all__ = ["PRETRAINED_FIX", "load_pretrained", "resolve_pretrained"]

#: What to do about pretrained weights that cannot start this model.
PRETRAINED_FIX = (
    "give weights made for this model (its DynVision state file or an official checkpoint) as init.pretrained "
    "(--pretrained), or start from random weights: dynvision run --config init.pretrained=none"
)

log = logging.getLogger(__name__)


def resolve_pretrained(
    location: str, *, sha256: str | None = None, root: str | os.PathLike[str] = "."
) -> tuple[Path, str]:
    """The local file of ``location`` (a path, ``~`` and $VARIABLES expanded, or a URL downloaded into the cache
    below ``root``) and its SHA-256.

    Raises:
        StateError: a URL without ``sha256``, a file that does not exist, or a checksum that differs.
        DownloadError: a URL that cannot be read (from dynvision-data; ``ChecksumError`` for a wrong download).
    """
    from dynvision_data.datasets.downloads import fetch_url, file_sha256

    where = "init.pretrained"
    if "://" in location:
        if sha256 is None:
            raise StateError(
                f"{where}: the URL {location!r} needs its SHA-256 (init.pretrained_sha256 / --pretrained-sha256) so "
                "that the download can be checked; compute it with `sha256sum <file>`."
            )
        suffix = "".join(Path(location.split("?", 1)[0].rstrip("/")).suffixes[-1:])
        target = Path(root) / fill(PRETRAINED_CACHE, sha256=sha256.lower(), suffix=suffix)
        return fetch_url(location, target, sha256=sha256), sha256.lower()
    try:
        path = Path(expand_location(location) or "")
    except ValueError as error:
        raise StateError(f"{where}: {error}") from None
    if not path.is_absolute():
        path = Path(root) / path
    if not path.is_file():
        raise StateError(f"{where}: {location!r} (= {path}) is not a file; give a weights file or an http(s) URL.")
    actual = file_sha256(path)
    if sha256 is not None and actual != sha256.lower():
        raise StateError(
            f"{where}: {path} has SHA-256 {actual}, but init.pretrained_sha256 is {sha256.lower()}; the file was "
            "replaced or the checksum is wrong."
        )
    return path, actual


def load_pretrained(
    model: nn.Module, location: str, *, sha256: str | None = None, root: str | os.PathLike[str] = "."
) -> dict[str, Any]:
    """Load the weights at ``location`` into ``model`` (made by ``create_model``); return the record kept in the
    state's ``meta["pretrained"]``: source, SHA-256, local file, format and whether the classifier was loaded.

    Raises:
        StateError: the file is not a weights file, is a DynVision state of another model or other arguments,
            or does not fit the model (naming the keys and shapes, from the model's official loader).
    """
    path, digest = resolve_pretrained(location, sha256=sha256, root=root)
    try:
        payload = read_torch_file(path)
    except UnreadableFile as error:
        raise StateError(f"init.pretrained: {error}; {PRETRAINED_FIX}") from None
    record: dict[str, Any] = {"source": location, "sha256": digest, "file": str(path)}
    if isinstance(payload, Mapping) and payload.get("format") == FORMAT:
        _load_own_state(model, path, payload)
        return {**record, "format": FORMAT, "classifier": "loaded"}
    return {**record, **_load_official(model, payload, location)}




def _load_own_state(model: nn.Module, path: Path, payload: Mapping[str, Any]) -> None:
    state = state_from_payload(payload, path)
    name, kwargs = getattr(model, "model_name", None), plain(getattr(model, "model_kwargs", {}))
    theirs = plain(state.model_kwargs)
    if state.model_name != name or theirs != kwargs:
        differing = sorted(k for k in set(kwargs) | set(theirs) if kwargs.get(k) != theirs.get(k))
        details = ", ".join(f"{k}: {theirs.get(k)!r} there, {kwargs.get(k)!r} here" for k in differing)
        raise StateError(
            f"init.pretrained: {str(path)!r} holds model {state.model_name} "
            f"{'with other arguments' if state.model_name == name else f'(not {name})'}"
            f"{f' ({details})' if details else ''}; a DynVision state file starts only the same model with the "
            f"same arguments and dataset (classes, input shape); {PRETRAINED_FIX}"
        )
    try:
        model.load_state_dict(state.state_dict, strict=True)
    except RuntimeError as error:
        raise StateError(f"init.pretrained: {str(path)!r} does not fit model {name}: {error}; {PRETRAINED_FIX}") from None


def _load_official(model: nn.Module, payload: Any, location: str) -> dict[str, Any]:
    """Load an official checkpoint through the model's loader: with its classifier when that fits, else without."""
    name = getattr(model, "model_name", type(model).__name__)
    loader = getattr(model, "load_official_checkpoint", None) or getattr(model, "load_official_state_dict", None)
    if loader is None:
        raise StateError(
            f"init.pretrained: {location!r} is not a DynVision state file, and model {name} reads no official "
            f"checkpoint layout (CorNetRT, CordsNet and AlexNet do); {PRETRAINED_FIX}"
        )
    try:
        loader(payload, strict_classifier=True)
        return {"format": f"official {name}", "classifier": "loaded"}
    except ValueError as first:
        try:
            loader(payload, strict_classifier=False)
        except ValueError:
            raise StateError(f"init.pretrained: {location!r}: {first}; {PRETRAINED_FIX}") from None
        log.warning("the classifier of %s does not fit this model; it keeps the one drawn from the seed", location)
        return {"format": f"official {name}", "classifier": "initialised from the seed (did not fit)"}
