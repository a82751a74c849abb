"""Benchmark of the co-location quotients against a brute-force NumPy implementation.

Run: ``python benchmarks/bench_colocation.py [--n 100000] [--k 8] [--permutations 999]``.

The brute force (written here, independent of minespace) works on the **full
distance matrix**, computed in chunks of rows (O(N²) work, O(chunk · N)
memory): global CLQ from every point's exactly tied nearest neighbours, local
CLQ from its k nearest (ties at the k-th distance taken in point order). Points
have integer metre coordinates on a 300 km square, so squared distances are
exact integers and ties are exact. minespace (``cKDTree`` neighbours) and the
brute force run in the same process; the script checks that the values are equal
and prints both times and the ratio. The permutation inference of the local CLQ
has no peer (no Python library has the CLQ); its time is printed alone.
Timings are never asserted in tests.
"""

from __future__ import annotations

import argparse
import time
import warnings

import geopandas as gpd
import numpy as np

from minespace import colocation

CRS = "EPSG:32645"
CATS = np.array(["A", "B", "C", "D"])


def make_points(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    xy = rng.integers(0, 300_000, size=(n, 2)).astype(float)
    # a clustered half: B points within ~200 m of A points, so the CLQs are not all ~1
    lab = CATS[rng.integers(0, 4, n)]
    a_pos = np.flatnonzero(lab == "A")
    b_pos = np.flatnonzero(lab == "B")[: len(a_pos) // 2]
    xy[b_pos] = np.clip(xy[a_pos[: len(b_pos)]] + rng.integers(-200, 201, (len(b_pos), 2)),
                        0, 300_000)
    pts = gpd.GeoDataFrame({"cat": lab}, geometry=gpd.points_from_xy(xy[:, 0] + 300_000,
                                                                     xy[:, 1] + 6_000_000),
                           crs=CRS)
    return pts, xy, lab


def brute_force(xy: np.ndarray, lab: np.ndarray, a: str, b: str, k: int,
                chunk: int = 256):
    """Global CLQ matrix (dict) and local CLQ of a -> b from chunked squared distances."""
    n = len(xy)
    codes = np.searchsorted(CATS, lab)
    m = len(CATS)
    counts = np.zeros((m, m))
    is_b = (lab == b).astype(float)
    onehot = (codes[:, None] == np.arange(m)[None, :]).astype(float)
    local = np.empty(n)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        rows = np.arange(start, stop)
        d2 = ((xy[rows, None, 0] - xy[None, :, 0]) ** 2
              + (xy[rows, None, 1] - xy[None, :, 1]) ** 2)
        d2[np.arange(len(rows)), rows] = np.inf                   # self excluded
        # global: every neighbour at the (exactly) smallest distance, 1/(number tied)
        tied = d2 == d2.min(axis=1, keepdims=True)
        per_cat = (tied @ onehot) / tied.sum(axis=1, keepdims=True)
        np.add.at(counts, codes[rows], per_cat)
        # local, for the A rows of the chunk
        sel = lab[rows] == a
        if sel.any():
            da = d2[sel]
            kth = np.partition(da, k - 1, axis=1)[:, k - 1:k]      # squared bandwidth
            lt = da < kth
            eq = da == kth
            need = k - lt.sum(axis=1, keepdims=True)
            member = lt | (eq & (np.cumsum(eq, axis=1) <= need))  # ties in point order
            with np.errstate(invalid="ignore", divide="ignore"):
                w = np.where(member, np.exp(-0.5 * da / kth), 0.0)
            local[rows[sel]] = (w @ is_b) / w.sum(axis=1)
    n_cat = np.bincount(codes, minlength=m)
    glob = {}
    for i in range(m):
        for j in range(m):
            other = n_cat[j] - (i == j)
            glob[(CATS[i], CATS[j])] = (counts[i, j] / n_cat[i]) / (other / (n - 1))
    n_b_other = (lab == b).sum() - (a == b)
    return glob, local[lab == a] / (n_b_other / (n - 1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--permutations", type=int, default=999)
    ap.add_argument("--no-peer", action="store_true", help="skip the brute force")
    args = ap.parse_args()
    pts, xy, lab = make_points(args.n)
    print(f"{args.n:,} points, 4 categories, local A -> B with k = {args.k}")

    t0 = time.perf_counter()
    glob = colocation.colocation_quotient(pts, by="cat")
    loc = colocation.local_colocation_quotient(pts, by="cat", a="A", b="B", k=args.k,
                                               permutations=0)
    ours = time.perf_counter() - t0

    if args.no_peer:
        print(f"global CLQ (16 pairs) + local CLQ ({len(loc):,} A points): minespace "
              f"{ours:.2f} s")
    else:
        _compare(xy, lab, args.k, glob, loc, ours)
    _permutations(pts, args)


def _compare(xy, lab, k, glob, loc, ours):
    t0 = time.perf_counter()
    bf_glob, bf_local = brute_force(xy, lab, "A", "B", k)
    peer = time.perf_counter() - t0

    diff_g = max(abs(glob.loc[pair, "clq"] - v) for pair, v in bf_glob.items())
    diff_l = float(np.abs(loc["clq"].to_numpy() - bf_local).max())
    print(f"global CLQ (16 pairs) + local CLQ ({len(loc):,} A points): minespace "
          f"{ours:.2f} s   brute force (chunked distance matrix) {peer:.1f} s   "
          f"speed-up x{peer / ours:.0f}")
    print(f"max |difference|: global {diff_g:.2e}, local {diff_l:.2e}")
    if diff_g > 1e-9 or diff_l > 1e-9:
        raise SystemExit("values differ")


def _permutations(pts, args):
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = colocation.local_colocation_quotient(pts, by="cat", a="A", b="B", k=args.k,
                                                   permutations=args.permutations,
                                                   fdr=False, random_state=0)
    perm = time.perf_counter() - t0
    print(f"local CLQ with {args.permutations} permutations ({len(out):,} A points): "
          f"{perm:.1f} s (no peer); {int(out['significant'].sum()):,} with p <= 0.05")
    t0 = time.perf_counter()
    glob = colocation.colocation_quotient(pts, by="cat", permutations=args.permutations,
                                          random_state=0)
    perm = time.perf_counter() - t0
    print(f"global CLQ (16 pairs) with {args.permutations} permutations: {perm:.1f} s "
          f"(no peer); p_sim A -> B {glob.loc[('A', 'B'), 'p_sim']:.3f}")


if __name__ == "__main__":
    main()
