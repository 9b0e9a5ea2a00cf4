"""Bad-input corpus: configuration files, command-line overrides and values that try to reach a shell.

Each case runs a real command (a dry run, ``dynvision config show``, or plain ``snakemake -n`` on the packaged
Snakefile) and asserts what a user must see (see conftest.assert_refused): a non-zero exit, a message naming the
key, value or file and what to do, no traceback, nothing new under a final name. Configuration is plain data: a YTE
template's expression would touch a marker file, which must not exist afterwards.

The commands are cheap but many (each starts Python and Snakemake), so every command of this file runs once, all of
them side by side, when the first case asks for them (:func:`outcomes`); values checked in the same pass of the
configuration check share one dry run (it lists every problem of that pass at once, which is part of what is
tested).
"""

from __future__ import annotations

import copy
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from dynvision_workflow.paths import snakefile

pytestmark = [pytest.mark.e2e]

#: A YTE expression that would leave a marker file behind if a configuration file were rendered as a template.
MARKER = "PWNED"
YTE = f"""__use_yte__: true
model_name: [DyRCNNx2]
seed: ?__import__("pathlib").Path("{MARKER}").touch() or "0001"
"""
#: A value with the shell metacharacters that could run a command, quotes and a space.
EVIL = "a;touch PWNED $(touch PWNED) `touch PWNED` 'q\" z"
#: The line that starts every refusal of the configuration check inside Snakemake.
INVALID = "dynvision: error: invalid DynVision configuration:"


@dataclass(frozen=True)
class Command:
    """One command of the corpus. ``prepare(root, tiny)`` writes its files into a fresh folder ``root`` (which holds
    ``tiny.yaml`` and an empty working directory ``work``; ``tiny`` is the tiny configuration as data) and returns
    the command's words: arguments of ``dynvision``, or with ``snakemake``, of plain ``snakemake -n``
    (``{snakefile}`` in a word is the packaged Snakefile). It runs in ``root``, or in ``root/work`` with
    ``in_workdir``."""

    prepare: Callable[[Path, dict[str, Any]], list[str]]
    snakemake: bool = False
    in_workdir: bool = False


@dataclass(frozen=True)
class Outcome:
    """A finished command and its folders."""

    result: subprocess.CompletedProcess
    root: Path
    workdir: Path


def _write(root: Path, name: str, content: str | dict[str, Any]) -> str:
    path = root / name
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return str(path)


def _dry_run(*words: str, targets: tuple[str, ...] = ()) -> list[str]:
    """``dynvision run -n`` in ``work`` with the tiny configuration (``tiny.yaml``) below ``words``."""
    return ["run", "-n", "--workdir", "work", *targets, "--configfile", "tiny.yaml", *words]


def _set(config: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """``config`` (a copy) with the value at dotted ``key`` replaced."""
    config = copy.deepcopy(config)
    *parents, last = key.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return config


# Configuration files ---------------------------------------------------------------------------------------------

#: name -> (file text, what the message names, the remedy).
FILES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "yte-template": (YTE, ("__use_yte__", "line 1", "YTE template"), "Delete the __use_yte__ line"),
    "python-object-apply": (
        "seed: !!python/object/apply:os.system ['touch PWNED']\n",
        ("line 1", "key seed", "!!python/object/apply:os.system", "tags that build Python objects"),
        "remove the tag",
    ),
    "python-name": (
        "model_name: [DyRCNNx2]\nseed: !!python/name:os.system\n",
        ("line 2", "key seed", "!!python/name:os.system"),
        "remove the tag",
    ),
    "python-tuple": (
        "train:\n  keep_epochs: !!python/tuple [0, 1]\n",
        ("line 2", "key train.keep_epochs", "!!python/tuple"),
        "remove the tag",
    ),
    "custom-tag": ("data_name: !env DATASET\n", ("line 1", "key data_name", "!env"), "remove the tag"),
    "duplicate-top-level-key": (
        "seed: ['0001']\nmodel_name: [DyRCNNx2]\nseed: ['0002']\n",
        ("key seed", "given twice (lines 1 and 3)"),
        "delete one of the two",
    ),
    "duplicate-nested-key": (
        "train:\n  epochs: 1\n  lr: 0.01\n  epochs: 5\n",
        ("key train.epochs", "given twice (lines 2 and 4)"),
        "delete one of the two",
    ),
    "duplicate-key-in-flow-mapping": (
        "experiments:\n  response: {paradigm: duration, args: {intro: 1, intro: 2}}\n",
        ("key experiments.response.args.intro", "given twice"),
        "delete one of the two",
    ),
    "top-level-list": ("- model_name\n- seed\n", ("must hold a mapping", "not a list"), "key: value"),
    "yaml-syntax-error": ("model_name: [DyRCNNx2\nseed: 1\n", ("is not valid YAML", "line"), "fix that line"),
    "tab-indentation": ("train:\n\tepochs: 1\n", ("is not valid YAML", "line 2"), "indent with spaces"),
}

