"""Kernel density by overlapping tiles on Dask (``kernel_density_geotiff(engine="dask")``).

The whole grid is never held by one process:

1. each partition's points (and weights) are extracted once and kept on the workers;
   the extent, the count and the weighted centre are reduced from them, and, when no
   bandwidth is given, the spread of the bandwidth rule: the weighted standard distance
   by one reduction and the *exact* median distance by a distributed selection
   (histograms of the distances narrow the interval holding the middle rank until few
   enough values are left to be gathered and sorted);
2. each partition is linearly binned onto the grid nodes exactly as the in-memory
   function does (same formulas, global node numbers), and its sparse bins are cut
   into one piece per output tile: the nodes of the tile *plus a halo* of the
   kernel's reach in cells (so a node near a tile edge goes to every tile whose halo
   holds it, and a halo wider than a tile spans several tiles);
3. one task per output tile sums the pieces of every partition into a dense block,
   convolves it by FFT with the same kernel table, crops the tile, clips the FFT
   round-off and masks the cells outside the mask polygons (rasterized in the tile's
   window with the whole-grid rule, cell centres);
4. the client writes the tiles as they arrive, a few in flight at a time, into one
   tiled, deflate-compressed GeoTIFF (:func:`minespace._tiled.write_tiles`, a COG
   where GDAL has the driver), renamed into place at the end.

Linear binning and convolution are linear, so the sums of the tiles' pieces and the
tiles' convolutions are the whole-grid ones; they differ only by the order of the
floating-point additions and the FFT sizes (about 1e-13 of the peak).
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from .. import limits
from .._checks import require_columns, require_metric_crs, require_usable_coordinates
from ..density import (
    BYTES_PER_KDE_CELL,
    _bandwidth_m,
    _bin_nodes,
    _check_kernel,
    _convolve_same,
    _grid_from,
    _kernel_table,
    _mask_geoms,
    _outside,
    _reach,
    _rule_from,
    _tags,
    _xy_weights,
)
from ._client import _import_dask, get_client, to_dask

logger = logging.getLogger("minespace.scale")

FUNC = "density.kernel_density_geotiff"
#: Bins of each histogram pass of the distributed median.
MEDIAN_BINS = 4096
#: The median's candidates are gathered on the client once at most this many are left.
MEDIAN_GATHER = 1_000_000
#: Tiles computed or waiting to be written at a time, per worker (bounds the memory).
TILES_IN_FLIGHT_PER_WORKER = 2


# --------------------------------------------------------------------------- points
def _points(part: gpd.GeoDataFrame, weight: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(xy, weights) of a partition, as the in-memory function reads them."""
    require_usable_coordinates(part, FUNC, "deposits")
    return _xy_weights(part, weight)


def _stats(pts) -> tuple:
    xy, w = pts
    if not len(xy):
        return 0, 0.0, np.zeros(2), np.full(2, np.inf), np.full(2, -np.inf)
    return len(xy), float(w.sum()), (xy * w[:, None]).sum(axis=0), xy.min(axis=0), \
        xy.max(axis=0)


def _sum_stats(parts: list) -> tuple:
    count = sum(p[0] for p in parts)
    n = sum(p[1] for p in parts)
    wxy = np.sum([p[2] for p in parts], axis=0)
    lo = np.min([p[3] for p in parts], axis=0)
    hi = np.max([p[4] for p in parts], axis=0)
    return count, n, wxy, lo, hi


def _distances(xy: np.ndarray, centre: np.ndarray) -> np.ndarray:
    return np.sqrt(((xy - centre) ** 2).sum(axis=1))


def _wd2(pts, centre) -> float:
    xy, w = pts
    return float((w * ((xy - centre) ** 2).sum(axis=1)).sum())


