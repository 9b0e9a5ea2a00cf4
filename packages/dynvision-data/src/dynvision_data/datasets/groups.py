"""Class groups: named subsets of a dataset's classes, materialised as folders of symlinks.

``materialize_group(<root>/<name>, "test", "38")`` makes ``<root>/<name>/test_38/`` holding one symlink per
selected class (``3 -> ../test/3``, ``8 -> ../test/8``) and a ``.ready`` marker, so a subset costs no copy and
reads like any class folder. Symlinks are relative, so the tree can be moved as a whole.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from .._util import atomic_write_json, make_temporary, read_json
from ..errors import DataError
from ..integrity import GROUP_READY, group_problems

__all__ = ["CLASS_GROUPS", "READY_NAME", "list_groups", "materialize_group"]

#: Marker written last inside a group folder; its presence means the folder is complete.
READY_NAME = GROUP_READY

#: Named class groups per dataset name (the ``name`` in ``dataset.json``). ``"all"`` always means every
#: class and needs no entry. Add entries (or pass ``classes=`` explicitly) for other subsets.
CLASS_GROUPS: dict[str, dict[str, list[str]]] = {
    "mnist": {"01": ["0", "1"], "38": ["3", "8"], "89": ["8", "9"]},
    "mnist5k": {"01": ["0", "1"], "38": ["3", "8"], "89": ["8", "9"]},
    "digits": {"01": ["0", "1"], "38": ["3", "8"], "89": ["8", "9"]},
    "fashionmnist": {
        "footwear": ["Sandal", "Sneaker", "Ankle boot"],
        "tops": ["T-shirt_top", "Pullover", "Coat", "Shirt"],
    },
    "cifar10": {
        "animals": ["bird", "cat", "deer", "dog", "frog", "horse"],
        "vehicles": ["airplane", "automobile", "ship", "truck"],
        "catdog": ["cat", "dog"],
    },
    "cifar100": {
        "invertebrates": ["bee", "beetle", "butterfly", "caterpillar", "cockroach", "crab", "lobster", "snail",
                          "spider", "worm"],
        "trees": ["maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"],
    },
}


def _dataset_name(dataset_dir: Path) -> str:
    marker = dataset_dir / "dataset.json"
    if marker.is_file():
        return str(read_json(marker).get("name", dataset_dir.name))
    return dataset_dir.name


def list_groups(dataset_dir: str | os.PathLike[str]) -> dict[str, list[str]]:
    """Groups known for the dataset in ``dataset_dir`` (from :data:`CLASS_GROUPS`), without ``"all"``."""
    return {k: list(v) for k, v in CLASS_GROUPS.get(_dataset_name(Path(dataset_dir)), {}).items()}


def _check_name(kind: str, value: str) -> str:
    if not isinstance(value, str) or not value or value.startswith(".") or "/" in value or os.sep in value:
        raise ValueError(f"{kind} must be a plain, non-hidden folder name, got {value!r}.")
    return value


def materialize_group(
    dataset_dir: str | os.PathLike[str],
    split: str,
    group: str,
    classes: Sequence[str] | None = None,
    *,
    groups: Mapping[str, Sequence[str]] | None = None,
    root: str | os.PathLike[str] | None = None,
) -> Path:
    """Make ``<dataset_dir>/<split>_<group>/`` (or ``<root>/<split>_<group>/``) with a relative symlink to each
    selected class folder.

    The folder is built under a hidden temporary name and renamed into place with its ``.ready`` marker
    (recording split, group and classes), so readers never see a partial group. A second call with the same
    classes returns at once; different classes for an existing group raise ``ValueError``; an existing path
    without the marker (a real folder or file) is never touched and raises ``FileExistsError`` naming it. A group
    folder whose links no longer lead to class folders (:func:`~dynvision_data.integrity.group_problems`) is made again.

    Labels: :class:`~dynvision_data.ClassFolderDataset` numbers the classes of a group folder from 0 unless
    given ``classes=`` -- pass the full dataset's class list to keep the full dataset's label indices.

    Args:
        dataset_dir: A dataset directory with ``<split>/<class>/`` folders (e.g. from ``materialize_dataset``).
        split: The split folder, e.g. ``"train"`` or ``"test"``.
        group: Name of the group; ``"all"`` selects every class.
        classes: Class folder names; ``None`` looks ``group`` up in ``groups`` (default :data:`CLASS_GROUPS` of
            the dataset named in ``dataset.json``).
        groups: Group table used instead of :data:`CLASS_GROUPS` when ``classes`` is ``None``.
        root: The folder to make the group folder in (default ``dataset_dir``), e.g. a workflow's
            ``data/interim/<name>`` beside a ``data/raw/<name>`` it must not write into.

    Returns:
        The group folder.
    """
    dataset_dir = Path(dataset_dir)
    split, group = _check_name("split", split), _check_name("group", group)
    split_dir = dataset_dir / split
    if not split_dir.is_dir():
        raise FileNotFoundError(f"{split_dir} is not a directory: {dataset_dir} has no split {split!r}.")
    available = sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes is None:
        if group == "all":
            classes = available
        else:
            table = groups if groups is not None else CLASS_GROUPS.get(_dataset_name(dataset_dir), {})
            if group not in table:
                raise KeyError(
                    f"Unknown class group {group!r} for {dataset_dir}. Known groups: {', '.join(sorted(table)) or '(none)'}"
                    " and 'all'. Pass classes=[...] to define it, or add it to dynvision_data.CLASS_GROUPS."
                )
            classes = table[group]
    classes = [str(c) for c in classes]
    if not classes:
        raise ValueError(f"Group {group!r} selects no classes.")
    if len(set(classes)) != len(classes):
        raise ValueError(f"Group {group!r} lists a class twice: {classes}.")
    unknown = [c for c in classes if c not in available]
    if unknown:
        raise DataError(
            f"Class(es) {unknown} of group {group!r} are not class folders of {split_dir}. "
            f"Available classes: {', '.join(available)}; name only those in the group, then rerun: dynvision run"
        )

    parent = Path(root) if root is not None else dataset_dir
    parent.mkdir(parents=True, exist_ok=True)
    target = parent / f"{split}_{group}"
    if os.path.lexists(target):
        _check_existing(target, split=split, group=group, classes=classes)
        if not group_problems(target):
            return target
        # Its marker stays but a class folder it links to is gone (the dataset was rebuilt or changed): the folder
        # holds only links and the marker, so it is made again.
        shutil.rmtree(target)
    link_base = os.path.relpath(split_dir, target)  # "../<split>" beside the dataset; relative, so movable
    tmp = Path(make_temporary(parent, target.name, folder=True)[1])
    try:
        for name in classes:
            os.symlink(os.path.join(link_base, name), tmp / name, target_is_directory=True)
        atomic_write_json(tmp / READY_NAME, {"split": split, "group": group, "classes": classes})
        try:
            os.rename(tmp, target)
        except OSError:
            if (target / READY_NAME).is_file():  # another process built it first
                shutil.rmtree(tmp, ignore_errors=True)
                return _check_existing(target, split=split, group=group, classes=classes)
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _check_existing(target: Path, *, split: str, group: str, classes: list[str]) -> Path:
    marker = target / READY_NAME
    if target.is_symlink() or not target.is_dir() or not marker.is_file():
        raise FileExistsError(
            f"{target} exists but is not a group folder made by materialize_group (no {READY_NAME} marker). It is "
            "never overwritten: move or remove it, or choose another group name."
        )
    recorded = read_json(marker)
    if recorded.get("classes") != classes or recorded.get("split") != split:
        raise ValueError(
            f"{target} already holds group {group!r} with classes {recorded.get('classes')}, but {classes} was "
            "requested. Use another group name, or delete the folder to rebuild it."
        )
    return target
