"""Territories: the spatial units that concentration metrics are computed on.

Three constructors return a GeoDataFrame indexed by ``territory_id`` with the
columns

``area_km2``
    area of the (clipped) territory in km², measured in the layer's metric CRS;
``rep_x``, ``rep_y``
    a representative point guaranteed to lie inside the territory (the cell
    centre for whole grid cells, :func:`shapely.point_on_surface` otherwise).

:func:`hex_grid` and :func:`square_grid` also keep ``grid_col``/``grid_row``
(integer cell coordinates) and ``grid_clipped`` (cell cut by the boundary)
and store the grid parameters in ``territories.attrs["grid"]``; with them
:func:`assign_deposits` and :func:`contiguity` use grid arithmetic instead of
polygon tests. If the grid columns or attrs are lost (e.g. after a merge), both
functions fall back to the general polygon methods, with identical results.
"""

from __future__ import annotations

import logging
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import limits
from ._checks import (
    require_geodataframe,
    require_metric_crs,
    require_same_crs,
    require_usable_coordinates,
)
from ._territory_grid import _BIN_CHUNK, _SQRT3, _bin_into, _cell_lookup, _grid_info
from ._territory_weights import contiguity, distance_band
from .errors import FeaturesDroppedWarning

__all__ = ["assign_deposits", "contiguity", "distance_band", "from_polygons", "hex_grid",
           "square_grid"]

logger = logging.getLogger(__name__)



# --------------------------------------------------------------------------- helpers
def _boundary_geometry(region_or_boundary, func: str):
    """Return (single boundary geometry, crs) from a Region, GeoDataFrame/Series or geometry."""
    boundary = region_or_boundary
    if not isinstance(boundary, (gpd.GeoDataFrame, gpd.GeoSeries)):
        boundary = getattr(boundary, "boundary", boundary)  # a Region
    if isinstance(boundary, (gpd.GeoDataFrame, gpd.GeoSeries)):
        series = boundary.geometry if isinstance(boundary, gpd.GeoDataFrame) else boundary
        frame = gpd.GeoDataFrame(geometry=series)
        require_metric_crs(frame, func)
        geom = shapely.union_all(series.values)
        if geom is None or geom.is_empty:
            raise ValueError(f"{func}: the boundary is empty")
        return geom, series.crs
    raise TypeError(
        f"{func}: expected a Region, GeoDataFrame or GeoSeries with a metric CRS, "
        f"got {type(region_or_boundary).__name__}"
    )


def _finish(frame: gpd.GeoDataFrame, whole: np.ndarray | None = None,
            centres: np.ndarray | None = None) -> gpd.GeoDataFrame:
    """Add ``area_km2``, ``rep_x``, ``rep_y`` (centres for whole cells)."""
    geoms = frame.geometry.values
    rep = shapely.get_coordinates(shapely.point_on_surface(np.asarray(geoms)))
    if whole is not None and centres is not None:
        rep[whole] = centres[whole]
    frame["area_km2"] = shapely.area(np.asarray(geoms)) / 1e6
    frame["rep_x"] = rep[:, 0]
    frame["rep_y"] = rep[:, 1]
    return frame


def _check_cell(cell_km: float) -> float:
    if isinstance(cell_km, bool) or not isinstance(cell_km, (int, float, np.number)):
        raise TypeError(f"cell_km must be a number, got {type(cell_km).__name__}")
    if not (np.isfinite(cell_km) and cell_km > 0):
        raise ValueError(f"cell_km must be a positive finite number, got {cell_km!r}")
    return float(cell_km) * 1000.0


def _grid_ids(kind: str, cols: np.ndarray, rows: np.ndarray) -> pd.Index:
    """Territory ids ``H{row}_{col}`` (hexagons) or ``S{row}_{col}`` (squares)."""
    prefix = "H" if kind == "hex" else "S"
    return pd.Index(
        [f"{prefix}{r}_{c}" for r, c in zip(rows.tolist(), cols.tolist(), strict=True)],
        name="territory_id",
    )


