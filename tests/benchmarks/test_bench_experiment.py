"""An experiment's whole test against the model's own compute (dynvision-workflow, issue 17).

The packaged ``duration`` experiment (8 conditions of 23 to 42 steps) on the demo's model (DyRCNNx2, 16 and 32
channels, briefly trained) and 256 MNIST test digits, in this process:

* ``forward floor``: the sum of its conditions' pure forward passes: every condition's frames built from images
  already decoded and shown to the model in the test's batches, nothing recorded;
* ``one pass``: ``dynvision test-experiment`` (what the workflow's ``test_experiment`` job runs): load and check
  the state, decode the images once, show each batch under every condition, write each condition's outputs table,
  responses file and tidy responses table, then the experiment's two tables;
* ``per condition``: the design before issue 17 (the baseline), one ``dynvision test`` and one
  ``dynvision process-test`` per condition, then ``dynvision aggregate`` (each a separate job, so each also paid a
  process start, not counted here).

``test_one_pass_stays_within_its_floor_ratio`` asserts the one pass costs at most ``FLOOR_RATIO`` x the floor (the
goal of issue 17), from the fastest round of each. The figures quoted in packages/dynvision-workflow/README.md
(Performance) come from here.

Measured on this machine kind (2 CPUs, four runs): the one pass 1.15-1.20x its floor (e.g. 4.48 s against 3.72 s),
per condition 1.31-1.43x. Before the rates were reduced as the steps run and the experiment's tables were joined
as text, the one pass cost 1.62-1.68x, and the per-condition design 1.75-1.8x. What remains above the floor
(about 0.55 s): the per-step unit moments (0.19 s), the tidy responses tables (0.14 s), the outputs tables and
per-batch bookkeeping (0.16 s), and decoding the images.
"""

from __future__ import annotations

import json

import pytest

from dynvision_workflow.cli import main

#: The one-pass test may cost at most this many times the sum of its conditions' pure forward passes: the goal of
#: issue 17 (measured 1.15-1.20x).
FLOOR_RATIO = 1.3
IMAGES = 256
BATCH = 128
TIMES: dict[str, list[float]] = {}


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from dynvision_workflow.config import resolve_config
    from dynvision_workflow.runtime.data import prepare_data
    from dynvision_workflow.runtime.init import init_model
    from dynvision_workflow.runtime.train import TrainSettings, train_model
    from dynvision_workflow.targets import experiment_tests

    root = tmp_path_factory.mktemp("experiment")
    folder = prepare_data("mnist5k", root=root / "raw")
    init = init_model("DyRCNNx2", {"channels": [16, 32], "tau": 6, "readout": "flatten"}, seed="0001",
                      dataset=folder / "train", output=root / "model" / "init.pt")
    trained = root / "model" / "trained.pt"
    settings = TrainSettings(backend="torch", epochs=1, batch_size=64, limit_images=512, threads=2,
                             paradigm="duration:intro=2+outro=4+stimulus=10")
    train_model(init=init, output=trained, dataset=folder / "train", betons=None, checkpoints=root / "model/ckpt",
                seed="0001", settings=settings)
    specs = [spec for _, spec in experiment_tests(resolve_config({}), "duration")]
    return {"state": trained, "dataset": folder / "test", "specs": specs, "root": root}


def _timed(benchmark, name: str, function, floor, rounds: int = 3) -> None:
    """Benchmark ``function`` (recorded as ``name``), each round right after a forward floor pass (recorded as
    ``name``'s floor): the two share the machine's state of the moment, so the ratio holds on a machine whose
    speed drifts (a shared CI runner) where floors measured in another test would not."""
    import time

    def clock(key: str, call) -> None:
        start = time.perf_counter()
        call()
        TIMES.setdefault(key, []).append(time.perf_counter() - start)

    benchmark.group = "duration-experiment"
    benchmark.pedantic(lambda: clock(name, function), setup=lambda: clock(f"{name}: floor", floor), rounds=rounds,
                       iterations=1)
    benchmark.extra_info["forward floor (s)"] = min(TIMES[f"{name}: floor"])


@pytest.fixture(scope="module")
def floor(experiment):
    """The forward floor: every condition's pure forward passes over images decoded beforehand."""
    import torch

    from dynvision_workflow.runtime.states import build_model, load_state
    from dynvision_workflow.runtime.test import eval_loader
    from dynvision_workflow.runtime.train import make_paradigm

    torch.set_num_threads(2)
    state = load_state(experiment["state"])
    model = build_model(state).eval()
    loader = eval_loader(state, experiment["dataset"], batch_size=BATCH, limit=IMAGES, resolution=None)
    batches = list(loader)  # decoded once, outside the timing
    paradigms = [make_paradigm(spec) for spec in experiment["specs"]]

    def forward() -> None:
        with torch.inference_mode():
            for paradigm in paradigms:
                for images, labels in batches:
                    frames, _, _ = paradigm(images, labels, lazy=True)
                    model(frames)

    return forward


def _tests(specs: list[str]) -> list[dict]:
    return [{"identifier": spec, "spec": spec, "paradigm": spec, "overrides": {}} for spec in specs]


COMMON = ["--batch-size", str(BATCH), "--limit-images", str(IMAGES), "--threads", "2"]


def test_one_pass(benchmark, experiment, floor, tmp_path):
    rounds = iter(range(100))

    def one_pass() -> None:
        root = tmp_path / f"round{next(rounds)}"  # a fresh folder: nothing to keep from an earlier round
        assert main(["test-experiment", str(experiment["state"]), "--dataset", str(experiment["dataset"]),
                     "--tests", json.dumps(_tests(experiment["specs"])), "--outputs-table",
                     str(root / "test_outputs.csv"), "--responses-table", str(root / "test_responses.csv"),
                     *COMMON]) == 0

    _timed(benchmark, "one pass", one_pass, floor)


def test_per_condition(benchmark, experiment, floor, tmp_path):
    rounds = iter(range(100))

    def per_condition() -> None:
        root = tmp_path / f"round{next(rounds)}"
        for spec in experiment["specs"]:
            folder = root / spec
            assert main(["test", str(experiment["state"]), "--dataset", str(experiment["dataset"]), "--outputs",
                         str(folder / "test_outputs.csv"), "--responses", str(folder / "test_responses.safetensors"),
                         "--paradigm", spec, *COMMON]) == 0
            assert main(["process-test", str(folder / "test_responses.safetensors"), "--output",
                         str(folder / "test_responses.csv")]) == 0
        assert main(["aggregate", "--outputs", *(str(root / s / "test_outputs.csv") for s in experiment["specs"]),
                     "--responses", *(str(root / s / "test_responses.csv") for s in experiment["specs"]),
                     "--outputs-table", str(root / "o.csv"), "--responses-table", str(root / "r.csv")]) == 0

    _timed(benchmark, "per condition", per_condition, floor, rounds=2)


def test_one_pass_stays_within_its_floor_ratio():
    assert {"one pass", "per condition"} <= set(TIMES), "run the whole module"
    ratio = {name: min(TIMES[name]) / min(TIMES[f"{name}: floor"]) for name in ("one pass", "per condition")}
    print(f"duration experiment ({IMAGES} images): one pass {min(TIMES['one pass']):.2f} s, "
          f"{ratio['one pass']:.2f}x its forward floor ({min(TIMES['one pass: floor']):.2f} s); per condition "
          f"{min(TIMES['per condition']):.2f} s, {ratio['per condition']:.2f}x its floor "
          f"({min(TIMES['per condition: floor']):.2f} s; in the workflow 17 jobs with a process start each)")
    assert ratio["one pass"] <= FLOOR_RATIO
