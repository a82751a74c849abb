"""Benchmarks for territories, hot spots and density against their peers.

Run: ``python benchmarks/bench_concentration.py [--scale 0.1] [--repeat 5]
[--only assignment]``. Prints the time
(and, for hot spots, the peak traced memory) of minespace and of the peer in the
same run, and their ratio. ``--scale`` shrinks every problem size (1.0 = the
sizes of issue 4: 1e6 points, 1e5 territories, 999 permutations, 4000² raster).
Timings are never asserted in tests.
"""

from __future__ import annotations

import argparse
import time
import warnings

import geopandas as gpd
import numpy as np
from shapely.geometry import box

from minespace import density, hotspots, territories

CRS = "EPSG:32645"


def _timed(func, *args, **kwargs):
    t0 = time.perf_counter()
    out = func(*args, **kwargs)
    return out, time.perf_counter() - t0, None


def _row(name, ours, peer, extra=""):
    print(f"{name:<42} minespace {ours:8.3f} s   peer {peer:8.3f} s   "
          f"speed-up x{peer / ours:6.1f} {extra}")


def bench_assignment(scale, repeat=3):
    """Assignment to generated grids and to the same cells as arbitrary polygons.

    minespace and ``sjoin`` are run alternately *repeat* times (so that machine
    load hits both alike); the median times and the median of the per-run
    ratios are printed, with the range of the ratios.
    """
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
        plain = territories.from_polygons(terr[["geometry"]])
        times = {"grid": [], "poly": [], "sjoin": []}
        for _ in range(repeat):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                times["grid"].append(_timed(territories.assign_deposits, terr, deps)[1])
                times["sjoin"].append(_timed(gpd.sjoin, deps, terr[["geometry"]],
                                             predicate="within")[1])
                times["poly"].append(_timed(territories.assign_deposits, plain, deps)[1])
        peer = np.asarray(times["sjoin"])
        for key, label in (("grid", f"assign {n_pts} pts -> {len(terr)} {make.__name__}"),
                           ("poly", "  same cells as arbitrary polygons (STRtree)")):
            ours = np.asarray(times[key])
            ratios = peer / ours
            _row(label, float(np.median(ours)), float(np.median(peer)),
                 f"median ratio x{np.median(ratios):.1f} (range {ratios.min():.1f}-"
                 f"{ratios.max():.1f}, {repeat} runs)")
    return terr


def bench_contiguity(terr):
    import libpysal

    _, ours, _ = _timed(territories.contiguity, terr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, peer, _ = _timed(libpysal.weights.Queen.from_dataframe, terr, use_index=True,
                            silence_warnings=True)
    _row(f"queen contiguity, {len(terr)} grid cells", ours, peer)


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def _hotspot_child(which, scale, queue):
    """Run one hot-spot computation in a fresh process; report time and peak RSS growth."""
    import esda

    n_cells = int(100_000 * scale)
    side = 300_000.0
    cell_km = np.sqrt(side**2 / n_cells * 2 / np.sqrt(3)) / 1000
    boundary = gpd.GeoDataFrame(geometry=[box(0, 0, side, side)], crs=CRS)
    terr = territories.hex_grid(boundary, cell_km=cell_km)
    rng = np.random.default_rng(1)
    terr["value"] = rng.gamma(2.0, 1.0, len(terr)) + terr["rep_x"] / side
    w = territories.contiguity(terr)
    y = terr["value"].to_numpy()
    small = terr.iloc[:200]
    w_small = territories.contiguity(small)
    calls = {
        "ours_moran": lambda t, ww, yy: hotspots.local_moran(t, "value", w=ww,
                                                             permutations=999, random_state=0),
        "ours_gi": lambda t, ww, yy: hotspots.getis_ord(t, "value", w=ww, permutations=999,
                                                        random_state=0),
        "ours_gi_auto": lambda t, ww, yy: hotspots.getis_ord(t, "value", w=ww,
                                                             permutations="auto",
                                                             random_state=0),
        "esda_moran": lambda t, ww, yy: esda.Moran_Local(yy, ww, transformation="r",
                                                         permutations=999, seed=0, n_jobs=1,
                                                         keep_simulations=False),
        "esda_gi": lambda t, ww, yy: esda.G_Local(yy, ww, transform="B", star=True,
                                                  permutations=999, seed=0, n_jobs=1,
                                                  keep_simulations=False),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        calls[which](small, w_small, small["value"].to_numpy())  # warm-up (numba JIT)
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset the peak-RSS counter
        except OSError:
            pass
        base = _status_kib("VmRSS")
        t0 = time.perf_counter()
        calls[which](terr, w, y)
        elapsed = time.perf_counter() - t0
    queue.put((len(terr), elapsed, (_status_kib("VmHWM") - base) / 1024))


def _in_child(which, scale):
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_hotspot_child, args=(which, scale, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def bench_hotspots(scale):
    for stat in ("moran", "gi"):
        n, ours, mem = _in_child(f"ours_{stat}", scale)
        _, peer, pmem = _in_child(f"esda_{stat}", scale)
        name = "local Moran" if stat == "moran" else "Gi*"
        _row(f"{name} 999 perm, {n} units", ours, peer,
             f"peak RSS growth {mem:.0f} MiB vs esda {pmem:.0f} MiB")
    n, ours, mem = _in_child("ours_gi_auto", scale)
    print(f"{'Gi* permutations=auto, ' + str(n) + ' units':<42} minespace {ours:8.3f} s   "
          f"(no esda equivalent) peak RSS growth {mem:.0f} MiB")


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
    parser.add_argument("--repeat", type=int, default=3,
                        help="repetitions of the assignment benchmark (median reported)")
    parser.add_argument("--only", choices=["assignment", "contiguity", "hotspots", "kde"],
                        action="append", help="run only these parts (repeatable)")
    args = parser.parse_args()
    parts = set(args.only or ["assignment", "contiguity", "hotspots", "kde"])
    terr = None
    if parts & {"assignment", "contiguity"}:
        terr = bench_assignment(args.scale, args.repeat if "assignment" in parts else 1)
    if "contiguity" in parts:
        bench_contiguity(terr)
    if "hotspots" in parts:
        bench_hotspots(args.scale)
    if "kde" in parts:
        bench_kde(args.scale)


if __name__ == "__main__":
    main()
