"""Zonal statistics of a raster by territory (population, travel time), block by block.

A cell belongs to a territory when its **centre** is inside (GDAL's rasterisation
rule, as :func:`rasterio.features.rasterize`); a territory that holds no cell
centre (smaller than a cell, or a sliver) takes the cell under its representative
point (:func:`shapely.point_on_surface`). Nodata and non-finite cells are ignored.

The raster is processed in blocks (windows of about ``block_cells × block_cells``
cells, aligned on the file's internal tiles): each block rasterises only the
territories whose bounding box meets it, in the block's own window transform, and
is reduced to per-territory partial count, sum, min and max; the partials are
added (``engine="pandas"``: in this process; ``engine="dask"``: one task per
block on a Dask cluster, the partials combined in a tree,
:mod:`minespace.scale`). Both engines use the same windows and the same block
code, so they assign the same cells. See ``docs/scale.md``.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from affine import Affine

from .errors import CRSError
from .io.raster import Raster

__all__ = ["BLOCK_CELLS", "BYTES_PER_ZONAL_CELL", "STATS", "zonal_stats"]

#: The statistics :func:`zonal_stats` computes, in their default order.
STATS: tuple[str, ...] = ("count", "sum", "mean", "min", "max")
#: Default side of a block window, in cells.
BLOCK_CELLS = 2048
#: Bytes per cell when ``engine="pandas"`` reads a raster file whole (float64 values,
#: GDAL's mask, the blocks' work arrays): the estimate of the memory check (13 measured
#: on 20,000² cells, ``benchmarks/bench_dask_zonal.py``; rounded up).
BYTES_PER_ZONAL_CELL = 16


# --------------------------------------------------------------------------- the raster
@dataclass(frozen=True)
class _Grid:
    """What the engines need to know of a raster before reading it."""

    transform: Affine
    shape: tuple[int, int]
    crs: pyproj.CRS | None
    tile: tuple[int, int] | None      # the file's internal block shape (rows, cols)
    name: str


def _file_grid(path: Path, band: int) -> _Grid:
    import rasterio

    if not path.exists():
        raise FileNotFoundError(f"raster file not found: {path}")
    with rasterio.open(path) as src:
        if not 1 <= band <= src.count:
            raise ValueError(f"{path.name}: band {band} requested but the file has "
                             f"{src.count}")
        crs = pyproj.CRS.from_user_input(src.crs.to_wkt()) if src.crs is not None else None
        return _Grid(transform=src.transform, shape=(src.height, src.width), crs=crs,
                     tile=tuple(src.block_shapes[band - 1]), name=path.name)


def _read_window(path: str, band: int, window: tuple[int, int, int, int] | None = None
                 ) -> np.ndarray:
    """Float64 values of *window* ``(r0, r1, c0, c1)`` of a file (all of it for None);
    nodata (and the file's mask) as NaN."""
    import rasterio
    from rasterio.windows import Window

    win = None if window is None else Window(window[2], window[0], window[3] - window[2],
                                             window[1] - window[0])
    with rasterio.open(path) as src:
        # straight into float64 (no copy in the file's type), then GDAL's mask (nodata,
        # internal masks) as NaN: what ``read(masked=True)`` masks
        values = src.read(band, window=win, out_dtype="float64")
        values[src.read_masks(band, window=win) == 0] = np.nan
    return values


def _as_float(data) -> np.ndarray:
    """A float64 copy with masked cells as NaN (non-finite values stay non-finite)."""
    data = np.ma.asarray(data)
    out = np.asarray(np.ma.getdata(data), dtype=np.float64).copy()
    mask = np.ma.getmask(data)
    if mask is not np.ma.nomask:
        out[mask] = np.nan
    return out


def _windows(shape: tuple[int, int], block_cells: int, tile: tuple[int, int] | None
             ) -> list[tuple[int, int, int, int]]:
    """Block windows ``(r0, r1, c0, c1)`` covering *shape*, row by row.

    About ``block_cells × block_cells`` cells each; with a tiled file, whole tiles
    (the side rounded to a multiple of the tile's); with a striped file (strips as
    wide as the raster), bands of whole strips of about ``block_cells²`` cells.
    """
    h, w = shape
    if tile is None:
        bh = bw = block_cells
    else:
        th, tw = (max(1, int(t)) for t in tile)
        if tw >= w:  # strips: a partial-width window would decode each strip again
            bw = w
            bh = max(1, round(block_cells * block_cells / w / th)) * th
        else:
            bh = max(1, round(block_cells / th)) * th
            bw = max(1, round(block_cells / tw)) * tw
    return [(r0, min(r0 + bh, h), c0, min(c0 + bw, w))
            for r0 in range(0, h, bh) for c0 in range(0, w, bw)]


def _window_transform(transform: Affine, r0: int, c0: int) -> Affine:
    return transform * Affine.translation(c0, r0)


def _window_boxes(transform: Affine, windows) -> np.ndarray:
    """Bounding boxes (in CRS units) of *windows*, as shapely polygons."""
    win = np.asarray(windows, dtype=float).reshape(-1, 4)
    r0, r1, c0, c1 = win.T
    cols = np.stack([c0, c1, c0, c1])
    rows = np.stack([r0, r0, r1, r1])
    xs, ys = transform * (cols, rows)
    return shapely.box(xs.min(axis=0), ys.min(axis=0), xs.max(axis=0), ys.max(axis=0))


# --------------------------------------------------------------------------- territories
class _ZonalIndex:
    """The territories' polygons as each block needs them; an STRtree built once.

    Pickled without its tree (Dask scatters it once per worker, where the tree is
    built lazily on first use, as :class:`minespace.scale._assign._TerritoryIndex`).
    """

    def __init__(self, geoms: np.ndarray):
        self.geoms = geoms
        self.token = uuid.uuid4().hex
        self._init_cache()

    def _init_cache(self):
        self._lock = threading.Lock()
        self._tree = None

    def __getstate__(self):
        # WKB in one array: (de)serialised in one vectorised call, not one per polygon
        return {"wkb": shapely.to_wkb(self.geoms), "token": self.token}

    def __setstate__(self, state):
        self.geoms = shapely.from_wkb(state["wkb"])
        self.token = state["token"]
        self._init_cache()

    def __dask_tokenize__(self):
        return ("minespace-zonal-territories", self.token)

    def __len__(self) -> int:
        return len(self.geoms)

    def candidates(self, box) -> np.ndarray:
        """Positions of the territories whose bounding box meets *box*, ascending."""
        with self._lock:
            if self._tree is None:
                self._tree = shapely.STRtree(self.geoms)
        return np.sort(self._tree.query(box)).astype(np.int64)


# --------------------------------------------------------------------------- the kernel
#: A partial result: territory positions (ascending, unique) and per position the
#: number of cells whose centre is inside, of valid cells, their sum, min and max.
_FIELDS = ("pos", "cells", "count", "sum", "min", "max")


def _empty_partial() -> dict[str, np.ndarray]:
    return {"pos": np.empty(0, np.int64), "cells": np.empty(0, np.int64),
            "count": np.empty(0, np.int64), "sum": np.empty(0), "min": np.empty(0),
            "max": np.empty(0)}


def _reduce_labels(values: np.ndarray, local: np.ndarray, k: int
                   ) -> dict[str, np.ndarray]:
    """Per label 0..k-1 (−1 ignored): cells, valid count, sum, min, max of *values*."""
    values, local = values.ravel(), local.ravel()
    inside = local >= 0
    lab, val = local[inside], values[inside]
    cells = np.bincount(lab, minlength=k)
    ok = np.isfinite(val)
    lab, val = lab[ok], val[ok]
    count = np.bincount(lab, minlength=k)
    total = np.bincount(lab, weights=val, minlength=k)
    low = np.full(k, np.inf)
    high = np.full(k, -np.inf)
    np.minimum.at(low, lab, val)
    np.maximum.at(high, lab, val)
    return {"cells": cells.astype(np.int64), "count": count.astype(np.int64), "sum": total,
            "min": low, "max": high}


def _shapes(geoms: np.ndarray) -> list:
    """GeoJSON-like mappings of *geoms* for rasterio, polygons built from coordinate
    arrays in a few vectorised calls (shapely's ``__geo_interface__`` builds Python
    tuples point by point: most of the time of a block of small hexagons)."""
    out = np.empty(len(geoms), dtype=object)
    poly = shapely.get_type_id(geoms) == 3
    if poly.any():
        rings, ring_of = shapely.get_rings(geoms[poly], return_index=True)
        coords, coord_of = shapely.get_coordinates(rings, return_index=True)
        ring_list = np.split(coords, np.flatnonzero(np.diff(coord_of)) + 1)
        cuts = np.searchsorted(ring_of, np.arange(int(poly.sum()) + 1)).tolist()
        out[poly] = [{"type": "Polygon", "coordinates": ring_list[a:b]}
                     for a, b in pairwise(cuts)]
    out[~poly] = [g.__geo_interface__ for g in geoms[~poly]]   # multipolygons
    return list(out)


def _block_partial(values: np.ndarray, transform: Affine, window, index: _ZonalIndex
                   ) -> dict[str, np.ndarray]:
    """The partial result of one block of *values* at *window* of the raster grid.

    The territories meeting the block's bounding box are rasterised in the block's
    window transform, in territory order (a cell in two overlapping territories
    goes to the later one, as in a whole-raster rasterisation).
    """
    from rasterio.features import rasterize

    r0, r1, c0, c1 = window
    box = _window_boxes(transform, [window])[0]
    cand = index.candidates(box)
    if not cand.size:
        return _empty_partial()
    local = rasterize(zip(_shapes(index.geoms[cand]), range(cand.size), strict=True),
                      out_shape=(r1 - r0, c1 - c0),
                      transform=_window_transform(transform, r0, c0), fill=-1,
                      dtype="int32")
    part = _reduce_labels(values, local, cand.size)
    keep = part["cells"] > 0
    return {"pos": cand[keep], **{k: v[keep] for k, v in part.items()}}


def _combine(partials: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Add partial results (a territory may appear in several)."""
    partials = [p for p in partials if len(p["pos"])]
    if not partials:
        return _empty_partial()
    if len(partials) == 1:
        return partials[0]
    cat = {k: np.concatenate([p[k] for p in partials]) for k in _FIELDS}
    order = np.argsort(cat["pos"], kind="stable")
    pos = cat["pos"][order]
    start = np.flatnonzero(np.r_[True, pos[1:] != pos[:-1]])
    out = {"pos": pos[start]}
    for k, ufunc in (("cells", np.add), ("count", np.add), ("sum", np.add),
                     ("min", np.minimum), ("max", np.maximum)):
        out[k] = ufunc.reduceat(cat[k][order], start)
    return out


def _finish(partial: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """Dense per-territory arrays (count 0 and NaN elsewhere) from the reduced partial."""
    pos = partial["pos"]
    cells = np.zeros(n, np.int64)
    count = np.zeros(n, np.int64)
    cells[pos], count[pos] = partial["cells"], partial["count"]
    out = {"cells": cells, "count": count}
    valid = count > 0
    for k in ("sum", "min", "max"):
        full = np.full(n, np.nan)
        full[pos] = partial[k]
        full[~valid] = np.nan
        out[k] = full
    out["mean"] = np.divide(out["sum"], count, out=np.full(n, np.nan), where=valid)
    return out


def _tiny_cells(geoms: np.ndarray, partial: dict[str, np.ndarray], grid: _Grid):
    """The territories holding no cell centre (not in the reduced *partial*, geometry
    present): the row and column of the cell under their representative point, and
    their positions, for those whose cell lies on the grid."""
    empty = np.ones(len(geoms), bool)
    empty[partial["pos"]] = False
    empty &= ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    empty = np.flatnonzero(empty)
    pts = shapely.point_on_surface(geoms[empty])
    col, row = ~grid.transform * (shapely.get_x(pts), shapely.get_y(pts))
    with np.errstate(invalid="ignore"):
        row, col = np.floor(row), np.floor(col)
        inside = ((row >= 0) & (row < grid.shape[0]) & (col >= 0) & (col < grid.shape[1]))
    return row[inside].astype(np.int64), col[inside].astype(np.int64), empty[inside]


def _apply_tiny(result: dict[str, np.ndarray], positions: np.ndarray,
                values: np.ndarray) -> None:
    """The tiny-polygon rule: the sampled cell's value (if valid) is the territory's
    only cell."""
    ok = np.isfinite(values)
    pos, v = positions[ok], values[ok]
    result["count"][pos] = 1
    for k in ("sum", "mean", "min", "max"):
        result[k][pos] = v


# --------------------------------------------------------------------------- public
def zonal_stats(
    territories: gpd.GeoDataFrame,
    raster: Raster | str | os.PathLike,
    *,
    stats: Sequence[str] = STATS,
    band: int = 1,
    prefix: str | None = None,
    engine: str = "pandas",
    scheduler=None,
    block_cells: int = BLOCK_CELLS,
    progress: bool | None = None,
    max_memory_gb: float | None = None,
) -> pd.DataFrame:
    """Count, sum, mean, min and max of a raster's cells within each territory.

    Parameters
    ----------
    territories : GeoDataFrame
        Polygons in the raster's CRS (non-overlapping: a cell counts for one; where
        two overlap, for the later row). Missing or empty geometries get no cell.
    raster : Raster or path
        An in-memory :class:`~minespace.io.Raster` (e.g. from
        :func:`~minespace.accessibility.travel_time_raster`) or a raster file
        (GeoTIFF or any GDAL format). With ``engine="pandas"`` a file is read whole
        (after a memory check); with ``engine="dask"`` each worker reads only its
        blocks' windows.
    stats : sequence of str
        Any of ``"count"`` (valid cells), ``"sum"``, ``"mean"``, ``"min"``,
        ``"max"``, in the order wanted.
    band : int
        1-based band of a file.
    prefix : str, optional
        Prepended to the column names (``prefix="pop_"`` gives ``pop_sum``...).
    engine : {"pandas", "dask"}
        ``"dask"``: one task per block on a Dask cluster
        (``pip install "minespace[dask]"``, see ``docs/scale.md``).
    scheduler : None, str or distributed.Client
        With ``engine="dask"``: where to compute
        (:func:`minespace.scale.get_client`).
    block_cells : int
        Side of a block window in cells (rounded to whole tiles of a tiled file;
        a striped file is cut in bands of about ``block_cells²`` cells).
    progress : bool, optional
        A bar counting the blocks done (``None``: the caller's scope, else only in
        interactive sessions).
    max_memory_gb : float, optional
        Budget of the memory check of ``engine="pandas"`` reading a file whole
        (:mod:`minespace.limits`; default half the available memory).

    Returns
    -------
    DataFrame
        Indexed like *territories* (same order), one column ``{prefix}{stat}`` per
        stat: ``count`` (int64; 0 when no valid cell), ``sum``, ``mean``, ``min``,
        ``max`` (float64; NaN when no valid cell).

    Raises
    ------
    CRSError
        If *territories* and the raster are not in one CRS (or either has none).
    ValueError
        For an unknown stat or engine, a band the file lacks, a ``block_cells``
        below 1, or non-polygon territories.
    ResourceError
        With ``engine="pandas"``, if a file would not fit in the memory budget
        (use ``engine="dask"``).
    FileNotFoundError
        If the raster file does not exist.

    Notes
    -----
    A cell belongs to a territory when its centre is inside (rasterisation
    without ``all_touched``); a territory holding no cell centre takes the cell
    under :func:`shapely.point_on_surface` of its polygon (count 1 if that cell is
    valid). Nodata and non-finite cells are ignored. Sums are float64, added per
    block, then across blocks: the two engines agree to rounding (about 1e-15
    relative), counts and min/max exactly.

    Examples
    --------
    A 4 × 4 raster of 1 km cells holding 0..15 and two territories, the left half
    and a polygon smaller than a cell:

    >>> import minespace as ms, numpy as np, pyproj, shapely, geopandas as gpd
    >>> from rasterio.transform import from_origin
    >>> values = np.arange(16.0).reshape(4, 4)
    >>> pop = ms.io.Raster(np.ma.masked_invalid(values), from_origin(0, 4000, 1000, 1000),
    ...                    pyproj.CRS(32645), None)
    >>> terr = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 2000, 4000),
    ...                                   shapely.box(3100, 100, 3300, 300)],
    ...                         index=["west", "speck"], crs=32645)
    >>> ms.zonal.zonal_stats(terr, pop, stats=("count", "sum", "max"), prefix="pop_")
           pop_count  pop_sum  pop_max
    west           8     52.0     13.0
    speck          1     15.0     15.0
    """
    stats = _check_stats(stats)
    if engine not in ("pandas", "dask"):
        raise ValueError(f"engine must be 'pandas' or 'dask', got {engine!r}")
    if isinstance(block_cells, bool) or not isinstance(block_cells, (int, np.integer)) \
            or block_cells < 1:
        raise ValueError(f"block_cells must be a positive integer, got {block_cells!r}")
    if not isinstance(territories, gpd.GeoDataFrame):
        raise TypeError(f"territories must be a GeoDataFrame, got {type(territories).__name__}")
    if isinstance(raster, Raster):
        grid = _Grid(transform=raster.transform, shape=raster.shape, crs=raster.crs,
                     tile=None, name=raster.source)
        source = raster
    elif isinstance(raster, (str, os.PathLike)):
        path = Path(raster)
        grid = _file_grid(path, band)
        source = path
    else:
        raise TypeError("raster must be a minespace Raster or a path to a raster file, got "
                        f"{type(raster).__name__}")
    _check_crs(territories, grid)
    geoms = _polygons(territories)
    index = _ZonalIndex(geoms)
    grid_windows = _windows(grid.shape, int(block_cells), grid.tile)
    # blocks meeting no territory's bounding box are not read at all
    windows = _needed(grid_windows, grid.transform, geoms)
    # the tiny-polygon rule is applied after the reduction: only those cells are read
    def tiny(partial):
        return _tiny_cells(geoms, partial, grid)

    if engine == "dask":
        from .scale._zonal import zonal_dask

        partial, where, sampled = zonal_dask(source, band, grid, windows, index, tiny,
                                             grid_windows=grid_windows, scheduler=scheduler,
                                             progress=progress)
    else:
        partial, where, sampled = _zonal_pandas(source, band, grid, windows, index, tiny,
                                                progress, max_memory_gb)
    result = _finish(partial, len(geoms))
    _apply_tiny(result, where, sampled)
    pre = prefix or ""
    return pd.DataFrame({f"{pre}{s}": result[s] for s in stats}, index=territories.index)


def _check_stats(stats) -> tuple[str, ...]:
    if isinstance(stats, str):
        stats = (stats,)
    stats = tuple(stats)
    unknown = [s for s in stats if s not in STATS]
    if unknown or not stats:
        raise ValueError(f"stats must name at least one of {list(STATS)}; unknown: {unknown}")
    if len(set(stats)) != len(stats):
        raise ValueError(f"stats repeats a name: {list(stats)}")
    return stats


def _check_crs(territories: gpd.GeoDataFrame, grid: _Grid) -> None:
    if grid.crs is None:
        raise CRSError(f"zonal_stats: the raster {grid.name} has no CRS; read it with "
                       "ms.read_raster(path, crs='EPSG:...') and pass the Raster")
    if territories.crs is None or not pyproj.CRS(territories.crs).equals(grid.crs):
        have = territories.crs.to_string() if territories.crs is not None else None
        raise CRSError(f"zonal_stats: territories are in {have} but the raster {grid.name} "
                       f"in {grid.crs.to_string()}; reproject the territories "
                       "(territories.to_crs(...)) or the raster (ms.reproject_raster)")


def _polygons(territories: gpd.GeoDataFrame) -> np.ndarray:
    geoms = np.asarray(territories.geometry.array, dtype=object)
    kind = shapely.get_type_id(geoms)
    bad = ~np.isin(kind, (-1, 3, 6)) & ~shapely.is_empty(geoms)
    if bad.any():
        first = np.flatnonzero(bad)[0]
        raise ValueError(
            f"zonal_stats: territories must be polygons; {int(bad.sum())} row(s) are not "
            f"(e.g. {territories.index[first]!r} is a {geoms[first].geom_type}); buffer "
            "points or lines first (layer.buffer(...))")
    return geoms


def _needed(windows, transform: Affine, geoms: np.ndarray):
    """The windows whose bounding box meets some territory's bounding box."""
    if not windows:
        return windows
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not ok.any():
        return []
    tree = shapely.STRtree(_window_boxes(transform, windows))
    hit = np.unique(tree.query(shapely.box(*shapely.bounds(geoms[ok]).T))[1])
    return [windows[i] for i in hit]


def _zonal_pandas(source, band, grid: _Grid, windows, index: _ZonalIndex, tiny, progress,
                  max_memory_gb):
    from . import limits
    from ._progress import bar

    if isinstance(source, Raster):
        values = source.data          # converted block by block: no whole float64 copy
    else:
        h, w = grid.shape
        count = h * w
        limits.check_size(limits.Estimate(
            "zonal.zonal_stats", f"raster cells ({w:,} x {h:,}) of {grid.name} read whole "
            "(engine='dask' reads it by windows)", count, count * float(BYTES_PER_ZONAL_CELL),
            "engine", "pandas", scale=0.0), max_memory_gb=max_memory_gb, stacklevel=4)
        values = _read_window(str(source), band)
    parts = []
    with bar(progress, total=len(windows), desc="zonal statistics", unit="block") as done:
        for window in windows:  # blocks, not rows: a handful even for a large raster
            r0, r1, c0, c1 = window
            parts.append(_block_partial(_as_float(values[r0:r1, c0:c1]), grid.transform,
                                        window, index))
            done.update(1)
    partial = _combine(parts)
    rows, cols, where = tiny(partial)
    return partial, where, _as_float(values[rows, cols])
