"""One call from concentration + accessibility outputs to ranked candidate clusters."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import geopandas as gpd
import pandas as pd

from .candidates import candidate_clusters, candidate_sensitivity
from .features import REGION_FEATURES, FeatureBuilder, neighbourhood_metrics, territory_metrics
from .profiles import profile
from .regionalize import connectivity, regionalize

logger = logging.getLogger(__name__)

__all__ = ["find_candidates"]


def find_candidates(concentration: gpd.GeoDataFrame,
                    accessibility: gpd.GeoDataFrame | None = None, *,
                    n_regions: int = 12, columns: Sequence[str] = REGION_FEATURES,
                    scale: str | None = "robust", kind: str = "queen",
                    islands: str = "attach", order: int = 1,
                    weights: Mapping[str, float] | None = None,
                    travel_time_min: float = 60.0, corridor_km: float = 10.0,
                    min_deposits: int = 3, top_n: int = 5, n_perturbations: int = 50,
                    weight_spread: float = 0.5, k_spread: int = 2,
                    random_state: int | None = 0, name: str | None = "name",
                    agglomerations: gpd.GeoDataFrame | None = None,
                    innovation: pd.DataFrame | None = None,
                    links: Mapping[str, pd.DataFrame] | None = None,
                    value_chain_min: float = 45.0, knowledge_min: float = 60.0
                    ) -> dict[str, pd.DataFrame]:
    """Contiguous regions, their profiles and ranked candidate innovation clusters.

    Chains :func:`territory_metrics` → :func:`connectivity` →
    :func:`neighbourhood_metrics` → :class:`FeatureBuilder` →
    :func:`regionalize` → :func:`profile` → :func:`candidate_clusters` →
    :func:`candidate_sensitivity` with the documented defaults.

    Parameters
    ----------
    concentration, accessibility : GeoDataFrame
        Outputs of the concentration and accessibility stages (same territories).
    n_regions : int
        Number of contiguous regions.
    columns, scale
        Feature columns and scaling, see :class:`FeatureBuilder`.
    kind, islands
        Contiguity, see :func:`minespace.territories.contiguity`.
    order : int
        Neighbourhood radius for the mining features.
    weights, travel_time_min, corridor_km, min_deposits
        See :func:`score_regions`.
    top_n, n_perturbations, weight_spread, k_spread, random_state
        See :func:`candidate_sensitivity`; ``n_perturbations=0`` skips it.
    name, agglomerations
        Territory-name column and towns that name the candidates, see
        :func:`candidate_clusters`.
    innovation : DataFrame, optional
        The same territories (index ``territory_id``) with the innovation columns read by
        :func:`score_regions` (``value_chain_deposits``, ``knowledge_potential``,
        ``projects``, ``investment``, ``project_jobs``, ...); joined to the metrics
        (columns already there are not repeated). Its ``attrs["investment_unit"]`` names
        the investment unit in the explanations.
    links, value_chain_min, knowledge_min
        Plants and institutions within reach, and the thresholds they were found with,
        see :func:`candidate_clusters`.

    Warns
    -----
    ComponentUnavailableWarning
        Once, when a weighted innovation component has no input (see
        :func:`score_regions`); the sensitivity analysis then keeps its weight at 0.

    Returns
    -------
    dict
        ``"regions"``: territories (GeoDataFrame) with all metrics plus
        ``region_id``, ``region_label`` and ``candidate_rank`` (NaN outside
        candidates); ``"region_profiles"``: :func:`profile` per region;
        ``"candidates"``: :func:`candidate_clusters` plus ``top_n_share``
        (NaN beyond the top *n* or when sensitivity is skipped);
        ``"candidate_sensitivity"``: :func:`candidate_sensitivity` output.
    """
    metrics = territory_metrics(concentration, accessibility)
    if innovation is not None:
        if not metrics.index.sort_values().equals(innovation.index.sort_values()):
            raise ValueError("innovation must index the same territories (territory_id) "
                             "as concentration")
        extra = [c for c in innovation.columns if c not in metrics.columns and c != "geometry"]
        metrics = metrics.join(pd.DataFrame(innovation[extra]))
        metrics.attrs["investment_unit"] = innovation.attrs.get("investment_unit")
    adj = connectivity(metrics, kind=kind, islands=islands)
    metrics = neighbourhood_metrics(metrics, adj, order=order)
    builder = FeatureBuilder(columns, scale=scale, random_state=random_state).fit(metrics)
    X = builder.transform(metrics)
    regions = regionalize(metrics, X, n_regions=n_regions, adjacency=adj)
    profiles = profile(regions, "region_id")
    score_kw = dict(travel_time_min=travel_time_min, corridor_km=corridor_km,
                    min_deposits=min_deposits)
    regions.attrs["investment_unit"] = metrics.attrs.get("investment_unit")
    cands = candidate_clusters(regions, weights=weights, name=name,
                               agglomerations=agglomerations, links=links,
                               value_chain_min=value_chain_min, knowledge_min=knowledge_min,
                               **score_kw)
    if n_perturbations > 0 and len(cands):
        # the weights used (unavailable components at 0): warned once above, not again
        sens = candidate_sensitivity(metrics, X, n_regions=n_regions,
                                     weights=cands.attrs["weights"],
                                     top_n=top_n, n_perturbations=n_perturbations,
                                     weight_spread=weight_spread, k_spread=k_spread,
                                     adjacency=adj, random_state=random_state, **score_kw)
    else:
        sens = pd.DataFrame(columns=["rank", "score", "top_n_share"], dtype=float)
    cands["top_n_share"] = sens["top_n_share"].reindex(cands.index).astype(float)
    regions = regions.copy()
    regions["region_label"] = profiles["label"].reindex(regions["region_id"]).to_numpy()
    regions["candidate_rank"] = cands["rank"].reindex(regions["region_id"]).to_numpy(float)
    logger.info("find_candidates: %d regions, %d ranked candidates", n_regions, len(cands))
    regions.attrs["features"] = list(builder.feature_names_in_)
    return {"regions": regions, "region_profiles": profiles, "candidates": cands,
            "candidate_sensitivity": sens}
