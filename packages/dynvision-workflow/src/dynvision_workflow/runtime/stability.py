"""Stability step: the leading eigenvalues of a model state's linearised recurrent step, as a spectrum table.

    python -m dynvision_workflow.runtime.stability STATE.pt --dataset TEST_FOLDER --output spectrum.csv
        [--images 2] [--k 6] [--steps N] [--tol T] [--threads 2] [--image-resolution PX]

The state is linearised after a blank (zero) image and after each of ``--images`` test images (a seeded subset of
the test folder, normalised as in testing) has been shown for ``--steps`` steps
(:func:`dynvision_models.engine.recurrent_spectrum`): per area and for the whole network, the ``k`` eigenvalues of
largest modulus, with their decay time constants and frequencies. One row per eigenvalue, the columns of
``dynvision_models.engine.SPECTRUM_COLUMNS``; ``image`` names the stimulus (``blank``, or
``test image <n> (class <class>)`` with ``n`` the image's position in the subset). ``dynvision-analysis plot-stability`` and ``stability-summary``
read it. The table is written atomically.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..options import SettingsError, StabilitySettings, add_settings_arguments
from .provenance import atomic_path

__all__ = ["BLANK", "main", "spectrum_rows", "write_spectrum_table"]

log = logging.getLogger(__name__)

#: The ``image`` of the blank stimulus's spectrum.
BLANK = "blank"


def spectrum_rows(
    state_path: str | os.PathLike[str],
    dataset: str | os.PathLike[str] | None,
    settings: StabilitySettings,
    *,
    target: str | os.PathLike[str] | None = None,
) -> list[dict[str, Any]]:
    """The spectrum rows of a state file: the blank image's, then each test image's (``settings.images`` of
    ``dataset``; none without a dataset). ``target`` is the output the error messages name."""
    import torch

    from dynvision_models.engine import recurrent_spectrum

    from .progress import quiet_library_noise
    from .states import build_model, load_state
    from .test import eval_loader
    from .train import image_resolution_for

    if settings.images and dataset is None:
        raise SettingsError(f"--images {settings.images} needs --dataset (the test class folder); or give --images 0.")
    quiet_library_noise()
    torch.set_num_threads(settings.threads)
    state = load_state(state_path, target=target)
    model = build_model(state)
    stimuli: list[tuple[str, Any]] = [(BLANK, None)]
    if settings.images:
        classes = state.data["classes"]
        loader = eval_loader(
            state, dataset,  # type: ignore[arg-type]
            batch_size=settings.images, limit=settings.images,
            resolution=image_resolution_for(settings.image_resolution, state, step="stability"),
        )
        for images, labels in loader:
            stimuli += [(f"test image {n} (class {classes[int(label)]})", image) for n, (image, label) in
                        enumerate(zip(images, labels, strict=True), start=len(stimuli) - 1)]
    rows: list[dict[str, Any]] = []
    for name, stimulus in stimuli:
        log.info("spectrum of %s after %s", state_path, name)
        for row in recurrent_spectrum(model, stimulus, k=settings.k, steps=settings.steps, tol=settings.tol):
            rows.append({**row, "image": name})
    return rows


def write_spectrum_table(
    state_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    dataset: str | os.PathLike[str] | None,
    settings: StabilitySettings,
) -> int:
    """Write the spectrum table of a state file atomically (:func:`spectrum_rows`); return the rows written."""
    rows = spectrum_rows(state_path, dataset, settings, target=output)
    columns = list(rows[0])
    with atomic_path(output) as temporary, Path(temporary).open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)
    unconverged = sum(not row["converged"] for row in rows)
    if unconverged:
        log.warning(
            "%d of %d eigenvalues did not meet the tolerance (converged=False in the table); a larger "
            "stability.tol or a smaller stability.k converges sooner", unconverged, len(rows),
        )
    return len(rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dynvision_workflow.runtime.stability",
        description="Write the leading eigenvalues of a model state's linearised recurrent step, per area, after a "
        "blank and after test images (for dynvision-analysis plot-stability and stability-summary).",
    )
    parser.add_argument("state", type=Path, help="model state file (init.pt, trained.pt)")
    parser.add_argument("--dataset", type=Path, default=None, help="test class folder the images come from")
    parser.add_argument("--output", "-o", type=Path, required=True, help="spectrum table (.csv)")
    add_settings_arguments(parser, StabilitySettings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; 0 on success, 2 with one line on stderr for bad input (a missing or unreadable state, a
    model without the temporal engine, an area or setting the model cannot take)."""
    from .states import StateError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        settings = StabilitySettings.from_namespace(args)
        rows = write_spectrum_table(args.state, args.output, args.dataset, settings)
    except (StateError, SettingsError, TypeError, ValueError) as error:
        print(f"dynvision stability: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {rows} eigenvalues to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
