"""Raster travel time: friction surface, cumulative cost from agglomerations, zonal stats.

Conventions (Weiss et al. 2018, *Nature* 553:333–336, doi:10.1038/nature25181):
friction is in **minutes per metre**; on an 8-connected grid the cost of a step
between neighbouring cells a and b is ((f_a + f_b) / 2) · L_ab with L_ab the
cell size orthogonally and √2 · cell size diagonally (as in scikit-image
``graph.MCP_Geometric``, GRASS ``r.cost`` and xarray-spatial ``cost_distance``).
Cells with infinite or masked friction are impassable; cells that cannot be
reached are masked in the result.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import rasterio
import rasterio.features
from rasterio.transform import from_origin

from .. import limits
from .._checks import require_columns
from .._progress import bar as _bar
from ..errors import CRSError
from ..io.raster import Raster
from ..io.write import atomic_path
from ._common import check_layers, resolve_speeds

__all__ = ["OFFROAD_SPEED_KMH", "friction_surface", "travel_time_raster", "write_geotiff",
           "zonal_travel_time"]

#: Default cross-country speed (km/h) of cells without a corridor.
OFFROAD_SPEED_KMH = 10.0

#: Tobler (1993) slope coefficient: speed × exp(−3.5 · |tan θ|).
TOBLER_COEF = 3.5


def _friction_from_speed(speed_kmh: np.ndarray) -> np.ndarray:
    """Minutes per metre for a speed in km/h (inf where the speed is 0)."""
    with np.errstate(divide="ignore"):
        return 60.0 / (np.asarray(speed_kmh, float) * 1000.0)


def _slope_factor(elevation: np.ndarray, res: tuple[float, float], coef: float) -> np.ndarray:
    """Speed multiplier exp(−coef · |∇z|) from an elevation array (isotropic Tobler)."""
    dzdy, dzdx = np.gradient(np.asarray(elevation, float), res[1], res[0])
    return np.exp(-coef * np.hypot(dzdx, dzdy))


def friction_surface(
    corridors: gpd.GeoDataFrame,
    *,
    cell_m: float = 1000.0,
    bounds: tuple[float, float, float, float] | None = None,
    offroad_speed_kmh: float = OFFROAD_SPEED_KMH,
    speeds_kmh: Mapping[str, float] | None = None,
    elevation: Raster | None = None,
    slope_coef: float = TOBLER_COEF,
    max_memory_gb: float | None = None,
) -> Raster:
    """Friction surface (minutes per metre) with corridors burnt in at their speed.

    Parameters
    ----------
    corridors : GeoDataFrame
        Lines in a metric CRS with ``kind`` (and ``speed_kmh``); may be empty.
    cell_m : float
        Cell size in metres (ignored when *elevation* gives the grid).
    bounds : (minx, miny, maxx, maxy), optional
        Grid extent; default the corridors' bounds, or the elevation raster's grid.
    offroad_speed_kmh : float
        Speed of cells without a corridor (default 10 km/h).
    speeds_kmh : dict, optional
        Speed per kind, as in :func:`build_network`.
    elevation : Raster, optional
        Elevation (m) on the same CRS; when given, its grid is used and off-road
        speeds are multiplied by exp(−slope_coef · |∇z|) (isotropic Tobler 1993).
    slope_coef : float
        Slope coefficient (3.5 in Tobler's hiking function).
    max_memory_gb : float, optional
        Memory budget of the size check (default: half the available memory):
        a grid whose travel-time computation would exceed it
        (:data:`minespace.limits.BYTES_PER_RASTER_CELL` a cell) is refused before
        anything is allocated (not checked with *elevation*: its grid exists).

    Returns
    -------
    Raster
        Friction in minutes per metre; a cell crossed by corridors gets the
        fastest one (cells are burnt along the line's rasterisation path).

    Raises
    ------
    CRSError
        If the corridors (or the elevation) are not in one metric CRS.
    ValueError
        For a non-positive speed or cell size, or an empty extent.
    ResourceError
        If the grid exceeds the memory budget (the message names the number of
        cells and a *cell_m* that fits); a :class:`~minespace.errors.SizeWarning`
        above half of it.

    Notes
    -----
    f = 60 / (1000 · v) min/m with v in km/h (Weiss et al. 2018).

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import accessibility as acc
    >>> region = ms.datasets.kuzbass()
    >>> fr = acc.friction_surface(region.corridors, cell_m=2000,
    ...                           bounds=tuple(region.boundary.total_bounds))
    >>> float(fr.data.max()) == 60 / (10 * 1000)
    True
    """
    check_layers("friction_surface", corridors=corridors)
    require_columns(corridors, ["kind"], "corridors")
    if not (offroad_speed_kmh > 0 and cell_m > 0):
        raise ValueError("friction_surface: offroad_speed_kmh and cell_m must be positive")
    if elevation is not None:
        if not pyproj.CRS(elevation.crs).equals(pyproj.CRS(corridors.crs)):
            raise CRSError("friction_surface: the elevation raster is in "
                           f"{elevation.crs.to_string()} but the corridors in "
                           f"{corridors.crs.to_string()}; reproject one of them")
        transform, shape, res = elevation.transform, elevation.shape, elevation.res
    else:
        minx, miny, maxx, maxy = (bounds if bounds is not None
                                  else tuple(corridors.total_bounds))
        if not (np.isfinite([minx, miny, maxx, maxy]).all() and maxx > minx and maxy > miny):
            raise ValueError("friction_surface: empty extent; pass bounds=(minx, miny, maxx, "
                             "maxy)")
        limits.check_size(limits.estimate_raster((minx, miny, maxx, maxy), cell_m=cell_m,
                                                 step="accessibility.friction_surface"),
                          max_memory_gb=max_memory_gb)
        width = int(np.ceil((maxx - minx) / cell_m))
        height = int(np.ceil((maxy - miny) / cell_m))
        transform, shape, res = from_origin(minx, maxy, cell_m, cell_m), (height, width), \
            (cell_m, cell_m)
    speed = np.full(shape, float(offroad_speed_kmh))
    if elevation is not None:
        z = np.ma.filled(elevation.data.astype(float), np.nan)
        factor = _slope_factor(z, res, slope_coef)
        speed = np.where(np.isnan(factor), np.nan, speed * factor)
    line_speed = resolve_speeds(corridors, speeds_kmh, "friction_surface")
    ok = np.isfinite(line_speed)
    if ok.any():
        order = np.argsort(line_speed[ok], kind="stable")  # fastest burnt last
        geoms = np.asarray(corridors.geometry.array)[ok][order]
        burnt = rasterio.features.rasterize(
            zip(geoms, line_speed[ok][order], strict=True), out_shape=shape, transform=transform,
            fill=0.0, dtype="float64")
        speed = np.where(burnt > 0, burnt, speed)
    friction = np.ma.masked_invalid(_friction_from_speed(speed))
    return Raster(data=friction, transform=transform, crs=pyproj.CRS(corridors.crs),
                  nodata=None, source="friction_min_per_m")


def _lean_offset_edge_map(shape, offsets):
    """Memory-lean equivalent of scikit-image's ``graph._mcp._offset_edge_map``.

    Same values (for each axis d: k at the k-th cell from the upper edge, −k at the
    k-th from the lower edge, for k up to the largest offset reaching out of
    bounds; 0 elsewhere), written straight into two int8 arrays in Fortran order
    (the order MCP flattens them in, so its reshape is a view). The original goes
    through ``np.indices`` and two more integer arrays: 48 bytes per cell of
    temporaries, most of MCP's peak memory.
    """
    shape = tuple(int(n) for n in shape)
    offsets = np.asarray(offsets)
    dim = len(shape)
    pos = np.zeros((dim, *shape), dtype=np.int8, order="F")
    neg = np.zeros((dim, *shape), dtype=np.int8, order="F")
    for d in range(dim):                    # axes and offset magnitudes, not cells
        for k in range(1, min(int(offsets[:, d].max()), shape[d]) + 1):
            index = [d] + [slice(None)] * dim
            index[1 + d] = shape[d] - k
            pos[tuple(index)] = k
        for k in range(1, min(-int(offsets[:, d].min()), shape[d]) + 1):
            index = [d] + [slice(None)] * dim
            index[1 + d] = k - 1
            neg[tuple(index)] = -k
    return pos, neg


_MCP_LOCK = threading.Lock()


def _lean_edge_map_ok(module) -> bool:
    """Whether the lean edge map equals scikit-image's own on small grids."""
    original = getattr(module, "_offset_edge_map", None)
    if original is None:
        return False
    try:
        offs = np.array(module.make_offsets(2, True), dtype=np.int8)
        for shape in ((1, 1), (2, 3), (5, 4)):
            for mine, theirs in zip(_lean_offset_edge_map(shape, offs), original(shape, offs),
                                    strict=True):
                if not np.array_equal(mine, theirs):
                    return False
    except Exception:  # any change upstream: use MCP unmodified
        return False
    return True


def _accumulate(costs: np.ndarray, starts: np.ndarray, res: tuple[float, float]
                ) -> np.ndarray:
    """Least cumulative cost from the start cells (8-connected, MCP_Geometric).

    *costs* (float64, Fortran order, inf = impassable) is handed to
    ``MCP_Geometric`` as is (it flattens in Fortran order, so no copy), and MCP
    builds its boundary maps with :func:`_lean_offset_edge_map` (identical values,
    checked against scikit-image's own at run time; without a match MCP runs
    unmodified). *costs* is consumed: impassable cells come back as inf.
    """
    from skimage.graph import MCP_Geometric
    from skimage.graph import _mcp as mcp_module

    with _MCP_LOCK:
        original = getattr(mcp_module, "_offset_edge_map", None)
        lean = _lean_edge_map_ok(mcp_module)
        if lean:
            mcp_module._offset_edge_map = _lean_offset_edge_map
        try:
            mcp = MCP_Geometric(costs, fully_connected=True, sampling=(res[1], res[0]))
        finally:
            if lean:
                mcp_module._offset_edge_map = original
    cum, traceback = mcp.find_costs(starts)
    del traceback, mcp                       # frees MCP's own arrays
    cum[np.isinf(costs)] = np.inf
    return cum


def travel_time_raster(
    friction: Raster,
    sources: gpd.GeoDataFrame,
    *,
    progress: bool | None = None,
) -> Raster:
    """Cumulative travel time (minutes) from the nearest source over a friction grid.

    Parameters
    ----------
    friction : Raster
        Minutes per metre, e.g. from :func:`friction_surface`; masked or infinite
        cells are impassable.
    sources : GeoDataFrame
        Agglomerations (polygons: every cell they touch starts at 0; points: their
        cell), in the raster's CRS.
    progress : bool, optional
        Progress bar of the three steps (costs, start cells, least-cost sweep) on
        stderr; default as in :func:`minespace.hotspots.getis_ord`.

    Returns
    -------
    Raster
        Minutes to the nearest source; unreachable cells are masked.

    Raises
    ------
    CRSError
        If *sources* is not in the raster's metric CRS.
    ValueError
        If no source falls on a passable cell of the grid.

    Notes
    -----
    T(x) = min over 8-connected paths of Σ ((f_a + f_b)/2) · L_ab, computed with
    scikit-image ``graph.MCP_Geometric`` (Dijkstra on the grid).

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import accessibility as acc
    >>> region = ms.datasets.kuzbass()
    >>> fr = acc.friction_surface(region.corridors, cell_m=2000,
    ...                           bounds=tuple(region.boundary.total_bounds))
    >>> tt = acc.travel_time_raster(fr, region.agglomerations)
    >>> float(tt.data.min())
    0.0
    """
    check_layers("travel_time_raster", sources=sources)
    if not pyproj.CRS(sources.crs).equals(pyproj.CRS(friction.crs)):
        raise CRSError(f"travel_time_raster: sources are in {sources.crs.to_string()} but the "
                       f"raster in {friction.crs.to_string()}; reproject the sources")
    with _bar(progress, total=3, desc="raster travel time", unit=" steps") as steps:
        return _travel_time(friction, sources, steps)


def _travel_time(friction: Raster, sources: gpd.GeoDataFrame, steps) -> Raster:
    steps.step("costs")
    # one float64 working copy in Fortran order (MCP's flattening order), made
    # passable-or-inf in place: masked, NaN, infinite or negative friction -> inf
    data = np.ma.asarray(friction.data)
    costs = np.empty(data.shape, dtype=np.float64, order="F")
    np.copyto(costs, np.ma.getdata(data), casting="unsafe")
    if np.ma.getmask(data) is not np.ma.nomask:
        costs[np.ma.getmaskarray(data)] = np.inf
    costs[~(costs >= 0)] = np.inf
    steps.step("start cells")
    geoms = np.asarray(sources.geometry.array)
    mask = rasterio.features.rasterize(((g, 1) for g in geoms), out_shape=costs.shape,
                                       transform=friction.transform, fill=0, all_touched=True,
                                       dtype="uint8")
    starts = np.argwhere(mask)
    del mask
    starts = starts[np.isfinite(costs[starts[:, 0], starts[:, 1]])]
    if len(starts) == 0:
        raise ValueError("travel_time_raster: no source lies on a passable cell of the grid")
    steps.step(f"least-cost sweep over {costs.size:,} cells")
    cum = _accumulate(costs, starts, friction.res)
    del costs
    cum = np.ascontiguousarray(cum)          # C order for consumers; MCP's arrays are gone
    return Raster(data=np.ma.MaskedArray(cum, mask=~np.isfinite(cum), copy=False),
                  transform=friction.transform, crs=friction.crs, nodata=None,
                  source="travel_time_min")


def write_geotiff(raster: Raster, path: str | os.PathLike) -> Path:
    """Write a Raster as a float32 GeoTIFF (NaN = nodata), atomically.

    Parameters
    ----------
    raster : Raster
    path : path
        Target file (``.tif``); parent folders are created.

    Returns
    -------
    Path

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import accessibility as acc
    >>> region = ms.datasets.kuzbass()
    >>> fr = acc.friction_surface(region.corridors, cell_m=5000)
    >>> acc.write_geotiff(fr, tmp_path / "friction.tif").name
    'friction.tif'
    """
    path = Path(path)
    data = np.ma.filled(np.ma.asarray(raster.data, dtype="float32"), np.nan)
    with atomic_path(path) as tmp:
        with rasterio.open(tmp, "w", driver="GTiff", width=data.shape[1],
                           height=data.shape[0], count=1, dtype="float32",
                           crs=raster.crs.to_wkt(), transform=raster.transform,
                           nodata=np.nan, compress="deflate") as dst:
            dst.write(data, 1)
    return path


def _zonal(values: np.ndarray, labels: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and min of finite *values* per label 0..n-1 (label −1 ignored); NaN if none."""
    from ..zonal import _finish, _reduce_labels

    part = _reduce_labels(np.asarray(values, float), np.asarray(labels, np.int64), n)
    out = _finish({"pos": np.arange(n), **part}, n)
    return out["mean"], out["min"]


def zonal_travel_time(territories: gpd.GeoDataFrame, travel_time: Raster | str | os.PathLike,
                      *, engine: str = "pandas", scheduler=None,
                      progress: bool | None = None) -> gpd.GeoDataFrame:
    """Mean and minimum raster travel time within each territory.

    Parameters
    ----------
    territories : GeoDataFrame
        Polygons in the raster's CRS (non-overlapping: a cell counts for one).
    travel_time : Raster or path
        Minutes, e.g. from :func:`travel_time_raster`, or a GeoTIFF of them (e.g.
        written by :func:`write_geotiff`).
    engine : {"pandas", "dask"}
        ``"dask"``: by blocks on a Dask cluster, a file read by windows on the
        workers (:func:`minespace.zonal.zonal_stats`, ``docs/scale.md``).
    scheduler : None, str or distributed.Client
        With ``engine="dask"``: where to compute.
    progress : bool, optional
        A bar counting the raster blocks done.

    Returns
    -------
    GeoDataFrame
        A copy of *territories* with ``travel_time_mean_min`` and
        ``travel_time_min_min`` (NaN when no reachable cell falls in it).

    Raises
    ------
    CRSError
        If the territories are not in the raster's (metric) CRS.
    ValueError
        For missing or empty territory geometries, or an unknown engine.

    Notes
    -----
    A cell belongs to a territory when its centre is inside; a territory smaller
    than a cell takes the cell under its representative point. Computed by
    :func:`minespace.zonal.zonal_stats` (``stats=("mean", "min")``).

    Examples
    --------
    >>> import minespace as ms, shapely
    >>> from minespace import accessibility as acc
    >>> region = ms.datasets.kuzbass()
    >>> fr = acc.friction_surface(region.corridors, cell_m=5000)
    >>> tt = acc.travel_time_raster(fr, region.agglomerations)
    >>> terr = region.deposits.buffer(10_000).to_frame("geometry")
    >>> out = acc.zonal_travel_time(terr, tt)
    >>> bool((out["travel_time_min_min"] <= out["travel_time_mean_min"]).all())
    True
    """
    from ..zonal import zonal_stats

    check_layers("zonal_travel_time", territories=territories)
    if engine not in ("pandas", "dask"):
        raise ValueError(f"zonal_travel_time: engine must be 'pandas' or 'dask', got "
                         f"{engine!r}")
    try:
        stats = zonal_stats(territories, travel_time, stats=("mean", "min"),
                            prefix="travel_time_", engine=engine, scheduler=scheduler,
                            progress=progress)
    except CRSError as exc:
        raise CRSError(f"zonal_travel_time: {str(exc).removeprefix('zonal_stats: ')}"
                       ) from None
    out = territories.copy()
    out["travel_time_mean_min"] = stats["travel_time_mean"].to_numpy()
    out["travel_time_min_min"] = stats["travel_time_min"].to_numpy()
    return out
