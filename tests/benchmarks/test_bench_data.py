"""Data loading speed: the FFCV training loader against a plain PIL-per-item DataLoader and the torch backend.

All three read the same 4,500 training images (the 90 % part of 5,000 random 32x32 RGB PNGs in 10 classes),
batch 256, with random flip and translate, one full epoch per round. They share one benchmark group, so
pytest-benchmark's table shows their ratio; images per second are recorded in ``extra_info``. Only
correctness is asserted; times are recorded, not judged. Loaders are built outside the timed rounds (the torch
backend decodes every image once when it is built; the PIL baseline decodes every image every epoch), and
warm-up rounds absorb FFCV's JIT compilation of its first epoch.

Everything runs on one core (one torch thread, one FFCV decoding thread, no DataLoader workers): on the shared
2-core CI machine, FFCV's default of one thread per core next to torch's intra-op threads oversubscribes the
cores and makes epoch times swing 10-30x between rounds, which would drown the ratio being measured.

Further groups time paradigms on a batch of 256 such images with T = 20 against T = 1 (target: T = 20 at most
10 % slower): ``repetition`` and ``duration`` without blank steps (frames are a broadcast view, no copy), and
``duration`` with blank steps (``intro=2, stimulus=10, outro=8``; a fresh 60 MiB tensor must be written).

The last group times what training sees: a ``TrainingDataModule`` epoch (the FFCV loader, batch 256, flip and
translate) with every batch presented as Lightning presents it (``on_after_batch_transfer``, the module's
defaults), at T = 1 against T = 20 with blank steps (target: at most 10 % slower).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from dynvision_data import (
    Augmentation,
    ClassFolderDataset,
    Timeline,
    TrainingDataModule,
    create_paradigm,
    load_stats,
    make_loader,
    split_indices,
    write_betons,
)

N_CLASSES, PER_CLASS, SIZE = 10, 500, 32
BATCH, VAL_FRACTION, SEED = 256, 0.1, 0
AUGMENTATION = Augmentation(flip=True, translate=4, fill=0)
N_TRAIN = round(N_CLASSES * PER_CLASS * (1 - VAL_FRACTION))
IMAGES_PER_EPOCH = (N_TRAIN // BATCH) * BATCH  # shuffled training loaders drop the ragged last batch


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def png_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5,000 random uint8 32x32 RGB images as PNG class folders ``<root>/c<k>/<i>.png``."""
    root = tmp_path_factory.mktemp("bench-data") / "train"
    rng = np.random.default_rng(0)
    for k in range(N_CLASSES):
        (root / f"c{k}").mkdir(parents=True)
        pixels = rng.integers(0, 256, (PER_CLASS, SIZE, SIZE, 3), dtype=np.uint8)
        for i in range(PER_CLASS):
            Image.fromarray(pixels[i]).save(root / f"c{k}" / f"{i:04d}.png", compress_level=1)
    return root


@pytest.fixture(scope="module")
def train_beton(png_folder: Path) -> Path:
    """The training part as a .beton, written (in a fresh writer process) before any FFCV loader exists."""
    out = png_folder.parent / "betons"
    write_betons(png_folder, out / "train.beton", out / "val.beton", val_fraction=VAL_FRACTION, seed=SEED)
    return out / "train.beton"


class PNGFolder(Dataset[tuple[torch.Tensor, int]]):
    """The usual baseline: open, decode and augment one PNG per item with PIL and per-item tensor ops."""

    def __init__(
        self, samples: list[tuple[Path, int]], mean: tuple[float, ...], std: tuple[float, ...]
    ) -> None:
        self.samples = samples
        self.mean = torch.tensor(mean).view(-1, 1, 1)
        self.std = torch.tensor(std).view(-1, 1, 1)
        self.shift = AUGMENTATION.translate

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        with Image.open(path) as image:
            pixels = torch.from_numpy(np.array(image.convert("RGB"), dtype=np.uint8)).permute(2, 0, 1)
        if torch.rand(()) < 0.5:
            pixels = pixels.flip(-1)
        s = self.shift
        dy, dx = (int(v) for v in torch.randint(0, 2 * s + 1, (2,)))
        pixels = F.pad(pixels, (s, s, s, s), value=AUGMENTATION.fill)[:, dy : dy + SIZE, dx : dx + SIZE]
        return (pixels.float() / 255.0 - self.mean) / self.std, label


