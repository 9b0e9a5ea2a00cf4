"""Stability analysis: spectra of the linearised step against spectra known in closed form or from dense
matrices built here (the library itself never forms a Jacobian)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dynvision_models.engine import leading_mode, recurrent_spectrum
from dynvision_models.zoo import DyRCNN

DT, TAU = 2.0, 5.0
A = DT / TAU
SIZE = 4  # 4x4 maps


def _decay(solver: str, a: float = A) -> float:
    """``g``: one step of the solver multiplies ``h - u`` by ``g`` for a drive held over the step, so a unit
    with a positive state has ``dh'/dh = g`` and ``dh'/du = 1 - g``."""
    return {
        "euler": 1.0 - a,
        "exponential": math.exp(-a),
        "rk4": 1.0 - a + a**2 / 2 - a**3 / 6 + a**4 / 24,
    }[solver]


def _area_model(
    recurrence_type: str, channels: int = 2, *, areas: tuple[str, ...] = ("A",), tau: float = TAU, **kwargs
) -> DyRCNN:
    """float64 areas of ``channels`` units per pixel on 4x4 maps whose feedforward conv passes channel ``c`` of
    the image to channel ``c`` (centre tap 1, no bias): the drive is ``u = x + recurrence``."""
    model = DyRCNN(
        area_names=areas,
        channels=(channels,) * len(areas),
        input_shape=(channels, SIZE, SIZE),
        n_classes=2,
        n_timesteps=40,
        dt=DT,
        tau=tau,
        recurrence_type=recurrence_type,
        **kwargs,
    ).double()
    with torch.no_grad():
        for area in model.areas.values():
            area.ff.weight.zero_()
            area.ff.bias.zero_()
            for c in range(channels):
                area.ff.weight[c, c, 1, 1] = 1.0
    return model


def _positive_image(channels: int = 2, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return 4.0 + torch.rand(channels, SIZE, SIZE, generator=generator, dtype=torch.float64)


def _values(rows: list[dict], area: str = "A", image: int = 0) -> np.ndarray:
    chosen = [r for r in rows if r["area"] == area and r["image"] == image]
    assert [r["rank"] for r in chosen] == list(range(len(chosen)))
    return np.array([complex(r["real"], r["imag"]) for r in chosen])


def _leading(values: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` of largest modulus, ordered as the library orders them (modulus, then imag > 0 first)."""
    values = np.asarray(values, dtype=complex)
    return values[np.lexsort((-values.imag, -np.round(np.abs(values), 10)))][:k]


def _dense_conv(conv: torch.nn.Conv2d, channels: int) -> np.ndarray:
    """The recurrent conv as a matrix on the flattened (C, H, W) rate, column by column (test only)."""
    n = channels * SIZE * SIZE
    basis = torch.eye(n, dtype=torch.float64).view(n, channels, SIZE, SIZE)
    with torch.no_grad():
        return conv(basis).reshape(n, n).T.numpy()


def _set_full(model: DyRCNN, seed: int, scale: float = 0.12) -> np.ndarray:
    generator = torch.Generator().manual_seed(seed)
    conv = model.areas["A"].recurrence.conv
    with torch.no_grad():
        conv.weight.copy_(scale * torch.randn(conv.weight.shape, generator=generator, dtype=torch.float64))
    return _dense_conv(conv, conv.weight.shape[0])


def _assert_positive_state(model: DyRCNN, image: torch.Tensor) -> None:
    """The linearisation point has every unit active, so ReLU' = 1 there (the premise of the expectations)."""
    with torch.no_grad():
        _, rates = model.forward_intermediates(image.unsqueeze(0))
    assert float(rates["A"][:, -1].min()) > 0.1


def test_self_recurrence_gives_one_eigenvalue_per_channel_with_its_multiplicity():
    model = _area_model("self", channels=3)
    weights = torch.tensor([0.5, -0.4, 0.8], dtype=torch.float64)
    with torch.no_grad():
        model.areas["A"].recurrence.weight.copy_(weights.view(1, 3, 1, 1))
    image = _positive_image(3)
    _assert_positive_state(model, image)
    rows = recurrent_spectrum(model, image, areas=["A"], k=20)
    # J = (1 - a) I + a diag(w_c) on the state (ReLU' = 1); 16 units per channel: the 20 leading are 16 copies
    # of channel 2's eigenvalue, then 4 of channel 0's.
    per_unit = np.repeat((1 - A) + A * weights.numpy(), SIZE * SIZE)
    np.testing.assert_allclose(_values(rows), _leading(per_unit, 20), atol=1e-9)
    assert all(r["converged"] and r["residual"] < 1e-8 for r in rows)
    # The carried state of a unit: h and a ring of 2 past rates (delay 1 step): 3 numbers per unit.
    assert rows[0]["dimension"] == 3 * 3 * SIZE * SIZE


