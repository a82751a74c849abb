"""Reading rasters (population, elevation) with rasterio."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyproj
import rasterio
from affine import Affine

from ..errors import CRSError

__all__ = ["Raster", "clip_raster", "read_raster"]


@dataclass(frozen=True)
class Raster:
    """A single-band raster in memory.

    Attributes
    ----------
    data : numpy.ma.MaskedArray
        Values, masked where nodata (float64).
    transform : affine.Affine
        Pixel -> CRS coordinates.
    crs : pyproj.CRS
    nodata : float or None
    source : str
    """

    data: np.ma.MaskedArray
    transform: Affine
    crs: pyproj.CRS
    nodata: float | None
    source: str = "<memory>"

    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape

    @property
    def res(self) -> tuple[float, float]:
        """Cell size (x, y) in CRS units."""
        return (abs(self.transform.a), abs(self.transform.e))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy)."""
        h, w = self.shape
        x0, y0 = self.transform * (0, 0)
        x1, y1 = self.transform * (w, h)
        return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    def __repr__(self) -> str:
        return (f"Raster({self.source!r}, shape={self.shape}, res={self.res}, "
                f"crs={self.crs.to_string()})")


def read_raster(path: str | os.PathLike, *, band: int = 1, crs: object = None) -> Raster:
    """Read one band of a raster file (GeoTIFF or any GDAL format).

    Parameters
    ----------
    path : path
        Raster file.
    band : int
        1-based band number.
    crs : CRS-like, optional
        CRS to assume when the file has none.

    Returns
    -------
    Raster
        Masked float64 values, transform, CRS, nodata.

    Raises
    ------
    CRSError
        If the file has no CRS and ``crs`` is not given.
    FileNotFoundError
        If the file does not exist.

    Examples
    --------
    >>> import minespace as ms, numpy as np, rasterio
    >>> from rasterio.transform import from_origin
    >>> path = tmp_path / "pop.tif"
    >>> with rasterio.open(path, "w", driver="GTiff", width=2, height=2, count=1,
    ...                    dtype="float32", crs="EPSG:32645", nodata=-1,
    ...                    transform=from_origin(0, 2000, 1000, 1000)) as dst:
    ...     dst.write(np.array([[1, 2], [-1, 4]], dtype="float32"), 1)
    >>> r = ms.read_raster(path)
    >>> float(r.data.sum()), r.res
    (7.0, (1000.0, 1000.0))
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"raster file not found: {path}")
    with rasterio.open(path) as src:
        if not 1 <= band <= src.count:
            raise ValueError(f"{path.name}: band {band} requested but the file has {src.count}")
        data = src.read(band, masked=True).astype("float64")
        file_crs = src.crs
        transform = src.transform
        nodata = src.nodata
    if file_crs is None:
        if crs is None:
            raise CRSError(f"{path.name}: the raster has no CRS; pass crs='EPSG:...'")
        out_crs = pyproj.CRS.from_user_input(crs)
    else:
        out_crs = pyproj.CRS.from_user_input(file_crs.to_wkt())
    data = np.ma.masked_invalid(data)
    return Raster(data=data, transform=transform, crs=out_crs, nodata=nodata, source=path.name)


def clip_raster(raster: Raster, polygons) -> Raster:
    """A copy of *raster* with cells whose centre lies outside *polygons* masked.

    Parameters
    ----------
    raster : Raster
    polygons : GeoDataFrame or GeoSeries
        In the raster's CRS (reprojected if needed).

    Examples
    --------
    >>> import minespace as ms, numpy as np, shapely, geopandas as gpd, pyproj
    >>> from rasterio.transform import from_origin
    >>> r = ms.io.Raster(np.ma.masked_invalid(np.ones((2, 2))), from_origin(0, 2, 1, 1),
    ...                  pyproj.CRS(32645), None)
    >>> half = gpd.GeoSeries([shapely.box(0, 0, 1, 2)], crs=32645)
    >>> int(ms.io.clip_raster(r, half).data.count())
    2
    """
    from rasterio.features import geometry_mask

    geoms = polygons.geometry if hasattr(polygons, "geometry") else polygons
    if geoms.crs is not None and geoms.crs != raster.crs:
        geoms = geoms.to_crs(raster.crs)
    outside = geometry_mask(list(geoms.values), out_shape=raster.shape,
                            transform=raster.transform)
    data = np.ma.array(raster.data.filled(np.nan), mask=raster.data.mask | outside)
    return Raster(data=data, transform=raster.transform, crs=raster.crs, nodata=raster.nodata,
                  source=raster.source)