def _histogram(pts, centre, lo: float, hi: float, bins: int):
    """(count below lo, counts of the bins of [lo, hi), min and max inside) of the distances."""
    d = _distances(pts[0], centre)
    below = int((d < lo).sum())
    inside = d[(d >= lo) & (d < hi)]
    edges = np.linspace(lo, hi, bins + 1)
    which = np.clip(np.searchsorted(edges, inside, side="right") - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    if not inside.size:
        return below, counts, np.inf, -np.inf
    return below, counts, float(inside.min()), float(inside.max())


def _sum_histograms(parts: list):
    return (sum(p[0] for p in parts), np.sum([p[1] for p in parts], axis=0),
            min(p[2] for p in parts), max(p[3] for p in parts))


def _values_in(pts, centre, lo: float, hi: float) -> np.ndarray:
    d = _distances(pts[0], centre)
    return d[(d >= lo) & (d < hi)]


def _median_distance(client, pts: list, centre: np.ndarray, count: int, hi: float) -> float:
    """``np.median`` of the distances to *centre* over all partitions, exactly."""
    ranks = [count // 2] if count % 2 else [count // 2 - 1, count // 2]
    lo, below = 0.0, 0
    while True:
        parts = [client.submit(_histogram, p, centre, lo, hi, MEDIAN_BINS, pure=False)
                 for p in pts]
        _, counts, vmin, vmax = client.submit(_sum_histograms, parts, pure=False).result()
        if vmin == vmax:  # every candidate is one value
            return float(vmin)
        cum = below + np.cumsum(counts)
        k1 = int(np.searchsorted(cum, ranks[0], side="right"))
        k2 = int(np.searchsorted(cum, ranks[-1], side="right"))
        edges = np.linspace(lo, hi, MEDIAN_BINS + 1)
        new_below = below + int(counts[:k1].sum())
        left = int(counts[k1:k2 + 1].sum())
        new_lo, new_hi = float(edges[k1]), float(edges[k2 + 1])
        shrinks = new_lo > lo or new_hi < hi
        lo, hi, below = new_lo, new_hi, new_below
        if left <= MEDIAN_GATHER or not shrinks:
            break
    values = np.sort(np.concatenate(client.gather(
        [client.submit(_values_in, p, centre, lo, hi, pure=False) for p in pts])))
    picked = [values[k - below] for k in ranks]
    return float(np.mean(picked))


# --------------------------------------------------------------------------- tiles
@dataclass(frozen=True)
class _Layout:
    """The grid, its tiles and the kernel (row i of the computation is row ny-1-i of the
    file: the computation runs bottom-up as in :func:`~minespace.density.kernel_density`)."""

    nx: int
    ny: int
    tile: int
    halo: int
    minx: float
    miny: float
    cell: float
    h: float
    kernel: str

    @property
    def n_rows(self) -> int:
        return -(-self.ny // self.tile)

    @property
    def n_cols(self) -> int:
        return -(-self.nx // self.tile)

    def file_rows(self, tr: int) -> tuple[int, int]:
        return tr * self.tile, min(self.ny, (tr + 1) * self.tile)

    def rows(self, tr: int) -> tuple[int, int]:
        """Computation rows of tile row *tr*."""
        r0, r1 = self.file_rows(tr)
        return self.ny - r1, self.ny - r0

    def cols(self, tc: int) -> tuple[int, int]:
        return tc * self.tile, min(self.nx, (tc + 1) * self.tile)

    def row_window(self, tr: int) -> tuple[int, int]:
        i0, i1 = self.rows(tr)
        return max(0, i0 - self.halo), min(self.ny, i1 + self.halo)

    def col_window(self, tc: int) -> tuple[int, int]:
        c0, c1 = self.cols(tc)
        return max(0, c0 - self.halo), min(self.nx, c1 + self.halo)

    @property
    def transform(self):
        from rasterio.transform import from_origin

        return from_origin(self.minx, self.miny + self.ny * self.cell, self.cell, self.cell)


def _bin_partition(pts, layout: _Layout) -> dict:
    """{(tile row, tile col): (flat index in the tile's halo window, weight)} of a partition."""
    xy, w = pts
    g = layout
    inside = ((xy[:, 0] >= g.minx) & (xy[:, 0] <= g.minx + g.nx * g.cell)
              & (xy[:, 1] >= g.miny) & (xy[:, 1] <= g.miny + g.ny * g.cell))
    idx, share = _bin_nodes(xy[inside], w[inside], g.minx + g.cell / 2.0,
                            g.miny + g.cell / 2.0, g.cell, (g.ny, g.nx))
    out: dict = {}
    if not idx.size:
        return out
    nodes, inverse = np.unique(idx, return_inverse=True)   # sorted, row-major
    sums = np.bincount(inverse, weights=share)
    rows, cols = np.divmod(nodes, g.nx)
    for tr in range(g.n_rows):  # loop over tile rows and columns, not over points
        a0, a1 = g.row_window(tr)
        s0, s1 = np.searchsorted(nodes, [a0 * g.nx, a1 * g.nx])
        if s0 == s1:
            continue
        band_r, band_c, band_w = rows[s0:s1], cols[s0:s1], sums[s0:s1]
        for tc in range(g.n_cols):
            b0, b1 = g.col_window(tc)
            sel = (band_c >= b0) & (band_c < b1)
            if sel.any():
                out[tr, tc] = ((band_r[sel] - a0) * (b1 - b0) + band_c[sel] - b0,
                               band_w[sel])
    return out


def _keys(bins: dict) -> list:
    return list(bins)


def _piece(bins: dict, key):
    return bins[key]


def _tile(layout: _Layout, key: tuple[int, int], dtype: str, geoms, *pieces) -> np.ndarray:
    """Density of one output tile, in file orientation (north up), NaN outside the mask."""
    g = layout
    tr, tc = key
    i0, i1 = g.rows(tr)
    c0, c1 = g.cols(tc)
    if pieces:
        a0, a1 = g.row_window(tr)
        b0, b1 = g.col_window(tc)
        idx = np.concatenate([p[0] for p in pieces])
        wts = np.concatenate([p[1] for p in pieces])
        block = np.bincount(idx, weights=wts, minlength=(a1 - a0) * (b1 - b0))
        block = block.reshape(a1 - a0, b1 - b0)
        conv = _convolve_same(block, _kernel_table(g.kernel, g.h, g.cell), workers=1)
        del block
        dens = np.maximum(conv[i0 - a0:i1 - a0, c0 - b0:c1 - b0], 0.0) * 1e6
    else:  # no point within the kernel's reach
        dens = np.zeros((i1 - i0, c1 - c0))
    values = dens[::-1].copy()
    if geoms is not None:
        from rasterio.windows import Window, bounds, transform

        r0, _ = g.file_rows(tr)
        window = Window(c0, r0, c1 - c0, i1 - i0)
        near = geoms[shapely.intersects(geoms, shapely.box(*bounds(window, g.transform)))]
        values[_outside(near, values.shape, transform(window, g.transform))] = np.nan
    return values.astype(dtype, copy=False)


# --------------------------------------------------------------------------- driver
def _frame(deposits, weight, npartitions):
    _, dask_geopandas, _ = _import_dask()
    if isinstance(deposits, (str, Path)):
        from ._read import read_deposits_parquet

        return read_deposits_parquet(deposits, weight=weight or (), spatial_partitioning=None)
    if isinstance(deposits, gpd.GeoDataFrame):
        require_metric_crs(deposits, FUNC)
        return to_dask(deposits, npartitions=npartitions)
    if isinstance(deposits, dask_geopandas.GeoDataFrame):
        require_metric_crs(deposits._meta, FUNC)  # the CRS; coordinates per partition
        return deposits
    raise TypeError(f"{FUNC}: deposits must be a GeoDataFrame, a dask_geopandas.GeoDataFrame "
                    f"or a path to GeoParquet, got {type(deposits).__name__}")


def _worker_budget(client) -> float:
    """Bytes one tile may use: MEMORY_FRACTION of the smallest worker memory limit."""
    workers = client.scheduler_info().get("workers", {}).values()
    caps = [w.get("memory_limit") or 0 for w in workers]
    caps = [c for c in caps if c > 0]
    if not caps:
        return limits.memory_budget()
    return limits.MEMORY_FRACTION * float(min(caps))


def tile_estimate(layout: _Layout) -> limits.Estimate:
    """Memory of one tile's task: its halo window padded for the FFT, ~40 bytes a cell."""
    wy = min(layout.ny, layout.tile + 2 * layout.halo) + 2 * layout.halo
    wx = min(layout.nx, layout.tile + 2 * layout.halo) + 2 * layout.halo
    return limits.Estimate(f"{FUNC} (one tile)",
                           f"cells of a tile with its halo and FFT padding ({wy:,} x {wx:,})",
                           wy * wx, wy * wx * float(BYTES_PER_KDE_CELL), "tile_cells",
                           layout.tile, scale=2.0)


def kernel_density_geotiff_dask(deposits, path, *, bandwidth_km, cell_km, kernel, weight,
                                bounds, mask, scheduler, tile_cells, progress, dtype,
                                npartitions=None) -> Path:
    """``density.kernel_density_geotiff(engine="dask")`` (see that function)."""
    from .._progress import bar
    from .._tiled import write_tiles

    _, _, distributed = _import_dask()
    _check_kernel(kernel)
    h = None if bandwidth_km is None else _bandwidth_m(bandwidth_km)
    frame = _frame(deposits, weight, npartitions)
    if weight is not None:
        require_columns(frame._meta, [weight], "deposits")
    geoms = None if mask is None else _mask_geoms(mask, frame.crs, "density.kernel_density")
    import dask

    with get_client(scheduler) as client:
        clock = time.perf_counter()
        pts = client.compute([dask.delayed(_points)(part, weight)
                              for part in frame.to_delayed()])
        try:
            count, n, wxy, lo, hi = client.submit(
                _sum_stats, [client.submit(_stats, p, pure=False) for p in pts],
                pure=False).result()
            if count == 0:
                raise ValueError("deposits has no point geometry")
            logger.debug("kernel density: %d points read from %d partitions in %.1f s", count,
                        len(pts), time.perf_counter() - clock)
            clock = time.perf_counter()
            if h is None:
                if count < 2 or n <= 0:
                    _rule_from(count, n, 0.0, 0.0)  # raises the in-memory engine's error
                centre = wxy / n
                sd = math.sqrt(sum(client.gather([client.submit(_wd2, p, centre, pure=False)
                                                  for p in pts])) / n)
                corners = np.array([[x, y] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])])
                top = float(_distances(corners, centre).max()) * (1 + 1e-9) + 1.0
                dm = _median_distance(client, pts, centre, count, top)
                h = _rule_from(count, n, sd, dm)
                logger.debug("kernel density: bandwidth rule %.6g km in %.1f s", h / 1000.0,
                            time.perf_counter() - clock)
                clock = time.perf_counter()
            cell, minx, miny, nx, ny = _grid_from(h, cell_km, kernel, bounds, lo, hi)
            layout = _Layout(nx=nx, ny=ny, tile=tile_cells,
                             halo=math.ceil(_reach(kernel, h) / cell), minx=minx, miny=miny,
                             cell=cell, h=h, kernel=kernel)
            limits.check_size(tile_estimate(layout),
                              max_memory_gb=_worker_budget(client) / 2**30, stacklevel=4)
            bins = [client.submit(_bin_partition, p, layout, pure=False) for p in pts]
            owners: dict = {}  # tile -> the partitions' bins that have a piece of it
            for part, keys in zip(bins, client.gather([client.submit(_keys, b, pure=False)
                                                       for b in bins]), strict=True):
                for key in keys:
                    owners.setdefault(key, []).append(part)
        finally:
            # released, not cancelled (cancelling finished futures upsets the scheduler)
            del pts
        logger.debug("kernel density: %d x %d cells, %d x %d tiles of %d (halo %d), binned in "
                    "%.1f s", nx, ny, layout.n_cols, layout.n_rows, tile_cells, layout.halo,
                    time.perf_counter() - clock)
        clock = time.perf_counter()
        geoms_f = None if geoms is None else client.scatter([geoms], broadcast=True,
                                                            hash=False)[0]

        def submit(key):
            pieces = [client.submit(_piece, b, key, pure=False) for b in owners.get(key, [])]
            return client.submit(_tile, layout, key, dtype, geoms_f, *pieces, pure=False)

        def stream(done):
            keys = iter(itertools.product(range(layout.n_rows), range(layout.n_cols)))
            limit = max(2, TILES_IN_FLIGHT_PER_WORKER * len(client.scheduler_info()["workers"]))
            running = {}
            queue = distributed.as_completed(loop=client.loop)
            for key in itertools.islice(keys, limit):
                future = submit(key)
                running[future.key] = key
                queue.add(future)
            try:
                for future in queue:
                    tr, tc = running.pop(future.key)
                    values = future.result()
                    del future
                    nxt = next(keys, None)
                    if nxt is not None:
                        following = submit(nxt)
                        running[following.key] = nxt
                        queue.add(following)
                    done.update(1)
                    yield layout.file_rows(tr)[0], layout.cols(tc)[0], values
            except BaseException:
                queue.clear()
                raise

        with bar(progress, total=layout.n_rows * layout.n_cols, desc="density tiles",
                 unit="tile") as done:
            out = write_tiles(path, stream(done), shape=(ny, nx), transform=layout.transform,
                              crs=frame.crs, dtype=dtype, tags=_tags(kernel, h / 1000.0))
        logger.debug("kernel density: tiles computed and written to %s in %.1f s", out,
                    time.perf_counter() - clock)
        return out
