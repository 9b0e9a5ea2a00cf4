"""Reading tidy tables and writing tables and figures.

Reading is frugal on purpose: upstream ran out of memory plotting a 7.5M-row CSV because it loaded every
column at full precision. Here a caller names the columns it needs, they are parsed straight into the compact
dtypes of :data:`dynvision_analysis.tables.COLUMN_DTYPES`, and :func:`iter_table` streams a CSV in chunks
for the measures, which combine per-chunk statistics exactly.

Writing is atomic: the file is written under a temporary name in the target folder and renamed into place,
so a crashed or killed job never leaves a half-written figure that a workflow would take as done.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import matplotlib as mpl
import pandas as pd
from matplotlib.figure import Figure

from .tables import COLUMN_DTYPES, TableError

__all__ = [
    "FIGURE_FORMATS",
    "TABLE_FORMATS",
    "iter_table",
    "read_table",
    "save_figure",
    "table_columns",
    "table_format",
    "write_table",
]

#: Table formats by file suffix; ``.csv.gz`` and other compressed CSVs are recognised by their inner suffix.
TABLE_FORMATS: Mapping[str, str] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
#: Figure formats by file suffix.
FIGURE_FORMATS: Mapping[str, str] = {".png": "png", ".svg": "svg", ".pdf": "pdf"}

_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zip")
# Strings with fewer distinct values than this fraction of the rows become categoricals: area names,
# model names and paradigm labels repeat millions of times and cost one small integer each as categories.
_CATEGORY_MAX_FRACTION = 0.5


def table_format(path: str | os.PathLike[str]) -> str:
    """Return ``"csv"`` or ``"parquet"`` from the suffix of ``path``; raise :class:`TableError` otherwise."""
    suffixes = [suffix.lower() for suffix in Path(path).suffixes]
    if suffixes and suffixes[-1] in _COMPRESSION_SUFFIXES:
        suffixes = suffixes[:-1]
    suffix = suffixes[-1] if suffixes else ""
    if suffix not in TABLE_FORMATS:
        raise TableError(
            f"Unknown table format {suffix or '(no suffix)'!r} of {os.fspath(path)!r}; "
            f"allowed suffixes are {sorted(TABLE_FORMATS)} (CSV may be compressed, e.g. .csv.gz). "
            "Rename the file or convert it."
        )
    return TABLE_FORMATS[suffix]


def _require_parquet_engine(path: str | os.PathLike[str], action: str) -> None:
    # pandas' own message lists engines but not how to get one; say what to install instead.
    if importlib.util.find_spec("pyarrow") is None and importlib.util.find_spec("fastparquet") is None:
        raise ImportError(
            f"{action} the Parquet file {os.fspath(path)!r} needs pyarrow, which is not installed; "
            "install it with `pip install pyarrow` (or `pip install 'dynvision-analysis[parquet]'`), "
            "or use a .csv file instead."
        )


def _check_exists(path: Path) -> None:
    if not path.is_file():
        where = "it is a directory" if path.is_dir() else "no such file"
        raise FileNotFoundError(f"Table {os.fspath(path)!r} cannot be read: {where}. Check the path.")


def _select_columns(
    path: Path, present: list[str], columns: Iterable[str] | None, optional: Iterable[str]
) -> list[str]:
    if columns is None:
        return present
    wanted = list(dict.fromkeys(columns))
    missing = [name for name in wanted if name not in present]
    if missing:
        raise TableError(
            f"Table {os.fspath(path)!r} lacks the required column(s) {missing}; it has {present}. "
            "Check that the file follows the table contract (see the README) or rename the columns."
        )
    return wanted + [name for name in dict.fromkeys(optional) if name in present and name not in wanted]


def _compact(table: pd.DataFrame, dtypes: Mapping[str, str]) -> pd.DataFrame:
    """Apply contract dtypes and downcast extra columns (integers to the smallest width, strings to categories)."""
    converted: dict[str, pd.Series] = {}
    for name in table.columns:
        series = table[name]
        if name in dtypes:
            if str(series.dtype) != dtypes[name]:
                converted[name] = series.astype(dtypes[name])
        elif pd.api.types.is_integer_dtype(series.dtype):
            converted[name] = pd.to_numeric(series, downcast="integer")
        elif (pd.api.types.is_object_dtype(series.dtype) or pd.api.types.is_string_dtype(series.dtype)) and (
            series.nunique(dropna=True) <= max(1, int(len(series) * _CATEGORY_MAX_FRACTION))
        ):
            converted[name] = series.astype("category")
    return table.assign(**converted) if converted else table


def _csv_header(path: Path) -> list[str]:
    try:
        return [str(name) for name in pd.read_csv(path, nrows=0).columns]
    except pd.errors.EmptyDataError as exc:
        raise TableError(
            f"Table {os.fspath(path)!r} is empty (no header line); expected a CSV with a header."
        ) from exc


def table_columns(path: str | os.PathLike[str]) -> list[str]:
    """The column names of a CSV or Parquet table, read from its header or schema (no rows are read)."""
    path = Path(path)
    fmt = table_format(path)
    _check_exists(path)
    if fmt == "parquet":
        _require_parquet_engine(path, "Reading")
        import pyarrow.parquet as pq  # optional dependency, checked above

        return [str(name) for name in pq.read_schema(path).names]
    return _csv_header(path)


def _read_csv(path: Path, selected: list[str], dtypes: Mapping[str, str], **kwargs: object) -> object:
    parse_dtypes = {name: dtypes[name] for name in selected if name in dtypes}
    try:
        return pd.read_csv(path, usecols=selected, dtype=parse_dtypes, **kwargs)  # type: ignore[call-overload]
    except (ValueError, TypeError) as exc:
        raise TableError(
            f"Could not parse {os.fspath(path)!r} with the expected column dtypes {parse_dtypes}: {exc}. "
            "Check for missing values or text in numeric columns."
        ) from exc


def read_table(
    path: str | os.PathLike[str],
    columns: Iterable[str] | None = None,
    *,
    optional: Iterable[str] = (),
    dtypes: Mapping[str, str] = COLUMN_DTYPES,
    downcast: bool = True,
) -> pd.DataFrame:
    """Read a CSV or Parquet table (format from the suffix), keeping only the columns asked for.

    Parameters
    ----------
    path:
        ``.csv`` (optionally compressed, e.g. ``.csv.gz``), ``.parquet`` or ``.pq`` file.
    columns:
        Columns that must be present and are read; ``None`` reads every column. Reading only what a measure
        needs is what keeps a 10M-row table in memory: each unused float column costs 80 MB there.
    optional:
        Columns read when present and silently left out when absent (e.g. extra category columns).
    dtypes:
        Dtype per column name, applied while parsing; defaults to the contract dtypes.
    downcast:
        Downcast columns not in ``dtypes``: integers to the smallest width, repeated strings to categories.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    TableError
        Unknown suffix, empty file, missing columns, or values that do not fit the expected dtypes.
    ImportError
        A Parquet file and no Parquet engine (pyarrow) installed.
    """
    path = Path(path)
    fmt = table_format(path)
    _check_exists(path)
    if fmt == "parquet":
        _require_parquet_engine(path, "Reading")
        import pyarrow.parquet as pq  # optional dependency, checked above

        present = [str(name) for name in pq.read_schema(path).names]
        selected = _select_columns(path, present, columns, optional)
        table = pd.read_parquet(path, columns=selected)
    else:
        selected = _select_columns(path, _csv_header(path), columns, optional)
        # usecols keeps the file's column order; return the order asked for.
        table = _read_csv(path, selected, dtypes)[selected]
    return _compact(table, dtypes) if downcast else table


def iter_table(
    path: str | os.PathLike[str],
    columns: Iterable[str] | None = None,
    *,
    chunksize: int = 1_000_000,
    optional: Iterable[str] = (),
    dtypes: Mapping[str, str] = COLUMN_DTYPES,
) -> Iterator[pd.DataFrame]:
    """Yield a table in chunks of at most ``chunksize`` rows, with the column selection of :func:`read_table`.

    A CSV is streamed, and so is a Parquet file (in row batches, reading only the selected columns, with
    pyarrow), so peak memory is bounded by one chunk plus the measure's per-group statistics.
    """
    if chunksize < 1:
        raise ValueError(f"chunksize must be a positive number of rows, got {chunksize}.")
    path = Path(path)
    if table_format(path) == "parquet":
        _check_exists(path)
        _require_parquet_engine(path, "Reading")
        if importlib.util.find_spec("pyarrow") is None:  # fastparquet only: one column-pruned chunk
            yield read_table(path, columns, optional=optional, dtypes=dtypes)
            return
        import pyarrow.parquet as pq  # optional dependency, checked above

        parquet = pq.ParquetFile(path)
        selected = _select_columns(
            path, [str(name) for name in parquet.schema_arrow.names], columns, optional
        )
        for batch in parquet.iter_batches(batch_size=chunksize, columns=selected):
            yield _compact(batch.to_pandas()[selected], dtypes)
        return
    _check_exists(path)
    selected = _select_columns(path, _csv_header(path), columns, optional)
    reader = _read_csv(path, selected, dtypes, chunksize=chunksize)
    with reader as chunks:  # type: ignore[attr-defined]
        for chunk in chunks:
            # Categories are not forced to agree across chunks; the measures group on values, not codes.
            yield _compact(chunk[selected], dtypes)


@contextmanager
def _atomic_target(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``, on failure delete it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    # mkstemp creates the file readable by its owner only; give it the mode a plain open() would (0o666 less the
    # umask), so that outputs on a shared file system stay readable by the group as usual.
    os.chmod(name, 0o666 & ~_current_umask())
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, path)  # atomic on POSIX within one file system
    finally:
        temporary.unlink(missing_ok=True)


def write_table(table: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``table`` atomically as CSV or Parquet (format from the suffix), without the index; return the path."""
    path = Path(path)
    fmt = table_format(path)
    if fmt == "parquet":
        _require_parquet_engine(path, "Writing")
    with _atomic_target(path) as temporary:
        if fmt == "parquet":
            table.to_parquet(temporary, index=False)
        else:
            table.to_csv(temporary, index=False, compression=_compression(path))
    return path


def _compression(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd", ".zip": "zip"}.get(suffix)


def save_figure(figure: Figure, path: str | os.PathLike[str], *, dpi: int = 300) -> Path:
    """Save ``figure`` atomically as PNG, SVG or PDF (format from the suffix); return the path.

    ``dpi`` (dots per inch) matters for PNG only; 300 is the usual minimum for print. Dates are left out of
    SVG and PDF metadata so that the same figure gives the same bytes (reproducible workflow outputs).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FIGURE_FORMATS:
        raise ValueError(
            f"Unknown figure format {suffix or '(no suffix)'!r} of {os.fspath(path)!r}; "
            f"allowed suffixes are {sorted(FIGURE_FORMATS)}. Change the output file name."
        )
    fmt = FIGURE_FORMATS[suffix]
    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(fmt)
    # A fixed salt makes SVG element ids deterministic (matplotlib draws them at random otherwise).
    with _atomic_target(path) as temporary, mpl.rc_context({"svg.hashsalt": "dynvision-analysis"}):
        figure.savefig(temporary, format=fmt, dpi=dpi, bbox_inches="tight", metadata=metadata)
    return path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
