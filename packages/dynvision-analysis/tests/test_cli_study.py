"""The study commands: study-table (measures and effects with CIs) and plot-study (the figures)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dynvision_analysis.cli import main
from dynvision_analysis.measures.study import EFFECT_COLUMNS, TABLE_COLUMNS, simulate_responses

CONDITIONS = {"repetition": ([1, 4], {}), "duration": ([1, 4], {}), "contrast": ([0.2, 1.0], {"stimulus": 6})}


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> list[str]:
    """``--table`` arguments for two variants × two seeds × three phenomena, in folders named like the
    workflow's (with ':' and '=' in the path)."""
    root = tmp_path_factory.mktemp("study")
    arguments = []
    for variant, adaptation in (("full-strong", 4.0), ("none-0", 0.0)):
        for seed in (1, 2):
            for phenomenon, (values, kw) in CONDITIONS.items():
                path = root / f"{variant}_{seed}" / f"{phenomenon}:intro=2+outro=20" / "test_responses.csv"
                path.parent.mkdir(parents=True)
                simulate_responses(phenomenon, values, n_images=4, adaptation=adaptation, seed=seed, **kw).to_csv(
                    path, index=False
                )
                arguments += ["--table", f"{variant}:{seed}:{phenomenon}={path}"]
    return arguments


@pytest.fixture(scope="module")
def study(sources, tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("out")
    table, effects = out / "study.csv", out / "effects.csv"
    assert main(["study-table", *sources, "-o", str(table), "--effects", str(effects), "--n-boot", "30"]) == 0
    return table, effects


def test_study_table_writes_both_tables(study):
    table, effects = (pd.read_csv(path, keep_default_na=False, na_values=[""]) for path in study)
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert list(effects.columns) == list(EFFECT_COLUMNS)
    assert set(table["variant"]) == {"full-strong", "none-0"} and (table["n_seeds"] == 2).all()
    assert len(effects) == 2 * 2 * 5  # variants × areas × effects
    assert "(30 resamples)" in table["ci"].iloc[0]


def test_plot_study_draws_one_area_or_all_and_the_effects(study, tmp_path):
    table, effects = study
    out = tmp_path / "study.png"
    assert main(["plot-study", str(table), "-o", str(out), "--reference", "none"]) == 0
    assert main(["plot-study-effects", str(effects), "-o", str(tmp_path / "effects.png")]) == 0
    assert out.read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "effects.png").read_bytes().startswith(b"\x89PNG")
    assert main(["plot-study", str(table), "-o", str(tmp_path / "all.svg"), "--area", "all"]) == 0
    assert sorted(path.name for path in tmp_path.glob("all_*.svg")) == ["all_V1.svg", "all_V2.svg"]
    # By default: the last area of the hierarchy, beside the packaged human reference.
    assert main(["plot-study", str(table), "-o", str(tmp_path / "default.svg")]) == 0
    text = (tmp_path / "default.svg").read_text()
    assert "area V2, beside human visual cortex" in text and "Groen et al. 2022" in text


def _error(capsys, *argv: str) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    return err


def test_study_commands_refuse_bad_input_in_one_line(study, tmp_path, capsys):
    table, _ = study
    message = _error(capsys, "study-table", "--table", f"v:0:adaption={table}", "-o", str(tmp_path / "s.csv"),
                     "--effects", str(tmp_path / "e.csv"))
    assert message.startswith("dynvision-analysis study-table: error:") and "unknown phenomenon 'adaption'" in message
    message = _error(capsys, "study-table", "--table", f"v:0:repetition={table}", "-o", str(tmp_path / "s.csv"),
                     "--effects", str(tmp_path / "s.csv"))
    assert "name the same file" in message
    message = _error(capsys, "plot-study-effects", str(table), "-o", str(tmp_path / "s.png"))
    assert message.startswith("dynvision-analysis plot-study-effects: error:") and "effect" in message
    message = _error(capsys, "plot-study", str(table), "-o", str(tmp_path / "s.png"), "--area", "IT")
    assert "no rows for area 'IT'" in message
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*.csv"))
    with pytest.raises(SystemExit) as exit_info:
        main(["study-table", "--table", "v:0=x.csv", "-o", "s.csv", "--effects", "e.csv"])
    assert exit_info.value.code == 2
    assert "expected VARIANT:SEED:PHENOMENON=PATH" in capsys.readouterr().err
