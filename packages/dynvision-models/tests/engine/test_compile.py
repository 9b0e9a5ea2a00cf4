"""``compile_step=True``: one time step compiled with ``torch.compile``, the time loop in Python.

Compiling costs 15-30 s on CPU (inductor builds C++ with gcc), so one small model is compiled once for the
module and reused by every test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch._dynamo.utils import counters

from dynvision_models import create_model
from dynvision_models.engine import TemporalModel

pytestmark = pytest.mark.slow

KWARGS = {"input_shape": (3, 16, 16), "n_timesteps": 6, "channels": (4, 5, 6, 7), "n_classes": 3}


@pytest.fixture(scope="module")
def models() -> Iterator[tuple[TemporalModel, TemporalModel]]:
    torch.manual_seed(0)
    eager = create_model("DyRCNNx4", **KWARGS, feedback=True, t_feedback=4.0)
    with torch.no_grad():
        for name, p in eager.named_parameters():
            if "recurrence" in name or "skips" in name or "feedbacks" in name:
                p.mul_(30.0)
    compiled = create_model("DyRCNNx4", **KWARGS, feedback=True, t_feedback=4.0, compile_step=True)
    compiled.load_state_dict(eager.state_dict())
    yield eager, compiled
    torch._dynamo.reset()


def test_compiled_step_equals_eager_and_does_not_recompile_for_longer_inputs(
    models: tuple[TemporalModel, TemporalModel],
) -> None:
    eager, compiled = models
    x = torch.randn(2, 20, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x[:, :6]), eager(x[:, :6]))
        graphs = counters["stats"]["unique_graphs"]
        assert graphs >= 1  # the steady-state step ran compiled
        # Longer inputs reuse the compiled step: the compile cost does not grow with T.
        torch.testing.assert_close(compiled(x), eager(x))
        assert counters["stats"]["unique_graphs"] == graphs


def test_compiled_step_has_no_graph_breaks(models: tuple[TemporalModel, TemporalModel]) -> None:
    _, compiled = models
    x = torch.randn(2, 3, 16, 16)
    state = compiled.init_state(x)
    with torch.no_grad():
        _, state = compiled.run(x, state)  # past the delays: every buffer holds a tensor
        explanation = torch._dynamo.explain(compiled._step)(
            x, state.carry, compiled._alphas_now(), state.batch
        )
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


def test_compiled_step_gives_the_eager_gradients(models: tuple[TemporalModel, TemporalModel]) -> None:
    eager, compiled = models
    x = torch.randn(2, 6, 3, 16, 16)
    for model in models:
        model.zero_grad(set_to_none=True)
        model(x).square().mean().backward()
    for (name, p), q in zip(compiled.named_parameters(), eager.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, msg=name)


def test_compiled_step_with_the_rate_leak_equals_eager() -> None:
    """The leak form is read inside the step: the compiled step must follow ``leak="rate"`` too."""
    torch.manual_seed(0)
    kwargs = {"input_shape": (3, 8, 8), "n_timesteps": 5, "channels": (3, 4), "n_classes": 2, "leak": "rate"}
    eager = create_model("DyRCNNx2", **kwargs)
    with torch.no_grad():
        for name, p in eager.named_parameters():
            if "recurrence" in name:
                p.mul_(30.0)
    compiled = create_model("DyRCNNx2", **kwargs, compile_step=True)
    compiled.load_state_dict(eager.state_dict())
    state_leak = create_model("DyRCNNx2", **{**kwargs, "leak": "state"})
    state_leak.load_state_dict(eager.state_dict())
    x = torch.randn(2, 5, 3, 8, 8)
    with torch.no_grad():
        expected = eager(x)
        torch.testing.assert_close(compiled(x), expected)
        assert not torch.allclose(state_leak(x), expected)
    torch._dynamo.reset()
