"""Bad-input corpus: data on disk (folder datasets, markers, .beton files, class groups, temporaries, downloads).

Each case runs a real command. A refusal is asserted with conftest.assert_refused (non-zero exit, the file named,
the fix as a command, no traceback, nothing new under a final name); where the workflow repairs what it finds (a data
marker that no longer matches its data, a corrupt .beton), the case asserts success, the note and the rebuilt data.
Runtime steps are run directly where the step is the point (2-5 s each); the workflow only where it is.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = [pytest.mark.e2e]

MODEL = "DyRCNNx2:channels=4~8+tau=4_0001"
MODEL_DIR = f"models/DyRCNNx2/{MODEL}/mnist5k"
READY = "data/raw/mnist5k.ready"
BETONS = "data/processed/mnist5k"
FIX_RERUN = "then rerun: dynvision run"
#: The host as temporaries name it (the first label of the host name).
HOST = socket.gethostname().split(".")[0]


def _dead_pid() -> int:
    """The id of a process that has ended (not reused so soon)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _photos(root: Path, *, classes: tuple[str, ...] = ("cat", "dog"), per_class: int = 3) -> Path:
    """A folder dataset ``root/{train,val}/<class>/*.png`` of small grey images."""
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(folder / f"{i}.png")
    return root


def _prepare(dynvision, photos: Path, workdir: Path, *extra: str):
    """`dynvision prepare-data photos` from the folder dataset ``photos`` into ``workdir/data/raw``."""
    return dynvision("prepare-data", "photos", "--root", "data/raw", "--ready", "data/raw/photos.ready",
                     "--source", "folder", "--path", str(photos), *extra, cwd=workdir, timeout=120)


# Folder datasets: refused when data are prepared, naming the file or folder ----------------------------------------


def test_an_empty_class_folder_is_refused_not_dropped(dynvision, refused, snapshot, tmp_path, fresh_workdir):
    photos = _photos(tmp_path / "photos")
    (photos / "val" / "fox").mkdir()
    before = snapshot(fresh_workdir)
    result = _prepare(dynvision, photos, fresh_workdir)
    refused(result, f"class folder '{photos / 'val' / 'fox'}' holds no images",
            fix=f"rmdir '{photos / 'val' / 'fox'}'", workdir=fresh_workdir, before=before)


@pytest.mark.parametrize(("damage", "split"), [("truncated png", "val"), ("text file named .png", "train")])
def test_an_unreadable_image_is_refused_naming_it(dynvision, refused, snapshot, tmp_path, fresh_workdir, damage,
                                                  split):
    photos = _photos(tmp_path / "photos")
    bad = photos / split / "dog" / "1.png"
    if damage == "truncated png":
        bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    else:
        bad.write_text("these are notes, not pixels\n")
    before = snapshot(fresh_workdir)
    result = _prepare(dynvision, photos, fresh_workdir)
    refused(result, f"cannot read image '{bad}'", fix=f"remove or replace it, {FIX_RERUN}", workdir=fresh_workdir,
            before=before)


def test_a_missing_folder_dataset_path_stops_the_workflow_before_any_job(dynvision, refused, snapshot, tmp_path,
                                                                        fresh_workdir):
    config = tmp_path / "c.yaml"
    config.write_text(f"data_name: photos\ndatasets:\n  photos: {{source: folder, path: {tmp_path}/gone}}\n")
    before = snapshot(fresh_workdir)
    result = dynvision("run", "-n", "--workdir", str(fresh_workdir), "--configfile", str(config), cwd=fresh_workdir,
                       timeout=120)
    refused(result, "datasets.photos.path", f"{tmp_path}/gone", fix="Give the directory that holds the split folders",
            workdir=fresh_workdir, before=before)


