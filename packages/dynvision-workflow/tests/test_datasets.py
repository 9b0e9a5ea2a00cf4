"""Every kind of dataset dynvision-data supports, configured in the workflow: builtin, downloaded (from a local
mirror) and an existing tree of class folders linked in place, optionally at a configured resolution.

No test touches the network: downloads come from tiny official-format archives in a temporary mirror whose
checksums replace the official ones for the test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dynvision_workflow import paths
from dynvision_workflow.config import (
    BUILTIN_DATASETS,
    DOWNLOADABLE_DATASETS,
    ConfigError,
    expand_path,
    folder_path,
    resolve_config,
)

CLASSES = ("cat", "dog", "fox")


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    result = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})),
        capture_output=True, text=True, timeout=timeout, check=False,
    )
    text = result.stdout + result.stderr
    assert result.returncode == 0, text[-4000:]
    return text


def _write_photos(root: Path, per_class: dict[str, int]) -> Path:
    """A tree ``root/{train,val}/<class>/*.png|jpg`` of RGB images in several sizes (none of them square)."""
    rng = np.random.default_rng(0)
    sizes = [(24, 20), (30, 40), (17, 33), (50, 26)]
    for split, count in per_class.items():
        for label, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                width, height = sizes[(i + label) % len(sizes)]
                pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
                pixels[..., label] //= 4  # a little class signal
                suffix = "jpg" if i % 2 else "png"
                Image.fromarray(pixels).save(folder / f"{name}{i:02d}.{suffix}")
    return root


# Configuration ------------------------------------------------------------------------------------------------------


def test_dataset_name_lists_match_the_data_packages_registry():
    """The workflow checks names without importing dynvision_data (torch); its lists must stay the registry's."""
    from dynvision_data import get_dataset_spec, list_datasets
    from dynvision_data.datasets import downloads

    assert sorted(BUILTIN_DATASETS + DOWNLOADABLE_DATASETS) == list_datasets()
    official = {name for name in list_datasets() if get_dataset_spec(name).load.__module__.endswith(".official")}
    assert set(DOWNLOADABLE_DATASETS) == official
    assert {name.removesuffix("-coarse") for name in DOWNLOADABLE_DATASETS} == set(downloads.CHECKSUMS)


def test_every_source_resolves_with_its_keys_and_defaults(tmp_path):
    config = resolve_config({
        "datasets": {
            "cifar10": {"source": "download", "mirror": str(tmp_path), "flip": True},
            "cifar100-coarse": {"source": "download"},
            "photos": {"source": "folder", "path": "$PHOTOS_DIR", "splits": {"train": "a", "test": "b"},
                       "resolution": 16},
            "gratings": {"source": "builtin"},
        }
    })
    datasets = config["datasets"]
    assert datasets["mnist5k"]["resolution"] is None and datasets["mnist5k"]["source"] == "builtin"
    assert datasets["cifar10"]["mirror"] == str(tmp_path) and datasets["cifar10"]["path"] is None
    assert datasets["photos"]["resolution"] == 16 and datasets["photos"]["splits"] == {"train": "a", "test": "b"}


@pytest.mark.parametrize(
    ("dataset", "messages"),
    [
        ({"cifar10": {"source": "builtin"}},
         ["datasets.cifar10.source: 'builtin', but dynvision-data ships no dataset 'cifar10'; builtin datasets: "
          "digits, gratings, mnist5k.", "set datasets.cifar10.source: download"]),
        ({"imagenet": {}}, ["datasets.imagenet.source: 'builtin'", "set datasets.imagenet.source: folder"]),
        ({"mnist5": {"source": "download"}},
         ["datasets.mnist5.source: 'download', but 'mnist5' has no official archives to download; downloadable "
          "datasets: cifar10, cifar100, cifar100-coarse, fashionmnist, mnist.", "Did you mean 'mnist'?"]),
        ({"digits": {"source": "download"}}, ["'digits' ships with dynvision-data: set datasets.digits.source: builtin"]),
        ({"photos": {"source": "folder"}}, ["datasets.photos.path: required with source: folder"]),
        ({"mnist": {"source": "folder", "path": "/data"}},
         ["datasets.mnist.source: 'folder', but 'mnist' is the name of a dynvision-data dataset"]),
        ({"mnist5k": {"path": "/data", "splits": {"train": "a", "test": "b"}, "class_index": "i.json"}},
         ["datasets.mnist5k.path: '/data' is only used with source: folder, but datasets.mnist5k.source is "
          "'builtin'; remove path or set source: folder.", "datasets.mnist5k.splits:", "datasets.mnist5k.class_index:"]),
        ({"photos": {"source": "folder", "path": "/data", "mirror": "https://example.org/"}},
         ["datasets.photos.mirror: 'https://example.org/' is only used with source: download"]),
        ({"photos": {"source": "web"}}, ["datasets.photos.source: 'web' is not allowed; choose one of 'builtin', "
                                         "'download', 'folder'."]),
        ({"photos": {"source": "folder", "path": "/d", "resolution": 1}}, ["datasets.photos.resolution: 1 is less "
                                                                          "than the minimum of 2"]),
        ({"photos": {"source": "folder", "path": "/d", "splits": {"train": "t", "val": "v"}}},
         ["datasets.photos.splits.val: unknown key. Allowed keys: test, train."]),
        ({"digits": {"crop_scale": [0.9, 0.3]}},
         ["datasets.digits.crop_scale: [0.9, 0.3] has low > high; give [low, high] with 0 < low <= high <= 1"]),
        ({"My_Photos": {"source": "folder", "path": "/d"}},
         ["datasets.My_Photos: the name 'My_Photos' is not allowed: dataset names are lower-case letters and digits"]),
    ],
)
def test_dataset_errors_name_the_key_the_value_and_the_remedy(dataset, messages):
    with pytest.raises(ConfigError) as error:
        resolve_config({"datasets": dataset})
    for message in messages:
        assert message in str(error.value)


def test_paths_expand_variables_and_home_and_refuse_unset_variables(tmp_path):
    environ = {"DATA": str(tmp_path), "HOME": "/home/me"}
    assert expand_path("$DATA/imagenette", environ) == f"{tmp_path}/imagenette"
    assert expand_path("${DATA}/x", environ) == f"{tmp_path}/x"
    assert expand_path("~/data").startswith(os.path.expanduser("~"))
    with pytest.raises(ValueError, match="not set: MISSING"):
        expand_path("$MISSING/x", environ)
    assert folder_path("photos", {"path": "$DATA"}, environ) == str(tmp_path)
    with pytest.raises(ConfigError, match=r"datasets.photos.path: '\$DATA/nope' \(= .*/nope\) is not a directory"):
        folder_path("photos", {"path": "$DATA/nope"}, environ)
    with pytest.raises(ConfigError, match=r"datasets\.photos\.path: .*not set: NOPE"):
        folder_path("photos", {"path": "${NOPE}"}, environ)


