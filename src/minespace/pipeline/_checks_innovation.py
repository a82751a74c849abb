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
