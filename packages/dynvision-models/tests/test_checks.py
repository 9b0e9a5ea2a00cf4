"""Torch-free kwarg checks: the catalogue, kwarg_problems, and their agreement with the constructors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest

import dynvision_models
from dynvision_models import create_model, describe_models, list_models
from dynvision_models.checks import MODEL_ARG_ALIASES, expand_aliases, kwarg_problems

TINY_X2 = {"input_shape": [3, 16, 16], "channels": [4, 8], "n_timesteps": 2}
TINY_X4 = {"input_shape": [3, 16, 16], "channels": [4, 4, 4, 4], "n_timesteps": 2}
TINY_X8 = {"input_shape": [3, 32, 32], "channels": [4, 4, 4, 4], "n_timesteps": 2}
SMALL_ALEXNET = {"input_shape": [3, 64, 64], "n_timesteps": 1}
SMALL_CORDSNET = {"input_shape": [3, 32, 32], "depth": 2, "n_timesteps": 2, "idle_timesteps": 0}
PROBLEM_SHAPE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*: .+; allowed: .+\. \S.*$", re.S)


@pytest.fixture(scope="module")
def catalogue() -> dict:
    # Round-tripped through JSON: kwarg_problems must work on what a manifest stores.
    return json.loads(json.dumps(describe_models()))


# (model, kwargs, a phrase of the problem) -- each is rejected by the constructor and by kwarg_problems.
BAD = [
    ("DyRCNNx2", {"dt": 0}, "dt: 0 is not allowed"),
    ("DyRCNNx2", {"dt": "2"}, "dt: '2' is not a number"),
    ("DyRCNNx2", {"dt": -1.5}, "dt: -1.5 is not allowed"),
    ("DyRCNNx2", {"tau": 0}, "tau: 0 is not allowed"),
    ("DyRCNNx2", {"dt": 2, "tau": 1}, "too small for dt=2 ms with the 'euler' solver"),
    ("DyRCNNx4", {"solver": "rk4", "dt": 6, "tau": 2}, "exceeds its limit 2.5"),
    ("DyRCNNx4", {"tff": -2}, "t_feedforward: -2 is not a finite delay >= 0 ms"),
    ("DyRCNNx4", {"t_recurrence": 5}, "t_recurrence: 5 ms is not a multiple of dt=2 ms"),
    ("DyRCNNx2", {"trc": 0}, "t_recurrence: 0 ms is less than one time step"),
    ("DyRCNNx4", {"feedback": True, "t_feedback": 0}, "t_feedback: 0 ms is less than one time step"),
    ("DyRCNNx4", {"skip": True, "tsk": 1}, "t_skip: 1 ms is not a multiple of dt=2 ms"),
    ("DyRCNNx8", {"dt": 4}, "t_recurrence: 6.0 ms is not a multiple of dt=4 ms"),
    ("DyRCNNx4", {"channels": [4, "x"]}, "channels: [4, 'x'] has items that are not positive integers"),
    ("DyRCNNx4", {"channels": [4, 8]}, "channels: [4, 8] has 2 entries, not one per area"),
    ("DyRCNNx2", {"channels": [0, 8]}, "not positive integers"),
    ("DyRCNNx2", {"channels": [4.5, 8]}, "not positive integers"),
    ("DyRCNNx2", {"readout": "max"}, "readout: 'max' is not a known readout"),
    ("DyRCNNx2", {"rctype": "fully"}, "recurrence_type: 'fully' is not a known recurrence_type"),
    ("DyRCNNx2", {"rctype": "lstn"}, "recurrence_type: 'lstn' is not a known recurrence_type (did you mean 'lstm'?)"),
    ("DyRCNNx2", {"rctype": "gru", "rctarget": "input"}, "recurrence_target: 'input' cannot be combined with "
     "recurrence_type='gru'"),
    ("DyRCNNx8", {"rctype": "lstm", "recurrence_target": "middle"}, "recurrence_target: 'middle' cannot be "
     "combined with recurrence_type='lstm'"),
    ("DyRCNNx2", {"rctype": "ugrnn", "integration": "multiplicative"}, "integration: 'multiplicative' cannot be "
     "combined with recurrence_type='ugrnn'"),
    ("DyRCNNx2", {"solver": "heun"}, "solver: 'heun' is not a known solver"),
    ("DyRCNNx2", {"leak": "rates"}, "leak: 'rates' is not a known leak (did you mean 'rate'?)"),
    ("AlexNet", {"leak": None}, "leak: None is not allowed (null)"),
    ("DyRCNNx2", {"integration": "mult"}, "integration: 'mult' is not a known integration"),
    ("DyRCNNx2", {"bias": "pixel"}, "bias: 'pixel' is not a known bias"),
    ("DyRCNNx2", {"skip_mode": "add"}, "skip_mode: 'add' is not a known skip_mode"),
    ("DyRCNNx2", {"feedback_mode": "mul"}, "feedback_mode: 'mul' is not a known feedback_mode"),
    ("DyRCNNx2", {"norm": "group"}, "norm: 'group' is not a known norm"),
    ("DyRCNNx4", {"recurrence_target": "middle"}, "recurrence_target: 'middle' needs areas with two"),
    ("DyRCNNx2", {"rctarget": "top"}, "recurrence_target: 'top' is not a known recurrence_target"),
    ("DyRCNNx2", {"tsteps": 0}, "n_timesteps: 0 is out of range"),
    ("DyRCNNx2", {"idle": -1}, "idle_timesteps: -1 is out of range"),
    ("DyRCNNx2", {"tbptt_steps": 1.5}, "tbptt_steps: 1.5 is not an integer"),
    ("DyRCNNx2", {"checkpoint_steps": -1}, "checkpoint_steps: -1 is out of range"),
    ("DyRCNNx2", {"n_classes": "ten"}, "n_classes: 'ten' is not an integer"),
    ("DyRCNNx2", {"skip": "yes"}, "skip: 'yes' is not true or false"),
    ("DyRCNNx2", {"taugrad": 1}, "train_tau: 1 is not true or false"),
    ("DyRCNNx4", {"tau": [5, 5]}, "tau: [5, 5] has 2 entries, not one per area"),
    ("DyRCNNx2", {"tau": [5, "x"]}, "tau: [5, 'x'] has items that are not numbers"),
    ("DyRCNNx2", {"adaptation": [1.5, 0.5]}, "retention a=1.5 outside 0 <= a < 1"),
    ("DyRCNNx2", {"adaptation": 0.5}, "adaptation: 0.5 is not a pair of numbers"),
    ("DyRCNNx2", {"supralin": 0}, "supralinearity: 0 is not allowed"),
    ("DyRCNNx2", {"input_shape": [8, 8]}, "input_shape: [8, 8] is not (channels, height, width)"),
    ("DyRCNNx2", {"n_clases": 3}, "n_clases: DyRCNNx2 takes no argument 'n_clases' (did you mean 'n_classes'?)"),
    ("DyRCNNx2", {"rctype": "full", "recurrence_type": "self"}, "given twice, as 'rctype' and as"),
    ("AlexNet", {"skip": True}, "skip: True is not taken by AlexNet: AlexNet has no skip"),
    ("AlexNet", {"rctarget": "middle"}, "recurrence_target: 'middle' needs areas with two"),
    ("AlexNet", {"dropout": 1.5}, "dropout: 1.5 is not allowed"),
    ("AlexNet", {"fixed_self_weight": 0.5, "rctype": "full"}, "cannot be combined with recurrence_type='full'"),
    ("AlexNet", {"recurrence_kernel_size": 4}, "recurrence_kernel_size: 4 is not odd"),
    ("AlexNet", {"dt": 0}, "dt: 0 is not allowed"),
    ("CordsNet", {"depth": 3}, "depth: 3 is not a known depth"),
    ("CordsNet", {"dt": 2, "tau": 1}, "tau: 1 is too small for dt=2 ms"),
    ("CordsNet", {"dt": 0}, "dt: 0 is not allowed"),
    ("CordsNet", {"solver": "rk4"}, "solver: 'rk4' is not taken by CordsNet"),
    ("CordsNet", {"leak": "rate"}, "leak: 'rate' is not taken by CordsNet: the published update leaks the rate"),
    ("CorNetRT", {"leak": "state"}, "leak: 'state' is not taken by CorNetRT"),
    ("CorNetRT", {"tau": 5}, "tau: 5 is not taken by CorNetRT"),
    ("CorNetRT", {"n_timesteps": 2.5}, "n_timesteps: 2.5 is not an integer"),
    ("ResNet20", {"shortcut": "C"}, "shortcut: 'C' is not a known shortcut"),
    ("ResNet18", {"n_classes": "ten"}, "n_classes: 'ten' is not an integer"),
    ("ResNet18", {"shortcut": "A"}, "shortcut: ResNet18 takes no argument 'shortcut'"),
]

GOOD = [
    ("DyRCNNx2", {**TINY_X2, "rctype": "self"}),
    ("DyRCNNx2", {**TINY_X2, "channels": None}),
    ("DyRCNNx2", {**TINY_X2, "solver": "rk4", "dt": 2, "tau": 1}),
    ("DyRCNNx2", {**TINY_X2, "solver": "exponential", "tau": 0.5}),
    ("DyRCNNx4", {**TINY_X4, "leak": "rate", "solver": "rk4", "checkpoint_steps": 2, "feedback": True}),
    ("AlexNet", {**SMALL_ALEXNET, "leak": "rate", "rctype": "self", "tau": 4}),
    ("DyRCNNx2", {**TINY_X2, "dt": 4, "tfb": 30}),
    ("DyRCNNx2", {**TINY_X2, "adaptation": [0.9, 0.5], "checkpoint_steps": True, "norm": "layer"}),
    ("DyRCNNx2", {**TINY_X2, "tau": [4, 6.5], "taugrad": True, "supralin": 2, "retina": True}),
    ("DyRCNNx4", {**TINY_X4, "dt": 1, "tau": [5, 5, 5, 5], "trc": 3, "feedback": True, "tfb": 2}),
    ("DyRCNNx4", {**TINY_X4, "skip": True, "tsk": 4, "skip_mode": "multiplicative", "idle": 2, "tbptt": 1}),
    ("DyRCNNx8", {**TINY_X8, "recurrence_target": "middle"}),
    ("DyRCNNx4", {**TINY_X4, "rctype": "reciprocalgated", "feedback": True, "checkpoint_steps": 2}),
    ("DyRCNNx2", {**TINY_X2, "rctype": "timedecay", "rctarget": "input", "integration": "multiplicative"}),
    ("AlexNet", {**SMALL_ALEXNET, "fixed_self_weight": 0.5, "dropout": 0}),
    ("AlexNet", {**SMALL_ALEXNET, "rctype": "self", "tau": 2, "recurrence_kernel_size": 1}),
    ("CordsNet", {**SMALL_CORDSNET, "dt": 2, "tau": 4}),
    ("CorNetRT", {"input_shape": [3, 32, 32], "n_timesteps": 2}),
    ("ResNet20", {"shortcut": "B", "n_timesteps": 1}),
]


def _base(model: str) -> dict:
    return {
        "DyRCNNx2": TINY_X2,
        "DyRCNNx4": TINY_X4,
        "DyRCNNx8": TINY_X8,
        "AlexNet": SMALL_ALEXNET,
        "CordsNet": SMALL_CORDSNET,
    }.get(model, {})


def _with_base(model: str, kwargs: dict) -> dict:
    long = {MODEL_ARG_ALIASES.get(k, k) for k in kwargs}
    return {**{k: v for k, v in _base(model).items() if k not in long}, **kwargs}


@pytest.mark.parametrize(("model", "kwargs", "phrase"), BAD, ids=[f"{m}-{'-'.join(k)}" for m, k, _ in BAD])
def test_bad_kwargs_are_found_and_rejected_by_the_constructor(
    catalogue: dict, model: str, kwargs: dict, phrase: str
) -> None:
    kwargs = _with_base(model, kwargs)
    problems = kwarg_problems(catalogue[model], kwargs)
    assert problems, kwargs
    assert any(phrase in p for p in problems), problems
    for problem in problems:
        assert PROBLEM_SHAPE.match(problem), problem
    with pytest.raises((ValueError, TypeError)) as info:
        create_model(model, **kwargs)
    if isinstance(info.value, ValueError):
        # The constructor raises through the same check functions: the same words.
        assert any(p in str(info.value) for p in problems), (str(info.value), problems)


@pytest.mark.parametrize(("model", "kwargs"), GOOD, ids=[f"{m}-{i}" for i, (m, _) in enumerate(GOOD)])
def test_good_kwargs_pass_both(catalogue: dict, model: str, kwargs: dict) -> None:
    assert kwarg_problems(catalogue[model], kwargs) == []
    create_model(model, **kwargs)


def test_every_registered_model_has_no_problems_with_its_defaults(catalogue: dict) -> None:
    assert sorted(catalogue) == list_models()
    for name, entry in catalogue.items():
        assert kwarg_problems(entry, {}) == [], name
        defaults = {k: s["default"] for k, s in entry["parameters"].items()}
        assert kwarg_problems(entry, defaults) == [], name


def test_message_of_the_documented_example(catalogue: dict) -> None:
    (problem,) = kwarg_problems(catalogue["DyRCNNx4"], {"dt": 0})
    assert problem.startswith("dt: 0 is not allowed; allowed: the integration time step in ms, a number > 0.")
    assert problem.endswith("Give e.g. dt: 2")


def test_unknown_kwarg_lists_accepted_names_and_aliases(catalogue: dict) -> None:
    (problem,) = kwarg_problems(catalogue["DyRCNNx4"], {"rctpye": "full"})
    assert "(did you mean 'rctype'?)" in problem
    assert "n_classes, input_shape" in problem and "rctype=recurrence_type" in problem


def test_catalogue_entries(catalogue: dict) -> None:
    x4, x8, alexnet = catalogue["DyRCNNx4"], catalogue["DyRCNNx8"], catalogue["AlexNet"]
    assert x4["parameters"]["t_recurrence"]["default"] == 6.0
    assert x4["parameters"]["input_shape"]["default"] == [3, 32, 32]
    assert x4["parameters"]["recurrence_target"]["choices"] == ["input", "output"]
    assert x8["parameters"]["recurrence_target"]["choices"] == ["input", "middle", "output"]
    assert set(dynvision_models.list_recurrence_types()) == set(x4["parameters"]["recurrence_type"]["choices"])
    assert x4["engine"]["gated_recurrence_types"] == ["gru", "intersection", "lstm", "reciprocalgated", "ugrnn"]
    assert x4["parameters"]["norm"]["choices"] == [None, "layer", "batch"]
    assert x4["engine"]["areas"] == ["V1", "V2", "V4", "IT"] and x4["engine"]["middle_stage"] == [False] * 4
    assert x4["engine"]["default_channels"] == [36, 64, 121, 256]
    assert x4["engine"]["solver_max_alpha"] == {"euler": 1.0, "exponential": None, "rk4": 2.5}
    for model in ("DyRCNNx2", "DyRCNNx4", "DyRCNNx8", "AlexNet"):
        leak = catalogue[model]["parameters"]["leak"]
        assert (leak["kind"], leak["choices"], leak["default"]) == ("choice", ["state", "rate"], "state"), model
    assert "leak" in catalogue["CorNetRT"]["rejected"] and "leak" in catalogue["CordsNet"]["rejected"]
    assert alexnet["rejected"]["skip"] == "AlexNet has no skip or feedback connections"
    assert catalogue["CordsNet"]["parameters"]["depth"]["choices"] == [2, 4, 6, 8]
    assert catalogue["CordsNet"]["engine"] is None and catalogue["CordsNet"]["time"] == {"max_alpha": 1.0, "solver": "euler"}
    assert catalogue["ResNet20"]["parameters"]["shortcut"]["choices"] == ["A", "B"]
    assert x4["aliases"]["rctype"] == "recurrence_type" and "rctype" not in catalogue["CorNetRT"]["aliases"]


def test_stale_catalogue_is_refused(catalogue: dict) -> None:
    with pytest.raises(ValueError, match="catalogue_version: 0 is not the version"):
        kwarg_problems({**catalogue["DyRCNNx2"], "catalogue_version": 0}, {})


def test_aliases() -> None:
    assert MODEL_ARG_ALIASES == {
        "tsteps": "n_timesteps",
        "rctype": "recurrence_type",
        "rctarget": "recurrence_target",
        "tff": "t_feedforward",
        "trc": "t_recurrence",
        "tsk": "t_skip",
        "tfb": "t_feedback",
        "idle": "idle_timesteps",
        "tbptt": "tbptt_steps",
        "taugrad": "train_tau",
        "supralin": "supralinearity",
        "retina": "use_retina",
        "ffonly": "feedforward_only",
    }
    assert expand_aliases({"rctype": "self", "dt": 2}) == {"recurrence_type": "self", "dt": 2}
    with pytest.raises(ValueError, match="n_timesteps: given twice, as 'n_timesteps' and as 'tsteps'"):
        expand_aliases({"n_timesteps": 3, "tsteps": 4})
    with pytest.raises(ValueError, match="given twice"):
        create_model("DyRCNNx2", tsteps=3, n_timesteps=3)
    model = create_model("DyRCNNx2", **TINY_X2, rctype="self", ffonly=True)
    assert model.model_kwargs["recurrence_type"] == "self" and "rctype" not in model.model_kwargs
    assert model.recurrence_type == "self" and model.feedforward_only


def _run_without_torch(code: str) -> None:
    script = textwrap.dedent(code) + "\nassert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)\n"
    subprocess.run([sys.executable, "-c", "import sys\n" + script], check=True, timeout=120)


def test_package_and_checks_import_no_torch() -> None:
    _run_without_torch(
        """
        import dynvision_models
        import dynvision_models.checks
        from dynvision_models import MODEL_ARG_ALIASES, __version__, expand_aliases, kwarg_problems
        import dynvision_models.registry
        assert "create_model" in dir(dynvision_models)
        """
    )


def test_kwarg_problems_on_a_stored_catalogue_imports_no_torch(tmp_path, catalogue: dict) -> None:
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(catalogue))
    _run_without_torch(
        f"""
        import json
        from dynvision_models.checks import kwarg_problems
        catalogue = json.loads(open({str(path)!r}).read())
        assert kwarg_problems(catalogue["DyRCNNx4"], {{"dt": 2, "trc": 6}}) == []
        problems = kwarg_problems(catalogue["DyRCNNx4"], {{"dt": 0, "channels": [4, "x"], "rctype": "ful"}})
        assert len(problems) == 3, problems
        """
    )


def test_every_public_name_resolves() -> None:
    for name in dynvision_models.__all__:
        assert getattr(dynvision_models, name) is not None, name
    assert set(dynvision_models.__all__) <= set(dir(dynvision_models))
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        dynvision_models.nope  # noqa: B018


def test_registry_functions_import_the_zoo_themselves() -> None:
    _run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import dynvision_models.registry as r\n"
            "assert 'DyRCNNx4' in r.list_models() and r.is_model('AlexNet')\n"
            "assert r.model_parameters('DyRCNNx4')['t_recurrence'] == 6.0\n"
            "assert r.create_model('ResNet20').model_name == 'ResNet20'\n",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert _run.returncode == 0, _run.stderr
