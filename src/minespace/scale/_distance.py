"""Distances to corridors and agglomerations on Dask (``engine="dask"`` of
:func:`minespace.accessibility.corridor_distances` and
:func:`~minespace.accessibility.agglomeration_distances`).

The origins are split into partitions; the targets (corridor lines by kind, the
agglomerations and their centres) travel to each worker **once** (one scattered key,
or one key of the lazy graph), and their search
structures (segments, KD-tree over sub-segments, STRtree) are built lazily on the
worker, once, under a lock, then shared by every partition it computes. Each
partition runs the code of the pandas engine, with the same choice between grid
pruning and the segment KD-tree (made from the number of origins of the whole call
when it is known), so the distances and ids are those of the pandas engine.

With ``population=``, in-memory polygon origins get their population-weighted points
on the client, from the whole layer, as the pandas engine does (the raster never
travels); Dask origins must then be points (kept as they are), polygons are refused.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections import Counter
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._checks import require_columns
from ..accessibility._common import (
    _check_population,
    check_layers,
    origin_points,
    representative_points,
)
from ..accessibility.distance import (
    _agglomeration_frame,
    _corridor_frame,
    _grid_cells,
    _grid_ok,
    _PointGrid,
    _SegmentIndex,
    _segments,
)
from ..io.raster import Raster
from ._client import _import_dask, get_client, to_dask, tree_reduce

#: Events on this worker process, for tests and diagnostics: ``("load", token)`` each
#: time a copy of the shared targets is unpickled here, ``("build", token, name)`` each
#: time a search structure is built.
EVENTS: Counter = Counter()


class _SharedTargets:
    """Target geometries (named sets) as each worker needs them; search structures
    built lazily, once per worker process."""

    def __init__(self, targets: dict[str, np.ndarray], *, population_given: bool = False,
                 offsets: dict[str, np.ndarray] | None = None, ids: np.ndarray | None = None):
        self.targets = {k: np.asarray(v, dtype=object) for k, v in targets.items()}
        #: position in the caller's layer of each target of a set (corridors by kind)
        self.offsets = offsets or {}
        #: lazy origins came with population=: polygons are refused (see _points)
        self.population_given = population_given
        #: the targets' ids (index values), needed on the workers for lazy results only
        self.ids = ids
        self.token = uuid.uuid4().hex
        self._init_cache()

    def _init_cache(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict = {}

    def __getstate__(self):
        return {k: self.__dict__[k] for k in ("targets", "offsets", "population_given", "ids",
                                                "token")}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._init_cache()
        EVENTS["load", self.token] += 1

    def __dask_tokenize__(self):
        return ("minespace-distance-targets", self.token)

    # ------------------------------------------------------------------ lazy indexes
    def _get(self, key: tuple, build):
        with self._lock:
            if key not in self._cache:
                self._cache[key] = build()
                EVENTS[("build", self.token, *key)] += 1
            return self._cache[key]

    def is_lines(self, name: str) -> bool:
        geoms = self.targets[name]
        return self._get(("lines", name), lambda: bool(len(geoms)) and bool(
            np.isin(shapely.get_type_id(geoms), (1, 5)).all()))

    def segments(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._get(("segments", name), lambda: _segments(self.targets[name]))

    def segment_index(self, name: str) -> _SegmentIndex:
        return self._get(("segment_index", name), lambda: _SegmentIndex(self.targets[name]))

    def tree(self, name: str) -> shapely.STRtree:
        return self._get(("tree", name), lambda: shapely.STRtree(self.targets[name]))

    # ------------------------------------------------------------------ search
    def nearest(self, name: str, points: np.ndarray, xy: np.ndarray, n_decide: int,
                grids: dict) -> tuple[np.ndarray, np.ndarray]:
        """As :func:`minespace.accessibility.distance._nearest` for the target set
        *name*: grid pruning or the segment KD-tree chosen as the pandas engine
        would for *n_decide* origins; *grids* caches the partition's point grid."""
        n = len(points)
        idx = np.full(n, -1, dtype=np.int64)
        dist = np.full(n, np.nan)
        targets = self.targets[name]
        if n == 0 or len(targets) == 0:
            return idx, dist
        if self.is_lines(name):
            a, b, owner = self.segments(name)
            if _grid_ok(n_decide, len(a)):
                if "grid" not in grids:   # one point grid per partition (all kinds)
                    grids["grid"] = _PointGrid(xy, _grid_cells(n, len(a)))
                line, d, _ = grids["grid"].nearest(a, b, owner)
            else:
                line, d, _ = self.segment_index(name).query(xy, on_segments=True)
            return line, d
        (src, tgt), d = self.tree(name).query_nearest(points, all_matches=True,
                                                      return_distance=True)
        order = np.lexsort((tgt, src))          # per source: lowest target first
        src, tgt, d = src[order], tgt[order], d[order]
        first = np.r_[True, src[1:] != src[:-1]]
        idx[src[first]] = tgt[first]
        dist[src[first]] = d[first]
        return idx, dist