def test_a_folder_dataset_without_class_folders_is_refused(dynvision, refused, snapshot, tmp_path, fresh_workdir):
    photos = _photos(tmp_path / "photos")
    for image in (photos / "train" / "cat").iterdir():
        image.rename(photos / "train" / image.name)
    shutil.rmtree(photos / "train" / "cat")
    shutil.rmtree(photos / "train" / "dog")
    before = snapshot(fresh_workdir)
    result = _prepare(dynvision, photos, fresh_workdir)
    refused(result, f"'{photos / 'train'}' has no class folders", fix=f"put one folder per class with its images in it, {FIX_RERUN}",
            workdir=fresh_workdir, before=before)


def test_a_missing_split_folder_is_refused(dynvision, refused, snapshot, tmp_path, fresh_workdir):
    photos = _photos(tmp_path / "photos")
    shutil.rmtree(photos / "val")
    before = snapshot(fresh_workdir)
    result = _prepare(dynvision, photos, fresh_workdir)
    refused(result, f"'{photos / 'val'}' is not a directory", "datasets.photos.splits", fix=FIX_RERUN,
            workdir=fresh_workdir, before=before)


# Markers cannot lie: the workflow notices data that no longer match their marker and makes them again ---------------


@pytest.mark.slow
def test_a_deleted_dataset_whose_marker_stayed_is_prepared_again(dynvision, finished_workdir, tiny_config):
    shutil.rmtree(finished_workdir / "data/raw/mnist5k")
    result = dynvision("run", READY, "--workdir", str(finished_workdir), "--configfile", str(tiny_config),
                       cwd=finished_workdir, timeout=300)
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    assert f"note: {READY} no longer matches its data: 'data/raw/mnist5k' is missing; removed it" in text
    ready = json.loads((finished_workdir / READY).read_text())
    for split, record in ready["counts"].items():
        for name, count in record["per_class"].items():
            assert len(list((finished_workdir / "data/raw/mnist5k" / split / name).glob("*.png"))) == count


@pytest.mark.slow
def test_a_deleted_class_folder_whose_marker_stayed_is_planned_again(dynvision, finished_workdir, tiny_config):
    """A job that reads the data (here: writing the FFCV files) gets them made again first; results that are complete
    and read no data are left as they are (Snakemake does not remake missing intermediate files for them)."""
    shutil.rmtree(finished_workdir / "data/raw/mnist5k/test/3")
    result = dynvision("run", "-n", f"{BETONS}/meta.json", "--forcerun", "build_betons", "--workdir",
                       str(finished_workdir), "--configfile", str(tiny_config), cwd=finished_workdir, timeout=120)
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    assert f"note: {READY} no longer matches its data: class folder 'data/raw/mnist5k/test/3' is missing" in text
    assert "rule get_data:" in text and "reason: Missing output files: data/raw/mnist5k.ready" in text
    assert not (finished_workdir / READY).exists()


# Corrupt .beton files: the train step names the commands that rebuild them; the workflow rebuilds them -------------


