"""Tests for minespace.colocation: the REFERENCE_VALUES §6 fixture by hand, and a
brute-force O(N²) NumPy implementation written here on random data with ties."""

from __future__ import annotations

import itertools
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point

import minespace as ms
from minespace import colocation as C
from minespace.errors import CRSError, LayerError, MinespaceWarning

CRS = "EPSG:32645"
X0, Y0 = 500_000, 6_000_000  # integer offsets keep integer distances exact


def _points(xy, labels, *, crs=CRS, index=None):
    xy = np.asarray(xy, dtype=float)
    return gpd.GeoDataFrame({"cat": list(labels)},
                            geometry=gpd.points_from_xy(xy[:, 0] + X0, xy[:, 1] + Y0),
                            crs=crs, index=index)


# REFERENCE_VALUES §6: P0..P7
FIX_XY = [(0, 0), (1, 0), (0, 1), (5, 5), (6, 5), (5, 6), (10, 0), (10, 1)]
FIX_LAB = "ABABBACB"


@pytest.fixture
def fixture_points():
    return _points(FIX_XY, FIX_LAB, index=pd.Index([f"P{i}" for i in range(8)], name="pid"))


# --------------------------------------------------------------------------- fixture
def test_global_fixture_every_pair_and_nan_warning(fixture_points):
    with pytest.warns(MinespaceWarning, match=r"undefined.*\(C\)"):
        out = C.colocation_quotient(fixture_points, by="cat")
    # hand arithmetic (REFERENCE_VALUES §6): (C_AB / N_A) / (N'_B / (N - 1)), N = 8
    expected = {("A", "A"): (1.5 / 3) / (2 / 7),    # P0 ties P1 (B) / P2 (A): 1/2
                ("A", "B"): (1.5 / 3) / (4 / 7),    # P0 1/2, P5 -> P3
                ("A", "C"): 0.0,
                ("B", "A"): (1.5 / 4) / (3 / 7),    # P1 ties P0 / ... ; P3 -> P5 (tie P4)
                ("B", "B"): (1.5 / 4) / (3 / 7),
                ("B", "C"): (1 / 4) / (1 / 7),      # P7 -> P6
                ("C", "A"): 0.0,
                ("C", "B"): (1 / 1) / (4 / 7)}      # P6 -> P7
    assert expected[("A", "A")] == pytest.approx(1.75)
    assert expected[("A", "B")] == pytest.approx(0.875)
    assert expected[("B", "A")] == pytest.approx(0.875)
    assert expected[("B", "C")] == pytest.approx(1.75)
    assert expected[("C", "B")] == pytest.approx(1.75)
    for pair, value in expected.items():
        assert out.loc[pair, "clq"] == pytest.approx(value, abs=1e-12), pair
    assert np.isnan(out.loc[("C", "C"), "clq"])
    assert out.loc[("A", "A"), "colocated"] == pytest.approx(1.5)
    assert out.loc[("A", "A"), "n_b_other"] == 2
    assert len(out) == 9


def test_global_requested_pair(fixture_points):
    out = C.colocation_quotient(fixture_points, by="cat", a="A", b="B")
    assert out.index.tolist() == [("A", "B")]
    assert out["clq"].iloc[0] == pytest.approx(0.875)
    only_a = C.colocation_quotient(fixture_points, by="cat", a="A")  # no C->C: no warning
    assert only_a.index.get_level_values("b").tolist() == ["A", "B", "C"]
    with pytest.raises(ValueError, match=r"a='D'.*available: \['A', 'B', 'C'\]"):
        C.colocation_quotient(fixture_points, by="cat", a="D")


