"""Hansen potential, 2SFCA and E2SFCA: fixture 4.2 by hand, supply conservation, access."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist
from shapely.geometry import Point

from minespace.accessibility import enhanced_two_step_fca, hansen_potential, two_step_fca
from minespace.accessibility.catchment import _fca, _step_weights
from minespace.accessibility.gravity import _hansen
from minespace.errors import CRSError

CRS = "EPSG:32645"
# Fixture 4.2 (REFERENCE_VALUES.md): rows = demand, columns = supply, minutes
P = np.array([100.0, 50.0, 10.0])
S = np.array([10.0, 5.0])
C = np.array([[5.0, 25.0], [15.0, 8.0], [28.0, 12.0]])
STEPS = ((10.0, 1.0), (20.0, 0.68), (30.0, 0.22))


def _layer(values, name, ids, xy=None):
    xy = xy if xy is not None else [(i * 1000.0, 0.0) for i in range(len(ids))]
    return gpd.GeoDataFrame({name: values}, geometry=[Point(p) for p in xy],
                            index=pd.Index(ids, name="id"), crs=CRS)


@pytest.fixture
def fixture42():
    demand = _layer(P, "jobs", ["d0", "d1", "d2"])
    supply = _layer(S, "labour", ["s0", "s1"])
    cost = pd.DataFrame(C, index=demand.index, columns=supply.index)
    return demand, supply, cost


# ---- private arithmetic, no geometry -------------------------------------------------
def test_hansen_arithmetic_by_hand():
    # exp(-0.1 c) with O = S: A_0 = 10 e^-0.5 + 5 e^-2.5 ...
    expected = [10 * np.exp(-0.5) + 5 * np.exp(-2.5),
                10 * np.exp(-1.5) + 5 * np.exp(-0.8),
                10 * np.exp(-2.8) + 5 * np.exp(-1.2)]
    np.testing.assert_allclose(_hansen(C, S, decay="exponential", beta=0.1), expected)
    np.testing.assert_allclose(expected, [6.47573159, 4.47794642, 2.11407169], atol=1e-8)
    # power: 10/5 + 5/25 for beta = 1
    np.testing.assert_allclose(_hansen(C, S, decay="power", beta=1.0)[0], 2.2)
    # min_cost floors zero cost; NaN cost contributes nothing
    np.testing.assert_allclose(_hansen(np.array([[0.0, np.nan]]), S, decay="power", beta=2,
                                       min_cost=0.5), [10 / 0.25])


def test_step_weights_inclusive_bounds():
    np.testing.assert_allclose(_step_weights(np.array([0, 10, 10.1, 20, 30, 30.1]), STEPS),
                               [1, 1, 0.68, 0.68, 0.22, 0])
    with pytest.raises(ValueError):
        _step_weights(np.array([1.0]), ((20, 1), (10, 0.5)))


def test_fca_arithmetic_fixture42():
    i, j = np.nonzero(C <= 20)
    A, R = _fca(i, j, np.ones(len(i)), P, S)
    np.testing.assert_allclose(R, [10 / 150, 5 / 60])
    np.testing.assert_allclose(A, [10 / 150, 10 / 150 + 5 / 60, 5 / 60])
    np.testing.assert_allclose(A, [0.0666667, 0.15, 0.0833333], atol=1e-7)


# ---- public functions ----------------------------------------------------------------
def test_two_step_fca_fixture42(fixture42):
    demand, supply, cost = fixture42
    out = two_step_fca(demand, supply, demand_col="jobs", supply_col="labour", max_cost=20,
                       cost=cost)
    np.testing.assert_allclose(out["access_2sfca"], [0.0666667, 0.15, 0.0833333], atol=1e-7)
    assert (P * out["access_2sfca"]).sum() == pytest.approx(15.0)
    assert "access_2sfca" not in demand


def test_e2sfca_fixture42(fixture42):
    demand, supply, cost = fixture42
    out = enhanced_two_step_fca(demand, supply, demand_col="jobs", supply_col="labour",
                                cost=cost)
    # zones: d0 (5 -> 1, 25 -> 0.22), d1 (15 -> 0.68, 8 -> 1), d2 (28 -> 0.22, 12 -> 0.68)
    r0 = 10 / (100 * 1 + 50 * 0.68 + 10 * 0.22)
    r1 = 5 / (100 * 0.22 + 50 * 1 + 10 * 0.68)
    hand = [r0 + 0.22 * r1, 0.68 * r0 + r1, 0.22 * r0 + 0.68 * r1]
    np.testing.assert_allclose(out["access_e2sfca"], hand)
    np.testing.assert_allclose([r0, r1], [0.07342144, 0.06345178], atol=1e-8)
    np.testing.assert_allclose(out["access_e2sfca"], [0.08738083, 0.11337836, 0.05929992],
                               atol=1e-8)
    assert (P * out["access_e2sfca"]).sum() == pytest.approx(15.0)


def test_hansen_fixture42(fixture42):
    demand, supply, cost = fixture42
    out = hansen_potential(demand, supply, mass="labour", beta=0.1, cost=cost)
    np.testing.assert_allclose(out["hansen_potential"], [6.47573159, 4.47794642, 2.11407169],
                               atol=1e-8)


def test_cost_rows_are_aligned_by_id(fixture42):
    demand, supply, cost = fixture42
    shuffled = cost.iloc[[2, 0, 1], [1, 0]]
    a = two_step_fca(demand, supply, demand_col="jobs", supply_col="labour", max_cost=20,
                     cost=shuffled)
    b = two_step_fca(demand, supply, demand_col="jobs", supply_col="labour", max_cost=20,
                     cost=cost)
    np.testing.assert_allclose(a["access_2sfca"], b["access_2sfca"])
    with pytest.raises(KeyError, match="lacks"):
        two_step_fca(demand, supply, demand_col="jobs", supply_col="labour", max_cost=20,
                     cost=cost.drop(index="d1"))


@pytest.mark.parametrize("func", ["2sfca", "e2sfca"])
def test_supply_conservation_asymmetric_cost(func):
    rng = np.random.default_rng(7)
    n = 40
    xy = rng.uniform(0, 50_000, (n, 2))
    demand = _layer(rng.uniform(1, 100, n), "p", [f"k{i}" for i in range(n)], xy)
    supply = _layer(rng.uniform(1, 20, n), "s", [f"j{i}" for i in range(n)], xy)
    base = rng.uniform(0, 40, (n, n))
    cost = pd.DataFrame(base, index=demand.index, columns=supply.index)  # c_kj != c_jk
    assert not np.allclose(base, base.T)
    if func == "2sfca":
        out = two_step_fca(demand, supply, demand_col="p", supply_col="s", max_cost=30,
                           cost=cost)
        col, reach = "access_2sfca", (base <= 30).any(axis=0)
    else:
        out = enhanced_two_step_fca(demand, supply, demand_col="p", supply_col="s", cost=cost)
        col, reach = "access_e2sfca", (base <= 30).any(axis=0)
    assert reach.all()
    total = (demand["p"] * out[col]).sum()
    assert total == pytest.approx(supply["s"].sum(), rel=1e-10)
    # and transposing the matrix (the access #18 mistake) breaks it in general
    wrong = two_step_fca(demand, supply, demand_col="p", supply_col="s", max_cost=30,
                         cost=pd.DataFrame(base.T, index=demand.index, columns=supply.index))
    assert not np.allclose(wrong["access_2sfca"], out[col])


def test_kdtree_default_equals_dense_straight_line_cost():
    rng = np.random.default_rng(3)
    d_xy, s_xy = rng.uniform(0, 80_000, (200, 2)), rng.uniform(0, 80_000, (15, 2))
    demand = _layer(rng.uniform(1, 10, 200), "p", [f"d{i}" for i in range(200)], d_xy)
    supply = _layer(rng.uniform(1, 10, 15), "s", [f"s{i}" for i in range(15)], s_xy)
    dense = pd.DataFrame(cdist(d_xy, s_xy) / 1000.0, index=demand.index, columns=supply.index)
    for f, kw, col in [(two_step_fca, {"max_cost": 15.0}, "access_2sfca"),
                       (enhanced_two_step_fca, {}, "access_e2sfca")]:
        a = f(demand, supply, demand_col="p", supply_col="s", **kw)
        b = f(demand, supply, demand_col="p", supply_col="s", cost=dense, **kw)
        np.testing.assert_allclose(a[col], b[col], rtol=1e-12)
    h = hansen_potential(demand, supply, mass="s", beta=0.1)
    np.testing.assert_allclose(h["hansen_potential"],
                               (np.exp(-0.1 * dense.to_numpy()) * supply["s"].to_numpy()).sum(1))


def _access_peer(demand, supply, cost):
    access = pytest.importorskip("access")
    long = cost.rename_axis(index="o", columns="d").stack().rename("c").reset_index()
    long.columns = ["o", "d", "c"]
    return access.Access(demand_df=pd.DataFrame(demand.drop(columns="geometry")),
                         demand_value="p",
                         supply_df=pd.DataFrame(supply.drop(columns="geometry")),
                         supply_value="s",
                         cost_df=long, cost_origin="o", cost_dest="d", cost_name="c")


def test_against_access_package():
    from access import weights

    rng = np.random.default_rng(11)
    nd, ns = 60, 12
    demand = _layer(rng.uniform(1, 100, nd), "p", [f"d{i}" for i in range(nd)],
                    rng.uniform(0, 60_000, (nd, 2)))
    supply = _layer(rng.uniform(1, 50, ns), "s", [f"s{i}" for i in range(ns)],
                    rng.uniform(0, 60_000, (ns, 2)))
    # asymmetric-looking travel minutes, deliberately not straight-line
    cost = pd.DataFrame(rng.uniform(1, 45, (nd, ns)), index=demand.index, columns=supply.index)
    peer = _access_peer(demand, supply, cost)
    ours = two_step_fca(demand, supply, demand_col="p", supply_col="s", max_cost=25, cost=cost)
    theirs = peer.two_stage_fca(max_cost=25)
    np.testing.assert_allclose(ours["access_2sfca"], theirs["2sfca_s"].reindex(demand.index)
                               .fillna(0), rtol=1e-10)
    ours = enhanced_two_step_fca(demand, supply, demand_col="p", supply_col="s", cost=cost)
    theirs = peer.enhanced_two_stage_fca(weight_fn=weights.step_fn({10: 1, 20: 0.68, 30: 0.22}))
    np.testing.assert_allclose(ours["access_e2sfca"], theirs["e2sfca_s"].reindex(demand.index)
                               .fillna(0), rtol=1e-10)
    ours = hansen_potential(demand, supply, mass="s", decay="power", beta=1.5, cost=cost,
                            min_cost=2.0)
    theirs = peer.weighted_catchment(weight_fn=weights.gravity(scale=1, alpha=-1.5, min_dist=2))
    np.testing.assert_allclose(ours["hansen_potential"],
                               theirs["catchment_s"].reindex(demand.index), rtol=1e-10)


def test_errors(fixture42):
    demand, supply, _cost = fixture42
    with pytest.raises(CRSError):
        hansen_potential(demand.to_crs(4326), supply.to_crs(4326), mass="labour", beta=0.1)
    with pytest.raises(CRSError, match="different CRS"):
        two_step_fca(demand, supply.to_crs("EPSG:32644"), demand_col="jobs",
                     supply_col="labour", max_cost=5)
    with pytest.raises(KeyError):
        hansen_potential(demand, supply, mass="nope", beta=0.1)
    with pytest.raises(ValueError, match="decay"):
        hansen_potential(demand, supply, mass="labour", beta=0.1, decay="linear")
    with pytest.raises(ValueError, match="non-negative"):
        two_step_fca(demand.assign(jobs=-1.0), supply, demand_col="jobs", supply_col="labour",
                     max_cost=5)
