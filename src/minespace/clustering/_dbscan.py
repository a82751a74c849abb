"""DBSCAN in bounded memory, with exactly the labels of :class:`sklearn.cluster.DBSCAN`.

scikit-learn's DBSCAN first lists the neighbourhood of every point (all pairs
within ``eps``): memory grows with the number of pairs, about 20 bytes each, which
at a million deposits over a coal basin is tens of GB. The labels only depend on

1. which points are *core* (at least ``min_samples`` points, itself included,
   within ``eps``),
2. which core points are connected (a chain of core points, each within ``eps``
   of the next), and
3. for every other point, the clusters of the core points within ``eps`` of it
   (scikit-learn gives a border point the cluster it meets first, i.e. the one
   numbered lowest; clusters are numbered in the order of their first core point).

None of these needs the list of pairs. Points are binned into square cells of side
``s = eps/√2`` (slightly less), so that any two points of one cell are within
``eps``:

1. every point of a cell holding ``min_samples`` points or more is core; the other
   points are counted with a k-d tree (``count_only``: no neighbour lists);
2. core points of one cell are connected to each other; two cells are connected
   when the nearest core point of the other cell, for some core point, is within
   ``eps``. Cells up to 2 apart in x and y can hold such pairs (12 offsets, each
   pair of cells once). The nearest-core queries go to one k-d tree over
   ``(x, y, M·cell)`` with ``M > 2·eps`` (points of other cells are then farther
   than any candidate), and pairs of cells already connected are not queried
   again; the connected components of the cell graph are the clusters;
3. a point that is not core has fewer than ``min_samples`` points within ``eps``,
   hence at most ``min_samples - 2`` core points there: its ``k = min_samples - 2``
   nearest core points contain them all.

Memory is O(n) (coordinates, cell ids, trees) plus O(chunk·k) for the queries.
Every "within eps" test is ``dx*dx + dy*dy <= eps*eps`` in float64, the same
arithmetic as scikit-learn's k-d tree (which DBSCAN uses for two-dimensional
data), so ties at exactly ``eps`` are decided the same way.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

#: Queries per chunk (bounded memory: a few arrays of this many rows).
_CHUNK = 65_536
#: Half of the 24 neighbouring cells (dx, dy) within reach: nearest first.
_OFFSETS = ((1, 0), (0, 1), (1, 1), (1, -1), (2, 0), (0, 2), (2, 1), (2, -1), (1, 2),
            (1, -2), (2, 2), (2, -2))


def _within(a: np.ndarray, b: np.ndarray, eps2: float) -> np.ndarray:
    """``|a - b|² <= eps²`` row by row, with scikit-learn's k-d tree arithmetic."""
    dx = a[:, 0] - b[:, 0]
    dy = a[:, 1] - b[:, 1]
    return dx * dx + dy * dy <= eps2


