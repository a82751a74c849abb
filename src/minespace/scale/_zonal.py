"""Zonal statistics on the workers: one task per block window of the raster.

The ``engine="dask"`` side of :func:`minespace.zonal.zonal_stats`. A raster file is
never read whole: each task opens it and reads its own window (rasterio windows,
aligned on the file's tiles); an in-memory :class:`~minespace.io.Raster` is cut
into the same blocks, scattered to the workers. The territories go to every
worker once (their STRtree built there once); each block rasterises only the
territories meeting it and returns per-territory partial sums, combined in a tree
(:func:`~minespace.scale.tree_reduce`). The block code is the pandas engine's.
"""

from __future__ import annotations

import numpy as np

from ..io.raster import Raster
from ..zonal import _as_float, _block_partial, _combine, _read_window
from ._client import _import_dask, get_client, tree_reduce


def _file_block(path: str, band: int, transform, window, index):
    """Read one window of the file on the worker and reduce it."""
    return _block_partial(_read_window(path, band, window), transform, window, index)


def _memory_block(block, transform, window, index):
    return _block_partial(_as_float(block), transform, window, index)


def _sample_file(path: str, band: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Values of the cells (*rows*, *cols*), reading only their bounding window."""
    r0, c0 = int(rows.min()), int(cols.min())
    values = _read_window(path, band, (r0, int(rows.max()) + 1, c0, int(cols.max()) + 1))
    return values[rows - r0, cols - c0]


def _sample_groups(rows: np.ndarray, cols: np.ndarray, windows):
    """Indices of the cells grouped by the block window holding them."""
    row_starts = np.unique([w[0] for w in windows])
    col_starts = np.unique([w[2] for w in windows])
    key = (np.searchsorted(row_starts, rows, side="right") * (len(col_starts) + 1)
           + np.searchsorted(col_starts, cols, side="right"))
    order = np.argsort(key, kind="stable")
    cuts = np.flatnonzero(np.diff(key[order])) + 1
    return np.split(order, cuts)


def zonal_dask(source, band: int, grid, windows, index, tiny, *, grid_windows,
               scheduler=None, progress: bool | None = None):
    """Reduced partial, tiny-territory positions and their sampled values (see
    :func:`minespace.zonal.zonal_stats`). *windows*: the blocks to reduce;
    *grid_windows*: every block of the grid (the cells sampled for the tiny
    territories are read block by block)."""
    dask, _, _ = _import_dask()

    with get_client(scheduler) as client:
        # the territories once per worker; every block's task refers to the same copy
        shared = client.scatter(index, broadcast=True, hash=False)
        blocks = []
        try:
            if isinstance(source, Raster):
                data = source.data
                blocks = client.scatter([data[r0:r1, c0:c1] for r0, r1, c0, c1 in windows],
                                        hash=False)
                parts = [dask.delayed(_memory_block)(b, grid.transform, w, shared)
                         for b, w in zip(blocks, windows, strict=True)]
            else:
                parts = [dask.delayed(_file_block)(str(source), band, grid.transform, w,
                                                   shared) for w in windows]
            partial = tree_reduce(client, parts, _combine, desc="zonal statistics",
                                  progress=progress)
        finally:
            client.cancel([shared, *blocks])
        if partial is None:
            from ..zonal import _empty_partial

            partial = _empty_partial()
        rows, cols, where = tiny(partial)
        if not rows.size:
            return partial, where, np.empty(0)
        if isinstance(source, Raster):
            return partial, where, _as_float(source.data[rows, cols])
        groups = _sample_groups(rows, cols, grid_windows)
        tasks = [dask.delayed(_sample_file)(str(source), band, rows[g], cols[g])
                 for g in groups]
        values = np.empty(rows.size)
        for g, v in zip(groups, client.gather(client.compute(tasks)), strict=True):
            values[g] = v
        return partial, where, values
