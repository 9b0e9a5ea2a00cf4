"""Command line: ``dynvision-analysis`` computes measures and draws figures from a tidy table.

    dynvision-analysis measure MEASURE TABLE -o OUT.csv [--by COLUMN ...] [--condition COLUMN] ...
        MEASURE: responses, accuracy, topk, class-accuracy, confusion        (over time / pooled; chunked)
                 peaks, latency, contrast, peak-ratio, summation             (one row per curve)
    dynvision-analysis summarize TABLE -o OUT.csv --values COLUMN ... [--by COLUMN ...] [--ci bootstrap]
    dynvision-analysis plot-responses TABLE -o FIG [--layout overlay|small_multiples|ridge] [--hue COLUMN]
    dynvision-analysis plot-accuracy TABLE -o FIG [--n-classes 10] [--top-k 1 5] [--confidence]
    dynvision-analysis reaction-times TABLE -o OUT.csv --threshold 0.8 [--bins 4 [--by COLUMN ...]]
    dynvision-analysis reaction-times TABLE -o OUT.csv --thresholds 0.5 0.7 0.9 [--by COLUMN ...]
    dynvision-analysis plot-reaction-times TABLE -o FIG [--thresholds ...] [--threshold 0.8] [--bins 4]
    dynvision-analysis plot-dynamics -o FIG [--duration T] [--contrast T] [--interval T]
    dynvision-analysis plot-performance TABLE -o FIG --x ssnr --hue rctype [--reference none]
    dynvision-analysis plot-confusion TABLE -o FIG
    dynvision-analysis plot-weights TABLE -o FIG [--log]
    dynvision-analysis plot-training metrics.csv -o FIG
    dynvision-analysis plot-stability SPECTRUM -o FIG [--color image|rank] [--areas AREA ...] [--view circle|data]
    dynvision-analysis stability-summary SPECTRUM -o OUT.csv [--by COLUMN ...] [--per-image]
    dynvision-analysis study-table --table VARIANT:SEED:PHENOMENON=TABLE ... -o study.csv --effects effects.csv
    dynvision-analysis plot-study study.csv -o FIG [--area AREA|all] [--reference groen2022|none]
    dynvision-analysis plot-study-effects effects.csv -o FIG

Figures are written as PNG, SVG or PDF (from the suffix), tables as CSV or Parquet. Tables are read with only
the needed columns; the over-time measures and ``summarize`` reduce them in chunks, so memory stays bounded for
any number of rows. Bad input (missing file or columns, an empty, damaged or cut-short table, unknown format, a
measure that needs two presentations on a one-presentation table) and an output that cannot be written (a full
disk, a read-only folder) exit with status 2 and one line on stderr, ``dynvision-analysis COMMAND: error: ...``,
naming the problem, the file and what to do; with ``DYNVISION_VERBOSE=1`` the traceback is printed too. Hidden
temporaries that a killed earlier run of a command left beside its output are removed when it runs again.
The glue is thin on purpose: every command calls typed functions of the package.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

from .__about__ import __version__
from .io import (
    FIGURE_FORMATS,
    OutputError,
    iter_table,
    output_error,
    read_table,
    remove_stale_temporaries,
    rewrite_remedy,
    save_figure,
    table_columns,
    table_format,
    write_table,
)
from .measures import (
    accuracy_by_reaction_time,
    accuracy_over_time,
    class_accuracy,
    confusion_matrix,
    contrast_response,
    peak_ratio,
    reaction_times,
    response_latency,
    response_over_time,
    response_peaks,
    speed_accuracy,
    study_table,
    summarize,
    temporal_summation,
    topk_accuracy_over_time,
)
from .measures.reaction_time import REACTION_TIME_COLUMNS, trial_columns
from .measures.stability import (
    DEFAULT_MIN_ANGLE,
    DEFAULT_TOLERANCE,
    SPECTRUM_COLUMNS,
    SPECTRUM_OPTIONAL,
    classify_spectrum,
    stability_summary,
)
from .plots import (
    plot_accuracy,
    plot_confusion,
    plot_dynamics,
    plot_performance,
    plot_reaction_times,
    plot_responses,
    plot_spectrum,
    plot_study,
    plot_study_effects,
    plot_training,
    plot_weights,
)
from .plots.responses import LAYOUTS
from .plots.stability import SPECTRUM_VIEWS
from .plots.study import STUDY_FIGURE_COLUMNS
from .stimulus import (
    condition_columns,
    condition_label,
    stimulus_intervals,
    stimulus_intervals_by,
)
from .tables import TableError, order_areas

__all__ = ["build_parser", "main"]

PROG = "dynvision-analysis"
#: Exit status for bad input, the same that argparse uses for bad arguments.
EXIT_BAD_INPUT = 2
#: Set (to 1) to print the traceback of an error too, for a bug report; the variable that dynvision-workflow
#: sets for its jobs (``dynvision run --verbose``).
VERBOSE_ENV = "DYNVISION_VERBOSE"
#: Errors that describe bad input or an output the file system refused: one line, no traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (FileNotFoundError, ValueError, ImportError, OutputError)

#: Measures over time or pooled (chunked), and measures with one row per curve (whole table in memory).
CHUNKED_MEASURES = ("responses", "accuracy", "topk", "class-accuracy", "confusion")
CURVE_MEASURES = ("peaks", "latency", "contrast", "peak-ratio", "summation")
#: Default condition column of the measures that compare conditions.
DEFAULT_CONDITION = {"contrast": "contrast", "peak-ratio": "interval", "summation": "paradigm_stimulus"}


def _parse_where(items: Sequence[str]) -> dict[str, str]:
    conditions: dict[str, str] = {}
    for item in items:
        column, separator, value = item.partition("=")
        if not separator or not column:
            raise ValueError(f"--where expects COLUMN=VALUE (e.g. --where seed=1), got {item!r}.")
        conditions[column] = value
    return conditions


class _Rows:
    """Chunks of a table, filtered by ``--where``, that remember the stimulus timing they passed through.

    The stimulus timing is reduced to the first and last 0/1 value per time as chunks stream past, so a plot
    gets its shaded intervals without a second pass over the file and without holding the rows.
    """

    def __init__(
        self,
        path: Path,
        columns: Sequence[str],
        where: dict[str, str],
        chunksize: int,
        track_stimulus: bool,
        optional: Sequence[str] = (),
        stimulus_by: Sequence[str] = (),
    ):
        self.path, self.columns, self.where = path, list(dict.fromkeys(columns)), where
        self.chunksize, self.track_stimulus, self.optional = chunksize, track_stimulus, list(optional)
        self.stimulus_by = list(stimulus_by)
        self.rows = 0
        self._stimulus: list[pd.DataFrame] = []

    def __iter__(self) -> Iterator[pd.DataFrame]:
        needed = list(dict.fromkeys([*self.columns, *self.where]))
        for chunk in iter_table(self.path, needed, chunksize=self.chunksize, optional=self.optional):
            for column, value in self.where.items():
                chunk = chunk[chunk[column].astype("object").map(str) == value]
            if chunk.empty:
                continue
            self.rows += len(chunk)
            if self.track_stimulus:
                keys = [*self.stimulus_by, "time_ms"]
                on = chunk.groupby(keys, observed=True)["stimulus"].agg(["min", "max"]).reset_index()
                self._stimulus.append(
                    pd.concat(
                        [
                            on[keys].assign(stimulus=on["min"].to_numpy()),
                            on[keys].assign(stimulus=on["max"].to_numpy()),
                        ],
                        ignore_index=True,
                    )
                )
            yield chunk
        if self.rows == 0:
            raise TableError(
                f"No rows of {str(self.path)!r} match --where {self.where}; check the column values."
                if self.where
                else f"Table {str(self.path)!r} has no rows; expected at least one: {rewrite_remedy(self.path)}."
            )

    def frame(self) -> pd.DataFrame:
        """All filtered rows as one DataFrame (only the selected columns)."""
        return pd.concat(list(self), ignore_index=True)

    def stimulus_intervals(self) -> list[tuple[float, float]]:
        return stimulus_intervals(pd.concat(self._stimulus, ignore_index=True))

    def stimulus_table(self) -> pd.DataFrame:
        """The 0/1 stimulus per ``stimulus_by`` level and time (min and max of each, as two rows)."""
        return pd.concat(self._stimulus, ignore_index=True)


#: Name of the column of readable condition names (e.g. "stimulus 6 ms") that the plot commands draw as hue.
CONDITION = "condition"


def _step_ms(times: pd.Series) -> float | None:
    values = np.unique(times.to_numpy(dtype="float64"))
    return float(np.median(np.diff(values))) if len(values) > 1 else None


def _label_conditions(measure: pd.DataFrame, columns: Sequence[str], dt_ms: float | None) -> pd.Series:
    """One readable, ordered name per row for the levels of ``columns`` (timings in ms, not steps)."""
    keys = measure[list(columns)].drop_duplicates().sort_values(list(columns))
    names = {
        tuple(key): ", ".join(condition_label(c, v, dt_ms) for c, v in zip(columns, key, strict=True))
        for key in keys.itertuples(index=False)
    }
    labels = [names[tuple(key)] for key in measure[list(columns)].itertuples(index=False)]
    return pd.Series(pd.Categorical(labels, categories=list(dict.fromkeys(names.values())), ordered=True),
                     index=measure.index)


def _condition_marks(
    rows: _Rows, columns: Sequence[str], dt_ms: float | None
) -> list[tuple[float, float]] | dict[str, list[tuple[float, float]]]:
    """The stimulus period(s): one shared list when every condition has the same timing, else one per
    condition (by its readable name)."""
    table = rows.stimulus_table()
    try:
        return stimulus_intervals(table, dt_ms=dt_ms)
    except TableError:
        if not columns:
            raise
    table = table.assign(**{CONDITION: _label_conditions(table, columns, dt_ms)})
    return {str(level): spans for level, spans in stimulus_intervals_by(table, CONDITION, dt_ms=dt_ms).items()}


def _figure_path(path: str) -> Path:
    suffix = Path(path).suffix.lower()
    if suffix not in FIGURE_FORMATS:
        raise ValueError(
            f"Unknown figure format {suffix or '(no suffix)'!r} of -o {path!r}; allowed: {sorted(FIGURE_FORMATS)}."
        )
    return Path(path)


def _table_path(path: str) -> Path:
    table_format(path)  # fail on a bad output name before reading anything
    return Path(path)


def _baseline(text: str) -> str | float | None:
    if text == "pre":
        return "pre"
    if text.lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'pre', 'none' or a number, got {text!r}") from None


def _rows(
    args: argparse.Namespace, columns: Sequence[str], *, stimulus: bool = False, optional: Sequence[str] = ()
) -> _Rows:
    return _Rows(Path(args.table), columns, _parse_where(args.where), args.chunksize, stimulus, optional)


def _measure(args: argparse.Namespace) -> None:
    out = _table_path(args.output)
    name = args.measure
    if name in CURVE_MEASURES:
        write_table(_curve_measure(args), out)
        return
    default_by = {"responses": ["area"]}.get(name, [])
    by = list(args.by) if args.by is not None else default_by
    time = ["step", "time_ms"]
    if name == "responses":
        result = response_over_time(_rows(args, [*by, *time, args.value]), by=by, value=args.value)
    elif name == "accuracy":
        result = accuracy_over_time(_rows(args, [*by, *time, "correct", "confidence"]), by=by)
    elif name == "topk":
        rows = _rows(args, [*by, *time], optional=["label_rank"])
        result = topk_accuracy_over_time(rows, k=args.k, by=by)
    elif name == "class-accuracy":
        result = class_accuracy(_rows(args, [*by, "label", "correct"]), by=by)
    else:
        result = confusion_matrix(_rows(args, [*by, "label", "guess"]), by=by)
    write_table(result, out)


def _curve_measure(args: argparse.Namespace) -> pd.DataFrame:
    name = args.measure
    by = list(args.by) if args.by is not None else ["area", "sample"]
    condition = args.condition if args.condition is not None else DEFAULT_CONDITION.get(name)
    keys = [*by, *([condition] if condition else []), "time_ms", args.value]
    table = _rows(args, [*keys, *([] if name == "peaks" else ["stimulus"])]).frame()
    if name == "peaks":
        window = tuple(args.window_ms) if args.window_ms else None
        return response_peaks(table, by, value=args.value, condition=condition, window_ms=window)
    if name == "latency":
        return response_latency(
            table, by, value=args.value, condition=condition, fraction=args.fraction, baseline=args.baseline
        )
    assert condition is not None
    if name == "contrast":
        return contrast_response(
            table, by, condition=condition, value=args.value, fraction=args.fraction, baseline=args.baseline
        )
    if name == "peak-ratio":
        return peak_ratio(table, by, condition=condition, value=args.value, baseline=args.baseline)
    window = args.window_ms[0] if args.window_ms else None
    return temporal_summation(
        table, by, condition=condition, value=args.value, baseline=args.baseline, window_ms=window
    )


def _summarize(args: argparse.Namespace) -> None:
    out = _table_path(args.output)
    by = list(args.by or [])
    rows = _rows(args, [*by, *args.values])
    table = rows.frame() if args.ci == "bootstrap" else rows
    result = summarize(
        table, args.values, by, ci=args.ci, level=args.level, n_boot=args.n_boot, seed=args.seed
    )
    write_table(result, out)


def _plot_responses(args: argparse.Namespace) -> None:
    out = _figure_path(args.output)
    hue = None if args.hue == "none" else args.hue
    by = [
        column for column in dict.fromkeys([*([args.row] if args.layout != "overlay" else []), hue]) if column
    ]
    conditions = [column for column in condition_columns(by) if column != args.row]
    columns = [*by, "step", "time_ms", args.value, *([] if args.no_stimulus else ["stimulus"])]
    rows = _Rows(
        Path(args.table), columns, _parse_where(args.where), args.chunksize, not args.no_stimulus,
        stimulus_by=conditions,
    )
    measure = response_over_time(rows, by=by, value=args.value)
    dt_ms = _step_ms(measure["time_ms"])
    intervals = None if args.no_stimulus else _condition_marks(rows, conditions, dt_ms)
    if conditions and hue in conditions:
        # Conditions by readable name in ms (not the raw column in steps), in the order of their values.
        measure = measure.assign(**{CONDITION: _label_conditions(measure, conditions, dt_ms)})
        hue = CONDITION
    ylabel = "response (a.u.)" if args.value == "response" else f"{args.value} (a.u.)"
    figure = plot_responses(
        measure,
        stimulus_intervals=intervals,
        hue=hue,
        layout=args.layout,
        row=args.row,
        ylabel=ylabel,
        title=args.title,
    )
    save_figure(figure, out, dpi=args.dpi)


def _plot_accuracy(args: argparse.Namespace) -> None:
    out = _figure_path(args.output)
    stimulus = [] if args.no_stimulus else ["stimulus"]
    path = Path(args.table)
    if args.hue == "auto":
        conditions = condition_columns([c for c in table_columns(path) if c not in args.where])
    else:
        conditions = [] if args.hue == "none" else [args.hue]
    if args.top_k:
        rows = _Rows(
            path, ["step", "time_ms", *stimulus], _parse_where(args.where), args.chunksize,
            not args.no_stimulus, optional=["label_rank"],
        )
        measure = topk_accuracy_over_time(rows, k=args.top_k)
        hue: str | None = "k"
        conditions = []
    else:
        rows = _Rows(
            path, [*conditions, "step", "time_ms", "correct", "confidence", *stimulus],
            _parse_where(args.where), args.chunksize, not args.no_stimulus, stimulus_by=conditions,
        )
        measure = accuracy_over_time(rows, by=conditions)
        # One curve per condition: the columns that take more than one value (the swept parameters).
        conditions = [column for column in conditions if measure[column].nunique(dropna=False) > 1]
        hue = None
        if conditions:
            dt_ms = _step_ms(measure["time_ms"])
            measure = measure.assign(**{CONDITION: _label_conditions(measure, conditions, dt_ms)})
            measure = measure.sort_values([CONDITION, "time_ms"])
            hue = CONDITION
    dt_ms = _step_ms(measure["time_ms"])
    intervals = None if args.no_stimulus else _condition_marks(rows, conditions, dt_ms)
    figure = plot_accuracy(
        measure,
        n_classes=args.n_classes,
        stimulus_intervals=intervals,
        hue=hue,
        confidence=args.confidence and not args.top_k,
        title=args.title,
    )
    save_figure(figure, out, dpi=args.dpi)


#: Confidence thresholds of the speed-accuracy sweep of plot-reaction-times (softmax probability of the guess).
DEFAULT_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def _outputs_trials(args: argparse.Namespace) -> pd.DataFrame:
    """The rows of an outputs table that the reaction-time measures read: their columns and every trial column.

    Their columns are read as optional, so that a table lacking one fails in the measure, whose message names
    the command that writes the table.
    """
    path = Path(args.table)
    trials = trial_columns(table_columns(path))
    return _rows(args, trials, optional=REACTION_TIME_COLUMNS).frame()


def _reaction_times(args: argparse.Namespace) -> None:
    out = _table_path(args.output)
    if args.threshold is None and args.bins:
        raise ValueError("reaction-times: --bins needs --threshold (the one threshold the bins are taken at).")
    if args.by and args.threshold is not None and not args.bins:
        raise ValueError(
            "reaction-times: --by groups the summaries (--bins, --thresholds); the per-trial table of --threshold "
            "keeps every column that tells trials apart. Leave out --by, or add --bins N."
        )
    table = _outputs_trials(args)
    by = list(args.by or [])
    if args.thresholds is not None:
        result = speed_accuracy(table, args.thresholds, by=by)
    elif args.bins:
        result = accuracy_by_reaction_time(table, args.threshold, bins=args.bins, by=by)
    else:
        result = reaction_times(table, args.threshold)
    write_table(result, out)


def _plot_reaction_times(args: argparse.Namespace) -> None:
    out = _figure_path(args.output)
    path = Path(args.table)
    table = _outputs_trials(args)
    if args.hue == "auto":
        # One line per condition: the paradigm and model columns that take more than one value.
        conditions = condition_columns([c for c in table_columns(path) if c not in args.where])
        conditions = [column for column in conditions if table[column].nunique(dropna=False) > 1]
    else:
        conditions = [] if args.hue == "none" else [args.hue]
    speed = speed_accuracy(table, args.thresholds, by=conditions)
    bins = (
        accuracy_by_reaction_time(table, args.threshold, bins=args.bins, by=conditions) if args.bins else None
    )
    hue: str | None = None
    if conditions:
        dt_ms = _step_ms(table["time_ms"])
        labels = _label_conditions(pd.concat([speed[conditions], *([] if bins is None else [bins[conditions]])]),
                                   conditions, dt_ms)
        speed = speed.assign(**{CONDITION: labels.iloc[: len(speed)].array})
        if bins is not None:
            bins = bins.assign(**{CONDITION: labels.iloc[len(speed) :].array})
        hue = CONDITION
    figure = plot_reaction_times(
        speed, bins, threshold=args.threshold, hue=hue, n_classes=args.n_classes, title=args.title
    )
    save_figure(figure, out, dpi=args.dpi)


def _dynamics_panel(
    path: str,
    measure: Callable[..., pd.DataFrame],
    value_column: str,
    x: str,
    args: argparse.Namespace,
    notes: dict[str, str] | None = None,
    **kw,
) -> tuple[pd.DataFrame, float | None]:
    """A summary table for one panel and the table's time step (ms): read as is when it is a summary (step
    unknown), else measured per sample and summarized. Unresolvable latencies are counted into ``notes``."""
    source = Path(path)
    if {"measure", "mean"} <= set(table_columns(source)):
        return read_table(source), None
    by = ["area", "sample"]
    condition = kw["condition"]
    rows = _Rows(source, [*by, condition, "time_ms", "response", "stimulus"], {}, args.chunksize, False)
    frame = rows.frame()
    per_sample = measure(frame, by, **kw)
    times = np.unique(frame["time_ms"].to_numpy(dtype="float64"))
    step = float(np.median(np.diff(times))) if len(times) > 1 else None
    if notes is not None and "latency_status" in per_sample.columns:
        notes["latency"] = _latency_note(per_sample["latency_status"], step)
    return summarize(per_sample, value_column, ["area", x]), step


def _latency_note(status: pd.Series, step: float | None) -> str:
    """Say how many latencies could not be measured and why ('' when all could)."""
    parts = []
    for reason, why in (
        ("below one step", f"crossed half-max within the first step{f' ({step:g} ms)' if step else ''}"),
        ("no rise", "no rise above baseline"),
    ):
        count = int((status == reason).sum())
        if count:
            parts.append(f"{count} of {len(status)} curves {why}")
    return ("not resolvable (left out): " + "; ".join(parts)) if parts else ""


def _plot_dynamics(args: argparse.Namespace) -> None:
    out = _figure_path(args.output)
    summaries: dict[str, pd.DataFrame] = {}
    x: dict[str, str] = {}
    notes: dict[str, str] = {}
    step: float | None = None
    if args.duration:
        summaries["summation"], _ = _dynamics_panel(
            args.duration,
            temporal_summation,
            "normalized",
            "duration_ms",
            args,
            condition=args.duration_condition,
            baseline=args.baseline,
        )
    if args.contrast:
        summaries["latency"], step = _dynamics_panel(
            args.contrast,
            contrast_response,
            "latency_ms",
            args.contrast_condition,
            args,
            notes,
            condition=args.contrast_condition,
            baseline=args.baseline,
        )
        x["latency"] = args.contrast_condition
    if args.interval:
        summaries["recovery"], _ = _dynamics_panel(
            args.interval,
            peak_ratio,
            "peak_ratio",
            "isi_ms",
            args,
            condition=args.interval_condition,
            baseline=args.baseline,
        )
    if not summaries:
        raise ValueError(
            "plot-dynamics needs at least one of --duration, --contrast or --interval (a table)."
        )
    figure = plot_dynamics(**summaries, x=x, step_ms=step, notes={k: v for k, v in notes.items() if v})
    save_figure(figure, out, dpi=args.dpi)


def _plot_performance(args: argparse.Namespace) -> None:
    out = _figure_path(args.output)
    hue = None if args.hue == "none" else args.hue
    path = Path(args.table)
    if {"measure", "mean"} <= set(table_columns(path)):
        columns = [*([hue] if hue else []), args.x, "measure", "mean"]
        summary = _rows(args, columns, optional=["low", "high", "sem"]).frame()
        measure = args.measure
    else:
        groups = [*([hue] if hue else []), args.x]
        rows = _rows(args, [*groups, "step", "time_ms", "correct", "confidence"], optional=["seed"])
        table = rows.frame()
        curves = [*groups, *(["seed"] if "seed" in table.columns else [])]
        accuracy = accuracy_over_time(table, by=curves)
        peaks = response_peaks(accuracy, curves, value="accuracy")
        summary = summarize(peaks, "peak_height", groups)
        measure = "peak_height"
    figure = plot_performance(
        summary,
        args.x,
        hue=hue,
        measure=measure,
        reference=args.reference,
        n_classes=args.n_classes,
        ylabel=args.ylabel,
        title=args.title,
    )
    save_figure(figure, out, dpi=args.dpi)


def _plot_confusion(args: argparse.Namespace) -> None:
    out = _figure_path(args.output)
    confusion = confusion_matrix(_rows(args, ["label", "guess"]))
    names = args.class_names.split(",") if args.class_names else None
    save_figure(plot_confusion(confusion, class_names=names, title=args.title), out, dpi=args.dpi)


def _plot_weights(args: argparse.Namespace) -> None:
    out = _figure_path(args.output)
    panel = None if args.panel == "none" else args.panel
    rows = _rows(args, [args.hue, "value", *([panel] if panel else [])], optional=["count"])
    figure = plot_weights(
        rows.frame(), hue=args.hue, panel=panel, bins=args.bins, log=args.log, title=args.title
    )
    save_figure(figure, out, dpi=args.dpi)


def _plot_training(args: argparse.Namespace) -> None:
    out = _figure_path(args.output)
    # Every column of metrics.csv is a metric; no contract dtypes (a NaN-sparse column must stay float).
    metrics = read_table(args.table, dtypes={})
    for column, value in _parse_where(args.where).items():
        if column not in metrics.columns:
            raise TableError(f"--where names the column {column!r}, which {args.table!r} lacks.")
        metrics = metrics[metrics[column].astype("object").map(str) == value]
    figure = plot_training(metrics, panels=args.panels, steps=not args.no_steps, title=args.title)
    save_figure(figure, out, dpi=args.dpi)


def _spectrum_rows(args: argparse.Namespace) -> tuple[pd.DataFrame, list[str]]:
    """The rows of a spectrum table (filtered by ``--where``) and its category columns (a model, a seed, ...)."""
    known = (*SPECTRUM_COLUMNS, *SPECTRUM_OPTIONAL)
    categories = [c for c in table_columns(Path(args.table)) if c not in known]
    rows = _rows(args, [*SPECTRUM_COLUMNS, *categories], optional=SPECTRUM_OPTIONAL)
    return rows.frame(), categories


def _plot_stability(args: argparse.Namespace) -> None:
    out = _figure_path(args.output)
    table, _ = _spectrum_rows(args)
    figure = plot_spectrum(
        table, color=args.color, areas=args.areas, view=args.view, tolerance=args.tolerance,
        min_angle=args.min_angle, title=args.title,
    )
    save_figure(figure, out, dpi=args.dpi)


def _stability_summary(args: argparse.Namespace) -> None:
    out = _table_path(args.output)
    table, categories = _spectrum_rows(args)
    classified = classify_spectrum(table, args.tolerance, min_angle=args.min_angle)
    by = [*categories, "area"] if args.by is None else list(args.by)
    write_table(classified if args.per_image else stability_summary(classified, by), out)


def _study_source(text: str) -> tuple[str, str, str, str]:
    """``VARIANT:SEED:PHENOMENON=PATH`` -> (variant, seed, phenomenon, path); the path may hold ':' and '='."""
    spec, separator, path = text.partition("=")
    parts = spec.split(":")
    if not separator or not path or len(parts) != 3 or not all(parts):
        raise argparse.ArgumentTypeError(
            f"expected VARIANT:SEED:PHENOMENON=PATH (e.g. full-strong:1:repetition=test_responses.csv), got {text!r}"
        )
    variant, seed, phenomenon = parts
    return variant, seed, phenomenon, path


def _study_table(args: argparse.Namespace) -> None:
    out, effects_out = _table_path(args.output), _table_path(args.effects)
    if out.resolve() == effects_out.resolve():
        raise ValueError(f"-o and --effects name the same file {args.output!r}; give the two tables different names.")
    _remove_stale_temporaries(effects_out, args.command)
    table, effects = study_table(args.table, n_boot=args.n_boot, level=args.level, seed=args.seed)
    write_table(table, out)
    write_table(effects, effects_out)


def _area_figure(out: Path, area: str) -> Path:
    """The figure of one area for ``--area all``: the area's name before the suffix (study.png -> study_V1.png)."""
    return out.with_name(f"{out.stem}_{area}{out.suffix}")


