"""Tests for minespace.hotspots: esda called in the test, and hand fixtures (REFERENCE 3)."""

from __future__ import annotations

import itertools
import warnings

import esda
import geopandas as gpd
import libpysal
import numpy as np
import pandas as pd
import pytest
import scipy.sparse
import scipy.stats
from shapely.geometry import Polygon, box

from minespace import _permutation as P
from minespace import hotspots as H
from minespace import territories as T
from minespace.errors import MinespaceWarning

CRS = "EPSG:32645"

L_SHAPE = Polygon([(0, 0), (30_000, 0), (30_000, 8_000), (12_000, 8_000), (12_000, 20_000),
                   (0, 20_000)])

BH_P = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216, 0.222, 0.251,
        0.269, 0.275, 0.34, 0.341, 0.384, 0.569, 0.594, 0.696, 0.762, 0.94, 0.942, 0.975,
        0.986]


def _grid(seed=0):
    boundary = gpd.GeoDataFrame(geometry=[L_SHAPE], crs=CRS)
    terr = T.hex_grid(boundary, cell_km=2)
    rng = np.random.default_rng(seed)
    # a smooth trend plus noise: spatially autocorrelated values
    y = terr["rep_x"] / 3000 + rng.normal(0, 1.0, len(terr))
    y = y + np.where((terr["rep_x"] < 6000) & (terr["rep_y"] > 12000), 8.0, 0.0)
    return terr.assign(value=y.to_numpy())


def _fixed_r():
    """A fixed small R on these ~140 territories: minespace warns that 2/(R+1) > alpha/n."""
    return pytest.warns(MinespaceWarning, match="smallest attainable")


def _esda_w(terr):
    w = T.contiguity(terr)
    return w


def test_bh_fixture_le_rule_and_difference_to_esda():
    reject, q = H.benjamini_hochberg(BH_P, alpha=0.25)
    assert reject.sum() == 6  # p_(6) = 0.06 = 6 * 0.25 / 25 exactly, accepted by <=
    assert reject[:6].all() and not reject[6:].any()
    np.testing.assert_allclose(q[:6], [0.025, 0.1, 0.21, 0.21, 0.21, 0.25])
    np.testing.assert_allclose(q, scipy.stats.false_discovery_control(BH_P, method="bh"))
    # esda's strict < gives the 0.05 cut-off: 5 rejections
    cut = esda.fdr(np.array(BH_P), 0.25)
    assert cut == pytest.approx(0.05)
    assert (np.array(BH_P) <= cut).sum() == 5
    # nothing passes: BH rejects nothing (esda would fall back to Bonferroni)
    assert not H.benjamini_hochberg([0.5, 0.9], alpha=0.05)[0].any()
    # NaN ignored
    r, qn = H.benjamini_hochberg([0.001, np.nan], alpha=0.05)
    assert r.tolist() == [True, False] and np.isnan(qn[1])


def _fixture_6():
    xy = np.array([(10, 10), (20, 10), (40, 10), (15, 20), (30, 20), (30, 30)], float)
    ids = [f"t{k}" for k in range(6)]
    terr = gpd.GeoDataFrame({"y": [2, 3, 3.2, 5, 8, 7]},
                            geometry=[box(x - 1, y - 1, x + 1, y + 1) for x, y in xy],
                            index=pd.Index(ids, name="territory_id"), crs=CRS)
    w = libpysal.weights.DistanceBand(xy, threshold=15, binary=True, ids=ids,
                                      silence_warnings=True)
    return terr, w


