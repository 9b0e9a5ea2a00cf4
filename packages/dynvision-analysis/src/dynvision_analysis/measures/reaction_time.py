"""Reaction times from per-step confidence: when a model would answer, and how often it is right when it does.

A model that classifies at every time step can be read as an observer with a decision threshold (the per-step
decoders with a confidence threshold of Spoerer et al., 2020, PLoS Comput Biol): it answers at the first step
from the stimulus onset on whose confidence (the softmax probability of its guess) reaches a threshold θ, with
that step's guess. For one **trial** (a test image under one condition) with stimulus onset at step s (time
t_s, the first step with ``stimulus == 1``) and confidence c(t):

    k = the first step >= s with c(t_k) >= θ
    reaction_time_ms = t_k − t_s            (ms from the stimulus onset: a decision at the onset step is 0 ms)
    decision = guess(t_k),    correct = correct(t_k)

Decisions may come after the stimulus is gone (the model may still be processing); steps before the onset never
count. A trial whose confidence never reaches θ is **undecided**: ``decided`` is False and its reaction time,
decision and correctness are missing. Undecided trials are counted (``n_trials`` next to ``n_decided``), never
dropped silently; accuracy is that of the decisions made.

A higher θ trades speed for accuracy: :func:`speed_accuracy` sweeps θ (the speed-accuracy trade-off);
:func:`accuracy_by_reaction_time` is the conditional accuracy function at one θ, the accuracy of fast and of
slow decisions in quantile bins of reaction time. Trials are told apart by ``sample`` and every column that the
outputs table contract does not define (paradigm parameters, seed, model names: :func:`trial_columns`), so a
table that stacks several conditions, seeds or models gives one trial per image in each.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..tables import OUTPUTS, TableError, require_columns
from ._curves import describe_row, make_curves, presentations
from .aggregate import sort_groups

__all__ = [
    "OUTPUTS_WRITTEN_BY",
    "REACTION_TIME_COLUMNS",
    "accuracy_by_reaction_time",
    "decision_steps",
    "reaction_times",
    "speed_accuracy",
    "trial_columns",
]

#: Which command writes the outputs table these measures read (said in the error for a table that lacks columns).
OUTPUTS_WRITTEN_BY = (
    "an outputs table (test_outputs.csv, one row per sample and time step), which the workflow's test step "
    "writes: `dynvision test` for one test, `dynvision test-experiment` for all conditions of an experiment"
)
#: The outputs columns every reaction-time measure reads, besides the trial columns (:func:`trial_columns`).
REACTION_TIME_COLUMNS = ("sample", "time_ms", "guess", "correct", "confidence", "stimulus")


def trial_columns(columns: Iterable[object]) -> list[str]:
    """The columns that tell trials apart besides ``sample``: every column the outputs table contract
    (:data:`dynvision_analysis.tables.OUTPUTS`) does not define (paradigm parameters, seed, model names), in
    table order."""
    contract = {*OUTPUTS.names, *OUTPUTS.optional_names}
    return [str(column) for column in columns if str(column) not in contract]


def _check_threshold(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number) or not 0 < float(value) <= 1:
        raise ValueError(
            f"{what}: threshold {value!r} is not a confidence in (0, 1]; the threshold is the softmax probability "
            "of the guess at which the model answers (1 = only when certain). Give e.g. 0.8."
        )
    return float(value)


def _check_thresholds(values: object, what: str) -> list[float]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ValueError(f"{what}: thresholds must be a list of confidences in (0, 1], got {values!r}.")
    checked = sorted({_check_threshold(value, what) for value in values})
    if not checked:
        raise ValueError(f"{what}: thresholds is empty; give at least one confidence in (0, 1], e.g. [0.6, 0.8].")
    return checked


@dataclass(frozen=True)
class _Trials:
    """Per trial (rows) and time (columns): confidence, guess and correctness, and the stimulus onset."""

    keys: pd.DataFrame
    time_ms: np.ndarray
    confidence: np.ndarray
    guess: np.ndarray
    correct: np.ndarray
    onset: np.ndarray


def _trials(outputs: pd.DataFrame, by: Sequence[str] | None, what: str) -> _Trials:
    if not isinstance(outputs, pd.DataFrame):
        raise TypeError(
            f"{what} needs a pandas DataFrame (whole trials), got {type(outputs).__name__}; read the table with "
            "dynvision_analysis.read_table(path) first."
        )
    keys = list(dict.fromkeys([*(trial_columns(outputs.columns) if by is None else by), "sample"]))
    try:
        require_columns(outputs, [*keys, *REACTION_TIME_COLUMNS], what=what)
    except TableError as error:
        raise TableError(f"{error} {what} reads {OUTPUTS_WRITTEN_BY}.") from None
    correct = outputs["correct"]
    if not correct.isin([0, 1]).all():
        raise TableError(
            f"{what} needs 'correct' to be 0 or 1 (1 when guess == label); found "
            f"{correct[~correct.isin([0, 1])].iloc[0]!r}. Recompute it as (guess == label).astype(int)."
        )
    confidence = outputs["confidence"].to_numpy(dtype="float64", na_value=np.nan)
    outside = ~np.isnan(confidence) & ((confidence < 0) | (confidence > 1))
    if outside.any():
        raise TableError(
            f"{what} needs 'confidence' to be the softmax probability of the guess, in [0, 1]; found "
            f"{confidence[outside][0]!r}. Write the probability, not the logit."
        )
    curves = make_curves(outputs, keys, "confidence", what=what, stimulus=True)
    assert curves.stimulus is not None
    found = presentations(curves.stimulus, 1)
    if (found.count == 0).any():
        first = int(np.flatnonzero(found.count == 0)[0])
        raise TableError(
            f"{what} measures from the stimulus onset, but {int((found.count == 0).sum())} of {len(found.count)} "
            f"trial(s) never show the stimulus (no step with stimulus == 1; first: "
            f"{describe_row(curves.keys.iloc[first], keys)}). Select the rows of a paradigm that shows one."
        )
    # The same keys in the same table give the same trial order in every pivot.
    return _Trials(
        keys=curves.keys,
        time_ms=curves.time_ms,
        confidence=curves.values,
        guess=make_curves(outputs, keys, "guess", what=what).values,
        correct=make_curves(outputs, keys, "correct", what=what).values,
        onset=found.onsets[:, 0],
    )


def decision_steps(confidence: np.ndarray, onset: np.ndarray | int, threshold: float) -> np.ndarray:
    """The step at which each trial answers: the first step at or after its ``onset`` whose confidence reaches
    ``threshold``, or -1 for an undecided trial (the rule of the module docstring, on arrays).

    Args:
        confidence: ``(n_trials, n_steps)`` softmax probability of the guess; a NaN (missing step) never decides.
        onset: the stimulus onset step of each trial ``(n_trials,)``, or one step for all.
        threshold: θ in (0, 1].
    """
    confidence = np.asarray(confidence)
    after = np.arange(confidence.shape[1])[None, :] >= np.asarray(onset).reshape(-1, 1)
    with np.errstate(invalid="ignore"):
        above = after & (confidence >= threshold)
    return np.where(above.any(axis=1), np.argmax(above, axis=1), -1)


def _decide(trials: _Trials, threshold: float) -> dict[str, np.ndarray]:
    """Per trial: ``decided``, ``reaction_time_ms``, ``guess``, ``correct``, ``confidence`` at threshold θ."""
    confidence = trials.confidence
    found = decision_steps(confidence, trials.onset, threshold)
    decided = found >= 0
    step = np.maximum(found, 0)
    rows = np.arange(len(step))
    times = trials.time_ms
    return {
        "decided": decided,
        "reaction_time_ms": np.where(decided, times[step] - times[trials.onset], np.nan),
        "guess": np.where(decided, trials.guess[rows, step], np.nan),
        "correct": np.where(decided, trials.correct[rows, step], np.nan),
        "confidence": np.where(decided, confidence[rows, step], np.nan),
    }


def reaction_times(
    outputs: pd.DataFrame, threshold: float, *, by: Sequence[str] | None = None
) -> pd.DataFrame:
    """The reaction time and decision of every trial at confidence threshold θ (see the module docstring).

    Parameters
    ----------
    outputs:
        An outputs table (:data:`dynvision_analysis.tables.OUTPUTS`) with the columns ``sample``, ``time_ms``
        (ms), ``guess``, ``correct`` (0/1), ``confidence`` (in [0, 1]) and ``stimulus`` (0/1), and the ``by``
        columns; one row per trial and step.
    threshold:
        θ, the confidence in (0, 1] at which the model answers.
    by:
        The columns that tell trials apart besides ``sample``; ``None`` (default): every column the outputs
        contract does not define (:func:`trial_columns`: paradigm parameters, seed, model names).

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, sample, threshold, onset_ms, decided, reaction_time_ms, guess, correct, confidence``,
        one row per trial, sorted by trial: ``onset_ms`` on the trial's time axis (``time_ms``),
        ``reaction_time_ms`` from the onset; for an undecided trial (``decided`` False) ``reaction_time_ms`` and
        ``confidence`` are NaN and ``guess`` and ``correct`` missing (``<NA>``, nullable integers).

    Raises
    ------
    TableError
        Missing columns (named, with the command that writes the table), ``correct`` not 0/1, ``confidence``
        outside [0, 1], several rows of one trial at one time, or a trial without a stimulus step.
    ValueError
        ``threshold`` outside (0, 1].
    """
    what = "reaction_times"
    threshold = _check_threshold(threshold, what)
    trials = _trials(outputs, by, what)
    decision = _decide(trials, threshold)
    frame = trials.keys.assign(
        threshold=threshold,
        onset_ms=trials.time_ms[trials.onset],
        decided=decision["decided"],
        reaction_time_ms=decision["reaction_time_ms"],
        guess=pd.array(decision["guess"], dtype="Float64").astype("Int64"),
        correct=pd.array(decision["correct"], dtype="Float64").astype("Int64"),
        confidence=decision["confidence"],
    )
    return sort_groups(frame, list(trials.keys.columns))


def _groups(trials: _Trials, by: Sequence[str], what: str) -> list[str]:
    by = list(by)
    unknown = [column for column in by if column not in trials.keys.columns or column == "sample"]
    if unknown:
        allowed = [column for column in trials.keys.columns if column != "sample"]
        raise TableError(
            f"{what} groups trials by columns of the table besides sample; by names {unknown}, and the table's "
            f"are {allowed}. Use some of those, or by=() to pool every trial."
        )
    return by


def _proportion_sem(p: pd.Series, n: pd.Series) -> pd.Series:
    """``sqrt(p (1 − p) / (n − 1))``: the SEM of a mean of 0/1 values (NaN when n < 2), as for accuracy."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(p * (1 - p) / (n - 1)).where(n > 1)


