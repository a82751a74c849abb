"""Deposits -> territories on the workers, and per-territory x category aggregates."""

from __future__ import annotations

import threading
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._checks import require_geodataframe, require_metric_crs
from ..errors import CRSError, FeaturesDroppedWarning
from ._client import _import_dask, get_client, tree_reduce
from ._grid import check_same_crs, grid_index, is_lazy_grid
from ._read import read_deposits_parquet


class _TerritoryIndex:
    """The territories as each worker needs them; lookup tables built once per worker."""

    def __init__(self, territories: gpd.GeoDataFrame, *, ids: bool = True):
        from .._territory_grid import _grid_info

        labels = territories.index
        #: territory ids (categories of territory_id); left out when only positions matter
        self.categories = (labels if labels.is_unique else pd.Index(labels.unique())) if ids \
            else None
        self.grid = _grid_info(territories)
        if self.grid is not None:
            # grid arithmetic needs the cell numbers, and geometries only for the cells cut
            # by the boundary: ship those alone (a few bytes per cell instead of ~0.5 kB)
            clipped = territories["grid_clipped"].to_numpy(bool)
            territories = self._grid_cells(
                territories["grid_col"].to_numpy(), territories["grid_row"].to_numpy(),
                clipped, np.asarray(territories.geometry.values, dtype=object)[clipped],
                territories.crs)
        else:
            territories = gpd.GeoDataFrame(geometry=territories.geometry.values,
                                           crs=territories.crs)
        self.territories = territories
        self.token = uuid.uuid4().hex
        self._init_cache()

    @staticmethod
    def _grid_cells(cols, rows, clipped, clipped_geoms, crs) -> gpd.GeoDataFrame:
        """What grid arithmetic needs: cell numbers, and the polygons of clipped cells."""
        geoms = np.full(len(clipped), None, dtype=object)
        geoms[clipped] = clipped_geoms
        return gpd.GeoDataFrame({"grid_col": cols, "grid_row": rows, "grid_clipped": clipped},
                                geometry=gpd.GeoSeries(geoms, crs=crs), crs=crs)

    @classmethod
    def from_grid_cells(cls, grid: dict, cols, rows, clipped, clipped_geoms, crs,
                        categories: pd.Index | None) -> _TerritoryIndex:
        """The index of a generated grid given by its cells alone (built on a worker from
        the partitions of :func:`minespace.scale.grid`, never from a whole grid frame)."""
        self = cls.__new__(cls)
        self.categories = categories
        self.grid = grid
        self.territories = cls._grid_cells(cols, rows, clipped, clipped_geoms, crs)
        self.token = uuid.uuid4().hex
        self._init_cache()
        return self

    def _init_cache(self):
        self._lock = threading.Lock()
        self._table = self._tree = self._polys = None

    def __getstate__(self):
        return {k: self.__dict__[k] for k in ("territories", "grid", "categories", "token")}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._init_cache()

    def __dask_tokenize__(self):
        return ("minespace-territories", self.token)

    def positions(self, frame: gpd.GeoDataFrame) -> np.ndarray:
        """Territory position of each row of *frame* (-1 outside), as the pandas engine."""
        from ..territories import _grid_table, _point_xy, _positions_grid

        x, y, points = _point_xy(frame)
        if self.grid is not None:
            with self._lock:
                if self._table is None:
                    self._table = _grid_table(self.territories)
            return _positions_grid(self.territories, x, y, self.grid, self._table)
        pos = np.full(len(frame), -1, dtype=np.int64)
        ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        if not ok.size:
            return pos
        with self._lock:
            if self._tree is None:
                # this worker's own copy, prepared once (the caller's objects are untouched)
                polys = shapely.from_wkb(shapely.to_wkb(
                    np.asarray(self.territories.geometry.values)))
                shapely.prepare(polys)
                self._polys, self._tree = polys, shapely.STRtree(polys)
        # same bounding-box candidates and exact test as territories._positions_tree, so a
        # point on a shared edge goes to the first territory in row order
        pt_idx, poly_idx = self._tree.query(points[ok])
        inside = shapely.intersects_xy(self._polys[poly_idx], x[ok][pt_idx], y[ok][pt_idx])
        n_poly = len(self._polys)
        sub = np.full(ok.size, n_poly, dtype=np.int64)
        np.minimum.at(sub, pt_idx[inside], poly_idx[inside])
        sub[sub == n_poly] = -1
        pos[ok] = sub
        return pos