# Download from a local mirror ---------------------------------------------------------------------------------------

IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz")


def _write_mnist_mirror(mirror: Path, n_train: int = 20, n_test: int = 10) -> None:
    """Tiny MNIST archives in the official IDX gzip format."""
    from dynvision_data.datasets.idx import write_idx

    rng = np.random.default_rng(1)
    mirror.mkdir(parents=True)
    write_idx(mirror / IDX_FILES[0], rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8))
    write_idx(mirror / IDX_FILES[1], (np.arange(n_train) % 10).astype(np.uint8))
    write_idx(mirror / IDX_FILES[2], rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8))
    write_idx(mirror / IDX_FILES[3], (np.arange(n_test) % 10).astype(np.uint8))


def test_download_rule_passes_the_mirror(tmp_path):
    mirror = tmp_path / "mirror"
    config = tmp_path / "c.yaml"
    config.write_text(f"datasets:\n  mnist: {{source: download, mirror: {mirror}, resolution: 14}}\n")
    workdir = tmp_path / "work"
    workdir.mkdir()
    text = _run("-m", "dynvision_workflow", "run", "--workdir", str(workdir), "-n", "-p",
                paths.fill(paths.BETON_META, data_name="mnist"), "--configfile", str(config), cwd=workdir)
    assert (f"dynvision prepare-data mnist --root data/raw --ready data/raw/mnist.ready --seed 0 --test-fraction "
            f"0.2 --source download --mirror {mirror} --resolution 14") in text
    assert "--val-fraction 0.1 --resolution 14" in text
    assert not (workdir / "data").exists()