def speed_accuracy(
    outputs: pd.DataFrame, thresholds: Sequence[float], *, by: Sequence[str] = ()
) -> pd.DataFrame:
    """The speed-accuracy trade-off: reaction times and accuracy of the decisions at each threshold θ.

    For each group g of ``by`` and threshold θ, over the n trials of g, of which n_d decide (reach θ), with
    reaction times RT_i and correctness c_i ∈ {0, 1} of the decided trials:

        fraction_decided = n_d / n
        mean_rt_ms = (1/n_d) Σ RT_i,    rt_sem_ms = s_RT / √n_d,    median_rt_ms = median RT_i
        accuracy = p = (1/n_d) Σ c_i,   accuracy_sem = sqrt(p (1 − p) / (n_d − 1))

    (SEMs NaN when n_d < 2; reaction times and accuracy NaN when no trial decides).

    Parameters
    ----------
    outputs:
        An outputs table, as in :func:`reaction_times`; trials are told apart by every column the outputs
        contract does not define.
    thresholds:
        The thresholds θ, confidences in (0, 1]; sorted, duplicates dropped.
    by:
        Columns whose groups are summarised separately (e.g. a paradigm parameter or a model column); ``()``
        pools every trial.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, threshold, n_trials, n_decided, fraction_decided, mean_rt_ms, rt_sem_ms, median_rt_ms,
        accuracy, accuracy_sem``, one row per (group, threshold); times in ms from the stimulus onset.
    """
    what = "speed_accuracy"
    levels = _check_thresholds(thresholds, what)
    trials = _trials(outputs, None, what)
    by = _groups(trials, by, what)
    parts = []
    for threshold in levels:
        decision = _decide(trials, threshold)
        parts.append(
            trials.keys[by].assign(
                threshold=threshold,
                decided=decision["decided"],
                rt=decision["reaction_time_ms"],
                correct=decision["correct"],
            )
        )
    keys = [*by, "threshold"]
    grouped = pd.concat(parts, ignore_index=True).groupby(keys, observed=True, sort=False, dropna=False)
    result = grouped.agg(
        n_trials=("decided", "size"),
        n_decided=("decided", "sum"),
        mean_rt_ms=("rt", "mean"),
        rt_sd=("rt", "std"),
        median_rt_ms=("rt", "median"),
        accuracy=("correct", "mean"),
    ).reset_index()
    n_decided = result["n_decided"].astype("int64")
    with np.errstate(divide="ignore", invalid="ignore"):
        rt_sem = (result.pop("rt_sd") / np.sqrt(n_decided)).where(n_decided > 1)
    result = result.assign(
        n_trials=result["n_trials"].astype("int64"),
        n_decided=n_decided,
        fraction_decided=n_decided / result["n_trials"],
        rt_sem_ms=rt_sem,
        accuracy_sem=_proportion_sem(result["accuracy"], n_decided),
    )
    columns = [*keys, "n_trials", "n_decided", "fraction_decided", "mean_rt_ms", "rt_sem_ms", "median_rt_ms",
               "accuracy", "accuracy_sem"]
    return sort_groups(result[columns], keys)


