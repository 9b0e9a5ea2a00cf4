"""Intrinsic adaptation: a slow suppression state per unit that builds up with the unit's own activity.

After Vinken, Boix and Kreiman (2020, Science Advances), "Incorporating intrinsic suppression in deep neural
networks captures dynamics of adaptation in neurophysiology and perception". Each unit keeps a suppression
state that low-pass filters its past rate; the state is subtracted from the unit's drive::

    s(t) = a * s(t-1) + (1 - a) * r(t-1)        (s(-1) = 0, r(-1) = 0)
    u(t) <- u(t) - b * s(t)

``a`` (dimensionless, per step of ``dt``) sets how slowly the suppression follows the rate (its time constant
is ``-dt / ln(a)`` ms); ``b`` is the suppression gain. ``b = 0`` switches adaptation off. The state uses only
the previous step's rate, so it is constant over a solver step (a solver may evaluate the drive several
times).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import checks

__all__ = ["IntrinsicAdaptation", "parse_adaptation"]


def parse_adaptation(value: object) -> tuple[float, float] | None:
    """Validate the ``adaptation`` kwarg: ``None``/``0`` (off) or ``(a, b)`` with ``0 <= a < 1``, ``b >= 0``.

    Returns ``None`` when adaptation is off (also for ``b == 0``), else ``(a, b)`` as floats.
    """
    checks.raise_problems(checks.adaptation_problems(value))
    if value is None or value is False or (isinstance(value, int | float) and value == 0):
        return None
    a, b = (float(v) for v in value)  # type: ignore[union-attr]
    return None if b == 0.0 else (a, b)


class IntrinsicAdaptation(nn.Module):
    """Suppression state update and its effect on the drive; no parameters (``a``, ``b`` are fixed).

    Args:
        retention: ``a`` in ``[0, 1)``, fraction of the suppression state kept per step.
        gain: ``b >= 0``, how strongly the state suppresses the drive.
    """

    def __init__(self, retention: float, gain: float) -> None:
        super().__init__()
        self.retention = float(retention)
        self.gain = float(gain)

    def update(self, s_prev: Tensor | None, r_prev: Tensor | None) -> Tensor | None:
        """``s(t)`` from ``s(t-1)``, ``r(t-1)`` (each ``(B, C, H, W)``, or ``None`` for zeros)."""
        if r_prev is None:
            return None if s_prev is None else s_prev * self.retention
        if s_prev is None:
            return r_prev * (1.0 - self.retention)
        # lerp(r, s, a) = (1 - a) r + a s in one kernel.
        return torch.lerp(r_prev, s_prev, self.retention)

    def extra_repr(self) -> str:
        return f"retention={self.retention}, gain={self.gain}"
