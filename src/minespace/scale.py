"""Scale out on Dask: deposits -> territories and per-territory aggregates.

This module is the ``engine="dask"`` side of
:func:`minespace.territories.assign_deposits` and
:func:`minespace.concentration.totals` (``pip install "minespace[dask]"``).
The deposits are a dask-geopandas GeoDataFrame (millions of points, read lazily
from partitioned GeoParquet by :func:`read_deposits_parquet`); the territories
stay an ordinary in-memory GeoDataFrame, copied once to every worker.

Each partition is assigned with the same code as the pandas engine (grid
arithmetic for generated grids, a polygon STRtree otherwise; a point on a shared
edge goes to the same territory, decided by territory order, never by partition)
and reduced to a small table of per-territory × category sums; the partial
tables are summed in a tree (:func:`aggregate`). That table is all that
:func:`~minespace.concentration.location_quotient`,
:func:`~minespace.concentration.specialization` and the Gini/Hoover columns of
:func:`~minespace.concentration.concentration` need, and they accept it as it
is. See ``docs/scale.md``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import uuid
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._checks import coordinate_problems, require_geodataframe, require_metric_crs
from .errors import CRSError, FeaturesDroppedWarning, LayerError, Problem

__all__ = ["aggregate", "assign_deposits_dask", "get_client", "read_deposits_parquet"]

logger = logging.getLogger(__name__)

INSTALL = 'pip install "minespace[dask]"'
#: Partial tables combined per reduction step.
TREE_WIDTH = 8
#: Canonical deposit columns a partitioned GeoParquet input must carry.
REQUIRED = ("deposit_id", "commodity")


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


# --------------------------------------------------------------------------- reading
def _geo_metadata(path: Path) -> dict:
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    if b"geo" not in meta:
        raise LayerError([Problem(str(path), None, None, "not a GeoParquet file (no 'geo' "
                                  "metadata)", "write it with GeoDataFrame.to_parquet")])
    return json.loads(meta[b"geo"])


def _columns(schema) -> set[str]:
    """Column names of a Parquet schema, without pandas' unnamed index columns."""
    return {n for n in schema.names if not n.startswith("__index_level_")}


def _pieces(path: Path) -> list[tuple[str, int | None, int]]:
    """(file, row group or None for the whole file, first row) per partition."""
    import pyarrow.parquet as pq

    if path.is_dir():
        files = sorted(p for p in path.rglob("*.parquet") if p.is_file())
        if not files:
            raise FileNotFoundError(f"{path}: no *.parquet file in this directory")
        return [(str(f), None, 0) for f in files]
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    meta = pq.ParquetFile(path).metadata
    starts = np.r_[0, np.cumsum([meta.row_group(i).num_rows
                                 for i in range(meta.num_row_groups)])]
    return [(str(path), i, int(starts[i])) for i in range(meta.num_row_groups)]


def _to_frame(table, geo: dict, crs) -> gpd.GeoDataFrame:
    """GeoDataFrame from an Arrow table of a GeoParquet file (WKB geometry)."""
    name = geo["primary_column"]
    frame = table.to_pandas()
    if frame.index.name == "deposit_id":  # written by geopandas from an indexed frame
        frame = frame.reset_index()
    elif not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index(drop=True)
    geometry = shapely.from_wkb(frame.pop(name).to_numpy(object))
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry, crs=crs, index=frame.index))


class _Piece:
    """Reads one partition (a file or a row group) and checks it (runs on workers)."""

    def __init__(self, geo: dict, crs, weights: Sequence[str]):
        self.geo, self.crs, self.weights = geo, crs, tuple(weights)

    def __call__(self, piece: tuple[str, int | None, int]) -> gpd.GeoDataFrame:
        import pyarrow.parquet as pq

        file, group, start = piece
        table = (pq.read_table(file) if group is None
                 else pq.ParquetFile(file).read_row_group(group))
        frame = _to_frame(table, self.geo, self.crs)
        source = file if group is None else f"{file} (row group {group})"
        _check_partition(frame, source, start, self.weights)
        return frame


