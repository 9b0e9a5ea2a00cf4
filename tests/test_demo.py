"""The demo as a new user runs it: `dynvision demo` trains to >= 90% held-out accuracy and says where its outputs are."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.ffcv]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory, dynvision) -> tuple[Path, str]:
    workdir = tmp_path_factory.mktemp("demo")
    result = dynvision("demo", "--workdir", str(workdir), cwd=workdir, timeout=900)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return workdir, result.stdout + result.stderr


def test_demo_prints_where_its_figures_and_tables_are(demo_run: tuple[Path, str]) -> None:
    workdir, output = demo_run
    figures = re.findall(r"^\s+(\S+\.png)$", output, flags=re.MULTILINE)
    assert {Path(f).name for f in figures} == {"responses.png", "accuracy.png"}
    for figure in figures:
        assert Path(figure).is_file() and Path(figure).is_relative_to(workdir)
    assert "Tidy tables" in output


def test_demo_model_is_at_least_90_percent_correct_at_the_end_of_the_stimulus(demo_run: tuple[Path, str]) -> None:
    workdir, _ = demo_run
    (table_path,) = workdir.glob("reports/response/*/*/duration*/test_outputs.csv")
    table = pd.read_csv(table_path)
    assert table["sample"].nunique() == 1000  # the whole held-out set of mnist5k (20% of 5,000)
    last_stimulus_step = table.loc[table["stimulus"] == 1, "step"].max()
    accuracy = table.loc[table["step"] == last_stimulus_step, "correct"].mean()
    assert accuracy >= 0.90, f"held-out accuracy at the end of the stimulus is {accuracy:.3f}"
    # Before the stimulus the network has seen nothing: chance level.
    assert table.loc[table["step"] == 0, "correct"].mean() < 0.2


def test_running_the_demo_again_does_nothing(demo_run: tuple[Path, str], dynvision) -> None:
    workdir, _ = demo_run
    result = dynvision("demo", "--workdir", str(workdir), cwd=workdir, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Nothing to be done" in result.stdout + result.stderr