# --------------------------------------------------------------------------- partitions
def _points(part: gpd.GeoDataFrame, shared: _SharedTargets, func: str):
    check_layers(func, origins=part)
    if shared.population_given:
        # lazy origins with population=: fine for points (kept as they are), refused for
        # polygons, whose weighted points depend on their neighbours in the call
        types = shapely.get_type_id(np.asarray(part.geometry.array))
        polygons = np.isin(types, (3, 6))
        if polygons.any():
            raise ValueError(
                f"{func}(engine='dask'): population= with Dask origins works for points "
                f"only, but a partition holds {int(polygons.sum())} polygon(s) (e.g. row "
                f"{part.index[np.flatnonzero(polygons)[0]]!r}); pass the polygons as an "
                "in-memory GeoDataFrame (their population-weighted points are then computed "
                "once, on the client), or pass their points: "
                "acc.population_weighted_points(polygons, population)")
    points = origin_points(part, None, func=func)
    return points, shapely.get_coordinates(points)


def _corridor_arrays(part: gpd.GeoDataFrame, shared: _SharedTargets, present: list[str],
                     n_total: int | None) -> dict[str, np.ndarray]:
    """Per-kind distances (CRS units), the overall nearest distance and line position
    of each origin of *part*: the loop of the pandas engine."""
    points, xy = _points(part, shared, "corridor_distances")
    n = len(points)
    n_decide = n if n_total is None else n_total
    offsets = shared.offsets
    best_d = np.full(n, np.inf)
    idx = np.full(n, -1, dtype=np.int64)
    out: dict[str, np.ndarray] = {}
    grids: dict = {}
    for k in present:  # loop over a handful of kinds, not rows
        of_kind = offsets[k]
        i, d = shared.nearest(k, points, xy, n_decide, grids)
        out[f"kind:{k}"] = d
        better = (d < best_d) | ((d == best_d) & (of_kind[i] < idx))
        best_d = np.where(better, d, best_d)
        idx = np.where(better, of_kind[i], idx)
    out["best_d"], out["idx"] = best_d, idx
    return out


def _agglomeration_arrays(part: gpd.GeoDataFrame, shared: _SharedTargets,
                          n_total: int | None) -> dict[str, np.ndarray]:
    points, xy = _points(part, shared, "agglomeration_distances")
    n_decide = len(points) if n_total is None else n_total
    grids: dict = {}
    edge_idx, edge_d = shared.nearest("edge", points, xy, n_decide, grids)
    grids = {}  # the centres are other targets: the pandas engine bins the points anew
    centre_idx, centre_d = shared.nearest("centre", points, xy, n_decide, grids)
    return {"edge_idx": edge_idx, "edge_d": edge_d, "centre_idx": centre_idx,
            "centre_d": centre_d}


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


# --------------------------------------------------------------------------- results
def _id_dtype(ids: np.ndarray):
    """The dtype pandas gives an id column holding these ids (and None)."""
    return pd.Series(np.asarray(ids, dtype=object)).dtype if len(ids) else np.dtype(object)


def _lazy_corridors(part, shared, present, kinds, id_dtype):
    return _corridor_frame(part, _corridor_arrays(part, shared, present, None), kinds,
                           shared.ids, id_dtype)


def _lazy_agglomerations(part, shared, id_dtype):
    return _agglomeration_frame(part, _agglomeration_arrays(part, shared, None), shared.ids,
                                id_dtype)


# --------------------------------------------------------------------------- driver
def _is_dask(origins) -> bool:
    _, dask_geopandas, _ = _import_dask()
    if isinstance(origins, dask_geopandas.GeoDataFrame):
        return True
    if isinstance(origins, gpd.GeoDataFrame):
        return False
    raise TypeError("origins must be a GeoDataFrame or a dask_geopandas.GeoDataFrame, got "
                    f"{type(origins).__name__}")


def _check(func: str, origins, population, lazy: bool, **targets) -> None:
    """The pandas engine's checks; for Dask origins on their meta (the rows are checked
    partition by partition, with the same messages)."""
    layer = origins._meta if lazy else origins
    check_layers(func, origins=layer, **targets)
    if population is not None:
        _check_population(layer, population, func)


def _geometry_only(origins: gpd.GeoDataFrame, population: Raster | None, func: str
                   ) -> gpd.GeoDataFrame:
    """What the workers need of in-memory origins: their geometry (positional index),
    or with *population* their population-weighted points, computed here on the whole
    layer exactly as the pandas engine does (the point of a polygon may depend on its
    neighbours in the call: a cell centre on a shared edge, burnt for both polygons,
    counts for neither)."""
    geoms = origins.geometry.array if population is None else \
        origin_points(origins, population, func=func)
    return gpd.GeoDataFrame(geometry=gpd.GeoSeries(geoms, crs=origins.crs), crs=origins.crs)


