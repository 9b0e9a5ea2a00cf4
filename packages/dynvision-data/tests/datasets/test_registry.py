from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dynvision_data.datasets import registry
from dynvision_data.datasets.registry import RawDataset, get_dataset_spec, list_datasets, register_dataset


@pytest.fixture
def private_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register test datasets in a copy of the registry so that they do not leak into other tests."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def test_builtin_datasets_are_listed_sorted() -> None:
    names = list_datasets()
    assert names == sorted(names)
    assert {"digits", "mnist5k"} <= set(names)


def test_builtin_specs_describe_their_images() -> None:
    assert get_dataset_spec("digits").image_shape == (1, 8, 8)
    assert get_dataset_spec("mnist5k").image_shape == (1, 28, 28)
    assert get_dataset_spec("digits").license and get_dataset_spec("mnist5k").license


def test_unknown_dataset_names_close_matches_and_all_datasets() -> None:
    with pytest.raises(KeyError, match="Unknown dataset 'digit'") as info:
        get_dataset_spec("digit")
    message = str(info.value)
    assert "Did you mean 'digits'" in message
    assert "mnist5k" in message  # every registered name is listed


def test_unknown_dataset_without_close_match_lists_available_names() -> None:
    with pytest.raises(KeyError, match=r"Available: .*digits.*mnist5k") as info:
        get_dataset_spec("imagenet")
    assert "Did you mean" not in str(info.value)


def test_register_dataset_makes_it_available_and_refuses_duplicates(private_registry: None) -> None:
    @register_dataset("tiny", description="two images", image_shape=(1, 2, 2))
    def load(cache_dir: Path) -> RawDataset:
        return RawDataset(np.zeros((2, 2, 2, 1), np.uint8), np.array([0, 1]), ("a", "b"))

    assert "tiny" in list_datasets()
    assert get_dataset_spec("tiny").load is load
    with pytest.raises(ValueError, match="'tiny' is already registered"):
        register_dataset("tiny", description="again", image_shape=(1, 2, 2))(load)


def test_raw_dataset_checks_dtype_and_label_shape() -> None:
    with pytest.raises(ValueError, match="uint8"):
        RawDataset(np.zeros((2, 2, 2, 1), np.float32), np.array([0, 1]), ("a", "b"))
    with pytest.raises(ValueError, match="labels must have shape \\(2,\\)"):
        RawDataset(np.zeros((2, 2, 2, 1), np.uint8), np.array([0, 1, 1]), ("a", "b"))


def test_digits_loader_gives_full_range_uint8_images() -> None:
    raw = get_dataset_spec("digits").load(Path("unused"))
    assert raw.images.shape == (1797, 8, 8, 1) and raw.images.dtype == np.uint8
    assert raw.images.max() == 255 and raw.images.min() == 0  # 0..16 counts rescaled to 8 bits
    assert raw.classes == tuple(str(d) for d in range(10))
    assert raw.splits is None


def test_mnist5k_loader_gives_500_images_per_class() -> None:
    raw = get_dataset_spec("mnist5k").load(Path("unused"))
    assert raw.images.shape == (5000, 28, 28, 1) and raw.images.dtype == np.uint8
    assert np.bincount(raw.labels).tolist() == [500] * 10
