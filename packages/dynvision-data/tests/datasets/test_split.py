from __future__ import annotations

import numpy as np
import pytest

from dynvision_data import split_indices

# Unequal class sizes (50, 30, 20), interleaved, so stratification and apportionment both matter.
LABELS = np.array([0, 1, 2, 0, 0] * 10 + [1, 0, 2, 1, 0] * 10)


def test_split_is_disjoint_sorted_and_covers_every_item() -> None:
    kept, held = split_indices(LABELS, 0.2, seed=0)
    assert kept.dtype == held.dtype == np.int64
    assert np.all(np.diff(kept) > 0) and np.all(np.diff(held) > 0)
    assert np.intersect1d(kept, held).size == 0
    assert np.array_equal(np.sort(np.concatenate([kept, held])), np.arange(len(LABELS)))


def test_split_is_stratified_by_label() -> None:
    _, held = split_indices(LABELS, 0.2, seed=0)
    assert len(held) == 20
    assert np.bincount(LABELS[held]).tolist() == [10, 6, 4]  # 20 % of 50, 30 and 20


def test_split_rounds_with_largest_remainder_to_the_exact_total() -> None:
    labels = np.repeat([0, 1, 2], [5, 3, 3])  # 11 items, 30 %: round(3.3) = 3 held out
    _, held = split_indices(labels, 0.3, seed=1)
    assert len(held) == 3
    # quotas 1.36, 0.82, 0.82: floors (1, 0, 0), the two largest remainders get the other two
    assert np.bincount(labels[held], minlength=3).tolist() == [1, 1, 1]


def test_split_is_deterministic_for_a_seed_and_differs_for_another() -> None:
    first = split_indices(LABELS, 0.2, seed=7)
    again = split_indices(list(LABELS), 0.2, seed=7)
    other = split_indices(LABELS, 0.2, seed=8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[1], other[1])
    assert np.bincount(LABELS[other[1]]).tolist() == [10, 6, 4]


def test_split_keeps_both_parts_non_empty() -> None:
    kept, held = split_indices([0, 1, 0], 0.01)
    assert len(held) == 1 and len(kept) == 2
    kept, held = split_indices([0, 1, 0], 0.99)
    assert len(held) == 2 and len(kept) == 1


@pytest.mark.parametrize(
    ("labels", "fraction", "seed", "error", "match"),
    [
        ([0, 1, 0], 0.0, 0, ValueError, "fraction must be strictly between 0 and 1"),
        ([0, 1, 0], 1.0, 0, ValueError, "fraction must be strictly between 0 and 1"),
        ([0, 1, 0], 0.5, -1, ValueError, "seed must be >= 0"),
        ([0, 1, 0], 0.5, 1.5, TypeError, "seed must be an integer"),
        ([0.0, 1.0], 0.5, 0, TypeError, "labels must be a 1-D sequence of integers"),
        ([0], 0.5, 0, ValueError, "Cannot split 1 item"),
    ],
)
def test_split_rejects_bad_arguments_naming_them(labels, fraction, seed, error, match) -> None:
    with pytest.raises(error, match=match):
        split_indices(labels, fraction, seed)
