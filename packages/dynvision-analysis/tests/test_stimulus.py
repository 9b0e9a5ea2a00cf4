from __future__ import annotations

import pandas as pd
import pytest

from dynvision_analysis import TableError, stimulus_intervals


def _table(flags: list[int], dt: float = 10.0) -> pd.DataFrame:
    return pd.DataFrame({"time_ms": [step * dt for step in range(len(flags))], "stimulus": flags})


def test_one_presentation_spans_its_steps_times_dt(responses_table):
    # Steps 1 and 2 are on, dt = 10 ms: the stimulus is shown from 10 ms to 30 ms.
    assert stimulus_intervals(responses_table) == [(10.0, 30.0)]


def test_two_presentations_give_two_intervals():
    assert stimulus_intervals(_table([0, 1, 1, 0, 0, 1, 0])) == [(10.0, 30.0), (50.0, 60.0)]


def test_stimulus_on_at_the_first_and_last_step():
    assert stimulus_intervals(_table([1, 0, 0, 1], dt=2.5)) == [(0.0, 2.5), (7.5, 10.0)]


def test_no_stimulus_gives_no_interval():
    assert stimulus_intervals(_table([0, 0, 0])) == []


def test_rows_are_reduced_per_time_whatever_their_order():
    table = pd.concat([_table([0, 1, 0]), _table([0, 1, 0])]).sample(frac=1.0, random_state=0)
    assert stimulus_intervals(table) == [(10.0, 20.0)]


def test_mixed_conditions_are_refused_with_advice():
    table = pd.concat([_table([0, 1, 0]), _table([0, 1, 1])])
    with pytest.raises(
        TableError, match=r"disagree about the stimulus at 1 time\(s\), first at 20 ms.*Select one"
    ):
        stimulus_intervals(table)


def test_single_step_needs_dt():
    with pytest.raises(TableError, match="pass dt_ms"):
        stimulus_intervals(_table([1]))
    assert stimulus_intervals(_table([1]), dt_ms=5.0) == [(0.0, 5.0)]


def test_non_positive_dt_is_refused():
    with pytest.raises(ValueError, match="dt_ms must be a positive duration in ms, got 0"):
        stimulus_intervals(_table([1, 0]), dt_ms=0)


def test_missing_stimulus_column_is_named():
    with pytest.raises(TableError, match="'stimulus'"):
        stimulus_intervals(pd.DataFrame({"time_ms": [0.0]}))
