"""The candidate dossier in Python: hand-built layers, expected rows written by hand."""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import minespace as ms
from minespace.maps.dossier import dossier_cards

CRS = 32645
X0, Y0 = 500_000.0, 6_000_000.0


def _pt(x, y):
    return shapely.Point(X0 + x, Y0 + y)


def with_layers(region: ms.Region, **layers) -> ms.Region:
    """*region* with extra layers (``institutions`` before Region has the field)."""
    try:
        return dataclasses.replace(region, **layers)
    except TypeError:
        inst = layers.pop("institutions", None)
        out = dataclasses.replace(region, **layers)
        object.__setattr__(out, "institutions", inst)
        return out


@pytest.fixture
def region() -> ms.Region:
    """Candidate A = the 10 km square at the origin, B = the square east of it."""
    boundary = gpd.GeoDataFrame(geometry=[shapely.box(X0 - 5e3, Y0 - 5e3, X0 + 40e3,
                                                      Y0 + 15e3)], crs=CRS)
    deposits = gpd.GeoDataFrame(
        {"name": [f"mine {i}" for i in range(1, 7)],
         "commodity": ["coking_coal", "coking_coal", "thermal_coal", "thermal_coal",
                       "iron_ore", "coking_coal"]},
        geometry=[_pt(1e3, 1e3), _pt(2e3, 2e3), _pt(3e3, 3e3), _pt(15e3, 5e3),
                  _pt(16e3, 5e3), _pt(30e3, 5e3)], crs=CRS,
        index=pd.Index([f"D{i}" for i in range(1, 7)], name="deposit_id"))
    aggl = gpd.GeoDataFrame({"name": ["Alpha"], "population": [1000.0]},
                            geometry=[shapely.box(X0 + 1e3, Y0 + 1e3, X0 + 2e3, Y0 + 2e3)],
                            crs=CRS, index=pd.Index(["A1"], name="agglomeration_id"))
    corr = gpd.GeoDataFrame({"kind": ["rail"]},
                            geometry=[shapely.LineString([(X0, Y0), (X0 + 3e4, Y0)])], crs=CRS,
                            index=pd.Index(["C1"], name="corridor_id"))
    fac = gpd.GeoDataFrame(
        {"name": ["Koks <&>", "GRES", "Ore mine"], "kind": ["coke_plant", "power_plant",
                                                          "iron_ore_mine"],
         "value_chain": ["coking_coal", "thermal_coal", np.nan]},
        geometry=[_pt(5e3, 5e3), _pt(15e3, 2e3), _pt(12e3, 8e3)], crs=CRS,
        index=pd.Index(["F1", "F2", "F3"], name="facility_id"))
    inst = gpd.GeoDataFrame(
        {"name": ["Uni", "Technopark"], "kind": ["university", "technopark"],
         "field": ["mining", np.nan], "size": [np.nan, np.nan], "size_unit": [np.nan, np.nan]},
        geometry=[_pt(4e3, 6e3), _pt(25e3, 5e3)], crs=CRS,
        index=pd.Index(["I1", "I2"], name="institution_id"))
    proj = gpd.GeoDataFrame(
        {"name": ["P one", "P two", "P three"], "category": ["coal chemistry", "other", "x"],
         "investment": [12.5, 2.0, 3.0], "currency": ["RUB"] * 3,
         "investment_unit": ["billion"] * 3, "jobs": [300.0, np.nan, 10.0],
         "year": pd.array([2024, pd.NA, 2030], dtype="Int64"),
         "deposit_id": ["D2", np.nan, np.nan], "town": [np.nan, np.nan, "Nowhere"],
         "location": ["deposit", "coordinates", "unplaced"],
         "location_note": [np.nan, np.nan, "town 'Nowhere' not found"]},
        geometry=[_pt(2e3, 2e3), _pt(18e3, 1e3), None], crs=CRS,
        index=pd.Index(["P1", "P2", "P3"], name="project_id"))
    proj.attrs["unplaced"] = {"count": 1, "investment": 3.0, "currency": "RUB",
                              "unit": "billion"}
    base = ms.Region(name="Test", boundary=boundary, deposits=deposits, agglomerations=aggl,
                     corridors=corr, facilities=fac, projects=proj)
    return with_layers(base, institutions=inst)


