"""Dry-run checks of the ``[innovation]`` parameters against the loaded layers.

Registered in :data:`minespace.pipeline.checks.CHECKS` when that module is imported.
A parameter that can never take effect on these layers is a config problem to fix (a
match table that can never fire, a kind weight for a kind the data does not have): it
is almost always a typo or the wrong file, and would otherwise change nothing, silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..errors import ConfigProblem
from .checks import _did_you_mean, check

if TYPE_CHECKING:
    from .checks import DryRun, Finding

__all__: list[str] = []


def _present(dry: DryRun, role: str):
    frame = dry.layers.get(role)
    return frame if frame is not None and len(frame) else None


def _normalised(values) -> set[str]:
    from ..schema import normalise_category

    out = {normalise_category(v) for v in values}
    return {str(v) for v in out if v is not None}


@check("innovation")
def _innovation_kind_weights(dry: DryRun) -> Iterable[Finding]:
    weights = dry.config.innovation.kind_weights
    if not weights:
        return
    inst = _present(dry, "institutions")
    if inst is None:
        yield ConfigProblem("innovation.kind_weights", weights, message=(
            "there is no institutions layer for these weights to apply to: add "
            "[input.institutions] or remove the key"))
        return
    from ..knowledge import DEFAULT_KIND_WEIGHTS

    kinds = sorted(_normalised(inst["kind"].dropna().unique()))
    for key in sorted(set(weights) - set(kinds)):
        yield ConfigProblem(f"innovation.kind_weights.{key}", weights[key], allowed=kinds,
                            message=f"no institution of kind '{key}' in "
                                    f"{dry.source('institutions')}: the weight never applies"
                                    + _did_you_mean(key, kinds))
    effective = {**DEFAULT_KIND_WEIGHTS, **weights}
    if kinds and all(effective.get(k, 0.0) == 0 for k in kinds):
        yield ConfigProblem("innovation.kind_weights", weights, message=(
            f"every institution kind in the data ({', '.join(kinds)}) weighs 0: the knowledge "
            "potential would be 0 everywhere; give one a weight > 0, or set [clusters] "
            "weights.knowledge = 0"))


@check("innovation")
def _innovation_matches(dry: DryRun) -> Iterable[Finding]:
    matches = dry.config.innovation.matches
    if not matches:
        return
    facilities = _present(dry, "facilities")
    plants = (None if facilities is None or "value_chain" not in facilities.columns
              else facilities["value_chain"].dropna())
    if plants is None or not len(plants):
        yield ConfigProblem("innovation.matches", matches, message=(
            "there is no processing plant with a value-chain input (facilities' value_chain) "
            "for these matches to reach: add the plants ([input.facilities] value_chain or "
            "value_chains) or remove the key"))
        return
    inputs = sorted(_normalised(plants.astype(str).str.replace(",", ";").str.split(";")
                                .explode().str.strip()))
    deposits = dry.layers["deposits"]
    commodities = (sorted(_normalised(deposits["commodity"].dropna().unique()))
                   if "commodity" in deposits.columns else [])
    for key, feeds in matches.items():
        norm = next(iter(_normalised([key])), key)
        if norm not in commodities:
            yield ConfigProblem(f"innovation.matches.{key}", list(feeds), allowed=commodities,
                                message="no deposit has this commodity: the match never fires"
                                        + _did_you_mean(norm, commodities))
        elif not (_normalised(feeds) | {norm}) & set(inputs):
            yield ConfigProblem(f"innovation.matches.{key}", list(feeds), allowed=inputs,
                                message="no processing plant takes any of these inputs "
                                        f"(nor '{norm}'): the match never fires")


#: What each innovation component needs among the input layers (the dry run's view).
_LAYER_OF = {"value_chain": "facilities with a value_chain input",
             "knowledge": "institutions", "investment": "projects"}


def weights_without_data(weights: dict[str, float], missing: dict[str, str]
                         ) -> ConfigProblem | None:
    """The problem when every positively weighted component lacks its data (*missing*:
    component -> why), else None. Shared by the dry run and the clusters stage."""
    from ..clustering._weights import DEFAULT_WEIGHTS

    merged = {**DEFAULT_WEIGHTS, **weights}
    weighted = [c for c, w in merged.items() if w > 0]
    if not weighted or any(c not in missing for c in weighted):
        return None
    why = "; ".join(f"{c}: {missing[c]}" for c in weighted)
    return ConfigProblem("clusters.weights", weights or None, message=(
        f"every weighted score component lacks its data ({why}): nothing could be scored; "
        "give a weight > 0 to a component with data (concentration, coherence, ...) or add "
        "the layer"), allowed=sorted(merged))


@check("clusters")
def _weights_have_data(dry: DryRun) -> Iterable[Finding]:
    facilities = _present(dry, "facilities")
    has = {"value_chain": facilities is not None and "value_chain" in facilities.columns
           and facilities["value_chain"].notna().any(),
           "knowledge": _present(dry, "institutions") is not None,
           "investment": _present(dry, "projects") is not None}
    missing = {c: f"no {_LAYER_OF[c]}" for c, ok in has.items() if not ok}
    problem = weights_without_data(dry.config.clusters.weights, missing)
    if problem is not None:
        yield problem
