"""The bad-input corpus: shared fixtures.

Every case of the corpus runs a real command (``dynvision run``, a runtime step, plain ``snakemake``) on bad input or
under a fault and asserts, with :func:`assert_refused`, what a user must get: a non-zero exit, a message that names
the key, value or file and says what to do (as a command), no traceback, and nothing new under a final name.

Cases that need trained models start from a copy of one finished tiny run (:func:`finished_workdir`, made once per
session, about 30 s); cases about configuration use :func:`fresh_workdir` and a dry run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest

#: Folders whose new files are not final outputs (logs, Snakemake's own state, benchmarks, training checkpoints).
_NOT_FINAL = ("logs", ".snakemake", "benchmarks")

#: What a traceback looks like in output (Python's header or its frame lines).
_TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s*File \"[^\"]+\", line \d+", re.MULTILINE)


def final_files(workdir: Path) -> set[str]:
    """Every non-hidden file under ``workdir`` outside logs, Snakemake's folder and benchmarks (relative paths)."""
    found = set()
    for path in workdir.rglob("*"):
        relative = path.relative_to(workdir)
        if relative.parts[0] in _NOT_FINAL or any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() or path.is_symlink():
            found.add(str(relative))
    return found


def assert_refused(
    result: subprocess.CompletedProcess,
    *mentions: str,
    fix: str | Iterable[str],
    workdir: Path | None = None,
    before: set[str] | None = None,
    allowed: Iterable[str] = (),
) -> str:
    """Assert a refusal as a user must see it; return the output (stdout and stderr).

    Args:
        result: the finished command (text output).
        mentions: what the message must name (the key, the value, the file...), each as a substring.
        fix: the remedy the message must give (a command or a fragment of one); several: any of them.
        workdir, before: with both, no file may appear under a final name (see :func:`final_files`) except ``allowed``.
    """
    text = (result.stdout or "") + (result.stderr or "")
    assert result.returncode != 0, f"exited 0:\n{text}"
    assert not _TRACEBACK.search(text), f"a traceback reached the user:\n{text}"
    for mention in mentions:
        assert mention in text, f"{mention!r} is not named in:\n{text}"
    fixes = [fix] if isinstance(fix, str) else list(fix)
    assert any(item in text for item in fixes), f"none of the remedies {fixes} is given in:\n{text}"
    if workdir is not None and before is not None:
        new = final_files(workdir) - before - set(allowed)
        assert not new, f"written under final names: {sorted(new)}"
    return text


@pytest.fixture
def refused():
    """:func:`assert_refused`, for cases that take it as a fixture."""
    return assert_refused


@pytest.fixture(scope="session")
def tiny_config(small_config: Path) -> Path:
    """The tiny workflow's config file: the shared reduced demo (tests/conftest.py ``small_config``): one DyRCNNx2
    trained one epoch on 256 mnist5k images, tested on 96 under a short duration paradigm."""
    return small_config


@pytest.fixture
def fresh_workdir(tmp_path: Path) -> Path:
    """An empty working directory for one case."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    return workdir


@pytest.fixture(scope="session")
def _finished_once(tmp_path_factory: pytest.TempPathFactory, tiny_config: Path, dynvision) -> Path:
    workdir = tmp_path_factory.mktemp("tiny-run") / "work"
    workdir.mkdir()
    result = dynvision("run", "--workdir", str(workdir), "--cores", "4", "--configfile", str(tiny_config),
                       cwd=workdir, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    return workdir


def _copy_or_link(source: str, target: str) -> None:
    """Images of the raw class folders (``data/raw/<name>/<split>/<class>/<image>``) are hard links, to copy the
    thousands of them in a fraction of a second; every other file is a copy."""
    parts = Path(source).parts
    raw = next((i for i in range(len(parts) - 1) if parts[i : i + 2] == ("data", "raw")), None)
    if raw is not None and len(parts) - raw >= 6:
        os.link(source, target)
    else:
        shutil.copy2(source, target)


@pytest.fixture
def finished_workdir(_finished_once: Path, tmp_path: Path) -> Path:
    """A private copy of one finished tiny run (data, betons, init/trained states, checkpoints, tables, figures),
    with modification times kept, so that Snakemake finds it complete.

    The raw images (``data/raw/mnist5k/<split>/<class>/*.png``) are hard links shared with every other case: to
    damage one, replace it (``path.unlink()`` first, then write), never write into it.
    """
    copy = tmp_path / "work"
    shutil.copytree(_finished_once, copy, symlinks=True, copy_function=_copy_or_link)
    return copy


@pytest.fixture
def snapshot():
    """:func:`final_files`: ``before = snapshot(workdir)`` ahead of a case, for ``refused(..., workdir=, before=)``."""
    return final_files
