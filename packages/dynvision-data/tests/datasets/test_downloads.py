"""Official-format archives (IDX gzip, CIFAR python pickles) written tiny, served from a local mirror.

No test touches the network: the public mirror lists are emptied and the expected checksums are replaced by
those of the tiny archives (they are data, in ``downloads.CHECKSUMS``).
"""

from __future__ import annotations

import gzip
import io
import json
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from dynvision_data import ClassFolderDataset, materialize_dataset, read_image
from dynvision_data.datasets import downloads
from dynvision_data.datasets.downloads import ChecksumError, DownloadError, fetch_file, file_md5
from dynvision_data.datasets.idx import read_idx, write_idx
from dynvision_data.datasets.official import FASHION_MNIST_CLASSES

IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz")


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No public mirrors, no inherited mirror variable, private checksum table."""
    monkeypatch.setattr(downloads, "MIRRORS", {})
    monkeypatch.setattr(downloads, "CHECKSUMS", {k: dict(v) for k, v in downloads.CHECKSUMS.items()})
    monkeypatch.delenv(downloads.MIRROR_ENV, raising=False)


def _write_idx_set(mirror: Path, n_train: int = 7, n_test: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": ((np.arange(n_test) + 3) % 10).astype(np.uint8),
    }
    mirror.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        write_idx(mirror / name, array)
    return arrays


def _trust(monkeypatch: pytest.MonkeyPatch, dataset: str, mirror: Path, names) -> None:
    monkeypatch.setitem(downloads.CHECKSUMS, dataset, {n: file_md5(mirror / n) for n in names})


def _pickle_member(tar: tarfile.TarFile, name: str, obj) -> None:
    data = pickle.dumps(obj, protocol=2)
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _rows(images: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) -> the official row layout: 1024 red, 1024 green, 1024 blue values."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1)


def test_official_checksums_are_the_published_ones() -> None:
    # The autouse fixture copied the table: these are the values shipped in the module.
    assert downloads.CHECKSUMS["mnist"]["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert downloads.CHECKSUMS["mnist"]["t10k-labels-idx1-ubyte.gz"] == "ec29112dd5afa0611ce80d1b7f02629c"
    assert downloads.CHECKSUMS["fashionmnist"]["train-images-idx3-ubyte.gz"] == "8d4fb7e6c68d591d4c3dfef9ec88bf0d"
    assert downloads.CHECKSUMS["cifar10"] == {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"}
    assert downloads.CHECKSUMS["cifar100"] == {"cifar-100-python.tar.gz": "eb9058c3a382ffc7106e4002c42a8d85"}
    assert set(downloads.CHECKSUMS["mnist"]) == set(IDX_FILES) == set(downloads.CHECKSUMS["fashionmnist"])


def test_idx_round_trip_and_magic_numbers(tmp_path: Path) -> None:
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "i.gz", images)
    write_idx(tmp_path / "l", np.array([1, 2], dtype=np.uint8))
    with gzip.open(tmp_path / "i.gz") as handle:
        assert int.from_bytes(handle.read(4), "big") == 2051
    assert int.from_bytes((tmp_path / "l").read_bytes()[:4], "big") == 2049
    np.testing.assert_array_equal(read_idx(tmp_path / "i.gz"), images)
    np.testing.assert_array_equal(read_idx(tmp_path / "l"), [1, 2])


def test_idx_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match=r"bad is not an IDX file"):
        read_idx(tmp_path / "bad")
    write_idx(tmp_path / "long", np.zeros((2, 2), dtype=np.uint8))
    (tmp_path / "long").write_bytes((tmp_path / "long").read_bytes() + b"\0")
    with pytest.raises(ValueError, match=r"long holds 17 bytes.*needs 16"):
        read_idx(tmp_path / "long")


def test_mnist_from_mirror_env_keeps_official_split_and_pixels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arrays = _write_idx_set(tmp_path / "mirror")
    _trust(monkeypatch, "mnist", tmp_path / "mirror", IDX_FILES)
    monkeypatch.setenv(downloads.MIRROR_ENV, str(tmp_path / "mirror"))
    tree = materialize_dataset("mnist", tmp_path / "data")
    marker = json.loads((tree / "dataset.json").read_text())
    assert marker["split"] == "official" and marker["classes"] == [str(d) for d in range(10)]
    assert marker["counts"]["train"]["total"] == 7 and marker["counts"]["test"]["total"] == 4
    assert marker["image_shape"] == [1, 28, 28]
    # Item 2 of the training file is label 2, stored as train/2/00002.png; test item 1 is index 7 + 1.
    np.testing.assert_array_equal(read_image(tree / "train" / "2" / "02.png")[0], arrays[IDX_FILES[0]][2])
    np.testing.assert_array_equal(read_image(tree / "test" / "4" / "08.png")[0], arrays[IDX_FILES[2]][1])
    assert sorted((tmp_path / "data" / ".downloads" / "mnist").iterdir()) == sorted(
        tmp_path / "data" / ".downloads" / "mnist" / n for n in IDX_FILES
    )  # verified archives kept, no .part files
    assert len(ClassFolderDataset(tree / "test")) == 4


def test_fashionmnist_from_file_url_source_has_official_class_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_idx_set(tmp_path / "mirror", n_train=10, n_test=3)
    _trust(monkeypatch, "fashionmnist", tmp_path / "mirror", IDX_FILES)
    tree = materialize_dataset("fashionmnist", tmp_path / "data", source=(tmp_path / "mirror").as_uri() + "/")
    marker = json.loads((tree / "dataset.json").read_text())
    assert marker["classes"] == list(FASHION_MNIST_CLASSES)
    assert marker["classes"][0] == "T-shirt_top" and marker["classes"][9] == "Ankle boot"
    assert (tree / "train" / "Ankle boot").is_dir()
    assert marker["counts"]["train"]["per_class"]["Trouser"] == 1


def _write_cifar10(path: Path, per_batch: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (6 * per_batch, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(6 * per_batch) % 10
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with tarfile.open(path, "w:gz") as tar:
        members = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        for k, member in enumerate(members):
            part = slice(k * per_batch, (k + 1) * per_batch)
            _pickle_member(tar, f"cifar-10-batches-py/{member}", {
                b"batch_label": member.encode(), b"labels": labels[part].tolist(), b"data": _rows(images[part]),
                b"filenames": [b"x.png"] * per_batch,
            })
        _pickle_member(tar, "cifar-10-batches-py/batches.meta",
                       {b"label_names": [n.encode() for n in names], b"num_vis": 3072})
    return images, labels


def test_cifar10_archive_is_parsed_channels_last_with_meta_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    images, _ = _write_cifar10(mirror / "cifar-10-python.tar.gz")
    _trust(monkeypatch, "cifar10", mirror, ["cifar-10-python.tar.gz"])
    tree = materialize_dataset("cifar10", tmp_path / "data", source=mirror)
    marker = json.loads((tree / "dataset.json").read_text())
    assert marker["classes"][:3] == ["airplane", "automobile", "bird"]
    assert marker["counts"]["train"]["total"] == 10 and marker["counts"]["test"]["total"] == 2
    assert marker["image_shape"] == [3, 32, 32]
    # Item 3 (data_batch_2, first row) has label 3 = cat; item 11 is the last test image.
    np.testing.assert_array_equal(read_image(tree / "train" / "cat" / "03.png"), images[3].transpose(2, 0, 1))
    np.testing.assert_array_equal(read_image(tree / "test" / "airplane" / "10.png"), images[10].transpose(2, 0, 1))


def test_cifar100_fine_and_coarse_share_one_verified_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    fine_names = [f"class_{i:02d}" for i in range(100)]
    coarse_names = [f"super_{i:02d}" for i in range(20)]
    with tarfile.open(mirror / "cifar-100-python.tar.gz", "w:gz") as tar:
        for member, part in (("train", slice(0, 3)), ("test", slice(3, 5))):
            n = part.stop - part.start
            _pickle_member(tar, f"cifar-100-python/{member}", {
                b"data": _rows(images[part]), b"fine_labels": [99, 0, 42][:n], b"coarse_labels": [19, 0, 7][:n],
            })
        _pickle_member(tar, "cifar-100-python/meta", {
            b"fine_label_names": [n.encode() for n in fine_names],
            b"coarse_label_names": [n.encode() for n in coarse_names],
        })
    _trust(monkeypatch, "cifar100", mirror, ["cifar-100-python.tar.gz"])
    monkeypatch.setenv(downloads.MIRROR_ENV, mirror.as_uri())
    fine = materialize_dataset("cifar100", tmp_path / "data")
    monkeypatch.delenv(downloads.MIRROR_ENV)  # the coarse variant must reuse the cached archive
    coarse = materialize_dataset("cifar100-coarse", tmp_path / "data")
    assert json.loads((fine / "dataset.json").read_text())["classes"] == fine_names
    assert json.loads((coarse / "dataset.json").read_text())["classes"] == coarse_names
    np.testing.assert_array_equal(read_image(fine / "train" / "class_99" / "0.png"), images[0].transpose(2, 0, 1))
    assert (coarse / "train" / "super_19" / "0.png").is_file() and (coarse / "test" / "super_00" / "4.png").is_file()


def test_corrupted_archive_raises_checksum_error_and_keeps_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    _write_cifar10(mirror / "cifar-10-python.tar.gz")
    _trust(monkeypatch, "cifar10", mirror, ["cifar-10-python.tar.gz"])
    expected = downloads.CHECKSUMS["cifar10"]["cifar-10-python.tar.gz"]
    data = bytearray((mirror / "cifar-10-python.tar.gz").read_bytes())
    data[100] ^= 0xFF
    (mirror / "cifar-10-python.tar.gz").write_bytes(bytes(data))
    actual = file_md5(mirror / "cifar-10-python.tar.gz")
    with pytest.raises(ChecksumError) as info:
        materialize_dataset("cifar10", tmp_path / "data", source=mirror)
    message = str(info.value)
    assert "cifar-10-python.tar.gz" in message and expected in message and actual in message
    assert "official archive" in message  # says what to do
    assert list((tmp_path / "data" / ".downloads" / "cifar10").iterdir()) == []
    assert not (tmp_path / "data" / "cifar10").exists()


def test_truncated_gzip_with_matching_checksum_is_reported_as_truncated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = tmp_path / "mirror"
    _write_idx_set(mirror)
    path = mirror / IDX_FILES[0]
    path.write_bytes(path.read_bytes()[:-20])
    _trust(monkeypatch, "mnist", mirror, IDX_FILES)
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz is not a complete gzip file.*truncated"):
        materialize_dataset("mnist", tmp_path / "data", source=mirror)
    assert not (tmp_path / "data" / "mnist").exists()


def test_fetch_prefers_the_first_good_location_and_skips_bad_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    _write_idx_set(good)
    _write_idx_set(bad, seed=9)
    _trust(monkeypatch, "mnist", good, IDX_FILES)
    cache = tmp_path / "cache"
    (cache).mkdir()
    (cache / f"{IDX_FILES[1]}.part").write_bytes(b"stale partial download")
    locations = [str(tmp_path / "missing"), str(bad), good.as_uri()]
    path = fetch_file("mnist", IDX_FILES[1], cache, mirrors=locations)
    assert path == cache / IDX_FILES[1] and file_md5(path) == file_md5(good / IDX_FILES[1])
    assert not (cache / f"{IDX_FILES[1]}.part").exists()
    assert fetch_file("mnist", IDX_FILES[1], cache, mirrors=[]) == path  # cached: no location needed


def test_missing_file_everywhere_lists_locations_and_the_mirror_variable(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"Could not obtain t10k-labels-idx1-ubyte\.gz") as info:
        fetch_file("mnist", "t10k-labels-idx1-ubyte.gz", tmp_path / "cache", source=tmp_path / "nowhere")
    assert "nowhere" in str(info.value) and downloads.MIRROR_ENV in str(info.value)
    assert not isinstance(info.value, ChecksumError)


def test_corrupt_cached_file_is_reported_not_used(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "cifar-10-python.tar.gz").write_bytes(b"not the archive")
    with pytest.raises(ChecksumError, match=r"Cached file .*cifar-10-python\.tar\.gz' has MD5 .*delete it") as info:
        fetch_file("cifar10", "cifar-10-python.tar.gz", cache)
    assert f"rm '{cache / 'cifar-10-python.tar.gz'}' && dynvision run" in str(info.value)  # the fix, as a command


# ----------------------------------------------------------------------------- HTTP: ranges and interruptions
class _Server:
    """A local HTTP server (127.0.0.1, no network) over one file: honours ``Range`` or not, and can cut the
    first response short after ``cut`` bytes, as a dropped connection does. Records each request's Range."""

    def __init__(self, payload: bytes, *, ranges: bool = True, cut: int | None = None) -> None:
        import http.server
        import threading

        self.payload, self.ranges, self.cut, self.requests = payload, ranges, cut, []
        self.sent = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                wanted = self.headers.get("Range")
                server.requests.append(wanted)
                start = int(wanted.split("=")[1].rstrip("-")) if wanted and server.ranges else 0
                body = server.payload[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(server.payload) - 1}/{len(server.payload)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cut is not None:
                    body, server.cut = body[: server.cut], None  # this time only: then close mid-body
                self.wfile.write(body)
                server.sent += len(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    mirror = tmp_path / "mirror"
    _write_idx_set(mirror, n_train=200)
    _trust(monkeypatch, "mnist", mirror, IDX_FILES)
    return (mirror / IDX_FILES[0]).read_bytes()


def test_an_interrupted_http_download_is_resumed_with_a_range_request(tmp_path: Path, archive: bytes) -> None:
    server = _Server(archive, cut=len(archive) // 3)
    cache = tmp_path / "cache"
    try:
        with pytest.raises(DownloadError, match=r"Could not obtain train-images-idx3-ubyte\.gz"):
            fetch_file("mnist", IDX_FILES[0], cache, mirrors=[server.url])
        part = cache / f"{IDX_FILES[0]}.part"
        assert part.stat().st_size == len(archive) // 3  # what arrived is kept, under the .part name only
        assert not (cache / IDX_FILES[0]).exists()
        path = fetch_file("mnist", IDX_FILES[0], cache, mirrors=[server.url])
    finally:
        server.close()
    assert path.read_bytes() == archive and not part.exists()
    assert server.requests == [None, f"bytes={len(archive) // 3}-"]
    assert server.sent == len(archive)  # the second request sent only the rest


def test_a_server_that_ignores_ranges_restarts_the_download(tmp_path: Path, archive: bytes) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / f"{IDX_FILES[0]}.part").write_bytes(archive[:100])
    server = _Server(archive, ranges=False)
    try:
        path = fetch_file("mnist", IDX_FILES[0], cache, mirrors=[server.url])
    finally:
        server.close()
    assert server.requests == ["bytes=100-"]  # asked to resume, got the whole file (200) and started over
    assert path.read_bytes() == archive


def test_fetch_url_verifies_sha256_resumes_and_keeps_nothing_bad(tmp_path: Path) -> None:
    import hashlib

    from dynvision_data.datasets.downloads import fetch_url

    payload = bytes(range(256)) * 64
    good = hashlib.sha256(payload).hexdigest()
    server = _Server(payload, cut=1000)
    target = tmp_path / "cache" / "weights.pt"
    try:
        with pytest.raises(DownloadError, match="Could not download"):
            fetch_url(server.url + "weights.pt", target, sha256=good)
        assert not target.exists()  # only the .part file holds the bytes received so far
        assert fetch_url(server.url + "weights.pt", target, sha256=good).read_bytes() == payload
        assert server.requests == [None, "bytes=1000-"]
        other = tmp_path / "other.pt"
        with pytest.raises(ChecksumError, match="expected " + "0" * 64):
            fetch_url(server.url + "weights.pt", other, sha256="0" * 64)
        assert not other.exists() and not other.with_name("other.pt.part").exists()
    finally:
        server.close()
    assert fetch_url("http://127.0.0.1:9/unreachable", target, sha256=good) == target  # cached: no request
