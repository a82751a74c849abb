"""Kernel density surfaces of deposits (binned FFT), written as GeoTIFF.

The estimate at a grid node g is

    f(g) = Σ_i w_i · K(‖g − x_i‖ / h) / h²        (deposits, or Σ weight, per km²)

with bandwidth h in km, K the quartic (biweight) kernel
K(u) = (3/π)(1 − u²)² for u < 1 (QGIS Heatmap and ArcGIS Kernel Density
default; Silverman 1986, eq. 4.5) or the Gaussian kernel
K(u) = exp(−u²/2)/(2π) (then h is the standard deviation, truncated at 5h).

Computation: linear binning of the points onto the grid nodes (each point's
weight is split bilinearly between the four surrounding nodes, which keeps
the mass and the centre of mass) followed by one FFT convolution with the
kernel sampled on the grid (Wand & Jones 1995, *Kernel Smoothing*, ch. 4).
Its error relative to the exact sum shrinks like (cell/h)²; at the default
cell of h/20 it is below 1e-3 of the peak density.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import limits
from ._checks import require_columns, require_geodataframe, require_metric_crs

__all__ = ["ClarkEvansResult", "DensityGrid", "bandwidth_rule", "clark_evans",
           "estimate_kernel_density", "kernel_density", "kernel_density_geotiff", "ripley"]

_MAX_CELLS = 64_000_000


def _xy_weights(deposits: gpd.GeoDataFrame, weight: str | None):
    geoms = np.asarray(deposits.geometry.values)
    xy = np.column_stack([shapely.get_x(geoms), shapely.get_y(geoms)])  # NaN if not a point
    odd = np.flatnonzero(np.isnan(xy[:, 0]))
    if odd.size:  # missing, empty or non-point geometries
        g = geoms[odd]
        usable = ~(shapely.is_missing(g) | shapely.is_empty(g))
        rep = shapely.point_on_surface(g[usable])
        xy[odd[usable]] = np.column_stack([shapely.get_x(rep), shapely.get_y(rep)])
    ok = np.isfinite(xy).all(axis=1)
    xy = xy[ok]
    if weight is None:
        w = np.ones(len(xy))
    else:
        require_columns(deposits, [weight], "deposits")
        w = deposits[weight].to_numpy(float)[ok]
        bad = ~np.isfinite(w) | (w < 0)
        if bad.any():
            raise ValueError(
                f"weight column {weight!r} is missing, infinite or negative for "
                f"{int(bad.sum())} deposit(s); drop or fill them first "
                f"(e.g. deposits.dropna(subset=[{weight!r}]))"
            )
    return xy, w


def _rule(xy: np.ndarray, w: np.ndarray) -> float:
    """Spatial Silverman rule (metres), see :func:`bandwidth_rule`."""
    n = w.sum()
    if len(xy) < 2 or n <= 0:
        _rule_from(len(xy), n, 0.0, 0.0)  # raises
    centre = (xy * w[:, None]).sum(axis=0) / n
    d2 = ((xy - centre) ** 2).sum(axis=1)
    sd = math.sqrt((w * d2).sum() / n)
    dm = float(np.median(np.sqrt(d2)))
    return _rule_from(len(xy), n, sd, dm)


def _rule_from(count: int, n: float, sd: float, dm: float) -> float:
    """The rule from its ingredients: points, Σ weights, standard and median distance (m).

    Shared with the Dask engine, which computes the ingredients by reductions.
    """
    if count < 2 or n <= 0:
        raise ValueError("the bandwidth rule needs at least two deposits with positive weight")
    spread = min(sd, math.sqrt(1.0 / math.log(2.0)) * dm)
    if spread <= 0:
        spread = max(sd, dm)
    if spread <= 0:
        raise ValueError("all deposits are at one place; give bandwidth_km explicitly")
    return float(0.9 * spread * n**-0.2)


def bandwidth_rule(deposits: gpd.GeoDataFrame, *, weight: str | None = None) -> float:
    """Default bandwidth in km: a spatial variant of Silverman's rule of thumb.

    h = 0.9 · min(SD, √(1/ln 2) · D_m) · n^(−1/5), where SD is the standard
    distance of the points from their (weighted) mean centre, D_m the median
    distance to that centre and n the number of points (or Σ weights). This
    is the rule documented for ArcGIS Pro's Kernel Density (after Silverman
    1986, eq. 3.31); it is robust to spatial outliers.

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import density
    >>> h = density.bandwidth_rule(ms.datasets.kuzbass().deposits)
    >>> round(h, 1)
    21.9
    """
    require_geodataframe(deposits, "deposits")
    require_metric_crs(deposits, "density.bandwidth_rule")
    xy, w = _xy_weights(deposits, weight)
    return _rule(xy, w) / 1000.0


def _kernel_table(kernel: str, h: float, cell: float) -> np.ndarray:
    """Kernel K(d/h)/h² (per m²) sampled at node offsets within its support."""
    r = math.ceil(_reach(kernel, h) / cell)
    off = np.arange(-r, r + 1) * cell
    u2 = (off[:, None] ** 2 + off[None, :] ** 2) / (h * h)
    if kernel == "quartic":
        k = np.where(u2 < 1.0, 3.0 / math.pi * (1.0 - u2) ** 2, 0.0)
    else:
        # nodes on the truncation circle (the default cell h/20 puts some there) are kept
        # whatever the last bit of h: the tiled engine's h may differ by an ulp
        k = np.where(u2 <= 25.0 * (1.0 + 1e-12), np.exp(-0.5 * u2) / (2.0 * math.pi), 0.0)
    return k / (h * h)


def _bin_nodes(xy: np.ndarray, w: np.ndarray, x0: float, y0: float, cell: float,
               shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Flat node indices and weight shares of the bilinear split (4 per point)."""
    ny, nx = shape
    fx = (xy[:, 0] - x0) / cell
    fy = (xy[:, 1] - y0) / cell
    jx = np.clip(np.floor(fx).astype(np.int64), 0, nx - 2)
    iy = np.clip(np.floor(fy).astype(np.int64), 0, ny - 2)
    tx = np.clip(fx - jx, 0.0, 1.0)
    ty = np.clip(fy - iy, 0.0, 1.0)
    base = iy * nx + jx
    idx = np.concatenate([base, base + 1, base + nx, base + nx + 1])
    frac = np.concatenate([(1 - ty) * (1 - tx), (1 - ty) * tx, ty * (1 - tx), ty * tx])
    return idx, np.tile(w, 4) * frac


