"""``resolution=N``: trees of images in many sizes (ImageNet/Imagenette layouts) resized to shorter side ``N``
and centre-cropped to ``N x N`` -- by the reader, the torch loader, the statistics and the .beton writer alike."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dynvision_data import (
    Augmentation,
    BetonMetadata,
    ClassFolderDataset,
    TestDataModule,
    TrainingDataModule,
    compute_stats,
    default_stats_path,
    load_stats,
    make_eval_loader,
    make_loader,
    read_beton_metadata,
    read_image,
    write_betons,
)
from dynvision_data import stats as stats_module
from dynvision_data.datasets import resize_center_crop
from dynvision_data.ffcv import metadata_path

#: Resolution of most tests; the trees hold images both smaller and larger than it.
R = 24
#: (width, height, file ending, PIL mode) of the images of each class, cycled; one grey JPEG among colour ones.
SIZES = (
    (40, 30, "jpg", "RGB"),
    (30, 50, "png", "RGB"),
    (64, 64, "png", "RGB"),
    (100, 80, "jpg", "RGB"),
    (R, R, "png", "RGB"),
    (90, 20, "png", "RGB"),
    (33, 70, "jpg", "L"),
)


def _write(path: Path, width: int, height: int, mode: str = "RGB", seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    shape = (height, width) if mode == "L" else (height, width, 3)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
    return path


def _photo_tree(root: Path, classes: tuple[str, ...] = ("zebra", "ant", "owl"), per_class: int = 7) -> Path:
    """Class folders of random JPEG/PNG images in the sizes of :data:`SIZES` (the first one is 40x30 RGB)."""
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            width, height, ending, mode = SIZES[(i + c) % len(SIZES)] if i else SIZES[0]
            _write(root / name / f"{i:02d}.{ending}", width, height, mode, seed=100 * c + i)
    return root


def _bands(width: int, height: int, vertical: bool) -> Image.Image:
    """Three equal bands red | green | blue, side by side (``vertical``) or stacked."""
    pixels = np.zeros((height, width, 3), np.uint8)
    for colour in range(3):
        if vertical:
            pixels[:, colour * width // 3 : (colour + 1) * width // 3, colour] = 255
        else:
            pixels[colour * height // 3 : (colour + 1) * height // 3, :, colour] = 255
    return Image.fromarray(pixels)


# ---------------------------------------------------------------------------------------------- reading


@pytest.mark.parametrize(("width", "height"), [(40, 30), (30, 50), (64, 64), (100, 80), (3, 200), (R, R)])
@pytest.mark.parametrize("ending", ["png", "jpg"])
def test_read_image_resizes_the_shorter_side_and_crops_a_square(
    tmp_path: Path, width: int, height: int, ending: str
) -> None:
    path = _write(tmp_path / f"image.{ending}", width, height)
    assert read_image(path).shape == (3, height, width)
    assert read_image(path, R).shape == (3, R, R)
    grey = _write(tmp_path / f"grey.{ending}", width, height, "L")
    assert read_image(grey, R).shape == (1, R, R)


def test_read_image_uses_the_documented_pil_resize_then_crop(tmp_path: Path) -> None:
    path = _write(tmp_path / "wide.jpg", 100, 80)
    with Image.open(path) as image:
        # Shorter side 80 -> 32: 100 -> 40; then columns 4..35.
        expected = image.convert("RGB").resize((40, 32), Image.Resampling.BILINEAR, reducing_gap=3.0)
        expected = np.asarray(expected.crop((4, 0, 36, 32))).transpose(2, 0, 1)
    np.testing.assert_array_equal(read_image(path, 32), expected)


def test_an_image_already_at_the_resolution_comes_back_unchanged(tmp_path: Path) -> None:
    for ending in ("png", "jpg"):
        path = _write(tmp_path / f"square.{ending}", R, R)
        np.testing.assert_array_equal(read_image(path, R), read_image(path))
    image = Image.new("RGB", (R, R))
    assert resize_center_crop(image, R) is image


def test_an_image_whose_shorter_side_fits_is_cropped_without_resampling(tmp_path: Path) -> None:
    path = _write(tmp_path / "tall.png", R, R + 17)
    np.testing.assert_array_equal(read_image(path, R), read_image(path)[:, 8 : 8 + R])


@pytest.mark.parametrize("vertical", [True, False])
def test_the_crop_is_centred_and_cuts_off_the_outer_bands(vertical: bool) -> None:
    # Shorter side already at the resolution: an exact crop of the middle (green) band.
    size = (3 * R, R) if vertical else (R, 3 * R)
    cropped = np.asarray(resize_center_crop(_bands(*size, vertical), R))
    assert cropped.shape == (R, R, 3)
    assert (cropped == np.array([0, 255, 0], np.uint8)).all()
    # Shrunk by 2 first: the bilinear filter blends the band edges, symmetrically if the crop is centred.
    size = (6 * R, 2 * R) if vertical else (2 * R, 6 * R)
    cropped = np.asarray(resize_center_crop(_bands(*size, vertical), R)).astype(int)
    if not vertical:
        cropped = cropped.transpose(1, 0, 2)  # bands across columns, as in the vertical case
    red, green, blue = cropped[..., 0], cropped[..., 1], cropped[..., 2]
    assert green.mean() > 200 and red.mean() < 30 and blue.mean() < 30
    assert red[:, 2:].max() == 0 and blue[:, :-2].max() == 0  # outer bands only bleed into the edge columns
    np.testing.assert_array_equal(red[:, 0], blue[:, -1])  # as much red on the left as blue on the right


# ---------------------------------------------------------------------------------------------- dataset


def test_a_tree_of_many_sizes_without_resolution_names_the_file_and_the_option(tmp_path: Path) -> None:
    tree = _photo_tree(tmp_path / "photos")
    dataset = ClassFolderDataset(tree)
    assert dataset.resolution is None and dataset.image_shape == (3, 30, 40)
    with pytest.raises(ValueError, match=r"has shape \(C, H, W\) = \(3, 64, 64\)") as info:
        dataset.load_arrays()
    message = str(info.value)
    assert str(tree / "ant" / "01.png") in message
    assert "Resize or remove the file" in message
    assert "resolution=N to resize every image (shorter side N, centre crop)" in message


def test_dataset_with_resolution_reads_every_image_resized(tmp_path: Path) -> None:
    tree = _photo_tree(tmp_path / "photos")
    dataset = ClassFolderDataset(tree, resolution=R)
    assert dataset.resolution == R and dataset.image_shape == (3, R, R)
    images, labels = dataset.load_arrays()
    assert images.shape == (21, 3, R, R) and images.dtype == np.uint8
    assert labels.tolist() == [0] * 7 + [1] * 7 + [2] * 7  # ant, owl, zebra
    for index, (path, _) in enumerate(dataset.samples):
        expected = read_image(path, R)
        if expected.shape[0] == 1:  # the grey JPEG of a colour tree: repeated into three channels
            expected = np.repeat(expected, 3, axis=0)
            with Image.open(path) as image:  # ... which is what PIL's L -> RGB conversion gives
                np.testing.assert_array_equal(expected, read_image_of(image.convert("RGB"), tmp_path))
        np.testing.assert_array_equal(images[index], expected)
        item, label = dataset[index]
        assert torch.equal(item, torch.from_numpy(expected)) and label == labels[index]


def read_image_of(image: Image.Image, folder: Path) -> np.ndarray:
    """:func:`read_image` of an in-memory image (saved losslessly first)."""
    image.save(folder / "converted.png")
    return read_image(folder / "converted.png", R)


def test_a_tree_read_as_grey_refuses_a_colour_image_the_probe_missed(tmp_path: Path) -> None:
    tree = tmp_path / "grey"
    (tree / "a").mkdir(parents=True)
    for i in range(131):  # 131 images: the channel probe looks at every second one (0, 2, 4, ...)
        _write(tree / "a" / f"{i:03d}.png", 12, 10, "RGB" if i == 101 else "L", seed=i)
    dataset = ClassFolderDataset(tree, resolution=8)
    assert dataset.image_shape == (1, 8, 8)
    with pytest.raises(ValueError, match="after resizing to resolution=8") as info:
        dataset.load_arrays()
    assert "101.png" in str(info.value) and "convert this image to grey" in str(info.value)
    assert "image_shape=(3, N, N)" in str(info.value)
    assert ClassFolderDataset(tree, resolution=8, image_shape=(3, 8, 8)).load_arrays()[0].shape == (131, 3, 8, 8)


def test_bad_resolutions_are_refused(tmp_path: Path) -> None:
    tree = _photo_tree(tmp_path / "photos", per_class=1)
    with pytest.raises(ValueError, match="resolution must be >= 2, got 1"):
        ClassFolderDataset(tree, resolution=1)
    with pytest.raises(TypeError, match="resolution must be an integer"):
        ClassFolderDataset(tree, resolution=32.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="resolution must be an integer"):
        ClassFolderDataset(tree, resolution=True)
    with pytest.raises(ValueError, match="contradicts resolution=8"):
        ClassFolderDataset(tree, resolution=8, image_shape=(3, 8, 9))
    tiny, _ = ClassFolderDataset(tree, resolution=2, image_shape=(3, 2, 2)).load_arrays()
    assert tiny.shape == (3, 3, 2, 2)
    with pytest.raises(ValueError, match="resolution must be >= 2"):
        make_loader(tree, resolution=0)


def test_fingerprint_does_not_depend_on_the_resolution(tmp_path: Path) -> None:
    tree = _photo_tree(tmp_path / "photos", per_class=2)
    assert ClassFolderDataset(tree, resolution=R).fingerprint() == ClassFolderDataset(tree).fingerprint()


# ---------------------------------------------------------------------------------------------- statistics


def test_stats_of_a_tree_of_many_sizes_are_computed_and_cached_per_resolution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = _photo_tree(tmp_path / "photos")
    with pytest.raises(ValueError, match="pass resolution=N"):
        load_stats(tree)
    assert not default_stats_path(tree).exists()

    computed = {}
    for resolution in (16, R):
        computed[resolution] = load_stats(tree, resolution=resolution)
        images, _ = ClassFolderDataset(tree, resolution=resolution).load_arrays()
        assert computed[resolution] == compute_stats(images)
        cache = default_stats_path(tree, resolution)
        assert cache == tree.parent / f"photos.stats-{resolution}px.json"
        recorded = json.loads(cache.read_text())
        assert recorded["resolution"] == resolution and recorded["count"] == 21
    assert computed[16] != computed[R]
    assert default_stats_path(tree) == tree.parent / "photos.stats.json"
    assert not default_stats_path(tree).exists()

    def no_compute(images):
        raise AssertionError("a matching cache must be used")

    monkeypatch.setattr(stats_module, "compute_stats", no_compute)
    for resolution in (16, R):
        assert load_stats(tree, resolution=resolution) == computed[resolution]
    monkeypatch.undo()

    # One explicit cache file shared by two resolutions is recomputed, never misread.
    shared = tmp_path / "shared.json"
    assert load_stats(tree, resolution=16, cache=shared) == computed[16]
    assert load_stats(tree, resolution=R, cache=shared) == computed[R]
    assert json.loads(shared.read_text())["resolution"] == R


def test_stats_without_resolution_keep_their_cache_apart_and_unchanged(tmp_path: Path) -> None:
    tree = tmp_path / "uniform"
    (tree / "a").mkdir(parents=True)
    for i in range(3):
        _write(tree / "a" / f"{i}.png", R, R, seed=i)
    plain = load_stats(tree)
    recorded = json.loads(default_stats_path(tree).read_text())
    assert "resolution" not in recorded  # the cache for images as stored keeps its old form
    # Images already at the resolution: the same pixels, the same values, but their own cache file.
    assert load_stats(tree, resolution=R) == plain
    assert default_stats_path(tree, R).is_file()
    assert load_stats(tree) == plain and json.loads(default_stats_path(tree).read_text()) == recorded


def test_stats_refuse_images_decoded_at_another_resolution(tmp_path: Path) -> None:
    tree = _photo_tree(tmp_path / "photos", per_class=2)
    images, _ = ClassFolderDataset(tree, resolution=16).load_arrays()
    with pytest.raises(ValueError, match=r"decode them with the same resolution"):
        load_stats(tree, resolution=R, images=images, cache=False)


# ---------------------------------------------------------------------------------------------- torch loaders


def test_torch_loader_and_eval_loader_read_the_tree_resized(tmp_path: Path) -> None:
    tree = _photo_tree(tmp_path / "photos")
    with pytest.raises(ValueError, match="pass resolution=N"):
        make_loader(tree, backend="torch")
    loader = make_loader(tree, split="train", batch_size=4, resolution=R, val_fraction=0.3, seed=1)
    assert loader.backend == "torch" and loader.image_shape == (3, R, R)
    assert loader.stats == load_stats(tree, resolution=R)
    images, labels = next(iter(loader))
    assert images.shape == (4, 3, R, R) and images.dtype == torch.float32 and labels.shape == (4,)

    evaluation = make_eval_loader(tree, stats=loader.stats, batch_size=8, resolution=R)
    batches = list(evaluation)
    assert [b[0].shape[0] for b in batches] == [8, 8, 5]
    pixels, _ = ClassFolderDataset(tree, resolution=R).load_arrays()
    mean = torch.tensor(loader.stats.mean).view(1, -1, 1, 1)
    std = torch.tensor(loader.stats.std).view(1, -1, 1, 1)
    expected = (torch.from_numpy(pixels).float() / 255 - mean) / std
    torch.testing.assert_close(torch.cat([b[0] for b in batches]), expected)


def test_data_modules_train_and_test_on_a_tree_of_many_sizes(tmp_path: Path) -> None:
    tree = _photo_tree(tmp_path / "photos")
    params = {"intro": 1, "stimulus": 2, "outro": 1}
    data = TrainingDataModule(
        tree, batch_size=4, val_fraction=0.3, seed=1, crop_scale=(0.5, 1.0), flip=True,
        paradigm_params=params, resolution=R,
    )  # fmt: skip
    assert data.stats == load_stats(tree, resolution=R)
    frames, labels, _ = data.on_after_batch_transfer(next(iter(data.train_dataloader())), 0)
    assert frames.shape == (4, 4, 3, R, R) and labels.shape == (4, 4)
    test = TestDataModule(tree, stats=data.stats, classes=data.classes, paradigm_params=params, resolution=R)
    frames, labels, _ = test.on_after_batch_transfer(next(iter(test.test_dataloader())), 0)
    assert frames.shape == (21, 4, 3, R, R)
    with pytest.raises(ValueError, match="pass resolution=N"):
        TestDataModule(tree, stats=data.stats, paradigm_params=params).loader  # noqa: B018


# ---------------------------------------------------------------------------------------------- .beton files


@pytest.fixture(scope="module")
def resized_betons(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Betons of one photo tree at R (raw: the stored size decides, though sources reach 100 px) and at 72 px
    (JPEG). Written before any FFCV loader of this module exists (FFCV's writer forks)."""
    tree = _photo_tree(tmp_path_factory.mktemp("resolution") / "photos")
    written: dict = {"tree": tree}
    for name, resolution in (("raw", R), ("jpeg", 72)):
        out = tmp_path_factory.mktemp(f"betons-{name}")
        train, val = write_betons(
            tree, out / "train.beton", out / "val.beton", val_fraction=0.3, seed=2, resolution=resolution
        )
        written[name] = (out, train, val)
    return written


