"""The ``contrast`` paradigm: like ``duration``, with the image's contrast scaled around the blank value."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .base import register_paradigm
from .duration import DurationParadigm

if TYPE_CHECKING:
    import torch

__all__ = ["ContrastParadigm"]


@register_paradigm("contrast")
class ContrastParadigm(DurationParadigm):
    """Show each image at reduced (or raised) contrast between blank periods.

    Timeline as ``duration`` (``T = intro + stimulus + outro``); during the stimulus the frame is::

        shown = blank + contrast * (image - blank)          (normalised units)

    so ``contrast=1`` is the image itself, ``contrast=0`` is the blank frame, and ``0.5`` halves every
    pixel's distance from the blank value. With the default ``blank=0.0`` (the dataset mean in normalised
    units) this is ``contrast * image``: the image's Michelson/RMS contrast around the mean grey scales by
    ``contrast``. E.g. ``dt = 10`` ms, ``intro=2, stimulus=10, outro=3, contrast=0.25``: 20 ms blank, then
    100 ms of the image at 25 % contrast, then 30 ms blank.

    Args:
        intro, stimulus, outro: As for ``duration`` (steps).
        contrast: Contrast factor, a finite number >= 0 (values > 1 raise the contrast).
        blank: Pixel value of blank steps and the pivot of the scaling (normalised units).
        **options: Common options (``rt``, ``pattern``, ...; see :mod:`dynvision_data.paradigms.base`).
    """

    def __init__(
        self,
        *,
        intro: int = 2,
        stimulus: int = 10,
        outro: int = 3,
        contrast: float = 1.0,
        blank: float = 0.0,
        **options: Any,
    ) -> None:
        super().__init__(intro=intro, stimulus=stimulus, outro=outro, blank=blank, **options)
        if isinstance(contrast, bool) or not isinstance(contrast, int | float) or not math.isfinite(contrast):
            raise TypeError(f"contrast must be a finite number >= 0, got {contrast!r}.")
        if contrast < 0:
            raise ValueError(f"contrast must be >= 0 (0 = blank, 1 = the image), got {contrast}.")
        self.contrast = float(contrast)

    def stimulus_frames(self, images: torch.Tensor) -> torch.Tensor:
        if self.contrast == 1.0:
            return images
        return (images - self.blank).mul_(self.contrast).add_(self.blank)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "contrast": self.contrast}
