"""Mining nodes: density-based clusters of deposits (DBSCAN / HDBSCAN) in kilometres."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._checks import require_geodataframe, require_metric_crs
from ._dbscan import dbscan_labels

logger = logging.getLogger(__name__)

__all__ = ["NOISE", "mining_nodes", "node_summary"]

#: Label of deposits that belong to no node.
NOISE = "noise"


def _xy_km(deposits: gpd.GeoDataFrame) -> np.ndarray:
    geom = np.asarray(deposits.geometry.values)
    if shapely.is_empty(geom).any() or pd.isna(geom).any():
        raise ValueError("deposits have missing or empty geometries; drop them first")
    pts = shapely.point_on_surface(geom)
    return shapely.get_coordinates(pts) / 1000.0


def mining_nodes(deposits: gpd.GeoDataFrame, *, eps_km: float = 10.0, min_samples: int = 3,
                 method: str = "dbscan", min_cluster_size: int | None = None,
                 selection_eps_km: float = 0.0) -> gpd.GeoDataFrame:
    """Group deposits into mining nodes by spatial density.

    Parameters
    ----------
    deposits : GeoDataFrame
        Deposit points in a metric CRS (polygons use a point on their surface).
    eps_km : float
        DBSCAN neighbourhood radius in km (not used by HDBSCAN).
    min_samples : int
        Deposits (including itself) within *eps_km* for a core deposit.
    method : {"dbscan", "hdbscan"}
        :class:`sklearn.cluster.DBSCAN` or :class:`sklearn.cluster.HDBSCAN`.
    min_cluster_size : int, optional
        HDBSCAN smallest node (default *min_samples*).
    selection_eps_km : float
        HDBSCAN ``cluster_selection_epsilon`` in km (nodes closer than this are
        not split). With NumPy >= 2.4, scikit-learn <= 1.9 fails on a non-zero
        value when deposits share coordinates (scikit-learn issue #33219); that
        failure is re-raised as a ``ValueError`` saying so.
    Returns
    -------
    GeoDataFrame
        Copy of *deposits* with ``node`` (int; −1 = noise; nodes numbered
        1, 2, ... by decreasing size, ties by first row) and ``node_label``
        (``"node 1"``... or ``"noise"``).

    Raises
    ------
    CRSError
        If *deposits* are not in a metric CRS.

    Notes
    -----
    Coordinates are divided by 1,000 so that *eps_km* is in km (the CRS unit
    must be the metre). DBSCAN is deterministic; only border deposits
    reachable from two nodes may change node with row order.

    Examples
    --------
    >>> import minespace as ms
    >>> nodes = mining_nodes(ms.datasets.kuzbass().deposits, eps_km=10, min_samples=3)
    >>> int((nodes["node"] == -1).sum()) == int((nodes["node_label"] == "noise").sum())
    True
    """
    require_geodataframe(deposits, "deposits")
    require_metric_crs(deposits, "mining_nodes")
    if not eps_km > 0:
        raise ValueError(f"eps_km must be > 0, got {eps_km}")
    if int(min_samples) < 1:
        raise ValueError(f"min_samples must be >= 1, got {min_samples}")
    out = deposits.copy()
    if len(deposits) == 0:
        out["node"] = pd.Series(dtype=int)
        out["node_label"] = pd.Series(dtype=object)
        return out
    xy = _xy_km(deposits)
    if method == "dbscan":
        raw = dbscan_labels(xy, eps=float(eps_km), min_samples=int(min_samples))
    elif method == "hdbscan":
        from sklearn.cluster import HDBSCAN

        mcs = int(min_cluster_size or max(min_samples, 2))
        if len(xy) < 2:
            raw = np.full(len(xy), -1)
        else:
            model = HDBSCAN(min_cluster_size=mcs, min_samples=int(min_samples),
                            cluster_selection_epsilon=float(selection_eps_km), copy=True)
            try:
                raw = model.fit_predict(xy)
            except TypeError as exc:  # pragma: no cover - depends on sklearn/numpy versions
                raise ValueError(
                    "HDBSCAN failed with selection_eps_km > 0, a known scikit-learn bug with "
                    "tied distances (issue #33219); use selection_eps_km=0 or DBSCAN") from exc
    else:
        raise ValueError(f"method must be 'dbscan' or 'hdbscan', got {method!r}")
    raw = np.where(raw < 0, -1, raw)
    node = np.full(len(raw), -1)
    clustered = raw >= 0
    if clustered.any():
        uniq, first, inv, size = np.unique(raw[clustered], return_index=True,
                                           return_inverse=True, return_counts=True)
        order = np.lexsort((first, -size))  # by size desc, then first appearance
        rank = np.empty(len(uniq), dtype=int)
        rank[order] = np.arange(1, len(uniq) + 1)
        node[clustered] = rank[inv]
    out["node"] = node
    out["node_label"] = np.where(node < 0, NOISE, np.char.add("node ", node.astype(str)))
    logger.info("mining_nodes: %d node(s), %d noise deposit(s)", int(node.max(initial=0)),
                int((node < 0).sum()))
    return out


def node_summary(nodes: gpd.GeoDataFrame, *, by: str | None = "activity") -> gpd.GeoDataFrame:
    """One row per node: size, dominant category and convex hull.

    Parameters
    ----------
    nodes : GeoDataFrame
        Output of :func:`mining_nodes`.
    by : str or None
        Category column for ``dominant`` / ``dominant_share``.

    Returns
    -------
    GeoDataFrame indexed by ``node`` (noise excluded) with ``node_label``,
    ``n_deposits``, ``dominant``, ``dominant_share`` and the convex hull of
    its deposits as geometry (a point or line for degenerate nodes).

    Examples
    --------
    >>> import minespace as ms
    >>> s = node_summary(mining_nodes(ms.datasets.kuzbass().deposits))
    >>> bool((s["n_deposits"] >= 3).all())
    True
    """
    require_geodataframe(nodes, "nodes")
    if "node" not in nodes.columns:
        raise KeyError("nodes lacks the 'node' column; call mining_nodes first")
    inside = nodes[nodes["node"] >= 0]
    hull = inside[["node", "geometry"]].dissolve(by="node").convex_hull
    out = pd.DataFrame({"n_deposits": inside.groupby("node").size()})
    out["node_label"] = "node " + out.index.astype(str)
    if by is not None:
        counts = pd.crosstab(inside["node"], inside[by].astype(str))
        out["dominant"] = counts.idxmax(axis=1)
        out["dominant_share"] = counts.max(axis=1) / counts.sum(axis=1)
    return gpd.GeoDataFrame(out, geometry=hull.reindex(out.index).to_numpy(), crs=nodes.crs)
