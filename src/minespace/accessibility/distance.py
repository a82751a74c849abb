"""Straight-line distances to transport corridors and agglomerations.

All distances are Euclidean in the layers' metric CRS and reported in km.
Polygon origins (territories) are represented by a representative point
(:func:`shapely.point_on_surface`, always inside the polygon), or by their
population-weighted point when a population raster is given (``population=``,
see :func:`~minespace.accessibility.population_weighted_points`).
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._checks import require_columns
from ..io.raster import Raster
from ._common import check_layers, origin_points, representative_points

__all__ = ["agglomeration_distances", "corridor_distances"]


def _segments(lines: np.ndarray, max_len: float | None = None, *, along: bool = False
              ) -> tuple[np.ndarray, ...]:
    """Two-point segments of (multi)lines: start (n, 2), end (n, 2), owner line position.

    With *max_len*, longer segments are split into ceil(L / max_len) equal collinear
    pieces (numpy arithmetic, no new geometries). With *along*, a fourth array gives
    the distance from the start of the segment's line part to the segment's start
    (for a LineString: its position along the line).
    """
    types = shapely.get_type_id(lines)
    if (types == 1).all():              # plain LineStrings: no get_parts needed
        coords, part = shapely.get_coordinates(lines, return_index=True)
        part_owner = None
    else:
        parts, part_owner = shapely.get_parts(lines, return_index=True)
        coords, part = shapely.get_coordinates(parts, return_index=True)
    same = part[:-1] == part[1:]
    a, b, seg_part = coords[:-1][same], coords[1:][same], part[:-1][same]
    owner = seg_part if part_owner is None else part_owner[seg_part]
    s0 = None
    if along:
        length = np.hypot(*(b - a).T)
        before = np.cumsum(length) - length            # exclusive running sum
        first = np.r_[True, seg_part[1:] != seg_part[:-1]] if len(a) else np.zeros(0, bool)
        start = np.maximum.accumulate(np.where(first, np.arange(len(a)), 0))
        s0 = before - before[start]
    if max_len is not None:
        return _split_segments(a, b, owner, max_len, s0)
    return (a, b, owner, s0) if along else (a, b, owner)


def _split_segments(a: np.ndarray, b: np.ndarray, owner: np.ndarray, max_len: float,
                    s0: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Segments longer than *max_len* cut into ceil(L / max_len) equal collinear pieces.

    Returns (a, b, owner) or, with *s0* (each segment's start along its line),
    (a, b, owner, s0) with the pieces' own start positions.
    """
    def out(*arrays):
        return arrays if s0 is not None else arrays[:3]

    if len(a) == 0:
        return out(a, b, owner, s0)
    n_sub = np.maximum(np.ceil(np.hypot(*(b - a).T) / max_len), 1).astype(np.int64)
    if not (n_sub > 1).any():
        return out(a, b, owner, s0)
    seg = np.repeat(np.arange(len(a)), n_sub)
    first = np.repeat(np.cumsum(n_sub) - n_sub, n_sub)
    j = (np.arange(len(seg)) - first).astype(float)
    t0, t1 = j / n_sub[seg], (j + 1) / n_sub[seg]
    d = b - a
    last = j + 1 == n_sub[seg]
    new_b = a[seg] + t1[:, None] * d[seg]
    new_b[last] = b[seg[last]]          # keep the exact end vertex
    new_s0 = None
    if s0 is not None:
        new_s0 = s0[seg] + t0 * np.hypot(*d.T)[seg]
    return out(a[seg] + t0[:, None] * d[seg], new_b, owner[seg], new_s0)


