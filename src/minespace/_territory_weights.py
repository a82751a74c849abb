"""Spatial weights of territories: contiguity and distance bands (libpysal ``W``).

Public through :mod:`minespace.territories` (:func:`~minespace.territories.contiguity`,
:func:`~minespace.territories.distance_band`).
"""

from __future__ import annotations

import gc
import logging
import warnings

import geopandas as gpd
import numpy as np
import shapely
from libpysal.weights import W
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from . import limits
from ._checks import require_geodataframe, require_metric_crs
from ._territory_grid import _cell_lookup, _grid_info

logger = logging.getLogger("minespace.territories")


# --------------------------------------------------------------------------- contiguity
_SQUARE_ROOK = [(1, 0), (-1, 0), (0, 1), (0, -1)]
_SQUARE_QUEEN = [*_SQUARE_ROOK, (1, 1), (1, -1), (-1, 1), (-1, -1)]
_HEX = [(1, 0), (-1, 0), (0, 1), (0, -1), (1, -1), (-1, 1)]


def _grid_pairs(territories: gpd.GeoDataFrame, grid: dict, kind: str):
    """Neighbour pairs (i, j) of a generated grid from its cell arithmetic."""
    cols = territories["grid_col"].to_numpy(np.int64)
    rows = territories["grid_row"].to_numpy(np.int64)
    table, c0, r0 = _cell_lookup(cols, rows)
    offsets = _HEX if grid["kind"] == "hex" else (_SQUARE_QUEEN if kind == "queen"
                                                  else _SQUARE_ROOK)
    ii, jj = [], []
    n = len(cols)
    for dc, dr in offsets:  # loop over the 4-8 offsets, not over rows
        c = cols - c0 + dc
        r = rows - r0 + dr
        ok = (c >= 0) & (c < table.shape[1]) & (r >= 0) & (r < table.shape[0])
        j = np.full(n, -1)
        j[ok] = table[r[ok], c[ok]]
        has = j >= 0
        ii.append(np.flatnonzero(has))
        jj.append(j[has])
    i = np.concatenate(ii)
    j = np.concatenate(jj)
    # cells cut by the boundary may no longer touch: test those pairs exactly
    clipped = territories["grid_clipped"].to_numpy(bool)
    check = clipped[i] | clipped[j]
    if check.any():
        geoms = np.asarray(territories.geometry.values)
        keep = _touching(geoms[i[check]], geoms[j[check]], kind)
        drop = np.flatnonzero(check)[~keep]
        mask = np.ones(len(i), bool)
        mask[drop] = False
        i, j = i[mask], j[mask]
    return i, j


def _touching(a: np.ndarray, b: np.ndarray, kind: str) -> np.ndarray:
    """Queen: the polygons share a point; rook: they share a boundary segment."""
    if kind == "queen":
        return shapely.intersects(a, b)
    shared = shapely.intersection(shapely.boundary(a), shapely.boundary(b))
    return shapely.length(shared) > 0


def _polygon_pairs(territories: gpd.GeoDataFrame, kind: str):
    """Neighbour pairs of arbitrary polygons via libpysal Queen/Rook."""
    from libpysal.weights import Queen, Rook

    cls = Queen if kind == "queen" else Rook
    frame = gpd.GeoDataFrame(geometry=territories.geometry.values, crs=territories.crs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # libpysal warns about islands; we handle them
        w = cls.from_dataframe(frame, use_index=True, silence_warnings=True)
    mat = w.sparse.tocoo()
    order = np.asarray(w.id_order)
    return order[mat.row], order[mat.col]


def _attach_islands(i: np.ndarray, j: np.ndarray, xy: np.ndarray):
    """Link every connected component except the largest to its nearest outside territory."""
    n = len(xy)
    if n < 2:
        return i, j, 0
    added_i, added_j = [], []
    attached = 0
    for _ in range(n):  # each pass merges components; terminates in < log2(n) passes typically
        mat = sparse.coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)).tocsr()
        ncomp, labels = csgraph.connected_components(mat, directed=False)
        if ncomp == 1:
            break
        sizes = np.bincount(labels)
        main = int(np.argmax(sizes))
        for comp in np.flatnonzero(np.arange(ncomp) != main):  # loop over components
            members = np.flatnonzero(labels == comp)
            others = np.flatnonzero(labels != comp)
            dist, nearest = cKDTree(xy[others]).query(xy[members])
            k = int(np.argmin(dist))
            added_i.append(members[k])
            added_j.append(others[nearest[k]])
            attached += 1
        i = np.r_[i, added_i, added_j]
        j = np.r_[j, added_j, added_i]
        added_i, added_j = [], []
    return i, j, attached


