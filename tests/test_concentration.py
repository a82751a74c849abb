"""Tests for minespace.concentration against hand-worked fixtures (REFERENCE_VALUES 1)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from minespace import concentration as C
from minespace import territories as T
from minespace.errors import FeaturesDroppedWarning

CRS = "EPSG:32645"

# Fixture 4.1a (EconGeo example): every row and column sums to 100
ECONGEO = pd.DataFrame(
    [[100, 0, 0, 0, 0], [0, 15, 5, 70, 10], [0, 20, 10, 20, 50], [0, 25, 30, 5, 40],
     [0, 40, 55, 5, 0]],
    index=pd.Index(["R1", "R2", "R3", "R4", "R5"], name="territory_id"),
    columns=["I1", "I2", "I3", "I4", "I5"], dtype=float,
)


def _layers_from_matrix(mat: pd.DataFrame, extra_empty: bool = False):
    """One 1x1 km square per region; one deposit per non-zero cell with weight E_ij."""
    names = list(mat.index) + (["R_empty"] if extra_empty else [])
    polys = gpd.GeoDataFrame({"code": names},
                             geometry=[box(2000 * k, 0, 2000 * k + 1000, 1000)
                                       for k in range(len(names))], crs=CRS)
    terr = T.from_polygons(polys, id="code")
    long = mat.stack()
    long = long[long > 0]
    pos = [names.index(r) for r in long.index.get_level_values(0)]
    rng = np.random.default_rng(0)
    x = np.array(pos) * 2000 + rng.uniform(100, 900, len(long))
    y = rng.uniform(100, 900, len(long))
    deps = gpd.GeoDataFrame(
        {"industry": long.index.get_level_values(1).astype(str), "size": long.to_numpy()},
        geometry=gpd.points_from_xy(x, y), crs=CRS,
        index=pd.Index([f"D{i}" for i in range(len(long))], name="deposit_id"))
    return terr, deps


def test_lq_krugman_hhi_hand_values_plain():
    lq = C._lq(ECONGEO)
    # every row/column sums to 100 -> LQ = 5 * row share
    assert lq.loc["R1", "I1"] == pytest.approx(5.0)
    assert lq.loc["R2", "I4"] == pytest.approx(3.5)
    assert lq.loc["R3", "I5"] == pytest.approx(2.5)
    assert lq.loc["R5", "I3"] == pytest.approx(2.75)
    assert lq.loc["R2", "I3"] == pytest.approx(0.25)
    np.testing.assert_allclose(C._krugman(ECONGEO), [1.6, 1.0, 0.6, 0.7, 1.1])
    hhi = C._hhi(ECONGEO)
    np.testing.assert_allclose(hhi["hhi"], [1.0, 0.525, 0.34, 0.315, 0.465])
    np.testing.assert_allclose(hhi["hhi_norm"], (hhi["hhi"] - 0.2) / 0.8)


def test_public_functions_on_fixture_geometry():
    terr, deps = _layers_from_matrix(ECONGEO, extra_empty=True)
    lq = C.location_quotient(terr, deps, by="industry", weight="size")
    assert lq.loc["R2", "lq__I4"] == pytest.approx(3.5)
    assert lq.loc["R5", "lq__I3"] == pytest.approx(2.75)
    assert lq.loc["R1", "lq__I2"] == 0.0  # present territory, absent category -> 0
    # empty territory: undefined -> NaN, never 0
    assert lq.loc["R_empty"].filter(like="lq__").isna().all()
    spec = C.specialization(terr, deps, by="industry", weight="size")
    np.testing.assert_allclose(spec.loc[ECONGEO.index, "krugman"], [1.6, 1.0, 0.6, 0.7, 1.1])
    np.testing.assert_allclose(spec.loc[ECONGEO.index, "hhi"], [1.0, 0.525, 0.34, 0.315, 0.465])
    assert np.isnan(spec.loc["R_empty", "krugman"]) and np.isnan(spec.loc["R_empty", "hhi"])
    tot = C.totals(terr, deps, by="industry", weight="size")
    assert tot.loc["R3", "size__I5"] == 50.0
    assert tot.loc["R3", "size"] == 100.0
    assert tot.loc["R3", "size_per_km2"] == pytest.approx(100.0)  # 1 km2 squares
    assert tot.loc["R_empty", "size"] == 0.0
    cnt = C.totals(terr, deps, by="industry")
    assert cnt.loc["R2", "count"] == 4.0  # four non-zero industries in R2
    # inputs unchanged
    assert "lq__I1" not in terr.columns and "territory_id" not in deps.columns


def test_locational_gini_and_hoover_hand():
    # two regions, x = [.5, .5], industry all in region 1: sorted by LQ -> (0, 2)
    # Lorenz points X = 0, .5, 1 ; S = 0, 0, 1 -> area = .5*(0+0)*.5 + .5*(0+1)*.5 = .25
    assert C._locational_gini(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == pytest.approx(0.5)
    assert C._hoover(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == pytest.approx(0.5)
    # s equal to x -> no concentration
    x = np.array([0.4, 0.3, 0.2, 0.1])
    assert C._locational_gini(x, x) == pytest.approx(0.0)
    assert C._hoover(x, x) == 0.0
    # three regions x = [.2, .3, .5], s = [.5, .3, .2]: LQ = 2.5, 1, .4
    # sorted: (x, s) = (.5, .2), (.3, .3), (.2, .5); X = 0,.5,.8,1 ; S = 0,.2,.5,1
    # sum dX*(S_k+S_k-1) = .5*.2 + .3*.7 + .2*1.5 = .1 + .21 + .3 = .61 -> G = .39
    assert C._locational_gini(np.array([0.5, 0.3, 0.2]),
                              np.array([0.2, 0.3, 0.5])) == pytest.approx(0.39)
    assert C._hoover(np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.3, 0.5])) == pytest.approx(0.3)


def _eg_layers(plants_a, b_per_region):
    """Regions R1..R4; category A plants (region, size); one B plant per region."""
    rows = [(r, "A", s) for r, s in plants_a] + [(f"R{k + 1}", "B", s)
                                                  for k, s in enumerate(b_per_region) if s > 0]
    names = ["R1", "R2", "R3", "R4"]
    polys = gpd.GeoDataFrame({"code": names}, geometry=[box(2000 * k, 0, 2000 * k + 1000, 1000)
                                                        for k in range(4)], crs=CRS)
    terr = T.from_polygons(polys, id="code")
    x = [names.index(r) * 2000 + 500 for r, _, _ in rows]
    deps = gpd.GeoDataFrame({"industry": [c for _, c, _ in rows],
                             "size": [float(s) for _, _, s in rows]},
                            geometry=gpd.points_from_xy(x, [500] * len(rows)), crs=CRS)
    return terr, deps


def test_ellison_glaeser_fixture_41b():
    # plain arithmetic: x = [.4,.3,.2,.1], plants (R1,50),(R1,30),(R2,10),(R3,5),(R4,5)
    s = np.array([0.8, 0.1, 0.05, 0.05])
    x = np.array([0.4, 0.3, 0.2, 0.1])
    h = C._plant_herfindahl(np.array(["A"] * 5), np.array([50, 30, 10, 5, 5.0]))["A"]
    assert h == pytest.approx(0.25 + 0.09 + 0.01 + 0.0025 + 0.0025)  # 0.355
    # G = .16 + .04 + .0225 + .0025 = .225 ; 1 - Σx² = .7
    expected = (0.225 - 0.7 * 0.355) / (0.7 * (1 - 0.355))
    assert expected == pytest.approx(-0.052049, abs=1e-6)
    assert C._ellison_glaeser(s, x, h) == pytest.approx(expected)
    # through the public function: B fills regions up to E_j = [400, 300, 200, 100]
    terr, deps = _eg_layers([("R1", 50), ("R1", 30), ("R2", 10), ("R3", 5), ("R4", 5)],
                            [320, 290, 195, 95])
    table = C.concentration(terr, deps, by="industry", weight="size")
    assert table.loc["A", "ellison_glaeser"] == pytest.approx(-0.052049, abs=1e-6)
    assert table.loc["A", "plant_hhi"] == pytest.approx(0.355)
    assert table.loc["A", "hoover"] == pytest.approx(0.5 * (0.4 + 0.2 + 0.15 + 0.05))
    assert table.loc["A", "n_deposits"] == 5


def test_ellison_glaeser_positive_when_many_small_plants_cluster():
    # ten equal plants, all in R1; x = [.25]*4 -> G = .75, H = .1, 1-Σx² = .75
    # γ = (.75 - .75*.1) / (.75*.9) = 1
    terr, deps = _eg_layers([("R1", 1)] * 10, [15, 25, 25, 25])
    table = C.concentration(terr, deps, by="industry", weight="size")
    assert table.loc["A", "ellison_glaeser"] == pytest.approx(1.0)
    # unweighted: each deposit counts 1 -> same here (equal plants), H = 1/10
    unweighted = C.concentration(terr, deps, by="industry")
    assert unweighted.loc["A", "plant_hhi"] == pytest.approx(0.1)


def test_single_territory_and_single_place():
    mat = pd.DataFrame({"a": [3.0], "b": [1.0]}, index=["only"])
    np.testing.assert_allclose(C._lq(mat).to_numpy(), [[1.0, 1.0]])
    assert C._krugman(mat).iloc[0] == 0.0
    table = C._concentration_table(mat, mat.sum(axis=1), None)
    np.testing.assert_allclose(table["gini"], 0.0)
    np.testing.assert_allclose(table["hoover"], 0.0)
    # a category present in one territory only
    mat2 = pd.DataFrame({"a": [2.0, 0.0], "b": [2.0, 4.0]}, index=["t1", "t2"])
    lq = C._lq(mat2)
    assert lq.loc["t1", "a"] == pytest.approx((2 / 4) / (2 / 8))
    assert lq.loc["t2", "a"] == 0.0


def test_missing_weights_raise_or_drop():
    terr, deps = _layers_from_matrix(ECONGEO)
    deps.loc[deps.index[0], "size"] = np.nan
    with pytest.raises(ValueError, match="missing, infinite or negative for 1 deposit"):
        C.location_quotient(terr, deps, by="industry", weight="size")
    with pytest.warns(FeaturesDroppedWarning, match="1 deposit"):
        out = C.totals(terr, deps, by="industry", weight="size", missing="drop")
    assert out["size"].sum() == pytest.approx(500 - 100)  # first deposit was R1/I1 = 100
    with pytest.raises(KeyError):
        C.totals(terr, deps, by="nope")


def test_multiple_by_columns_and_labels():
    terr, deps = _layers_from_matrix(ECONGEO)
    deps["kind"] = np.where(deps["size"] >= 40, "big", "small")
    out = C.totals(terr, deps, by=["industry", "kind"])
    assert "count__I1/big" in out.columns
    assert out.filter(regex=r"^count__").to_numpy().sum() == len(deps)


def test_hhi_bounds_property():
    rng = np.random.default_rng(3)
    mat = pd.DataFrame(rng.integers(0, 5, size=(50, 6)).astype(float))
    mat = mat[mat.sum(axis=1) > 0]
    hhi = C._hhi(mat)
    assert ((hhi["hhi"] >= 1 / 6 - 1e-12) & (hhi["hhi"] <= 1 + 1e-12)).all()
    k = C._krugman(mat)
    assert ((k >= 0) & (k <= 2)).all()
    # row order does not change the values
    perm = mat.sample(frac=1.0, random_state=1)
    pd.testing.assert_series_equal(C._krugman(perm).sort_index(), k.sort_index())


def test_all_deposits_in_one_place_public():
    polys = gpd.GeoDataFrame({"code": ["A", "B"]},
                             geometry=[box(0, 0, 1000, 1000), box(1000, 0, 4000, 1000)], crs=CRS)
    terr = T.from_polygons(polys, id="code")  # areas 1 and 3 km2
    deps = gpd.GeoDataFrame({"industry": ["x", "x", "y"]},
                            geometry=gpd.points_from_xy([500] * 3, [500] * 3), crs=CRS)
    lq = C.location_quotient(terr, deps, by="industry")
    assert lq.loc["A", ["lq__x", "lq__y"]].tolist() == [1.0, 1.0]
    assert lq.loc["B", ["lq__x", "lq__y"]].isna().all()
    spec = C.specialization(terr, deps, by="industry")
    assert spec.loc["A", "krugman"] == 0.0
    # shares (1, 0): vs activity x = (1, 0) -> 0; vs area x = (.25, .75) -> .75
    total = C.concentration(terr, deps, by="industry")
    np.testing.assert_allclose(total["hoover"], 0.0)
    np.testing.assert_allclose(total["gini"], 0.0)
    area = C.concentration(terr, deps, by="industry", reference="area")
    np.testing.assert_allclose(area["hoover"], 0.75)
    # Lorenz by LQ: B (x=.75, s=0) then A (x=.25, s=1): G = 1 - (.75*0 + .25*1) = .75
    np.testing.assert_allclose(area["gini"], 0.75)
    # a single plant per category -> H = 1 -> EG undefined (NaN)
    assert np.isnan(area.loc["y", "ellison_glaeser"])


def test_kuzbass_invariants():
    import minespace as ms

    region = ms.datasets.kuzbass()
    terr = T.hex_grid(region, cell_km=30)
    deps = T.assign_deposits(terr, region.deposits)
    lq = C.location_quotient(terr, deps, by=["commodity", "method"])
    cnt = C.totals(terr, deps, by=["commodity", "method"])
    assert cnt["count"].sum() == len(region.deposits)
    # identity: sum_j (E_j / E) * LQ_ij = 1 for every category
    share = cnt["count"] / cnt["count"].sum()
    lq_cols = [c for c in lq.columns if c.startswith("lq__")]
    np.testing.assert_allclose((lq[lq_cols].fillna(0).mul(share, axis=0)).sum(), 1.0)
    # weighted by output: deposits without output must be dropped explicitly
    with_output = region.deposits.dropna(subset=["output_mt"])
    tot = C.totals(terr, with_output, by="commodity", weight="output_mt")
    assert tot["output_mt"].sum() == pytest.approx(with_output["output_mt"].sum())
    # facilities work the same way with their own category column
    fac = C.totals(terr, region.facilities, by="kind")
    assert fac["count"].sum() == len(region.facilities)
