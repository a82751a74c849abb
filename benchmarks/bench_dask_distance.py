"""Benchmark: distances of many deposits to a national road network, pandas vs Dask.

Run: ``python benchmarks/bench_dask_distance.py [--deposits 1000000] [--segments 500000]
[--workers 1,2] [--memory-limit 2GiB] [--workdir DIR] [--no-pandas]``.

1. Deposits: the clustered synthetic deposits of ``bench_dask.py`` (1000 km x
   1000 km in EPSG:3035, partitioned GeoParquet of ``--per-file`` rows, generated
   once per size and shared with that benchmark).
2. Corridors: a synthetic national network made in each child (deterministic): random
   walks of 1-3 km steps, ~50 vertices each, from towns spread over the box, until
   *segments* two-point segments; kinds ``rail`` (10 %), ``road_trunk`` (30 %) and
   ``road_primary`` (60 %).
3. Each scenario runs in its own child process (fresh interpreter):

   - ``pandas``: every file read with ``geopandas.read_parquet`` and concatenated,
     then ``accessibility.corridor_distances(deposits, corridors)``;
   - ``dask``: a ``LocalCluster`` of W worker processes (1 thread each, a memory
     limit per worker), ``scale.read_deposits_parquet(spatial_partitioning=None)``
     (lazy, one partition per file), ``corridor_distances(..., engine="dask")`` and
     the lazy result written with ``to_parquet`` on the workers (nothing gathered).

   Wall time from reading to the distances written (pandas: held in memory), peak
   RSS (``VmHWM``) of the child and of every worker process.
4. The Dask results are compared with the pandas engine's, row by row (by
   ``deposit_id``): largest absolute difference of every distance column and the
   number of different ``nearest_corridor_id``.

Prints a table; no assertions (timings are not tests).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_dask import BOX, CRS, _peak_gb, generate

KINDS = np.array(["rail", "road_trunk", "road_primary"])


def network(n_segments: int, seed: int = 0):
    """Random-walk roads over BOX, about *n_segments* two-point segments in total."""
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = BOX
    per_line = 50
    n_lines = max(1, n_segments // (per_line - 1))
    start = rng.uniform([minx, miny], [maxx, maxy], (n_lines, 2))
    heading = rng.uniform(0, 2 * np.pi, n_lines)[:, None] + np.cumsum(
        rng.normal(0, 0.3, (n_lines, per_line - 1)), axis=1)
    step = rng.uniform(1_000, 3_000, (n_lines, per_line - 1))
    xy = np.concatenate([start[:, None, :], start[:, None, :] + np.cumsum(
        np.stack([step * np.cos(heading), step * np.sin(heading)], axis=2), axis=1)], axis=1)
    xy = np.clip(xy, [minx, miny], [maxx, maxy])
    kind = KINDS[np.searchsorted([0.1, 0.4], rng.random(n_lines), side="right")]
    return gpd.GeoDataFrame({"kind": kind}, geometry=shapely.linestrings(xy),
                            index=pd.Index([f"R{i}" for i in range(n_lines)],
                                           name="corridor_id"), crs=CRS)


def _child(args) -> dict:
    import warnings

    from minespace import accessibility as acc

    warnings.simplefilter("ignore")
    folder = Path(args.workdir) / f"deposits_{args.deposits}"
    roads = network(args.segments)
    result = {"scenario": args.run, "workers": args.nworkers, "lines": len(roads)}
    out = Path(args.workdir) / f"distances_{args.run}_{args.nworkers}_{args.segments}"
    if args.run == "pandas":
        import geopandas as gpd

        t = time.perf_counter()
        deposits = pd.concat([gpd.read_parquet(f) for f in sorted(folder.glob("*.parquet"))],
                             ignore_index=True)
        res = acc.corridor_distances(deposits, roads)
        result["wall_s"] = time.perf_counter() - t
        res.drop(columns=["geometry", "commodity", "output_mt"]).to_parquet(
            f"{out}.parquet")
    else:
        import distributed

        from minespace import scale

        with distributed.LocalCluster(n_workers=args.nworkers, threads_per_worker=1,
                                      processes=True, memory_limit=args.memory_limit,
                                      dashboard_address=":0") as cluster, \
                distributed.Client(cluster) as client:
            t = time.perf_counter()
            deposits = scale.read_deposits_parquet(folder, spatial_partitioning=None)
            res = acc.corridor_distances(deposits, roads, engine="dask")
            res = res.drop(columns=["commodity", "output_mt"])
            res.to_parquet(str(out), write_index=False)
            result["wall_s"] = time.perf_counter() - t
            result["partitions"] = deposits.npartitions
            result["worker_peak_gb"] = sorted(client.run(_peak_gb).values())
    result["client_peak_gb"] = _peak_gb()
    return result


def _compare(workdir: Path, name: str, ref: pd.DataFrame) -> str:
    import glob

    files = sorted(glob.glob(str(workdir / name / "*.parquet")))
    if not files:
        return ""
    got = pd.concat([pd.read_parquet(f) for f in files]).set_index("deposit_id")
    got = got.loc[ref.index]
    diffs = {c: float(np.nanmax(np.abs(got[c].to_numpy() - ref[c].to_numpy())))
             for c in ref.columns if c.startswith("dist_")}
    ids = int((got["nearest_corridor_id"].astype(object).to_numpy()
               != ref["nearest_corridor_id"].astype(object).to_numpy()).sum())
    return f"max abs diff {max(diffs.values()):.1e} km, {ids} other nearest ids"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deposits", type=int, default=1_000_000)
    ap.add_argument("--per-file", type=int, default=250_000)
    ap.add_argument("--segments", type=int, default=500_000)
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--memory-limit", default="2GiB", help="per worker")
    ap.add_argument("--workdir", default="/tmp/minespace_bench_dask")
    ap.add_argument("--no-pandas", action="store_true")
    ap.add_argument("--run", help=argparse.SUPPRESS)
    ap.add_argument("--nworkers", type=int, default=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run:
        print(json.dumps(_child(args)))
        return 0
    workdir = Path(args.workdir)
    folder = workdir / f"deposits_{args.deposits}"
    if not folder.exists():
        t = time.perf_counter()
        generate(folder, args.deposits, args.per_file)
        print(f"generated {args.deposits:,} deposits in {time.perf_counter() - t:.0f} s")
    runs = [] if args.no_pandas else [("pandas", 1)]
    runs += [("dask", int(w)) for w in args.workers.split(",")]
    rows = []
    for run, w in runs:
        cmd = [sys.executable, __file__, "--run", run, "--nworkers", str(w), "--deposits",
               str(args.deposits), "--segments", str(args.segments), "--workdir",
               str(workdir), "--memory-limit", args.memory_limit]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            print(f"{run} ({w} workers) failed:\n{proc.stderr[-3000:]}")
            rows.append({"scenario": run, "workers": w, "wall_s": float("nan")})
            continue
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    ref_path = workdir / f"distances_pandas_1_{args.segments}.parquet"
    ref = pd.read_parquet(ref_path).set_index("deposit_id") if ref_path.exists() else None
    print(f"\n{args.deposits:,} deposits, {args.segments:,} segments "
          f"({rows[0].get('lines', '?')} lines), memory limit {args.memory_limit} per worker\n")
    print("| scenario | workers | wall s | peak GB per worker | client peak GB | "
          "vs pandas engine |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        peaks = ", ".join(f"{p:.2f}" for p in r.get("worker_peak_gb", [])) or "-"
        name = f"distances_{r['scenario']}_{r['workers']}_{args.segments}"
        cmp = _compare(workdir, name, ref) if ref is not None and r["scenario"] == "dask" \
            else ""
        print(f"| {r['scenario']} | {r['workers']} | {r['wall_s']:.1f} | {peaks} | "
              f"{r.get('client_peak_gb', float('nan')):.2f} | {cmp} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