def contiguity(territories: gpd.GeoDataFrame, *, kind: str = "queen",
               islands: str = "attach") -> W:
    """Binary contiguity weights between territories (libpysal ``W``).

    Generated grids use the grid arithmetic (hexagons: 6 neighbours for both
    kinds; squares: 8 for queen, 4 for rook), with exact geometric tests only
    for pairs involving cells cut by the boundary. Other territories use
    :class:`libpysal.weights.Queen` / :class:`~libpysal.weights.Rook`.

    Island policy (the one used throughout minespace): with
    ``islands="attach"`` every territory without neighbours, and every
    connected group of territories cut off from the largest group, is linked
    (symmetrically, weight 1) to the nearest territory outside it, measured
    between representative points (``rep_x``, ``rep_y``). The resulting W is
    connected; the number of links added is logged at INFO level.
    ``islands="keep"`` leaves islands without neighbours.

    Parameters
    ----------
    territories : GeoDataFrame
        Output of :func:`from_polygons`, :func:`hex_grid` or :func:`square_grid`.
    kind : {"queen", "rook"}
        Queen: sharing any boundary point; rook: sharing a boundary segment.
    islands : {"attach", "keep"}
        Island policy, see above.

    Returns
    -------
    libpysal.weights.W
        Binary weights with ids equal to ``territories.index`` (in that order).

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import territories
    >>> terr = territories.hex_grid(ms.datasets.kuzbass(), cell_km=25)
    >>> w = territories.contiguity(terr)
    >>> w.n == len(terr), max(w.cardinalities.values()) <= 6 + 2
    (True, True)
    """
    require_geodataframe(territories, "territories")
    if kind not in ("queen", "rook"):
        raise ValueError(f"kind must be 'queen' or 'rook', got {kind!r}")
    if islands not in ("attach", "keep"):
        raise ValueError(f"islands must be 'attach' or 'keep', got {islands!r}")
    n = len(territories)
    if n == 0:
        raise ValueError("territories is empty")
    grid = _grid_info(territories)
    if grid is not None:
        i, j = _grid_pairs(territories, grid, kind)
    else:
        i, j = _polygon_pairs(territories, kind)
    if islands == "attach":
        xy = _rep_xy(territories)
        i, j, attached = _attach_islands(i, j, xy)
        if attached:
            logger.info("contiguity: attached %d island(s)/component(s) to their nearest "
                        "territory", attached)
    mat = sparse.coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)).tocsr()
    mat.data[:] = 1.0  # duplicates collapse to binary
    mat.eliminate_zeros()
    ids = territories.index.tolist()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "islands"/"disconnected" notices for policy="keep"
        return _w_from_csr(mat, ids)


def _rep_xy(territories: gpd.GeoDataFrame) -> np.ndarray:
    if {"rep_x", "rep_y"} <= set(territories.columns):
        return territories[["rep_x", "rep_y"]].to_numpy(float)
    return shapely.get_coordinates(
        shapely.point_on_surface(np.asarray(territories.geometry.values)))


