"""Model state files: the identity a state was made for is checked against the one it is used as, and files that
cannot be read are refused without running code and without passing on torch's advice."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from dynvision_workflow.runtime.states import (
    ModelIdentity,
    ModelState,
    StateError,
    check_identity,
    load_state,
    read_torch_file,
)

CLASSES = [str(digit) for digit in range(10)]
PATH = "models/DyRCNNx2/DyRCNNx2:channels=4~8+tau=4_0001/mnist5k/trained.pt"


def _state(name: str = "DyRCNNx2", **kwargs) -> ModelState:
    """A state as the init step records it: the path's kwargs plus n_classes and input_shape from the data."""
    model_kwargs = {"channels": [4, 8], "tau": 4, "n_classes": 10, "input_shape": [1, 28, 28], **kwargs}
    data = {"classes": CLASSES[: model_kwargs["n_classes"]], "input_shape": model_kwargs["input_shape"]}
    return ModelState(name, model_kwargs, {}, data=data, meta={"seed": "0001"})


def _used_as(**changes) -> ModelIdentity:
    values = {"model_name": "DyRCNNx2", "model_args": ":channels=4~8+tau=4", "seed": "0001",
              "classes": CLASSES, "input_shape": (1, 28, 28)}
    return ModelIdentity(**{**values, **changes})


def test_a_state_of_its_own_identity_passes_with_aliases_and_training_arguments_in_the_path():
    check_identity(_state(), PATH, _used_as())
    check_identity(_state(recurrence_type="full"), PATH, _used_as(model_args=":channels=4~8+rctype=full+tau=4"))
    # Training arguments of an identity (activityloss) are not model keyword arguments.
    check_identity(_state(), PATH, _used_as(model_args=":activityloss=0.02+channels=4~8+tau=4"))
    # A class group tests a subset of the state's classes.
    check_identity(_state(), PATH, _used_as(classes=["3", "8"]))
    # Nothing expected: nothing to refuse.
    check_identity(_state("DyRCNNx4"), PATH, ModelIdentity())


def test_another_model_name_is_refused_naming_both_identities_and_the_command():
    with pytest.raises(StateError) as caught:
        check_identity(_state("DyRCNNx4"), PATH, _used_as(), target="reports/x/test_outputs.csv")
    message = str(caught.value)
    assert message.startswith(f"{PATH} was made for DyRCNNx4 {{channels: [4, 8], tau: 4}}")
    assert "but is used as DyRCNNx2 {channels: [4, 8], tau: 4}" in message
    assert f"rm '{PATH}' && dynvision run reports/x/test_outputs.csv" in message


@pytest.mark.parametrize(
    ("state", "model_args", "difference"),
    [
        (_state(tau=5), ":channels=4~8+tau=4", "tau: 5 in the state, 4 in the path"),
        (_state(recurrence_type="full"), ":channels=4~8+tau=4", "recurrence_type: 'full' in the state, not in the path"),
        (_state(), ":channels=4~8+tau=4+tsteps=20", "n_timesteps: not in the state, 20 in the path"),
        (_state(), ":channels=4~16+tau=4", "channels: [4, 8] in the state, [4, 16] in the path"),
    ],
)
def test_other_keyword_arguments_are_refused_naming_the_argument(state, model_args, difference):
    with pytest.raises(StateError, match="was made for") as caught:
        check_identity(state, PATH, _used_as(model_args=model_args))
    assert difference in str(caught.value)


def test_a_state_of_fewer_classes_than_the_data_is_refused_naming_the_missing_ones():
    with pytest.raises(StateError) as caught:
        check_identity(_state(n_classes=3), PATH, _used_as())
    message = str(caught.value)
    assert "(seed 0001, 3 classes, input 1x28x28) but is used as" in message
    assert "7 of them ([3, 4, 5, 6, 7, 8, 9]) not among the state's 3 [0, 1, 2]" in message


def test_another_input_shape_and_seed_are_refused_and_only_channels_count_at_an_asked_resolution():
    with pytest.raises(StateError, match="input shape 3x32x32 in the state, 1x28x28 in the data"):
        check_identity(_state(input_shape=[3, 32, 32]), PATH, _used_as())
    with pytest.raises(StateError, match="input shape 1x32x32 in the state, 1x28x28 in the data"):
        check_identity(_state(input_shape=[1, 32, 32]), PATH, _used_as())
    check_identity(_state(input_shape=[1, 32, 32]), PATH, _used_as(check_size=False))
    with pytest.raises(StateError, match="input shape 3x28x28 in the state, 1x28x28"):
        check_identity(_state(input_shape=[3, 28, 28]), PATH, _used_as(check_size=False))
    with pytest.raises(StateError, match="seed 0001 in the state, 0002 in the path"):
        check_identity(_state(), PATH, _used_as(seed="0002"))


class _RunsCode:
    """Pickles into a call of os.system: loading it without weights_only would create ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _bad_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """Files a state path may hold, each with the reason it must be refused for."""
    good = folder / "good.pt"
    torch.save({"x": torch.zeros(100)}, good)
    content = good.read_bytes()
    files = {
        "truncated": (content[: len(content) // 2], "it is truncated or not a torch file"),
        "empty": (b"", "it is truncated or not a torch file"),
        "text": (b"model weights, see README\n", "it is truncated or not a torch file"),
        # A bare pickle (not torch's zip format) of a call.
        "pickled code": (pickle.dumps({"weights": _RunsCode(folder / "marker")}), "cannot be read: it"),
    }
    paths = {}
    for name, (data, reason) in files.items():
        path = folder / f"{name.replace(' ', '_')}.pt"
        path.write_bytes(data)
        paths[name] = (path, reason)
    saved = folder / "saved_code.pt"
    torch.save({"weights": _RunsCode(folder / "marker")}, saved)
    paths["saved code"] = (saved, "could run code")
    return paths


def test_unreadable_files_are_refused_with_a_reason_and_no_code_runs(tmp_path):
    for name, (path, reason) in _bad_files(tmp_path).items():
        with pytest.raises(StateError) as caught:
            read_torch_file(path)
        assert reason in str(caught.value), name
        with pytest.raises(StateError) as caught:
            load_state(path)
        message = str(caught.value)
        assert "weights_only" not in message and "trusted source" not in message, message
        assert f"rm {path} && dynvision run {path}" in message, message
    assert not (tmp_path / "marker").exists()


def test_the_models_package_refuses_pickled_code_without_torchs_advice(tmp_path):
    from dynvision_models.system import TemporalClassifier
    from dynvision_models.zoo._contract import read_state_dict

    path, _ = _bad_files(tmp_path)["saved code"]
    for load in (TemporalClassifier.from_checkpoint, read_state_dict):
        with pytest.raises(ValueError, match="could run code") as caught:
            load(path)
        assert "weights_only" not in str(caught.value)
    assert not (tmp_path / "marker").exists()
