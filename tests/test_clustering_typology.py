"""Typology (k-selection, stability, invariances) and mining nodes (DBSCAN/HDBSCAN)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from sklearn.base import clone
from sklearn.cluster import DBSCAN
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)
from sklearn.utils.estimator_checks import parametrize_with_checks

import minespace as ms
from minespace import clustering as cl


def _two_specializations(n: int = 60, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Half the territories mine coking coal underground, half thermal coal open pit."""
    rng = np.random.default_rng(seed)
    truth = np.repeat([0, 1], n // 2)
    coking = np.where(truth == 0, rng.uniform(0.85, 1.0, n), rng.uniform(0.0, 0.15, n))
    frame = pd.DataFrame({
        "share__coking": coking,
        "share__thermal": 1 - coking,
        "dist_corridor_km": rng.uniform(0, 0.3, n),
    }, index=pd.Index([f"T{i}" for i in range(n)], name="territory_id"))
    return frame, truth


@pytest.mark.parametrize("method", ["kmeans", "gmm", "ward"])
def test_two_specializations_recovered(method):
    frame, truth = _two_specializations()
    X = cl.FeatureBuilder(["share__", "dist_corridor_km"], scale=None).fit_transform(frame)
    t = cl.Typology(method, k_range=(2, 5), n_bootstrap=3, n_init=2).fit(X)
    assert t.n_clusters_ == 2
    assert adjusted_rand_score(truth, t.labels_) == 1.0
    assert t.stability_score_ == pytest.approx(1.0)
    assert t.selection_.loc[2, "chosen"]
    np.testing.assert_array_equal(t.predict(X), t.labels_)


def test_selection_scores_match_sklearn():
    frame, _ = _two_specializations(40)
    X = frame.to_numpy()
    table = cl.select_k(X, k_range=(2, 4), sample_size=10_000, random_state=1)
    from sklearn.cluster import KMeans

    for k in (2, 3, 4):
        labels = KMeans(k, n_init=4, random_state=1).fit_predict(X)
        assert table.loc[k, "silhouette"] == pytest.approx(silhouette_score(X, labels))
        assert table.loc[k, "calinski_harabasz"] == pytest.approx(
            calinski_harabasz_score(X, labels))
        assert table.loc[k, "davies_bouldin"] == pytest.approx(davies_bouldin_score(X, labels))
    assert table["chosen"].sum() == 1
    seeded = cl.select_k(X, k_range=(2, 3), sample_size=10_000, random_state=1, n_seeds=3)
    assert seeded.loc[2, "seed_stability"] == 1.0  # two well-separated groups


def test_sampled_silhouette_close_to_full():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, (4, 3))
    X = np.vstack([c + rng.normal(0, 1, (500, 3)) for c in centres])
    t = cl.select_k(X, k_range=(4, 4), sample_size=500, random_state=0)
    from sklearn.cluster import KMeans

    full = silhouette_score(X, KMeans(4, n_init=4, random_state=0).fit_predict(X))
    assert abs(t.loc[4, "silhouette"] - full) < 0.05


def test_deterministic_and_row_order():
    frame, truth = _two_specializations(80, seed=2)
    X = frame.assign(noise=np.random.default_rng(5).normal(0, 0.05, size=len(frame)))
    a = cl.Typology(n_clusters=3, random_state=7, n_bootstrap=3).fit(X)
    b = cl.Typology(n_clusters=3, random_state=7, n_bootstrap=3).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.stability_, b.stability_)
    perm = np.random.default_rng(1).permutation(len(X))
    c = cl.Typology(n_clusters=2, random_state=7, n_bootstrap=0).fit(X.iloc[perm])
    assert adjusted_rand_score(truth[perm], c.labels_) == 1.0


def test_fewer_territories_than_k():
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0]})
    with pytest.raises(ValueError, match="cannot make 5 clusters from 3 territories"):
        cl.Typology(n_clusters=5).fit(X)
    with pytest.raises(ValueError, match="at least"):
        cl.select_k(X, k_range=(3, 5))


def test_constant_feature_and_missing_values():
    frame, truth = _two_specializations()
    frame["const"] = 1.0
    frame.iloc[::7, 2] = np.nan  # dist_corridor_km missing -> fitted max
    X = cl.FeatureBuilder(["share__", "dist_corridor_km", "const"],
                          scale=None).fit_transform(frame)
    t = cl.Typology("kmeans", n_clusters="auto", k_range=(2, 5), n_bootstrap=2).fit(X)
    assert adjusted_rand_score(truth, t.labels_) == 1.0
    with pytest.raises(ValueError, match="NaN"):
        cl.Typology(n_clusters=2).fit(frame)


