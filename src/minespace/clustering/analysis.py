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
                    agglomerations: gpd.GeoDataFrame | None = None
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
    adj = connectivity(metrics, kind=kind, islands=islands)
    metrics = neighbourhood_metrics(metrics, adj, order=order)
    builder = FeatureBuilder(columns, scale=scale, random_state=random_state).fit(metrics)
    X = builder.transform(metrics)
    regions = regionalize(metrics, X, n_regions=n_regions, adjacency=adj)
    profiles = profile(regions, "region_id")
    score_kw = dict(travel_time_min=travel_time_min, corridor_km=corridor_km,
                    min_deposits=min_deposits)
    cands = candidate_clusters(regions, weights=weights, name=name,
                               agglomerations=agglomerations, **score_kw)
    if n_perturbations > 0 and len(cands):
        sens = candidate_sensitivity(metrics, X, n_regions=n_regions, weights=weights,
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
