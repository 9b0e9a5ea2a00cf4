"""Weights step: a tidy table of a model state's connection weights, for ``dynvision-analysis plot-weights``.

    python -m dynvision_workflow.runtime.weights STATE.pt --output weights.csv [--max-rows N] [--bins B]

One row per weight (columns ``connection``, ``area``, ``parameter``, ``value``), as the weights table of
dynvision-analysis expects (``dynvision_analysis.tables.WEIGHTS``). A model with more than ``--max-rows`` weights
gets one row per histogram bin instead (``value`` the bin centre, ``count`` the weights in it, ``--bins`` bins per
parameter), so the table stays small for any model. Only connection weights are listed (tensors of two or more
dimensions: convolution kernels, linear maps); biases and normalisation scales are left out.

The connection type comes from the parameter's name (``areas.V1.ff.weight`` -> feedforward into V1,
``areas.V2.recurrence.conv.weight`` -> recurrence in V2, ``skips.V1_to_V2...`` -> skip into V2,
``feedbacks.V2_to_V1...`` -> feedback into V1, ``classifier.weight`` -> classifier), and the area from the
``areas.<area>`` part or the target of a ``<source>_to_<target>`` connection. The table is written atomically.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .provenance import atomic_path

__all__ = ["CONNECTION_TOKENS", "classify", "main", "weight_rows", "write_weights_table"]

#: Name parts that mark a connection type, checked in this order (the first that a name contains wins).
CONNECTION_TOKENS: tuple[tuple[str, frozenset[str]], ...] = (
    ("feedback", frozenset({"feedbacks", "feedback", "fb"})),
    ("skip", frozenset({"skips", "skip"})),
    ("recurrence", frozenset({"recurrence", "recurrent", "lateral", "rc", "self_connection"})),
    ("classifier", frozenset({"classifier", "readout", "head", "decoder", "fc"})),
    ("feedforward", frozenset({"ff", "feedforward", "conv", "conv1", "conv2", "conv3"})),
)
_TO = re.compile(r"^(?P<source>.+)_to_(?P<target>.+)$")
#: Model areas as the zoo names them (V1, V2, V4, IT, ...): the name part after ``areas`` or ``blocks``.
_AREA_CONTAINERS = frozenset({"areas", "blocks", "layers"})


def classify(name: str) -> tuple[str, str]:
    """``(connection type, area)`` of a parameter from its dotted name; ``other`` for an unrecognised type."""
    parts = name.split(".")
    connection = "other"
    for kind, tokens in CONNECTION_TOKENS:
        if any(part.lower() in tokens for part in parts):
            connection = kind
            break
    area = ""
    for index, part in enumerate(parts):
        match = _TO.match(part)
        if match:
            area = match["target"]
            break
        if part in _AREA_CONTAINERS and index + 1 < len(parts):
            area = parts[index + 1]
            break
    if not area:
        area = "classifier" if connection == "classifier" else parts[0]
    return connection, area


def _connection_weights(state_dict: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    for name, tensor in state_dict.items():
        if getattr(tensor, "ndim", 0) >= 2 and tensor.is_floating_point():
            yield name, tensor.detach().cpu().float().reshape(-1)


def weight_rows(
    state_dict: Mapping[str, Any], *, max_rows: int = 1_000_000, bins: int = 200
) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    """Column names and rows of the weights table of a state dict (one per weight, or per bin; see the module)."""
    weights = list(_connection_weights(state_dict))
    if not weights:
        raise ValueError("the model state has no connection weights (no tensor of two or more dimensions).")
    total = sum(int(tensor.numel()) for _, tensor in weights)
    histogram = total > max_rows

    def rows() -> Iterator[tuple[Any, ...]]:
        import torch

        for name, values in weights:
            connection, area = classify(name)
            if not histogram:
                for value in values.tolist():
                    yield connection, area, name, f"{value:.7g}"
                continue
            low, high = float(values.min()), float(values.max())
            if not high > low:
                yield connection, area, name, f"{low:.7g}", int(values.numel())
                continue
            counts = torch.histc(values, bins=bins, min=low, max=high).to(torch.int64).tolist()
            width = (high - low) / bins
            for index, count in enumerate(counts):
                if count:
                    yield connection, area, name, f"{low + (index + 0.5) * width:.7g}", count

    columns = ["connection", "area", "parameter", "value", *(["count"] if histogram else [])]
    return columns, rows()


def write_weights_table(
    state_path: str | os.PathLike[str], output: str | os.PathLike[str], *, max_rows: int = 1_000_000, bins: int = 200
) -> int:
    """Write the weights table of a model state file atomically; return the number of rows written."""
    from .states import load_state

    state = load_state(state_path)
    columns, rows = weight_rows(state.state_dict, max_rows=max_rows, bins=bins)
    written = 0
    with atomic_path(output) as temporary, Path(temporary).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(row)
            written += 1
    return written


def build_parser() -> argparse.ArgumentParser:
    from ..cli import positive_int

    parser = argparse.ArgumentParser(
        prog="python -m dynvision_workflow.runtime.weights",
        description="Write a tidy table of a model state's connection weights (for dynvision-analysis plot-weights).",
    )
    parser.add_argument("state", type=Path, help="model state file (init.pt, trained.pt)")
    parser.add_argument("--output", "-o", type=Path, required=True, help="weights table (.csv)")
    parser.add_argument(
        "--max-rows", type=positive_int, default=1_000_000, help="one row per weight up to this many (1000000)"
    )
    parser.add_argument("--bins", type=positive_int, default=200, help="histogram bins per parameter beyond it")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; 0 on success, 2 with one line on stderr for a missing or unreadable state."""
    from .states import StateError

    args = build_parser().parse_args(argv)
    try:
        rows = write_weights_table(args.state, args.output, max_rows=args.max_rows, bins=args.bins)
    except (StateError, ValueError) as error:
        print(f"dynvision weights: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {rows} rows to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
