"""`dynvision run study` end to end at a tiny scale: every variant x seed trained and tested, the study's tables
measured with their intervals, one figure per area and the effects figure (the laptop scale is the same target with
bigger numbers; its time is in packages/dynvision-workflow/README.md)."""

from __future__ import annotations

import pandas as pd
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TINY = """
study:
  scale: tiny
  select: [full-0, none-0, adaptation]
  n_boot: 100
  scales:
    tiny:
      model_name: DyRCNNx2
      model_args: {channels: "2,4", readout: flatten, epochs: 1, trainimages: 128}
      data_name: mnist5k
      seed: [1, 2]
      experiments: {repetition: tinyrepetition, duration: tinyduration, contrast: tinycontrast}
experiments:
  tinyrepetition:
    paradigm: interval
    args: {intro: 1, stimulus: 2, interval: [1, 4], outro: 4}
    test: {limit_images: 16}
  tinyduration:
    paradigm: duration
    args: {intro: 1, stimulus: [1, 3], outro: 4}
    test: {limit_images: 16}
  tinycontrast:
    paradigm: contrast
    args: {intro: 1, stimulus: 3, outro: 2, contrast: [0.2, 1.0]}
    test: {limit_images: 16}
"""


def test_the_study_target_trains_tests_measures_and_draws_every_variant(tmp_path, dynvision):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    workdir = tmp_path / "study"
    result = dynvision("run", "study", "--workdir", str(workdir), "--configfile", str(config), "--cores", "2",
                       cwd=tmp_path, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    folder = workdir / "studies" / "tiny"
    table = pd.read_csv(folder / "study.csv")
    effects = pd.read_csv(folder / "effects.csv")
    assert set(table["variant"]) == set(effects["variant"]) == {"full-0", "none-0", "adaptation"}
    assert set(table["area"]) == {"V1", "V2"} and (table["n_seeds"] == 2).all() and (table["n_images"] == 16).all()
    ratios = table[table["measure"] == "peak_ratio"]
    assert sorted(ratios["condition"].unique()) == [2.0, 8.0]  # the gaps in ms (1 and 4 steps of 2 ms)
    assert (ratios["low"] <= ratios["value"]).all() and (ratios["value"] <= ratios["high"]).all()
    assert set(effects["effect"]) == {"suppression", "recovery", "subadditivity", "timing_shift_ms",
                                      "latency_shift_ms"}
    for name in ("study-V1.png", "study-V2.png", "effects.png"):
        assert (folder / name).read_bytes().startswith(b"\x89PNG"), name
    # Each variant x seed is one model, trained with the scale's training length (its identity says so).
    trained = sorted(path.parent.parent.name for path in (workdir / "models" / "DyRCNNx2").glob("*/mnist5k/trained.pt"))
    assert len(trained) == 6 and all("epochs=1" in name and "trainimages=128" in name for name in trained)
    # Nothing more to do: a second run plans no job.
    again = dynvision("run", "study", "--workdir", str(workdir), "--configfile", str(config), "-n", cwd=tmp_path,
                      timeout=300)
    assert "Nothing to be done" in again.stdout + again.stderr
