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

__all__ = ["Raster", "read_raster"]


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