def _plot_study(args: argparse.Namespace) -> None:
    out = _figure_path(args.output)
    table = read_table(args.table, list(STUDY_FIGURE_COLUMNS), optional=["ci"])
    areas = order_areas(table["area"])
    if args.area == "all":
        targets = {area: _area_figure(out, area) for area in areas}
    else:
        # Default: the last area of the hierarchy, where the preprint reports the phenomena.
        targets = {args.area or areas[-1]: out}
    reference = None
    if args.reference != "none":
        from .reference import human_reference  # imported here: only this command needs the packaged data

        reference = human_reference(args.reference)
    for area, path in targets.items():
        if path != out:
            _remove_stale_temporaries(path, args.command)
        save_figure(plot_study(table, area=area, reference=reference), path, dpi=args.dpi)


def _plot_study_effects(args: argparse.Namespace) -> None:
    out = _figure_path(args.output)
    save_figure(plot_study_effects(read_table(args.effects)), out, dpi=args.dpi)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _confidence(text: str) -> float:
    """argparse type: a confidence threshold in (0, 1] (the softmax probability of the guess)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(
            f"expected a confidence in (0, 1] (the softmax probability of the guess at which the model answers), "
            f"got {text!r}"
        )
    return value


def _common_arguments(parser: argparse.ArgumentParser, output_help: str, table: bool = True) -> None:
    if table:
        parser.add_argument("table", help="tidy table: .csv (optionally compressed), .parquet or .pq")
    parser.add_argument("-o", "--output", required=True, help=output_help)
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="COLUMN=VALUE",
        help="keep only rows where COLUMN equals VALUE (repeatable; compared as text)",
    )
    parser.add_argument(
        "--chunksize",
        type=_positive_int,
        default=1_000_000,
        metavar="ROWS",
        help="rows read at a time; bounds memory (default: %(default)s)",
    )


#: Help of a figure command's output.
FIGURE_OUTPUT = "figure file; format from the suffix: .png, .svg or .pdf"


def _bootstrap_arguments(parser: argparse.ArgumentParser, *, n_boot: int) -> None:
    """``--level``, ``--n-boot`` and ``--seed`` of a percentile bootstrap (``n_boot``: the command's default)."""
    parser.add_argument("--level", type=float, default=0.95, help="bootstrap CI coverage (default 0.95)")
    parser.add_argument(
        "--n-boot", type=_positive_int, default=n_boot, help=f"bootstrap resamples (default {n_boot})"
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap random seed (default 0)")


def _dpi_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dpi", type=_positive_int, default=300, help="resolution of PNG output (default: 300)"
    )


def _stability_arguments(parser: argparse.ArgumentParser) -> None:
    """``--tolerance`` and ``--min-angle`` of the regime rule (:mod:`dynvision_analysis.measures.stability`)."""
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help=f"distance from the unit circle that still counts as on it (default: {DEFAULT_TOLERANCE})",
    )
    parser.add_argument(
        "--min-angle",
        type=float,
        default=DEFAULT_MIN_ANGLE,
        metavar="RAD",
        help=f"least rotation per step of an oscillatory leading mode, in rad (default: {DEFAULT_MIN_ANGLE})",
    )


