from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from dynvision_models import registry
from dynvision_models.registry import REQUIRED, create_model, list_models, model_parameters, register_model


@pytest.fixture
def private_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register test models in a copy of the registry so that they do not leak into other tests."""
    monkeypatch.setattr(registry, "_MODEL_REGISTRY", dict(registry._MODEL_REGISTRY))


class _Tiny(nn.Module):
    def __init__(self, width: int, depth: int = 2) -> None:
        super().__init__()
        self.layers = nn.Sequential(*[nn.Linear(width, width) for _ in range(depth)])


def test_list_models_is_sorted_and_filters_by_pattern() -> None:
    names = list_models()
    assert names == sorted(names)
    assert {"DyRCNNx2", "DyRCNNx4"} <= set(names)
    assert list_models("DyRCNNx*") == ["DyRCNNx2", "DyRCNNx4", "DyRCNNx8"]
    assert list_models("nothing*") == []


def test_duplicate_name_raises_naming_it(private_registry: None) -> None:
    register_model("tiny")(_Tiny)
    with pytest.raises(ValueError, match="'tiny' is already registered"):
        register_model("tiny")(_Tiny)


def test_register_uses_class_name_and_accepts_factories(private_registry: None) -> None:
    register_model()(_Tiny)

    @register_model("tiny_factory")
    def build(width: int = 3) -> nn.Module:
        return _Tiny(width)

    assert {"_Tiny", "tiny_factory"} <= set(list_models())
    assert model_parameters("_Tiny") == {"width": REQUIRED, "depth": 2}
    assert create_model("tiny_factory").model_name == "tiny_factory"


def test_unknown_name_suggests_close_matches_and_lists_models() -> None:
    with pytest.raises(ValueError, match="Unknown model name 'DyRCNNx5'") as info:
        create_model("DyRCNNx5")
    message = str(info.value)
    assert "Did you mean" in message and "'DyRCNNx4'" in message
    assert "Registered models: " in message
    for name in ("CorNetRT", "CordsNet", "DyRCNNx2", "DyRCNNx4", "DyRCNNx8", "ResNet18", "ResNet20"):
        assert name in message


def test_unknown_kwarg_is_a_type_error_listing_allowed_kwargs() -> None:
    with pytest.raises(TypeError, match="'n_clases' \\(did you mean 'n_classes'\\?\\)") as info:
        create_model("DyRCNNx2", n_clases=3)
    assert "Allowed kwargs: n_classes, input_shape" in str(info.value)


def test_created_model_carries_name_and_json_kwargs_and_rebuilds_exactly() -> None:
    kwargs = {"n_classes": 3, "input_shape": (1, 8, 8), "n_timesteps": 2, "channels": [4, 6]}
    torch.manual_seed(0)
    model = create_model("DyRCNNx2", **kwargs)
    assert model.model_name == "DyRCNNx2"
    assert model.model_kwargs == {"n_classes": 3, "input_shape": [1, 8, 8], "n_timesteps": 2, "channels": [4, 6]}
    saved = json.loads(json.dumps({"name": model.model_name, "kwargs": model.model_kwargs}))
    torch.manual_seed(0)
    rebuilt = create_model(saved["name"], **saved["kwargs"])
    for (key, a), (key_b, b) in zip(model.state_dict().items(), rebuilt.state_dict().items(), strict=True):
        assert key == key_b and torch.equal(a, b)


def test_non_json_kwargs_are_rejected() -> None:
    with pytest.raises(TypeError, match="JSON-serialisable"):
        create_model("DyRCNNx2", channels=torch.tensor([4, 6]))


def test_model_parameters_lists_defaults() -> None:
    params = model_parameters("DyRCNNx4")
    assert params["dt"] == 2.0 and params["tau"] == 5.0 and params["recurrence_type"] == "full"
    assert params["t_recurrence"] == 6.0 and params["channels"] is None
    with pytest.raises(ValueError, match="Unknown model name"):
        model_parameters("nope")
