"""Benchmark of value-chain access against a brute-force per-deposit Dijkstra.

Run: ``python benchmarks/bench_value_chain.py [--n 100000] [--plants 50] [--grid 60]
[--peer-n 2000]``.

Synthetic data: a ``grid`` × ``grid`` lattice of road segments 2 km apart (speeds 30,
60 or 90 km/h at random), ``n`` deposits uniform over it with one of five
commodities, ``plants`` plants with one or two inputs. minespace:
``value_chain_access(deposits, plants, corridors=network)`` with the network built
once (its build time is printed apart).

The peer (written here, independent of minespace) does what a user without it would
do, deposit by deposit: find the deposit's nearest segment by brute force over all
segments, run ``scipy.sparse.csgraph.dijkstra`` from the segment's two ends, add the
access legs (20 km/h) and the time along the segment at both ends of the deposit's
and each plant's segment, keep the plants whose input the deposit's commodity feeds
(a Python set test) and take the minimum. The peer runs on a random sample of
``peer-n`` deposits (all of them would take minutes on a loaded machine); the script
checks that its times equal minespace's on that sample and reports its time per
deposit × n as the extrapolated full-size time, and the ratio. Timings are never
asserted in tests.
"""

from __future__ import annotations

import argparse
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from minespace.accessibility import build_network
from minespace.value_chain import DEFAULT_MATCHES, value_chain_access

CRS = "EPSG:32645"
X0, Y0 = 400_000.0, 6_000_000.0
STEP = 2_000.0
ACCESS_KMH = 20.0
COMMODITIES = np.array(["coking_coal", "thermal_coal", "thermal_coking_coal", "lignite",
                        "iron_ore"])
INPUTS = np.array(["coking_coal", "thermal_coal", "coal_chemicals", "iron_ore", "other"])


