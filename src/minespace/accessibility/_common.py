"""Helpers shared by the accessibility modules (points, speeds, checks)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from .._checks import require_geodataframe, require_metric_crs, require_same_crs
from ..errors import CRSError, MinespaceWarning
from ..io.raster import Raster
from ..schema import DEFAULT_SPEEDS_KMH, canonical_kind

__all__ = ["ORIGIN_RULES", "check_layers", "origin_points", "point_coordinates",
           "representative_points", "resolve_speeds"]

#: How an origin point was obtained (``origin`` column of population_weighted_points).
ORIGIN_RULES: tuple[str, ...] = ("point", "population", "representative")


def check_layers(func: str, *, geometry_checked: tuple[str, ...] = (),
                 **layers: gpd.GeoDataFrame | None) -> None:
    """Type, metric-CRS and same-CRS checks for every given layer, and no missing or
    empty geometry (except in the layers named in *geometry_checked*, which the
    caller has checked already, e.g. with :func:`point_coordinates`)."""
    present = {k: v for k, v in layers.items() if v is not None}
    for name, layer in present.items():
        require_geodataframe(layer, name)
        require_metric_crs(layer, func)
    require_same_crs(func, **present)
    for name, layer in present.items():
        if name in geometry_checked:
            continue
        geoms = layer.geometry.array
        if len(layer) and (shapely.is_missing(np.asarray(geoms)).any()
                           or layer.geometry.is_empty.any()):
            raise ValueError(f"{func}: layer '{name}' has missing or empty geometries; "
                             "drop them first (layer[~layer.geometry.is_empty])")


def point_coordinates(layer: gpd.GeoDataFrame) -> np.ndarray | None:
    """(n, 2) coordinates if every geometry of *layer* is one point, else None.

    One pass over the geometries: a non-empty point has exactly one coordinate, a
    missing or empty geometry none, a line or polygon several; so the layer is all
    points exactly when there are n coordinates, one per row (a one-point
    MultiPoint counts as its point).
    """
    if not isinstance(layer, gpd.GeoDataFrame) or len(layer) == 0:
        return None
    coords, row = shapely.get_coordinates(np.asarray(layer.geometry.array),
                                          return_index=True)
    if len(coords) != len(layer) or not (row[1:] > row[:-1]).all():
        return None
    return coords


def representative_points(layer: gpd.GeoDataFrame) -> np.ndarray:
    """Points standing for each feature: the point itself, else a representative point.

    A representative point lies inside its polygon (unlike a centroid of a concave
    shape) and on its line.
    """
    geoms = np.asarray(layer.geometry.array)
    is_point = shapely.get_type_id(geoms) == 0
    out = geoms.copy()
    out[~is_point] = shapely.point_on_surface(geoms[~is_point])
    return out


def origin_points(layer: gpd.GeoDataFrame, population: Raster | None = None, *,
                  func: str = "origin_points") -> np.ndarray:
    """The point each feature travels from: population-weighted where a raster is given.

    Without *population*, exactly :func:`representative_points`. With it, points stay
    as they are and every (multi)polygon gets the population-weighted mean of the
    centres of the raster cells whose centre lies inside it (see
    :func:`_population_points` for the rules).
    """
    if population is None:
        return representative_points(layer)
    return _population_points(layer, population, func)[0]


def _check_population(layer: gpd.GeoDataFrame, population: Raster, func: str) -> None:
    if not isinstance(population, Raster):
        raise TypeError(f"{func}: population must be a minespace Raster (ms.read_raster(path)),"
                        f" got {type(population).__name__}")
    if population.crs is None or layer.crs is None or not pyproj.CRS(population.crs).equals(
            pyproj.CRS(layer.crs)):
        raster_crs = population.crs.to_string() if population.crs is not None else None
        layer_crs = layer.crs.to_string() if layer.crs is not None else None
        raise CRSError(
            f"{func}: the population raster '{population.source}' is in {raster_crs} but the "
            f"layer is in {layer_crs}; reproject the raster to the layer's CRS first: "
            "ms.reproject_raster(raster, layer.crs, kind=\"count\") keeps the population "
            f"totals (or gdalwarp -t_srs {layer_crs} -r sum)")


def _population_points(layer: gpd.GeoDataFrame, population: Raster, func: str
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Population-weighted points and how each was obtained (index into ORIGIN_RULES).

    Rules:

    * points (geometry type Point) are kept (rule 0, ``"point"``); lines, multipoints
      and collections get their representative point (rule 2);
    * a cell belongs to every (multi)polygon that contains its centre (GDAL's
      rasterisation rule), overlapping polygons included: each counts the cell in
      full, so a polygon's point does not depend on the other rows; a centre lying
      on an edge that polygons share counts once (GDAL gives it to one of them, or,
      along a horizontal edge, to each: then the later row keeps it);
    * weights are the cell values; masked, NaN and infinite cells weigh 0;
      negative values are an error (undeclared nodata, most likely);
    * polygon point = Σ w·c / Σ w over its cells (rule 1, ``"population"``); if
      that mean is not inside the polygon (concave shapes), the populated cell
      centre inside it nearest to the mean (ties: first cell in row-major order);
    * a polygon without a populated cell centre inside it (or off the raster) gets
      its representative point (rule 2, ``"representative"``).

    Vectorised: two ``rasterio.features.rasterize`` passes (owner with later rows
    winning, and the number of polygons covering each cell centre); cells covered
    by several polygons are resolved exactly with one STRtree query of their
    centres; sums by ``np.bincount``.
    """
    from rasterio.enums import MergeAlg
    from rasterio.features import rasterize

    _check_population(layer, population, func)
    geoms = np.asarray(layer.geometry.array)
    n = len(geoms)
    rule = np.full(n, 2, dtype=np.int8)
    types = shapely.get_type_id(geoms)
    rule[types == 0] = 0
    out = geoms.copy()
    area = np.flatnonzero(np.isin(types, (3, 6)) & ~shapely.is_empty(geoms))
    if len(area) == 0:
        return _fill_representative(out, rule), rule
    values = np.ma.filled(np.ma.asarray(population.data, dtype=float), np.nan)
    weight = np.where(np.isfinite(values), values, 0.0)
    if (weight < 0).any():
        raise ValueError(
            f"{func}: the population raster '{population.source}' has "
            f"{int((weight < 0).sum())} negative cell(s) (min {weight.min():g}); declare its "
            "nodata value (e.g. gdal_edit.py -a_nodata VALUE) or mask them: "
            "Raster(np.ma.masked_less(r.data, 0), r.transform, r.crs, r.nodata)")
    height, width = weight.shape
    shapes = geoms[area]
    # GeoJSON-like mappings once: rasterio would convert the shapes on each pass
    # (that conversion, not the burning, is most of the time)
    mappings = [g.__geo_interface__ for g in shapes]
    owner = rasterize(zip(mappings, range(1, len(area) + 1), strict=True),
                      out_shape=(height, width), transform=population.transform, fill=0,
                      dtype="int32")
    cover = rasterize(((g, 1) for g in mappings), out_shape=(height, width),
                      transform=population.transform, fill=0, dtype="int32",
                      merge_alg=MergeAlg.add)
    flat_w = weight.ravel()
    single = np.flatnonzero((cover.ravel() == 1) & (flat_w > 0))
    cell = [single]
    poly = [owner.ravel()[single].astype(np.int64) - 1]
    multi = np.flatnonzero((cover.ravel() > 1) & (flat_w > 0))
    if len(multi):  # cells inside overlapping polygons: every container counts them
        mx, my = _cell_centres(population.transform, multi, width)
        p_i, g_i = shapely.STRtree(shapes).query(shapely.points(mx, my), predicate="within")
        cell.append(multi[p_i])
        poly.append(g_i.astype(np.int64))
        # a centre on an edge shared by polygons is within none of them, but GDAL burns
        # it for each along a horizontal edge: it counts once, for the owner (later row)
        edge = np.setdiff1d(np.arange(len(multi)), p_i)
        cell.append(multi[edge])
        poly.append(owner.ravel()[multi[edge]].astype(np.int64) - 1)
    cell_idx, poly_idx = np.concatenate(cell), np.concatenate(poly)
    cx, cy = _cell_centres(population.transform, cell_idx, width)
    w = flat_w[cell_idx]
    total = np.bincount(poly_idx, weights=w, minlength=len(area))
    has = total > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        # weighted mean relative to the raster origin (less cancellation)
        x0, y0 = population.transform.c, population.transform.f
        px = np.bincount(poly_idx, weights=w * (cx - x0), minlength=len(area)) / total + x0
        py = np.bincount(poly_idx, weights=w * (cy - y0), minlength=len(area)) / total + y0
    outside = has.copy()
    outside[has] = ~shapely.contains_xy(shapes[has], px[has], py[has])
    if outside.any():   # concave: nearest populated cell centre of the same polygon
        take = outside[poly_idx]
        k, kx, ky = poly_idx[take], cx[take], cy[take]
        d2 = (kx - px[k]) ** 2 + (ky - py[k]) ** 2
        order = np.lexsort((cell_idx[take], d2, k))
        first = order[np.r_[True, k[order][1:] != k[order][:-1]]]
        px[k[first]], py[k[first]] = kx[first], ky[first]
    out[area[has]] = shapely.points(px[has], py[has])
    rule[area[has]] = 1
    return _fill_representative(out, rule), rule


