"""Network travel time over the transport corridors (scipy.sparse.csgraph).

The corridor lines become a routable, undirected graph:

1. corridors without a usable speed are left out (one warning naming the kinds,
   see :func:`~minespace.accessibility._common.resolve_speeds`);
2. near-misses are closed: a line end that touches no other line but lies within
   ``snap_m`` of one gets a connector segment to the nearest point of that line
   (at the speed of the dangling line);
3. every line is split where lines cross or meet (GEOS' noder, ``shapely.node``;
   should it fail on a degenerate input, ``shapely.union_all`` with a
   snap-rounding grid of ``grid_m``), so crossings, T-junctions and shared end
   points become nodes; node positions are rounded to the ``grid_m`` grid (ends
   closer than that merge). Crossings are treated as junctions (the network is
   planar: a bridge crossing is a junction too). A connector to the inside of a
   line overshoots it by two grid cells, so that it crosses the line for the
   noder (a 2-cell dead-end stub remains);
4. each piece is an edge of time = length_km / speed_kmh × 60 minutes, the speed
   of the corridor it lies on (the fastest one where corridors overlap).

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
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from .._checks import require_columns
from ..errors import MinespaceWarning
from ..io.raster import Raster
from ._common import check_layers, origin_points, point_coordinates, resolve_speeds
from .distance import _SegmentIndex

__all__ = ["CorridorNetwork", "build_network", "network_travel_time", "travel_time_matrix"]

#: Default speed (km/h) of access legs between a feature and the network.
ACCESS_SPEED_KMH = 20.0

#: Smallest edge weight (minutes); csgraph treats a weight of 0 as "no edge".
_MIN_WEIGHT = 1e-9


@dataclass(frozen=True)
class CorridorNetwork:
    """A routable corridor graph (build it with :func:`build_network`).

    Attributes
    ----------
    nodes : GeoSeries
        Junction and end points, position = node number.
    edges : GeoDataFrame
        One row per edge: ``u``, ``v`` (node numbers), ``length_km``, ``speed_kmh``,
        ``time_min``, ``connector`` (True for snapping connectors), geometry.
    graph : scipy.sparse.csr_matrix
        Upper-triangular matrix of edge times in minutes (use ``directed=False``).
    crs : pyproj.CRS
    grid_m : float
        Noding grid (metres): node coordinates are multiples of it.
    """

    nodes: gpd.GeoSeries
    edges: gpd.GeoDataFrame
    graph: sparse.csr_matrix
    crs: pyproj.CRS
    grid_m: float = 0.01

    @property
    def symmetric_graph(self) -> sparse.csr_matrix:
        """The graph with both directions of every edge (cached): Dijkstra with
        ``directed=True`` on it skips scipy's transpose of :attr:`graph`."""
        return self._cached("_symmetric", lambda: (self.graph + self.graph.T).tocsr())

    @property
    def n_components(self) -> int:
        """Number of connected parts of the network."""
        return int(csgraph.connected_components(self.graph, directed=False)[0])

    @property
    def tree(self) -> shapely.STRtree:
        """Spatial index of the edge geometries (built on first use, then cached)."""
        cached = self.__dict__.get("_tree")
        if cached is None:
            cached = shapely.STRtree(np.asarray(self.edges.geometry.array))
            object.__setattr__(self, "_tree", cached)
        return cached

    @property
    def segment_index(self) -> _SegmentIndex:
        """Nearest-edge search structure for points (built on first use, then cached)."""
        cached = self.__dict__.get("_segment_index")
        if cached is None:
            cached = _SegmentIndex(np.asarray(self.edges.geometry.array))
            object.__setattr__(self, "_segment_index", cached)
        return cached

    def _cached(self, name: str, make):
        cached = self.__dict__.get(name)
        if cached is None:
            cached = make()
            object.__setattr__(self, name, cached)
        return cached

    @property
    def node_xy(self) -> np.ndarray:
        """(n, 2) node coordinates (cached)."""
        return self._cached("_node_xy",
                            lambda: shapely.get_coordinates(np.asarray(self.nodes.array)))

    def match_nodes(self, xy: np.ndarray) -> np.ndarray:
        """Node whose noding-grid cell holds each point (|dx|, |dy| ≤ grid_m / 2), else -1.

        Vectorised: the points' integer grid keys are looked up in a hash index of
        the node keys (built once per network, see :func:`build_network`).
        """
        def make():
            keys = np.round(self.node_xy / self.grid_m)
            if len(keys) == 0:
                return False
            lo, hi = keys.min(axis=0), keys.max(axis=0)
            span = hi - lo + 1
            if not (np.isfinite(span).all() and span[0] * span[1] < 2.0 ** 62):
                return False
            k1 = ((keys[:, 0] - lo[0]).astype(np.int64) * np.int64(span[1])
                  + (keys[:, 1] - lo[1]).astype(np.int64))
            index = pd.Index(k1)
            index.get_indexer(k1[:1])          # build the hash table now
            return lo, span, index

        table = self._cached("_node_keys", make)
        out = np.full(len(xy), -1, np.int64)
        if table is False or len(xy) == 0:
            return out
        lo, span, index = table
        rel = np.asarray(xy, float) / self.grid_m
        np.round(rel, out=rel)
        rel -= lo
        inside = ((rel >= 0) & (rel < span)).all(axis=1)
        if inside.all():                   # the usual case: no masking copies
            k1 = rel[:, 0].astype(np.int64)
            k1 *= np.int64(span[1])
            k1 += rel[:, 1].astype(np.int64)
            return index.get_indexer(k1)
        k1 = (rel[inside, 0].astype(np.int64) * np.int64(span[1])
              + rel[inside, 1].astype(np.int64))
        out[inside] = index.get_indexer(k1)
        return out

    def __repr__(self) -> str:
        return (f"CorridorNetwork({len(self.nodes)} nodes, {len(self.edges)} edges, "
                f"{self.n_components} component(s))")


