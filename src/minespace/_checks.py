"""Shared argument checks used across modules."""

from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from .errors import CRSError, LayerError, Problem

__all__ = ["bad_coordinates", "layer_source", "require_columns", "require_geodataframe",
           "require_metric_crs", "require_same_crs", "require_usable_coordinates"]

#: ``GeoDataFrame.attrs`` key under which the readers record the file a layer came from.
SOURCE_ATTR = "minespace_source"
#: A projected coordinate is outside its CRS's domain when the round trip through
#: longitude/latitude moves it by more than this (metres).
ROUND_TRIP_TOL_M = 1000.0
#: Rows quoted per problem kind in one error.
MAX_QUOTED = 50


def require_geodataframe(obj: object, name: str) -> gpd.GeoDataFrame:
    """Raise ``TypeError`` unless *obj* is a GeoDataFrame."""
    if not isinstance(obj, gpd.GeoDataFrame):
        raise TypeError(f"{name} must be a GeoDataFrame, got {type(obj).__name__}")
    return obj


def require_columns(frame, columns: Iterable[str], name: str) -> None:
    """Raise ``KeyError`` listing every column of *columns* missing from *frame*."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(
            f"{name} lacks column(s) {missing}; available: {sorted(map(str, frame.columns))}"
        )


def require_metric_crs(frame: gpd.GeoDataFrame, func: str) -> None:
    """Raise unless *frame* can be measured: a metric CRS, usable coordinates.

    Raises :class:`CRSError` when *frame* has no CRS, a geographic one, or a
    projected one that distorts its extent beyond the refusal limits of
    :func:`minespace.check_distortion`; and :class:`LayerError` (from
    :func:`require_usable_coordinates`) for non-finite coordinates or coordinates
    outside the CRS's domain.
    """
    if frame.crs is None:
        raise CRSError(
            f"{func}: the layer has no CRS; set one with .set_crs(...) "
            "or load it through minespace.read_* with crs=..."
        )
    if not frame.crs.is_projected:
        raise CRSError(
            f"{func}: distances and areas need a metric (projected) CRS, but the layer is in "
            f"{frame.crs.to_string()}; reproject first, e.g. "
            "layer.to_crs(ms.choose_metric_crs(layer)) or region.crs"
        )
    coords = shapely.get_coordinates(np.asarray(frame.geometry.values, dtype=object))
    require_usable_coordinates(frame, func, coords=coords)
    from .crs import check_distortion, layer_lonlat_bounds

    bounds = layer_lonlat_bounds(frame.geometry, coords=coords)
    if bounds is not None:
        check_distortion(frame.crs, bounds, func=func, warn=False)


def require_same_crs(func: str, **layers: gpd.GeoDataFrame) -> None:
    """Raise :class:`CRSError` when the given layers do not share one CRS."""
    crss = {name: layer.crs for name, layer in layers.items() if layer is not None}
    first_name, first = next(iter(crss.items()))
    for name, crs in crss.items():
        if crs != first:
            raise CRSError(
                f"{func}: layers are in different CRS ({first_name}: "
                f"{first.to_string() if first else None}, {name}: "
                f"{crs.to_string() if crs else None}); reproject them to one metric CRS, "
                "e.g. with region.to_crs(...) or layer.to_crs(other.crs)"
            )


def layer_source(frame: gpd.GeoDataFrame, default: str) -> str:
    """File a layer was read from (recorded by the readers), else *default*."""
    return str(frame.attrs.get(SOURCE_ATTR, default))


def _round_trip_bad(xy: np.ndarray, crs: pyproj.CRS) -> np.ndarray:
    """True where projected *xy* do not survive projected -> lon/lat -> projected."""
    from .crs import MAP_CRS

    inverse = pyproj.Transformer.from_crs(crs, MAP_CRS, always_xy=True)
    forward = pyproj.Transformer.from_crs(MAP_CRS, crs, always_xy=True)
    with np.errstate(invalid="ignore", over="ignore"):
        lon, lat = inverse.transform(xy[:, 0], xy[:, 1], errcheck=False)
        x2, y2 = forward.transform(lon, lat, errcheck=False)
        moved = np.hypot(np.asarray(x2) - xy[:, 0], np.asarray(y2) - xy[:, 1])
    return ~(moved <= ROUND_TRIP_TOL_M)


def _probe(coords: np.ndarray) -> np.ndarray:
    """Positions of the extreme points of *coords* (by x, y, x + y, x - y and distance
    from the bounding-box centre): where points outside a projection's domain show."""
    centre = (coords.min(axis=0) + coords.max(axis=0)) / 2
    keys = (coords[:, 0], coords[:, 1], coords.sum(axis=1), coords[:, 0] - coords[:, 1],
            np.hypot(*(coords - centre).T))
    return np.unique([f(k) for k in keys for f in (np.argmin, np.argmax)])


