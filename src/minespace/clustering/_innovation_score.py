"""The innovation components of the candidate score: value chain, knowledge, investment.

Private helpers of :mod:`minespace.clustering.candidates`: which components have their
inputs, the redistribution of the weights of those that do not, the regional figures and
components, the figures read off the optional links (plants and institutions within reach)
and the explanation sentences.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import ComponentUnavailableWarning
from ._weights import INNOVATION_COMPONENTS

__all__: list[str] = []

#: Territory columns each innovation component needs, and where they come from.
INPUTS: dict[str, tuple[str, ...]] = {
    "value_chain": ("value_chain_deposits",),
    "knowledge": ("knowledge_potential",),
    "investment": ("investment", "project_jobs"),
}
_SOURCE = {
    "value_chain": "processing plants with a value-chain input "
                   "(minespace.value_chain_summary)",
    "knowledge": "institutions (minespace.knowledge_access)",
    "investment": "located investment projects (minespace.investment_totals)",
}
_ABSENT = {"value_chain": "no processing plants with a value-chain input",
           "knowledge": "no institutions", "investment": "no located investment projects"}
#: Raw regional figures kept as columns (NaN when their component is unavailable).
RAW_COLUMNS: tuple[str, ...] = ("value_chain_share", "knowledge_log_mean", "projects",
                                "investment", "project_jobs")
#: Figures read off ``links=``.
LINK_COLUMNS: tuple[str, ...] = ("plants_within", "plant_names", "plant_inputs",
                                 "institutions_within", "institutions_by_kind",
                                 "institution_names")

_KIND_NAMES = {  # kind -> (singular, plural)
    "university": ("university", "universities"),
    "university_branch": ("university branch", "university branches"),
    "research": ("research centre", "research centres"),
    "technopark": ("technopark", "technoparks"),
    "education_centre": ("education centre", "education centres"),
    "incubator": ("business incubator", "business incubators"),
    "economic_zone": ("economic zone", "economic zones"),
}
_UNIT_SHORT = {"billion": "bn", "million": "mn", "thousand": "thousand"}


def unavailable(regions: pd.DataFrame, weights: pd.Series) -> dict[str, str]:
    """``{component: reason}`` for the positively weighted innovation components whose
    territory columns are absent (or hold no value at all). A component weighted 0 is
    never unavailable: it is simply not scored."""
    out: dict[str, str] = {}
    for comp in INNOVATION_COMPONENTS:
        if weights[comp] <= 0:
            continue
        cols = INPUTS[comp]
        missing = [c for c in cols if c not in regions.columns]
        empty = [c for c in cols if c in regions.columns and regions[c].isna().all()]
        if missing:
            out[comp] = (f"no {' or '.join(map(repr, missing))} column in the territories: "
                         f"needs {_SOURCE[comp]}")
        elif empty:
            out[comp] = (f"column {' and '.join(map(repr, empty))} holds no value: "
                         f"needs {_SOURCE[comp]}")
    return out


def redistribute(weights: pd.Series, missing: Mapping[str, str]) -> pd.Series:
    """*weights* (summing to 1) with the *missing* components set to 0 and the others
    scaled up proportionally (sum 1 again)."""
    if not missing:
        return weights
    w = weights.copy()
    w[list(missing)] = 0.0
    if w.sum() <= 0:
        raise ValueError(f"every weighted component is unavailable ({dict(missing)}); "
                         "give a positive weight to a component with data")
    return w / w.sum()


def warn_unavailable(missing: Mapping[str, str], weights: pd.Series, *,
                     stacklevel: int = 3) -> None:
    """One :class:`ComponentUnavailableWarning` naming every unavailable component, why
    and the weight it gave away (*weights*: before redistribution, summing to 1)."""
    if not missing:
        return
    parts = [f"'{c}' ({reason}; its weight {weights[c]:.2f} is redistributed)"
             for c, reason in missing.items()]
    warnings.warn(
        f"candidate score: component{'s' if len(parts) > 1 else ''} unavailable: "
        + "; ".join(parts) + ". The other components' weights are scaled up in proportion "
        "(set the weight to 0 to leave a component out on purpose, without this warning)",
        ComponentUnavailableWarning, stacklevel=stacklevel)


def regional_figures(regions: pd.DataFrame, lab: pd.Series, area: pd.Series) -> pd.DataFrame:
    """Per region (index = the groups of *lab*): :data:`RAW_COLUMNS`, NaN where the
    territory columns are absent.

    ``value_chain_share`` = Σ ``value_chain_weight`` / Σ ``value_chain_weight_total`` when
    both columns exist (weighted), else Σ ``value_chain_deposits`` / Σ ``value_chain_total``
    (or Σ ``count`` without it): a share of the region, not a mean of shares;
    ``knowledge_log_mean`` = Σ area · log(1 + knowledge_potential) / Σ area (NaN potential
    counts as 0); ``projects``, ``investment``, ``project_jobs`` = sums.
    """
    cols = regions.columns
    parts = pd.DataFrame(index=regions.index)
    if "value_chain_deposits" in cols:
        weighted = "value_chain_weight" in cols and "value_chain_weight_total" in cols
        num = regions["value_chain_weight" if weighted else "value_chain_deposits"]
        den = regions["value_chain_weight_total" if weighted else
                      "value_chain_total" if "value_chain_total" in cols else "count"]
        parts["_vc_num"] = num.astype(float).fillna(0)
        parts["_vc_den"] = den.astype(float).fillna(0)
    if "knowledge_potential" in cols:
        kp = regions["knowledge_potential"].astype(float).clip(lower=0).fillna(0)
        parts["_k"] = np.log1p(kp) * area
        parts["_a"] = area
    for c in ("projects", "investment", "project_jobs"):
        if c in cols:
            parts[c] = regions[c].astype(float).fillna(0)
    sums = parts.groupby(lab.to_numpy()).sum()
    out = pd.DataFrame(index=sums.index, columns=list(RAW_COLUMNS), dtype=float)
    if "_vc_num" in sums:
        out["value_chain_share"] = sums["_vc_num"] / sums["_vc_den"].where(sums["_vc_den"] > 0)
    if "_k" in sums:
        out["knowledge_log_mean"] = sums["_k"] / sums["_a"]
    for c in ("projects", "investment", "project_jobs"):
        if c in sums:
            out[c] = sums[c]
    return out


def _max_scale(v: pd.Series) -> pd.Series:
    top = v.max()
    return v / top if top > 0 else v * 0.0


def components(raw: pd.DataFrame, ranked: pd.Series, absent: set[str]) -> pd.DataFrame:
    """The three components in [0, 1] for the *ranked* regions (maxima over them); NaN for
    the others and for the *absent* components.

    - ``value_chain`` = ``value_chain_share``;
    - ``knowledge`` = ``knowledge_log_mean`` / its maximum;
    - ``investment`` = ½ · log(1 + investment) / its maximum + ½ · log(1 + project_jobs) /
      its maximum.
    """
    r = raw[ranked]
    out = pd.DataFrame(index=raw.index, columns=list(INNOVATION_COMPONENTS), dtype=float)
    if "value_chain" not in absent:
        out.loc[ranked, "value_chain"] = r["value_chain_share"].fillna(0.0)
    if "knowledge" not in absent:
        out.loc[ranked, "knowledge"] = _max_scale(r["knowledge_log_mean"])
    if "investment" not in absent:
        out.loc[ranked, "investment"] = (0.5 * _max_scale(np.log1p(r["investment"]))
                                         + 0.5 * _max_scale(np.log1p(r["project_jobs"])))
    return out


def absent_inputs(regions: pd.DataFrame) -> set[str]:
    """Innovation components whose territory columns are absent or empty (any weight)."""
    return {c for c, cols in INPUTS.items()
            if any(k not in regions.columns or regions[k].isna().all() for k in cols)}


def _names(frame: pd.DataFrame, group: str, name: str, top: int = 3) -> pd.Series:
    """Distinct *name* values per *group*, in order of appearance, ``"A, B, C +2"``."""
    uniq = frame.drop_duplicates([group, name])
    uniq = uniq[uniq[name].notna() & (uniq[name].astype(str).str.strip() != "")]
    return uniq.groupby(group, sort=False)[name].agg(
        lambda s: ", ".join(map(str, s.iloc[:top])) + (f" +{len(s) - top}" if len(s) > top
                                                       else ""))


def _kind_text(kinds: pd.Series) -> str:
    """``"2 universities, 1 technopark"`` from one region's distinct institutions' kinds,
    in the order of :data:`_KIND_NAMES` (unknown kinds last, as written)."""
    counts = kinds.astype(str).value_counts()
    order = [k for k in _KIND_NAMES if k in counts.index] + sorted(
        k for k in counts.index if k not in _KIND_NAMES)
    words = []
    for k in order:
        one, many = _KIND_NAMES.get(k, (k.replace("_", " "), k.replace("_", " ")))
        n = int(counts[k])
        words.append(f"{n} {one if n == 1 else many}")
    return ", ".join(words)


def link_figures(links: Mapping[str, pd.DataFrame] | None, territory_region: pd.Series,
                 index: pd.Index) -> pd.DataFrame:
    """Figures per region (*index*) from *links*: distinct plants and institutions within
    reach of the region's deposits / territories.

    *links* ``"plants"``: :func:`minespace.value_chain_links` rows plus ``territory_id``
    (the deposit's territory); ``"institutions"``: :func:`minespace.knowledge_links` rows
    (``territory_id`` = origin). *territory_region* maps territory ids to regions.
    Returns the :data:`LINK_COLUMNS` present (counts 0 where a region has no link).
    """
    out = pd.DataFrame(index=index)
    if not links:
        return out
    unknown = set(links) - {"plants", "institutions"}
    if unknown:
        raise ValueError(f"links: unknown key(s) {sorted(unknown)}; expected 'plants' "
                         "and/or 'institutions'")
    need = {"plants": ["territory_id", "facility_id", "facility_name", "value_chain"],
            "institutions": ["territory_id", "institution_id", "institution_name", "kind"]}
    for key, frame in links.items():
        missing = [c for c in need[key] if c not in frame.columns]
        if missing:
            raise KeyError(f"links[{key!r}] lacks column(s) {missing}; it needs {need[key]}")
    region_of = territory_region.astype(object)
    if "plants" in links:
        p = links["plants"].assign(_r=links["plants"]["territory_id"].map(region_of))
        p = p[p["_r"].notna()]
        plants = p.drop_duplicates(["_r", "facility_id"])
        out["plants_within"] = plants.groupby("_r").size().reindex(index).fillna(0).astype(int)
        out["plant_names"] = _names(plants, "_r", "facility_name").reindex(index).fillna("")
        inputs = plants.assign(value_chain=plants["value_chain"].astype(str)
                               .str.split(";")).explode("value_chain")
        inputs["value_chain"] = inputs["value_chain"].str.replace("_", " ")
        out["plant_inputs"] = _names(inputs, "_r", "value_chain", top=99).reindex(
            index).fillna("")
    if "institutions" in links:
        q = links["institutions"]
        q = q.assign(_r=q["territory_id"].map(region_of))
        q = q[q["_r"].notna()].drop_duplicates(["_r", "institution_id"])
        out["institutions_within"] = q.groupby("_r").size().reindex(index).fillna(0).astype(int)
        by_kind = q.groupby("_r")["kind"].agg(_kind_text)
        out["institutions_by_kind"] = by_kind.reindex(index).fillna("")
        out["institution_names"] = _names(q, "_r", "institution_name").reindex(index).fillna("")
    return out


def _money(value: float, unit: str | None) -> str:
    """``77.5 bn RUB`` from 77.5 and ``"billion RUB"``."""
    text = f"{value:,.1f}".removesuffix(".0") if value != int(value) else f"{value:,.0f}"
    if not unit:
        return text
    first, _, rest = unit.partition(" ")
    if first in _UNIT_SHORT:
        return f"{text} {_UNIT_SHORT[first]} {rest}".strip()
    return f"{text} {unit}"


def explanations(table: pd.DataFrame, *, value_chain_min: float, knowledge_min: float,
                 investment_unit: str | None, missing: Mapping[str, str],
                 weights: pd.Series) -> pd.Series:
    """One sentence per innovation component, joined, for each row of *table* (the
    scored regions with :data:`RAW_COLUMNS`, ``score__<component>`` and any
    :data:`LINK_COLUMNS`). Components weighted 0 and without data are not mentioned;
    unavailable ones say so."""
    if table.empty:
        return pd.Series([], index=table.index, dtype=object)
    texts = pd.Series("", index=table.index, dtype=object)
    for comp in INNOVATION_COMPONENTS:
        score = table["score__" + comp]
        if comp in missing:
            texts += (f" {comp.replace('_', ' ').capitalize()}: unavailable "
                      f"({_ABSENT[comp]}; its weight went to the other components).")
            continue
        if score.isna().all() and weights[comp] <= 0:
            continue
        s = score.map("{:.2f}".format)
        if comp == "value_chain":
            part = (" Value chain " + s + ": " + table["value_chain_share"].map("{:.0%}".format)
                    + f" of the deposits within {value_chain_min:g} min of a processing plant"
                    " taking their output")
            if "plants_within" in table:
                n = table["plants_within"]
                plants = (n.astype(str) + np.where(n == 1, " processing plant", " processing"
                                                   " plants") + " taking "
                          + table["plant_inputs"] + " (" + table["plant_names"] + ")")
                part += np.where(n > 0, "; " + plants, "; no processing plant")
            texts += part + "."
        elif comp == "knowledge":
            part = " Knowledge " + s + ": "
            if "institutions_within" in table:
                n = table["institutions_within"]
                part += pd.Series(np.where(
                    n > 0, table["institutions_by_kind"] + f" within {knowledge_min:g} min ("
                    + table["institution_names"] + "); ",
                    f"no institution within {knowledge_min:g} min; "), index=table.index)
            texts += (part + "mean log(1 + knowledge potential) "
                      + table["knowledge_log_mean"].map("{:.2f}".format)
                      + ", relative to the best-served candidate.")
        else:
            n = table["projects"].fillna(0).astype(int) if "projects" in table else None
            proj = (n.astype(str) + np.where(n == 1, " project, ", " projects, ")
                    if n is not None else "")
            figures = (proj + table["investment"].map(lambda v: _money(v, investment_unit))
                       + ", " + table["project_jobs"].map("{:,.0f}".format) + " jobs")
            if n is not None:
                figures = figures.where(n > 0, "no located investment project")
            texts += " Investment " + s + ": " + figures + "."
    return texts
