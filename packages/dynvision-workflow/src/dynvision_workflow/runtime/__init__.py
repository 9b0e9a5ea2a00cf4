"""Typed runtime steps behind the ``dynvision`` commands: data, init, train, test, tables.

Each step is a plain function that the CLI wraps and the Snakemake rules call; everything here can be tested without
Snakemake.
"""

from __future__ import annotations

__all__: list[str] = []