def distance_band(territories: gpd.GeoDataFrame, *, distance_km: float, k: int = 1,
                  islands: str = "attach", max_memory_gb: float | None = None) -> W:
    """Binary distance-band weights between representative points, k-nearest fallback.

    Territories i ≠ j are neighbours when their representative points
    (``rep_x``, ``rep_y``) are at most ``distance_km`` apart. A territory with
    no neighbour within the band is linked to its *k* nearest territories
    (symmetrically). Remaining disconnected groups follow the island policy of
    :func:`contiguity` (``islands="attach"``).

    Parameters
    ----------
    territories : GeoDataFrame
        Territories in a metric CRS.
    distance_km : float
        Band width in km.
    k : int, default 1
        Neighbours given to territories left without any.
    islands : {"attach", "keep"}
        As in :func:`contiguity`.
    max_memory_gb : float, optional
        Memory budget of the size check (default: half the available memory):
        the pairs within the band are counted first (a k-d tree count, nothing
        listed) and a band whose weights would exceed the budget
        (:data:`minespace.limits.BYTES_PER_NEIGHBOUR_PAIR` a pair) is refused.

    Returns
    -------
    libpysal.weights.W
        Binary weights with ids equal to ``territories.index``.

    Raises
    ------
    ResourceError
        If the weights would exceed the budget (the message names the number of
        pairs and a ``distance_km`` that fits); a
        :class:`~minespace.errors.SizeWarning` above half of it.

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import territories
    >>> terr = territories.hex_grid(ms.datasets.kuzbass(), cell_km=25)
    >>> w = territories.distance_band(terr, distance_km=26)
    >>> w.n == len(terr), w.n_components
    (True, 1)
    """
    require_geodataframe(territories, "territories")
    require_metric_crs(territories, "territories.distance_band")
    if not (np.isfinite(distance_km) and distance_km > 0):
        raise ValueError(f"distance_km must be positive, got {distance_km!r}")
    if islands not in ("attach", "keep"):
        raise ValueError(f"islands must be 'attach' or 'keep', got {islands!r}")
    n = len(territories)
    if n < 2:
        raise ValueError("distance_band needs at least two territories")
    xy = _rep_xy(territories)
    tree = cKDTree(xy)
    count = int(tree.count_neighbors(tree, distance_km * 1000.0)) - n   # ordered, no self
    limits.check_size(limits.Estimate(
        "territories.distance_band", "neighbour pairs", count,
        count * float(limits.BYTES_PER_NEIGHBOUR_PAIR), "distance_km", distance_km, scale=2.0),
        max_memory_gb=max_memory_gb)
    pairs = tree.query_pairs(distance_km * 1000.0, output_type="ndarray")
    i = np.r_[pairs[:, 0], pairs[:, 1]]
    j = np.r_[pairs[:, 1], pairs[:, 0]]
    lonely = np.setdiff1d(np.arange(n), i)
    if lonely.size and k > 0:
        kk = min(int(k), n - 1)
        _, nn = tree.query(xy[lonely], k=kk + 1)
        nn = nn[:, 1:].ravel()
        src = np.repeat(lonely, kk)
        i = np.r_[i, src, nn]
        j = np.r_[j, nn, src]
    if islands == "attach":
        i, j, attached = _attach_islands(i, j, xy)
        if attached:
            logger.info("distance_band: attached %d group(s) to their nearest territory",
                        attached)
    mat = sparse.coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)).tocsr()
    mat.data[:] = 1.0
    return _w_from_csr(mat, territories.index.tolist())


def _w_from_csr(mat: sparse.csr_matrix, ids: list) -> W:
    """Build a binary W from a CSR matrix with the given ids."""
    mat.sort_indices()
    bounds = mat.indptr.tolist()
    flat = np.asarray(ids, dtype=object)[mat.indices].tolist()
    ones = [1.0] * (int(np.diff(mat.indptr).max(initial=0)) + 1)
    # W needs dicts of lists: one list slice per territory, driven by map() in C
    starts, stops = bounds[:-1], bounds[1:]
    gc_was_enabled = gc.isenabled()
    gc.disable()  # ~2n new lists: cyclic GC passes would dominate the run time
    try:
        neighbors = dict(zip(ids, map(flat.__getitem__, map(slice, starts, stops)),
                             strict=True))
        sizes = map(int.__sub__, stops, starts)
        weights = dict(zip(ids, map(ones.__getitem__, map(slice, [0] * len(ids), sizes)),
                           strict=True))
        return W(neighbors, weights, id_order=ids, silence_warnings=True)
    finally:
        if gc_was_enabled:
            gc.enable()