def _grid_frame(kind: str, polys: np.ndarray, centres: np.ndarray, cols: np.ndarray,
                rows: np.ndarray, boundary, crs, clip: bool, params: dict,
                crs_wkt: str | None = None) -> gpd.GeoDataFrame:
    """Keep cells meeting *boundary*, clip them, build the territory frame."""
    shapely.prepare(boundary)
    # keep cells sharing area with the boundary (not those that merely touch it)
    keep = shapely.intersects(boundary, polys) & ~shapely.touches(boundary, polys)
    polys, centres, cols, rows = polys[keep], centres[keep], cols[keep], rows[keep]
    whole = shapely.covers(boundary, polys) if clip else np.ones(len(polys), bool)
    if clip:
        clipped = polys.copy()
        part = ~whole
        clipped[part] = shapely.intersection(polys[part], boundary)
        # drop cells that only touch the boundary (zero area after clipping)
        nonzero = shapely.area(clipped) > 0
        polys, centres, cols, rows, whole = (polys[nonzero], centres[nonzero],
                                             cols[nonzero], rows[nonzero], whole[nonzero])
        clipped = clipped[nonzero]
    else:
        clipped = polys
    ids = _grid_ids(kind, cols, rows)
    frame = gpd.GeoDataFrame(
        {"grid_col": cols.astype(np.int64), "grid_row": rows.astype(np.int64),
         "grid_clipped": ~whole},
        geometry=clipped, crs=crs, index=ids,
    )
    frame = _finish(frame, whole, centres)
    # plain JSON-able values only: pandas writes attrs into Parquet metadata as JSON
    frame.attrs["grid"] = {**params, "kind": kind, "clip": bool(clip),
                           "crs": crs_wkt if crs_wkt is not None else frame.crs.to_wkt()}
    return frame


def _grid_cells(kind: str, size: float, bounds, row0: int, row1: int):
    """Candidate cells of grid rows ``row0..row1`` over *bounds*, row by row then column.

    Returns ``(polys, centres, cols, rows)``. A cell's polygon depends only on its
    (col, row), so any split of the rows into bands gives bit-identical cells.
    """
    c0, c1, _, _ = limits.grid_range(bounds, size, kind)
    cols, rows = np.meshgrid(np.arange(c0, c1 + 1), np.arange(row0, row1 + 1))
    cols, rows = cols.ravel(), rows.ravel()
    if kind == "square":
        polys = shapely.box(cols * size, rows * size, (cols + 1) * size, (rows + 1) * size)
        centres = np.column_stack([(cols + 0.5) * size, (rows + 0.5) * size])
        return polys, centres, cols, rows
    radius = size / _SQRT3
    minx, _, maxx, _ = bounds
    # vertices on an integer lattice (units w/2 and R/2) so that neighbouring cells
    # share bit-identical vertex coordinates (needed by vertex-matching tools)
    ix = 2 * cols + rows
    iy = 3 * rows
    cx = 0.5 * size * ix
    cy = 0.5 * radius * iy
    # x = w (col + row/2): the col range covers every row's shift (see grid_range)
    inside = (cx >= minx - size) & (cx <= maxx + size)
    cols, rows, ix, iy, cx, cy = (a[inside] for a in (cols, rows, ix, iy, cx, cy))
    dx = np.array([1, 0, -1, -1, 0, 1, 1])
    dy = np.array([1, 2, 1, -1, -2, -1, 1])
    ring_x = 0.5 * size * (ix[:, None] + dx[None, :])
    ring_y = 0.5 * radius * (iy[:, None] + dy[None, :])
    polys = shapely.polygons(np.stack([ring_x, ring_y], axis=-1))
    return polys, np.column_stack([cx, cy]), cols, rows


def _grid_band(kind: str, size: float, boundary, crs, clip: bool, row0: int,
               row1: int, crs_wkt: str | None = None) -> gpd.GeoDataFrame:
    """The territory frame of grid rows ``row0..row1`` (all rows: the whole grid).

    Shared by :func:`hex_grid`/:func:`square_grid` (one band) and
    :func:`minespace.scale.grid` (one band per partition, on the workers), so
    both engines give the same cells, ids, clipping and areas. *crs_wkt* is the
    spelling of the CRS written into ``attrs["grid"]`` (default: this thread's
    ``crs.to_wkt()``); the Dask engine passes the client's, so that every band
    carries the same spec (a PROJ context on a worker thread may spell the same
    CRS differently, e.g. ``DATUM`` for ``ENSEMBLE``, and pandas drops ``attrs``
    that differ between the pieces it concatenates).
    """
    polys, centres, cols, rows = _grid_cells(kind, size, boundary.bounds, row0, row1)
    return _grid_frame(kind, polys, centres, cols, rows, boundary, crs, clip,
                       {"size_m": size, "origin": (0.0, 0.0)}, crs_wkt)


