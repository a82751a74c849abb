"""``minespace demo``: the pipeline on the bundled Kuzbass sample."""

from __future__ import annotations

import os

from .pipeline import BuildResult, build, kuzbass_config

__all__ = ["run_demo"]


def run_demo(out_dir: str | os.PathLike = "data/processed", *, tiles: bool = True,
             force: bool = False) -> BuildResult:
    """Build the bundled Kuzbass sample into *out_dir* (see :func:`minespace.pipeline.build`)."""
    return build(kuzbass_config(out_dir, tiles=tiles), force=force)