def test_gi_star_fixture_hand_and_esda():
    terr, w = _fixture_6()
    out = H.getis_ord(terr, "y", w=w, permutations=0)
    expected = [-1.39727626, -0.28917762, 0.65064964, -0.28917762, 1.23452088, 2.02424331]
    np.testing.assert_allclose(out["gi_star_z"], expected, atol=1e-8)
    ref = esda.G_Local(terr["y"].to_numpy(), w, transform="B", star=True, permutations=0)
    np.testing.assert_allclose(out["gi_star_z"], ref.Zs, rtol=1e-12)
    np.testing.assert_allclose(out["gi_star"], ref.Gs, rtol=1e-12)
    # hand formula for unit t5: neighbours t4 (dist 10) + self; w sum 2, w2 sum 2
    y = terr["y"].to_numpy()
    num = (y[4] + y[5]) - y.mean() * 2
    den = y.std() * np.sqrt((6 * 2 - 2**2) / 5)
    assert out["gi_star_z"].iloc[5] == pytest.approx(num / den)


def test_gi_star_grid_against_esda_statistics_and_pvalues():
    terr = _grid()
    w = _esda_w(terr)
    with _fixed_r():
        out = H.getis_ord(terr, "value", w=w, permutations=999, alternative="greater",
                          random_state=7)
    y = terr["value"].to_numpy()
    w.transform = "B"
    ref = esda.G_Local(y, w, transform="B", star=True, permutations=999, seed=12345,
                       n_jobs=1, keep_simulations=True)
    np.testing.assert_allclose(out["gi_star"], ref.Gs, rtol=1e-12)
    np.testing.assert_allclose(out["gi_star_z"], ref.Zs, rtol=1e-10)
    p_ref = ((ref.rGs >= ref.Gs[:, None]).sum(axis=1) + 1) / 1000
    diff = np.abs(out["gi_star_p"].to_numpy() - p_ref)
    # two independent Monte-Carlo estimates of the same p: sd <= sqrt(2 * .25 / 999)
    assert diff.max() < 0.1
    assert diff.mean() < 0.02
    assert "hot" in set(out["hotspot"])  # planted high block
    hot = out["hotspot"] == "hot"
    assert (out.loc[hot, "gi_star_z"] > 0).all()


def test_local_moran_against_esda():
    terr = _grid(1)
    w = _esda_w(terr)
    y = terr["value"].to_numpy()
    with _fixed_r():
        out = H.local_moran(terr, "value", w=w, permutations=999, alternative="greater",
                            random_state=3)
    w.transform = "r"
    ref = esda.Moran_Local(y, w, transformation="r", permutations=999, seed=12345, n_jobs=1,
                           keep_simulations=True)
    np.testing.assert_allclose(out["moran_i"], ref.Is, rtol=1e-10)
    # quadrants as esda: 1 HH, 2 LH, 3 LL, 4 HL
    assert (out["moran_quadrant"].map({"HH": 1, "LH": 2, "LL": 3, "HL": 4}).to_numpy()
            == ref.q).all()
    p_ref = ((ref.rlisas >= ref.Is[:, None]).sum(axis=1) + 1) / 1000
    diff = np.abs(out["moran_p"].to_numpy() - p_ref)
    assert diff.max() < 0.1
    assert diff.mean() < 0.02
    assert {"HH", "LL"} <= set(out["lisa"])


def test_seeded_and_labels_follow_fdr():
    terr = _grid(2)
    with _fixed_r():
        a = H.local_moran(terr, "value", permutations=199, random_state=11)
    with _fixed_r():
        b = H.local_moran(terr, "value", permutations=199, random_state=11)
    pd.testing.assert_frame_equal(a, b)
    # two-sided p-values live on the grid 2(m+1)/(R+1), floor 2/(R+1), capped at 1
    p = a["moran_p"].to_numpy()
    assert (p >= 2 / 200 - 1e-12).all() and (p <= 1).all()
    reject, _ = H.benjamini_hochberg(p, alpha=0.05)
    assert ((a["lisa"] != "not significant").to_numpy() == reject).all()
    raw = H.local_moran(terr, "value", permutations=199, random_state=11, fdr=False)
    assert ((raw["lisa"] != "not significant").to_numpy() == (p <= 0.05)).all()
    assert "moran_i" not in terr.columns  # input unchanged


