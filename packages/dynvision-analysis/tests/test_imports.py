from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import matplotlib
# Reading rcParams["backend"] would itself resolve the backend through pyplot, so leave it out.
def snapshot():
    return {key: matplotlib.rcParams[key] for key in matplotlib.rcParams if key != "backend"}
before = snapshot()
import dynvision_analysis
pyplot = "matplotlib.pyplot" in sys.modules
forbidden = sorted(
    name for name in sys.modules
    if name.split(".")[0] in {"torch", "lightning", "torchvision", "dynvision_models", "dynvision_data",
                              "dynvision_workflow"}
)
print("forbidden:", forbidden)
print("pyplot:", pyplot)
print("rcparams changed:", snapshot() != before)
"""


def test_import_pulls_in_no_torch_no_sibling_and_no_global_state():
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True)
    assert "forbidden: []" in result.stdout
    # pyplot keeps global figure state and picks a GUI backend; the package never needs it.
    assert "pyplot: False" in result.stdout
    assert "rcparams changed: False" in result.stdout


def test_public_names_are_exported():
    import dynvision_analysis

    for name in dynvision_analysis.__all__:
        assert hasattr(dynvision_analysis, name), name
