"""Truncated or corrupt .beton files and sidecars raise CorruptBetonError naming the file, never crash."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from dynvision_data import CorruptBetonError, DataError, make_loader, read_beton_metadata, validate_beton
from dynvision_data.ffcv import metadata_path
from dynvision_data.ffcv.metadata import beton_class_dir
from dynvision_data.integrity import beton_problems

pytestmark = pytest.mark.ffcv


def _copy(beton: Path, directory: Path) -> Path:
    """Copy a .beton and its sidecar into ``directory``; return the copy."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / beton.name
    shutil.copyfile(beton, target)
    shutil.copyfile(metadata_path(beton), metadata_path(target))
    return target


def _cut(path: Path, n_bytes: int) -> None:
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size - n_bytes)


def _set_sidecar(beton: Path, **changes) -> None:
    sidecar = metadata_path(beton)
    data = json.loads(sidecar.read_text())
    data.update(changes)
    sidecar.write_text(json.dumps(data))


def test_truncated_beton_is_refused_by_its_recorded_size(betons, tmp_path: Path) -> None:
    copy = _copy(betons.train, tmp_path)
    _cut(copy, 100)
    with pytest.raises(CorruptBetonError, match="truncated") as info:
        read_beton_metadata(copy)
    assert str(copy) in str(info.value)
    with pytest.raises(CorruptBetonError) as info:
        make_loader(copy, backend="torch")
    assert str(copy) in str(info.value)


