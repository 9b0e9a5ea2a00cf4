"""The ``repetition`` paradigm: the image at every step."""

from __future__ import annotations

from typing import Any

from .._util import check_int
from .base import Paradigm, register_paradigm

__all__ = ["RepetitionParadigm"]


@register_paradigm("repetition")
class RepetitionParadigm(Paradigm):
    """Show each image at every one of ``steps`` steps (the usual training presentation).

    Timeline (``T = steps``)::

        [ steps x image ]

    E.g. ``dt = 2`` ms, ``steps=20``: the image is on screen for 40 ms. ``frames`` is a stride-0 broadcast
    view of the images (``images.unsqueeze(1).expand(B, T, C, H, W)``): no copy, whatever ``T``. With a
    ``pattern`` (e.g. ``"1011"``) the gated-off steps are blank and the frames become a fresh tensor.

    Args:
        steps: Number of steps ``T`` (integer >= 1).
        blank: Pixel value of steps a ``pattern`` blanks, in normalised units (0.0 = dataset mean).
        **options: Common options (``rt``, ``pattern``, ...; see :mod:`dynvision_data.paradigms.base`).
    """

    def __init__(self, *, steps: int = 20, blank: float = 0.0, **options: Any) -> None:
        super().__init__(blank=blank, **options)
        self.steps = check_int("steps", steps, minimum=1)

    def phases(self) -> list[str]:
        return ["stimulus"] * self.steps

    def params(self) -> dict[str, Any]:
        return {"steps": self.steps, "blank": self.blank}
