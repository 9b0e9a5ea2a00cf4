from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from dynvision_analysis import (
    TableError,
    plot_dynamics,
    plot_measure,
    plot_performance,
    save_figure,
    summarize,
)


def _summary(measure: str, x: str, values: dict[str, list[float]], xs: list[float]) -> pd.DataFrame:
    rows = []
    for area, means in values.items():
        for value, mean in zip(xs, means, strict=True):
            rows.append({"area": area, x: value, "measure": measure, "mean": mean, "sem": 0.01})
    return pd.DataFrame(rows).assign(low=lambda f: f["mean"] - 0.02, high=lambda f: f["mean"] + 0.05)


@pytest.fixture
def panels():
    return {
        "summation": _summary("normalized", "duration_ms", {"V1": [0.4, 0.7, 1.0]}, [10.0, 20.0, 40.0]),
        "latency": _summary("latency_ms", "contrast", {"V1": [30.0, 20.0, 10.0]}, [0.1, 0.3, 1.0]),
        "recovery": _summary("peak_ratio", "isi_ms", {"V1": [0.5, 0.8, 0.95]}, [10.0, 50.0, 200.0]),
    }


def test_measure_line_and_asymmetric_error_bars():
    summary = _summary("latency_ms", "contrast", {"V1": [30.0, 20.0], "IT": [50.0, 35.0]}, [0.1, 1.0])
    axes = plot_measure(summary, "contrast").axes[0]
    assert [container.get_label() for container in axes.containers] == ["V1", "IT"]
    np.testing.assert_allclose(axes.containers[0].lines[0].get_ydata(), [30.0, 20.0])
    # Error bars run from low to high (mean − 0.02 to mean + 0.05), not symmetrically.
    segments = axes.containers[0].lines[2][0].get_segments()
    np.testing.assert_allclose([segment[:, 1] for segment in segments], [[29.98, 30.05], [19.98, 20.05]])
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("contrast", "latency (ms)")


def test_sem_bars_when_there_are_no_bounds():
    summary = _summary("peak_ratio", "isi_ms", {"V1": [0.5]}, [10.0]).drop(columns=["low", "high"])
    segments = plot_measure(summary, "isi_ms").axes[0].collections[0].get_segments()
    np.testing.assert_allclose(segments[0][:, 1], [0.49, 0.51])


def test_a_multi_measure_summary_needs_a_choice():
    summary = pd.concat([_summary("a", "x", {"V1": [1.0]}, [1.0]), _summary("b", "x", {"V1": [2.0]}, [1.0])])
    with pytest.raises(TableError, match=r"several measures \['a', 'b'\]; pass measure="):
        plot_measure(summary, "x")
    with pytest.raises(TableError, match="needs the measure 'c'"):
        plot_measure(summary, "x", measure="c")
    assert plot_measure(summary, "x", measure="b").axes[0].lines[0].get_ydata()[0] == 2.0


def test_dynamics_panels_with_guides(panels):
    figure = plot_dynamics(**panels)
    assert isinstance(figure, Figure)
    summation, latency, recovery = figure.axes
    assert [axes.get_title() for axes in figure.axes] == [
        "temporal summation",
        "latency vs contrast",
        "recovery from adaptation",
    ]
    assert [text.get_text() for axes in figure.axes for text in axes.texts if len(text.get_text()) == 1] == [
        "A",
        "B",
        "C",
    ]
    (linear,) = [line for line in summation.lines if line.get_gid() == "guide"]
    assert (list(linear.get_xdata()), list(linear.get_ydata())) == ([0.0, 40.0], [0.0, 1.0])
    assert latency.get_xscale() == "log"
    (full,) = [line for line in recovery.lines if line.get_gid() == "guide"]
    assert list(full.get_ydata()) == [1.0, 1.0]
    assert latency.get_legend() is None and recovery.get_legend() is not None


def test_dynamics_areas_with_equal_values_stay_visible(panels):
    # V2 has exactly V1's values: it must not be drawn on top of V1 (own marker, style and position).
    recovery = panels["recovery"]
    both = pd.concat([recovery, recovery.assign(area="V2")], ignore_index=True)
    figure = plot_dynamics(recovery=both)
    axes = figure.axes[0]
    figure.canvas.draw()
    v1, v2 = (container.lines[0] for container in axes.containers)
    assert v1.get_marker() != v2.get_marker()
    assert v1.get_linestyle() != v2.get_linestyle()
    on_screen = [line.get_transform().transform(line.get_xydata()) for line in (v1, v2)]
    assert (np.abs(on_screen[0][:, 0] - on_screen[1][:, 0]) > 2).all()  # pixels apart, side by side
    np.testing.assert_allclose(on_screen[0][:, 1], on_screen[1][:, 1])  # at the same height


