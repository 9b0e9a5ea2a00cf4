"""Seeded, stratified, deterministic splits shared by every backend.

The FFCV writer, the torch loaders and :func:`~dynvision_data.datasets.materialize_dataset` all call
:func:`split_indices`, so a given ``(labels, fraction, seed)`` always yields the same membership whichever
backend reads the data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._util import check_fraction, check_int

__all__ = ["split_indices"]


def split_indices(
    labels: Sequence[int] | np.ndarray, fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split item positions into a kept part and a held-out part, stratified by label.

    Args:
        labels: Integer label of every item, in item order (length ``n``).
        fraction: Share of items to hold out, strictly between 0 and 1. The held-out count is
            ``round(n * fraction)`` (at least 1, at most ``n - 1``), shared among classes in proportion to
            their size (largest remainder; ties go to the lower class label).
        seed: Seed of the random choice within each class. Same inputs, same output, on every platform
            (NumPy's ``PCG64`` generator).

    Returns:
        ``(kept, held_out)``: sorted ``int64`` arrays of positions into ``labels``; disjoint, together
        covering ``range(n)``.
    """
    fraction = check_fraction("fraction", fraction)
    seed = check_int("seed", seed, minimum=0)
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be a 1-D sequence of integers, got shape {labels.shape} ({labels.dtype}).")
    n = labels.shape[0]
    if n < 2:
        raise ValueError(f"Cannot split {n} item(s): need at least 2 so that both parts are non-empty.")

    n_held = min(max(round(n * fraction), 1), n - 1)
    classes, counts = np.unique(labels, return_counts=True)
    # Largest-remainder apportionment keeps the class proportions and hits n_held exactly.
    quota = counts * (n_held / n)
    per_class = np.floor(quota).astype(np.int64)
    remainder_order = np.lexsort((classes, -(quota - per_class)))
    per_class[remainder_order[: n_held - int(per_class.sum())]] += 1

    rng = np.random.default_rng(seed)
    held = []
    for cls, k in zip(classes, per_class, strict=True):
        members = np.flatnonzero(labels == cls)
        held.append(rng.permutation(members)[:k])
    held_out = np.sort(np.concatenate(held)).astype(np.int64)
    mask = np.ones(n, dtype=bool)
    mask[held_out] = False
    return np.flatnonzero(mask).astype(np.int64), held_out
