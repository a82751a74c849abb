"""Network travel time over the transport corridors (scipy.sparse.csgraph).

The corridor lines become a routable, undirected graph with :func:`build_network`
(:mod:`minespace.accessibility.graph`: speeds, snapping of near-misses, noding at
crossings and junctions, edge times).

Origins and destinations are joined to the nearest point of the nearest edge by
an *access leg* travelled at ``access_speed_kmh`` (default 20 km/h: local roads
and tracks off the modelled corridors), then continue along that edge in either
direction. Origins are represented by a point (polygons by a point on their
surface, or by their population-weighted point when a ``population`` raster is
given, see :func:`~minespace.accessibility.population_weighted_points`); polygon
destinations (agglomerations) are reached at their nearest
point to the network (a leg of 0 when the network enters them). An origin inside
or within ``direct_max_km`` of a destination may also go straight there at the
access speed. A point inside the noding-grid cell of a node (within
``grid_m / 2`` of it per axis) is joined to that node by its leg alone: the network
is exact only to ``grid_m``, and the difference from the nearest-edge rule is
of the order of grid_m / access speed (~2e-5 min at the defaults).

Shortest times are computed with Dijkstra's algorithm
(``scipy.sparse.csgraph.dijkstra``) run from the smaller side only: its features
become virtual nodes joined to the ends of their edges; each feature of the other
side then takes the better of its edge's two ends, min(τ(u) + w_u, τ(v) + w_v),
in array arithmetic (one multi-source run with ``min_only=True`` for the nearest
destination). Nothing loops over origins.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from ..errors import MinespaceWarning
from ..io.raster import Raster
from ._common import check_layers, origin_points, point_coordinates
from .graph import _MIN_WEIGHT, CorridorNetwork, build_network

__all__ = ["CorridorNetwork", "build_network", "network_travel_time", "travel_time_matrix"]

#: Default speed (km/h) of access legs between a feature and the network.
ACCESS_SPEED_KMH = 20.0


def _attach(net: CorridorNetwork, geoms: np.ndarray, access_speed_kmh: float,
            max_access_km: float | None, xy: np.ndarray | None = None
            ) -> dict[str, np.ndarray]:
    """Access legs of *geoms*: the network nodes they join and the times to reach them.

    Returns arrays ``u``, ``v``, ``wu``, ``wv`` (minutes) and ``access_km``: a
    feature is joined to both ends u, v of its nearest edge, with the leg plus the
    time along the edge to that end. A point lying in the noding-grid cell of a
    node (within ``grid_m / 2`` per axis: the network is only exact to that grid)
    is joined to that node alone (``u == v``). Rows farther than *max_access_km*
    from the network get no edge (``u = -1``). Everything is array arithmetic:
    grid-key lookup for points on nodes, the exact KD-tree segment search for
    other points (which also gives the position along the edge), an STRtree
    nearest query for polygons and lines. *xy*, when given, says that every geometry
    is a point with these coordinates.
    """
    m = len(geoms)
    u = np.full(m, -1, np.int64)
    v = np.full(m, -1, np.int64)
    wu, wv, dist = np.zeros(m), np.zeros(m), np.zeros(m)
    if m == 0:
        return {"u": u, "v": v, "wu": wu, "wv": wv, "access_km": dist}
    e_u, e_v = net.edges["u"].to_numpy(), net.edges["v"].to_numpy()
    e_t = net.edges["time_min"].to_numpy()
    to_min = 60.0 / 1000.0 / access_speed_kmh
    if xy is None:
        point_rows = np.flatnonzero(shapely.get_type_id(geoms) == 0)
        xy = shapely.get_coordinates(geoms[point_rows])
    else:
        point_rows = np.arange(m)
    node = net.match_nodes(xy)
    on = node >= 0
    # on a node: one leg to it (the node sits at the point's grid key x grid_m)
    snapped = np.round(xy / net.grid_m) * net.grid_m
    leg_m = np.hypot(xy[:, 0] - snapped[:, 0], xy[:, 1] - snapped[:, 1])
    if on.all():
        dist[point_rows], u[point_rows], v[point_rows] = leg_m, node, node
    else:
        rows = point_rows[on]
        dist[rows], u[rows], v[rows] = leg_m[on], node[on], node[on]
    wu[:] = wv[:] = dist * to_min                 # rows set below are overwritten
    rows = point_rows[~on]                        # elsewhere: nearest edge, exact
    if len(rows):
        i, d, _, along = net.segment_index.query(xy[~on], along=True)
        e_len = net.edges["length_km"].to_numpy()[i] * 1000.0
        frac = np.clip(np.divide(along, e_len, out=np.zeros_like(along), where=e_len > 0),
                       0.0, 1.0)
        dist[rows], u[rows], v[rows] = d, e_u[i], e_v[i]
        wu[rows] = d * to_min + frac * e_t[i]
        wv[rows] = d * to_min + (1.0 - frac) * e_t[i]
    if len(point_rows) < m:  # nearest point of the network to a polygon / line
        rows = np.setdiff1d(np.arange(m), point_rows)
        pieces = np.asarray(net.edges.geometry.array)
        (_, i), d = net.tree.query_nearest(geoms[rows], all_matches=False,
                                           return_distance=True)
        on_piece = shapely.get_point(shapely.shortest_line(pieces[i], geoms[rows]), 0)
        frac = shapely.line_locate_point(pieces[i], on_piece, normalized=True)
        dist[rows], u[rows], v[rows] = d, e_u[i], e_v[i]
        wu[rows] = d * to_min + frac * e_t[i]
        wv[rows] = d * to_min + (1.0 - frac) * e_t[i]
    access_km = dist / 1000.0
    if max_access_km is not None:
        far = access_km > max_access_km
        u[far] = v[far] = -1
    return {"u": u, "v": v, "wu": wu, "wv": wv, "access_km": access_km}


def _with_sources(net: CorridorNetwork, leg: dict[str, np.ndarray]
                  ) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Directed graph for Dijkstra from the attached features of *leg*: the network
    in both directions plus one virtual source node per feature, appended as rows
    n, n+1, ... with arcs to its edge's ends (no arcs into sources: every source
    starts at 0, so none is ever worth reaching). Returns the graph (use
    ``directed=True``) and the virtual ids of attached rows (-1 for unattached ones).
    Appending rows only extends the CSR arrays; nothing is re-sorted or summed.
    """
    n, k = len(net.nodes), len(leg["u"])
    ids = np.where(leg["u"] >= 0, n + np.arange(k), -1)
    ok = leg["u"] >= 0
    u, v = leg["u"], leg["v"]
    two = ok & (u != v)               # u == v: one arc with the smaller weight
    wu = np.maximum(np.where(two, leg["wu"], np.minimum(leg["wu"], leg["wv"])), _MIN_WEIGHT)
    wv = np.maximum(leg["wv"], _MIN_WEIGHT)
    per_row = ok.astype(np.int64) + two
    cols = np.empty((k, 2), np.int64)
    vals = np.empty((k, 2))
    cols[:, 0], cols[:, 1], vals[:, 0], vals[:, 1] = u, v, wu, wv
    take = np.c_[ok, two].ravel()     # row-major: u first, then v, per source
    g = net.symmetric_graph
    indptr = np.r_[g.indptr, g.indptr[-1] + np.cumsum(per_row)]
    graph = sparse.csr_matrix((np.r_[g.data, vals.ravel()[take]],
                               np.r_[g.indices, cols.ravel()[take]], indptr),
                              shape=(n + k, n + k))
    return graph, ids


