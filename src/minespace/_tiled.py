"""Writing a large raster tile by tile: a tiled, deflate-compressed GeoTIFF (COG if possible).

The tiles arrive one at a time (from memory or from Dask workers) and are written as
windows of a staging GeoTIFF; the staging file is then copied by GDAL's COG driver
(overviews, compact layout) when GDAL has it, else given overviews in place. Memory
stays bounded by a tile plus GDAL's block cache (:data:`CACHE_MB`). The target
appears atomically (temporary names in the same folder, then ``os.replace``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

logger = logging.getLogger("minespace")

#: GDAL block cache while writing (MB): bounds the writer's memory.
CACHE_MB = 256
#: Internal tile size of the written file.
BLOCK = 512
NODATA = -9999.0


def has_cog() -> bool:
    """Whether this GDAL has the COG driver (GDAL >= 3.1)."""
    import rasterio

    with rasterio.Env() as env:
        return "COG" in env.drivers()


def write_tiles(path: str | os.PathLike, tiles: Iterable[tuple[int, int, np.ndarray]], *,
                shape: tuple[int, int], transform, crs, dtype: str = "float32",
                nodata: float = NODATA, tags: dict | None = None) -> Path:
    """Write ``(row0, col0, array)`` tiles (NaN = nodata) into one GeoTIFF at *path*.

    Every cell of *shape* must be covered by the tiles. Returns *path*.
    """
    import rasterio
    from rasterio.enums import Resampling

    from .io.write import atomic_path

    path = Path(path)
    rows, cols = shape
    block = BLOCK if min(rows, cols) >= BLOCK else 256 if min(rows, cols) >= 256 else None
    profile = {"driver": "GTiff", "height": rows, "width": cols, "count": 1, "dtype": dtype,
               "crs": crs, "transform": transform, "nodata": nodata, "compress": "deflate",
               "predictor": 3, "bigtiff": "if_safer"}
    cog = has_cog()
    if block or cog:  # the COG driver tiles even small rasters
        profile.update(tiled=True, blockxsize=block or 256, blockysize=block or 256)
    with rasterio.Env(GDAL_CACHEMAX=CACHE_MB), atomic_path(path) as final:
        stage = final.with_name(final.name + ".stage.tif") if cog else final
        try:
            stage_profile = dict(profile, zlevel=1) if cog else profile
            with rasterio.open(stage, "w", **stage_profile) as dst:
                for r0, c0, values in tiles:
                    values = np.asarray(values)
                    data = np.where(np.isnan(values), nodata, values).astype(dtype)
                    dst.write(data, 1, window=rasterio.windows.Window(
                        c0, r0, data.shape[1], data.shape[0]))
                    del data, values
                dst.update_tags(**(tags or {}))
                if not cog and max(rows, cols) > 256:
                    factors = [2**k for k in range(1, 12) if max(rows, cols) / 2**k >= 128]
                    if factors:
                        dst.build_overviews(factors, Resampling.average)
                        dst.update_tags(ns="rio_overview", resampling="average")
            if cog:
                from rasterio.shutil import copy

                clock = time.perf_counter()
                copy(stage, final, driver="COG", compress="DEFLATE", predictor="YES",
                     blocksize=block or 256, overview_resampling="AVERAGE",
                     bigtiff="IF_SAFER")
                logger.debug("%s: copied as a COG (overviews, compression) in %.1f s", path,
                            time.perf_counter() - clock)
        finally:
            if cog and stage.exists():
                stage.unlink()
    return path
