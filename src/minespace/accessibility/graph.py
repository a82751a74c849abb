"""The routable corridor graph: noding, snapping and edge times (:func:`build_network`).

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

Routing over it lives in :mod:`minespace.accessibility.network`.
"""

from __future__ import annotations

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
from .._progress import bar as _bar
from ._common import check_layers, resolve_speeds
from .distance import _SegmentIndex

__all__ = ["CorridorNetwork", "build_network"]

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
    progress: bool | None = None,
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
    progress : bool, optional
        Progress bar of the four steps (snapping, noding, speeds, graph) on stderr;
        default as in :func:`minespace.hotspots.getis_ord`.

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
    with _bar(progress, total=4, desc="corridor network", unit=" steps") as steps:
        return _build(corridors, speed, snap_m, grid_m, steps)


def _build(corridors: gpd.GeoDataFrame, speed: np.ndarray, snap_m: float, grid_m: float,
           steps) -> CorridorNetwork:
    steps.step("snapping line ends")
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

    steps.step(f"noding {len(source):,} lines")
    pieces = _node(source, grid_m)
    pieces = pieces[shapely.length(pieces) > 0]
    mid = shapely.line_interpolate_point(pieces, 0.5, normalized=True)
    # the source line(s) each piece lies on: those nearest to its midpoint. Sources
    # within the noding grid are found by a cheap "dwithin" query and filtered to
    # the minimum distance; pieces with none that close use a nearest query
    steps.step(f"speeds of {len(pieces):,} edges")
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

    steps.step("graph")
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
