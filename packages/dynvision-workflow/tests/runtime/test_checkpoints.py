"""Model states from a real tiny run: training keeps the best and the listed epochs' checkpoints, the export step
writes them as state files that test like ``trained.pt``; pretrained starts from a state file, a URL and the
official layouts."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import threading
from pathlib import Path

import pytest
import torch
import yaml

from dynvision_workflow.runtime import test as testing
from dynvision_workflow.runtime.checkpoints import export_state, resume_point
from dynvision_workflow.runtime.data import prepare_data
from dynvision_workflow.runtime.init import init_model
from dynvision_workflow.runtime.pretrained import load_pretrained
from dynvision_workflow.runtime.states import StateError, load_state
from dynvision_workflow.runtime.test import TestSettings
from dynvision_workflow.runtime.train import TrainSettings, train_model

MODEL_ARGS = {"channels": [4, 8], "tau": 4}
PARADIGM = {"name": "duration", "args": {"intro": 1, "outro": 1, "stimulus": 2}}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_data("digits", root=tmp_path_factory.mktemp("data")) / "train"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, dataset: Path) -> Path:
    """init -> train (2 epochs, epoch 0 kept) -> export best and epoch=0; the model folder."""
    folder = tmp_path_factory.mktemp("model")
    init_model("DyRCNNx2", dict(MODEL_ARGS), seed="0001", dataset=dataset, output=folder / "init.pt")
    settings = TrainSettings(
        backend="torch", epochs=2, batch_size=32, lr=0.01, limit_images=96, threads=1, paradigm=PARADIGM,
        keep_epochs=[0],
    )
    train_model(init=folder / "init.pt", output=folder / "trained.pt", dataset=dataset, betons=None,
                checkpoints=folder / "checkpoints", seed="0001", settings=settings)
    for status in ("best", "epoch=0"):
        export_state(trained=folder / "trained.pt", checkpoints=folder / "checkpoints", status=status,
                     output=folder / f"{status}.pt")
    return folder


def test_training_keeps_best_last_and_the_listed_epochs_only(run):
    assert sorted(p.name for p in (run / "checkpoints").glob("*.ckpt")) == ["best.ckpt", "epoch=0.ckpt", "last.ckpt"]


def test_exported_states_record_their_checkpoint_and_epoch_and_test_like_trained(run, dataset):
    trained, epoch0, best = (load_state(run / f"{name}.pt") for name in ("trained", "epoch=0", "best"))
    assert epoch0.meta["status"] == "epoch=0" and epoch0.meta["epoch"] == 0
    assert epoch0.meta["checkpoint"].endswith("checkpoints/epoch=0.ckpt")
    assert best.meta["epoch"] in (0, 1) and best.meta["checkpoint"].endswith("checkpoints/best.ckpt")
    assert "val_loss" in best.meta
    assert (epoch0.model_name, epoch0.model_kwargs, epoch0.data) == (trained.model_name, trained.model_kwargs,
                                                                     trained.data)
    # The end of epoch 0 is not the end of training (epoch 1).
    assert any(not torch.equal(epoch0.state_dict[k], trained.state_dict[k]) for k in trained.state_dict)
    if best.meta["epoch"] == 1:
        assert all(torch.equal(best.state_dict[k], trained.state_dict[k]) for k in trained.state_dict)
    record = yaml.safe_load((run / "epoch=0.pt.config.yaml").read_text())
    assert record["command"] == "dynvision export-state" and record["parameters"]["checkpoint_epoch"] == 0
    test_folder = run.parent / f"{run.name}-test"
    summary = testing.test_model(
        run / "epoch=0.pt", dataset=dataset.parent / "test", outputs=test_folder / "test_outputs.csv",
        responses=test_folder / "test_responses.safetensors",
        settings=TestSettings(paradigm="duration:intro=1+outro=1+stimulus=2", batch_size=64, limit_images=32),
    )
    assert summary and (test_folder / "test_outputs.csv").is_file()


def test_an_epoch_that_was_not_kept_names_the_fix(run, tmp_path):
    with pytest.raises(StateError, match=r"epoch=1\.ckpt.*does not exist; add 1 to train\.keep_epochs"):
        export_state(trained=run / "trained.pt", checkpoints=run / "checkpoints", status="epoch=1",
                     output=tmp_path / "epoch=1.pt")
    assert not (tmp_path / "epoch=1.pt").exists()


def test_an_epoch_that_was_not_kept_gives_the_commands_that_keep_it(run, tmp_path):
    with pytest.raises(StateError) as caught:
        export_state(trained=run / "trained.pt", checkpoints=run / "checkpoints", status="epoch=1",
                     output=tmp_path / "epoch=1.pt")
    assert f"rm -r {run / 'checkpoints'} {run / 'trained.pt'} && dynvision run {tmp_path / 'epoch=1.pt'}" in str(
        caught.value
    )


def test_export_refuses_a_trained_state_of_another_model_than_its_path(run, tmp_path):
    with pytest.raises(StateError, match=r"was made for DyRCNNx2 .* but is used as DyRCNNx4"):
        export_state(trained=run / "trained.pt", checkpoints=run / "checkpoints", status="best",
                     output=tmp_path / "best.pt", model_name="DyRCNNx4", model_args=":channels=4~8+tau=4")
    assert not (tmp_path / "best.pt").exists()


# Resuming from the checkpoints of a training -------------------------------------------------------------------


def _module_state(run: Path) -> dict[str, torch.Tensor]:
    """The training module's state dict of the run's model (names ``model.*``), as a resume compares with."""
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def _copy_checkpoints(run: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "checkpoints"
    shutil.copytree(run / "checkpoints", folder)
    return folder


def test_a_good_last_checkpoint_is_resumed_from(run, tmp_path, capsys):
    folder = _copy_checkpoints(run, tmp_path)
    assert resume_point(folder, _module_state(run)) == folder / "last.ckpt"
    assert resume_point(tmp_path / "none", _module_state(run)) is None
    assert capsys.readouterr().err == ""


def test_a_truncated_last_checkpoint_is_set_aside_and_the_newest_kept_one_resumed(run, tmp_path, capsys):
    folder = _copy_checkpoints(run, tmp_path)
    content = (folder / "last.ckpt").read_bytes()
    (folder / "last.ckpt").write_bytes(content[: len(content) // 3])
    chosen = resume_point(folder, _module_state(run))
    aside = list(folder.glob("last.ckpt.corrupt-*"))
    assert not (folder / "last.ckpt").exists() and len(aside) == 1
    assert aside[0].read_bytes() == content[: len(content) // 3]  # set aside, not deleted
    epochs = {name: torch.load(folder / name, weights_only=True)["epoch"] for name in ("best.ckpt", "epoch=0.ckpt")}
    assert chosen == folder / max(epochs, key=lambda name: (epochs[name], name == "best.ckpt"))
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "last.ckpt cannot resume this training (it is truncated or not a torch file)" in err
    assert f"set aside as {aside[0].name}" in err and f"resuming from {chosen.name}" in err


def test_a_foreign_last_checkpoint_and_no_usable_one_start_over(run, tmp_path, capsys):
    folder = _copy_checkpoints(run, tmp_path)
    checkpoint = torch.load(folder / "last.ckpt", weights_only=True)
    checkpoint["hyper_parameters"]["model_name"] = "DyRCNNx4"
    checkpoint["state_dict"]["model.areas.V4.ff.weight"] = torch.zeros(2, 2)
    torch.save(checkpoint, folder / "last.ckpt")
    for kept in ("best.ckpt", "epoch=0.ckpt"):
        (folder / kept).write_text("not a checkpoint\n")
    assert resume_point(folder, _module_state(run)) is None
    err = capsys.readouterr().err
    assert "it holds the weights of another model (DyRCNNx4): 1 tensors differ" in err
    assert "training starts over" in err
    assert len(list(folder.glob("last.ckpt.corrupt-*"))) == 1


def test_training_with_a_corrupt_last_checkpoint_resumes_and_finishes(run, dataset, tmp_path, capsys):
    folder = _copy_checkpoints(run, tmp_path)
    (folder / "last.ckpt").write_text("interrupted while copying\n")
    settings = TrainSettings(
        backend="torch", epochs=3, batch_size=32, lr=0.01, limit_images=96, threads=1, paradigm=PARADIGM,
    )
    train_model(init=run / "init.pt", output=tmp_path / "trained.pt", dataset=dataset, betons=None,
                checkpoints=folder, seed="0001", settings=settings, model_name="DyRCNNx2",
                model_args=":channels=4~8+tau=4")
    assert load_state(tmp_path / "trained.pt").meta["epochs"] == 3
    assert "it is truncated or not a torch file" in capsys.readouterr().err
    last = torch.load(folder / "last.ckpt", weights_only=True)
    assert last["epoch"] == 2


# Pretrained starts ---------------------------------------------------------------------------------------------


def test_pretrained_from_a_state_file_copies_its_weights_and_records_the_source(run, dataset, tmp_path):
    output = init_model("DyRCNNx2", dict(MODEL_ARGS), seed="0002", dataset=dataset, output=tmp_path / "init.pt",
                        pretrained=str(run / "trained.pt"))
    state, trained = load_state(output), load_state(run / "trained.pt")
    assert all(torch.equal(state.state_dict[k], trained.state_dict[k]) for k in trained.state_dict)
    digest = hashlib.sha256((run / "trained.pt").read_bytes()).hexdigest()
    assert state.meta["pretrained"]["sha256"] == digest
    assert state.meta["pretrained"]["format"] == "dynvision-model-state"
    record = yaml.safe_load((tmp_path / "init.pt.config.yaml").read_text())
    assert record["parameters"]["pretrained"] == str(run / "trained.pt")
    assert record["parameters"]["pretrained_sha256"] == digest


def test_pretrained_state_of_another_model_is_refused_naming_the_difference(run, dataset, tmp_path):
    with pytest.raises(StateError, match=r"with other arguments \(channels: \[4, 8\] there, \[4, 6\] here"):
        init_model("DyRCNNx2", {"channels": [4, 6], "tau": 4}, seed="0001", dataset=dataset,
                   output=tmp_path / "init.pt", pretrained=str(run / "trained.pt"))
    assert not (tmp_path / "init.pt").exists()


class _Server:
    """A local HTTP server (127.0.0.1, no network) over one file."""

    def __init__(self, payload: bytes) -> None:
        self.requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/weights.pt"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_pretrained_from_a_url_is_downloaded_once_verified_and_cached(run, dataset, tmp_path, monkeypatch):
    payload = (run / "trained.pt").read_bytes()
    digest = hashlib.sha256(payload).hexdigest()
    monkeypatch.chdir(tmp_path)  # the cache is below the working directory
    server = _Server(payload)
    try:
        for name in ("a.pt", "b.pt"):
            state = load_state(init_model("DyRCNNx2", dict(MODEL_ARGS), seed="0001", dataset=dataset, output=name,
                                          pretrained=server.url, pretrained_sha256=digest))
        with pytest.raises(Exception, match="expected " + "0" * 64):
            init_model("DyRCNNx2", dict(MODEL_ARGS), seed="0001", dataset=dataset, output="c.pt",
                       pretrained=server.url.replace("weights", "other"), pretrained_sha256="0" * 64)
    finally:
        server.close()
    assert server.requests == 2  # b.pt came from the cache; c.pt's wrong download was not kept
    assert (tmp_path / "models" / ".pretrained" / f"{digest}.pt").is_file()
    assert sorted(p.name for p in (tmp_path / "models" / ".pretrained").iterdir()) == [f"{digest}.pt"]
    assert state.meta["pretrained"]["source"] == server.url and state.meta["pretrained"]["sha256"] == digest
    with pytest.raises(StateError, match="needs its SHA-256"):
        init_model("DyRCNNx2", dict(MODEL_ARGS), seed="0001", dataset=dataset, output="d.pt", pretrained=server.url)


@pytest.mark.parametrize(
    ("model_name", "kwargs", "wrapped"),
    [("CorNetRT", {"n_timesteps": 2}, True), ("AlexNet", {}, False)],  # CORnet's files: {"state_dict": {module.*}}
)
def test_pretrained_official_layouts_load_through_the_zoo_loaders(model_name, kwargs, wrapped, tmp_path):
    from dynvision_models import create_model

    source = create_model(model_name, n_classes=10, input_shape=(3, 64, 64), **kwargs)
    local = source.state_dict()
    mapping = {v: k for k, v in source.official_key_map().items()}
    layout = {("module." if wrapped else "") + mapping[key]: value.clone() for key, value in local.items()
              if key in mapping}
    path = tmp_path / "official.pth"
    torch.save({"state_dict": layout} if wrapped else layout, path)
    # Same classes: everything loads. Other classes: the classifier stays as drawn from the seed.
    same = create_model(model_name, n_classes=10, input_shape=(3, 64, 64), **kwargs)
    assert load_pretrained(same, str(path))["classifier"] == "loaded"
    assert all(torch.equal(same.state_dict()[k], local[k]) for k in mapping)
    other = create_model(model_name, n_classes=5, input_shape=(3, 64, 64), **kwargs)
    record = load_pretrained(other, str(path))
    assert record["format"] == f"official {model_name}" and record["classifier"].startswith("initialised")