def _check_partition(frame: gpd.GeoDataFrame, source: str, start: int,
                     weights: Sequence[str]) -> None:
    """Raise LayerError listing every problem of one partition (the checks of read_deposits
    that need only the partition's rows)."""
    problems: list[Problem] = []
    ids = frame["deposit_id"]

    def rows(mask, column, message, hint):
        for pos in np.flatnonzero(mask)[:50]:
            problems.append(Problem(source, f"row {start + pos} (id {ids.iloc[pos]!r})",
                                    column, message, hint))

    empty_id = ids.isna().to_numpy() | (ids.astype(str).str.strip() == "").to_numpy()
    rows(empty_id, "deposit_id", "id is empty", "give every deposit a unique id")
    rows(ids.duplicated(keep=False).to_numpy() & ~empty_id, "deposit_id",
         "id is repeated in this partition", "make the ids unique (read_deposits "
         "duplicate_ids='suffix' numbers the repeats)")
    com = frame["commodity"]
    rows(com.isna().to_numpy() | (com.astype(str).str.strip() == "").to_numpy(), "commodity",
         "commodity is empty", "fill it, e.g. with 'unknown'")
    for w in weights:
        values = pd.to_numeric(frame[w], errors="coerce")
        rows((values.isna() & frame[w].notna()).to_numpy(), w, f"weight {w!r} is not a number",
             "write numbers (empty cells are read as unknown)")
        rows((values < 0).to_numpy(), w, f"weight {w!r} is negative", "weights must be >= 0")
    geoms = np.asarray(frame.geometry.values)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    rows(missing, "geometry", "geometry is missing or empty", "give the deposit a point")
    rows(~missing & (shapely.get_type_id(geoms) != 0), "geometry", "geometry is not a Point",
         "deposits are points; reduce other shapes with .representative_point()")
    if not missing.all():
        problems += coordinate_problems(geoms[~missing], frame.crs, source=source,
                                        ids=ids.to_numpy()[~missing], full=False)
    if problems:
        raise LayerError(problems)


