"""Model variants as data: defaults, engine kwargs listed from one signature, exact rebuilds."""

from __future__ import annotations

import inspect

import pytest
import torch

from dynvision_models import (
    DyRCNN,
    DyRCNNx2,
    DyRCNNx4,
    DyRCNNx8,
    TemporalModel,
    create_model,
    model_parameters,
)

# The defaults of the registered signatures before variants became data (copied literally from
# zoo/dyrcnn.py and zoo/alexnet.py of that version): the variants must keep every one of them.
_ENGINE_DEFAULTS_BEFORE = {
    "train_tau": False,
    "t_feedforward": 0.0,
    "t_skip": 0.0,
    "recurrence_type": "full",
    "recurrence_target": "output",
    "integration": "additive",
    "solver": "euler",
    "feedback": False,
    "skip_mode": "additive",
    "feedback_mode": "additive",
    "idle_timesteps": 0,
    "tbptt_steps": 0,
    "feedforward_only": False,
    "supralinearity": 1.0,
    "bias": "channel",
    "use_retina": False,
    "adaptation": None,
    "readout": "avgpool",
    "checkpoint_steps": 0,
    "compile_step": False,
    "channels_last": True,
}
DEFAULTS_BEFORE = {
    "DyRCNNx2": {
        "n_classes": 10,
        "input_shape": (3, 32, 32),
        "n_timesteps": 10,
        "dt": 2.0,
        "tau": 5.0,
        **_ENGINE_DEFAULTS_BEFORE,
        "t_recurrence": None,
        "t_feedback": 30.0,
        "skip": False,
        "channels": None,
        "norm": None,
    },
    "DyRCNNx4": {
        "n_classes": 10,
        "input_shape": (3, 32, 32),
        "n_timesteps": 10,
        "dt": 2.0,
        "tau": 5.0,
        **_ENGINE_DEFAULTS_BEFORE,
        "t_recurrence": 6.0,
        "t_feedback": 30.0,
        "skip": True,
        "channels": None,
        "norm": None,
    },
    "DyRCNNx8": {
        "n_classes": 10,
        "input_shape": (3, 32, 32),
        "n_timesteps": 10,
        "dt": 2.0,
        "tau": 5.0,
        **_ENGINE_DEFAULTS_BEFORE,
        "t_recurrence": 6.0,
        "t_feedback": 30.0,
        "skip": True,
        "channels": None,
        "norm": None,
    },
}
# AlexNet named these (the engine kwargs it took explicitly, and its own); the engine kwargs it passed on
# unnamed (checkpoint_steps, compile_step, channels_last) keep the engine's defaults.
ALEXNET_DEFAULTS_BEFORE = {
    "n_classes": 1000,
    "input_shape": (3, 224, 224),
    "n_timesteps": 1,
    "dt": 1.0,
    "tau": 1.0,
    "train_tau": False,
    "t_feedforward": 0.0,
    "t_recurrence": None,
    "recurrence_type": "none",
    "recurrence_target": "output",
    "integration": "additive",
    "solver": "euler",
    "idle_timesteps": 0,
    "tbptt_steps": 0,
    "feedforward_only": False,
    "supralinearity": 1.0,
    "bias": "channel",
    "use_retina": False,
    "adaptation": None,
    "recurrence_kernel_size": 3,
    "recurrence_init_scale": 0.001,
    "dropout": 0.5,
    "fixed_self_weight": None,
    "checkpoint_steps": 0,
    "compile_step": False,
    "channels_last": True,
}
# Engine kwargs added since that version, with their defaults (which keep the outputs of before).
ENGINE_DEFAULTS_ADDED = {"leak": "state", "temporal_readout": "step"}
ALEXNET_REJECTS = ("skip", "feedback", "t_skip", "t_feedback", "skip_mode", "feedback_mode", "readout")

