"""Stimulus timing derived from the ``stimulus`` column of a tidy table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .tables import OUTPUTS, RESPONSES, TableError, require_columns

__all__ = [
    "TIMING_NAMES",
    "condition_columns",
    "condition_label",
    "stimulus_intervals",
    "stimulus_intervals_by",
]


def stimulus_intervals(table: pd.DataFrame, *, dt_ms: float | None = None) -> list[tuple[float, float]]:
    """Return the periods during which the stimulus is on, as ``(onset_ms, offset_ms)`` pairs in time order.

    A step at time t is taken to last from t to t + dt, so a run of "on" steps from t_a to t_b gives the
    interval ``(t_a, t_b + dt)``: a stimulus shown for k steps spans k·dt ms, which is what a figure should
    shade. Works on an outputs or a responses table (columns ``time_ms`` and ``stimulus``).

    Parameters
    ----------
    table:
        Rows with ``time_ms`` (ms) and ``stimulus`` (0/1). All rows at one time must agree.
    dt_ms:
        Step duration in ms; by default the median spacing of the distinct times. Required when the table
        has a single time step.

    Raises
    ------
    TableError
        Missing columns, no rows, or rows at the same time that disagree about the stimulus (the table
        mixes conditions with different timing: select one condition first).
    """
    require_columns(table, ["time_ms", "stimulus"], what="stimulus_intervals")
    # Reduce to one row per time step first: the table may have millions of rows but only ~100 steps.
    on = (
        (table["stimulus"].astype("float64") > 0)
        .groupby(table["time_ms"].astype("float64"))
        .agg(["min", "max"])
    )
    mixed = on.index[on["min"] != on["max"]]
    if len(mixed):
        raise TableError(
            f"stimulus_intervals found rows that disagree about the stimulus at {len(mixed)} time(s), first at "
            f"{mixed[0]:g} ms: the table mixes conditions with different stimulus timing. Select one "
            "condition first (e.g. table[table['duration'] == 50], or --where on the command line)."
        )
    times = on.index.to_numpy()
    if dt_ms is None:
        if len(times) < 2:
            raise TableError(
                f"stimulus_intervals cannot infer the step duration from a single time ({times[0]:g} ms); "
                "pass dt_ms."
            )
        dt_ms = float(np.median(np.diff(times)))
    elif not dt_ms > 0:
        raise ValueError(f"dt_ms must be a positive duration in ms, got {dt_ms!r}.")
    flags = on["max"].to_numpy(dtype=bool)
    # Onsets are "on" steps preceded by "off" (or the start); offsets are "on" steps followed by "off" (or the end).
    padded = np.concatenate([[False], flags, [False]])
    onsets = np.flatnonzero(padded[1:-1] & ~padded[:-2])
    offsets = np.flatnonzero(padded[1:-1] & ~padded[2:])
    return [(float(times[a]), float(times[b] + dt_ms)) for a, b in zip(onsets, offsets, strict=True)]


#: Condition columns whose values are times in steps, and the words a figure uses for them: the workflow
#: writes a swept paradigm parameter under its name (``paradigm_`` + name where it would clash, e.g.
#: ``paradigm_stimulus`` for the stimulus duration, since ``stimulus`` is the 0/1 column).
TIMING_NAMES: dict[str, str] = {
    "paradigm_stimulus": "stimulus",
    "paradigm_interval": "interval",
    "interval": "interval",
    "paradigm_intro": "onset at",
    "intro": "onset at",
    "paradigm_outro": "blank after",
    "outro": "blank after",
}
#: Columns of the outputs and responses tables that are not conditions of an experiment: the tables' own columns
#: (their contracts) and the workflow's identifiers of a test.
_NOT_CONDITIONS = frozenset(
    {*OUTPUTS.names, *OUTPUTS.optional_names, *RESPONSES.names, *RESPONSES.optional_names}
    | {"test_identifier", "paradigm", "seed"}
)


def condition_columns(columns: list[str] | tuple[str, ...] | pd.Index) -> list[str]:
    """The columns of a table that can be conditions of an experiment (paradigm parameters), in table order."""
    return [str(column) for column in columns if str(column) not in _NOT_CONDITIONS]


def condition_label(column: str, value: object, dt_ms: float | None = None) -> str:
    """A readable name of one condition: ``"stimulus 6 ms"`` for a timing column in steps (with ``dt_ms``),
    ``"contrast 0.5"`` otherwise (``paradigm_`` left off the column name)."""
    if column in TIMING_NAMES and dt_ms is not None and isinstance(value, int | float | np.number):
        return f"{TIMING_NAMES[column]} {float(value) * dt_ms:g} ms"
    name = column.removeprefix("paradigm_")
    return f"{name} {value}"


def stimulus_intervals_by(
    table: pd.DataFrame, column: str, *, dt_ms: float | None = None
) -> dict[object, list[tuple[float, float]]]:
    """:func:`stimulus_intervals` per level of ``column``: the stimulus periods of each condition (ms)."""
    require_columns(table, [column, "time_ms", "stimulus"], what="stimulus_intervals_by")
    if dt_ms is None:
        times = np.unique(table["time_ms"].to_numpy(dtype="float64"))
        dt_ms = float(np.median(np.diff(times))) if len(times) > 1 else None
    return {
        level: stimulus_intervals(rows, dt_ms=dt_ms)
        for level, rows in table.groupby(column, observed=True, sort=True)
    }
