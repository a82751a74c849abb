"""Contiguous regionalization and candidate clusters on synthetic grids with known answers."""

from __future__ import annotations

import geopandas as gpd
import libpysal
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from sklearn.metrics import adjusted_rand_score

import minespace as ms
from minespace import clustering as cl

CELL = 10_000.0  # 10 km squares
#: These synthetic regions have no plants, institutions or projects: the innovation
#: components are left out on purpose (weight 0, no warning), see
#: tests/test_candidates_innovation.py for them.
NO_INNOVATION = {"value_chain": 0.0, "knowledge": 0.0, "investment": 0.0}


def _grid(nx: int, ny: int, extra: list | None = None) -> gpd.GeoDataFrame:
    """nx × ny squares of 10 km (row-major), plus optional extra polygons."""
    cols, rows = np.meshgrid(np.arange(nx), np.arange(ny))
    cols, rows = cols.ravel(), rows.ravel()
    geoms = list(shapely.box(500_000 + cols * CELL, 6_000_000 + rows * CELL,
                             500_000 + (cols + 1) * CELL, 6_000_000 + (rows + 1) * CELL))
    geoms += extra or []
    n = len(geoms)
    idx = pd.Index([f"T{i:03d}" for i in range(n)], name="territory_id")
    frame = gpd.GeoDataFrame({"col": np.r_[cols, [-1] * (n - len(cols))],
                              "row": np.r_[rows, [-1] * (n - len(rows))]},
                             geometry=geoms, crs=32645, index=idx)
    rep = shapely.get_coordinates(shapely.point_on_surface(np.asarray(frame.geometry.values)))
    frame["area_km2"] = frame.area / 1e6
    frame["rep_x"], frame["rep_y"] = rep[:, 0], rep[:, 1]
    return frame


def _components_per_cluster(labels: np.ndarray, w: libpysal.weights.W) -> dict:
    """Peer check: connected components of W restricted to each cluster (scipy)."""
    adj = w.sparse.tocsr()
    out = {}
    for lab in np.unique(labels):
        members = np.flatnonzero(labels == lab)
        n, _ = connected_components(adj[members][:, members], directed=False)
        out[lab] = n
    return out


def test_regions_are_connected_random_features():
    terr = _grid(12, 10)
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(len(terr), 3)), index=terr.index)
    out = cl.regionalize(terr, X, n_regions=9)
    assert out["region_id"].nunique() == 9
    w = libpysal.weights.Queen.from_dataframe(terr, use_index=True)
    assert set(_components_per_cluster(out["region_id"].to_numpy(), w).values()) == {1}
    assert "region_id" not in terr.columns


def test_same_specialization_in_two_places_gives_two_regions():
    # stripes by column: A | B | A — a typology merges the A stripes, regions must not
    terr = _grid(9, 6)
    stripe = np.where(terr["col"] < 3, 0, np.where(terr["col"] < 6, 1, 2))
    value = np.where(stripe == 1, 10.0, 0.0) + np.random.default_rng(1).normal(0, 0.01, len(terr))
    X = pd.DataFrame({"share__a": value}, index=terr.index)
    out = cl.regionalize(terr, X, n_regions=3)
    assert adjusted_rand_score(stripe, out["region_id"]) == 1.0
    t = cl.Typology(n_clusters=2, n_bootstrap=0).fit(X)
    assert adjusted_rand_score(stripe == 1, t.labels_) == 1.0


def test_row_order_invariance():
    terr = _grid(8, 8)
    halves = (terr["col"] >= 4).to_numpy()
    X = pd.DataFrame({"f": halves * 5.0 + np.random.default_rng(2).normal(0, 0.1, len(terr))},
                     index=terr.index)
    a = cl.regionalize(terr, X, n_regions=2)
    shuffled = terr.sample(frac=1, random_state=5)
    b = cl.regionalize(shuffled, X, n_regions=2)  # features aligned on the index
    assert adjusted_rand_score(a["region_id"], b.loc[a.index, "region_id"]) == 1.0
    assert adjusted_rand_score(halves, a["region_id"]) == 1.0


