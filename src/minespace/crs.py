"""Choosing and checking coordinate reference systems.

All analysis in minespace happens in one metric CRS per study area. The rule
used by :func:`choose_metric_crs` is documented there; maps are drawn in
EPSG:4326 (:func:`to_map_crs`).
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from .errors import CRSError

__all__ = ["MAP_CRS", "choose_metric_crs", "is_metric", "to_map_crs", "utm_epsg"]

#: CRS of every map layer (longitude/latitude on WGS84).
MAP_CRS = pyproj.CRS.from_epsg(4326)

#: Largest distance (degrees of longitude) of the study area from the UTM central
#: meridian for which the UTM zone is used. At 4.5 degrees the UTM scale error is
#: below 0.25 % up to 60 degrees of latitude.
UTM_MAX_OFFSET_DEG = 4.5


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS84 UTM zone containing (*lon*, *lat*).

    Examples
    --------
    >>> utm_epsg(87.0, 54.5)      # Kuzbass
    32645
    >>> utm_epsg(148.5, -22.5)    # Bowen Basin, southern hemisphere
    32755
    """
    zone = math.floor((lon + 180.0) / 6.0) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


def is_metric(crs: object) -> bool:
    """True when *crs* is projected with metre units.

    Examples
    --------
    >>> is_metric("EPSG:32645"), is_metric("EPSG:4326")
    (True, False)
    """
    if crs is None:
        return False
    crs = pyproj.CRS.from_user_input(crs)
    if not crs.is_projected:
        return False
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    return unit in ("metre", "meter", "m")


def _lonlat_bounds(area: gpd.GeoDataFrame | gpd.GeoSeries | BaseGeometry, crs=None):
    if isinstance(area, BaseGeometry):
        if crs is None:
            raise CRSError("choose_metric_crs: a bare geometry needs crs=")
        series = gpd.GeoSeries([area], crs=crs)
    elif isinstance(area, (gpd.GeoDataFrame, gpd.GeoSeries)):
        series = area.geometry if isinstance(area, gpd.GeoDataFrame) else area
        if series.crs is None:
            raise CRSError(
                "choose_metric_crs: the layer has no CRS; set it with .set_crs(...) first"
            )
    else:
        raise TypeError(f"area must be a GeoDataFrame, GeoSeries or geometry, not {type(area)}")
    series = series[~(series.isna() | series.is_empty)]
    if series.empty:
        raise CRSError("choose_metric_crs: the layer has no non-empty geometry")
    bounds = series.to_crs(MAP_CRS).total_bounds
    centre = shapely.Point((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
    return bounds, centre


def choose_metric_crs(
    area: gpd.GeoDataFrame | gpd.GeoSeries | BaseGeometry, *, crs: object = None
) -> pyproj.CRS:
    """Choose the metric CRS for a study area.

    Rule: take the centre of the area's longitude/latitude bounding box. If every
    part of the area lies within ``UTM_MAX_OFFSET_DEG`` (4.5 degrees) of longitude of the
    central meridian of the centre's UTM zone, and the area lies between 80 S
    and 84 N, use that WGS84 UTM zone (EPSG 326xx north, 327xx south): its
    distances are conformal and familiar. Otherwise (wide or polar areas) use a
    Lambert azimuthal equal-area projection centred there, which keeps
    areas exact and distances near the centre accurate.

    Parameters
    ----------
    area : GeoDataFrame, GeoSeries or shapely geometry
        The study area or any layer covering it, with a CRS.
    crs : CRS-like, optional
        CRS of *area* when it is a bare geometry.

    Returns
    -------
    pyproj.CRS

    Raises
    ------
    CRSError
        If the layer has no CRS or no geometry.

    Examples
    --------
    >>> import minespace as ms
    >>> region = ms.datasets.kuzbass()
    >>> ms.choose_metric_crs(region.boundary).to_epsg()
    32645
    """
    (minx, miny, maxx, maxy), centroid = _lonlat_bounds(area, crs)
    lon, lat = centroid.x, centroid.y
    epsg = utm_epsg(lon, lat)
    central = (epsg % 100 - 1) * 6 - 180 + 3
    offset = max(abs(minx - central), abs(maxx - central))
    if offset <= UTM_MAX_OFFSET_DEG and miny >= -80 and maxy <= 84:
        return pyproj.CRS.from_epsg(epsg)
    return pyproj.CRS.from_proj4(
        f"+proj=laea +lat_0={lat:.4f} +lon_0={lon:.4f} +x_0=0 +y_0=0 +datum=WGS84 "
        "+units=m +no_defs"
    )


def to_map_crs(layer: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return *layer* reprojected to EPSG:4326 for web maps (a new frame)."""
    if layer.crs is None:
        raise CRSError("to_map_crs: the layer has no CRS")
    return layer.to_crs(MAP_CRS)


def _finite_xy(geoms) -> np.ndarray:
    """All coordinates of *geoms* as an (n, 2) array (helper for range checks)."""
    return shapely.get_coordinates(np.asarray(geoms))