def _finish(dist: np.ndarray, leg: dict[str, np.ndarray]
            ) -> tuple[np.ndarray, np.ndarray]:
    """Times of *leg*'s features from node distances *dist* (..., N): the better of
    their two ends (leg weights floored as in the graph); also which end (0 = u)."""
    ok = leg["u"] >= 0
    u, v = np.where(ok, leg["u"], 0), np.where(ok, leg["v"], 0)
    tu = dist[..., u] + np.maximum(leg["wu"], _MIN_WEIGHT)
    tv = dist[..., v] + np.maximum(leg["wv"], _MIN_WEIGHT)
    use_v = tv < tu
    t = np.where(use_v, tv, tu)
    t[..., ~ok] = np.inf
    return t, use_v


def _in_boxes(xy: np.ndarray, boxes: np.ndarray, pad: float, cells: int | None = None
              ) -> np.ndarray:
    """Whether each point may lie in one of the *boxes* (minx, miny, maxx, maxy) grown
    by *pad*: a conservative test on a mask of (cells + 1)² grid cells over the boxes'
    extent (every point inside a box is kept; a few near ones too). Array arithmetic
    only: the mask is a 2-D difference array of the boxes' cell ranges, summed."""
    if len(boxes) == 0 or len(xy) == 0:
        return np.zeros(len(xy), bool)
    if cells is None:                 # mask about as large as the point set, <= 512²
        cells = int(np.clip(np.sqrt(len(xy)), 16, 512))
    lo_b, hi_b = boxes[:, :2] - pad, boxes[:, 2:] + pad
    lo = lo_b.min(axis=0)
    cell = np.maximum((hi_b.max(axis=0) - lo) / cells, 1e-9)
    # cell index floor((v - lo) / cell) is monotone in v, so a point inside a box
    # falls in a cell of the box's range; indices run 0..cells inside the extent
    i0 = np.floor((lo_b - lo) / cell).astype(np.int64)
    i1 = np.floor((hi_b - lo) / cell).astype(np.int64) + 1
    diff = np.zeros((cells + 2, cells + 2), np.int32)
    np.add.at(diff, (i0[:, 0], i0[:, 1]), 1)
    np.add.at(diff, (i1[:, 0], i0[:, 1]), -1)
    np.add.at(diff, (i0[:, 0], i1[:, 1]), -1)
    np.add.at(diff, (i1[:, 0], i1[:, 1]), 1)
    covered = np.zeros((cells + 3, cells + 3), bool)   # one empty border row/column
    covered[1:, 1:] = diff.cumsum(axis=0).cumsum(axis=1) > 0
    flat = np.zeros(len(xy), np.int64)
    for axis, stride in ((0, cells + 3), (1, 1)):      # the two axes, not rows
        c = xy[:, axis] - lo[axis]
        c /= cell[axis]
        np.floor(c, out=c)
        np.clip(c, -1, cells + 1, out=c)               # outside: the empty border
        c += 1
        flat += c.astype(np.int64) * stride
    return covered.ravel()[flat]


