"""Benchmarks for territories, hot spots and density against their peers.

Run: ``python benchmarks/bench_concentration.py [--scale 0.1]``. Prints the time
(and, for hot spots, the peak traced memory) of minespace and of the peer in the
same run, and their ratio. ``--scale`` shrinks every problem size (1.0 = the
sizes of issue 4: 1e6 points, 1e5 territories, 999 permutations, 4000² raster).
Timings are never asserted in tests.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings

import geopandas as gpd
import numpy as np
from shapely.geometry import box

from minespace import density, hotspots, territories

CRS = "EPSG:32645"


def _timed(func, *args, memory=False, **kwargs):
    if memory:
        tracemalloc.start()
    t0 = time.perf_counter()
    out = func(*args, **kwargs)
    elapsed = time.perf_counter() - t0
    peak = None
    if memory:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return out, elapsed, peak


def _row(name, ours, peer, extra=""):
    print(f"{name:<42} minespace {ours:8.3f} s   peer {peer:8.3f} s   "
          f"speed-up x{peer / ours:6.1f} {extra}")


def bench_assignment(scale):
    n_pts = int(1_000_000 * scale)
    n_cells = int(100_000 * scale)
    side = 300_000.0
    cell_km = np.sqrt(side**2 / n_cells * 2 / np.sqrt(3)) / 1000  # ~n_cells hexagons
    boundary = gpd.GeoDataFrame(geometry=[box(0, 0, side, side)], crs=CRS)
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, side, (n_pts, 2))
    deps = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=CRS)
    for make in (territories.hex_grid, territories.square_grid):
        terr = make(boundary, cell_km=cell_km)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, ours, _ = _timed(territories.assign_deposits, terr, deps)
            plain = territories.from_polygons(terr[["geometry"]])
            _, poly, _ = _timed(territories.assign_deposits, plain, deps)
        _, peer, _ = _timed(gpd.sjoin, deps, terr[["geometry"]], predicate="within")
        _row(f"assign {n_pts} pts -> {len(terr)} {make.__name__}", ours, peer)
        _row("  same, arbitrary-polygon path (STRtree)", poly, peer)
    return terr


def bench_contiguity(terr):
    import libpysal

    _, ours, _ = _timed(territories.contiguity, terr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, peer, _ = _timed(libpysal.weights.Queen.from_dataframe, terr, use_index=True,
                            silence_warnings=True)
    _row(f"queen contiguity, {len(terr)} grid cells", ours, peer)


def bench_hotspots(scale):
    import esda

    n_cells = int(100_000 * scale)
    side = 300_000.0
    cell_km = np.sqrt(side**2 / n_cells * 2 / np.sqrt(3)) / 1000
    terr = territories.hex_grid(gpd.GeoDataFrame(geometry=[box(0, 0, side, side)], crs=CRS),
                                cell_km=cell_km)
    rng = np.random.default_rng(1)
    terr["value"] = rng.gamma(2.0, 1.0, len(terr)) + terr["rep_x"] / side
    w = territories.contiguity(terr)
    y = terr["value"].to_numpy()
    _, ours, mem = _timed(hotspots.local_moran, terr, "value", w=w, permutations=999,
                          random_state=0, memory=True)
    w.transform = "r"
    _, peer, pmem = _timed(esda.Moran_Local, y, w, permutations=999, seed=0, n_jobs=1,
                           keep_simulations=False, memory=True)
    _row(f"local Moran 999 perm, {len(terr)} units", ours, peer,
         f"peak MiB {mem:.0f} vs {pmem:.0f}")
    w.transform = "b"
    _, ours, mem = _timed(hotspots.getis_ord, terr, "value", w=w, permutations=999,
                          random_state=0, memory=True)
    _, peer, pmem = _timed(esda.G_Local, y, w, transform="B", star=True, permutations=999,
                           seed=0, n_jobs=1, keep_simulations=False, memory=True)
    _row(f"Gi* 999 perm, {len(terr)} units", ours, peer, f"peak MiB {mem:.0f} vs {pmem:.0f}")


def bench_kde(scale):
    from sklearn.neighbors import KernelDensity

    n_pts = int(1_000_000 * scale)
    rng = np.random.default_rng(2)
    xy = rng.normal(200_000, 40_000, (n_pts, 2))
    deps = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=CRS)
    span = 400_000.0
    cell_km = span / (4000 * np.sqrt(scale)) / 1000
    grid, ours, _ = _timed(density.kernel_density, deps, bandwidth_km=5, cell_km=cell_km,
                           kernel="gaussian", bounds=(0, 0, span, span))
    # scikit-learn on a subsample of points and a subsample of cells, extrapolated
    sub = xy[: max(1000, n_pts // 100)]
    rows, cols = grid.values.shape
    pick = rng.choice(rows * cols, 20_000, replace=False)
    cx = grid.transform.c + (pick % cols + 0.5) * grid.transform.a
    cy = grid.transform.f + (pick // cols + 0.5) * grid.transform.e
    kde = KernelDensity(kernel="gaussian", bandwidth=5000.0).fit(sub)
    _, peer, _ = _timed(kde.score_samples, np.column_stack([cx, cy]))
    peer_full = peer * (n_pts / len(sub)) * (rows * cols / len(pick))
    _row(f"KDE {n_pts} pts on {rows}x{cols}", ours, peer_full,
         "(sklearn extrapolated from a subsample)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    terr = bench_assignment(args.scale)
    bench_contiguity(terr)
    bench_hotspots(args.scale)
    bench_kde(args.scale)


if __name__ == "__main__":
    main()
