"""Peak training memory per configuration, each measured in its own subprocess (``ru_maxrss``).

Run as a script to print the numbers quoted in packages/dynvision-models/README.md::

    python packages/dynvision-models/tests/engine/test_memory.py --batch 64 --size 32 --steps 20 40 80
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

__all__ = ["measure_training_step"]

_SCRIPT = Path(__file__).resolve()


def measure_training_step(
    n_steps: int, *, tbptt: int = 0, checkpoint: bool = False, batch: int = 8, size: int = 32
) -> dict[str, float]:
    """Peak extra memory (MB) and time (s) of one DyRCNNx4 training step in a fresh subprocess.

    The step is :class:`~dynvision_models.TemporalClassifier`'s (window by window when ``tbptt > 0``): forward,
    cross-entropy over all ``n_steps`` steps, backward. ``peak_mb`` is ``ru_maxrss`` after the step minus the
    resident set size before it (model and input already built), so the imports do not count.
    """
    args = [sys.executable, str(_SCRIPT), "--child", str(n_steps), str(tbptt), str(int(checkpoint)), str(batch),
            str(size)]
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    out = subprocess.run(args, capture_output=True, text=True, check=True, env=env, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _child(n_steps: int, tbptt: int, checkpoint: bool, batch: int, size: int) -> None:
    import resource
    import time

    import torch

    from dynvision_models import create_model
    from dynvision_models.system import TemporalClassifier

    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = create_model(
        "DyRCNNx4", input_shape=(3, size, size), n_timesteps=n_steps, tbptt_steps=tbptt, checkpoint_steps=checkpoint
    )
    system = TemporalClassifier(model, scheduler=None)
    frames = torch.randn(batch, 3, size, size)
    labels = torch.randint(0, 10, (batch,))
    page = os.sysconf("SC_PAGE_SIZE")
    with open("/proc/self/statm") as f:
        rss_before = int(f.read().split()[1]) * page / 2**20
    start = time.perf_counter()
    loss = system.training_step((frames, labels), 0)
    loss.backward()
    system.on_after_backward()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(json.dumps({"peak_mb": peak - rss_before, "seconds": seconds, "n_steps": n_steps}))


@pytest.mark.slow
def test_truncated_bptt_training_memory_is_flat_in_time() -> None:
    peaks = {n: measure_training_step(n, tbptt=10)["peak_mb"] for n in (20, 40, 80)}
    print("tbptt=10 peak MB:", peaks)
    assert peaks[80] < 1.5 * peaks[20], peaks


@pytest.mark.slow
def test_checkpointed_steps_need_less_training_memory_per_step() -> None:
    def per_step(**kwargs: bool) -> float:
        """Growth of the peak from T = 20 to T = 40 per step (MB): the fixed costs cancel out.

        Batch 16, so that the step's peak is above the high-water mark the imports left.
        """
        peaks = [measure_training_step(n, batch=16, **kwargs)["peak_mb"] for n in (20, 40)]
        return (peaks[1] - peaks[0]) / 20

    plain, checkpointed = per_step(), per_step(checkpoint=True)
    print(f"peak MB per step: plain {plain:.2f}, checkpointed {checkpointed:.2f}")
    # Measured 0.6-0.75x (h of every step stays, the other activations are recomputed); allocator noise.
    assert checkpointed < 0.85 * plain, (plain, checkpointed)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        n, k, ckpt, b, s = map(int, sys.argv[2:7])
        _child(n, k, bool(ckpt), b, s)
    else:
        parser = argparse.ArgumentParser(description=__doc__)
        parser.add_argument("--batch", type=int, default=64)
        parser.add_argument("--size", type=int, default=32)
        parser.add_argument("--steps", type=int, nargs="+", default=[20, 40, 80])
        opts = parser.parse_args()
        for n in opts.steps:
            for label, kwargs in (("bptt", {}), ("checkpoint", {"checkpoint": True}), ("tbptt=10", {"tbptt": 10})):
                r = measure_training_step(n, batch=opts.batch, size=opts.size, **kwargs)
                print(f"T={n:3d} {label:10s} peak {r['peak_mb']:7.0f} MB  step {r['seconds']:6.2f} s", flush=True)
