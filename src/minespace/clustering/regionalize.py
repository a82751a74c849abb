"""Spatially constrained regionalization: every region is a connected set of territories.

Ward agglomerative clustering where only contiguous territories (or
regions) may merge; contiguity comes from
:func:`minespace.territories.contiguity`, with its island policy.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from sklearn.cluster import AgglomerativeClustering

from .._checks import require_geodataframe
from .typology import _as_array, _check_k

logger = logging.getLogger(__name__)

__all__ = ["connectivity", "is_contiguous", "regionalize"]


def connectivity(territories: gpd.GeoDataFrame, *, kind: str = "queen",
                 islands: str = "attach") -> sparse.csr_matrix:
    """Contiguity of *territories* as a sparse 0/1 matrix in row order.

    Thin wrapper over :func:`minespace.territories.contiguity` (same
    parameters, same island policy), for scikit-learn's ``connectivity=``.

    Parameters
    ----------
    territories : GeoDataFrame
        Territories indexed by ``territory_id``.
    kind : {"queen", "rook"}
    islands : {"attach", "keep"}

    Returns
    -------
    scipy.sparse.csr_matrix
        Symmetric 0/1 matrix, rows and columns in the row order of *territories*.

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import territories
    >>> terr = territories.hex_grid(ms.datasets.kuzbass(), cell_km=40)
    >>> connectivity(terr).shape == (len(terr), len(terr))
    True
    """
    from ..territories import contiguity

    w = contiguity(territories, kind=kind, islands=islands)
    pos = pd.Index(w.id_order).get_indexer(territories.index)
    sp = w.sparse.tocsr()
    return sp[pos][:, pos].tocsr()


def is_contiguous(labels, adjacency: sparse.spmatrix) -> pd.Series:
    """Whether each cluster is one connected component of *adjacency*.

    Parameters
    ----------
    labels : array-like of int, length n
    adjacency : sparse (n, n)
        Contiguity (non-zero = neighbours), rows in the order of *labels*.

    Returns
    -------
    Series of bool indexed by label.

    Notes
    -----
    Edges between different clusters are dropped; the number of connected
    components of the remaining graph must equal the number of clusters.

    Examples
    --------
    >>> from scipy import sparse
    >>> a = sparse.csr_matrix(([1, 1, 1, 1], ([0, 1, 1, 2], [1, 0, 2, 1])), shape=(3, 3))
    >>> is_contiguous([0, 0, 1], a).tolist(), is_contiguous([0, 1, 0], a).tolist()
    ([True, True], [False, True])
    """
    labels = np.asarray(labels)
    coo = sparse.coo_matrix(adjacency)
    keep = labels[coo.row] == labels[coo.col]
    within = sparse.csr_matrix((np.ones(keep.sum()), (coo.row[keep], coo.col[keep])),
                               shape=coo.shape)
    _, comp = connected_components(within, directed=False)
    uniq, inv = np.unique(labels, return_inverse=True)
    pairs = np.unique(np.column_stack([inv, comp]), axis=0)
    n_comp = np.bincount(pairs[:, 0], minlength=len(uniq))
    return pd.Series(n_comp == 1, index=uniq, name="contiguous")


def regionalize(territories: gpd.GeoDataFrame, features, *, n_regions: int,
                kind: str = "queen", islands: str = "attach",
                linkage: str = "ward", adjacency: sparse.spmatrix | None = None
                ) -> gpd.GeoDataFrame:
    """Group territories into *n_regions* contiguous regions of similar features.

    Parameters
    ----------
    territories : GeoDataFrame
        Territories indexed by ``territory_id``.
    features : DataFrame
        Numeric features without NaN, indexed like *territories* (any order;
        aligned on the index), e.g. from :class:`FeatureBuilder`.
    n_regions : int
    kind, islands : str
        Passed to :func:`minespace.territories.contiguity`. With
        ``islands="attach"`` (default) the contiguity graph is connected. With
        ``islands="keep"`` every connected component other than the largest
        becomes a region of its own, and the largest gets the remaining
        ``n_regions − (components − 1)`` regions.
    linkage : {"ward", "average", "complete", "single"}
    adjacency : sparse matrix, optional
        Precomputed contiguity (rows in the order of *territories*), e.g. from
        :func:`connectivity`; overrides *kind*/*islands*.

    Returns
    -------
    GeoDataFrame
        Copy of *territories* with ``region_id`` (int, numbered 0.. by the
        first territory of each region in row order).

    Raises
    ------
    ValueError
        If *n_regions* exceeds the number of territories, or is smaller than
        the number of disconnected components with ``islands="keep"``.

    Notes
    -----
    :class:`sklearn.cluster.AgglomerativeClustering` with ``connectivity``
    merges only adjacent clusters, so with a connected graph every region is
    connected (checked after fitting with :func:`is_contiguous`).

    Examples
    --------
    >>> import minespace as ms, pandas as pd
    >>> from minespace import territories
    >>> terr = territories.hex_grid(ms.datasets.kuzbass(), cell_km=40)
    >>> X = terr[["rep_x", "rep_y"]] / 1000
    >>> out = regionalize(terr, X, n_regions=5)
    >>> out["region_id"].nunique()
    5
    """
    require_geodataframe(territories, "territories")
    if not isinstance(features, pd.DataFrame):
        raise TypeError("features must be a DataFrame indexed like territories")
    missing = territories.index.difference(features.index)
    if len(missing):
        raise KeyError(f"features lack {len(missing)} territories, e.g. {list(missing[:3])}")
    arr, _ = _as_array(features.loc[territories.index])
    n = len(arr)
    _check_k(n_regions, n)
    if linkage not in ("ward", "average", "complete", "single"):
        raise ValueError(f"linkage must be ward/average/complete/single, got {linkage!r}")
    adj = (connectivity(territories, kind=kind, islands=islands) if adjacency is None
           else sparse.csr_matrix(adjacency))
    if adj.shape != (n, n):
        raise ValueError(f"adjacency must be {n}×{n}, got {adj.shape}")
    adj = ((adj + adj.T) > 0).astype(float).tocsr()
    n_comp, comp = connected_components(adj, directed=False)
    labels = np.empty(n, dtype=int)
    if n_comp == 1:
        labels[:] = _agglomerate(arr, n_regions, adj, linkage)
    else:
        if n_regions < n_comp:
            raise ValueError(f"the contiguity graph has {n_comp} disconnected parts "
                             f"(islands='keep'), so n_regions must be >= {n_comp}; got "
                             f"{n_regions}. Use islands='attach' to link islands.")
        sizes = np.bincount(comp)
        big = int(sizes.argmax())
        inside = comp == big
        k_big = min(n_regions - (n_comp - 1), int(inside.sum()))
        sub = adj[inside][:, inside]
        labels[inside] = _agglomerate(arr[inside], k_big, sub, linkage)
        other = ~inside
        _, small = np.unique(comp[other], return_inverse=True)
        labels[other] = k_big + small
        logger.info("regionalize: %d island component(s) kept as their own regions",
                    n_comp - 1)
    _, first, inv = np.unique(labels, return_index=True, return_inverse=True)
    labels = np.argsort(np.argsort(first))[inv]
    ok = is_contiguous(labels, adj)
    if not ok.all():  # pragma: no cover - guaranteed by the connectivity constraint
        raise RuntimeError(f"regions {list(ok.index[~ok])} are not contiguous")
    out = territories.copy()
    out["region_id"] = labels
    return out


def _agglomerate(arr: np.ndarray, k: int, adj: sparse.csr_matrix, linkage: str) -> np.ndarray:
    if k == 1 or len(arr) == 1:
        return np.zeros(len(arr), dtype=int)
    model = AgglomerativeClustering(n_clusters=k, linkage=linkage, connectivity=adj)
    return model.fit_predict(arr)