ENGINE_KWARGS = tuple(n for n in inspect.signature(TemporalModel.__init__).parameters if n != "self")
VARIANTS = ("DyRCNNx2", "DyRCNNx4", "DyRCNNx8")
SMALL = {
    "DyRCNNx2": {"input_shape": (3, 16, 16), "n_timesteps": 3},
    "DyRCNNx4": {"input_shape": (3, 16, 16), "n_timesteps": 3},
    "DyRCNNx8": {"input_shape": (3, 32, 32), "n_timesteps": 3},
}


@pytest.mark.parametrize("name", VARIANTS)
def test_variant_defaults_are_the_defaults_of_before(name: str) -> None:
    assert model_parameters(name) == {**DEFAULTS_BEFORE[name], **ENGINE_DEFAULTS_ADDED}


def test_alexnet_defaults_are_the_defaults_of_before_and_rejections_stay() -> None:
    params = model_parameters("AlexNet")
    assert params == {**ALEXNET_DEFAULTS_BEFORE, **ENGINE_DEFAULTS_ADDED}
    for key in ALEXNET_REJECTS:
        assert key not in params
        with pytest.raises(TypeError, match=repr(key)):
            create_model("AlexNet", **{key: model_parameters("DyRCNNx2").get(key, "avgpool")})


@pytest.mark.parametrize("name", [*VARIANTS, "AlexNet"])
def test_every_engine_kwarg_is_listed_by_every_engine_model(name: str) -> None:
    rejected = ALEXNET_REJECTS if name == "AlexNet" else ()
    params = model_parameters(name)
    missing = [k for k in ENGINE_KWARGS if k not in params and k not in rejected]
    assert not missing


def test_variants_list_exactly_the_engine_kwargs_and_channels_norm() -> None:
    for name in VARIANTS:
        assert tuple(model_parameters(name)) == (*ENGINE_KWARGS, "channels", "norm")


def test_variant_callables_build_the_registered_model() -> None:
    for factory, name in ((DyRCNNx2, "DyRCNNx2"), (DyRCNNx4, "DyRCNNx4"), (DyRCNNx8, "DyRCNNx8")):
        torch.manual_seed(0)
        direct = factory(**SMALL[name], channels=(4, 9, 16, 25)[: 2 if name == "DyRCNNx2" else 4])
        torch.manual_seed(0)
        built = create_model(name, **SMALL[name], channels=[4, 9, 16, 25][: 2 if name == "DyRCNNx2" else 4])
        assert isinstance(direct, DyRCNN) and isinstance(direct, TemporalModel)
        assert factory.__name__ == name
        for (k, a), (kb, b) in zip(direct.state_dict().items(), built.state_dict().items(), strict=True):
            assert k == kb and torch.equal(a, b)
    assert DyRCNNx4(n_classes=10).n_classes == 10


@pytest.mark.parametrize("name", VARIANTS)
def test_fixed_architecture_is_not_a_kwarg(name: str) -> None:
    for key in ("area_names", "strides", "pool_after", "kernel_size", "two_stage", "skips", "feedbacks"):
        assert key not in model_parameters(name)
        with pytest.raises(TypeError, match=key):
            create_model(name, **{key: None})


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"channels": "narrow"}, {"recurrence_type": "self", "tau": 4}, {"rctype": "depthpointwise", "feedback": True}],
)
def test_rebuild_from_model_kwargs_is_exact(name: str, kwargs: dict) -> None:
    kwargs = dict(kwargs)
    if kwargs.get("channels") == "narrow":
        kwargs["channels"] = [8, 16] if name == "DyRCNNx2" else [4, 9, 16, 25]
    torch.manual_seed(1)
    model = create_model(name, **SMALL[name], **kwargs)
    assert "rctype" not in model.model_kwargs
    torch.manual_seed(1)
    rebuilt = create_model(name, **model.model_kwargs)
    assert {k: v.shape for k, v in model.state_dict().items()} == {
        k: v.shape for k, v in rebuilt.state_dict().items()
    }
    x = torch.rand(2, *SMALL[name]["input_shape"], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model(x), rebuilt(x))
