from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import save_file

from dynvision_workflow.runtime.tables import TableError, aggregate_tables, responses_table


def _responses_file(path, n=3, t=4, areas=("V1", "V2")):
    arrays = {"sample": np.arange(n, dtype=np.int64), "time_ms": np.arange(t, dtype=np.float32) * 2.0}
    arrays["stimulus"] = np.array([0, 1, 1, 0][:t], dtype=np.uint8)
    for k, area in enumerate(areas):
        arrays[f"{area}.mean"] = (np.arange(n * t, dtype=np.float32).reshape(n, t) + 100 * k)
        arrays[f"{area}.std"] = np.ones((n, t), dtype=np.float32)
    save_file(arrays, str(path), metadata={"areas": json.dumps(list(areas)), "dt": json.dumps(2.0)})
    return path


def test_responses_table_is_tidy_and_exact(tmp_path):
    table = responses_table(_responses_file(tmp_path / "r.safetensors"))
    assert list(table.columns) == ["sample", "step", "time_ms", "area", "response", "response_std", "stimulus"]
    assert len(table) == 3 * 4 * 2
    row = table[(table["area"] == "V2") & (table["sample"] == 1) & (table["step"] == 2)].iloc[0]
    assert row["response"] == 100 + 1 * 4 + 2
    assert row["time_ms"] == 4.0
    assert row["stimulus"] == 1


def test_missing_or_foreign_responses_file_is_named(tmp_path):
    with pytest.raises(TableError, match="does not exist"):
        responses_table(tmp_path / "none.safetensors")
    save_file({"x": np.zeros(2, dtype=np.float32)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(TableError, match="no 'areas' metadata"):
        responses_table(tmp_path / "foreign.safetensors")
    (tmp_path / "corrupt.safetensors").write_bytes(b"\x00\x01garbage")
    with pytest.raises(TableError, match="cannot be read"):
        responses_table(tmp_path / "corrupt.safetensors")


def test_aggregate_adds_paradigm_parameters_from_folder_names(tmp_path):
    paths = []
    for stim in (2, 4):
        folder = tmp_path / f"duration:intro=1+stimulus={stim}"
        folder.mkdir()
        pd.DataFrame({"sample": [0, 1], "stimulus": [1, 0]}).to_csv(folder / "t.csv", index=False)
        paths.append(folder / "t.csv")
    table = aggregate_tables(paths)
    assert set(table["paradigm"]) == {"duration"}
    assert list(table["paradigm_stimulus"]) == [2, 2, 4, 4]
    assert list(table["intro"]) == [1, 1, 1, 1]
    assert list(table["stimulus"]) == [1, 0, 1, 0]


def test_aggregate_names_a_swept_model_override_column_by_its_canonical_spelling(tmp_path):
    from dynvision_workflow.runtime.tables import override_column

    folder = tmp_path / "duration:stimulus=2@idle=5+seed=3"
    folder.mkdir()
    pd.DataFrame({"sample": [0], "stimulus": [1]}).to_csv(folder / "t.csv", index=False)
    table = aggregate_tables([folder / "t.csv"])
    assert table["idle"].tolist() == [5] and table["paradigm_stimulus"].tolist() == [2]
    # a model keyword named like a paradigm parameter (the common option `seed`) or a measurement column
    assert table["model_seed"].tolist() == [3] and "seed" not in table.columns
    assert override_column("idle_timesteps", "duration") == "idle" and override_column("step") == "model_step"


def test_aggregate_names_upstream_spellings_by_our_columns(tmp_path):
    """A folder named with upstream DynVision's short keys (stim, noiselevel) gets our columns."""
    folder = tmp_path / "noise:noiselevel=0.3+stim=2"
    folder.mkdir()
    pd.DataFrame({"sample": [0], "stimulus": [1]}).to_csv(folder / "t.csv", index=False)
    table = aggregate_tables([folder / "t.csv"])
    assert table.loc[0, "ssnr"] == 0.3 and table.loc[0, "paradigm_stimulus"] == 2
    assert "stim" not in table.columns and "noiselevel" not in table.columns


def test_aggregate_of_nothing_or_missing_raises(tmp_path):
    with pytest.raises(TableError, match="no test tables"):
        aggregate_tables([])
    with pytest.raises(TableError, match="does not exist"):
        aggregate_tables([tmp_path / "x" / "t.csv"])


def test_aggregate_keeps_the_columns_a_test_recorded_and_adds_no_duplicates(tmp_path):
    paths = []
    for contrast in (0.2, 0.8):
        folder = tmp_path / f"contrast:contrast={contrast}+stimulus=3"
        folder.mkdir()
        pd.DataFrame({"sample": [0, 1], "stimulus": [1, 0], "paradigm": "contrast", "intro": 2,
                      "paradigm_stimulus": 3, "outro": 3, "blank": 0.0, "contrast": contrast}).to_csv(
            folder / "t.csv", index=False)
        paths.append(folder / "t.csv")
    table = aggregate_tables(paths)
    assert list(table.columns) == ["sample", "stimulus", "paradigm", "intro", "paradigm_stimulus", "outro", "blank",
                                   "contrast", "test_identifier"]
    assert list(table["contrast"]) == [0.2, 0.2, 0.8, 0.8]


def test_aggregate_refuses_a_table_of_another_paradigm(tmp_path):
    folder = tmp_path / "duration:stimulus=3"
    folder.mkdir()
    pd.DataFrame({"sample": [0], "paradigm": ["contrast"]}).to_csv(folder / "t.csv", index=False)
    with pytest.raises(TableError, match="records paradigm"):
        aggregate_tables([folder / "t.csv"])