def test_local_fixture_values(fixture_points):
    out = C.local_colocation_quotient(fixture_points, by="cat", a="A", b="B", k=3,
                                      permutations=0)
    assert out.index.tolist() == ["P0", "P2", "P5"]
    # P0 by hand: neighbours P1 (1, B), P2 (1, A), P3 (sqrt 50, B); bandwidth sqrt 50
    w1, w3 = math.exp(-0.5 / 50), math.exp(-0.5)
    p0 = (w1 + w3) / (2 * w1 + w3) / (4 / 7)
    assert p0 == pytest.approx(1.080176, abs=1e-6)
    assert out.loc["P0", "clq"] == pytest.approx(p0, abs=1e-12)
    assert out["clq"].tolist() == pytest.approx([1.080176, 1.077402, 1.338079], abs=1e-6)
    assert out.loc["P0", "bandwidth_m"] == pytest.approx(math.sqrt(50))
    assert out["p_sim"].isna().all() and not out["significant"].any()


def test_local_self_colocation_single_point_is_nan_with_warning(fixture_points):
    with pytest.warns(MinespaceWarning, match="undefined"):
        out = C.local_colocation_quotient(fixture_points, by="cat", a="C", b="C", k=3,
                                          permutations=99, random_state=0)
    assert out["clq"].isna().all() and out["p_sim"].isna().all()


# --------------------------------------------------------------------------- brute force
def _brute_global(xy, lab, cats):
    """O(N²) global CLQ: exact ties on integer coordinates (squared distances)."""
    n = len(xy)
    d2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    tied = d2 == d2.min(axis=1, keepdims=True)
    share = tied / tied.sum(axis=1, keepdims=True)
    out = {}
    for a in cats:
        for b in cats:
            n_a, n_b = (lab == a).sum(), (lab == b).sum()
            n_other = n_b - 1 if a == b else n_b
            c = share[np.ix_(lab == a, lab == b)].sum()
            out[(a, b)] = (c / n_a) / (n_other / (n - 1)) if n_other else np.nan
    return out


def _brute_local(xy, lab, a, b, k):
    n = len(xy)
    d2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    order = np.argsort(d2, axis=1, kind="stable")[:, :k]  # ties by point order
    d = np.sqrt(np.take_along_axis(d2, order, axis=1))
    band = d[:, -1:]
    w = np.exp(-0.5 * d**2 / band**2) if (band > 0).all() else None
    f = (lab[order] == b).astype(float)
    n_other = (lab == b).sum() - (a == b)
    val = (w * f).sum(1) / w.sum(1) / (n_other / (n - 1))
    return val[lab == a]


def _random_layer(seed, n=400, side=12, n_cat=4):
    rng = np.random.default_rng(seed)
    xy = rng.integers(0, side, size=(n, 2)).astype(float)  # many coincident points and ties
    lab = np.array(list("ABCDEFG"[:n_cat]))[rng.integers(0, n_cat, n)]
    return xy, lab


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_global_equals_brute_force(seed):
    xy, lab = _random_layer(seed)
    cats = sorted(set(lab))
    expected = _brute_global(xy, lab, cats)
    out = C.colocation_quotient(_points(xy, lab), by="cat")
    for pair, value in expected.items():
        assert out.loc[pair, "clq"] == pytest.approx(value, rel=1e-12), pair


def test_global_brute_force_many_coincident_points():
    # 30 points on one spot: every one has 29 neighbours tied at distance 0, more than
    # the first KD-tree query returns
    rng = np.random.default_rng(5)
    xy = np.vstack([np.zeros((30, 2)), rng.integers(0, 50, size=(70, 2))]).astype(float)
    lab = np.array(list("AB"))[rng.integers(0, 2, 100)]
    expected = _brute_global(xy, lab, ["A", "B"])
    out = C.colocation_quotient(_points(xy, lab), by="cat")
    for pair, value in expected.items():
        assert out.loc[pair, "clq"] == pytest.approx(value, rel=1e-12), pair


def test_global_invariant_to_row_order_and_translation():
    xy, lab = _random_layer(9)
    base = C.colocation_quotient(_points(xy, lab), by="cat")["clq"]
    perm = np.random.default_rng(0).permutation(len(xy))
    moved = C.colocation_quotient(_points(xy[perm] + [1234, -567], lab[perm]), by="cat")
    pd.testing.assert_series_equal(moved["clq"], base, rtol=1e-12)


