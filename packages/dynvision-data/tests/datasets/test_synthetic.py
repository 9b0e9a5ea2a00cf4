from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dynvision_data import ClassFolderDataset, get_dataset_spec, materialize_dataset
from dynvision_data.datasets.synthetic import make_gratings, orientation_class_names

PARAMS = {"n_classes": 4, "n_per_class": 5, "size": 12}


def _dominant_orientation(image: np.ndarray) -> float:
    """Orientation (degrees in [0, 180)) of the strongest Fourier component, y axis pointing up."""
    spectrum = np.abs(np.fft.fft2(image.astype(np.float64) - image.mean()))
    ky, kx = np.unravel_index(np.argmax(spectrum), spectrum.shape)
    fy = np.fft.fftfreq(image.shape[0])[ky]
    fx = np.fft.fftfreq(image.shape[1])[kx]
    return float(np.rad2deg(np.arctan2(-fy, fx)) % 180.0)


def test_class_names_sort_in_orientation_order() -> None:
    assert orientation_class_names(4) == ("000.0deg", "045.0deg", "090.0deg", "135.0deg")
    names = orientation_class_names(12)
    assert list(names) == sorted(names)


def test_gratings_are_seeded_and_parametric() -> None:
    a, b = make_gratings(**PARAMS, seed=3), make_gratings(**PARAMS, seed=3)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, make_gratings(**PARAMS, seed=4).images)
    assert a.images.shape == (20, 12, 12, 1) and a.images.dtype == np.uint8
    assert a.labels.tolist() == np.repeat(np.arange(4), 5).tolist()
    assert make_gratings(n_classes=3, n_per_class=1, size=40, channels=3).images.shape == (3, 40, 40, 3)
    assert a.splits is None  # materialize_dataset draws the stratified split


def test_each_class_has_its_orientation_and_random_phase() -> None:
    raw = make_gratings(n_classes=4, n_per_class=6, size=32, cycles=4.0, cycles_jitter=0.0)
    for image, label in zip(raw.images[..., 0], raw.labels, strict=True):
        assert abs(_dominant_orientation(image) - 45.0 * label) < 1.0
        assert image.min() < 10 and image.max() > 245  # full contrast
    assert len({raw.images[i].tobytes() for i in range(6)}) == 6  # same class, different phases


def test_contrast_noise_and_aperture() -> None:
    flat = make_gratings(n_classes=2, n_per_class=2, size=16, contrast=0.0)
    assert np.all(flat.images == 128)
    noisy = make_gratings(n_classes=2, n_per_class=2, size=16, contrast=0.0, noise=0.1)
    assert 10 < noisy.images.std() < 40
    window = make_gratings(n_classes=2, n_per_class=2, size=16, aperture=True)
    assert np.all(window.images[:, 0, 0] == 128)  # the corners are mean grey


@pytest.mark.parametrize(
    ("params", "match"),
    [({"n_classes": 1}, "n_classes must be >= 2"), ({"channels": 2}, "channels must be 1 or 3"),
     ({"contrast": 1.5}, r"contrast must be a number in \[0.0, 1.0\]"), ({"size": 2.5}, "size must be an integer")],
)
def test_bad_parameters_name_the_parameter(params: dict, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        make_gratings(**params)


def test_materialize_gratings_records_params_and_checks_them(tmp_path: Path) -> None:
    tree = materialize_dataset("gratings", tmp_path, params=PARAMS)
    marker = json.loads((tree / "dataset.json").read_text())
    assert marker["params"] == {**get_dataset_spec("gratings").params, **PARAMS}
    assert marker["classes"] == list(orientation_class_names(4))
    assert marker["counts"]["test"]["total"] == 4 and marker["counts"]["train"]["total"] == 16
    assert ClassFolderDataset(tree / "train").image_shape == (1, 12, 12)
    assert materialize_dataset("gratings", tmp_path, params=dict(PARAMS)) == tree  # idempotent
    with pytest.raises(ValueError, match="never overwritten"):
        materialize_dataset("gratings", tmp_path, params={**PARAMS, "size": 16})
    other = materialize_dataset("gratings", tmp_path, params={**PARAMS, "size": 16}, directory="gratings-16")
    assert ClassFolderDataset(other / "test").image_shape == (1, 16, 16)


def test_unknown_params_list_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"no parameter\(s\) \['frequency'\].*n_per_class"):
        materialize_dataset("gratings", tmp_path, params={"frequency": 3})
    with pytest.raises(TypeError, match="not parametric"):
        materialize_dataset("digits", tmp_path, params={"size": 3})
