"""The ``dynvision`` command: run the workflow, and the runtime steps its rules call.

Workflow commands: ``dynvision demo``, ``dynvision run [targets] [snakemake options]``, ``dynvision init-workdir
DIR``, ``dynvision config show``, ``dynvision models``, ``dynvision paradigms``. Runtime commands (called by the Snakemake rules, usable by hand):
``prepare-data``, ``build-betons``, ``init``, ``train``, ``export-state``, ``test``, ``process-test``, ``aggregate``. Each runtime
command is a thin wrapper around a typed function in :mod:`dynvision_workflow.runtime`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from . import paths
from .config import ConfigError, dump_yaml, parse_overrides, resolve_config
from .naming import ArgsError, parse_args

__all__ = ["main", "put_scripts_on_path"]

DEMO_WORKDIR = "dynvision-demo"
DATA_NAME_HELP = "the dataset's name in the configuration (for the provenance of its settings)"


class CommandError(Exception):
    """An error to report to the user in one line, without a traceback."""


# Workflow ----------------------------------------------------------------------------------------------------------


def _snakemake_command(workdir: Path, cores: str, extra: Sequence[str]) -> list[str]:
    """Snakemake in ``workdir``: with its own Snakefile (and so its config/config.yaml) in a working directory made by
    ``dynvision init-workdir``, else with the packaged Snakefile."""
    from .workdir import workdir_snakefile

    if "--verbose" in extra:  # jobs print their errors' tracebacks too
        os.environ[VERBOSE_ENV] = "1"
    # A run killed with SIGKILL leaves its running jobs' outputs marked incomplete; they are made again (outputs are
    # written atomically, so an incomplete mark never hides a half-written file under a final name).
    rerun = [] if {"--rerun-incomplete", "--ri"} & set(extra) else ["--rerun-incomplete"]
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(workdir_snakefile(workdir)),
        "--directory",
        str(workdir),
        "--cores",
        cores,
        *rerun,
        *extra,
    ]


def put_scripts_on_path() -> None:
    """Put this interpreter's script folder first on ``PATH``, so that workflow jobs run this installation's
    ``dynvision`` even when its environment is not activated (e.g. ``.venv/bin/dynvision demo``)."""
    scripts = str(Path(sys.executable).parent)
    current = os.environ.get("PATH", "")
    if current.split(os.pathsep)[0] != scripts:
        os.environ["PATH"] = scripts + os.pathsep + current


#: Seconds Snakemake gets, after a stop signal, to cancel its jobs and release its lock before its processes are killed.
STOP_GRACE_S = 60.0

#: Signals that stop ``dynvision run``/``demo`` (forwarded to Snakemake as a Ctrl-C).
_STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


def _run_snakemake(command: list[str], *, workdir: Path, name: str = "run") -> int:
    """Run Snakemake in its own process group and wait for it. A stop signal (SIGINT, SIGTERM, SIGHUP) reaches the
    whole group as SIGINT, as Ctrl-C in a terminal does: Snakemake 9 then cancels its jobs (local processes, or
    ``scancel`` on SLURM) and removes its directory lock (on SIGTERM it would wait for the running jobs to finish).
    After :data:`STOP_GRACE_S` seconds, or at a second signal, the group is killed and the lock files it made are
    removed. A stop ends in one line on stderr and exit status 128 + the signal's number."""
    import signal
    import threading

    from .runs import check_lock, record_run

    put_scripts_on_path()
    holder, notes = check_lock(workdir)
    if holder is not None and _takes_lock(command):
        elsewhere = holder.host != socket.gethostname()
        where = f"pid {holder.pid}" + (f" on host {holder.host}" if elsewhere else "")
        raise CommandError(
            f"another Snakemake run ({where}) is working in {workdir} and holds its lock; wait for it to finish, or "
            f"stop it: kill -INT {holder.pid}"
            + (f" (on {holder.host})" if elsewhere else "")
            + f". If it is certainly gone: dynvision run --workdir {shlex.quote(str(workdir))} --unlock"
        )
    for note in notes:
        print(f"dynvision {name}: note: {note}", file=sys.stderr)
    started = time.time()
    if threading.current_thread() is not threading.main_thread():  # signal handlers need the main thread
        return _report_failed_jobs(subprocess.call(command), workdir, started, name)
    locks = workdir / ".snakemake" / "locks"
    locks_before = {path.name for path in locks.glob("*.lock")}
    received: list[int] = []
    process: subprocess.Popen | None = None
    recording = contextlib.ExitStack()

    def signal_group(signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signum)

    def stop(signum: int, frame: object) -> None:
        received.append(signum)
        if process is not None:
            signal_group(signal.SIGINT if len(received) == 1 else signal.SIGKILL)

    def ignore(signum: int, frame: object) -> None:
        pass

    previous = {}
    for signum in (getattr(signal, name) for name in _STOP_SIGNALS if hasattr(signal, name)):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, stop)
        elif signum == signal.SIGINT:
            # Started in the background (`dynvision run &` in a script), this process ignores SIGINT and so would
            # Snakemake; a handler (reset by exec) lets Snakemake take the forwarded SIGINT. Ignored stays ignored
            # here, as do SIGTERM and SIGHUP when ignored (`nohup dynvision run &`).
            previous[signum] = signal.signal(signum, ignore)
    forced = False
    try:
        process = subprocess.Popen(command, process_group=0)
        recording.enter_context(record_run(workdir, process.pid))
        if received:  # a signal came while it started
            signal_group(signal.SIGINT)
        deadline = None
        while True:
            try:
                code = process.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                pass
            if received and deadline is None:
                deadline = time.monotonic() + STOP_GRACE_S
            if (deadline is not None and time.monotonic() > deadline) or len(received) > 1:
                forced = True
                signal_group(signal.SIGKILL)
        if received:
            signal_group(signal.SIGKILL)  # whatever of its group outlived it
    finally:
        recording.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if not received:
        return _report_failed_jobs(code, workdir, started, name)
    left = sorted({path.name for path in locks.glob("*.lock")} - locks_before)
    for lock in left:
        (locks / lock).unlink(missing_ok=True)
    signame = signal.Signals(received[0]).name
    if forced:
        print(
            f"dynvision {name}: stopped by {signame}; Snakemake did not stop within {STOP_GRACE_S:.0f} s (or a second "
            "signal came), so its processes were killed and its lock removed; jobs it had submitted to a cluster may "
            "still run (check squeue)",
            file=sys.stderr,
        )
    else:
        released = "released the lock" if not left else "its lock was removed"
        print(f"dynvision {name}: stopped by {signame}; Snakemake cancelled its jobs and {released}", file=sys.stderr)
    return 128 + received[0]


