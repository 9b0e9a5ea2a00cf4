"""Working directories in the snakemake-workflows deployment layout.

``dynvision init-workdir DIR`` writes two files (patterns in :mod:`.paths`)::

    DIR/workflow/Snakefile    the packaged workflow used as a Snakemake module (`module dynvision: ...`,
                              `use rule * from dynvision`), reading config/config.yaml as plain data
    DIR/config/config.yaml    the directory's configuration: what to run, and every value that differs

Plain ``snakemake`` in DIR finds ``workflow/Snakefile`` itself; ``dynvision run`` and ``dynvision config show`` in
DIR (or with ``--workdir DIR``) use both files. Outputs go below DIR as with the packaged Snakefile.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import paths

__all__ = [
    "OUTPUT_ROOTS",
    "WorkdirError",
    "WorkdirFile",
    "init_workdir",
    "is_workdir",
    "run_configfiles",
    "workdir_config",
    "workdir_snakefile",
]

#: Text a working directory's Snakefile contains (it imports the packaged workflow's location from here).
_MARKER = "dynvision_workflow"

#: Top-level folders the workflow writes into a working directory (and Snakemake's own metadata folder). A folder
#: holding nothing else was used by `dynvision run --workdir` before working directories had files of their own, and
#: may be set up as one.
OUTPUT_ROOTS = frozenset(
    pattern.split("/", 1)[0]
    for pattern in (paths.RAW_DATASET, paths.MODEL_DIR, paths.TEST_DIR, paths.FIGURE, paths.LOG_ROOT,
                    paths.BENCHMARK_ROOT)
) | {".snakemake"}


class WorkdirError(ValueError):
    """A directory that cannot be set up as a working directory (the message says why and what to do)."""


@dataclass(frozen=True)
class WorkdirFile:
    """One file of a working directory and what :func:`init_workdir` did with it (``created`` or ``kept``)."""

    path: Path
    action: str


def is_workdir(directory: str | os.PathLike[str]) -> bool:
    """Whether ``directory`` is a DynVision working directory: its ``workflow/Snakefile`` uses the packaged workflow."""
    snakefile = Path(directory) / paths.WORKDIR_SNAKEFILE
    try:
        return snakefile.is_file() and _MARKER in snakefile.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False


def workdir_snakefile(directory: str | os.PathLike[str]) -> Path:
    """The Snakefile to run in ``directory``: its own in a working directory, else the packaged one."""
    if is_workdir(directory):
        return Path(directory) / paths.WORKDIR_SNAKEFILE
    return paths.snakefile()


def workdir_config(directory: str | os.PathLike[str]) -> Path | None:
    """The configuration file of a working directory, or None (not a working directory, or no such file)."""
    config = Path(directory) / paths.WORKDIR_CONFIG
    return config if is_workdir(directory) and config.is_file() else None


def _template(name: str) -> str:
    return (paths.templates_dir() / "workdir" / name).read_text(encoding="utf-8")


def init_workdir(directory: str | os.PathLike[str], *, config_text: str | None = None) -> list[WorkdirFile]:
    """Set up ``directory`` as a working directory; return its files and whether each was created or kept.

    ``config_text`` is the content of a new ``config/config.yaml`` (default: the commented starting config). A new
    or empty directory, or one holding only workflow outputs (:data:`OUTPUT_ROOTS`), gets both files; in a working
    directory the missing ones are created and existing ones kept as they are (set-up is idempotent and never
    overwrites an edited file). Anything else raises :class:`WorkdirError`.
    """
    root = Path(directory).expanduser()
    if root.exists() and not root.is_dir():
        raise WorkdirError(f"{root} is a file, not a directory; give a new or empty directory to set up.")
    if root.is_dir() and not is_workdir(root):
        try:
            entries = sorted(entry.name for entry in root.iterdir())
        except OSError as error:
            raise WorkdirError(f"cannot read {root}: {error.strerror or error}.") from None
        if entries and not set(entries) <= OUTPUT_ROOTS:
            shown = ", ".join(entries[:8]) + (", ..." if len(entries) > 8 else "")
            raise WorkdirError(
                f"{root} is not empty ({shown}) and is not a DynVision working directory (no "
                f"{paths.WORKDIR_SNAKEFILE} using {_MARKER}); give a new or empty directory, e.g. {root / 'dynvision'}."
            )
    contents = {
        paths.WORKDIR_SNAKEFILE: _template("Snakefile"),
        paths.WORKDIR_CONFIG: _template("config.yaml") if config_text is None else config_text,
    }
    files = []
    try:
        for relative, text in contents.items():
            path = root / relative
            if path.exists():
                files.append(WorkdirFile(path, "kept"))
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            files.append(WorkdirFile(path, "created"))
    except OSError as error:
        raise WorkdirError(f"cannot set up {root} as a working directory: {error.strerror or error}.") from None
    return files


def run_configfiles(workflow: Any) -> list[str]:
    """The config files of a Snakemake run, lowest priority first: files loaded by ``configfile:`` directives (a
    working directory's ``config/config.yaml``, read by the Snakefile that uses this workflow as a module), then
    the ``--configfile`` files of the command line (Snakemake applies those above the directives' files)."""
    given = [str(path) for path in workflow.config_settings.configfiles]
    resolved = {os.path.realpath(path) for path in given}
    loaded = [str(path) for path in workflow.configfiles if os.path.realpath(str(path)) not in resolved]
    return loaded + given
