"""Benchmark: zonal statistics of a big population raster by hexagon (issue 14).

Run: ``python benchmarks/bench_dask_zonal.py [--cells 20000] [--cell-m 50] [--cell-km 2]
[--block-cells 2048] [--workers 1,2] [--memory-limit 1.5GiB] [--workdir DIR]
[--no-pandas]``.

1. Writes a ``cells × cells`` float32 "population" GeoTIFF (EPSG:3035, ``cell_m``
   metres a cell: 20,000² cells of 50 m = 1000 km × 1000 km, 1.6 GB), tiled
   512 × 512 and uncompressed, band by band (bounded memory): 300 Gaussian towns
   on a rural background times gamma noise, nodata (-1) over a "sea" in one
   corner (about 8 % of the cells). Written once per size and reused.
2. Each scenario runs in its own child process (fresh interpreter) that builds
   the hexagons (``hex_grid`` over the raster's extent, ``cell_km``), then calls
   ``minespace.zonal.zonal_stats(hexagons, path)`` (count, sum, mean, min, max):

   - ``pandas``: the file read whole, blocks reduced in this process;
   - ``dask``: a ``LocalCluster`` of W worker processes (1 thread each) with a
     memory limit per worker; one task per block window, read on the worker.

   Wall time of the call (grid construction excluded, reported apart), peak RSS
   (``VmHWM``) of the child and of every worker process.
3. The tables are compared with the pandas engine's: counts exactly, sums with
   the largest relative difference.

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

CRS = "EPSG:3035"
X0, Y0 = 3_500_000.0, 3_600_000.0      # top-left corner
NODATA = -1.0
TILE = 512


def generate(path: Path, cells: int, cell_m: float, seed: int = 0) -> None:
    """Write the population raster band by band (a few hundred MB at a time)."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    rng = np.random.default_rng(seed)
    coarse = 400                                   # town field on a 400 x 400 grid
    step = cells / coarse
    towns = rng.uniform(0, coarse, (300, 2))
    size = rng.uniform(1.0, 8.0, 300)
    peak = rng.gamma(2.0, 400.0, 300)
    gy, gx = np.mgrid[0:coarse, 0:coarse] + 0.5
    field = np.full((coarse, coarse), 2.0, dtype="float32")
    for (tx, ty), s, p in zip(towns, size, peak, strict=True):   # 300 towns
        field += (p * np.exp(-((gx - tx) ** 2 + (gy - ty) ** 2) / (2 * s * s))
                  ).astype("float32")
    tmp = path.with_suffix(".tmp.tif")
    profile = {"driver": "GTiff", "width": cells, "height": cells, "count": 1,
               "dtype": "float32", "crs": CRS, "nodata": NODATA, "tiled": True,
               "blockxsize": TILE, "blockysize": TILE, "BIGTIFF": "YES",
               "transform": from_origin(X0, Y0, cell_m, cell_m)}
    cols = (np.arange(cells) / step).astype(int)
    with rasterio.open(tmp, "w", **profile) as dst:
        for r0 in range(0, cells, TILE):
            h = min(TILE, cells - r0)
            r = np.random.default_rng([seed, r0])
            rows = ((r0 + np.arange(h)) / step).astype(int)
            band = field[rows][:, cols] * r.gamma(4.0, 0.25, (h, cells)).astype("float32")
            # the sea: the south-west corner below a diagonal
            yy = (r0 + np.arange(h))[:, None]
            xx = np.arange(cells)[None, :]
            band[(cells - yy) + xx < 0.4 * cells] = NODATA
            dst.write(band, 1, window=Window(0, r0, cells, h))
    tmp.rename(path)


def _peak_gb() -> float:
    """Peak RSS of this process (VmHWM)."""
    with open("/proc/self/status") as fh:
        kib = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    return kib / 1024**2


def _hexagons(path: Path, cell_km: float):
    import geopandas as gpd
    import rasterio
    import shapely

    from minespace import territories

    with rasterio.open(path) as src:
        bounds = tuple(src.bounds)
    t = time.perf_counter()
    terr = territories.hex_grid(gpd.GeoSeries([shapely.box(*bounds)], crs=CRS),
                                cell_km=cell_km)
    return terr[["geometry"]], time.perf_counter() - t


