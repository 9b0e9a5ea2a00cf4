from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dynvision_data import ClassFolderDataset, Stats, compute_stats, default_stats_path, load_stats
from dynvision_data import stats as stats_module


def _numpy_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pixels = images.astype(np.float64) / 255.0
    return pixels.mean(axis=(0, 2, 3)), pixels.std(axis=(0, 2, 3))


@pytest.mark.parametrize("chunk", [4096, 3, 1])
def test_compute_stats_matches_numpy_mean_and_population_std(chunk: int) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 3, 5, 4), dtype=np.uint8)
    images[:, 1] //= 4  # give the channels different statistics
    stats = compute_stats(images, chunk=chunk)
    mean, std = _numpy_stats(images)
    np.testing.assert_allclose(stats.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(stats.std, std, rtol=1e-10)
    assert stats.count == 10 and len(stats.mean) == 3


def test_compute_stats_of_known_values() -> None:
    images = np.array([0, 255], dtype=np.uint8).reshape(2, 1, 1, 1)
    assert compute_stats(images) == Stats(mean=(0.5,), std=(0.5,), count=2)


def test_compute_stats_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="non-empty uint8 array"):
        compute_stats(np.zeros((0, 1, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="non-empty uint8 array"):
        compute_stats(np.zeros((2, 1, 2, 2), np.float32))
    with pytest.raises(ValueError, match="constant images cannot be normalised"):
        compute_stats(np.full((2, 1, 2, 2), 7, np.uint8))


def test_stats_round_trip_through_json_exactly() -> None:
    stats = Stats(mean=(0.1, 1 / 3), std=(0.2, 2 / 7), count=5)
    assert Stats.from_dict(json.loads(json.dumps(stats.to_dict()))) == stats
    with pytest.raises(ValueError, match="one value per channel"):
        Stats(mean=(0.1,), std=(0.2, 0.3), count=1)


def test_load_stats_computes_from_the_images_and_caches_beside_the_folder(
    make_class_folder: Callable[..., Path],
) -> None:
    root = make_class_folder(classes=("a", "b"), per_class=3, shape=(3, 4, 4))
    stats = load_stats(root)
    images, _ = ClassFolderDataset(root).load_arrays()
    assert stats == compute_stats(images)
    cache = default_stats_path(root)
    assert cache == root.parent / f"{root.name}.stats.json"
    recorded = json.loads(cache.read_text())
    assert recorded["fingerprint"] == ClassFolderDataset(root).fingerprint()
    assert Stats.from_dict(recorded) == stats


def test_load_stats_reads_a_matching_cache_without_decoding(
    make_class_folder: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_class_folder(classes=("a", "b"), per_class=3, shape=(1, 4, 4))
    first = load_stats(root)

    def no_compute(images: np.ndarray) -> Stats:
        raise AssertionError("a matching cache must be used")

    monkeypatch.setattr(stats_module, "compute_stats", no_compute)
    assert load_stats(root) == first


def test_load_stats_recomputes_when_the_folder_changes(make_class_folder: Callable[..., Path]) -> None:
    root = make_class_folder(classes=("a", "b"), per_class=3, shape=(1, 4, 4))
    first = load_stats(root)
    Image.fromarray(np.full((4, 4), 255, np.uint8)).save(root / "a" / "bright.png")
    second = load_stats(root)
    assert second.count == 7 and second.mean[0] > first.mean[0]
    assert second == compute_stats(ClassFolderDataset(root).load_arrays()[0])
    assert json.loads(default_stats_path(root).read_text())["count"] == 7


def test_load_stats_with_cache_off_or_elsewhere(
    make_class_folder: Callable[..., Path], tmp_path: Path
) -> None:
    root = make_class_folder(classes=("a",), per_class=3, shape=(1, 4, 4))
    stats = load_stats(root, cache=False)
    assert not default_stats_path(root).exists()
    other = tmp_path / "cache" / "stats.json"
    assert load_stats(root, cache=other) == stats
    assert other.is_file() and not default_stats_path(root).exists()


def test_load_stats_uses_given_images_and_checks_their_count(make_class_folder: Callable[..., Path]) -> None:
    root = make_class_folder(classes=("a", "b"), per_class=2, shape=(1, 4, 4))
    images, _ = ClassFolderDataset(root).load_arrays()
    assert load_stats(root, cache=False, images=images) == compute_stats(images)
    with pytest.raises(ValueError, match=r"images holds 3 images but .* has 4"):
        load_stats(root, cache=False, images=images[:3])


def test_stats_of_the_current_folder_are_cached_beside_it(
    make_class_folder: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_class_folder(classes=("a",), per_class=2, shape=(1, 4, 4))
    expected = root.parent / f"{root.name}.stats.json"
    monkeypatch.chdir(root)
    assert default_stats_path(".").resolve() == expected
    assert default_stats_path("a/..").resolve() == expected
    load_stats(".")
    assert expected.is_file()


def test_corrupt_cache_gives_an_error_naming_it(make_class_folder: Callable[..., Path]) -> None:
    root = make_class_folder(classes=("a",), per_class=2, shape=(1, 4, 4))
    cache = default_stats_path(root)
    cache.write_text("{ not json")
    with pytest.raises(ValueError, match="is not valid JSON") as info:
        load_stats(root)
    assert str(cache) in str(info.value)
