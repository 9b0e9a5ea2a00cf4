from __future__ import annotations

import os
import stat

import pytest

from dynvision_workflow.runtime.provenance import atomic_path, write_text_atomic


def test_atomic_output_gets_the_usual_permissions(tmp_path):
    previous = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "out" / "table.csv", "a,b\n")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "out" / "table.csv").stat().st_mode) == 0o644


def test_failed_write_leaves_neither_the_final_name_nor_a_temporary(tmp_path):
    target = tmp_path / "state.pt"
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_survives_a_failed_rewrite(tmp_path):
    target = tmp_path / "state.pt"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("new but incomplete")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]