def _line_ends(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last coordinates (n, 2) of LineStrings, from one coordinate pass."""
    coords, row = shapely.get_coordinates(lines, return_index=True)
    count = np.bincount(row, minlength=len(lines))
    if (count == 0).any():          # empty parts: the slower per-geometry accessors
        return (shapely.get_coordinates(shapely.get_point(lines, 0)),
                shapely.get_coordinates(shapely.get_point(lines, -1)))
    last = np.cumsum(count) - 1
    return coords[last - count + 1], coords[last]


def _shared_ends(xy: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Whether each line end has exactly the coordinates of an end of another line
    (a junction: it touches that line, so it needs no connector)."""
    order = np.lexsort((owner, xy[:, 1], xy[:, 0]))
    sxy, sown = xy[order], owner[order]
    new_point = np.r_[True, (sxy[1:] != sxy[:-1]).any(axis=1)]
    group = np.cumsum(new_point) - 1
    new_owner = new_point | np.r_[True, sown[1:] != sown[:-1]]
    owners_at = np.bincount(group, weights=new_owner)   # distinct lines per point
    shared = np.empty(len(xy), bool)
    shared[order] = owners_at[group] >= 2
    return shared


def _snap_connectors(lines: np.ndarray, snap_m: float, grid_m: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Connector segments closing gaps of at most *snap_m* at dangling line ends.

    Returns the connectors and, for each, the position of the dangling line. Ends
    sitting exactly on another line's end (junctions, the bulk of a real network)
    are settled by a sort; only the others are searched in an STRtree.
    """
    if snap_m <= 0 or len(lines) < 2:
        return np.empty(0, dtype=object), np.empty(0, dtype=np.int64)
    first, last = _line_ends(lines)
    end_xy = np.concatenate([first, last])
    owner = np.tile(np.arange(len(lines)), 2)
    loose = np.flatnonzero(~_shared_ends(end_xy, owner))
    ends = shapely.points(end_xy[loose])
    owner = owner[loose]
    tree = shapely.STRtree(lines)
    ip, il = tree.query(ends, predicate="dwithin", distance=snap_m)
    keep = il != owner[ip]
    ip, il = ip[keep], il[keep]
    d = shapely.distance(ends[ip], lines[il])
    frame = pd.DataFrame({"p": ip, "l": il, "d": d}).sort_values(["p", "d", "l"])
    touching = frame.loc[frame["d"] <= grid_m, "p"].unique()
    frame = frame[~frame["p"].isin(touching)].drop_duplicates("p")
    if frame.empty:
        return np.empty(0, dtype=object), np.empty(0, dtype=np.int64)
    p, line = frame["p"].to_numpy(), frame["l"].to_numpy()
    at = shapely.line_locate_point(lines[line], ends[p])
    targets = shapely.line_interpolate_point(lines[line], at)
    start, end = shapely.get_coordinates(ends[p]), shapely.get_coordinates(targets)
    # a nearest point inside the target line is only within rounding of it, so the
    # connector overshoots it by two noding cells: it then crosses the line and the
    # noder splits both there (the 2-cell stub beyond is a harmless dead end). At
    # the line's end vertex the connector ends exactly on it: no overshoot.
    inside = (at > 0) & (at < shapely.length(lines[line]))
    step = end - start
    step *= np.where(inside, 2.0 * grid_m / np.hypot(*step.T), 0.0)[:, None]
    return shapely.linestrings(np.stack([start, end + step], 1)), owner[p]


def _node(lines: np.ndarray, grid_m: float) -> np.ndarray:
    """Split lines where they cross, touch or overlap (shared stretches once).

    GEOS' noder (``shapely.node``: floating-point noding, 3-4x faster than an
    overlay) first; should it fail on a degenerate input, the snap-rounding
    overlay ``shapely.union_all(grid_size=grid_m)``. Either way node keys are
    later rounded to *grid_m*.
    """
    try:
        return shapely.get_parts(shapely.node(shapely.multilinestrings(lines)))
    except shapely.errors.GEOSException:
        return shapely.get_parts(shapely.union_all(lines, grid_size=grid_m))


def build_network(
    corridors: gpd.GeoDataFrame,
    *,
    speeds_kmh: Mapping[str, float] | None = None,
    snap_m: float = 25.0,
    grid_m: float = 0.01,
) -> CorridorNetwork:
    """Build a routable graph from corridor lines.

    Parameters
    ----------
    corridors : GeoDataFrame
        Lines in a metric CRS with ``kind`` and (optionally) ``speed_kmh``.
    speeds_kmh : dict, optional
        Speed per kind (km/h) overriding defaults
        (:data:`minespace.schema.DEFAULT_SPEEDS_KMH`: rail 50, road_trunk 80,
        road_primary 70...) for every row whose speed did not come from the data.
    snap_m : float
        Gaps up to this length (metres) between a line end and another line are
        closed by a connector; 0 disables snapping.
    grid_m : float
        Snap-rounding grid of the noding (metres); points closer than this merge.

    Returns
    -------
    CorridorNetwork

    Raises
    ------
    CRSError
        If *corridors* is not in a metric CRS.
    ValueError
        If no corridor has a usable speed, or an option is out of range.

    Warns
    -----
    MinespaceWarning
        Naming the kinds left out because they have no speed.

    Notes
    -----
    Edge time t_e = 60 · L_e / v_e minutes (L_e in km, v_e in km/h). See the
    module docstring for the noding and snapping rules.

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import accessibility as acc
    >>> net = acc.build_network(ms.datasets.kuzbass().corridors)
    >>> net.edges[["length_km", "speed_kmh", "time_min"]].ge(0).all().all()
    np.True_
    """
    check_layers("build_network", corridors=corridors)
    require_columns(corridors, ["kind"], "corridors")
    if not (snap_m >= 0 and grid_m > 0):
        raise ValueError(f"build_network: need snap_m >= 0 and grid_m > 0, got {snap_m}, {grid_m}")
    speed = resolve_speeds(corridors, speeds_kmh, "build_network")
    ok = np.isfinite(speed)
    parts, part_of = shapely.get_parts(np.asarray(corridors.geometry.array)[ok],
                                       return_index=True)
    if len(parts) == 0:
        raise ValueError("build_network: no corridor with a usable speed")
    line_speed = speed[ok][part_of]
    connectors, conn_owner = _snap_connectors(parts, snap_m, grid_m)
    source = np.concatenate([parts, connectors])
    source_speed = np.concatenate([line_speed, line_speed[conn_owner]])
    is_conn = np.r_[np.zeros(len(parts), bool), np.ones(len(connectors), bool)]

    pieces = _node(source, grid_m)
    pieces = pieces[shapely.length(pieces) > 0]
    mid = shapely.line_interpolate_point(pieces, 0.5, normalized=True)
    # the source line(s) each piece lies on: those nearest to its midpoint. Sources
    # within the noding grid are found by a cheap "dwithin" query and filtered to
    # the minimum distance; pieces with none that close use a nearest query
    tree = shapely.STRtree(source)
    pi, si = tree.query(mid, predicate="dwithin", distance=grid_m)
    d = shapely.distance(mid[pi], source[si])
    found = np.zeros(len(pieces), bool)
    found[pi] = True
    rest = np.flatnonzero(~found)
    if len(rest):
        (rp, rs), rd = tree.query_nearest(mid[rest], all_matches=True, return_distance=True)
        pi, si, d = np.r_[pi, rest[rp]], np.r_[si, rs], np.r_[d, rd]
    dmin = np.full(len(pieces), np.inf)
    np.minimum.at(dmin, pi, d)
    nearest = d == dmin[pi]
    pi, si = pi[nearest], si[nearest]
    att = pd.DataFrame({"piece": pi, "speed": source_speed[si], "conn": is_conn[si]})
    att = att.sort_values(["piece", "speed"], ascending=[True, False]).drop_duplicates("piece")
    piece_speed = att.set_index("piece")["speed"].reindex(range(len(pieces))).to_numpy()
    piece_conn = att.set_index("piece")["conn"].reindex(range(len(pieces))).to_numpy(bool)

    ends = np.concatenate(_line_ends(pieces))
    keys = np.round(ends / grid_m).astype(np.int64)
    lo = keys.min(axis=0)
    span = keys.max(axis=0) - lo + 1
    if float(span[0]) * float(span[1]) < 2.0 ** 62:
        # one int64 key per grid point, ordered like (x, y) rows: same node numbers
        # as np.unique(axis=0), with a 1-D sort
        flat = (keys[:, 0] - lo[0]) * span[1] + (keys[:, 1] - lo[1])
        flat_u, inverse = np.unique(flat, return_inverse=True)
        uniq = np.stack([flat_u // span[1] + lo[0], flat_u % span[1] + lo[1]], axis=1)
    else:
        uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    u, v = inverse[: len(pieces)], inverse[len(pieces):]
    length_km = shapely.length(pieces) / 1000.0
    time_min = 60.0 * length_km / piece_speed
    edges = gpd.GeoDataFrame(
        {"u": u, "v": v, "length_km": length_km, "speed_kmh": piece_speed,
         "time_min": time_min, "connector": piece_conn},
        geometry=pieces, crs=corridors.crs)
    node_xy = uniq * grid_m
    nodes = gpd.GeoSeries(shapely.points(node_xy), crs=corridors.crs)
    graph = _graph(u, v, time_min, len(nodes))
    net = CorridorNetwork(nodes=nodes, edges=edges, graph=graph, crs=corridors.crs,
                          grid_m=float(grid_m))
    net.match_nodes(np.empty((0, 2)))  # node-key hash index, part of the network
    net.symmetric_graph                 # and both directions of the edges  # noqa: B018
    return net


def _graph(u: np.ndarray, v: np.ndarray, w: np.ndarray, n: int) -> sparse.csr_matrix:
    """Upper-triangular CSR of undirected edges, keeping the smallest parallel weight.

    Self-loops are dropped; weights are raised to a tiny positive minimum because
    csgraph reads 0 as a missing edge.
    """
    a, b = np.minimum(u, v), np.maximum(u, v)
    keep = a != b
    frame = pd.DataFrame({"a": a[keep], "b": b[keep], "w": np.maximum(w[keep], _MIN_WEIGHT)})
    frame = frame.groupby(["a", "b"], sort=False)["w"].min().reset_index()
    return sparse.csr_matrix((frame["w"].to_numpy(), (frame["a"].to_numpy(),
                                                      frame["b"].to_numpy())), shape=(n, n))


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


def _warn_unreachable(func: str, bad: np.ndarray, index: pd.Index) -> None:
    if bad.any():
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
        ``nearest_agglomeration_id`` (by time), ``access_km`` (origin's leg to the
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
    _warn_unreachable(func, ~reachable, origins.index)
    ids = np.asarray(agglomerations.index, dtype=object)
    nearest_id = (ids.take(np.maximum(nearest, 0)) if len(ids)
                  else np.full(len(origins), None, dtype=object))
    nearest_id[~reachable] = None
    out = origins.copy()
    out["time_to_agglomeration_min"] = np.where(reachable, time, np.nan)
    out["nearest_agglomeration_id"] = pd.Series(nearest_id, index=out.index, dtype="object")
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
    _warn_unreachable(func, bad, origins.index)
    values[~np.isfinite(values)] = np.nan
    return pd.DataFrame(values, index=origins.index.copy(), columns=destinations.index.copy())
