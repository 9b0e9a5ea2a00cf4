from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dynvision_data._util import atomic_write_json, check_fraction, check_int, read_json, unknown_name_message


def test_unknown_name_message_suggests_close_names_and_lists_all() -> None:
    message = unknown_name_message("dataset", "mnist", ["mnist5k", "digits"])
    assert message == "Unknown dataset 'mnist'. Did you mean 'mnist5k'? Available: digits, mnist5k."
    assert unknown_name_message("thing", "x", []) == "Unknown thing 'x'. Available: (none registered)."


def test_check_int_accepts_integers_and_names_the_parameter_otherwise() -> None:
    assert check_int("n", np.int64(3), minimum=0) == 3
    with pytest.raises(TypeError, match="n must be an integer, got the bool True"):
        check_int("n", True)
    with pytest.raises(TypeError, match="n must be an integer, got '3' \\(str\\)"):
        check_int("n", "3")
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        check_int("n", 0, minimum=1)


def test_check_fraction_is_strictly_between_zero_and_one() -> None:
    assert check_fraction("f", 0.5) == 0.5
    for bad in (0, 1, -0.1, 1.5):
        with pytest.raises(ValueError, match="f must be strictly between 0 and 1"):
            check_fraction("f", bad)
    with pytest.raises(TypeError, match="f must be a number"):
        check_fraction("f", "0.5")


def test_atomic_write_json_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "data.json"
    atomic_write_json(path, {"b": 1, "a": [1.5]})
    atomic_write_json(path, {"c": 2})
    assert json.loads(path.read_text()) == {"c": 2}
    assert [p.name for p in path.parent.iterdir()] == ["data.json"]


def test_failed_atomic_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    atomic_write_json(path, {"ok": True})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"bad": object()})
    assert read_json(path) == {"ok": True}
    assert [p.name for p in tmp_path.iterdir()] == ["data.json"]


def test_read_json_names_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{")
    with pytest.raises(ValueError, match=r"broken\.json is not valid JSON"):
        read_json(path)
