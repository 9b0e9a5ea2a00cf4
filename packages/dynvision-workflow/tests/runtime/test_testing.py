"""The test step: whole test set, tidy outputs, responses at layer or unit resolution, streamed to disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors import safe_open

from dynvision_workflow.runtime import test as runtime
from dynvision_workflow.runtime.tables import responses_table
from dynvision_workflow.runtime.test import TestSettings

PARADIGM = "duration:intro=1+outro=2+stimulus=3"


def _run(setup, folder: Path, **settings) -> dict:
    dataset, state = setup
    return runtime.test_model(state, dataset=dataset, outputs=folder / "test_outputs.csv",
                      responses=folder / "test_responses.safetensors",
                      settings=TestSettings(**{"paradigm": PARADIGM, "batch_size": 64, **settings}))


def test_the_whole_test_set_is_tested_by_default(setup, tmp_path):
    summary = _run(setup, tmp_path)
    table = pd.read_csv(tmp_path / "test_outputs.csv")
    n_test = sum(1 for _ in setup[0].rglob("*.png"))
    assert summary["n_samples"] == n_test == table["sample"].nunique()
    assert len(table) == n_test * 6
    config = (tmp_path / "test_outputs.csv.config.yaml").read_text()
    assert "limit_images: null" in config


def test_unit_resolution_keeps_every_unit_and_reduces_to_the_layer_table(setup, tmp_path):
    _run(setup, tmp_path / "layer", limit_images=40)
    _run(setup, tmp_path / "unit", limit_images=40, response_resolution="unit")
    with safe_open(str(tmp_path / "unit" / "test_responses.safetensors"), framework="numpy") as handle:
        assert handle.get_slice("V1").get_shape() == [40, 6, 3, 8, 8]
        assert handle.get_slice("V2").get_shape() == [40, 6, 4, 4, 4]
    layer = responses_table(tmp_path / "layer" / "test_responses.safetensors")
    unit = responses_table(tmp_path / "unit" / "test_responses.safetensors")
    assert list(layer.columns) == list(unit.columns) and len(layer) == len(unit) == 40 * 6 * 2
    # float16 storage of the units: agreement to half precision.
    np.testing.assert_allclose(unit["response"], layer["response"], rtol=2e-3, atol=1e-4)
    np.testing.assert_allclose(unit["response_std"], layer["response_std"], rtol=5e-3, atol=2e-4)


def test_a_failing_test_leaves_no_outputs(setup, tmp_path, monkeypatch):
    calls = {"n": 0}
    original = runtime.make_paradigm

    def failing_after_one_batch(text):
        paradigm = original(text)

        class Failing(type(paradigm)):
            def __call__(self, images, labels, **kwargs):
                calls["n"] += 1
                if calls["n"] > 1:
                    raise RuntimeError("interrupted")
                return super().__call__(images, labels, **kwargs)

        return Failing(**paradigm.config())

    monkeypatch.setattr(runtime, "make_paradigm", failing_after_one_batch)
    with pytest.raises(RuntimeError, match="interrupted"):
        _run(setup, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_model_overrides_apply_to_the_loaded_model_only(setup, tmp_path):
    from dynvision_workflow.runtime.states import load_state

    recurrent = _run(setup, tmp_path / "rc", limit_images=16)
    ffonly = _run(setup, tmp_path / "ff", limit_images=16, model_overrides={"ffonly": True})
    assert ffonly["accuracy_per_step"] and len(ffonly["accuracy_per_step"]) == len(recurrent["accuracy_per_step"])
    changed = runtime.apply_model_overrides(load_state(setup[1]), ":ffonly=true+idle=2")
    assert changed.model_kwargs["feedforward_only"] is True and changed.model_kwargs["idle_timesteps"] == 2
    assert load_state(setup[1]).model_kwargs.get("feedforward_only", False) is False


def test_noise_paradigm_keys_have_short_aliases(setup, tmp_path):
    spec = "noise:intro=1+noisetype=saltpepper+outro=1+ssnr=0.5+stimulus=2+tempmode=dynamic"
    paradigm = runtime.make_paradigm(spec)
    assert paradigm.noise_type == "saltpepper" and paradigm.temporal_mode == "dynamic"
    summary = _run(setup, tmp_path, paradigm=spec, limit_images=8)
    assert len(summary["accuracy_per_step"]) == 4


def test_the_outputs_table_carries_the_paradigm_parameters(setup, tmp_path):
    from dynvision_workflow.runtime.tables import OPTIONAL_OUTPUT_COLUMNS, OUTPUT_COLUMNS

    spec = "contrast:contrast=0.4+intro=1+outro=2+stimulus=3"
    _run(setup, tmp_path, paradigm=spec, limit_images=8)
    table = pd.read_csv(tmp_path / "test_outputs.csv")
    assert list(table.columns) == [*OUTPUT_COLUMNS, *OPTIONAL_OUTPUT_COLUMNS, "paradigm", "intro", "paradigm_stimulus", "outro", "blank",
                                   "contrast"]
    assert len(table) == 8 * 6
    assert set(table["paradigm"]) == {"contrast"} and set(table["contrast"]) == {0.4}
    assert set(table["intro"]) == {1} and set(table["paradigm_stimulus"]) == {3} and set(table["outro"]) == {2}
    assert set(table["blank"]) == {0.0}
    assert list(table["stimulus"][:6]) == [0, 1, 1, 1, 0, 0]  # the 0/1 column is untouched


def test_noise_parameters_are_columns_under_their_short_names(setup, tmp_path):
    spec = "noise:intro=1+noisetype=uniform+outro=1+rt=1+ssnr=0.5+stimulus=2+tempmode=dynamic"
    _run(setup, tmp_path, paradigm=spec, limit_images=4)
    table = pd.read_csv(tmp_path / "test_outputs.csv")
    assert set(table["noisetype"]) == {"uniform"} and set(table["tempmode"]) == {"dynamic"}
    assert set(table["ssnr"]) == {0.5} and set(table["rt"]) == {1}  # a common option that is not its default
    assert "noise_type" not in table.columns and "pattern" not in table.columns


def test_aggregation_keeps_one_column_per_parameter(setup, tmp_path):
    from dynvision_workflow.runtime.tables import aggregate_tables

    paths = []
    for contrast in (0.2, 0.8):
        folder = tmp_path / f"contrast:contrast={contrast}+intro=1+outro=2+stimulus=3"
        _run(setup, folder, paradigm=folder.name, limit_images=4)
        paths.append(folder / "test_outputs.csv")
    alone = pd.read_csv(paths[0])
    table = aggregate_tables(paths)
    assert list(table.columns) == [*alone.columns, "test_identifier"]
    assert not any(column.endswith(("_x", "_y")) or column.startswith("paradigm_paradigm") for column in table)
    assert len(table.columns) == len(set(table.columns))
    assert sorted(set(table["contrast"])) == [0.2, 0.8] and set(table["paradigm_stimulus"]) == {3}
    assert table.groupby("contrast")["test_identifier"].nunique().tolist() == [1, 1]


def test_a_paradigm_longer_than_the_model_allows_is_refused_before_writing(setup, tmp_path, monkeypatch):
    from dynvision_workflow.runtime import states

    def bounded(state):
        model = states.build_model(state)
        model.max_timesteps = model.n_timesteps  # a model that cannot run past the steps it was built for
        return model

    monkeypatch.setattr(runtime, "build_model", bounded)
    spec = "duration:intro=2+outro=8+stimulus=10"
    with pytest.raises(ValueError) as error:
        _run(setup, tmp_path, paradigm=spec)
    message = str(error.value)
    assert spec in message and "needs 20 time steps" in message and "n_timesteps=10" in message
    assert "Shorten the paradigm" in message and "tsteps=20" in message
    assert list(tmp_path.iterdir()) == []  # no table, responses or resolved config
    # A paradigm that fits runs as usual.
    _run(setup, tmp_path, limit_images=4)
    assert (tmp_path / "test_outputs.csv").is_file()


def test_temporal_models_run_paradigms_longer_than_their_n_timesteps(setup, tmp_path):
    spec = "duration:intro=2+outro=8+stimulus=10"  # 20 steps; the model is built with n_timesteps=10
    summary = _run(setup, tmp_path, paradigm=spec, limit_images=4)
    assert len(summary["accuracy_per_step"]) == 20


def test_the_outputs_table_formats_floats_as_pandas_does():
    # The outputs table formats its float columns itself (one pass, issue 17); the text must be what pandas wrote.
    values = np.array([0.0, 1.0, 0.123456789, 1e-7, 123456789.0, -2.5, np.nan, np.inf, 0.5], dtype=np.float32)
    table = pd.DataFrame({"x": values, "y": 0}).to_csv(index=False, float_format=runtime._CSV_FLOAT)
    assert runtime._csv_floats(values) == [line.split(",")[0] for line in table.splitlines()[1:]]
    assert runtime._csv_floats([2.0]) == ["2"]


@pytest.mark.parametrize("channels_last", [True, False])
def test_unit_moments_are_the_mean_and_population_std_over_units(channels_last):
    import torch

    rate = torch.rand(5, 3, 4, 6) * torch.arange(5.0).view(5, 1, 1, 1)  # one sample all zeros
    if channels_last:
        rate = rate.contiguous(memory_format=torch.channels_last)
    moments = runtime._unit_moments(rate).numpy()
    units = rate.double().numpy().reshape(5, -1)
    np.testing.assert_allclose(moments[:, 0], units.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(moments[:, 1], units.std(axis=1), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("threshold", [0.3, 0.95])
def test_the_reaction_time_is_when_the_confidence_first_reaches_the_threshold(setup, tmp_path, threshold):
    from dynvision_analysis.measures import reaction_times

    _run(setup, tmp_path, limit_images=16, reaction_threshold=threshold)  # stimulus from step 1 (intro=1)
    table = pd.read_csv(tmp_path / "test_outputs.csv")
    for _, rows in table.groupby("sample"):
        reached = rows[(rows["stimulus"].cummax() == 1) & (rows["confidence"] >= threshold)]
        expected = reached["time_ms"].iloc[0] - rows.loc[rows["stimulus"] == 1, "time_ms"].iloc[0] if len(reached) else None
        values = rows["reaction_time_ms"]
        assert values.nunique(dropna=False) == 1, "one reaction time per image, at every step"
        if expected is None:
            assert values.isna().all()
        else:
            assert values.iloc[0] == pytest.approx(expected, abs=1e-3)
    # The analysis measure, with the threshold the test used, agrees sample by sample.
    measured = reaction_times(table.drop(columns=["reaction_time_ms"]), threshold, by=[])
    per_sample = table.groupby("sample")["reaction_time_ms"].first()
    np.testing.assert_allclose(measured.set_index("sample")["reaction_time_ms"], per_sample, atol=1e-3)


@pytest.mark.parametrize("threshold", [0, 1.5])
def test_a_reaction_threshold_outside_0_1_is_refused(threshold):
    from dynvision_workflow.options import SettingsError

    with pytest.raises(SettingsError, match=r"--reaction-threshold \(config key test.reaction_threshold\)"):
        TestSettings(paradigm=PARADIGM, reaction_threshold=threshold)
