"""Hot spots: Getis–Ord Gi*, local and global Moran's I with permutation inference.

Weights default to :func:`minespace.territories.contiguity` (queen, binary,
islands attached to their nearest neighbour; the same island policy as
everywhere in minespace). Any ``libpysal.weights.W`` whose ids are the
territory ids can be passed instead, e.g. from
:func:`minespace.territories.distance_band`.

Conditional permutation inference (Anselin 1995) holds each value fixed and
draws its neighbours' values from the other n − 1 observations. One pass over
the permuted neighbour sums serves both Gi* and local Moran; the random draws
are shared across units (as in esda) and fully determined by ``random_state``.
Significance labels use the Benjamini–Hochberg false-discovery-rate rule
(:func:`benjamini_hochberg`), unless ``fdr=False``.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse, stats

from . import _permutation as _perm
from ._checks import require_columns, require_geodataframe
from ._permutation import AUTO_CAP, AUTO_MARGIN, FIRST_ROUND, auto_permutations
from ._progress import bar as _bar

__all__ = ["AUTO_CAP", "AUTO_MARGIN", "FIRST_ROUND", "MoranResult", "auto_permutations",
           "benjamini_hochberg", "getis_ord", "global_moran", "inference_label", "local_moran"]



# --------------------------------------------------------------------------- FDR
def benjamini_hochberg(p_values, *, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini–Hochberg false-discovery-rate rule.

    Sort the p-values p_(1) ≤ … ≤ p_(n), find the largest k with
    p_(k) **≤** k·α/n and reject every p ≤ p_(k) (Benjamini & Hochberg 1995,
    *JRSS B* 57(1):289–300). NaN p-values are ignored (never rejected, and
    not counted in n).

    This is the standard rule. ``esda.fdr`` differs in two ways: it uses a
    strict ``<`` (so a p-value exactly equal to k·α/n is not rejected, which
    matters for permutation p-values on the grid (m + 1)/(R + 1)), and when no
    p-value passes it returns the Bonferroni cut-off α/n instead of rejecting
    nothing.

    Parameters
    ----------
    p_values : array-like
        p-values.
    alpha : float, default 0.05
        Target false-discovery rate.

    Returns
    -------
    reject : ndarray of bool
        True where the null hypothesis is rejected.
    q_values : ndarray of float
        BH-adjusted p-values (q-values), ``min(1, min_{k≥r} p_(k)·n/k)``;
        ``q ≤ α`` exactly when rejected.

    Examples
    --------
    >>> from minespace.hotspots import benjamini_hochberg
    >>> reject, q = benjamini_hochberg([0.01, 0.02, 0.03, 0.5], alpha=0.05)
    >>> reject.tolist()
    [True, True, True, False]
    """
    p = np.asarray(p_values, dtype=float)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    reject = np.zeros(p.shape, bool)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return reject, q
    pv = p[ok]
    order = np.argsort(pv, kind="stable")
    ranked = pv[order]
    ranks = np.arange(1, m + 1)
    passing = np.flatnonzero(ranked <= ranks * alpha / m)
    rej = np.zeros(m, bool)
    if passing.size:
        rej = pv <= ranked[passing[-1]]
    adj = np.minimum.accumulate((ranked * m / ranks)[::-1])[::-1]
    qv = np.empty(m)
    qv[order] = np.minimum(adj, 1.0)
    reject[ok] = rej
    q[ok] = qv
    return reject, q


# --------------------------------------------------------------------------- weights
def _weights_matrix(territories: gpd.GeoDataFrame, w) -> sparse.csr_matrix:
    """CSR weights in the row order of *territories*, self-weights removed."""
    if w is None:
        from .territories import contiguity

        w = contiguity(territories)
    ids = getattr(w, "id_order", None)
    if ids is None:
        raise TypeError(f"w must be a libpysal W, got {type(w).__name__}")
    pos = pd.Index(ids).get_indexer(territories.index)
    if len(ids) != len(territories) or (pos < 0).any():
        raise ValueError("the ids of w must be exactly the territory ids (territories.index)")
    mat = _w_csr(w)
    if not np.array_equal(pos, np.arange(len(pos))):
        mat = mat[pos][:, pos].tocsr()
    if mat.dtype != np.float64:
        mat = mat.astype(float)
    if mat.diagonal().any():
        mat.setdiag(0.0)
        mat.eliminate_zeros()
    mat.sort_indices()
    return mat


