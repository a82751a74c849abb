"""Feature builder, neighbourhood metrics and profiles: hand arithmetic and sklearn peers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.preprocessing import RobustScaler, StandardScaler

from minespace import clustering as cl


@pytest.fixture
def metrics() -> pd.DataFrame:
    idx = pd.Index([f"T{i}" for i in range(6)], name="territory_id")
    return pd.DataFrame({
        "area_km2": [100.0, 100.0, 100.0, 100.0, 50.0, 50.0],
        "count": [4, 2, 0, 0, 1, 3],
        "count__coking_coal_underground": [3, 0, 0, 0, 1, 0],
        "count__thermal_coal_open_pit": [1, 2, 0, 0, 0, 3],
        "count_per_km2": [0.04, 0.02, 0.0, 0.0, 0.02, 0.06],
        "hhi_norm": [0.25, 1.0, np.nan, np.nan, 1.0, 1.0],
        "dist_corridor_km": [1.0, 3.0, 10.0, 30.0, 2.0, 5.0],
        "time_to_agglomeration_min": [10.0, 20.0, np.nan, 60.0, 40.0, np.nan],
        "hansen_potential": [1000.0, 100.0, 0.0, 10.0, 50.0, 200.0],
        "other": [1.0, np.nan, 3.0, 5.0, 7.0, 9.0],
    }, index=idx)


def test_shares_hand(metrics):
    out = cl.specialization_shares(metrics)
    assert out.loc["T0", "share__coking_coal_underground"] == 3 / 4
    assert out.loc["T1", "share__thermal_coal_open_pit"] == 1.0
    assert out.loc["T2", ["share__coking_coal_underground",
                          "share__thermal_coal_open_pit"]].tolist() == [0.0, 0.0]
    assert "share__coking_coal_underground" not in metrics.columns  # input untouched


def test_imputation_rule(metrics):
    m = cl.specialization_shares(metrics)
    fb = cl.FeatureBuilder(["share__", "hhi_norm", "time_to_agglomeration_min", "other"],
                           log=[], scale=None).fit(m)
    fill = fb.fill_values_
    assert fill["hhi_norm"] == 0.0                        # no deposits -> 0
    assert fill["time_to_agglomeration_min"] == 60.0      # unreachable -> worst observed
    assert fill["other"] == 5.0                           # median of 1, 3, 5, 7, 9
    X = fb.transform(m)
    assert not X.isna().any().any()
    assert X.loc["T2", "time_to_agglomeration_min"] == 60.0
    zero = cl.FeatureBuilder(["other"], log=[], impute="zero", scale=None).fit(m)
    assert zero.fill_values_["other"] == 0.0


@pytest.mark.parametrize("scale, peer", [("standard", StandardScaler), ("robust", RobustScaler)])
def test_scaling_matches_sklearn(metrics, scale, peer):
    cols = ["dist_corridor_km", "hansen_potential", "other"]
    fb = cl.FeatureBuilder(cols, log=["hansen_potential"], scale=scale).fit(metrics)
    raw = metrics[cols].copy()
    raw["hansen_potential"] = np.log1p(raw["hansen_potential"])
    raw["other"] = raw["other"].fillna(5.0)
    expected = peer().fit_transform(raw.to_numpy())
    np.testing.assert_allclose(fb.transform(metrics).to_numpy(), expected)


def test_robust_zero_iqr_falls_back_to_sd():
    X = pd.DataFrame({"share__a": [0, 0, 0, 0, 0, 0, 1.0, 0]})
    fb = cl.FeatureBuilder(["share__"], scale="robust").fit(X)
    out = fb.transform(X)["share__a"].to_numpy()
    np.testing.assert_allclose(out, X["share__a"].to_numpy() / X["share__a"].std(ddof=0))


def test_constant_and_all_nan_columns(metrics):
    m = metrics.assign(const=7.0, empty=np.nan)
    for scale in ("robust", "standard"):
        X = cl.FeatureBuilder(["const", "empty", "other"], scale=scale).fit_transform(m)
        assert np.isfinite(X.to_numpy()).all()
        assert (X["const"] == 0).all() and (X["empty"] == 0).all()


def test_pca_loadings_match_sklearn(metrics):
    cols = ["dist_corridor_km", "count_per_km2", "hansen_potential"]
    fb = cl.FeatureBuilder(cols, scale="standard", pca=2, log=[]).fit(metrics)
    scaled = StandardScaler().fit_transform(metrics[cols].to_numpy())
    peer = PCA(2).fit(scaled)
    np.testing.assert_allclose(np.abs(fb.loadings_.to_numpy()), np.abs(peer.components_),
                               atol=1e-10)
    assert list(fb.transform(metrics).columns) == ["pc1", "pc2"]
    assert list(fb.loadings_.columns) == cols


def test_row_order_and_index(metrics):
    fb = cl.FeatureBuilder().fit(cl.specialization_shares(metrics))
    m = cl.specialization_shares(metrics)
    shuffled = m.sample(frac=1, random_state=3)
    fb2 = cl.FeatureBuilder().fit(shuffled)
    pd.testing.assert_frame_equal(fb.transform(m), fb2.transform(shuffled).loc[m.index])
    assert fb.transform(shuffled).index.equals(shuffled.index)


def test_sklearn_conventions(metrics):
    fb = cl.FeatureBuilder(["other"], scale="standard", pca=None)
    assert fb.get_params()["scale"] == "standard"
    c = clone(fb)
    assert c.get_params() == fb.get_params() and not hasattr(c, "fill_values_")
    assert fb.fit(metrics) is fb
    assert list(fb.get_feature_names_out()) == ["other"]


def test_errors(metrics):
    with pytest.raises(KeyError, match="nope"):
        cl.FeatureBuilder(["nope"]).fit(metrics)
    with pytest.raises(ValueError, match="scale"):
        cl.FeatureBuilder(scale="minmax").fit(metrics)
    with pytest.raises(TypeError):
        cl.FeatureBuilder().fit(metrics.to_numpy())
    fb = cl.FeatureBuilder(["other"]).fit(metrics)
    with pytest.raises(KeyError):
        fb.transform(metrics.drop(columns="other"))


def test_neighbourhood_chain(metrics):
    # chain T0 - T1 - T2 - T3 - T4 - T5
    i = np.arange(5)
    adj = sparse.csr_matrix((np.ones(10), (np.r_[i, i + 1], np.r_[i + 1, i])), shape=(6, 6))
    out = cl.neighbourhood_metrics(metrics, adj)
    assert out["nbhd_count"].tolist() == [6, 6, 2, 1, 4, 4]
    assert out.loc["T4", "nbhd_area_km2"] == 200.0
    assert out.loc["T4", "nbhd_count_per_km2"] == 4 / 200
    assert out.loc["T0", "nbhd_share__coking_coal_underground"] == 3 / 6
    two = cl.neighbourhood_metrics(metrics, adj, order=2)
    assert two.loc["T2", "nbhd_count"] == 4 + 2 + 0 + 0 + 1


def test_profile_hand():
    t = pd.DataFrame({
        "area_km2": [1.0, 3.0, 2.0, 2.0],
        "count": [3, 1, 0, 2],
        "count__coking_coal_underground": [3, 0, 0, 0],
        "count__thermal_coal_open_pit": [0, 1, 0, 2],
        "dist_corridor_km": [1.0, 5.0, 50.0, 10.0],
    })
    p = cl.profile(t, np.array(["a", "a", "b", "b"]))
    assert p.loc["a", "dominant"] == "coking_coal_underground"
    assert p.loc["a", "dominant_share"] == 3 / 4
    assert p.loc["a", "mean__dist_corridor_km"] == (1 * 1 + 5 * 3) / 4
    assert p.loc["b", "n_activities"] == 1
    assert p.loc["b", "deposits_per_1000km2"] == 1000 * 2 / 4
    assert p.loc["a", "label"].startswith("coking coal, underground, ")
    assert p.loc["a", "label"].endswith(" corridor access")


def test_activity_label():
    assert cl.activity_label("thermal_coking_coal_open_pit") == "thermal coking coal, open pit"
    assert cl.activity_label("gold") == "gold"
