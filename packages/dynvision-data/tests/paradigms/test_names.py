"""Parameter names agree across layers: long names, short aliases and upstream spellings, declared once here."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import dynvision_data
from dynvision_data import (
    PARADIGM_ALIASES,
    UPSTREAM_PARADIGM_ALIASES,
    Paradigm,
    canonical_paradigm_params,
    create_paradigm,
    list_paradigms,
    paradigm_parameters,
    register_paradigm,
)
from dynvision_data import paradigms as paradigms_package
from dynvision_data.paradigms import COMMON_OPTIONS, base


@pytest.fixture
def private_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register test paradigms in a copy of the registry so that they do not leak into other tests."""
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))


def test_alias_tables_are_the_workflows() -> None:
    # The workflow's path keys (no underscores) and upstream DynVision's names; the workflow reads them from here.
    assert dict(PARADIGM_ALIASES) == {
        "noisetype": "noise_type",
        "tempmode": "temporal_mode",
        "noisevoid": "noise_void",
        "noiseseed": "noise_seed",
        "patternmode": "pattern_mode",
        "patternshuffle": "pattern_shuffle",
    }
    assert dict(UPSTREAM_PARADIGM_ALIASES) == {
        "stim": "stimulus",
        "noiselevel": "ssnr",
        "voidinput": "blank",
        "repeat": "steps",
    }
    with pytest.raises(TypeError):
        PARADIGM_ALIASES["stim"] = "stimulus"  # type: ignore[index]  # read-only: one source of truth


def test_every_alias_names_a_parameter_and_no_alias_is_one() -> None:
    accepted = {key for name in list_paradigms() for key in paradigm_parameters(name)}
    aliases = {**PARADIGM_ALIASES, **UPSTREAM_PARADIGM_ALIASES}
    assert len(aliases) == len(PARADIGM_ALIASES) + len(UPSTREAM_PARADIGM_ALIASES)  # the tables do not overlap
    assert set(aliases.values()) <= accepted
    assert not set(aliases) & accepted
    assert all("_" not in alias for alias in aliases)  # usable as keys of a workflow path


def test_exported_from_both_packages() -> None:
    for name in ("PARADIGM_ALIASES", "UPSTREAM_PARADIGM_ALIASES", "paradigm_parameters", "canonical_paradigm_params"):
        assert name in dynvision_data.__all__ and name in paradigms_package.__all__
        assert getattr(dynvision_data, name) is getattr(paradigms_package, name)


@pytest.mark.parametrize(
    ("name", "long", "short"),
    [
        (
            "noise",
            {"noise_type": "poisson", "temporal_mode": "correlated", "noise_void": False, "noise_seed": 7},
            {"noisetype": "poisson", "tempmode": "correlated", "noisevoid": False, "noiseseed": 7},
        ),
        (
            "duration",
            {"pattern": "101", "pattern_mode": "repeat", "pattern_shuffle": True},
            {"pattern": "101", "patternmode": "repeat", "patternshuffle": True},
        ),
        ("duration", {"intro": 2, "stimulus": 4, "blank": 0.5}, {"intro": 2, "stim": 4, "voidinput": 0.5}),
        ("noise", {"ssnr": 0.25, "stimulus": 3}, {"noiselevel": 0.25, "stim": 3}),
        ("repetition", {"steps": 7}, {"repeat": 7}),
        ("contrast", {"stimulus": 5, "contrast": 0.5}, {"stim": 5, "contrast": 0.5}),
        ("interval", {"stimulus": 3, "interval": 4}, {"stim": 3, "interval": 4}),
    ],
)
def test_aliases_build_the_same_paradigm_as_the_long_names(
    name: str, long: dict[str, Any], short: dict[str, Any]
) -> None:
    assert canonical_paradigm_params(name, short) == long
    paradigm = create_paradigm(name, **short)
    assert paradigm.config() == create_paradigm(name, **long).config()
    # The config speaks the long names only, so it rebuilds the paradigm.
    assert set(paradigm.config()) <= set(paradigm_parameters(name))
    assert create_paradigm(name, **paradigm.config()).config() == paradigm.config()


@pytest.mark.parametrize(
    ("name", "params", "long", "first", "second"),
    [
        ("duration", {"stim": 3, "stimulus": 4}, "stimulus", "stim", "stimulus"),
        ("duration", {"stimulus": 4, "stim": 3}, "stimulus", "stimulus", "stim"),
        ("noise", {"noise_type": "uniform", "noisetype": "gaussian"}, "noise_type", "noise_type", "noisetype"),
        ("noise", {"ssnr": 0.5, "noiselevel": 0.5}, "ssnr", "ssnr", "noiselevel"),
        ("repetition", {"repeat": 2, "steps": 2}, "steps", "repeat", "steps"),
        ("duration", {"voidinput": 0.0, "blank": 0.0}, "blank", "voidinput", "blank"),
    ],
)
def test_an_alias_with_its_long_name_names_both(
    name: str, params: dict[str, Any], long: str, first: str, second: str
) -> None:
    message = rf"got the parameter '{long}' twice, as '{first}' and as '{second}'.*preferably '{long}'"
    with pytest.raises(ValueError, match=message):
        canonical_paradigm_params(name, params)
    with pytest.raises(ValueError, match=message):
        create_paradigm(name, **params)


