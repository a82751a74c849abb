"""Value-chain access: hand-worked straight-line fixture, networkx on a small corridor
network, brute force on random data, partition edge cases, Kuzbass smoke test."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, Point

import minespace as ms
from minespace.accessibility import build_network
from minespace.errors import CRSError, LayerError, MinespaceWarning
from minespace.value_chain import (
    DEFAULT_MATCHES,
    value_chain_access,
    value_chain_links,
    value_chain_summary,
)

CRS = "EPSG:32645"
COLS = ["value_chain_facility_id", "value_chain_time_min", "value_chain_within",
        "value_chain_n_within", "value_chain_method"]


def _deposits(rows, crs=CRS):
    ids, commodity, xy = zip(*rows, strict=True)
    return gpd.GeoDataFrame({"commodity": list(commodity)},
                            index=pd.Index(list(ids), name="deposit_id"),
                            geometry=[Point(p) for p in xy], crs=crs)


def _plants(rows, crs=CRS):
    ids, chain, status, xy = zip(*rows, strict=True)
    return gpd.GeoDataFrame({"name": [f"plant {i}" for i in ids], "value_chain": list(chain),
                             "status": list(status)},
                            index=pd.Index(list(ids), name="facility_id"),
                            geometry=[Point(p) for p in xy], crs=crs)


@pytest.fixture
def line():
    """Everything on the x axis; at 40 km/h one km takes 1.5 min."""
    deposits = _deposits([
        ("D1", "coking_coal", (0, 0)),
        ("D2", "thermal_coal", (0, 0)),
        ("D3", "coal_unknown_grade", (0, 0)),
        ("D4", "lignite", (0, 0)),
        ("D5", "iron_ore", (0, 0)),
        ("D6", "gold", (0, 0)),
        ("D7", None, (0, 0)),
    ])
    plants = _plants([
        ("F1", "coking_coal", "operating", (10_000, 0)),            # 15 min
        ("F2", "thermal_coal", "operating", (20_000, 0)),           # 30 min
        ("F3", "coking_coal;iron_ore", "operating", (40_000, 0)),   # 60 min
        ("F4", "coal_chemicals", "construction", (60_000, 0)),      # 90 min
        ("F5", None, "operating", (1_000, 0)),                      # not a plant
        ("F6", "other", "operating", (500, 0)),                     # 0.75 min, feeds nothing
    ])
    return deposits, plants


def test_straight_line_hand_values(line):
    deposits, plants = line
    before_d, before_p = deposits.copy(), plants.copy()
    out = value_chain_access(deposits, plants)
    # D1 coking -> F1, F3, F4; D2 thermal -> F2, F4; D3 unknown grade -> F1..F4;
    # D4 lignite -> F2, F4; D5 iron ore -> F3 (own name); D6 gold, D7 none -> nothing
    assert list(out["value_chain_facility_id"]) == ["F1", "F2", "F1", "F2", "F3", None, None]
    np.testing.assert_allclose(out["value_chain_time_min"],
                               [15.0, 30.0, 15.0, 30.0, 60.0, np.nan, np.nan])
    assert list(out["value_chain_within"]) == [True, True, True, True, False, False, False]
    assert list(out["value_chain_n_within"]) == [1, 1, 2, 1, 0, 0, 0]
    assert (out["value_chain_method"] == "straight_line").all()
    assert out["value_chain_within"].dtype == bool
    assert out["value_chain_n_within"].dtype == np.int64
    assert deposits.equals(before_d) and plants.equals(before_p)
    assert list(out.columns) == [*deposits.columns, *COLS]


def test_threshold_is_inclusive_and_speed_scales(line):
    deposits, plants = line
    out = value_chain_access(deposits, plants, threshold_min=30.0)
    assert list(out["value_chain_n_within"]) == [1, 1, 2, 1, 0, 0, 0]   # 30 <= 30
    out = value_chain_access(deposits, plants, threshold_min=29.99)
    assert list(out["value_chain_n_within"]) == [1, 0, 1, 0, 0, 0, 0]
    # 80 km/h: 0.75 min/km -> F1 7.5, F2 15, F3 30, F4 45 min (all within 45):
    # D1 F1 F3 F4, D2 F2 F4, D3 all four, D4 F2 F4, D5 F3
    out = value_chain_access(deposits, plants, fallback_speed_kmh=80.0)
    np.testing.assert_allclose(out["value_chain_time_min"],
                               [7.5, 15.0, 7.5, 15.0, 30.0, np.nan, np.nan])
    assert list(out["value_chain_n_within"]) == [3, 2, 4, 2, 1, 0, 0]


def test_statuses_and_matches(line):
    deposits, plants = line
    plants = plants.assign(status=["Closed", "operating", "operating", "construction",
                                   "operating", "operating"])
    out = value_chain_access(deposits, plants, statuses=("operating",))
    # F1 closed, F4 under construction: D1 -> F3 (60), D3 -> F2 (30), D4 -> F2 (30)
    assert list(out["value_chain_facility_id"]) == ["F3", "F2", "F2", "F2", "F3", None, None]
    # a key given replaces its default; a new key extends the table; read like the data
    out = value_chain_access(deposits, plants,
                             matches={"Lignite": ["coal chemicals"], "gold": ["other"]})
    assert out.loc["D4", "value_chain_facility_id"] == "F4"            # no longer F2
    assert out.loc["D6", "value_chain_time_min"] == pytest.approx(0.75)
    assert out.loc["D1", "value_chain_facility_id"] == "F1"            # untouched


def test_links_hand_pairs_and_plant_with_two_inputs(line):
    deposits, plants = line
    links = value_chain_links(deposits, plants)
    assert list(links.columns) == ["deposit_id", "facility_id", "facility_name",
                                   "value_chain", "time_min"]
    assert list(zip(links["deposit_id"], links["facility_id"], strict=True)) == [
        ("D1", "F1"), ("D2", "F2"), ("D3", "F1"), ("D3", "F2"), ("D4", "F2")]
    np.testing.assert_allclose(links["time_min"], [15, 30, 15, 30, 30])
    assert links["facility_name"].iloc[0] == "plant F1"
    # F3 takes coking coal and iron ore: both D1 and D5 link to it
    wide = value_chain_links(deposits, plants, threshold_min=60.0)
    assert set(wide.loc[wide["facility_id"] == "F3", "deposit_id"]) == {"D1", "D3", "D5"}
    assert (wide.groupby("deposit_id").size().reindex(deposits.index, fill_value=0).tolist()
            == value_chain_access(deposits, plants,
                                  threshold_min=60.0)["value_chain_n_within"].tolist())


def test_tokens_written_loosely_are_read_like_the_data(line):
    deposits, plants = line
    plants = plants.assign(value_chain=["Coking coal", "thermal_coal", "iron_ore, coking_coal",
                                        "coal_chemicals", None, "other"])
    out = value_chain_access(deposits, plants)
    assert list(out["value_chain_facility_id"]) == ["F1", "F2", "F1", "F2", "F3", None, None]


def test_brute_force_on_random_data():
    rng = np.random.default_rng(3)
    commodities = ["coking_coal", "thermal_coal", "thermal_coking_coal", "lignite", "iron_ore",
                   "gold", "coal"]
    inputs = ["coking_coal", "thermal_coal", "coal_chemicals", "iron_ore", "other"]
    n, m = 300, 25
    dxy = rng.uniform(0, 100_000, (n, 2))
    pxy = rng.uniform(0, 100_000, (m, 2))
    com = rng.choice(commodities, n)
    chains = [";".join(sorted(set(rng.choice(inputs, rng.integers(1, 3))))) for _ in range(m)]
    deposits = _deposits([(f"d{i}", c, tuple(p)) for i, (c, p) in enumerate(zip(com, dxy,
                                                                                strict=True))])
    plants = _plants([(f"p{j}", c, "operating", tuple(p))
                      for j, (c, p) in enumerate(zip(chains, pxy, strict=True))])
    out = value_chain_access(deposits, plants, threshold_min=40.0, fallback_speed_kmh=50.0)
    for i in range(n):                       # brute force, one deposit at a time
        feeds = set(DEFAULT_MATCHES.get(com[i], ())) | {com[i]}
        best, best_j, within = np.inf, None, 0
        for j in range(m):
            if feeds & set(chains[j].split(";")):
                t = np.hypot(*(dxy[i] - pxy[j])) / 1000.0 / 50.0 * 60.0
                within += t <= 40.0
                if t < best:
                    best, best_j = t, f"p{j}"
        row = out.iloc[i]
        assert row["value_chain_facility_id"] == best_j
        if best_j is None:
            assert np.isnan(row["value_chain_time_min"])
        else:
            assert row["value_chain_time_min"] == pytest.approx(best, rel=1e-12)
        assert row["value_chain_n_within"] == within
        assert row["value_chain_within"] == (best <= 40.0)


def test_row_order_does_not_matter(line):
    deposits, plants = line
    plants = plants.assign(geometry=shapely.points([10_000, 20_000, 40_000, 60_000, 1_000, 500],
                                                   [0, 1, 2, 3, 4, 5]))   # no ties
    ref = value_chain_access(deposits, plants)
    rng = np.random.default_rng(0)
    for _ in range(3):
        out = value_chain_access(deposits.iloc[rng.permutation(len(deposits))],
                                 plants.iloc[rng.permutation(len(plants))])
        pd.testing.assert_frame_equal(out.loc[ref.index], ref)


# ------------------------------------------------------------------ network
def _grid_network(rng):
    """3 × 3 nodes 10 km apart, horizontal and vertical segments, mixed speeds."""
    xy = np.array([(x, y) for y in range(0, 30_000, 10_000) for x in range(0, 30_000, 10_000)],
                  float)
    edges = [(r * 3 + c, r * 3 + c + 1) for r in range(3) for c in range(2)]
    edges += [(r * 3 + c, (r + 1) * 3 + c) for r in range(2) for c in range(3)]
    speed = rng.choice([30.0, 60.0, 90.0], len(edges))
    lines = [LineString([xy[a], xy[b]]) for a, b in edges]
    corridors = gpd.GeoDataFrame({"kind": "road", "speed_kmh": speed, "speed_source": "data"},
                                 geometry=lines, crs=CRS)
    return xy, edges, speed, lines, corridors


def _nx_times(xy, edges, speed, lines, origins, destinations, access_kmh):
    """networkx shortest times with each feature joined by explicit legs to both ends of
    its nearest segment (brute force)."""
    G = nx.Graph()
    t_edge = []
    for (a, b), s in zip(edges, speed, strict=True):
        t = np.hypot(*(xy[a] - xy[b])) / 1000.0 / s * 60.0
        G.add_edge(a, b, w=t)
        t_edge.append(t)
    geoms = np.asarray(lines)
    for name, p in {**origins, **destinations}.items():
        d = shapely.distance(Point(p), geoms)
        i = int(np.argmin(d))
        frac = shapely.line_locate_point(geoms[i], Point(p), normalized=True)
        leg = d[i] / 1000.0 / access_kmh * 60.0
        a, b = edges[i]
        G.add_edge(name, a, w=leg + frac * t_edge[i])
        G.add_edge(name, b, w=leg + (1 - frac) * t_edge[i])
    return np.array([[nx.shortest_path_length(G, o, d, weight="w") for d in destinations]
                     for o in origins])


@pytest.mark.parametrize("as_network", [False, True])
def test_network_times_against_networkx(as_network):
    rng = np.random.default_rng(7)
    xy, edges, speed, lines, corridors = _grid_network(rng)
    dxy = rng.uniform(500, 19_500, (12, 2))
    pxy = rng.uniform(500, 19_500, (4, 2))
    com = ["coking_coal", "thermal_coal", "lignite", "gold"] * 3
    chains = ["coking_coal", "thermal_coal", "coking_coal;thermal_coal", "coal_chemicals"]
    deposits = _deposits([(f"d{i}", com[i], tuple(p)) for i, p in enumerate(dxy)])
    plants = _plants([(f"p{j}", chains[j], "operating", tuple(p)) for j, p in enumerate(pxy)])
    T = _nx_times(xy, edges, speed, lines, {f"d{i}": p for i, p in enumerate(dxy)},
                  {f"p{j}": p for j, p in enumerate(pxy)}, access_kmh=25.0)
    feeds = {"coking_coal": {0, 2, 3}, "thermal_coal": {1, 2, 3}, "lignite": {1, 2, 3},
             "gold": set()}                              # by hand from DEFAULT_MATCHES
    net = build_network(corridors) if as_network else corridors
    out = value_chain_access(deposits, plants, corridors=net, access_speed_kmh=25.0,
                             threshold_min=30.0)
    assert (out["value_chain_method"] == "network").all()
    for i, c in enumerate(com):
        cols = sorted(feeds[c])
        if not cols:
            assert np.isnan(out["value_chain_time_min"].iloc[i])
            assert out["value_chain_facility_id"].iloc[i] is None
            continue
        t = T[i, cols]
        assert out["value_chain_time_min"].iloc[i] == pytest.approx(t.min(), abs=1e-6)
        assert out["value_chain_facility_id"].iloc[i] == f"p{cols[int(np.argmin(t))]}"
        assert out["value_chain_n_within"].iloc[i] == int((t <= 30.0).sum())


def test_network_unreachable_plant_is_nan_with_one_warning():
    corridors = gpd.GeoDataFrame({"kind": ["road"] * 2, "speed_kmh": [60.0] * 2,
                                  "speed_source": ["data"] * 2},
                                 geometry=[LineString([(0, 0), (10_000, 0)]),
                                           LineString([(50_000, 0), (60_000, 0)])], crs=CRS)
    deposits = _deposits([("D1", "coking_coal", (0, 100)), ("D2", "coking_coal", (60_000, 100))])
    plants = _plants([("F1", "coking_coal", "operating", (10_000, 100))])
    with pytest.warns(MinespaceWarning, match=r"value_chain_access: 1 origin.*D2"):
        out = value_chain_access(deposits, plants, corridors=corridors)
    # D1: 0.1 km leg at 20 km/h (0.3 min) + 10 km at 60 km/h (10 min) + 0.3 min
    assert out.loc["D1", "value_chain_time_min"] == pytest.approx(10.6, abs=1e-6)
    assert np.isnan(out.loc["D2", "value_chain_time_min"])
    assert not out.loc["D2", "value_chain_within"]


# ------------------------------------------------------------------ bad input
def test_no_plant_is_a_clear_error(line):
    deposits, plants = line
    with pytest.raises(LayerError, match=r"none of the 0 facilities has a value chain"):
        value_chain_access(deposits, plants.iloc[:0])
    with pytest.raises(LayerError, match=r"status in \['closed'\]"):
        value_chain_access(deposits, plants, statuses=("closed",))
    with pytest.raises(KeyError, match="value_chain"):
        value_chain_access(deposits, plants.drop(columns="value_chain"))
    with pytest.raises(KeyError, match="'ore'"):
        value_chain_access(deposits, plants, commodity="ore")


@pytest.mark.parametrize("kwargs", [{"threshold_min": 0}, {"threshold_min": np.nan},
                                    {"fallback_speed_kmh": -40}, {"access_speed_kmh": 0},
                                    {"threshold_min": "45"}])
def test_bad_numbers(line, kwargs):
    with pytest.raises(ValueError, match=f"{next(iter(kwargs))} must be a positive"):
        value_chain_access(*line, **kwargs)


def test_crs_mismatch_and_bad_matches(line):
    deposits, plants = line
    with pytest.raises(CRSError, match="different CRS"):
        value_chain_access(deposits, plants.to_crs(32644))
    with pytest.raises(CRSError, match="metric"):
        value_chain_access(deposits.to_crs(4326), plants.to_crs(4326))
    with pytest.raises(TypeError, match="list of plant inputs"):
        value_chain_access(deposits, plants, matches={"lignite": "thermal_coal"})


# ------------------------------------------------------------------ summary
def test_summary_counts_shares_and_weights():
    terr = gpd.GeoDataFrame(index=pd.Index(["T1", "T2", "T3"], name="territory_id"),
                            geometry=[shapely.box(0, 0, 1, 1)] * 3, crs=CRS)
    deps = pd.DataFrame({
        "territory_id": pd.Categorical(["T1", "T1", "T1", "T2", None], categories=terr.index),
        "value_chain_within": [True, False, True, False, True],
        "output_mt": [1.0, 3.0, np.nan, 2.0, 5.0]})
    before = deps.copy()
    out = value_chain_summary(terr, deps)
    assert out["value_chain_deposits"].tolist() == [2, 0, 0]
    assert out["value_chain_total"].tolist() == [3, 1, 0]
    np.testing.assert_allclose(out["value_chain_share"], [2 / 3, 0.0, np.nan])
    assert "value_chain_weight" not in out
    w = value_chain_summary(terr, deps, weight="output_mt")
    # T1: within weights 1 (+ NaN left out) over 1 + 3 -> 0.25
    np.testing.assert_allclose(w["value_chain_weight"], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(w["value_chain_weight_total"], [4.0, 2.0, 0.0])
    assert w["value_chain_total"].tolist() == [3, 1, 0]
    np.testing.assert_allclose(w["value_chain_share"], [0.25, 0.0, np.nan])
    assert deps.equals(before)
    with pytest.raises(ValueError, match=r"negative or non-numeric .* 1"):
        value_chain_summary(terr, deps.assign(output_mt=[1.0, -1, 0, 0, 0]), weight="output_mt")
    with pytest.raises(KeyError, match="value_chain_within"):
        value_chain_summary(terr, deps.drop(columns="value_chain_within"))


# ------------------------------------------------------------------ Kuzbass
def test_kuzbass_coking_coal_near_novokuznetsk_reaches_a_plant():
    region = ms.datasets.kuzbass()
    fac = region.facilities          # the steel plant takes coking coal (and iron ore)
    deps = region.deposits
    out = value_chain_access(deps, fac)
    steel = fac.loc[fac["name"].str.contains("ZSMK")].geometry.iloc[0]   # Novokuznetsk
    km = shapely.distance(np.asarray(deps.geometry.array), steel) / 1000.0
    near = (deps["commodity"] == "coking_coal").to_numpy() & (km <= 30.0)   # 45 min at 40
    assert near.sum() >= 1
    assert out["value_chain_within"].to_numpy()[near].all()
    # the nearest matching plant is at most as far as the steel plant
    assert (out["value_chain_time_min"].to_numpy()[near] <= km[near] / 40 * 60 + 1e-9).all()
    assert (out["value_chain_n_within"].to_numpy()[near] >= 1).all()


def test_access_and_links_in_one_matrix_equal_the_two_calls():
    """The pipeline's one-matrix path gives exactly what the two public calls give, and
    routes the deposits once (travel_time_matrix called once, not twice)."""
    from unittest import mock

    from minespace import accessibility
    from minespace.value_chain import _access_and_links

    rng = np.random.default_rng(11)
    *_, corridors = _grid_network(rng)
    dxy = rng.uniform(500, 19_500, (10, 2))
    pxy = rng.uniform(500, 19_500, (3, 2))
    com = ["coking_coal", "thermal_coal"] * 5
    chains = ["coking_coal", "thermal_coal", "coal_chemicals"]
    deposits = _deposits([(f"d{i}", com[i], tuple(p)) for i, p in enumerate(dxy)])
    plants = _plants([(f"p{j}", chains[j], "operating", tuple(p)) for j, p in enumerate(pxy)])
    kw = dict(corridors=build_network(corridors), threshold_min=25.0, access_speed_kmh=25.0)
    spy = mock.patch.object(accessibility, "travel_time_matrix",
                            wraps=accessibility.travel_time_matrix)
    with spy as calls:
        access, links = _access_and_links(deposits, plants, **kw)
    assert calls.call_count == 1
    pd.testing.assert_frame_equal(access, value_chain_access(deposits, plants, **kw))
    pd.testing.assert_frame_equal(links, value_chain_links(deposits, plants, **kw))
    assert len(links) == int(access["value_chain_n_within"].sum()) > 0