#: Snakemake options with which it does not lock the working directory (it only reads it).
_LOCK_FREE_OPTIONS = frozenset(
    {
        "-n",
        "--dry-run",
        "--dryrun",
        "--nolock",
        "--lint",
        "-l",
        "--list",
        "--list-rules",
        "--summary",
        "-S",
        "--detailed-summary",
        "-D",
        "--dag",
        "--rulegraph",
        "--filegraph",
        "--list-target-rules",
        "--lt",
    }
)


def _takes_lock(command: Sequence[str]) -> bool:
    """Whether Snakemake run with ``command`` locks its working directory (a dry run, for one, does not)."""
    short_flags = (word[1:] for word in command if word.startswith("-") and not word.startswith("--"))
    return not (_LOCK_FREE_OPTIONS & set(command) or any("n" in flags for flags in short_flags))


def _report_failed_jobs(code: int, workdir: Path, started: float, name: str) -> int:
    """After a failed run, print each failed job's error line (or, for an unexpected error, its last line) with its
    log; return ``code``."""
    from .runs import failed_jobs

    if code == 0:
        return code
    for failure in failed_jobs(workdir, started):
        log = failure.log.relative_to(workdir) if failure.log.is_relative_to(workdir) else failure.log
        if failure.error is not None:
            print(f"dynvision {name}: a job failed: {failure.error} (log: {log})", file=sys.stderr)
        else:
            print(
                f"dynvision {name}: a job failed with an unexpected error (a bug: please report it with its log "
                f"{log}): {failure.last_line}",
                file=sys.stderr,
            )
    return code


#: Snakemake options whose values are config files.
_CONFIGFILE_OPTIONS = ("--configfile", "--configfiles")


def check_run_arguments(extra: Sequence[str]) -> list[str]:
    """Fail early, before Snakemake starts, on config files that are not YAML mappings and on requested paths
    whose model identity or test spec is malformed (naming the bad part and the expected form); return the words
    with every requested path in its canonical spelling (a note on stderr for each one rewritten)."""
    from .config import load_yaml, requested_problems
    from .targets import canonical_target

    configfiles: list[str] = []
    words: list[str] = []
    taking = False
    for word in extra:
        if word.startswith("-"):
            name, sep, value = word.partition("=")
            taking = name in _CONFIGFILE_OPTIONS and not sep
            if name in _CONFIGFILE_OPTIONS and sep:
                configfiles.append(value)
            words.append(word)
            continue
        if taking:
            configfiles.append(word)
            words.append(word)
            continue
        try:
            canonical = canonical_target(word)
        except ArgsError as error:
            raise CommandError(str(error)) from None
        if canonical != word:
            print(f"dynvision run: note: {word} is written {canonical} (canonical spelling)", file=sys.stderr)
        problems = requested_problems(canonical)
        if problems:
            raise CommandError("\n".join(problems))
        words.append(canonical)
    for path in configfiles:
        load_yaml(path)
    return words


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


