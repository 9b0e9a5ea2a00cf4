"""The stability step: a model state's spectrum table, as the workflow's write_stability_table job writes it."""

from __future__ import annotations

import pandas as pd
import pytest

from dynvision_workflow.options import StabilitySettings
from dynvision_workflow.runtime.stability import BLANK, main, write_spectrum_table


def test_the_table_holds_k_eigenvalues_per_area_for_the_blank_and_each_test_image(setup, tmp_path):
    dataset, state = setup
    output = tmp_path / "reports" / "spectrum.csv"
    written = write_spectrum_table(state, output, dataset, StabilitySettings(images=2, k=3, steps=4, threads=1))
    table = pd.read_csv(output)
    images = list(dict.fromkeys(table["image"]))
    assert images[0] == BLANK and len(images) == 3
    assert all(name.startswith(f"test image {n} (class ") for n, name in enumerate(images[1:]))
    assert written == len(table) == 3 * 3 * 3  # images x (V1, V2, network) x k
    assert list(table.groupby("image", sort=False)["area"].unique().iloc[0]) == ["V1", "V2", "network"]
    assert table["converged"].all() and (table["steps"] == 4).all()
    assert table.groupby(["image", "area"])["modulus"].apply(lambda m: m.is_monotonic_decreasing).all()
    assert [p.name for p in output.parent.iterdir()] == ["spectrum.csv"]  # written atomically: no temporary left


def test_the_analysis_reads_the_table(setup, tmp_path):
    from dynvision_analysis.measures import classify_spectrum, stability_summary

    dataset, state = setup
    output = tmp_path / "spectrum.csv"
    assert main([str(state), "--dataset", str(dataset), "--output", str(output), "--images", "1", "--k", "2",
                 "--steps", "3", "--threads", "1"]) == 0
    summary = stability_summary(classify_spectrum(pd.read_csv(output)), ["area"])
    assert list(summary["area"]) == ["V1", "V2", "network"] and (summary["n_images"] == 2).all()
    assert (summary["regime"] == "stable").all()  # an untrained network decays back to rest


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--images", "2"], "--images 2 needs --dataset (the test class folder); or give --images 0."),
        (["--images", "0", "--k", "100000"], "k="),
    ],
)
def test_bad_settings_are_refused_in_one_line(setup, tmp_path, capsys, arguments, message):
    _, state = setup
    assert main([str(state), "--output", str(tmp_path / "s.csv"), "--steps", "2", *arguments]) == 2
    error = capsys.readouterr().err
    assert error.startswith("dynvision stability: error: ") and message in error and "Traceback" not in error
    assert not (tmp_path / "s.csv").exists()


def test_a_bad_option_value_is_refused_by_the_parser_with_what_is_allowed(setup, tmp_path, capsys):
    _, state = setup
    with pytest.raises(SystemExit) as stopped:
        main([str(state), "--output", str(tmp_path / "s.csv"), "--k", "0"])
    assert stopped.value.code == 2
    assert "--k" in capsys.readouterr().err


def test_a_missing_state_names_the_command_that_makes_it(tmp_path, capsys):
    output = tmp_path / "spectrum.csv"
    assert main([str(tmp_path / "missing.pt"), "--output", str(output), "--images", "0"]) == 2
    error = capsys.readouterr().err
    assert "does not exist" in error and f"dynvision run {output}" in error
    assert not output.exists()


def test_a_model_without_the_temporal_engine_is_refused_naming_those_with_it(tmp_path, capsys):
    from dynvision_models import create_model
    from dynvision_workflow.runtime.states import save_state

    model = create_model("ResNet20", n_classes=10, input_shape=(3, 32, 32))
    state = tmp_path / "init.pt"
    save_state(state, model, data={"mean": [0.5] * 3, "std": [0.25] * 3, "classes": list("abcdefghij"),
                                   "input_shape": [3, 32, 32]}, meta={})
    assert main([str(state), "--output", str(tmp_path / "s.csv"), "--images", "0"]) == 2
    error = capsys.readouterr().err
    assert "ResNet" in error and "not built on it" in error and "DyRCNNx2" in error
