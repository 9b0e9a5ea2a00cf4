"""Importing the paradigms and building, validating and describing a paradigm import no torch.

A workflow checks every paradigm and parameter at Snakemake parse time with ``create_paradigm``; torch takes over a
second to import, so these checks run in a fresh interpreter and look at ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from dynvision_data import create_paradigm, list_paradigms, paradigm_parameters

#: Configurations a test job would reject, with the error each raises (the same with or without torch loaded).
BAD_CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("durration", {}),
    ("duration", {"stimulus_steps": 3}),
    ("duration", {"noisetype": "gaussian"}),
    ("duration", {"stim": 3, "stimulus": 4}),
    ("duration", {"intro": -1}),
    ("duration", {"stimulus": 0}),
    ("duration", {"outro": 2.5}),
    ("duration", {"intro": True}),
    ("duration", {"blank": "grey"}),
    ("duration", {"rt": -1}),
    ("duration", {"pattern": "10a1"}),
    ("duration", {"pattern": "000"}),
    ("duration", {"pattern_mode": "tile"}),
    ("duration", {"pattern_shuffle": 1}),
    ("duration", {"seed": -3}),
    ("repetition", {"steps": 0}),
    ("interval", {"interval": -2}),
    ("contrast", {"contrast": -0.5}),
    ("contrast", {"contrast": float("inf")}),
    ("noise", {"noise_type": "pink"}),
    ("noise", {"noisetype": "pink"}),
    ("noise", {"temporal_mode": "flicker"}),
    ("noise", {"ssnr": 1.5}),
    ("noise", {"noiselevel": -0.1}),
    ("noise", {"ssnr": float("nan")}),
    ("noise", {"tempcorr": 1.0}),
    ("noise", {"spatialcorr": 2.0, "noise_type": "uniform"}),
    ("noise", {"alpha": 1.0, "noise_type": "gaussian"}),
    ("noise", {"noise_void": "yes"}),
    ("noise", {"noise_seed": -1}),
]


def run_python(code: str, stdin: str = "") -> Any:
    """Run ``code`` in a fresh interpreter (``stdin`` on its standard input) and return the JSON it prints last."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def error_of(name: str, params: dict[str, Any]) -> list[str]:
    try:
        create_paradigm(name, **params)
    except (KeyError, TypeError, ValueError) as error:
        return [type(error).__name__, str(error)]
    raise AssertionError(f"create_paradigm({name!r}, **{params!r}) did not raise")


def test_building_and_describing_paradigms_imports_no_torch() -> None:
    seen = run_python(
        """
        import json, sys
        import dynvision_data
        import dynvision_data.paradigms
        after_import = "torch" in sys.modules
        from dynvision_data import create_paradigm, canonical_paradigm_params, list_paradigms, paradigm_parameters
        noise = create_paradigm("noise", noise_type="gaussian", ssnr=0.5)
        duration = create_paradigm("duration", intro=2, stimulus=5, outro=3)
        aliased = create_paradigm("noise", noisetype="poisson", noiselevel=0.25, stim=4, tempmode="dynamic")
        out = {
            "after_import": after_import,
            "noise": [noise.params(), noise.config(), noise.n_timesteps, noise.phases()],
            "duration": [duration.params(), duration.config(), duration.n_timesteps, duration.phases()],
            "aliased": aliased.config(),
            "repr": repr(duration),
            "ms": duration.durations_ms(10),
            "options": create_paradigm("repetition", rt=2, pattern="101", seed=4).options(),
            "parameters": {name: paradigm_parameters(name) for name in list_paradigms()},
            "canonical": canonical_paradigm_params("duration", {"stim": 3, "voidinput": 0.5}),
        }
        out["torch"] = "torch" in sys.modules
        print(json.dumps(out))
        """
    )
    assert seen["after_import"] is False and seen["torch"] is False
    assert seen["noise"] == [
        create_paradigm("noise", noise_type="gaussian", ssnr=0.5).params(),
        create_paradigm("noise", noise_type="gaussian", ssnr=0.5).config(),
        20,
        ["stimulus"] * 20,
    ]
    duration = create_paradigm("duration", intro=2, stimulus=5, outro=3)
    assert seen["duration"] == [duration.params(), duration.config(), 10, duration.phases()]
    assert seen["duration"][3] == ["intro"] * 2 + ["stimulus"] * 5 + ["outro"] * 3
    assert seen["aliased"]["noise_type"] == "poisson" and seen["aliased"]["stimulus"] == 4
    assert seen["repr"] == "DurationParadigm(intro=2, stimulus=5, outro=3, blank=0.0)"
    assert seen["ms"] == {"intro": 20.0, "stimulus": 50.0, "outro": 30.0}
    assert seen["options"] == {"rt": 2, "pattern": "101", "seed": 4}
    assert seen["parameters"] == json.loads(json.dumps({n: paradigm_parameters(n) for n in list_paradigms()}))
    assert seen["canonical"] == {"stimulus": 3, "blank": 0.5}


