"""The monorepo's packaging rules: one-way dependencies, torch bounded everywhere, no torchvision."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dynvision-models", "dynvision-data", "dynvision-analysis", "dynvision-workflow")


def _pyproject(package: str) -> dict:
    return tomllib.loads((ROOT / "packages" / package / "pyproject.toml").read_text())


def _requirements(package: str) -> list[Requirement]:
    project = _pyproject(package)["project"]
    texts = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        texts += extra
    return [Requirement(text) for text in texts]


def _all_requirement_texts() -> list[tuple[str, str]]:
    found = [(package, str(req)) for package in PACKAGES for req in _requirements(package)]
    found += [("constraints.txt", line.strip()) for line in (ROOT / "constraints.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    hatch = tomllib.loads((ROOT / "hatch.toml").read_text())
    found += [("hatch.toml", text) for text in hatch["envs"]["default"]["dependencies"]]
    return found


@pytest.mark.parametrize(("where", "text"), _all_requirement_texts())
def test_torch_is_bounded_and_torchvision_absent(where: str, text: str) -> None:
    requirement = Requirement(text)
    assert requirement.name != "torchvision", f"{where} depends on torchvision"
    if requirement.name == "torch":
        # An open range pulls the newest CUDA build with gigabytes of nvidia-* wheels.
        assert any(spec.operator in ("<", "<=", "==", "~=") for spec in requirement.specifier), (where, text)


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_is_a_complete_distribution(package: str) -> None:
    folder = ROOT / "packages" / package
    module = package.replace("-", "_")
    for name in ("pyproject.toml", "README.md", "CHANGELOG.md"):
        assert (folder / name).is_file(), name
    assert (folder / "src" / module / "__about__.py").is_file()
    assert (folder / "src" / module / "py.typed").is_file()
    assert (folder / "tests").is_dir()
    assert "## Unreleased" in (folder / "CHANGELOG.md").read_text()
    version = re.search(r'__version__ = "([^"]+)"', (folder / "src" / module / "__about__.py").read_text())
    assert version and metadata.version(package) == version.group(1)
    # No sibling paths in published metadata (only names with version bounds).
    for requirement in _requirements(package):
        assert requirement.url is None, requirement


def test_libraries_bound_their_siblings_and_the_workflow_pins_compatible_releases() -> None:
    siblings = {p for p in PACKAGES if p != "dynvision-workflow"}
    for package in siblings:
        names = {r.name for r in _requirements(package)}
        assert not names & set(PACKAGES), f"{package} depends on a sibling: {names & set(PACKAGES)}"
    pins = {r.name: r for r in _requirements("dynvision-workflow") if r.name in siblings}
    assert set(pins) == siblings
    for requirement in pins.values():
        assert [spec.operator for spec in requirement.specifier] == ["~="], requirement


def _installed_requirements(distribution: str) -> set[str]:
    """Names of everything ``distribution`` pulls in when installed (following the installed metadata)."""
    seen: set[str] = set()
    todo = [distribution]
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def test_installing_the_analysis_package_alone_installs_no_torch() -> None:
    pulled = _installed_requirements("dynvision-analysis")
    assert "torch" not in pulled and "lightning" not in pulled, sorted(pulled)
    assert {"pandas", "matplotlib", "numpy"} <= pulled


#: Public names that load Lightning (on first use only).
LIGHTNING_NAMES = {"TemporalClassifier", "TrainingDataModule", "TestDataModule"}


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("dynvision_models", ["dynvision_data", "dynvision_analysis", "dynvision_workflow", "pandas", "matplotlib"]),
        ("dynvision_data", ["dynvision_models", "dynvision_analysis", "dynvision_workflow", "matplotlib"]),
        ("dynvision_analysis", ["torch", "dynvision_models", "dynvision_data", "dynvision_workflow"]),
    ],
)
def test_imports_run_one_way(module: str, forbidden: list[str]) -> None:
    # The packages import lazily: load every public name (but the Lightning ones, which are loaded on demand and
    # pull in matplotlib through torchmetrics) so that the check sees all their imports.
    code = (
        f"import sys, {module}\n"
        f"[getattr({module}, n) for n in {module}.__all__ if n not in {sorted(LIGHTNING_NAMES)!r}]\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {forbidden!r})\n"
        "print(bad)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", f"import {module} pulled in {result.stdout.strip()}"