# --------------------------------------------------------------------------- constructors
def from_polygons(polygons: gpd.GeoDataFrame, *, id: str | None = None) -> gpd.GeoDataFrame:
    """Use user-supplied polygons (e.g. administrative units) as territories.

    Parameters
    ----------
    polygons : GeoDataFrame
        Polygon or MultiPolygon layer in a metric CRS.
    id : str, optional
        Column holding unique territory ids; by default the index is used.

    Returns
    -------
    GeoDataFrame
        A copy indexed by ``territory_id`` with the original columns plus
        ``area_km2``, ``rep_x`` and ``rep_y`` (a point inside each polygon).

    Raises
    ------
    TypeError
        If *polygons* is not a GeoDataFrame.
    CRSError
        If the CRS is missing or geographic.
    ValueError
        If ids are missing or duplicated, or a geometry is empty or not polygonal.

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import territories
    >>> region = ms.datasets.kuzbass()
    >>> terr = territories.from_polygons(region.boundary, id="name")
    >>> terr.index.tolist(), round(float(terr["area_km2"].iloc[0]), -3)
    (['Kemerovo Oblast'], 96000.0)
    """
    require_geodataframe(polygons, "polygons")
    require_metric_crs(polygons, "territories.from_polygons")
    frame = polygons.copy()
    if id is not None:
        if id not in frame.columns:
            raise KeyError(f"polygons has no column {id!r}; available: {list(frame.columns)}")
        frame = frame.set_index(id)
    if frame.index.hasnans:
        raise ValueError("territory ids must not be missing")
    if frame.index.has_duplicates:
        dup = frame.index[frame.index.duplicated()].unique().tolist()[:10]
        raise ValueError(f"territory ids must be unique; duplicated: {dup}")
    geoms = np.asarray(frame.geometry.values)
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    kinds = shapely.get_type_id(geoms)
    bad |= ~np.isin(kinds, [3, 6])
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} territory geometr{'y is' if bad.sum() == 1 else 'ies are'} "
            f"empty or not (Multi)Polygon, e.g. id {frame.index[bad][0]!r}"
        )
    frame.index.name = "territory_id"
    frame.attrs.pop("grid", None)
    return _finish(frame)


def square_grid(region_or_boundary, *, cell_km: float, clip: bool = True,
                max_memory_gb: float | None = None, engine: str = "pandas",
                npartitions: int | None = None) -> gpd.GeoDataFrame:
    """Regular square cells covering a study area.

    Cells are aligned on multiples of the cell size in the metric CRS (so two
    grids with the same ``cell_km`` coincide) and cell ``(col, row)`` covers
    ``[col·s, (col+1)·s) × [row·s, (row+1)·s)`` with ``s = cell_km`` km.

    Parameters
    ----------
    region_or_boundary : Region, GeoDataFrame or GeoSeries
        Study area in a metric CRS (a Region's ``boundary`` is used).
    cell_km : float
        Side of a cell in km.
    clip : bool, default True
        Clip cells to the boundary (areas become the clipped areas); otherwise
        keep whole cells that intersect the boundary.
    max_memory_gb : float, optional
        Memory budget of the size check (default: half the available memory):
        the grid's candidate cells are estimated first
        (:func:`minespace.limits.estimate_grid`), and a grid over the budget is
        refused before anything is allocated (pandas engine only).
    engine : {"pandas", "dask"}
        ``"dask"`` (``pip install "minespace[dask]"``) returns
        :func:`minespace.scale.grid`'s lazy grid instead: generated band by band
        on the workers, never whole on the client; its ``.compute()`` equals
        this function's result. See ``docs/scale.md``.
    npartitions : int, optional
        With ``engine="dask"``: the number of bands (see :func:`minespace.scale.grid`).

    Returns
    -------
    GeoDataFrame
        Indexed by ``territory_id`` (``"S{row}_{col}"``) with ``grid_col``,
        ``grid_row``, ``grid_clipped``, ``area_km2``, ``rep_x``, ``rep_y``;
        ``attrs["grid"]`` holds the grid parameters. A lazy dask-geopandas
        GeoDataFrame with ``engine="dask"``.

    Raises
    ------
    ResourceError
        If the estimated size exceeds the budget (the message names the
        estimate and a ``cell_km`` that fits); a :class:`~minespace.errors.SizeWarning`
        above half of it.

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import territories
    >>> terr = territories.square_grid(ms.datasets.kuzbass(), cell_km=20)
    >>> bool(terr["area_km2"].max() <= 400.0 + 1e-6)
    True
    """
    if engine == "dask":
        from .scale import grid

        return grid(region_or_boundary, kind="square", cell_km=cell_km, clip=clip,
                    npartitions=npartitions)
    if engine != "pandas":
        raise ValueError(f"engine must be 'pandas' or 'dask', got {engine!r}")
    boundary, crs = _boundary_geometry(region_or_boundary, "territories.square_grid")
    size = _check_cell(cell_km)
    limits.check_size(limits.estimate_grid(boundary.bounds, cell_km=cell_km, kind="square"),
                      max_memory_gb=max_memory_gb)
    _, _, r0, r1 = limits.grid_range(boundary.bounds, size, "square")
    return _grid_band("square", size, boundary, crs, clip, r0, r1)


