"""The study figure (phenomena per variant beside the human reference) and the effects forest plot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from dynvision_analysis import TableError, plot_study, plot_study_effects, save_figure, study_table
from dynvision_analysis.measures.study import simulate_responses
from dynvision_analysis.plots.study import GUIDE_GID, HUMAN_GID, variant_parts

VARIANTS = {"full-0": 0.5, "full-strong": 6.0, "self-0": 0.2, "none-0": 0.0, "adaptation": 8.0}


@pytest.fixture(scope="module")
def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    conditions = {"repetition": ([1, 3, 10], {}), "duration": ([1, 3, 8], {}),
                  "contrast": ([0.1, 0.4, 1.0], {"stimulus": 10, "outro": 8})}
    entries = [
        (variant, seed, phenomenon,
         simulate_responses(phenomenon, values, n_images=6, adaptation=adaptation, seed=seed, **kw))
        for variant, adaptation in VARIANTS.items()
        for phenomenon, (values, kw) in conditions.items()
        for seed in (0, 1)
    ]
    return study_table(entries, n_boot=40)


@pytest.fixture
def reference() -> pd.DataFrame:
    rows = [
        ("repetition", "peak_ratio", 0.0, 0.3), ("repetition", "peak_ratio", 1.0, 0.8),
        ("duration", "normalized_summed", 0.25, 0.55), ("duration", "normalized_summed", 1.0, 1.0),
        ("contrast", "relative_time_to_peak", 0.0625, 2.1), ("contrast", "relative_time_to_peak", 1.0, 1.0),
        ("contrast", "time_to_peak_ms", 1.0, 102.0),
    ]
    frame = pd.DataFrame(rows, columns=["phenomenon", "measure", "normalized_condition", "value"])
    return frame.assign(area="V1", low=frame["value"] - 0.05, high=frame["value"] + 0.05, how="test")


def _variant_lines(axes) -> dict[str, object]:
    return {line.get_gid().removeprefix("variant:"): line for line in axes.get_lines()
            if str(line.get_gid()).startswith("variant:")}


def test_variant_names_split_into_recurrence_and_loss():
    assert variant_parts("full-strong") == ("full", "strong")
    assert variant_parts("none-0") == ("none", "0")
    assert variant_parts("adaptation") == ("adaptation", "other")
    assert variant_parts("full-medium") == ("full-medium", "other")


def test_study_figure_rows_columns_lines_and_the_human_series(tables, reference):
    figure = plot_study(tables[0], area="V2", reference=reference)
    assert "V2" in figure.get_suptitle()
    rows = figure.subfigs
    assert len(rows) == 3  # repetition, duration, contrast
    for row in rows:
        assert [axes.get_title() for axes in row.axes] == ["no activity loss", "strong activity loss", "other variants"]
        assert [sorted(_variant_lines(axes)) for axes in row.axes] == [
            ["full-0", "none-0", "self-0"], ["full-strong"], ["adaptation"]]
        for axes in row.axes:  # the human reference in every panel, in black, one series (area V1)
            human = [line for line in axes.get_lines() if line.get_gid() == HUMAN_GID]
            assert len(human) == 1 and to_hex(human[0].get_color()) == "#000000"
            assert any(line.get_gid() == GUIDE_GID for line in axes.get_lines())
    # The contrast row draws relative time to peak, not the time in ms.
    human = next(line for line in rows[2].axes[0].get_lines() if line.get_gid() == HUMAN_GID)
    np.testing.assert_allclose(human.get_ydata(), [2.1, 1.0])
    # A recurrence type has one colour in every panel; the feed-forward control is dashed.
    first = _variant_lines(rows[0].axes[0])
    assert first["full-0"].get_color() == _variant_lines(rows[1].axes[1])["full-strong"].get_color()
    assert first["none-0"].get_linestyle() == "--"
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend[:3] == ["full recurrence", "self recurrence", "feed-forward (none)"]
    assert "human (Groen et al. 2022), V1" in legend
    assert "hierarchical bootstrap over 2 seeds" in figure.legends[0].get_title().get_text()


def test_study_figure_axes_are_honest_and_labelled(tables, reference):
    rows = plot_study(tables[0], area="V1", reference=reference).subfigs
    low, high = rows[0].axes[0].get_ylim()
    assert low <= 0.4 and high >= 1.2  # ratio axis: at least 0.4-1.2, so 1 is always in view
    assert rows[1].axes[0].get_ylim() == pytest.approx((0.0, 1.05))
    assert rows[1].axes[0].get_xlim() == pytest.approx((0.0, 1.05))
    low, high = rows[2].axes[0].get_ylim()
    assert low == 0.0 and high > 2.1
    assert rows[2].axes[0].get_xscale() == "log"
    assert "(a.u. / a.u.)" in rows[0].axes[0].get_ylabel()
    texts = [[text.get_text() for text in row.texts] for row in rows]
    assert "gap / duration of the first stimulus (ms / ms)" in texts[0]
    assert "stimulus duration / longest duration (ms / ms)" in texts[1]
    assert "(ms / ms)" in rows[2].axes[0].get_ylabel()


def test_study_figure_options_and_refusals(tables, reference, tmp_path):
    figure = plot_study(tables[0], area="V1", variants_order=["full-strong", "full-0"])
    assert [axes.get_title() for axes in figure.subfigs[0].axes] == ["no activity loss", "strong activity loss"]
    assert not any(line.get_gid() == HUMAN_GID for axes in figure.axes for line in axes.get_lines())
    save_figure(figure, tmp_path / "study.png")
    assert (tmp_path / "study.png").read_bytes().startswith(b"\x89PNG")
    with pytest.raises(TableError, match=r"no rows for area 'IT'; its areas are \['V1', 'V2'\]"):
        plot_study(tables[0], area="IT")
    with pytest.raises(ValueError, match=r"variants_order names \['local-0'\]"):
        plot_study(tables[0], area="V1", variants_order=["local-0"])
    with pytest.raises(TableError, match="reference"):
        plot_study(tables[0], area="V1", reference=reference.drop(columns="normalized_condition"))


def test_effects_forest_plot_marks_which_variants_show_each_effect(tables):
    effects = tables[1]
    figure = plot_study_effects(effects)
    assert [axes.get_title() for axes in figure.axes] == [
        "repetition suppression", "recovery with the gap", "sub-additive summation", "contrast: time to peak",
        "contrast: time to half-max"]
    axes = figure.axes[0]
    assert [label.get_text() for label in axes.get_yticklabels()] == list(VARIANTS)
    assert axes.get_xlim()[0] < 0 < axes.get_xlim()[1]
    assert any(line.get_gid() == GUIDE_GID and line.get_xdata()[0] == 0 for line in axes.get_lines())
    assert any(patch.get_gid() == "brain sign" for patch in axes.patches)
    # Filled markers for the rows that show the effect, open ones for the others, per area.
    suppression = effects[effects["effect"] == "suppression"]
    filled = sum(len(collection.get_offsets()) for collection in axes.collections
                 if collection.get_label() in ("V1", "V2"))
    assert filled == int(suppression["shows"].sum())
    assert "(ms)" in figure.axes[3].get_xlabel()
    with pytest.raises(TableError, match="shows"):
        plot_study_effects(effects.drop(columns="shows"))