def rewrite_config_overrides(extra: Sequence[str]) -> list[str]:
    """``--config`` entries typed as YAML, with dotted keys (``train.epochs=5``) folded into their section, written
    back as Snakemake reads them (one ``key=<JSON>`` entry per top-level key; the workflow types the values inside
    mappings again, see :func:`~dynvision_workflow.config.retype_overrides`)."""
    import json

    words, index = list(extra), 0
    while index < len(words):
        if words[index] != "--config":
            index += 1
            continue
        end = index + 1  # like Snakemake's --config, every word up to the next option (one without = is refused)
        while end < len(words) and not words[end].startswith("-"):
            end += 1
        overrides = _parse_overrides(words[index + 1 : end], "run")
        entries = [f"{key}=" if value is None else f"{key}={json.dumps(value)}" for key, value in overrides.items()]
        words[index + 1 : end] = entries
        index += 1 + len(entries)
    return words


def _parse_overrides(entries: Sequence[str], command: str) -> dict:
    """``--config`` entries as a mapping (:func:`~dynvision_workflow.config.parse_overrides`), with keys that
    swallowed their value (``{rctype:full}``) repaired and a note for each (:func:`~.legacy.repair_typos`)."""
    from .legacy import repair_typos

    overrides, notes = repair_typos(parse_overrides(entries))
    for note in notes:
        print(f"dynvision {command}: note: {note}", file=sys.stderr)
    return overrides


def map_cluster_arguments(extra: Sequence[str], command: str) -> list[str]:
    """Snakemake 7's ``--cluster CMD`` (and ``--cluster-status``, ``--cluster-cancel``...) as options of the
    cluster-generic executor, with a note for each; options without an equivalent (``--cluster-config``) stop with
    the command to run instead (:func:`~.legacy.map_cluster_options`)."""
    from .legacy import ClusterOptionError, map_cluster_options

    try:
        words, notes = map_cluster_options(extra, command)
    except ClusterOptionError as error:
        raise CommandError(str(error)) from None
    for note in notes:
        print(f"dynvision run: note: {note}", file=sys.stderr)
    return words


#: ``--jobs`` that ``dynvision run`` passes for a remote executor when neither the command line nor a profile sets it.
REMOTE_JOBS = 100

#: Executors that run jobs on this machine (``--cores`` limits them; no ``--jobs`` needed).
_LOCAL_EXECUTORS = ("local", "dryrun", "touch")


def default_remote_jobs(snakemake_args: Sequence[str], extra: Sequence[str]) -> list[str]:
    """``extra`` with ``--jobs`` :data:`REMOTE_JOBS` added when Snakemake (given ``snakemake_args``, its options
    after ``python -m snakemake``) would use a remote executor (``--executor slurm``, from the command line or a
    profile) without a ``--jobs``/``-j`` (Snakemake stops then: ``--cores`` does not count for remote execution)."""
    words = list(extra)
    may_be_remote = os.environ.get("SNAKEMAKE_PROFILE") or any(
        word.split("=", 1)[0] in ("--executor", "-e", "--profile", "--workflow-profile") or word.startswith("-e")
        for word in snakemake_args
    )
    if not may_be_remote or any(word.split("=", 1)[0] in ("--jobs", "-j") or word.startswith("-j") for word in words):
        return words
    import io

    from snakemake.cli import parse_args

    try:  # Snakemake's own parser reads the profiles; errors are left to Snakemake to report
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            _, parsed = parse_args(list(snakemake_args))
    except (Exception, SystemExit):
        return words
    if parsed.executor in (None, *_LOCAL_EXECUTORS) or parsed.jobs is not None:
        return words
    print(
        f"dynvision run: note: the {parsed.executor} executor submits at most {REMOTE_JOBS} jobs at a time "
        f"(--jobs {REMOTE_JOBS}; give --jobs N, or jobs: N in a profile, to change it)",
        file=sys.stderr,
    )
    return [*words, "--jobs", str(REMOTE_JOBS)]


def cmd_run(args: argparse.Namespace, extra: list[str]) -> int:
    """Run the Snakemake workflow: targets and any Snakemake option pass through. In a working directory made by
    ``dynvision init-workdir`` its own Snakefile and config/config.yaml are used."""
    from .config import load_yaml
    from .workdir import workdir_config

    given = ["--workdir", args.workdir] if args.workdir else []
    given += ["--cores", args.cores] if args.cores != "all" else []
    extra = map_cluster_arguments(extra, shlex.join(["dynvision", "run", *given]))
    extra = rewrite_config_overrides(extra)
    extra = check_run_arguments(extra)
    extra = resolve_profiles(extra)
    workdir = _make_workdir(paths.workdir(args.workdir), "run")
    if workdir_config(workdir) is not None:
        load_yaml(workdir_config(workdir))  # a YAML error stops here, naming the file, not in Snakemake's parser
    extra = default_remote_jobs(_snakemake_command(workdir, args.cores, extra)[3:], extra)
    return _run_snakemake(_snakemake_command(workdir, args.cores, extra), workdir=workdir)


def _make_workdir(workdir: Path, command: str) -> Path:
    """``workdir``, made if missing; a path that is a file or cannot be made stops with what to do."""
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise CommandError(
            f"the working directory {str(workdir)!r} is a file, not a folder; give a folder: dynvision {command} "
            "--workdir DIR"
        ) from None
    except OSError as error:
        raise CommandError(
            f"cannot make the working directory {str(workdir)!r} ({error.strerror}); give a folder you can write to: "
            f"dynvision {command} --workdir DIR"
        ) from None
    return workdir


