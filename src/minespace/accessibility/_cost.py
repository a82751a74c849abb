"""Cost inputs shared by the gravity and catchment functions."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from ..io.raster import Raster
from ._common import origin_points


def point_xy(layer: gpd.GeoDataFrame, population: Raster | None = None, *,
             func: str = "point_xy") -> np.ndarray:
    """(n, 2) coordinates of each feature's point (representative point of polygons,
    or their population-weighted point with *population*)."""
    if len(layer) == 0:
        return np.empty((0, 2))
    return shapely.get_coordinates(origin_points(layer, population, func=func))


def check_population(cost: pd.DataFrame | None, population: Raster | None, func: str) -> None:
    """*population* shapes the straight-line default only; with a *cost* it is an error."""
    if cost is not None and population is not None:
        raise ValueError(f"{func}: population= only applies to the straight-line default; "
                         "with cost= pass it to travel_time_matrix(..., population=...) "
                         "when building the cost instead")


def dense_cost(origins: gpd.GeoDataFrame, destinations: gpd.GeoDataFrame,
               cost: pd.DataFrame | None, func: str,
               population: Raster | None = None) -> np.ndarray:
    """Origins × destinations cost array: *cost* aligned by ids, or straight-line km
    (origins population-weighted with *population*)."""
    check_population(cost, population, func)
    if cost is None:
        a, b = point_xy(origins, population, func=func), point_xy(destinations)
        return np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1]) / 1000.0
    return aligned(cost, origins.index, destinations.index, func).to_numpy(dtype=float)


def aligned(cost: pd.DataFrame, rows: pd.Index, cols: pd.Index, func: str) -> pd.DataFrame:
    """*cost* reindexed to (rows, cols); every id must be present."""
    if not isinstance(cost, pd.DataFrame):
        raise TypeError(f"{func}: cost must be a DataFrame (rows = origins/demand ids, "
                        f"columns = destination/supply ids), got {type(cost).__name__}")
    missing_r = rows.difference(cost.index)
    missing_c = cols.difference(cost.columns)
    if len(missing_r) or len(missing_c):
        raise KeyError(f"{func}: cost lacks row id(s) {list(missing_r[:5])} and/or column "
                       f"id(s) {list(missing_c[:5])}; build it with travel_time_matrix("
                       "origins, destinations, ...) for the same layers")
    values = cost.reindex(index=rows, columns=cols)
    if (values.to_numpy(dtype=float) < 0).any():
        raise ValueError(f"{func}: cost has negative values")
    return values


def sparse_pairs(demand: gpd.GeoDataFrame, supply: gpd.GeoDataFrame, max_cost: float,
                 cost: pd.DataFrame | None, func: str, population: Raster | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Demand-supply pairs with cost ≤ *max_cost*: (i, j, c).

    Without *cost*, straight-line km from a KD-tree (``sparse_distance_matrix``),
    never forming the full matrix (demand points population-weighted with
    *population*); with *cost* (demand × supply, NaN = no link), its entries within
    the threshold.
    """
    check_population(cost, population, func)
    if cost is None:
        a, b = point_xy(demand, population, func=func), point_xy(supply)
        if len(a) == 0 or len(b) == 0:
            return (np.empty(0, np.int64),) * 2 + (np.empty(0),)
        rec = cKDTree(a).sparse_distance_matrix(cKDTree(b), max_cost * 1000.0,
                                                output_type="ndarray")
        return (rec["i"].astype(np.int64), rec["j"].astype(np.int64), rec["v"] / 1000.0)
    c = aligned(cost, demand.index, supply.index, func).to_numpy(dtype=float)
    i, j = np.nonzero(c <= max_cost)       # NaN compares False: no link
    return i, j, c[i, j]