@pytest.mark.parametrize(("seed", "k", "a", "b"),
                         [(0, 8, "A", "B"), (1, 3, "B", "B"), (2, 12, "C", "A"),
                          (3, 1, "D", "C")])
def test_local_equals_brute_force(seed, k, a, b):
    rng = np.random.default_rng(seed)
    # integer coordinates on a sparse grid: ties but no k coincident neighbours
    xy = rng.choice(40 * 40, size=300, replace=False)
    xy = np.c_[xy // 40, xy % 40].astype(float)
    lab = np.array(list("ABCD"))[rng.integers(0, 4, 300)]
    expected = _brute_local(xy, lab, a, b, k)
    out = C.local_colocation_quotient(_points(xy, lab), by="cat", a=a, b=b, k=k,
                                      permutations=0)
    np.testing.assert_allclose(out["clq"].to_numpy(), expected, rtol=1e-12)


def test_local_ties_at_kth_neighbour_taken_in_point_order():
    # focal A at the centre, four B/C points at distance 1; k = 2 takes the first two
    xy = [(5, 5), (6, 5), (4, 5), (5, 6), (5, 4), (0, 0), (9, 9)]
    out = C.local_colocation_quotient(_points(xy, "ACCBBAB"), by="cat", a="A", b="B", k=2,
                                      permutations=0)
    # K_0 = {1, 2} (both C): share 0; the order-reversed labelling puts B first
    assert out["clq"].iloc[0] == 0.0
    out2 = C.local_colocation_quotient(_points(xy, "ABBCCAC"), by="cat", a="A", b="B", k=2,
                                       permutations=0)
    assert out2["clq"].iloc[0] == pytest.approx(1.0 / (2 / 6))


# --------------------------------------------------------------------------- input checks
def test_inputs_not_modified(fixture_points):
    before = fixture_points.copy()
    C.colocation_quotient(fixture_points, by="cat", a="A")
    C.local_colocation_quotient(fixture_points, by="cat", a="A", b="B", k=3,
                                permutations=99, random_state=0, fdr=False)
    pd.testing.assert_frame_equal(fixture_points, before)
    assert fixture_points.attrs == before.attrs


def test_geographic_or_missing_crs_raises(fixture_points):
    geo = fixture_points.to_crs(4326)
    for func in (lambda p: C.colocation_quotient(p, by="cat"),
                 lambda p: C.local_colocation_quotient(p, by="cat", a="A", b="B", k=3)):
        with pytest.raises(CRSError, match="metric"):
            func(geo)
        with pytest.raises(CRSError, match="no CRS"):
            func(fixture_points.set_crs(None, allow_override=True))


def test_bad_rows_and_options_named(fixture_points):
    bad = fixture_points.copy()
    bad.loc["P3", "geometry"] = LineString([(X0, Y0), (X0 + 1, Y0)])
    bad.loc["P4", "cat"] = None
    with pytest.raises(LayerError, match=r"row 3 \(id 'P3'\).*LineString"):
        C.colocation_quotient(bad, by="cat")
    with pytest.raises(LayerError, match=r"row 3 \(id 'P4'\).*cat.*missing category"):
        C.colocation_quotient(bad.drop(index="P3"), by="cat")
    with pytest.raises(KeyError, match="kind"):
        C.colocation_quotient(fixture_points, by="kind")
    with pytest.raises(ValueError, match="more than 8 points"):
        C.local_colocation_quotient(fixture_points, by="cat", a="A", b="B", k=8)
    with pytest.raises(ValueError, match="k must be"):
        C.local_colocation_quotient(fixture_points, by="cat", a="A", b="B", k=0)
    with pytest.raises(ValueError, match="permutations"):
        C.local_colocation_quotient(fixture_points, by="cat", a="A", b="B", k=3,
                                    permutations=-1)
    with pytest.raises(ValueError, match="b='Z'"):
        C.local_colocation_quotient(fixture_points, by="cat", a="A", b="Z", k=3)


def test_stack_two_layers():
    mines = gpd.GeoDataFrame({"name": ["m1", "m2"]},
                             geometry=[Point(X0, Y0), Point(X0 + 10, Y0)], crs=CRS,
                             index=pd.Index(["a", "b"], name="deposit_id"))
    plants = gpd.GeoDataFrame({"kind": ["coke"]}, geometry=[Point(X0 + 1, Y0)], crs=CRS,
                              index=pd.Index(["a"], name="plant_id"))
    pts = C.stack({"mine": mines, "plant": plants})
    assert pts.index.tolist() == [("mine", "a"), ("mine", "b"), ("plant", "a")]
    assert pts.index.names == ["layer", "id"]  # deposit_id and plant_id differ
    assert pts["kind"].isna().tolist() == [True, True, False]
    assert pts["layer"].tolist() == ["mine", "mine", "plant"]
    assert pts.crs == mines.crs
    out = C.colocation_quotient(pts, by="layer", a="mine", b="plant")
    # m1 -> plant (d 1), m2 -> plant (d 9): C = 2, (2/2) / (1/2)
    assert out["clq"].iloc[0] == pytest.approx(2.0)
    with pytest.raises(CRSError, match="different CRS"):
        C.stack({"mine": mines, "plant": plants.to_crs(32644)})
    with pytest.raises(ValueError, match="already has a column 'kind'"):
        C.stack({"mine": mines, "plant": plants}, by="kind")
    assert ms.colocation is C


# --------------------------------------------------------------------------- inference
def test_permutations_reproducible_and_bounded():
    xy, lab = _random_layer(7, n=300, side=40)
    pts = _points(xy, lab)
    kw = {"by": "cat", "a": "A", "b": "B", "k": 6, "permutations": 199, "fdr": False}
    p1 = C.local_colocation_quotient(pts, random_state=3, **kw)["p_sim"].to_numpy()
    p2 = C.local_colocation_quotient(pts, random_state=3, **kw)["p_sim"].to_numpy()
    p3 = C.local_colocation_quotient(pts, random_state=4, **kw)["p_sim"].to_numpy()
    np.testing.assert_array_equal(p1, p2)
    assert not np.array_equal(p1, p3)
    assert p1.min() >= 2 / 200 and p1.max() <= 1.0
    one = C.local_colocation_quotient(pts, random_state=3, alternative="greater",
                                      **kw)["p_sim"].to_numpy()
    assert one.min() >= 1 / 200 and one.max() <= 1.0
    # p-values lie on the grid (M + 1)/(R + 1)
    np.testing.assert_allclose(one * 200, np.round(one * 200), atol=1e-9)


def test_permutation_distribution_matches_exact_enumeration(fixture_points):
    # P0 (k = 3): its neighbours' labels are an ordered sample without replacement from
    # the 7 other labels (4 B). Enumerate all 7·6·5 samples for the exact P(sim >= obs).
    w = np.array([math.exp(-0.5 / 50), math.exp(-0.5 / 50), math.exp(-0.5)])
    w = w / w.sum()
    obs = w[0] + w[2]  # P1 and P3 are B
    others = [1, 0, 1, 1, 0, 0, 1]  # is-B of P1..P7
    sims = [w @ np.array([others[i] for i in s]) for s in itertools.permutations(range(7), 3)]
    exact = np.mean(np.array(sims) >= obs - 1e-12)
    r = 20_000
    out = C.local_colocation_quotient(fixture_points, by="cat", a="A", b="B", k=3,
                                      permutations=r, alternative="greater",
                                      random_state=11, fdr=False)
    p = out.loc["P0", "p_sim"]
    sd = math.sqrt(exact * (1 - exact) / r)
    assert abs(p - exact) < 4 * sd + 1 / r


def test_global_permutation_p_matches_exact_enumeration(fixture_points):
    # all 280 distinct arrangements of the labels AAABBBBC on the fixture's points, each
    # scored by the brute force above: the exact P(CLQ_{A->B} >= observed)
    xy = np.asarray(FIX_XY, float)
    arrangements = {tuple(p) for p in itertools.permutations(FIX_LAB)}
    assert len(arrangements) == 280
    observed = _brute_global(xy, np.array(list(FIX_LAB)), ["A", "B", "C"])[("A", "B")]
    values = np.array([_brute_global(xy, np.array(lab), ["A", "B", "C"])[("A", "B")]
                       for lab in sorted(arrangements)])
    exact = np.mean(values >= observed - 1e-12)
    r = 20_000
    with pytest.warns(MinespaceWarning):  # C -> C undefined
        out = C.colocation_quotient(fixture_points, by="cat", permutations=r,
                                    alternative="greater", random_state=5)
    p = out.loc[("A", "B"), "p_sim"]
    assert abs(p - exact) < 4 * math.sqrt(exact * (1 - exact) / r) + 1 / r
    assert np.isnan(out.loc[("C", "C"), "p_sim"])


def test_global_permutations_reproducible_and_bounded():
    xy, lab = _random_layer(3, n=300, side=40)
    pts = _points(xy, lab)
    kw = {"by": "cat", "permutations": 199}
    p1 = C.colocation_quotient(pts, random_state=1, **kw)["p_sim"].to_numpy()
    p2 = C.colocation_quotient(pts, random_state=1, **kw)["p_sim"].to_numpy()
    p3 = C.colocation_quotient(pts, random_state=2, **kw)["p_sim"].to_numpy()
    np.testing.assert_array_equal(p1, p2)
    assert not np.array_equal(p1, p3)
    assert p1.min() >= 2 / 200 and p1.max() <= 1.0
    # the values do not depend on the permutations
    pd.testing.assert_series_equal(C.colocation_quotient(pts, **kw)["clq"],
                                   C.colocation_quotient(pts, by="cat")["clq"])
    with pytest.raises(ValueError, match="permutations"):
        C.colocation_quotient(pts, by="cat", permutations=1.5)


def test_planted_colocation_significant_random_labels_not():
    rng = np.random.default_rng(42)
    n_a, n_c = 30, 600
    a_xy = rng.uniform(0, 100_000, (n_a, 2))
    b_xy = np.repeat(a_xy, 4, axis=0) + rng.normal(0, 50, (4 * n_a, 2))  # 4 B beside each A
    c_xy = rng.uniform(0, 100_000, (n_c, 2))                              # background
    xy = np.vstack([a_xy, b_xy, c_xy])
    lab = np.array(["A"] * n_a + ["B"] * 4 * n_a + ["C"] * n_c)
    kw = {"by": "cat", "a": "A", "b": "B", "k": 4, "permutations": "auto",
          "alternative": "greater", "random_state": 0}
    planted = C.local_colocation_quotient(_points(xy, lab), **kw)
    record = planted.attrs["inference"]["local_colocation_quotient"]
    assert record["permutations"] == 2999  # 4 * 30 / 0.05 = 2400 -> 3000 - 1
    assert (planted["colocation"] == "colocated").mean() > 0.9
    assert (planted["clq"] > 1).all()
    shuffled = _points(xy, rng.permutation(lab))
    null = C.local_colocation_quotient(shuffled, **kw)
    assert null["significant"].mean() < 0.1
    glob = C.colocation_quotient(_points(xy, lab), by="cat", a="A", b="B",
                                 permutations=999, alternative="greater", random_state=0)
    assert glob["clq"].iloc[0] > 3
    assert glob["p_sim"].iloc[0] == pytest.approx(1 / 1000)