def test_prepare_data_downloads_from_a_local_mirror(tmp_path, monkeypatch):
    from dynvision_data.datasets import downloads
    from dynvision_workflow.runtime.data import prepare_data

    mirror = tmp_path / "mirror"
    _write_mnist_mirror(mirror)
    monkeypatch.setattr(downloads, "MIRRORS", {})  # nothing public: only the mirror can deliver
    monkeypatch.delenv(downloads.MIRROR_ENV, raising=False)
    monkeypatch.setitem(downloads.CHECKSUMS, "mnist", {name: downloads.file_md5(mirror / name) for name in IDX_FILES})
    monkeypatch.setenv("MNIST_MIRROR", str(mirror))
    ready = tmp_path / "raw" / "mnist.ready"
    folder = prepare_data("mnist", root=tmp_path / "raw", ready=ready, source="download", mirror="$MNIST_MIRROR",
                          resolution=14)
    assert sorted(p.name for p in (folder / "train").iterdir()) == [str(d) for d in range(10)]
    assert sum(1 for _ in (folder / "test").rglob("*.png")) == 10
    assert (tmp_path / "raw/.downloads/mnist" / IDX_FILES[0]).is_file()  # verified copy kept in the cache
    record = json.loads(ready.read_text())
    assert record["data_source"] == "download" and record["resolution"] == 14 and record["split"] == "official"
    assert record["train_stats"]["count"] == 20
    assert (folder / "train.stats-14px.json").is_file()


def test_prepare_data_refuses_a_source_that_does_not_fit_the_name(tmp_path):
    from dynvision_workflow.runtime.data import prepare_data

    with pytest.raises(ConfigError, match="'mnist' is read from its official archives"):
        prepare_data("mnist", root=tmp_path)
    with pytest.raises(ConfigError, match=r"datasets\.photos\.path: required with source: folder"):
        prepare_data("photos", root=tmp_path, source="folder")
    with pytest.raises(ConfigError, match=r"mirror: .* is only used with source: download"):
        prepare_data("digits", root=tmp_path, mirror=tmp_path)
    assert not (tmp_path / "mnist").exists()


def test_a_folder_of_photos_in_several_sizes_without_resolution_names_the_setting(tmp_path):
    from dynvision_workflow.runtime.data import prepare_data

    photos = _write_photos(tmp_path / "photos", {"train": 2, "val": 1})
    with pytest.raises(ConfigError, match=r"set datasets\.photos\.resolution: N"):
        prepare_data("photos", root=tmp_path / "raw", source="folder", path=photos)