def _linear_bin(xy: np.ndarray, w: np.ndarray, x0: float, y0: float, cell: float,
                shape: tuple[int, int]) -> np.ndarray:
    """Bilinear split of the weights onto nodes (row i ↔ y0 + i·cell, col j ↔ x0 + j·cell)."""
    ny, nx = shape
    idx, share = _bin_nodes(xy, w, x0, y0, cell, shape)
    return np.bincount(idx, weights=share, minlength=ny * nx).reshape(ny, nx)


def _convolve_same(grid: np.ndarray, kernel: np.ndarray, workers: int = -1) -> np.ndarray:
    """``scipy.signal.fftconvolve(grid, kernel, mode="same")`` (odd kernel), threaded."""
    import scipy.fft as sfft

    ky, kx = kernel.shape
    shape = (sfft.next_fast_len(grid.shape[0] + ky - 1, real=True),
             sfft.next_fast_len(grid.shape[1] + kx - 1, real=True))
    # double precision: round-off ~1e-15 of the peak, so that the tiled computation of
    # kernel_density_geotiff (other FFT sizes) agrees with the whole grid to ~1e-12
    spec = sfft.rfft2(np.asarray(grid, dtype=np.float64), shape, workers=workers)
    spec *= sfft.rfft2(np.asarray(kernel, dtype=np.float64), shape, workers=workers)
    full = sfft.irfft2(spec, shape, workers=workers)
    del spec
    oy, ox = (ky - 1) // 2, (kx - 1) // 2
    return full[oy:oy + grid.shape[0], ox:ox + grid.shape[1]]