def cmd_demo(args: argparse.Namespace, extra: list[str]) -> int:
    """Run the demo workflow on the embedded MNIST subset and print where its figures and tables are. Its directory
    is a working directory (``dynvision init-workdir``) whose config/config.yaml is the packaged demo config, so
    ``dynvision run`` and ``dynvision config show`` there use the demo's configuration."""
    workdir = paths.workdir(args.workdir or DEMO_WORKDIR)
    demo_text = (paths.config_dir() / "config_demo.yaml").read_text(encoding="utf-8")
    config_file = _init_workdir(workdir, config_text=demo_text)[-1].path
    if config_file.read_text(encoding="utf-8") != demo_text:
        print(f"dynvision demo: note: {config_file} is not the demo's configuration; running it as it is.")
    config = resolve_config(files=[config_file])
    print(f"DynVision demo: training and testing {', '.join(config['model_name'])} on {config['data_name']} in {workdir}")
    print("(first run about 5 minutes on 2 CPU cores; a second run finds everything up to date)\n", flush=True)
    snakemake_args = ["--quiet", "host", "reason", "--show-failed-logs"]
    if args.dry_run:
        snakemake_args.append("--dry-run")
    # Snakemake options pass through as in `dynvision run` (`--config train.precision=bf16-mixed`); the target comes
    # first, where no option taking several words (--config) can swallow it.
    extra = check_run_arguments(rewrite_config_overrides(extra))
    code = _run_snakemake(_snakemake_command(workdir, args.cores, [*snakemake_args, "all", *extra]), workdir=workdir, name="demo")
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


def _init_workdir(directory: Path, config_text: str | None = None) -> list:
    """Set up a working directory (:func:`~.workdir.init_workdir`); its files, the config file last."""
    from .workdir import WorkdirError, init_workdir

    try:
        return init_workdir(directory, config_text=config_text)
    except WorkdirError as error:
        raise CommandError(str(error)) from None


def cmd_init_workdir(args: argparse.Namespace, extra: list[str]) -> int:
    """Set up a working directory for plain ``snakemake`` (and ``dynvision run``): workflow/Snakefile, config."""
    directory = Path(args.directory).expanduser()
    files = _init_workdir(directory)
    for file in files:
        print(f"{file.action:8} {file.path}")
    print(
        f"\nEdit {files[-1].path} (`dynvision config show` there prints every key), then run in {directory}:\n"
        "  snakemake -c4 -n                       # what would run\n"
        "  snakemake -c4                          # or: dynvision run"
    )
    return 0


def cmd_config_show(args: argparse.Namespace, extra: list[str]) -> int:
    """Print the resolved configuration (packaged layers, config files, overrides, schema defaults); in a working
    directory (the current one or ``--workdir``) its config/config.yaml is the layer below ``--configfile`` files."""
    from .workdir import workdir_config

    own = workdir_config(paths.workdir(args.workdir))
    files = ([own] if own is not None else []) + (args.configfile or [])
    config = resolve_config(_parse_overrides(args.config or [], "config show"), files=files)
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
    from .options import DataSettings
    from .runtime.data import prepare_data

    settings = DataSettings.from_namespace(args)
    prepare_data(args.data_name, root=args.root, ready=args.ready, **asdict(settings))
    return 0


def cmd_build_betons(args: argparse.Namespace, extra: list[str]) -> int:
    from .options import BetonSettings
    from .runtime.data import build_betons

    settings = BetonSettings.from_namespace(args)
    build_betons(args.source, train=args.train, val=args.val, meta=args.meta, **asdict(settings))
    return 0


def cmd_link_group(args: argparse.Namespace, extra: list[str]) -> int:
    from dynvision_data.datasets.groups import materialize_group

    from .options import GroupSettings

    settings = GroupSettings.from_namespace(args)
    key = f"datasets.{args.data_name}.groups"
    if args.group != "all" and args.group not in settings.groups:
        raise CommandError(
            f"{key} has no group {args.group!r}; defined: {', '.join(sorted(settings.groups)) or '(none)'} and "
            f"'all'. Add it, e.g. {key}: {{{args.group!r}: [<class folder>, ...]}}."
        )
    if args.output.name != f"{args.split}_{args.group}":
        raise CommandError(f"--output must be a folder named {args.split}_{args.group}, got {str(args.output)!r}.")
    try:
        folder = materialize_group(
            args.source, args.split, args.group, settings.groups.get(args.group), root=args.output.parent
        )
    except (ValueError, FileExistsError, FileNotFoundError) as error:
        raise CommandError(f"{key}.{args.group}: {error}") from None
    print(f"class group {args.group!r} of {args.split}: {folder}")
    return 0


def _model_args(text: str | None) -> dict:
    try:
        return parse_args(text or "")
    except ArgsError as error:
        raise CommandError(str(error)) from None


