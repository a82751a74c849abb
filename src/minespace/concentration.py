"""Spatial concentration and specialization of mining activity.

Notation (as in the references): territories (regions) ``j``, categories
(commodities, methods, ...) ``i``; ``E_ij`` is the measure (deposit count, or
the sum of a weight column such as ``output_mt``) of category ``i`` in
territory ``j``; ``E_j = Σ_i E_ij``, ``E_i = Σ_j E_ij``, ``E = Σ_ij E_ij``.

Every public function takes the territories and the deposits, and returns a
new frame; the inputs are never modified. Deposits without a ``territory_id``
column are first assigned with :func:`minespace.territories.assign_deposits`;
deposits outside every territory are ignored (with one warning at assignment).

Column names: the measure is called ``count`` without weight, else the
weight column's name (``m`` below); a category label is the value of ``by``
(values of several ``by`` columns are joined with ``"/"``). Per-category
columns are ``"{stat}__{label}"``, e.g. ``lq__coking_coal``.

The arithmetic lives in private helpers working on a plain
territory × category matrix (``pandas.DataFrame``), testable without geometry.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from ._checks import require_columns, require_geodataframe
from .errors import FeaturesDroppedWarning

__all__ = ["concentration", "location_quotient", "specialization", "totals"]


# --------------------------------------------------------------------------- arithmetic
def _shares(values: np.ndarray, total: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, values / np.where(total > 0, total, 1.0), np.nan)


def _lq(mat: pd.DataFrame) -> pd.DataFrame:
    """LQ_ij = (E_ij/E_j)/(E_i/E); NaN where E_j = 0 or E_i = 0 (Balassa 1965)."""
    e = mat.to_numpy(float)
    ej = e.sum(axis=1, keepdims=True)
    ei = e.sum(axis=0, keepdims=True)
    total = e.sum()
    row_share = _shares(e, ej)
    ref = _shares(ei, np.full_like(ei, total))
    with np.errstate(divide="ignore", invalid="ignore"):
        lq = np.where(ref > 0, row_share / np.where(ref > 0, ref, 1.0), np.nan)
    return pd.DataFrame(lq, index=mat.index, columns=mat.columns)


def _krugman(mat: pd.DataFrame) -> pd.Series:
    """K_j = Σ_i |E_ij/E_j − E_i/E| against the whole region; NaN where E_j = 0."""
    e = mat.to_numpy(float)
    ej = e.sum(axis=1, keepdims=True)
    total = e.sum()
    ref = e.sum(axis=0, keepdims=True) / total if total > 0 else np.full((1, e.shape[1]), np.nan)
    k = np.abs(_shares(e, ej) - ref).sum(axis=1)
    k[ej[:, 0] <= 0] = np.nan
    return pd.Series(k, index=mat.index, name="krugman")


def _hhi(mat: pd.DataFrame) -> pd.DataFrame:
    """Within-row HHI = Σ_i s_ij² and its normalised form (HHI − 1/N)/(1 − 1/N).

    N is the number of columns (categories present in the whole region); the
    normalised form is NaN when N = 1.
    """
    e = mat.to_numpy(float)
    s = _shares(e, e.sum(axis=1, keepdims=True))
    hhi = (s**2).sum(axis=1)
    hhi[np.isnan(s).all(axis=1) if s.size else np.ones(len(e), bool)] = np.nan
    n = e.shape[1]
    norm = (hhi - 1.0 / n) / (1.0 - 1.0 / n) if n > 1 else np.full(len(e), np.nan)
    return pd.DataFrame({"hhi": hhi, "hhi_norm": norm}, index=mat.index)


def _locational_gini(s: np.ndarray, x: np.ndarray) -> float:
    """Gini of the Lorenz curve of shares *s* against reference shares *x*.

    Regions are sorted by s/x (the LQ) ascending; with cumulative X and S,
    G = 1 − Σ_k (X_k − X_{k−1})(S_k + S_{k−1}). Regions with x = 0 and s = 0 are
    ignored; those with x = 0 < s sort last (LQ = ∞).
    """
    keep = (x > 0) | (s > 0)
    s, x = s[keep], x[keep]
    if s.sum() <= 0 or x.sum() <= 0:
        return float("nan")
    with np.errstate(divide="ignore"):
        ratio = np.where(x > 0, s / np.where(x > 0, x, 1.0), np.inf)
    order = np.argsort(ratio, kind="stable")
    cx = np.r_[0.0, np.cumsum(x[order])]
    cs = np.r_[0.0, np.cumsum(s[order])]
    return float(1.0 - np.sum(np.diff(cx) * (cs[1:] + cs[:-1])))


def _hoover(s: np.ndarray, x: np.ndarray) -> float:
    """HL = ½ Σ_j |s_j − x_j| (Hoover 1936), in [0, 1]."""
    if not (np.isfinite(s).all() and np.isfinite(x).all()):
        return float("nan")
    return float(0.5 * np.abs(s - x).sum())


def _ellison_glaeser(s: np.ndarray, x: np.ndarray, h: float) -> float:
    """γ = [G − (1 − Σx²)H] / [(1 − Σx²)(1 − H)], G = Σ(s − x)² (Ellison & Glaeser 1997)."""
    g = float(np.sum((s - x) ** 2))
    sx2 = 1.0 - float(np.sum(x**2))
    den = sx2 * (1.0 - h)
    if not np.isfinite(den) or den <= 0:
        return float("nan")
    return (g - sx2 * h) / den


def _plant_herfindahl(category: np.ndarray, size: np.ndarray) -> pd.Series:
    """H_i = Σ_k z_k² with z_k the plant's share of its category's total size."""
    frame = pd.DataFrame({"c": category, "z": size})
    tot = frame.groupby("c", sort=False)["z"].transform("sum")
    z = frame["z"] / tot.where(tot > 0)
    return (z**2).groupby(frame["c"], sort=False).sum(min_count=1)


def _concentration_table(mat: pd.DataFrame, reference: pd.Series,
                         plant_h: pd.Series | None) -> pd.DataFrame:
    """Per-category Gini, Hoover and (optionally) Ellison–Glaeser from matrix E."""
    e = mat.to_numpy(float)
    x = reference.reindex(mat.index).fillna(0.0).to_numpy(float)
    x = x / x.sum() if x.sum() > 0 else np.full_like(x, np.nan)
    ei = e.sum(axis=0)
    rows = []
    for k, label in enumerate(mat.columns):  # loop over categories (few), vectorised inside
        s = e[:, k] / ei[k] if ei[k] > 0 else np.full(len(e), np.nan)
        row = {"total": ei[k], "gini": _locational_gini(s, x), "hoover": _hoover(s, x)}
        if plant_h is not None:
            h = float(plant_h.get(label, np.nan))
            row["plant_hhi"] = h
            row["ellison_glaeser"] = _ellison_glaeser(s, x, h)
        rows.append(row)
    out = pd.DataFrame(rows, index=pd.Index(mat.columns, name="category"))
    return out


# --------------------------------------------------------------------------- inputs
def _labels(deposits: pd.DataFrame, by: str | Sequence[str] | None) -> tuple[pd.Series, list]:
    if by is None:
        return pd.Series("all", index=deposits.index), []
    cols = [by] if isinstance(by, str) else list(by)
    if not cols:
        raise ValueError("by must name at least one column")
    require_columns(deposits, cols, "deposits")
    bad = deposits[cols].isna().any(axis=1)
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} deposit(s) have no value in {cols} (e.g. "
            f"{deposits.index[bad][0]!r}); fill them, e.g. deposits.fillna({{...: 'unknown'}})"
        )
    labels = deposits[cols[0]].astype(str)
    for c in cols[1:]:
        labels = labels + "/" + deposits[c].astype(str)
    return labels, cols


def _prepare(territories: gpd.GeoDataFrame, deposits: gpd.GeoDataFrame,
             by, weight: str | None, missing: str) -> pd.DataFrame:
    """Plain frame (territory_id, label, size) of the deposits that count."""
    require_geodataframe(territories, "territories")
    if not isinstance(deposits, pd.DataFrame):
        raise TypeError(f"deposits must be a (Geo)DataFrame, got {type(deposits).__name__}")
    if missing not in ("raise", "drop"):
        raise ValueError(f"missing must be 'raise' or 'drop', got {missing!r}")
    if "territory_id" not in deposits.columns:
        from .territories import assign_deposits

        require_geodataframe(deposits, "deposits")
        deposits = assign_deposits(territories, deposits)
    labels, _ = _labels(deposits, by)
    if weight is None:
        size = pd.Series(1.0, index=deposits.index)
    else:
        require_columns(deposits, [weight], "deposits")
        size = pd.to_numeric(deposits[weight], errors="raise").astype(float)
        bad = ~np.isfinite(size.to_numpy()) | (size.to_numpy() < 0)
        if bad.any():
            if missing == "raise":
                raise ValueError(
                    f"weight column {weight!r} is missing, infinite or negative for "
                    f"{int(bad.sum())} deposit(s) (e.g. {deposits.index[bad][0]!r}); drop them "
                    f"(deposits.dropna(subset=[{weight!r}])), fill them, or pass missing='drop'"
                )
            warnings.warn(
                f"{int(bad.sum())} deposit(s) without a usable {weight!r} were left out",
                FeaturesDroppedWarning, stacklevel=3,
            )
            size = size.where(~bad)
    tid = deposits["territory_id"]
    if isinstance(tid.dtype, pd.CategoricalDtype):
        tid = tid.astype(object)
    frame = pd.DataFrame({"territory_id": tid, "label": labels,
                          "size": size})
    frame = frame[frame["territory_id"].notna() & frame["size"].notna()]
    unknown = ~frame["territory_id"].isin(territories.index)
    if unknown.any():
        raise ValueError(
            f"{int(unknown.sum())} deposit(s) carry a territory_id not in territories (e.g. "
            f"{frame['territory_id'][unknown].iloc[0]!r}); re-run assign_deposits"
        )
    return frame


def _matrix(frame: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """Territory × category sums of ``size`` (zeros for empty territories)."""
    mat = frame.pivot_table(index="territory_id", columns="label", values="size",
                            aggfunc="sum", fill_value=0.0, observed=True)
    mat = mat.reindex(index=index, fill_value=0.0).astype(float)
    mat.columns = [str(c) for c in mat.columns]
    mat.columns.name = "category"
    return mat


def _measure(weight: str | None) -> str:
    return "count" if weight is None else weight


def _add(territories: gpd.GeoDataFrame, columns: pd.DataFrame) -> gpd.GeoDataFrame:
    out = territories.copy()
    for c in columns.columns:
        out[c] = columns[c].to_numpy()
    return out


def _check_engine(engine: str) -> None:
    if engine not in ("pandas", "dask"):
        raise ValueError(f"engine must be 'pandas' or 'dask', got {engine!r}")


def _reduced(territories: gpd.GeoDataFrame, deposits, by, weight: str | None, missing: str,
             scheduler) -> pd.DataFrame:
    """The Dask engine's reduced table (:func:`minespace.scale.aggregate`); an in-memory
    GeoDataFrame is partitioned first (:func:`minespace.scale.to_dask`)."""
    from .scale import aggregate, to_dask

    if isinstance(deposits, gpd.GeoDataFrame):
        deposits = to_dask(deposits)
    return aggregate(territories, deposits, by=by, weight=weight, missing=missing,
                     scheduler=scheduler)


def _territory_cells(territories, scheduler):
    """A lazy grid (:func:`minespace.scale.grid`) as its cells without geometry
    (:func:`minespace.scale.territory_table`), for the metrics that run in memory on the
    reduced table; other territories as they are."""
    from .scale._grid import is_lazy_grid, territory_table

    if not is_lazy_grid(territories):
        return territories
    return gpd.GeoDataFrame(territory_table(territories, scheduler=scheduler))


def _table_concentration(territories: gpd.GeoDataFrame, table: pd.DataFrame, by,
                         weight: str | None, reference: str = "total") -> pd.DataFrame:
    """:func:`concentration` from the reduced table of :func:`minespace.scale.aggregate`
    (one row per territory x category with ``count`` and ``{weight}_sumsq``): the plant
    Herfindahl of a category is Σ sumsq / (Σ weight)² over its rows (Σ count / (Σ count)²
    = 1/n without a weight) and ``n_deposits`` is Σ count, so both are the deposits',
    not the table rows'."""
    frame = _prepare(territories, table, by, weight or "count", "raise")
    counts = table.loc[frame.index, "count"].astype(np.int64)
    squares = (table.loc[frame.index, f"{weight}_sumsq"].astype(float) if weight
               else counts.astype(float))
    labels = frame["label"]
    total = frame["size"].groupby(labels, sort=False).sum()
    plant_h = squares.groupby(labels, sort=False).sum() / total.where(total > 0) ** 2
    return _concentration_of(territories, frame, reference, plant_h,
                             counts.groupby(labels).sum())