#: name -> (the override entries, what the message names, the remedy); entries of one run share a command.
OVERRIDES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "unknown-key-typo": ("schema", ("train.epoch: unknown key", "Did you mean 'epochs'?"), "Allowed keys"),
    "wrong-type": ("schema", ("train.epochs: 'abc'", "integer"), "--config train.epochs=VALUE"),
    "bad-choice": ("schema", ("train.optimizer: 'adagrad'", "'adamw'"), "choose one of"),
    "out-of-range": ("range", ("train.epochs: 0", "minimum of 1"), "--config train.epochs=VALUE"),
    "bad-strategy": (
        "lightning",
        ("train.strategy: 'dpp'", "Did you mean 'ddp'?", "ddp_spawn", "fsdp"),
        "--config train.strategy=auto",
    ),
    "bad-devices": ("lightning", ("train.devices: 0", "auto", "'0,1'"), "--config train.devices=1"),
    "unparsable-value": (
        "unparsable",
        ("--config entry 'train={epochs: 5'", "not a valid YAML value"),
        "--config train.epochs=5",
    ),
    "python-tag-in-value": (
        "tag",
        ("seed=!!python/name:os.system", "tags that build Python objects"),
        "remove the tag",
    ),
}
_OVERRIDE_RUNS = {
    "schema": ["train.epoch=3", "train.epochs=abc", "train.optimizer=adagrad"],
    "range": ["train.epochs=0"],
    "lightning": ["train.strategy=dpp", "train.devices=0"],
    "unparsable": ["train={epochs: 5"],
    "tag": ["seed=!!python/name:os.system"],
}


# Values that try to reach a shell --------------------------------------------------------------------------------


def _names(config: dict[str, Any]) -> dict[str, Any]:
    """Names made of shell characters: a model argument, an experiment, a dataset, a learning-rate factor, a
    category; a class group and a logger of them (checked by the schema, in one pass)."""
    config = _set(config, f"model_args.{EVIL}", 1)
    config = _set(config, f"experiments.{EVIL}", {"paradigm": "duration"})
    config = _set(config, "train.lr_factors", {EVIL: 0.5})
    config = _set(config, "datasets", {EVIL: {}})
    config = _set(config, "train.data_group", EVIL)
    config = _set(config, "train.logger", EVIL)
    return _set(config, "categories", {EVIL: [1]})


def _values(config: dict[str, Any]) -> dict[str, Any]:
    """Values checked against what exists (models, datasets, experiments, states, Lightning, paradigms), in one
    pass."""
    for key, value in {
        "model_name": ["DyRCNNx2", EVIL], "data_name": EVIL, "experiment": ["response", EVIL],
        "status": ["trained", EVIL], "experiments.response.parameter": EVIL, "experiments.response.status": [EVIL],
        "experiments.response.paradigm": EVIL, "train.strategy": EVIL, "train.devices": EVIL,
        "train.paradigm.name": EVIL, "category": EVIL, "categories": {"tau": [2, 4]},
        "datasets": {"mnist5k": {"mirror": EVIL}},
    }.items():
        config = _set(config, key, value)
    return config


def _arguments(config: dict[str, Any]) -> dict[str, Any]:
    """Values written into paths: a model argument, a test parameter, a training paradigm parameter."""
    for key in ("model_args.tau", "experiments.response.args.intro", "train.paradigm.args.intro"):
        config = _set(config, key, EVIL)
    return config


def _folder(config: dict[str, Any]) -> dict[str, Any]:
    return _set(_set(config, "datasets", {"mine": {"source": "folder", "path": EVIL}}), "data_name", "mine")


#: run -> (how the tiny configuration changes, targets).
_INJECTION_RUNS: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], tuple[str, ...]]] = {
    "names": (_names, ()),
    "normalised": (lambda c: _set(_set(c, "seed", EVIL), "data_group", EVIL), ()),
    "values": (_values, ("all_experiments",)),
    "arguments": (_arguments, ()),
    "override": (lambda c: _set(c, "experiments.response.model_overrides", {"idle": EVIL}), ()),
    "category-values": (lambda c: _set(_set(c, "category", "tau"), "categories", {"tau": [EVIL]}),
                        ("all_experiments",)),
    "folder-path": (_folder, ()),
    "pretrained": (lambda c: _set(c, "init", {"pretrained": EVIL}), ()),
    "weights": (lambda c: _set(c, "init", {"pretrained": "mine", "weights": {"mine": {"location": EVIL}}}), ()),
}

