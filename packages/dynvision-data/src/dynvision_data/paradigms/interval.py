"""The ``interval`` paradigm: the same image twice, separated by a blank gap (paired-pulse / adaptation)."""

from __future__ import annotations

from typing import Any

from .._util import check_int
from .base import Paradigm, register_paradigm

__all__ = ["IntervalParadigm"]


@register_paradigm("interval")
class IntervalParadigm(Paradigm):
    """Show each image twice, for ``stimulus`` steps each, with ``interval`` blank steps in between.

    Timeline (``T = intro + 2 * stimulus + interval + outro`` steps)::

        [ intro x blank ][ stimulus x image ][ interval x blank ][ stimulus x image ][ outro x blank ]

    E.g. ``dt = 10`` ms, ``intro=2, stimulus=2, interval=4, outro=10``: 20 ms blank, a 20 ms flash, a
    40 ms gap, the same 20 ms flash again, then 100 ms blank (200 ms in all). Varying ``interval`` probes
    recovery from adaptation (the ratio of the second to the first response). Both presentations are onsets
    for ``rt`` label masking. With ``interval=0`` the two presentations merge into one.

    Args:
        intro: Blank steps before the first presentation (integer >= 0).
        stimulus: Steps of each presentation (integer >= 1).
        interval: Blank steps between the presentations (integer >= 0).
        outro: Blank steps after the second presentation (integer >= 0).
        blank: Pixel value of blank steps in normalised units; 0.0 = dataset mean.
        **options: Common options (``rt``, ``pattern``, ...; see :mod:`dynvision_data.paradigms.base`).
    """

    def __init__(
        self,
        *,
        intro: int = 0,
        stimulus: int = 2,
        interval: int = 2,
        outro: int = 24,
        blank: float = 0.0,
        **options: Any,
    ) -> None:
        super().__init__(blank=blank, **options)
        self.intro = check_int("intro", intro, minimum=0)
        self.stimulus = check_int("stimulus", stimulus, minimum=1)
        self.interval = check_int("interval", interval, minimum=0)
        self.outro = check_int("outro", outro, minimum=0)

    def phases(self) -> list[str]:
        shown = ["stimulus"] * self.stimulus
        return ["intro"] * self.intro + shown + ["interval"] * self.interval + shown + ["outro"] * self.outro

    def params(self) -> dict[str, Any]:
        return {
            "intro": self.intro,
            "stimulus": self.stimulus,
            "interval": self.interval,
            "outro": self.outro,
            "blank": self.blank,
        }