def _direct(origins_pts: np.ndarray, origins_xy: np.ndarray, destinations: np.ndarray,
            direct_max_km: float, access_speed_kmh: float) -> pd.DataFrame:
    """Off-network trips: pairs within *direct_max_km* and their time (minutes).

    Only origins inside a destination's bounding box grown by *direct_max_km* (a
    cheap array test) go to the STRtree query."""
    pad = direct_max_km * 1000.0
    cand = np.flatnonzero(_in_boxes(origins_xy, shapely.bounds(destinations), pad))
    tree = shapely.STRtree(destinations)
    if direct_max_km > 0:
        o, d = tree.query(origins_pts[cand], predicate="dwithin", distance=pad)
    else:  # within 0 m = intersecting (inside or on a destination); a cheaper predicate
        o, d = tree.query(origins_pts[cand], predicate="intersects")
    o = cand[o]
    dist = shapely.distance(origins_pts[o], destinations[d])
    return pd.DataFrame({"o": o, "d": d, "t": 60.0 * dist / 1000.0 / access_speed_kmh})


def _prepare(func, origins, destinations, corridors, speeds_kmh, snap_m,
             access_speed_kmh, max_access_km, population=None):
    o_xy = point_coordinates(origins)      # points (the usual origins): one GEOS pass
    check_layers(func, origins=origins, destinations=destinations,
                 corridors=corridors if isinstance(corridors, gpd.GeoDataFrame) else None,
                 geometry_checked=("origins",) if o_xy is not None else ())
    if not access_speed_kmh > 0:
        raise ValueError(f"{func}: access_speed_kmh must be positive, got {access_speed_kmh}")
    if isinstance(corridors, CorridorNetwork):
        net = corridors
        if net.crs != origins.crs:
            from ..errors import CRSError
            raise CRSError(f"{func}: the network is in {net.crs.to_string()} but the origins "
                           f"are in {origins.crs.to_string()}; rebuild it in one CRS")
    else:
        net = build_network(corridors, speeds_kmh=speeds_kmh, snap_m=snap_m)
    if o_xy is not None:      # points are their own origins (population or not)
        o_pts = np.asarray(origins.geometry.array)
    else:
        o_pts = origin_points(origins, population, func=func)
        o_xy = shapely.get_coordinates(o_pts)        # one point per row (checked above)
    d_geoms = np.asarray(destinations.geometry.array)
    o_leg = _attach(net, o_pts, access_speed_kmh, max_access_km, xy=o_xy)
    d_leg = _attach(net, d_geoms, access_speed_kmh, max_access_km)
    return net, (o_pts, o_xy), d_geoms, o_leg, d_leg