def read_deposits_parquet(path, *, weight: str | Sequence[str] = (),
                          spatial_partitioning: str | None = "hilbert",
                          npartitions: int | None = None, level: int = 16):
    """Read canonical deposits from partitioned GeoParquet, lazily, as a Dask GeoDataFrame.

    Parameters
    ----------
    path : str or Path
        A directory of GeoParquet files (one partition per file, searched
        recursively, in sorted order) or one GeoParquet file (one partition per
        row group). The files hold the canonical deposit columns, as written by
        ``deposits.reset_index().to_parquet(...)`` after
        :func:`minespace.read_deposits`: ``deposit_id``, ``commodity``, point
        geometry in one metric CRS, and any weight and category columns.
    weight : str or list of str
        Weight columns to check (numbers >= 0, NaN = unknown).
    spatial_partitioning : {"hilbert", None}
        ``"hilbert"`` (default): sort the points along a Hilbert curve
        (dask-geopandas ``hilbert_distance`` + ``set_index``, a shuffle) so each
        partition covers a compact area and its partial aggregates stay small;
        the index becomes the Hilbert distance (``deposit_id`` stays a column).
        ``None`` keeps the files' partitions and order.
    npartitions : int, optional
        Partitions after the spatial shuffle (default: as many as the input).
    level : int
        Precision of the Hilbert curve (1–16).

    Returns
    -------
    dask_geopandas.GeoDataFrame
        Lazy; ``deposit_id`` is a column.

    Raises
    ------
    FileNotFoundError
        If *path* does not exist or holds no ``.parquet`` file.
    LayerError
        At once (from the files' metadata only): a file that is not GeoParquet
        or not WKB-encoded, files with different CRS or columns, a missing
        ``deposit_id``/``commodity``/weight column. When a partition is
        computed (lazily): empty or repeated ids within the partition, empty
        commodity, non-numeric or negative weights, missing/empty/non-point
        geometry, non-finite coordinates or outside the CRS's domain; each
        problem names the file, row group and row.
    CRSError
        If the files have no CRS or a geographic one.
    ImportError
        Without the ``dask`` extra (names the install command).

    Notes
    -----
    Not checked lazily: ids repeated *across* partitions (that needs a shuffle
    of the ids; :func:`aggregate` does not need unique ids), and the
    ``where``/column-mapping features of :func:`minespace.read_deposits`
    (normalise the inputs with it when writing the partitions). With
    ``spatial_partitioning="hilbert"`` dask computes the Hilbert distances and
    their quantiles when this function runs (one pass over the data, which
    runs the checks), and the total bounds first unless every file's GeoParquet
    metadata has a ``bbox``.
    """
    _, dask_geopandas, _ = _import_dask()
    import dask.dataframe as dd
    import pyarrow.parquet as pq
    import pyproj

    path = Path(path)
    weights = [weight] if isinstance(weight, str) else list(weight)
    pieces = _pieces(path)
    files = sorted({p[0] for p in pieces})
    geos = {f: _geo_metadata(Path(f)) for f in files}
    problems = []
    first = geos[files[0]]
    name = first["primary_column"]
    crs_json = first["columns"][name].get("crs", "OGC:CRS84")
    schema = pq.read_schema(files[0])
    for f, geo in geos.items():
        col = geo["columns"].get(geo["primary_column"], {})
        if col.get("encoding", "WKB").upper() != "WKB":
            problems.append(Problem(f, None, geo["primary_column"], "geometry encoding "
                                    f"{col.get('encoding')!r} is not supported",
                                    "write WKB (GeoDataFrame.to_parquet's default)"))
        if col.get("crs", "OGC:CRS84") != crs_json:
            problems.append(Problem(f, None, "geometry", f"CRS differs from {files[0]}",
                                    "reproject every partition to one metric CRS"))
        if _columns(pq.read_schema(f)) != _columns(schema):
            problems.append(Problem(f, None, None, f"columns {sorted(_columns(pq.read_schema(f)))}"
                                    f" differ from {files[0]}'s",
                                    "write every partition with one schema"))
    names = set(schema.names) | {
        c for f in files for c in (json.loads((pq.read_schema(f).metadata or {}).get(
            b"pandas", b"{}")).get("index_columns") or []) if isinstance(c, str)}
    for col in (*REQUIRED, *weights):
        if col not in names:
            problems.append(Problem(files[0], None, col, f"required column {col!r} not found",
                                    f"available: {sorted(schema.names)}"))
    if problems:
        raise LayerError(problems)
    crs = pyproj.CRS.from_user_input(crs_json) if crs_json is not None else None
    if crs is None or not crs.is_projected:
        raise CRSError(f"{path}: deposits for the Dask engine need a metric (projected) CRS, "
                       f"got {crs.to_string() if crs else None}; reproject the partitions, "
                       "e.g. with deposits.to_crs(ms.choose_metric_crs(deposits))")
    meta = _to_frame(schema.empty_table(), first, crs)
    frame = dd.from_map(_Piece(first, crs, weights), pieces, meta=meta,
                        label="read-deposits-parquet", enforce_metadata=False)
    if spatial_partitioning is None:
        return frame
    if spatial_partitioning != "hilbert":
        raise ValueError(f"spatial_partitioning must be 'hilbert' or None, got "
                         f"{spatial_partitioning!r}")
    bboxes = [geo["columns"][geo["primary_column"]].get("bbox") for geo in geos.values()]
    bounds = None
    if all(b is not None and len(b) == 4 for b in bboxes):
        b = np.array(bboxes, float)
        bounds = np.array([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()])
    distance = frame.hilbert_distance(total_bounds=bounds, level=level)
    out = frame.set_index(distance, sorted=False, npartitions=npartitions)
    assert isinstance(out, dask_geopandas.GeoDataFrame)
    return out