@pytest.mark.ffcv
def test_write_betons_without_resolution_refuses_a_tree_of_many_sizes(tmp_path: Path) -> None:
    tree = _photo_tree(tmp_path / "photos", per_class=2)
    with pytest.raises(ValueError, match="pass resolution=N") as info:
        write_betons(tree, tmp_path / "t.beton", tmp_path / "v.beton")
    assert "photos" in str(info.value)
    assert not (tmp_path / "t.beton").exists()


@pytest.mark.ffcv
def test_write_betons_records_the_resolution_and_the_stored_size_decides_the_encoding(resized_betons) -> None:
    tree = resized_betons["tree"]
    for name, resolution, encoding in (("raw", R, "raw-uint8-chw"), ("jpeg", 72, "jpeg")):
        out, train_meta, val_meta = resized_betons[name]
        for meta, path in ((train_meta, out / "train.beton"), (val_meta, out / "val.beton")):
            assert meta == read_beton_metadata(path)
            assert meta.resolution == resolution and meta.image_shape == (3, resolution, resolution)
            assert meta.encoding == encoding
            assert meta.stats == load_stats(tree, resolution=resolution)
            assert json.loads(metadata_path(path).read_text())["resolution"] == resolution
        assert default_stats_path(tree, resolution).is_file()
    assert not default_stats_path(tree).exists()


