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


def _dead_pid() -> int:
    import subprocess

    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_temporaries_of_a_killed_writer_are_removed_when_the_output_is_written_again(tmp_path):
    import socket

    host = socket.gethostname().split(".")[0]
    target = tmp_path / "model:a=1+b=2[x]" / "trained.pt"
    target.parent.mkdir()
    killed = target.parent / f".trained.pt.{host}-{_dead_pid()}.abc12345.tmp"
    older = target.parent / ".trained.pt.q1w2e3r4.tmp"  # a release that did not name its writer
    live = target.parent / f".trained.pt.{host}-{os.getppid()}.zzzzzzzz.tmp"  # a writer that still runs
    remote = target.parent / ".trained.pt.node17-123.yyyyyyyy.tmp"  # a cluster node: cannot be checked from here
    other = target.parent / ".init.pt.q1w2e3r4.tmp"  # another output's
    sidecar = target.parent / f".trained.pt.config.yaml.{host}-{_dead_pid()}.abc12345.tmp"  # a name that starts alike
    for path in (killed, older, live, remote, other, sidecar):
        path.write_text("half")
    write_text_atomic(target, "whole")
    assert target.read_text() == "whole"
    assert not killed.exists() and not older.exists()
    assert live.exists() and remote.exists() and other.exists() and sidecar.exists()


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (OSError(28, "No space left on device"), "No space left on device"),
        (OSError(30, "Read-only file system"), "Read-only file system"),
        (RuntimeError("Error while serializing: IoError(Os { code: 28, message: \"No space left on device\" })"),
         "No space left on device"),
    ],
)
def test_a_write_refused_by_the_file_system_names_the_output_and_what_to_do(tmp_path, error, reason):
    from dynvision_workflow.runtime.provenance import OutputError

    target = tmp_path / "reports" / "test_outputs.csv"
    with pytest.raises(OutputError) as raised, atomic_path(target):
        raise error
    message = str(raised.value)
    assert str(target) in message and reason in message
    assert "df -h" in message or "writable" in message
    assert list(target.parent.iterdir()) == []


def test_other_errors_pass_through_unchanged(tmp_path):
    with pytest.raises(ValueError, match="a bug"), atomic_path(tmp_path / "x.csv"):
        raise ValueError("a bug")
