"""Classification accuracy and confidence over time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from ..tables import TableError
from .aggregate import reduce_table, sort_groups, summarize_moments

__all__ = ["accuracy_over_time"]


def _check_binary(chunk: pd.DataFrame) -> pd.DataFrame:
    correct = chunk["correct"]
    bad = ~correct.isin([0, 1])
    if bad.any():
        raise TableError(
            "accuracy_over_time needs 'correct' to be 0 or 1 (1 when guess == label); "
            f"found {correct[bad].iloc[0]}. Recompute it as (guess == label).astype(int)."
        )
    return chunk


def accuracy_over_time(
    table: pd.DataFrame | Iterable[pd.DataFrame],
    by: Sequence[str] = (),
) -> pd.DataFrame:
    """Fraction of correct guesses and mean confidence per time step and per group of ``by``, over samples.

    For each group g and step t, with c_i ∈ {0, 1} the ``correct`` values of the n rows in (g, t):

        accuracy = p = (1/n) Σ c_i,      sem = s / √n,   s² = Σ (c_i − p)² / (n − 1) = n·p·(1 − p) / (n − 1),

    so ``sem = sqrt(p (1 − p) / (n − 1))``, the same estimator as for any other mean (NaN when n < 2).
    ``confidence`` and ``confidence_sem`` are the mean and SEM of the softmax probability of the guess.

    Parameters
    ----------
    table:
        An outputs table (see :data:`dynvision_analysis.tables.OUTPUTS`), or an iterable of its chunks.
        Needs the columns ``by``, ``step``, ``time_ms``, ``correct`` and ``confidence``.
    by:
        Grouping columns (e.g. ``("seed",)`` or a paradigm parameter); ``()`` pools every row of a step.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, step, time_ms, accuracy, sem, n, confidence, confidence_sem``, one row per
        (group, step), sorted by group and step. Accuracy and confidence are fractions in [0, 1].
    """
    keys = [*by, "step", "time_ms"]
    chunks = [table] if isinstance(table, pd.DataFrame) else table
    checked = (_check_binary(chunk) if "correct" in chunk.columns else chunk for chunk in chunks)
    moments = reduce_table(checked, keys, ["correct", "confidence"], what="accuracy_over_time")
    accuracy = summarize_moments(moments, keys, "correct").rename(columns={"mean": "accuracy"})
    confidence = summarize_moments(moments, keys, "confidence")
    result = accuracy.assign(confidence=confidence["mean"], confidence_sem=confidence["sem"])
    return sort_groups(result, keys)
