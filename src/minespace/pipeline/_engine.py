"""Where the build's distributable steps run (``[engine]``), and its one Dask client.

A build opens an :func:`engine_session`; a stage asks :func:`current` for it. With
``kind = "dask"`` the session connects to (or starts) a cluster the first time a stage
asks for its client, and closes it when the build ends: a build whose stages are all up
to date never imports Dask nor starts a cluster. This module imports nothing heavy.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING

from ._config_engine import EngineConfig

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from .config import Config

__all__ = ["EngineSession", "aggregate_deposits", "current", "engine_session"]

log = logging.getLogger(__name__)

#: by-column marking the deposits that have a weight (the counts include the others)
_WEIGHTED = "_minespace_has_weight"


class EngineSession:
    """The engine of one build and, with Dask, its client (opened on first use)."""

    def __init__(self, engine: EngineConfig):
        self.engine = engine
        self._stack = contextlib.ExitStack()
        self._client = None

    @property
    def kind(self) -> str:
        return self.engine.kind

    def client(self):
        """The build's ``distributed.Client`` (connected or started on the first call)."""
        if self._client is None:
            self._client = self._open()
        return self._client

    def kwargs(self) -> dict:
        """Keyword arguments routing a public function to this engine (``engine=``,
        ``scheduler=`` the build's client with Dask; none with pandas)."""
        if self.kind != "dask":
            return {}
        return {"engine": "dask", "scheduler": self.client()}

    def partitioning(self) -> dict:
        """``npartitions=``/``partition_size=`` for an in-memory layer handed to Dask
        (only those set, and only with Dask)."""
        if self.kind != "dask":
            return {}
        return {k: v for k, v in (("npartitions", self.engine.npartitions),
                                  ("partition_size", self.engine.partition_size))
                if v is not None}

    def _open(self):
        from ..scale._client import _import_dask, get_client

        _, _, distributed = _import_dask()
        scheduler = self.engine.scheduler
        if scheduler is None:
            try:   # a client the session already runs (a notebook's)
                client = distributed.get_client()
                log.info("Dask: using the running client (%s); dashboard: %s",
                         client.scheduler.address, client.dashboard_link)
                return client
            except ValueError:
                scheduler = "local"
        if scheduler == "local":
            sizes = {"n_workers": self.engine.workers} if self.engine.workers else {}
            cluster = self._stack.enter_context(distributed.LocalCluster(
                processes=True, dashboard_address=":0", **sizes))
            client = self._stack.enter_context(distributed.Client(cluster,
                                                                  set_as_default=False))
            # the one line the command line prints when a cluster starts (INFO: not with -q)
            n = len(cluster.workers)
            log.info("Dask: started a LocalCluster (%d worker%s); dashboard: %s", n,
                     "s" * (n != 1), client.dashboard_link)
            return client
        try:
            return self._stack.enter_context(get_client(scheduler))
        except OSError as exc:   # refused, unknown host, or no answer in the connect timeout
            from ..errors import ConfigError

            raise ConfigError("engine.scheduler", scheduler, message=(
                f"cannot reach the Dask scheduler at {scheduler} ({exc}); start it "
                "(`dask scheduler`) or check the address and that this machine may connect "
                'to it, or run on this machine with scheduler = "local" (--scheduler local)')
            ) from exc

    def close(self) -> None:
        self._client = None
        self._stack.close()


_SESSION: ContextVar[EngineSession | None] = ContextVar("minespace_engine", default=None)


@contextlib.contextmanager
def engine_session(engine: EngineConfig) -> Iterator[EngineSession]:
    """The engine session of a build (its client, if any, is closed on exit)."""
    session = EngineSession(engine)
    token = _SESSION.set(session)
    try:
        yield session
    finally:
        _SESSION.reset(token)
        session.close()


def current() -> EngineSession:
    """The running build's session (a pandas one outside any build)."""
    session = _SESSION.get()
    return session if session is not None else EngineSession(EngineConfig())


def dask_deposits(config: Config, deposits: gpd.GeoDataFrame):
    """The deposits as the concentration stage hands them to Dask: the ``by`` and weight
    columns, geometry and, with a weight, a marker of the deposits that have one (their
    missing weights set to 0, so that one pass counts every deposit and weighs those)."""
    from ..scale import to_dask

    engine = current().engine
    by, weight = list(config.concentration.by), config.concentration.weight
    frame = deposits[[*by, *([weight] if weight else []), deposits.geometry.name]]
    if weight is not None:
        frame = frame.assign(**{_WEIGHTED: frame[weight].notna().to_numpy(),
                                weight: frame[weight].fillna(0.0)})
    return to_dask(frame, npartitions=engine.npartitions, partition_size=engine.partition_size)


def aggregate_deposits(config: Config, territories: gpd.GeoDataFrame,
                       lazy) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The concentration stage's deposits (:func:`dask_deposits`), assigned and reduced on
    Dask in one pass.

    Returns the reduced tables (:func:`minespace.scale.aggregate`) of the deposits in a
    territory (``count`` per territory and category) and of those with a weight
    (``count``, ``{weight}``, ``{weight}_sumsq``; the same table without a weight), as
    the pandas stage counts every deposit and weighs those with a weight.
    """
    from ..scale import aggregate

    by, weight = list(config.concentration.by), config.concentration.weight
    table = aggregate(territories, lazy, by=[*by, *([_WEIGHTED] if weight else [])],
                      weight=weight, scheduler=current().client())
    if weight is None:
        return table, table
    counts = (table.groupby(["territory_id", *by], sort=False)["count"].sum()
              .reset_index())
    weighted = table[table[_WEIGHTED].astype(bool)].drop(columns=_WEIGHTED)
    return counts, weighted.reset_index(drop=True)


def density_deposits(config: Config, territories: gpd.GeoDataFrame, lazy):
    """The deposits the kernel density counts (in a territory, with a weight if one is
    set), as a lazy Dask frame (assigned on the workers)."""
    from ..territories import assign_deposits

    assigned = assign_deposits(territories, lazy, engine="dask")
    inside = assigned[assigned["territory_id"].notnull()]
    if config.concentration.weight is not None:
        inside = inside[inside[_WEIGHTED]]
    return inside
