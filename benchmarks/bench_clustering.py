"""Benchmark: k-selection table at 100,000 territories vs the naive silhouette loop.

Run: ``python benchmarks/bench_clustering.py [n]``. The naive loop (full
``silhouette_score`` for k = 2..15) is quadratic, so it is timed at 10,000
rows for one k and extrapolated (x k values, x (n / 10,000)^2) rather than run.
Prints timings and ratios; no assertions (timings are not tests).
"""

from __future__ import annotations

import sys
import time

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from minespace.clustering import select_k


def _data(n: int, p: int = 12, centres: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.normal(0, 4, (centres, p))
    return c[rng.integers(0, centres, n)] + rng.normal(0, 1, (n, p))


def main(n: int = 100_000) -> None:
    X = _data(n)
    ks = range(2, 16)
    t0 = time.perf_counter()
    table = select_k(X, k_range=(2, 15), method="kmeans", sample_size=2000, n_init=1)
    t_select = time.perf_counter() - t0
    chosen = int(table.index[table["chosen"]][0])
    print(f"select_k kmeans n={n:,} k=2..15 (sample 2,000, n_init=1): {t_select:.1f} s, "
          f"chosen k={chosen}")

    m = 10_000
    Xm = X[:m]
    labels = KMeans(6, n_init=1, random_state=0).fit_predict(Xm)
    t0 = time.perf_counter()
    silhouette_score(Xm, labels)
    t_one = time.perf_counter() - t0
    naive_m = t_one * len(ks)
    naive_n = naive_m * (n / m) ** 2
    print(f"naive full silhouette, one k at n={m:,}: {t_one:.2f} s -> k=2..15: {naive_m:.1f} s "
          f"at {m:,}, extrapolated {naive_n:,.0f} s at {n:,}")
    t0 = time.perf_counter()
    select_k(Xm, k_range=(2, 15), method="kmeans", sample_size=2000, n_init=1)
    t_sel_m = time.perf_counter() - t0
    print(f"select_k at n={m:,}: {t_sel_m:.1f} s (ratio naive/select_k {naive_m / t_sel_m:.1f}x); "
          f"at n={n:,}: ratio {naive_n / t_select:.0f}x")
    print(table.round(3).to_string())


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
