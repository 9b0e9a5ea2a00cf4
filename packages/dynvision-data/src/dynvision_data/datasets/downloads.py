"""Checksum-verified downloads of the official dataset archives, with mirrors and a local override.

Where a file is looked for, in order:

1. the download cache (``<root>/.downloads/<dataset>/<file>``), if its checksum matches;
2. every location in the environment variable ``DYNVISION_DATA_MIRROR`` (``os.pathsep``-separated; each a
   local directory or a base URL such as ``file:///data/mirror/`` or ``https://my.host/datasets/``): the
   file ``<location>/<file>``;
3. the public mirrors in :data:`MIRRORS` for the dataset, in order.

Downloads go to ``<file>.part`` beside the cache file; an interrupted HTTP download is resumed with a
``Range`` request. The part file is checked against the official checksum (:data:`CHECKSUMS`) and renamed
into place only if it matches, so the cache never holds an unverified file. Checksums and mirrors are plain
dicts: tests (and users with a private mirror) may change them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

__all__ = [
    "CHECKSUMS",
    "MIRRORS",
    "MIRROR_ENV",
    "ChecksumError",
    "DownloadError",
    "download_source",
    "fetch_file",
    "fetch_url",
    "file_md5",
    "file_sha256",
]

#: Environment variable naming extra download locations, tried before the public mirrors.
MIRROR_ENV = "DYNVISION_DATA_MIRROR"

#: Official MD5 checksums of every archive, by dataset and file name (as published by the dataset authors
#: and used by torchvision; checked against several independent public copies).
CHECKSUMS: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashionmnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    "cifar10": {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"},
    "cifar100": {"cifar-100-python.tar.gz": "eb9058c3a382ffc7106e4002c42a8d85"},
}

#: Public base URLs per dataset, tried in order after ``DYNVISION_DATA_MIRROR``.
MIRRORS: dict[str, list[str]] = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashionmnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ],
    "cifar10": ["https://www.cs.toronto.edu/~kriz/"],
    "cifar100": ["https://www.cs.toronto.edu/~kriz/"],
}

_CHUNK = 1 << 20
_TIMEOUT_S = 60.0


class DownloadError(OSError):
    """No location could deliver a dataset file."""


class ChecksumError(DownloadError):
    """A file's checksum differs from the official one."""


def file_md5(path: str | os.PathLike[str]) -> str:
    """Hex MD5 of a file, read in 1 MiB chunks."""
    # MD5 because it is what the dataset authors publish; it checks integrity, not authenticity.
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


_SOURCE: ContextVar[str | None] = ContextVar("dynvision_download_source", default=None)


@contextmanager
def download_source(source: str | os.PathLike[str] | None) -> Iterator[None]:
    """Within the block, try ``source`` (a directory or base URL) first for every file (``None``: no change)."""
    token = _SOURCE.set(None if source is None else str(source))
    try:
        yield
    finally:
        _SOURCE.reset(token)


def _locations(dataset: str, source: str | os.PathLike[str] | None) -> list[str]:
    found: list[str] = []
    for extra in (source, _SOURCE.get()):
        if extra is not None:
            found.append(str(extra))
    found.extend(p for p in os.environ.get(MIRROR_ENV, "").split(os.pathsep) if p.strip())
    found.extend(MIRRORS.get(dataset, []))
    return found


def _url(location: str, filename: str) -> str:
    if "://" not in location:  # a local directory
        return Path(location, filename).resolve().as_uri()
    return location.rstrip("/") + "/" + urllib.parse.quote(filename)


