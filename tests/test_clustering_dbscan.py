"""Bounded-memory DBSCAN (issue 12 §5): scikit-learn's labels, without its neighbour lists."""

from __future__ import annotations

import multiprocessing
import sys

import geopandas as gpd
import numpy as np
import pytest
import shapely
from sklearn.cluster import DBSCAN

import minespace as ms
from minespace.clustering._dbscan import dbscan_labels


def _blobs(rng, n: int, k: int, spread: float) -> np.ndarray:
    centres = rng.uniform(0, 100, (k, 2))
    return centres[rng.integers(0, k, n)] + rng.normal(0, spread, (n, 2))


@pytest.mark.parametrize("seed", range(12))
def test_labels_equal_sklearn_on_random_data_with_duplicates(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 600))
    xy = _blobs(rng, n, int(rng.integers(1, 6)), float(rng.uniform(1, 10)))
    dup = rng.integers(0, n, n // 3)
    xy[dup] = xy[rng.integers(0, n, n // 3)]            # a third of the rows repeated
    for eps in (0.5, 2.0, 5.0):
        for min_samples in (1, 2, 3, 5, 12):
            expected = DBSCAN(eps=eps, min_samples=min_samples).fit_predict(xy)
            got = dbscan_labels(xy, eps=eps, min_samples=min_samples)
            np.testing.assert_array_equal(got, expected, err_msg=f"{eps=} {min_samples=}")


@pytest.mark.parametrize("eps", [1.0, 1.5, 2.0, np.sqrt(2.0)])
def test_ties_at_exactly_eps_on_a_lattice(eps):
    # integer lattice with holes: many pairs exactly 1, sqrt(2) or 2 apart
    rng = np.random.default_rng(7)
    grid = np.stack(np.meshgrid(np.arange(40.0), np.arange(30.0)), axis=-1).reshape(-1, 2)
    xy = grid[rng.random(len(grid)) < 0.45]
    for min_samples in (2, 3, 4, 6):
        expected = DBSCAN(eps=eps, min_samples=min_samples).fit_predict(xy)
        np.testing.assert_array_equal(dbscan_labels(xy, eps=eps, min_samples=min_samples),
                                      expected)


def test_border_point_takes_the_first_cluster():
    # two cores groups 2 apart, a border point between them (1 from each core group)
    xy = np.array([[0.0, 0.0], [0.0, 0.1], [0.1, 0.0],        # cluster 0 (first rows)
                   [2.0, 0.0], [2.0, 0.1], [2.1, 0.0],        # cluster 1
                   [1.0, 0.0],                                # border of both
                   [10.0, 10.0]])                             # noise
    expected = DBSCAN(eps=1.0, min_samples=4).fit_predict(xy)
    got = dbscan_labels(xy, eps=1.0, min_samples=4)
    np.testing.assert_array_equal(got, expected)
    assert got[6] == 0 and got[7] == -1


def test_degenerate_inputs():
    assert dbscan_labels(np.empty((0, 2)), eps=1.0, min_samples=3).size == 0
    one = np.array([[5.0, 5.0]])
    np.testing.assert_array_equal(dbscan_labels(one, eps=1.0, min_samples=1), [0])
    np.testing.assert_array_equal(dbscan_labels(one, eps=1.0, min_samples=2), [-1])
    same = np.zeros((50, 2))                      # 50 identical points
    np.testing.assert_array_equal(dbscan_labels(same, eps=0.1, min_samples=50),
                                  DBSCAN(eps=0.1, min_samples=50).fit_predict(same))
    line = np.column_stack([np.arange(100.0), np.zeros(100)])   # collinear
    np.testing.assert_array_equal(dbscan_labels(line, eps=1.0, min_samples=3),
                                  DBSCAN(eps=1.0, min_samples=3).fit_predict(line))


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(key + ":"))


def _peak_rss_growth(queue) -> None:
    """In a forked child: peak RSS growth (MiB) of a DBSCAN with 36 million pairs."""
    xy = np.random.default_rng(0).uniform(0, 1.0, (6_000, 2))
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")                              # reset VmHWM to the current RSS
    base = _status_kib("VmRSS")
    labels = dbscan_labels(xy, eps=10.0, min_samples=3)
    queue.put(((_status_kib("VmHWM") - base) / 1024, bool((labels == 0).all())))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_memory_does_not_grow_with_pairs():
    # 6,000 points within 1.5 km of each other and eps = 10 km: 36 million pairs, which
    # scikit-learn's DBSCAN lists in memory (measured: +535 MB peak RSS in the same child;
    # tracemalloc does not see it: those are C++ buffers); ours stays O(n) (+5 MB)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_peak_rss_growth, args=(queue,))
    proc.start()
    growth_mb, one_cluster = queue.get(timeout=120)
    proc.join()
    assert one_cluster
    assert growth_mb < 60


def test_mining_nodes_uses_the_bounded_dbscan():
    rng = np.random.default_rng(1)
    xy = _blobs(rng, 400, 4, 3.0) * 1000 + 500_000   # metres, UTM 45N
    deposits = gpd.GeoDataFrame({"activity": ["coal"] * len(xy)}, geometry=shapely.points(xy),
                                crs=32645)
    out = ms.clustering.mining_nodes(deposits, eps_km=2.0, min_samples=4)
    raw = DBSCAN(eps=2.0, min_samples=4).fit_predict(xy / 1000)
    # same partition: node n <-> one sklearn label; noise <-> -1
    assert ((out["node"].to_numpy() == -1) == (raw == -1)).all()
    pairs = set(zip(out["node"].to_numpy()[raw >= 0], raw[raw >= 0], strict=True))
    assert len(pairs) == len(set(raw[raw >= 0]))
