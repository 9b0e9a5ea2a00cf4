"""Init step: build a model from its identity, sized for a dataset, and save its initial state."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ..naming import expand_aliases, format_seed
from .provenance import write_resolved_config
from .states import ModelIdentity, ModelState, save_state

__all__ = ["data_identity", "dataset_description", "init_model", "seed_everything", "used_as"]

log = logging.getLogger(__name__)


def seed_everything(seed: str | int) -> int:
    """Seed Python, NumPy and torch (CPU and CUDA) from a seed string; return the integer seed."""
    import lightning

    value = int(format_seed(seed))
    lightning.seed_everything(value, workers=True, verbose=False)
    return value


def data_identity(
    class_dir: str | os.PathLike[str], resolution: int | None = None
) -> tuple[list[str], tuple[int, int, int]]:
    """The class folder names of ``class_dir`` and the shape ``(C, H, W)`` its images have as a model receives them
    (resized to ``resolution`` when given); the files are listed, and only the images needed for the shape read."""
    from dynvision_data import ClassFolderDataset

    dataset = ClassFolderDataset(class_dir, resolution=resolution)
    return list(dataset.classes), tuple(int(s) for s in dataset.image_shape)


def used_as(
    model_name: str | None,
    model_args: str | None,
    seed: str | None,
    *,
    dataset: str | os.PathLike[str],
    state: ModelState,
    resolution: int | None,
    given_resolution: int | None,
) -> ModelIdentity:
    """The :class:`~.states.ModelIdentity` a state is used as: the identity of its path (``None`` parts are not
    checked) and the data of ``dataset`` read at ``resolution``. Height and width are compared unless a resolution
    other than the state's was asked for (``given_resolution``; only the channels are compared then)."""
    classes, shape = data_identity(dataset, resolution)
    check_size = given_resolution is None or given_resolution == state.data.get("image_resolution")
    return ModelIdentity(model_name, model_args, seed, classes, shape, check_size=check_size)


def dataset_description(class_dir: str | os.PathLike[str], resolution: int | None = None) -> dict[str, Any]:
    """Classes, image shape (C, H, W), normalisation statistics and image resolution of a training class folder.

    With ``resolution=N`` the images are read resized to shorter side ``N`` and centre-cropped (as the training and
    test loaders read them): the shape is ``(C, N, N)`` and the statistics are those of the resized images.
    """
    from dynvision_data import ClassFolderDataset, load_stats

    dataset = ClassFolderDataset(class_dir, resolution=resolution)
    stats = load_stats(class_dir, resolution=dataset.resolution)
    return {
        "classes": list(dataset.classes),
        "input_shape": list(dataset.image_shape),
        "mean": list(stats.mean),
        "std": list(stats.std),
        "image_resolution": dataset.resolution,
    }


def init_model(
    model_name: str,
    model_args: dict[str, Any],
    *,
    seed: str | int,
    dataset: str | os.PathLike[str],
    output: str | os.PathLike[str],
    image_resolution: int | None = None,
    pretrained: str | None = None,
    pretrained_sha256: str | None = None,
    sources: dict[str, str] | None = None,
) -> Path:
    """Create ``model_name`` with ``model_args`` (aliases allowed), ``n_classes`` and ``input_shape`` taken from the
    dataset unless given, with weights drawn from ``seed``; save it to ``output`` with the data description.

    ``pretrained``: start from the weights of this file or URL instead (see :mod:`.pretrained`; a URL needs
    ``pretrained_sha256`` and is cached below the current directory); the state's ``meta["pretrained"]`` and its
    ``.config.yaml`` record the source and its SHA-256. ``sources``: where the pretrained options came from.

    ``image_resolution=N``: the dataset's images are resized to shorter side ``N`` and centre-cropped, so the input
    shape is ``(C, N, N)`` and the stored statistics are those of the resized images; the state records ``N`` (its
    ``data["image_resolution"]``), and training and testing default to it.
    """
    from dynvision_models import create_model

    from .progress import quiet_library_noise

    quiet_library_noise()
    seed_everything(seed)
    data = dataset_description(dataset, resolution=image_resolution)
    from ..options import split_identity

    # Training arguments of the identity (activityloss=..., see options.identity_arguments) are the train step's.
    kwargs = expand_aliases(split_identity(model_args)[0])
    kwargs.setdefault("n_classes", len(data["classes"]))
    kwargs.setdefault("input_shape", tuple(data["input_shape"]))
    model = create_model(model_name, **kwargs)
    n_parameters = sum(p.numel() for p in model.parameters())
    log.info("created %s with %d parameters: %s", model_name, n_parameters, model.model_kwargs)
    meta: dict[str, Any] = {"seed": format_seed(seed), "status": "init"}
    if pretrained is not None:
        from .pretrained import load_pretrained

        meta["pretrained"] = load_pretrained(model, pretrained, sha256=pretrained_sha256)
        log.info("loaded pretrained weights: %s", meta["pretrained"])
    save_state(output, model, data=data, meta=meta)
    write_resolved_config(
        output,
        command="dynvision init",
        parameters={
            "model_name": model_name,
            "model_args": model_args,
            "model_kwargs": model.model_kwargs,
            "image_resolution": image_resolution,
            "pretrained": pretrained,
            "pretrained_sha256": meta.get("pretrained", {}).get("sha256", pretrained_sha256),
        },
        sources={
            "model_name": "command line",
            "model_args": "command line",
            "image_resolution": "default" if image_resolution is None else "command line",
            "pretrained": "default" if pretrained is None else "command line",
            "pretrained_sha256": "default" if pretrained_sha256 is None else "command line",
            **(sources or {}),
        },
        seed=format_seed(seed),
        inputs={"dataset": str(dataset), **({"pretrained": meta["pretrained"]["file"]} if pretrained else {})},
    )
    return Path(output)
