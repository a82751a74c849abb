"""The Kuzbass (Kemerovo Oblast) sample: real open data, see ``SOURCES.md``."""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .._checks import SOURCE_ATTR
from ..crs import choose_metric_crs
from ..io.readers import read_agglomerations, read_corridors, read_deposits, read_facilities
from ..io.readers_extra import read_institutions, read_projects
from ..region import Region
from ._files import KUZBASS_ATTRIBUTION, kuzbass_dir

__all__ = ["KUZBASS_ATTRIBUTION", "kuzbass", "kuzbass_dir"]

#: English names of the 20 Kuzbass cities (our transliteration).
CITY_NAMES_EN = {
    "Новокузнецк": "Novokuznetsk", "Кемерово": "Kemerovo", "Прокопьевск": "Prokopyevsk",
    "Междуреченск": "Mezhdurechensk", "Ленинск-Кузнецкий": "Leninsk-Kuznetsky",
    "Киселевск": "Kiselyovsk", "Юрга": "Yurga", "Белово": "Belovo",
    "Анжеро-Судженск": "Anzhero-Sudzhensk", "Березовский": "Beryozovsky",
    "Осинники": "Osinniki", "Мыски": "Myski", "Мариинск": "Mariinsk", "Топки": "Topki",
    "Полысаево": "Polysayevo", "Тайга": "Tayga", "Гурьевск": "Guryevsk",
    "Таштагол": "Tashtagol", "Калтан": "Kaltan", "Салаир": "Salair",
}

#: GCMT coal grades -> commodity labels used in the sample.
COAL_GRADES = {"met": "coking_coal", "thermal": "thermal_coal",
               "thermal_met": "thermal_coking_coal", "thermal_and_met": "thermal_coking_coal",
               "unknown": "coal_unknown_grade"}

#: A city joins an urban-area polygon when it lies within this distance of it.
URBAN_JOIN_M = 3000.0


def kuzbass(*, crs: object = "auto") -> Region:
    """The bundled Kuzbass (Kemerovo Oblast) sample region.

    Layers (all real open data; licences and attribution in ``SOURCES.md`` and
    ``region.attribution``):

    - ``deposits``: 141 coal mines of the Global Coal Mine Tracker inside the
      oblast, all statuses (filter on ``status`` for operating mines). Columns
      ``commodity`` (``coking_coal``, ``thermal_coal``, ``thermal_coking_coal``,
      ``coal_unknown_grade``), ``method`` (``open_pit``/``underground``),
      ``activity`` (commodity and method combined: the default specialization
      split), weights ``output_mt`` (production, Mt/yr), ``capacity_mt``,
      ``reserves_mt``, ``jobs`` (workforce); NaN where the tracker has no value.
    - ``agglomerations``: the 20 cities, grouped by Natural Earth urban-area
      polygon (a city within 3 km of a polygon joins it; the population is the
      sum); cities without a polygon get the density disc of
      :func:`minespace.read_agglomerations` (2,000 people/km2).
    - ``corridors``: 27 rail lines (station-chained) and 6 roads (town-chained
      schematics: see ``geometry_quality``; do not measure road lengths on them).
    - ``facilities``: the 14 power, steel and iron-ore facilities in the oblast
      (Global Energy Monitor trackers) and the 13 processing plants compiled for the
      innovation cluster (coke, chemicals, coal preparation, ferroalloys...: ids
      ``K01``...), one layer of 27 with ``value_chain`` (the plants' own, else by
      kind: power plants thermal coal, the steel plant coking coal and iron ore;
      iron-ore mines none).
    - ``institutions``: 20 universities, branches, research centres, technoparks,
      an education centre and economic zones. The file has 21: ``I10`` (Kemerovo
      Scientific Center SB RAS) is left out because, as ``SOURCES.md`` says, it
      probably overlaps ``I09`` (the Federal Research Center of Coal and Coal
      Chemistry, organised with it) and only one of the two should be counted.
    - ``neighbours``: the surrounding regions.
    - ``projects``: Table 1 of the cluster's 12 investment projects (billion RUB),
      located with what is known: ``P01`` at its mine (deposit ``M0804``), ``P11``
      in Belovo (its ``location_hint`` is exactly a town name, copied to ``town``);
      the other 10 are kept unplaced, reported in ``projects.attrs["unplaced"]``.

    Parameters
    ----------
    crs : "auto" or CRS-like
        Metric CRS; ``"auto"`` gives UTM zone 45N (EPSG:32645).

    Returns
    -------
    Region

    Examples
    --------
    >>> import minespace as ms
    >>> region = ms.datasets.kuzbass()
    >>> len(region.deposits), len(region.agglomerations), region.crs.to_epsg()
    (141, 19, 32645)
    >>> region.deposits["method"].value_counts().to_dict()
    {'open_pit': 83, 'underground': 58}
    >>> len(region.facilities), len(region.institutions)
    (27, 20)
    >>> region.projects["location"].value_counts().to_dict()
    {'unplaced': 10, 'deposit': 1, 'town': 1}
    >>> region.projects.attrs["unplaced"]
    {'count': 10, 'investment': 152.0, 'currency': 'RUB', 'unit': 'billion'}
    """
    return _load(str(crs))