def test_global_moran_stl_fixture_and_esda():
    gal = libpysal.io.open(libpysal.examples.get_path("stl.gal"))
    w = gal.read()
    gal.close()
    y = pd.read_csv(libpysal.examples.get_path("stl_hom.txt"), skiprows=1)["HR8893"].to_numpy(float)
    ids = w.id_order
    terr = gpd.GeoDataFrame({"hr": y}, geometry=[box(k, 0, k + 1, 1) for k in range(len(y))],
                            index=pd.Index(ids, name="territory_id"), crs=CRS)
    res = H.global_moran(terr, "hr", w=w, permutations=499, random_state=0)
    assert res.I == pytest.approx(0.24365582621771659, rel=1e-12)
    assert res.p_norm == pytest.approx(2 * 0.00013573931385468807, rel=1e-6)
    ref = esda.Moran(y, w, permutations=0)
    assert res.z_norm == pytest.approx(ref.z_norm, rel=1e-12)
    assert res.expected == pytest.approx(ref.EI)
    assert res.p_sim <= 0.01


def test_input_errors():
    terr, w = _fixture_6()
    with pytest.raises(ValueError, match="missing"):
        H.getis_ord(terr.assign(y=[1, np.nan, 2, 3, 4, 5]), "y", w=w)
    with pytest.raises(ValueError, match="ids of w"):
        H.getis_ord(terr.iloc[:5], "y", w=w)
    with pytest.raises(ValueError, match="alternative"):
        H.getis_ord(terr, "y", w=w, alternative="folded")


def test_gi_star_normal_approximation_without_permutations():
    terr, w = _fixture_6()
    out = H.getis_ord(terr, "y", w=w, permutations=0, alpha=0.1, fdr=False)
    np.testing.assert_allclose(out["gi_star_p"], 2 * scipy.stats.norm.sf(np.abs(out["gi_star_z"])))
    # only t5 (z = 2.024, p = 0.043) is significant at 0.1 without FDR
    assert out["hotspot"].tolist() == ["not significant"] * 5 + ["hot"]


def test_weights_read_from_dicts_equal_libpysal_sparse():
    """_w_csr (no W.sparse cache) equals libpysal's own sparse matrix."""
    rng = np.random.default_rng(4)
    pts = rng.uniform(0, 10_000, (60, 2))
    ids = [int(k) * 7 + 3 for k in range(60)]  # integer ids
    knn = libpysal.weights.KNN(pts, k=4, ids=ids, silence_warnings=True)
    weights = {i: rng.uniform(0.5, 2.0, len(nb)).tolist() for i, nb in knn.neighbors.items()}
    order = [ids[k] for k in rng.permutation(60)]  # id_order differs from the dict order

    def make():
        return libpysal.weights.W(knn.neighbors, weights, id_order=order,
                                  silence_warnings=True)

    fresh = make()
    assert getattr(fresh, "_sparse", None) is None
    mine = H._w_csr(fresh)
    np.testing.assert_array_equal(mine.toarray(), make().sparse.toarray())
    fresh.transform = "r"
    ref = make()
    ref.transform = "r"
    np.testing.assert_array_equal(H._w_csr(fresh).toarray(), ref.sparse.toarray())
    # a W whose sparse matrix is already built: reused, not modified
    raw = make()
    expected = raw.sparse.toarray()  # builds libpysal's cache
    cached = H._w_csr(raw)
    np.testing.assert_array_equal(cached.toarray(), expected)
    cached.data[:] = -1.0
    assert (raw.sparse.data > 0).all()


