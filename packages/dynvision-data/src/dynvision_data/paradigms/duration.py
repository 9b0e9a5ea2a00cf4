"""The ``duration`` paradigm: blank, then the image for a number of steps, then blank."""

from __future__ import annotations

from typing import Any

from .._util import check_int
from .base import Paradigm, register_paradigm

__all__ = ["DurationParadigm"]


@register_paradigm("duration")
class DurationParadigm(Paradigm):
    """Show each image once for ``stimulus`` steps between blank periods.

    Timeline (``T = intro + stimulus + outro`` steps)::

        [ intro x blank ][ stimulus x image ][ outro x blank ]

    With a step of ``dt`` ms, the stimulus appears at ``intro * dt`` ms and lasts ``stimulus * dt`` ms;
    e.g. ``dt = 10``, ``intro=2, stimulus=5, outro=13``: 20 ms of blank, a 50 ms flash, then 130 ms of
    blank (200 ms in all). Varying ``stimulus`` probes how responses depend on stimulus duration. With
    ``intro = outro = 0`` every step shows the image and frames are a broadcast view (like ``repetition``).

    Args:
        intro: Blank steps before the stimulus (integer >= 0).
        stimulus: Steps showing the image (integer >= 1).
        outro: Blank steps after the stimulus (integer >= 0).
        blank: Pixel value of blank steps in normalised units; 0.0 = dataset mean (a mean-grey screen).
        **options: Common options (``rt``, ``pattern``, ...; see :mod:`dynvision_data.paradigms.base`).
    """

    def __init__(
        self, *, intro: int = 1, stimulus: int = 20, outro: int = 9, blank: float = 0.0, **options: Any
    ) -> None:
        super().__init__(blank=blank, **options)
        self.intro = check_int("intro", intro, minimum=0)
        self.stimulus = check_int("stimulus", stimulus, minimum=1)
        self.outro = check_int("outro", outro, minimum=0)

    def phases(self) -> list[str]:
        return ["intro"] * self.intro + ["stimulus"] * self.stimulus + ["outro"] * self.outro

    def params(self) -> dict[str, Any]:
        return {"intro": self.intro, "stimulus": self.stimulus, "outro": self.outro, "blank": self.blank}
