"""The runnable examples in the package READMEs run as written (a user copies them first)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = ("dynvision-models", "dynvision-data", "dynvision-analysis")


def python_blocks(readme: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", readme.read_text(), flags=re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("package", LIBRARIES)
def test_readme_example_runs(package: str, tmp_path: Path) -> None:
    blocks = python_blocks(ROOT / "packages" / package / "README.md")
    assert blocks, f"{package}/README.md has no ```python example"
    for block in blocks:
        result = subprocess.run(
            [sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
        )
        assert result.returncode == 0, f"{package} README example failed:\n{block}\n{result.stderr}"


def test_root_readme_names_the_two_commands_that_ci_runs() -> None:
    text = (ROOT / "README.md").read_text()
    assert "./scripts/demo" in text and "./scripts/test" in text
    assert "./scripts/test" in (ROOT / ".ci" / "run").read_text()
