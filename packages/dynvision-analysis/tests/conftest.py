"""Tiny synthetic tables with answers known by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

#: Step duration of the synthetic tables, in ms.
DT_MS = 10.0


@pytest.fixture
def responses_table() -> pd.DataFrame:
    """3 samples × 4 steps × 2 areas (listed IT first, to test ordering); stimulus on at steps 1 and 2.

    response = sample + 10·step + 100·[area is IT], so at every (area, step) the samples 0, 1, 2 give
    mean = 1 + 10·step + 100·[IT], s = 1 (ddof 1) and sem = 1/√3.
    """
    rows = []
    for area, offset in (("IT", 100.0), ("V1", 0.0)):
        for sample in range(3):
            for step in range(4):
                rows.append(
                    {
                        "sample": sample,
                        "step": step,
                        "time_ms": step * DT_MS,
                        "area": area,
                        "response": sample + 10.0 * step + offset,
                        "response_std": 0.5,
                        "stimulus": int(step in (1, 2)),
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture
def outputs_table() -> pd.DataFrame:
    """4 samples × 3 steps, seeds 0 and 1 (2 samples each); stimulus on at step 0.

    correct: step 0 → 1 of 4, step 1 → 2 of 4, step 2 → 4 of 4. confidence = 0.1·(step + 1) + 0.01·sample.
    """
    correct = {0: [1, 0, 0, 0], 1: [1, 1, 0, 0], 2: [1, 1, 1, 1]}
    rows = []
    for sample in range(4):
        for step in range(3):
            rows.append(
                {
                    "sample": sample,
                    "step": step,
                    "time_ms": step * DT_MS,
                    "label": 3,
                    "guess": 3 if correct[step][sample] else 5,
                    "correct": correct[step][sample],
                    "confidence": 0.1 * (step + 1) + 0.01 * sample,
                    "stimulus": int(step == 0),
                    "seed": sample // 2,
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture
def make_responses():
    """Factory of random responses tables: ``make_responses(samples, steps, areas, seed=0)``."""

    def make(samples: int, steps: int, areas: tuple[str, ...] = ("V1", "V2", "V4", "IT"), seed: int = 0):
        rng = np.random.default_rng(seed)
        sample, step, area = (
            grid.ravel()
            for grid in np.meshgrid(
                np.arange(samples), np.arange(steps), np.arange(len(areas)), indexing="ij"
            )
        )
        return pd.DataFrame(
            {
                "sample": sample,
                "step": step,
                "time_ms": step * DT_MS,
                "area": np.asarray(areas)[area],
                "response": rng.normal(1.0 + area, 0.5, sample.size),
                "response_std": rng.random(sample.size),
                "stimulus": ((step >= 2) & (step < 5)).astype(int),
            }
        )

    return make
