"""Territory typology: KMeans, Gaussian mixture or Ward, with a k-selection table.

The number of clusters is chosen from a table of silhouette (on a seeded
sample), Calinski–Harabasz and Davies–Bouldin scores; stability is the
adjusted Rand index between the final labels and refits on bootstrap
resamples. Everything is deterministic given ``random_state``.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    pairwise_distances,
    silhouette_score,
)
from sklearn.mixture import GaussianMixture
from sklearn.utils.validation import check_is_fitted

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data
except ImportError:  # pragma: no cover - older scikit-learn (pyproject allows >= 1.3)
    def validate_data(estimator, X, *, reset, dtype):
        return estimator._validate_data(X, reset=reset, dtype=dtype)

logger = logging.getLogger(__name__)

__all__ = ["FIT_SIZE", "METHODS", "WARD_MAX_ROWS", "Typology", "select_k"]

METHODS = ("kmeans", "gmm", "ward")
#: Above this many rows, Ward is fitted on a seeded sample of this size and the
#: other rows join the nearest sample-cluster centroid (Ward is quadratic in memory).
WARD_MAX_ROWS = 5_000
#: Default number of rows KMeans / GMM are fitted on (see :func:`select_k`).
FIT_SIZE = 10_000


def _as_array(X) -> tuple[np.ndarray, pd.Index | None]:
    if isinstance(X, pd.DataFrame):
        arr, index = X.to_numpy(float), X.index
    else:
        arr, index = np.asarray(X, dtype=float), None
    if arr.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("X contains NaN or infinite values; build it with FeatureBuilder, "
                         "which imputes them")
    return arr, index


def _check_k(k: int, n: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"n_clusters must be an int, got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"n_clusters must be >= 1, got {k}")
    if k > n:
        raise ValueError(f"cannot make {k} clusters from {n} territories; lower n_clusters "
                         f"(at most {n})")


def _centroid_labels(X: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    d = pairwise_distances(X, centroids)
    return d.argmin(axis=1)


def _fit_labels(X: np.ndarray, k: int, method: str, seed: int, n_init: int,
                fit_size: int | None = None) -> np.ndarray:
    """Labels of *X* for one method and k (deterministic given *seed*).

    Above *fit_size* rows (Ward: above ``min(fit_size, WARD_MAX_ROWS)``) the
    model is fitted on a seeded sample of that size and every row is then
    assigned by the fitted model (KMeans / GMM ``predict``; Ward: nearest
    sample-cluster centroid).
    """
    if k == 1:
        return np.zeros(len(X), dtype=int)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    cap = fit_size if fit_size is not None else len(X)
    if method == "ward":
        cap = min(cap, WARD_MAX_ROWS)
    sampled = len(X) > cap
    fit_x = X[np.sort(np.random.default_rng(seed).choice(len(X), cap, replace=False))] \
        if sampled else X
    if method == "kmeans":
        model = KMeans(k, n_init=n_init, random_state=seed).fit(fit_x)
        return model.predict(X) if sampled else model.labels_
    if method == "gmm":
        return GaussianMixture(k, n_init=n_init, random_state=seed,
                               reg_covar=1e-4).fit(fit_x).predict(X)
    sub = AgglomerativeClustering(k, linkage="ward").fit_predict(fit_x)
    if not sampled:
        return sub
    cent = np.vstack([fit_x[sub == c].mean(axis=0) for c in range(k)])
    return _centroid_labels(X, cent)


def _canonical(labels: np.ndarray) -> np.ndarray:
    """Relabel so that clusters are numbered by first appearance (row order dependent)."""
    _, first, inv = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inv]


def select_k(X, *, k_range: tuple[int, int] = (2, 10), method: str = "kmeans",
             sample_size: int = 2000, fit_size: int | None = FIT_SIZE, n_init: int = 4,
             n_seeds: int = 0, random_state: int | None = 0) -> pd.DataFrame:
    """Table of cluster-quality scores over a range of k.

    Parameters
    ----------
    X : DataFrame or array, shape (n, p)
        Feature matrix without NaN (from :class:`FeatureBuilder`).
    k_range : (int, int)
        Smallest and largest k (inclusive); k above n − 1 is skipped.
    method : {"kmeans", "gmm", "ward"}
    sample_size : int
        Silhouette is computed on one seeded random sample of this many rows
        (drawn once, shared by all k; its pairwise distances are computed once).
        Calinski–Harabasz and Davies–Bouldin use all rows (both are linear).
    fit_size : int or None
        Above this many rows each model is fitted on one seeded sample of
        this size and all rows are assigned by the fitted model; ``None``
        fits on all rows.
    n_init : int
        Restarts for KMeans / GaussianMixture.
    n_seeds : int
        When > 0, each k is refitted with this many other seeds and the
        column ``seed_stability`` gives the mean adjusted Rand index with the
        first fit (1 = the partition does not depend on the seed).
    random_state : int or None

    Returns
    -------
    DataFrame
        Indexed by ``k`` with ``silhouette``, ``calinski_harabasz``,
        ``davies_bouldin``, ``inertia`` (within-cluster sum of squares),
        ``min_size``, ``seed_stability`` (with *n_seeds* > 0) and ``chosen``
        (bool).

    Notes
    -----
    Default rule: the k with the highest silhouette; ties within 0.01 go to
    the smaller k. For Ward on more than ``WARD_MAX_ROWS`` rows one tree is
    built on a sample (SciPy ``linkage``) and cut for every k; other rows join
    the nearest centroid. Cost: with n = 100,000 and k = 2..15 the silhouette
    part is 14 evaluations on one 2,000 × 2,000 distance matrix instead of
    14 on 100,000² pairs, and the fits are on *fit_size* rows; the remaining
    work (assignment, Calinski–Harabasz, Davies–Bouldin, inertia) is linear
    in n. See ``benchmarks/bench_clustering.py``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 0.1, (30, 2)), rng.normal(5, 0.1, (30, 2))])
    >>> t = select_k(X, k_range=(2, 4))
    >>> int(t.index[t["chosen"]][0])
    2
    """
    arr, _ = _as_array(X)
    n = len(arr)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    lo, hi = int(k_range[0]), int(k_range[1])
    if lo < 2 or hi < lo:
        raise ValueError(f"k_range must be (lo, hi) with 2 <= lo <= hi, got {k_range}")
    if n < lo + 1:
        raise ValueError(f"need at least {lo + 1} territories to compare k = {lo}..{hi}, "
                         f"got {n}")
    hi = min(hi, n - 1)
    rng = np.random.default_rng(random_state)
    sample = np.sort(rng.choice(n, min(sample_size, n), replace=False))
    dist = pairwise_distances(arr[sample])
    seed = int(rng.integers(2**31 - 1)) if random_state is None else random_state
    tree = None
    ward_cap = min(fit_size or n, WARD_MAX_ROWS)
    if method == "ward" and n > ward_cap:
        wsample = np.sort(np.random.default_rng(seed).choice(n, ward_cap, replace=False))
        tree = linkage(arr[wsample], method="ward")
    rows = []
    for k in range(lo, hi + 1):
        if tree is not None:
            sub = fcluster(tree, k, criterion="maxclust") - 1
            cent = np.vstack([arr[wsample][sub == c].mean(axis=0) for c in np.unique(sub)])
            labels = _centroid_labels(arr, cent)
        else:
            labels = _fit_labels(arr, k, method, seed, n_init, fit_size)
        n_lab = len(np.unique(labels))
        if n_lab < 2:
            rows.append((k, np.nan, np.nan, np.nan, np.nan, n, np.nan))
            continue
        centroids = np.zeros((labels.max() + 1, arr.shape[1]))
        np.add.at(centroids, labels, arr)
        sizes = np.bincount(labels)
        centroids /= np.maximum(sizes, 1)[:, None]
        inertia = float(((arr - centroids[labels]) ** 2).sum())
        sl = labels[sample]
        sil = (silhouette_score(dist, sl, metric="precomputed")
               if 1 < len(np.unique(sl)) < len(sample) else np.nan)
        aris = [adjusted_rand_score(labels, _fit_labels(arr, k, method, seed + 1 + i, n_init,
                                                        fit_size))
                for i in range(n_seeds)] if tree is None else [1.0] * n_seeds
        rows.append((k, sil, calinski_harabasz_score(arr, labels),
                     davies_bouldin_score(arr, labels), inertia, int(sizes[sizes > 0].min()),
                     float(np.mean(aris)) if aris else np.nan))
    table = pd.DataFrame(rows, columns=["k", "silhouette", "calinski_harabasz",
                                        "davies_bouldin", "inertia", "min_size",
                                        "seed_stability"]).set_index("k")
    if n_seeds <= 0:
        table = table.drop(columns="seed_stability")
    table["chosen"] = False
    if table["silhouette"].notna().any():
        best = table["silhouette"].max()
        k_best = table.index[table["silhouette"] >= best - 0.01].min()
        table.loc[k_best, "chosen"] = True
    return table


class Typology(ClusterMixin, BaseEstimator):
    """Cluster territories by their features (a typology, not contiguous).

    Parameters
    ----------
    method : {"kmeans", "gmm", "ward"}
        :class:`~sklearn.cluster.KMeans`, :class:`~sklearn.mixture.GaussianMixture`
        or Ward :class:`~sklearn.cluster.AgglomerativeClustering`.
    n_clusters : int or "auto"
        ``"auto"`` applies the rule of :func:`select_k` over *k_range*.
    k_range : (int, int)
    sample_size : int
        Silhouette sample size, see :func:`select_k`.
    fit_size : int or None
        Fit on a seeded sample of this many rows when there are more, see
        :func:`select_k`.
    n_bootstrap : int
        Bootstrap refits for the stability score (0 to skip).
    n_init : int
    random_state : int or None

    Attributes
    ----------
    labels_ : ndarray of int
        Cluster of each row, numbered by first appearance of the cluster.
    n_clusters_ : int
    selection_ : DataFrame or None
        The k-selection table when ``n_clusters="auto"``.
    cluster_centers_ : ndarray (n_clusters_, p)
        Mean feature vector per cluster.
    stability_ : ndarray
        Adjusted Rand index between ``labels_`` and each bootstrap refit
        (rows outside a resample are assigned to its nearest centroid).
    stability_score_ : float
        Mean of ``stability_`` (1 = perfectly reproducible).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 0.1, (20, 2)), rng.normal(3, 0.1, (20, 2))])
    >>> t = Typology(n_clusters="auto", k_range=(2, 5), n_bootstrap=3).fit(X)
    >>> t.n_clusters_, round(t.stability_score_, 2)
    (2, 1.0)
    """

    def __init__(self, method: str = "kmeans", *, n_clusters: int | str = "auto",
                 k_range: tuple[int, int] = (2, 10), sample_size: int = 2000,
                 fit_size: int | None = FIT_SIZE, n_bootstrap: int = 10, n_init: int = 4,
                 random_state: int | None = 0) -> None:
        self.method = method
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.sample_size = sample_size
        self.fit_size = fit_size
        self.n_bootstrap = n_bootstrap
        self.n_init = n_init
        self.random_state = random_state

    def fit(self, X, y=None) -> Typology:
        """Choose k (if ``"auto"``), fit, and measure stability."""
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        arr = validate_data(self, X, reset=True, dtype=np.float64)
        n = len(arr)
        if isinstance(self.n_clusters, str):
            if self.n_clusters != "auto":
                raise ValueError(f"n_clusters must be an int or 'auto', got {self.n_clusters!r}")
            self.selection_ = select_k(arr, k_range=self.k_range, method=self.method,
                                       sample_size=self.sample_size,
                                       fit_size=self.fit_size, n_init=self.n_init,
                                       random_state=self.random_state)
            chosen = self.selection_.index[self.selection_["chosen"]]
            k = int(chosen[0]) if len(chosen) else int(self.selection_.index[0])
        else:
            self.selection_ = None
            k = self.n_clusters
        _check_k(k, n)
        rng = np.random.default_rng(self.random_state)
        seed = int(rng.integers(2**31 - 1))
        labels = _canonical(_fit_labels(arr, k, self.method, seed, self.n_init,
                                        self.fit_size))
        self.labels_ = labels
        self.n_clusters_ = int(labels.max()) + 1
        sizes = np.bincount(labels, minlength=self.n_clusters_)
        cent = np.zeros((self.n_clusters_, arr.shape[1]))
        np.add.at(cent, labels, arr)
        self.cluster_centers_ = cent / sizes[:, None]
        scores = []
        for _ in range(self.n_bootstrap):
            idx = rng.choice(n, n, replace=True)
            if len(np.unique(idx)) < k:
                continue
            sub = _fit_labels(arr[idx], k, self.method, int(rng.integers(2**31 - 1)),
                              self.n_init, self.fit_size)
            sc = np.vstack([arr[idx][sub == c].mean(axis=0) for c in np.unique(sub)])
            scores.append(adjusted_rand_score(labels, _centroid_labels(arr, sc)))
        self.stability_ = np.asarray(scores, dtype=float)
        self.stability_score_ = float(self.stability_.mean()) if scores else float("nan")
        return self

    def predict(self, X) -> np.ndarray:
        """Nearest fitted cluster centre for each row."""
        check_is_fitted(self, "cluster_centers_")
        arr = validate_data(self, X, reset=False, dtype=np.float64)
        return _centroid_labels(arr, self.cluster_centers_)