def test_prepare_data_cli_reports_bad_splits_and_sources_in_one_line(tmp_path):
    text = subprocess.run(
        [sys.executable, "-m", "dynvision_workflow", "prepare-data", "photos", "--root", str(tmp_path),
         "--source", "folder", "--path", str(tmp_path), "--splits", "train"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert text.returncode == 2
    assert "--splits: malformed split 'train'" in text.stderr and "Traceback" not in text.stderr


# A folder of photos in many sizes, through the workflow -------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.ffcv
def test_workflow_links_a_folder_dataset_and_builds_betons_and_a_model_at_its_resolution(tmp_path):
    """get_data -> build_betons and init_model, run by the workflow, on a tree of photos in several sizes (png and
    jpg) at resolution 16, with the path given through an environment variable."""
    photos = _write_photos(tmp_path / "photos", {"train": 8, "val": 3})
    config = tmp_path / "c.yaml"
    config.write_text(
        "data_name: photos\nmodel_args: {channels: '4,8'}\n"
        "datasets:\n  photos: {source: folder, path: $PHOTOS_DIR, resolution: 16, flip: true}\n"
    )
    workdir = tmp_path / "work"
    workdir.mkdir()
    state = paths.fill(paths.MODEL_STATE, model_name="DyRCNNx2", model_args=":channels=4~8", seed="0001",
                       data_name="photos", status="init")
    meta = paths.fill(paths.BETON_META, data_name="photos")
    _run("-m", "dynvision_workflow", "run", "--workdir", str(workdir), "--cores", "2", meta, state,
         "--configfile", str(config), cwd=workdir, env={"PHOTOS_DIR": str(photos)})

    raw = workdir / "data/raw/photos"
    assert (raw / "train/cat").is_symlink() and (raw / "train/cat").resolve() == (photos / "train/cat").resolve()
    assert (raw / "test/fox").resolve() == (photos / "val/fox").resolve()  # test -> val by default
    ready = json.loads((workdir / paths.fill(paths.RAW_READY, data_name="photos")).read_text())
    assert ready["data_source"] == "folder" and ready["resolution"] == 16
    assert ready["classes"] == list(CLASSES) and ready["source"] == str(photos.resolve())
    assert ready["train_stats"]["count"] == 24

    record = json.loads((workdir / meta).read_text())
    for role in ("train", "val"):
        sidecar = json.loads((workdir / f"data/processed/photos/{role}.beton.json").read_text())
        assert sidecar["resolution"] == 16 and list(sidecar["image_shape"]) == [3, 16, 16]
        assert record[role]["resolution"] == 16
    assert sidecar["stats"]["mean"] == pytest.approx(ready["train_stats"]["mean"])

    from dynvision_workflow.runtime.states import load_state

    data = load_state(workdir / state).data
    assert data["input_shape"] == [3, 16, 16] and data["image_resolution"] == 16
    assert data["classes"] == list(CLASSES)
    assert data["mean"] == pytest.approx(ready["train_stats"]["mean"])  # the statistics of the resized images


def test_folder_dataset_with_a_missing_directory_stops_before_any_job(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"data_name: photos\ndatasets:\n  photos: {{source: folder, path: {tmp_path}/nope}}\n")
    result = subprocess.run(
        [sys.executable, "-m", "dynvision_workflow", "run", "--workdir", str(tmp_path), "-n", "--configfile",
         str(config)], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode != 0
    assert f"datasets.photos.path: '{tmp_path}/nope' (= {tmp_path}/nope) is not a directory" in (
        result.stdout + result.stderr)
    assert not (tmp_path / "data").exists()


@pytest.mark.slow
def test_train_and_test_steps_read_a_folder_dataset_at_the_models_resolution(tmp_path):
    """init at resolution 12, then train (torch loader) and test: given explicitly or taken from the model state."""
    import pandas as pd
    import yaml

    from dynvision_workflow.runtime.data import prepare_data
    from dynvision_workflow.runtime.init import init_model
    from dynvision_workflow.runtime.states import load_state
    from dynvision_workflow.runtime.test import TestSettings, test_model
    from dynvision_workflow.runtime.train import TrainSettings, train_model

    photos = _write_photos(tmp_path / "photos", {"train": 6, "images": 2})
    folder = prepare_data("photos", root=tmp_path / "raw", source="folder", path=photos,
                          splits={"train": "train", "test": "images"}, resolution=12)
    init = init_model("DyRCNNx2", {"channels": [3, 4]}, seed="0001", dataset=folder / "train",
                      output=tmp_path / "model/init.pt", image_resolution=12)
    assert load_state(init).data["input_shape"] == [3, 12, 12]
    trained = tmp_path / "model/trained.pt"
    settings = TrainSettings(backend="torch", epochs=1, batch_size=6, threads=1, flip=True, image_resolution=12,
                             paradigm="duration:intro=1+outro=1+stimulus=2")
    train_model(init=init, output=trained, dataset=folder / "train", betons=None, checkpoints=tmp_path / "model/ckpt",
                seed="0001", settings=settings)
    record = yaml.safe_load(trained.with_name("trained.pt.config.yaml").read_text())
    assert record["parameters"]["image_resolution"] == 12
    for given in (12, None):  # None: the resolution recorded in the model state
        out = tmp_path / f"test-{given}"
        summary = test_model(trained, dataset=folder / "test", outputs=out / "test_outputs.csv",
                             responses=out / "test_responses.safetensors",
                             settings=TestSettings(paradigm="duration:intro=1+outro=1+stimulus=2", batch_size=4,
                                                   image_resolution=given))
        assert summary["n_samples"] == 6
        assert pd.read_csv(out / "test_outputs.csv")["label"].tolist()[::4] == [0, 0, 1, 1, 2, 2]
        record = yaml.safe_load((out / "test_outputs.csv.config.yaml").read_text())
        assert record["parameters"]["image_resolution"] == 12


def test_runtime_commands_take_the_resolution_options():
    from dynvision_workflow.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["build-betons", "s", "--train", "t", "--val", "v", "--meta", "m",
                              "--resolution", "32"]).resolution == 32
    assert parser.parse_args(["init", "--model-name", "M", "--dataset", "d", "--output", "o",
                              "--image-resolution", "64"]).image_resolution == 64
    prepare = parser.parse_args(["prepare-data", "photos", "--root", "r", "--source", "folder", "--path", "p",
                                 "--splits", "train=train,test=val", "--class-index", "i.json", "--resolution", "16"])
    assert (prepare.source, prepare.path, prepare.splits, prepare.resolution) == ("folder", "p", {"train": "train", "test": "val"}, 16)
    for command in (["train", "--model-name", "M", "--init", "i", "--output", "o", "--dataset", "d",
                     "--checkpoints", "c"], ["test", "s", "--dataset", "d", "--outputs", "o", "--responses", "r"]):
        assert parser.parse_args([*command, "--image-resolution", "16"]).image_resolution == 16
        assert parser.parse_args(command).image_resolution is None
    with pytest.raises(SystemExit):
        parser.parse_args(["build-betons", "s", "--train", "t", "--val", "v", "--meta", "m", "--resolution", "1"])


# Markers cannot lie -------------------------------------------------------------------------------------------------


def test_a_marker_whose_data_changed_is_removed_and_the_data_prepared_again(tmp_path, monkeypatch):
    """repair_data_markers (run at each workflow start) removes a dataset marker whose class folders no longer hold the
    recorded images, and a class group linking a folder that went; preparing again replaces the leftover tree."""
    from dynvision_data.datasets.groups import materialize_group
    from dynvision_workflow.runtime.data import prepare_data, repair_data_markers

    monkeypatch.chdir(tmp_path)
    ready = Path(paths.fill(paths.RAW_READY, data_name="digits"))
    folder = prepare_data("digits", root="data/raw", ready=ready)
    group = materialize_group(folder, "test", "38", ["3", "8"], root="data/interim/digits")
    assert repair_data_markers() == [] and ready.is_file()
    counts = json.loads(ready.read_text())["counts"]
    shutil.rmtree(folder / "test" / "8")
    next((folder / "train" / "1").iterdir()).unlink()
    notes = repair_data_markers()
    assert notes[0].startswith(f"{ready} no longer matches its data: ") and "'data/raw/digits/test/8' is missing" in notes[0]
    assert "and 1 more difference" in notes[0] and notes[0].endswith("so that the dataset is prepared again")
    assert notes[1].startswith("class group data/interim/digits/test_38 no longer matches its data: class '8'")
    assert not ready.exists() and not group.exists()
    prepare_data("digits", root="data/raw", ready=ready)  # the leftover tree is made again, not trusted
    assert json.loads(ready.read_text())["counts"] == counts and repair_data_markers() == []


def test_a_folder_dataset_with_an_unreadable_test_image_stops_preparing_and_leaves_no_tree(tmp_path):
    from dynvision_data import DataError
    from dynvision_workflow.runtime.data import prepare_data

    photos = _write_photos(tmp_path / "photos", {"train": 2, "val": 1})
    bad = next((photos / "val" / "dog").iterdir())
    bad.write_bytes(bad.read_bytes()[:40])
    with pytest.raises(DataError, match=rf"cannot read image '{bad}' .*then rerun: dynvision run"):
        prepare_data("photos", root=tmp_path / "raw", source="folder", path=photos, resolution=8)
    assert not (tmp_path / "raw" / "photos").exists()