def _check_bins(bins: object, what: str) -> int:
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise ValueError(f"{what}: bins must be a whole number of quantile bins >= 1, got {bins!r}. Give e.g. 4.")
    return int(bins)


def accuracy_by_reaction_time(
    outputs: pd.DataFrame, threshold: float, *, bins: int = 4, by: Sequence[str] = ()
) -> pd.DataFrame:
    """Accuracy against reaction time at threshold θ: the conditional accuracy function.

    The decided trials of each group g of ``by`` are split into ``bins`` quantile bins of their reaction time
    (edges at the quantiles j / bins of g's reaction times; bin b holds RT with edge_b <= RT < edge_{b+1}, the
    last bin closed). Reaction times are whole steps, so equal quantiles merge and a group may get fewer bins
    (an empty bin has no row); bins are numbered 0, 1, ... from the fastest.
    Per bin, with its n decided trials of correctness c_i:

        accuracy = p = (1/n) Σ c_i,   sem = sqrt(p (1 − p) / (n − 1)),   mean_rt_ms = mean RT of the bin

    Undecided trials have no reaction time and belong to no bin; each row says how many there are in its
    group (``n_undecided`` of ``n_trials``).

    Parameters
    ----------
    outputs, by:
        As in :func:`speed_accuracy`.
    threshold:
        θ, the confidence in (0, 1] at which the model answers.
    bins:
        Number of quantile bins (>= 1).

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, bin, rt_low_ms, rt_high_ms, mean_rt_ms, n, accuracy, sem, n_trials, n_undecided``: one
        row per (group, bin), bins numbered from 0 (fastest); ``rt_low_ms`` and ``rt_high_ms`` are the fastest
        and slowest reaction time in the bin (ms from the stimulus onset). A group in which no trial decides
        has no row.
    """
    what = "accuracy_by_reaction_time"
    threshold = _check_threshold(threshold, what)
    n_bins = _check_bins(bins, what)
    trials = _trials(outputs, None, what)
    by = _groups(trials, by, what)
    decision = _decide(trials, threshold)
    frame = trials.keys[by].assign(
        decided=decision["decided"], rt=decision["reaction_time_ms"], correct=decision["correct"]
    )
    group_of = frame.groupby(by, observed=True, sort=False, dropna=False).ngroup() if by else 0
    frame = frame.assign(_group=group_of)
    rows = []
    for _, group in frame.groupby("_group", sort=False):
        n_trials = len(group)
        decided = group[group["decided"]]
        if decided.empty:
            continue
        rt = decided["rt"].to_numpy(dtype="float64")
        edges = np.unique(np.quantile(rt, np.linspace(0.0, 1.0, n_bins + 1)))
        index = np.clip(np.searchsorted(edges, rt, side="right") - 1, 0, max(len(edges) - 2, 0))
        binned = decided.assign(bin=index).groupby("bin", sort=True)
        summary = binned.agg(
            rt_low_ms=("rt", "min"),
            rt_high_ms=("rt", "max"),
            mean_rt_ms=("rt", "mean"),
            n=("rt", "size"),
            accuracy=("correct", "mean"),
        ).reset_index()
        summary["bin"] = np.arange(len(summary))  # 0, 1, ... from the fastest, also where ties merged bins
        level = {column: group[column].iloc[0] for column in by}
        rows.append(summary.assign(**level, n_trials=n_trials, n_undecided=n_trials - len(decided)))
    columns = [*by, "bin", "rt_low_ms", "rt_high_ms", "mean_rt_ms", "n", "accuracy", "sem", "n_trials",
               "n_undecided"]
    if not rows:
        return pd.DataFrame(columns=columns)
    result = pd.concat(rows, ignore_index=True)
    result["n"] = result["n"].astype("int64")
    result["sem"] = _proportion_sem(result["accuracy"], result["n"])
    return sort_groups(result[columns], [*by, "bin"])
