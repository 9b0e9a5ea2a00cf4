"""``temporal_readout``: the logits at step ``t`` from the per-step logits ``l(s)``, ``s <= t`` (per step,
cumulative, learnt weights over steps), checked against hand computation from the ``"step"`` logits."""

from __future__ import annotations

import json

import pytest
import torch
from torch import Tensor

from dynvision_models import create_model, describe_models
from dynvision_models.checks import kwarg_problems
from dynvision_models.engine import TEMPORAL_READOUTS, TemporalModel
from dynvision_models.system import TemporalClassifier

TINY = {"n_classes": 3, "input_shape": (1, 8, 8), "n_timesteps": 4, "channels": (3, 4)}
MODES = ("cumulative", "weighted")


def _model(mode: str, **kwargs: object) -> TemporalModel:
    """A tiny DyRCNNx2 whose weights do not depend on ``mode`` (same seed; beta draws no random numbers)."""
    torch.manual_seed(0)
    model = create_model("DyRCNNx2", **{**TINY, **kwargs}, temporal_readout=mode)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "recurrence" in name:
                p.mul_(30.0)  # strong recurrence: the per-step logits change from step to step
    return model


def _pair(mode: str, **kwargs: object) -> tuple[TemporalModel, TemporalModel]:
    """The ``"step"`` model and the same network with readout ``mode``."""
    step, other = _model("step", **kwargs), _model(mode, **kwargs)
    result = other.load_state_dict(step.state_dict(), strict=False)
    assert result.missing_keys == (["log_step_weights"] if mode == "weighted" else [])
    return step, other


def _frames(n_steps: int = 6, batch: int = 2) -> Tensor:
    return torch.randn(batch, n_steps, 1, 8, 8, generator=torch.Generator().manual_seed(1))


def _hand_weighted(per_step: Tensor, beta: list[float]) -> Tensor:
    """``sum_{s<=t} w_s l(s) / sum_{s<=t} w_s``, ``w_s = exp(beta[min(s, len(beta) - 1)])``, written out."""
    rows = []
    for t in range(per_step.shape[1]):
        weights = [torch.tensor(beta[min(s, len(beta) - 1)], dtype=torch.float64).exp() for s in range(t + 1)]
        numerator = sum(w * per_step[:, s].double() for s, w in enumerate(weights))
        rows.append(numerator / sum(weights))
    return torch.stack(rows, dim=1)


# ----------------------------------------------------------------------------- the equations
def test_the_choices_are_declared_once_and_step_is_the_default() -> None:
    assert TEMPORAL_READOUTS == ("step", "cumulative", "weighted")
    model = create_model("DyRCNNx2", **TINY)
    assert model.temporal_readout == "step" and not hasattr(model, "log_step_weights")
    assert "temporal_readout='step'" in repr(model)


def test_step_readout_is_the_per_step_logits_unchanged_bit_for_bit() -> None:
    default, step = _model("step"), create_model("DyRCNNx2", **TINY)
    step.load_state_dict(default.state_dict())
    x = _frames()
    assert default.state_dict().keys() == step.state_dict().keys()
    assert torch.equal(default(x), step(x))
    # No extra work: the per-step logits are returned as they are, and no sums are carried.
    logits = torch.randn(2, 3, 3)
    out, sums = default._read_out_over_time(logits, default.init_state(x))
    assert out is logits and sums is None


def test_cumulative_readout_sums_the_step_logits() -> None:
    step, cumulative = _pair("cumulative")
    x = _frames()
    per_step = step(x)
    expected = torch.stack([per_step[:, : t + 1].sum(dim=1) for t in range(per_step.shape[1])], dim=1)
    torch.testing.assert_close(cumulative(x), expected)
    # Confidence grows while the evidence agrees: a constant per-step logit vector is scaled by t + 1.
    constant = torch.tensor([[[1.0, 0.0, -1.0]]]).expand(1, 5, 3)
    out, _ = cumulative._read_out_over_time(constant, cumulative.init_state(x[:1]))
    torch.testing.assert_close(out, constant * torch.arange(1.0, 6.0).view(1, 5, 1))


