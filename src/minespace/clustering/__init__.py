"""Territory typology, spatially constrained regions, mining nodes and candidate clusters."""

from __future__ import annotations

from .features import DEFAULT_FEATURES, FeatureBuilder, specialization_shares, territory_metrics
from .regionalize import connectivity, is_contiguous, regionalize
from .typology import METHODS, Typology, select_k

__all__ = [
    "DEFAULT_FEATURES",
    "METHODS",
    "FeatureBuilder",
    "Typology",
    "connectivity",
    "is_contiguous",
    "regionalize",
    "select_k",
    "specialization_shares",
    "territory_metrics",
]