#: name -> (run, the key path the message names, more it names, the remedy).
INJECTIONS: dict[str, tuple[str, str, tuple[str, ...], str]] = {
    "model_args-key": ("names", f"model_args.{EVIL}", ("is not allowed",), "Rename it"),
    "experiment-name": ("names", f"experiments.{EVIL}", ("is not allowed",), "Rename it"),
    "train-lr-factors-key": ("names", f"train.lr_factors.{EVIL}", ("is not allowed",), "Rename it"),
    "dataset-name": ("names", f"datasets.{EVIL}", ("is not allowed",), "Rename it"),
    "category-name": ("names", f"categories.{EVIL}", ("is not allowed",), "Rename it"),
    "train-data-group": ("names", "train.data_group", ("^[a-z0-9]+$",), "--config train.data_group=VALUE"),
    "train-logger": ("names", "train.logger", ("'csv'",), "choose one of"),
    "seed": ("normalised", "seed", ("digits only",), "'0001'"),
    "data_group": ("normalised", "data_group", ("is not a class group",), "Define it under datasets"),
    "model_name": ("values", "model_name", ("is not a registered model",), "Registered models"),
    "data_name": ("values", "data_name", ("is not defined",), "add it there or pick one"),
    "experiment": ("values", "experiment", ("is not defined",), "add it there or pick one"),
    "status": ("values", "status", ("is not a model status",), "allowed: init, trained"),
    "experiment-parameter": ("values", "experiments.response.parameter", ("not a parameter",), "Set one of these"),
    "experiment-status": ("values", "experiments.response.status", ("is not a model status",), "allowed: init"),
    "experiment-paradigm": ("values", "experiments.response.paradigm", ("Unknown paradigm",), "dynvision paradigms"),
    "train-strategy": ("values", "train.strategy", ("Allowed: auto, ddp",), "--config train.strategy=auto"),
    "train-devices": ("values", "train.devices", ("'0,1'",), "--config train.devices=1"),
    "train-paradigm-name": ("values", "train.paradigm.name", ("Unknown paradigm",), "dynvision paradigms"),
    "category": ("values", "category", ("is not defined",), "add it there or pick one"),
    "dataset-mirror-of-builtin": (
        "values", "datasets.mnist5k.mirror", ("only used with source: download",), "remove mirror",
    ),
    "model_args-value": ("arguments", "model_args.tau", ("cannot be written",), "--config model_args.tau=VALUE"),
    "experiment-args-value": (
        "arguments", "experiments.response.args.intro", ("cannot be written",),
        "--config experiments.response.args.intro=VALUE",
    ),
    "train-paradigm-args": (
        "arguments", "train.paradigm.args.intro", ("cannot be written",), "--config train.paradigm.args.intro=VALUE",
    ),
    "experiment-model-override": (
        "override", "experiments.response.model_overrides.idle", ("cannot be written",),
        "--config experiments.response.model_overrides.idle=VALUE",
    ),
    "category-values": ("category-values", "categories.tau", ("cannot be written",), "--config categories.tau=VALUE"),
    "dataset-path": ("folder-path", "datasets.mine.path", ("is not a directory",), "Give the directory"),
    "init-pretrained": ("pretrained", "init.pretrained", ("does not exist",), "give an existing weights file"),
    "init-weights-location": (
        "weights", "init.weights.mine.location", ("does not exist",), "give an existing weights file",
    ),
}


def _quoted_path(key: str) -> Callable[[Path], list[str]]:
    """A dry run printing shell commands (``-p``) with a dataset mirror or folder at a path of shell characters."""

    def prepare(root: Path, tiny: dict[str, Any]) -> list[str]:
        folder = root / EVIL
        folder.mkdir()
        if key == "path":
            config = _set(_set(tiny, "datasets", {"mine": {"source": "folder", "path": str(folder)}}),
                          "data_name", "mine")
        else:
            config = _set(_set(tiny, "datasets", {"mnist": {"source": "download", "mirror": str(folder)}}),
                          "data_name", "mnist")
        return ["run", "-n", "-p", "--workdir", "work", "--configfile", _write(root, "quoted.yaml", config)]

    return prepare