def test_island_policy():
    far = shapely.box(900_000, 6_500_000, 910_000, 6_510_000)
    terr = _grid(4, 4, extra=[far])
    X = pd.DataFrame({"f": np.arange(len(terr), dtype=float)}, index=terr.index)
    attached = cl.regionalize(terr, X, n_regions=3)  # island linked to its nearest cell
    adj = cl.connectivity(terr)
    assert cl.is_contiguous(attached["region_id"].to_numpy(), adj).all()
    kept = cl.regionalize(terr, X, n_regions=3, islands="keep")
    island = kept.loc[terr.index[-1], "region_id"]
    assert (kept["region_id"] == island).sum() == 1
    assert kept["region_id"].nunique() == 3
    with pytest.raises(ValueError, match="disconnected"):
        cl.regionalize(terr, X, n_regions=1, islands="keep")


def test_regionalize_errors():
    terr = _grid(2, 2)
    X = pd.DataFrame({"f": [0.0, 1.0, 2.0, 3.0]}, index=terr.index)
    with pytest.raises(ValueError, match="cannot make 5 clusters from 4 territories"):
        cl.regionalize(terr, X, n_regions=5)
    with pytest.raises(ValueError, match="NaN"):
        cl.regionalize(terr, X.assign(f=[0.0, np.nan, 1.0, 2.0]), n_regions=2)
    with pytest.raises(KeyError):
        cl.regionalize(terr, X.iloc[:2], n_regions=2)


def test_is_contiguous_hand():
    # path 0-1-2-3
    a = sparse.csr_matrix((np.ones(6), ([0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2])), shape=(4, 4))
    assert cl.is_contiguous([0, 0, 1, 1], a).all()
    assert not cl.is_contiguous([0, 1, 1, 0], a)[0]


# -- candidates ----------------------------------------------------------------------------

def _mining_region() -> gpd.GeoDataFrame:
    """10 × 6 grid; a dense coking-coal belt next to a city (west), a sparse thermal area (east)."""
    terr = _grid(10, 6)
    west = (terr["col"] <= 2) & (terr["row"].between(1, 4))
    east = (terr["col"] >= 7) & (terr["row"].between(2, 3))
    n = len(terr)
    count_c = np.where(west, 4, 0)
    count_t = np.where(west & (terr["col"] == 0), 1, 0) + np.where(east, 1, 0)
    terr["count__coking_coal_underground"] = count_c
    terr["count__thermal_coal_open_pit"] = count_t
    terr["count"] = count_c + count_t
    terr["count_per_km2"] = terr["count"] / terr["area_km2"]
    dist_city = terr["col"].to_numpy() * 10.0
    terr["dist_corridor_km"] = terr["col"] * 3.0  # a corridor runs north-south in the west
    terr["time_to_agglomeration_min"] = np.where(dist_city <= 80, dist_city, np.nan)
    terr["hansen_potential"] = 1e5 * np.exp(-0.05 * dist_city) + np.zeros(n)
    return terr


def test_candidate_ranking_known_answer():
    terr = _mining_region()
    adj = cl.connectivity(terr)
    m = cl.neighbourhood_metrics(cl.specialization_shares(terr), adj)
    X = cl.FeatureBuilder(cl.REGION_FEATURES).fit_transform(m)
    regions = cl.regionalize(m, X, n_regions=4, adjacency=adj)
    # no innovation layers: the three components are unavailable, one warning, and their
    # weight goes to the other five in proportion
    with pytest.warns(ms.ComponentUnavailableWarning) as caught:
        cand = cl.candidate_clusters(regions, min_deposits=3)
    assert len(caught) == 1
    best = cand.iloc[0]
    west = terr.index[(terr["col"] <= 2) & terr["row"].between(1, 4)]
    east = terr.index[(terr["col"] >= 7) & terr["row"].between(2, 3)]
    members = set(best["members"].split(", "))
    assert len(members & set(west)) >= 0.75 * len(west)
    assert not members & set(east)
    assert best["dominant"] == "coking_coal_underground"
    east_region = regions.loc[east[0], "region_id"]
    assert east_region not in cand.index or cand.loc[east_region, "rank"] > 1
    # no territory names, no towns: the label is the activity mix, dominant first
    assert best["label"] == best["activity_mix"]
    assert best["label"].startswith("coking coal, underground ")
    five = ["concentration", "coherence", "agglomeration_access", "corridor_access",
            "diversification"]
    comps = cand[[f"score__{c}" for c in five]]
    assert ((comps >= 0) & (comps <= 1)).all().all()
    assert cand[["score__value_chain", "score__knowledge", "score__investment"]].isna().all().all()
    # defaults .25 .10 .15 .10 .10 (sum .70), redistributed: each / .70
    w = np.array([0.25, 0.10, 0.15, 0.10, 0.10]) / 0.70
    np.testing.assert_allclose(cand["score"], comps.to_numpy() @ w)
    # dissolved polygons cover exactly their members
    areas = regions.groupby("region_id")["area_km2"].sum()
    np.testing.assert_allclose(cand.geometry.area / 1e6, areas.loc[cand.index])
    assert cand["rank"].tolist() == list(range(1, len(cand) + 1))
    assert "Rank 1" in best["explanation"] and "coking coal, underground" in best["explanation"]