def test_dynamics_axes_do_not_exaggerate_a_small_effect(panels):
    recovery = _summary("peak_ratio", "isi_ms", {"V1": [0.96, 0.98, 0.99]}, [10.0, 50.0, 200.0])
    latency = _summary("latency_ms", "contrast", {"V1": [0.2, 0.1, 0.0]}, [0.1, 0.3, 1.0])
    figure = plot_dynamics(summation=panels["summation"], latency=latency, recovery=recovery, step_ms=2.0)
    summation_axes, latency_axes, recovery_axes = figure.axes
    # A ratio axis includes 0 and full recovery (1): a 4 % effect does not fill the axis.
    low, high = recovery_axes.get_ylim()
    assert low == 0.0 and high >= 1.1
    # A latency axis starts at onset (0 ms) and spans at least two steps: sub-step values stay small.
    low, high = latency_axes.get_ylim()
    assert low <= 0.0 and high >= 4.0
    assert summation_axes.get_ylim()[0] == 0.0 and summation_axes.get_ylim()[1] >= 1.0
    # The effect sizes are stated in words and units.
    notes = {
        axes.get_title(): [text.get_text() for text in axes.texts if text.get_gid() == "note"]
        for axes in figure.axes
    }
    assert "V1: 4%" in notes["recovery from adaptation"][0]
    assert "V1: +0.2 ms" in notes["latency vs contrast"][0]


def test_dynamics_states_why_latencies_are_missing(panels):
    latency = panels["latency"].assign(mean=np.nan, low=np.nan, high=np.nan)
    note = "latency not resolvable (below one step) in 12 of 12 curves"
    figure = plot_dynamics(latency=latency, notes={"latency": note})
    (written,) = [text.get_text() for text in figure.axes[0].texts if text.get_gid() == "note"]
    assert "no value to draw" in written and note in written
    with pytest.raises(ValueError, match="notes= has unknown panel"):
        plot_dynamics(latency=latency, notes={"contrast": note})


def test_dynamics_with_one_panel_and_another_x(panels):
    latency = panels["latency"].rename(columns={"contrast": "paradigm_contrast"})
    figure = plot_dynamics(latency=latency, x={"latency": "paradigm_contrast"})
    assert len(figure.axes) == 1
    with pytest.raises(ValueError, match="needs at least one of"):
        plot_dynamics()
    with pytest.raises(TableError, match="'contrast'"):
        plot_dynamics(latency=latency)


def test_dynamics_from_measures_end_to_end(tmp_path):
    from dynvision_analysis import temporal_summation

    rows = []
    for duration in (1, 2, 4):
        for sample in range(3):
            on = np.array([0, 0] + [1] * duration + [0] * 4)
            rows.append(
                pd.DataFrame(
                    {
                        "area": "V1",
                        "sample": sample,
                        "paradigm_stimulus": duration,
                        "time_ms": np.arange(on.size) * 10.0,
                        "response": on * (1 + 0.1 * sample),
                        "stimulus": on,
                    }
                )
            )
    summary = summarize(temporal_summation(pd.concat(rows)), "normalized", by=("area", "duration_ms"))
    path = save_figure(plot_dynamics(summation=summary), tmp_path / "dynamics.svg")
    assert path.stat().st_size > 1000


def test_performance_with_reference_and_chance():
    summary = _summary("peak_height", "ssnr", {"full": [0.4, 0.9], "none": [0.2, 0.85]}, [0.2, 1.0])
    summary = summary.rename(columns={"area": "rctype"})
    axes = plot_performance(summary, "ssnr", hue="rctype", reference="none", n_classes=10).axes[0]
    assert [container.get_label() for container in axes.containers] == ["full", "none (reference)"]
    assert axes.containers[1].lines[0].get_linestyle() == "--"
    (chance,) = [line for line in axes.lines if line.get_gid() == "guide"]
    assert list(chance.get_ydata()) == [0.1, 0.1]
    assert axes.get_ylim() == (-0.02, 1.02)
    assert axes.get_xlabel() == "signal-to-noise ratio (SSNR)"
    with pytest.raises(ValueError, match="n_classes must be an integer"):
        plot_performance(summary, "ssnr", hue="rctype", n_classes=1)