@dataclass(frozen=True)
class DensityGrid:
    """A kernel density surface.

    Attributes
    ----------
    values : ndarray (rows, cols), float64
        Density per km² at cell centres, first row at the **top** (north), as
        in GeoTIFF; masked cells are NaN.
    transform : affine.Affine
        Maps (col, row) of cell corners to CRS coordinates.
    crs : pyproj.CRS
        The deposits' metric CRS.
    bandwidth_km, cell_km : float
        Bandwidth used and cell size.
    kernel : str
        ``"quartic"`` or ``"gaussian"``.
    """

    values: np.ndarray
    transform: object
    crs: object
    bandwidth_km: float
    cell_km: float
    kernel: str

    def to_geotiff(self, path: str | os.PathLike, *, nodata: float = -9999.0,
                   overviews: bool = True) -> Path:
        """Write a tiled, deflate-compressed float32 GeoTIFF (atomically).

        NaN cells are written as *nodata*; overviews (factors 2, 4, 8, …,
        average resampling) are added when ``overviews`` and the raster is
        larger than 256 cells. Returns the path.
        """
        import rasterio
        from rasterio.enums import Resampling

        from .io.write import atomic_path

        path = Path(path)
        data = np.where(np.isnan(self.values), nodata, self.values).astype("float32")
        rows, cols = data.shape
        profile = {"driver": "GTiff", "height": rows, "width": cols, "count": 1,
                   "dtype": "float32", "crs": self.crs, "transform": self.transform,
                   "nodata": nodata, "compress": "deflate"}
        if rows >= 256 and cols >= 256:
            profile.update(tiled=True, blockxsize=256, blockysize=256)
        # atomic_path lets GDAL create the file: ordinary permissions (umask), not
        # mkstemp's 0600
        with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
            dst.write(data, 1)
            dst.update_tags(units="per km2", kernel=self.kernel,
                            bandwidth_km=f"{self.bandwidth_km:.6g}")
            if overviews and max(rows, cols) > 256:
                factors = [2**k for k in range(1, 12) if max(rows, cols) / 2**k >= 128]
                if factors:
                    dst.build_overviews(factors, Resampling.average)
                    dst.update_tags(ns="rio_overview", resampling="average")
        return path


#: Peak bytes per grid cell of :func:`kernel_density` (measured 33 with the float64 FFT,
#: 24 with the former float32 one: binned grid, two spectra, FFT output), rounded up.
BYTES_PER_KDE_CELL = 40


def _grid(deposits, bandwidth_km, cell_km, kernel, weight, bounds):
    """Points, weights, bandwidth, cell (m) and grid (origin, shape) of a density grid."""
    require_geodataframe(deposits, "deposits")
    require_metric_crs(deposits, "density.kernel_density")
    _check_kernel(kernel)
    xy, w = _xy_weights(deposits, weight)
    if len(xy) == 0:
        raise ValueError("deposits has no point geometry")
    h = _rule(xy, w) if bandwidth_km is None else _bandwidth_m(bandwidth_km)
    cell, minx, miny, nx, ny = _grid_from(h, cell_km, kernel, bounds, xy.min(axis=0),
                                          xy.max(axis=0))
    return xy, w, h, cell, minx, miny, nx, ny


def _check_kernel(kernel) -> None:
    if kernel not in ("quartic", "gaussian"):
        raise ValueError(f"kernel must be 'quartic' or 'gaussian', got {kernel!r}")


def _bandwidth_m(bandwidth_km) -> float:
    h = float(bandwidth_km) * 1000.0
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"bandwidth_km must be positive, got {bandwidth_km!r}")
    return h


def _reach(kernel: str, h: float) -> float:
    """Distance beyond which the kernel is zero (quartic h, truncated Gaussian 5h)."""
    return h if kernel == "quartic" else 5.0 * h


