"""Territory typology, contiguous regions, mining nodes and candidate innovation clusters.

Typical use on the outputs of :mod:`minespace.concentration` and
:mod:`minespace.accessibility`::

    metrics = clustering.territory_metrics(concentration, accessibility)
    adj = clustering.connectivity(metrics)
    metrics = clustering.neighbourhood_metrics(metrics, adj)
    X = clustering.FeatureBuilder(clustering.REGION_FEATURES).fit_transform(metrics)
    regions = clustering.regionalize(metrics, X, n_regions=12, adjacency=adj)
    candidates = clustering.candidate_clusters(regions)   # + links= for named plants

Innovation components (value chain, knowledge, investment) are scored from the territory
columns of :func:`minespace.value_chain_summary`, :func:`minespace.knowledge_access` and
:func:`minespace.investment_totals` when present (``find_candidates(...,
innovation=...)`` joins them); without them they are unavailable, with a warning.

or all of it at once: ``clustering.find_candidates(concentration, accessibility)``.
Names are imported on first use (PEP 562).
"""

from __future__ import annotations

from .._lazy import attach

_ATTRIBUTES = {
    "find_candidates": ".analysis",
    "COMPONENTS": "._weights",
    "DEFAULT_WEIGHTS": "._weights",
    "INNOVATION_COMPONENTS": "._weights",
    "candidate_clusters": ".candidates",
    "candidate_sensitivity": ".candidates",
    "score_regions": ".candidates",
    "DEFAULT_FEATURES": ".features",
    "REGION_FEATURES": ".features",
    "FeatureBuilder": ".features",
    "neighbourhood_metrics": ".features",
    "specialization_shares": ".features",
    "territory_metrics": ".features",
    "NOISE": ".nodes",
    "mining_nodes": ".nodes",
    "node_summary": ".nodes",
    "PROFILE_METRICS": ".profiles",
    "activity_label": ".profiles",
    "profile": ".profiles",
    "connectivity": ".regionalize",
    "is_contiguous": ".regionalize",
    "regionalize": ".regionalize",
    "METHODS": ".typology",
    "Typology": ".typology",
    "select_k": ".typology",
}

__getattr__, __dir__ = attach(__name__, attributes=_ATTRIBUTES)

__all__ = [
    "COMPONENTS",
    "DEFAULT_FEATURES",
    "DEFAULT_WEIGHTS",
    "INNOVATION_COMPONENTS",
    "METHODS",
    "NOISE",
    "PROFILE_METRICS",
    "REGION_FEATURES",
    "FeatureBuilder",
    "Typology",
    "activity_label",
    "candidate_clusters",
    "candidate_sensitivity",
    "connectivity",
    "find_candidates",
    "is_contiguous",
    "mining_nodes",
    "neighbourhood_metrics",
    "node_summary",
    "profile",
    "regionalize",
    "score_regions",
    "select_k",
    "specialization_shares",
    "territory_metrics",
]
