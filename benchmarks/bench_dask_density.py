"""Benchmark: kernel density of 10^7 deposits onto a 20,000 x 20,000 grid by tiles on Dask.

Run: ``python benchmarks/bench_dask_density.py [--deposits 10000000] [--cells 20000]
[--compare-cells 8000] [--workers 2] [--memory-limit 2GiB] [--tile-cells 2048]
[--workdir DIR] [--no-pandas]``.

1. The deposits are ``bench_dask.py``'s synthetic clustered deposits (300 Gaussian
   clusters plus 10 % uniform over 1000 km x 1000 km in EPSG:3035, files of 250,000
   rows of GeoParquet), generated once into the same work folder and reused.
2. Each scenario runs in its own child process (fresh interpreter):

   - ``dask``: ``density.kernel_density_geotiff(folder, engine="dask")`` on a
     ``LocalCluster`` of W worker processes (1 thread each, a memory limit per
     worker) onto ``--cells`` x ``--cells`` cells over the 1000 km square
     (``cell_km = 1000 / cells``), quartic kernel, **default bandwidth** (the rule,
     reduced on the cluster: exact distributed median), tiles of ``--tile-cells``;
   - the same at ``--compare-cells`` (default 8000 x 8000 = 64 million cells: the
     largest grid the in-memory ``kernel_density`` accepts), and
   - ``pandas``: every file read into one GeoDataFrame and
     ``kernel_density_geotiff(engine="pandas")`` at ``--compare-cells``.

   Wall time (from the call to the file renamed into place; the cluster's start is
   excluded), peak RSS (``VmHWM``) of the child (the client) and of every worker,
   size of the written COG.
3. The two files at ``--compare-cells`` are compared (float32 cells: largest
   difference relative to the peak, nodata cells identical).

Prints a table; no assertions (timings are not tests).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_dask import BOX, _peak_gb, generate


def _child(args) -> dict:
    from minespace import density

    folder = Path(args.workdir) / f"deposits_{args.deposits}"
    cells = args.grid
    cell_km = (BOX[2] - BOX[0]) / 1000.0 / cells
    out = Path(args.workdir) / f"density_{args.run}_{cells}.tif"
    kw = dict(cell_km=cell_km, bounds=BOX, kernel="quartic", tile_cells=args.tile_cells,
              progress=False)
    result = {"scenario": args.run, "cells": cells, "workers": args.nworkers}
    if args.run == "pandas":
        import geopandas as gpd
        import pandas as pd

        t = time.perf_counter()
        deposits = pd.concat([gpd.read_parquet(f, columns=["geometry"])
                              for f in sorted(folder.glob("*.parquet"))], ignore_index=True)
        result["read_s"] = time.perf_counter() - t
        t = time.perf_counter()
        density.kernel_density_geotiff(deposits, out, **kw)
        result["wall_s"] = time.perf_counter() - t
    else:
        import distributed

        with distributed.LocalCluster(n_workers=args.nworkers, threads_per_worker=1,
                                      processes=True, memory_limit=args.memory_limit,
                                      dashboard_address=":0") as cluster, \
                distributed.Client(cluster) as client:
            t = time.perf_counter()
            density.kernel_density_geotiff(folder, out, engine="dask", scheduler=client, **kw)
            result["wall_s"] = time.perf_counter() - t
            result["worker_peak_gb"] = sorted(client.run(_peak_gb).values())
    result["client_peak_gb"] = _peak_gb()
    result["file_mb"] = out.stat().st_size / 1e6
    import rasterio

    with rasterio.open(out) as src:
        result["bandwidth_km"] = float(src.tags()["bandwidth_km"])
        result["layout"] = src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT", "GTiff")
    return result


def _compare(a: Path, b: Path) -> str:
    import numpy as np
    import rasterio

    if not (a.exists() and b.exists()):
        return ""
    with rasterio.open(a) as sa, rasterio.open(b) as sb:
        worst, peak, nodata_same = 0.0, 0.0, True
        for _, window in sa.block_windows(1):
            x, y = sa.read(1, window=window), sb.read(1, window=window)
            nodata_same &= bool(((x == sa.nodata) == (y == sb.nodata)).all())
            worst = max(worst, float(np.abs(x.astype(float) - y).max()))
            peak = max(peak, float(x.max()))
    return f"max |difference| {worst / peak:.1e} of the peak, nodata cells identical: " \
           f"{nodata_same}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deposits", type=int, default=10_000_000)
    ap.add_argument("--per-file", type=int, default=250_000)
    ap.add_argument("--cells", type=int, default=20_000)
    ap.add_argument("--compare-cells", type=int, default=8_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="2GiB", help="per worker")
    ap.add_argument("--tile-cells", type=int, default=2048)
    ap.add_argument("--workdir", default="/tmp/minespace_bench_dask")
    ap.add_argument("--no-pandas", action="store_true")
    ap.add_argument("--run", help=argparse.SUPPRESS)
    ap.add_argument("--grid", type=int, help=argparse.SUPPRESS)
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
    runs = [("dask", args.cells)]
    if args.compare_cells:
        runs.append(("dask", args.compare_cells))
        if not args.no_pandas:
            runs.append(("pandas", args.compare_cells))
    rows = []
    for run, cells in runs:
        cmd = [sys.executable, __file__, "--run", run, "--grid", str(cells), "--nworkers",
               str(args.workers), "--deposits", str(args.deposits), "--workdir", str(workdir),
               "--memory-limit", args.memory_limit, "--tile-cells", str(args.tile_cells)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            print(f"{run} at {cells}^2 failed:\n{proc.stderr[-3000:]}", flush=True)
            continue
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    print(f"\n{args.deposits:,} deposits (1000 km x 1000 km), quartic, default bandwidth, "
          f"tiles of {args.tile_cells}, memory limit {args.memory_limit} per worker\n")
    print("| scenario | grid | workers | wall s | peak GB per worker | client peak GB | "
          "file MB |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        peaks = ", ".join(f"{p:.2f}" for p in r.get("worker_peak_gb", [])) or "-"
        workers = r["workers"] if r["scenario"] == "dask" else "-"
        print(f"| {r['scenario']} | {r['cells']:,}² | {workers} | {r['wall_s']:.0f} | "
              f"{peaks} | {r['client_peak_gb']:.2f} | {r['file_mb']:.0f} |")
    if args.compare_cells and not args.no_pandas:
        print("\n" + _compare(workdir / f"density_pandas_{args.compare_cells}.tif",
                              workdir / f"density_dask_{args.compare_cells}.tif"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