def _grid_from(h: float, cell_km, kernel: str, bounds, lo, hi):
    """Cell (m), origin and shape of the grid; *lo*/*hi* the points' (x, y) minima/maxima.

    Shared with the Dask engine (which reduces the extremes over partitions), so both
    engines lay out the same grid.
    """
    cell = h / 20.0 if cell_km is None else float(cell_km) * 1000.0
    if not (np.isfinite(cell) and cell > 0):
        raise ValueError(f"cell_km must be positive, got {cell_km!r}")
    reach = _reach(kernel, h)
    if bounds is None:
        minx, miny = np.asarray(lo, dtype=float) - reach - cell
        maxx, maxy = np.asarray(hi, dtype=float) + reach + cell
        # align on multiples of the cell size
        minx, miny = math.floor(minx / cell) * cell, math.floor(miny / cell) * cell
    else:
        minx, miny, maxx, maxy = map(float, bounds)
    nx = max(2, math.ceil((maxx - minx) / cell))
    ny = max(2, math.ceil((maxy - miny) / cell))
    return cell, float(minx), float(miny), nx, ny


def _estimate(nx: int, ny: int, cell: float) -> limits.Estimate:
    return limits.Estimate("density.kernel_density", f"grid cells ({nx:,} x {ny:,})",
                           nx * ny, nx * ny * float(BYTES_PER_KDE_CELL), "cell_km",
                           cell / 1000.0)


def estimate_kernel_density(deposits: gpd.GeoDataFrame, *, bandwidth_km: float | None = None,
                            cell_km: float | None = None, kernel: str = "quartic",
                            weight: str | None = None, bounds=None) -> limits.Estimate:
    """Size of :func:`kernel_density`'s grid for these arguments (nothing allocated).

    Returns
    -------
    minespace.limits.Estimate
        ``count`` = grid cells, ``bytes = count ×`` :data:`BYTES_PER_KDE_CELL`,
        parameter ``cell_km`` (default h/20 of the bandwidth).

    Examples
    --------
    >>> import minespace as ms
    >>> est = estimate_kernel_density(ms.datasets.kuzbass().deposits, bandwidth_km=15,
    ...                               cell_km=1)
    >>> est.what        # the points' extent + 15 km of reach + 1 cell on each side
    'grid cells (205 x 299)'
    >>> est.bytes == 205 * 299 * BYTES_PER_KDE_CELL
    True
    """
    *_, cell, _, _, nx, ny = _grid(deposits, bandwidth_km, cell_km, kernel, weight, bounds)
    return _estimate(nx, ny, cell)


def kernel_density(deposits: gpd.GeoDataFrame, *, bandwidth_km: float | None = None,
                   cell_km: float | None = None, kernel: str = "quartic",
                   weight: str | None = None, bounds: tuple[float, float, float, float]
                   | None = None, mask: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
                   max_memory_gb: float | None = None) -> DensityGrid:
    """Kernel density of deposits on a regular grid (binned FFT).

    Parameters
    ----------
    deposits : GeoDataFrame
        Points in a metric CRS.
    bandwidth_km : float, optional
        Kernel radius h (quartic) or standard deviation (gaussian); default
        :func:`bandwidth_rule`.
    cell_km : float, optional
        Cell size; default h/20 (error < 1e-3 of the peak).
    kernel : {"quartic", "gaussian"}
    weight : str, optional
        Column of non-negative weights (e.g. ``"output_mt"``); missing values
        raise ``ValueError``.
    bounds : (minx, miny, maxx, maxy), optional
        Extent in the CRS; default the points' bounds padded by the kernel
        reach, so the whole mass is on the grid.
    mask : GeoDataFrame or GeoSeries, optional
        Cells whose centre is outside these polygons become NaN (nodata).
    max_memory_gb : float, optional
        Memory budget of the size check (default: half the available memory;
        :func:`estimate_kernel_density`, nothing allocated before it).

    Returns
    -------
    DensityGrid
        ``values`` in deposits (or weight units) per km²; ``values.sum() ·
        cell_km²`` is n (or Σ weight) when nothing is cut by *bounds*/*mask*.

    Raises
    ------
    CRSError
        For a missing or geographic CRS.
    ValueError
        For bad parameters, weights, or a grid over 64 million cells.
    ResourceError
        If the grid exceeds the memory budget (naming a ``cell_km`` that fits);
        a :class:`~minespace.errors.SizeWarning` above half of it.

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import density
    >>> grid = density.kernel_density(ms.datasets.kuzbass().deposits, bandwidth_km=15,
    ...                                cell_km=1)
    >>> round(float(grid.values.sum() * grid.cell_km**2))
    141
    """
    xy, w, h, cell, minx, miny, nx, ny = _grid(deposits, bandwidth_km, cell_km, kernel,
                                                 weight, bounds)
    limits.check_size(_estimate(nx, ny, cell), max_memory_gb=max_memory_gb)
    if nx * ny > _MAX_CELLS:
        raise ValueError(f"the grid would have {nx} x {ny} cells; use a larger cell_km")
    # nodes at cell centres, row 0 at the bottom while computing
    x0, y0 = minx + cell / 2.0, miny + cell / 2.0
    inside = ((xy[:, 0] >= minx) & (xy[:, 0] <= minx + nx * cell)
              & (xy[:, 1] >= miny) & (xy[:, 1] <= miny + ny * cell))
    binned = _linear_bin(xy[inside], w[inside], x0, y0, cell, (ny, nx))
    table = _kernel_table(kernel, h, cell)
    dens = _convolve_same(binned, table)
    del binned
    np.maximum(dens, 0.0, out=dens)  # clip FFT round-off
    dens *= 1e6  # per m² -> per km²
    values = dens[::-1].copy()
    del dens
    from rasterio.transform import from_origin

    transform = from_origin(minx, miny + ny * cell, cell, cell)
    if mask is not None:
        geoms = _mask_geoms(mask, deposits.crs, "density.kernel_density")
        values[_outside(geoms, values.shape, transform)] = np.nan
    return DensityGrid(values=values, transform=transform, crs=deposits.crs,
                       bandwidth_km=h / 1000.0, cell_km=cell / 1000.0, kernel=kernel)


