"""Dask scheduler access and the partition-reduce pattern shared by the Dask engine."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

logger = logging.getLogger("minespace.scale")

INSTALL = 'pip install "minespace[dask]"'
#: Rows per partition when an in-memory layer is handed to Dask (:func:`to_dask`).
PARTITION_ROWS = 500_000
#: Partial tables combined per reduction step.
TREE_WIDTH = 8


def _import_dask():
    """Import the optional Dask stack, or raise ImportError naming the install command."""
    try:
        import dask
        import dask.dataframe
        import dask_geopandas
        import distributed
    except ImportError as exc:
        raise ImportError(
            f'engine="dask" needs the optional packages dask[distributed] and dask-geopandas '
            f"({exc}); install them with: {INSTALL}") from exc
    return dask, dask_geopandas, distributed


# --------------------------------------------------------------------------- scheduler
@contextlib.contextmanager
def get_client(scheduler=None) -> Iterator:
    """A ``distributed.Client`` for *scheduler*, closed on exit if opened here.

    Parameters
    ----------
    scheduler : None, str or distributed.Client
        ``None``: the running default client if there is one, else a new
        ``LocalCluster`` sized to the machine (worker processes, memory split
        between them; closed on exit); an address such as
        ``"tcp://host:8786"``: connect to that scheduler; a ``Client``: use it.

    Yields
    ------
    distributed.Client
        The dashboard link of a cluster started here is logged (INFO) on start.
    """
    _, _, distributed = _import_dask()
    if isinstance(scheduler, distributed.Client):
        yield scheduler
        return
    if isinstance(scheduler, str):
        with distributed.Client(scheduler, set_as_default=False) as client:
            logger.info("connected to Dask scheduler %s; dashboard: %s", scheduler,
                        client.dashboard_link)
            yield client
        return
    if scheduler is not None:
        raise TypeError("scheduler must be None, an address such as 'tcp://host:8786' or a "
                        f"distributed.Client, got {type(scheduler).__name__}")
    try:
        client = distributed.get_client()
    except ValueError:  # no client running
        client = None
    if client is not None:
        yield client
        return
    with distributed.LocalCluster(processes=True, dashboard_address=":0") as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        logger.info("started a Dask LocalCluster (%d workers); dashboard: %s",
                    len(cluster.workers), client.dashboard_link)
        yield client



# --------------------------------------------------------------------------- partitions
def tree_reduce(client, parts: Sequence, combine: Callable[..., Any], *args: Any,
                desc: str, progress: bool | None = None, width: int | None = None) -> Any:
    """Compute one task per partition on *client* and combine the results in a tree.

    The shared pattern of the Dask engine: each partition is reduced on a worker
    to a small partial result, and partial results are combined *width* at a
    time on the cluster (``combine(list_of_partials, *args)``, which must accept
    its own output among its inputs) until one is left; only that one comes back
    to the client. A progress bar counts the partitions done (``progress`` as in
    the rest of minespace: ``None`` follows the caller's scope, e.g. the
    command line's).

    Parameters
    ----------
    client : distributed.Client
    parts : sequence of dask.delayed.Delayed
        One task per partition.
    combine : callable
        ``combine(partials, *args)`` -> partial.
    *args
        Passed to every ``combine`` call.
    desc : str
        Label of the progress bar (e.g. ``"assign deposits"``).
    progress : bool or None
    width : int, optional
        Partials per combine step (default :data:`TREE_WIDTH`).

    Returns
    -------
    The combined result, or ``None`` when *parts* is empty.

    Raises
    ------
    Exception
        The first error raised by a partition's task (e.g. a
        :class:`~minespace.errors.LayerError` naming the file and row), as
        soon as it happens; the other tasks are cancelled.
    """
    from .._progress import bar

    _, _, distributed = _import_dask()
    if not len(parts):
        return None
    width = width or TREE_WIDTH
    futures = client.compute(list(parts))
    layer = list(futures)
    while len(layer) > 1:
        layer = [client.submit(combine, layer[i:i + width], *args, pure=False)
                 for i in range(0, len(layer), width)]
    try:
        with bar(progress, total=len(futures), desc=desc, unit="partition") as done:
            for future in distributed.as_completed(futures, loop=client.loop):
                if future.status == "error":
                    future.result()  # raises the task's own exception
                done.update(1)
        return layer[0].result()
    except BaseException:
        # stop the work still queued; on success the futures are simply released
        pending = {f.key: f for f in (*futures, *layer) if not f.done()}
        if pending:
            client.cancel(list(pending.values()))
        raise


def to_dask(frame, *, npartitions: int | None = None, partition_size: int | None = None):
    """*frame* as a dask-geopandas GeoDataFrame (a Dask frame is returned as it is).

    Parameters
    ----------
    frame : GeoDataFrame or dask_geopandas.GeoDataFrame
    npartitions : int, optional
        Number of partitions of an in-memory *frame*.
    partition_size : int, optional
        Rows per partition instead (default :data:`PARTITION_ROWS`); ignored
        with *npartitions*.

    Returns
    -------
    dask_geopandas.GeoDataFrame
        Row order and index kept (no spatial sort).
    """
    import geopandas as gpd

    _, dask_geopandas, _ = _import_dask()
    if isinstance(frame, dask_geopandas.GeoDataFrame):
        return frame
    if not isinstance(frame, gpd.GeoDataFrame):
        raise TypeError("expected a GeoDataFrame or a dask_geopandas.GeoDataFrame, got "
                        f"{type(frame).__name__}")
    if npartitions is None:
        size = partition_size or PARTITION_ROWS
        if size < 1:
            raise ValueError(f"partition_size must be >= 1, got {size}")
        npartitions = max(1, -(-len(frame) // size))
    if npartitions < 1:
        raise ValueError(f"npartitions must be >= 1, got {npartitions}")
    return dask_geopandas.from_geopandas(frame, npartitions=npartitions, sort=False)
