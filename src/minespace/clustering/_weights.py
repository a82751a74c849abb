"""Score components and their default weights (no heavy imports: the config reads them)."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["COMPONENTS", "DEFAULT_WEIGHTS"]

#: Score components, in the order they are reported.
COMPONENTS: tuple[str, ...] = ("concentration", "coherence", "agglomeration_access",
                               "corridor_access", "diversification")

#: Default weights (sum 1). Mining concentration dominates because a mining
#: cluster needs mining first; the two access components together weigh as
#: much as it; coherence and diversification pull in opposite directions and
#: get equal, smaller weights.
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "concentration": 0.35,
    "coherence": 0.15,
    "agglomeration_access": 0.20,
    "corridor_access": 0.15,
    "diversification": 0.15,
}