def _child(args) -> dict:
    import warnings

    from minespace import zonal
    from minespace.errors import SizeWarning

    warnings.simplefilter("ignore", SizeWarning)
    path = Path(args.workdir) / f"population_{args.cells}.tif"
    terr, grid_s = _hexagons(path, args.cell_km)
    result = {"scenario": args.run, "workers": args.nworkers, "hexagons": len(terr),
              "grid_s": grid_s, "grid_peak_gb": _peak_gb()}
    if args.run == "pandas":
        t = time.perf_counter()
        table = zonal.zonal_stats(terr, path, block_cells=args.block_cells,
                                  max_memory_gb=64)
        result["wall_s"] = time.perf_counter() - t
    else:
        import distributed

        with distributed.LocalCluster(n_workers=args.nworkers, threads_per_worker=1,
                                      processes=True, memory_limit=args.memory_limit,
                                      dashboard_address=":0") as cluster, \
                distributed.Client(cluster) as client:
            t = time.perf_counter()
            table = zonal.zonal_stats(terr, path, engine="dask", scheduler=client,
                                      block_cells=args.block_cells)
            result["wall_s"] = time.perf_counter() - t
            result["worker_peak_gb"] = sorted(client.run(_peak_gb).values())
    result["client_peak_gb"] = _peak_gb()
    result["valid_cells"] = int(table["count"].sum())
    table.reset_index(drop=True).to_parquet(
        Path(args.workdir) / f"zonal_{args.run}_{args.nworkers}.parquet")
    return result


def _compare(workdir: Path, name: str, ref: pd.DataFrame) -> str:
    path = workdir / name
    if not path.exists():
        return ""
    got = pd.read_parquet(path)
    differ = int((got["count"] != ref["count"]).sum())
    same = (got["min"].eq(ref["min"]) | (got["min"].isna() & ref["min"].isna())).all() and \
        (got["max"].eq(ref["max"]) | (got["max"].isna() & ref["max"].isna())).all()
    ok = ref["count"] > 0
    rel = ((got["sum"] - ref["sum"]).abs() / ref["sum"].abs())[ok]
    return (f"counts differ in {differ} hexagons; min/max {'identical' if same else 'DIFFER'}"
            f"; max rel diff of sums {rel.max():.1e}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=20_000, help="raster side in cells")
    ap.add_argument("--cell-m", type=float, default=50.0)
    ap.add_argument("--cell-km", type=float, default=2.0, help="hexagon width")
    ap.add_argument("--block-cells", type=int, default=2048)
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--memory-limit", default="1.5GiB", help="per worker")
    ap.add_argument("--workdir", default="/tmp/minespace_bench_zonal")
    ap.add_argument("--no-pandas", action="store_true")
    ap.add_argument("--run", help=argparse.SUPPRESS)
    ap.add_argument("--nworkers", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run:
        print(json.dumps(_child(args)))
        return 0
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"population_{args.cells}.tif"
    if not path.exists():
        t = time.perf_counter()
        generate(path, args.cells, args.cell_m)
        print(f"wrote {args.cells:,}² cells in {time.perf_counter() - t:.0f} s "
              f"({path.stat().st_size / 1e9:.2f} GB GeoTIFF)", flush=True)
    runs = [] if args.no_pandas else [("pandas", 1)]
    runs += [("dask", int(w)) for w in args.workers.split(",")]
    rows = []
    for run, w in runs:
        cmd = [sys.executable, __file__, "--run", run, "--nworkers", str(w), "--cells",
               str(args.cells), "--cell-km", str(args.cell_km), "--workdir", str(workdir),
               "--block-cells", str(args.block_cells), "--memory-limit", args.memory_limit]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            print(f"{run} ({w} workers) failed:\n{proc.stderr[-3000:]}")
            rows.append({"scenario": run, "workers": w, "wall_s": float("nan")})
            continue
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    ref_path = workdir / "zonal_pandas_1.parquet"
    ref = pd.read_parquet(ref_path) if ref_path.exists() and not args.no_pandas else None
    print(f"\n{args.cells:,}² cells ({args.cells ** 2 * 4 / 1e9:.1f} GB float32), "
          f"{rows[0].get('hexagons', '?'):,} hexagons (cell_km={args.cell_km}), blocks of "
          f"{args.block_cells}², memory limit {args.memory_limit} per worker\n")
    print("| scenario | workers | wall s | peak GB per worker | client peak GB | "
          "vs pandas engine |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        peaks = ", ".join(f"{p:.2f}" for p in r.get("worker_peak_gb", [])) or "-"
        name = f"zonal_{r['scenario']}_{r['workers']}.parquet"
        cmp = (_compare(workdir, name, ref) if ref is not None and r["scenario"] != "pandas"
               else "")
        print(f"| {r['scenario']} | {r['workers']} | {r['wall_s']:.1f} | {peaks} | "
              f"{r.get('client_peak_gb', float('nan')):.2f} | {cmp} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
