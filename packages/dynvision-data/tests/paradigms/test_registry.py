from __future__ import annotations

from typing import Any

import pytest
import torch

from dynvision_data import Paradigm, create_paradigm, list_paradigms, register_paradigm
from dynvision_data.paradigms import base


@pytest.fixture
def private_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register test paradigms in a copy of the registry so that they do not leak into other tests."""
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))


def test_all_paradigms_are_registered() -> None:
    names = list_paradigms()
    assert names == ["contrast", "duration", "interval", "noise", "repetition"]


def test_unknown_paradigm_lists_close_matches() -> None:
    with pytest.raises(KeyError, match=r"Unknown paradigm 'durration'\. Did you mean 'duration'") as info:
        create_paradigm("durration")
    assert "Available: " in str(info.value)


def test_unknown_parameter_lists_the_accepted_ones() -> None:
    with pytest.raises(TypeError, match=r"unknown parameter\(s\) \['stimulus_steps'\]") as info:
        create_paradigm("duration", stimulus_steps=5)
    assert "['intro', 'stimulus', 'outro', 'blank'] and the common options ['rt', 'pattern'" in str(
        info.value
    )


@pytest.mark.parametrize(
    ("name", "params", "steps"),
    [
        ("duration", {"intro": 1, "stimulus": 20, "outro": 9}, 30),
        ("interval", {"intro": 0, "stimulus": 2, "interval": 2, "outro": 24}, 30),
        ("repetition", {"steps": 25}, 25),
    ],
)
def test_check_fits_names_both_step_counts(name: str, params: dict, steps: int) -> None:
    paradigm = create_paradigm(name, **params)
    assert paradigm.check_fits(steps) == steps and paradigm.check_fits(steps + 5) == steps
    with pytest.raises(ValueError, match=f"needs {steps} steps .*but only n_timesteps={steps - 1}") as info:
        paradigm.check_fits(steps - 1)
    assert f"Paradigm {name!r}" in str(info.value)
    with pytest.raises(ValueError, match="n_timesteps must be >= 1, got 0"):
        paradigm.check_fits(0)


def test_registered_paradigm_is_created_by_name_and_uses_its_stimulus_frames(private_registry: None) -> None:
    @register_paradigm("flash-dim")
    class Dim(Paradigm):
        def __init__(self, *, steps: int = 2, contrast: float = 0.5) -> None:
            super().__init__(blank=0.0)
            self.steps, self.contrast = steps, contrast

        def phases(self) -> list[str]:
            return ["stimulus"] * self.steps + ["gap"]

        def params(self) -> dict[str, Any]:
            return {"steps": self.steps, "contrast": self.contrast}

        def stimulus_frames(self, images: torch.Tensor) -> torch.Tensor:
            return images * self.contrast

    paradigm = create_paradigm("flash-dim", steps=3)
    assert Dim.name == "flash-dim" and paradigm.n_timesteps == 4
    images = torch.ones(2, 1, 2, 2)
    frames, labels, _ = paradigm(images, torch.tensor([1, 2]))
    assert frames[:, :3].eq(0.5).all() and frames[:, 3].eq(0.0).all()
    assert labels.tolist() == [[1, 1, 1, -1], [2, 2, 2, -1]]
    with pytest.raises(ValueError, match="'flash-dim' is already registered"):
        register_paradigm("flash-dim")(Dim)