def _partition_positions(part: gpd.GeoDataFrame, index: _TerritoryIndex) -> np.ndarray:
    from .._checks import require_usable_coordinates

    require_usable_coordinates(part, "territories.assign_deposits", "deposits")
    return index.positions(part)


def _assign_partition(part: gpd.GeoDataFrame, index: _TerritoryIndex) -> gpd.GeoDataFrame:
    pos = _partition_positions(part, index)
    codes = pos.astype(np.int32) if len(index.categories) < 2**31 - 1 else pos
    out = part.copy()
    out["territory_id"] = pd.Categorical.from_codes(codes, categories=index.categories,
                                                    validate=False)
    return out


def _as_dask(deposits, what: str):
    _, dask_geopandas, _ = _import_dask()
    if isinstance(deposits, (str, Path)):
        return read_deposits_parquet(deposits)
    if not isinstance(deposits, dask_geopandas.GeoDataFrame):
        raise TypeError(f"{what}: with engine='dask', deposits must be a dask_geopandas."
                        "GeoDataFrame or a path to partitioned GeoParquet, got "
                        f"{type(deposits).__name__}; for an in-memory GeoDataFrame use "
                        "engine='pandas'")
    return deposits


def _check_layers(territories, deposits, func: str) -> None:
    require_geodataframe(territories, "territories")
    require_metric_crs(territories, func)
    if deposits.crs != territories.crs:
        raise CRSError(
            f"{func}: layers are in different CRS (territories: {territories.crs.to_string()}, "
            f"deposits: {deposits.crs.to_string() if deposits.crs else None}); reproject them "
            "to one metric CRS, e.g. with layer.to_crs(other.crs)")


def assign_deposits_dask(territories: gpd.GeoDataFrame, deposits):
    """Lazy ``assign_deposits(..., engine="dask")`` (see that function)."""
    dask, _, _ = _import_dask()
    deposits = _as_dask(deposits, "territories.assign_deposits")
    if is_lazy_grid(territories):
        raise TypeError(
            "territories.assign_deposits: a lazy grid from scale.grid cannot label deposits "
            "(the categories of territory_id would be every cell id, on the client); use "
            "scale.aggregate or concentration.totals(engine='dask') with it, or pass "
            "grid.compute() when the grid fits in memory")
    _check_layers(territories, deposits, "territories.assign_deposits")
    index = _TerritoryIndex(territories)
    meta = deposits._meta.copy()
    meta["territory_id"] = pd.Categorical([], categories=index.categories)
    # one key in the graph: each worker receives the territories once
    return deposits.map_partitions(_assign_partition, dask.delayed(index), meta=meta)


# --------------------------------------------------------------------------- aggregates
def _ids(part: pd.DataFrame) -> pd.Index:
    return pd.Index(part["deposit_id"]) if "deposit_id" in part.columns else part.index


def _aggregate_partition(part: gpd.GeoDataFrame, index: _TerritoryIndex, by: list[str],
                         weight: str | None) -> tuple[pd.DataFrame, dict]:
    """Partial table (position, *by) -> count, weight sum, weight sum of squares, and the
    counts behind the pandas engine's warnings and errors (with a first example id)."""
    ids = _ids(part)
    if "territory_id" in part.columns:  # assigned already: positions from the ids
        tid = part["territory_id"]
        pos = index.categories.get_indexer(tid.astype(object).where(tid.notna(), None))
        unknown = (pos < 0) & tid.notna().to_numpy()
        outside = np.zeros(len(part), bool)  # as pandas: no warning when not assigning
    else:
        pos = _partition_positions(part, index)
        unknown = np.zeros(len(part), bool)
        outside = pos < 0
    no_label = part[by].isna().any(axis=1).to_numpy() if by else np.zeros(len(part), bool)
    if weight is None:
        size = np.ones(len(part))
        bad = np.zeros(len(part), bool)
    else:
        size = pd.to_numeric(part[weight], errors="raise").astype(float).to_numpy()
        bad = ~np.isfinite(size) | (size < 0)
    stats = {"rows": (len(part), None)}
    for key, mask in (("outside", outside), ("unknown", unknown), ("no_label", no_label),
                      ("bad_weight", bad)):
        hit = np.flatnonzero(mask)
        stats[key] = (int(hit.size), ids[hit[0]] if hit.size else None)
    keep = (pos >= 0) & ~bad & ~no_label
    cols = {"_pos": pos[keep]}
    for c in by:
        # categorical: a partial table of a million rows carries codes, not a string per row
        cols[c] = pd.Categorical(part[c].to_numpy()[keep])
    cols["count"] = np.ones(int(keep.sum()), np.int64)
    if weight is not None:
        cols[weight] = size[keep]
        cols[f"{weight}_sumsq"] = size[keep] ** 2
    frame = pd.DataFrame(cols)
    return _sum(frame, by), stats