@pytest.fixture
def candidates() -> gpd.GeoDataFrame:
    c = gpd.GeoDataFrame(
        {"rank": [1, 2], "score": [0.7, 0.4], "label": ["A: coking coal", "B: iron"],
         "members": ["T1, T2", "T3"], "places": ["Alpha district", ""],
         "towns": ["Alpha", ""], "activity_mix": ["coking coal 67% · thermal coal 33%", ""],
         "explanation": ["Rank 1 because.", "Rank 2."],
         "score__concentration": [0.5, 0.25], "score__knowledge": [np.nan, 0.25],
         "score__investment": [np.nan, np.nan], "deposits": [3, 2]},
        geometry=[shapely.box(X0, Y0, X0 + 1e4, Y0 + 1e4),
                  shapely.box(X0 + 1e4, Y0, X0 + 2e4, Y0 + 1e4)], crs=CRS,
        index=pd.Index(["R7", "R3"], name="region_id"))
    c.attrs["unavailable"] = {"investment": "no projects layer"}
    c.attrs["weights"] = {"concentration": 0.5, "knowledge": 0.5}
    return c


def _rows(table: pd.DataFrame, section: str) -> list[list]:
    return table.loc[table["section"] == section, ["item", "value"]].values.tolist()


def test_dossier_spatial(region, candidates):
    before = (candidates.copy(), region.deposits.copy(), region.facilities.copy())
    d = ms.maps.candidate_dossier(candidates, region)
    assert list(d) == ["R7", "R3"]                       # rank order, keys = the index
    a, b = d["R7"], d["R3"]
    assert list(a.columns) == ["section", "item", "value"]
    assert set(a["section"]) <= set(ms.maps.dossier.SECTIONS)
    assert _rows(a, "candidate")[:4] == [["rank", 1], ["id", "R7"], ["label", "A: coking coal"],
                                         ["score", 0.7]]
    assert _rows(a, "members") == [["territories", "T1, T2"], ["places", "Alpha district"],
                                   ["towns", "Alpha"]]
    assert _rows(b, "members") == [["territories", "T3"]]  # empty places/towns left out
    score = dict(_rows(a, "score"))
    assert score["concentration"] == 0.5
    # unavailable is said, never 0
    assert score["knowledge"] == "unavailable" and score["investment"] == "unavailable"
    assert score["coherence"] == "unavailable"   # no column at all
    assert dict(_rows(b, "score"))["knowledge"] == 0.25
    # D1, D2 coking and D3 thermal lie in A; D4 thermal and D5 iron ore in B; D6 in none
    assert _rows(a, "mines") == [["activity mix", "coking coal 67% · thermal coal 33%"],
                                 ["coking coal", 2], ["thermal coal", 1]]
    assert _rows(b, "mines") == [["iron ore", 1], ["thermal coal", 1]]
    # plants: facilities with a value chain inside (the ore mine F3 is not one)
    assert _rows(a, "plants") == [["Koks <&>", "coking coal · coke plant · inside"]]
    assert _rows(b, "plants") == [["GRES", "thermal coal · power plant · inside"]]
    assert _rows(a, "institutions") == [["Uni", "university · mining · inside"]]
    assert _rows(b, "institutions") == []
    assert _rows(a, "projects") == [
        ["P one", "coal chemistry · 12.5 billion RUB · 300 jobs · 2024 · placed by deposit"]]
    assert _rows(b, "projects") == [["P two", "other · 2 billion RUB · placed by coordinates"]]
    gaps_a = _rows(a, "data gaps")
    assert gaps_a == [
        ["unavailable: coherence", "not computed for any candidate (its input layer is missing)"],
        ["unavailable: agglomeration_access",
         "not computed for any candidate (its input layer is missing)"],
        ["unavailable: corridor_access",
         "not computed for any candidate (its input layer is missing)"],
        ["unavailable: diversification",
         "not computed for any candidate (its input layer is missing)"],
        ["unavailable: value_chain", "not computed for any candidate (its input layer is missing)"],
        ["unavailable: knowledge", "not computed for this candidate"],
        ["unavailable: investment", "no projects layer"],
        ["unplaced projects",
         "1 project of the region (3 billion RUB) could not be placed and count in no candidate"],
        ["unplaced: P three", "town 'Nowhere' not found"]]
    assert _rows(a, "explanation") == [["text", "Rank 1 because."]]
    # inputs untouched
    pd.testing.assert_frame_equal(candidates, before[0])
    pd.testing.assert_frame_equal(region.deposits, before[1])
    pd.testing.assert_frame_equal(region.facilities, before[2])


