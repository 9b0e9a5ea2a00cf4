"""The package namespace is lazy (PEP 562): every public name works, and importing it loads neither torch nor
Lightning."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import dynvision_data


def test_all_lists_every_lazy_name_once() -> None:
    assert len(dynvision_data.__all__) == len(set(dynvision_data.__all__))
    assert set(dynvision_data.__all__) == {*dynvision_data._SOURCES, "__version__"}


@pytest.mark.parametrize("name", sorted(set(dynvision_data.__all__) - {"__version__"}))
def test_every_public_name_imports_from_the_package(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from dynvision_data import {name}", namespace)
    module = importlib.import_module(f"dynvision_data.{dynvision_data._SOURCES[name]}")
    assert namespace[name] is getattr(module, name) is getattr(dynvision_data, name)


def test_dir_and_unknown_names() -> None:
    assert set(dynvision_data.__all__) <= set(dir(dynvision_data))
    with pytest.raises(AttributeError, match="module 'dynvision_data' has no attribute 'create_paradigms'"):
        dynvision_data.create_paradigms  # noqa: B018
    with pytest.raises(ImportError):
        exec("from dynvision_data import create_paradigms", {})


def test_import_loads_neither_torch_nor_lightning() -> None:
    code = (
        "import sys, dynvision_data, dynvision_data.paradigms; "
        "from dynvision_data import __version__, create_paradigm, list_paradigms, IGNORE_INDEX; "
        "print(sorted(m for m in ('torch', 'lightning') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == "[]"


def test_a_name_that_needs_torch_loads_it_on_first_use() -> None:
    code = (
        "import sys, dynvision_data; before = 'torch' in sys.modules; "
        "from dynvision_data import make_loader; print(before, 'torch' in sys.modules, 'lightning' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.split() == ["False", "True", "False"]