def _chunks(n: int, size: int = _CHUNK):
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def dbscan_labels(xy: np.ndarray, *, eps: float, min_samples: int) -> np.ndarray:
    """Labels of ``sklearn.cluster.DBSCAN(eps, min_samples=min_samples).fit_predict(xy)``.

    Parameters
    ----------
    xy : ndarray of shape (n, 2)
        Finite coordinates.
    eps : float
        Neighbourhood radius (> 0), in the unit of *xy*.
    min_samples : int
        Points (itself included) within *eps* for a core point (>= 1).

    Returns
    -------
    ndarray of int64
        Cluster labels 0, 1, ... in the order of each cluster's first core point;
        -1 for noise. Equal to scikit-learn's labels (Euclidean metric, no
        sample weights).
    """
    from sklearn.neighbors import KDTree

    xy = np.ascontiguousarray(xy, dtype=np.float64)
    n = len(xy)
    min_samples = int(min_samples)
    labels = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return labels
    eps = float(eps)
    eps2 = eps * eps
    side = eps / math.sqrt(2.0) * (1.0 - 1e-6)  # two points of a cell: within eps
    lo = xy.min(axis=0)
    span = (xy.max(axis=0) - lo) / side
    if not np.all(span < 2.0**26):  # binning error stays far below the 1e-6 margin
        raise ValueError(f"eps={eps:g} is too small for the extent of the points "
                         f"({span.max():.3g} cells of eps/sqrt(2) across); use a larger eps")
    cx = np.floor((xy[:, 0] - lo[0]) / side).astype(np.int64) + 2
    cy = np.floor((xy[:, 1] - lo[1]) / side).astype(np.int64) + 2
    height = int(cy.max()) + 3
    key = cx * height + cy
    cells, cell_of, cell_count = np.unique(key, return_inverse=True, return_counts=True)

    # 1. core points: whole cells with >= min_samples points, the rest counted
    core = cell_count[cell_of] >= min_samples
    rest = np.flatnonzero(~core)
    if rest.size:
        tree = KDTree(xy)
        for part in _chunks(rest.size):
            idx = rest[part]
            core[idx] = tree.query_radius(xy[idx], r=eps, count_only=True) >= min_samples
        del tree
    core_idx = np.flatnonzero(core)
    if core_idx.size == 0:
        return labels

    # 2. clusters: connected components of the cells holding core points
    core_xy = xy[core_idx]
    core_cells, node = np.unique(cell_of[core_idx], return_inverse=True)
    n_nodes = len(core_cells)
    node_key = cells[core_cells]                 # sorted, as cells are
    big = 4.0 * eps + 1.0
    tree3 = KDTree(np.column_stack([core_xy, node * big]))
    fx = (core_xy[:, 0] - lo[0]) - (cx[core_idx] - 2) * side   # position in the cell
    fy = (core_xy[:, 1] - lo[1]) - (cy[core_idx] - 2) * side
    reach2 = eps2 * (1.0 + 1e-5) ** 2   # a loose pre-filter: rounding of fx, fy
    edges_a: list[np.ndarray] = []
    edges_b: list[np.ndarray] = []
    comp = np.arange(n_nodes)
    for dx, dy in _OFFSETS:
        target = node_key + dx * height + dy
        pos = np.searchsorted(node_key, target)
        pos[pos == n_nodes] = 0
        found = node_key[pos] == target
        other = np.where(found, pos, -1)          # node of the neighbouring cell, if any
        live = found & (comp != comp[np.where(found, pos, 0)])
        if not live.any():
            continue
        # core points whose cell has an unconnected neighbour there, near enough to it
        gx = np.maximum(0.0, dx * side - fx) if dx else np.zeros_like(fx)   # dx >= 0
        gy = (np.maximum(0.0, dy * side - fy) if dy > 0 else
              np.maximum(0.0, fy - (dy + 1) * side) if dy < 0 else np.zeros_like(fy))
        gap = gx * gx + gy * gy
        ask = np.flatnonzero(live[node] & (gap <= reach2))
        # in rounds: first the core point of each cell nearest to the other cell, then
        # the next 1, 2, 4, ... ones, for the cell pairs still without a link
        ask = ask[np.lexsort((gap[ask], node[ask]))]
        first = np.r_[0, np.flatnonzero(np.diff(node[ask])) + 1]
        rank = np.arange(ask.size) - np.repeat(first, np.diff(np.r_[first, ask.size]))
        low, high = 0, 1
        while low <= rank.max(initial=0) and live.any():
            sel = ask[(rank >= low) & (rank < high)]
            sel = sel[live[node[sel]]]
            for part in _chunks(sel.size):
                idx = sel[part]
                b = other[node[idx]]
                query = np.column_stack([core_xy[idx], b * big])
                nearest = tree3.query(query, k=1, return_distance=False)[:, 0]
                hit = _within(core_xy[idx], core_xy[nearest], eps2) & (node[nearest] == b)
                edges_a.append(node[idx[hit]])
                edges_b.append(b[hit])
                live[node[idx[hit]]] = False
            low, high = high, 2 * high
        if edges_a:
            a = np.concatenate(edges_a)
            b = np.concatenate(edges_b)
            pairs = np.unique(np.minimum(a, b) * n_nodes + np.maximum(a, b))
            edges_a, edges_b = [pairs // n_nodes], [pairs % n_nodes]
            graph = sparse.coo_matrix((np.ones(len(pairs), dtype=np.int8),
                                       (edges_a[0], edges_b[0])), shape=(n_nodes, n_nodes))
            comp = connected_components(graph, directed=False)[1]
    del tree3
    # clusters numbered by their first core point (scikit-learn's order)
    point_comp = comp[node]
    first = np.full(comp.max() + 1, n, dtype=np.int64)
    np.minimum.at(first, point_comp, core_idx)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    cluster = rank[point_comp]
    labels[core_idx] = cluster

    # 3. border points: lowest cluster among the (< min_samples - 1) cores within eps
    k = min(max(min_samples - 2, 0), core_idx.size)
    if k:
        others = np.flatnonzero(~core)
        tree = KDTree(core_xy)
        step = max(1, _CHUNK // k)
        for part in _chunks(others.size, step):
            idx = others[part]
            near = tree.query(xy[idx], k=k, return_distance=False)        # (m, k)
            hit = _within(np.repeat(xy[idx], k, axis=0), core_xy[near.ravel()], eps2)
            lab = np.where(hit.reshape(near.shape), cluster[near], np.iinfo(np.int64).max)
            best = lab.min(axis=1)
            labels[idx] = np.where(best == np.iinfo(np.int64).max, -1, best)
    return labels