def cmd_init(args: argparse.Namespace, extra: list[str]) -> int:
    from .config import model_catalogue, model_problems
    from .runtime.init import init_model

    model_args = _model_args(args.model_args)
    # Before the dataset is read: an unknown model or argument is named with what is allowed.
    where = "--model-args" if args.model_name in model_catalogue() else "--model-name"
    problems = model_problems(args.model_name, model_args, where, ": ")
    if problems:
        raise CommandError("; ".join(problems))
    init_model(
        args.model_name,
        model_args,
        seed=args.seed,
        dataset=args.dataset,
        output=args.output,
        image_resolution=args.image_resolution,
        **_pretrained_options(args),
    )
    return 0


def _pretrained_options(args: argparse.Namespace) -> dict:
    """``init_model``'s pretrained options (InitSettings) with the source of each value."""
    from .options import InitSettings

    settings = InitSettings.from_namespace(args)
    return {
        "pretrained": settings.pretrained,
        "pretrained_sha256": settings.pretrained_sha256,
        "sources": settings.sources(_given_options(sys.argv)),
    }


def cmd_export_state(args: argparse.Namespace, extra: list[str]) -> int:
    from .runtime.checkpoints import export_state

    export_state(
        trained=args.trained,
        checkpoints=args.checkpoints,
        status=args.status,
        output=args.output,
        **_checked_identity(args),
    )
    return 0


def _checked_identity(args: argparse.Namespace) -> dict:
    """The identity a given state must have (``--model-name``, ``--model-args``, ``--seed``; see
    :func:`_add_model_identity`): with a model name and no arguments, the path has none (checked as empty)."""
    model_args = args.model_args
    if model_args is None and args.model_name is not None:
        model_args = ""
    return {"model_name": args.model_name, "model_args": model_args, "seed": args.seed}


def cmd_train(args: argparse.Namespace, extra: list[str]) -> int:
    from .options import TrainSettings, split_identity
    from .runtime.train import train_model

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
        data_name=args.data_name,
        identity=split_identity(_model_args(args.model_args))[1],
        model_name=args.model_name,
        model_args=args.model_args,
    )
    return 0


def cmd_test(args: argparse.Namespace, extra: list[str]) -> int:
    from .options import TestSettings
    from .runtime.test import test_model

    if args.spec_index is not None:
        from .specs import record_specs

        if not args.identifier:
            raise CommandError("--spec-index needs --identifier (the test's hashed folder name).")
        record_specs(args.spec_index, {args.identifier: args.spec or args.paradigm})
    test_model(
        args.state,
        dataset=args.dataset,
        outputs=args.outputs,
        responses=args.responses,
        settings=TestSettings.from_namespace(args),
        given=_given_options(sys.argv),
        data_name=args.data_name,
        **_checked_identity(args),
    )
    return 0


def cmd_test_experiment(args: argparse.Namespace, extra: list[str]) -> int:
    from dataclasses import replace

    from .options import TestSettings
    from .paths import TEST_OUTPUTS, TEST_RESPONSES, TEST_RESPONSES_TABLE
    from .runtime.tables import OUTPUT_COLUMNS, RESPONSE_COLUMNS, write_aggregates
    from .runtime.test import TestCondition, test_conditions
    from .specs import is_hashed, record_specs

    try:
        tests = json.loads(args.tests)
        # Each test's folder is in the experiment's, beside its tables (paths.TEST_DIR).
        folders = [args.outputs_table.parent / test["identifier"] for test in tests]
        specs = {folder.name: test["spec"] for folder, test in zip(folders, tests, strict=True)}
    except (json.JSONDecodeError, TypeError, KeyError) as error:
        raise CommandError(
            f"--tests must be a JSON list of {{identifier, spec, paradigm, overrides}} objects, one per test "
            f"({type(error).__name__}: {error})."
        ) from None
    hashed = {name: spec for name, spec in specs.items() if is_hashed(name)}
    if hashed:
        if args.spec_index is None:
            raise CommandError("hashed test folders need --spec-index (the index that records their specs).")
        record_specs(args.spec_index, hashed)
    settings = TestSettings.from_namespace(args)
    given = _given_options(sys.argv)
    names = [Path(pattern).name for pattern in (TEST_OUTPUTS, TEST_RESPONSES, TEST_RESPONSES_TABLE)]
    conditions = [
        TestCondition(
            replace(settings, paradigm=test["paradigm"], model_overrides=test.get("overrides") or {}),
            *(folder / name for name in names),
            given=frozenset(given | {"paradigm"} | ({"model_overrides"} if test.get("overrides") else set())),
        )
        for folder, test in zip(folders, tests, strict=True)
    ]
    summaries = test_conditions(
        args.state, dataset=args.dataset, conditions=conditions, data_name=args.data_name, reuse=True,
        **_checked_identity(args),
    )
    # The tables this pass wrote are whole; those of conditions kept from an earlier pass are checked again.
    written = [c for c, summary in zip(conditions, summaries, strict=True) if summary is not None]
    write_aggregates(
        [
            ([c.outputs for c in conditions], args.outputs_table, OUTPUT_COLUMNS),
            ([c.table for c in conditions], args.responses_table, RESPONSE_COLUMNS),
        ],
        spec_index=args.spec_index,
        checked=[path for c in written for path in (c.outputs, c.table)],
    )
    return 0


