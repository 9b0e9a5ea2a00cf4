"""Tests of the lateral recurrence types: registry and errors, shapes, no bias, gradients, parameter counts,
and the separable types against references computed by hand with ``F.conv2d``."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dynvision_models import create_model
from dynvision_models.layers import (
    DepthPointwiseRecurrence,
    FullRecurrence,
    LocalDepthwiseRecurrence,
    PointDepthwiseRecurrence,
    RecurrentArea,
    SelfRecurrence,
    TopographicRecurrence,
    check_recurrence_type,
    create_recurrence,
    list_recurrence_types,
)
from dynvision_models.layers.topographic import default_sheet_kernel_size

ALL_TYPES = [
    "depthpointwise",
    "full",
    "gru",
    "intersection",
    "local",
    "localdepthwise",
    "lstm",
    "none",
    "pointdepthwise",
    "reciprocalgated",
    "self",
    "simplernn",
    "timedecay",
    "ugrnn",
]
# The gated cells take (x, r, memory) and are tested in test_gated.py; these map a past rate to a drive term.
GATED_TYPES = ["gru", "intersection", "lstm", "reciprocalgated", "ugrnn"]
MODULE_TYPES = [t for t in ALL_TYPES if t != "none" and t not in GATED_TYPES]
ALLOWED = "; allowed: " + ", ".join(repr(t) for t in ALL_TYPES) + "."


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _expected_params(name: str, c: int, k: int) -> int:
    """The parameter counts documented in ``layers.recurrence``."""
    k_s = default_sheet_kernel_size(c)
    return {
        "full": c * c * k * k,
        "self": c,
        "depthpointwise": c * k * k + c * c,
        "pointdepthwise": c * c + c * k * k,
        "local": k_s * k_s,
        "localdepthwise": k_s * k_s + c * k * k,
        "timedecay": 1,
        "simplernn": c * c * k * k,
    }[name]


# ----------------------------------------------------------------------------- registry and errors
def test_list_recurrence_types_lists_every_type() -> None:
    assert list_recurrence_types() == ALL_TYPES


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("full", FullRecurrence),
        ("self", SelfRecurrence),
        ("depthpointwise", DepthPointwiseRecurrence),
        ("pointdepthwise", PointDepthwiseRecurrence),
        ("local", TopographicRecurrence),
        ("localdepthwise", LocalDepthwiseRecurrence),
        ("timedecay", SelfRecurrence),
        ("simplernn", FullRecurrence),
    ],
)
def test_factory_builds_each_type(name: str, cls: type[nn.Module]) -> None:
    assert isinstance(create_recurrence(name, 4), cls)
    check_recurrence_type(name)  # no error


def test_none_builds_nothing() -> None:
    assert create_recurrence("none", 4) is None


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("ful", "full"),
        ("locl", "local"),
        ("depthpointwse", "depthpointwise"),
        ("point_depthwise", "pointdepthwise"),
        ("localdepthwse", "localdepthwise"),
        ("slf", "self"),
        ("timedecy", "timedecay"),
        ("simple_rnn", "simplernn"),
        ("gur", "gru"),
    ],
)
def test_unknown_type_suggests_a_close_match_and_lists_allowed(name: str, suggestion: str) -> None:
    with pytest.raises(
        ValueError,
        match=re.escape(f"recurrence_type: {name!r} is not a known recurrence_type (did you mean {suggestion!r}?)"),
    ) as info:
        create_recurrence(name, 4)
    assert ALLOWED in str(info.value)


@pytest.mark.parametrize("name", ["xyz", "", 3])
def test_unknown_type_without_close_match_lists_allowed(name: object) -> None:
    with pytest.raises(ValueError, match="is not a known recurrence_type") as info:
        check_recurrence_type(name)  # type: ignore[arg-type]
    assert "did you mean" not in str(info.value)
    assert ALLOWED in str(info.value)


def test_python_none_suggests_the_string_none() -> None:
    with pytest.raises(ValueError, match=re.escape("recurrence_type: None is not a known recurrence_type (did you mean 'none'?)")):
        check_recurrence_type(None)  # type: ignore[arg-type]


def test_no_type_is_planned_any_more() -> None:
    for name in ALL_TYPES:
        check_recurrence_type(name)


@pytest.mark.parametrize("name", ["full", "depthpointwise", "pointdepthwise", "localdepthwise", "simplernn"])
@pytest.mark.parametrize("kernel_size", [2, 0, 4])
def test_convolutional_types_need_an_odd_kernel(name: str, kernel_size: int) -> None:
    with pytest.raises(ValueError, match="must be odd"):
        create_recurrence(name, 3, kernel_size=kernel_size)


@pytest.mark.parametrize("name", MODULE_TYPES)
@pytest.mark.parametrize("init_scale", [-1e-3, float("nan"), float("inf")])
def test_init_scale_must_be_finite_and_not_negative(name: str, init_scale: float) -> None:
    with pytest.raises(ValueError, match="init_scale must be a finite number"):
        create_recurrence(name, 4, init_scale=init_scale)


@pytest.mark.parametrize("name", ["depthpointwise", "pointdepthwise", "localdepthwise"])
def test_two_factor_types_reject_a_zero_init_scale(name: str) -> None:
    """Two zero factors would never receive a gradient (each factor's gradient scales with the other)."""
    with pytest.raises(ValueError, match="must be a finite number > 0 for a recurrence made of two"):
        create_recurrence(name, 4, init_scale=0.0)


@pytest.mark.parametrize("name", ["full", "self", "local", "timedecay", "simplernn"])
def test_single_factor_types_accept_a_zero_init_scale_and_still_learn(name: str) -> None:
    module = create_recurrence(name, 4, init_scale=0.0)
    assert all(torch.count_nonzero(p) == 0 for p in module.parameters())
    module(torch.rand(2, 4, 3, 3)).sum().backward()
    assert all(torch.count_nonzero(p.grad) > 0 for p in module.parameters())


def test_full_recurrence_needs_odd_kernel() -> None:
    with pytest.raises(ValueError, match="must be odd"):
        FullRecurrence(3, kernel_size=2)


# ----------------------------------------------------------------------------- common contract
@pytest.mark.parametrize("name", MODULE_TYPES)
@pytest.mark.parametrize(("channels", "height", "width"), [(5, 6, 7), (10, 4, 3), (9, 1, 1), (1, 5, 5)])
def test_keeps_shape_has_no_bias_and_zero_gives_zero(
    name: str, channels: int, height: int, width: int
) -> None:
    torch.manual_seed(0)
    module = create_recurrence(name, channels)
    r = torch.rand(2, channels, height, width)
    assert module(r).shape == r.shape
    assert torch.equal(module(torch.zeros_like(r)), torch.zeros_like(r))  # exactly zero, not just small
    assert not any("bias" in n for n, _ in module.named_parameters())
    assert all(m.bias is None for m in module.modules() if isinstance(m, nn.Conv2d))


@pytest.mark.parametrize("name", MODULE_TYPES)
def test_gradients_reach_every_parameter_and_the_input(name: str) -> None:
    torch.manual_seed(0)
    module = create_recurrence(name, 10, init_scale=0.1)
    r = torch.rand(3, 10, 5, 6, requires_grad=True)
    (module(r) * torch.randn(3, 10, 5, 6)).sum().backward()
    for param_name, p in module.named_parameters():
        assert p.grad is not None and torch.count_nonzero(p.grad) > 0, param_name
    assert r.grad is not None and torch.count_nonzero(r.grad) > 0


@pytest.mark.parametrize("name", MODULE_TYPES)
@pytest.mark.parametrize(("channels", "kernel_size"), [(4, 3), (10, 5), (36, 3), (256, 1)])
def test_parameter_counts_are_as_documented(name: str, channels: int, kernel_size: int) -> None:
    module = create_recurrence(name, channels, kernel_size=kernel_size)
    assert _n_params(module) == _expected_params(name, channels, kernel_size)


@pytest.mark.parametrize("name", ["full", "self", "local", "timedecay", "simplernn"])
def test_single_factor_types_start_within_init_scale(name: str) -> None:
    module = create_recurrence(name, 5, init_scale=1e-3)
    assert all(p.abs().max() <= 1e-3 for p in module.parameters())


@pytest.mark.parametrize("name", ["depthpointwise", "pointdepthwise", "localdepthwise"])
def test_two_factor_types_start_each_factor_within_sqrt_init_scale(name: str) -> None:
    torch.manual_seed(0)
    module = create_recurrence(name, 16, init_scale=1e-2)
    for p in module.parameters():
        assert p.abs().max() <= 0.1
        assert p.abs().max() > 0.05  # uniform in ±0.1, not in ±0.01


def test_separable_effective_kernel_is_bounded_by_init_scale() -> None:
    torch.manual_seed(0)
    module = create_recurrence("depthpointwise", 8, init_scale=1e-3)
    effective = module.pointwise.weight[:, :, 0, 0, None, None] * module.depthwise.weight[:, 0][None]
    assert effective.abs().max() <= 1e-3


# ----------------------------------------------------------------------------- references by hand
def _random_weights(module: nn.Module) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.normal_()


@pytest.mark.parametrize("kernel_size", [1, 3, 5])
def test_depthpointwise_equals_a_hand_computed_reference(kernel_size: int) -> None:
    torch.manual_seed(0)
    c = 6
    module = create_recurrence("depthpointwise", c, kernel_size=kernel_size).double()
    _random_weights(module)
    r = torch.rand(2, c, 7, 5, dtype=torch.float64)
    d = module.depthwise.weight  # (C, 1, k, k)
    p = module.pointwise.weight  # (C, C, 1, 1)
    two_steps = F.conv2d(F.conv2d(r, d, padding=kernel_size // 2, groups=c), p)
    torch.testing.assert_close(module(r), two_steps)
    # One k x k conv with the composed kernel W[o, i] = P[o, i] * D[i].
    composed = p[:, :, 0, 0, None, None] * d[:, 0][None]
    torch.testing.assert_close(module(r), F.conv2d(r, composed, padding=kernel_size // 2))


@pytest.mark.parametrize("kernel_size", [1, 3, 5])
def test_pointdepthwise_equals_a_hand_computed_reference(kernel_size: int) -> None:
    torch.manual_seed(0)
    c = 6
    module = create_recurrence("pointdepthwise", c, kernel_size=kernel_size).double()
    _random_weights(module)
    r = torch.rand(2, c, 7, 5, dtype=torch.float64)
    d = module.depthwise.weight
    p = module.pointwise.weight
    two_steps = F.conv2d(F.conv2d(r, p), d, padding=kernel_size // 2, groups=c)
    torch.testing.assert_close(module(r), two_steps)
    # One k x k conv with the composed kernel W[o, i] = D[o] * P[o, i].
    composed = d[:, 0][:, None] * p[:, :, 0, 0, None, None]
    torch.testing.assert_close(module(r), F.conv2d(r, composed, padding=kernel_size // 2))


def test_depthpointwise_and_pointdepthwise_differ() -> None:
    torch.manual_seed(0)
    a = create_recurrence("depthpointwise", 4)
    b = create_recurrence("pointdepthwise", 4)
    with torch.no_grad():
        b.pointwise.weight.copy_(a.pointwise.weight)
        b.depthwise.weight.copy_(a.depthwise.weight)
    r = torch.rand(1, 4, 5, 5)
    assert not torch.allclose(a(r), b(r))


def test_localdepthwise_is_local_then_depthwise() -> None:
    torch.manual_seed(0)
    module = create_recurrence("localdepthwise", 10, kernel_size=3).double()
    _random_weights(module)
    r = torch.rand(2, 10, 4, 5, dtype=torch.float64)
    expected = F.conv2d(module.local(r), module.depthwise.weight, padding=1, groups=10)
    torch.testing.assert_close(module(r), expected)
    assert module.local.sheet_kernel_size == default_sheet_kernel_size(10)


def test_local_ignores_the_retinotopic_kernel_size() -> None:
    assert _n_params(create_recurrence("local", 256, kernel_size=7)) == 5 * 5


@pytest.mark.parametrize("name", MODULE_TYPES)
def test_gradcheck_in_float64(name: str) -> None:
    torch.manual_seed(0)
    module = create_recurrence(name, 5, init_scale=0.5).double()
    r = torch.rand(2, 5, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(module, (r,))


# ----------------------------------------------------------------------------- in an area and a model
def test_area_null_drive_is_the_bias() -> None:
    area = RecurrentArea(2, 3, recurrence_type="none")
    area.rate_shape = (3, 4, 4)
    with torch.no_grad():
        area.ff.bias.copy_(torch.tensor([1.0, -1.0, 0.5]))
    u = area.drive(None, None, batch=2)
    torch.testing.assert_close(u, area.ff(torch.zeros(2, 2, 4, 4)))


@pytest.mark.parametrize("name", ALL_TYPES)
def test_every_type_trains_in_a_model(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(
        "DyRCNNx2", n_classes=3, input_shape=(1, 8, 8), n_timesteps=3, channels=(3, 5), recurrence_type=name
    )
    logits = model(torch.rand(2, 1, 8, 8))
    assert logits.shape == (2, 3, 3)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