def _plot_arguments(parser: argparse.ArgumentParser, table: bool = True) -> None:
    _common_arguments(parser, FIGURE_OUTPUT, table=table)
    parser.add_argument("--title", default=None, help="figure title")
    _dpi_argument(parser)


def _dynamics_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--condition",
        default=None,
        help="column identifying the condition (default: contrast for contrast, interval for peak-ratio, "
        "paradigm_stimulus for summation; none for peaks and latency)",
    )
    parser.add_argument(
        "--fraction",
        type=float,
        default=0.5,
        help="latency threshold as a fraction of the peak (default 0.5)",
    )
    parser.add_argument(
        "--baseline",
        type=_baseline,
        default="pre",
        help="'pre' (mean before onset, default), 'none' (0) or a number, subtracted from the response",
    )
    parser.add_argument(
        "--window-ms",
        type=float,
        nargs="+",
        default=None,
        metavar="MS",
        help="peaks: START END (ms) of the window; summation: window length from onset (ms)",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``dynvision-analysis`` command."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Measures and figures from DynVision result tables."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    measure = commands.add_parser("measure", help="compute a measure and write it as a table")
    measure.add_argument(
        "measure",
        choices=[*CHUNKED_MEASURES, *CURVE_MEASURES],
        help="over time: responses, accuracy, topk (needs label_rank); pooled: class-accuracy, confusion; "
        "one row per curve: peaks, latency, contrast, peak-ratio, summation",
    )
    _common_arguments(measure, "output table; format from the suffix: .csv or .parquet")
    measure.add_argument(
        "--by",
        nargs="*",
        default=None,
        metavar="COLUMN",
        help="grouping (curve) columns (default: area for responses; area sample for the curve measures; "
        "none otherwise)",
    )
    measure.add_argument("--value", default="response", help="column to measure (default: response)")
    measure.add_argument(
        "--k", type=_positive_int, nargs="+", default=[1, 5], help="topk: values of k (default: 1 5)"
    )
    _dynamics_arguments(measure)
    measure.set_defaults(handler=_measure)

    summary = commands.add_parser(
        "summarize", help="mean with SEM or bootstrap CI per group, across samples, seeds or categories"
    )
    _common_arguments(summary, "output table; format from the suffix: .csv or .parquet")
    summary.add_argument("--values", nargs="+", required=True, metavar="COLUMN", help="columns to average")
    summary.add_argument("--by", nargs="*", default=[], metavar="COLUMN", help="grouping columns")
    summary.add_argument("--ci", choices=["sem", "bootstrap"], default="sem", help="error (default: sem)")
    _bootstrap_arguments(summary, n_boot=2000)
    summary.set_defaults(handler=_summarize)

    responses = commands.add_parser(
        "plot-responses", help="responses over time per area, from a responses table"
    )
    _plot_arguments(responses)
    responses.add_argument("--no-stimulus", action="store_true", help="do not shade the stimulus period")
    responses.add_argument("--value", default="response", help="column to average (default: response)")
    responses.add_argument("--layout", choices=list(LAYOUTS), default="overlay", help="default: overlay")
    responses.add_argument(
        "--hue", default="area", help="column drawn as lines; 'none' for one (default: area)"
    )
    responses.add_argument(
        "--row", default="area", help="row column of small_multiples/ridge (default: area)"
    )
    responses.set_defaults(handler=_plot_responses)

    accuracy = commands.add_parser("plot-accuracy", help="accuracy over time, from an outputs table")
    _plot_arguments(accuracy)
    accuracy.add_argument("--no-stimulus", action="store_true", help="do not shade the stimulus period")
    accuracy.add_argument(
        "--n-classes", type=int, default=None, help="number of classes; draws chance at 1/N"
    )
    accuracy.add_argument("--confidence", action="store_true", help="also draw the mean confidence")
    accuracy.add_argument(
        "--hue",
        default="auto",
        help="condition column drawn as one line per value; 'auto' (default): every paradigm parameter "
        "column that takes several values (one line per condition of a sweep); 'none': pool all rows",
    )
    accuracy.add_argument(
        "--top-k",
        type=_positive_int,
        nargs="+",
        default=None,
        metavar="K",
        help="draw top-k accuracy for these k instead (needs the label_rank column)",
    )
    accuracy.set_defaults(handler=_plot_accuracy)

    reaction = commands.add_parser(
        "reaction-times",
        help="reaction times at a confidence threshold, per trial, per reaction-time bin or over thresholds, "
        "from an outputs table",
    )
    _common_arguments(reaction, "output table; format from the suffix: .csv or .parquet")
    chosen = reaction.add_mutually_exclusive_group(required=True)
    chosen.add_argument(
        "--threshold",
        type=_confidence,
        default=None,
        metavar="P",
        help="confidence (softmax probability of the guess) in (0, 1] at which the model answers: one row per "
        "trial (reaction time in ms from onset, decision, correct; NaN where it never answers)",
    )
    chosen.add_argument(
        "--thresholds",
        type=_confidence,
        nargs="+",
        default=None,
        metavar="P",
        help="several thresholds: one row per threshold (speed-accuracy trade-off: mean and median reaction "
        "time, accuracy of the decisions, fraction decided)",
    )
    reaction.add_argument(
        "--bins",
        type=_positive_int,
        default=None,
        metavar="N",
        help="with --threshold: accuracy in N quantile bins of reaction time instead of one row per trial",
    )
    reaction.add_argument(
        "--by",
        nargs="*",
        default=None,
        metavar="COLUMN",
        help="grouping columns of --bins and --thresholds (default: none, pool every trial); trials are always "
        "told apart by sample and every column that the outputs contract does not define",
    )
    reaction.set_defaults(handler=_reaction_times)

    reaction_plot = commands.add_parser(
        "plot-reaction-times",
        help="speed-accuracy trade-off over thresholds and accuracy per reaction-time bin, from an outputs table",
    )
    _plot_arguments(reaction_plot)
    reaction_plot.add_argument(
        "--thresholds",
        type=_confidence,
        nargs="+",
        default=list(DEFAULT_THRESHOLDS),
        metavar="P",
        help=f"confidence thresholds of the trade-off (default: {' '.join(map(str, DEFAULT_THRESHOLDS))})",
    )
    reaction_plot.add_argument(
        "--threshold",
        type=_confidence,
        default=0.8,
        metavar="P",
        help="threshold of the reaction-time bins panel (default: 0.8)",
    )
    reaction_plot.add_argument(
        "--bins",
        type=_non_negative_int,
        default=4,
        metavar="N",
        help="quantile bins of reaction time in the second panel; 0 draws the trade-off alone (default: 4)",
    )
    reaction_plot.add_argument(
        "--hue",
        default="auto",
        help="condition or model column drawn as one line per value; 'auto' (default): every paradigm or model "
        "column that takes several values; 'none': pool all trials",
    )
    reaction_plot.add_argument("--n-classes", type=int, default=None, help="number of classes; draws chance at 1/N")
    reaction_plot.set_defaults(handler=_plot_reaction_times)

    dynamics = commands.add_parser(
        "plot-dynamics",
        help="panels: duration -> temporal summation, contrast -> latency, interval -> recovery",
    )
    _plot_arguments(dynamics, table=False)
    for name, condition in (
        ("duration", "paradigm_stimulus"),
        ("contrast", "contrast"),
        ("interval", "interval"),
    ):
        dynamics.add_argument(
            f"--{name}",
            default=None,
            metavar="TABLE",
            help=f"{name} experiment: a responses table, or a summary table from `summarize`",
        )
        dynamics.add_argument(
            f"--{name}-condition",
            default=condition,
            metavar="COLUMN",
            help=f"condition column of the {name} table (default: {condition})",
        )
    dynamics.add_argument(
        "--baseline", type=_baseline, default="pre", help="'pre' (default), 'none' or a number"
    )
    dynamics.set_defaults(handler=_plot_dynamics)

    performance = commands.add_parser(
        "plot-performance",
        help="peak accuracy against a swept parameter per model type, from an outputs or summary table",
    )
    _plot_arguments(performance)
    performance.add_argument("--x", required=True, help="column of the swept parameter, e.g. ssnr")
    performance.add_argument("--hue", default="none", help="column of the model type, e.g. rctype")
    performance.add_argument("--reference", default=None, help="hue level drawn dashed, e.g. none")
    performance.add_argument("--n-classes", type=int, default=None, help="draws chance at 1/N")
    performance.add_argument("--ylabel", default="peak accuracy", help="vertical axis label")
    performance.add_argument("--measure", default=None, help="measure of a summary table to draw")
    performance.set_defaults(handler=_plot_performance)

    confusion = commands.add_parser("plot-confusion", help="confusion matrix from an outputs table")
    _plot_arguments(confusion)
    confusion.add_argument("--class-names", default=None, help="comma-separated class names by index")
    confusion.set_defaults(handler=_plot_confusion)

    weights = commands.add_parser("plot-weights", help="weight distributions by connection type")
    _plot_arguments(weights)
    weights.add_argument("--hue", default="connection", help="column drawn as outlines (default: connection)")
    weights.add_argument("--panel", default="area", help="column with one panel per level; 'none' for one")
    weights.add_argument("--bins", type=_positive_int, default=60, help="histogram bins (default 60)")
    weights.add_argument("--log", action="store_true", help="logarithmic density axis")
    weights.set_defaults(handler=_plot_weights)

    training = commands.add_parser("plot-training", help="training curves from Lightning's metrics.csv")
    _plot_arguments(training)
    training.add_argument("--panels", nargs="+", default=None, help="metric families, e.g. loss acc")
    training.add_argument("--no-steps", action="store_true", help="leave out the per-step values")
    training.set_defaults(handler=_plot_training)

    spectrum_plot = commands.add_parser(
        "plot-stability",
        help="eigenvalues of the linearised recurrent step in the complex plane, one panel per area, from a "
        "spectrum table (dynvision_models.engine.recurrent_spectrum)",
    )
    _plot_arguments(spectrum_plot)
    spectrum_plot.add_argument(
        "--color", choices=["image", "rank"], default="image", help="colour points by image or rank (default: image)"
    )
    spectrum_plot.add_argument(
        "--areas", nargs="+", default=None, metavar="AREA", help="panels to draw (default: every area, network last)"
    )
    spectrum_plot.add_argument(
        "--view", choices=SPECTRUM_VIEWS, default="circle",
        help="circle: the whole unit circle (default); data: zoom onto the eigenvalues",
    )
    _stability_arguments(spectrum_plot)
    spectrum_plot.set_defaults(handler=_plot_stability)

    spectrum_summary = commands.add_parser(
        "stability-summary",
        help="regime and spectral radius per area over images (or per image with --per-image), from a spectrum table",
    )
    _common_arguments(spectrum_summary, "output table; format from the suffix: .csv or .parquet")
    spectrum_summary.add_argument(
        "--by",
        nargs="*",
        default=None,
        metavar="COLUMN",
        help="grouping columns (default: the table's category columns, then area)",
    )
    spectrum_summary.add_argument(
        "--per-image", action="store_true", help="one row per image and area (the classified spectra), no summary"
    )
    _stability_arguments(spectrum_summary)
    spectrum_summary.set_defaults(handler=_stability_summary)

    study = commands.add_parser(
        "study-table",
        help="the temporal-dynamics study: measures and effects per variant, area and phenomenon, with bootstrap CIs",
    )
    study.add_argument(
        "--table",
        type=_study_source,
        action="append",
        required=True,
        metavar="VARIANT:SEED:PHENOMENON=TABLE",
        help="a responses table of one variant, seed and phenomenon (repetition, duration or contrast); repeat for "
        "every table of the study",
    )
    study.add_argument("-o", "--output", required=True, help="study table (.csv or .parquet)")
    study.add_argument("--effects", required=True, help="effects table (.csv or .parquet)")
    _bootstrap_arguments(study, n_boot=1000)
    study.set_defaults(handler=_study_table)

    study_plot = commands.add_parser(
        "plot-study", help="the study figure (variants beside human data) and the effects figure, from study-table"
    )
    study_plot.add_argument("table", help="study table written by study-table")
    study_plot.add_argument("-o", "--output", required=True, help=FIGURE_OUTPUT)
    study_plot.add_argument(
        "--area",
        default=None,
        help="model area to draw (default: the last in hierarchy order); 'all': one figure per area, named "
        "OUTPUT_AREA (study.png -> study_V1.png, ...)",
    )
    study_plot.add_argument(
        "--reference", default="groen2022", help="human reference drawn beside the models, or 'none' (default groen2022)"
    )
    _dpi_argument(study_plot)
    study_plot.set_defaults(handler=_plot_study)

    effects_plot = commands.add_parser(
        "plot-study-effects", help="the study's effect sizes with their CIs per variant and area, from study-table"
    )
    effects_plot.add_argument("effects", help="effects table written by study-table (--effects)")
    effects_plot.add_argument("-o", "--output", required=True, help=FIGURE_OUTPUT)
    _dpi_argument(effects_plot)
    effects_plot.set_defaults(handler=_plot_study_effects)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return 0 on success and 2 for bad input or an output the file system refused (with
    one line on stderr, ``dynvision-analysis COMMAND: error: MESSAGE``; the traceback too with
    ``DYNVISION_VERBOSE=1``)."""
    # No display is needed or wanted in a batch job; set before any figure is drawn.
    matplotlib.use("Agg")
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], None] = args.handler
    try:
        _remove_stale_temporaries(Path(args.output), args.command)
        handler(args)
    except USER_ERRORS as exc:  # TableError is a ValueError; anything else is a bug, with its traceback
        if os.environ.get(VERBOSE_ENV, "") not in ("", "0"):
            traceback.print_exc()
        message = " ".join(str(exc).split())
        print(f"{PROG} {args.command}: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def _remove_stale_temporaries(output: Path, command: str) -> None:
    """Remove the temporaries that a killed earlier run left beside ``output`` (the command owns it), saying so."""
    try:
        removed = remove_stale_temporaries(output)
    except OSError as error:
        failure = output_error(output, error)
        if failure is None:
            raise
        raise failure from error
    for path in removed:
        print(f"{PROG} {command}: note: removed {path}, left by an interrupted earlier run", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