def test_sidecars_written_before_resolution_existed_read_as_none() -> None:
    meta = BetonMetadata.from_dict(
        {
            "format_version": 1,
            "role": "train",
            "class_dir": "/data/x",
            "classes": ["a"],
            "image_shape": [1, 8, 8],
            "count": 3,
            "counts": {"train": 3, "val": 1},
            "val_fraction": 0.25,
            "seed": 0,
            "stats": {"mean": [0.5], "std": [0.25], "count": 4, "pixel_range": "0-1"},
            "fingerprint": "0" * 16,
            "encoding": "raw-uint8-chw",
            "beton_bytes": 1,
        }
    )
    assert meta.resolution is None
    assert BetonMetadata.from_dict(meta.to_dict()) == meta and meta.to_dict()["resolution"] is None


@pytest.mark.ffcv
def test_a_resolution_other_than_the_betons_is_refused_naming_both(resized_betons) -> None:
    out, _, _ = resized_betons["raw"]
    for backend in ("ffcv", "torch"):
        with pytest.raises(ValueError, match=rf"resolution=32 differs from resolution={R}") as info:
            make_loader(out / "train.beton", backend=backend, resolution=32)
        assert "write_betons(..., resolution=32)" in str(info.value)
    # The recorded resolution, given or not, is what the torch backend reads the class folder with.
    for resolution in (None, R):
        loader = make_loader(out / "val.beton", backend="torch", resolution=resolution)
        assert loader.image_shape == (3, R, R)


