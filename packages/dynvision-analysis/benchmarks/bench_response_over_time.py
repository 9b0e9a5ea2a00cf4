"""Time and peak memory of ``response_over_time`` on a synthetic 1M-row responses table.

Run from the repository root (a few seconds, ~0.5 GB of temporary disk for the CSV part):

    .venv/bin/python packages/dynvision-analysis/benchmarks/bench_response_over_time.py [--rows 1000000]

Prints three measurements:

1. ``response_over_time`` on an in-memory DataFrame in the compact contract dtypes: wall time (best of 3)
   and the peak of memory allocated during the call (tracemalloc, which numpy and pandas report to).
2. The same on the DataFrame as a naive reader gets it (float64, area as str).
3. ``dynvision-analysis measure responses`` on the table written as CSV with 10 extra float columns, in a
   fresh process: wall time and peak resident memory (VmHWM) of the whole process, and the same for a
   naive ``pd.read_csv`` of every column followed by a groupby (the upstream approach).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from dynvision_analysis import response_over_time

AREAS = ("V1", "V2", "V4", "IT")
STEPS = 100

# Peak resident memory of this process in KiB. VmHWM is per address space, so unlike ru_maxrss it does not
# inherit the parent's peak across fork and exec.
PEAK = """
def PEAK():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
"""

NAIVE = (
    PEAK
    + """
import sys, time
import pandas as pd
start = time.perf_counter()
table = pd.read_csv(sys.argv[1])
table.groupby(["area", "step", "time_ms"])["response"].agg(["mean", "sem", "count"]).to_csv(sys.argv[2])
print(time.perf_counter() - start, PEAK())
"""
)

CLI = (
    PEAK
    + """
import sys, time
from dynvision_analysis.cli import main
start = time.perf_counter()
main(["measure", "responses", sys.argv[1], "-o", sys.argv[2]])
print(time.perf_counter() - start, PEAK())
"""
)

BASELINE = (
    PEAK
    + """
import dynvision_analysis.cli
print(0, PEAK())
"""
)


def synthetic(rows: int, seed: int = 0) -> pd.DataFrame:
    """A responses table of ``rows`` rows: samples × 100 steps × 4 areas, dt = 10 ms."""
    samples = rows // (STEPS * len(AREAS))
    rng = np.random.default_rng(seed)
    sample, step, area = (
        grid.ravel()
        for grid in np.meshgrid(np.arange(samples), np.arange(STEPS), np.arange(len(AREAS)), indexing="ij")
    )
    return pd.DataFrame(
        {
            "sample": sample.astype("int32"),
            "step": step.astype("int32"),
            "time_ms": step * 10.0,
            "area": pd.Categorical.from_codes(area, categories=list(AREAS)),
            "response": rng.gamma(2.0, 0.5, sample.size).astype("float32"),
            "response_std": rng.random(sample.size).astype("float32"),
            "stimulus": ((step >= 10) & (step < 30)).astype("int8"),
        }
    )


def in_memory(table: pd.DataFrame) -> tuple[float, float]:
    """Best-of-3 wall time (s) and peak traced allocation (MiB) of one call."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        response_over_time(table)
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    response_over_time(table)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return min(times), peak / 2**20


def in_subprocess(code: str, *args: str) -> tuple[float, float]:
    """Wall time (s) and peak RSS (MiB) reported by ``code`` run in a fresh interpreter."""
    output = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    seconds, kib = output.stdout.split()[-2:]
    return float(seconds), float(kib) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    rows = parser.parse_args().rows
    table = synthetic(rows)
    print(f"table: {len(table):,} rows, {table.memory_usage(deep=True).sum() / 2**20:.1f} MiB in memory")
    seconds, peak = in_memory(table)
    print(f"response_over_time, compact dtypes: {seconds:.3f} s, peak allocation {peak:.1f} MiB")
    naive = table.astype({"sample": "int64", "step": "int64", "area": "str", "response": "float64"})
    seconds, peak = in_memory(naive)
    print(f"response_over_time, float64 + str area: {seconds:.3f} s, peak allocation {peak:.1f} MiB")
    with tempfile.TemporaryDirectory() as folder:
        csv = Path(folder) / "test_responses.csv"
        extra = {f"extra_{index}": np.zeros(len(table), dtype="float32") for index in range(10)}
        table.assign(**extra).to_csv(csv, index=False)
        print(f"CSV with 10 extra columns: {csv.stat().st_size / 2**20:.0f} MiB on disk")
        _, base = in_subprocess(BASELINE)
        seconds, peak = in_subprocess(CLI, str(csv), str(Path(folder) / "measure.csv"))
        print(
            f"CLI measure responses: {seconds:.2f} s, peak RSS {peak:.0f} MiB (interpreter + imports: {base:.0f} MiB)"
        )
        seconds, peak = in_subprocess(NAIVE, str(csv), str(Path(folder) / "naive.csv"))
        print(f"naive read_csv + groupby: {seconds:.2f} s, peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