def _pil_dataloader(png_folder: Path) -> DataLoader:
    dataset = ClassFolderDataset(png_folder)
    train, _ = split_indices(dataset.labels, VAL_FRACTION, SEED)
    stats = load_stats(png_folder)
    samples = [dataset.samples[i] for i in train]
    # num_workers=0: one core for every loader (see above), and forking next to FFCV's threads is unsafe.
    return DataLoader(
        PNGFolder(samples, stats.mean, stats.std),
        batch_size=BATCH,
        shuffle=True,
        drop_last=True,
        num_workers=0,
        generator=torch.Generator().manual_seed(SEED),
    )


def _record_throughput(benchmark: Any, images: int) -> None:
    if benchmark.stats is not None:  # None under --benchmark-disable
        benchmark.extra_info["img_per_s"] = round(images / benchmark.stats.stats.mean)


@pytest.mark.benchmark(group="train-epoch-4500x32px-rgb-b256-flip-translate")
@pytest.mark.parametrize(
    "loader_kind", [pytest.param("ffcv", marks=pytest.mark.ffcv), "pil-dataloader", "torch-backend"]
)
def test_training_epoch_speed(
    benchmark, request: pytest.FixtureRequest, png_folder: Path, loader_kind: str
) -> None:
    if loader_kind == "ffcv":
        beton = request.getfixturevalue("train_beton")
        loader: Any = make_loader(
            beton, backend="ffcv", batch_size=BATCH, augmentation=AUGMENTATION, seed=SEED, num_workers=1
        )
        assert loader.backend == "ffcv"
    elif loader_kind == "torch-backend":
        loader = make_loader(
            png_folder,
            split="train",
            backend="torch",
            batch_size=BATCH,
            augmentation=AUGMENTATION,
            val_fraction=VAL_FRACTION,
            seed=SEED,
        )
    else:
        loader = _pil_dataloader(png_folder)

    def one_epoch() -> tuple[int, tuple[int, ...], torch.dtype]:
        count, shape, dtype = 0, (), torch.float32
        for images, labels in loader:
            count += labels.shape[0]
            shape, dtype = tuple(images.shape), images.dtype
        return count, shape, dtype

    benchmark.extra_info.update(
        images_per_epoch=IMAGES_PER_EPOCH,
        batch=BATCH,
        cpu_threads=len(os.sched_getaffinity(0)),
        torch_threads=torch.get_num_threads(),
    )
    count, shape, dtype = benchmark.pedantic(one_epoch, rounds=3, iterations=1, warmup_rounds=1)
    _record_throughput(benchmark, IMAGES_PER_EPOCH)
    assert count == IMAGES_PER_EPOCH
    assert shape == (BATCH, 3, SIZE, SIZE) and dtype == torch.float32


PARADIGM_CASES = {
    # name: (paradigm, parameters at T = 1, parameters at T = 20)
    "repetition": ("repetition", {"steps": 1}, {"steps": 20}),
    "duration-all-on": (
        "duration",
        {"intro": 0, "stimulus": 1, "outro": 0},
        {"intro": 0, "stimulus": 20, "outro": 0},
    ),
    "duration-with-blanks": (
        "duration",
        {"intro": 0, "stimulus": 1, "outro": 0},
        {"intro": 2, "stimulus": 10, "outro": 8},
    ),
    # the same as a Timeline (``lazy=True``): the image, the blank and the mask; the model picks each frame
    "duration-with-blanks-lazy": (
        "duration",
        {"intro": 0, "stimulus": 1, "outro": 0},
        {"intro": 2, "stimulus": 10, "outro": 8},
    ),
    # the same, writing into one caller-owned buffer (``out=``) instead of a fresh tensor every batch
    "duration-with-blanks-out": (
        "duration",
        {"intro": 0, "stimulus": 1, "outro": 0},
        {"intro": 2, "stimulus": 10, "outro": 8},
    ),
}


