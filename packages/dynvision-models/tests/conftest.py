"""Shared checks of the model tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn


def _assert_checkpointing_changes_nothing(build: Callable[[int | bool], nn.Module], x: Tensor, segment: int | bool
                                          ) -> nn.Module:
    """``build(checkpoint_steps)`` twice, without checkpointing and with ``segment``: the same logits, rates and
    parameter gradients (of the mean squared logits). Returns the checkpointed model."""
    results = []
    for checkpoint_steps in (0, segment):
        model = build(checkpoint_steps)
        logits, rates = model.forward_intermediates(x)
        logits.square().mean().backward()
        results.append((logits.detach(), rates, {n: p.grad for n, p in model.named_parameters()}))
    (logits, rates, grads), (ck_logits, ck_rates, ck_grads) = results
    torch.testing.assert_close(ck_logits, logits)
    for area, rate in rates.items():
        torch.testing.assert_close(ck_rates[area], rate.detach(), msg=area)
    for name, grad in grads.items():
        torch.testing.assert_close(ck_grads[name], grad, msg=name)
    return model


@pytest.fixture
def assert_checkpointing_changes_nothing() -> Callable[..., nn.Module]:
    """Checkpointed steps give the plain outputs and gradients (:func:`_assert_checkpointing_changes_nothing`)."""
    return _assert_checkpointing_changes_nothing
