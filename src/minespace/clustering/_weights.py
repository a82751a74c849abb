"""Score components and their default weights (no heavy imports: the config reads them)."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["COMPONENTS", "DEFAULT_WEIGHTS", "INNOVATION_COMPONENTS"]

#: Components measuring the innovation capacity around the mines (issue 15): processing
#: plants fed by the mines, knowledge infrastructure, investment projects.
INNOVATION_COMPONENTS: tuple[str, ...] = ("value_chain", "knowledge", "investment")

#: Score components, in the order they are reported.
COMPONENTS: tuple[str, ...] = ("concentration", "coherence", "agglomeration_access",
                               "corridor_access", "diversification",
                               *INNOVATION_COMPONENTS)

#: Default weights (sum 1), justified in ``docs/clusters.md`` from the definition of an
#: innovative mining territorial cluster: mining first (concentration 0.25 and coherence
#: 0.10 = 0.35), then the setting a cluster grows in -- access to towns and corridors,
#: related activities (0.35) -- and its innovation capacity: extraction co-located with
#: processing, knowledge and innovation infrastructure and investment projects (0.10 each).
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "concentration": 0.25,
    "coherence": 0.10,
    "agglomeration_access": 0.15,
    "corridor_access": 0.10,
    "diversification": 0.10,
    "value_chain": 0.10,
    "knowledge": 0.10,
    "investment": 0.10,
}
