"""Straight-line distances to transport corridors and agglomerations.

All distances are Euclidean in the layers' metric CRS and reported in km.
Polygon origins (territories) are represented by a representative point
(:func:`shapely.point_on_surface`, always inside the polygon).
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._checks import require_columns
from ._common import check_layers, representative_points

__all__ = ["agglomeration_distances", "corridor_distances"]


def _nearest(points: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest target of each point and the distance (CRS units).

    Ties are broken by the lowest target position. Empty *targets* give -1 / NaN.
    """
    n = len(points)
    idx = np.full(n, -1, dtype=np.int64)
    dist = np.full(n, np.nan)
    if n == 0 or len(targets) == 0:
        return idx, dist
    tree = shapely.STRtree(targets)
    (src, tgt), d = tree.query_nearest(points, all_matches=True, return_distance=True)
    order = np.lexsort((tgt, src))          # per source: lowest target first
    src, tgt, d = src[order], tgt[order], d[order]
    first = np.r_[True, src[1:] != src[:-1]]
    idx[src[first]] = tgt[first]
    dist[src[first]] = d[first]
    return idx, dist


def corridor_distances(
    origins: gpd.GeoDataFrame,
    corridors: gpd.GeoDataFrame,
    *,
    kinds: Sequence[str] | None = None,
) -> gpd.GeoDataFrame:
    """Straight-line distance from each origin to the nearest corridor of each kind.

    Parameters
    ----------
    origins : GeoDataFrame
        Points (deposits) or polygons (territories, represented by a point on
        their surface), in a metric CRS.
    corridors : GeoDataFrame
        Lines with a ``kind`` column (``rail``, ``road_trunk``...), same CRS.
    kinds : sequence of str, optional
        Kinds to report; default every kind present, sorted. A kind absent from
        *corridors* gets NaN.

    Returns
    -------
    GeoDataFrame
        A copy of *origins* with added columns ``dist_<kind>_km`` for each kind,
        ``dist_corridor_km`` (any kind) and ``nearest_corridor_id`` (index value of
        the nearest corridor of any kind).

    Raises
    ------
    CRSError
        If a layer is not in a metric CRS, or the two CRS differ.
    KeyError
        If *corridors* has no ``kind`` column.

    Notes
    -----
    d_i,k = min over corridors c of kind k of ‖p_i − c‖ / 1000, with p_i the
    origin point, computed with a shapely ``STRtree`` nearest query (vectorised,
    exact: the distance to the line, not to its vertices).

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import accessibility as acc
    >>> region = ms.datasets.kuzbass()
    >>> out = acc.corridor_distances(region.deposits, region.corridors)
    >>> [c for c in out.columns if c.startswith("dist_")]
    ['dist_rail_km', 'dist_road_primary_km', 'dist_road_trunk_km', 'dist_corridor_km']
    >>> bool((out["dist_corridor_km"] <= out["dist_rail_km"]).all())
    True
    """
    check_layers("corridor_distances", origins=origins, corridors=corridors)
    require_columns(corridors, ["kind"], "corridors")
    points = representative_points(origins)
    lines = np.asarray(corridors.geometry.array)
    kind = corridors["kind"].astype("object").to_numpy()
    if kinds is None:
        kinds = sorted({str(k) for k in kind if k is not None and k == k})
    columns: dict[str, np.ndarray] = {}
    for k in kinds:  # loop over a handful of kinds, not rows
        _, d = _nearest(points, lines[kind == k])
        columns[f"dist_{k}_km"] = d / 1000.0
    idx, d = _nearest(points, lines)
    columns["dist_corridor_km"] = d / 1000.0
    ids = corridors.index.to_numpy()
    columns["nearest_corridor_id"] = np.where(idx >= 0, ids[np.maximum(idx, 0)], None)
    out = origins.copy()
    for name, values in columns.items():
        out[name] = values
    return out


def agglomeration_distances(
    origins: gpd.GeoDataFrame,
    agglomerations: gpd.GeoDataFrame,
) -> gpd.GeoDataFrame:
    """Straight-line distance from each origin to the nearest agglomeration.

    Two distances are given: to the agglomeration's edge (0 inside it) and to its
    centre (a representative point of the polygon, or the point itself).

    Parameters
    ----------
    origins : GeoDataFrame
        Points or polygons (represented by a point on their surface), metric CRS.
    agglomerations : GeoDataFrame
        Polygons or points, same CRS.

    Returns
    -------
    GeoDataFrame
        A copy of *origins* with added columns ``dist_agglomeration_km``,
        ``nearest_agglomeration_id``, ``dist_agglomeration_centre_km`` and
        ``nearest_agglomeration_centre_id`` (ids are index values of
        *agglomerations*; the two nearest need not be the same town).

    Raises
    ------
    CRSError
        If a layer is not in a metric CRS, or the two CRS differ.

    Notes
    -----
    Edge: d_i = min_j dist(p_i, A_j) (polygon distance, 0 when p_i ∈ A_j).
    Centre: d_i = min_j ‖p_i − c_j‖ with c_j = point_on_surface(A_j). Both in km,
    computed with shapely ``STRtree`` nearest queries.

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import accessibility as acc
    >>> region = ms.datasets.kuzbass()
    >>> out = acc.agglomeration_distances(region.deposits, region.agglomerations)
    >>> bool((out["dist_agglomeration_km"] <= out["dist_agglomeration_centre_km"]).all())
    True
    >>> out["nearest_agglomeration_id"].isin(region.agglomerations.index).all()
    np.True_
    """
    check_layers("agglomeration_distances", origins=origins, agglomerations=agglomerations)
    points = representative_points(origins)
    ids = agglomerations.index.to_numpy()
    edge_idx, edge_d = _nearest(points, np.asarray(agglomerations.geometry.array))
    centre_idx, centre_d = _nearest(points, representative_points(agglomerations))
    out = origins.copy()
    out["dist_agglomeration_km"] = edge_d / 1000.0
    out["nearest_agglomeration_id"] = pd.Series(
        np.where(edge_idx >= 0, ids[np.maximum(edge_idx, 0)], None), index=out.index)
    out["dist_agglomeration_centre_km"] = centre_d / 1000.0
    out["nearest_agglomeration_centre_id"] = pd.Series(
        np.where(centre_idx >= 0, ids[np.maximum(centre_idx, 0)], None), index=out.index)
    return out