def test_dossier_links_and_membership(region, candidates):
    """With link frames, plants/institutions linked to the member territories (nearest
    time; distinct mines); with deposits' territory_id, mines counted by membership."""
    deposits = region.deposits.assign(territory_id=["T1", "T1", "T2", "T3", "T3", "T2"])
    links = {"plants": pd.DataFrame({"deposit_id": ["D1", "D2", "D4", "D1"],
                                     "facility_id": ["F2", "F2", "F2", "F1"],
                                     "facility_name": ["GRES", "GRES", "GRES", "Koks <&>"],
                                     "value_chain": ["thermal_coal"] * 3 + ["coking_coal"],
                                     "time_min": [30.0, 20.0, 10.0, 5.0],
                                     "territory_id": ["T1", "T1", "T3", "T1"]}),
             "institutions": pd.DataFrame({"territory_id": ["T2", "T1", "T9"],
                                           "institution_id": ["I2", "I2", "I1"],
                                           "institution_name": ["Technopark", "Technopark",
                                                                "Uni"],
                                           "kind": ["technopark", "technopark", "university"],
                                           "time_min": [45.0, 50.0, 1.0]})}
    d = ms.maps.candidate_dossier(candidates, region, deposits=deposits, links=links)
    a, b = d["R7"], d["R3"]
    # D6 lies outside both polygons but in territory T2 of A
    assert _rows(a, "mines")[1:] == [["coking coal", 3], ["thermal coal", 1]]
    assert _rows(a, "plants") == [
        ["Koks <&>", "coking coal · coke plant · within 5 min of 1 mine"],
        ["GRES", "thermal coal · power plant · within 20 min of 2 mines"]]
    assert _rows(b, "plants") == [["GRES", "thermal coal · power plant · within 10 min of 1 mine"]]
    assert _rows(a, "institutions") == [["Technopark", "technopark · within 45 min"]]
    assert _rows(b, "institutions") == []   # T9 is in no candidate
    # a plants frame without territory_id gets it from the deposits
    no_tid = {"plants": links["plants"].drop(columns="territory_id")}
    d2 = ms.maps.candidate_dossier(candidates, region, deposits=deposits, links=no_tid)
    assert _rows(d2["R3"], "plants") == _rows(b, "plants")


def test_dossier_minimal_candidates(region):
    """Only rank and a polygon: every component unavailable, nothing raises."""
    c = gpd.GeoDataFrame({"rank": [1]}, geometry=[shapely.box(X0, Y0, X0 + 1e4, Y0 + 1e4)],
                         crs=CRS)
    no_proj = dataclasses.replace(region, projects=None)
    [t] = ms.maps.candidate_dossier(c, no_proj).values()
    assert {v for _, v in _rows(t, "score")} == {"unavailable"}
    assert not (t["item"] == "unplaced projects").any()
    assert _rows(t, "mines") == [["coking coal", 2], ["thermal coal", 1]]


