"""The ``innovation`` stage: value chain, knowledge and investment per territory.

Needs the load, territories and accessibility stages. Routes over the corridor network
(built again from the corridors with the ``[accessibility]`` parameters, as the
accessibility stage does: a network object is not a stage output). A layer that is
absent (no facilities with a value-chain input, no institutions, no placed project)
leaves its columns out of the territory table: the clusters stage then reports that
component unavailable, with a warning, and the build goes on.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Config

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

__all__ = ["VALUE_CHAIN_COLUMNS", "run_innovation"]

#: Per-deposit columns of the ``value_chain`` output (besides ``territory_id``, geometry).
VALUE_CHAIN_COLUMNS = ("value_chain_facility_id", "value_chain_time_min", "value_chain_within",
                       "value_chain_n_within", "value_chain_method")
_PLANT_LINKS = ("deposit_id", "facility_id", "facility_name", "value_chain", "time_min",
                "territory_id")
_INSTITUTION_LINKS = ("territory_id", "institution_id", "institution_name", "kind", "time_min")


def _plants(loaded: dict) -> gpd.GeoDataFrame | None:
    facilities = loaded.get("facilities")
    if facilities is None or "value_chain" not in facilities.columns:
        return None
    plants = facilities[facilities["value_chain"].notna()]
    return plants if len(plants) else None


def _value_chain(config: Config, loaded: dict, territories, network
                 ) -> tuple[pd.DataFrame | None, gpd.GeoDataFrame | None, pd.DataFrame]:
    """(territory columns, per-deposit table -- both None without plants --, links)."""
    import pandas as pd

    from .. import territories as terr
    from ..value_chain import _access_and_links, value_chain_summary

    plants = _plants(loaded)
    if plants is None:   # no per-deposit table of NaN (a million rows at scale)
        links = pd.DataFrame({c: pd.Series(dtype=float if c == "time_min" else object)
                              for c in _PLANT_LINKS})
        return None, None, links
    keep = ["territory_id", "geometry"]
    deposits = terr.assign_deposits(territories, loaded["deposits"])
    ic, ac = config.innovation, config.accessibility
    kw = dict(corridors=network, threshold_min=ic.value_chain_min,
              fallback_speed_kmh=ic.fallback_speed_kmh, access_speed_kmh=ac.access_speed_kmh,
              matches=ic.matches or None)
    access, links = _access_and_links(deposits, plants, **kw)   # one travel-time matrix
    links["territory_id"] = links["deposit_id"].map(deposits["territory_id"]).astype(object)
    summary = value_chain_summary(territories, access, weight=config.concentration.weight)
    cols = [c for c in ("value_chain_deposits", "value_chain_total", "value_chain_weight",
                        "value_chain_weight_total", "value_chain_share")
            if c in summary.columns]
    return pd.DataFrame(summary[cols]), access[keep + list(VALUE_CHAIN_COLUMNS)], links


def _knowledge(config: Config, loaded: dict, territories, network, population
               ) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """(territory columns or None, links)."""
    import pandas as pd

    from .. import accessibility as acc
    from ..knowledge import _straight_minutes, knowledge_access, knowledge_links

    inst = loaded.get("institutions")
    if inst is None or not len(inst):
        links = pd.DataFrame({c: pd.Series(dtype=float if c == "time_min" else object)
                              for c in _INSTITUTION_LINKS})
        return None, links
    ic, ac = config.innovation, config.accessibility
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cost = acc.travel_time_matrix(territories, inst, network,
                                      access_speed_kmh=ac.access_speed_kmh,
                                      population=population)
    gaps = cost.isna().to_numpy()
    if gaps.any():
        # pairs the network leaves apart: straight line at fallback_speed_kmh, so the
        # travel-time matrix's "reach no destination" warning does not apply here
        line = _straight_minutes(territories, inst, ic.fallback_speed_kmh, "innovation")
        cost = cost.where(~gaps, line.to_numpy())
    for w in caught:
        if not gaps.any() or "reach any destination" not in str(w.message):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    kinds = ic.kind_weights or None
    access = knowledge_access(territories, inst, beta=ac.beta, decay=ac.decay, cost=cost,
                              kind_weights=kinds, threshold_min=ic.knowledge_min)
    links = knowledge_links(territories, inst, cost, threshold_min=ic.knowledge_min)
    return pd.DataFrame(access[["knowledge_potential", "institutions_within"]]), links


def _investment(loaded: dict, territories) -> tuple[pd.DataFrame | None, dict]:
    """(territory columns or None when no project is placed, unplaced record)."""
    import pandas as pd

    from ..investment import investment_totals

    projects = loaded.get("projects")
    if projects is None or not len(projects):
        return None, {"count": 0, "investment": 0.0}
    unplaced = (projects["location"] == "unplaced" if "location" in projects.columns
                else projects.geometry.isna() | projects.geometry.is_empty)
    record: dict[str, Any] = {"count": int(unplaced.sum()),
                              "investment": float(projects.loc[unplaced, "investment"].sum())}
    for col, key in (("currency", "currency"), ("investment_unit", "unit")):
        if col in projects.columns:
            values = sorted(map(str, projects[col].dropna().unique()))
            record[key] = values[0] if len(values) == 1 else values
    if unplaced.all():
        return None, record
    placed = projects[~unplaced.to_numpy()]
    totals = investment_totals(territories, placed)
    out = pd.DataFrame(totals[["projects", "investment", "project_jobs"]])
    out.attrs["investment_unit"] = totals.attrs.get("investment_unit")
    return out, record


def run_innovation(config: Config, inputs: dict, workdir: Path) -> dict[str, Any]:
    """The stage function (see :data:`minespace.pipeline.stages.STAGES`).

    Outputs: ``innovation`` (territories with the columns of
    :func:`~minespace.value_chain_summary`, :func:`~minespace.knowledge_access` and
    :func:`~minespace.investment_totals` whose layers are present), ``value_chain``
    (per deposit: the nearest matching plant, time, within; only with plants),
    ``value_chain_links``
    (deposit-plant pairs within ``value_chain_min``, with the deposit's
    ``territory_id``), ``knowledge_links`` (territory-institution pairs within
    ``knowledge_min``). The located projects are the load stage's ``projects`` output.
    The manifest records the absent layers and the unplaced projects.
    """
    import geopandas as gpd

    from .. import accessibility as acc
    from .stages import _input_raster

    loaded = inputs["load"]
    territories = inputs["territories"]["territories"]
    ac = config.accessibility
    needs_network = _plants(loaded) is not None or (
        loaded.get("institutions") is not None and len(loaded["institutions"]))
    network = (acc.build_network(loaded["corridors"], speeds_kmh=ac.speeds or None,
                                 snap_m=ac.snap_m) if needs_network else None)
    population = None
    if loaded.get("institutions") is not None and len(loaded["institutions"]):
        population, _ = _input_raster(config, "population", territories.crs,
                                      tuple(territories.total_bounds))
    vc, per_deposit, plant_links = _value_chain(config, loaded, territories, network)
    kn, inst_links = _knowledge(config, loaded, territories, network, population)
    inv, unplaced = _investment(loaded, territories)
    table = gpd.GeoDataFrame(territories[["geometry"]].copy())
    absent = {}
    for name, part, why in (
            ("value_chain", vc, "no facility with a value-chain input (value_chain column)"),
            ("knowledge", kn, "no institutions layer"),
            ("investment", inv, "no projects layer" if unplaced["count"] == 0 and inv is None
             else "no project could be placed")):
        if part is None:
            absent[name] = why
        else:
            table = table.join(part)
    if inv is not None:
        table.attrs["investment_unit"] = inv.attrs.get("investment_unit")
    out: dict[str, Any] = {"innovation": table, "value_chain_links": plant_links,
                           "knowledge_links": inst_links,
                           "_manifest": {"absent": absent, "unplaced_projects": unplaced}}
    if per_deposit is not None:
        out["value_chain"] = per_deposit
    return out