def _concentration_of(territories, frame: pd.DataFrame, reference: str, plant_h: pd.Series,
                      n_deposits: pd.Series) -> pd.DataFrame:
    mat = _matrix(frame, territories.index)
    if reference == "total":
        ref = mat.sum(axis=1)
    else:
        ref = territories["area_km2"] if "area_km2" in territories else \
            territories.geometry.area / 1e6
    table = _concentration_table(mat, ref, plant_h)
    table.insert(0, "n_deposits", n_deposits.reindex(table.index).fillna(0).astype(int)
                 .to_numpy())
    return table


# --------------------------------------------------------------------------- public
def totals(territories: gpd.GeoDataFrame, deposits, *,
           by: str | Sequence[str] | None = None, weight: str | None = None,
           missing: str = "raise", engine: str = "pandas",
           scheduler=None) -> gpd.GeoDataFrame:
    """Counts or weighted totals, and densities per km², per territory and category.

    Parameters
    ----------
    territories : GeoDataFrame, or with ``engine="dask"`` a grid from :func:`minespace.scale.grid`
        Territories with ``area_km2`` (see :mod:`minespace.territories`).
    deposits : GeoDataFrame
        Deposits, with or without a ``territory_id`` column.
    by : str or list of str, optional
        Category column(s); without it only the totals are added.
    weight : str, optional
        Numeric column to sum (e.g. ``"output_mt"``); by default deposits are counted.
    missing : {"raise", "drop"}
        What to do with missing/negative weights: raise ``ValueError``, or leave
        those deposits out with one :class:`FeaturesDroppedWarning`.
    engine : {"pandas", "dask"}
        ``"dask"`` (``pip install "minespace[dask]"``): *deposits* may be a
        dask-geopandas GeoDataFrame, a path to partitioned GeoParquet or an in-memory
        GeoDataFrame (split by :func:`minespace.scale.to_dask`); they
        are assigned and summed partition by partition on a cluster
        (:func:`minespace.scale.aggregate`), with the same result (floats up
        to summation order). See ``docs/scale.md``.
    scheduler : None, str or distributed.Client
        With ``engine="dask"``: the running client, else a new ``LocalCluster``
        (``None``), a scheduler address (``"tcp://host:8786"``) or a ``Client``.

    Returns
    -------
    GeoDataFrame
        Copy of *territories* with ``m``, ``m_per_km2`` and, per category,
        ``m__{label}`` and ``m_per_km2__{label}``, where ``m`` is ``count`` or
        the weight name. Empty territories get 0. For a lazy grid from
        :func:`minespace.scale.grid`, a lazy dask-geopandas frame instead (each
        band gets its columns on its worker from the reduced table; its
        ``.compute()`` equals the result for the in-memory grid).

    Raises
    ------
    KeyError
        If a ``by``/``weight`` column is missing.
    ValueError
        For missing category values, or bad weights with ``missing="raise"``.

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import concentration, territories
    >>> region = ms.datasets.kuzbass()
    >>> terr = territories.hex_grid(region, cell_km=25)
    >>> out = concentration.totals(terr, region.deposits, by="method")
    >>> int(out["count"].sum()), int(out["count__open_pit"].sum())
    (141, 83)
    """
    _check_engine(engine)
    if engine == "dask":
        table = _reduced(territories, deposits, by, weight, missing, scheduler)
        from .scale._grid import grid_totals, is_lazy_grid

        if is_lazy_grid(territories):  # a grid from scale.grid: the result stays lazy too
            return grid_totals(territories, table, by=by, measure=weight or "count")
        # the reduced table is a deposits frame with one row per territory x category:
        # summing its "count" (or weight) column gives the same columns and names
        out = totals(territories, table, by=by, weight=weight or "count")
        return out
    frame = _prepare(territories, deposits, by, weight, missing)
    mat = _matrix(frame, territories.index)
    m = _measure(weight)
    area = territories["area_km2"].to_numpy(float) if "area_km2" in territories else \
        territories.geometry.area.to_numpy() / 1e6
    cols = {m: mat.sum(axis=1), f"{m}_per_km2": mat.sum(axis=1) / area}
    if by is not None:
        for c in mat.columns:
            cols[f"{m}__{c}"] = mat[c]
            cols[f"{m}_per_km2__{c}"] = mat[c] / area
    return _add(territories, pd.DataFrame(cols, index=territories.index))


