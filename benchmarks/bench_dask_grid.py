"""Benchmark: grids generated per partition (scale.grid) and the in-memory limit (issue 14).

Run: ``python benchmarks/bench_dask_grid.py grid [--cells-km 1,0.6,0.34] [--workers 1,2]
[--memory-limit 1.5GiB] [--deposits DIR]`` and ``python benchmarks/bench_dask_grid.py
limits [--sizes 100000,1000000] [--permutations 99]``.

``grid``: hexagons over the country-sized extent of ``bench_dask.py`` (1000 km x 1000 km
in EPSG:3035), each scenario in a fresh child process:

- ``memory``: ``territories.hex_grid`` (the whole grid in the process);
- ``dask``: a ``LocalCluster`` of W worker processes (1 thread, memory limit each);
  ``scale.grid`` then the number of cells and their total area computed per partition
  (``map_partitions``), so every band is generated and clipped on a worker and only two
  numbers per band come back; with ``--deposits DIR`` (partitioned GeoParquet written by
  ``bench_dask.py``) also ``scale.aggregate`` of those deposits against the lazy grid.

Wall time and peak RSS (``VmHWM``) of the client process and of every worker.

``limits``: what stays in memory by design, at 10^5 and 10^6 hexagons. Each step in a
fresh child process that first builds the grid (``hex_grid``), then resets its peak RSS
(``/proc/self/clear_refs``) and runs one step: the project's grid contiguity
(``territories.contiguity``), libpysal's ``Queen.from_dataframe`` (the peer), one
``hotspots.getis_ord`` with the given permutations (weights precomputed), and
``clustering.regionalize`` (50 regions, Ward). Wall time and peak RSS of the step.

Prints tables; no assertions (timings are not tests).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time

CRS = "EPSG:3035"
BOX = (3_500_000.0, 2_600_000.0, 4_500_000.0, 3_600_000.0)
STEPS = ("grid", "contiguity", "libpysal_queen", "getis_ord", "regionalize")


def _peak_gb() -> float:
    with open("/proc/self/status") as fh:
        kib = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    return kib / 1024**2


def _rss_gb() -> float:
    with open("/proc/self/status") as fh:
        kib = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
    return kib / 1024**2


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as fh:  # "5": reset the peak RSS (Linux)
        fh.write("5")


def _boundary():
    import geopandas as gpd
    import shapely

    return gpd.GeoSeries([shapely.box(*BOX)], crs=CRS)


def _count(part):
    import pandas as pd

    return pd.DataFrame({"cells": [len(part)], "area_km2": [float(part["area_km2"].sum())]})


# --------------------------------------------------------------------------- grid
def _grid_child(args) -> dict:
    import warnings

    from minespace.errors import FeaturesDroppedWarning

    warnings.simplefilter("ignore", FeaturesDroppedWarning)
    result = {"scenario": args.run, "workers": args.nworkers, "cell_km": args.cell_km}
    t = time.perf_counter()
    if args.run == "memory":
        from minespace import territories

        terr = territories.hex_grid(_boundary(), cell_km=args.cell_km, max_memory_gb=20)
        result.update(cells=len(terr), area_km2=float(terr["area_km2"].sum()),
                      wall_s=time.perf_counter() - t, client_peak_gb=_peak_gb())
        return result
    import distributed
    import pandas as pd

    from minespace import scale

    with distributed.LocalCluster(n_workers=args.nworkers, threads_per_worker=1,
                                  processes=True, memory_limit=args.memory_limit,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        t = time.perf_counter()
        lazy = scale.grid(_boundary(), kind="hex", cell_km=args.cell_km)
        meta = pd.DataFrame({"cells": pd.Series([], dtype="int64"),
                             "area_km2": pd.Series([], dtype="float64")})
        counts = client.compute(lazy.map_partitions(_count, meta=meta)).result()
        result.update(cells=int(counts["cells"].sum()), area_km2=float(counts["area_km2"].sum()),
                      partitions=lazy.npartitions, wall_s=time.perf_counter() - t)
        if args.deposits:
            t = time.perf_counter()
            deposits = scale.read_deposits_parquet(args.deposits, spatial_partitioning=None)
            table = scale.aggregate(lazy, deposits, by="commodity", weight="output_mt",
                                    missing="drop", scheduler=client)
            result.update(aggregate_s=time.perf_counter() - t, table_rows=len(table),
                          deposits_counted=int(table["count"].sum()))
        result["worker_peak_gb"] = sorted(client.run(_peak_gb).values())
    result["client_peak_gb"] = _peak_gb()
    return result


def _run(cmd: list[str]) -> dict | None:
    proc = subprocess.run([sys.executable, __file__, *cmd], capture_output=True, text=True)
    if proc.returncode:
        print(f"{cmd} failed:\n{proc.stderr[-2000:]}", flush=True)
        return None
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    print(row, flush=True)
    return row


def grid_main(args) -> None:
    rows = []
    for cell in (float(c) for c in args.cells_km.split(",")):
        if cell >= args.memory_min_km:
            rows.append(_run(["grid", "--run", "memory", "--cell-km", str(cell)]))
        for w in (int(x) for x in args.workers.split(",")):
            cmd = ["grid", "--run", "dask", "--cell-km", str(cell), "--nworkers", str(w),
                   "--memory-limit", args.memory_limit]
            if args.deposits:
                cmd += ["--deposits", args.deposits]
            rows.append(_run(cmd))
    print("\n| scenario | cell km | cells | partitions | workers | wall s | client peak GB "
          "| peak GB per worker | aggregate s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r is None:
            continue
        peaks = ", ".join(f"{p:.2f}" for p in r.get("worker_peak_gb", [])) or "-"
        agg = f"{r['aggregate_s']:.1f}" if "aggregate_s" in r else "-"
        print(f"| {r['scenario']} | {r['cell_km']} | {r['cells']:,} | "
              f"{r.get('partitions', '-')} | {r['workers']} | {r['wall_s']:.1f} | "
              f"{r['client_peak_gb']:.2f} | {peaks} | {agg} |")


# --------------------------------------------------------------------------- limits
def _limits_child(args) -> dict:
    import numpy as np

    from minespace import territories

    cell_km = math.sqrt((BOX[2] - BOX[0]) * (BOX[3] - BOX[1]) / 1e6 / (
        math.sqrt(3) / 2 * args.size))
    t = time.perf_counter()
    terr = territories.hex_grid(_boundary(), cell_km=cell_km, max_memory_gb=20)
    result = {"step": args.step, "cells": len(terr), "cell_km": round(cell_km, 3)}
    if args.step == "grid":
        result.update(wall_s=time.perf_counter() - t, peak_gb=_peak_gb())
        return result
    w = None
    if args.step in ("getis_ord", "regionalize"):
        w = territories.contiguity(terr)
    y = np.random.default_rng(0).gamma(0.3, 2.0, len(terr))
    result["rss_before_gb"] = _rss_gb()
    _reset_peak()
    t, cpu = time.perf_counter(), time.process_time()
    if args.step == "contiguity":
        w = territories.contiguity(terr)
        result["mean_neighbours"] = float(w.mean_neighbors)
    elif args.step == "libpysal_queen":
        from libpysal.weights import Queen

        w = Queen.from_dataframe(terr, use_index=True)
        result["mean_neighbours"] = float(w.mean_neighbors)
    elif args.step == "getis_ord":
        from minespace import hotspots

        out = hotspots.getis_ord(terr.assign(x=y), "x", w=w, permutations=args.permutations,
                                 random_state=0, progress=False)
        result["permutations"] = args.permutations
        result["significant"] = int((out["gi_star_q"] <= 0.05).sum())
    elif args.step == "regionalize":
        import pandas as pd

        from minespace.clustering import regionalize

        features = pd.DataFrame({"x": y}, index=terr.index)
        out = regionalize(terr, features, n_regions=50)
        result["regions"] = int(out["region_id"].nunique())
    result.update(wall_s=time.perf_counter() - t, cpu_s=time.process_time() - cpu,
                  peak_gb=_peak_gb())
    return result


def limits_main(args) -> None:
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        for step in args.steps.split(","):
            rows.append(_run(["limits", "--run", "child", "--size", str(size), "--step", step,
                              "--permutations", str(args.permutations)]))
    print("\n| hexagons | step | wall s | CPU s | peak GB (RSS before the step) | notes |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if r is None:
            continue
        notes = ", ".join(f"{k} {r[k]}" for k in ("mean_neighbours", "permutations",
                                                   "significant", "regions") if k in r)
        before = f" ({r['rss_before_gb']:.2f})" if "rss_before_gb" in r else ""
        cpu = f"{r['cpu_s']:.1f}" if "cpu_s" in r else "-"
        print(f"| {r['cells']:,} | {r['step']} | {r['wall_s']:.1f} | {cpu} | "
              f"{r['peak_gb']:.2f}{before} | {notes} |")


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="what", required=True)
    g = sub.add_parser("grid")
    g.add_argument("--cells-km", default="1,0.6,0.34")
    g.add_argument("--memory-min-km", type=float, default=0.6,
                   help="run hex_grid in memory only for cells at least this large")
    g.add_argument("--workers", default="1,2")
    g.add_argument("--memory-limit", default="1.5GiB")
    g.add_argument("--deposits", default="")
    g.add_argument("--run")
    g.add_argument("--cell-km", type=float)
    g.add_argument("--nworkers", type=int, default=1)
    m = sub.add_parser("limits")
    m.add_argument("--sizes", default="100000,1000000")
    m.add_argument("--steps", default=",".join(STEPS))
    m.add_argument("--permutations", type=lambda v: v if v == "auto" else int(v), default=99,
                   help='an int, or "auto" (the default of hotspots.getis_ord)')
    m.add_argument("--run")
    m.add_argument("--size", type=int)
    m.add_argument("--step")
    args = ap.parse_args()
    if args.what == "grid":
        if args.run:
            print(json.dumps(_grid_child(args)))
        else:
            grid_main(args)
    elif args.run:
        print(json.dumps(_limits_child(args)))
    else:
        limits_main(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
