"""Time and peak memory of ``response_over_time`` over a 10-million-row responses CSV (dynvision-analysis).

The CSV (4 areas × 100 steps × 25,000 samples, ~290 MB) is generated once per session in a temporary folder,
from string lookup tables with numpy's vectorised string functions (~8 s on a 2-core machine; pandas'
``to_csv`` takes ~25 s), and deleted at the end of the session. Set ``DYNVISION_BENCH_ANALYSIS_ROWS`` to use a
smaller table (e.g. 1000000).

* ``test_response_over_time_csv``: wall time of reading the four needed columns in 1M-row chunks and reducing
  them to the mean and SEM per area and step, in this process (pytest-benchmark, 3 rounds).
* ``test_response_over_time_peak_memory``: the same in a fresh interpreter, reporting its peak resident memory
  (VmHWM) and the part of it taken by the interpreter and imports, so the figure is not inflated by pytest.

The figures quoted in packages/dynvision-analysis/README.md (Performance) come from these two tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from numpy.dtypes import StringDType

from dynvision_analysis import iter_table, response_over_time

ROWS = int(os.environ.get("DYNVISION_BENCH_ANALYSIS_ROWS", "10000000"))
AREAS = ("V1", "V2", "V4", "IT")
STEPS = 100
DT_MS = 10.0
COLUMNS = ["area", "step", "time_ms", "response"]
#: Peak growth of resident memory allowed over the interpreter and imports; a full read of 10M rows takes >1 GB.
MEMORY_BOUND_MIB = 400

MEASURE = """
import json, sys, time

def rss(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # KiB -> MiB

from dynvision_analysis import iter_table, response_over_time
base = rss("VmHWM")
start = time.perf_counter()
result = response_over_time(iter_table(sys.argv[1], ["area", "step", "time_ms", "response"], chunksize=1_000_000))
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_mib": rss("VmHWM"), "base_mib": base, "groups": len(result)}))
"""


def write_responses_csv(path: Path, rows: int, *, seed: int = 0) -> int:
    """Write a responses table of about ``rows`` rows (whole samples of 4 areas × 100 steps); return the rows.

    Each row is assembled from precomputed strings: the (step, time_ms, area, stimulus) prefix repeats per
    sample and the response values are drawn from a gamma distribution rounded to 3 decimals, so formatting
    costs one table lookup per value instead of one float-to-text conversion.
    """
    per_sample = STEPS * len(AREAS)
    samples = max(1, rows // per_sample)
    text = StringDType()
    prefix = np.array(
        [
            f"{step},{step * DT_MS:g},{area},{int(10 <= step < 30)},"
            for step in range(STEPS)
            for area in AREAS
        ],
        dtype=text,
    )
    values = np.array([f"{k / 1000:.3f}" for k in range(10_000)], dtype=text)
    rng = np.random.default_rng(seed)
    with path.open("w") as handle:
        handle.write("step,time_ms,area,stimulus,sample,response,response_std\n")
        for first in range(0, samples, 2500):  # 1M rows at a time
            last = min(samples, first + 2500)
            count = (last - first) * per_sample
            sample = np.repeat(
                np.array([f"{index}," for index in range(first, last)], dtype=text), per_sample
            )
            response = values[np.minimum((rng.gamma(2.0, 0.5, count) * 1000).astype(np.int64), 9999)]
            spread = values[rng.integers(0, 1000, count)]
            line = np.strings.add(np.strings.add(np.tile(prefix, last - first), sample), response)
            line = np.strings.add(np.strings.add(line, ","), spread)
            handle.write("\n".join(line.tolist()))
            handle.write("\n")
    return samples * per_sample


@pytest.fixture(scope="session")
def responses_csv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    path = tmp_path_factory.mktemp("analysis-bench") / "test_responses.csv"
    rows = write_responses_csv(path, ROWS)
    yield path, rows
    path.unlink(missing_ok=True)  # ~290 MB: do not leave it in pytest's kept temporary folders


def _check(result, rows: int) -> None:
    assert len(result) == len(AREAS) * STEPS
    assert result["n"].eq(rows // (len(AREAS) * STEPS)).all()
    # Gamma(2, 0.5) has mean 1; rounding down to 3 decimals lowers it by 0.0005.
    np.testing.assert_allclose(result["mean"], 1.0, atol=0.05)


@pytest.mark.benchmark(group="analysis-response-over-time-csv")
def test_response_over_time_csv(benchmark, responses_csv) -> None:
    path, rows = responses_csv

    def run():
        return response_over_time(iter_table(path, COLUMNS, chunksize=1_000_000))

    benchmark.extra_info.update(rows=rows, chunksize=1_000_000, file_mib=round(path.stat().st_size / 2**20))
    result = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=0)
    _check(result, rows)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak RSS is read from /proc (Linux)")
@pytest.mark.benchmark(group="analysis-response-over-time-memory")
def test_response_over_time_peak_memory(benchmark, responses_csv) -> None:
    path, rows = responses_csv

    def run() -> dict[str, float]:
        output = subprocess.run(
            [sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, check=True
        )
        return json.loads(output.stdout.strip().splitlines()[-1])

    measured = benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    growth = measured["peak_mib"] - measured["base_mib"]
    benchmark.extra_info.update(
        rows=rows,
        seconds_in_fresh_process=round(measured["seconds"], 2),
        peak_rss_mib=round(measured["peak_mib"]),
        interpreter_and_imports_mib=round(measured["base_mib"]),
        growth_mib=round(growth),
    )
    assert measured["groups"] == len(AREAS) * STEPS
    assert growth < MEMORY_BOUND_MIB, f"peak RSS grew by {growth:.0f} MiB reducing {rows:,} rows"