def location_quotient(territories: gpd.GeoDataFrame, deposits: gpd.GeoDataFrame, *,
                      by: str | Sequence[str], weight: str | None = None,
                      missing: str = "raise", engine: str = "pandas",
                      scheduler=None) -> gpd.GeoDataFrame:
    """Location quotient of each territory × category.

    Parameters
    ----------
    territories, deposits, by, weight, missing
        As in :func:`totals`.
    engine : {"pandas", "dask"}
        ``"dask"``: as in :func:`totals` (the metric is computed in memory from the
        reduced table of :func:`minespace.scale.aggregate`; same result, floats up to
        summation order).
    scheduler : None, str or distributed.Client
        With ``engine="dask"``, as in :func:`totals`.

    Returns
    -------
    GeoDataFrame
        Copy of *territories* with ``lq__{label}`` per category. For a lazy grid
        from :func:`minespace.scale.grid` (``engine="dask"``), a DataFrame of
        its cells without geometry instead (:func:`minespace.scale.territory_table`
        plus the columns).

    Notes
    -----
    LQ_ij = (E_ij / E_j) / (E_i / E) (Balassa 1965, *The Manchester School*
    33(2):99–123). LQ > 1: the territory is specialised in the category. The
    LQ is undefined, hence NaN (never 0), for a territory without any activity
    (E_j = 0) and for a category whose total is 0 (E_i = 0, e.g. all weights
    zero). A territory with activity but none in category i gets LQ = 0.

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import concentration, territories
    >>> region = ms.datasets.kuzbass()
    >>> terr = territories.hex_grid(region, cell_km=25)
    >>> out = concentration.location_quotient(terr, region.deposits, by="method")
    >>> bool(out["lq__open_pit"].max() == 141 / 83)   # all-open-pit territory
    True
    """
    _check_engine(engine)
    if engine == "dask":
        table = _reduced(territories, deposits, by, weight, missing, scheduler)
        cells = _territory_cells(territories, scheduler)
        out = location_quotient(cells, table, by=by, weight=weight or "count")
        return out if cells is territories else pd.DataFrame(out)
    frame = _prepare(territories, deposits, by, weight, missing)
    lq = _lq(_matrix(frame, territories.index))
    lq.columns = [f"lq__{c}" for c in lq.columns]
    return _add(territories, lq)