def _damage(beton: Path, damage: str) -> None:
    if damage == "truncated":
        with beton.open("r+b") as handle:
            handle.truncate(beton.stat().st_size // 2)
    elif damage == "garbage":
        beton.write_bytes(np.random.default_rng(0).integers(0, 256, beton.stat().st_size, dtype=np.uint8).tobytes())
    else:  # the sidecar of the other file
        shutil.copyfile(beton.with_name("val.beton.json"), beton.with_name("train.beton.json"))
        sidecar = json.loads(beton.with_name("train.beton.json").read_text())
        sidecar["beton_bytes"] += 4096
        beton.with_name("train.beton.json").write_text(json.dumps(sidecar))


TRAIN_ARGS = (
    "--model-name", "DyRCNNx2", "--model-args", ":channels=4~8+tau=4", "--seed", "0001",
    "--init", f"{MODEL_DIR}/init.pt", "--dataset", "data/raw/mnist5k/train", "--betons", BETONS,
    "--backend", "ffcv", "--epochs", "1", "--batch-size", "32", "--limit-images", "64", "--threads", "1",
    "--paradigm", '{"args":{"intro":1,"outro":1,"stimulus":3},"name":"duration"}', "--data-name", "mnist5k",
)


@pytest.mark.slow
@pytest.mark.ffcv
@pytest.mark.parametrize("damage", ["truncated", "garbage", "sidecar mismatch"])
def test_a_corrupt_beton_is_refused_by_the_train_step_with_the_rebuild_command(dynvision, refused, snapshot,
                                                                              finished_workdir, damage):
    beton = finished_workdir / BETONS / "train.beton"
    _damage(beton, damage)
    before = snapshot(finished_workdir)
    result = dynvision("train", *TRAIN_ARGS, "--checkpoints", "again/checkpoints", "--output", "again/trained.pt",
                       cwd=finished_workdir, timeout=300)
    refused(result, f"{BETONS}/train.beton", fix=f"rm -f '{BETONS}/train.beton' && dynvision run",
            workdir=finished_workdir, before=before)


@pytest.mark.slow
@pytest.mark.ffcv
@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_the_workflow_rebuilds_a_corrupt_beton_with_a_note(dynvision, finished_workdir, tiny_config, damage):
    _damage(finished_workdir / BETONS / "train.beton", damage)
    result = dynvision("run", "-n", f"{BETONS}/meta.json", "--workdir", str(finished_workdir), "--configfile",
                       str(tiny_config), cwd=finished_workdir, timeout=120)
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    assert f"removed {BETONS}/train.beton and {BETONS}/meta.json, so that the FFCV files are written again" in text
    assert "rule build_betons:" in text and not (finished_workdir / BETONS / "train.beton").exists()


# Class groups ------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_group_naming_a_class_the_dataset_lacks_is_refused(dynvision, refused, snapshot, finished_workdir):
    before = snapshot(finished_workdir)
    result = dynvision("link-group", "mnist5k", "--source", "data/raw/mnist5k", "--output",
                       "data/interim/mnist5k/test_ab", "--split", "test", "--group", "ab", "--groups",
                       '{"ab": ["3", "x"]}', cwd=finished_workdir, timeout=120)
    refused(result, "datasets.mnist5k.groups.ab", "['x']", "data/raw/mnist5k/test", fix=FIX_RERUN,
            workdir=finished_workdir, before=before)
    assert not (finished_workdir / "data/interim/mnist5k/test_ab").exists()


# Temporaries of killed steps and downloads ---------------------------------------------------------------------------


def test_a_killed_steps_temporaries_are_removed_when_it_runs_again(dynvision, fresh_workdir):
    raw = fresh_workdir / "data/raw"
    dead = _dead_pid()
    stale_tree = raw / f".digits.{HOST}-{dead}.k1ll3d00.tmp"
    (stale_tree / "train" / "0").mkdir(parents=True)
    (stale_tree / "train" / "0" / "0001.png").write_bytes(b"half an image")
    stale_marker = raw / f".digits.ready.{HOST}-{dead}.k1ll3d00.tmp"
    stale_marker.write_text("{")
    other_host = raw / f".digits.elsewhere-{dead}.w0rk1n00.tmp"  # a node of a shared file system: left alone
    other_host.mkdir()
    result = dynvision("prepare-data", "digits", "--root", "data/raw", "--ready", "data/raw/digits.ready",
                       cwd=fresh_workdir, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in raw.iterdir()) == sorted(["digits", "digits.ready", other_host.name])


def test_a_cached_download_with_a_bad_checksum_is_refused_naming_it(dynvision, refused, snapshot, fresh_workdir):
    cache = fresh_workdir / "data/raw/.downloads/mnist"
    cache.mkdir(parents=True)
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz")
    for name in names:
        (cache / name).write_bytes(b"not the official archive")
    before = snapshot(fresh_workdir)
    result = dynvision("prepare-data", "mnist", "--root", "data/raw", "--source", "download", cwd=fresh_workdir,
                       timeout=120)
    text = refused(result, "has MD5", fix="&& dynvision run", workdir=fresh_workdir, before=before)
    bad = next(name for name in names if f"data/raw/.downloads/mnist/{name}" in text)
    assert f"rm 'data/raw/.downloads/mnist/{bad}' && dynvision run" in text