@pytest.mark.parametrize(("solver", "leak"), [("euler", "state"), ("euler", "rate"), ("exponential", "state"),
                                              ("rk4", "rate")])
def test_full_recurrence_matches_the_dense_jacobian(solver, leak):
    model = _area_model("full", solver=solver, leak=leak)
    dense = _set_full(model, seed=1)
    image = _positive_image()
    _assert_positive_state(model, image)
    g = _decay(solver)
    expected = _leading(np.linalg.eigvals(g * np.eye(len(dense)) + (1 - g) * dense), 6)
    assert np.any(np.abs(expected.imag) > 1e-3), "the weights should give complex pairs"
    rows = recurrent_spectrum(model, image, areas=["A"], k=6)
    np.testing.assert_allclose(_values(rows), expected, atol=1e-7)
    assert all(r["converged"] for r in rows)


def test_a_float32_model_meets_its_default_tolerance():
    model = _area_model("full")
    dense = _set_full(model, seed=1)
    rows = recurrent_spectrum(model.float(), _positive_image().float(), areas=["A"], k=4)
    expected = _leading(np.linalg.eigvals((1 - A) * np.eye(len(dense)) + A * dense), 4)
    np.testing.assert_allclose(_values(rows), expected, atol=1e-4)
    assert all(r["converged"] and r["residual"] <= 1e-5 for r in rows)


@pytest.mark.parametrize("delay", [2, 3])
def test_a_delayed_recurrence_gives_the_roots_of_the_companion_polynomial(delay):
    model = _area_model("full", t_recurrence=delay * DT)
    dense = _set_full(model, seed=2)
    image = _positive_image()
    _assert_positive_state(model, image)
    # Each eigenvalue w of W gives d roots of lambda^d = (1 - a) lambda^(d-1) + a w.
    roots = [np.roots([1.0, -(1 - A), *([0.0] * (delay - 2)), -A * w]) for w in np.linalg.eigvals(dense)]
    expected = _leading(np.concatenate(roots), 6)
    rows = recurrent_spectrum(model, image, areas=["A"], k=6)
    np.testing.assert_allclose(_values(rows), expected, atol=1e-7)


def test_a_delayed_self_recurrence_finds_every_root_with_its_multiplicity():
    model = _area_model("self", channels=1, t_recurrence=3 * DT)
    with torch.no_grad():
        model.areas["A"].recurrence.weight.fill_(0.6)
    image = _positive_image(1)
    roots = np.roots([1.0, -(1 - A), 0.0, -A * 0.6])  # one real root and a complex pair
    assert np.sum(np.abs(roots.imag) > 1e-3) == 2
    units = SIZE * SIZE
    rows = recurrent_spectrum(model, image, areas=["A"], k=3 * units)
    np.testing.assert_allclose(_values(rows), _leading(np.repeat(roots, units), 3 * units), atol=1e-6)


@pytest.mark.parametrize("leak", ["state", "rate"])
def test_a_silent_unit_contributes_only_its_leak(leak):
    """A unit with a negative state has ReLU' = 0: its rate does not move, so it feeds nothing back. With
    leak="state" its state still decays by 1 - a per step; with leak="rate" the carried value is the rate
    itself, which stays 0 (eigenvalue 0). The batch's two images get their own spectra."""
    model = _area_model("self", leak=leak)
    weights = torch.tensor([-0.5, -0.8], dtype=torch.float64)
    with torch.no_grad():
        model.areas["A"].recurrence.weight.copy_(weights.view(1, 2, 1, 1))
    images = torch.stack([_positive_image(), _positive_image()])
    images[1, 0, :2, :] = -5.0  # image 1: 8 silent units in channel 0
    model.train()
    rows = recurrent_spectrum(model, images, areas=["A"], k=24)
    assert model.training and model.areas["A"].training  # the training flags are restored
    active = np.repeat((1 - A) + A * weights.numpy(), SIZE * SIZE)  # 0.4 (channel 0), 0.28 (channel 1)
    np.testing.assert_allclose(_values(rows, image=0), _leading(active, 24), atol=1e-9)
    # Image 1: the silent units' 1 - a = 0.6 leads with leak="state"; with leak="rate" they add only zeros.
    silent = np.full(8, 1 - A if leak == "state" else 0.0)
    expected = _leading(np.concatenate([active[8:], silent]), 24)
    np.testing.assert_allclose(_values(rows, image=1), expected, atol=1e-9)