def test_score_components_hand():
    t = pd.DataFrame({
        "region_id": [0, 0, 0, 1, 1, 2],
        "area_km2": [10.0, 10.0, 20.0, 10.0, 10.0, 10.0],
        "count": [3, 1, 0, 1, 1, 1],
        "count__a": [3, 0, 0, 1, 1, 1],
        "count__b": [0, 1, 0, 0, 0, 0],
        "count__c": [0, 0, 0, 0, 0, 0],
        "dist_corridor_km": [1.0, 20.0, 5.0, 50.0, 50.0, 1.0],
        "time_to_agglomeration_min": [10.0, np.nan, 100.0, 30.0, 30.0, 5.0],
        "hansen_potential": [np.e - 1, 0.0, 0.0, np.e ** 2 - 1, np.e ** 2 - 1, 0.0],
    })
    s = score_hand = cl.score_regions(t, travel_time_min=60, corridor_km=10, min_deposits=2,
                                      weights=NO_INNOVATION)
    assert np.isnan(s.loc[2, "score"]) and np.isnan(s.loc[2, "rank"])
    # region 0: 4 deposits / 40 km² = 100 per 1000 km²; region 1: 2 / 20 km² = 100
    assert s.loc[0, "score__concentration"] == pytest.approx(0.5 * 1 + 0.5 * 1)
    assert s.loc[1, "score__concentration"] == pytest.approx(0.5 * 1 + 0.5 * 0.5)
    assert s.loc[0, "score__coherence"] == pytest.approx(3 / 4)
    assert s.loc[0, "score__corridor_access"] == pytest.approx(30 / 40)
    assert s.loc[1, "score__corridor_access"] == 0.0
    # 2 of 2 activities present in the data (c never occurs) -> 1
    assert s.loc[0, "score__diversification"] == 1.0
    assert s.loc[1, "score__diversification"] == 0.0
    # within 60 min: region 0 10/40 km², region 1 all; log1p hansen means 10/40 and 2
    assert s.loc[0, "score__agglomeration_access"] == pytest.approx(0.5 * 0.25 + 0.5 * 0.125)
    assert s.loc[1, "score__agglomeration_access"] == pytest.approx(0.5 * 1 + 0.5 * 1)
    double = cl.score_regions(t, weights={c: 2 * v for c, v in cl.DEFAULT_WEIGHTS.items()}
                              | NO_INNOVATION, min_deposits=2)
    np.testing.assert_allclose(double["score"], score_hand["score"])
    only = cl.score_regions(t, weights=dict.fromkeys(cl.COMPONENTS, 0) | {"coherence": 1},
                            min_deposits=2)
    assert only.loc[1, "rank"] == 1  # coherence 1.0 beats 0.75


def test_weights_validation():
    t = _mining_region().assign(region_id=0)
    with pytest.raises(ValueError, match="unknown weight"):
        cl.score_regions(t, weights={"beauty": 1.0})
    with pytest.raises(ValueError, match=">= 0"):
        cl.score_regions(t, weights={"coherence": -1.0})
    with pytest.raises(KeyError, match="dist_corridor_km"):
        cl.score_regions(t.drop(columns="dist_corridor_km"))


