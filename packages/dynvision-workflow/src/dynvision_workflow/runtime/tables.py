"""Tidy tables from test results: per-area responses, and experiments joined across their tests.

The responses file (``test_responses.safetensors``, written by :mod:`.test`) holds, at ``layer`` resolution,
for each area ``<area>.mean`` and ``<area>.std``: float32 arrays ``(n_samples, n_steps)`` of the mean and standard
deviation of the area's activity over its units, plus ``sample`` (n_samples,), ``time_ms`` and ``stimulus``
(n_steps,). Its metadata record names the areas in order, the resolution, ``dt`` (ms) and the paradigm.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..naming import UPSTREAM_PARADIGM_ALIASES, parse_args
from .provenance import atomic_path

__all__ = [
    "OPTIONAL_OUTPUT_COLUMNS",
    "OUTPUT_COLUMNS",
    "RESPONSE_COLUMNS",
    "TableError",
    "aggregate_tables",
    "override_column",
    "paradigm_columns",
    "parameter_column",
    "read_responses",
    "read_test_table",
    "rerun_remedy",
    "responses_table",
    "write_csv",
    "write_responses_table",
]

RESPONSE_COLUMNS = ["sample", "step", "time_ms", "area", "response", "response_std", "stimulus"]
#: Measurement columns of a test's outputs table (``test_outputs.csv``, see :mod:`.test`), in order; the paradigm's
#: columns (:func:`paradigm_columns`) follow them.
OUTPUT_COLUMNS = ["sample", "step", "time_ms", "label", "guess", "correct", "confidence", "label_rank", "stimulus"]
#: Columns the test writes after :data:`OUTPUT_COLUMNS` that may be empty (and that older tables lack).
OPTIONAL_OUTPUT_COLUMNS = ["reaction_time_ms"]
#: Names a paradigm parameter cannot take as a column: it gets the prefix ``paradigm_`` instead.
_TAKEN = frozenset(OUTPUT_COLUMNS + OPTIONAL_OUTPUT_COLUMNS + RESPONSE_COLUMNS) | {"paradigm", "test_identifier"}


def parameter_column(key: str) -> str:
    """The column of paradigm parameter ``key`` in test tables: its short alias where it has one (``noise_type``
    -> ``noisetype``, as in test folder names), prefixed ``paradigm_`` where that name is a measurement column
    (``stimulus``, the duration in steps, -> ``paradigm_stimulus``, beside the 0/1 ``stimulus``)."""
    from ..naming import PARADIGM_ARG_ALIASES

    short = {long: alias for alias, long in PARADIGM_ARG_ALIASES.items()}.get(key, key)
    return f"paradigm_{short}" if short in _TAKEN else short


def override_column(key: str, paradigm: str | None = None) -> str:
    """The column of a swept model override ``key`` in aggregated tables: its canonical spelling (``idle_timesteps``
    -> ``idle``, :func:`~dynvision_workflow.naming.canonical_model_args`), prefixed ``model_`` where that name is
    a measurement column or a parameter column of ``paradigm`` (the experiment's paradigm)."""
    from dynvision_data import paradigm_parameters

    from ..naming import canonical_model_args

    name = next(iter(canonical_model_args({key: None})))
    taken = set(_TAKEN)
    if paradigm is not None:
        taken |= {parameter_column(parameter) for parameter in paradigm_parameters(paradigm)}
    return f"model_{name}" if name in taken else name


def paradigm_columns(paradigm: Any) -> dict[str, Any]:
    """The paradigm columns of a test's outputs table: ``paradigm`` (its registered name), then one column per
    parameter (:meth:`~dynvision_data.Paradigm.params`, defaults included, in the paradigm's order) and per common
    option that differs from its default (``rt``, ``pattern``...), named by :func:`parameter_column`."""
    columns: dict[str, Any] = {"paradigm": paradigm.name}
    for key, value in paradigm.config().items():
        columns[parameter_column(key)] = value
    return columns


class TableError(ValueError):
    """A result file that is missing, malformed or inconsistent."""


#: Columns of the test tables that hold text; every other column of :data:`OUTPUT_COLUMNS` and
#: :data:`RESPONSE_COLUMNS` holds numbers.
_TEXT_COLUMNS = frozenset({"area"})


def rerun_remedy(path: str | os.PathLike[str]) -> str:
    """What to do about a damaged result file of the workflow, as a command: run the step that writes it again,
    and the steps after it. (Deleting it would not do: where the tables and figures after it are complete,
    Snakemake leaves a missing intermediate file missing.)"""
    return f"write it again: dynvision run --forcerun {shlex.quote(str(path))}"


def _damaged(path: Path, problem: str) -> TableError:
    return TableError(f"test table {str(path)!r} {problem}; {rerun_remedy(path)}")


def read_test_table(path: str | os.PathLike[str], columns: Sequence[str] = ()) -> pd.DataFrame:
    """Read one test's table (an outputs or responses table) and check that it is whole.

    Refused with a :class:`TableError` naming the file and the command that writes it again: a missing, empty or
    binary file; a file cut short (its last line incomplete, or no line end at its end: the test writes whole
    lines); rows with more or fewer fields than the header; no rows; a missing column of ``columns`` (the
    measurement columns, :data:`OUTPUT_COLUMNS` or :data:`RESPONSE_COLUMNS`), one with empty values or, but for
    ``area``, text; and samples with different numbers of rows (every sample has one row per step, or per step and
    area: fewer rows for the last sample are a table cut at a line end).
    """
    from dynvision_analysis.io import csv_problem

    path = Path(path)
    if not path.is_file():
        raise TableError(f"test table {str(path)!r} does not exist; run the test step first: dynvision run")
    problem = csv_problem(path, final_newline=True)
    if problem is not None:
        raise _damaged(path, problem)
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise _damaged(path, f"cannot be read ({' '.join(str(error).split())})") from None
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise _damaged(path, f"lacks the column(s) {missing}; it has {list(map(str, table.columns))}")
    if table.empty:
        raise _damaged(path, "has no rows")
    for column in columns:
        values = table[column]
        if values.isna().any():
            row = int(values.isna().to_numpy().argmax()) + 2  # 1-based, after the header line
            raise _damaged(path, f"has an empty value in column {column!r} (line {row})")
        if column not in _TEXT_COLUMNS and not pd.api.types.is_numeric_dtype(values):
            text = next(value for value in values if not _is_number(value))
            raise _damaged(path, f"has text in its numeric column {column!r} (e.g. {text!r})")
    if "sample" in table.columns:
        rows = table.groupby("sample", sort=False).size()
        if rows.nunique() > 1:
            usual = int(rows.mode().iloc[0])
            sample, count = next((key, int(value)) for key, value in rows.items() if value != usual)
            raise _damaged(
                path, f"has {count} rows for sample {sample} where the other samples have {usual}: it is incomplete"
            )
    return table


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def write_csv(table: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a table as CSV atomically (temporary file, then rename)."""
    with atomic_path(path) as temporary:
        table.to_csv(temporary, index=False)


def read_responses(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load a responses file as numpy arrays and its parsed metadata (no pickle involved).

    At ``unit`` resolution each area's full tensor ``(n_samples, n_steps, C, H, W)`` is reduced here, a block of
    samples at a time, to ``<area>.mean`` and ``<area>.std`` over its units, so the tidy table is the same for both
    resolutions and memory stays bounded by one block.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(path)
    if not path.is_file():
        raise TableError(f"responses file {str(path)!r} does not exist; run the test step first: dynvision run")
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as handle:
            raw = handle.metadata() or {}
            metadata = {key: json.loads(value) for key, value in raw.items()}
            areas = metadata.get("areas")
            if not isinstance(areas, list) or not areas or not all(isinstance(area, str) for area in areas):
                raise TableError(
                    f"responses file {str(path)!r} names no areas in its metadata; it was not written by "
                    f"dynvision test: {rerun_remedy(path)}"
                )
            suffixes = ("",) if metadata.get("resolution") == "unit" else (".mean", ".std")
            expected = ["sample", "time_ms", "stimulus", *(f"{area}{suffix}" for area in areas for suffix in suffixes)]
            missing = [key for key in expected if key not in handle.keys()]  # noqa: SIM118 (not a dict)
            if missing:
                raise TableError(
                    f"responses file {str(path)!r} lacks the tensor(s) {missing}; it is not a whole file of "
                    f"dynvision test: {rerun_remedy(path)}"
                )
            if metadata.get("resolution") == "unit":
                arrays = {key: handle.get_tensor(key) for key in ("sample", "time_ms", "stimulus")}
                for area in areas:
                    arrays[f"{area}.mean"], arrays[f"{area}.std"] = _reduce_units(handle.get_slice(area))
            else:
                arrays = load_file(str(path))
    except TableError:
        raise
    except (SafetensorError, OSError, ValueError) as error:
        detail = " ".join(str(error).split())
        raise TableError(
            f"responses file {str(path)!r} cannot be read ({detail}): it is damaged or cut short; "
            f"{rerun_remedy(path)}"
        ) from None
    return arrays, metadata


def _reduce_units(tensor: Any, block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population std over the units (C, H, W) of a ``(N, T, C, H, W)`` slice, ``block`` samples at a time."""
    n_samples, n_steps = tensor.get_shape()[:2]
    mean = np.empty((n_samples, n_steps), dtype=np.float32)
    std = np.empty((n_samples, n_steps), dtype=np.float32)
    for start in range(0, n_samples, block):
        units = tensor[start : min(start + block, n_samples)].astype(np.float64)
        units = units.reshape(units.shape[0], n_steps, -1)
        mean[start : start + block] = units.mean(axis=2)
        std[start : start + block] = units.std(axis=2)
    return mean, std


def _checked_responses(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], list[str]]:
    """The arrays of a responses file (:func:`read_responses`) and its areas, checked for the shapes a tidy table
    needs: one sample index per sample, one time and stimulus value per step, ``(n_samples, n_steps)`` moments."""
    arrays, metadata = read_responses(path)
    samples, time_ms, stimulus = arrays["sample"], arrays["time_ms"], arrays["stimulus"]
    n_samples, n_steps = len(samples), len(time_ms)
    if stimulus.shape != (n_steps,) or samples.ndim != 1:
        raise TableError(
            f"responses file {str(path)!r} has {samples.shape} samples, {time_ms.shape} times and {stimulus.shape} "
            f"stimulus values; expected one sample and one stimulus value per time: {rerun_remedy(path)}"
        )
    for area in metadata["areas"]:
        mean, std = arrays[f"{area}.mean"], arrays[f"{area}.std"]
        if mean.shape != (n_samples, n_steps) or std.shape != mean.shape:
            raise TableError(
                f"responses of area {area!r} in {str(path)!r} have shape {mean.shape}; expected "
                f"{(n_samples, n_steps)}: {rerun_remedy(path)}"
            )
    arrays["stimulus"] = stimulus.astype(np.int8)
    return arrays, metadata["areas"]


def responses_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The tidy responses table of one test: one row per (sample, step, area); columns :data:`RESPONSE_COLUMNS`."""
    arrays, areas = _checked_responses(path)
    samples, time_ms, stimulus = arrays["sample"], arrays["time_ms"], arrays["stimulus"]
    n_samples, n_steps = len(samples), len(time_ms)
    frames = [
        pd.DataFrame(
            {
                "sample": np.repeat(samples, n_steps),
                "step": np.tile(np.arange(n_steps), n_samples),
                "time_ms": np.tile(time_ms, n_samples),
                "area": pd.Categorical([area] * (n_samples * n_steps), categories=areas),
                "response": arrays[f"{area}.mean"].reshape(-1),
                "response_std": arrays[f"{area}.std"].reshape(-1),
                "stimulus": np.tile(stimulus, n_samples),
            }
        )
        for area in areas
    ]
    return pd.concat(frames, ignore_index=True)


#: Samples formatted at a time by :func:`write_responses_table`.
_TEXT_BLOCK = 1024


def write_responses_table(path: str | os.PathLike[str], output: str | os.PathLike[str]) -> None:
    """Write the tidy responses table of the responses file ``path`` (:func:`responses_table`) to ``output`` as
    CSV, atomically: the bytes ``responses_table(path).to_csv(index=False)`` would write, at half their cost (the
    fields that repeat per step or per sample are formatted once; each number in its shortest form, a NaN empty),
    one block of samples in memory at a time."""
    arrays, areas = _checked_responses(path)
    samples, time_ms, stimulus = arrays["sample"], arrays["time_ms"], arrays["stimulus"]
    n_steps = len(time_ms)
    times = _shortest(time_ms)
    with atomic_path(output) as temporary, temporary.open("w") as handle:
        handle.write(",".join(RESPONSE_COLUMNS) + "\n")
        tail = np.array([f",{value}\n" for value in stimulus.tolist()], dtype=object)
        for area in areas:
            # One area's rows, sample by sample: "sample," "step,time_ms,area," "response" "," "response_std" ",stim"
            middle = np.array([f"{step},{times[step]},{area}," for step in range(n_steps)], dtype=object)
            for start in range(0, len(samples), _TEXT_BLOCK):
                block = slice(start, start + _TEXT_BLOCK)
                count = len(samples[block])
                lines = (
                    np.repeat(np.array([f"{sample}," for sample in samples[block].tolist()], dtype=object), n_steps)
                    + np.tile(middle, count)
                    + _shortest(arrays[f"{area}.mean"][block].reshape(-1))
                    + ","
                    + _shortest(arrays[f"{area}.std"][block].reshape(-1))
                    + np.tile(tail, count)
                )
                handle.write("".join(lines.tolist()))


def _shortest(values: np.ndarray) -> np.ndarray:
    """Floats as pandas writes them without a float format (each in the shortest form that reads back as the same
    value of its dtype; a NaN as an empty field), as an object array of text."""
    text = values.astype(str).astype(object)
    text[np.isnan(values)] = ""
    return text


def _test_parameters(table_path: Path, index: Mapping[str, str]) -> dict[str, Any]:
    """Paradigm name and parameters from a test's folder name ``{paradigm}{:args}[@overrides]``, or for a hashed
    name ``{paradigm}-{hash}`` from the spec the index records for it; then each swept model override
    (:func:`override_column`)."""
    from ..specs import is_hashed, split_spec

    identifier = table_path.parent.name
    spec = identifier
    if is_hashed(identifier):
        if identifier not in index:
            raise TableError(
                f"test folder {identifier!r} is a hashed name missing from the test spec index; rerun its test "
                "(which records it) or pass --spec-index."
            )
        spec = index[identifier]
    spec, overrides = split_spec(spec)
    name, _, args = spec.partition(":")
    parameters: dict[str, Any] = {"test_identifier": identifier, "paradigm": name}
    for key, value in parse_args(":" + args if args else "").items():
        # Keys are short already (no '_' in test identifiers); upstream spellings (stim) get our column (stimulus).
        parameters[parameter_column(UPSTREAM_PARADIGM_ALIASES.get(key, key))] = value
    for key, value in overrides.items():
        parameters[override_column(key, name)] = value
    return parameters


def _with_parameters(
    path: Path, columns: Sequence[str], index: Mapping[str, str]
) -> pd.DataFrame:
    """One test's table, checked (:func:`read_test_table`), with its test's parameters as columns."""
    table = read_test_table(path, columns)
    parameters = _test_parameters(path, index)
    _check_recorded_paradigm(path, table, parameters)
    for column, value in parameters.items():
        if column not in table.columns:  # else recorded by the test itself: one column per parameter
            table[column] = value
    return table


def write_aggregates(
    tables: Sequence[tuple[Sequence[str | os.PathLike[str]], str | os.PathLike[str], Sequence[str]]],
    *,
    spec_index: str | os.PathLike[str] | None = None,
    checked: Collection[str | os.PathLike[str]] = (),
) -> None:
    """Write each ``(paths, output, columns)`` as one CSV: the tables of one experiment's tests joined, holding
    the values of ``aggregate_tables(paths, columns=columns)``.

    The join is textual: each table's lines are copied as its test wrote them, with the fields of the columns it
    lacks appended (its test's parameters, :func:`_test_parameters`; empty for another test's columns), so a value
    reads the same in a test's table and in the experiment's, and nothing is parsed or formatted again. One block
    of one table is in memory at a time, whatever the number of tests. A table whose columns are not the first of
    the joined header in order, or that quotes a field, is reindexed by pandas as text (the same fields, moved).

    Every table is checked first (:func:`read_test_table`, and its ``paradigm`` against its folder's) but those in
    ``checked`` (written whole by the caller in this process). All outputs are renamed onto their final names only
    when every one is written: a damaged table leaves none of them new.
    """
    import contextlib

    from ..specs import read_index

    index = read_index(spec_index) if spec_index is not None else {}
    trusted = {Path(path) for path in checked}
    with contextlib.ExitStack() as stack:
        for paths, output, columns in tables:
            if not paths:
                raise TableError("no test tables to aggregate; the experiment has no tests.")
            paths = [Path(path) for path in paths]
            parameters = {path: _test_parameters(path, index) for path in paths}
            for path in paths:
                if path not in trusted:
                    _check_recorded_paradigm(path, read_test_table(path, columns), parameters[path])
            # The union of the columns, in order of appearance (as pd.concat aligns them), then the parameters.
            own = {path: _header(path) for path in paths}
            header: dict[str, None] = {}
            for path in paths:
                header.update(dict.fromkeys(own[path]))
                header.update(dict.fromkeys(parameters[path]))
            names = list(header)
            handle = stack.enter_context(stack.enter_context(atomic_path(output)).open("wb"))
            handle.write(_csv_line(names))
            for path in paths:
                _append_joined(handle, path, own[path], names, parameters[path])


def _header(path: Path) -> list[str]:
    """The column names of a CSV file (its first line)."""
    import csv

    with path.open(newline="") as handle:
        return next(csv.reader(handle), [])


def _csv_line(fields: Sequence[Any]) -> bytes:
    """One CSV line (with its line end) as pandas writes it: fields quoted where needed, ``None`` empty, floats
    in their shortest form."""
    return pd.DataFrame([list(fields)]).to_csv(header=False, index=False).encode()


def _check_recorded_paradigm(path: Path, table: pd.DataFrame, parameters: Mapping[str, Any]) -> None:
    """Refuse a table that records another paradigm than its folder names (its ``paradigm`` column)."""
    recorded = sorted(set(table["paradigm"].astype("object").map(str))) if "paradigm" in table.columns else []
    if recorded and recorded != [parameters["paradigm"]]:
        raise TableError(
            f"test table {str(path)!r} records paradigm {recorded} but its folder "
            f"{parameters['test_identifier']!r} names {parameters['paradigm']!r}; {rerun_remedy(path)}"
        )


#: Bytes of a table read at a time by the textual join.
_JOIN_BLOCK = 1 << 22


def _blocks(path: Path) -> Iterator[bytes]:
    """The lines after the header of a file, in blocks of whole lines (each ending with a line end)."""
    with path.open("rb") as source:
        source.readline()
        pending = b""
        while block := source.read(_JOIN_BLOCK):
            block = pending + block
            cut = block.rfind(b"\n") + 1
            pending = block[cut:]
            yield block[:cut]
        if pending:
            yield pending + b"\n"


def _append_joined(handle: Any, path: Path, own: list[str], names: list[str], parameters: Mapping[str, Any]) -> None:
    """Append the rows of one test's table to an open joined table of columns ``names``: its own fields, then
    the fields of the columns it lacks (its parameter's value, or empty)."""
    if names[: len(own)] == own and not any(b'"' in block for block in _blocks(path)):
        extra = [parameters.get(name) for name in names[len(own) :]]
        # The fields after a first one (a lone empty field would be written quoted, '""')
        suffix = _csv_line(["-", *extra]).rstrip(b"\r\n")[1:] if extra else b""
        for block in _blocks(path):
            handle.write(block.replace(b"\n", suffix + b"\n") if suffix else block)
        return
    # Quoted fields (which could hold a line end) or columns to move: the parser reads the fields as text.
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for name, value in parameters.items():
        if name not in own:
            table[name] = value
    table.reindex(columns=names).to_csv(handle, header=False, index=False)


def aggregate_tables(
    paths: Sequence[str | os.PathLike[str]],
    *,
    columns: Sequence[str] = (),
    spec_index: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Concatenate per-test tables of one experiment, adding ``test_identifier``, ``paradigm`` and one column per
    paradigm parameter and per swept model override (its value in that test, e.g. ``idle`` for tests
    ``...@idle=5``) from the test's folder name (or the spec index for hashed names).
    Columns are named by :func:`parameter_column`, as in a test's outputs table: a parameter named like a
    measurement column gets the prefix ``paradigm_`` (e.g. ``paradigm_stimulus``: the stimulus duration in steps,
    beside the 0/1 ``stimulus``); keys keep the short aliases of folder names (``noisetype``). A column the table
    already has (the outputs table of ``dynvision test`` records the paradigm and all its parameters) is kept as it
    is, so each parameter is one column; a table whose ``paradigm`` disagrees with its folder raises. Each table is
    read by :func:`read_test_table`, which checks that it is whole and has ``columns``.
    """
    if not paths:
        raise TableError("no test tables to aggregate; the experiment has no tests.")
    from ..specs import read_index

    index = read_index(spec_index) if spec_index is not None else {}
    return pd.concat([_with_parameters(Path(path), columns, index) for path in paths], ignore_index=True)