def test_permutations_chunked_over_units_identical_and_cached_w(monkeypatch):
    """Chunk size and the W.sparse cache do not change any statistic; esda agrees."""
    terr = _grid(2)
    y = terr["value"].to_numpy()
    kw = {"permutations": 199, "random_state": 5, "fdr": False}
    base = H.local_moran(terr, "value", w=T.contiguity(terr), **kw)
    gi = H.getis_ord(terr, "value", w=T.contiguity(terr), **kw)
    w_cached = T.contiguity(terr)
    _ = w_cached.sparse  # libpysal's cached matrix: the other code path
    monkeypatch.setattr(P, "_CHUNK_ELEMENTS", 1)  # one unit per chunk
    small = H.local_moran(terr, "value", w=w_cached, **kw)
    gi_small = H.getis_ord(terr, "value", w=w_cached, **kw)
    for col in ("moran_i", "moran_lag", "moran_p", "lisa"):
        assert base[col].tolist() == small[col].tolist()
    for col in ("gi_star", "gi_star_z", "gi_star_p", "hotspot"):
        assert gi[col].tolist() == gi_small[col].tolist()
    w_cached.transform = "r"
    ref = esda.Moran_Local(y, w_cached, transformation="r", permutations=199, seed=1,
                           n_jobs=1, keep_simulations=True)
    np.testing.assert_allclose(small["moran_i"], ref.Is, rtol=1e-10)
    np.testing.assert_allclose(small["moran_lag"], w_cached.sparse @ (y - y.mean()),
                               rtol=1e-10, atol=1e-12)
    # two-sided folded p-values: independent Monte-Carlo estimates of the same p
    p_ref = np.minimum(1.0, 2 * (np.minimum((ref.rlisas >= ref.Is[:, None]).sum(axis=1),
                                            (ref.rlisas <= ref.Is[:, None]).sum(axis=1))
                                 + 1) / 200)
    diff = np.abs(small["moran_p"].to_numpy() - p_ref)
    assert diff.mean() < 0.05