def hex_grid(region_or_boundary, *, cell_km: float, clip: bool = True,
             max_memory_gb: float | None = None, engine: str = "pandas",
             npartitions: int | None = None) -> gpd.GeoDataFrame:
    """Regular hexagons covering a study area.

    Hexagons are pointy-topped; ``cell_km`` is the distance between the centres
    of neighbouring cells (the width across flats), so a whole cell has area
    ``(√3/2)·cell_km²``. Cell ``(col, row)`` uses axial coordinates: its centre
    is ``x = w·(col + row/2)``, ``y = 1.5·R·row`` with ``w = cell_km`` and
    circumradius ``R = w/√3``.

    Parameters
    ----------
    region_or_boundary : Region, GeoDataFrame or GeoSeries
        Study area in a metric CRS.
    cell_km : float
        Centre-to-centre distance in km.
    clip : bool, default True
        Clip cells to the boundary; otherwise keep whole cells that intersect it.
    max_memory_gb : float, optional
        Memory budget of the size check (default: half the available memory):
        the grid's candidate cells are estimated first
        (:func:`minespace.limits.estimate_grid`), and a grid over the budget is
        refused before anything is allocated (pandas engine only).
    engine, npartitions
        As in :func:`square_grid`: ``engine="dask"`` returns the lazy
        :func:`minespace.scale.grid` of hexagons.

    Returns
    -------
    GeoDataFrame
        Indexed by ``territory_id`` (``"H{row}_{col}"``) with ``grid_col``,
        ``grid_row``, ``grid_clipped``, ``area_km2``, ``rep_x``, ``rep_y``;
        ``attrs["grid"]`` holds the grid parameters. A lazy dask-geopandas
        GeoDataFrame with ``engine="dask"``.

    Raises
    ------
    ResourceError
        If the estimated size exceeds the budget (the message names the
        estimate and a ``cell_km`` that fits); a :class:`~minespace.errors.SizeWarning`
        above half of it.

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import territories
    >>> terr = territories.hex_grid(ms.datasets.kuzbass(), cell_km=20)
    >>> round(float(terr["area_km2"].max()), 1)   # sqrt(3)/2 * 20**2
    346.4
    """
    if engine == "dask":
        from .scale import grid

        return grid(region_or_boundary, kind="hex", cell_km=cell_km, clip=clip,
                    npartitions=npartitions)
    if engine != "pandas":
        raise ValueError(f"engine must be 'pandas' or 'dask', got {engine!r}")
    boundary, crs = _boundary_geometry(region_or_boundary, "territories.hex_grid")
    width = _check_cell(cell_km)
    limits.check_size(limits.estimate_grid(boundary.bounds, cell_km=cell_km, kind="hex"),
                      max_memory_gb=max_memory_gb)
    _, _, r0, r1 = limits.grid_range(boundary.bounds, width, "hex")
    return _grid_band("hex", width, boundary, crs, clip, r0, r1)


# --------------------------------------------------------------------------- assignment
def _grid_table(territories: gpd.GeoDataFrame) -> tuple[np.ndarray, int, int, int, int]:
    """Flat cell -> position lookup padded with a -1 border, and its origin and shape."""
    cols = territories["grid_col"].to_numpy(np.int64)
    rows = territories["grid_row"].to_numpy(np.int64)
    table, c0, r0 = _cell_lookup(cols, rows)
    nr, nc = table.shape
    # pad the table with a -1 border so out-of-range cells need no separate test
    flat = np.full((nr + 2) * (nc + 2), -1, dtype=np.int64)
    flat.reshape(nr + 2, nc + 2)[1:-1, 1:-1] = table
    return flat, c0, r0, nr, nc


