"""Penalties on the recorded responses and per-step accuracy counts (formulas of dynvision_models.losses)."""

from __future__ import annotations

import pytest
import torch

from dynvision_models.losses import (
    activity_penalty,
    post_stimulus_steps,
    rest_penalty,
    step_accuracy_counts,
)


def _responses() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "V1": torch.randn(2, 5, 3, 4, 4, generator=generator),
        "V2": torch.randn(2, 5, 6, 2, 2, generator=generator),
    }


def test_metabolic_is_the_mean_absolute_rate_averaged_over_areas() -> None:
    responses = _responses()
    expected = (responses["V1"].abs().mean() + responses["V2"].abs().mean()) / 2
    torch.testing.assert_close(activity_penalty(responses, "metabolic"), expected)


def test_balance_is_the_absolute_mean_over_units_per_sample_and_step() -> None:
    responses = _responses()
    expected = sum(r.flatten(2).mean(dim=2).abs().mean() for r in responses.values()) / 2
    torch.testing.assert_close(activity_penalty(responses, "balance"), expected)
    rates = {name: r.relu() for name, r in responses.items()}  # non-negative rates: both modes agree
    torch.testing.assert_close(activity_penalty(rates, "balance"), activity_penalty(rates, "metabolic"))


@pytest.mark.parametrize("mode", ["metabolic", "balance"])
def test_window_penalties_normalised_by_the_full_length_add_up(mode: str) -> None:
    responses = _responses()
    whole = activity_penalty(responses, mode)
    windows = [{k: r[:, s : s + 2] for k, r in responses.items()} for s in (0, 2, 4)]
    torch.testing.assert_close(sum(activity_penalty(w, mode, n_steps=5) for w in windows), whole)


def test_unknown_mode_and_empty_responses_raise() -> None:
    with pytest.raises(ValueError, match=r"Unknown activity mode 'l2'. Allowed: 'metabolic', 'balance'"):
        activity_penalty(_responses(), "l2")
    with pytest.raises(ValueError, match="at least one area"):
        activity_penalty({}, "metabolic")


def test_post_stimulus_steps_follow_the_last_valid_step() -> None:
    labels = torch.tensor([[-1, 2, 2, -1, -1], [0, -1, 0, 0, -1], [-1, -1, -1, -1, -1]])
    post = post_stimulus_steps(labels)
    assert post.tolist() == [
        [False, False, False, True, True],
        [False, False, False, False, True],
        [False, False, False, False, False],  # no valid step: no aftermath
    ]


def test_rest_penalty_is_the_mean_squared_rate_after_the_stimulus() -> None:
    responses = _responses()
    post = torch.tensor([[False, False, False, True, True], [False, False, False, False, True]])
    expected = sum(r[post].flatten(1).square().mean() for r in responses.values()) / 2
    torch.testing.assert_close(rest_penalty(responses, post), expected)
    # Windows normalised by the whole count add up; no post-stimulus step gives 0.
    parts = [
        rest_penalty({k: r[:, s : s + 3] for k, r in responses.items()}, post[:, s : s + 3], n_post=post.sum())
        for s in (0, 3)
    ]
    torch.testing.assert_close(sum(parts), expected)
    assert float(rest_penalty(responses, torch.zeros(2, 5, dtype=torch.bool))) == 0.0
    with pytest.raises(ValueError, match=r"post must be \(batch, time\)=\(2, 5\)"):
        rest_penalty(responses, post[:, :3])


def test_step_accuracy_counts() -> None:
    logits = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]]])
    labels = torch.tensor([[0, 0, -1], [0, 1, -1]])
    correct, total = step_accuracy_counts(logits, labels)
    assert correct.tolist() == [1, 1, 0] and total.tolist() == [2, 2, 0]


def test_per_step_responses_as_recorded_equal_stacked_ones() -> None:
    responses = _responses()
    per_step = {name: list(r.unbind(1)) for name, r in responses.items()}
    post = torch.tensor([[False, False, False, True, True], [False, False, False, False, True]])
    for mode in ("metabolic", "balance"):
        torch.testing.assert_close(activity_penalty(per_step, mode), activity_penalty(responses, mode))
    torch.testing.assert_close(rest_penalty(per_step, post), rest_penalty(responses, post))
    with pytest.raises(ValueError, match=r"Expected each area's responses as \(batch, time, units...\)"):
        activity_penalty([torch.zeros(2, 3)])
