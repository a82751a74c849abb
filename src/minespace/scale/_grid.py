"""Generated grids (square, hex) over a huge extent, produced per partition on the workers.

:func:`grid` returns a lazy dask-geopandas frame: one partition per band of grid
rows, generated and clipped on a worker by the very code of
:func:`minespace.territories.hex_grid`/:func:`~minespace.territories.square_grid`
(``territories._grid_band``), so its ``.compute()`` equals them exactly. The
boundary is one key of the graph (sent once to each worker that needs it).

Aggregating deposits against such a grid (:func:`minespace.scale.aggregate`,
:func:`minespace.concentration.totals` with ``engine="dask"``) needs the cell
numbers and the polygons of the cells cut by the boundary only: each partition
reduces itself to those on its worker, one worker joins them into the grid's
lookup index (:func:`grid_index`), and that index is copied to every worker.
The client never holds the grid.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import shapely

from .. import limits
from ..errors import CRSError
from ._client import _import_dask, get_client

#: Candidate cells per partition of :func:`grid` when ``npartitions`` is not given
#: (about 0.3 GB of peak memory per band while it is generated and clipped).
GRID_PARTITION_CELLS = 250_000

_TABLE_COLUMNS = ["area_km2", "grid_col", "grid_row", "grid_clipped"]


# --------------------------------------------------------------------------- the grid
def _band(kind: str, size: float, boundary_wkb: bytes, crs, clip: bool, row0: int,
          row1: int, crs_wkt: str):
    """One partition: grid rows ``row0..row1``, generated and clipped on the worker.

    *crs_wkt* is the client's spelling of the CRS: every band's ``attrs["grid"]``
    is then the same dict, whatever PROJ on this worker thread would print.
    """
    from ..territories import _grid_band

    # this task's own boundary object (prepared by _grid_band; never shared between threads)
    return _grid_band(kind, size, shapely.from_wkb(boundary_wkb), crs, clip, row0, row1,
                      crs_wkt)


def grid(boundary, *, kind: str = "hex", cell_km: float, clip: bool = True,
         npartitions: int | None = None):
    """A square or hexagonal grid over a huge extent, generated per partition on the workers.

    The lazy twin of :func:`minespace.territories.hex_grid` and
    :func:`~minespace.territories.square_grid`: each partition is a band of
    grid rows, generated and clipped to the boundary on a worker by the same
    code, so ``.compute()`` returns exactly their frame (same ids and order,
    ``grid_col``, ``grid_row``, ``grid_clipped``, ``area_km2``, ``rep_x``,
    ``rep_y``, bit-identical geometry, ``attrs["grid"]``). Nothing but the
    boundary and the band limits is built on the client.

    Parameters
    ----------
    boundary : Region, GeoDataFrame or GeoSeries
        Study area in a metric CRS (a Region's ``boundary`` is used); its union
        is one key of the graph, sent once to each worker that needs it.
    kind : {"hex", "square"}
    cell_km : float
        Hexagon centre-to-centre distance, or square side, in km.
    clip : bool, default True
        Clip the cells to the boundary (as the in-memory functions).
    npartitions : int, optional
        Number of bands (at most one per grid row); by default one band per
        :data:`GRID_PARTITION_CELLS` candidate cells of the bounding box.

    Returns
    -------
    dask_geopandas.GeoDataFrame
        Lazy, indexed by ``territory_id`` (unknown divisions); bands with no
        cell in the boundary are empty partitions. Pass it as *territories* to
        :func:`minespace.scale.aggregate`, :func:`territory_table` and
        :func:`minespace.concentration.totals` with ``engine="dask"``.

    Raises
    ------
    ValueError
        For an unknown *kind*, a bad *cell_km* or *npartitions*, an empty boundary.
    CRSError
        If the boundary has no metric CRS.
    ImportError
        Without the optional Dask packages (names the install command).

    Notes
    -----
    No memory check is made on the client (nothing big is allocated there);
    each worker needs about 1.2 kB per candidate cell of its band at the peak.
    """
    dask, _, _ = _import_dask()
    import dask.dataframe as dd

    from ..territories import _boundary_geometry, _check_cell, _grid_band

    if kind not in ("hex", "square"):
        raise ValueError(f"kind must be 'hex' or 'square', got {kind!r}")
    geom, crs = _boundary_geometry(boundary, "scale.grid")
    size = _check_cell(cell_km)
    c0, c1, r0, r1 = limits.grid_range(geom.bounds, size, kind)
    nrows = r1 - r0 + 1
    if npartitions is None:
        npartitions = math.ceil((c1 - c0 + 1) * nrows / GRID_PARTITION_CELLS)
    if isinstance(npartitions, bool) or not isinstance(npartitions, (int, np.integer)) \
            or npartitions < 1:
        raise ValueError(f"npartitions must be a positive integer, got {npartitions!r}")
    edges = np.unique(np.linspace(r0, r1 + 1, min(int(npartitions), nrows) + 1).astype(
        np.int64))
    wkb = shapely.to_wkb(geom)
    shared = dask.delayed(wkb, name=f"grid-boundary-{dask.base.tokenize(wkb)}")
    crs_wkt = crs.to_wkt()  # one spelling for every band (see _band)
    parts = [dask.delayed(_band, pure=True)(kind, size, shared, crs, bool(clip), int(a),
                                            int(b) - 1, crs_wkt)
             for a, b in itertools.pairwise(edges)]
    meta = _grid_band(kind, size, geom, crs, bool(clip), r1 + 1, r1, crs_wkt)  # empty
    return dd.from_delayed(parts, meta=meta, verify_meta=False)


def is_lazy_grid(territories) -> bool:
    """Whether *territories* is a Dask frame made by :func:`grid` (its meta keeps the spec)."""
    try:
        import dask_geopandas
    except ImportError:
        return False
    return (isinstance(territories, dask_geopandas.GeoDataFrame)
            and bool(territories._meta.attrs.get("grid"))
            and set(_TABLE_COLUMNS) <= set(territories.columns))


def check_same_crs(territories, deposits, func: str) -> None:
    """CRSError unless the lazy grid and the deposits share one CRS."""
    if deposits.crs != territories.crs:
        raise CRSError(
            f"{func}: layers are in different CRS (territories: {territories.crs.to_string()}, "
            f"deposits: {deposits.crs.to_string() if deposits.crs else None}); reproject them "
            "to one metric CRS, e.g. with layer.to_crs(other.crs)")


# --------------------------------------------------------------------------- grid index
def _cells(part, i: int):
    """A partition reduced to what grid arithmetic needs (on its worker)."""
    from .._territory_grid import _grid_info

    if len(part) and _grid_info(part) is None:
        raise ValueError(
            f"scale.aggregate: partition {i} of the Dask territories is no longer an intact "
            "generated grid (geometry, CRS or grid columns changed); use the frame "
            "returned by scale.grid(...) as it is")
    clipped = part["grid_clipped"].to_numpy(bool)
    return (part["grid_col"].to_numpy(np.int64), part["grid_row"].to_numpy(np.int64),
            clipped, np.asarray(part.geometry.values, dtype=object)[clipped])


def _build_index(cells: list, grid: dict, crs, ids: bool):
    """The grid's lookup index from every partition's cells (on one worker)."""
    from ..territories import _grid_ids
    from ._assign import _TerritoryIndex

    cols, rows, clipped, geoms = (np.concatenate([c[k] for c in cells]) for k in range(4))
    categories = _grid_ids(grid["kind"], cols, rows) if ids else None
    return _TerritoryIndex.from_grid_cells(grid, cols, rows, clipped, geoms, crs, categories)


def _cells_at(index, pos: np.ndarray):
    frame = index.territories
    return (frame["grid_col"].to_numpy()[pos], frame["grid_row"].to_numpy()[pos])


def grid_index(client, territories, *, ids: bool, progress: bool | None = None):
    """The lazy grid's index as a future held by every worker, and a position -> id map.

    Each partition is generated and reduced to its cell numbers and clipped
    polygons on its worker; one worker joins them (cells in partition order,
    so positions are the rows of ``territories.compute()``); the index is then
    replicated to all workers. ``label(positions)`` returns the territory ids
    of those positions, looking up only their cell numbers.
    """
    import dask

    from ..territories import _grid_ids

    grid = dict(territories._meta.attrs["grid"])
    cells = [dask.delayed(_cells)(p, i) for i, p in enumerate(territories.to_delayed())]
    index = dask.delayed(_build_index)(cells, grid, territories.crs, ids)
    future = client.compute(index)
    client.replicate([future])

    def label(pos: np.ndarray) -> pd.Index:
        cols, rows = client.submit(_cells_at, future, np.asarray(pos, np.int64),
                                   pure=False).result()
        return _grid_ids(grid["kind"], cols, rows)

    return future, label


# --------------------------------------------------------------------------- tables
def _table_part(part) -> pd.DataFrame:
    return pd.DataFrame(part[_TABLE_COLUMNS])


def territory_table(territories, *, scheduler=None) -> pd.DataFrame:
    """Every cell of a grid without its geometry: the territory side of the LQ inputs.

    Parameters
    ----------
    territories : dask_geopandas.GeoDataFrame or GeoDataFrame
        A lazy grid from :func:`grid` (computed partition by partition on the
        cluster; only this table comes back), or an in-memory grid.
    scheduler : None, str or distributed.Client
        Where to compute (see :func:`get_client`).

    Returns
    -------
    DataFrame
        Indexed by ``territory_id`` in grid order, with ``area_km2``,
        ``grid_col``, ``grid_row`` and ``grid_clipped`` (about 60 bytes a cell
        instead of ~1 kB with the polygon).
    """
    import geopandas as gpd

    if isinstance(territories, gpd.GeoDataFrame):
        return _table_part(territories)
    if not is_lazy_grid(territories):
        raise TypeError("scale.territory_table: expected a grid from scale.grid(...) or "
                        f"territories.hex_grid/square_grid, got {type(territories).__name__}")
    meta = _table_part(territories._meta)
    frame = territories.map_partitions(_table_part, meta=meta)
    with get_client(scheduler) as client:
        return client.compute(frame).result()


def _totals_part(part, table: pd.DataFrame, by, measure: str, columns: list[str]):
    """``concentration.totals`` of one band from the reduced table (on its worker)."""
    from ..concentration import totals

    sub = table[table["territory_id"].isin(part.index)]
    out = totals(part, sub, by=by, weight=measure)
    for c in columns:  # categories absent from this band
        if c not in out.columns:
            out[c] = 0.0
    return out[[*part.columns, *columns]]


def grid_totals(territories, table: pd.DataFrame, *, by, measure: str):
    """Lazy ``concentration.totals`` of a lazy grid from the reduced table of
    :func:`~minespace.scale.aggregate` (sent once, as one key)."""
    import dask
    import geopandas as gpd

    from ..concentration import totals

    # the columns totals adds (they depend on the categories present anywhere), from the
    # table alone: territories of unit area holding its ids
    ids = pd.Index(table["territory_id"].unique(), dtype="str", name="territory_id")
    probe = totals(gpd.GeoDataFrame({"area_km2": np.ones(len(ids))}, index=ids,
                                    geometry=gpd.GeoSeries([None] * len(ids), index=ids,
                                                           crs=territories.crs)),
                   table, by=by, weight=measure)
    columns = [c for c in probe.columns if c not in ("area_km2", "geometry")]
    meta = territories._meta.copy()
    for c in columns:
        meta[c] = np.empty(0, float)
    shared = dask.delayed(table, name=f"grid-totals-table-{dask.base.tokenize(table)}")
    return territories.map_partitions(_totals_part, shared, by, measure, columns, meta=meta)


__all__ = ["GRID_PARTITION_CELLS", "grid", "grid_index", "grid_totals", "is_lazy_grid",
           "territory_table"]