def _w_csr(w) -> sparse.csr_matrix:
    """CSR matrix of a libpysal W in ``w.id_order``, built without ``w.sparse``.

    ``W.sparse`` caches several per-unit Python structures on the W (id maps,
    offset lists; ~30 MB for 100,000 units) that stay alive with it; reading the
    ``neighbors``/``weights`` dicts directly needs only the flat arrays. An
    already built ``w.sparse`` is reused (copied, so *w* is never modified).
    """
    from itertools import chain

    cached = getattr(w, "_sparse", None)
    if cached is not None:
        return cached.tocsr(copy=True)
    ids = list(w.id_order)
    n = len(ids)
    card = np.fromiter(map(len, map(w.neighbors.__getitem__, ids)), dtype=np.int64, count=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(card, out=indptr[1:])
    nnz = int(indptr[-1])
    # id -> position through a plain dict, streamed (no list of all neighbour ids)
    position = dict(zip(ids, range(n), strict=True))
    try:
        indices = np.fromiter(
            map(position.__getitem__, chain.from_iterable(map(w.neighbors.__getitem__, ids))),
            dtype=np.int64, count=nnz)
    except KeyError as err:
        raise ValueError(f"w has a neighbour that is not among its ids: {err}") from None
    del position
    data = np.fromiter(chain.from_iterable(map(w.weights.__getitem__, ids)), dtype=float,
                       count=nnz)
    mat = sparse.csr_matrix((data, indices, indptr), shape=(n, n))
    mat.sum_duplicates()
    return mat


def _check_inputs(territories, column, permutations, alpha):
    require_geodataframe(territories, "territories")
    require_columns(territories, [column], "territories")
    y = pd.to_numeric(territories[column], errors="raise").to_numpy(float)
    if not np.isfinite(y).all():
        bad = territories.index[~np.isfinite(y)]
        raise ValueError(f"column {column!r} has {len(bad)} missing/infinite value(s) "
                         f"(e.g. territory {bad[0]!r}); fill them (e.g. with 0) first")
    if len(y) < 3:
        raise ValueError("hot spot statistics need at least 3 territories")
    if permutations != "auto" and (isinstance(permutations, bool | str)
                                   or int(permutations) != permutations or permutations < 0):
        raise ValueError(f"permutations must be 'auto' or a non-negative integer, "
                         f"got {permutations!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    return y


def _significant(p: np.ndarray, alpha: float, fdr: bool) -> np.ndarray:
    if fdr:
        return benjamini_hochberg(p, alpha=alpha)[0]
    return np.nan_to_num(p, nan=1.0) <= alpha


def _inference(func: str, y: np.ndarray, mat: sparse.csr_matrix, lag_obs: np.ndarray, *,
               permutations, alternative: str, alpha: float, fdr: bool, random_state,
               flip: np.ndarray | None = None, progress=None) -> tuple[np.ndarray, dict]:
    """Permutation p-values (NaN without neighbours) and the record of the inference used."""
    has_nb = np.diff(mat.indptr) > 0
    n_tested = int(has_nb.sum())
    rng = np.random.default_rng(random_state)
    auto = permutations == "auto"
    record: dict = {"method": "conditional permutation", "alternative": alternative,
                    "alpha": alpha, "fdr": "benjamini-hochberg" if fdr else None,
                    "random_state": (random_state if random_state is None
                                     or isinstance(random_state, int) else "generator"),
                    "n_tested": n_tested}
    total = (auto_permutations(max(n_tested, 1), alpha=alpha, alternative=alternative, fdr=fdr)
             if auto else int(permutations))
    first = min(FIRST_ROUND, total) if auto else total
    label = {"getis_ord": "Gi*", "local_moran": "local Moran"}.get(func, func)
    with _bar(progress, total=len(y) * first, desc=f"{label} permutations",
              unit=" draws") as reporter:
        if auto:
            ge, le, reps, entered = _perm._adaptive_counts(
                y, mat, lag_obs, total, rng, alternative=alternative, alpha=alpha, flip=flip,
                progress=reporter)
        else:
            reps = total
            ge, le = _perm._permutation_counts(y, mat, lag_obs, total, rng, progress=reporter)
    if auto:
        record.update(permutations=total, requested="auto", first_round=first,
                      refined=int((reps == total).sum()),
                      stages=[[r, k] for r, k in zip(_perm.auto_stages(total), entered,
                                                     strict=False)])
    else:
        if flip is not None:
            ge, le = np.where(flip, le, ge), np.where(flip, ge, le)
        record.update(permutations=total, requested=total)
    p = _perm._p_from_counts(ge, le, reps, alternative)
    p[~has_nb] = np.nan
    record["min_p"] = _perm.min_p_value(total, alternative)
    _perm.warn_unreachable(func, n_tested, total, alpha, alternative, fdr, auto=auto,
                           stacklevel=4)
    return p, record


def inference_label(record: dict) -> str:
    """Short description of an inference record for legends and reports.

    Parameters
    ----------
    record : dict
        ``out.attrs["inference"][...]`` from :func:`getis_ord` or
        :func:`local_moran` (keys ``permutations``, ``alpha``, ``fdr``).

    Returns
    -------
    str
        e.g. ``"FDR 5 %, 90,999 permutations"``, ``"α 5 %, normal p-values"``.

    Examples
    --------
    >>> from minespace.hotspots import inference_label
    >>> inference_label({"permutations": 90999, "alpha": 0.05, "fdr": "benjamini-hochberg"})
    'FDR 5 %, 90,999 permutations'
    """
    level = f"{record['alpha'] * 100:g} %"
    level = f"FDR {level}" if record.get("fdr") else f"α {level}"
    perms = int(record.get("permutations") or 0)
    return f"{level}, {perms:,} permutations" if perms else f"{level}, normal p-values"


def _with_record(out: gpd.GeoDataFrame, func: str, record: dict) -> gpd.GeoDataFrame:
    out.attrs["inference"] = {**out.attrs.get("inference", {}), func: record}
    return out


# --------------------------------------------------------------------------- statistics
def _gi_star(y: np.ndarray, mat: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray,
                                                              np.ndarray]:
    """Gi*, its z-score and the self-weights (Ord & Getis 1995)."""
    n = len(y)
    self_w = np.zeros(n)
    if mat.nnz:
        self_w = np.maximum.reduceat(np.r_[mat.data, 0.0], np.minimum(mat.indptr[:-1],
                                                                       mat.nnz))
        self_w[np.diff(mat.indptr) == 0] = 1.0
    else:
        self_w[:] = 1.0
    lag = mat @ y + self_w * y
    wsum = np.asarray(mat.sum(axis=1)).ravel() + self_w
    w2sum = np.asarray(mat.multiply(mat).sum(axis=1)).ravel() + self_w**2
    mean = y.mean()
    s = y.std()
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (lag - mean * wsum) / (s * np.sqrt((n * w2sum - wsum**2) / (n - 1)))
        g = lag / y.sum()
    return g, z, self_w


def _local_moran(y: np.ndarray, mat: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray,
                                                                 sparse.csr_matrix]:
    """Local Moran I_i = (n − 1) z_i Σ_j w_ij z_j / Σ_k z_k² with row-standardised w."""
    n = len(y)
    wr = _row_standardised(mat)
    z = y - y.mean()
    lag = wr @ z
    den = (z * z).sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        i = (n - 1) * z * lag / den
    return i, lag, wr


def _row_standardised(mat: sparse.csr_matrix) -> sparse.csr_matrix:
    """w_ij / Σ_j w_ij as a CSR matrix sharing *mat*'s index arrays (new data only)."""
    n = mat.shape[0]
    rs = np.add.reduceat(np.r_[mat.data, 0.0], np.minimum(mat.indptr[:-1], mat.nnz))
    rs[np.diff(mat.indptr) == 0] = 0.0
    inv = np.divide(1.0, rs, out=np.zeros(n), where=rs > 0)
    data = mat.data * np.repeat(inv, np.diff(mat.indptr))
    return sparse.csr_matrix((data, mat.indices, mat.indptr), shape=mat.shape, copy=False)


# --------------------------------------------------------------------------- public
def getis_ord(territories: gpd.GeoDataFrame, column: str, *, w=None,
              permutations: int | str = "auto", alternative: str = "two-sided",
              alpha: float = 0.05, fdr: bool = True,
              random_state: int | np.random.Generator | None = None,
              progress: bool | None = None) -> gpd.GeoDataFrame:
    """Getis–Ord Gi* hot and cold spots.

    Parameters
    ----------
    territories : GeoDataFrame
        Territories with a numeric *column* (e.g. from
        :func:`minespace.concentration.totals`).
    column : str
        Values x (no missing values).
    w : libpysal.weights.W, optional
        Weights with the territory ids; default queen contiguity with the
        island policy of :func:`minespace.territories.contiguity`.
    permutations : "auto" or int, default "auto"
        ``"auto"``: enough conditional permutations R that the smallest
        attainable p-value is 4 times below the first Benjamini–Hochberg
        threshold α/n (:func:`auto_permutations`, at most 499,999), spent
        where they matter (see Notes). An int R: R permutations for every
        unit; a :class:`~minespace.errors.MinespaceWarning` says so when
        2/(R + 1) (1/(R + 1) one-sided) is above α/n (α without ``fdr``).
        0: two-sided normal p-values 2·(1 − Φ(|z|)) of ``gi_star_z``, as
        ArcGIS's Hot Spot Analysis.
    alternative : {"two-sided", "greater", "lesser"}
        ``two-sided``: min(1, 2·(min(M_≥, M_≤) + 1)/(R + 1)).
    alpha : float, default 0.05
        Significance level (false discovery rate when ``fdr``).
    fdr : bool, default True
        Apply :func:`benjamini_hochberg` to the p-values before labelling.
    random_state : int or numpy Generator, optional
        Seed of the permutations.
    progress : bool, optional
        Progress bar of the permutations on stderr (tqdm; a widget in Jupyter
        with ipywidgets). Default: shown when the session is interactive and
        the work takes more than half a second, or as ``minespace -q`` decides.

    Returns
    -------
    GeoDataFrame
        Copy of *territories* with ``gi_star`` (Σ_j w_ij x_j / Σ_j x_j),
        ``gi_star_z``, ``gi_star_p`` (pseudo p-value, NaN for units without
        neighbours), ``gi_star_q`` (BH
        q-value) and ``hotspot`` ("hot", "cold" or "not significant").
        ``out.attrs["inference"]["getis_ord"]`` records the inference used
        (``method``, ``permutations``, ``requested``, ``alternative``,
        ``alpha``, ``fdr``, ``random_state``, ``n_tested``, ``min_p``; with
        ``"auto"`` also ``first_round``, ``stages`` ([cumulative R, units
        that got it] per stage) and ``refined``, the number of units that got
        all R permutations).

    Notes
    -----
    Gi* (Getis & Ord 1992; Ord & Getis 1995, *Geogr. Anal.* 27(4):286–306)
    includes the focal unit with **self-weight w_ii = max_j w_ij** (1 for
    binary weights, as in ArcGIS and esda's ``star=True``). With X̄ and S
    the mean and population standard deviation of all x,
    z_i = [Σ_j w_ij x_j − X̄ Σ_j w_ij] / (S·sqrt{[n Σ_j w_ij² − (Σ_j w_ij)²]/(n − 1)}),
    which equals esda ``G_Local(y, w, transform="B", star=True).Zs`` for
    binary weights. Weights are used as given (no row standardisation).

    With ``permutations="auto"`` the permutations come in stages of
    999, 9,999, 99,999, …, R in total: after a stage of R_j, a unit goes on
    only while its p-value is at most c_j = min(2α, sides·20/(R_j + 1)) (at
    most 2α, and fewer than 20 simulated lags as extreme as its own, so the
    p-value is still coarse); its p-value counts every permutation it got.
    The result is still a valid p-value: for t in (c_{j+1}, c_j] the event
    p ≤ t lies within {p_j ≤ t}, p_j the p-value of the first R_j
    permutations, and below the last cut it needs all R (the fixed cuts make
    this the sequential Monte Carlo test of Besag & Clifford 1991,
    *Biometrika* 78(2):301–304, in stages). esda and GeoDa use a fixed
    R = 999 by default.

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import concentration, hotspots, territories
    >>> region = ms.datasets.kuzbass()
    >>> terr = concentration.totals(territories.hex_grid(region, cell_km=15),
    ...                             region.deposits)
    >>> band = territories.distance_band(terr, distance_km=45)
    >>> out = hotspots.getis_ord(terr, "count", w=band, random_state=1)
    >>> out.attrs["inference"]["getis_ord"]["permutations"]  # 2 * 4 * 568 / 0.05 -> 91,000 - 1
    90999
    >>> hot = out[out["hotspot"] == "hot"]
    >>> len(hot) > 20, bool(hot["gi_star_q"].max() <= 0.05), bool(hot["gi_star_z"].min() > 2)
    (True, True, True)
    """
    y = _check_inputs(territories, column, permutations, alpha)
    mat = _weights_matrix(territories, w)
    g, z, _self_w = _gi_star(y, mat)
    if permutations:
        p, record = _inference("getis_ord", y, mat, mat @ y, permutations=permutations,
                               alternative=alternative, alpha=alpha, fdr=fdr,
                               random_state=random_state, progress=progress)
    else:
        _perm._sides(alternative)
        p = {"two-sided": 2 * stats.norm.sf(np.abs(z)), "greater": stats.norm.sf(z),
             "lesser": stats.norm.cdf(z)}[alternative]
        record = {"method": "normal approximation", "permutations": 0, "requested": 0,
                  "alternative": alternative, "alpha": alpha,
                  "fdr": "benjamini-hochberg" if fdr else None, "random_state": None,
                  "n_tested": len(y)}
    sig = _significant(p, alpha, fdr)
    q = benjamini_hochberg(p, alpha=alpha)[1]
    label = np.where(sig & (z > 0), "hot", np.where(sig & (z < 0), "cold", "not significant"))
    out = territories.copy()
    out["gi_star"] = g
    out["gi_star_z"] = z
    out["gi_star_p"] = p
    out["gi_star_q"] = q
    out["hotspot"] = label
    return _with_record(out, "getis_ord", record)


def local_moran(territories: gpd.GeoDataFrame, column: str, *, w=None,
                permutations: int | str = "auto", alternative: str = "two-sided",
                alpha: float = 0.05, fdr: bool = True,
                random_state: int | np.random.Generator | None = None,
                progress: bool | None = None) -> gpd.GeoDataFrame:
    """Local Moran's I (LISA) with cluster/outlier labels.

    Parameters
    ----------
    territories, column, w, permutations, alternative, alpha, fdr, random_state, progress
        As in :func:`getis_ord` (default ``permutations="auto"``, the same
        two-round scheme); ``permutations`` must not be 0.

    Returns
    -------
    GeoDataFrame
        Copy of *territories* with ``moran_i``, ``moran_lag`` (row-standardised
        spatial lag of z), ``moran_p``, ``moran_q``, ``moran_quadrant`` (HH, LH,
        LL, HL from the signs of z_i and its lag) and ``lisa`` (the quadrant
        when significant, else "not significant");
        ``out.attrs["inference"]["local_moran"]`` as in :func:`getis_ord`.

    Notes
    -----
    Anselin (1995, *Geogr. Anal.* 27(2):93–115): with z = x − x̄ and
    row-standardised weights, I_i = z_i Σ_j w_ij z_j / m2. minespace follows
    esda and uses m2 = Σ_k z_k²/(n − 1) (Anselin's paper divides by n; the
    two differ by the factor n/(n − 1)), so ``moran_i`` equals
    ``esda.Moran_Local(y, w).Is``.

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import concentration, hotspots, territories
    >>> region = ms.datasets.kuzbass()
    >>> terr = concentration.totals(territories.hex_grid(region, cell_km=15),
    ...                             region.deposits)
    >>> band = territories.distance_band(terr, distance_km=45)
    >>> out = hotspots.local_moran(terr, "count", w=band, random_state=1)
    >>> hh = out[out["lisa"] == "HH"]   # high counts among high counts: the coal basin
    >>> len(hh) > 10, bool(hh["moran_q"].max() <= 0.05), bool((hh["moran_i"] > 0).all())
    (True, True, True)
    """
    y = _check_inputs(territories, column, permutations, alpha)
    if not permutations:
        raise ValueError("local_moran needs permutations > 0")
    mat = _weights_matrix(territories, w)
    i, lag, wr = _local_moran(y, mat)
    z = y - y.mean()
    # I_i is increasing in the lag when z_i > 0 and decreasing when z_i < 0
    p, record = _inference("local_moran", y, wr, wr @ y, permutations=permutations,
                           alternative=alternative, alpha=alpha, fdr=fdr,
                           random_state=random_state, flip=z < 0,
                           progress=progress)
    quad = np.select([(z > 0) & (lag > 0), (z <= 0) & (lag > 0), (z <= 0) & (lag <= 0)],
                     ["HH", "LH", "LL"], "HL")
    sig = _significant(p, alpha, fdr)
    out = territories.copy()
    out["moran_i"] = i
    out["moran_lag"] = lag
    out["moran_p"] = p
    out["moran_q"] = benjamini_hochberg(p, alpha=alpha)[1]
    out["moran_quadrant"] = quad
    out["lisa"] = np.where(sig, quad, "not significant")
    return _with_record(out, "local_moran", record)


@dataclass(frozen=True)
class MoranResult:
    """Global Moran's I and its inference (see :func:`global_moran`)."""

    I: float  # noqa: E741
    expected: float
    z_norm: float
    p_norm: float
    p_sim: float
    permutations: int


def global_moran(territories: gpd.GeoDataFrame, column: str, *, w=None,
                 permutations: int = 999, random_state: int | np.random.Generator | None = None,
                 ) -> MoranResult:
    """Global Moran's I with row-standardised weights.

    Parameters
    ----------
    territories, column, w, random_state
        As in :func:`getis_ord`.
    permutations : int, default 999
        Random permutations of x for ``p_sim`` (0: NaN).

    Returns
    -------
    MoranResult
        ``I``, ``expected`` = −1/(n − 1), ``z_norm`` and two-sided ``p_norm``
        under the normality assumption (Cliff & Ord 1981), and the two-sided
        permutation ``p_sim`` = min(1, 2·(min(M_≥, M_≤) + 1)/(R + 1)).

    Notes
    -----
    I = (n/S0) Σ_i Σ_j w_ij z_i z_j / Σ_i z_i² with z = x − x̄, S0 = Σ w_ij
    (Moran 1950). Var_N(I) = (n² S1 − n S2 + 3 S0²)/((n² − 1) S0²) − E(I)².
    ``I``, ``z_norm`` and ``p_norm`` equal esda's ``Moran(y, w)``.

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import concentration, hotspots, territories
    >>> region = ms.datasets.kuzbass()
    >>> terr = concentration.totals(territories.hex_grid(region, cell_km=25),
    ...                             region.deposits)
    >>> res = hotspots.global_moran(terr, "count", permutations=99, random_state=0)
    >>> bool(res.I > res.expected)
    True
    """
    y = _check_inputs(territories, column, permutations, 0.05)
    mat = _weights_matrix(territories, w)
    n = len(y)
    rs = np.asarray(mat.sum(axis=1)).ravel()
    inv = np.divide(1.0, rs, out=np.zeros(n), where=rs > 0)
    wr = (sparse.diags(inv) @ mat).tocsr()
    z = y - y.mean()
    s0 = wr.sum()
    den = (z * z).sum()
    i_obs = float(n / s0 * (z @ (wr @ z)) / den)
    sym = wr + wr.T
    s1 = 0.5 * sym.multiply(sym).sum()
    s2 = float(((np.asarray(wr.sum(axis=1)).ravel() + np.asarray(wr.sum(axis=0)).ravel())
                ** 2).sum())
    ei = -1.0 / (n - 1)
    var = (n * n * s1 - n * s2 + 3 * s0 * s0) / ((n - 1) * (n + 1) * s0 * s0) - ei**2
    z_norm = (i_obs - ei) / np.sqrt(var)
    p_norm = float(2 * stats.norm.sf(abs(z_norm)))
    p_sim = float("nan")
    if permutations:
        rng = np.random.default_rng(random_state)
        ge = le = 0
        batch = max(1, _perm._CHUNK_ELEMENTS // n)
        done = 0
        while done < permutations:  # loop over batches of permutations
            b = min(batch, permutations - done)
            zs = rng.permuted(np.broadcast_to(z, (b, n)), axis=1)
            sims = n / s0 * np.einsum("bn,bn->b", zs, (wr @ zs.T).T) / den
            tol = 1e-12 * max(1.0, abs(i_obs))
            ge += int((sims >= i_obs - tol).sum())
            le += int((sims <= i_obs + tol).sum())
            done += b
        p_sim = float(min(1.0, 2.0 * (min(ge, le) + 1.0) / (permutations + 1.0)))
    return MoranResult(I=i_obs, expected=ei, z_norm=float(z_norm), p_norm=p_norm,
                       p_sim=p_sim, permutations=int(permutations))
