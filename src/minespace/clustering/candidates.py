"""Candidate innovative mining territorial clusters: scoring, ranking, sensitivity.

Each contiguous region (from :func:`~minespace.clustering.regionalize`) is
scored on eight components in [0, 1] -- five on the mines and their setting, three on
innovation capacity (value chain, knowledge, investment; see
:mod:`._innovation_score`); the score is their weighted sum. Every score keeps its
components, its raw figures and a plain-text explanation (HTML escaping is the maps' job).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from .._checks import require_columns
from . import _innovation_score as _inn
from ._weights import COMPONENTS, DEFAULT_WEIGHTS, INNOVATION_COMPONENTS
from .profiles import activity_label

logger = logging.getLogger(__name__)

__all__ = [
    "COMPONENTS",
    "DEFAULT_WEIGHTS",
    "candidate_clusters",
    "candidate_sensitivity",
    "score_regions",
]


def _weights(weights: Mapping[str, float] | None) -> pd.Series:
    w = dict(DEFAULT_WEIGHTS)
    if weights is not None:
        unknown = set(weights) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown weight(s) {sorted(unknown)}; components are "
                             f"{list(COMPONENTS)}")
        w.update(weights)
    s = pd.Series(w, dtype=float)[list(COMPONENTS)]
    if (s < 0).any() or s.sum() <= 0:
        raise ValueError(f"weights must be >= 0 with a positive sum, got {s.to_dict()}")
    return s / s.sum()


def _max_scale(v: pd.Series) -> pd.Series:
    top = v.max()
    return v / top if top > 0 else v * 0.0


def _available_weights(regions: pd.DataFrame, weights: Mapping[str, float] | None,
                       *, warn: bool = True) -> tuple[pd.Series, dict[str, str]]:
    """Normalised weights with the unavailable components' weight redistributed, and
    ``{component: reason}`` for those (one warning when *warn*)."""
    w = _weights(weights)
    missing = _inn.unavailable(regions, w)
    if warn:
        _inn.warn_unavailable(missing, w, stacklevel=4)
    return _inn.redistribute(w, missing), missing


def score_regions(regions: pd.DataFrame, *, region: str = "region_id",
                  weights: Mapping[str, float] | None = None,
                  travel_time_min: float = 60.0, corridor_km: float = 10.0,
                  min_deposits: int = 3) -> pd.DataFrame:
    """Score every region as a candidate innovation cluster.

    Parameters
    ----------
    regions : DataFrame
        Territories with a *region* column and ``area_km2``, ``count``,
        ``count__<cat>``, ``dist_corridor_km``, ``time_to_agglomeration_min``
        and ``hansen_potential`` (concentration + accessibility outputs); for the
        innovation components, when present: ``value_chain_deposits`` (and
        ``value_chain_weight`` with ``value_chain_weight_total``,
        :func:`minespace.value_chain_summary`), ``knowledge_potential``
        (:func:`minespace.knowledge_access`), ``investment``, ``project_jobs`` and
        ``projects`` (:func:`minespace.investment_totals`).
    region : str
        Column holding the region of each territory.
    weights : mapping, optional
        Component weights, defaults :data:`DEFAULT_WEIGHTS` for the components not
        given; normalized to sum 1. A positively weighted innovation component whose
        columns are absent (or all NaN) is *unavailable*: NaN, its weight redistributed
        over the others in proportion, one
        :class:`~minespace.errors.ComponentUnavailableWarning`. Weight 0 leaves a
        component out on purpose, without warning.
    travel_time_min : float
        Threshold for "within reach of an agglomeration".
    corridor_km : float
        Threshold for "on a transport corridor".
    min_deposits : int
        Regions with fewer deposits are not ranked (score NaN).

    Returns
    -------
    DataFrame indexed by region with ``n_territories``, ``area_km2``,
    ``deposits``, ``dominant``, ``dominant_share``, ``n_activities``, shares
    ``share_within_time``, ``share_within_corridor``, ``hansen_log_mean``,
    ``hansen_term`` (``hansen_log_mean`` / its maximum over the ranked regions), the raw
    innovation figures ``value_chain_share``, ``knowledge_log_mean``, ``projects``,
    ``investment``, ``project_jobs`` (NaN without their inputs), one
    ``score__<component>`` per component, ``score`` and ``rank`` (1 = best;
    NaN when not ranked), sorted by rank. ``attrs``: ``weights`` (the weights used, after
    redistribution), ``unavailable`` ({component: reason}), ``investment_unit`` (from
    *regions*' attrs, e.g. ``"billion RUB"``), the thresholds.

    Warns
    -----
    ComponentUnavailableWarning
        Once, naming each unavailable component, the missing input and the weight
        redistributed.

    Notes
    -----
    Components, each in [0, 1] (maxima taken over the ranked regions):

    - ``concentration`` = ½ · density / max density + ½ · deposits / max
      deposits (density = deposits per km²): dense *and* large mining areas.
    - ``coherence`` = share of the region's deposits in its dominant activity.
    - ``agglomeration_access`` = ½ · share of the region's area within
      *travel_time_min* of an agglomeration (network time; unreachable counts
      as outside) + ½ · area-weighted mean of log(1 + Hansen potential) /
      its maximum (population reachable, distance-decayed).
    - ``corridor_access`` = share of the area within *corridor_km* of a rail or
      road corridor.
    - ``diversification`` = (activities present − 1) / (activities in the data
      − 1): related activities present that can share suppliers, skills and
      infrastructure.
    - ``value_chain`` = share of the region's deposits (Σ ``value_chain_deposits`` /
      Σ ``count``; weighted: Σ ``value_chain_weight`` / Σ ``value_chain_weight_total``)
      within the travel-time threshold of a processing plant taking their commodity.
    - ``knowledge`` = area-weighted mean of log(1 + ``knowledge_potential``) / its
      maximum: institutions reachable, weighted by kind and size, distance-decayed.
    - ``investment`` = ½ · log(1 + investment) / its maximum + ½ · log(1 +
      project_jobs) / its maximum (sums over the region's located projects).

    ``score = Σ weight_c · component_c`` over the components with a positive weight.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"region_id": [0, 0, 1], "area_km2": [10.0, 10.0, 10.0],
    ...     "count": [4, 2, 3], "count__a": [4, 1, 3], "count__b": [0, 1, 0],
    ...     "dist_corridor_km": [1.0, 20.0, 1.0], "time_to_agglomeration_min": [30, 90, None],
    ...     "hansen_potential": [100.0, 10.0, 0.0]})
    >>> no_innovation = {"value_chain": 0, "knowledge": 0, "investment": 0}
    >>> s = score_regions(t, weights=no_innovation)
    >>> s["score__coherence"].round(3).tolist(), s["score__corridor_access"].tolist()
    ([0.833, 1.0], [0.5, 1.0])
    >>> t["knowledge_potential"] = [50.0, 5.0, 20.0]
    >>> s = score_regions(t, weights={"value_chain": 0, "investment": 0})
    >>> s["knowledge_log_mean"].round(3).tolist(), s["score__knowledge"].round(3).tolist()
    ([2.862, 3.045], [0.94, 1.0])
    """
    require_columns(regions, [region, "area_km2", "count", "dist_corridor_km",
                              "time_to_agglomeration_min", "hansen_potential"], "regions")
    cats = [c for c in regions.columns if str(c).startswith("count__")]
    if not cats:
        raise KeyError("regions needs count__<category> columns "
                       "(concentration.totals(..., by=...))")
    w, missing = _available_weights(regions, weights)
    lab = regions[region]
    area = regions["area_km2"].astype(float)
    within_t = (regions["time_to_agglomeration_min"] <= travel_time_min).astype(float)
    within_c = (regions["dist_corridor_km"] <= corridor_km).astype(float)
    hansen = np.log1p(regions["hansen_potential"].astype(float).clip(lower=0).fillna(0))
    parts = pd.DataFrame({"area_km2": area, "deposits": regions["count"].fillna(0),
                          "n_territories": 1, "_t": within_t * area, "_c": within_c * area,
                          "_h": hansen * area})
    counts = regions[cats].fillna(0).groupby(lab).sum()
    out = parts.groupby(lab).sum()
    total = counts.sum(axis=1)
    out["dominant"] = np.where(total > 0, counts.idxmax(axis=1).str[len("count__"):], "")
    out["dominant_share"] = counts.max(axis=1) / total.where(total > 0)
    out["n_activities"] = (counts > 0).sum(axis=1)
    out["share_within_time"] = out.pop("_t") / out["area_km2"]
    out["share_within_corridor"] = out.pop("_c") / out["area_km2"]
    out["hansen_log_mean"] = out.pop("_h") / out["area_km2"]
    out["deposits_per_1000km2"] = 1000 * out["deposits"] / out["area_km2"]
    out = out.join(_inn.regional_figures(regions, lab, area))
    ranked = out["deposits"] >= min_deposits
    r = out[ranked]
    comp = pd.DataFrame(index=out.index, columns=list(COMPONENTS), dtype=float)
    m_all = (counts.gt(0).any(axis=0)).sum()
    comp.loc[ranked, "concentration"] = (0.5 * _max_scale(r["deposits_per_1000km2"])
                                         + 0.5 * _max_scale(r["deposits"]))
    comp.loc[ranked, "coherence"] = r["dominant_share"]
    out["hansen_term"] = _max_scale(r["hansen_log_mean"]).reindex(out.index)
    comp.loc[ranked, "agglomeration_access"] = (0.5 * r["share_within_time"]
                                                + 0.5 * out.loc[ranked, "hansen_term"])
    comp.loc[ranked, "corridor_access"] = r["share_within_corridor"]
    comp.loc[ranked, "diversification"] = ((r["n_activities"] - 1) / (m_all - 1)
                                           if m_all > 1 else 0.0)
    comp[list(INNOVATION_COMPONENTS)] = _inn.components(
        out[list(_inn.RAW_COLUMNS)], ranked, _inn.absent_inputs(regions))
    for c in COMPONENTS:
        out["score__" + c] = comp[c]
    used = w.index[w > 0]
    out["score"] = comp[used].to_numpy(float) @ w[used].to_numpy()
    out["rank"] = out["score"].rank(ascending=False, method="first")
    out = out.sort_values(["rank", "deposits"], ascending=[True, False])
    out.index.name = region
    out.attrs["weights"] = w.to_dict()
    out.attrs["unavailable"] = missing
    out.attrs["investment_unit"] = regions.attrs.get("investment_unit")
    out.attrs["travel_time_min"] = travel_time_min
    out.attrs["corridor_km"] = corridor_km
    return out


def _explanations(table: pd.DataFrame, weights: pd.Series, m_all: int,
                  travel_time_min: float, corridor_km: float, *,
                  value_chain_min: float = 45.0, knowledge_min: float = 60.0) -> pd.Series:
    if table.empty:
        return pd.Series([], index=table.index, dtype=object)
    fmt = lambda v, f: v.map(f.format)  # noqa: E731
    act = table["dominant"].map(activity_label)
    parts = (
        "Rank " + table["rank"].astype(int).astype(str) + ", score "
        + fmt(table["score"], "{:.2f}") + ": "
        + table["deposits"].astype(int).astype(str) + " deposits on "
        + fmt(table["area_km2"], "{:,.0f}") + " km² ("
        + fmt(table["deposits_per_1000km2"], "{:.1f}") + " per 1,000 km²; concentration "
        + fmt(table["score__concentration"], "{:.2f}") + "). Dominant activity "
        + act + " (" + fmt(table["dominant_share"], "{:.0%}") + " of deposits; coherence "
        + fmt(table["score__coherence"], "{:.2f}") + "). "
        + "Agglomeration access " + fmt(table["score__agglomeration_access"], "{:.2f}")
        + " = ½ × " + fmt(table["share_within_time"], "{:.0%}")
        + f" of the area within {travel_time_min:g} min of an agglomeration + ½ × "
        + fmt(table["hansen_term"], "{:.2f}") + " population reach (mean log Hansen potential"
        " relative to the best-reached candidate); "
        + fmt(table["share_within_corridor"], "{:.0%}") + f" within {corridor_km:g} km of a"
        " corridor (corridor access " + fmt(table["score__corridor_access"], "{:.2f}")
        + "); " + table["n_activities"].astype(int).astype(str) + f" of {m_all} activities"
        " present (diversification " + fmt(table["score__diversification"], "{:.2f}") + ")."
    )
    innovation = _inn.explanations(table, value_chain_min=value_chain_min,
                                   knowledge_min=knowledge_min,
                                   investment_unit=table.attrs.get("investment_unit"),
                                   missing=table.attrs.get("unavailable", {}),
                                   weights=weights)
    wtxt = " Weights: " + ", ".join(f"{k} {v:.2f}" for k, v in weights.items()) + "."
    return parts + innovation + wtxt


def _activity_mix(counts: pd.DataFrame, top: int = 2) -> pd.Series:
    """``"coking coal, underground 60% · thermal coal, open pit 30% · 1 more"`` per row of
    *counts* (deposits per ``count__<category>`` column), largest share first.

    Examples
    --------
    >>> _activity_mix(pd.DataFrame({"count__a": [3, 0], "count__b": [1, 2],
    ...                             "count__c": [1, 0]})).tolist()
    ['a 60% · b 20% · 1 more', 'b 100%']
    """
    cats = [activity_label(str(c)[len("count__"):]) for c in counts.columns]
    values = counts.to_numpy(float)
    total = values.sum(axis=1, keepdims=True)
    share = np.divide(values, total, out=np.zeros_like(values), where=total > 0)
    order = np.argsort(-share, axis=1, kind="stable")
    present = (values > 0).sum(axis=1)
    out = []
    for row, o, n in zip(share, order, present, strict=True):  # one row per candidate
        parts = [f"{cats[j]} {row[j]:.0%}" for j in o[:min(top, n)]]
        if n > top:
            parts.append(f"{n - top} more")
        out.append(" · ".join(parts))
    return pd.Series(out, index=counts.index, dtype=object)


def _first_names(names: pd.Series, groups: pd.Series, weight: pd.Series, top: int = 3
                 ) -> pd.Series:
    """The distinct *names* of each group, heaviest (*weight*) first, at most *top*
    (``"A, B, C +2"``)."""
    frame = pd.DataFrame({"g": groups.to_numpy(), "name": names.astype(str).to_numpy(),
                          "w": weight.to_numpy(float)})
    frame = frame[names.notna().to_numpy() & (frame["name"].str.strip() != "")]
    frame = (frame.groupby(["g", "name"], sort=False)["w"].sum().reset_index()
             .sort_values(["g", "w", "name"], ascending=[True, False, True]))
    first = frame.groupby("g", sort=False)["name"].agg(
        lambda s: ", ".join(s.iloc[:top]) + (f" +{len(s) - top}" if len(s) > top else ""))
    return first


def _towns_in(geoms: gpd.GeoSeries, agglomerations: gpd.GeoDataFrame) -> pd.Series:
    """Names of the agglomerations each geometry intersects, largest population first."""
    aggl = agglomerations.to_crs(geoms.crs)
    tree = shapely.STRtree(geoms.values)
    a, c = tree.query(aggl.geometry.values, predicate="intersects")
    pop = (aggl["population"] if "population" in aggl
           else pd.Series(0.0, index=aggl.index)).to_numpy(float)
    hits = pd.DataFrame({"c": geoms.index.to_numpy()[c], "name": aggl["name"].to_numpy()[a],
                         "population": np.nan_to_num(pop[a])})
    hits = hits[hits["name"].notna()].sort_values("population", ascending=False, kind="stable")
    return hits.groupby("c", sort=False)["name"].agg(lambda s: ", ".join(map(str, s)))


def candidate_clusters(regions: gpd.GeoDataFrame, *, region: str = "region_id",
                       weights: Mapping[str, float] | None = None,
                       travel_time_min: float = 60.0, corridor_km: float = 10.0,
                       min_deposits: int = 3, top: int | None = None,
                       name: str | None = "name",
                       agglomerations: gpd.GeoDataFrame | None = None,
                       links: Mapping[str, pd.DataFrame] | None = None,
                       value_chain_min: float = 45.0,
                       knowledge_min: float = 60.0) -> gpd.GeoDataFrame:
    """Ranked candidate clusters as dissolved polygons with scores and explanations.

    Parameters
    ----------
    regions : GeoDataFrame
        Territories indexed by ``territory_id`` with a *region* column and the
        metric columns listed in :func:`score_regions`.
    region, weights, travel_time_min, corridor_km, min_deposits
        See :func:`score_regions`.
    top : int, optional
        Keep only the *top* best-ranked candidates.
    name : str, optional
        Column of *regions* with territory names (used when present): the candidate's
        ``places`` are its member territories' names, most deposits first.
    agglomerations : GeoDataFrame, optional
        Towns (``name``, ``population``): each candidate's ``towns`` are those it
        intersects, largest first; they name the candidate when territories have no names.
    links : dict, optional
        ``{"plants": frame, "institutions": frame}`` (either or both):
        :func:`minespace.value_chain_links` rows with the deposit's ``territory_id``, and
        :func:`minespace.knowledge_links` rows. Adds the distinct plants and institutions
        within reach of each candidate (see Returns) and names them in the explanation.
    value_chain_min, knowledge_min : float
        The travel-time thresholds (minutes) the value-chain and knowledge inputs were
        computed with (for the explanation text only).

    Returns
    -------
    GeoDataFrame
        One row per ranked region (index *region*), sorted by ``rank`` (int,
        1 = best): the columns of :func:`score_regions` plus ``activity_mix`` (the two
        largest activities with their shares of deposits), ``places`` (territory names,
        "" without *name*), ``towns`` (with *agglomerations*), ``label`` (places, else the
        first two towns, then the activity mix: ``"Belovo, Polysayevo: thermal coal,
        underground 55% · coking coal, underground 30%"``), ``members``
        (comma-separated territory ids), ``explanation`` (plain text) and the dissolved
        ``geometry``. With *links*: ``plants_within`` (distinct plants),
        ``plant_names``, ``plant_inputs`` (their value chains); ``institutions_within``
        (distinct institutions), ``institutions_by_kind`` (``"2 universities, 1
        technopark"``), ``institution_names``.

    Examples
    --------
    >>> import pandas as pd, shapely, geopandas as gpd
    >>> t = gpd.GeoDataFrame({"region_id": [0, 0, 1], "area_km2": [1.0, 1.0, 1.0],
    ...     "count": [4, 2, 0], "count__a": [4, 1, 0], "count__b": [0, 1, 0],
    ...     "dist_corridor_km": [1.0, 20.0, 1.0], "time_to_agglomeration_min": [30, 90, 5],
    ...     "hansen_potential": [100.0, 10.0, 0.0]},
    ...     geometry=[shapely.box(i, 0, i + 1, 1) for i in range(3)], crs=32645,
    ...     index=pd.Index(["T1", "T2", "T3"], name="territory_id"))
    >>> c = candidate_clusters(t, weights={"value_chain": 0, "knowledge": 0, "investment": 0})
    >>> c[["rank", "members"]].values.tolist(), c.geometry.area.tolist()
    ([[1, 'T1, T2']], [2.0])
    >>> c["explanation"].iloc[0][:35]
    'Rank 1, score 0.85: 6 deposits on 2'
    """
    table = score_regions(regions, region=region, weights=weights,
                          travel_time_min=travel_time_min, corridor_km=corridor_km,
                          min_deposits=min_deposits)
    table = table[table["rank"].notna()]
    if top is not None:
        table = table[table["rank"] <= top]
    lab = regions[region]
    ids = pd.Series(regions.index.astype(str), index=regions.index)
    members = ids.groupby(lab.to_numpy()).agg(", ".join)
    geom = regions[[region, "geometry"]].dissolve(by=region).geometry
    cats = [c for c in regions.columns if str(c).startswith("count__")]
    m_all = int((regions[cats].fillna(0).sum(axis=0) > 0).sum())
    w = pd.Series(table.attrs["weights"])
    out = table.copy()
    out["rank"] = out["rank"].astype(int)
    counts = regions[cats].fillna(0).groupby(lab.to_numpy()).sum()
    out["activity_mix"] = _activity_mix(counts).reindex(out.index).fillna("")
    if name is not None and name in regions.columns:
        places = _first_names(regions[name], lab, regions["count"].fillna(0))
        out["places"] = places.reindex(out.index).fillna("")
    else:
        out["places"] = ""
    geoms = gpd.GeoSeries(geom.reindex(out.index).to_numpy(), index=out.index, crs=regions.crs)
    where = out["places"]
    if agglomerations is not None and len(agglomerations) and "name" in agglomerations:
        out["towns"] = _towns_in(geoms, agglomerations).reindex(out.index).fillna("")
        first_two = out["towns"].str.split(", ").str[:2].str.join(", ")
        where = where.where(where != "", first_two)
    out["label"] = np.where(where != "", where + ": " + out["activity_mix"],
                            out["activity_mix"])
    out["members"] = members.reindex(out.index)
    figures = _inn.link_figures(links, lab, out.index)
    for c in figures.columns:
        out[c] = figures[c]
    out["explanation"] = _explanations(out, w, m_all, travel_time_min, corridor_km,
                                       value_chain_min=value_chain_min,
                                       knowledge_min=knowledge_min)
    result = gpd.GeoDataFrame(out, geometry=geoms.to_numpy(), crs=regions.crs)
    result.index.name = region
    result.attrs = dict(table.attrs)
    return result


def _membership(labels: np.ndarray) -> sparse.csr_matrix:
    uniq, inv = np.unique(labels, return_inverse=True)
    return sparse.csr_matrix((np.ones(len(inv)), (np.arange(len(inv)), inv)),
                             shape=(len(inv), len(uniq))), uniq


def candidate_sensitivity(metrics: gpd.GeoDataFrame, features: pd.DataFrame, *,
                          n_regions: int, weights: Mapping[str, float] | None = None,
                          top_n: int = 5, n_perturbations: int = 50,
                          weight_spread: float = 0.5, k_spread: int = 2,
                          min_overlap: float = 0.5, adjacency=None,
                          random_state: int | None = 0, **score_kwargs) -> pd.DataFrame:
    """How often each baseline top-*n* candidate stays in the top *n* under perturbation.

    Parameters
    ----------
    metrics : GeoDataFrame
        Territory metrics as for :func:`score_regions` (without a region column).
    features : DataFrame
        Regionalization features (see :func:`~minespace.clustering.regionalize`).
    n_regions : int
        Baseline number of regions.
    weights : mapping, optional
        Baseline weights.
    top_n : int
    n_perturbations : int
    weight_spread : float
        Each weight (of all :data:`COMPONENTS`, the innovation ones included) is
        multiplied by an independent uniform factor in [1 − spread, 1 + spread], then
        all are renormalized. Unavailable components (see :func:`score_regions`) keep
        weight 0, with one warning for the whole analysis.
    k_spread : int
        The number of regions is drawn uniformly from
        ``n_regions − k_spread .. n_regions + k_spread`` (at least 2).
    min_overlap : float
        A baseline candidate "stays" when a perturbed top-*n* region shares at
        least this Jaccard overlap of territories with it (regions change when
        k changes, so identity is by overlap).
    adjacency : sparse matrix, optional
        Contiguity, computed once with :func:`~minespace.clustering.connectivity`
        when omitted.
    random_state : int or None
    **score_kwargs
        ``travel_time_min``, ``corridor_km``, ``min_deposits``.

    Returns
    -------
    DataFrame indexed by baseline region id (its top *n*) with ``rank``,
    ``score`` and ``top_n_share`` (share of perturbations in which it stays),
    plus ``top_n_share_weights`` / ``top_n_share_k`` (the same counted over
    perturbations where only the weights, or only k, changed from baseline —
    each perturbation changes both, so these are the weight-only and k-only
    re-runs done in addition). ``attrs["components"]``: the components perturbed
    (positive baseline weight).
    """
    from .regionalize import connectivity, regionalize

    rng = np.random.default_rng(random_state)
    adj = connectivity(metrics) if adjacency is None else adjacency
    base_w, _ = _available_weights(metrics, weights)
    cache: dict[int, pd.DataFrame] = {}

    def regions_for(k: int) -> pd.DataFrame:
        if k not in cache:
            cache[k] = regionalize(metrics, features, n_regions=k, adjacency=adj)
        return cache[k]

    def top_labels(k: int, w: pd.Series) -> tuple[np.ndarray, pd.Index]:
        reg = regions_for(k)
        s = score_regions(reg, weights=w.to_dict(), **score_kwargs)
        return reg["region_id"].to_numpy(), s.index[s["rank"] <= top_n]

    base_lab, base_top = top_labels(n_regions, base_w)
    b_mem, b_uniq = _membership(base_lab)
    b_cols = np.searchsorted(b_uniq, base_top)
    b_size = np.asarray(b_mem.sum(axis=0)).ravel()[b_cols]

    def stays(lab: np.ndarray, top: pd.Index) -> np.ndarray:
        p_mem, p_uniq = _membership(lab)
        p_cols = np.searchsorted(p_uniq, top)
        inter = (b_mem[:, b_cols].T @ p_mem[:, p_cols]).toarray()
        p_size = np.asarray(p_mem.sum(axis=0)).ravel()[p_cols]
        jac = inter / (b_size[:, None] + p_size[None, :] - inter)
        return (jac >= min_overlap).any(axis=1) if len(p_cols) else np.zeros(len(b_cols), bool)

    lo = max(2, n_regions - k_spread)
    hits = np.zeros((3, len(b_cols)))
    for _ in range(n_perturbations):
        factors = rng.uniform(1 - weight_spread, 1 + weight_spread, len(base_w))
        w = base_w * factors
        w = w / w.sum()
        k = int(rng.integers(lo, n_regions + k_spread + 1))
        hits[0] += stays(*top_labels(k, w))
        hits[1] += stays(*top_labels(n_regions, w))
        hits[2] += stays(*top_labels(k, base_w))
    base = score_regions(regions_for(n_regions), weights=base_w.to_dict(), **score_kwargs)
    out = base.loc[base_top, ["rank", "score", "deposits", "dominant"]].copy()
    out["top_n_share"] = hits[0] / max(n_perturbations, 1)
    out["top_n_share_weights"] = hits[1] / max(n_perturbations, 1)
    out["top_n_share_k"] = hits[2] / max(n_perturbations, 1)
    out.attrs.update(top_n=top_n, n_perturbations=n_perturbations,
                     weight_spread=weight_spread, k_spread=k_spread,
                     components=list(base_w.index[base_w > 0]))
    return out