def specialization(territories: gpd.GeoDataFrame, deposits: gpd.GeoDataFrame, *,
                   by: str | Sequence[str], weight: str | None = None,
                   missing: str = "raise", engine: str = "pandas",
                   scheduler=None) -> gpd.GeoDataFrame:
    """Specialization of each territory's mix: Krugman index and HHI.

    Parameters
    ----------
    territories, deposits, by, weight, missing
        As in :func:`totals`.
    engine : {"pandas", "dask"}
        ``"dask"``: as in :func:`totals` (the metric is computed in memory from the
        reduced table of :func:`minespace.scale.aggregate`; same result, floats up to
        summation order).
    scheduler : None, str or distributed.Client
        With ``engine="dask"``, as in :func:`totals`.

    Returns
    -------
    GeoDataFrame
        Copy of *territories* with ``krugman`` (in [0, 2]), ``hhi`` and
        ``hhi_norm``; all NaN for territories without activity. For a lazy grid,
        a DataFrame without geometry, as :func:`location_quotient`.

    Notes
    -----
    Krugman (1991, *Geography and Trade*): K_j = Σ_i |s_ij − s̄_i| with
    s_ij = E_ij/E_j. **Reference economy: the whole region**, s̄_i = E_i/E
    (the territory itself included), not the rest of the region; no ½ factor.

    HHI_j = Σ_i s_ij²; normalised (HHI − 1/N)/(1 − 1/N) with N the number of
    categories present in the whole region (NaN when N = 1), so it lies in
    [0, 1] and 1/N ≤ HHI ≤ 1.

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import concentration, territories
    >>> region = ms.datasets.kuzbass()
    >>> terr = territories.hex_grid(region, cell_km=25)
    >>> out = concentration.specialization(terr, region.deposits, by="commodity")
    >>> bool(out["hhi"].dropna().between(0.25, 1).all())
    True
    """
    _check_engine(engine)
    if engine == "dask":
        table = _reduced(territories, deposits, by, weight, missing, scheduler)
        cells = _territory_cells(territories, scheduler)
        out = specialization(cells, table, by=by, weight=weight or "count")
        return out if cells is territories else pd.DataFrame(out)
    frame = _prepare(territories, deposits, by, weight, missing)
    mat = _matrix(frame, territories.index)
    cols = pd.concat([_krugman(mat), _hhi(mat)], axis=1)
    return _add(territories, cols)


