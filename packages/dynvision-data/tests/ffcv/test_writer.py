from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dynvision_data import (
    BetonMetadata,
    ClassFolderDataset,
    compute_stats,
    default_stats_path,
    load_stats,
    read_beton_metadata,
    split_indices,
    validate_beton,
    write_betons,
)
from dynvision_data.ffcv import metadata_path
from dynvision_data.ffcv.metadata import beton_class_dir

pytestmark = pytest.mark.ffcv


def test_write_betons_writes_both_parts_and_no_temporaries(betons) -> None:
    assert betons.train.is_file() and betons.val.is_file()
    assert metadata_path(betons.train) == betons.train.with_name("train.beton.json")
    assert sorted(p.name for p in betons.train.parent.iterdir()) == [
        "train.beton",
        "train.beton.json",
        "val.beton",
        "val.beton.json",
    ]


def test_betons_hold_the_seeded_split_sizes(betons) -> None:
    assert validate_beton(betons.train) == 90 and validate_beton(betons.val) == 30
    assert validate_beton(betons.train, expected_count=90) == 90


def test_sidecar_records_split_classes_shape_counts_and_size(betons) -> None:
    dataset = ClassFolderDataset(betons.class_dir)
    for meta, role, path, count in (
        (betons.train_meta, "train", betons.train, 90),
        (betons.val_meta, "val", betons.val, 30),
    ):
        assert meta == read_beton_metadata(path)
        assert meta.role == role and meta.count == count
        # Relative to the .beton's folder: a copied or moved working directory still matches its class folder.
        assert not Path(meta.class_dir).is_absolute()
        assert beton_class_dir(path, meta) == Path(betons.class_dir).resolve()
        assert meta.classes == ("cat", "dog", "emu") and meta.image_shape == (3, 8, 8)
        assert meta.counts == {"train": 90, "val": 30}
        assert meta.val_fraction == 0.25 and meta.seed == 3
        assert meta.encoding == "raw-uint8-chw"
        assert meta.beton_bytes == path.stat().st_size
        assert meta.fingerprint == dataset.fingerprint()
    on_disk = json.loads(metadata_path(betons.train).read_text())
    assert on_disk["format_version"] == 1 and on_disk["stats"]["pixel_range"] == "0-1"
    assert BetonMetadata.from_dict(on_disk) == betons.train_meta


def test_sidecar_stats_are_those_of_the_whole_folder_and_cached_beside_it(betons) -> None:
    images, _ = ClassFolderDataset(betons.class_dir).load_arrays()
    expected = compute_stats(images)
    assert betons.train_meta.stats == betons.val_meta.stats == expected
    assert default_stats_path(betons.class_dir).is_file()
    assert load_stats(betons.class_dir) == expected


def test_val_beton_membership_is_split_indices_of_the_folder(betons) -> None:
    labels = ClassFolderDataset(betons.class_dir).labels
    _, val = split_indices(labels, 0.25, seed=3)
    assert np.bincount(labels[val]).tolist() == [10, 10, 10]
    assert len(val) == betons.val_meta.count


def test_same_output_path_for_both_parts_is_refused(class_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="train_out and val_out must differ"):
        write_betons(class_folder, tmp_path / "a.beton", tmp_path / "a.beton")


def test_bad_split_arguments_are_refused(class_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="val_fraction must be strictly between 0 and 1"):
        write_betons(class_folder, tmp_path / "t.beton", tmp_path / "v.beton", val_fraction=0.0)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        write_betons(class_folder, tmp_path / "t.beton", tmp_path / "v.beton", seed=-3)
    assert list(tmp_path.iterdir()) == []


def test_image_of_the_wrong_size_is_named_before_anything_is_written(
    make_class_folder: Callable[..., Path], tmp_path: Path
) -> None:
    root = make_class_folder(classes=("a", "b"), per_class=3, shape=(1, 4, 4))
    odd = root / "b" / "002.png"
    Image.fromarray(np.zeros((4, 6), np.uint8)).save(odd)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="has shape") as info:
        write_betons(root, out / "train.beton", out / "val.beton")
    assert str(odd) in str(info.value)
    assert not out.exists()


def test_missing_class_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist") as info:
        write_betons(tmp_path / "missing", tmp_path / "t.beton", tmp_path / "v.beton")
    assert "missing" in str(info.value)


def test_large_images_are_jpeg_encoded_and_recorded(jpeg_betons, betons) -> None:
    meta = jpeg_betons.train_meta
    assert meta.encoding == "jpeg" and meta.jpeg_quality == 90
    assert meta.image_shape == (3, 72, 80) and meta.counts == {"train": 18, "val": 6}
    assert validate_beton(jpeg_betons.train, expected_count=18) == 18
    assert read_beton_metadata(jpeg_betons.val) == jpeg_betons.val_meta
    assert betons.train_meta.jpeg_quality is None  # small images stay raw
    from dynvision_data.integrity import BETON_ALLOC_ENTRY, BETON_HEADER

    header = np.fromfile(jpeg_betons.train, dtype=BETON_HEADER, count=1)[0]
    table = np.fromfile(jpeg_betons.train, dtype=BETON_ALLOC_ENTRY, offset=int(header["alloc_table_ptr"]))
    # The stored image bytes (not the file, which is mostly page padding at this size) are compressed.
    assert 0 < int(table["size"].sum()) < 18 * 3 * 72 * 80 / 3


def test_encoding_arguments_are_checked(class_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"encoding must be one of \('auto', 'raw', 'jpeg'\), got 'png'"):
        write_betons(class_folder, tmp_path / "t.beton", tmp_path / "v.beton", encoding="png")
    with pytest.raises(ValueError, match="jpeg_quality must be at most 100"):
        write_betons(class_folder, tmp_path / "t.beton", tmp_path / "v.beton", jpeg_quality=101)
    assert list(tmp_path.iterdir()) == []


def test_a_killed_writers_partial_betons_and_stage_are_removed_by_the_next_writer(
    make_class_folder: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import tempfile

    from dynvision_data._util import _HOST

    process = subprocess.Popen(["true"])
    process.wait()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    out = tmp_path / "betons"
    out.mkdir()
    partial = out / f".train.beton.{_HOST}-{process.pid}.x1234567.tmp"
    partial.write_bytes(b"half a beton")
    stage = scratch / f".dynvision-betons.{_HOST}-{process.pid}.x1234567.tmp"
    stage.mkdir()
    (stage / "train_images.npy").write_bytes(b"gigabytes")
    folder = make_class_folder(classes=("a", "b"), per_class=10, shape=(1, 4, 4))
    write_betons(folder, out / "train.beton", out / "val.beton")
    assert sorted(p.name for p in out.iterdir()) == ["train.beton", "train.beton.json", "val.beton", "val.beton.json"]
    assert list(scratch.iterdir()) == []  # the killed writer's stage and this writer's own are gone
