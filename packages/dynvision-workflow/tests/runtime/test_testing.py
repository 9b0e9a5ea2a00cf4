"""The test step: whole test set, tidy outputs, responses at layer or unit resolution, streamed to disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors import safe_open

from dynvision_workflow.runtime import test as runtime
from dynvision_workflow.runtime.data import prepare_data
from dynvision_workflow.runtime.init import init_model
from dynvision_workflow.runtime.tables import responses_table
from dynvision_workflow.runtime.test import TestSettings

PARADIGM = "duration:intro=1+outro=2+stimulus=3"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("data")
    folder = prepare_data("digits", root=root)
    state = init_model("DyRCNNx2", {"channels": [3, 4], "tau": 4}, seed="0001", dataset=folder / "train",
                       output=tmp_path_factory.mktemp("model") / "init.pt")
    return folder / "test", state


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
    _run(setup, tmp_path / "unit", limit_images=40, resolution="unit")
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

        def present(images, labels):
            calls["n"] += 1
            if calls["n"] > 1:
                raise RuntimeError("interrupted")
            return paradigm(images, labels)

        return present

    monkeypatch.setattr(runtime, "make_paradigm", failing_after_one_batch)
    with pytest.raises(RuntimeError, match="interrupted"):
        _run(setup, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_model_overrides_apply_to_the_loaded_model_only(setup, tmp_path):
    from dynvision_workflow.runtime.states import load_state

    recurrent = _run(setup, tmp_path / "rc", limit_images=16)
    ffonly = _run(setup, tmp_path / "ff", limit_images=16, model_overrides=":ffonly=true")
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