def make_data(n: int, n_plants: int, grid: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    ij = np.array([(i, j) for j in range(grid) for i in range(grid)])
    xy = np.c_[X0 + ij[:, 0] * STEP, Y0 + ij[:, 1] * STEP]
    node = np.arange(grid * grid).reshape(grid, grid)           # [row j, col i]
    edges = np.vstack([np.c_[node[:, :-1].ravel(), node[:, 1:].ravel()],
                       np.c_[node[:-1, :].ravel(), node[1:, :].ravel()]])
    speed = rng.choice([30.0, 60.0, 90.0], len(edges))
    lines = shapely.linestrings(np.stack([xy[edges[:, 0]], xy[edges[:, 1]]], axis=1))
    corridors = gpd.GeoDataFrame({"kind": "road", "speed_kmh": speed, "speed_source": "data"},
                                 geometry=lines, crs=CRS)
    span = (grid - 1) * STEP
    dxy = np.c_[X0 + rng.uniform(0, span, n), Y0 + rng.uniform(0, span, n)]
    pxy = np.c_[X0 + rng.uniform(0, span, n_plants), Y0 + rng.uniform(0, span, n_plants)]
    com = COMMODITIES[rng.integers(0, len(COMMODITIES), n)]
    chains = [";".join(sorted(set(rng.choice(INPUTS, rng.integers(1, 3)))))
              for _ in range(n_plants)]
    deposits = gpd.GeoDataFrame({"commodity": com},
                                index=pd.Index([f"d{i}" for i in range(n)], name="deposit_id"),
                                geometry=shapely.points(dxy), crs=CRS)
    plants = gpd.GeoDataFrame({"value_chain": chains},
                              index=pd.Index([f"p{j}" for j in range(n_plants)],
                                             name="facility_id"),
                              geometry=shapely.points(pxy), crs=CRS)
    return corridors, deposits, plants, (xy, edges, speed, dxy, pxy, com, chains)


def _attach(p, xy, edges, t_edge):
    """Brute force: nearest segment of point p over all segments, legs to its two ends."""
    a, b = xy[edges[:, 0]], xy[edges[:, 1]]
    ab = b - a
    f = np.clip(((p - a) * ab).sum(1) / (ab * ab).sum(1), 0.0, 1.0)
    d = np.hypot(*(a + f[:, None] * ab - p).T)
    k = int(np.argmin(d))
    leg = d[k] / 1000.0 / ACCESS_KMH * 60.0
    return edges[k], np.array([leg + f[k] * t_edge[k], leg + (1 - f[k]) * t_edge[k]])


def peer(sample, xy, edges, speed, dxy, pxy, com, chains):
    """Per-deposit Dijkstra (scipy) and brute-force matching; minutes per sampled deposit."""
    t_edge = np.hypot(*(xy[edges[:, 0]] - xy[edges[:, 1]]).T) / 1000.0 / speed * 60.0
    n_nodes = len(xy)
    g = sparse.coo_matrix((t_edge, (edges[:, 0], edges[:, 1])), shape=(n_nodes, n_nodes))
    graph = (g + g.T).tocsr()
    p_ends, p_legs = zip(*(_attach(p, xy, edges, t_edge) for p in pxy), strict=True)
    p_ends, p_legs = np.array(p_ends), np.array(p_legs)          # (m, 2)
    p_tokens = [set(c.split(";")) for c in chains]
    out = np.full(len(sample), np.nan)
    for r, i in enumerate(sample):
        feeds = set(DEFAULT_MATCHES.get(com[i], ())) | {com[i]}
        cols = [j for j in range(len(pxy)) if feeds & p_tokens[j]]
        if not cols:
            continue
        ends, legs = _attach(dxy[i], xy, edges, t_edge)
        dist = csgraph.dijkstra(graph, indices=ends)              # (2, n_nodes)
        best = np.inf
        for j in cols:
            for a in range(2):
                for b in range(2):
                    best = min(best, legs[a] + dist[a, p_ends[j, b]] + p_legs[j, b])
        out[r] = best
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--plants", type=int, default=50)
    ap.add_argument("--grid", type=int, default=60)
    ap.add_argument("--peer-n", type=int, default=2_000)
    args = ap.parse_args()
    corridors, deposits, plants, raw = make_data(args.n, args.plants, args.grid)
    print(f"{args.n:,} deposits x {args.plants} plants; grid network {args.grid}x{args.grid} "
          f"nodes, {len(corridors):,} segments")
    t0 = time.perf_counter()
    net = build_network(corridors)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = value_chain_access(deposits, plants, corridors=net, access_speed_kmh=ACCESS_KMH)
    t_ms = time.perf_counter() - t0
    t0 = time.perf_counter()
    value_chain_access(deposits, plants)
    t_line = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    sample = np.sort(rng.choice(args.n, min(args.peer_n, args.n), replace=False))
    t0 = time.perf_counter()
    ref = peer(sample, *raw)
    t_peer = time.perf_counter() - t0
    got = out["value_chain_time_min"].to_numpy()[sample]
    same = np.allclose(got, ref, rtol=1e-9, atol=1e-6, equal_nan=True)
    per = t_peer / len(sample)
    full = per * args.n
    print(f"build_network                      {t_build:8.2f} s")
    print(f"minespace value_chain_access (net) {t_ms:8.2f} s   ({t_ms / args.n * 1e6:.1f} us "
          "per deposit)")
    print(f"minespace straight line            {t_line:8.2f} s")
    print(f"peer per-deposit Dijkstra          {t_peer:8.2f} s for {len(sample):,} deposits "
          f"({per * 1e3:.2f} ms each) -> {full:,.0f} s extrapolated to {args.n:,}")
    print(f"ratio peer / minespace (net)       {full / t_ms:8.0f} x   "
          f"(with the build: {full / (t_ms + t_build):.0f} x)")
    print(f"equal times on the sample: {same} (max abs diff "
          f"{np.nanmax(np.abs(got - ref)) if np.isfinite(ref).any() else 0:.2e} min)")
    if not same:
        raise SystemExit("minespace and the peer disagree")


if __name__ == "__main__":
    main()