def _warn_unreachable(func: str, bad: np.ndarray, index: pd.Index,
                      n_destinations: int) -> None:
    if n_destinations == 0 and len(bad):
        warnings.warn(f"{func}: the destination layer is empty, so no origin has a travel "
                      "time (all NaN); check the agglomerations / destinations given",
                      MinespaceWarning, stacklevel=3)
    elif bad.any():
        listed = ", ".join(map(str, index[bad][:10])) + (" ..." if bad.sum() > 10 else "")
        warnings.warn(f"{func}: {int(bad.sum())} origin(s) cannot reach any destination over "
                      f"the network (disconnected part or too far from it): {listed}; their "
                      "time is NaN", MinespaceWarning, stacklevel=3)


def network_travel_time(
    origins: gpd.GeoDataFrame,
    agglomerations: gpd.GeoDataFrame,
    corridors: gpd.GeoDataFrame | CorridorNetwork,
    *,
    speeds_kmh: Mapping[str, float] | None = None,
    snap_m: float = 25.0,
    access_speed_kmh: float = ACCESS_SPEED_KMH,
    max_access_km: float | None = None,
    direct_max_km: float = 0.0,
    population: Raster | None = None,
) -> gpd.GeoDataFrame:
    """Travel time from each origin to the nearest agglomeration over the corridors.

    Parameters
    ----------
    origins : GeoDataFrame
        Deposits (points) or territories (polygons, by a point on their surface, or
        their population-weighted point with *population*).
    agglomerations : GeoDataFrame
        Destinations (polygons or points), same metric CRS.
    corridors : GeoDataFrame or CorridorNetwork
        Corridor lines (a network is built with :func:`build_network`), or a
        network built before (reuse it across calls).
    speeds_kmh, snap_m
        Passed to :func:`build_network` when *corridors* is a GeoDataFrame.
    access_speed_kmh : float
        Speed of the off-network legs (default 20 km/h).
    max_access_km : float, optional
        Longest access leg; features farther from the network are not connected.
    direct_max_km : float
        Origins within this straight-line distance of a destination may also go
        straight there at the access speed (default 0: only origins inside or on
        an agglomeration, with time 0).
    population : Raster, optional
        Population counts in the origins' CRS: polygon origins then start from their
        population-weighted point (see
        :func:`~minespace.accessibility.population_weighted_points`).

    Returns
    -------
    GeoDataFrame
        A copy of *origins* with ``time_to_agglomeration_min``,
        ``nearest_agglomeration_by_time_id`` (the agglomeration reached first; the
        straight-line nearest is :func:`agglomeration_distances`' ``nearest_agglomeration_id``),
        ``access_km`` (origin's leg to the
        network) and ``reachable`` (bool). Unreachable origins get NaN / None.

    Raises
    ------
    CRSError
        If the layers (or *population*) are not in one metric CRS.

    Warns
    -----
    MinespaceWarning
        Once, listing unreachable origins; once for kinds without a speed.

    Notes
    -----
    T_i = min_j [leg(i) + τ(n_i, n_j) + leg(j)] with τ the shortest network time
    (Dijkstra 1959), computed for all origins in one multi-source Dijkstra run
    from the agglomerations (undirected graph). See the module docstring.

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import accessibility as acc
    >>> region = ms.datasets.kuzbass()
    >>> out = acc.network_travel_time(region.deposits, region.agglomerations,
    ...                               region.corridors)
    >>> bool(out["reachable"].all()), bool((out["time_to_agglomeration_min"] >= 0).all())
    (True, True)
    """
    func = "network_travel_time"
    net, (o_pts, o_xy), d_geoms, o_leg, d_leg = _prepare(
        func, origins, agglomerations, corridors, speeds_kmh, snap_m, access_speed_kmh,
        max_access_km, population)
    time = np.full(len(origins), np.inf)
    nearest = np.full(len(origins), -1, dtype=np.int64)
    if len(d_geoms) and len(origins):
        # one multi-source Dijkstra over the network plus the destinations' virtual
        # nodes; each origin then takes the better end of its edge (array arithmetic)
        graph, d_ids = _with_sources(net, d_leg)
        if (d_ids >= 0).any():
            dist, _, src = csgraph.dijkstra(graph, directed=True, indices=d_ids[d_ids >= 0],
                                            min_only=True, return_predecessors=True)
            time, use_v = _finish(dist, o_leg)
            end = np.where(use_v, o_leg["v"], o_leg["u"])
            nearest = np.where(np.isfinite(time), src[np.maximum(end, 0)] - len(net.nodes),
                               -1)
        direct = _direct(o_pts, o_xy, d_geoms, direct_max_km, access_speed_kmh)
        if len(direct):
            best = direct.sort_values(["o", "t", "d"]).drop_duplicates("o")
            o, t, d = best["o"].to_numpy(), best["t"].to_numpy(), best["d"].to_numpy()
            better = t < time[o]
            time[o[better]], nearest[o[better]] = t[better], d[better]
    reachable = np.isfinite(time)
    _warn_unreachable(func, ~reachable, origins.index, len(agglomerations))
    ids = np.asarray(agglomerations.index, dtype=object)
    nearest_id = (ids.take(np.maximum(nearest, 0)) if len(ids)
                  else np.full(len(origins), None, dtype=object))
    nearest_id[~reachable] = None
    out = origins.copy()
    out["time_to_agglomeration_min"] = np.where(reachable, time, np.nan)
    out["nearest_agglomeration_by_time_id"] = pd.Series(nearest_id, index=out.index,
                                                        dtype="object")
    out["access_km"] = o_leg["access_km"]
    out["reachable"] = reachable
    return out


