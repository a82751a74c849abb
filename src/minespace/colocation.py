"""Co-location of point categories: global and local co-location quotients.

The co-location quotient asks whether the points of category B are found near
the points of category A more (CLQ > 1) or less (CLQ < 1) often than the
overall mix of categories would suggest. It is asymmetric (A → B ≠ B → A).
Typical uses: mines → processing plants, mines → institutions, or one commodity
→ another; layers are combined with :func:`stack`.

- **Global** (Leslie & Kronenfeld 2011): from each A point's nearest other
  point(s), :func:`colocation_quotient`.
- **Local** (Cromley, Hanink & Bentley 2014; Wang, Hu, Wang & Kim 2017): one
  value per A point from its k nearest other points with Gaussian kernel
  weights and an adaptive bandwidth, :func:`local_colocation_quotient`, with
  conditional permutation inference and Benjamini–Hochberg labels shared with
  :mod:`minespace.hotspots`.

Neighbours come from a ``scipy.spatial.cKDTree``; distances need a metric CRS.
Two distances are **tied** when they differ by at most ``TIE_ATOL_M`` (one
micrometre: far below any survey precision, far above the rounding error of
distances computed from projected coordinates, so that equal distances are ties).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.spatial import cKDTree

from . import _permutation as _perm
from ._checks import (
    layer_source,
    require_columns,
    require_geodataframe,
    require_metric_crs,
    require_same_crs,
)
from ._permutation import FIRST_ROUND, auto_permutations
from .errors import LayerError, MinespaceWarning, Problem

__all__ = ["TIE_ATOL_M", "colocation_quotient", "local_colocation_quotient",
           "stack"]

#: Absolute tolerance (metres) under which two neighbour distances are tied.
TIE_ATOL_M = 1e-6
_EXTRA = 4  # neighbours queried beyond k before looking for more ties


# --------------------------------------------------------------------------- input
def stack(layers: Mapping[str, gpd.GeoDataFrame], *, by: str = "layer") -> gpd.GeoDataFrame:
    """Combine point layers into one, with their name as a category column.

    Parameters
    ----------
    layers : mapping of str to GeoDataFrame
        Category name → point layer, e.g. ``{"mine": deposits, "plant": plants}``;
        all in the same CRS.
    by : str, default "layer"
        Name of the new category column.

    Returns
    -------
    GeoDataFrame
        The rows of every layer, in order, with their columns (missing ones
        NaN) and *by*; indexed by a MultiIndex (*by*, original id), so ids may
        repeat across layers. The second level keeps the layers' index name when
        they share one, else it is called ``id``.

    Raises
    ------
    CRSError
        When the layers are in different CRS.
    ValueError
        When *layers* is empty or a layer already has a column *by*.

    Examples
    --------
    >>> import minespace as ms
    >>> deposits = ms.datasets.kuzbass().deposits
    >>> pts = ms.colocation.stack({"open_pit": deposits[deposits["method"] == "open_pit"],
    ...                            "underground": deposits[deposits["method"] != "open_pit"]},
    ...                           by="kind")
    >>> pts["kind"].value_counts().to_dict()
    {'open_pit': 83, 'underground': 58}
    """
    if not layers:
        raise ValueError("stack needs at least one layer, e.g. {'mine': deposits}")
    for name, layer in layers.items():
        require_geodataframe(layer, f"layers[{name!r}]")
        if by in layer.columns:
            raise ValueError(f"layer {name!r} already has a column {by!r}; "
                             "choose another by=")
    require_same_crs("colocation.stack", **{str(k): v for k, v in layers.items()})
    first = next(iter(layers.values()))
    frames = []
    for name, layer in layers.items():
        frame = layer.copy()
        if frame.geometry.name != "geometry":
            frame = frame.rename_geometry("geometry")
        frame[by] = name
        frames.append(frame)
    names = {layer.index.name for layer in layers.values()}
    inner = names.pop() if len(names) == 1 and None not in names else "id"
    out = pd.concat(frames, keys=list(layers), names=[by, inner])
    return gpd.GeoDataFrame(out, geometry="geometry", crs=first.crs)


def _points_xy(points: gpd.GeoDataFrame, func: str) -> np.ndarray:
    """(n, 2) coordinates of a point layer in a metric CRS (LayerError for other rows)."""
    require_geodataframe(points, "points")
    require_metric_crs(points, func)
    geoms = np.asarray(points.geometry.values, dtype=object)
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    bad |= ~bad & (shapely.get_type_id(geoms) != shapely.GeometryType.POINT)
    if bad.any():
        source = layer_source(points, "<GeoDataFrame>")
        problems = []
        for r in np.flatnonzero(bad):
            g = geoms[r]
            got = "no geometry" if g is None or g.is_empty else f"a {g.geom_type}"
            problems.append(Problem(source, f"row {r} (id {points.index[r]!r})", "geometry",
                                    f"{func} needs one point per row, got {got}",
                                    "drop the row or use its centroid (layer.centroid)"))
        raise LayerError(problems)
    return shapely.get_coordinates(geoms)


def _labels(points: gpd.GeoDataFrame, by: str, func: str) -> tuple[np.ndarray, pd.Index]:
    """Category codes (0..m-1) and the sorted categories of column *by*."""
    require_columns(points, [by], "points")
    values = points[by]
    missing = values.isna().to_numpy()
    if missing.any():
        source = layer_source(points, "<GeoDataFrame>")
        raise LayerError([Problem(source, f"row {r} (id {points.index[r]!r})", by,
                                  f"{func}: missing category",
                                  f"fill {by!r} or drop the row")
                          for r in np.flatnonzero(missing)])
    codes, cats = pd.factorize(values, sort=True)
    return codes.astype(np.int64), pd.Index(cats)


def _category(cats: pd.Index, value, name: str) -> int:
    pos = cats.get_indexer([value])[0]
    if pos < 0:
        raise ValueError(f"{name}={value!r} is not a category of the points; "
                         f"available: {list(cats)}")
    return int(pos)


# --------------------------------------------------------------------------- neighbours
def _tol(d: np.ndarray) -> np.ndarray:
    return np.full_like(d, TIE_ATOL_M)


def _near_candidates(tree: cKDTree, xy: np.ndarray, units: np.ndarray, k: int):
    """For each unit i: every other point j with d_ij ≤ d_(k) + tol, flat and sorted.

    d_(k) is the distance from i to its k-th nearest other point (self excluded
    by index, so coincident points count as neighbours at distance 0). Returns
    (row, col, dist, dk): *row* the position in *units*, sorted by row then
    distance; *dk* per unit. Rows whose last queried neighbour is still tied
    with d_(k) are queried again with twice as many neighbours (rounds over
    rows, vectorised within a round).
    """
    n = len(xy)
    rows_out, cols_out, dist_out = [], [], []
    dk_all = np.empty(len(units))
    todo = np.arange(len(units))
    m = min(n, k + 1 + _EXTRA)
    while todo.size:
        d, j = tree.query(xy[units[todo]], k=m)
        d = np.asarray(d, float).reshape(len(todo), m)
        j = np.asarray(j).reshape(len(todo), m)
        last = d[:, -1].copy()
        is_self = j == units[todo][:, None]
        d = np.where(is_self, np.inf, d)
        order = np.argsort(d, axis=1, kind="stable")
        d = np.take_along_axis(d, order, axis=1)
        j = np.take_along_axis(j, order, axis=1)
        dk = d[:, k - 1]
        more = (last <= dk + _tol(dk)) & (m < n)
        done = ~more
        keep = (d <= (dk + _tol(dk))[:, None]) & done[:, None]
        rr, cc = np.nonzero(keep)
        rows_out.append(todo[rr])
        cols_out.append(j[rr, cc])
        dist_out.append(d[rr, cc])
        dk_all[todo[done]] = dk[done]
        todo = todo[more]
        m = min(n, 2 * m)
    row = np.concatenate(rows_out)
    col = np.concatenate(cols_out).astype(np.int64)
    dist = np.concatenate(dist_out)
    order = np.lexsort((dist, row))
    return row[order], col[order], dist[order], dk_all


def _k_nearest(xy: np.ndarray, units: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(len(units), k) neighbour positions and distances: the k nearest other points.

    Points tied (within tolerance) with the k-th distance are taken in point order.
    """
    tree = cKDTree(xy)
    row, col, dist, dk = _near_candidates(tree, xy, units, k)
    tied = dist >= dk[row] - _tol(dk[row])
    order = np.lexsort((col, tied, row))  # strictly nearer first, then ties by point order
    row, col, dist = row[order], col[order], dist[order]
    start = np.searchsorted(row, np.arange(len(units)))
    rank = np.arange(len(row)) - start[row]
    take = rank < k
    return col[take].reshape(len(units), k), dist[take].reshape(len(units), k)