def _positions_grid(territories: gpd.GeoDataFrame, x: np.ndarray, y: np.ndarray,
                    grid: dict, table: tuple | None = None) -> np.ndarray:
    """Territory position of each point (-1 outside) using grid arithmetic.

    Points are binned in chunks into preallocated buffers; only points whose
    cell is cut by the boundary (``grid_clipped``) get an exact
    point-in-polygon test (:func:`shapely.intersects_xy`, vectorised, so a
    point on the boundary counts as inside). *table* is :func:`_grid_table`'s
    result when the caller keeps it (the Dask engine builds it once per worker).
    """
    n = len(x)
    pos = np.full(n, -1, dtype=np.int64)
    if len(territories) == 0 or n == 0:
        return pos
    flat, c0, r0, nr, nc = _grid_table(territories) if table is None else table
    size = min(n, _BIN_CHUNK)
    col, row = np.empty(size), np.empty(size)
    scratch = np.empty((4, size))
    for start in range(0, n, size):  # loop over chunks of points, vectorised inside
        stop = min(n, start + size)
        m = stop - start
        bc, br = col[:m], row[:m]
        _bin_into(x[start:stop], y[start:stop], grid, bc, br, scratch[:, :m])
        # shift into the padded table and clamp to its -1 border: cells off the grid
        # land on the border; fmax/fmin also send NaN (no coordinates) to the border
        np.subtract(bc, c0 - 1, out=bc)
        np.subtract(br, r0 - 1, out=br)
        np.fmin(np.fmax(bc, 0.0, out=bc), nc + 1, out=bc)
        np.fmin(np.fmax(br, 0.0, out=br), nr + 1, out=br)
        idx = br.astype(np.int64)
        idx *= nc + 2
        idx += bc.astype(np.int64)
        pos[start:stop] = flat[idx]
    # points in cells cut by the boundary: exact test against the clipped cell
    clipped = territories["grid_clipped"].to_numpy(bool)
    if clipped.any():
        clipped = np.r_[clipped, False]  # position -1 -> "not clipped"
        check = np.flatnonzero(clipped[pos])
        if check.size:
            geoms = np.asarray(territories.geometry.values)
            cells, inverse = np.unique(pos[check], return_inverse=True)
            shapely.prepare(geoms[cells])
            inside = shapely.intersects_xy(geoms[cells][inverse], x[check], y[check])
            pos[check[~inside]] = -1
    return pos


def _positions_tree(territories: gpd.GeoDataFrame, points: np.ndarray, x: np.ndarray,
                    y: np.ndarray) -> np.ndarray:
    """Territory position of each point (-1 outside) with an STRtree query.

    A point on a territory's boundary counts as inside it; a point on a shared
    edge, or in overlapping territories, goes to the first territory in row
    order. The STRtree is built on the points and queried once with all
    polygons for bounding-box candidates; the exact test then runs on the
    candidate pairs with :func:`shapely.intersects_xy` against prepared
    polygons (one vectorised call; no geometry objects are created).
    """
    n_poly = len(territories)
    polys = np.asarray(territories.geometry.values)
    tree = shapely.STRtree(points)
    poly_idx, pt_idx = tree.query(polys)  # bounding-box candidates, no predicate
    was_prepared = shapely.is_prepared(polys)
    shapely.prepare(polys)
    try:
        inside = shapely.intersects_xy(polys[poly_idx], x[pt_idx], y[pt_idx])
    finally:
        shapely.destroy_prepared(polys[~was_prepared])  # leave the caller's objects as found
    pos = np.full(len(points), n_poly, dtype=np.int64)
    np.minimum.at(pos, pt_idx[inside], poly_idx[inside])
    pos[pos == n_poly] = -1
    return pos