# ------------------------------------------------------------------ reachable significance
def _planted_grid(side=20, seed=0):
    """side x side unit squares (queen weights), N(0, 1) noise, a 3 x 3 block of 10s."""
    rng = np.random.default_rng(seed)
    rows, cols = np.divmod(np.arange(side * side), side)
    y = rng.normal(0.0, 1.0, side * side)
    block = (abs(rows - side // 2) <= 1) & (abs(cols - side // 2) <= 1)
    y[block] = 10.0
    terr = gpd.GeoDataFrame({"y": y}, geometry=[box(c, r, c + 1, r + 1) for r, c in
                                                zip(rows, cols, strict=True)],
                            index=pd.Index(np.arange(side * side), name="territory_id"),
                            crs=CRS)
    w = libpysal.weights.lat2W(side, side, rook=False)
    centre = int(side // 2 * side + side // 2)
    return terr, w, centre


def test_auto_permutations_rule_by_hand():
    # (R + 1) >= sides * 4 * n / alpha, rounded up to a multiple of 1000
    assert H.auto_permutations(568, alpha=0.05) == 90_999            # 2*4*568/0.05 = 90,880
    assert H.auto_permutations(568, alpha=0.05, alternative="greater") == 45_999  # 45,440
    assert H.auto_permutations(400, alpha=0.05) == 63_999            # 64,000 exactly
    assert H.auto_permutations(400, alpha=0.1) == 31_999             # 32,000
    assert H.auto_permutations(568, alpha=0.05, fdr=False) == 999    # 160 -> at least 1000
    assert H.auto_permutations(10_000, alpha=0.05) == H.AUTO_CAP == 499_999  # 1.6e6 capped
    # the smallest two-sided p 2/(R+1) then passes the first BH step alpha/n (with margin 4)
    assert 2 / (90_999 + 1) <= 0.05 / 568 / 4
    # stages of 999, 9,999, 99,999 ... permutations; a unit goes on while p <= min(2 alpha,
    # 2 * 20 / (R + 1)): 0.04 after 999, 0.004 after 9,999 (two-sided, alpha 0.05)
    assert P.auto_stages(90_999) == [999, 9_999, 90_999]
    assert P.auto_stages(499_999) == [999, 9_999, 99_999, 499_999]
    assert P.stage_cut(999, 0.05, "two-sided") == pytest.approx(0.04)
    assert P.stage_cut(9_999, 0.05, "two-sided") == pytest.approx(0.004)
    assert P.stage_cut(999, 0.01, "greater") == pytest.approx(0.02)  # 2 alpha < 20/1000


def test_default_finds_planted_block_where_999_permutations_cannot():
    terr, w, centre = _planted_grid()
    n = len(terr)  # 400: first BH threshold 0.05/400 = 1.25e-4 < 2/1000
    with pytest.warns(MinespaceWarning) as rec:
        fixed = H.getis_ord(terr, "y", w=w, permutations=999, random_state=0)
    msg = str(rec[0].message)
    assert "999 permutations" in msg and "0.002" in msg and "0.05/400" in msg
    assert "permutations='auto' (here 63,999)" in msg
    assert (fixed["hotspot"] == "not significant").all()
    assert fixed.loc[centre, "gi_star_p"] == pytest.approx(2 / 1000)  # the floor, not enough

    out = H.getis_ord(terr, "y", w=w, random_state=0)  # default permutations="auto"
    rec = out.attrs["inference"]["getis_ord"]
    assert rec["permutations"] == 63_999 and rec["requested"] == "auto"
    assert rec["alpha"] == 0.05 and rec["fdr"] == "benjamini-hochberg"
    assert rec["random_state"] == 0 and rec["n_tested"] == n
    assert 9 <= rec["refined"] < n // 2
    # the centre's 8 neighbours are the other 8 tens: no random draw of 8 of the 399 others
    # reaches that sum, so p is the floor 2/64,000, below 0.05/400
    assert out.loc[centre, "gi_star_p"] == pytest.approx(2 / 64_000)
    assert out.loc[centre, "hotspot"] == "hot"
    hot = out.index[out["hotspot"] == "hot"]
    assert set(hot) <= set(out.index[out["gi_star_z"] > 3])
    # the same planted block through local Moran: the centre is a significant HH
    lm = H.local_moran(terr, "y", w=w, random_state=0)
    assert lm.loc[centre, "lisa"] == "HH"
    assert lm.attrs["inference"]["local_moran"]["permutations"] == 63_999


def test_no_warning_when_reachable_and_without_fdr():
    # n = 36: 2/1000 = 0.002 > 0.05/36 = 0.00139 (two units at the floor would pass BH)
    terr, w, _ = _planted_grid(side=6)
    with pytest.warns(MinespaceWarning, match="at least 2 territories share"):
        H.getis_ord(terr, "y", w=w, permutations=999)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        H.getis_ord(terr, "y", w=w, permutations=999, fdr=False)  # 0.002 <= alpha
        H.getis_ord(terr, "y", w=w, permutations=1999)  # 2/2000 = 0.001 <= 0.05/36
        H.getis_ord(terr, "y", w=w, permutations=0)  # normal p-values
    with pytest.warns(MinespaceWarning, match="no territory can be flagged"):
        H.getis_ord(terr, "y", w=w, permutations=19, fdr=False)  # 2/20 = 0.1 > 0.05


def test_normal_p_values_are_twice_esda_one_sided_p_norm():
    terr, w, _ = _planted_grid(side=8, seed=3)
    out = H.getis_ord(terr, "y", w=w, permutations=0)
    w.transform = "B"
    ref = esda.G_Local(terr["y"].to_numpy(), w, transform="B", star=True, permutations=0)
    np.testing.assert_allclose(out["gi_star_z"], ref.Zs, rtol=1e-10)
    # esda's p_norm is one-sided (norm.sf(|Zs|)); ours is two-sided
    np.testing.assert_allclose(out["gi_star_p"], 2 * ref.p_norm, rtol=1e-10)
    assert out.attrs["inference"]["getis_ord"]["method"] == "normal approximation"


def test_two_sided_permutation_p_is_twice_esda_folded_p_sim():
    """esda's p_sim is one-sided 'folded' (min(M, R - M) + 1)/(R + 1); ours doubles it."""
    terr = _grid(4)
    w = _esda_w(terr)
    y = terr["value"].to_numpy()
    out = H.getis_ord(terr, "value", w=w, permutations=9999, random_state=2)
    w.transform = "B"
    ref = esda.G_Local(y, w, transform="B", star=True, permutations=9999, seed=5, n_jobs=1)
    mid = (ref.p_sim > 0.05) & (ref.p_sim < 0.45)
    assert mid.sum() > 10
    ours = out["gi_star_p"].to_numpy()[mid]
    assert np.abs(ours - 2 * ref.p_sim[mid]).mean() < 0.03
    assert np.abs(ours - ref.p_sim[mid]).mean() > 0.05


def _exact_upper_lower(y, weights, i):
    """Exact conditional-permutation P(lag >= obs), P(lag <= obs) of unit i by enumeration."""
    others = np.delete(y, i)
    nb = np.flatnonzero(weights[i])
    wv = weights[i, nb]
    obs = wv @ y[nb]
    sims = np.array([wv @ others[list(p)] for p in itertools.permutations(range(len(others)),
                                                                            len(nb))])
    return (sims >= obs - 1e-9).mean(), (sims <= obs + 1e-9).mean()


@pytest.mark.parametrize("weighted", [False, True])
def test_permutation_counts_match_exact_enumeration(weighted):
    """Both code paths (equal row weights; general weights) against exact enumeration."""
    y = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0])
    edges = [(0, 1), (0, 2), (1, 2), (1, 3), (2, 4), (3, 4), (3, 5), (4, 6), (5, 6), (0, 6)]
    weights = np.zeros((7, 7))
    for a, b in edges:
        weights[a, b] = weights[b, a] = 1.0
    if weighted:
        weights = weights * np.arange(1, 8)[None, :] / 3.0  # unequal within rows
    mat = scipy.sparse.csr_matrix(weights)
    assert (P._row_constant(mat) is None) == weighted
    R = 100_000
    ge, le = P._permutation_counts(y, mat, mat @ y, R, np.random.default_rng(0))
    units = np.array([1, 5])
    ge_sub, le_sub = P._permutation_counts(y, mat, mat @ y, R, np.random.default_rng(1),
                                           units=units)
    for i in range(7):
        up, lo = _exact_upper_lower(y, weights, i)
        assert ge[i] / R == pytest.approx(up, abs=0.01)
        assert le[i] / R == pytest.approx(lo, abs=0.01)
    for k, i in enumerate(units):
        up, lo = _exact_upper_lower(y, weights, i)
        assert ge_sub[k] / R == pytest.approx(up, abs=0.01)
        assert le_sub[k] / R == pytest.approx(lo, abs=0.01)


def test_global_moran_p_sim_two_sided_against_exact_and_esda():
    # 2 x 4 rook lattice, row-standardised: the exact permutation distribution of I over all
    # 8! orderings gives P(I_sim <= I) = 0.1714..., so the two-sided p is 0.3428...
    y = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])
    w = libpysal.weights.lat2W(2, 4, rook=True)
    terr = gpd.GeoDataFrame({"y": y}, geometry=[box(k, 0, k + 1, 1) for k in range(8)],
                            index=pd.Index(w.id_order, name="territory_id"), crs=CRS)
    wr = w.full()[0] / w.full()[0].sum(axis=1, keepdims=True)
    z = y - y.mean()
    perms = z[np.array(list(itertools.permutations(range(8))))]
    i_all = 8 / wr.sum() * np.einsum("pi,ij,pj->p", perms, wr, perms) / (z @ z)
    i_obs = 8 / wr.sum() * z @ wr @ z / (z @ z)
    exact = 2 * min((i_all >= i_obs - 1e-12).mean(), (i_all <= i_obs + 1e-12).mean())
    assert exact == pytest.approx(0.342857, abs=1e-6)
    res = H.global_moran(terr, "y", w=w, permutations=19_999, random_state=0)
    assert res.I == pytest.approx(i_obs)
    assert res.p_sim == pytest.approx(exact, abs=0.02)
    w.transform = "r"
    np.random.seed(1)  # noqa: NPY002  (esda.Moran draws from numpy's global state)
    ref = esda.Moran(y, w, permutations=9999)  # esda's p_sim: one-sided, folded
    assert ref.p_sim == pytest.approx(exact / 2, abs=0.02)
    assert res.p_sim == pytest.approx(2 * ref.p_sim, abs=0.03)
