from __future__ import annotations

import pytest
import torch

from dynvision_models.layers import (
    FullRecurrence,
    RecurrentArea,
    SelfRecurrence,
    create_recurrence,
    list_recurrence_types,
)


def test_factory_builds_each_type() -> None:
    assert list_recurrence_types() == ["full", "none", "self"]
    assert isinstance(create_recurrence("full", 4), FullRecurrence)
    assert isinstance(create_recurrence("self", 4), SelfRecurrence)
    assert create_recurrence("none", 4) is None


@pytest.mark.parametrize(("name", "message"), [("local", "planned but not implemented"), ("ful", "Did you mean 'full'")])
def test_unknown_type_lists_allowed(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        create_recurrence(name, 4)
    assert "Allowed: 'full', 'none', 'self'" in str(info.value)


@pytest.mark.parametrize("name", ["full", "self"])
def test_recurrence_keeps_shape_has_no_bias_and_starts_small(name: str) -> None:
    module = create_recurrence(name, 5, init_scale=1e-3)
    r = torch.rand(2, 5, 6, 7)
    assert module(r).shape == r.shape
    assert module(torch.zeros_like(r)).abs().max() == 0  # no bias: zero rate -> zero recurrent input
    assert all(p.abs().max() <= 1e-3 for p in module.parameters())


def test_full_recurrence_needs_odd_kernel() -> None:
    with pytest.raises(ValueError, match="must be odd"):
        FullRecurrence(3, kernel_size=2)


def test_area_null_drive_is_the_bias() -> None:
    area = RecurrentArea(2, 3, recurrence_type="none")
    area.rate_shape = (3, 4, 4)
    with torch.no_grad():
        area.ff.bias.copy_(torch.tensor([1.0, -1.0, 0.5]))
    u = area.drive(None, None, batch=2)
    torch.testing.assert_close(u, area.ff(torch.zeros(2, 2, 4, 4)))
