"""The tidy table contracts that the workflow writes and this package reads.

Two long-format tables carry everything the measures and figures need:

* the **outputs** table (``test_outputs.csv``), one row per (sample, time step);
* the **responses** table (``test_responses.csv``), one row per (sample, time step, area).

Two more describe a trained model rather than a test:

* the **weights** table, one row per weight value (or per histogram bin of weight values);
* the **metrics** table, the ``metrics.csv`` that Lightning's ``CSVLogger`` writes during training.

Any column not named here is an *extra* column (a paradigm parameter, ``seed``, a model name, ...) and acts
as a grouping category. This module is the one home of the column names, their meaning and their compact
in-memory dtypes; :mod:`dynvision_analysis.io` uses the dtypes when reading, and the measures use
:func:`require_columns` to check their input once, at the boundary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from difflib import get_close_matches

import pandas as pd

__all__ = [
    "AREA_ORDER",
    "COLUMN_DTYPES",
    "METRICS",
    "OUTPUTS",
    "RESPONSES",
    "WEIGHTS",
    "Column",
    "TableContract",
    "TableError",
    "order_areas",
    "require_columns",
]


class TableError(ValueError):
    """A table does not meet the contract a function needs (missing columns, no rows, unreadable format)."""


@dataclass(frozen=True)
class Column:
    """One column of a table contract: its name, compact dtype, unit and meaning."""

    name: str
    dtype: str
    unit: str
    description: str


@dataclass(frozen=True)
class TableContract:
    """The required columns of one tidy table; extra columns are allowed and act as categories.

    ``optional`` columns are documented here because some measures need them (e.g. ``label_rank`` for top-k
    accuracy); a measure that needs one raises :class:`TableError` naming it when it is absent.
    """

    name: str
    filename: str
    row: str
    columns: tuple[Column, ...]
    optional: tuple[Column, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The required column names, in documentation order."""
        return tuple(column.name for column in self.columns)

    @property
    def optional_names(self) -> tuple[str, ...]:
        """The optional column names, in documentation order."""
        return tuple(column.name for column in self.optional)


# Compact dtypes: a 10M-row table must fit comfortably in memory, so integers are 32- or 8-bit, the
# per-unit activity is float32 (upstream already stores it as float16) and the area name is categorical.
# `time_ms` stays float64 so that values such as 0.1 * k round-trip through CSV unchanged; the measures
# accumulate in float64 whatever the stored precision.
_SAMPLE = Column("sample", "int32", "-", "Index of the test image (the independent observation for SEM).")
_STEP = Column("step", "int32", "steps", "0-based index of the model time step.")
_TIME = Column(
    "time_ms", "float64", "ms", "Time of the step, step × dt, where dt is the step duration in ms."
)
_STIMULUS = Column("stimulus", "int8", "0/1", "1 when the stimulus is shown at this step, else 0.")

OUTPUTS = TableContract(
    name="outputs",
    filename="test_outputs.csv",
    row="one row per (sample, time step)",
    columns=(
        _SAMPLE,
        _STEP,
        _TIME,
        Column("label", "int32", "class index", "True class of the image, repeated at every step."),
        Column("guess", "int32", "class index", "Class with the highest classifier output at this step."),
        Column("correct", "int8", "0/1", "1 when guess == label, else 0."),
        Column("confidence", "float32", "probability", "Softmax probability of the guess, in [0, 1]."),
        _STIMULUS,
    ),
    optional=(
        Column(
            "label_rank",
            "int32",
            "rank",
            "0-based rank of the true label among all classes, ordered by classifier output (logit or "
            "probability) from highest to lowest, at this step: 0 when guess == label. Ties are broken in "
            "favour of the true label (rank = number of classes with a strictly higher output), so top-k "
            "correct = label_rank < k. Needed by top-k accuracy only.",
        ),
        Column(
            "reaction_time_ms",
            "float32",
            "ms",
            "Reaction time of the sample at the test's confidence threshold (test.reaction_threshold), repeated "
            "at every step: time from the stimulus onset to the first step whose confidence reaches it (empty "
            "when none does; measures.reaction_time). Other thresholds: reaction_times(outputs, threshold).",
        ),
    ),
)