@parametrize_with_checks([cl.Typology(m, n_clusters=2, n_bootstrap=2, n_init=1)
                          for m in ("kmeans", "ward")])  # gmm shares the validation code
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_params_and_clone():
    t = cl.Typology("gmm", n_clusters=3, random_state=4)
    assert clone(t).get_params() == t.get_params()
    with pytest.raises(ValueError, match="method"):
        cl.Typology("spectral", n_clusters=2).fit(np.zeros((4, 1)) + np.arange(4)[:, None])


def test_ward_sampled_path_large_n(monkeypatch):
    from minespace.clustering import typology

    monkeypatch.setattr(typology, "WARD_MAX_ROWS", 200)
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 0.2, (600, 2)), rng.normal(5, 0.2, (600, 2))])
    table = cl.select_k(X, k_range=(2, 3), method="ward", sample_size=500)
    assert int(table.index[table["chosen"]][0]) == 2
    truth = np.repeat([0, 1], 600)
    t = cl.Typology("ward", n_clusters=2, n_bootstrap=0).fit(X)
    assert adjusted_rand_score(truth, t.labels_) == 1.0
    for method in ("kmeans", "gmm"):  # fitted on 100 rows, all rows assigned by predict
        t = cl.Typology(method, n_clusters=2, fit_size=100, n_bootstrap=2, n_init=1).fit(X)
        assert adjusted_rand_score(truth, t.labels_) == 1.0


# -- mining nodes --------------------------------------------------------------------------

@pytest.fixture
def deposits() -> gpd.GeoDataFrame:
    """Three tight groups of five mines 50 km apart, plus three isolated mines."""
    rng = np.random.default_rng(0)
    pts, truth = [], []
    for g, (x, y) in enumerate([(500_000, 6_000_000), (550_000, 6_000_000),
                                (500_000, 6_050_000)]):
        pts.append(np.column_stack([x + rng.uniform(-1000, 1000, 5),
                                    y + rng.uniform(-1000, 1000, 5)]))
        truth += [g] * 5
    pts.append(np.array([[600_000, 6_100_000], [400_000, 5_900_000], [650_000, 5_950_000]]))
    truth += [-1, -1, -1]
    xy = np.vstack(pts)
    return gpd.GeoDataFrame({"activity": ["coal"] * 15 + ["iron"] * 3, "truth": truth},
                            geometry=shapely.points(xy), crs=32645,
                            index=pd.Index([f"D{i}" for i in range(len(xy))],
                                           name="deposit_id"))


@pytest.mark.parametrize("method", ["dbscan", "hdbscan"])
def test_nodes_and_noise(deposits, method):
    out = cl.mining_nodes(deposits, eps_km=5, min_samples=3, method=method)
    noise = deposits["truth"] == -1
    assert (out.loc[noise, "node"] == -1).all()
    assert (out.loc[noise, "node_label"] == "noise").all()
    assert adjusted_rand_score(deposits.loc[~noise, "truth"], out.loc[~noise, "node"]) == 1.0
    assert set(out.loc[~noise, "node"]) == {1, 2, 3}
    assert "node" not in deposits.columns


def test_nodes_match_sklearn_dbscan_in_km(deposits):
    out = cl.mining_nodes(deposits, eps_km=3, min_samples=4)
    xy = shapely.get_coordinates(deposits.geometry.values)
    peer = DBSCAN(eps=3000, min_samples=4).fit_predict(xy)
    np.testing.assert_array_equal(out["node"].to_numpy() == -1, peer == -1)
    assert adjusted_rand_score(peer, out["node"]) == 1.0


def test_nodes_row_order_and_summary(deposits):
    out = cl.mining_nodes(deposits, eps_km=5)
    shuffled = cl.mining_nodes(deposits.sample(frac=1, random_state=2), eps_km=5)
    assert adjusted_rand_score(out["node"], shuffled.loc[out.index, "node"]) == 1.0
    s = cl.node_summary(out)
    assert s["n_deposits"].tolist() == [5, 5, 5]
    assert (s["dominant"] == "coal").all()


def test_nodes_same_in_another_metric_crs(deposits):
    a = cl.mining_nodes(deposits, eps_km=5)
    b = cl.mining_nodes(deposits.to_crs(32644), eps_km=5)  # neighbouring UTM zone
    np.testing.assert_array_equal(a["node"], b["node"])


def test_nodes_need_metric_crs(deposits):
    with pytest.raises(ms.CRSError):
        cl.mining_nodes(deposits.to_crs(4326))
    with pytest.raises(ValueError, match="method"):
        cl.mining_nodes(deposits, method="optics")
