"""Old spellings with a way forward: Snakemake 7's cluster options, and the typos of upstream DynVision's examples.

:func:`map_cluster_options` rewrites ``--cluster CMD`` (removed in Snakemake 8) and its companions into options of
the cluster-generic executor (snakemake-executor-plugin-cluster-generic) where one exists, and refuses the others
naming the replacement. :func:`repair_typos` reads ``{rctype:full, tsteps=:20}`` (upstream's README: YAML makes
``rctype:full`` one key without a value) as ``{rctype: full, tsteps: 20}``, saying so.
"""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["ClusterOptionError", "map_cluster_options", "repair_typos"]

#: Snakemake 7 option -> the cluster-generic executor's option that replaces it.
_CLUSTER_GENERIC = {
    "--cluster": "--cluster-generic-submit-cmd",
    "--cluster-status": "--cluster-generic-status-cmd",
    "--cluster-cancel": "--cluster-generic-cancel-cmd",
    "--cluster-cancel-nargs": "--cluster-generic-cancel-nargs",
    "--cluster-sidecar": "--cluster-generic-sidecar-cmd",
}
#: Snakemake 7 options without an equivalent -> what to do instead.
_REMOVED = {
    "--cluster-config": (
        "was removed in Snakemake 8 without a replacement: put per-rule resources into a profile "
        "(`set-resources:` in <profile>/config.yaml, as in the packaged profiles/slurm) and read them in the submit "
        "command as {resources.NAME}"
    ),
    "--cluster-sync": (
        "was removed in Snakemake 8; the cluster-generic executor submits without waiting (give a submit command "
        "that prints the job id), and for SLURM --profile slurm uses snakemake-executor-plugin-slurm"
    ),
    "--drmaa": "was removed in Snakemake 8; use --executor drmaa (snakemake-executor-plugin-drmaa) or --profile slurm",
}


class ClusterOptionError(ValueError):
    """A Snakemake 7 cluster option without an equivalent (the message shows the command to run instead)."""


def map_cluster_options(words: Sequence[str], command: str = "dynvision run") -> tuple[list[str], list[str]]:
    """``words`` with Snakemake 7's cluster options replaced by the cluster-generic executor's, and one note per
    replaced option. An option without an equivalent raises :class:`ClusterOptionError` with the replacement
    command (``command`` and the words, mapped, without that option)."""
    result: list[str] = []
    notes: list[str] = []
    removed: list[tuple[str, str]] = []
    executor = None
    index = 0
    while index < len(words):
        word = words[index]
        name, sep, value = word.partition("=")
        if name in ("--executor", "-e"):
            executor = value if sep else (words[index + 1] if index + 1 < len(words) else None)
        if name not in _CLUSTER_GENERIC and name not in _REMOVED:
            result.append(word)
            index += 1
            continue
        takes_value = name != "--drmaa" or bool(sep)
        if not sep and takes_value:
            value = words[index + 1] if index + 1 < len(words) else ""
            index += 1
        index += 1
        if name in _REMOVED:
            removed.append((name, value))
            continue
        replacement = _CLUSTER_GENERIC[name]
        result += [replacement, value]
        notes.append(f"{name} was removed in Snakemake 8; running with {replacement} {shlex.quote(value)}")
    mapped = any(word in _CLUSTER_GENERIC.values() for word in result)
    if mapped and executor is None:
        result = ["--executor", "cluster-generic", *result]
        notes[0] += " and --executor cluster-generic"
        if any(word == "--cluster-generic-submit-cmd" and value.split()[:1] == ["sbatch"]
               for word, value in itertools.pairwise(result)):
            notes[0] += " (on SLURM, --profile slurm uses the SLURM executor with per-rule resources)"
    elif mapped and executor != "cluster-generic":
        raise ClusterOptionError(
            f"--executor {executor} and Snakemake 7 cluster options (--cluster...) do not go together; the cluster "
            f"options belong to --executor cluster-generic. Run: {_command(command, result, executor)}"
        )
    if removed:
        name, value = removed[0]
        instead = [*result, "--profile", "PROFILE"] if name == "--cluster-config" else result
        raise ClusterOptionError(
            f"{name} {shlex.quote(value) if value else ''}".rstrip()
            + f" {_REMOVED[name]}. Run: {_command(command, instead, executor)}"
        )
    return result, notes


def _command(command: str, words: Sequence[str], executor: str | None) -> str:
    words = list(words)
    if executor not in (None, "cluster-generic"):
        index = next(i for i, w in enumerate(words) if w.partition("=")[0] in ("--executor", "-e"))
        del words[index : index + (1 if "=" in words[index] else 2)]
        if "--executor" not in words:
            words = ["--executor", "cluster-generic", *words]
    return shlex.join([*command.split(), *words])


#: A key that swallowed its value: ``rctype:full``, ``tsteps=20``, ``tsteps=:20`` (no space after the colon).
_FUSED = re.compile(r"(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*[:=]+\s*(?P<value>\S.*)")


def repair_typos(value: Any, where: str = "--config") -> tuple[Any, list[str]]:
    """``value`` with each mapping key that swallowed its value (``rctype:full`` with no value, as YAML reads
    ``{rctype:full}``) split into key and value (typed as YAML), and one note per mapping repaired, naming the
    correct spelling. Keys are never valid with ``:`` or ``=`` in them; a key whose repaired name is already set is
    left for validation to report."""
    from .config import parse_yaml_value

    notes: list[str] = []

    def repair(item: Any, path: str) -> Any:
        if isinstance(item, list):
            return [repair(entry, path) for entry in item]
        if not isinstance(item, Mapping):
            return item
        fixed: dict[Any, Any] = {}
        repaired = False
        for key, entry in item.items():
            match = _FUSED.fullmatch(key) if isinstance(key, str) and entry in (None, "") else None
            if match and match["key"] not in item:
                try:
                    fixed[match["key"]] = parse_yaml_value(match["value"])
                    repaired = True
                    continue
                except ValueError:
                    pass
            fixed[key] = repair(entry, f"{path}.{key}" if path else str(key))
        if repaired:
            spelled = ", ".join(f"{key}: {_flow(entry)}" for key, entry in fixed.items())
            notes.append(
                f"{where} {path}: read as {{{spelled}}} (YAML needs a space after ':' between a key and its value: "
                f'{path}="{{{spelled}}}")'
            )
        return fixed

    return repair(value, ""), notes


def _flow(value: Any) -> str:
    import yaml

    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()