def test_every_rejection_is_the_same_without_torch() -> None:
    # Validation is as strict, with the same messages, whether or not torch has been imported.
    seen = run_python(
        """
        import json, sys
        from dynvision_data import create_paradigm
        errors = []
        for name, params in json.load(sys.stdin):  # JSON keeps True, None, inf and nan
            try:
                create_paradigm(name, **params)
            except (KeyError, TypeError, ValueError) as error:
                errors.append([type(error).__name__, str(error)])
            else:
                errors.append(None)
        print(json.dumps({"errors": errors, "torch": "torch" in sys.modules}))
        """,
        stdin=json.dumps(BAD_CONFIGS),
    )
    assert seen["torch"] is False
    assert seen["errors"] == [error_of(name, params) for name, params in BAD_CONFIGS]
    kinds = [kind for kind, _ in seen["errors"]]
    assert kinds[:4] == ["KeyError", "TypeError", "TypeError", "ValueError"]


def test_presenting_loads_torch_on_first_use_and_the_moved_names_still_import() -> None:
    seen = run_python(
        """
        import json, sys
        from dynvision_data import create_paradigm
        paradigm = create_paradigm("duration", intro=1, stimulus=2, outro=1)
        before = "torch" in sys.modules
        import torch
        frames, labels, stimulus = paradigm(torch.ones(2, 1, 3, 3), torch.tensor([4, 5]))
        from dynvision_data import Timeline
        from dynvision_data.paradigms import fit_pattern, label_mask, onsets, timeline
        from dynvision_data.paradigms.base import Timeline as OldPath, timeline_frames
        lazy = paradigm(torch.ones(2, 1, 3, 3), torch.tensor([4, 5]), lazy=True).frames
        print(json.dumps({
            "before": before,
            "shape": list(frames.shape),
            "labels": labels.tolist(),
            "same": Timeline is OldPath is timeline.Timeline and isinstance(lazy, Timeline),
            "helpers": [f.__module__ for f in (fit_pattern, label_mask, onsets, timeline_frames)],
        }))
        """
    )
    assert seen["before"] is False
    assert seen["shape"] == [2, 4, 1, 3, 3] and seen["labels"] == [[-1, 4, 4, -1], [-1, 5, 5, -1]]
    assert seen["same"] is True
    assert seen["helpers"] == ["dynvision_data.paradigms.timeline"] * 4


@pytest.mark.parametrize("name", ["repetition", "duration", "interval", "contrast", "noise"])
def test_every_registered_paradigm_builds_from_its_defaults_without_torch(name: str) -> None:
    assert name in list_paradigms()
    seen = run_python(
        f"""
        import json, sys
        from dynvision_data import create_paradigm, paradigm_parameters
        paradigm = create_paradigm({name!r}, **paradigm_parameters({name!r}))
        print(json.dumps({{"config": paradigm.config(), "torch": "torch" in sys.modules}}))
        """
    )
    assert seen == {"config": create_paradigm(name).config(), "torch": False}