def _workdir_yte(root: Path) -> None:
    """``root/work`` set up as a working directory (its own Snakefile) whose config/config.yaml is a template."""
    (root / "work").rmdir()
    subprocess.run([sys.executable, "-m", "dynvision_workflow", "init-workdir", "work"], cwd=root, check=True,
                   capture_output=True)
    _write(root / "work" / "config", "config.yaml", YTE)


def _commands() -> dict[str, Command]:
    """Every command of this file, by name."""
    commands = {
        f"file-{name}": Command(lambda root, _, text=text, name=name: _dry_run(_write(root, f"{name}.yaml", text)))
        for name, (text, _, _) in FILES.items()
    }
    commands["missing-file"] = Command(lambda root, _: _dry_run(str(root / "nowhere.yaml")))
    commands["show-yte"] = Command(lambda root, _: ["config", "show", "--configfile", _write(root, "yte.yaml", YTE)])
    commands["workdir-yte-run"] = Command(lambda root, _: _workdir_yte(root) or ["run", "-n"], in_workdir=True)
    commands["workdir-yte-snakemake"] = Command(lambda root, _: _workdir_yte(root) or [], snakemake=True,
                                                in_workdir=True)
    for name, text in (("yte", YTE), ("duplicate", "train:\n  epochs: 1\n  epochs: 2\n"),
                       ("python-tag", "seed: !!python/tuple [1]\n"), ("seed", "model_name: [DyRCNNx2]\nseed: 0010\n")):
        commands[f"snakemake-{name}"] = Command(
            lambda root, _, name=name, text=text: ["--snakefile", "{snakefile}", "--directory", "work",
                                                   "--configfile", _write(root, f"{name}.yaml", text)],
            snakemake=True,
        )
    for run, entries in _OVERRIDE_RUNS.items():
        commands[f"override-{run}"] = Command(lambda root, _, entries=entries: _dry_run("--config", *entries))
    commands["show-entry-without-value"] = Command(lambda root, _: ["config", "show", "--config", "model_name"])
    commands["run-entry-without-value"] = Command(lambda root, _: _dry_run("--config", "model_name"))
    for run, (change, targets) in _INJECTION_RUNS.items():
        commands[f"inject-{run}"] = Command(
            lambda root, tiny, change=change, targets=targets: _dry_run(
                _write(root, "evil.yaml", change(tiny)), targets=targets
            )
        )
    commands["quoted-path"] = Command(_quoted_path("path"))
    commands["quoted-mirror"] = Command(_quoted_path("mirror"))
    return commands


def _run(name: str, command: Command, base: Path, tiny: str) -> Outcome:
    root = base / name
    workdir = root / "work"
    workdir.mkdir(parents=True)
    _write(root, "tiny.yaml", tiny)
    words = command.prepare(root, yaml.safe_load(tiny))
    if command.snakemake:
        argv = [sys.executable, "-m", "snakemake", "-n", "--cores", "1",
                *[word.replace("{snakefile}", str(snakefile())) for word in words]]
    else:
        argv = [sys.executable, "-m", "dynvision_workflow", *words]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    result = subprocess.run(argv, cwd=workdir if command.in_workdir else root, env=env, capture_output=True,
                            text=True, timeout=600, check=False)
    return Outcome(result, root, workdir)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory, tiny_config: Path) -> dict[str, Outcome]:
    """Every command of this file, run side by side once (one folder each), by name."""
    base = tmp_path_factory.mktemp("config-corpus")
    tiny = tiny_config.read_text()
    with ThreadPoolExecutor(max_workers=max(2, min(8, os.cpu_count() or 2))) as pool:
        futures = {name: pool.submit(_run, name, command, base, tiny) for name, command in _commands().items()}
        return {name: future.result() for name, future in futures.items()}


def _no_marker(outcome: Outcome) -> None:
    for folder in (outcome.root, outcome.workdir):
        assert not (folder / MARKER).exists(), f"a configuration file ran code: {folder / MARKER} exists"


def _problem_line(text: str, key: str) -> str:
    """The line of a refusal about ``key`` (``  - key: ...``)."""
    lines = [line for line in text.splitlines() if line.startswith(f"  - {key}:")]
    assert lines, f"no problem line for {key!r} in:\n{text}"
    return lines[0]


# Cases -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(FILES))
def test_config_file_that_is_not_plain_data_is_refused(case, outcomes, refused):
    _, mentions, fix = FILES[case]
    outcome = outcomes[f"file-{case}"]
    refused(outcome.result, f"{case}.yaml", *mentions, fix=fix, workdir=outcome.workdir, before=set())
    _no_marker(outcome)


