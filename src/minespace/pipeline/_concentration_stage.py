"""The ``concentration`` stage: counts, location quotients, specialization, concentration,
Gi* hot spots and the deposit density raster.

With ``[engine] kind = "dask"`` the deposits are handed to Dask once; they are assigned to
the territories and reduced to per-territory x category sums on the cluster
(:func:`minespace.scale.aggregate`, one pass), the metrics are computed in memory from that
table, and the kernel density is computed by overlapping tiles from the deposits assigned
lazily (:func:`minespace.density.kernel_density_geotiff`), with the same results
(``docs/scale.md``, *The pipeline on Dask*). The stage's manifest record lists which step
ran where (``engine_steps``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import Config

__all__ = ["run_concentration"]

STEP_AGGREGATE = "assign and aggregate deposits"
STEP_DENSITY = "kernel density"


def run_concentration(config: Config, inputs: dict, workdir: Path) -> dict[str, Any]:
    from .. import concentration as con
    from .. import density, hotspots
    from .. import territories as terr
    from ._engine import aggregate_deposits, current, dask_deposits, density_deposits

    deposits = inputs["load"]["deposits"]
    territories = inputs["territories"]["territories"]
    cc = config.concentration
    by = list(cc.by) if len(cc.by) > 1 else cc.by[0]
    steps: dict[str, str] = {}
    session = current()
    inside = None   # the assigned deposits with a weight (pandas engine)
    if session.kind == "dask":
        lazy = dask_deposits(config, deposits)
        counts, measured = aggregate_deposits(config, territories, lazy)
        steps[STEP_AGGREGATE] = "dask"
        measure = cc.weight or "count"   # the reduced tables' measure column
        out = con.totals(territories, counts, by=by, weight="count")
        if cc.weight is not None:
            out = con.totals(out, measured, by=by, weight=cc.weight)
        out = con.location_quotient(out, measured, by=by, weight=measure)
        out = con.specialization(out, measured, by=by, weight=measure)
        table = con._table_concentration(territories, measured, by, cc.weight)
    else:
        assigned = terr.assign_deposits(territories, deposits)
        steps[STEP_AGGREGATE] = "pandas"
        inside = _weighted(config, assigned[assigned["territory_id"].notna()])
        # deposit counts always (clustering uses them), weighted totals on top when asked
        out = con.totals(territories, assigned[assigned["territory_id"].notna()], by=by)
        if cc.weight is not None:
            out = con.totals(out, inside, by=by, weight=cc.weight)
        out = con.location_quotient(out, inside, by=by, weight=cc.weight)
        out = con.specialization(out, inside, by=by, weight=cc.weight)
        table = con.concentration(territories, inside, by=by, weight=cc.weight)
    measure = cc.weight if cc.weight is not None else "count"
    # Gi* over a distance band (default three cell widths for generated grids): with
    # sparse deposits, first-order contiguity has too little power once FDR is applied
    # (Kuzbass, 15 km hexagons, permutations="auto": queen 2 hot spots, 45 km band 48)
    band = cc.hotspot_band_km or (3 * config.territories.cell_km
                                  if config.territories.kind != "polygons" else None)
    w = (terr.distance_band(out, distance_km=band, max_memory_gb=config.max_memory_gb)
         if band else None)
    out = hotspots.getis_ord(out, measure, w=w, permutations=cc.permutations,
                             alpha=cc.alpha, random_state=cc.random_state)
    inference = {"statistic": "Gi*", "column": measure,
                 "weights": f"distance band {band:g} km" if band else "queen contiguity",
                 **out.attrs["inference"]["getis_ord"]}
    (workdir / "rasters").mkdir(parents=True, exist_ok=True)
    path = workdir / "rasters" / "deposit_density.tif"
    if inside is None:   # by overlapping tiles on the cluster, from the lazy deposits
        raster = density.kernel_density_geotiff(
            density_deposits(config, territories, lazy), path, weight=cc.weight,
            mask=inputs["load"]["boundary"], **session.kwargs())
        steps[STEP_DENSITY] = "dask"
    else:
        grid = density.kernel_density(inside, weight=cc.weight,
                                      mask=inputs["load"]["boundary"],
                                      max_memory_gb=config.max_memory_gb)
        raster = grid.to_geotiff(path)
        steps[STEP_DENSITY] = "pandas"
    return {"concentration": out, "commodity_concentration": table, "density_raster": raster,
            "_manifest": {"inference": inference, **engine_record(steps)}}


def _weighted(config: Config, deposits):
    weight = config.concentration.weight
    return deposits if weight is None else deposits[deposits[weight].notna()]


def engine_record(steps: dict[str, str]) -> dict[str, Any]:
    """The manifest's engine entries of a stage: ``engine`` ("dask" when a step ran on
    Dask) and ``engine_steps`` (step -> engine)."""
    return {"engine": "dask" if "dask" in steps.values() else "pandas",
            "engine_steps": dict(steps)}
