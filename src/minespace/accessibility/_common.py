"""Helpers shared by the accessibility modules (points, speeds, checks)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._checks import require_geodataframe, require_metric_crs, require_same_crs
from ..errors import MinespaceWarning
from ..schema import DEFAULT_SPEEDS_KMH

__all__ = ["check_layers", "representative_points", "resolve_speeds"]


def check_layers(func: str, **layers: gpd.GeoDataFrame | None) -> None:
    """Type, metric-CRS and same-CRS checks for every given layer."""
    present = {k: v for k, v in layers.items() if v is not None}
    for name, layer in present.items():
        require_geodataframe(layer, name)
        require_metric_crs(layer, func)
    require_same_crs(func, **present)
    for name, layer in present.items():
        geoms = layer.geometry.array
        if len(layer) and (shapely.is_missing(np.asarray(geoms)).any()
                           or layer.geometry.is_empty.any()):
            raise ValueError(f"{func}: layer '{name}' has missing or empty geometries; "
                             "drop them first (layer[~layer.geometry.is_empty])")


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


def resolve_speeds(corridors: gpd.GeoDataFrame, speeds_kmh: Mapping[str, float] | None,
                   func: str) -> np.ndarray:
    """Speed (km/h) of every corridor; NaN (with one warning) when unknown.

    Rule: a per-kind value in ``speeds_kmh`` wins over every row of that kind whose
    speed did not come from the data (``speed_source`` other than ``"data"``, or no
    ``speed_source`` column and no ``speed_kmh`` value); otherwise the row's
    ``speed_kmh`` is used; rows with neither fall back to
    :data:`minespace.schema.DEFAULT_SPEEDS_KMH`. Kinds still without a speed are
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
    override = {str(k): float(v) for k, v in (speeds_kmh or {}).items()}
    bad = {k: v for k, v in override.items() if not (np.isfinite(v) and v > 0)}
    if bad:
        raise ValueError(f"{func}: speeds must be positive km/h, got {bad}")
    table.update(override)
    looked_up = kind.map(lambda k: table.get(k, np.nan) if k is not None else np.nan)
    looked_up = looked_up.to_numpy(dtype=float)
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