def test_missing_config_file_is_named(outcomes, refused):
    outcome = outcomes["missing-file"]
    refused(outcome.result, "nowhere.yaml", "does not exist", fix="check the path", workdir=outcome.workdir,
            before=set())


def test_yte_template_is_refused_by_config_show_without_running_it(outcomes, refused):
    outcome = outcomes["show-yte"]
    refused(outcome.result, "yte.yaml", "__use_yte__", fix="Delete the __use_yte__ line")
    _no_marker(outcome)


@pytest.mark.parametrize("how", ["run", "snakemake"])
def test_yte_template_in_a_working_directory_config_is_never_rendered(how, outcomes, refused):
    """A working directory's config/config.yaml is read as data by its own Snakefile, under `dynvision run` and
    under plain `snakemake` alike (Snakemake's `configfile:` directive would render it)."""
    outcome = outcomes[f"workdir-yte-{how}"]
    refused(outcome.result, "config.yaml", "__use_yte__", fix="Delete the __use_yte__ line")
    _no_marker(outcome)


@pytest.mark.parametrize(
    ("case", "mentions", "fix"),
    [
        ("yte", ("__use_yte__",), "Delete the __use_yte__ line"),
        ("duplicate", ("key train.epochs", "lines 2 and 3"), "delete one of the two"),
        ("python-tag", ("!!python/tuple",), "remove the tag"),
    ],
)
def test_plain_snakemake_rereads_its_config_files_as_data(case, mentions, fix, outcomes, refused):
    """`snakemake --configfile` reads (and renders) the file before the Snakefile runs; the Snakefile reads every
    config file again as plain data and stops before any job, with our message only (exit status 2)."""
    result = outcomes[f"snakemake-{case}"].result
    text = refused(result, f"{case}.yaml", *mentions, fix=fix)
    assert result.returncode == 2 and INVALID in text


def test_plain_snakemake_reads_a_seed_as_the_dry_run_does(outcomes):
    """`seed: 0010` is seed 0010 under plain Snakemake too (its own loader reads YAML 1.1's octal 8)."""
    result = outcomes["snakemake-seed"].result
    assert result.returncode == 0, result.stdout + result.stderr
    assert "DyRCNNx2_0010" in result.stdout and "DyRCNNx2_0008" not in result.stdout


@pytest.mark.parametrize("case", sorted(OVERRIDES))
def test_bad_config_override_is_refused(case, outcomes, refused):
    run, mentions, fix = OVERRIDES[case]
    outcome = outcomes[f"override-{run}"]
    refused(outcome.result, *mentions, fix=fix, workdir=outcome.workdir, before=set())


def test_config_entry_without_value_is_refused_by_config_show(outcomes, refused):
    refused(outcomes["show-entry-without-value"].result, "'model_name'", "key=value", fix="train.epochs=5")


def test_config_entry_without_value_is_refused_by_run(outcomes, refused):
    refused(outcomes["run-entry-without-value"].result, "'model_name'", "key=value", fix="train.epochs=5")


@pytest.mark.parametrize("case", sorted(INJECTIONS))
def test_shell_characters_in_a_value_are_refused_naming_the_key(case, outcomes, refused):
    run, key, mentions, fix = INJECTIONS[case]
    outcome = outcomes[f"inject-{run}"]
    text = refused(outcome.result, INVALID, fix=fix, workdir=outcome.workdir, before=set())
    line = _problem_line(text, key)
    assert "touch PWNED" in line.removeprefix(f"  - {key}:"), f"the value is not shown: {line}"
    for mention in mentions:
        assert mention in line, f"{mention!r} is not in: {line}"
    _no_marker(outcome)


@pytest.mark.parametrize("key", ["path", "mirror"])
def test_paths_with_shell_characters_reach_shell_commands_quoted(key, outcomes):
    """A dataset folder or mirror is a path (any characters): not refused for its characters; every printed shell
    command holds it as one quoted word, and nothing runs."""
    outcome = outcomes[f"quoted-{key}"]
    result = outcome.result
    assert result.returncode == 0, result.stdout + result.stderr
    quoted = shlex.quote(str(outcome.root / EVIL))
    commands = [line for line in result.stdout.splitlines() if "touch PWNED" in line and "dynvision " in line]
    assert commands, result.stdout
    for line in commands:
        assert line.count("touch PWNED") == 3 * line.count(quoted), line
    _no_marker(outcome)