def test_sensitivity():
    terr = _mining_region()
    adj = cl.connectivity(terr)
    m = cl.neighbourhood_metrics(cl.specialization_shares(terr), adj)
    X = cl.FeatureBuilder(cl.REGION_FEATURES).fit_transform(m)
    fixed = cl.candidate_sensitivity(m, X, n_regions=4, top_n=1, n_perturbations=4,
                                     weight_spread=0.0, k_spread=0, adjacency=adj,
                                     weights=NO_INNOVATION)
    assert fixed["top_n_share"].tolist() == [1.0]  # nothing perturbed -> always stays
    s1 = cl.candidate_sensitivity(m, X, n_regions=4, top_n=2, n_perturbations=6,
                                  adjacency=adj, random_state=3, weights=NO_INNOVATION)
    s2 = cl.candidate_sensitivity(m, X, n_regions=4, top_n=2, n_perturbations=6,
                                  adjacency=adj, random_state=3, weights=NO_INNOVATION)
    pd.testing.assert_frame_equal(s1, s2)
    shares = s1[["top_n_share", "top_n_share_weights", "top_n_share_k"]].to_numpy()
    assert ((shares >= 0) & (shares <= 1)).all()


def test_crs_choice_does_not_change_regions():
    terr = _grid(8, 6)
    X = pd.DataFrame({"f": (terr["col"] >= 4) * 3.0 + (terr["row"] >= 3) * 1.0
                      + np.random.default_rng(4).normal(0, 0.05, len(terr))}, index=terr.index)
    a = cl.regionalize(terr, X, n_regions=4)
    other = terr.to_crs(32644)  # the neighbouring UTM zone: same topology
    b = cl.regionalize(other, X, n_regions=4)
    assert adjusted_rand_score(a["region_id"], b["region_id"]) == 1.0


def test_no_region_with_enough_deposits():
    terr = _mining_region()
    regions = terr.assign(region_id=np.arange(len(terr)))  # one territory per region
    cand = cl.candidate_clusters(regions, min_deposits=100, weights=NO_INNOVATION)
    assert len(cand) == 0 and isinstance(cand, gpd.GeoDataFrame)


def test_find_candidates_end_to_end():
    terr = _mining_region()
    conc = terr.drop(columns=["dist_corridor_km", "time_to_agglomeration_min",
                              "hansen_potential"])
    acc = terr[["geometry", "area_km2", "rep_x", "rep_y", "dist_corridor_km",
                "time_to_agglomeration_min", "hansen_potential"]]
    # no innovation layers: ONE warning for the whole analysis (the sensitivity runs keep
    # the unavailable components at weight 0 and do not warn again)
    with pytest.warns(ms.ComponentUnavailableWarning) as caught:
        out = cl.find_candidates(conc, acc, n_regions=4, top_n=2, n_perturbations=3)
    assert len(caught) == 1
    regions, cand = out["regions"], out["candidates"]
    assert set(out) == {"regions", "region_profiles", "candidates", "candidate_sensitivity"}
    assert regions.index.equals(terr.index)
    assert cl.is_contiguous(regions["region_id"].to_numpy(), cl.connectivity(terr)).all()
    ranked = regions["candidate_rank"].notna()
    assert set(regions.loc[ranked, "region_id"]) == set(cand.index)
    assert cand["top_n_share"].notna().sum() == 2
    assert regions["region_label"].notna().all()


@given(nx=st.integers(2, 7), ny=st.integers(2, 7), k=st.integers(1, 6),
       seed=st.integers(0, 10_000), holes=st.integers(0, 3))
@settings(max_examples=25, deadline=None)
def test_property_regions_connected_and_k(nx, ny, k, seed, holes):
    terr = _grid(nx, ny)
    rng = np.random.default_rng(seed)
    # remove a few cells: may cut the grid into parts, which islands="attach" links
    terr = terr.drop(terr.index[rng.choice(len(terr), min(holes, len(terr) - 1),
                                           replace=False)])
    k = min(k, len(terr))
    X = pd.DataFrame(rng.normal(size=(len(terr), 2)), index=terr.index)
    out = cl.regionalize(terr, X, n_regions=k)
    assert out["region_id"].nunique() == k
    adj = cl.connectivity(terr)
    labels = out["region_id"].to_numpy()
    for lab in np.unique(labels):  # peer check with scipy on each region's sub-graph
        members = np.flatnonzero(labels == lab)
        assert connected_components(adj[members][:, members], directed=False)[0] == 1