@pytest.mark.parametrize(
    ("name", "params", "unknown"),
    [
        ("duration", {"noisetype": "gaussian"}, "noisetype"),  # an alias of noise's parameter
        ("duration", {"noiselevel": 0.5}, "noiselevel"),
        ("repetition", {"stim": 3}, "stim"),
        ("noise", {"repeat": 3}, "repeat"),
        ("interval", {"stimulus_steps": 3}, "stimulus_steps"),
    ],
)
def test_an_alias_of_another_paradigms_parameter_is_unknown(
    name: str, params: dict[str, Any], unknown: str
) -> None:
    with pytest.raises(TypeError) as via_canonical:
        canonical_paradigm_params(name, params)
    with pytest.raises(TypeError) as via_create:
        create_paradigm(name, **params)
    assert str(via_canonical.value) == str(via_create.value)
    message = str(via_create.value)
    assert f"Paradigm {name!r} got unknown parameter(s) [{unknown!r}]; it accepts [" in message
    assert f"paradigm_parameters({name!r})" in message


def test_unknown_parameter_message_lists_parameters_common_options_and_this_paradigms_aliases() -> None:
    with pytest.raises(TypeError) as info:
        create_paradigm("repetition", stps=3, seed=1)
    assert str(info.value) == (
        "Paradigm 'repetition' got unknown parameter(s) ['stps']; it accepts ['steps', 'blank'] and the common "
        "options ['rt', 'pattern', 'pattern_mode', 'pattern_shuffle', 'seed'] (or the aliases "
        "patternmode=pattern_mode, patternshuffle=pattern_shuffle, voidinput=blank, repeat=steps). Check the "
        "spelling; paradigm_parameters('repetition') lists the parameters with their defaults."
    )


def test_unknown_parameters_are_reported_before_duplicates_and_sorted() -> None:
    with pytest.raises(TypeError, match=r"unknown parameter\(s\) \['aaa', 'zzz'\]"):
        create_paradigm("duration", zzz=1, stim=2, stimulus=3, aaa=4)


def test_canonical_params_keep_order_and_values_and_check_nothing_else() -> None:
    params = {"outro": -5, "stim": "not a number", "noiselevel": None, "seed": 3}
    assert list(canonical_paradigm_params("noise", params).items()) == [
        ("outro", -5),
        ("stimulus", "not a number"),
        ("ssnr", None),
        ("seed", 3),
    ]
    assert canonical_paradigm_params("duration", {}) == {}
    assert params == {"outro": -5, "stim": "not a number", "noiselevel": None, "seed": 3}  # not changed


@pytest.mark.parametrize("function", [paradigm_parameters, lambda name: canonical_paradigm_params(name, {})])
def test_unknown_paradigm_names_raise_key_error_with_close_matches(function: Any) -> None:
    with pytest.raises(KeyError, match=r"Unknown paradigm 'noize'\. Did you mean 'noise'.*Available: contrast"):
        function("noize")


def test_paradigm_parameters_lists_own_parameters_then_common_options_with_defaults() -> None:
    assert paradigm_parameters("duration") == {
        "intro": 1,
        "stimulus": 20,
        "outro": 9,
        "blank": 0.0,
        "rt": 0,
        "pattern": None,
        "pattern_mode": "stretch",
        "pattern_shuffle": False,
        "seed": 0,
    }
    assert list(paradigm_parameters("noise"))[:12] == [
        "intro",
        "stimulus",
        "outro",
        "noise_type",
        "ssnr",
        "temporal_mode",
        "tempcorr",
        "spatialcorr",
        "alpha",
        "noise_void",
        "noise_seed",
        "blank",
    ]


@pytest.mark.parametrize("name", ["repetition", "duration", "interval", "contrast", "noise"])
def test_paradigm_parameters_are_the_defaults_a_paradigm_is_built_with(name: str) -> None:
    defaults = paradigm_parameters(name)
    signature = inspect.signature(base._REGISTRY[name]).parameters
    own = {k: p.default for k, p in signature.items() if p.kind is not inspect.Parameter.VAR_KEYWORD}
    assert list(defaults) == [*own, *(k for k in COMMON_OPTIONS if k not in own)]
    built = create_paradigm(name, **defaults)
    assert built.config() == create_paradigm(name).config()
    assert {**defaults, **built.config()} == defaults  # what config() reports are the defaults
    assert paradigm_parameters(name) is not defaults  # a fresh dict every call
    defaults["blank"] = 99.0
    assert paradigm_parameters(name)["blank"] == 0.0


def test_a_paradigm_without_common_options_or_defaults(private_registry: None) -> None:
    @register_paradigm("bare")
    class Bare(Paradigm):
        def __init__(self, *, steps: int, stimulus: int = 2) -> None:
            super().__init__()
            self.steps, self.stimulus = steps, stimulus

        def phases(self) -> list[str]:
            return ["stimulus"] * self.steps

        def params(self) -> dict[str, Any]:
            return {"steps": self.steps, "stimulus": self.stimulus}

    assert paradigm_parameters("bare") == {"steps": inspect.Parameter.empty, "stimulus": 2}
    # Aliases follow the parameters a paradigm has: repeat and stim apply, the common options' do not.
    assert create_paradigm("bare", repeat=3, stim=1).params() == {"steps": 3, "stimulus": 1}
    message = (
        r"unknown parameter\(s\) \['patternmode', 'seed'\]; it accepts \['steps', 'stimulus'\] "
        r"\(or the aliases stim=stimulus, repeat=steps\)\."
    )
    with pytest.raises(TypeError, match=message):
        create_paradigm("bare", steps=1, seed=0, patternmode="repeat")

