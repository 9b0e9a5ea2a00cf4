from __future__ import annotations

import re

import pytest

from dynvision_workflow.naming import (
    ARGS_PATTERN,
    ArgsError,
    args_product,
    encode_args,
    expand_aliases,
    format_seed,
    parse_args,
)


def test_encode_parse_round_trip_keeps_types():
    args = {"rctype": "full", "tsteps": 20, "tau": 5.5, "skip": True, "channels": [16, 32], "lr": -0.5}
    text = encode_args(args)
    assert text == ":rctype=full+tsteps=20+tau=5.5+skip=true+channels=16~32+lr=-0.5"
    assert parse_args(text) == args
    assert re.fullmatch(ARGS_PATTERN, text)


def test_empty_args_are_the_empty_string():
    assert encode_args({}) == ""
    assert parse_args("") == {}
    assert re.fullmatch(ARGS_PATTERN, "")


def test_floats_are_written_without_noise():
    assert encode_args({"tau": 5.0, "lr": 0.003}) == ":tau=5+lr=0.003"


def test_comma_string_is_one_list_valued_argument():
    assert args_product({"channels": "16,32"}) == [":channels=16~32"]
    assert parse_args(":channels=16~32") == {"channels": [16, 32]}


def test_args_product_sweeps_lists_in_order():
    assert args_product({"rctype": ["full", "self"], "tsteps": 20}) == [
        ":rctype=full+tsteps=20",
        ":rctype=self+tsteps=20",
    ]
    assert args_product({"a": [1, 2], "b": [3, 4]}) == [":a=1+b=3", ":a=1+b=4", ":a=2+b=3", ":a=2+b=4"]
    assert args_product(None) == [""]


@pytest.mark.parametrize(
    "text",
    [":rctype", "rctype=full", ":rc-type=full", ":a=1+a=2", ":a=x/y", ":a=b=c"],
)
def test_malformed_args_raise_with_the_bad_part(text):
    with pytest.raises(ArgsError) as error:
        parse_args(text)
    assert repr(text) in str(error.value) or "twice" in str(error.value)


def test_values_that_cannot_be_in_a_path_raise():
    with pytest.raises(ArgsError, match="cannot be written"):
        encode_args({"name": "a/b"})
    with pytest.raises(ArgsError, match="empty list"):
        args_product({"rctype": []})


@pytest.mark.parametrize(("given", "expected"), [(1, "0001"), ("0001", "0001"), (7000, "7000"), ("42", "0042")])
def test_seeds_have_four_digits(given, expected):
    assert format_seed(given) == expected


@pytest.mark.parametrize("seed", ["-1", "1.5", "abc", True, 1.5])
def test_bad_seeds_raise(seed):
    with pytest.raises(ArgsError):
        format_seed(seed)


def test_aliases_expand_and_conflicts_raise():
    assert expand_aliases({"rctype": "full", "tau": 5}) == {"recurrence_type": "full", "tau": 5}
    with pytest.raises(ArgsError, match="twice"):
        expand_aliases({"rctype": "full", "recurrence_type": "self"})


def test_an_argument_that_cannot_be_written_names_its_key():
    from dynvision_workflow.naming import ArgsError, encode_args

    with pytest.raises(ArgsError) as error:
        encode_args({"tau": 4, "rctype": "full;rm"})
    assert error.value.key == "rctype" and "'full;rm' cannot be written" in str(error.value)
    with pytest.raises(ArgsError) as error:
        encode_args({"bad key": 1})
    assert error.value.key == "bad key"