# --------------------------------------------------------------------------- workers
class _TerritoryIndex:
    """The territories as each worker needs them; lookup tables built once per worker."""

    def __init__(self, territories: gpd.GeoDataFrame, *, ids: bool = True):
        from ._territory_grid import _grid_info

        labels = territories.index
        #: territory ids (categories of territory_id); left out when only positions matter
        self.categories = (labels if labels.is_unique else pd.Index(labels.unique())) if ids \
            else None
        self.grid = _grid_info(territories)
        if self.grid is not None:
            # grid arithmetic needs the cell numbers, and geometries only for the cells cut
            # by the boundary: ship those alone (a few bytes per cell instead of ~0.5 kB)
            clipped = territories["grid_clipped"].to_numpy(bool)
            geoms = np.asarray(territories.geometry.values, dtype=object).copy()
            geoms[~clipped] = None
            territories = gpd.GeoDataFrame(
                {c: territories[c].to_numpy() for c in ("grid_col", "grid_row",
                                                        "grid_clipped")},
                geometry=gpd.GeoSeries(geoms, crs=territories.crs), crs=territories.crs)
        else:
            territories = gpd.GeoDataFrame(geometry=territories.geometry.values,
                                           crs=territories.crs)
        self.territories = territories
        self.token = uuid.uuid4().hex
        self._init_cache()

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
        from .territories import _grid_table, _point_xy, _positions_grid

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
    from ._checks import require_usable_coordinates

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
              missing: str = "raise", scheduler=None) -> pd.DataFrame:
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
        ``concentration`` (its ``n_deposits``, ``plant_hhi`` and
        ``ellison_glaeser`` count rows, not deposits: compute them from
        ``count`` and ``{weight}_sumsq``).

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
    _check_layers(territories, deposits, "scale.aggregate")
    need = [*cols, *([weight] if weight else [])]
    lacking = [c for c in need if c not in deposits.columns]
    if lacking:
        raise KeyError(f"deposits lacks column(s) {lacking}; available: "
                       f"{sorted(map(str, deposits.columns))}")
    # the workers need the ids only to read an existing territory_id column
    index = _TerritoryIndex(territories, ids="territory_id" in deposits.columns)
    labels = territories.index
    categories = labels if labels.is_unique else pd.Index(labels.unique())
    with get_client(scheduler) as client:
        # the territories once per worker; every partition's task refers to the same copy
        shared = client.scatter(index, broadcast=True, hash=False)
        try:
            layer = [dask.delayed(_aggregate_partition)(p, shared, cols, weight)
                     for p in deposits.to_delayed()]
            while len(layer) > 1:  # tree reduction
                layer = [dask.delayed(_combine)(layer[i:i + TREE_WIDTH], cols)
                         for i in range(0, len(layer), TREE_WIDTH)]
            table, stats = client.compute(layer[0]).result() if layer else _empty(cols, weight)
        finally:
            client.cancel(shared)
    return _finish(table, stats, categories, cols, weight, missing)


def _empty(cols, weight):
    frame = pd.DataFrame({"_pos": np.empty(0, np.int64),
                          **{c: pd.Categorical([]) for c in cols},
                          "count": np.empty(0, np.int64)})
    if weight is not None:
        frame[weight] = frame[f"{weight}_sumsq"] = np.empty(0)
    stats = {k: (0, None) for k in ("rows", "outside", "unknown", "no_label", "bad_weight")}
    return frame, stats


def _finish(table, stats, categories, cols, weight, missing) -> pd.DataFrame:
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
    out.insert(0, "territory_id", categories[out.pop("_pos").to_numpy()])
    out["count"] = out["count"].astype(np.int64)
    return out.reset_index(drop=True)
