"""Binning points into generated territory grids (shared by assignment and contiguity)."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import shapely

_SQRT3 = math.sqrt(3.0)


def _grid_info(territories: gpd.GeoDataFrame) -> dict | None:
    """Grid parameters if *territories* is still an intact generated grid, else None.

    Checks that the grid columns and attrs are present, the CRS is unchanged and,
    on up to 64 evenly spaced cells, that the representative point lies in the
    cell geometry and bins back to the cell's (col, row); otherwise (after
    ``to_crs``, edits of the geometry, ...) callers fall back to polygon methods.
    """
    grid = territories.attrs.get("grid")
    if not grid or not {"grid_col", "grid_row", "grid_clipped", "rep_x",
                        "rep_y"} <= set(territories.columns):
        return None
    if len(territories) == 0 or territories.crs is None or not _same_crs(
            grid.get("crs"), territories.crs):
        return None
    sample = np.unique(np.linspace(0, len(territories) - 1, 64).astype(np.int64))
    rep = np.column_stack([territories["rep_x"].to_numpy(float)[sample],
                           territories["rep_y"].to_numpy(float)[sample]])
    col, row = _bin_points(rep[:, 0], rep[:, 1], grid)
    ok = (col == territories["grid_col"].to_numpy()[sample]) & (
        row == territories["grid_row"].to_numpy()[sample])
    geoms = np.asarray(territories.geometry.values)[sample]
    ok &= shapely.intersects_xy(geoms, rep[:, 0], rep[:, 1])
    return grid if ok.all() else None


def _same_crs(wkt, crs) -> bool:
    """Whether the grid spec's CRS (WKT) is *crs*: by spelling, else by meaning.

    The same CRS can be spelled differently by PROJ (``DATUM`` or ``ENSEMBLE``
    for WGS 84, depending on how and where the object was made, e.g. on a Dask
    worker thread), so unequal strings are parsed and compared with pyproj's
    equivalence before a grid is declared altered.
    """
    if not isinstance(wkt, str):
        return False
    if wkt == crs.to_wkt():
        return True
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        return CRS.from_wkt(wkt) == crs
    except CRSError:
        return False


def _bin_points(x: np.ndarray, y: np.ndarray, grid: dict) -> tuple[np.ndarray, np.ndarray]:
    """Grid (col, row) of each point by arithmetic (square floor, hex nearest centre)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    col, row = np.empty(len(x)), np.empty(len(x))
    _bin_into(x, y, grid, col, row, np.empty((4, len(x))))
    return col, row


def _bin_into(x: np.ndarray, y: np.ndarray, grid: dict, col: np.ndarray, row: np.ndarray,
              scratch: np.ndarray) -> None:
    """Write the grid (col, row) of the points into *col*, *row* (float arrays).

    Works in place in the caller's buffers (*scratch*: 4 rows of the points'
    length) so that a chunked caller allocates almost nothing per chunk.
    Squares: ``floor(x / s)``. Hexagons (pointy-topped, axial (col, row), centre
    ``(w·(col + row/2), 1.5·R·row)``): in units u = x/w, v = y/(1.5·R) the
    point lies between the centre rows r₀ = ⌊v⌋ and r₀ + 1; the nearest centre
    of each row is found by rounding, and the nearer of the two (Euclidean
    distance, i.e. the hexagon containing the point) wins. With t = v − r₀ and
    da, db the offsets in u to those centres, row r₀ wins when
    da² + ¾t² ≤ db² + ¾(1 − t)², i.e. da² − db² ≤ ¾ − 1.5·t (ties, points on
    a shared edge, go to row r₀).
    """
    size = grid["size_m"]
    ox, oy = grid.get("origin", (0.0, 0.0))
    u, t, da, qb = scratch[0], scratch[1], scratch[2], scratch[3]
    if grid["kind"] == "square":
        np.subtract(x, ox, out=u)
        np.subtract(y, oy, out=t)
        np.floor(np.divide(u, size, out=col), out=col)
        np.floor(np.divide(t, size, out=row), out=row)
        return
    radius = size / _SQRT3
    np.subtract(x, ox, out=u)
    np.divide(u, size, out=u)                 # u
    np.subtract(y, oy, out=t)
    np.divide(t, 1.5 * radius, out=t)         # v
    np.floor(t, out=row)                      # r0
    np.subtract(t, row, out=t)                # t = v - r0 in [0, 1)
    np.multiply(row, 0.5, out=da)
    np.subtract(u, da, out=u)                 # a = u - r0/2: col offset in row r0
    np.rint(u, out=col)                       # qa
    np.subtract(u, col, out=da)               # da
    np.subtract(u, 0.5, out=u)                # b = a - 1/2: col offset in row r0 + 1
    np.rint(u, out=qb)                        # qb
    np.subtract(u, qb, out=u)                 # db
    np.multiply(da, da, out=da)
    np.multiply(u, u, out=u)
    np.subtract(da, u, out=da)                # da² - db²
    np.multiply(t, -1.5, out=t)
    np.add(t, 0.75, out=t)                    # 3/4 - 1.5 t
    upper = da > t                            # the centre in row r0 + 1 is nearer
    np.copyto(col, qb, where=upper)
    np.add(row, upper, out=row)


def _cell_lookup(cols: np.ndarray, rows: np.ndarray):
    """Dense (row, col) -> position table over the grid's bounding box."""
    c0, r0 = cols.min(), rows.min()
    nc, nr = cols.max() - c0 + 1, rows.max() - r0 + 1
    table = np.full((nr, nc), -1, dtype=np.int64)
    table[rows - r0, cols - c0] = np.arange(len(cols))
    return table, c0, r0


_BIN_CHUNK = 65_536  # points per chunk: the scratch arrays stay in cache
