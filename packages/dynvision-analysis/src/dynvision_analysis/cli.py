"""Command line: ``dynvision-analysis`` computes measures and draws figures from a tidy table.

    dynvision-analysis measure responses TABLE -o OUT.csv [--by area ...]
    dynvision-analysis measure accuracy TABLE -o OUT.csv [--by seed ...]
    dynvision-analysis plot-responses TABLE -o FIG.png|svg|pdf
    dynvision-analysis plot-accuracy TABLE -o FIG.png|svg|pdf [--n-classes 10]

Tables are read in chunks with only the needed columns, so memory stays bounded for any number of rows.
Bad input (missing file or columns, empty table, unknown format) exits with status 2 and one line on stderr.
The glue is thin on purpose: every command calls a typed function of the package.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import matplotlib
import pandas as pd

from .__about__ import __version__
from .io import FIGURE_FORMATS, iter_table, save_figure, table_format, write_table
from .measures import accuracy_over_time, response_over_time
from .plots import plot_accuracy, plot_responses
from .stimulus import stimulus_intervals
from .tables import TableError

__all__ = ["main"]

PROG = "dynvision-analysis"
#: Exit status for bad input, the same that argparse uses for bad arguments.
EXIT_BAD_INPUT = 2


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
        self, path: Path, columns: list[str], where: dict[str, str], chunksize: int, track_stimulus: bool
    ):
        self.path, self.columns, self.where = path, columns, where
        self.chunksize, self.track_stimulus = chunksize, track_stimulus
        self.rows = 0
        self._stimulus: list[pd.DataFrame] = []

    def __iter__(self) -> Iterator[pd.DataFrame]:
        needed = list(dict.fromkeys([*self.columns, *self.where]))
        for chunk in iter_table(self.path, needed, chunksize=self.chunksize):
            for column, value in self.where.items():
                chunk = chunk[chunk[column].astype("object").map(str) == value]
            if chunk.empty:
                continue
            self.rows += len(chunk)
            if self.track_stimulus:
                on = chunk.groupby("time_ms")["stimulus"].agg(["min", "max"])
                self._stimulus.append(
                    pd.DataFrame({"time_ms": [*on.index, *on.index], "stimulus": [*on["min"], *on["max"]]})
                )
            yield chunk
        if self.rows == 0:
            raise TableError(
                f"No rows of {str(self.path)!r} match --where {self.where}; check the column values."
                if self.where
                else f"Table {str(self.path)!r} has no rows; expected at least one."
            )

    def stimulus_intervals(self) -> list[tuple[float, float]]:
        return stimulus_intervals(pd.concat(self._stimulus, ignore_index=True))


def _figure_path(path: str) -> Path:
    suffix = Path(path).suffix.lower()
    if suffix not in FIGURE_FORMATS:
        raise ValueError(
            f"Unknown figure format {suffix or '(no suffix)'!r} of -o {path!r}; allowed: {sorted(FIGURE_FORMATS)}."
        )
    return Path(path)


def _measure(args: argparse.Namespace) -> None:
    out = Path(args.output)
    table_format(out)  # fail on a bad output name before reading anything
    by = list(args.by) if args.by is not None else (["area"] if args.measure == "responses" else [])
    where = _parse_where(args.where)
    if args.measure == "responses":
        rows = _Rows(Path(args.table), [*by, "step", "time_ms", args.value], where, args.chunksize, False)
        result = response_over_time(rows, by=by, value=args.value)
    else:
        rows = _Rows(
            Path(args.table), [*by, "step", "time_ms", "correct", "confidence"], where, args.chunksize, False
        )
        result = accuracy_over_time(rows, by=by)
    write_table(result, out)


def _plot_responses(args: argparse.Namespace) -> None:
    out = _figure_path(args.output)
    columns = ["area", "step", "time_ms", args.value, *([] if args.no_stimulus else ["stimulus"])]
    rows = _Rows(Path(args.table), columns, _parse_where(args.where), args.chunksize, not args.no_stimulus)
    measure = response_over_time(rows, by=("area",), value=args.value)
    intervals = None if args.no_stimulus else rows.stimulus_intervals()
    ylabel = "response (a.u.)" if args.value == "response" else f"{args.value} (a.u.)"
    figure = plot_responses(measure, stimulus_intervals=intervals, ylabel=ylabel, title=args.title)
    save_figure(figure, out, dpi=args.dpi)


def _plot_accuracy(args: argparse.Namespace) -> None:
    out = _figure_path(args.output)
    columns = ["step", "time_ms", "correct", "confidence", *([] if args.no_stimulus else ["stimulus"])]
    rows = _Rows(Path(args.table), columns, _parse_where(args.where), args.chunksize, not args.no_stimulus)
    measure = accuracy_over_time(rows)
    intervals = None if args.no_stimulus else rows.stimulus_intervals()
    figure = plot_accuracy(
        measure,
        n_classes=args.n_classes,
        stimulus_intervals=intervals,
        confidence=args.confidence,
        title=args.title,
    )
    save_figure(figure, out, dpi=args.dpi)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _common_arguments(parser: argparse.ArgumentParser, output_help: str) -> None:
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


def _plot_arguments(parser: argparse.ArgumentParser) -> None:
    _common_arguments(parser, "figure file; format from the suffix: .png, .svg or .pdf")
    parser.add_argument("--title", default=None, help="figure title")
    parser.add_argument(
        "--dpi", type=_positive_int, default=300, help="resolution of PNG output (default: 300)"
    )
    parser.add_argument("--no-stimulus", action="store_true", help="do not shade the stimulus period")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``dynvision-analysis`` command."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Measures and figures from DynVision result tables."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    measure = commands.add_parser("measure", help="compute a measure over time and write it as a table")
    measure.add_argument("measure", choices=["responses", "accuracy"], help="which measure")
    _common_arguments(measure, "output table; format from the suffix: .csv or .parquet")
    measure.add_argument(
        "--by",
        nargs="*",
        default=None,
        metavar="COLUMN",
        help="grouping columns (default: area for responses, none for accuracy)",
    )
    measure.add_argument(
        "--value", default="response", help="responses column to average (default: response)"
    )
    measure.set_defaults(handler=_measure)

    responses = commands.add_parser(
        "plot-responses", help="responses over time per area, from a responses table"
    )
    _plot_arguments(responses)
    responses.add_argument("--value", default="response", help="column to average (default: response)")
    responses.set_defaults(handler=_plot_responses)

    accuracy = commands.add_parser("plot-accuracy", help="accuracy over time, from an outputs table")
    _plot_arguments(accuracy)
    accuracy.add_argument(
        "--n-classes", type=int, default=None, help="number of classes; draws chance at 1/N"
    )
    accuracy.add_argument("--confidence", action="store_true", help="also draw the mean confidence")
    accuracy.set_defaults(handler=_plot_accuracy)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return 0 on success and 2 for bad input (with one line on stderr)."""
    # No display is needed or wanted in a batch job; set before any figure is drawn.
    matplotlib.use("Agg")
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], None] = args.handler
    try:
        handler(args)
    except (FileNotFoundError, ValueError, ImportError) as exc:  # TableError is a ValueError
        message = " ".join(str(exc).split())
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