def concentration(territories: gpd.GeoDataFrame, deposits: gpd.GeoDataFrame, *,
                  by: str | Sequence[str], weight: str | None = None,
                  reference: str = "total", missing: str = "raise", engine: str = "pandas",
                  scheduler=None) -> pd.DataFrame:
    """Concentration of each category across territories.

    Parameters
    ----------
    territories, deposits, by, weight, missing
        As in :func:`totals`.
    reference : {"total", "area"}
        Reference distribution x_j: each territory's share of all activity
        (E_j/E, the classical choice) or of the total area (a "dartboard" on
        land).
    engine : {"pandas", "dask"}
        ``"dask"``: as in :func:`totals` (the metric is computed in memory from the
        reduced table of :func:`minespace.scale.aggregate`; same result, floats up to
        summation order).
    scheduler : None, str or distributed.Client
        With ``engine="dask"``, as in :func:`totals`.
        ``n_deposits`` and ``plant_hhi`` (hence ``ellison_glaeser``) are exact with
        Dask too: they come from the reduced table's ``count`` and
        ``{weight}_sumsq`` (sum of squared weights), not from its rows.

    Returns
    -------
    DataFrame
        Indexed by ``category`` with ``n_deposits``, ``total`` (E_i), ``gini``
        (locational Gini), ``hoover``, ``plant_hhi`` (H) and
        ``ellison_glaeser`` (γ).

    Notes
    -----
    With s_j = E_ij/E_i and x_j the reference shares:

    * Hoover (1936, *Rev. Econ. Stat.* 18(4):162–171):
      HL = ½ Σ_j |s_j − x_j| in [0, 1] (EconGeo reports ×100).
    * Locational Gini (Krugman 1991): territories sorted by s_j/x_j ascending,
      cumulative X and S, G = 1 − Σ_k (X_k − X_{k−1})(S_k + S_{k−1}).
    * Ellison–Glaeser (1997, *JPE* 105(5):889–927):
      γ = [G − (1 − Σx²)H] / [(1 − Σx²)(1 − H)] with G = Σ(s_j − x_j)² and
      the plant Herfindahl H = Σ_k z_k², z_k the deposit's share of the
      category's total (each deposit counts 1 without ``weight``, so H = 1/n).
      γ ≈ 0 is random location; NaN when H = 1 (a single deposit).

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import concentration, territories
    >>> region = ms.datasets.kuzbass()
    >>> terr = territories.hex_grid(region, cell_km=25)
    >>> table = concentration.concentration(terr, region.deposits, by="method")
    >>> table.index.tolist(), bool(table["hoover"].between(0, 1).all())
    (['open_pit', 'underground'], True)
    """
    if reference not in ("total", "area"):
        raise ValueError(f"reference must be 'total' or 'area', got {reference!r}")
    _check_engine(engine)
    if engine == "dask":
        table = _reduced(territories, deposits, by, weight, missing, scheduler)
        return _table_concentration(_territory_cells(territories, scheduler), table, by,
                                    weight, reference)
    frame = _prepare(territories, deposits, by, weight, missing)
    plant_h = _plant_herfindahl(frame["label"].to_numpy(), frame["size"].to_numpy())
    return _concentration_of(territories, frame, reference, plant_h,
                             frame.groupby("label").size())