def _point_segment(p: np.ndarray, a: np.ndarray, b: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Distance from points p to segments ab (broadcast on the leading axes) and the
    closest point on each segment."""
    ab = b - a
    denom = np.einsum("...i,...i->...", ab, ab)
    t = np.einsum("...i,...i->...", p - a, ab) / np.where(denom > 0, denom, 1.0)
    t = np.clip(t, 0.0, 1.0)
    q = a + t[..., None] * ab
    return np.sqrt(np.sum((p - q) ** 2, axis=-1)), q


def _zorder(xy: np.ndarray) -> np.ndarray:
    """Permutation sorting points along a Z-order (Morton) curve of 16 bits per axis."""
    lo = xy.min(axis=0)
    span = float((xy.max(axis=0) - lo).max()) or 1.0
    g = ((xy - lo) * ((2 ** 16 - 1) / span)).astype(np.uint64)
    for shift, mask in ((8, 0x00FF00FF), (4, 0x0F0F0F0F), (2, 0x33333333), (1, 0x55555555)):
        g = (g | (g << np.uint64(shift))) & np.uint64(mask)
    return np.argsort(g[:, 0] | (g[:, 1] << np.uint64(1)), kind="stable")


class _SegmentIndex:
    """Exact nearest-line search for many points (KD-tree over short sub-segments).

    Lines are cut into their two-point segments and these into equal collinear
    pieces no longer than *piece* (default a quarter of the median segment length,
    coarser when that would give more than *max_pieces*); the pieces' midpoints go
    into a KD-tree. The k nearest midpoints give candidate pieces and an upper bound
    U of the distance (exact point-segment distances in numpy). A piece closer than
    U has its midpoint within U + h (h = half the longest piece), so a point is
    settled when its k-th midpoint is at least that far; unsettled points are
    retried with 4k candidates, and so on (at worst all pieces). Short pieces keep
    h small, so most points settle in the first pass of k = 8. The result is exact;
    ties go to the lowest line position.
    """

    def __init__(self, lines: np.ndarray, *, piece: float | None = None,
                 max_pieces: int = 4_000_000) -> None:
        from scipy.spatial import cKDTree

        a, b, owner, s0 = _segments(lines, along=True)
        seg_len = np.hypot(*(b - a).T)
        if piece is None:
            total = float(seg_len.sum())
            median = float(np.median(seg_len)) if len(seg_len) else 0.0
            piece = max(0.25 * median, total / max_pieces, 1e-6)
        # the whole two-point segments, packed as _PointGrid.nearest computes them
        sdx, sdy = b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]
        slen2 = sdx * sdx + sdy * sdy
        sinv = np.divide(1.0, slen2, out=np.zeros_like(slen2), where=slen2 > 0)
        self.seg_packed = np.column_stack([a[:, 0], a[:, 1], sdx, sdy, sinv])
        self.seg_owner = owner
        a, b, seg, s0 = _split_segments(a, b, np.arange(len(a)), piece, s0)
        if len(a) > 4096:   # pieces in Z order: nearby candidates sit nearby in memory
            order = _zorder(0.5 * (a + b))
            a, b, seg, s0 = a[order], b[order], seg[order], s0[order]
        self.a, self.b, self.seg, self.s0 = a, b, seg, s0
        self.owner = owner[seg]
        self.ax, self.ay = self.a[:, 0], self.a[:, 1]
        self.dx, self.dy = self.b[:, 0] - self.ax, self.b[:, 1] - self.ay
        len2 = self.dx ** 2 + self.dy ** 2
        self.length = np.sqrt(len2)
        self.inv = np.divide(1.0, len2, out=np.zeros_like(len2), where=len2 > 0)
        self.half = 0.5 * float(self.length.max()) if len(self.a) else 0.0
        self.packed = np.column_stack([self.ax, self.ay, self.dx, self.dy, self.inv])
        mid = 0.5 * (self.a + self.b)
        # margin for the rounding of the KD-tree's distances in the settling test
        self.tol = 1e-10 * max(1.0, float(np.abs(mid).max()) if len(mid) else 1.0)
        self.tree = cKDTree(mid, balanced_tree=False, compact_nodes=False)

    def query(self, xy: np.ndarray, *, k: int = 8, budget: int = 8_000_000,
              along: bool = False, on_segments: bool = False) -> tuple[np.ndarray, ...]:
        """(line position, distance, closest point (n, 2)) for points *xy* (n, 2).

        With *along*, a fourth array gives the closest point's distance from the
        start of its line part (CRS units). Unsettled points are retried with 4× more
        candidates until settled (at worst every piece); *budget* caps the
        candidates held in memory at once.

        With *on_segments*, the candidates' distances and closest points are
        computed on their whole two-point segments rather than on the pieces, by
        the arithmetic of :meth:`_PointGrid.nearest`: both searches then give the
        same bits and the same ties (so the choice between them, which depends on
        the number of points in a call, does not change a result).
        """
        if along and on_segments:
            raise ValueError("along and on_segments cannot be combined")
        n, m = len(xy), len(self.a)
        packed = self.seg_packed if on_segments else self.packed
        line = np.zeros(n, np.int64)
        dist = np.full(n, np.inf)
        proj = np.zeros((n, 2))
        pos = np.zeros(n) if along else None
        # queries in Z order: neighbouring points walk the same tree nodes (cache
        # friendly, about twice as fast as a random order for 1e5 points)
        todo = _zorder(xy) if n > 4096 else np.arange(n)
        kk = min(k, m)
        while len(todo) and m:
            step = max(1, budget // kk)
            unsure = []
            for lo in range(0, len(todo), step):  # memory chunks, not a row loop
                rows = todo[lo:lo + step]
                mid_d, cand = self.tree.query(xy[rows], k=kk, workers=-1)
                mid_d, cand = mid_d.reshape(len(rows), kk), cand.reshape(len(rows), kk)
                # one gather of (ax, ay, dx, dy, 1/L²), of the pieces or their segments
                sd = packed[self.seg[cand]] if on_segments else packed[cand]
                ex = xy[rows, 0:1] - sd[..., 0]
                ey = xy[rows, 1:2] - sd[..., 1]
                dx, dy = sd[..., 2], sd[..., 3]
                t = (ex * dx + ey * dy) * sd[..., 4]
                np.clip(t, 0.0, 1.0, out=t)
                ex -= t * dx
                ey -= t * dy
                del sd, dx, dy
                d = np.sqrt(ex * ex + ey * ey)
                pick = d.argmin(axis=1)
                r = np.arange(len(rows))
                best = d[r, pick]
                tied = np.flatnonzero((d == best[:, None]).sum(axis=1) > 1)
                if len(tied):                         # among exact ties, the lowest line
                    own = np.where(d[tied] == best[tied, None], self.owner[cand[tied]],
                                   np.iinfo(np.int64).max)
                    pick[tied] = own.argmin(axis=1)
                c, tp = cand[r, pick], t[r, pick]
                line[rows], dist[rows] = self.owner[c], best
                if on_segments:
                    sc = self.seg[c]
                    proj[rows, 0] = packed[sc, 0] + tp * packed[sc, 2]
                    proj[rows, 1] = packed[sc, 1] + tp * packed[sc, 3]
                else:
                    proj[rows, 0] = self.ax[c] + tp * self.dx[c]
                    proj[rows, 1] = self.ay[c] + tp * self.dy[c]
                if along:
                    pos[rows] = self.s0[c] + tp * self.length[c]
                # every piece within best + half (so every tied segment) is a candidate
                settled = (mid_d[:, -1] > best + self.half + self.tol) | (kk >= m)
                unsure.append(rows[~settled])
            todo = np.concatenate(unsure)
            kk = min(4 * kk, m)
        return (line, dist, proj, pos) if along else (line, dist, proj)


class _PointGrid:
    """Points binned on a square grid of about *n_cells* occupied cells (for
    :meth:`nearest`); build once, query against several segment sets."""

    def __init__(self, xy: np.ndarray, n_cells: int) -> None:
        self.xy = np.asarray(xy, float)
        n = len(self.xy)
        lo = self.xy.min(axis=0) if n else np.zeros(2)
        span = np.maximum((self.xy.max(axis=0) if n else lo) - lo, 1e-9)
        cell = max(float(np.sqrt(span[0] * span[1] / max(n_cells, 1))),
                   float(span.max()) / 4096, 1e-6)
        nx_, ny_ = int(span[0] // cell) + 1, int(span[1] // cell) + 1
        ci = np.minimum(((self.xy[:, 0] - lo[0]) // cell).astype(np.int64), nx_ - 1)
        cj = np.minimum(((self.xy[:, 1] - lo[1]) // cell).astype(np.int64), ny_ - 1)
        key = ci * ny_ + cj
        self.order = np.argsort(key, kind="stable")
        cells, self.start, self.count = np.unique(key[self.order], return_index=True,
                                                  return_counts=True)
        self.centre = lo + (np.stack([cells // ny_, cells % ny_], axis=1) + 0.5) * cell
        # half-diagonal, padded for rounding
        self.r = cell * np.sqrt(0.5) * (1 + 1e-9) + 1e-9 * float(span.max())
        self.px, self.py = self.xy[:, 0], self.xy[:, 1]

    def nearest(self, a: np.ndarray, b: np.ndarray, owner: np.ndarray, *,
                chunk: int = 4_000_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact nearest segment (a → b) of every point: (owner, distance, closest point).

        For a cell with centre c and half-diagonal r, each of its points p has
        |d(p, s) − d(c, s)| ≤ r for every segment s (triangle inequality), so only
        segments with d(c, s) ≤ min_s' d(c, s') + 2r can be nearest to one of its
        points. Those (point, candidate) pairs are evaluated exactly, in memory
        chunks of about *chunk* pairs. Ties go to the lowest owner.
        """
        n = len(self.xy)
        line = np.zeros(n, np.int64)
        dist = np.full(n, np.inf)
        proj = np.zeros((n, 2))
        if n == 0 or len(a) == 0:
            return line, dist, proj
        ncell = len(self.centre)
        ax, ay = a[:, 0], a[:, 1]
        dx, dy = b[:, 0] - ax, b[:, 1] - ay
        len2 = dx * dx + dy * dy
        inv = np.divide(1.0, len2, out=np.zeros_like(len2), where=len2 > 0)
        step = max(1, chunk // len(a))
        cand_cell, cand_seg = [], []
        for c0 in range(0, ncell, step):    # memory chunks over cells, not rows
            cx, cy = self.centre[c0:c0 + step, 0:1], self.centre[c0:c0 + step, 1:2]
            ex, ey = cx - ax, cy - ay
            t = np.clip((ex * dx + ey * dy) * inv, 0.0, 1.0)
            ex -= t * dx
            ey -= t * dy
            d2 = ex * ex + ey * ey
            dc = np.sqrt(d2, out=d2)
            cc, ss = np.nonzero(dc <= dc.min(axis=1, keepdims=True) + 2 * self.r)
            cand_cell.append(cc + c0)
            cand_seg.append(ss)
        cand_cell, cand_seg = np.concatenate(cand_cell), np.concatenate(cand_seg)
        k = np.bincount(cand_cell, minlength=ncell)
        cand_start = np.cumsum(k) - k
        block = self.count * k              # (point, candidate) pairs per cell
        ends = np.cumsum(block)
        c0 = 0
        while c0 < ncell:                   # memory chunks over cells, not rows
            c1 = int(np.searchsorted(ends, (ends[c0 - 1] if c0 else 0) + chunk, "right"))
            c1 = max(c1, c0 + 1)
            blk = block[c0:c1]
            e_cell = np.repeat(np.arange(c0, c1), blk)
            j = np.arange(len(e_cell)) - np.repeat(np.cumsum(blk) - blk, blk)
            kk = k[e_cell]
            q = j % kk
            pt = self.order[self.start[e_cell] + j // kk]
            sg = cand_seg[cand_start[e_cell] + q]
            ex, ey = self.px[pt] - ax[sg], self.py[pt] - ay[sg]
            t = np.clip((ex * dx[sg] + ey * dy[sg]) * inv[sg], 0.0, 1.0)
            ex -= t * dx[sg]
            ey -= t * dy[sg]
            d = np.sqrt(ex * ex + ey * ey)
            g0 = np.flatnonzero(q == 0)     # each point's candidates are contiguous
            _take_nearest(d, g0, sg, t, pt, owner, ax, ay, dx, dy, line, dist, proj)
            c0 = c1
        return line, dist, proj



def _take_nearest(d, g0, sg, t, pt, owner, ax, ay, dx, dy, line, dist, proj) -> None:
    """Write each point's nearest segment into *line*, *dist*, *proj* (in place).

    Candidates (segment *sg*, distance *d*, position *t* along it) come in one
    contiguous block per point, starting at *g0*; ties on the distance go to the
    lowest line id (*owner*), then to the first candidate in the block.
    """
    best = np.minimum.reduceat(d, g0)
    glen = np.diff(np.r_[g0, len(d)])
    own = np.where(d == np.repeat(best, glen), owner[sg], np.iinfo(np.int64).max)
    low = np.minimum.reduceat(own, g0)
    hit = np.flatnonzero(own == np.repeat(low, glen))
    grp = np.repeat(np.arange(len(g0)), glen)[hit]
    first = hit[np.r_[True, grp[1:] != grp[:-1]]]
    p = pt[g0]
    line[p], dist[p] = low, best
    sf = sg[first]
    proj[p, 0] = ax[sf] + t[first] * dx[sf]
    proj[p, 1] = ay[sf] + t[first] * dy[sf]

def _grid_ok(n_points: int, n_segments: int) -> bool:
    """Whether grid pruning suits: few segments for many points."""
    return 0 < n_segments <= 5_000 and n_points >= 8 * n_segments


def _grid_cells(n_points: int, n_segments: int) -> int:
    return max(1, min(n_points // 24, 10_000_000 // max(n_segments, 1)))


def _nearest_line(xy: np.ndarray, lines: np.ndarray, grid: _PointGrid | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest line to each point: grid pruning (:class:`_PointGrid`) when the lines
    have few segments for the number of points, else :class:`_SegmentIndex`.
    Both are exact and give the same bits (ties to the lowest line position)."""
    a, b, owner = _segments(lines)
    if _grid_ok(len(xy), len(a)):
        if grid is None:
            grid = _PointGrid(xy, _grid_cells(len(xy), len(a)))
        return grid.nearest(a, b, owner)
    return _SegmentIndex(lines).query(xy, on_segments=True)


def _nearest(points: np.ndarray, targets: np.ndarray, grid: _PointGrid | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest target of each point and the distance (CRS units).

    Ties are broken by the lowest target position. Empty *targets* give -1 / NaN.
    Line targets use the KD-tree search of :func:`_nearest_line`.
    """
    n = len(points)
    idx = np.full(n, -1, dtype=np.int64)
    dist = np.full(n, np.nan)
    if n == 0 or len(targets) == 0:
        return idx, dist
    if np.isin(shapely.get_type_id(targets), (1, 5)).all():  # LineString, MultiLineString
        xy = grid.xy if grid is not None else shapely.get_coordinates(points)
        line, d, _ = _nearest_line(xy, targets, grid)
        return line, d
    tree = shapely.STRtree(targets)
    (src, tgt), d = tree.query_nearest(points, all_matches=True, return_distance=True)
    order = np.lexsort((tgt, src))          # per source: lowest target first
    src, tgt, d = src[order], tgt[order], d[order]
    first = np.r_[True, src[1:] != src[:-1]]
    idx[src[first]] = tgt[first]
    dist[src[first]] = d[first]
    return idx, dist


# --------------------------------------------------------------------------- results
def _ids_or_none(idx: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Target ids at positions *idx*, None where -1 (no target at all)."""
    return np.where(idx >= 0, ids[np.maximum(idx, 0)], None) if len(ids) else \
        np.full(len(idx), None, dtype=object)


def _corridor_frame(origins: gpd.GeoDataFrame, arrays: dict[str, np.ndarray],
                    kinds: Sequence[str], ids: np.ndarray, id_dtype=None) -> gpd.GeoDataFrame:
    """The pandas engine's result from the gathered arrays (same columns and dtypes)."""
    n = len(origins)
    columns: dict[str, np.ndarray] = {}
    for k in kinds:
        columns[f"dist_{k}_km"] = arrays.get(f"kind:{k}", np.full(n, np.nan)) / 1000.0
    idx = arrays["idx"]
    columns["dist_corridor_km"] = np.where(idx >= 0, arrays["best_d"], np.nan) / 1000.0
    columns["nearest_corridor_id"] = _ids_or_none(idx, ids)
    out = origins.copy()
    for name, values in columns.items():
        out[name] = values
    if id_dtype is not None:  # a lazy partition: one dtype in every partition
        out["nearest_corridor_id"] = out["nearest_corridor_id"].astype(id_dtype)
    return out


def _agglomeration_frame(origins: gpd.GeoDataFrame, arrays: dict[str, np.ndarray],
                         ids: np.ndarray, id_dtype=None) -> gpd.GeoDataFrame:
    out = origins.copy()
    out["dist_agglomeration_km"] = arrays["edge_d"] / 1000.0
    out["nearest_agglomeration_id"] = pd.Series(_ids_or_none(arrays["edge_idx"], ids),
                                                index=out.index)
    out["dist_agglomeration_centre_km"] = arrays["centre_d"] / 1000.0
    out["nearest_agglomeration_centre_id"] = pd.Series(
        _ids_or_none(arrays["centre_idx"], ids), index=out.index)
    if id_dtype is not None:
        for c in ("nearest_agglomeration_id", "nearest_agglomeration_centre_id"):
            out[c] = out[c].astype(id_dtype)
    return out


def _check_engine(engine: str) -> None:
    if engine != "pandas":
        raise ValueError(f"engine must be 'pandas' or 'dask', got {engine!r}")


def corridor_distances(
    origins: gpd.GeoDataFrame,
    corridors: gpd.GeoDataFrame,
    *,
    kinds: Sequence[str] | None = None,
    population: Raster | None = None,
    engine: str = "pandas",
    scheduler=None,
    npartitions: int | None = None,
    partition_size: int | None = None,
    progress: bool | None = None,
):
    """Straight-line distance from each origin to the nearest corridor of each kind.

    Parameters
    ----------
    origins : GeoDataFrame
        Points (deposits) or polygons (territories, represented by a point on
        their surface, or their population-weighted point with *population*), in a
        metric CRS.
    corridors : GeoDataFrame
        Lines with a ``kind`` column (``rail``, ``road_trunk``...), same CRS.
    kinds : sequence of str, optional
        Kinds to report; default every kind present, sorted. A kind absent from
        *corridors* gets NaN.
    population : Raster, optional
        Population counts in the same CRS: polygon origins then start from their
        population-weighted point (see
        :func:`~minespace.accessibility.population_weighted_points`). With
        ``engine="dask"``: in-memory polygons get these points on the client, from
        the whole layer; Dask origins must then be points (polygons raise
        ``ValueError`` when computed).
    engine : {"pandas", "dask"}
        ``"dask"`` (``pip install "minespace[dask]"``) computes the origins partition
        by partition on a Dask cluster; the targets are sent to each worker once and
        indexed once per worker. In-memory *origins* give the same GeoDataFrame as
        ``"pandas"`` (same columns, dtypes, index, order and values); a
        dask-geopandas *origins* gives a lazy dask-geopandas frame with the same
        columns (compute it with your scheduler). See ``docs/scale.md``.
    scheduler : None, str or distributed.Client
        With ``engine="dask"`` and in-memory origins: the running client, else a new
        ``LocalCluster`` (``None``), a scheduler address, or a client
        (:func:`minespace.scale.get_client`).
    npartitions, partition_size : int, optional
        With ``engine="dask"``: how in-memory origins are split
        (:func:`minespace.scale.to_dask`; default 500,000 rows per partition).
    progress : bool or None
        With ``engine="dask"`` and in-memory origins: a bar counting the partitions
        done (``None``: the caller's scope, e.g. the command line's).

    Returns
    -------
    GeoDataFrame
        A copy of *origins* with added columns ``dist_<kind>_km for each kind,
        ``dist_corridor_km`` (any kind) and ``nearest_corridor_id`` (index value of
        the nearest corridor of any kind).

    Raises
    ------
    CRSError
        If a layer is not in a metric CRS, or the CRS (population raster included)
        differ.
    KeyError
        If *corridors* has no ``kind`` column.
    ValueError
        For an unknown *engine*; with ``engine="dask"``, Dask polygon origins with
        *population* (when computed).
    ImportError
        With ``engine="dask"`` when the extra is not installed (names the command).

    Notes
    -----
    d_i,k = min over corridors c of kind k of ‖p_i − c‖ / 1000, with p_i the
    origin point, computed exactly (the distance to the line, not to its
    vertices): the points are binned on a grid when the lines have few segments for
    the number of points, else a KD-tree over short sub-segments is searched; ties go
    to the first corridor in row order. The Dask engine makes the same choice from
    the number of origins of the whole call when the origins are in memory (Dask
    origins: per partition, which can change the last bits of a distance).

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
    if engine == "dask":
        from ..scale._distance import corridor_distances_dask

        return corridor_distances_dask(origins, corridors, kinds=kinds, population=population,
                                       scheduler=scheduler, npartitions=npartitions,
                                       partition_size=partition_size, progress=progress)
    _check_engine(engine)
    check_layers("corridor_distances", origins=origins, corridors=corridors)
    require_columns(corridors, ["kind"], "corridors")
    points = origin_points(origins, population, func="corridor_distances")
    lines = np.asarray(corridors.geometry.array)
    kind = corridors["kind"].astype("object").to_numpy()
    if kinds is None:
        kinds = sorted({str(k) for k in kind if k is not None and k == k})
    present = sorted({str(k) for k in kind if k is not None and k == k})
    positions = np.arange(len(lines))
    best_d = np.full(len(points), np.inf)
    idx = np.full(len(points), -1, dtype=np.int64)
    by_kind: dict[str, np.ndarray] = {}
    grid = None     # points binned once for all kinds (few segments, many points)
    if len(lines) and np.isin(shapely.get_type_id(lines), (1, 5)).all():
        n_seg = int((shapely.get_num_coordinates(lines) - shapely.get_num_geometries(lines)
                     ).sum())
        if _grid_ok(len(points), n_seg):
            grid = _PointGrid(shapely.get_coordinates(points), _grid_cells(len(points), n_seg))
    for k in present:  # loop over a handful of kinds, not rows
        of_kind = positions[kind.astype(str) == k]
        i, d = _nearest(points, lines[of_kind], grid)
        by_kind[k] = d
        better = (d < best_d) | ((d == best_d) & (of_kind[i] < idx))
        best_d = np.where(better, d, best_d)
        idx = np.where(better, of_kind[i], idx)
    arrays = {f"kind:{k}": d for k, d in by_kind.items()}
    arrays["best_d"], arrays["idx"] = best_d, idx
    return _corridor_frame(origins, arrays, kinds, corridors.index.to_numpy())


def agglomeration_distances(
    origins: gpd.GeoDataFrame,
    agglomerations: gpd.GeoDataFrame,
    *,
    population: Raster | None = None,
    engine: str = "pandas",
    scheduler=None,
    npartitions: int | None = None,
    partition_size: int | None = None,
    progress: bool | None = None,
):
    """Straight-line distance from each origin to the nearest agglomeration.

    Two distances are given: to the agglomeration's edge (0 inside it) and to its
    centre (a representative point of the polygon, or the point itself).

    Parameters
    ----------
    origins : GeoDataFrame
        Points or polygons (represented by a point on their surface, or their
        population-weighted point with *population*), metric CRS.
    agglomerations : GeoDataFrame
        Polygons or points, same CRS.
    population : Raster, optional
        Population counts in the same CRS, for the origins' points (as in
        :func:`corridor_distances`); the agglomerations' centres stay
        representative points.
    engine : {"pandas", "dask"}
        ``"dask"`` (``pip install "minespace[dask]"``) computes the origins partition
        by partition on a Dask cluster; the agglomerations are sent to each worker once and
        indexed once per worker. In-memory *origins* give the same GeoDataFrame as
        ``"pandas"`` (same columns, dtypes, index, order and values); a
        dask-geopandas *origins* gives a lazy dask-geopandas frame with the same
        columns (compute it with your scheduler). See ``docs/scale.md``.
    scheduler : None, str or distributed.Client
        With ``engine="dask"`` and in-memory origins: the running client, else a new
        ``LocalCluster`` (``None``), a scheduler address, or a client
        (:func:`minespace.scale.get_client`).
    npartitions, partition_size : int, optional
        With ``engine="dask"``: how in-memory origins are split
        (:func:`minespace.scale.to_dask`; default 500,000 rows per partition).
    progress : bool or None
        With ``engine="dask"`` and in-memory origins: a bar counting the partitions
        done (``None``: the caller's scope, e.g. the command line's).

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
        If a layer is not in a metric CRS, or the CRS (population raster included)
        differ.
    ValueError
        For an unknown *engine*; with ``engine="dask"``, Dask polygon origins with
        *population* (when computed).
    ImportError
        With ``engine="dask"`` when the extra is not installed (names the command).

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
    if engine == "dask":
        from ..scale._distance import agglomeration_distances_dask

        return agglomeration_distances_dask(
            origins, agglomerations, population=population, scheduler=scheduler,
            npartitions=npartitions, partition_size=partition_size, progress=progress)
    _check_engine(engine)
    check_layers("agglomeration_distances", origins=origins, agglomerations=agglomerations)
    points = origin_points(origins, population, func="agglomeration_distances")
    ids = agglomerations.index.to_numpy()
    edge_idx, edge_d = _nearest(points, np.asarray(agglomerations.geometry.array))
    centre_idx, centre_d = _nearest(points, representative_points(agglomerations))
    return _agglomeration_frame(origins, {"edge_idx": edge_idx, "edge_d": edge_d,
                                          "centre_idx": centre_idx, "centre_d": centre_d},
                                ids)
