"""The ``[innovation]`` section of the pipeline config (light: no pandas at import).

Parsed by :func:`minespace.pipeline.config.parse_config` with the same rules as every
section: every problem recorded (key, value, allowed values), unknown keys with a
suggestion, defaults in place of bad values so the rest is still checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import _Section

__all__ = ["InnovationConfig"]


@dataclass(frozen=True)
class InnovationConfig:
    """Parameters of the ``innovation`` stage (value chain, knowledge, investment).

    Attributes
    ----------
    value_chain_min : float
        A deposit is "within reach" of a processing plant taking its commodity within this
        many minutes over the corridors (:func:`minespace.value_chain_access`).
    knowledge_min : float
        Institutions within this many minutes count as within reach of a territory
        (``institutions_within``, the knowledge links).
    kind_weights : dict
        Institution kind -> weight in the knowledge mass, over
        :data:`minespace.knowledge.DEFAULT_KIND_WEIGHTS` (keys: institution kinds).
    matches : dict
        Deposit commodity -> plant inputs it feeds, over
        :data:`minespace.value_chain.DEFAULT_MATCHES`.
    fallback_speed_kmh : float
        Straight-line speed for the (territory, institution) pairs the corridor network
        does not connect (institutions in a part of the network a territory cannot reach).
    """

    value_chain_min: float = 45.0
    knowledge_min: float = 60.0
    kind_weights: dict[str, float] = field(default_factory=dict)
    matches: dict[str, tuple[str, ...]] = field(default_factory=dict)
    fallback_speed_kmh: float = 40.0


def _kind_weights(sec: _Section) -> dict[str, float]:
    from ..schema import INSTITUTION_KINDS
    from .config import _did_you_mean

    table = sec.get("kind_weights", (dict,), {})
    out: dict[str, float] = {}
    for key, value in table.items():
        if key not in INSTITUTION_KINDS:
            sec.report(f"kind_weights.{key}", value, allowed=INSTITUTION_KINDS,
                       message="not an institution kind" + _did_you_mean(key, INSTITUTION_KINDS))
        elif (isinstance(value, bool) or not isinstance(value, (int, float))
              or not 0 <= value < float("inf")):
            sec.report(f"kind_weights.{key}", value, message="must be a number >= 0")
        else:
            out[str(key)] = float(value)
    return out


def _matches(sec: _Section) -> dict[str, tuple[str, ...]]:
    table = sec.get("matches", (dict,), {})
    out: dict[str, tuple[str, ...]] = {}
    for key, value in table.items():
        inputs = [value] if isinstance(value, str) else value
        if (not isinstance(inputs, list) or not inputs
                or not all(isinstance(v, str) and v.strip() for v in inputs)):
            sec.report(f"matches.{key}", value,
                       allowed='a list of plant inputs, e.g. ["coking_coal", "coal_chemicals"]',
                       message="must list the plant inputs this commodity feeds")
        elif not str(key).strip():
            sec.report("matches", key, message="empty commodity name")
        else:
            out[str(key)] = tuple(inputs)
    return out


def parse_innovation(sec: _Section) -> InnovationConfig:
    """Read the ``[innovation]`` table (problems recorded on *sec*)."""
    out = InnovationConfig(
        value_chain_min=sec.positive("value_chain_min", 45.0),
        knowledge_min=sec.positive("knowledge_min", 60.0),
        kind_weights=_kind_weights(sec),
        matches=_matches(sec),
        fallback_speed_kmh=sec.positive("fallback_speed_kmh", 40.0),
    )
    sec.finish()
    return out
