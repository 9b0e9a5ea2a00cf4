"""Peak training memory per configuration, each measured in its own subprocess.

On the CPU the peak is ``ru_maxrss`` (allocator noise included); with ``--device cuda`` it is the CUDA
allocator's exact ``max_memory_allocated``. Run as a script to print the numbers quoted in
packages/dynvision-models/README.md::

    python packages/dynvision-models/tests/engine/test_memory.py --batch 64 --size 32 --steps 20 40 80
    python packages/dynvision-models/tests/engine/test_memory.py --device cuda --batch 64 --steps 20 40 80
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
    n_steps: int,
    *,
    tbptt: int = 0,
    checkpoint: int = 0,
    batch: int = 8,
    size: int = 32,
    device: str = "cpu",
) -> dict[str, float]:
    """Peak extra memory (MB) and time (s) of one DyRCNNx4 training step in a fresh subprocess.

    The step is :class:`~dynvision_models.TemporalClassifier`'s (window by window when ``tbptt > 0``): forward,
    cross-entropy over all ``n_steps`` steps, backward. ``peak_mb`` is ``ru_maxrss`` after the step minus the
    resident set size before it (model and input already built), so the imports do not count; on a CUDA
    device it is the allocator's peak during the step minus what was allocated before it.
    """
    args = [sys.executable, str(_SCRIPT), "--child", str(n_steps), str(tbptt), str(int(checkpoint)), str(batch),
            str(size), device]
    # A fixed mmap threshold: glibc otherwise raises it after large frees and serves later large tensors from
    # its heap, where freed blocks stay resident, so ru_maxrss would count transients that are long gone.
    env = {**os.environ, "OMP_NUM_THREADS": "2", "MALLOC_MMAP_THRESHOLD_": "65536"}
    out = subprocess.run(args, capture_output=True, text=True, check=True, env=env, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _child(n_steps: int, tbptt: int, checkpoint: int, batch: int, size: int, device: str) -> None:
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
    system = TemporalClassifier(model, scheduler=None).to(device)
    frames = torch.randn(batch, 3, size, size, device=device)
    labels = torch.randint(0, 10, (batch,), device=device)
    cuda = device.startswith("cuda")
    if cuda:
        # One untimed step first (cuDNN workspaces, autograd's pools), then the measured one.
        system.training_step((frames, labels), 0).backward()
        system.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated() / 2**20
    else:
        page = os.sysconf("SC_PAGE_SIZE")
        with open("/proc/self/statm") as f:
            before = int(f.read().split()[1]) * page / 2**20
    start = time.perf_counter()
    loss = system.training_step((frames, labels), 0)
    loss.backward()
    system.on_after_backward()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    if cuda:
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(json.dumps({"peak_mb": peak - before, "seconds": seconds, "n_steps": n_steps}))


@pytest.mark.slow
def test_truncated_bptt_training_memory_is_flat_in_time() -> None:
    peaks = {n: measure_training_step(n, tbptt=10)["peak_mb"] for n in (20, 40, 80)}
    print("tbptt=10 peak MB:", peaks)
    assert peaks[80] < 1.5 * peaks[20], peaks


@pytest.mark.slow
def test_checkpointed_segments_need_less_training_memory_per_step() -> None:
    def per_step(checkpoint: int = 0) -> float:
        """Growth of the peak from T = 20 to T = 40 per step (MB): the fixed costs cancel out.

        Batch 16, so that the step's peak is above the high-water mark the imports left.
        """
        peaks = [measure_training_step(n, batch=16, checkpoint=checkpoint)["peak_mb"] for n in (20, 40)]
        return (peaks[1] - peaks[0]) / 20

    plain, single, segments = per_step(), per_step(1), per_step(10)
    print(f"peak MB per step: plain {plain:.2f}, checkpoint_steps=1 {single:.2f}, =10 {segments:.2f}")
    # Exact on a GPU (CUDA allocator, batch 64): 0.62x with one step per segment (h of every step stays) and
    # 0.24x with segments of 10 (3 of every 10 states stay: the longest delay ring). Here: 0.63x and 0.32x.
    assert single < 0.85 * plain, (plain, single)
    assert segments < 0.5 * plain, (plain, segments)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        n, k, ckpt, b, s = map(int, sys.argv[2:7])
        _child(n, k, ckpt, b, s, sys.argv[7])
    else:
        parser = argparse.ArgumentParser(description=__doc__)
        parser.add_argument("--batch", type=int, default=64)
        parser.add_argument("--size", type=int, default=32)
        parser.add_argument("--steps", type=int, nargs="+", default=[20, 40, 80])
        parser.add_argument("--device", default="cpu")
        parser.add_argument("--checkpoint", type=int, nargs="+", default=[1], help="checkpoint_steps values")
        opts = parser.parse_args()
        variants = [("bptt", {}), *((f"checkpoint={k}", {"checkpoint": k}) for k in opts.checkpoint)]
        for n in opts.steps:
            for label, kwargs in (*variants, ("tbptt=10", {"tbptt": 10})):
                r = measure_training_step(n, batch=opts.batch, size=opts.size, device=opts.device, **kwargs)
                print(f"T={n:3d} {label:10s} peak {r['peak_mb']:7.0f} MB  step {r['seconds']:6.2f} s", flush=True)
