"""Shared fixtures of the runtime tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The digits test folder and a tiny untrained DyRCNNx2 state made for it (3 and 4 channels, tau 4)."""
    from dynvision_workflow.runtime.data import prepare_data
    from dynvision_workflow.runtime.init import init_model

    root = tmp_path_factory.mktemp("data")
    folder = prepare_data("digits", root=root)
    state = init_model("DyRCNNx2", {"channels": [3, 4], "tau": 4}, seed="0001", dataset=folder / "train",
                       output=tmp_path_factory.mktemp("model") / "init.pt")
    return folder / "test", state
