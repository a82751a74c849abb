"""Benchmark: deposits -> hexagons and LQ inputs with engine="dask" (issue 14, first slice).

Run: ``python benchmarks/bench_dask.py [--deposits 2000000] [--cell-km 2] [--workers 1,2]
[--memory-limit 1.5GiB] [--workdir DIR] [--no-peer] [--no-pandas]``.

1. Writes *deposits* synthetic deposits as partitioned GeoParquet (files of
   ``--per-file`` rows, in generation order, i.e. not spatially sorted) over a
   country-sized extent: 1000 km x 1000 km in EPSG:3035 (LAEA Europe). They are
   clustered (300 Gaussian clusters, sd 5-40 km, plus 10 % uniform) and carry a
   ``commodity`` (6 categories, mixed per cluster) and an ``output_mt`` weight
   (gamma, 0.1 % NaN). Generated once per size and reused.
2. Each scenario runs in its own child process (fresh interpreter) that builds
   the hexagons (``hex_grid``, ``cell_km``), then:

   - ``dask``: a ``LocalCluster`` of W worker processes, 1 thread each, with a
     memory limit per worker; ``scale.read_deposits_parquet`` (Hilbert shuffle,
     or ``dask-nosort`` without it) and ``scale.aggregate(by="commodity",
     weight="output_mt")``: counts, weighted sums and sums of squares per
     hexagon x commodity, i.e. the LQ/HHI/Krugman/Gini inputs;
   - ``pandas``: ``geopandas.read_parquet`` of every file, concatenated, and the
     same table from ``assign_deposits`` + a groupby (what ``totals`` computes);
   - ``peer``: dask-geopandas' own ``sjoin`` used naively (what a user would
     write: ``dask_geopandas.read_parquet`` then ``sjoin(deposits, hexagons,
     predicate="within")`` and a groupby), on the same cluster settings.

   Wall time of the scenario (from reading to the reduced table in the child's
   memory, grid construction excluded and reported apart), peak RSS (``VmHWM``)
   of the child and, for the clusters, of every worker process.
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
BOX = (3_500_000.0, 2_600_000.0, 4_500_000.0, 3_600_000.0)
COMMODITIES = np.array(["coal", "iron_ore", "gold", "copper", "lithium", "potash"])


def generate(folder: Path, n: int, per_file: int, seed: int = 0) -> None:
    """Write *n* clustered deposits in files of *per_file* rows (bounded memory)."""
    import geopandas as gpd
    import shapely

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    k = 300
    minx, miny, maxx, maxy = BOX
    centres = rng.uniform([minx + 50e3, miny + 50e3], [maxx - 50e3, maxy - 50e3], (k, 2))
    spread = rng.uniform(5e3, 40e3, k)
    mix = rng.dirichlet(np.full(len(COMMODITIES), 0.3), k)          # commodity mix per cluster
    for f, start in enumerate(range(0, n, per_file)):
        m = min(per_file, n - start)
        r = np.random.default_rng([seed, f])
        which = r.integers(0, k, m)
        xy = centres[which] + r.normal(size=(m, 2)) * spread[which, None]
        uniform = r.random(m) < 0.10
        xy[uniform] = r.uniform([minx, miny], [maxx, maxy], (int(uniform.sum()), 2))
        xy = np.clip(xy, [minx, miny], [maxx - 1e-3, maxy - 1e-3])
        cum = mix[which].cumsum(axis=1)
        cat = (r.random(m)[:, None] > cum).sum(axis=1).clip(0, len(COMMODITIES) - 1)
        out = r.gamma(1.5, 2.0, m)
        out[r.random(m) < 0.001] = np.nan
        frame = gpd.GeoDataFrame(
            {"deposit_id": np.char.add("D", np.arange(start, start + m).astype(str)),
             "commodity": COMMODITIES[cat], "output_mt": out},
            geometry=shapely.points(xy), crs=CRS)
        frame.to_parquet(folder / f"part-{f:04d}.parquet", row_group_size=per_file)


def _peak_gb() -> float:
    """Peak RSS of this process (VmHWM: per address space, so a worker started by
    fork + exec does not inherit its parent's peak, as ``ru_maxrss`` would)."""
    with open("/proc/self/status") as fh:
        kib = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    return kib / 1024**2


def _hexagons(cell_km: float):
    import geopandas as gpd
    import shapely

    from minespace import territories

    t = time.perf_counter()
    terr = territories.hex_grid(gpd.GeoSeries([shapely.box(*BOX)], crs=CRS), cell_km=cell_km)
    return terr, time.perf_counter() - t


def _table_from_pandas(terr, folder: Path) -> pd.DataFrame:
    import geopandas as gpd

    from minespace import territories

    deposits = pd.concat([gpd.read_parquet(f) for f in sorted(folder.glob("*.parquet"))],
                         ignore_index=True)
    out = territories.assign_deposits(terr, deposits)
    size = out["output_mt"].where(np.isfinite(out["output_mt"]) & (out["output_mt"] >= 0))
    keep = out["territory_id"].notna() & size.notna()
    frame = pd.DataFrame({"territory_id": out["territory_id"].astype(object)[keep],
                          "commodity": out["commodity"][keep], "output_mt": size[keep]})
    return (frame.groupby(["territory_id", "commodity"])["output_mt"]
            .agg(count="size", output_mt="sum").reset_index())


def _child(args) -> dict:
    """One scenario in this (fresh) process; returns its measurements."""
    import warnings

    from minespace.errors import FeaturesDroppedWarning

    warnings.simplefilter("ignore", FeaturesDroppedWarning)
    folder = Path(args.workdir) / f"deposits_{args.deposits}"
    terr, grid_s = _hexagons(args.cell_km)
    result = {"scenario": args.run, "workers": args.nworkers, "hexagons": len(terr),
              "grid_s": grid_s, "grid_peak_gb": _peak_gb()}
    if args.run == "pandas":
        t = time.perf_counter()
        table = _table_from_pandas(terr, folder)
        result["wall_s"] = time.perf_counter() - t
    else:
        import distributed

        with distributed.LocalCluster(n_workers=args.nworkers, threads_per_worker=1,
                                      processes=True, memory_limit=args.memory_limit,
                                      dashboard_address=":0") as cluster, \
                distributed.Client(cluster) as client:
            t = time.perf_counter()
            if args.run == "peer":
                import dask_geopandas

                deposits = dask_geopandas.read_parquet(str(folder))
                joined = dask_geopandas.sjoin(deposits, terr[["geometry"]], predicate="within")
                joined = joined[~joined["output_mt"].isna()]
                table = (joined.groupby(["territory_id", "commodity"])["output_mt"]
                         .agg(["count", "sum"]).compute()
                         .rename(columns={"sum": "output_mt"}).reset_index())
            else:
                from minespace import scale

                deposits = scale.read_deposits_parquet(
                    folder, spatial_partitioning=None if args.run == "dask-nosort"
                    else "hilbert")
                table = scale.aggregate(terr, deposits, by="commodity", weight="output_mt",
                                        missing="drop", scheduler=client)
                result["partitions"] = deposits.npartitions
            result["wall_s"] = time.perf_counter() - t
            result["worker_peak_gb"] = sorted(client.run(_peak_gb).values())
    result["client_peak_gb"] = _peak_gb()
    result["rows"] = len(table)
    table[["territory_id", "commodity", "count", "output_mt"]].to_parquet(
        Path(args.workdir) / f"table_{args.run}_{args.nworkers}.parquet")
    return result


def _compare(workdir: Path, name: str, ref: pd.DataFrame) -> str:
    path = workdir / name
    if not path.exists():
        return ""
    got = pd.read_parquet(path).set_index(["territory_id", "commodity"])
    both = ref.merge(got, how="outer", left_index=True, right_index=True,
                     suffixes=("_ref", "")).fillna(0)
    differ = int((both["count"] != both["count_ref"]).sum())
    moved = int((both["count"] - both["count_ref"]).abs().sum())
    rel = (both["output_mt"] - both["output_mt_ref"]).abs() / both["output_mt_ref"].abs().clip(
        lower=1e-300)
    return (f"cells with other counts: {differ} ({moved} deposits), max rel diff of sums: "
            f"{rel[both['count'] == both['count_ref']].max():.1e}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deposits", type=int, default=2_000_000)
    ap.add_argument("--per-file", type=int, default=250_000)
    ap.add_argument("--cell-km", type=float, default=2.0)
    ap.add_argument("--workers", default="2", help="comma-separated worker counts")
    ap.add_argument("--memory-limit", default="1.5GiB", help="per worker")
    ap.add_argument("--workdir", default="/tmp/minespace_bench_dask")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--no-pandas", action="store_true")
    ap.add_argument("--nosort", action="store_true", help="also run without the Hilbert shuffle")
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
        print(f"generated {args.deposits:,} deposits in {time.perf_counter() - t:.0f} s "
              f"({sum(p.stat().st_size for p in folder.glob('*')) / 1e6:.0f} MB GeoParquet)")
    runs = [] if args.no_pandas else [("pandas", 1)]
    for w in (int(x) for x in args.workers.split(",")):
        runs.append(("dask", w))
        if args.nosort:
            runs.append(("dask-nosort", w))
        if not args.no_peer:
            runs.append(("peer", w))
    rows = []
    for run, w in runs:
        cmd = [sys.executable, __file__, "--run", run, "--nworkers", str(w), "--deposits",
               str(args.deposits), "--cell-km", str(args.cell_km), "--workdir", str(workdir),
               "--memory-limit", args.memory_limit]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            print(f"{run} ({w} workers) failed:\n{proc.stderr[-3000:]}")
            rows.append({"scenario": run, "workers": w, "wall_s": float("nan")})
            continue
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    ref_path = workdir / "table_pandas_1.parquet"
    ref = (pd.read_parquet(ref_path).set_index(["territory_id", "commodity"])
           if ref_path.exists() else None)
    print(f"\n{args.deposits:,} deposits, {rows[0].get('hexagons', '?'):,} hexagons "
          f"(cell_km={args.cell_km}), memory limit {args.memory_limit} per worker\n")
    print("| scenario | workers | wall s | peak GB per worker | client peak GB | "
          "vs pandas engine |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        peaks = ", ".join(f"{p:.2f}" for p in r.get("worker_peak_gb", [])) or "-"
        name = f"table_{r['scenario']}_{r['workers']}.parquet"
        cmp = (_compare(workdir, name, ref) if ref is not None and r["scenario"] != "pandas"
               else "")
        print(f"| {r['scenario']} | {r['workers']} | {r['wall_s']:.1f} | {peaks} | "
              f"{r.get('client_peak_gb', float('nan')):.2f} | {cmp} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
