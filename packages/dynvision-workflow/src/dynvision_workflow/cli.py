"""The ``dynvision`` command: run the workflow, and the runtime steps its rules call.

Workflow commands: ``dynvision demo``, ``dynvision run [targets] [snakemake options]``, ``dynvision config show``,
``dynvision models``, ``dynvision paradigms``. Runtime commands (called by the Snakemake rules, usable by hand):
``prepare-data``, ``build-betons``, ``init``, ``train``, ``test``, ``process-test``, ``aggregate``. Each runtime
command is a thin wrapper around a typed function in :mod:`dynvision_workflow.runtime`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from . import paths
from .config import ConfigError, dump_yaml, resolve_config
from .naming import ArgsError, parse_args

__all__ = ["main", "put_scripts_on_path"]

DEMO_WORKDIR = "dynvision-demo"
SOURCES_HELP = "JSON object: option name -> where its value came from (the workflow passes its config layers)"


class CommandError(Exception):
    """An error to report to the user in one line, without a traceback."""


# Workflow ----------------------------------------------------------------------------------------------------------


def _snakemake_command(workdir: Path, cores: str, extra: Sequence[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(paths.snakefile()),
        "--directory",
        str(workdir),
        "--cores",
        cores,
        *extra,
    ]


def put_scripts_on_path() -> None:
    """Put this interpreter's script folder first on ``PATH``, so that workflow jobs run this installation's
    ``dynvision`` even when its environment is not activated (e.g. ``.venv/bin/dynvision demo``)."""
    scripts = str(Path(sys.executable).parent)
    current = os.environ.get("PATH", "")
    if current.split(os.pathsep)[0] != scripts:
        os.environ["PATH"] = scripts + os.pathsep + current


def _run_snakemake(command: list[str]) -> int:
    put_scripts_on_path()
    return subprocess.call(command)


#: Snakemake options whose values are config files.
_CONFIGFILE_OPTIONS = ("--configfile", "--configfiles")
#: First folders of the workflow's output paths that carry a model identity in their third part.
_IDENTITY_ROOTS = {"models": 2, "reports": 2, "figures": 2}


def check_run_arguments(extra: Sequence[str]) -> None:
    """Fail early, before Snakemake starts, on config files that are not YAML mappings and on requested paths
    whose model identity or test spec is malformed (naming the bad part and the expected form)."""
    from .config import load_yaml

    configfiles: list[str] = []
    taking = False
    for word in extra:
        if word.startswith("-"):
            name, sep, value = word.partition("=")
            taking = name in _CONFIGFILE_OPTIONS and not sep
            if name in _CONFIGFILE_OPTIONS and sep:
                configfiles.append(value)
            continue
        if taking:
            configfiles.append(word)
            continue
        _check_target(word)
    for path in configfiles:
        load_yaml(path)


def _check_target(target: str) -> None:
    import re

    from .naming import ARGS_PATTERN, SEED_PATTERN
    from .specs import HASHED_PATTERN

    parts = target.strip("/").split("/")
    position = _IDENTITY_ROOTS.get(parts[0])
    if position is None or len(parts) <= position:
        return
    identity = parts[position]
    head, sep, seed = identity.rpartition("_")
    match = re.fullmatch(r"([A-Za-z][A-Za-z0-9]*)(.*)", head)
    if not sep or not match or not re.fullmatch(SEED_PATTERN, seed):
        raise CommandError(
            f"requested path {target!r}: {identity!r} is not a model identity; expected "
            "{model_name}{model_args}_{seed}, e.g. 'DyRCNNx2:rctype=full+tau=5_0001'."
        )
    try:
        parse_args(match.group(2))
    except ArgsError as error:
        raise CommandError(f"requested path {target!r}: {error}") from None
    if parts[0] == "reports" and len(parts) > 5:
        test = parts[4]
        if not (re.fullmatch(rf"[a-z]+{ARGS_PATTERN}", test) or re.fullmatch(HASHED_PATTERN, test)):
            _, _, args = test.partition(":")
            try:
                parse_args(":" + args if args else "")
            except ArgsError as error:
                raise CommandError(f"requested path {target!r}: test {test!r}: {error}") from None
            raise CommandError(
                f"requested path {target!r}: {test!r} is not a test spec; expected {{paradigm}}:key=value+... "
                "(a lower-case paradigm name) or a hashed name {paradigm}-{10 hex digits}."
            )


def resolve_profiles(extra: Sequence[str]) -> list[str]:
    """``--profile NAME`` names a packaged profile (``slurm``) unless a folder of that name exists here; other
    values (paths, profiles in Snakemake's search path) pass through unchanged."""
    words = list(extra)
    for index, word in enumerate(words):
        name, sep, value = word.partition("=")
        if name != "--profile":
            continue
        position = index if sep else index + 1
        if position >= len(words):
            break
        value = value if sep else words[position]
        packaged = paths.profile_dir(value)
        if "/" not in value and not Path(value).exists() and (packaged / "config.yaml").is_file():
            words[position] = f"--profile={packaged}" if sep else str(packaged)
    return words


def cmd_run(args: argparse.Namespace, extra: list[str]) -> int:
    """Run the Snakemake workflow: targets and any Snakemake option pass through."""
    check_run_arguments(extra)
    extra = resolve_profiles(extra)
    workdir = paths.workdir(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    return _run_snakemake(_snakemake_command(workdir, args.cores, extra))


def cmd_demo(args: argparse.Namespace, extra: list[str]) -> int:
    """Run the demo workflow on the embedded MNIST subset and print where its figures and tables are."""
    workdir = paths.workdir(args.workdir or DEMO_WORKDIR)
    workdir.mkdir(parents=True, exist_ok=True)
    demo_config = paths.config_dir() / "config_demo.yaml"
    config = resolve_config(files=[demo_config])
    print(f"DynVision demo: training and testing {', '.join(config['model_name'])} on {config['data_name']} in {workdir}")
    print("(first run about 5 minutes on 2 CPU cores; a second run finds everything up to date)\n", flush=True)
    snakemake_args = ["--configfile", str(demo_config), "--quiet", "host", "reason", "--show-failed-logs"]
    if args.dry_run:
        snakemake_args.append("--dry-run")
    code = _run_snakemake(_snakemake_command(workdir, args.cores, [*snakemake_args, *extra, "all"]))
    if code != 0 or args.dry_run:
        return code
    from .targets import all_figures

    figures = [workdir / figure for figure in all_figures(config)]
    tables = sorted({figure.parent.as_posix().replace("/figures/", "/reports/", 1) for figure in figures})
    print("\nDemo finished. Figures:")
    for figure in figures:
        print(f"  {figure}")
    print("Tidy tables (test_outputs.csv: one row per image and time step; test_responses.csv: per area too):")
    for folder in tables:
        print(f"  {folder}/")
    return 0


def _config_overrides(entries: Sequence[str]) -> dict:
    """``key=value`` pairs parsed like Snakemake's ``--config`` (YAML values)."""
    import yaml

    overrides: dict = {}
    for entry in entries:
        key, sep, value = entry.partition("=")
        if not sep or not key:
            raise CommandError(f"--config entry {entry!r} must look like key=value (e.g. seed=0001).")
        overrides[key] = yaml.safe_load(value) if value else None
    return overrides


def cmd_config_show(args: argparse.Namespace, extra: list[str]) -> int:
    """Print the resolved configuration (packaged layers, config files, overrides, schema defaults)."""
    config = resolve_config(_config_overrides(args.config or []), files=args.configfile or [])
    sys.stdout.write(dump_yaml(config))
    return 0


def cmd_models(args: argparse.Namespace, extra: list[str]) -> int:
    """List registered models with their parameters and defaults."""
    from dynvision_models import list_models, model_parameters

    for name in list_models(args.pattern):
        print(name)
        for parameter, default in model_parameters(name).items():
            print(f"    {parameter} = {default!r}")
    return 0


def cmd_paradigms(args: argparse.Namespace, extra: list[str]) -> int:
    """List registered stimulus paradigms."""
    from dynvision_data import list_paradigms

    for name in list_paradigms():
        print(name)
    return 0


# Runtime steps -----------------------------------------------------------------------------------------------------


def cmd_prepare_data(args: argparse.Namespace, extra: list[str]) -> int:
    from .runtime.data import parse_splits, prepare_data

    try:
        splits = parse_splits(args.splits)
    except ValueError as error:
        raise CommandError(f"--splits: {error}") from None
    prepare_data(
        args.data_name,
        root=args.root,
        ready=args.ready,
        seed=args.seed,
        test_fraction=args.test_fraction,
        source=args.source,
        mirror=args.mirror,
        path=args.path,
        splits=splits,
        class_index=args.class_index,
        resolution=args.resolution,
    )
    return 0


def cmd_build_betons(args: argparse.Namespace, extra: list[str]) -> int:
    from .runtime.data import build_betons

    build_betons(
        args.source,
        train=args.train,
        val=args.val,
        meta=args.meta,
        seed=args.seed,
        val_fraction=args.val_fraction,
        resolution=args.resolution,
    )
    return 0


def _model_args(text: str | None) -> dict:
    try:
        return parse_args(text or "")
    except ArgsError as error:
        raise CommandError(str(error)) from None


def cmd_init(args: argparse.Namespace, extra: list[str]) -> int:
    from .runtime.init import init_model

    init_model(
        args.model_name,
        _model_args(args.model_args),
        seed=args.seed,
        dataset=args.dataset,
        output=args.output,
        image_resolution=args.image_resolution,
    )
    return 0


def cmd_train(args: argparse.Namespace, extra: list[str]) -> int:
    from .runtime.train import TrainSettings, train_model

    settings = TrainSettings.from_namespace(args)
    train_model(
        init=args.init,
        output=args.output,
        dataset=args.dataset,
        betons=args.betons,
        checkpoints=args.checkpoints,
        seed=args.seed,
        settings=settings,
        given=_given_options(sys.argv),
        declared=_declared_sources(args.sources),
    )
    return 0


def cmd_test(args: argparse.Namespace, extra: list[str]) -> int:
    from .runtime.test import TestSettings, test_model

    if args.spec_index is not None:
        from .specs import record_specs

        if not args.identifier:
            raise CommandError("--spec-index needs --identifier (the test's hashed folder name).")
        record_specs(args.spec_index, {args.identifier: args.paradigm})
    test_model(
        args.state,
        dataset=args.dataset,
        outputs=args.outputs,
        responses=args.responses,
        settings=TestSettings.from_namespace(args),
        given=_given_options(sys.argv),
        declared=_declared_sources(args.sources),
    )
    return 0


def cmd_process_test(args: argparse.Namespace, extra: list[str]) -> int:
    from .runtime.tables import responses_table, write_csv

    write_csv(responses_table(args.responses), args.output)
    return 0


def cmd_aggregate(args: argparse.Namespace, extra: list[str]) -> int:
    from .runtime.tables import aggregate_tables, write_csv

    write_csv(aggregate_tables(args.outputs, spec_index=args.spec_index), args.outputs_table)
    write_csv(aggregate_tables(args.responses, spec_index=args.spec_index), args.responses_table)
    return 0


def _declared_sources(text: str | None) -> dict[str, str]:
    """The ``--sources`` JSON (option name -> where its value came from), as the workflow passes it."""
    import json

    if not text:
        return {}
    try:
        sources = json.loads(text)
    except json.JSONDecodeError as error:
        raise CommandError(
            f"--sources must be a JSON object of option names to sources, got {text!r} ({error})."
        ) from None
    if not isinstance(sources, dict):
        raise CommandError(f"--sources must be a JSON object of option names to sources, got {text!r}.")
    return {str(key): str(value) for key, value in sources.items()}


def _given_options(argv: Sequence[str]) -> set[str]:
    """Option names present on the command line (their values are recorded as given, not defaults)."""
    return {word[2:].split("=", 1)[0].replace("-", "_") for word in argv if word.startswith("--")}


# Parser ------------------------------------------------------------------------------------------------------------


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not a boolean; use true or false.")


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (also used by the runtime commands' parsers)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive integer.")
    return value


def image_resolution(text: str) -> int:
    """argparse type: an image resolution, an integer >= 2 (the side of the square images are cropped to)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 2:
        raise argparse.ArgumentTypeError(f"{text!r} is not a resolution: give an integer >= 2 (pixels).")
    return value


RESOLUTION_HELP = "resize every image to shorter side N and crop the centre N x N (default: images as stored)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dynvision",
        description="DynVision: recurrent CNNs with biologically plausible dynamics, run as a Snakemake workflow.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler, help: str, passthrough: bool = False) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help, description=help)
        command.set_defaults(handler=handler, passthrough=passthrough)
        return command

    run = add("run", cmd_run, "Run the workflow: targets (default: all) and Snakemake options pass through.", True)
    run.add_argument("--workdir", help="where outputs go (default: $DYNVISION_WORKDIR or the current directory)")
    run.add_argument("--cores", default="all", help="CPU cores Snakemake may use (default: all)")

    demo = add("demo", cmd_demo, "Run the demo (embedded MNIST subset, no network) and print where its figures are.", True)
    demo.add_argument("--workdir", help=f"where outputs go (default: ./{DEMO_WORKDIR})")
    demo.add_argument("--cores", default="2", help="CPU cores (default: 2)")
    demo.add_argument("--dry-run", "-n", action="store_true", help="only show what would run")

    config = add("config", cmd_config_show, "Show the resolved configuration.")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    show = config_sub.add_parser("show", help="print the resolved configuration as YAML")
    show.add_argument("--configfile", action="append", help="a YAML config file (repeatable)")
    show.add_argument("--config", nargs="*", help="key=value overrides, as for `dynvision run --config`")

    models = add("models", cmd_models, "List registered models with their parameters.")
    models.add_argument("pattern", nargs="?", help="glob pattern, e.g. 'DyRCNN*'")
    add("paradigms", cmd_paradigms, "List registered stimulus paradigms.")

    prepare = add("prepare-data", cmd_prepare_data, "Materialise a dataset as class folders <root>/<name>/<split>/.")
    prepare.add_argument("data_name")
    prepare.add_argument("--root", type=Path, required=True)
    prepare.add_argument("--ready", type=Path, help="marker file written when the dataset is complete")
    prepare.add_argument("--seed", type=int, default=0, help="seed of the train/test split")
    prepare.add_argument("--test-fraction", type=float, default=0.2)
    prepare.add_argument(
        "--source",
        choices=["builtin", "download", "folder"],
        default="builtin",
        help="builtin: ships with dynvision-data; download: official archives; folder: a tree at --path (linked)",
    )
    prepare.add_argument("--mirror", help="download: a local directory or base URL with the archives, tried first")
    prepare.add_argument("--path", help="folder: the dataset directory (holding the split folders)")
    prepare.add_argument("--splits", help="folder: split=folder pairs, e.g. train=train,test=val (the default)")
    prepare.add_argument("--class-index", help="folder: class index file with readable class names")
    prepare.add_argument(
        "--resolution", type=image_resolution, help="training statistics of the images resized: " + RESOLUTION_HELP
    )

    betons = add("build-betons", cmd_build_betons, "Write train/val FFCV .beton files from training class folders.")
    betons.add_argument("source", type=Path)
    betons.add_argument("--train", type=Path, required=True)
    betons.add_argument("--val", type=Path, required=True)
    betons.add_argument("--meta", type=Path, required=True)
    betons.add_argument("--seed", type=int, default=0, help="seed of the train/val split")
    betons.add_argument("--val-fraction", type=float, default=0.1)
    betons.add_argument("--resolution", type=image_resolution, help=RESOLUTION_HELP)

    init = add("init", cmd_init, "Create a model from its identity, sized for a dataset, and save its initial state.")
    _add_model_identity(init)
    init.add_argument("--dataset", type=Path, required=True, help="training class folders (for shape and classes)")
    init.add_argument("--output", type=Path, required=True)
    init.add_argument(
        "--image-resolution",
        type=image_resolution,
        help="input shape and statistics of the images resized: " + RESOLUTION_HELP,
    )

    from .runtime.settings import add_settings_arguments

    train = add("train", cmd_train, "Train a model from its initial state with Lightning (resumes when interrupted).")
    _add_model_identity(train)
    train.add_argument("--init", type=Path, required=True)
    train.add_argument("--output", type=Path, required=True)
    train.add_argument("--dataset", type=Path, required=True, help="training class folders")
    train.add_argument("--betons", type=Path, help="folder with train.beton, val.beton and meta.json")
    train.add_argument("--checkpoints", type=Path, required=True, help="folder for Lightning checkpoints")
    from .runtime.train import TrainSettings

    add_settings_arguments(train, TrainSettings)
    train.add_argument("--sources", help=SOURCES_HELP)

    test = add("test", cmd_test, "Test a model state under a paradigm: outputs table and per-area responses.")
    test.add_argument("state", type=Path)
    test.add_argument("--dataset", type=Path, required=True, help="test class folders")
    test.add_argument("--outputs", type=Path, required=True)
    test.add_argument("--responses", type=Path, required=True)
    from .runtime.test import TestSettings

    add_settings_arguments(test, TestSettings)
    test.add_argument("--sources", help=SOURCES_HELP)
    test.add_argument("--identifier", help="the test's hashed folder name, recorded in --spec-index")
    test.add_argument("--spec-index", type=Path, help="JSON index of hashed test folder names (merged, locked)")

    process = add("process-test", cmd_process_test, "Turn a test's responses file into a tidy table.")
    process.add_argument("responses", type=Path)
    process.add_argument("--output", type=Path, required=True)

    aggregate = add("aggregate", cmd_aggregate, "Join one experiment's test tables, adding paradigm parameters.")
    aggregate.add_argument("--outputs", type=Path, nargs="+", required=True)
    aggregate.add_argument("--responses", type=Path, nargs="+", required=True)
    aggregate.add_argument("--outputs-table", type=Path, required=True)
    aggregate.add_argument("--responses-table", type=Path, required=True)
    aggregate.add_argument("--spec-index", type=Path, help="JSON index of hashed test folder names -> specs")
    return parser


def _add_model_identity(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-name", required=True, help="registered model name (see `dynvision models`)")
    parser.add_argument("--model-args", default="", help="':key=value+key=value' as in the model's path")
    parser.add_argument("--seed", default="0001", help="seed (digits)")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not args.passthrough:
        parser.error(f"unrecognised arguments: {' '.join(extra)}")
    try:
        return args.handler(args, extra)
    except (CommandError, ConfigError, ArgsError) as error:
        print(f"dynvision {args.command}: error: {error}", file=sys.stderr)
        return 2
    except _user_errors() as error:
        print(f"dynvision {args.command}: error: {error}", file=sys.stderr)
        return 2


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that describe bad input (printed without a traceback)."""
    from dynvision_data.datasets.downloads import DownloadError

    from .runtime.settings import SettingsError
    from .runtime.states import StateError
    from .runtime.tables import TableError
    from .runtime.train import TrainingDiverged
    from .specs import SpecError

    return (StateError, TableError, TrainingDiverged, SpecError, SettingsError, FileNotFoundError, DownloadError)


if __name__ == "__main__":
    sys.exit(main())