def _fill_representative(points: np.ndarray, rule: np.ndarray) -> np.ndarray:
    """Representative points where *rule* says so (2); *points* is modified."""
    rest = rule == 2
    points[rest] = shapely.point_on_surface(points[rest])
    return points


def _cell_centres(transform, flat_idx: np.ndarray, width: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """CRS coordinates of the centres of cells given by row-major flat index."""
    col = flat_idx % width + 0.5
    row = flat_idx // width + 0.5
    t = transform
    return t.a * col + t.b * row + t.c, t.d * col + t.e * row + t.f


def resolve_speeds(corridors: gpd.GeoDataFrame, speeds_kmh: Mapping[str, float] | None,
                   func: str) -> np.ndarray:
    """Speed (km/h) of every corridor; NaN (with one warning) when unknown.

    Rule: a per-kind value in ``speeds_kmh`` wins over every row of that kind whose
    speed did not come from the data (``speed_source`` other than ``"data"``, or no
    ``speed_source`` column and no ``speed_kmh`` value); otherwise the row's
    ``speed_kmh`` is used; rows with neither fall back to
    :data:`minespace.schema.DEFAULT_SPEEDS_KMH`. Keys of ``speeds_kmh`` are read
    like the data (:func:`minespace.schema.canonical_kind`). Kinds still without a speed are
    named in a :class:`~minespace.MinespaceWarning` and get NaN (the caller drops
    them) -- a speed is never invented.
    """
    n = len(corridors)
    kind = (corridors["kind"].astype("object") if "kind" in corridors.columns
            else pd.Series([None] * n, index=corridors.index, dtype="object"))
    data = (pd.to_numeric(corridors["speed_kmh"], errors="coerce").to_numpy(dtype=float)
            if "speed_kmh" in corridors.columns else np.full(n, np.nan))
    if "speed_source" in corridors.columns:
        from_data = (corridors["speed_source"] == "data").to_numpy() & np.isfinite(data)
    else:
        from_data = np.isfinite(data)
    table = dict(DEFAULT_SPEEDS_KMH)
    # keys read like the data: {"Railroad": 40} sets rail (schema.KIND_VOCABULARY)
    override = {str(canonical_kind(k)): float(v) for k, v in (speeds_kmh or {}).items()}
    bad = {k: v for k, v in override.items() if not (np.isfinite(v) and v > 0)}
    if bad:
        raise ValueError(f"{func}: speeds must be positive km/h, got {bad}")
    table.update(override)
    looked_up = kind.map(pd.Series(table, dtype=float)).to_numpy(dtype=float)  # NaN: none
    overridden = kind.isin(list(override)).to_numpy() & ~from_data
    speed = np.where(from_data, data, np.nan)
    speed = np.where(overridden, looked_up, speed)
    speed = np.where(np.isnan(speed) & np.isfinite(data), data, speed)
    speed = np.where(np.isnan(speed), looked_up, speed)
    speed[~(speed > 0)] = np.nan
    unknown = np.isnan(speed)
    if unknown.any():
        kinds = sorted(map(str, set(kind[unknown])))
        warnings.warn(f"{func}: {int(unknown.sum())} corridor(s) of kind(s) {kinds} have no "
                      "speed (no speed_kmh and no default); they are left out of the network. "
                      "Pass speeds_kmh={kind: km/h} to include them", MinespaceWarning,
                      stacklevel=3)
    return speed