def _point_xy(deposits: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, y and point geometries of *deposits* (representative points for others)."""
    geoms = np.asarray(deposits.geometry.values)
    try:
        x, y = shapely.get_x(geoms), shapely.get_y(geoms)  # NaN if not a point
    except shapely.errors.GEOSException:  # GEOS refuses x/y of an empty point
        nonempty = np.where(shapely.is_empty(geoms), None, geoms)
        x, y = shapely.get_x(nonempty), shapely.get_y(nonempty)
    odd = np.flatnonzero(np.isnan(x))
    points = geoms
    if odd.size:  # missing, empty or non-point geometries
        g = geoms[odd]
        usable = ~(shapely.is_missing(g) | shapely.is_empty(g))
        rep = shapely.point_on_surface(g[usable])
        x[odd[usable]] = shapely.get_x(rep)
        y[odd[usable]] = shapely.get_y(rep)
        points = geoms.copy()
        points[odd[usable]] = rep
    return x, y, points


def assign_deposits(territories: gpd.GeoDataFrame, deposits, *,
                    engine: str = "pandas"):
    """Assign each deposit to the territory containing it.

    Generated grids (:func:`hex_grid`, :func:`square_grid`) are assigned by
    arithmetic binning of the coordinates, with an exact point-in-polygon test
    only for points in cells cut by the boundary; other territories use an
    STRtree query. A point on a shared edge goes to one territory only (the
    half-open cell for grids, the first territory in row order otherwise).

    Parameters
    ----------
    territories : GeoDataFrame
        Output of :func:`from_polygons`, :func:`hex_grid` or :func:`square_grid`.
    deposits : GeoDataFrame, or with ``engine="dask"`` a dask-geopandas GeoDataFrame or path
        Point layer in the same metric CRS. Non-point geometries are reduced to
        a representative point. With ``engine="dask"``, a path is read with
        :func:`minespace.scale.read_deposits_parquet`.
    engine : {"pandas", "dask"}
        ``"dask"`` (``pip install "minespace[dask]"``) returns a *lazy*
        dask-geopandas GeoDataFrame, partitioned like *deposits*, assigned
        partition by partition with the same code and the same tie-breaking as
        ``"pandas"`` (the territories are one key of the graph, copied once to
        each worker); compute it with your scheduler. See ``docs/scale.md``.

    Returns
    -------
    GeoDataFrame
        A copy of *deposits* with a ``territory_id`` column, categorical over
        all territory ids (so empty territories stay visible in groupbys);
        missing for deposits outside every territory or without geometry.

    Warns
    -----
    FeaturesDroppedWarning
        Once, with the number of deposits outside every territory (pandas
        engine; the lazy Dask result cannot count them without computing:
        :func:`minespace.scale.aggregate` warns instead).

    Raises
    ------
    CRSError
        If the layers are in different or non-metric CRS.
    ImportError
        With ``engine="dask"`` when the extra is not installed (names the
        install command).

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import territories
    >>> region = ms.datasets.kuzbass()
    >>> terr = territories.hex_grid(region, cell_km=25)
    >>> deps = territories.assign_deposits(terr, region.deposits)
    >>> int(deps["territory_id"].notna().sum())
    141
    """
    if engine == "dask":
        from .scale import assign_deposits_dask

        return assign_deposits_dask(territories, deposits)
    if engine != "pandas":
        raise ValueError(f"engine must be 'pandas' or 'dask', got {engine!r}")
    require_geodataframe(territories, "territories")
    require_geodataframe(deposits, "deposits")
    require_metric_crs(territories, "territories.assign_deposits")
    require_same_crs("territories.assign_deposits", territories=territories, deposits=deposits)
    require_usable_coordinates(deposits, "territories.assign_deposits", "deposits")
    geoms = np.asarray(deposits.geometry.values)
    x, y, points = _point_xy(deposits)
    grid = _grid_info(territories)
    if grid is not None:
        pos = _positions_grid(territories, x, y, grid)
    else:
        ok = np.isfinite(x) & np.isfinite(y)
        pos = np.full(len(geoms), -1, dtype=np.int64)
        if ok.any():
            pos[ok] = _positions_tree(territories, points[ok], x[ok], y[ok])
    ids = territories.index
    categories = ids if ids.is_unique else pd.Index(ids.unique())
    codes = pos.astype(np.int32) if len(categories) < 2**31 - 1 else pos
    out = deposits.copy()
    out["territory_id"] = pd.Categorical.from_codes(codes, categories=categories,
                                                    validate=False)
    n_out = int((pos < 0).sum())
    if n_out:
        warnings.warn(
            f"{n_out} of {len(pos)} deposits lie outside every territory (or have no "
            "geometry); their territory_id is missing and metrics ignore them",
            FeaturesDroppedWarning, stacklevel=2,
        )
    return out
