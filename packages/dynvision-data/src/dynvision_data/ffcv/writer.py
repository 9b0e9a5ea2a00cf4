"""Write train/val ``.beton`` files from a class folder with the shared seeded split."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from .._util import atomic_write_json, check_fraction, check_int, make_temporary
from ..datasets.folder import ClassFolderDataset
from ..datasets.split import split_indices
from ..stats import load_stats
from ._availability import require_ffcv
from .metadata import BetonMetadata, metadata_path, relative_class_dir, validate_beton

__all__ = ["JPEG_THRESHOLD", "write_betons"]

#: With ``encoding="auto"``, images whose stored height or width (after ``resolution``) exceeds this many pixels
#: are stored as JPEG.
JPEG_THRESHOLD = 64
_ENCODINGS = ("auto", "raw", "jpeg")

_MIN_PAGE_SIZE = 1 << 21  # FFCV's minimum page size (2 MiB); pages must be powers of two.
_WORKER = Path(__file__).with_name("_beton_worker.py")
#: Final-name stem of the staging folder of decoded images in the system's temporary folder.
_SCRATCH_NAME = "dynvision-betons"


def write_betons(
    class_dir: str | os.PathLike[str],
    train_out: str | os.PathLike[str],
    val_out: str | os.PathLike[str],
    *,
    val_fraction: float = 0.1,
    seed: int = 0,
    timeout_s: float = 1800.0,
    encoding: str = "auto",
    jpeg_quality: int = 90,
    resolution: int | None = None,
) -> tuple[BetonMetadata, BetonMetadata]:
    """Write the training part and the validation part of a class folder as two FFCV ``.beton`` files.

    Membership comes from :func:`~dynvision_data.datasets.split_indices` (``val_fraction`` of each class,
    chosen with ``seed``) -- the same call the torch backend makes -- and items keep the class folder's
    order (label, then file name). Small images are stored raw: an ``NDArrayField`` of uint8 pixels
    ``(C, H, W)`` (values 0..255, bit-exact to the files; 1 and 3 channels alike). Large ones (``encoding=
    "auto"`` and height or width above :data:`JPEG_THRESHOLD`, or ``encoding="jpeg"``) are stored as JPEG in
    an ``RGBImageField`` (quality ``jpeg_quality``; grey images as RGB, read back as one channel): several
    times smaller, but lossy -- the FFCV backend then differs from the torch backend (which reads the
    original files) by the JPEG error. Labels are an ``IntField``.

    With ``resolution=N`` every image is first resized to shorter side ``N`` and centre-cropped to ``N x N``
    (``ClassFolderDataset(resolution=N)``, so trees of photos in many sizes can be written); the stored
    ``N x N`` size decides ``encoding="auto"``, the sidecar records ``resolution``, and the torch backend of
    the ``.beton`` reads the class folder with it, so both backends still give the same batches (up to the
    JPEG error when the stored size makes ``encoding="auto"`` choose JPEG). Every split is decoded into memory
    once while writing (about ``N * N * 3`` bytes per image: ImageNet's 1.28 M training images at 64 px need
    about 16 GB).

    Each file gets a sidecar ``<file>.beton.json`` (:class:`BetonMetadata`: classes, image shape, counts,
    mean/std in [0, 1] units of the whole folder, split seed and fraction, resolution). The statistics (of the
    stored, resized images) are also cached beside the class folder (:func:`~dynvision_data.stats.load_stats`
    with the same ``resolution``), so both backends normalise alike.

    Files are written under temporary names in a separate, thread-free Python process (FFCV's writer forks
    and can deadlock in a process with live loader threads) and renamed into place once complete; the
    sidecars are written last. Existing outputs are replaced.

    Args:
        class_dir: Training class folder ``<class_dir>/<class>/<image>`` (e.g. ``<root>/mnist5k/train``).
        train_out: Path of the training ``.beton``.
        val_out: Path of the validation ``.beton``.
        val_fraction: Share of each class held out for validation, strictly between 0 and 1.
        seed: Seed of the split (integer >= 0).
        timeout_s: Give up (and raise ``TimeoutError``) if writing takes longer than this many seconds.
        encoding: ``"auto"`` (raw up to :data:`JPEG_THRESHOLD` stored pixels per side, JPEG above), ``"raw"`` or
            ``"jpeg"``.
        jpeg_quality: JPEG quality, 1..100 (used only for JPEG).
        resolution: ``None``: images as stored (all must have one shape). ``N`` (>= 2): resize every image to
            shorter side ``N`` and centre-crop it to ``N x N``.

    Returns:
        The metadata of the training and the validation file.
    """
    require_ffcv()
    val_fraction = check_fraction("val_fraction", val_fraction)
    seed = check_int("seed", seed, minimum=0)
    if encoding not in _ENCODINGS:
        raise ValueError(f"encoding must be one of {_ENCODINGS}, got {encoding!r}.")
    jpeg_quality = check_int("jpeg_quality", jpeg_quality, minimum=1)
    if jpeg_quality > 100:
        raise ValueError(f"jpeg_quality must be at most 100, got {jpeg_quality}.")
    class_dir = Path(class_dir).resolve()
    outputs = {"train": Path(train_out), "val": Path(val_out)}
    if outputs["train"].resolve() == outputs["val"].resolve():
        raise ValueError(f"train_out and val_out must differ, both are {outputs['train']}.")

    dataset = ClassFolderDataset(class_dir, resolution=resolution)
    # Decoding everything in this process validates every image (shape, format) before FFCV sees it,
    # and gives the statistics without a second decode.
    images, labels = dataset.load_arrays()
    stats = load_stats(class_dir, images=images, resolution=dataset.resolution)
    members = dict(zip(("train", "val"), split_indices(labels, val_fraction, seed), strict=True))
    if encoding == "auto":  # decided by the stored size, i.e. after resizing to resolution
        encoding = "jpeg" if max(dataset.image_shape[1:]) > JPEG_THRESHOLD else "raw"
    # Pages must hold one whole sample; a JPEG of RGB pixels is (far) smaller than 3 bytes per pixel.
    sample_bytes = images[0].nbytes * (3 if encoding == "jpeg" else 1) + 1024
    page_size = max(_MIN_PAGE_SIZE, 1 << int(np.ceil(np.log2(sample_bytes))))

    temporaries: list[Path] = []
    # The decoded images are staged in the system's temporary folder (gigabytes for large datasets): a killed writer's
    # stage is removed by the next one, as are its partial .beton files beside the outputs.
    scratch = make_temporary(tempfile.gettempdir(), _SCRATCH_NAME, folder=True)[1]
    try:
        jobs = []
        for role, out in outputs.items():
            out.parent.mkdir(parents=True, exist_ok=True)
            fd, name = make_temporary(out.parent, out.name)
            os.close(fd)
            tmp = Path(name)
            temporaries.append(tmp)
            np.save(Path(scratch) / f"{role}_images.npy", images[members[role]])
            np.save(Path(scratch) / f"{role}_labels.npy", labels[members[role]])
            jobs.append(
                {
                    "images": str(Path(scratch) / f"{role}_images.npy"),
                    "labels": str(Path(scratch) / f"{role}_labels.npy"),
                    "out": str(tmp),
                }
            )
        spec = {
            "jobs": jobs,
            "page_size": page_size,
            "num_workers": 1,
            "chunksize": 1000,
            "encoding": encoding,
            "jpeg_quality": jpeg_quality,
        }
        spec_path = atomic_write_json(Path(scratch) / "spec.json", spec)
        _run_worker(spec_path, timeout_s)
        for role, tmp in zip(outputs, temporaries, strict=True):
            validate_beton(tmp, expected_count=len(members[role]))
        metas = []
        for (role, out), tmp in zip(outputs.items(), temporaries, strict=True):
            # Remove a stale sidecar first: a beton without a sidecar is refused, never misread.
            metadata_path(out).unlink(missing_ok=True)
            os.replace(tmp, out)
            metas.append(
                BetonMetadata(
                    role=role,  # type: ignore[arg-type]
                    class_dir=relative_class_dir(class_dir, out),
                    classes=tuple(dataset.classes),
                    image_shape=dataset.image_shape,
                    count=len(members[role]),
                    counts={r: len(m) for r, m in members.items()},
                    val_fraction=val_fraction,
                    seed=seed,
                    stats=stats,
                    fingerprint=dataset.fingerprint(),
                    encoding="jpeg" if encoding == "jpeg" else "raw-uint8-chw",
                    beton_bytes=out.stat().st_size,
                    jpeg_quality=jpeg_quality if encoding == "jpeg" else None,
                    resolution=dataset.resolution,
                )
            )
        for meta, out in zip(metas, outputs.values(), strict=True):
            atomic_write_json(metadata_path(out), meta.to_dict())
    finally:
        for tmp in temporaries:
            tmp.unlink(missing_ok=True)
        shutil.rmtree(scratch, ignore_errors=True)
    return metas[0], metas[1]


def _run_worker(spec_path: Path, timeout_s: float) -> None:
    try:
        result = subprocess.run(
            # -P keeps the package folder off sys.path, so the worker imports nothing of dynvision_data.
            [sys.executable, "-P", str(_WORKER), str(spec_path)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise TimeoutError(
            f"Writing .beton files took longer than timeout_s={timeout_s} s and was stopped. "
            "Raise timeout_s for large datasets."
        ) from error
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"The FFCV writer process failed (exit code {result.returncode}):\n{tail}")