@pytest.mark.parametrize("case", list(PARADIGM_CASES))
@pytest.mark.parametrize("n_steps", [1, 20])
def test_paradigm_speed(benchmark, case: str, n_steps: int) -> None:
    benchmark.group = f"paradigm-{case}-b256-32px-rgb"
    name, at_1, at_20 = PARADIGM_CASES[case]
    paradigm = create_paradigm(name, **(at_1 if n_steps == 1 else at_20))
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(BATCH, 3, SIZE, SIZE, generator=generator)
    labels = torch.randint(0, N_CLASSES, (BATCH,), generator=generator)
    kwargs: dict[str, Any] = {}
    if case.endswith("-out"):
        kwargs["out"] = torch.empty(BATCH, n_steps, 3, SIZE, SIZE)
    if case.endswith("-lazy"):
        kwargs["lazy"] = True
    frames, step_labels, stimulus = paradigm(images, labels, **kwargs)
    # A broadcast view of the images (or a Timeline holding them), not a copy.
    view = (frames.image if isinstance(frames, Timeline) else frames).data_ptr() == images.data_ptr()
    benchmark.extra_info.update(
        n_steps=n_steps,
        frames_view=view,
        frames_mib=0.0 if view else round(frames.numel() * 4 / 2**20, 1),
        torch_threads=torch.get_num_threads(),
    )
    frames, step_labels, stimulus = benchmark.pedantic(
        paradigm, args=(images, labels), kwargs=kwargs, rounds=20, iterations=1, warmup_rounds=2
    )
    _record_throughput(benchmark, BATCH)
    assert frames.shape == (BATCH, n_steps, 3, SIZE, SIZE) and step_labels.shape == (BATCH, n_steps)
    if isinstance(frames, Timeline):
        frames = frames.materialize()
    assert torch.equal(frames[:, int(stimulus.int().argmax())], images)
    lazy = case.endswith("-lazy")
    assert view == (
        case in ("repetition", "duration-all-on") or (n_steps == 1 and "out" not in kwargs) or lazy
    )


@pytest.mark.ffcv
@pytest.mark.benchmark(group="presented-epoch-4500x32px-rgb-b256-flip-translate-ffcv")
@pytest.mark.parametrize("n_steps", [1, 20])
def test_presented_training_epoch_speed(benchmark, png_folder: Path, train_beton: Path, n_steps: int) -> None:
    """A training epoch presented at ``n_steps``; before each timed epoch an untimed one at the other T runs, so
    both cases see the same conditions (on a shared machine, whichever case runs first is otherwise faster)."""
    _, at_1, at_20 = PARADIGM_CASES["duration-with-blanks"]
    modules = {
        steps: TrainingDataModule(
            png_folder,
            train_beton=train_beton,
            val_beton=train_beton.with_name("val.beton"),
            backend="ffcv",
            val_fraction=VAL_FRACTION,
            seed=SEED,
            batch_size=BATCH,
            flip=AUGMENTATION.flip,
            translate=AUGMENTATION.translate,
            paradigm="duration",
            paradigm_params=params,
            num_workers=1,
        )
        for steps, params in ((1, at_1), (20, at_20))
    }

    def one_epoch(steps: int) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
        data, count, shape, label_shape = modules[steps], 0, (), ()
        for batch in data.train_dataloader():
            frames, labels, _ = data.on_after_batch_transfer(batch, 0)
            count += labels.shape[0]
            shape, label_shape = tuple(frames.shape), tuple(labels.shape)
        return count, shape, label_shape

    other = 21 - n_steps
    benchmark.extra_info.update(
        n_steps=n_steps, lazy=modules[n_steps].lazy, torch_threads=torch.get_num_threads()
    )
    count, shape, label_shape = benchmark.pedantic(
        one_epoch, args=(n_steps,), setup=lambda: one_epoch(other) and None, rounds=15, warmup_rounds=1
    )
    _record_throughput(benchmark, IMAGES_PER_EPOCH)
    assert count == IMAGES_PER_EPOCH
    assert shape == (BATCH, n_steps, 3, SIZE, SIZE) and label_shape == (BATCH, n_steps)
