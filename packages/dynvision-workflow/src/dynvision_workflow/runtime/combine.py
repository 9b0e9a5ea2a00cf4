"""Combine step: stack tidy tables of several experiments into one, with a column naming each table's label.

    python -m dynvision_workflow.runtime.combine --column connections --table all=A.csv --table feedforward=B.csv \
        --output performance.csv

Used to compare an experiment with its feedforward-only variant (``model_overrides: {ffonly: true}``) in one
``dynvision-analysis plot-performance`` figure. Tables are read and written in chunks (memory stays bounded); the
columns are the union of the tables' columns, in the order they first appear. The output is written atomically.
A missing, empty, cut-short or otherwise damaged table, and an output the file system refuses, end in one line
naming the file and what to do (exit status 2; the traceback too with ``DYNVISION_VERBOSE=1``).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path

from .provenance import OutputError, atomic_path

__all__ = ["combine_tables", "main"]


def _labelled(text: str) -> tuple[str, Path]:
    label, separator, path = text.partition("=")
    if not separator or not label or not path:
        raise argparse.ArgumentTypeError(f"expected LABEL=TABLE, got {text!r}")
    return label, Path(path)


def combine_tables(
    tables: Sequence[tuple[str, Path]], output: str | Path, *, column: str, chunksize: int = 500_000
) -> int:
    """Write ``tables`` (label, path) stacked into ``output`` with ``column`` holding each row's label."""
    import pandas as pd

    from dynvision_analysis.io import csv_problem

    from .tables import TableError, rerun_remedy

    if not tables:
        raise ValueError("no tables to combine.")
    columns: list[str] = []
    for _, path in tables:
        if not path.is_file():
            raise FileNotFoundError(f"table {str(path)!r} does not exist; write it first: dynvision run")
        problem = csv_problem(path, final_newline=True)
        if problem is not None:
            raise TableError(f"table {str(path)!r} {problem}; {rerun_remedy(path)}")
        for name in pd.read_csv(path, nrows=0).columns:
            if name not in columns:
                columns.append(name)
    if column in columns:
        raise ValueError(f"the tables already have a column {column!r}; choose another --column.")
    columns.append(column)
    rows = 0
    with atomic_path(output) as temporary:
        header = True
        for label, path in tables:
            for chunk in _chunks(path, chunksize):
                chunk[column] = label
                chunk.reindex(columns=columns).to_csv(temporary, mode="a", header=header, index=False)
                header = False
                rows += len(chunk)
        if header:  # every table was empty: still write the header
            pd.DataFrame(columns=columns).to_csv(temporary, index=False)
    return rows


def _chunks(path: Path, chunksize: int) -> Iterator:
    """The rows of table ``path`` in chunks; a row the parser cannot read raises a :class:`TableError` naming it."""
    import pandas as pd

    from .tables import TableError, rerun_remedy

    reader = pd.read_csv(path, chunksize=chunksize)
    with reader:
        while True:
            try:
                chunk = next(reader, None)
            except (pd.errors.ParserError, UnicodeDecodeError) as error:
                detail = " ".join(str(error).split())
                raise TableError(f"table {str(path)!r} cannot be read ({detail}); {rerun_remedy(path)}") from None
            if chunk is None:
                return
            yield chunk


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dynvision_workflow.runtime.combine", description=__doc__)
    parser.add_argument("--table", type=_labelled, action="append", required=True, metavar="LABEL=TABLE")
    parser.add_argument("--column", required=True, help="column that receives each table's label")
    parser.add_argument("--output", "-o", type=Path, required=True, help="combined table (.csv)")
    args = parser.parse_args(argv)
    try:
        rows = combine_tables(args.table, args.output, column=args.column)
    except (FileNotFoundError, ValueError, OutputError) as error:  # bad input or a refused write; else a bug
        from ..cli import VERBOSE_ENV

        if os.environ.get(VERBOSE_ENV, "") not in ("", "0"):
            traceback.print_exc()
        print(f"dynvision combine: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {rows} rows to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
