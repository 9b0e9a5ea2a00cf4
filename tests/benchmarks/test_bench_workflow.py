"""Wall time of a dry run of a ~5,000-job sweep (dynvision-workflow): DAG build, job planning and printing.

The sweep: 12 model variants (``tau``) x 5 seeds, each trained once and tested in five experiments (duration,
contrast, interval, uniform and Gaussian noise: 33 test specs), i.e. init + train, then per spec a test and its
table, per experiment an aggregation and two figures: 4,983 jobs. The dry run is ``python -m snakemake -n`` in a
fresh interpreter (what ``dynvision run -n`` does), so the time includes start-up, configuration checks and
printing each job once. The figure quoted in packages/dynvision-workflow/README.md (Performance) comes from here;
the test asserts only the job count (timings depend on the machine), that the job-stats table is printed once and
that the dry run writes no outputs.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dynvision_workflow import paths

SWEEP = """
model_args: {tau: [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]}
seed: [1, 2, 3, 4, 5]
experiment: [duration, contrast, interval, uniformnoise, gaussiannoise]
"""
JOBS = 4983


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sweep") / "sweep.yaml"
    path.write_text(SWEEP)
    return path


def _dry_run(config: Path, workdir: Path) -> tuple[int, float, int]:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(paths.snakefile()), "--directory", str(workdir),
               "--cores", "2", "--dry-run", "--configfile", str(config)]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    seconds = time.perf_counter() - start
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = result.stdout + result.stderr
    totals = re.findall(r"^total\s+(\d+)$", text, flags=re.MULTILINE)
    return int(totals[-1]), seconds, text.count("Job stats:")


def test_dry_run_of_a_5000_job_sweep(benchmark, sweep, tmp_path):
    jobs, seconds, stats_tables = benchmark.pedantic(_dry_run, args=(sweep, tmp_path), rounds=3, iterations=1)
    benchmark.extra_info.update(jobs=jobs, seconds=round(seconds, 2))
    assert jobs == JOBS
    assert stats_tables == 1
    assert [p for p in tmp_path.iterdir() if p.name != ".snakemake"] == []
