"""Human reference values for the temporal-dynamics study, packaged as small CSV tables.

Each reference is one CSV file next to this module (``<name>.csv``) with its provenance beside it
(``<name>.md``: citation, where every value comes from, how it was read, precision and caveats). Its rows use
the same columns and normalised axes as the study's model table, so both draw on one axis:

* ``repetition``: ``peak_ratio`` (second / first response peak) against the gap ``isi_ms``, normalised by
  the duration of the first stimulus;
* ``duration``: ``normalized_summed`` (summed response / largest summed response) against ``duration_ms``,
  normalised by the longest duration (the linear prediction is the diagonal);
* ``contrast``: ``time_to_peak_ms`` and ``relative_time_to_peak`` (time to peak / time to peak at the
  highest contrast) against ``contrast`` in [0, 1].

Example::

    from dynvision_analysis.reference import human_reference

    groen = human_reference("groen2022")
    groen[groen["measure"] == "peak_ratio"][["condition", "value", "low", "high"]]
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

import pandas as pd

from ..tables import Column, TableContract, TableError, require_columns

__all__ = [
    "CONDITION_NAMES",
    "HUMAN_REFERENCE",
    "PHENOMENON_MEASURES",
    "REFERENCES",
    "human_reference",
    "reference_path",
]

#: Known references: name (the packaged ``<name>.csv``) -> one-line description with its source.
REFERENCES: dict[str, str] = {
    "groen2022": (
        "Groen et al. (2022) J Neurosci 42(40):7562-7580, doi:10.1523/JNEUROSCI.1812-21.2022: human V1 ECoG "
        "broadband; repetition, duration and contrast measures read off the V1 figures (see groen2022.md)."
    ),
}

#: The measures each phenomenon reports, in the study's vocabulary.
PHENOMENON_MEASURES: dict[str, tuple[str, ...]] = {
    "repetition": ("peak_ratio",),
    "duration": ("normalized_summed",),
    "contrast": ("time_to_peak_ms", "relative_time_to_peak"),
}

#: The condition (x axis) each phenomenon varies; ``condition`` holds its value in this unit.
CONDITION_NAMES: dict[str, str] = {
    "repetition": "isi_ms",
    "duration": "duration_ms",
    "contrast": "contrast",
}

#: The columns of a reference table, in file order (the study's model table uses the same names).
HUMAN_REFERENCE = TableContract(
    name="human reference",
    filename="<name>.csv",
    row="one row per (phenomenon, area, measure, condition)",
    columns=(
        Column("phenomenon", "category", "-", "repetition, duration or contrast."),
        Column("area", "category", "-", "Cortical area as the source names it, e.g. V1."),
        Column("measure", "category", "-", "Measure name (see PHENOMENON_MEASURES)."),
        Column("condition_name", "category", "-", "What condition holds: isi_ms, duration_ms or contrast."),
        Column("condition", "float64", "ms or contrast", "Gap or duration in ms, or contrast in [0, 1]."),
        Column(
            "normalized_condition",
            "float64",
            "ratio",
            "Gap / first stimulus duration, duration / longest duration, or contrast.",
        ),
        Column(
            "value", "float64", "measure unit", "The reference value (ms for time_to_peak_ms, else a ratio)."
        ),
        Column(
            "low",
            "float64",
            "measure unit",
            "Lower end of its interval (CI or reading uncertainty); may be empty.",
        ),
        Column("high", "float64", "measure unit", "Upper end of its interval; may be empty."),
        Column("how", "string", "-", "How the value was obtained: figure and panel, or computation."),
    ),
)

_NUMERIC = ("condition", "normalized_condition", "value", "low", "high")
_FIX = "Fix the packaged CSV against its provenance file (<name>.md beside it)."


def reference_path(name: str = "groen2022") -> Traversable:
    """The packaged CSV of reference ``name`` (a file inside this package; ``<name>.md`` is its provenance).

    Raises ValueError naming the known references when ``name`` is not one of them.
    """
    if name not in REFERENCES:
        raise ValueError(
            f"unknown human reference {name!r}; known references: {', '.join(sorted(REFERENCES))}. "
            "Pick one of these names."
        )
    return resources.files(__name__).joinpath(f"{name}.csv")


def human_reference(name: str = "groen2022") -> pd.DataFrame:
    """Read reference ``name`` as a DataFrame with the :data:`HUMAN_REFERENCE` columns, in file order.

    Numeric columns are float64 (``low``/``high`` are NaN where the source gives no interval). The table is
    checked on reading: exactly the contract's columns, known phenomena with their measures and condition
    names, and ``low <= value <= high`` where an interval is given; a failed check raises
    :class:`~dynvision_analysis.tables.TableError` naming the file and the offending rows.
    """
    path = reference_path(name)
    with path.open("r", encoding="utf-8") as handle:
        table = pd.read_csv(handle)
    what = f"human reference {name!r} ({path.name})"
    require_columns(table, HUMAN_REFERENCE.names, what=what)
    extra = [column for column in table.columns if column not in HUMAN_REFERENCE.names]
    if extra:
        raise TableError(
            f"{what} has unexpected column(s) {extra}; allowed: {list(HUMAN_REFERENCE.names)}. {_FIX}"
        )
    for column in _NUMERIC:
        table[column] = pd.to_numeric(table[column], errors="raise").astype("float64")
    _check_vocabulary(table, what)
    _check_intervals(table, what)
    return table[list(HUMAN_REFERENCE.names)]


def _check_vocabulary(table: pd.DataFrame, what: str) -> None:
    """Raise TableError for rows whose phenomenon, measure or condition name is not the study's."""
    known = table["phenomenon"].isin(PHENOMENON_MEASURES)
    if not known.all():
        bad = sorted(set(table.loc[~known, "phenomenon"]))
        raise TableError(
            f"{what} has unknown phenomenon value(s) {bad}; allowed: {sorted(PHENOMENON_MEASURES)}. {_FIX}"
        )
    measure_ok = [
        m in PHENOMENON_MEASURES[p] for p, m in zip(table["phenomenon"], table["measure"], strict=True)
    ]
    condition_ok = table["condition_name"] == table["phenomenon"].map(CONDITION_NAMES)
    bad_rows = table.index[~(pd.Series(measure_ok, index=table.index) & condition_ok)]
    if len(bad_rows):
        raise TableError(
            f"{what}: rows {list(bad_rows)} pair a phenomenon with a measure or condition_name "
            "it does not have; "
            f"allowed measures: {PHENOMENON_MEASURES}, condition names: {CONDITION_NAMES}. {_FIX}"
        )


def _check_intervals(table: pd.DataFrame, what: str) -> None:
    """Raise TableError for rows where a given interval does not contain the value."""
    below = table["low"].notna() & (table["low"] > table["value"])
    above = table["high"].notna() & (table["high"] < table["value"])
    bad_rows = table.index[below | above]
    if len(bad_rows):
        raise TableError(
            f"{what}: rows {list(bad_rows)} have a value outside their [low, high] interval. {_FIX}"
        )
