"""Classification measures from the outputs table: top-k accuracy over time, per-class accuracy, confusion.

All three reduce the table chunk by chunk (pass :func:`dynvision_analysis.iter_table` for a large file), so
memory holds one chunk plus one row per group.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from ..tables import TableError, require_columns
from .aggregate import reduce_table, sort_groups, summarize_moments

__all__ = ["class_accuracy", "confusion_matrix", "topk_accuracy_over_time"]


def _chunks(table: pd.DataFrame | Iterable[pd.DataFrame]) -> Iterable[pd.DataFrame]:
    return [table] if isinstance(table, pd.DataFrame) else table


def _check_ks(ks: int | Sequence[int], what: str) -> list[int]:
    values = list(ks) if isinstance(ks, Sequence) and not isinstance(ks, str) else [ks]
    if not values or any(isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1 for k in values):
        raise ValueError(f"{what}: k must be one or more positive integers (top-k), got {ks!r}.")
    return sorted({int(k) for k in values})


def _with_topk(chunks: Iterable[pd.DataFrame], ks: list[int], what: str) -> Iterator[pd.DataFrame]:
    for chunk in chunks:
        if "label_rank" not in chunk.columns:
            raise TableError(
                f"{what} needs the column 'label_rank' (0-based rank of the true label among the classes by "
                "classifier output; top-k correct = label_rank < k), which the outputs table lacks; it has "
                f"{[str(name) for name in chunk.columns]}. Write it in the test step (see OUTPUTS.optional "
                "in dynvision_analysis.tables)."
            )
        rank = chunk["label_rank"]
        if len(rank) and (rank.isna().any() or (rank < 0).any()):
            raise TableError(
                f"{what} needs 'label_rank' to be a rank >= 0 in every row; found "
                f"{rank[rank.isna() | (rank < 0)].iloc[0]}."
            )
        yield chunk.assign(**{f"top{k}": (rank < k).astype("int8") for k in ks})


def topk_accuracy_over_time(
    table: pd.DataFrame | Iterable[pd.DataFrame],
    k: int | Sequence[int] = (1, 5),
    by: Sequence[str] = (),
) -> pd.DataFrame:
    """Top-k accuracy per time step and group of ``by``, over samples, for each k.

    A row counts as top-k correct when the true label is among the k classes with the highest classifier
    output, i.e. ``label_rank < k`` (``label_rank`` is 0 when the guess is right, so top-1 accuracy equals
    :func:`accuracy_over_time`). For n rows in a (group, step) with c_i = [label_rank_i < k]:

        accuracy = (1/n) Σ c_i,      sem = sqrt(accuracy · (1 − accuracy) / (n − 1)).

    Parameters
    ----------
    table:
        An outputs table (or its chunks) with ``by``, ``step``, ``time_ms`` and the optional ``label_rank``.
    k:
        One k or several (e.g. ``(1, 3, 5)``), positive integers.
    by:
        Grouping columns.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, k, step, time_ms, accuracy, sem, n``, sorted by group, k and step.

    Raises
    ------
    TableError
        The table has no ``label_rank`` column (the message names it), or a rank is negative or missing.
    """
    what = "topk_accuracy_over_time"
    ks = _check_ks(k, what)
    keys = [*by, "step", "time_ms"]
    values = [f"top{value}" for value in ks]
    moments = reduce_table(_with_topk(_chunks(table), ks, what), keys, values, what=what)
    parts = [
        summarize_moments(moments, keys, f"top{value}").assign(k=value).rename(columns={"mean": "accuracy"})
        for value in ks
    ]
    result = pd.concat(parts, ignore_index=True)[[*by, "k", "step", "time_ms", "accuracy", "sem", "n"]]
    return sort_groups(result, [*by, "k", "step"])


def class_accuracy(
    table: pd.DataFrame | Iterable[pd.DataFrame],
    by: Sequence[str] = (),
) -> pd.DataFrame:
    """Accuracy per true class (``label``) and group of ``by``, over the rows of that class.

    accuracy = (1/n) Σ correct_i over the n rows with that label (a fraction in [0, 1]), with its SEM as in
    :func:`accuracy_over_time`. Rows at every step are pooled: select the steps first (e.g. the last step,
    or ``stimulus == 1``), or put ``"step"`` in ``by`` for per-class accuracy over time.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, label, accuracy, sem, n``, sorted by group and label.
    """
    keys = [*by, "label"]
    moments = reduce_table(_chunks(table), keys, ["correct"], what="class_accuracy")
    result = summarize_moments(moments, keys, "correct").rename(columns={"mean": "accuracy"})
    return sort_groups(result, keys)


def confusion_matrix(
    table: pd.DataFrame | Iterable[pd.DataFrame],
    by: Sequence[str] = (),
) -> pd.DataFrame:
    """Confusion counts between true class (``label``) and guessed class (``guess``), in tidy form.

    For each group of ``by``, true class i and guessed class j:

        count = number of rows with label i and guess j
        fraction = count / Σ_j count       (the share of class-i rows guessed as j; each label's row sums to 1)

    Pairs that never occur are left out (a sparse table: a 1000-class matrix has 10⁶ cells); the figure fills
    them with 0. As for :func:`class_accuracy`, select the steps to pool first.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, label, guess, count, fraction``, sorted by group, label and guess.
    """
    what = "confusion_matrix"
    keys = [*by, "label", "guess"]
    total: pd.DataFrame | None = None
    for chunk in _chunks(table):
        require_columns(chunk, keys, what=what)
        counts = chunk.groupby(keys, observed=True, sort=False, dropna=False).size().rename("count")
        part = counts.reset_index()
        if total is not None:
            part = pd.concat([total, part], ignore_index=True)
            part = part.groupby(keys, observed=True, sort=False, dropna=False)["count"].sum().reset_index()
        total = part
    if total is None:
        raise TableError(f"{what} got no chunks (an empty iterable); it needs at least one table with rows.")
    total["count"] = total["count"].astype("int64")
    row_keys = [*by, "label"]
    row_sums = total.groupby(row_keys, observed=True, sort=False, dropna=False)["count"].transform("sum")
    total["fraction"] = total["count"] / row_sums
    return sort_groups(total, keys)
