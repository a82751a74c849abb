"""Feature matrix for territory clustering.

:func:`territory_metrics` joins the outputs of :mod:`minespace.concentration`
and :mod:`minespace.accessibility` into one frame and adds specialization
shares; :class:`FeatureBuilder` turns chosen metric columns into a numeric,
imputed, scaled (and optionally PCA-reduced) matrix, keeping every fitted step
so that the transform can be inspected and re-applied.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.preprocessing import RobustScaler, StandardScaler
from sklearn.utils.validation import check_is_fitted

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_FEATURES",
    "REGION_FEATURES",
    "FeatureBuilder",
    "neighbourhood_metrics",
    "specialization_shares",
    "territory_metrics",
]

#: Columns (or column prefixes ending in ``__``) used when ``columns="auto"``.
DEFAULT_FEATURES: tuple[str, ...] = (
    "share__",
    "count_per_km2",
    "hhi_norm",
    "dist_corridor_km",
    "time_to_agglomeration_min",
    "hansen_potential",
)

#: Features for contiguous regionalization (neighbourhood mining + local access).
REGION_FEATURES: tuple[str, ...] = (
    "nbhd_share__",
    "nbhd_count_per_km2",
    "dist_corridor_km",
    "time_to_agglomeration_min",
    "hansen_potential",
)

#: Columns that are NaN only where a territory has no deposits: NaN means 0.
_ZERO_PREFIXES = ("share__", "lq__", "count", "krugman", "hhi", "nbhd_")
#: Cost columns: NaN means "unreachable", imputed with the fitted maximum.
_COST_MARKERS = ("dist_", "time_")
#: Heavy-tailed columns that ``log="auto"`` transforms with log1p.
_LOG_AUTO = ("count_per_km2", "hansen_potential", "nbhd_count_per_km2")


def specialization_shares(metrics: pd.DataFrame) -> pd.DataFrame:
    """Add ``share__<cat>`` = ``count__<cat> / count`` (0 where ``count`` is 0).

    Parameters
    ----------
    metrics : DataFrame
        Output of :func:`minespace.concentration.totals` (columns ``count``
        and ``count__<cat>``).

    Returns
    -------
    DataFrame
        A copy with one ``share__<cat>`` column per ``count__<cat>``.

    Examples
    --------
    >>> import pandas as pd
    >>> m = pd.DataFrame({"count": [2, 0], "count__a": [1, 0], "count__b": [1, 0]})
    >>> specialization_shares(m)[["share__a", "share__b"]].to_numpy().tolist()
    [[0.5, 0.5], [0.0, 0.0]]
    """
    cats = [c for c in metrics.columns if c.startswith("count__")]
    if "count" not in metrics.columns or not cats:
        raise KeyError("metrics needs deposit counts 'count' and 'count__<category>' "
                       "(minespace.concentration.totals(..., by=...) without weight=; "
                       "weighted totals such as output_mt are not used for clustering)")
    total = metrics["count"].to_numpy(float)
    counts = metrics[cats].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = np.where(total[:, None] > 0, counts / total[:, None], 0.0)
    out = metrics.copy()
    names = ["share__" + c[len("count__"):] for c in cats]
    out[names] = pd.DataFrame(shares, index=metrics.index, columns=names)
    return out


def neighbourhood_metrics(metrics: pd.DataFrame, adjacency, *, order: int = 1) -> pd.DataFrame:
    """Deposit counts summed over each territory's neighbourhood.

    Deposits are sparse (most territories hold none), so clustering on the
    raw counts of single cells isolates individual mines; summing over the
    territory and its neighbours up to *order* steps smooths the mining
    pattern into belts while each territory keeps its own accessibility.

    Parameters
    ----------
    metrics : DataFrame
        Territories with ``count``, ``count__<cat>`` and ``area_km2``, rows in
        the order of *adjacency*.
    adjacency : sparse (n, n)
        Contiguity, e.g. :func:`minespace.clustering.connectivity`.
    order : int
        Neighbourhood radius in contiguity steps (1 = the ring of neighbours).

    Returns
    -------
    DataFrame
        A copy with ``nbhd_count``, ``nbhd_area_km2``, ``nbhd_count_per_km2``,
        ``nbhd_count__<cat>`` and ``nbhd_share__<cat>``.

    Examples
    --------
    >>> import pandas as pd
    >>> from scipy import sparse
    >>> m = pd.DataFrame({"count": [2, 0, 0], "count__a": [2, 0, 0], "area_km2": [1.0, 1.0, 1.0]})
    >>> chain = sparse.csr_matrix(([1, 1, 1, 1], ([0, 1, 1, 2], [1, 0, 2, 1])), shape=(3, 3))
    >>> neighbourhood_metrics(m, chain)["nbhd_count"].tolist()
    [2.0, 2.0, 0.0]
    """
    from scipy import sparse

    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    cats = [c for c in metrics.columns if str(c).startswith("count__")]
    need = [c for c in ("count", "area_km2") if c not in metrics.columns]
    if need:
        raise KeyError(f"metrics lacks column(s) {need}")
    n = len(metrics)
    adj = sparse.csr_matrix(adjacency)
    if adj.shape != (n, n):
        raise ValueError(f"adjacency must be {n}×{n}, got {adj.shape}")
    step = ((adj + adj.T + sparse.identity(n, format="csr")) > 0).astype(float)
    reach = step
    for _ in range(order - 1):
        reach = ((reach @ step) > 0).astype(float)
    cols = ["count", "area_km2", *cats]
    summed = reach @ metrics[cols].fillna(0).to_numpy(float)
    out = metrics.copy()
    total, area = summed[:, 0], summed[:, 1]
    out["nbhd_count"] = total
    out["nbhd_area_km2"] = area
    with np.errstate(divide="ignore", invalid="ignore"):
        out["nbhd_count_per_km2"] = np.where(area > 0, total / area, 0.0)
        for j, c in enumerate(cats):
            cat = c[len("count__"):]
            out["nbhd_count__" + cat] = summed[:, 2 + j]
            out["nbhd_share__" + cat] = np.where(total > 0, summed[:, 2 + j] / total, 0.0)
    return out


def territory_metrics(concentration: pd.DataFrame,
                      accessibility: pd.DataFrame | None = None) -> pd.DataFrame:
    """Join concentration and accessibility outputs and add specialization shares.

    Parameters
    ----------
    concentration : GeoDataFrame
        Territories with ``count``, ``count__<cat>`` (and optionally ``lq__``,
        ``hhi``...) columns.
    accessibility : GeoDataFrame, optional
        The same territories with accessibility columns; columns already in
        *concentration* (geometry, ``area_km2``, ``rep_x``...) are not repeated.

    Returns
    -------
    GeoDataFrame
        *concentration* plus the accessibility columns and ``share__<cat>``.

    Raises
    ------
    ValueError
        If the two frames are not indexed by the same territories.
    """
    out = specialization_shares(concentration)
    if accessibility is not None:
        if not out.index.sort_values().equals(accessibility.index.sort_values()):
            raise ValueError("concentration and accessibility must index the same "
                             "territories (territory_id)")
        extra = [c for c in accessibility.columns if c not in out.columns]
        out = out.join(accessibility[extra])
    return out


def _resolve_columns(frame: pd.DataFrame, columns) -> list[str]:
    if isinstance(columns, str) and columns == "auto":
        wanted = DEFAULT_FEATURES
        strict = False
    elif isinstance(columns, str):
        raise TypeError("columns must be 'auto' or a sequence of column names/prefixes")
    else:
        wanted = tuple(columns)
        strict = True
    chosen: list[str] = []
    missing: list[str] = []
    for item in wanted:
        if item.endswith("__"):
            hits = [c for c in frame.columns if str(c).startswith(item)]
        else:
            hits = [item] if item in frame.columns else []
        if not hits:
            missing.append(item)
        chosen.extend(h for h in hits if h not in chosen)
    if strict and missing:
        raise KeyError(f"feature column(s) {missing} not found; available: "
                       f"{sorted(map(str, frame.columns))}")
    if not chosen:
        raise KeyError(f"none of the default feature columns {list(DEFAULT_FEATURES)} is in "
                       "the frame; pass columns=[...] explicitly")
    return chosen


class FeatureBuilder(TransformerMixin, BaseEstimator):
    """Documented feature matrix for clustering territories.

    Steps, in order (each fitted on the data passed to :meth:`fit`):

    1. **columns**: explicit names, or prefixes ending in ``__`` (``"share__"``
       expands to every ``share__<cat>`` column). ``"auto"`` uses
       :data:`DEFAULT_FEATURES` where present: specialization shares, deposit
       density, normalized HHI, corridor distance, travel time to the nearest
       agglomeration and Hansen potential.
    2. **log**: ``log1p`` of the listed columns; ``"auto"`` means
       ``count_per_km2`` and ``hansen_potential`` (heavy tails).
    3. **imputation**: shares, LQs, counts, Krugman and HHI columns are NaN only
       where a territory has no deposit, so NaN → 0. Cost columns (names
       containing ``dist_`` or ``time_``; NaN = unreachable) get the fitted
       column maximum. Any other column gets the fitted median
       (``impute="median"``) or 0 (``impute="zero"``). A column that is all
       NaN becomes 0.
    4. **scaling**: ``"robust"`` (median / IQR, :class:`~sklearn.preprocessing.RobustScaler`),
       ``"standard"`` (mean / sd) or ``None``. Columns with zero spread are left
       centred and unscaled (scikit-learn's rule), so a constant column becomes 0.
       With ``scale="robust"`` a column whose IQR is zero (e.g. mostly zero shares)
       falls back to its standard deviation so it is not blown up.
    5. **pca**: ``None``, an int (number of components) or a float in (0, 1)
       (variance kept); loadings in :attr:`loadings_`.

    Parameters
    ----------
    columns : "auto" or sequence of str
    log : "auto" or sequence of str
    impute : {"median", "zero"}
    scale : {"robust", "standard", None}
    pca : int, float or None
    random_state : int or None
        Passed to PCA (randomized solvers only).

    Attributes
    ----------
    feature_names_in_ : list of str
        Input columns used.
    fill_values_ : pandas.Series
        Value used for NaN in each column (after log).
    scaler_ : fitted scaler or None
    pca_ : fitted PCA or None
    loadings_ : DataFrame or None
        PCA loadings (components × input columns).
    feature_names_out_ : list of str

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"a": [1.0, 2.0, None, 4.0], "dist_x_km": [1.0, None, 3.0, 5.0]})
    >>> fb = FeatureBuilder(columns=["a", "dist_x_km"], scale="standard").fit(X)
    >>> fb.fill_values_.tolist()
    [2.0, 5.0]
    >>> fb.transform(X).shape
    (4, 2)
    """

    def __init__(self, columns: str | Sequence[str] = "auto", *,
                 log: str | Sequence[str] = "auto", impute: str = "median",
                 scale: str | None = "robust", pca: int | float | None = None,
                 random_state: int | None = None) -> None:
        self.columns = columns
        self.log = log
        self.impute = impute
        self.scale = scale
        self.pca = pca
        self.random_state = random_state

    # -- helpers -------------------------------------------------------------------------
    def _log_columns(self, cols: list[str]) -> list[str]:
        if isinstance(self.log, str):
            if self.log != "auto":
                raise ValueError(f"log must be 'auto' or a list of columns, got {self.log!r}")
            return [c for c in cols if c in _LOG_AUTO]
        unknown = [c for c in self.log if c not in cols]
        if unknown:
            raise KeyError(f"log column(s) {unknown} are not among the features {cols}")
        return list(self.log)

    def _raw(self, X: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"X must be a DataFrame with named columns, got {type(X).__name__}")
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise KeyError(f"X lacks feature column(s) {missing}")
        raw = X[self.feature_names_in_].apply(pd.to_numeric, errors="raise").astype(float)
        raw = raw.replace([np.inf, -np.inf], np.nan)
        if self.log_columns_:
            vals = raw[self.log_columns_].to_numpy()
            if np.nanmin(vals, initial=0.0) < 0:
                raise ValueError(f"log1p columns {self.log_columns_} contain negative values")
            raw[self.log_columns_] = np.log1p(vals)
        return raw

    # -- API -----------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y=None) -> FeatureBuilder:
        """Choose columns and fit imputation, scaling and PCA on *X*."""
        if self.impute not in ("median", "zero"):
            raise ValueError(f"impute must be 'median' or 'zero', got {self.impute!r}")
        if self.scale not in ("robust", "standard", None):
            raise ValueError(f"scale must be 'robust', 'standard' or None, got {self.scale!r}")
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"X must be a DataFrame with named columns, got {type(X).__name__}")
        if len(X) == 0:
            raise ValueError("X is empty")
        self.feature_names_in_ = _resolve_columns(X, self.columns)
        self.n_features_in_ = len(self.feature_names_in_)
        self.log_columns_ = self._log_columns(self.feature_names_in_)
        raw = self._raw(X)
        fill = {}
        for c in raw.columns:
            col = raw[c]
            if col.isna().all() or c.startswith(_ZERO_PREFIXES):
                fill[c] = 0.0
            elif any(m in c for m in _COST_MARKERS):
                fill[c] = float(col.max())
            else:
                fill[c] = float(col.median()) if self.impute == "median" else 0.0
        self.fill_values_ = pd.Series(fill, dtype=float)
        filled = raw.fillna(self.fill_values_).to_numpy()
        if self.scale == "robust":
            self.scaler_ = RobustScaler().fit(filled)
            sd = filled.std(axis=0)
            flat = (self.scaler_.scale_ == 1.0) & (np.subtract(*np.percentile(filled, [75, 25],
                                                                            axis=0)) == 0)
            self.scaler_.scale_ = np.where(flat & (sd > 0), sd, self.scaler_.scale_)
        elif self.scale == "standard":
            self.scaler_ = StandardScaler().fit(filled)
        else:
            self.scaler_ = None
        scaled = self.scaler_.transform(filled) if self.scaler_ is not None else filled
        if self.pca is not None:
            self.pca_ = PCA(n_components=self.pca, random_state=self.random_state).fit(scaled)
            names = [f"pc{i + 1}" for i in range(self.pca_.n_components_)]
            self.loadings_ = pd.DataFrame(self.pca_.components_, index=names,
                                          columns=self.feature_names_in_)
            self.feature_names_out_ = names
        else:
            self.pca_ = None
            self.loadings_ = None
            self.feature_names_out_ = list(self.feature_names_in_)
        logger.debug("FeatureBuilder: %d columns, fill %s", self.n_features_in_,
                     self.fill_values_.to_dict())
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Return the feature matrix as a DataFrame indexed like *X*."""
        check_is_fitted(self, "fill_values_")
        filled = self._raw(X).fillna(self.fill_values_).to_numpy()
        out = self.scaler_.transform(filled) if self.scaler_ is not None else filled
        if self.pca_ is not None:
            out = self.pca_.transform(out)
        return pd.DataFrame(out, index=X.index, columns=self.feature_names_out_)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the output columns."""
        check_is_fitted(self, "fill_values_")
        return np.asarray(self.feature_names_out_, dtype=object)