def travel_time_matrix(
    origins: gpd.GeoDataFrame,
    destinations: gpd.GeoDataFrame,
    corridors: gpd.GeoDataFrame | CorridorNetwork,
    *,
    speeds_kmh: Mapping[str, float] | None = None,
    snap_m: float = 25.0,
    access_speed_kmh: float = ACCESS_SPEED_KMH,
    max_access_km: float | None = None,
    direct_max_km: float = 0.0,
    population: Raster | None = None,
) -> pd.DataFrame:
    """Origin × destination travel-time matrix (minutes) over the corridors.

    Parameters are those of :func:`network_travel_time` (``population`` included:
    polygon origins then start from their population-weighted point).

    Returns
    -------
    DataFrame
        Index = origin ids, columns = destination ids, values in minutes; NaN for
        pairs without a connection (one :class:`~minespace.MinespaceWarning`
        lists origins that reach no destination at all). Feed it to
        :func:`~minespace.accessibility.hansen_potential` or the floating
        catchment functions as ``cost=``.

    Raises
    ------
    CRSError
        If the layers (or *population*) are not in one metric CRS.

    Notes
    -----
    T_ij = leg(i) + τ(n_i, n_j) + leg(j), or the direct off-network time when
    shorter and within ``direct_max_km``. One Dijkstra run per row of the smaller
    side (the graph is undirected, so T is computed from whichever side is smaller).

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import accessibility as acc
    >>> region = ms.datasets.kuzbass()
    >>> T = acc.travel_time_matrix(region.deposits, region.agglomerations, region.corridors)
    >>> T.shape
    (141, 19)
    """
    func = "travel_time_matrix"
    net, (o_pts, o_xy), d_geoms, o_leg, d_leg = _prepare(
        func, origins, destinations, corridors, speeds_kmh, snap_m, access_speed_kmh,
        max_access_km, population)
    values = np.full((len(o_pts), len(d_geoms)), np.inf)
    if len(o_pts) and len(d_geoms):
        # Dijkstra from the smaller side's virtual nodes; the other side takes the
        # better end of its edge (array arithmetic)
        swap = len(o_pts) < len(d_geoms)
        src_leg, dst_leg = (o_leg, d_leg) if swap else (d_leg, o_leg)
        graph, ids = _with_sources(net, src_leg)
        ok = ids >= 0
        if ok.any():
            part = np.full((len(ids), len(dst_leg["u"])), np.inf)
            part[ok] = _finish(csgraph.dijkstra(graph, directed=True, indices=ids[ok]),
                               dst_leg)[0]
            values = part if swap else part.T
    values = np.array(values, dtype=float)
    direct = _direct(o_pts, o_xy, d_geoms, direct_max_km, access_speed_kmh)
    if len(direct):
        o, d, t = direct["o"].to_numpy(), direct["d"].to_numpy(), direct["t"].to_numpy()
        values[o, d] = np.minimum(values[o, d], t)
    bad = ~np.isfinite(values).any(axis=1) if values.shape[1] else np.ones(len(o_pts), bool)
    _warn_unreachable(func, bad, origins.index, len(destinations))
    values[~np.isfinite(values)] = np.nan
    return pd.DataFrame(values, index=origins.index.copy(), columns=destinations.index.copy())