def test_weighted_readout_starts_as_the_running_mean() -> None:
    step, weighted = _pair("weighted")
    assert weighted.log_step_weights.shape == (TINY["n_timesteps"],)
    assert torch.equal(weighted.log_step_weights.detach(), torch.zeros(TINY["n_timesteps"]))
    x = _frames()
    per_step = step(x)
    expected = torch.stack([per_step[:, : t + 1].mean(dim=1) for t in range(per_step.shape[1])], dim=1)
    torch.testing.assert_close(weighted(x), expected)


def test_weighted_readout_follows_its_equation_and_reuses_the_last_weight_beyond_n_timesteps() -> None:
    step, weighted = _pair("weighted")
    beta = [0.5, -1.0, 2.0, -0.25]
    with torch.no_grad():
        weighted.log_step_weights.copy_(torch.tensor(beta))
    x = _frames(n_steps=7)  # 7 steps > n_timesteps = 4: steps 4, 5, 6 take the weight of step 3
    torch.testing.assert_close(weighted(x), _hand_weighted(step(x), beta).float())


def test_idle_steps_are_not_read_out() -> None:
    for mode in MODES:
        step, other = _pair(mode, idle_timesteps=3)
        x = _frames(n_steps=4)
        per_step = step(x)
        hand = per_step.cumsum(dim=1) if mode == "cumulative" else _hand_weighted(per_step, [0.0] * 4).float()
        torch.testing.assert_close(other(x), hand, msg=mode)


# ----------------------------------------------------------------------------- windows, tbptt, checkpointing
@pytest.mark.parametrize("mode", MODES)
def test_windows_and_run_carry_the_sums_and_equal_forward_exactly(mode: str) -> None:
    _, model = _pair(mode)
    if mode == "weighted":
        with torch.no_grad():
            model.log_step_weights.copy_(torch.tensor([0.3, -0.7, 1.1, 0.2]))
    x = _frames(n_steps=7)
    with torch.no_grad():
        full = model(x)
        for steps in (1, 2, 3, 5):
            assert torch.equal(torch.cat(list(model.windows(x, steps)), dim=1), full), steps
        state, parts = model.init_state(x), []
        for start, stop in ((0, 1), (1, 4), (4, 7)):
            logits, state = model.run(x[:, start:stop], state)
            parts.append(logits)
    assert torch.equal(torch.cat(parts, dim=1), full)
    assert state.steps == 7 and len(state.readout) == (1 if mode == "cumulative" else 2)


@pytest.mark.parametrize("mode", MODES)
def test_truncated_bptt_detaches_the_sums_with_the_state(mode: str) -> None:
    _, model = _pair(mode)
    x = _frames(n_steps=4)
    _, state = model.run(x[:, :2], model.init_state(x))
    assert all(s.requires_grad for s in state.readout)
    cut = state.detach()
    assert not any(s.requires_grad for s in cut.readout)
    assert all(torch.equal(a, b) for a, b in zip(cut.readout, state.readout, strict=True))
    # The second window's loss reaches no parameter through the first window's steps: with tbptt its gradient
    # equals that of a run from the detached state.
    later, _ = model.run(x[:, 2:], cut)
    later.sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    windows = list(model.windows(x, 2))
    windows[1].sum().backward()
    for name, p in model.named_parameters():
        if name in grads:
            torch.testing.assert_close(p.grad, grads[name], msg=name)


@pytest.mark.parametrize("mode", MODES)
def test_checkpointed_steps_give_the_same_readout_and_gradients(mode: str) -> None:
    _, plain = _pair(mode)
    _, checkpointed = _pair(mode, checkpoint_steps=2, tbptt_steps=3)
    plain.tbptt_steps = 3
    x = _frames(n_steps=7)
    for model in (plain, checkpointed):
        torch.cat(list(model.windows(x)), dim=1).square().sum().backward()
    torch.testing.assert_close(checkpointed(x), plain(x), rtol=0, atol=0)
    for (name, p), q in zip(plain.named_parameters(), checkpointed.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, msg=name)


