"""Reading tidy tables and writing tables and figures.

Reading is frugal on purpose: upstream ran out of memory plotting a 7.5M-row CSV because it loaded every
column at full precision. Here a caller names the columns it needs, they are parsed straight into the compact
dtypes of :data:`dynvision_analysis.tables.COLUMN_DTYPES`, and :func:`iter_table` streams a CSV in chunks
for the measures, which combine per-chunk statistics exactly.

Reading checks a CSV's shape before parsing it (:func:`csv_problem`): a file cut short by a full disk or a killed
copy, or one whose rows do not match its header, is refused with a message naming it, instead of being read as
rows with silently missing or shifted values.

Writing is atomic: the file is written under a temporary name in the target folder and renamed into place,
so a crashed or killed job never leaves a half-written figure that a workflow would take as done. The
temporaries a killed earlier writer left beside a target are removed when it is written again
(:func:`remove_stale_temporaries`), and a write that the file system refuses (full, over quota, read-only, not
writable) raises :class:`OutputError` naming the target.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import errno
import glob
import importlib.util
import lzma
import os
import re
import shlex
import socket
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import matplotlib as mpl
import pandas as pd
from matplotlib.figure import Figure

from .tables import COLUMN_DTYPES, TableError

__all__ = [
    "DISK_ERRNOS",
    "FIGURE_FORMATS",
    "TABLE_FORMATS",
    "OutputError",
    "csv_problem",
    "iter_table",
    "output_error",
    "read_table",
    "remove_stale_temporaries",
    "rewrite_remedy",
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
#: Errors of a compressed file that ends early or is not of its format (gzip and bz2 raise OSError, EOFError).
_DECOMPRESSION_ERRORS: tuple[type[BaseException], ...] = (EOFError, OSError, zlib.error, lzma.LZMAError)
#: Bytes read from each end of a plain CSV to check its shape (:func:`csv_problem`).
_PROBE_BYTES = 1 << 16

#: Errors of the file system that the user, not the program, must fix: a full disk or quota, a read-only or
#: unwritable folder (the same that dynvision-workflow names for its outputs).
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})

_HOST = socket.gethostname().split(".")[0]
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


def rewrite_remedy(path: str | os.PathLike[str]) -> str:
    """What to do about a damaged table ``path``: write it again; for a table that the DynVision workflow
    writes, the command that runs the step that writes it (and those after it) again."""
    return (
        "write it again (a table of a DynVision workflow: "
        f"dynvision run --forcerun {shlex.quote(os.fspath(path))})"
    )


def _damaged(path: Path, problem: str) -> TableError:
    """The error for a table file that cannot be read as a whole table: what is wrong and what to do."""
    return TableError(f"Table {os.fspath(path)!r} {problem}; {rewrite_remedy(path)}.")


def _fields(line: bytes) -> list[str]:
    """The fields of one CSV line (quotes honoured); raise ``UnicodeDecodeError`` for bytes that are not UTF-8."""
    return next(csv.reader([line.decode("utf-8").rstrip("\r\n")]), [])


def csv_problem(path: str | os.PathLike[str], *, final_newline: bool = False) -> str | None:
    """What is wrong with the shape of the plain (uncompressed) CSV file ``path``, or ``None``.

    Found: an empty file; binary data; a first row with more or fewer fields than the header (pandas would shift
    the columns or fill the gap silently); a last line cut short (fewer fields than the header, or an empty last
    field and no line end), as a full disk, a killed copy or a truncation leaves it. With ``final_newline``, a file
    that does not end with a line end counts as cut short too (for files of a writer that always ends its lines,
    such as pandas). Only about the first and last 64 KiB are read; a damaged row in the middle is left to the
    parser. The answer completes a sentence that starts with the file's name (``"is empty (0 bytes)"``).
    """
    path = Path(path)
    with path.open("rb") as handle:
        head = handle.read(_PROBE_BYTES)
        if not head:
            return "is empty (0 bytes)"
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - _PROBE_BYTES))
        tail = head if size <= _PROBE_BYTES else handle.read()
    binary = "holds binary data, not CSV text"
    if b"\0" in head or b"\0" in tail:
        return binary
    complete = head[: head.rfind(b"\n") + 1]  # whole lines only: the probe may end inside a row
    ends_line = tail.endswith(b"\n")
    last_line = tail.rstrip(b"\r\n").rpartition(b"\n")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        rows = list(csv.reader(complete.decode("utf-8").splitlines()))
        last = _fields(last_line[2]) if last_line[1] or size <= _PROBE_BYTES else None
    except UnicodeDecodeError:
        return binary
    if not rows:  # no complete line in the probe: a header cut short, or one longer than the probe
        return "does not end with a line end: it was cut short" if final_newline and size <= _PROBE_BYTES else None
    header = rows[0]
    if len(rows) > 1 and len(rows[1]) != len(header):
        return f"has a header of {len(header)} columns but {len(rows[1])} fields in its first row"
    if last is not None and (len(last) < len(header) or (not ends_line and last[-1:] == [""])):
        return (
            f"ends in the middle of a row (its last line has {len(last)} of the header's {len(header)} fields): "
            "it was cut short"
        )
    if last is not None and len(last) > len(header):
        return f"has a header of {len(header)} columns but {len(last)} fields in its last row"
    if final_newline and not ends_line:
        return "does not end with a line end: it was cut short"
    return None


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
            "Check that the file follows the table contract (see the README): rename the columns, or "
            f"{rewrite_remedy(path)}."
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
    """The header of a CSV table, after checking the shape of a plain one (:func:`csv_problem`)."""
    if path.suffix.lower() not in _COMPRESSION_SUFFIXES:
        problem = csv_problem(path)
        if problem is not None:
            raise _damaged(path, problem)
    try:
        return [str(name) for name in pd.read_csv(path, nrows=0).columns]
    except pd.errors.EmptyDataError:
        raise _damaged(path, "is empty (no header line)") from None
    except (*_DECOMPRESSION_ERRORS, UnicodeDecodeError) as exc:
        raise _damaged(path, f"cannot be read ({exc})") from None


def table_columns(path: str | os.PathLike[str]) -> list[str]:
    """The column names of a CSV or Parquet table, read from its header or schema (no rows are read)."""
    path = Path(path)
    fmt = table_format(path)
    _check_exists(path)
    if fmt == "parquet":
        _require_parquet_engine(path, "Reading")
        import pyarrow.parquet as pq  # optional dependency, checked above

        with _parsing(path, {}):
            return [str(name) for name in pq.read_schema(path).names]
    return _csv_header(path)


def _parse_dtypes(selected: list[str], dtypes: Mapping[str, str]) -> dict[str, str]:
    return {name: dtypes[name] for name in selected if name in dtypes}


def _read_csv(path: Path, selected: list[str], dtypes: Mapping[str, str], **kwargs: object) -> object:
    parse_dtypes = _parse_dtypes(selected, dtypes)
    with _parsing(path, parse_dtypes):
        return pd.read_csv(path, usecols=selected, dtype=parse_dtypes, **kwargs)  # type: ignore[call-overload]


@contextmanager
def _parsing(path: Path, parse_dtypes: Mapping[str, str]) -> Iterator[None]:
    """Turn the errors of parsing ``path`` (or of reading its chunks) into a :class:`TableError` naming it."""
    try:
        yield
    except (*_DECOMPRESSION_ERRORS, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise _damaged(path, f"cannot be read ({' '.join(str(exc).split())})") from None
    except (ValueError, TypeError) as exc:
        raise TableError(
            f"Could not parse {os.fspath(path)!r} with the expected column dtypes {parse_dtypes}: {exc}. "
            f"Check for missing values or text in numeric columns: fix them, or {rewrite_remedy(path)}."
        ) from None


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

        with _parsing(path, {}):
            present = [str(name) for name in pq.read_schema(path).names]
        selected = _select_columns(path, present, columns, optional)
        with _parsing(path, {}):
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

        with _parsing(path, {}):
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
    chunks = iter(reader)  # type: ignore[call-overload]
    with reader:  # type: ignore[attr-defined]
        while True:
            with _parsing(path, _parse_dtypes(selected, dtypes)):
                chunk = next(chunks, None)
            if chunk is None:
                return
            # Categories are not forced to agree across chunks; the measures group on values, not codes.
            yield _compact(chunk[selected], dtypes)


class OutputError(OSError):
    """An output cannot be written for a reason outside the program (a full disk, a read-only or unwritable
    folder); its message names the path and what to do, and ``errno`` says which."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.errno = code


