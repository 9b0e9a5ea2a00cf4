from __future__ import annotations

import pytest
import torch

from dynvision_models.engine.solvers import EulerSolver, get_solver, list_solvers


def test_euler_is_available_by_name() -> None:
    assert "euler" in list_solvers()
    assert isinstance(get_solver("euler"), EulerSolver)


@pytest.mark.parametrize(("name", "message"), [("rk4", "planned but not implemented"), ("eular", "Did you mean 'euler'")])
def test_unknown_solver_lists_available_ones(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        get_solver(name)
    assert "Available solvers: 'euler'" in str(info.value)


def test_euler_step_matches_formula_and_evaluates_drive_once_at_old_state() -> None:
    solver = get_solver("euler")
    u = torch.tensor([1.0, -2.0, 3.0])
    h = torch.tensor([0.5, 0.5, -1.0])
    seen = []

    def drive(state: torch.Tensor | None) -> torch.Tensor:
        seen.append(state)
        return u

    torch.testing.assert_close(solver.step(h, drive, 0.4), h + 0.4 * (u - h))
    assert len(seen) == 1 and seen[0] is h
    # None stands for the zero initial state.
    torch.testing.assert_close(solver.step(None, drive, 0.4), 0.4 * u)