def cmd_process_test(args: argparse.Namespace, extra: list[str]) -> int:
    from .runtime.tables import write_responses_table

    write_responses_table(args.responses, args.output)
    return 0


def cmd_aggregate(args: argparse.Namespace, extra: list[str]) -> int:
    from .runtime.tables import OUTPUT_COLUMNS, RESPONSE_COLUMNS, write_aggregates

    # One test's table in memory at a time; a damaged one leaves neither table new.
    write_aggregates(
        [(args.outputs, args.outputs_table, OUTPUT_COLUMNS), (args.responses, args.responses_table, RESPONSE_COLUMNS)],
        spec_index=args.spec_index,
    )
    return 0


def _given_options(argv: Sequence[str]) -> set[str]:
    """Option names present on the command line (their values are recorded as given, not defaults)."""
    return {word[2:].split("=", 1)[0].replace("-", "_") for word in argv if word.startswith("--")}


# Parser ------------------------------------------------------------------------------------------------------------


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (also used by the runtime commands' parsers)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive integer.")
    return value


def cores(text: str) -> str:
    """argparse type: Snakemake's ``--cores``, ``all`` or an integer >= 1 (kept as text)."""
    if text != "all" and not (text.isdigit() and int(text) >= 1):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of cores: give an integer >= 1, or all.")
    return text


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

    def add(
        name: str, handler, help: str, passthrough: bool = False, outputs: Sequence[str] = ()
    ) -> argparse.ArgumentParser:
        """A subcommand; ``outputs`` names the options (dests) that are files it writes (atomically): what an
        interrupted earlier attempt left beside them is removed before it runs."""
        command = sub.add_parser(name, help=help, description=help)
        command.set_defaults(handler=handler, passthrough=passthrough, writes=tuple(outputs))
        return command

    run = add("run", cmd_run, "Run the workflow: targets (default: all) and Snakemake options pass through.", True)
    run.add_argument(
        "--workdir",
        help="where outputs go (default: $DYNVISION_WORKDIR or the current directory); in a working directory made "
        "by init-workdir its workflow/Snakefile and config/config.yaml are used",
    )
    run.add_argument(
        "--cores",
        default="all",
        type=cores,
        help="CPU cores Snakemake may use on this machine (default: all; remote executors count --jobs instead)",
    )
    run.epilog = (
        f"With a remote executor (--executor slurm or cluster-generic, given here or in a profile) and no --jobs/-j "
        f"(here or as jobs: in the profile), --jobs {REMOTE_JOBS} is passed: at most {REMOTE_JOBS} jobs are submitted "
        f"at a time. Ctrl-C or SIGTERM stops Snakemake: it cancels its jobs (scancel on SLURM) and releases its "
        f"lock; after {STOP_GRACE_S:.0f} s, or at a second signal, its processes are killed."
    )

    init_workdir = add(
        "init-workdir",
        cmd_init_workdir,
        "Set up a working directory for plain `snakemake`: workflow/Snakefile (the packaged workflow as a module) "
        "and config/config.yaml. Existing files are kept.",
    )
    init_workdir.add_argument("directory", help="a new or empty directory (or a working directory: adds what is missing)")

    demo = add("demo", cmd_demo, "Run the demo (embedded MNIST subset, no network) and print where its figures are.", True)
    demo.add_argument("--workdir", help=f"where outputs go, set up as a working directory (default: ./{DEMO_WORKDIR})")
    demo.add_argument("--cores", default="2", type=cores, help="CPU cores (default: 2)")
    demo.add_argument("--dry-run", "-n", action="store_true", help="only show what would run")

    config = add("config", cmd_config_show, "Show the resolved configuration.")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    show = config_sub.add_parser("show", help="print the resolved configuration as YAML")
    show.add_argument("--configfile", action="append", help="a YAML config file (repeatable)")
    show.add_argument("--config", nargs="*", help="key=value overrides, as for `dynvision run --config`")
    show.add_argument(
        "--workdir",
        help="a working directory whose config/config.yaml to include (default: $DYNVISION_WORKDIR or the current "
        "directory, when it is one)",
    )

    models = add("models", cmd_models, "List registered models with their parameters.")
    models.add_argument("pattern", nargs="?", help="glob pattern, e.g. 'DyRCNN*'")
    add("paradigms", cmd_paradigms, "List registered stimulus paradigms.")

    from .options import (
        BetonSettings,
        DataSettings,
        GroupSettings,
        TestSettings,
        TrainSettings,
        add_settings_arguments,
    )

    prepare = add(
        "prepare-data",
        cmd_prepare_data,
        "Materialise a dataset as class folders <root>/<name>/<split>/.",
        outputs=["ready"],
    )
    prepare.add_argument("data_name")
    prepare.add_argument("--root", type=Path, required=True)
    prepare.add_argument("--ready", type=Path, help="marker file written when the dataset is complete")
    add_settings_arguments(prepare, DataSettings)

    link = add("link-group", cmd_link_group, "Make a class group of a split: a folder of symlinks to its classes.")
    link.add_argument("data_name", help="the dataset's name in the configuration (for messages)")
    link.add_argument("--source", type=Path, required=True, help="the dataset's folder with its split folders")
    link.add_argument("--output", type=Path, required=True, help="the group folder to make: .../{split}_{group}")
    link.add_argument("--split", required=True, help="train or test")
    link.add_argument("--group", required=True, help="a group name of --groups, or all")
    add_settings_arguments(link, GroupSettings)

    betons = add(
        "build-betons",
        cmd_build_betons,
        "Write train/val FFCV .beton files from training class folders.",
        outputs=["meta"],
    )
    betons.add_argument("source", type=Path)
    betons.add_argument("--train", type=Path, required=True)
    betons.add_argument("--val", type=Path, required=True)
    betons.add_argument("--meta", type=Path, required=True)
    add_settings_arguments(betons, BetonSettings)

    init = add(
        "init",
        cmd_init,
        "Create a model from its identity, sized for a dataset, and save its initial state.",
        outputs=["output"],
    )
    _add_model_identity(init)
    init.add_argument("--dataset", type=Path, required=True, help="training class folders (for shape and classes)")
    init.add_argument("--output", type=Path, required=True)
    init.add_argument(
        "--image-resolution",
        type=image_resolution,
        help="input shape and statistics of the images resized: " + RESOLUTION_HELP,
    )
    from .options import InitSettings

    add_settings_arguments(init, InitSettings)

    export = add(
        "export-state",
        cmd_export_state,
        "Write a training checkpoint (best, epoch=N) as a model state.",
        outputs=["output"],
    )
    export.add_argument("--trained", type=Path, required=True, help="the trained state (model name, kwargs, data)")
    export.add_argument("--checkpoints", type=Path, required=True, help="folder of the training run's checkpoints")
    export.add_argument("--status", required=True, help="best (lowest val/loss) or epoch=N (0-based)")
    export.add_argument("--output", type=Path, required=True)
    _add_model_identity(export, checked=True)

    train = add(
        "train",
        cmd_train,
        "Train a model from its initial state with Lightning (resumes when interrupted).",
        outputs=["output"],
    )
    _add_model_identity(train)
    train.add_argument("--init", type=Path, required=True)
    train.add_argument("--output", type=Path, required=True)
    train.add_argument("--dataset", type=Path, required=True, help="training class folders")
    train.add_argument("--betons", type=Path, help="folder with train.beton, val.beton and meta.json")
    train.add_argument("--checkpoints", type=Path, required=True, help="folder for Lightning checkpoints")
    train.add_argument("--data-name", help=DATA_NAME_HELP)
    add_settings_arguments(train, TrainSettings)

    test = add(
        "test",
        cmd_test,
        "Test a model state under a paradigm: outputs table and per-area responses.",
        outputs=["outputs", "responses"],
    )
    test.add_argument("state", type=Path)
    test.add_argument("--dataset", type=Path, required=True, help="test class folders")
    test.add_argument("--outputs", type=Path, required=True)
    test.add_argument("--responses", type=Path, required=True)
    test.add_argument("--data-name", help=DATA_NAME_HELP)
    _add_model_identity(test, checked=True)
    add_settings_arguments(test, TestSettings)
    test.add_argument("--identifier", help="the test's hashed folder name, recorded in --spec-index")
    test.add_argument(
        "--spec",
        help="the test's full spec recorded for --identifier when it has swept model overrides "
        "(paradigm@overrides); default: --paradigm",
    )
    test.add_argument("--spec-index", type=Path, help="JSON index of hashed test folder names (merged, locked)")

    experiment = add(
        "test-experiment",
        cmd_test_experiment,
        "Test a model state under every condition of an experiment in one pass over the images: each test's "
        "files as `dynvision test` and `process-test` write them (kept where already made with the same "
        "parameters), then the experiment's two tables as `dynvision aggregate` writes them.",
        outputs=["outputs_table", "responses_table"],
    )
    experiment.add_argument("state", type=Path)
    experiment.add_argument("--dataset", type=Path, required=True, help="test class folders")
    experiment.add_argument(
        "--tests",
        required=True,
        help="JSON list, one object per test: identifier (its folder's name, in the folder of --outputs-table), "
        "spec (the full spec that name stands for), paradigm (the paradigm spec) and overrides (model arguments "
        "changed for it)",
    )
    experiment.add_argument("--outputs-table", type=Path, required=True)
    experiment.add_argument("--responses-table", type=Path, required=True)
    experiment.add_argument("--spec-index", type=Path, help="JSON index of hashed test folder names (merged, locked)")
    experiment.add_argument("--data-name", help=DATA_NAME_HELP)
    _add_model_identity(experiment, checked=True)
    add_settings_arguments(experiment, TestSettings)

    process = add(
        "process-test",
        cmd_process_test,
        "Turn a test's responses file into a tidy table.",
        outputs=["output"],
    )
    process.add_argument("responses", type=Path)
    process.add_argument("--output", type=Path, required=True)

    aggregate = add(
        "aggregate",
        cmd_aggregate,
        "Join one experiment's test tables, adding paradigm parameters.",
        outputs=["outputs_table", "responses_table"],
    )
    aggregate.add_argument("--outputs", type=Path, nargs="+", required=True)
    aggregate.add_argument("--responses", type=Path, nargs="+", required=True)
    aggregate.add_argument("--outputs-table", type=Path, required=True)
    aggregate.add_argument("--responses-table", type=Path, required=True)
    aggregate.add_argument("--spec-index", type=Path, help="JSON index of hashed test folder names -> specs")
    return parser


def _add_model_identity(parser: argparse.ArgumentParser, *, checked: bool = False) -> None:
    """``--model-name``, ``--model-args``, ``--seed``: the identity a model is made with (init, train) or, with
    ``checked``, the identity a given state must have (test, export-state: each part checked when given)."""
    what = "the model the state must be (as in its path; checked when given): " if checked else ""
    parser.add_argument(
        "--model-name", required=not checked, help=what + "registered model name (see `dynvision models`)"
    )
    parser.add_argument(
        "--model-args", default=None if checked else "", help=what + "':key=value+key=value' as in the model's path"
    )
    parser.add_argument("--seed", default=None if checked else "0001", help=what + "seed (digits)")


#: Set (to 1) to print the traceback of an error too, for a bug report; ``dynvision run --verbose`` sets it for jobs.
VERBOSE_ENV = "DYNVISION_VERBOSE"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not args.passthrough:
        parser.error(f"unrecognised arguments: {' '.join(extra)}")
    outputs = [Path(path) for dest in args.writes for path in _as_list(getattr(args, dest, None))]
    try:
        for output in outputs:
            _remove_stale_temporaries(output, args.command)
        return args.handler(args, extra)
    except Exception as error:
        message = _user_message(error, outputs)
        if message is None:
            raise  # a bug: its traceback is what a report needs
        if os.environ.get(VERBOSE_ENV, "") not in ("", "0"):
            import traceback

            traceback.print_exc()
        print(f"dynvision {args.command}: error: {message}", file=sys.stderr)
        return 2


def _as_list(value: object) -> list:
    return [] if value is None else list(value) if isinstance(value, (list, tuple)) else [value]


def _remove_stale_temporaries(output: Path, command: str) -> None:
    """Remove what a killed earlier attempt of this step left beside ``output`` (its hidden temporaries)."""
    from dynvision_data import remove_stale_temporaries

    for path in remove_stale_temporaries(output.parent, output.name):
        print(
            f"dynvision {command}: note: removed {path}, left by an interrupted earlier attempt",
            file=sys.stderr,
        )


def _user_message(error: BaseException, outputs: Sequence[Path]) -> str | None:
    """The one-line message of an error that describes bad input or a fault outside the program (a full disk), or
    ``None`` for any other error (a bug). An error raised in a data loader's worker process reaches this process
    with the worker's traceback in its message: only the worker's own message is kept."""
    from .runtime.provenance import output_error

    if isinstance(error, _user_errors()):
        message = str(error)
        if "Original Traceback" in message:  # re-raised by torch's DataLoader from a worker process
            last = next((line for line in reversed(message.splitlines()) if line.strip()), message)
            message = last.split(": ", 1)[1] if last.startswith(type(error).__name__ + ": ") else last
        return message
    if isinstance(error, OSError | RuntimeError) or "SafetensorError" in type(error).__name__:
        path = getattr(error, "filename", None) or (outputs[0] if outputs else None)
        failure = output_error(path, error) if path is not None else None
        return None if failure is None else str(failure)
    return None


#: Errors that describe bad input or a fault outside the program (printed in one line, without a traceback), as
#: ``module: class name``, besides :class:`CommandError`, :class:`ConfigError`, :class:`ArgsError` and
#: FileNotFoundError.
_USER_ERRORS = (
    ("dynvision_data.errors", "DataError"),  # CorruptBetonError is one
    ("dynvision_data.datasets.downloads", "DownloadError"),
    ("dynvision_workflow.options", "SettingsError"),
    ("dynvision_workflow.runtime.provenance", "OutputError"),
    ("dynvision_workflow.runtime.states", "StateError"),
    ("dynvision_workflow.runtime.tables", "TableError"),
    ("dynvision_workflow.runtime.train", "TrainingDiverged"),
    ("dynvision_workflow.specs", "SpecError"),
)


def _user_errors() -> tuple[type[BaseException], ...]:
    """The classes of :data:`_USER_ERRORS` whose modules are loaded (an error cannot come from a module that was
    never imported, and importing one, with torch, would cost seconds on every refusal)."""
    loaded = (getattr(sys.modules[module], name) for module, name in _USER_ERRORS if module in sys.modules)
    return (CommandError, ConfigError, ArgsError, FileNotFoundError, *loaded)


if __name__ == "__main__":
    sys.exit(main())