def _download(url: str, part: Path) -> None:
    """Copy ``url`` into ``part``, appending to an existing partial file when the server supports ranges."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "dynvision-data"})
    if offset and url.startswith(("http://", "https://")):
        request.add_header("Range", f"bytes={offset}-")
    with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
        resumed = offset and getattr(response, "status", None) == 206
        length = response.headers.get("Content-Length") if hasattr(response, "headers") else None
        with open(part, "ab" if resumed else "wb") as handle:
            start = handle.tell()
            shutil.copyfileobj(response, handle, _CHUNK)
            received = handle.tell() - start
    # http.client returns a short body without an error when the connection drops mid-transfer: check the
    # length, so that the partial file is kept (and resumed next time) instead of failing its checksum.
    if length is not None and length.isdigit() and received < int(length):
        raise OSError(
            f"the connection closed after {received} of {int(length)} bytes; the {part.stat().st_size} bytes "
            f"received so far are kept in {part} and the next attempt resumes from there"
        )


def fetch_file(
    dataset: str,
    filename: str,
    cache_dir: str | os.PathLike[str],
    *,
    source: str | os.PathLike[str] | None = None,
    mirrors: Sequence[str] | None = None,
) -> Path:
    """Return the verified local copy of ``filename`` of ``dataset``, downloading it if needed.

    Args:
        dataset: Key of :data:`CHECKSUMS` (e.g. ``"mnist"``).
        filename: The official archive name (e.g. ``"train-images-idx3-ubyte.gz"``).
        cache_dir: Directory that keeps verified files.
        source: A directory or base URL tried first (before ``DYNVISION_DATA_MIRROR``).
        mirrors: Replace all locations (source, environment and public mirrors) by these.

    Raises:
        ChecksumError: A copy (cached or downloaded) has the wrong checksum; names the file, both checksums
            and what to do.
        DownloadError: No location delivered the file; lists every location and its error.
    """
    try:
        expected = CHECKSUMS[dataset][filename]
    except KeyError:
        raise KeyError(
            f"No official checksum for {dataset!r}/{filename!r}; add it to dynvision_data.datasets.downloads.CHECKSUMS."
        ) from None
    cache_dir = Path(cache_dir)
    target = cache_dir / filename
    if _cached(target, file_md5, "MD5", expected, f"the official {filename}"):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    failures: list[str] = []
    mismatches: list[str] = []
    for location in list(mirrors) if mirrors is not None else _locations(dataset, source):
        url = _url(location, filename)
        try:
            _download(url, part)
        except (urllib.error.URLError, OSError, ValueError) as error:
            failures.append(f"{url}: {error}")
            continue
        actual = file_md5(part)
        if actual == expected:
            os.replace(part, target)  # atomic: the cache only ever holds verified files
            return target
        # A resumed download may have appended to a stale part file; never resume from a bad file.
        part.unlink(missing_ok=True)
        mismatches.append(f"{url} (MD5 {actual})")
    if mismatches:
        raise ChecksumError(
            f"Downloaded {filename} for {dataset!r} has the wrong checksum: expected MD5 {expected}, got "
            f"{'; '.join(mismatches)}. The file is corrupt or not the official one; nothing was kept. Replace it at "
            f"the mirror (or in {MIRROR_ENV}) with the official archive, then rerun: dynvision run"
        )
    raise DownloadError(
        f"Could not obtain {filename} for dataset {dataset!r}. Tried:\n  " + "\n  ".join(failures or ["(no locations)"])
        + f"\nCheck the network, or put the official file in a directory and set {MIRROR_ENV} to it "
        f"(or copy it to {target})."
    )


def _cached(target: Path, digest: Callable[[Path], str], algorithm: str, expected: str, origin: str) -> bool:
    """Whether ``target`` is a verified cached copy; a cached copy with another checksum raises
    :class:`ChecksumError` naming both and the remedy."""
    if not target.is_file():
        return False
    actual = digest(target)
    if actual == expected:
        return True
    raise ChecksumError(
        f"Cached file '{target}' has {algorithm} {actual}, but {origin} has {algorithm} {expected}: it is corrupt or "
        f"was replaced; delete it so that it is downloaded again: rm '{target}' && dynvision run"
    )


def fetch_url(url: str, target: str | os.PathLike[str], *, sha256: str) -> Path:
    """Return ``target``, a verified copy of the file at ``url`` (``http(s)://`` or ``file://``), downloading it if
    it is not there yet.

    The same machinery as :func:`fetch_file`: the download goes to ``<target>.part`` (an interrupted HTTP download
    is resumed with a ``Range`` request) and is renamed onto ``target`` only when its SHA-256 is ``sha256``.

    Raises:
        ChecksumError: the cached or downloaded file has another SHA-256 (nothing is kept), naming both.
        DownloadError: the URL could not be read.
    """
    expected = sha256.lower()
    target = Path(target)
    if _cached(target, file_sha256, "SHA-256", expected, url):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    try:
        _download(url, part)
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise DownloadError(
            f"Could not download {url}: {error}. Check the URL and the network (a partial download is kept and "
            "resumed next time)."
        ) from None
    actual = file_sha256(part)
    if actual != expected:
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"Downloaded {url} has SHA-256 {actual}, expected {expected}; nothing was kept. Check the URL and the "
            "checksum you gave."
        )
    os.replace(part, target)  # atomic: only verified files carry the final name
    return target