def bad_coordinates(geoms, crs, *, full: bool = True,
                    coords: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rows of *geoms* with non-finite coordinates, and rows outside the CRS's domain.

    Outside the domain: longitude beyond [-180, 180] or latitude beyond [-90, 90] in a
    geographic CRS; in a projected one, a point that does not map to a place on Earth
    (the round trip through longitude/latitude moves it by more than
    ``ROUND_TRIP_TOL_M``, e.g. 1e12 m). With ``full=False`` only the extreme points
    (by x, y, x + y, x - y and distance from the bounding-box centre) are tried first,
    and every point only when one of them fails: a bounded cost for repeated checks.
    *coords* are ``shapely.get_coordinates(geoms)`` when the caller has them already.
    """
    arr = np.asarray(geoms, dtype=object)
    n = len(arr)
    nonfinite = np.zeros(n, dtype=bool)
    outside = np.zeros(n, dtype=bool)
    crs = pyproj.CRS.from_user_input(crs) if crs is not None else None
    projected = crs is not None and crs.is_projected and not crs.is_geographic
    if not full and n:
        # fast path for repeated checks: all finite and the extremes on Earth
        coords = shapely.get_coordinates(arr) if coords is None else coords
        if not len(coords):
            return nonfinite, outside
        if np.isfinite(coords).all() and (
                crs is None or not (projected or crs.is_geographic)
                or (crs.is_geographic and bool((np.abs(coords).max(axis=0) <= [180, 90]).all()))
                or (projected and not _round_trip_bad(coords[_probe(coords)], crs).any())):
            return nonfinite, outside
    coords, rows = shapely.get_coordinates(arr, return_index=True)
    finite = np.isfinite(coords).all(axis=1)
    nonfinite[rows[~finite]] = True
    coords, rows = coords[finite], rows[finite]
    if crs is None or not len(coords):
        return nonfinite, outside
    if crs.is_geographic:
        bad = (np.abs(coords[:, 0]) > 180) | (np.abs(coords[:, 1]) > 90)
    elif not projected:
        return nonfinite, outside
    elif full or _round_trip_bad(coords[_probe(coords)], crs).any():
        bad = _round_trip_bad(coords, crs)
    else:
        return nonfinite, outside
    outside[rows[bad]] = True
    return nonfinite, outside


def coordinate_problems(geoms, crs, *, source: str, ids, where=None,
                        full: bool = True, coords: np.ndarray | None = None) -> list[Problem]:
    """:class:`Problem` per row with non-finite or out-of-domain coordinates.

    *ids* label the rows (``where(pos)`` overrides the label when given).
    """
    nonfinite, outside = bad_coordinates(geoms, crs, full=full, coords=coords)
    problems = []
    crs_text = pyproj.CRS.from_user_input(crs).to_string() if crs is not None else ""
    checks = (
        (nonfinite, "coordinates are not finite (NaN or infinite)",
         "give the feature real coordinates or remove it"),
        (outside, f"coordinates are outside what {crs_text} can represent "
         "(they are not a place on Earth)",
         "fix the coordinates, or give the layer its real CRS"),
    )
    arr = np.asarray(geoms, dtype=object)
    for mask, message, hint in checks:
        positions = np.flatnonzero(mask)
        for pos in positions[:MAX_QUOTED]:
            label = where(pos) if where is not None else f"id {ids[pos]!r}"
            text = message
            if mask is outside:
                xy = shapely.get_coordinates(arr[pos])
                text += f": e.g. ({xy[0, 0]:.6g}, {xy[0, 1]:.6g})"
            problems.append(Problem(source, label, "geometry", text, hint))
        if len(positions) > MAX_QUOTED:
            problems.append(Problem(source, None, "geometry",
                                    f"{len(positions) - MAX_QUOTED} more rows with {message} "
                                    f"({len(positions)} in all)", hint))
    return problems


def require_usable_coordinates(frame: gpd.GeoDataFrame, func: str,
                               name: str = "layer", *, coords: np.ndarray | None = None) -> None:
    """Raise :class:`LayerError` naming every row of *frame* with non-finite
    coordinates or coordinates outside its CRS's domain (e.g. 1e12 m)."""
    source = layer_source(frame, f"{func}: {name}")
    problems = coordinate_problems(frame.geometry.values, frame.crs, source=source,
                                   ids=frame.index, full=False, coords=coords)
    if problems:
        raise LayerError(problems)