def test_gradient_reaches_the_step_weights_it_uses() -> None:
    _, model = _pair("weighted")
    x = _frames(n_steps=3)  # 3 of the n_timesteps = 4 weights are used
    labels = torch.tensor([0, 2]).view(2, 1).expand(2, 3)
    torch.nn.functional.cross_entropy(model(x).reshape(-1, 3), labels.reshape(-1)).backward()
    grad = model.log_step_weights.grad
    assert grad is not None and bool((grad[:3] != 0).all()) and grad[3] == 0


@pytest.mark.slow
def test_compiled_step_gives_the_same_readout() -> None:
    _, eager = _pair("weighted")
    _, compiled = _pair("weighted", compile_step=True)
    with torch.no_grad():
        for model in (eager, compiled):
            model.log_step_weights.copy_(torch.tensor([0.3, -0.7, 1.1, 0.2]))
        x = _frames(n_steps=6)
        try:
            torch.testing.assert_close(torch.cat(list(compiled.windows(x, 4)), dim=1), eager(x))
        finally:
            torch._dynamo.reset()


# ----------------------------------------------------------------------------- kwarg checks, zoo, training
def test_bad_values_are_rejected_by_the_constructor_and_without_torch() -> None:
    for value, phrase in (
        ("cumulativ", "temporal_readout: 'cumulativ' is not a known temporal_readout (did you mean 'cumulative'?)"),
        ("mean", "temporal_readout: 'mean' is not a known temporal_readout"),
        (None, "temporal_readout: None is not allowed (null)"),
    ):
        with pytest.raises(ValueError, match=r"allowed: .*'step', 'cumulative', 'weighted'") as error:
            create_model("DyRCNNx2", **TINY, temporal_readout=value)
        assert phrase in str(error.value)
    catalogue = json.loads(json.dumps(describe_models()))
    (problem,) = kwarg_problems(catalogue["DyRCNNx4"], {"temporal_readout": "cumulativ"})
    assert "did you mean 'cumulative'?" in problem and "Give one of them, e.g. temporal_readout: step" in problem
    assert kwarg_problems(catalogue["DyRCNNx4"], {"temporal_readout": "weighted"}) == []
    for name in ("DyRCNNx2", "DyRCNNx4", "DyRCNNx8", "AlexNet"):
        spec = catalogue[name]["parameters"]["temporal_readout"]
        assert (spec["kind"], spec["choices"], spec["default"]) == ("choice", list(TEMPORAL_READOUTS), "step")
    for name in ("CorNetRT", "CordsNet"):
        assert "no readout over time" in catalogue[name]["rejected"]["temporal_readout"]


def test_models_off_the_engine_reject_it_with_their_reason() -> None:
    with pytest.raises(TypeError, match="'temporal_readout': the published decoder reads each step on its own"):
        create_model("CorNetRT", temporal_readout="cumulative")
    with pytest.raises(TypeError, match="temporal_readout"):
        create_model("ResNet20", temporal_readout="cumulative")


def test_alexnet_reads_out_over_time_too() -> None:
    torch.manual_seed(0)
    step = create_model("AlexNet", input_shape=(3, 64, 64), n_classes=5, n_timesteps=2, dropout=0.0)
    cumulative = create_model(
        "AlexNet", input_shape=(3, 64, 64), n_classes=5, n_timesteps=2, dropout=0.0, temporal_readout="cumulative"
    )
    cumulative.load_state_dict(step.state_dict())
    x = torch.randn(1, 2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(cumulative(x), step(x).cumsum(dim=1))
    assert cumulative.model_kwargs["temporal_readout"] == "cumulative"


@pytest.mark.parametrize("tbptt", [0, 2])
@pytest.mark.parametrize("mode", TEMPORAL_READOUTS)
def test_a_training_step_works_with_each_readout(mode: str, tbptt: int) -> None:
    model = _model(mode, tbptt_steps=tbptt)
    system = TemporalClassifier(model, lr=0.05, scheduler=None)
    optimizer = system.configure_optimizers()
    frames = _frames(n_steps=4, batch=4)
    labels = torch.tensor([0, 1, 2, 1])
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    loss = system.training_step((frames, labels), 0)
    loss.backward()
    system.on_after_backward()
    optimizer.step()
    assert torch.isfinite(loss)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert "classifier.weight" in changed
    assert ("log_step_weights" in changed) == (mode == "weighted")