def _sum(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    return frame.groupby(["_pos", *by], sort=False, observed=True).sum().reset_index()


def _combine(results: list[tuple[pd.DataFrame, dict]], by: list[str]
             ) -> tuple[pd.DataFrame, dict]:
    """Sum partial tables; add the counts and keep the first example of each."""
    tables = [t for t, _ in results]
    for c in by:  # one set of categories, so that the concatenation stays categorical
        cats = tables[0][c].cat.categories
        for t in tables[1:]:
            cats = cats.union(t[c].cat.categories)
        tables = [t.assign(**{c: t[c].cat.set_categories(cats)}) for t in tables]
    table = _sum(pd.concat(tables, ignore_index=True), by)
    stats = {}
    for key in results[0][1]:
        n = sum(r[1][key][0] for r in results)
        example = next((r[1][key][1] for r in results if r[1][key][0]), None)
        stats[key] = (n, example)
    return table, stats


def aggregate(territories: gpd.GeoDataFrame, deposits, *,
              by: str | Sequence[str] | None = None, weight: str | None = None,
              missing: str = "raise", scheduler=None,
              progress: bool | None = None) -> pd.DataFrame:
    """Per-territory × category counts and weighted sums of distributed deposits.

    Each partition is assigned to the territories (as
    :func:`minespace.territories.assign_deposits`) and reduced to partial sums,
    which are added in a tree on the cluster; only the reduced table comes
    back. The result is a valid *deposits* argument of the metric functions of
    :mod:`minespace.concentration` (it has a ``territory_id`` column).

    Parameters
    ----------
    territories : GeoDataFrame
        In memory (every worker holds a copy), with ``area_km2``.
    deposits : dask_geopandas.GeoDataFrame or path
        Deposits in the territories' CRS; a path is read with
        :func:`read_deposits_parquet`. Ids are the ``deposit_id`` column if
        there is one, else the index (used in messages only). With a
        ``territory_id`` column the deposits are not assigned again.
    by, weight, missing
        As in :func:`minespace.concentration.totals`.
    scheduler : None, str or distributed.Client
        Where to compute (see :func:`get_client`).
    progress : bool or None
        A bar counting the partitions done (``None``: the caller's scope, e.g.
        the command line's, else only in interactive sessions).

    Returns
    -------
    DataFrame
        One row per territory and category present: ``territory_id``, the
        ``by`` columns, ``count`` (deposits counted) and with a weight
        ``{weight}`` (its sum) and ``{weight}_sumsq`` (sum of squares, for the
        plant Herfindahl). Sorted by territory order, then category.
        ``location_quotient(territories, table, by=by, weight=weight or "count")``
        equals the pandas engine's result, as do ``totals``,
        ``specialization`` and the ``total``/``gini``/``hoover`` columns of
        ``concentration`` (given the table, the pandas engine's ``n_deposits``,
        ``plant_hhi`` and ``ellison_glaeser`` count rows, not deposits;
        ``concentration(..., engine="dask")`` computes them from ``count`` and
        ``{weight}_sumsq``).

    Warns
    -----
    FeaturesDroppedWarning
        As the pandas engine: deposits outside every territory; weights left
        out with ``missing="drop"``.

    Raises
    ------
    ValueError
        As the pandas engine: missing category values, bad weights with
        ``missing="raise"``, a ``territory_id`` not in *territories*.
    """
    dask, _, _ = _import_dask()
    if missing not in ("raise", "drop"):
        raise ValueError(f"missing must be 'raise' or 'drop', got {missing!r}")
    cols = [] if by is None else ([by] if isinstance(by, str) else list(by))
    if by is not None and not cols:
        raise ValueError("by must name at least one column")
    if weight == "count":
        raise ValueError("with engine='dask' the weight column cannot be called 'count' (the "
                         "reduced table's deposit count); rename it")
    deposits = _as_dask(deposits, "scale.aggregate")
    lazy = is_lazy_grid(territories)
    if lazy:
        check_same_crs(territories, deposits, "scale.aggregate")
    else:
        _check_layers(territories, deposits, "scale.aggregate")
    need = [*cols, *([weight] if weight else [])]
    lacking = [c for c in need if c not in deposits.columns]
    if lacking:
        raise KeyError(f"deposits lacks column(s) {lacking}; available: "
                       f"{sorted(map(str, deposits.columns))}")
    # the workers need the ids only to read an existing territory_id column
    ids = "territory_id" in deposits.columns
    if not lazy:
        index = _TerritoryIndex(territories, ids=ids)
        labels = territories.index
        categories = labels if labels.is_unique else pd.Index(labels.unique())
    with get_client(scheduler) as client:
        # the territories once per worker; every partition's task refers to the same copy
        if lazy:  # built on the cluster from the grid's partitions, then copied to each worker
            shared, label = grid_index(client, territories, ids=ids, progress=progress)
        else:
            shared = client.scatter(index, broadcast=True, hash=False)
            label = categories.__getitem__
        try:
            parts = [dask.delayed(_aggregate_partition)(p, shared, cols, weight)
                     for p in deposits.to_delayed()]
            result = tree_reduce(client, parts, _combine, cols, desc="aggregate deposits",
                                 progress=progress)
            table, stats = result if result is not None else _empty(cols, weight)
            out = _finish(table, stats, label, cols, weight, missing)
        finally:
            client.cancel(shared)
    return out


def _empty(cols, weight):
    frame = pd.DataFrame({"_pos": np.empty(0, np.int64),
                          **{c: pd.Categorical([]) for c in cols},
                          "count": np.empty(0, np.int64)})
    if weight is not None:
        frame[weight] = frame[f"{weight}_sumsq"] = np.empty(0)
    stats = {k: (0, None) for k in ("rows", "outside", "unknown", "no_label", "bad_weight")}
    return frame, stats


def _finish(table, stats, label, cols, weight, missing) -> pd.DataFrame:
    """Warnings and errors in the pandas engine's order, then the tidy table."""
    n, example = stats["outside"]
    if n:
        warnings.warn(
            f"{n} of {stats['rows'][0]} deposits lie outside every territory (or have no "
            "geometry); their territory_id is missing and metrics ignore them",
            FeaturesDroppedWarning, stacklevel=3)
    n, example = stats["no_label"]
    if n:
        raise ValueError(f"{n} deposit(s) have no value in {cols} (e.g. {example!r}); fill "
                         "them, e.g. deposits.fillna({...: 'unknown'})")
    n, example = stats["bad_weight"]
    if n:
        if missing == "raise":
            raise ValueError(
                f"weight column {weight!r} is missing, infinite or negative for {n} "
                f"deposit(s) (e.g. {example!r}); drop them, fill them, or pass missing='drop'")
        warnings.warn(f"{n} deposit(s) without a usable {weight!r} were left out",
                      FeaturesDroppedWarning, stacklevel=3)
    n, example = stats["unknown"]
    if n:
        raise ValueError(f"{n} deposit(s) carry a territory_id not in territories (e.g. "
                         f"deposit {example!r}); re-run assign_deposits")
    out = table.sort_values(["_pos", *cols], kind="stable")
    for c in cols:  # back to the values' own dtype
        out[c] = out[c].astype(out[c].cat.categories.dtype)
    out.insert(0, "territory_id", label(out.pop("_pos").to_numpy()))
    out["count"] = out["count"].astype(np.int64)
    return out.reset_index(drop=True)
