"""The demo workflow end to end on a reduced config: data -> .beton -> init -> train -> test -> tables -> figures."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.ffcv]

MODEL = "DyRCNNx2:channels=4~8+tau=4_0001"
SPEC = "duration:intro=1+outro=2+stimulus=3"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, small_config, dynvision):
    workdir = tmp_path_factory.mktemp("run")
    result = dynvision("run", "--workdir", str(workdir), "--cores", "2", "--configfile", str(small_config),
                           cwd=workdir, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    return workdir, result


def test_every_stage_produces_its_outputs(finished_run):
    workdir, _ = finished_run
    assert (workdir / "data/raw/mnist5k/train").is_dir()
    assert (workdir / "data/raw/mnist5k/test").is_dir()
    ready = json.loads((workdir / "data/raw/mnist5k.ready").read_text())
    assert ready["classes"] == [str(i) for i in range(10)]
    for beton in ("train.beton", "val.beton", "meta.json"):
        assert (workdir / "data/processed/mnist5k" / beton).stat().st_size > 0
    model_dir = workdir / "models/DyRCNNx2" / MODEL / "mnist5k"
    for state in ("init.pt", "trained.pt"):
        assert (model_dir / state).is_file()
        assert (model_dir / f"{state}.config.yaml").is_file()
    assert (model_dir / "checkpoints/last.ckpt").is_file()


def test_outputs_table_is_tidy_and_complete(finished_run):
    workdir, _ = finished_run
    report = workdir / "reports/response" / MODEL / "mnist5k:all_trained"
    table = pd.read_csv(report / SPEC / "test_outputs.csv")
    assert list(table.columns) == [
        "sample", "step", "time_ms", "label", "guess", "correct", "confidence", "label_rank", "stimulus",
        "reaction_time_ms", "paradigm", "intro", "paradigm_stimulus", "outro", "blank",
    ]
    assert (table["paradigm"] == "duration").all() and (table[["intro", "paradigm_stimulus", "outro"]] == [1, 3, 2]).all().all()
    assert ((table["label_rank"] == 0) == (table["correct"] == 1)).all()
    assert table["label_rank"].between(0, 9).all()
    assert len(table) == 96 * 6  # limit_images x (intro + stimulus + outro)
    assert table.groupby("sample")["step"].apply(list).map(lambda s: s == list(range(6))).all()
    assert list(table.loc[table["sample"] == 0, "stimulus"]) == [0, 1, 1, 1, 0, 0]
    assert table["confidence"].between(0, 1).all()
    assert (table["correct"] == (table["label"] == table["guess"])).all()
    assert table["time_ms"].max() == pytest.approx(5 * 2.0)  # 6 steps of the default dt = 2 ms
    # The reaction time at test.reaction_threshold: one per image, from the onset (step 1, 2 ms) to a step
    # whose confidence reaches 0.8, or empty when none does.
    per_image = table.groupby("sample")["reaction_time_ms"]
    assert (per_image.nunique(dropna=False) == 1).all()
    times = per_image.first().dropna()
    assert times.between(0, 4 * 2.0).all() and (times % 2.0 == 0).all()
    decided = table.merge(times.rename("rt").reset_index(), on="sample")
    at_decision = decided[decided["time_ms"] == decided["rt"] + 2.0]
    assert (at_decision["confidence"] >= 0.8).all() and len(at_decision) == len(times)
    aggregated = pd.read_csv(report / "test_outputs.csv")
    assert {"paradigm", "intro", "paradigm_stimulus", "outro", "test_identifier"} <= set(aggregated.columns)
    config = yaml.safe_load((report / SPEC / "test_outputs.csv.config.yaml").read_text())
    assert config["parameters"]["limit_images"] == 96
    assert config["versions"]["dynvision-workflow"] != "missing"


def test_every_output_records_where_each_value_came_from(finished_run, small_config):
    workdir, _ = finished_run
    state = workdir / "models/DyRCNNx2" / MODEL / "mnist5k/trained.pt.config.yaml"
    record = yaml.safe_load(state.read_text())
    assert record["seed"] == "0001"
    assert record["sources"]["epochs"] == str(small_config)  # set in the --configfile
    assert record["sources"]["optimizer"] == "schema default"
    assert record["sources"]["translate"] == "packaged config_data.yaml"
    (run_record,) = (workdir / "logs/config").glob("run-*.yaml")  # one per real run, none for dry runs
    run = yaml.safe_load(run_record.read_text())
    assert run["config"]["train"]["epochs"] == 1
    assert run["sources"]["train.epochs"] == str(small_config)


def test_responses_table_has_every_area_and_step(finished_run):
    workdir, _ = finished_run
    report = workdir / "reports/response" / MODEL / "mnist5k:all_trained"
    table = pd.read_csv(report / "test_responses.csv")
    assert set(table["area"]) == {"V1", "V2"}
    assert len(table) == 96 * 6 * 2
    assert (table["response"] >= 0).all()  # rates are rectified
    # Nothing has been shown before the stimulus: a blank (mean-grey) screen drives far less than the digit.
    by_step = table.groupby("step")["response"].mean()
    assert by_step.loc[3] > by_step.loc[0]


def test_figures_are_pngs(finished_run):
    workdir, _ = finished_run
    figures = workdir / "figures/response" / MODEL / "mnist5k:all_trained"
    for name in ("responses.png", "accuracy.png"):
        data = (figures / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_logs_and_benchmarks_mirror_outputs(finished_run):
    workdir, _ = finished_run
    assert list((workdir / "logs").rglob("trained.log"))
    assert list((workdir / "benchmarks").rglob("trained.tsv"))


def test_second_run_has_nothing_to_do(finished_run, small_config, dynvision):
    workdir, _ = finished_run
    result = dynvision("run", "--workdir", str(workdir), "--cores", "2", "--configfile", str(small_config),
                           cwd=workdir, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Nothing to be done" in result.stdout + result.stderr


def test_a_value_moved_to_another_config_file_or_the_command_line_reruns_nothing(finished_run, small_config,
                                                                                dynvision, tmp_path):
    """Provenance is not a rule parameter: the same values from other layers (and model arguments written in
    another order and spelling) plan no job, and the plan still records the new layer as the source."""
    workdir, _ = finished_run
    text = small_config.read_text()
    moved = tmp_path / "moved.yaml"
    moved.write_text(text.replace("  epochs: 1\n", "").replace('model_args: {channels: "4,8", tau: 4}',
                                                                 'model_args: {tau: 4, channels: "4,8"}'))
    second = tmp_path / "second.yaml"
    second.write_text("train: {epochs: 1}\n")
    for extra in (["--configfile", str(moved), str(second)], ["--configfile", str(moved), "--config", "train.epochs=1"]):
        result = dynvision("run", "--workdir", str(workdir), "-n", *extra, cwd=workdir, timeout=300)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "Nothing to be done" in result.stdout + result.stderr, result.stdout[-3000:]


def test_report_collects_every_figure_with_its_caption(finished_run, small_config, dynvision):
    workdir, _ = finished_run
    report = workdir / "report.html"
    result = dynvision("run", "--workdir", str(workdir), "--report", str(report), "--configfile", str(small_config),
                       cwd=workdir, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = report.read_text()
    for caption in ("classified correctly at each time step", "Mean response of each area"):
        assert caption in text
    assert "responses.png" in text and "accuracy.png" in text
    assert "Experiment" in text and "DyRCNNx2" in text