def _gaussian(dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian kernel weights exp(−½ d²/d_b²) with d_b the row's largest distance."""
    band = dist.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.exp(-0.5 * (dist / band[:, None]) ** 2)
    w[band == 0] = 1.0  # k coincident neighbours: the limit of equal weights
    return w, band


# --------------------------------------------------------------------------- global
def _nearest_shares(xy: np.ndarray, units: np.ndarray):
    """(unit, neighbour, 1/(number tied)) over every unit's tied nearest other points."""
    row, col, _dist, _dk = _near_candidates(cKDTree(xy), xy, units, 1)
    per_row = np.bincount(row, minlength=len(units))
    return units[row], col, 1.0 / per_row[row]


def _global_counts(src: np.ndarray, col: np.ndarray, share: np.ndarray, codes: np.ndarray,
                   n_cat: int) -> np.ndarray:
    """C[a, b]: Σ over the A points of the share of their tied nearest neighbours in B."""
    flat = codes[src] * n_cat + codes[col]
    return np.bincount(flat, weights=share, minlength=n_cat * n_cat).reshape(n_cat, n_cat)


_GLOBAL_BATCH_ELEMENTS = 1 << 22  # permutations × neighbour pairs per batch (~32 MB)


def _global_permutation_counts(src, col, share, codes, n_cat, aa, bb, c_obs, permutations,
                               rng) -> tuple[np.ndarray, np.ndarray]:
    """Counts of permuted C_{A→B} ≥ and ≤ the observed one, per requested pair.

    Each permutation shuffles all labels (category counts kept); the nearest-neighbour
    ties do not depend on the labels. Batches of permutations are vectorised.
    """
    n, cells = len(codes), n_cat * n_cat
    pair = aa * n_cat + bb
    eps = 1e-9 * (np.abs(c_obs) + 1.0)
    ge = np.zeros(len(pair), np.int64)
    le = np.zeros(len(pair), np.int64)
    batch = max(1, _GLOBAL_BATCH_ELEMENTS // max(len(src), n))
    done = 0
    while done < permutations:  # loop over batches of permutations
        nb = min(batch, permutations - done)
        labels = rng.permuted(np.broadcast_to(codes, (nb, n)), axis=1)
        flat = labels[:, src] * n_cat + labels[:, col] + (np.arange(nb) * cells)[:, None]
        sims = np.bincount(flat.ravel(), weights=np.broadcast_to(share, flat.shape).ravel(),
                           minlength=nb * cells).reshape(nb, cells)[:, pair]
        ge += (sims >= c_obs - eps).sum(axis=0)
        le += (sims <= c_obs + eps).sum(axis=0)
        done += nb
    return ge, le


def colocation_quotient(points: gpd.GeoDataFrame, *, by: str, a=None, b=None,
                        permutations: int = 0, alternative: str = "two-sided",
                        random_state: int | np.random.Generator | None = None,
                        ) -> pd.DataFrame:
    """Global co-location quotient between the categories of a point layer.

    Parameters
    ----------
    points : GeoDataFrame
        Points in a metric CRS (e.g. ``region.deposits``, or layers combined with
        :func:`stack`); at least 2.
    by : str
        Category column.
    a, b : optional
        Restrict to A = *a* and/or B = *b*; default every category.
    permutations : int, default 0
        R > 0 adds a permutation p-value ``p_sim`` per pair: all labels are
        shuffled R times (category counts kept) and C_{A→B} recomputed.
    alternative : {"two-sided", "greater", "lesser"}
        As in :mod:`minespace.hotspots`: two-sided
        min(1, 2·(min(M_≥, M_≤) + 1)/(R + 1)); "greater" tests co-location.
    random_state : int or numpy Generator, optional
        Seed of the permutations.

    Returns
    -------
    DataFrame
        One row per ordered pair, indexed by (``a``, ``b``), with ``n_a`` (N_A),
        ``n_b`` (N_B), ``n_b_other`` (N'_B), ``colocated`` (C_{A→B}) and ``clq``
        (and ``p_sim`` with ``permutations``; no multiple-testing correction).
        ``out["clq"].unstack()`` is the A × B matrix.

    Raises
    ------
    CRSError
        Without a metric CRS.
    LayerError
        For rows that are not points or have no category.
    ValueError
        When *a* or *b* is not a category, or with fewer than 2 points.

    Warns
    -----
    MinespaceWarning
        For CLQ_{A→A} of a category with a single point (N'_A = 0): NaN.

    Notes
    -----
    CLQ_{A→B} = (C_{A→B}/N_A) / (N'_B/(N − 1)) (Leslie & Kronenfeld 2011,
    *Geogr. Anal.* 43(3):306–326), where C_{A→B} counts the A points whose
    nearest other point is of category B, N'_B = N_B, or N_A − 1 when A = B.
    An A point with several nearest neighbours at the same distance (within
    ``TIE_ATOL_M`` = 1 µm) counts 1/(number tied) for each; coincident
    points are neighbours at distance 0. CLQ > 1: B is nearer to A than the mix
    of categories suggests; the expected value under random labelling is 1.

    With ``permutations``, ``p_sim`` compares C_{A→B} with its values when all
    labels are shuffled (category counts kept; the neighbour ties do not depend
    on the labels), the Monte-Carlo test of Leslie & Kronenfeld, p = (M + 1)/(R + 1).

    Examples
    --------
    >>> import minespace as ms
    >>> deposits = ms.datasets.kuzbass().deposits
    >>> clq = ms.colocation.colocation_quotient(deposits, by="method")
    >>> clq[["n_a", "n_b", "colocated"]]
                             n_a  n_b  colocated
    a           b
    open_pit    open_pit      83   83       70.0
                underground   83   58       13.0
    underground open_pit      58   83       19.5
                underground   58   58       38.5
    >>> clq["clq"].unstack().round(3)
    b            open_pit  underground
    a
    open_pit        1.440        0.378
    underground     0.567        1.630
    """
    if isinstance(permutations, bool) or not isinstance(permutations, int | np.integer) \
            or permutations < 0:
        raise ValueError(f"permutations must be a non-negative integer, got {permutations!r}")
    _perm._sides(alternative)
    xy = _points_xy(points, "colocation_quotient")
    codes, cats = _labels(points, by, "colocation_quotient")
    n = len(xy)
    if n < 2:
        raise ValueError(f"colocation_quotient needs at least 2 points, got {n}")
    ia = np.arange(len(cats)) if a is None else np.array([_category(cats, a, "a")])
    ib = np.arange(len(cats)) if b is None else np.array([_category(cats, b, "b")])
    # with permutations any point may be an A: every point's nearest neighbours
    units = np.arange(n) if permutations else np.flatnonzero(np.isin(codes, ia))
    src, col, share = _nearest_shares(xy, units)
    counts = _global_counts(src, col, share, codes, len(cats))
    n_cat = np.bincount(codes, minlength=len(cats))
    aa, bb = np.meshgrid(ia, ib, indexing="ij")
    aa, bb = aa.ravel(), bb.ravel()
    n_other = n_cat[bb] - (aa == bb)
    c = counts[aa, bb]
    with np.errstate(divide="ignore", invalid="ignore"):
        clq = (c / n_cat[aa]) / (n_other / (n - 1))
    clq = np.where(n_other > 0, clq, np.nan)
    undefined = [str(cats[x]) for x, y in zip(aa, bb, strict=True)
                 if x == y and n_cat[x] == 1]
    if undefined:
        warnings.warn(f"colocation_quotient: CLQ of a category with itself is undefined for "
                      f"categories with a single point ({', '.join(undefined)}): N - 1 = 0 "
                      "other points of the category; reported as NaN", MinespaceWarning,
                      stacklevel=2)
    index = pd.MultiIndex.from_arrays([cats[aa], cats[bb]], names=["a", "b"])
    out = pd.DataFrame({"n_a": n_cat[aa], "n_b": n_cat[bb], "n_b_other": n_other,
                        "colocated": c, "clq": clq}, index=index)
    if permutations:
        rng = np.random.default_rng(random_state)
        ge, le = _global_permutation_counts(src, col, share, codes, len(cats), aa, bb, c,
                                            int(permutations), rng)
        out["p_sim"] = np.where(n_other > 0,
                                _perm._p_from_counts(ge, le, permutations, alternative),
                                np.nan)
    return out


# --------------------------------------------------------------------------- local
def _local_values(xy: np.ndarray, is_b: np.ndarray, units: np.ndarray, k: int,
                  n_other: int):
    """LCLQ per unit, its row-standardised kernel weights and neighbours, bandwidths."""
    nbr, dist = _k_nearest(xy, units, k)
    w, band = _gaussian(dist)
    w = w / w.sum(axis=1, keepdims=True)
    share = (w * is_b[nbr]).sum(axis=1)  # N_{A_i -> B}
    expected = n_other / (len(xy) - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lclq = share / expected
    return lclq, share, w, nbr, band


def _check_options(k, permutations, alternative, alpha) -> None:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer number of neighbours, got {k!r}")
    if permutations != "auto" and (isinstance(permutations, bool | str)
                                   or int(permutations) != permutations or permutations < 0):
        raise ValueError(f"permutations must be 'auto' or a non-negative integer, "
                         f"got {permutations!r}")
    _perm._sides(alternative)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


def _permutation_p(is_b: np.ndarray, units: np.ndarray, w: np.ndarray, nbr: np.ndarray,
                   share: np.ndarray, *, permutations, alternative: str, alpha: float,
                   fdr: bool, random_state) -> tuple[np.ndarray, dict]:
    """Conditional permutation p-values of N_{A_i→B} (hence of LCLQ_i) per unit."""
    n, m, k = len(is_b), len(units), nbr.shape[1]
    y = is_b.astype(float)
    # one CSR row per point, the units' rows holding their weights (others empty)
    counts = np.zeros(n, np.int64)
    counts[units] = k
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    order = np.argsort(units, kind="stable")
    mat = sparse.csr_matrix((w[order].ravel(), nbr[order].ravel(), indptr), shape=(n, n))
    lag = np.zeros(n)
    lag[units] = share
    srt = units[order]
    rng = np.random.default_rng(random_state)
    auto = permutations == "auto"
    total = (auto_permutations(max(m, 1), alpha=alpha, alternative=alternative, fdr=fdr)
             if auto else int(permutations))
    first = min(FIRST_ROUND, total) if auto else total
    ge, le = _perm._permutation_counts(y, mat, lag, first, rng, units=srt)
    reps = np.full(m, first, dtype=np.int64)
    record = {"method": "conditional permutation", "alternative": alternative,
              "alpha": alpha, "fdr": "benjamini-hochberg" if fdr else None,
              "random_state": (random_state if random_state is None
                               or isinstance(random_state, int) else "generator"),
              "n_tested": m, "permutations": total,
              "requested": "auto" if auto else total}
    if auto:
        refine = np.flatnonzero(_perm._p_from_counts(ge, le, first, alternative)
                                <= min(1.0, 2 * alpha))
        if total > first and refine.size:
            ge2, le2 = _perm._permutation_counts(y, mat, lag, total - first, rng,
                                                 units=srt[refine])
            ge[refine] += ge2
            le[refine] += le2
            reps[refine] = total
        record.update(first_round=first, refined=int((reps == total).sum()))
    p_sorted = _perm._p_from_counts(ge, le, reps, alternative)
    p = np.empty(m)
    p[order] = p_sorted
    record["min_p"] = _perm.min_p_value(total, alternative)
    _perm.warn_unreachable("local_colocation_quotient", m, total, alpha, alternative, fdr,
                           auto=auto, stacklevel=4)
    return p, record


def local_colocation_quotient(points: gpd.GeoDataFrame, *, by: str, a, b, k: int = 8,
                              permutations: int | str = "auto",
                              alternative: str = "two-sided", alpha: float = 0.05,
                              fdr: bool = True,
                              random_state: int | np.random.Generator | None = None,
                              ) -> gpd.GeoDataFrame:
    """Local co-location quotient of category *b* around each point of category *a*.

    Parameters
    ----------
    points : GeoDataFrame
        Points in a metric CRS with a category column (e.g. from :func:`stack`);
        more than *k*.
    by : str
        Category column.
    a, b
        The categories A (one value per A point) and B (looked for around
        them); may be equal.
    k : int, default 8
        Neighbours per A point (self excluded); the kernel bandwidth is the
        distance to the k-th.
    permutations : "auto" or int, default "auto"
        Conditional permutations, as in :func:`minespace.hotspots.getis_ord`:
        ``"auto"`` makes the smallest attainable p-value 4 times smaller than
        the first Benjamini–Hochberg threshold α/N_A
        (:func:`minespace.hotspots.auto_permutations`), spending them only on
        the points with p ≤ 2α after 999; an int R gives every A point R
        permutations (with a warning when 2/(R + 1) is above α/N_A); 0 skips
        the inference (``p_sim`` NaN, nothing significant).
    alternative : {"two-sided", "greater", "lesser"}
        Two-sided p = min(1, 2·(min(M_≥, M_≤) + 1)/(R + 1)); "greater" tests
        co-location only, (M_≥ + 1)/(R + 1).
    alpha : float, default 0.05
        Significance level (false discovery rate when ``fdr``).
    fdr : bool, default True
        Label with :func:`minespace.hotspots.benjamini_hochberg` over the A points.
    random_state : int or numpy Generator, optional
        Seed of the permutations.

    Returns
    -------
    GeoDataFrame
        Copy of the A points (same index and columns, input order) with
        ``clq`` (LCLQ_{A_i→B}), ``bandwidth_m`` (d_ib), ``p_sim`` (pseudo
        p-value), ``q_sim`` (BH q-value), ``significant`` (bool) and
        ``colocation`` ("colocated" when significant with clq > 1,
        "isolated" when significant with clq < 1, else "not significant").
        ``out.attrs["inference"]["local_colocation_quotient"]`` records the
        inference (as in :mod:`minespace.hotspots`) and
        ``out.attrs["colocation"]`` holds ``a``, ``b``, ``k``, ``n``, ``n_b_other``.

    Raises
    ------
    CRSError
        Without a metric CRS.
    LayerError
        For rows that are not points or have no category.
    ValueError
        For a category that is absent, k < 1 or N ≤ k, or bad options.

    Warns
    -----
    MinespaceWarning
        When N'_B = 0 (A = B with a single A point): ``clq`` NaN; when the
        permutations cannot reach significance.

    Notes
    -----
    LCLQ_{A_i→B} = N_{A_i→B} / (N'_B/(N − 1)) with
    N_{A_i→B} = Σ_{j∈K_i} w_ij f_ij / Σ_{j∈K_i} w_ij (Cromley, Hanink & Bentley
    2014, *Geogr. Anal.* 46(4); Wang, Hu, Wang & Kim 2017, *Geogr. Anal.*
    49(3):305–325): K_i are the k nearest other points of A_i (self excluded,
    ties at the k-th distance broken by point order), f_ij = 1 when j is of
    category B, w_ij = exp(−½ d_ij²/d_ib²) with the adaptive bandwidth d_ib the
    distance to the k-th neighbour (all weights 1 when d_ib = 0), N'_B = N_B,
    or N_B − 1 when A = B. Its mean over random labellings is 1.

    Inference: the labels of all points but A_i are shuffled, category counts
    kept, so the labels of its k neighbours are a sample without replacement
    from the other N − 1 labels; one table of such samples per permutation is
    shared by all A points (as in esda), drawn from ``random_state``.

    Examples
    --------
    >>> import minespace as ms
    >>> deposits = ms.datasets.kuzbass().deposits
    >>> out = ms.colocation.local_colocation_quotient(
    ...     deposits, by="method", a="underground", b="underground", k=8, random_state=0)
    >>> len(out), out.attrs["inference"]["local_colocation_quotient"]["permutations"]
    (58, 9999)
    >>> out["colocation"].value_counts().to_dict()
    {'not significant': 35, 'colocated': 23}
    """
    func = "local_colocation_quotient"
    _check_options(k, permutations, alternative, alpha)
    xy = _points_xy(points, func)
    codes, cats = _labels(points, by, func)
    ia, ib = _category(cats, a, "a"), _category(cats, b, "b")
    n = len(xy)
    if n <= k:
        raise ValueError(f"{func}: k={k} neighbours need more than {k} points, got {n}; "
                         "use a smaller k")
    units = np.flatnonzero(codes == ia)
    is_b = codes == ib
    n_other = int(is_b.sum()) - (ia == ib)
    lclq, share, w, nbr, band = _local_values(xy, is_b, units, k, n_other)
    if n_other == 0:
        warnings.warn(f"{func}: {b!r} has no other point than the single {a!r} point, so "
                      "N'_B = 0 and the co-location quotient is undefined (NaN)",
                      MinespaceWarning, stacklevel=2)
        lclq[:] = np.nan
    if permutations and n_other > 0:
        p, record = _permutation_p(is_b, units, w, nbr, share, permutations=permutations,
                                   alternative=alternative, alpha=alpha, fdr=fdr,
                                   random_state=random_state)
    else:
        p = np.full(len(units), np.nan)
        record = {"method": None, "permutations": 0, "requested": 0, "alternative":
                  alternative, "alpha": alpha, "fdr": "benjamini-hochberg" if fdr else None,
                  "random_state": None, "n_tested": 0}
    from .hotspots import benjamini_hochberg

    reject, q = benjamini_hochberg(p, alpha=alpha)
    sig = reject if fdr else np.nan_to_num(p, nan=1.0) <= alpha
    out = points.iloc[units].copy()
    out["clq"] = lclq
    out["bandwidth_m"] = band
    out["p_sim"] = p
    out["q_sim"] = q
    out["significant"] = sig
    out["colocation"] = np.where(sig & (lclq > 1), "colocated",
                                 np.where(sig & (lclq < 1), "isolated", "not significant"))
    out.attrs["inference"] = {**out.attrs.get("inference", {}), func: record}
    out.attrs["colocation"] = {"a": a, "b": b, "k": int(k), "n": n, "n_b_other": n_other}
    return out
