"""Knowledge access: kind weights and size factors by hand, Hansen against a NumPy double
loop, counts within the threshold, links, bad input."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point

import minespace as ms
from minespace.errors import CRSError, LayerError
from minespace.knowledge import (
    DEFAULT_KIND_WEIGHTS,
    knowledge_access,
    knowledge_links,
    knowledge_mass,
)

CRS = "EPSG:32645"


@pytest.fixture
def inst():
    rows = [  # id, kind, size, unit, x km
        ("I1", "university", 20000, "students", 0),
        ("I2", "university", 10000, "students", 20),
        ("I3", "university", None, None, 40),
        ("I4", "university_branch", None, None, 10),
        ("I5", "research", 300, "staff", 60),
        ("I6", "research", 100, "staff", 5),
        ("I7", "research", 50, "students", 30),
        ("I8", "technopark", None, None, 80),
    ]
    ids, kind, size, unit, x = zip(*rows, strict=True)
    return gpd.GeoDataFrame({"name": [f"inst {i}" for i in ids], "kind": list(kind),
                             "size": np.array(size, dtype=float), "size_unit": list(unit)},
                            index=pd.Index(list(ids), name="institution_id"),
                            geometry=[Point(v * 1000.0, 0) for v in x], crs=CRS)


# universities in students: median 15000 -> 4/3, 2/3, unknown 1; branch 0.4;
# research in staff: median 200 -> 1.5, 0.5; research in students alone -> 1; technopark 0.75
MASS = np.array([4 / 3, 2 / 3, 1.0, 0.4, 1.5, 0.5, 1.0, 0.75])
X_KM = np.array([0, 20, 40, 10, 60, 5, 30, 80], float)


@pytest.fixture
def origins():
    return gpd.GeoDataFrame(index=pd.Index(["T1", "T2", "T3"], name="territory_id"),
                            geometry=[Point(0, 0), Point(30_000, 40_000), Point(100_000, 0)],
                            crs=CRS)


def _km(origins_xy):
    ox, oy = np.asarray(origins_xy, float).T
    return np.array([[np.hypot(ox[i] - X_KM[j] * 1000.0, oy[i]) / 1000.0
                      for j in range(len(X_KM))] for i in range(len(ox))])


def test_kind_weights_are_the_contract():
    assert dict(DEFAULT_KIND_WEIGHTS) == {
        "university": 1.0, "research": 1.0, "technopark": 0.75, "education_centre": 0.5,
        "incubator": 0.5, "economic_zone": 0.5, "university_branch": 0.4}


def test_mass_by_hand(inst):
    before = inst.copy()
    mass = knowledge_mass(inst)
    assert mass.name == "knowledge_mass" and mass.index.equals(inst.index)
    np.testing.assert_allclose(mass, MASS)
    assert inst.equals(before)
    # no size column at all: the kind weights alone
    np.testing.assert_allclose(knowledge_mass(inst.drop(columns=["size", "size_unit"])),
                               [1, 1, 1, 0.4, 1, 1, 1, 0.75])
    # overrides are read like the data and extend/replace the defaults
    over = knowledge_mass(inst, kind_weights={"University branch": 1.0, "Technopark": 0})
    np.testing.assert_allclose(over, [*MASS[:3], 1.0, *MASS[4:7], 0.0])


def test_unknown_kinds_listed_with_rows_and_fix(inst):
    odd = inst.assign(kind=["university", "museum", "museum", "zoo", *inst["kind"][4:]])
    with pytest.raises(LayerError) as err:
        knowledge_mass(odd)
    text = str(err.value)
    assert "'museum'" in text and "I2, I3" in text and "'zoo'" in text and "I4" in text
    assert "kind_weights=" in text and "university_branch" in text
    ok = knowledge_mass(odd, kind_weights={"museum": 0.2, "zoo": 0.1})
    assert ok["I4"] == pytest.approx(0.1) and ok["I3"] == pytest.approx(0.2)
    with pytest.raises(LayerError, match=r"I6.*negative size"):
        knowledge_mass(inst.assign(size=[1, 1, 1, 1, 1, -5, 1, 1.0]))
    with pytest.raises(ValueError, match="finite numbers >= 0"):
        knowledge_mass(inst, kind_weights={"university": -1})


@pytest.mark.parametrize("decay,beta", [("exponential", 0.05), ("exponential", 0.0),
                                        ("power", 1.5)])
def test_hansen_straight_line_against_double_loop(inst, origins, decay, beta):
    before = origins.copy()
    out = knowledge_access(origins, inst, beta=beta, decay=decay, threshold_min=45.0)
    minutes = _km([(0, 0), (30_000, 40_000), (100_000, 0)]) / 40.0 * 60.0
    expect = np.zeros(3)
    for i in range(3):
        for j in range(len(MASS)):
            c = minutes[i, j]
            f = np.exp(-beta * c) if decay == "exponential" else max(c, 1.0) ** -beta
            expect[i] += MASS[j] * f
    np.testing.assert_allclose(out["knowledge_potential"], expect, rtol=1e-12)
    # T1: 0, 30, 60, 15, 90, 7.5, 45, 120 min -> 5 within 45 (45 counts)
    assert out["institutions_within"].tolist() == [int((minutes[i] <= 45).sum())
                                                  for i in range(3)]
    assert out["institutions_within"].iloc[0] == 5
    assert origins.equals(before)


def test_given_cost_with_gaps(inst, origins):
    rng = np.random.default_rng(0)
    cost = pd.DataFrame(rng.uniform(0, 100, (3, 8)), index=origins.index, columns=inst.index)
    cost.iloc[1, 2] = np.nan                     # no link: adds nothing, not within
    out = knowledge_access(origins, inst, beta=0.03, cost=cost.iloc[::-1, ::-1])  # ids align
    c = cost.to_numpy()
    expect = [sum(MASS[j] * np.exp(-0.03 * c[i, j]) for j in range(8) if not np.isnan(c[i, j]))
              for i in range(3)]
    np.testing.assert_allclose(out["knowledge_potential"], expect, rtol=1e-12)
    assert out["institutions_within"].tolist() == [int((c[i][~np.isnan(c[i])] <= 60).sum())
                                                  for i in range(3)]
    with pytest.raises(KeyError, match="lacks"):
        knowledge_access(origins, inst, cost=cost.drop(columns="I3"))


def test_polygon_origins_start_from_a_point_on_their_surface(inst):
    poly = shapely.Polygon([(0, 0), (20_000, 0), (20_000, 2_000), (2_000, 2_000),
                            (2_000, 20_000), (0, 20_000)])          # L shape: centroid outside
    terr = gpd.GeoDataFrame(index=pd.Index(["T"], name="territory_id"), geometry=[poly],
                            crs=CRS)
    p = shapely.point_on_surface(poly)
    minutes = np.hypot(p.x - X_KM * 1000.0, p.y) / 1000.0 / 40.0 * 60.0
    out = knowledge_access(terr, inst)
    assert out["knowledge_potential"].iloc[0] == pytest.approx(
        float(np.sum(MASS * np.exp(-0.05 * minutes))), rel=1e-12)


def test_links_hand_pairs(inst, origins):
    links = knowledge_links(origins, inst, threshold_min=30.0)
    assert list(links.columns) == ["territory_id", "institution_id", "institution_name",
                                   "kind", "time_min"]
    # T1: I1 0, I6 7.5, I4 15, I2 30; T2 (30, 40) km: I7 at 50 km = 75 min (none);
    # T3 (100, 0): I8 20 km = 30 min
    assert list(zip(links["territory_id"], links["institution_id"], strict=True)) == [
        ("T1", "I1"), ("T1", "I6"), ("T1", "I4"), ("T1", "I2"), ("T3", "I8")]
    np.testing.assert_allclose(links["time_min"], [0, 7.5, 15, 30, 30])
    assert links["kind"].tolist()[-1] == "technopark"
    assert links["institution_name"].tolist()[0] == "inst I1"
    counts = knowledge_access(origins, inst, threshold_min=30.0)["institutions_within"]
    assert counts.tolist() == [4, 0, 1]


def test_bad_input(inst, origins):
    with pytest.raises(LayerError, match="institutions layer is empty"):
        knowledge_access(origins, inst.iloc[:0])
    with pytest.raises(CRSError, match="different CRS"):
        knowledge_access(origins, inst.to_crs(32644))
    with pytest.raises(ValueError, match="threshold_min must be a positive"):
        knowledge_access(origins, inst, threshold_min=-1)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        knowledge_access(origins, inst, beta=-0.1)
    with pytest.raises(KeyError, match="kind"):
        knowledge_access(origins, inst.drop(columns="kind"))
    with pytest.raises(TypeError, match="GeoDataFrame"):
        knowledge_links(pd.DataFrame(origins), inst)


def test_kuzbass_kemerovo_sees_more_knowledge_than_tashtagol():
    """Institutions placed at two agglomerations' points; Kemerovo's own institutions
    are at cost 0 from its point, so its potential is at least their mass."""
    region = ms.datasets.kuzbass()
    aggl = region.agglomerations
    pts = shapely.point_on_surface(np.asarray(aggl.geometry.array))
    kem = pts[list(aggl.index).index(aggl.index[aggl["name"] == "Kemerovo"][0])]
    inst = gpd.GeoDataFrame({"kind": ["university", "research", "technopark"]},
                            index=pd.Index(["A", "B", "C"], name="institution_id"),
                            geometry=[kem] * 3, crs=region.crs)
    out = knowledge_access(aggl, inst)
    assert out.loc[aggl["name"] == "Kemerovo", "knowledge_potential"].iloc[0] == \
        pytest.approx(2.75)
    tash = out.loc[aggl["name"] == "Tashtagol"].iloc[0]
    km = shapely.distance(pts[list(aggl["name"]).index("Tashtagol")], kem) / 1000.0
    assert tash["knowledge_potential"] == pytest.approx(2.75 * np.exp(-0.05 * km * 1.5))
    assert tash["institutions_within"] == (3 if km * 1.5 <= 60 else 0)


def test_kuzbass_institutions_against_double_loop():
    """The bundled institutions (kind weights alone: sizes dropped) seen from the
    agglomerations, straight line at 40 km/h, against a double loop written here."""
    region = ms.datasets.kuzbass()
    inst = region.institutions
    assert "I10" not in inst.index                     # SOURCES.md: count I09/I10 once
    inst = inst.drop(columns=[c for c in ("size", "size_unit") if c in inst.columns])
    aggl = region.agglomerations
    out = knowledge_access(aggl, inst)
    weight = {"university": 1.0, "research": 1.0, "technopark": 0.75,
              "education_centre": 0.5, "incubator": 0.5, "economic_zone": 0.5,
              "university_branch": 0.4}
    a = shapely.point_on_surface(np.asarray(aggl.geometry.array))
    b = np.asarray(inst.geometry.array)
    for i in range(len(aggl)):
        pot, within = 0.0, 0
        for j in range(len(inst)):
            minutes = shapely.distance(a[i], b[j]) / 1000.0 / 40.0 * 60.0
            pot += weight[inst["kind"].iloc[j]] * np.exp(-0.05 * minutes)
            within += minutes <= 60.0
        assert out["knowledge_potential"].iloc[i] == pytest.approx(pot, rel=1e-12)
        assert out["institutions_within"].iloc[i] == within
