"""Choosing and checking coordinate reference systems.

All analysis in minespace happens in one metric CRS per study area. The rule
used by :func:`choose_metric_crs` is documented there; maps are drawn in
EPSG:4326 (:func:`to_map_crs`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from .errors import CRSDistortionWarning, CRSError

__all__ = ["MAP_CRS", "Distortion", "check_distortion", "choose_metric_crs", "distortion",
           "is_metric", "to_map_crs", "utm_epsg"]

#: CRS of every map layer (longitude/latitude on WGS84).
MAP_CRS = pyproj.CRS.from_epsg(4326)

#: Largest distance (degrees of longitude) of the study area from the UTM central
#: meridian for which the UTM zone is used. At 4.5 degrees the UTM scale error is
#: below 0.25 % up to 60 degrees of latitude.
UTM_MAX_OFFSET_DEG = 4.5

#: Scale distortion of a metric CRS over the study area (fractions; see docs/crs.md).
#: Above ``SCALE_WARN`` / ``AREAL_WARN`` a user-set CRS gives a
#: :class:`~minespace.errors.CRSDistortionWarning`; above ``SCALE_REFUSE`` /
#: ``AREAL_REFUSE`` it is refused with :class:`~minespace.errors.CRSError`.
SCALE_WARN = 0.01
SCALE_REFUSE = 0.05
AREAL_WARN = 0.02
AREAL_REFUSE = 0.10
#: Sample points per side of the lon/lat grid over the study extent.
GRID_POINTS = 11
#: Vertices of a layer transformed to find its lon/lat extent.
_MAX_SAMPLED = 20_000


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

    Metric is not the same as faithful: Web Mercator (EPSG:3857) is metric but
    stretches lengths by 1 / cos(latitude). Use :func:`distortion` or
    :func:`check_distortion` to measure a CRS over a study area.

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


# -- scale distortion -----------------------------------------------------------------------

@dataclass(frozen=True)
class Distortion:
    """Worst scale distortion of a projected CRS over a lon/lat extent.

    Attributes
    ----------
    scale_error : float
        Largest ``|s - 1|`` over the sample points, where ``s`` is the largest or
        smallest scale in any direction (Tissot's semi-axes): the worst relative error
        of a short distance measured in the CRS (0.7 = 70 % too long).
    areal_error : float
        Largest ``|areal scale - 1|``: the worst relative error of an area.
    lon, lat : float
        Sample point where the larger of the two occurs.
    bounds : tuple of float
        The lon/lat extent sampled (min lon, min lat, max lon, max lat).
    """

    scale_error: float
    areal_error: float
    lon: float
    lat: float
    bounds: tuple[float, float, float, float]

    def worse_than(self, scale: float, areal: float) -> bool:
        """True when either error exceeds its limit (or is not finite)."""
        return not (self.scale_error <= scale and self.areal_error <= areal)

    def describe(self) -> str:
        """``"distances by up to 70.1 % and areas by up to 189 %"``."""
        return (f"distances by up to {_pct(self.scale_error)} and areas by up to "
                f"{_pct(self.areal_error)}")


def _pct(value: float) -> str:
    if not np.isfinite(value):
        return "an unbounded amount (part of the area is outside the projection's domain)"
    if value * 100 < 0.001:
        return "less than 0.001 %"
    return f"{value * 100:.3g} %"


def _extent(area, crs) -> tuple[float, float, float, float] | None:
    """Lon/lat bounds of *area* (a bounds tuple in lon/lat, a geometry or a layer)."""
    if isinstance(area, tuple) and len(area) == 4:
        return tuple(float(v) for v in area)
    if isinstance(area, BaseGeometry):
        if crs is None:
            raise CRSError("distortion: a bare geometry needs area_crs=")
        series = gpd.GeoSeries([area], crs=crs)
    elif isinstance(area, (gpd.GeoDataFrame, gpd.GeoSeries)):
        series = area.geometry if isinstance(area, gpd.GeoDataFrame) else area
    else:
        raise TypeError(f"area must be a GeoDataFrame, GeoSeries, geometry or lon/lat bounds, "
                        f"not {type(area).__name__}")
    return layer_lonlat_bounds(series)


def layer_lonlat_bounds(series: gpd.GeoSeries, *,
                        coords: np.ndarray | None = None) -> tuple[float, float, float,
                                                                   float] | None:
    """Lon/lat bounding box of a layer (``None`` if it has no CRS, no finite geometry).

    The layer's vertices are transformed (at most ``_MAX_SAMPLED`` of them, evenly
    spaced, plus the extreme ones), not its projected bounding box, whose corners can
    lie far outside a large study area. Areas crossing the antimeridian are not
    supported. *coords* are ``shapely.get_coordinates`` of the layer when known.
    """
    if series.crs is None:
        return None
    if coords is None:
        coords = shapely.get_coordinates(np.asarray(series.values, dtype=object))
    coords = coords[np.isfinite(coords).all(axis=1)]
    if not len(coords):
        return None
    if len(coords) > _MAX_SAMPLED:
        extremes = np.concatenate([np.argmin(coords, axis=0), np.argmax(coords, axis=0)])
        step = len(coords) // _MAX_SAMPLED + 1
        coords = np.concatenate([coords[::step], coords[extremes]])
    if not series.crs.is_geographic:
        with np.errstate(invalid="ignore", over="ignore"):
            lon, lat = _to_lonlat(series.crs).transform(coords[:, 0], coords[:, 1],
                                                        errcheck=False)
        coords = np.column_stack([lon, lat])
        coords = coords[np.isfinite(coords).all(axis=1)]
        if not len(coords):
            return None
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    return (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))


@lru_cache(maxsize=64)
def _to_lonlat(crs: pyproj.CRS) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(crs, MAP_CRS, always_xy=True)


@lru_cache(maxsize=256)
def _distortion(crs: pyproj.CRS, bounds: tuple[float, float, float, float]) -> Distortion:
    minx, miny, maxx, maxy = bounds
    n = GRID_POINTS
    lon, lat = np.meshgrid(np.linspace(minx, maxx, n), np.linspace(miny, maxy, n))
    lon, lat = lon.ravel(), np.clip(lat.ravel(), -89.999, 89.999)
    factors = pyproj.Proj(crs).get_factors(lon, lat)
    a = np.asarray(factors.tissot_semimajor, dtype=float)
    b = np.asarray(factors.tissot_semiminor, dtype=float)
    areal = np.asarray(factors.areal_scale, dtype=float)
    with np.errstate(invalid="ignore"):
        scale_err = np.maximum(np.abs(a - 1.0), np.abs(b - 1.0))
        areal_err = np.abs(areal - 1.0)
    scale_err = np.where(np.isfinite(scale_err), scale_err, np.inf)
    areal_err = np.where(np.isfinite(areal_err), areal_err, np.inf)
    worst = int(np.argmax(np.maximum(scale_err, areal_err / 2.0)))
    return Distortion(float(scale_err.max()), float(areal_err.max()), float(lon[worst]),
                      float(lat[worst]), bounds)


def distortion(crs: object, area, *, area_crs: object = None) -> Distortion:
    """Worst scale distortion of the projected *crs* over the extent of *area*.

    The lon/lat bounding box of *area* is sampled on an 11 x 11 grid and pyproj's
    :meth:`pyproj.Proj.get_factors` gives, at each point, Tissot's largest and
    smallest scale (distances) and the areal scale (areas).

    Parameters
    ----------
    crs : CRS-like
        A projected CRS.
    area : GeoDataFrame, GeoSeries, geometry or (min lon, min lat, max lon, max lat)
        The study area or a layer covering it.
    area_crs : CRS-like, optional
        CRS of *area* when it is a bare geometry.

    Returns
    -------
    Distortion

    Examples
    --------
    Web Mercator stretches everything by ``1 / cos(latitude)``: at 54 N lengths by
    1.70 and areas by 2.89.

    >>> import minespace as ms
    >>> d = ms.distortion("EPSG:3857", (87.0, 54.0, 87.0, 54.0))
    >>> round(d.scale_error, 3), round(d.areal_error, 3)
    (0.701, 1.894)
    >>> d = ms.distortion("EPSG:32645", (84.4, 52.1, 89.4, 56.9))   # UTM 45N, Kuzbass
    >>> d.scale_error < 0.001
    True
    """
    target = pyproj.CRS.from_user_input(crs)
    if not target.is_projected:
        raise CRSError(f"distortion: {target.to_string()} is not a projected CRS")
    bounds = _extent(area, area_crs)
    if bounds is None:
        raise CRSError("distortion: the area has no CRS or no finite geometry")
    return _distortion(target, tuple(round(v, 6) for v in bounds))


def _crs_text(crs: pyproj.CRS) -> str:
    epsg = crs.to_epsg()
    if epsg:
        return f"EPSG:{epsg} ({crs.name})"
    with warnings.catch_warnings():  # pyproj warns that PROJ strings lose information
        warnings.simplefilter("ignore", UserWarning)
        text = repr(crs.to_proj4())
    return text if crs.name == "unknown" else f"{text} ({crs.name})"


def check_distortion(crs: object, area, *, func: str, warn: bool = True,
                     area_crs: object = None) -> Distortion | None:
    """Refuse (or warn about) a metric CRS that distorts the study area too much.

    Refuses with :class:`~minespace.errors.CRSError` when the worst scale error
    over *area* exceeds ``SCALE_REFUSE`` (5 %) or the areal error ``AREAL_REFUSE``
    (10 %), unless the CRS :func:`choose_metric_crs` suggests for the area exceeds
    them too (an area too large for any projection: then it only warns). With
    *warn*, gives a :class:`~minespace.errors.CRSDistortionWarning` above
    ``SCALE_WARN`` (1 %) or ``AREAL_WARN`` (2 %). Geographic CRSs and layers
    without a usable extent are left to the other checks (returns ``None``).

    Parameters
    ----------
    crs : CRS-like
        The CRS the user chose.
    area : GeoDataFrame, GeoSeries, geometry or lon/lat bounds
        The study area.
    func : str
        Name of the calling function or config key, used in the message.
    warn : bool
        Whether to warn in the middle band.
    area_crs : CRS-like, optional
        CRS of *area* when it is a bare geometry.

    Returns
    -------
    Distortion or None

    Raises
    ------
    CRSError
        Above the refusal thresholds, naming the distortion and the suggested CRS.

    Examples
    --------
    >>> import minespace as ms
    >>> kuzbass = (84.4, 52.1, 89.4, 56.9)
    >>> ms.check_distortion("EPSG:3857", kuzbass, func="example")
    Traceback (most recent call last):
    ...
    minespace.errors.CRSError: example: EPSG:3857 (WGS 84 / Pseudo-Mercator) distorts distances
    by up to 83.1 % and areas by up to 235 % over the study area ... use crs="auto" or
    reproject to EPSG:32645 (WGS 84 / UTM zone 45N), which distorts distances by up to 0.04 % ...
    """
    target = pyproj.CRS.from_user_input(crs)
    if not target.is_projected:
        return None
    bounds = _extent(area, area_crs)
    if bounds is None:
        return None
    found = _distortion(target, tuple(round(v, 6) for v in bounds))
    if not found.worse_than(SCALE_WARN, AREAL_WARN):
        return found
    minx, miny, maxx, maxy = bounds
    suggested = choose_metric_crs(shapely.box(*bounds), crs=MAP_CRS)
    best = _distortion(suggested, found.bounds)
    where = (f"over the study area (lon {minx:.2f}..{maxx:.2f}, lat {miny:.2f}..{maxy:.2f}; "
             f"worst at {abs(found.lon):.2f} {'E' if found.lon >= 0 else 'W'}, "
             f"{abs(found.lat):.2f} {'N' if found.lat >= 0 else 'S'})")
    advice = (f"use crs=\"auto\" or reproject to {_crs_text(suggested)}, which distorts "
              f"{best.describe()} there")
    text = f"{func}: {_crs_text(target)} distorts {found.describe()} {where}"
    no_better = best.worse_than(SCALE_REFUSE, AREAL_REFUSE)
    if found.worse_than(SCALE_REFUSE, AREAL_REFUSE) and not no_better:
        error = CRSError(f"{text}, so every distance, area and density would be wrong; "
                         f"{advice} (limits: {SCALE_REFUSE * 100:g} % for distances, "
                         f"{AREAL_REFUSE * 100:g} % for areas; see docs/crs.md)")
        error.distortion = found  # lets callers tell this apart (pipeline: a config error)
        raise error
    if warn:
        tail = ("no projection does much better over an area this large; consider splitting "
                "it" if no_better else advice)
        warnings.warn(f"{text}; results are off by that much ({tail}; warning above "
                      f"{SCALE_WARN * 100:g} % for distances, {AREAL_WARN * 100:g} % for areas)",
                      CRSDistortionWarning, stacklevel=3)
    return found
