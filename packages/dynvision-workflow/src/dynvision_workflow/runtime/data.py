"""Data steps: materialise a dataset as class folders (builtin, downloaded or an existing tree linked in place),
write its FFCV files."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

from .. import paths
from .provenance import write_text_atomic

__all__ = ["build_betons", "parse_splits", "prepare_data", "repair_data_markers"]

log = logging.getLogger(__name__)


def parse_splits(text: str | None) -> dict[str, str] | None:
    """``--splits`` ``"train=train,test=val"`` as ``{"train": "train", "test": "val"}`` (``None`` or ``""``: None)."""
    if not text:
        return None
    splits = {}
    for part in text.split(","):
        split, sep, folder = part.partition("=")
        if not sep or not split.strip() or not folder.strip():
            raise ValueError(
                f"malformed split {part!r} in {text!r}: expected split=folder joined by ',', e.g. 'train=train,test=val'."
            )
        splits[split.strip()] = folder.strip()
    return splits


def prepare_data(
    data_name: str,
    *,
    root: str | os.PathLike[str],
    ready: str | os.PathLike[str] | None = None,
    seed: int = 0,
    test_fraction: float = 0.2,
    source: str = "builtin",
    mirror: str | os.PathLike[str] | None = None,
    path: str | os.PathLike[str] | None = None,
    splits: Mapping[str, str] | None = None,
    class_index: str | os.PathLike[str] | None = None,
    resolution: int | None = None,
) -> Path:
    """Materialise ``data_name`` as ``<root>/<data_name>/{train,test}/<class>/<image>``, cache the training split's
    statistics, and write the ``ready`` marker (a JSON copy of the dataset record) last.

    Args:
        source: ``builtin`` (ships with dynvision-data), ``download`` (official archives, checksum-verified) or
            ``folder`` (an existing tree of class folders at ``path``, linked in place: nothing is copied).
        mirror: ``download`` only: a local directory or base URL holding the official archives, tried first.
        path: ``folder`` only (required): the dataset directory; ``~`` and environment variables are expanded.
        splits: ``folder`` only: our split name -> its folder under ``path`` (default train -> train, test -> val).
        class_index: ``folder`` only: a class index file with readable class names.
        resolution: Statistics of the training images resized to shorter side ``N`` and centre-cropped to
            ``N x N`` (``None``: as stored); recorded in the marker as ``resolution``.

    The marker also records ``data_source`` (the source kind), ``train_stats`` and ``folder_times`` (with the image
    counts of the dataset record, what :func:`repair_data_markers` compares at each workflow start). A folder dataset's
    images are all decoded once here: an unreadable one stops this step with a :class:`~dynvision_data.DataError`
    naming the file. A tree left at ``<root>/<data_name>`` that no longer matches its ``dataset.json`` (a class folder
    or images deleted) is removed and made again.
    """
    from dynvision_data import load_stats, materialize_dataset, register_folder_dataset
    from dynvision_data.datasets.folder import verify_images
    from dynvision_data.integrity import folder_times

    from ..config import ConfigError, dataset_problems, expand_location

    settings = {
        "source": source,
        "mirror": None if mirror is None else os.fspath(mirror),
        "path": None if path is None else os.fspath(path),
        "splits": None if splits is None else dict(splits),
        "class_index": None if class_index is None else os.fspath(class_index),
    }
    if source not in ("builtin", "download", "folder"):
        raise ConfigError(f"source must be one of builtin, download, folder; got {source!r}.")
    problems = dataset_problems(data_name, settings)
    if problems:
        raise ConfigError("; ".join(problems))
    try:
        folder_dir, index, mirror = (expand_location(settings[key]) for key in ("path", "class_index", "mirror"))
    except ValueError as error:  # an environment variable that is not set
        raise ConfigError(str(error)) from None
    _remove_incomplete_tree(Path(root) / data_name)
    if source == "folder":
        # The registry lives in this process: register the tree, then materialising it links it in place.
        register_folder_dataset(data_name, folder_dir, splits=splits, class_index=index, replace=True)
        folder = materialize_dataset(data_name, root)
    else:
        folder = materialize_dataset(data_name, root, seed=seed, test_fraction=test_fraction, source=mirror)
    try:
        if source == "folder":
            # Reading the training images for their statistics (below) decodes each of them; the other splits are
            # decoded here, so that an unreadable file stops this step rather than a later test.
            for split in json.loads((folder / "dataset.json").read_text())["classes_per_split"]:
                if split != "train":
                    verify_images(folder / split)
        stats = load_stats(folder / "train", resolution=resolution)
    except ValueError as error:
        if source == "folder":  # links only: a tree of unreadable images must not stay, as if prepared
            shutil.rmtree(folder)
        if resolution is None and "resolution=N" in str(error):  # images of several sizes
            raise ConfigError(
                f"{error} In the workflow configuration: set datasets.{data_name}.resolution: N (e.g. 64)."
            ) from None
        raise
    log.info(
        "dataset %s (%s) at %s; training statistics (resolution %s) mean=%s std=%s",
        data_name, source, folder, resolution, stats.mean, stats.std,
    )
    if ready is not None:
        record = json.loads((folder / "dataset.json").read_text())
        record["data_source"] = source
        record["resolution"] = resolution
        record["train_stats"] = stats.to_dict()
        if "counts" in record:  # what the marker's check at each workflow start compares (repair_data_markers)
            record["folder_times"] = folder_times(folder, record["counts"])
        write_text_atomic(ready, json.dumps(record, indent=2) + "\n")
    return folder


def build_betons(
    source: str | os.PathLike[str],
    *,
    train: str | os.PathLike[str],
    val: str | os.PathLike[str],
    meta: str | os.PathLike[str],
    seed: int = 0,
    val_fraction: float = 0.1,
    resolution: int | None = None,
) -> None:
    """Write ``train`` and ``val`` FFCV files from the class folders at ``source`` (seeded split; every image resized
    to shorter side ``resolution`` and centre-cropped when given), then the record ``meta`` (JSON: both files'
    metadata), last, so that its presence means both files are complete."""
    from dynvision_data import write_betons

    metas = write_betons(source, train, val, val_fraction=val_fraction, seed=seed, resolution=resolution)
    record = {meta.role: meta.to_dict() for meta in metas}
    log.info("wrote %s (%d images) and %s (%d images)", train, metas[0].count, val, metas[1].count)
    write_text_atomic(meta, json.dumps(record, indent=2) + "\n")


def _remove_incomplete_tree(folder: Path) -> None:
    """Remove a dataset tree made by this step that no longer matches the image counts of its ``dataset.json`` (a class
    folder or images deleted since), so that it is made again; a tree without that record is left to
    ``materialize_dataset``, which never overwrites it."""
    from dynvision_data.integrity import tree_problems

    try:
        record = json.loads((folder / "dataset.json").read_text())
    except (OSError, ValueError):
        return
    problems = tree_problems(folder, record["counts"]) if "counts" in record else []
    if problems:
        log.warning("%s no longer matches its record (%s); making it again", folder, problems[0])
        shutil.rmtree(folder)  # our class folders, or links into a folder dataset (never what they lead to)


def _matches(pattern: str, root: Path) -> list[tuple[Path, dict[str, str]]]:
    """Existing paths under ``root`` that fill ``pattern`` (a :mod:`~dynvision_workflow.paths` pattern), with their
    wildcards."""
    regex = re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(pattern)))
    found = []
    for path in sorted(root.glob(re.sub(r"\{\w+\}", "*", pattern))):
        match = regex.fullmatch(path.relative_to(root).as_posix())
        if match:
            found.append((path, match.groupdict()))
    return found


def _summary(problems: list[str]) -> str:
    more = len(problems) - 1
    return problems[0] + (f", and {more} more difference{'s' * (more > 1)}" if more else "")


def repair_data_markers(root: str | os.PathLike[str] = ".") -> list[str]:
    """At workflow start, before Snakemake plans any job: remove every data marker under ``root`` (a working directory)
    whose data no longer match it, so that Snakemake makes the data again before any job reads them; return one note
    per removal.

    * ``data/raw/<name>.ready``: its dataset's class folders against the image counts it records (a folder deleted, or
      images added or removed; only the folders whose modification time changed are listed again).
    * a class group folder ``data/interim/<name>/<split>_<group>/`` (links and its ``.ready``): removed as a whole
      when a class it links to is gone.
    * ``data/processed/<name>/meta.json``: removed, with the bad file, when a ``.beton`` does not match its sidecar
      (size, samples) or header (truncated, overwritten).

    Cheap (listings, ``stat`` and a few bytes of each ``.beton``): a working directory without data costs a few globs.
    """
    root = Path(root)
    markers = _matches(paths.RAW_READY, root)
    groups = [(folder, wildcards) for folder, wildcards in _matches(paths.GROUP_SPLIT, root)
              if (folder / ".ready").is_file()]
    records = _matches(paths.BETON_META, root)
    if not (markers or groups or records):
        return []
    from dynvision_data.integrity import GROUP_READY, beton_problems, group_problems, tree_problems

    notes = []
    for marker, wildcards in markers:
        dataset = root / paths.fill(paths.RAW_DATASET, **wildcards)
        try:
            record = json.loads(marker.read_text())
            problems = tree_problems(dataset, record["counts"], record.get("folder_times")) if "counts" in record else []
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            problems = [f"the marker is unreadable ({error})"]
        if problems:
            marker.unlink(missing_ok=True)
            notes.append(f"{marker} no longer matches its data: {_summary(problems)}; removed it, so that the dataset "
                         "is prepared again")
    for folder, _ in groups:
        problems = group_problems(folder)
        if problems and (folder / GROUP_READY).is_file():
            shutil.rmtree(folder)  # links and the marker only (never what the links lead to)
            notes.append(f"class group {folder} no longer matches its data: {_summary(problems)}; removed it, so "
                         "that it is linked again")
    for meta, wildcards in records:
        bad = [root / paths.fill(pattern, **wildcards) for pattern in (paths.BETON_TRAIN, paths.BETON_VAL)]
        problems = {beton: beton_problems(beton) for beton in bad}
        bad = [beton for beton in bad if problems[beton]]
        if bad:
            meta.unlink(missing_ok=True)
            for beton in bad:
                beton.unlink(missing_ok=True)
            first = problems[bad[0]]
            notes.append(f"{_summary(first)}; removed {', '.join(map(str, bad))} and {meta}, so that the FFCV files "
                         "are written again")
    return notes