@pytest.mark.parametrize("cut", [1, 24, 1000, "half", "all-but-10"])
def test_validate_beton_detects_truncation_anywhere(betons, tmp_path: Path, cut: int | str) -> None:
    copy = _copy(betons.train, tmp_path)
    size = copy.stat().st_size
    n_bytes = {"half": size // 2, "all-but-10": size - 10}.get(cut, cut)  # type: ignore[call-overload]
    _cut(copy, n_bytes)
    with pytest.raises(CorruptBetonError, match=r"is not a valid \.beton file") as info:
        validate_beton(copy)
    assert str(copy) in str(info.value)


def test_ffcv_loader_checks_the_structure_before_reading(betons, tmp_path: Path) -> None:
    # A sidecar that agrees with the truncated size: only the structural check stands between FFCV and a
    # crash.
    copy = _copy(betons.train, tmp_path)
    _cut(copy, 48)
    _set_sidecar(copy, beton_bytes=copy.stat().st_size)
    with pytest.raises(CorruptBetonError, match="allocation") as info:
        make_loader(copy, backend="ffcv")
    assert str(copy) in str(info.value)


def test_overwritten_header_is_refused(betons, tmp_path: Path) -> None:
    copy = _copy(betons.val, tmp_path)
    with copy.open("r+b") as handle:
        handle.write(b"\xff\xff")
    with pytest.raises(CorruptBetonError, match="format version 65535, expected 2"):
        validate_beton(copy)
    tiny = tmp_path / "tiny.beton"
    tiny.write_bytes(b"1234")
    with pytest.raises(CorruptBetonError, match="shorter than the 24-byte header"):
        validate_beton(tiny)


def test_sample_count_differing_from_the_metadata_is_refused(betons) -> None:
    with pytest.raises(CorruptBetonError, match="30 samples, but its metadata records 31") as info:
        validate_beton(betons.val, expected_count=31)
    assert str(betons.val) in str(info.value)


def test_corrupt_sidecar_is_named(betons, tmp_path: Path) -> None:
    copy = _copy(betons.val, tmp_path)
    sidecar = metadata_path(copy)
    sidecar.write_text(sidecar.read_text()[:40])
    with pytest.raises(CorruptBetonError, match="is unreadable") as info:
        read_beton_metadata(copy)
    assert str(sidecar) in str(info.value)
    with pytest.raises(CorruptBetonError):
        make_loader(copy)


def test_sidecar_missing_a_field_is_named(betons, tmp_path: Path) -> None:
    copy = _copy(betons.val, tmp_path)
    data = json.loads(metadata_path(copy).read_text())
    del data["stats"]
    metadata_path(copy).write_text(json.dumps(data))
    with pytest.raises(CorruptBetonError, match="'stats'") as info:
        read_beton_metadata(copy)
    assert str(metadata_path(copy)) in str(info.value)


def test_beton_without_sidecar_is_refused(betons, tmp_path: Path) -> None:
    copy = _copy(betons.val, tmp_path)
    metadata_path(copy).unlink()
    with pytest.raises(CorruptBetonError, match=r"has no metadata file val\.beton\.json") as info:
        read_beton_metadata(copy)
    assert str(copy) in str(info.value)


def test_torch_backend_refuses_a_beton_whose_class_folder_changed(betons, tmp_path: Path) -> None:
    folder = tmp_path / "train"
    shutil.copytree(betons.class_dir, folder)  # copy2 keeps sizes and times: the same fingerprint
    copy = _copy(betons.val, tmp_path / "betons")
    _set_sidecar(copy, class_dir=str(folder))
    assert make_loader(copy, backend="torch").n_samples == 30
    extra = folder / "cat" / "999.png"
    shutil.copyfile(folder / "cat" / "000.png", extra)
    os.utime(extra, ns=(0, 0))
    with pytest.raises(CorruptBetonError, match="changed since") as info:
        make_loader(copy, backend="torch")
    assert str(folder) in str(info.value) and str(copy) in str(info.value)


def test_a_moved_beton_and_class_folder_still_match_and_old_absolute_sidecars_read(betons, tmp_path: Path) -> None:
    """Sidecars record the class folder relative to the .beton: moving both together (a copied working directory)
    keeps them matched; an older sidecar with an absolute class_dir is read as it is."""
    root = tmp_path / "moved"
    shutil.copytree(betons.class_dir, root / "raw" / "train")
    moved = _copy(betons.val, root / "processed")
    assert not Path(read_beton_metadata(moved).class_dir).is_absolute()
    meta = read_beton_metadata(moved)
    # The copy of the .beton lies elsewhere relative to the class folder: rewrite its relative path as the writer does.
    _set_sidecar(moved, class_dir=os.path.relpath(root / "raw" / "train", root / "processed"))
    assert beton_class_dir(moved, read_beton_metadata(moved)) == (root / "raw" / "train").resolve()
    assert make_loader(moved, backend="torch").n_samples == meta.count
    _set_sidecar(moved, class_dir=str((root / "raw" / "train").resolve()))
    assert beton_class_dir(moved, read_beton_metadata(moved)) == (root / "raw" / "train").resolve()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "garbage of the same size", "sidecar of the other file"])
def test_a_bad_beton_is_found_cheaply_and_named_with_the_commands_that_rebuild_it(
    betons, tmp_path: Path, damage: str
) -> None:
    copy = _copy(betons.train, tmp_path)
    assert beton_problems(copy) == []
    size = copy.stat().st_size
    if damage == "truncated":
        _cut(copy, size // 3)
    elif damage == "garbage":
        copy.write_bytes(b"\x00garbage" * 1000)
    elif damage == "garbage of the same size":
        copy.write_bytes(os.urandom(size))
    else:
        shutil.copyfile(metadata_path(betons.val), metadata_path(copy))
    assert beton_problems(copy), damage  # what the workflow checks at each start: the sidecar and 24 bytes
    with pytest.raises(CorruptBetonError) as info:
        validate_beton(copy, expected_count=read_beton_metadata(copy).count)
    message = str(info.value)
    assert f"'{copy}'" in message and f"rm -f '{copy}' && dynvision run" in message
    assert isinstance(info.value, DataError)


def test_a_missing_beton_or_sidecar_is_a_problem(betons, tmp_path: Path) -> None:
    copy = _copy(betons.val, tmp_path)
    metadata_path(copy).unlink()
    assert beton_problems(copy) == [f"'{copy}' has no metadata file 'val.beton.json'"]
    copy.unlink()
    assert beton_problems(copy) == [f"'{copy}' is missing"]
