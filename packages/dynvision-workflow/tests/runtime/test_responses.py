from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

from dynvision_workflow.runtime.responses import SafetensorsStream


def test_streamed_file_is_a_standard_safetensors_file(tmp_path):
    rng = np.random.default_rng(0)
    rates = rng.random((10, 4, 3, 2, 2)).astype(np.float16)
    times = np.arange(4, dtype=np.float32) * 2
    path = tmp_path / "r.safetensors"
    stream = SafetensorsStream(
        path, {"V1": (np.float16, rates.shape), "time_ms": (np.float32, (4,))}, {"areas": json.dumps(["V1"])}
    )
    stream.write("time_ms", 0, times)
    for start in (6, 0, 3):  # batches may arrive in any order
        stream.write("V1", start, rates[start : start + (4 if start == 6 else 3)])
    stream.close()
    loaded = load_file(str(path))
    assert np.array_equal(loaded["V1"], rates) and np.array_equal(loaded["time_ms"], times)
    with safe_open(str(path), framework="numpy") as handle:
        assert json.loads(handle.metadata()["areas"]) == ["V1"]


def test_rows_that_do_not_fit_and_unfinished_tensors_are_refused(tmp_path):
    stream = SafetensorsStream(tmp_path / "r.safetensors", {"x": (np.float32, (4, 2))})
    with pytest.raises(ValueError, match=r"do not fit tensor 'x' of shape \(4, 2\)"):
        stream.write("x", 3, np.zeros((2, 2), dtype=np.float32))
    stream.write("x", 0, np.zeros((3, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=r"not completely written.*'x': \(3, 4\)"):
        stream.close()


def test_a_streamed_file_cut_short_is_refused_by_the_reader_with_the_fix(tmp_path):
    """A responses file that lost its end (a full disk, a killed copy) is named with the command that rewrites it."""
    from dynvision_workflow.runtime.tables import TableError, read_responses

    path = tmp_path / "test_responses.safetensors"
    stream = SafetensorsStream(
        path,
        {"sample": (np.int64, (4,)), "time_ms": (np.float32, (2,)), "stimulus": (np.uint8, (2,)),
         "V1.mean": (np.float32, (4, 2)), "V1.std": (np.float32, (4, 2))},
        {"areas": json.dumps(["V1"])},
    )
    for name, rows in (("sample", np.arange(4)), ("time_ms", np.zeros(2)), ("stimulus", np.ones(2)),
                       ("V1.mean", np.zeros((4, 2))), ("V1.std", np.zeros((4, 2)))):
        stream.write(name, 0, rows)
    stream.close()
    assert read_responses(path)[1]["areas"] == ["V1"]
    path.write_bytes(path.read_bytes()[:-5])
    fix = f"write it again: dynvision run --forcerun {path}"
    with pytest.raises(TableError, match=rf"{path}' cannot be read .* cut short; {fix}"):
        read_responses(path)
