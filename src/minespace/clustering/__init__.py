"""Territory typology, contiguous regions, mining nodes and candidate innovation clusters.

Typical use on the outputs of :mod:`minespace.concentration` and
:mod:`minespace.accessibility`::

    metrics = clustering.territory_metrics(concentration, accessibility)
    adj = clustering.connectivity(metrics)
    metrics = clustering.neighbourhood_metrics(metrics, adj)
    X = clustering.FeatureBuilder(clustering.REGION_FEATURES).fit_transform(metrics)
    regions = clustering.regionalize(metrics, X, n_regions=12, adjacency=adj)
    candidates = clustering.candidate_clusters(regions)

or all of it at once: ``clustering.find_candidates(concentration, accessibility)``.
"""

from __future__ import annotations

from .analysis import find_candidates
from .candidates import (
    COMPONENTS,
    DEFAULT_WEIGHTS,
    candidate_clusters,
    candidate_sensitivity,
    score_regions,
)
from .features import (
    DEFAULT_FEATURES,
    REGION_FEATURES,
    FeatureBuilder,
    neighbourhood_metrics,
    specialization_shares,
    territory_metrics,
)
from .nodes import NOISE, mining_nodes, node_summary
from .profiles import PROFILE_METRICS, activity_label, profile
from .regionalize import connectivity, is_contiguous, regionalize
from .typology import METHODS, Typology, select_k

__all__ = [
    "COMPONENTS",
    "DEFAULT_FEATURES",
    "DEFAULT_WEIGHTS",
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