@lru_cache(maxsize=4)
def _cached(crs: str) -> Region:
    d = kuzbass_dir()
    mines = gpd.read_file(d / "coal_mines_gcmt.geojson", engine="pyogrio")
    # GCMT lists a mine once per unit (operating + expansion): number the repeats
    unit = mines.groupby("gem_mine_id").cumcount()
    mines.insert(0, "deposit_id", mines["gem_mine_id"].where(
        unit == 0, mines["gem_mine_id"] + "-" + (unit + 1).astype(str)))
    deposits = read_deposits(
        mines, id="deposit_id", name="mine_name",
        commodity="coal_grade", status="status", method="mine_type",
        weight={"output_mt": "production_mtpa", "capacity_mt": "capacity_mtpa",
                "reserves_mt": "reserves_mt", "jobs": "workforce"})
    deposits = deposits[deposits["in_region_derived"].astype(bool)].copy()
    deposits["commodity"] = deposits["commodity"].map(lambda g: COAL_GRADES.get(g, g))
    deposits.insert(2, "activity", deposits["commodity"] + "_" + deposits["method"])
    boundary = gpd.read_file(d / "region_boundary.geojson", engine="pyogrio")
    corridors = read_corridors(d / "corridors.geojson", kind="kind", name="name_en")
    facilities = read_facilities(d / "facilities.geojson", kind="kind", capacity="capacity",
                                 status="status")
    facilities = facilities[facilities["in_region_derived"].astype(bool)].copy()
    plants = read_facilities(d / "processing_plants.geojson", id="plant_id", kind="kind",
                             value_chain="value_chain", status="status")
    facilities = pd.concat([facilities, plants])
    facilities.attrs[SOURCE_ATTR] = "facilities.geojson, processing_plants.geojson"
    # I10 probably overlaps I09 (SOURCES.md: "count only one of them")
    institutions = read_institutions(d / "institutions.geojson").drop(index="I10")
    neighbours = gpd.read_file(d / "neighbour_regions.geojson", engine="pyogrio")
    neighbours = neighbours[neighbours["iso_3166_2"] != "RU-KEM"].reset_index(drop=True)
    agglomerations = _agglomerations(d)
    projects = read_projects(d / "projects_table1.csv")   # deposit_id from gem_mine_id
    hint = projects["location_hint"]
    projects["town"] = hint.where(hint.isin(list(CITY_NAMES_EN.values())), np.nan)
    return Region.from_layers(
        deposits=deposits, agglomerations=agglomerations, corridors=corridors,
        boundary=boundary, facilities=facilities, neighbours=neighbours, projects=projects,
        institutions=institutions, crs=crs, name="Kuzbass (Kemerovo Oblast)",
        attribution=KUZBASS_ATTRIBUTION)


def _load(crs: str) -> Region:
    region = _cached(crs)
    # hand out copies: the cached layers must never be changed by a caller
    return region.to_crs(region.crs)


def _agglomerations(d: Path) -> gpd.GeoDataFrame:
    cities = gpd.read_file(d / "cities.geojson", engine="pyogrio")
    urban = gpd.read_file(d / "ne_urban_areas_50m.geojson", engine="pyogrio")
    metric = choose_metric_crs(cities)
    cities_m = cities.to_crs(metric)
    urban_m = urban.to_crs(metric).reset_index(drop=True)
    joined = gpd.sjoin_nearest(cities_m, urban_m[["geometry"]], how="left",
                               max_distance=URBAN_JOIN_M, distance_col="dist_m")
    joined = joined[~joined.index.duplicated(keep="first")]
    joined["name_en"] = joined["name"].map(CITY_NAMES_EN).fillna(joined["name"])
    joined = joined.sort_values("population", ascending=False)
    with_poly = joined[joined["index_right"].notna()]
    groups = with_poly.groupby("index_right", sort=False)
    rows = pd.DataFrame({
        "name": groups["name_en"].agg(" – ".join),
        "name_local": groups["name"].agg(" – ".join),
        "population": groups["population"].sum(),
        "n_cities": groups.size(),
    })
    poly = gpd.GeoDataFrame(rows, geometry=urban_m.geometry.loc[rows.index.astype(int)].values,
                            crs=metric)
    lone = joined[joined["index_right"].isna()]
    points = gpd.GeoDataFrame({"name": lone["name_en"].to_numpy(),
                               "name_local": lone["name"].to_numpy(),
                               "population": lone["population"].to_numpy(),
                               "n_cities": np.ones(len(lone), dtype=int)},
                              geometry=lone.geometry.to_numpy(), crs=metric)
    combined = pd.concat([poly.reset_index(drop=True), points], ignore_index=True)
    combined = combined.sort_values("population", ascending=False, ignore_index=True)
    combined["agglomeration_id"] = [f"AG{i + 1:02d}" for i in range(len(combined))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return read_agglomerations(combined, id="agglomeration_id").to_crs(4326)