def test_the_network_operator_of_a_feedforward_chain_holds_both_areas_spectra():
    """V2 reads V1 but nothing returns: the network's Jacobian is block triangular, its eigenvalues the union
    of the areas' own."""
    model = _area_model("self", channels=1, areas=("V1", "V2"))
    with torch.no_grad():
        model.areas["V1"].recurrence.weight.fill_(0.9)
        model.areas["V2"].recurrence.weight.fill_(0.7)
    units = SIZE * SIZE
    rows = recurrent_spectrum(model, _positive_image(1), k=units)
    assert list(dict.fromkeys(r["area"] for r in rows)) == ["V1", "V2", "network"]
    union = np.concatenate([_values(rows, "V1"), _values(rows, "V2")])
    np.testing.assert_allclose(union, np.repeat([0.96, 0.88], units), atol=1e-9)  # 1 - a + a w
    np.testing.assert_allclose(_values(rows, "network"), _leading(union, units), atol=1e-9)
    network = recurrent_spectrum(model, _positive_image(1), areas=["network"], k=units + 4)
    np.testing.assert_allclose(_values(network, "network"), _leading(union, units + 4), atol=1e-9)
    assert network[0]["dimension"] == 2 * rows[0]["dimension"]  # t_feedforward = 0: no output in transit


def test_rows_carry_the_continuous_time_reading():
    model = _area_model("full")
    _set_full(model, seed=1)
    row = next(r for r in recurrent_spectrum(model, _positive_image(), areas=["A"], k=4) if r["imag"] > 0)
    value = complex(row["real"], row["imag"])
    assert row["modulus"] == pytest.approx(abs(value))
    assert row["angle"] == pytest.approx(math.atan2(value.imag, value.real))
    assert row["tau_ms"] == pytest.approx(-DT / math.log(abs(value)))
    assert row["frequency_hz"] == pytest.approx(row["angle"] / (2 * math.pi * DT) * 1000)
    assert (row["steps"], row["dt_ms"]) == (40, DT)


def test_power_iteration_returns_the_leading_eigenvalue_and_an_eigenvector():
    model = _area_model("full", tau=DT)  # a = 1: J = W on the state, whose leading pair is complex
    jacobian = _set_full(model, seed=10)
    image = _positive_image()
    _assert_positive_state(model, image)
    expected = _leading(np.linalg.eigvals(jacobian), 1)[0]
    assert expected.imag > 0.1
    (mode,) = leading_mode(model, image, areas=["A"], tol=1e-9)
    assert mode.converged and mode.residual < 1e-9
    assert mode.eigenvalue == pytest.approx(expected, abs=1e-8)
    assert mode.vector.norm().item() == pytest.approx(1.0)
    # On the state h the mode is an eigenvector of the dense J of the state (checked with the dense matrix).
    state = mode.components[0][0].reshape(-1).numpy()
    assert np.linalg.norm(jacobian @ state - mode.eigenvalue * state) < 1e-7 * np.linalg.norm(state)
    assert mode.tau_ms == pytest.approx(-DT / math.log(abs(expected)))
    assert mode.frequency_hz == pytest.approx(np.angle(expected) / (2 * math.pi * DT) * 1000)


def test_a_model_without_the_engine_is_refused_naming_those_with_it():
    with pytest.raises(TypeError, match=r"Conv2d is not built on it.*Models with the engine: .*DyRCNNx4"):
        recurrent_spectrum(torch.nn.Conv2d(1, 1, 1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"areas": ["V9"]}, r"Unknown area\(s\) \['V9'\]. Areas of this model: A; or 'network'"),
        ({"k": 97}, r"k=97 eigenvalues asked, but the operator of 'A' has dimension 96.*k <= 96"),
        ({"k": 0}, r"k must be an integer >= 1, got 0"),
        ({"steps": 0}, r"steps must be an integer >= 1, got 0"),
        ({"k": 6, "krylov_size": 7}, r"krylov_size=7 is too small for k=6.*at least k \+ 2 = 8"),
        ({"tol": 2.0}, r"tol must be a number in \(0, 1\)"),
    ],
)
def test_bad_arguments_are_refused_with_what_is_allowed(kwargs, message):
    model = _area_model("self")
    with pytest.raises(ValueError, match=message):
        recurrent_spectrum(model, _positive_image(), **kwargs)


def test_a_stimulus_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"\(channels, height, width\)=\(3, 4, 4\).*input_shape=\(2, 4, 4\)"):
        recurrent_spectrum(_area_model("self"), torch.zeros(3, SIZE, SIZE))