def test_dossier_legacy_projects_table(region, candidates):
    """The older projects table (project, investment_bn_rub, deposit_id) is placed at its
    deposit; a deposit id not in the deposits is a data gap naming it."""
    table = pd.DataFrame({"project": ["Old one", "Lost"], "category": ["coal chemistry", "y"],
                          "investment_bn_rub": [7.5, 1.0], "jobs_created": [4500.0, np.nan],
                          "implementation_year": [2020.0, np.nan],
                          "deposit_id": ["D1", "D99"]},
                         index=pd.Index(["P01", "P02"], name="project_id"))
    d = ms.maps.candidate_dossier(candidates, dataclasses.replace(region, projects=table))
    assert _rows(d["R7"], "projects") == [
        ["Old one", "coal chemistry · 7.5 billion RUB · 4,500 jobs · 2020 · placed by deposit"]]
    gaps = dict(_rows(d["R3"], "data gaps"))
    assert gaps["unplaced: Lost"] == "deposit id 'D99' not in the deposits"
    assert gaps["unplaced projects"].startswith("1 project of the region (1 billion RUB)")


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs, self.text = set(), [], []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs += [a for a, _ in attrs]

    def handle_data(self, data):
        self.text.append(data)


HOSTILE = '<img src=x onerror="alert(1)"></script><!-- {{ 7*7 }}'


def test_write_dossier_is_self_contained_escaped_and_deterministic(region, candidates,
                                                                   tmp_path):
    cands = candidates.rename(columns={"score__knowledge": "score__" + HOSTILE})
    cands.loc["R7", "label"] = HOSTILE
    cands.attrs = dict(candidates.attrs)
    fac = region.facilities.copy()
    fac.loc["F1", "value_chain"] = HOSTILE
    evil = dataclasses.replace(region, name=HOSTILE, facilities=fac)
    path = ms.maps.write_dossier(cands, evil, tmp_path / "d.html")
    again = ms.maps.write_dossier(cands, evil, tmp_path / "e.html")
    data = path.read_bytes()
    assert data == again.read_bytes()
    text = data.decode("utf-8")
    assert "<script" not in text and "<img" not in text and "<!-- {{" not in text
    assert not re.search(r"(src|href)=\"?(https?:|//)|url\(|@import", text)
    parser = _Tags()
    parser.feed(text)
    assert parser.tags <= {"html", "head", "meta", "title", "style", "body", "header", "h1",
                           "p", "nav", "ol", "li", "a", "main", "article", "h2", "h3", "div",
                           "span", "svg", "rect", "table", "tr", "th", "td"}
    assert not [a for a in parser.attrs if a.startswith("on")]
    shown = "".join(parser.text)
    assert f"#1 {HOSTILE}" in shown and "{{ 7*7 }}" in shown
    # bars: concentration 0.5 of 160 px; the hostile component of B at 0.25 of 160 px
    assert text.count('height="12" fill="#2171b5"') == 3      # A: 1 bar, B: 2 bars
    assert '<rect width="80.0" height="12" fill="#2171b5"/>' in text
    assert '<rect width="40.0" height="12" fill="#2171b5"/>' in text
    cards = dossier_cards(cands, evil)
    unavailable = sum(b["value"] is None for c in cards for b in c["bars"])
    assert text.count('stroke-dasharray="3 2"') == unavailable


def test_candidate_investment_names_its_unit(region, candidates):
    """The candidate's investment sum is in the placed projects' unit and currency (the
    card said "investment 0" with no unit); without a single unit it stays plain."""
    c = candidates.copy()
    c["investment"] = [12.5, 2.0]                 # by hand: P1 in A, P2 in B
    d = ms.maps.candidate_dossier(c, region)
    assert ["investment (billion RUB)", 12.5] in _rows(d["R7"], "candidate")
    assert ["investment (billion RUB)", 2.0] in _rows(d["R3"], "candidate")
    mixed = region.projects.copy()
    mixed.loc["P2", "currency"] = "EUR"
    d = ms.maps.candidate_dossier(c, dataclasses.replace(region, projects=mixed))
    assert ["investment", 12.5] in _rows(d["R7"], "candidate")
