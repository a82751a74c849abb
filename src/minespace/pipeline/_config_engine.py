"""The ``[engine]`` section of the pipeline config (light: imports no Dask).

Parsed by :func:`minespace.pipeline.config.parse_config` with the same rules as every
section: every problem recorded (key, value, allowed values), unknown keys with a
suggestion, defaults in place of bad values so the rest is still checked. Whether the
Dask extra is installed is found from the import system's metadata
(:func:`importlib.util.find_spec`), without importing Dask: a no-op build stays light.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ConfigProblem

if TYPE_CHECKING:
    from .config import _Section

__all__ = ["ENGINES", "EngineConfig", "dask_missing", "engine_problems"]

ENGINES = ("pandas", "dask")
#: The packages ``engine = "dask"`` needs (``pip install "minespace[dask]"``).
_DASK_PACKAGES = ("dask", "distributed", "dask_geopandas")
_INSTALL = 'pip install "minespace[dask]"'


@dataclass(frozen=True)
class EngineConfig:
    """Where the distributable steps of the build run (``[engine]``).

    The engine never changes a result (``docs/scale.md``, *The pipeline on Dask*), so
    it is not part of any stage's fingerprint: switching engines on an up-to-date build
    reruns nothing.

    Attributes
    ----------
    kind : {"pandas", "dask"}
        ``"dask"`` (``pip install "minespace[dask]"``) runs the deposits -> territories
        assignment and aggregates (and each step whose Dask engine exists) on a cluster.
    scheduler : str, optional
        ``"tcp://host:8786"``: a running Dask scheduler; ``"local"``: a new
        ``LocalCluster`` sized to the machine (or to ``workers``); absent: the running
        ``distributed.Client`` of the session if there is one, else a ``LocalCluster``.
    npartitions, partition_size : int, optional
        How the in-memory deposits are split (one or the other; default
        :data:`minespace.scale.PARTITION_ROWS` rows per partition).
    workers : int, optional
        Worker processes of a ``LocalCluster`` started by the build.
    """

    kind: str = "pandas"
    scheduler: str | None = None
    npartitions: int | None = None
    partition_size: int | None = None
    workers: int | None = None


def dask_missing() -> list[str]:
    """The packages of the Dask extra that cannot be imported here (without importing)."""
    missing = []
    for name in _DASK_PACKAGES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):   # sys.modules[name] is None: import blocked
            found = False
        if not found:
            missing.append(name)
    return missing


def engine_problems(engine: EngineConfig) -> list[ConfigProblem]:
    """What is wrong with a valid-looking *engine* on this machine: the Dask extra
    missing (also for an engine set from the command line, after parsing)."""
    if engine.kind != "dask":
        return []
    missing = dask_missing()
    if not missing:
        return []
    return [ConfigProblem("engine.kind", "dask", message=(
        f"the Dask engine needs the optional packages dask[distributed] and dask-geopandas "
        f"(not importable here: {', '.join(missing)}); install them with: {_INSTALL}, "
        'or use kind = "pandas"'))]


def _scheduler(sec: _Section) -> str | None:
    value = sec.get("scheduler", (str,), None)
    if value is None or value == "local" or ("://" in value and value.split("://", 1)[1]):
        return value
    sec.report("scheduler", value, allowed='"local" or an address such as '
               '"tcp://scheduler-host:8786"', message="not a scheduler address")
    return None


def parse_engine(sec: _Section) -> EngineConfig:
    """Read the ``[engine]`` table (problems recorded on *sec*)."""
    kind = sec.get("kind", (str,), None, allowed=ENGINES)
    scheduler = _scheduler(sec)
    sizes = {}
    for name in ("npartitions", "partition_size", "workers"):
        value = sec.get(name, (int,), None)
        if value is not None and value < 1:
            sec.report(name, value, message="must be an integer >= 1")
            value = None
        sizes[name] = value
    sec.finish()
    if sizes["npartitions"] is not None and sizes["partition_size"] is not None:
        sec.report("npartitions", sizes["npartitions"], message="give npartitions or "
                   "partition_size, not both (partition_size is rows per partition)")
    dask_only = [k for k in ("scheduler", "npartitions", "partition_size", "workers")
                 if k in sec.data and isinstance(sec.data, dict)]
    if kind == "pandas" and dask_only:
        sec.report(dask_only[0], sec.data[dask_only[0]], message=(
            'only used by kind = "dask" (here kind = "pandas"); remove it or set '
            'kind = "dask"'))
    if kind is None:   # a scheduler or partitioning alone means Dask
        kind = "dask" if dask_only and "kind" not in sec.data else "pandas"
    if sizes["workers"] is not None and scheduler not in (None, "local"):
        sec.report("workers", sizes["workers"], message=(
            f"sizes a LocalCluster started by the build; the cluster at {scheduler} has "
            "its own workers (remove workers, or set scheduler = \"local\")"))
    out = EngineConfig(kind=kind, scheduler=scheduler, **sizes)
    for problem in engine_problems(out):
        sec.problems.append(problem)
    return out
