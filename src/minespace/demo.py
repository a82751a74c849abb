"""``minespace demo``: the pipeline on the bundled Kuzbass sample."""

from __future__ import annotations

import dataclasses
import os

from .pipeline import BuildResult, build, kuzbass_config
from .pipeline._config_engine import EngineConfig

__all__ = ["run_demo"]


def run_demo(out_dir: str | os.PathLike = "data/processed", *, tiles: bool = True,
             force: bool = False, engine: EngineConfig | None = None) -> BuildResult:
    """Build the bundled Kuzbass sample into *out_dir* (see :func:`minespace.pipeline.build`);
    *engine* as the ``[engine]`` section of a config (default: pandas)."""
    config = kuzbass_config(out_dir, tiles=tiles)
    if engine is not None:
        config = dataclasses.replace(config, engine=engine)
    return build(config, force=force)