def _run(origins, shared, func, args, *, population, scheduler, npartitions,
         partition_size, progress, desc):
    """Compute *func* on every partition of in-memory *origins* on the cluster; the
    partitions' arrays come back in order."""
    dask, _, _ = _import_dask()
    frame = _geometry_only(origins, population, desc)
    parts = to_dask(frame, npartitions=npartitions,
                    partition_size=partition_size).to_delayed()
    with get_client(scheduler) as client:
        # the targets once per worker; every partition's task refers to the same copy
        future = client.scatter(shared, broadcast=True, hash=False)
        try:
            tasks = [dask.delayed(func)(p, future, *args) for p in parts]
            result = tree_reduce(client, tasks, _concat, desc=desc, progress=progress)
        finally:
            client.cancel(future)
    if result is None:    # no partition at all: the (empty) answer computed here
        result = func(frame, shared, *args)
    return result


def corridor_distances_dask(origins, corridors: gpd.GeoDataFrame, *,
                            kinds: Sequence[str] | None = None,
                            population: Raster | None = None, scheduler=None,
                            npartitions: int | None = None,
                            partition_size: int | None = None,
                            progress: bool | None = None):
    """``corridor_distances(..., engine="dask")`` (see that function)."""
    dask, _, _ = _import_dask()
    lazy = _is_dask(origins)
    _check("corridor_distances", origins, population, lazy, corridors=corridors)
    require_columns(corridors, ["kind"], "corridors")
    lines = np.asarray(corridors.geometry.array)
    kind = corridors["kind"].astype("object").to_numpy()
    present = sorted({str(k) for k in kind if k is not None and k == k})
    kinds = present if kinds is None else list(kinds)
    positions = np.arange(len(lines))
    offsets = {k: positions[kind.astype(str) == k] for k in present}
    ids = corridors.index.to_numpy()
    shared = _SharedTargets({k: lines[offsets[k]] for k in present},
                            population_given=lazy and population is not None, offsets=offsets,
                            ids=ids if lazy else None)
    if lazy:
        id_dtype = _id_dtype(ids)
        meta = _corridor_frame(origins._meta, {"best_d": np.empty(0), "idx": np.empty(0, int),
                                               **{f"kind:{k}": np.empty(0) for k in present}},
                               kinds, ids, id_dtype)
        # one key in the graph: each worker receives the corridors once
        return origins.map_partitions(_lazy_corridors, dask.delayed(shared), present,
                                      kinds, id_dtype, meta=meta)
    arrays = _run(origins, shared, _corridor_arrays, (present, len(origins)),
                  population=population, scheduler=scheduler, npartitions=npartitions,
                  partition_size=partition_size, progress=progress,
                  desc="corridor_distances")
    return _corridor_frame(origins, arrays, kinds, ids)


def agglomeration_distances_dask(origins, agglomerations: gpd.GeoDataFrame, *,
                                 population: Raster | None = None, scheduler=None,
                                 npartitions: int | None = None,
                                 partition_size: int | None = None,
                                 progress: bool | None = None):
    """``agglomeration_distances(..., engine="dask")`` (see that function)."""
    dask, _, _ = _import_dask()
    lazy = _is_dask(origins)
    _check("agglomeration_distances", origins, population, lazy,
           agglomerations=agglomerations)
    ids = agglomerations.index.to_numpy()
    shared = _SharedTargets({"edge": np.asarray(agglomerations.geometry.array),
                             "centre": representative_points(agglomerations)},
                            population_given=lazy and population is not None,
                            ids=ids if lazy else None)
    if lazy:
        id_dtype = _id_dtype(ids)
        empty = np.empty(0)
        meta = _agglomeration_frame(origins._meta, {"edge_idx": empty.astype(int),
                                                    "edge_d": empty,
                                                    "centre_idx": empty.astype(int),
                                                    "centre_d": empty}, ids, id_dtype)
        return origins.map_partitions(_lazy_agglomerations, dask.delayed(shared),
                                      id_dtype, meta=meta)
    arrays = _run(origins, shared, _agglomeration_arrays, (len(origins),),
                  population=population, scheduler=scheduler, npartitions=npartitions,
                  partition_size=partition_size, progress=progress,
                  desc="agglomeration_distances")
    return _agglomeration_frame(origins, arrays, ids)


def worker_events() -> dict:
    """This process's :data:`EVENTS` (run it on the workers with ``client.run``)."""
    return {"pid": os.getpid(), "events": dict(EVENTS)}