def test_explanation_names_both_agglomeration_access_terms():
    """A region entirely beyond 60 min but with the best Hansen reach scores 0.50 on
    agglomeration access: the explanation must say why (both terms, with their values)."""
    t = pd.DataFrame({
        "region_id": ["A", "A", "B"], "area_km2": [10.0, 10.0, 10.0], "count": [2, 2, 3],
        "count__a": [2, 2, 3], "dist_corridor_km": [1.0, 1.0, 1.0],
        "time_to_agglomeration_min": [90.0, 120.0, 30.0],
        # log1p: A ln(100) = 4.605, B ln(10) = 2.303 -> Hansen terms 1.0 and 0.5
        "hansen_potential": [99.0, 99.0, 9.0]})
    t = gpd.GeoDataFrame(t, geometry=[shapely.box(i, 0, i + 1, 1) for i in range(3)],
                         crs=32645)
    cand = cl.candidate_clusters(t, min_deposits=2, weights=NO_INNOVATION)
    a, b = cand.loc["A"], cand.loc["B"]
    assert a["score__agglomeration_access"] == pytest.approx(0.5)   # ½·0 + ½·1
    assert b["score__agglomeration_access"] == pytest.approx(0.75)  # ½·1 + ½·0.5
    assert ("Agglomeration access 0.50 = ½ × 0% of the area within 60 min of an "
            "agglomeration + ½ × 1.00 population reach") in a["explanation"]
    assert "Agglomeration access 0.75 = ½ × 100% of the area within 60 min" in b["explanation"]
    assert "+ ½ × 0.50 population reach" in b["explanation"]
    assert "Hansen" in a["explanation"]


def test_candidate_labels_name_places_and_the_activity_mix():
    """Labels: territory names (most deposits first) or the towns a candidate touches,
    then the two largest activities with their shares; not the dominant category alone."""
    t = gpd.GeoDataFrame({
        "region_id": ["A", "A", "A", "B", "B"], "area_km2": [1.0] * 5,
        "name": ["Belovo district", "Guryevsk district", None, "Tisul", "Tisul"],
        "count": [5, 1, 0, 3, 1],
        "count__surface": [3, 0, 0, 3, 1], "count__underground": [2, 1, 0, 0, 0],
        "dist_corridor_km": [1.0] * 5, "time_to_agglomeration_min": [10.0] * 5,
        "hansen_potential": [10.0] * 5},
        geometry=[shapely.box(i, 0, i + 1, 1) for i in range(5)], crs=32645)
    towns = gpd.GeoDataFrame({"name": ["Small", "Big", "Far"],
                              "population": [10_000, 90_000, 50_000]},
                             geometry=[shapely.Point(0.5, 0.5), shapely.Point(1.5, 0.5),
                                       shapely.Point(50, 50)], crs=32645)
    cand = cl.candidate_clusters(t, min_deposits=2, agglomerations=towns,
                                 weights=NO_INNOVATION)
    # A: 6 deposits, surface 3/6 = 50 %, underground 3/6 = 50 % (tie: column order)
    assert cand.loc["A", "activity_mix"] == "surface 50% · underground 50%"
    assert cand.loc["A", "places"] == "Belovo district, Guryevsk district"
    assert cand.loc["A", "label"] == ("Belovo district, Guryevsk district: "
                                      "surface 50% · underground 50%")
    assert cand.loc["A", "towns"] == "Big, Small"
    assert cand.loc["B", "label"] == "Tisul: surface 100%"
    # without territory names the towns name the candidate (largest first, two at most)
    nameless = cl.candidate_clusters(t.drop(columns="name"), min_deposits=2,
                                     agglomerations=towns, weights=NO_INNOVATION)
    assert nameless.loc["A", "label"] == "Big, Small: surface 50% · underground 50%"
    assert nameless.loc["B", "label"] == "surface 100%"