RESPONSES = TableContract(
    name="responses",
    filename="test_responses.csv",
    row="one row per (sample, time step, area)",
    columns=(
        _SAMPLE,
        _STEP,
        _TIME,
        Column("area", "category", "-", "Name of the model area, e.g. V1, V2, V4, IT."),
        Column("response", "float32", "a.u.", "Mean activity over the area's units at this step."),
        Column(
            "response_std", "float32", "a.u.", "Standard deviation of the activity over the area's units."
        ),
        _STIMULUS,
    ),
)

WEIGHTS = TableContract(
    name="weights",
    filename="weights.csv",
    row="one row per weight value, or per histogram bin of weight values (with count)",
    columns=(
        Column(
            "connection",
            "category",
            "-",
            "Connection type of the weight: feedforward, recurrence, skip, feedback, ... (free text).",
        ),
        Column("area", "category", "-", "Model area the connection targets, e.g. V1, V2, V4, IT."),
        Column("value", "float32", "a.u.", "The weight value, or the centre of the histogram bin."),
    ),
    optional=(
        Column(
            "count",
            "int64",
            "weights",
            "Number of weights the row stands for (a histogram bin's count); 1 per row when absent.",
        ),
        Column("parameter", "category", "-", "Name of the weight tensor, e.g. V1.recurrence.conv.weight."),
    ),
)

METRICS = TableContract(
    name="metrics",
    filename="metrics.csv",
    row="one row per logging event of Lightning's CSVLogger (NaN where a metric was not logged)",
    columns=(
        Column("epoch", "int32", "epochs", "0-based index of the training epoch when the row was logged."),
        Column("step", "int32", "steps", "Global optimisation step (batches seen) when the row was logged."),
    ),
    optional=(
        Column(
            "train/loss_step",
            "float32",
            "a.u.",
            "Metric columns are named STAGE/NAME with an optional _step or _epoch suffix: train/loss_step, "
            "train/acc_step, train/loss_epoch, train/acc_epoch, val/loss, val/acc, val/acc_last, ... "
            "Any such column is read; NaN where the metric was not logged in that row.",
        ),
    ),
)

#: Canonical order of the visual hierarchy, early to late; other areas follow in order of appearance.
AREA_ORDER: tuple[str, ...] = ("V1", "V2", "V4", "IT")

#: Dtype of every contract column, applied by :func:`dynvision_analysis.io.read_table` while parsing.
COLUMN_DTYPES: Mapping[str, str] = {
    column.name: column.dtype
    for contract in (OUTPUTS, RESPONSES)
    for column in (*contract.columns, *contract.optional)
}


def order_areas(names: Iterable[object]) -> list[str]:
    """Return the distinct area names in canonical order: V1, V2, V4, IT, then others as first seen."""
    seen = [str(name) for name in dict.fromkeys(names)]
    known = [area for area in AREA_ORDER if area in seen]
    return known + [area for area in seen if area not in AREA_ORDER]


def require_columns(table: pd.DataFrame, required: Iterable[str], *, what: str) -> None:
    """Raise :class:`TableError` unless ``table`` has rows and every column in ``required``.

    ``what`` names the caller's purpose (e.g. ``"response_over_time"``) so the message says who needs
    the columns. The message lists the missing columns, close matches among the present ones, and the
    columns that were found.
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{what} needs a pandas DataFrame, got {type(table).__name__}.")
    present = [str(name) for name in table.columns]
    missing = [name for name in required if name not in table.columns]
    if missing:
        hints = []
        for name in missing:
            close = get_close_matches(name, present, n=1)
            if close:
                hints.append(f"{name!r} (did you mean {close[0]!r}?)")
            else:
                hints.append(repr(name))
        raise TableError(
            f"{what} needs the column(s) {', '.join(hints)}, which the table lacks; "
            f"it has {present}. Rename or add the column(s) (see the table contracts in the README)."
        )
    if table.empty:
        raise TableError(f"{what} got an empty table (0 rows); it needs at least one row.")
