"""Common options of every paradigm: presentation patterns and reaction-time label masking."""

from __future__ import annotations

import pytest
import torch

from dynvision_data import create_paradigm, list_paradigms
from dynvision_data.paradigms import COMMON_OPTIONS, fit_pattern, label_mask, onsets


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.randn(2, 1, 3, 3, generator=torch.Generator().manual_seed(5))
    return images, torch.tensor([3, 8])


def _bits(mask: torch.Tensor) -> str:
    return "".join("1" if v else "0" for v in mask.tolist())


@pytest.mark.parametrize(
    ("pattern", "steps", "mode", "expected"),
    [
        ("1011", 8, "stretch", "11001111"),
        ("1011", 6, "stretch", "110111"),  # index scaling: step t uses pattern[t * 4 // 6]
        ("1011", 6, "repeat", "101110"),
        ("10", 5, "repeat", "10101"),
        ([1, 0, 1, 1], 8, "stretch", "11001111"),
        ("110", 2, "stretch", "11"),  # shrinking keeps the first of each group
    ],
)
def test_patterns_are_stretched_or_repeated_to_t(
    batch: tuple[torch.Tensor, torch.Tensor], pattern: str, steps: int, mode: str, expected: str
) -> None:
    images, labels = batch
    paradigm = create_paradigm("repetition", steps=steps, pattern=pattern, pattern_mode=mode)
    frames, step_labels, stimulus = paradigm(images, labels)
    assert _bits(stimulus) == expected
    for t, bit in enumerate(expected):
        if bit == "1":
            assert torch.equal(frames[:, t], images) and torch.equal(step_labels[:, t], labels)
        else:
            assert frames[:, t].eq(0.0).all() and step_labels[:, t].eq(-1).all()


def test_patterns_gate_the_paradigms_own_stimulus_steps(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = batch
    paradigm = create_paradigm(
        "duration", intro=2, stimulus=4, outro=2, pattern="1011", pattern_mode="repeat"
    )
    assert _bits(paradigm(images, labels).stimulus) == "00111000"  # stimulus 00111100 AND pattern 10111011
    assert _bits(paradigm.stimulus_mask()) == "00111100"  # the paradigm's own timeline is unchanged


def test_default_mode_is_stretch() -> None:
    assert COMMON_OPTIONS["pattern_mode"] == "stretch"
    assert _bits(fit_pattern(torch.tensor([True, False]), 4, "stretch")) == "1100"


def test_shuffled_patterns_change_per_batch_and_are_seeded(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = batch
    params = {"steps": 8, "pattern": "11100000", "pattern_shuffle": True, "seed": 3}
    first, second = create_paradigm("repetition", **params), create_paradigm("repetition", **params)
    runs_a = [_bits(first(images, labels).stimulus) for _ in range(6)]
    runs_b = [_bits(second(images, labels).stimulus) for _ in range(6)]
    assert runs_a == runs_b  # same seed: same sequence
    assert len(set(runs_a)) > 1 and all(r.count("1") == 3 for r in runs_a)  # a permutation of the pattern
    other = create_paradigm("repetition", **{**params, "seed": 4})
    assert [_bits(other(images, labels).stimulus) for _ in range(6)] != runs_a
    first.reset()
    assert _bits(first(images, labels).stimulus) == runs_a[0]


def test_rt_masks_labels_after_each_onset(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = batch
    paradigm = create_paradigm("interval", intro=1, stimulus=3, interval=2, outro=1, rt=2)
    frames, step_labels, stimulus = paradigm(images, labels)
    assert _bits(stimulus) == "011100111 0".replace(" ", "")  # the frames are not changed by rt
    assert step_labels[0].tolist() == [-1, -1, -1, 3, -1, -1, -1, -1, 3, -1]  # both onsets masked
    assert torch.equal(frames[:, 1], images)


def test_rt_from_step_0_and_longer_than_the_stimulus(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = batch
    _, step_labels, _ = create_paradigm("repetition", steps=5, rt=2)(images, labels)
    assert step_labels[1].tolist() == [-1, -1, 8, 8, 8]  # a stimulus on at step 0 is an onset
    _, step_labels, _ = create_paradigm("duration", intro=1, stimulus=2, outro=1, rt=5)(images, labels)
    assert step_labels.eq(-1).all()


def test_rt_composes_with_patterns() -> None:
    on = fit_pattern(torch.tensor([True, True, False, True]), 8, "stretch")  # 11110011
    assert _bits(onsets(on)) == "10000010"
    assert _bits(label_mask(on, 1)) == "01110001"


@pytest.mark.parametrize("name", ["repetition", "duration", "interval", "contrast", "noise"])
def test_every_paradigm_takes_the_common_options(batch: tuple[torch.Tensor, torch.Tensor], name: str) -> None:
    images, labels = batch
    paradigm = create_paradigm(name, rt=1, pattern="01", pattern_mode="repeat")
    frames, step_labels, stimulus = paradigm(images, labels)
    assert not stimulus[0::2].any() and frames.shape[1] == paradigm.n_timesteps
    assert step_labels[:, stimulus].eq(-1).all()  # every on-step is an onset of a one-step flash with rt=1
    assert paradigm.options() == {"rt": 1, "pattern": "01", "pattern_mode": "repeat"}
    assert create_paradigm(name, **paradigm.config()).config() == paradigm.config()
    assert name in list_paradigms()


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"pattern": "10a1"}, ValueError, "pattern must be a non-empty string or list of 0/1.*got '10a1'"),
        ({"pattern": ""}, ValueError, "non-empty"),
        ({"pattern": [1, 2]}, ValueError, r"got \[1, 2\]"),
        ({"pattern": "000"}, ValueError, "never shows the stimulus"),
        (
            {"pattern": "1", "pattern_mode": "tile"},
            ValueError,
            r"pattern_mode must be one of \['stretch', 'repeat'\]",
        ),
        ({"rt": -1}, ValueError, "rt must be >= 0, got -1"),
        ({"pattern_shuffle": 1}, TypeError, "pattern_shuffle must be True or False"),
        ({"seed": -3}, ValueError, "seed must be >= 0, got -3"),
    ],
)
def test_bad_common_options(params: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        create_paradigm("duration", **params)