def _mask_geoms(mask, crs, func: str) -> np.ndarray:
    """The mask's polygons (missing and empty ones left out), checked to be in *crs*."""
    if not isinstance(mask, (gpd.GeoDataFrame, gpd.GeoSeries)):
        raise TypeError(f"{func}: mask must be a GeoDataFrame or GeoSeries, got "
                        f"{type(mask).__name__}")
    geoms = mask.geometry if isinstance(mask, gpd.GeoDataFrame) else mask
    if geoms.crs != crs:
        from .errors import CRSError

        raise CRSError(f"{func}: mask and deposits are in different CRS; reproject the "
                       "mask, e.g. mask.to_crs(deposits.crs)")
    geoms = np.asarray(geoms.values, dtype=object)
    return geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]


def _outside(geoms: np.ndarray, shape: tuple[int, int], transform) -> np.ndarray:
    """True for the cells whose centre is outside every polygon (GDAL's rasterize rule)."""
    if not len(geoms):
        return np.ones(shape, dtype=bool)
    from rasterio.features import geometry_mask

    return geometry_mask(list(geoms), out_shape=shape, transform=transform)


def kernel_density_geotiff(deposits, path: str | os.PathLike, *,
                           bandwidth_km: float | None = None, cell_km: float | None = None,
                           kernel: str = "quartic", weight: str | None = None,
                           bounds: tuple[float, float, float, float] | None = None,
                           mask: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
                           engine: str = "pandas", scheduler=None, tile_cells: int = 2048,
                           progress: bool | None = None, dtype: str = "float32",
                           npartitions: int | None = None,
                           max_memory_gb: float | None = None) -> Path:
    """Kernel density written as a tiled, deflate-compressed GeoTIFF (a COG).

    The same surface as :func:`kernel_density` (same defaults for the bandwidth,
    cell and extent), written tile by tile. With ``engine="dask"`` it is computed
    on a Dask cluster by overlapping tiles, so the grid never has to fit in one
    process: the points are binned per partition, and each output tile of
    *tile_cells* × *tile_cells* cells gathers the bins of the tile plus a halo of
    the kernel's reach, convolves them by FFT and is cropped (see
    ``docs/scale.md``). Values equal the whole-grid computation's to about
    1e-15 of the peak (measured; the tests require 1e-9).

    Parameters
    ----------
    deposits : GeoDataFrame, dask_geopandas.GeoDataFrame or path
        Points in a metric CRS; with ``engine="dask"`` also a dask-geopandas
        frame or a GeoParquet file/directory (read by
        :func:`minespace.scale.read_deposits_parquet`, without the Hilbert sort).
    path : str or Path
        The GeoTIFF to write (replaced atomically: written under a temporary
        name in the same folder, then renamed).
    bandwidth_km, cell_km, kernel, weight, bounds, mask
        As in :func:`kernel_density`. With ``engine="dask"`` the default
        bandwidth (:func:`bandwidth_rule`) is computed by reductions over the
        partitions (an exact distributed median: a few passes over the points,
        which are kept on the workers meanwhile).
    engine : {"pandas", "dask"}
        ``"pandas"``: :func:`kernel_density` in memory (its size check and
        64-million-cell limit apply), then written. ``"dask"``: by tiles on the
        cluster; the grid may be larger than any one machine's memory.
    scheduler : None, str or distributed.Client
        With ``engine="dask"``: see :func:`minespace.scale.get_client`.
    tile_cells : int, default 2048
        Side of the computed (and written) tiles in cells.
    progress : bool, optional
        Progress bar of the tiles (``None``: the caller's scope decides).
    dtype : {"float32", "float64"}, default "float32"
        Cell type of the file (float64 keeps every digit of the computation).
    npartitions : int, optional
        Partitions of an in-memory *deposits* with ``engine="dask"``
        (default: :data:`minespace.scale.PARTITION_ROWS` rows each).
    max_memory_gb : float, optional
        ``engine="pandas"``: the budget of :func:`kernel_density`'s size check.
        ``engine="dask"`` checks each tile against half of the smallest worker
        memory limit instead.

    Returns
    -------
    Path
        *path*: one band of density per km² (``nodata`` −9999 where *mask*
        leaves cells out), tiled 512 × 512 (256 × 256 under 512 cells a side),
        deflate with the floating-point predictor, average overviews; a Cloud
        Optimized GeoTIFF when GDAL has the COG driver (GDAL ≥ 3.1), else a tiled
        GeoTIFF with overviews. Tags
        ``units``, ``kernel``, ``bandwidth_km`` as :meth:`DensityGrid.to_geotiff`.

    Raises
    ------
    ResourceError
        ``engine="pandas"``: the grid exceeds the memory budget;
        ``engine="dask"``: one tile plus its halo would not fit in half a
        worker's memory limit (use a smaller ``tile_cells``).
    ValueError, CRSError
        As :func:`kernel_density`; unknown *engine* or *dtype*.

    Examples
    --------
    >>> import tempfile, rasterio
    >>> import minespace as ms
    >>> from minespace import density
    >>> folder = tempfile.mkdtemp()
    >>> path = density.kernel_density_geotiff(ms.datasets.kuzbass().deposits,
    ...                                       f"{folder}/density.tif", bandwidth_km=15,
    ...                                       cell_km=1, tile_cells=128)
    >>> with rasterio.open(path) as src:
    ...     print(src.shape, src.profile["compress"], src.profile["tiled"])
    (299, 205) deflate True
    """
    if engine not in ("pandas", "dask"):
        raise ValueError(f"engine must be 'pandas' or 'dask', got {engine!r}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    if isinstance(tile_cells, bool) or not isinstance(tile_cells, (int, np.integer)) \
            or tile_cells < 1:
        raise ValueError(f"tile_cells must be a positive integer, got {tile_cells!r}")
    if engine == "dask":
        from .scale._density import kernel_density_geotiff_dask

        return kernel_density_geotiff_dask(
            deposits, path, bandwidth_km=bandwidth_km, cell_km=cell_km, kernel=kernel,
            weight=weight, bounds=bounds, mask=mask, scheduler=scheduler,
            tile_cells=int(tile_cells), progress=progress, dtype=dtype,
            npartitions=npartitions)
    from ._tiled import write_tiles

    grid = kernel_density(deposits, bandwidth_km=bandwidth_km, cell_km=cell_km,
                          kernel=kernel, weight=weight, bounds=bounds, mask=mask,
                          max_memory_gb=max_memory_gb)
    rows, cols = grid.values.shape
    t = int(tile_cells)
    tiles = ((r, c, grid.values[r:r + t, c:c + t])
             for r in range(0, rows, t) for c in range(0, cols, t))
    return write_tiles(path, tiles, shape=(rows, cols), transform=grid.transform,
                       crs=grid.crs, dtype=dtype, tags=_tags(grid.kernel, grid.bandwidth_km))


def _tags(kernel: str, bandwidth_km: float) -> dict:
    return {"units": "per km2", "kernel": kernel, "bandwidth_km": f"{bandwidth_km:.6g}"}


# --------------------------------------------------------------------------- point pattern
def _window(window, crs, func: str):
    """(polygon geometry, area in m²) of a study window (Region, GeoDataFrame, GeoSeries)."""
    geoms = window
    if not isinstance(geoms, (gpd.GeoDataFrame, gpd.GeoSeries)):
        geoms = getattr(window, "boundary", None)  # a Region
    if not isinstance(geoms, (gpd.GeoDataFrame, gpd.GeoSeries)):
        raise TypeError(f"{func}: window must be a Region, GeoDataFrame or GeoSeries")
    if geoms.crs != crs:
        from .errors import CRSError

        raise CRSError(f"{func}: the window and the deposits are in different CRS; "
                       "reproject one of them")
    poly = shapely.union_all(np.asarray(geoms.geometry.values if isinstance(
        geoms, gpd.GeoDataFrame) else geoms.values))
    if poly is None or poly.is_empty or poly.area <= 0:
        raise ValueError(f"{func}: the window has no area")
    return poly, float(poly.area)


def _point_xy(deposits: gpd.GeoDataFrame, func: str) -> np.ndarray:
    require_geodataframe(deposits, "deposits")
    require_metric_crs(deposits, func)
    xy, _ = _xy_weights(deposits, None)
    if len(xy) < 2:
        raise ValueError(f"{func}: needs at least two deposits")
    return xy


@dataclass(frozen=True)
class ClarkEvansResult:
    """Clark–Evans nearest-neighbour index (see :func:`clark_evans`)."""

    R: float
    z: float
    p_value: float
    mean_nn_km: float
    expected_nn_km: float
    n: int
    area_km2: float


def clark_evans(deposits: gpd.GeoDataFrame, *, window) -> ClarkEvansResult:
    """Clark–Evans nearest-neighbour index against complete spatial randomness.

    Parameters
    ----------
    deposits : GeoDataFrame
        Points in a metric CRS.
    window : Region, GeoDataFrame or GeoSeries
        Study area; its polygon area A is used (not the points' bounding box,
        cf. pointpats #66).

    Returns
    -------
    ClarkEvansResult
        ``R`` = d̄_obs / (0.5·√(A/n)) (R < 1 clustered, > 1 dispersed), its
        ``z`` = (d̄_obs − 0.5·√(A/n)) / (0.26136/√(n²/A)) and two-sided normal
        ``p_value``; distances in km.

    Notes
    -----
    Clark & Evans (1954, *Ecology* 35(4):445–453), without edge correction.
    Coincident deposits (several mines at one coordinate) have a nearest
    neighbour at distance 0 and are kept.

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import density
    >>> region = ms.datasets.kuzbass()
    >>> res = density.clark_evans(region.deposits, window=region)
    >>> bool(res.R < 1)   # mines are clustered in the coal basin
    True
    """
    from scipy.spatial import cKDTree

    xy = _point_xy(deposits, "density.clark_evans")
    _, area = _window(window, deposits.crs, "density.clark_evans")
    n = len(xy)
    dist, _ = cKDTree(xy).query(xy, k=2)
    d_obs = float(dist[:, 1].mean())
    expected = 0.5 * math.sqrt(area / n)
    se = 0.26136 / math.sqrt(n * n / area)
    z = (d_obs - expected) / se
    from scipy.stats import norm

    return ClarkEvansResult(R=d_obs / expected, z=z, p_value=float(2 * norm.sf(abs(z))),
                            mean_nn_km=d_obs / 1000, expected_nn_km=expected / 1000, n=n,
                            area_km2=area / 1e6)


def _uniform_in(poly, n: int, rng) -> np.ndarray:
    """n uniform points in *poly* by rejection from its bounding box."""
    minx, miny, maxx, maxy = poly.bounds
    shapely.prepare(poly)
    frac = poly.area / ((maxx - minx) * (maxy - miny))
    out = np.empty((0, 2))
    while len(out) < n:  # a few batches
        m = int((n - len(out)) / frac * 1.2) + 16
        cand = np.column_stack([rng.uniform(minx, maxx, m), rng.uniform(miny, maxy, m)])
        out = np.vstack([out, cand[shapely.contains_xy(poly, cand[:, 0], cand[:, 1])]])
    return out[:n]


def _k_function(xy: np.ndarray, radii_m: np.ndarray, area: float) -> np.ndarray:
    """K̂(d) = A/(n(n−1)) Σ_i Σ_{j≠i} 1[d_ij ≤ d] (no edge correction)."""
    from scipy.spatial import cKDTree

    n = len(xy)
    tree = cKDTree(xy)
    pairs = tree.count_neighbors(tree, radii_m) - n  # ordered pairs, i ≠ j
    return area * pairs / (n * (n - 1.0))


def ripley(deposits: gpd.GeoDataFrame, *, window, distances_km, envelopes: int = 99,
           random_state: int | np.random.Generator | None = None):
    """Ripley's K and L functions with Monte-Carlo CSR envelopes.

    Parameters
    ----------
    deposits : GeoDataFrame
        Points in a metric CRS.
    window : Region, GeoDataFrame or GeoSeries
        Study area A; CSR simulations are drawn uniformly inside it.
    distances_km : array-like
        Distances d at which K and L are evaluated.
    envelopes : int, default 99
        Number of CSR simulations (n uniform points in the same window); 0
        skips them.
    random_state : int or numpy Generator, optional
        Seed of the simulations.

    Returns
    -------
    DataFrame
        Indexed by ``distance_km`` with ``K`` (km²), ``L`` (km),
        ``L_minus_d``, ``K_csr`` = πd² and, with envelopes, ``L_low``/``L_high``
        (pointwise min/max of the simulated L).

    Notes
    -----
    Ripley (1976, 1977): K̂(d) = A/(n(n−1)) Σ_i Σ_{j≠i} 1[d_ij ≤ d] and
    L(d) = √(K(d)/π); under CSR K = πd² and L(d) − d ≈ 0. **No edge
    correction** is applied, so K̂ is biased downwards near the window's
    edge; the envelopes share that bias (same estimator, same window), so
    compare L with ``L_low``/``L_high`` rather than with d.

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import density
    >>> region = ms.datasets.kuzbass()
    >>> k = density.ripley(region.deposits, window=region, distances_km=[5, 10, 20],
    ...                    envelopes=19, random_state=0)
    >>> bool((k["L"] > k["L_high"]).all())   # clustered at every distance
    True
    """
    xy = _point_xy(deposits, "density.ripley")
    poly, area = _window(window, deposits.crs, "density.ripley")
    d_km = np.atleast_1d(np.asarray(distances_km, dtype=float))
    if (d_km < 0).any() or not np.isfinite(d_km).all():
        raise ValueError("distances_km must be finite and non-negative")
    radii = d_km * 1000.0
    k = _k_function(xy, radii, area)
    out = pd.DataFrame({"K": k / 1e6}, index=pd.Index(d_km, name="distance_km"))
    out["L"] = np.sqrt(out["K"] / math.pi)
    out["L_minus_d"] = out["L"] - d_km
    out["K_csr"] = math.pi * d_km**2
    if envelopes:
        rng = np.random.default_rng(random_state)
        sims = np.array([_k_function(_uniform_in(poly, len(xy), rng), radii, area)
                         for _ in range(int(envelopes))])  # loop over simulations
        l_sim = np.sqrt(sims / 1e6 / math.pi)
        out["L_low"] = l_sim.min(axis=0)
        out["L_high"] = l_sim.max(axis=0)
    return out
