"""Reading class-folder image trees (``<root>/<class>/<image>.png``) into uint8 tensors."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .._util import check_int
from ..errors import DataError
from ..integrity import IMAGE_EXTENSIONS, is_image_name

__all__ = [
    "IMAGE_EXTENSIONS",
    "RESIZE_FILTER",
    "RESIZE_REDUCING_GAP",
    "ClassFolderDataset",
    "read_image",
    "resize_center_crop",
    "unreadable_image_message",
    "verify_images",
]



#: Resampling filter of :func:`resize_center_crop`: PIL's bilinear filter, which widens its support when
#: shrinking (antialiased, like ``torchvision.transforms.Resize`` on PIL images) ...
RESIZE_FILTER = Image.Resampling.BILINEAR
#: ... after a first exact box reduction by an integer factor that leaves at least this much to the filter
#: (``Image.resize(reducing_gap=...)``; fast on large photos, visually the same as plain resampling).
RESIZE_REDUCING_GAP = 3.0


def resize_center_crop(image: Image.Image, resolution: int) -> Image.Image:
    """Resize ``image`` so that its shorter side is ``resolution`` pixels, then crop the centre square.

    This is the one definition of ``resolution=N`` used by every reader (the torch backend, ``write_betons``
    and the statistics), so all of them see the same pixels. The longer side is scaled by the same factor
    (rounded to whole pixels) with :data:`RESIZE_FILTER` and :data:`RESIZE_REDUCING_GAP`; the crop starts at
    ``(size - resolution) // 2`` on each axis (the extra pixel of an odd difference goes to the right or
    bottom side). An image whose shorter side already is ``resolution`` is only cropped (no resampling), and an
    image of exactly ``resolution x resolution`` comes back unchanged. Palette or alpha images must be
    converted to ``L``/``RGB`` first (as :func:`read_image` does).
    """
    width, height = image.size
    if (width, height) == (resolution, resolution):
        return image
    short, long = min(width, height), max(width, height)
    if short != resolution:
        # Integer rounding of long * resolution / short (no float error); never below the crop size.
        scaled = max(resolution, (long * resolution + short // 2) // short)
        size = (resolution, scaled) if width <= height else (scaled, resolution)
        image = image.resize(size, RESIZE_FILTER, reducing_gap=RESIZE_REDUCING_GAP)
        width, height = image.size
    left, top = (width - resolution) // 2, (height - resolution) // 2
    return image.crop((left, top, left + resolution, top + resolution))


#: With ``resolution``, a tree whose first image is grey is read in colour if any of this many images spread over
#: the tree is in colour (only their headers are read).
PROBED_IMAGES = 64


def _is_colour(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            return image.mode not in ("L", "1", "LA", "I", "I;16", "F")
    except OSError:
        return False  # unreadable: read_image names it when the image is loaded


#: What PIL raises for a truncated or foreign file (UnidentifiedImageError is an OSError).
_UNREADABLE = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


def unreadable_image_message(path: str | os.PathLike[str], reason: str) -> str:
    """What a user is told about an image file that cannot be decoded: the file, why, and the fix as a command."""
    # A folder dataset is read through links: name the file the user has to remove.
    return f"cannot read image '{os.path.realpath(path)}' ({reason}); remove or replace it, then rerun: dynvision run"


def read_image(path: str | os.PathLike[str], resolution: int | None = None) -> np.ndarray:
    """Decode one image file into a uint8 array of shape ``(C, H, W)`` with pixel values 0..255.

    Grey images (PIL modes ``L``, ``1``, ``LA``) give ``C = 1``; colour images (``RGB``, ``P``, ``RGBA``,
    ``CMYK``, ...) give ``C = 3`` (alpha is dropped).

    Args:
        path: The image file.
        resolution: ``None`` (default): the image as stored. An integer ``N``: resized so that the shorter
            side is ``N`` and centre-cropped to ``N x N`` (:func:`resize_center_crop`), so ``H = W = N``.

    Raises:
        DataError: the file is not a readable image (truncated, foreign, 16-bit); names the file and the fix.
    """
    try:
        with Image.open(path) as image:
            mode = image.mode
            if mode not in ("I", "I;16", "F"):
                if mode not in ("L", "RGB"):
                    # Palette and alpha images: keep the colours, drop transparency.
                    image = image.convert("L" if mode in ("1", "LA") else "RGB")
                if resolution is not None:
                    image = resize_center_crop(image, resolution)
                array = np.asarray(image, dtype=np.uint8)
    except FileNotFoundError:
        raise
    except _UNREADABLE as error:
        raise DataError(unreadable_image_message(path, str(error) or type(error).__name__)) from error
    if mode in ("I", "I;16", "F"):
        raise DataError(
            f"Image {path} has 16-bit or float pixels (PIL mode {mode!r}); only 8-bit grey or colour images are "
            "supported. Convert it to 8-bit PNG."
        )
    # np.asarray of a PIL image is read-only; copy so that callers (and tensors made from it) may write.
    return array[None].copy() if array.ndim == 2 else np.ascontiguousarray(array.transpose(2, 0, 1))


def verify_images(class_dir: str | os.PathLike[str]) -> int:
    """Decode every image of a class folder tree ``<class_dir>/<class>/<image>`` once and return how many there are.

    Raises:
        DataError: the first file that is not a readable image (:func:`unreadable_image_message`).
    """
    root = Path(class_dir)
    files = [
        path for folder in sorted(root.iterdir()) if folder.is_dir() and not folder.name.startswith(".")
        for path in sorted(folder.iterdir()) if is_image_name(path.name)
    ]

    def check(path: Path) -> None:
        try:
            with Image.open(path) as image:
                image.load()
        except FileNotFoundError:
            raise
        except _UNREADABLE as error:
            raise DataError(unreadable_image_message(path, str(error) or type(error).__name__)) from error

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        list(pool.map(check, files))
    return len(files)


class ClassFolderDataset(Dataset[tuple[torch.Tensor, int]]):
    """Images in class folders: ``<root>/<class name>/<file>``, one folder per class.

    Labels are positions in :attr:`classes`, which are the sorted folder names unless ``classes`` is given
    (then every folder must be one of them, so that a test tree with fewer classes keeps the training
    label indices). Files are ordered by (label, file name), so the item order is deterministic.

    Items are ``(image, label)``: a uint8 tensor ``(C, H, W)`` with values 0..255 and an ``int``. Every image
    must have the shape of the first one (or ``image_shape`` if given); a mismatch raises an error that
    names the file.

    Trees of photos in many sizes (ImageNet, Imagenette) need ``resolution=N``: every image is then resized so
    that its shorter side is ``N`` and centre-cropped to ``N x N`` (:func:`resize_center_crop`, the same code
    for every reader), and :attr:`image_shape` is ``(C, N, N)`` with ``C`` from the first image. Grey images
    in a colour tree (``C = 3``) are then repeated into three channels, as such trees usually hold a few;
    colour images in a grey tree still raise.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        classes: Sequence[str] | None = None,
        image_shape: Sequence[int] | None = None,
        resolution: int | None = None,
    ) -> None:
        self.root = Path(root)
        #: Side of the square every image is resized and centre-cropped to, or ``None`` (images as stored).
        self.resolution = None if resolution is None else check_int("resolution", resolution, minimum=2)
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"Class folder {self.root} does not exist or is not a directory. Expected "
                "<root>/<class>/<image files>; create it with dynvision_data.materialize_dataset() or check the path."
            )
        found = sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not found:
            raise DataError(
                f"'{self.root}' has no class folders (expected <root>/<class>/<images>); put one folder per class "
                "with its images in it, then rerun: dynvision run"
            )
        if classes is None:
            self.classes = found
        else:
            self.classes = list(classes)
            unknown = sorted(set(found) - set(self.classes))
            if unknown:
                raise ValueError(
                    f"Class folder {self.root} has classes {unknown} that are not among the given classes "
                    f"{self.classes}. Use the class list of the training data, or remove those folders."
                )
        self.class_to_index = {name: i for i, name in enumerate(self.classes)}

        samples: list[tuple[Path, int]] = []
        for name in found:
            files = sorted(p for p in (self.root / name).iterdir() if is_image_name(p.name))
            samples.extend((path, self.class_to_index[name]) for path in files)
        if not samples:
            raise DataError(
                f"'{self.root}' holds no images (files ending in {', '.join(IMAGE_EXTENSIONS)}) in its class folders; "
                "add the images, then rerun: dynvision run"
            )
        samples.sort(key=lambda item: (item[1], item[0].name))
        self.samples = samples
        self.labels = np.array([label for _, label in samples], dtype=np.int64)
        self.image_shape: tuple[int, int, int] = (
            tuple(int(s) for s in image_shape)
            if image_shape is not None
            else read_image(samples[0][0], self.resolution).shape
        )
        if image_shape is None and self.resolution is not None and self.image_shape[0] == 1:
            # Photo trees hold a few grey images among colour ones: one grey image first must not make the
            # whole tree grey. Look at the headers of up to PROBED_IMAGES images spread over the tree.
            step = max(1, len(samples) // PROBED_IMAGES)
            if any(_is_colour(path) for path, _ in samples[::step]):
                self.image_shape = (3, *self.image_shape[1:])
        if len(self.image_shape) != 3:
            raise ValueError(f"image_shape must be (C, H, W), got {self.image_shape}.")
        if self.resolution is not None and self.image_shape[1:] != (self.resolution, self.resolution):
            raise ValueError(
                f"image_shape={self.image_shape} contradicts resolution={self.resolution}, which makes every "
                f"image (C, {self.resolution}, {self.resolution}). Give one of them, or make them agree."
            )

    def __len__(self) -> int:
        return len(self.samples)

    def _read_checked(self, index: int) -> np.ndarray:
        path = self.samples[index][0]
        array = read_image(path, self.resolution)
        if self.resolution is not None and array.shape[0] == 1 and self.image_shape[0] == 3:
            array = np.repeat(array, 3, axis=0)  # a grey photo in a colour tree: the same as PIL's L -> RGB
        if array.shape != self.image_shape:
            if self.resolution is None:
                advice = (
                    "Resize or remove the file, or pass resolution=N to resize every image (shorter side N, "
                    "centre crop)."
                )
            elif self.image_shape[0] == 1:
                advice = (
                    f"The {PROBED_IMAGES} images looked at to choose the channels were all grey, so this tree is read "
                    "as grey: convert this image to grey or remove it, or pass image_shape=(3, N, N) to read the "
                    "tree in colour."
                )
            else:
                advice = "Convert it to RGB or remove the file."
            raise ValueError(
                f"Image {path} has shape (C, H, W) = {array.shape}"
                f"{'' if self.resolution is None else f' after resizing to resolution={self.resolution}'}, but "
                f"this dataset expects {self.image_shape} (the shape of "
                f"{self.samples[0][0].name if index else 'the first image'}). {advice}"
            )
        return array

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(self._read_checked(index)), int(self.labels[index])

    def load_arrays(self, indices: Sequence[int] | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Decode the selected images (all by default) into one array.

        Returns:
            ``(images, labels)``: uint8 ``(N, C, H, W)`` with values 0..255, and int64 ``(N,)``.
        """
        order = np.arange(len(self)) if indices is None else np.asarray(indices, dtype=np.int64)
        images = np.empty((len(order), *self.image_shape), dtype=np.uint8)

        def fill(position: int) -> None:
            images[position] = self._read_checked(int(order[position]))

        # PIL releases the GIL while decoding, so a few threads help on many small files.
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            list(pool.map(fill, range(len(order))))
        return images, self.labels[order].copy()

    def fingerprint(self) -> str:
        """Hash of the class list and of every file's name, size and modification time: changes when the tree's content changes."""
        digest = hashlib.sha256()
        digest.update("\0".join(self.classes).encode())
        for path, label in self.samples:
            stat = path.stat()
            digest.update(f"\0{label}/{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        return digest.hexdigest()[:16]