def _disk_errno(error: BaseException) -> int | None:
    """The errno of the file system's refusal in ``error`` or in an error it wraps (matplotlib and PIL may wrap
    the ``OSError`` of a write), or ``None``."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in DISK_ERRNOS:
            return current.errno
        current = current.__cause__ or current.__context__
    return None


def output_error(path: str | os.PathLike[str], error: BaseException) -> OutputError | None:
    """``error`` as an :class:`OutputError` naming ``path`` when the file system refused to write it (full, over
    quota, read-only, not writable), else ``None`` (the error is something else)."""
    code = _disk_errno(error)
    if code is None:
        return None
    folder = shlex.quote(os.fspath(Path(path).parent))
    if code in (errno.ENOSPC, errno.EDQUOT):
        remedy = f"free space there (df -h {folder}) and run the same command again"
    else:
        remedy = f"make {folder} writable (or write to another folder) and run the same command again"
    return OutputError(
        f"cannot write {os.fspath(path)!r}: {os.strerror(code)}; nothing was written under that name; {remedy}",
        code,
    )


def _temporary_prefix(path: Path) -> str:
    """Temporaries of ``path`` are ``.<name>.<host>-<pid>.<random>.tmp``: who made one tells whether it is stale."""
    return f".{path.name}.{_HOST}-{os.getpid()}."


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporaries of ``path`` that a killed earlier writer left beside it: those of processes of this
    host that are gone, and those that name no host and process (``.<name>.<random>.tmp``, older releases). Those of
    a live process, or of another host (a cluster node: it cannot be checked from here), stay; other names in the
    folder are never touched (``<random>`` is tempfile's 8 characters, so the temporaries of ``figure.png.json``
    never count as those of ``figure.png``). The same naming as dynvision-data's atomic outputs, which this package
    cannot import (it pulls in torch). Returns the paths removed."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?:(?P<host>[^.]*)-(?P<pid>\d+)\.)?[a-z0-9_]{{8}}\.tmp")
    removed = []
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        match = pattern.fullmatch(candidate.name)
        if match is None:
            continue
        if match["host"] is not None and (match["host"] != _HOST or _process_exists(int(match["pid"]))):
            continue
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()
            removed.append(candidate)
    return removed


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextmanager
def _atomic_target(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``, on failure delete it.

    Stale temporaries of ``path`` go first (:func:`remove_stale_temporaries`); a write the file system refuses
    raises :class:`OutputError` naming ``path``.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=_temporary_prefix(path), suffix=".tmp")
    except OSError as error:
        failure = output_error(path, error)
        if failure is None:
            raise
        raise failure from error
    os.close(handle)
    # mkstemp creates the file readable by its owner only; give it the mode a plain open() would (0o666 less the
    # umask), so that outputs on a shared file system stay readable by the group as usual.
    os.chmod(name, 0o666 & ~_current_umask())
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, path)  # atomic on POSIX within one file system
    except Exception as error:
        temporary.unlink(missing_ok=True)  # first: it may be what filled the disk
        failure = output_error(path, error)
        if failure is None:
            raise
        raise failure from error
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