@pytest.mark.ffcv
def test_the_torch_backend_of_a_jpeg_beton_reads_at_its_resolution(resized_betons) -> None:
    out, _, val_meta = resized_betons["jpeg"]
    loader = make_loader(out / "val.beton", backend="torch", batch_size=64)
    images, _ = next(iter(loader))
    assert images.shape == (val_meta.count, 3, 72, 72)


@pytest.mark.ffcv
@pytest.mark.parametrize("part", ["train", "val"])
def test_ffcv_and_torch_yield_identical_batches_of_a_resized_beton(resized_betons, part: str) -> None:
    out, train_meta, _ = resized_betons["raw"]
    augmentation = Augmentation(flip=True, translate=2) if part == "train" else None
    kwargs = {"batch_size": 4, "seed": 3, "augmentation": augmentation}
    ffcv = make_loader(out / f"{part}.beton", backend="ffcv", num_workers=1, **kwargs)
    torch_ = make_loader(out / f"{part}.beton", backend="torch", **kwargs)
    assert ffcv.image_shape == torch_.image_shape == (3, R, R)
    assert ffcv.stats == torch_.stats == train_meta.stats
    for epoch in (0, 1) if part == "train" else (0,):
        ffcv.set_epoch(epoch)
        torch_.set_epoch(epoch)
        a, b = list(ffcv), list(torch_)
        assert len(a) == len(b) > 0
        for (a_images, a_labels), (b_images, b_labels) in zip(a, b, strict=True):
            assert a_images.shape[1:] == (3, R, R)
            assert torch.equal(a_labels, b_labels) and torch.equal(a_images, b_images)


def test_a_grey_first_image_does_not_make_a_colour_tree_grey(tmp_path: Path) -> None:
    # Photo trees hold a few grey images; sorted first, one used to decide the channels of the whole tree.
    root = tmp_path / "photos"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(3):
            grey = c == "a" and i == 0
            _write(root / c / f"{i}.jpg", 40, 30 + i, "L" if grey else "RGB", seed=i)
    dataset = ClassFolderDataset(root, resolution=R)
    assert dataset.image_shape == (3, R, R)
    images, _ = dataset.load_arrays()
    assert images.shape == (6, 3, R, R) and np.array_equal(images[0, 0], images[0, 2])  # the grey one, repeated
    assert load_stats(root, resolution=R, cache=False).mean.__len__() == 3
