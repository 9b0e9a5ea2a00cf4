"""Behaviour without FFCV, simulated by making the cached import report a failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynvision_data import ffcv_available, make_loader, write_betons
from dynvision_data.ffcv import _availability
from dynvision_data.ffcv._availability import INSTALL_HINT, require_ffcv


@pytest.fixture
def no_ffcv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_availability, "_import_ffcv", lambda: "the ffcv package is not installed")


def test_missing_ffcv_is_reported_with_install_instructions(no_ffcv: None) -> None:
    assert not ffcv_available()
    with pytest.raises(ImportError, match="the ffcv package is not installed") as info:
        require_ffcv()
    assert INSTALL_HINT in str(info.value) and "backend='torch'" in str(info.value)


def test_ffcv_backend_and_writer_need_ffcv(no_ffcv: None, class_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ImportError, match="FFCV backend was requested"):
        make_loader(class_folder, backend="ffcv")
    with pytest.raises(ImportError, match="pip install"):
        write_betons(class_folder, tmp_path / "t.beton", tmp_path / "v.beton")
    assert make_loader(class_folder, backend="auto").backend == "torch"


@pytest.mark.ffcv
def test_auto_backend_falls_back_to_torch_for_a_beton_with_a_warning(
    betons, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dynvision_data import loaders

    monkeypatch.setattr(loaders, "ffcv_available", lambda: False)
    with pytest.warns(UserWarning, match="reading train.beton through the torch backend"):
        loader = make_loader(betons.train, batch_size=16, seed=1)
    assert loader.backend == "torch" and loader.n_samples == 90
