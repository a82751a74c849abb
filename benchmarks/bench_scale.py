"""Benchmark: the bundled Kuzbass build with a million synthetic deposits (issue 12 §5).

Run: ``python benchmarks/bench_scale.py [--deposits 1000000] [--workdir DIR] [--peer]``.

1. Writes a project into *workdir* (default ``/tmp/minespace_scale``): the real
   Kuzbass boundary, corridors, towns and facilities, and *deposits* synthetic
   deposits in GeoParquet (``synthetic_deposits``: same schema as the bundled mines,
   clustered around them, all inside the boundary), with ``minespace.toml`` = the
   bundled config (``minespace.toml`` at the repo root) pointing at these files.
2. Runs ``ms.pipeline.build`` on it in a fresh child process that records, per
   stage, the wall time and the peak RSS (``VmHWM`` of the child, reset through
   ``/proc/self/clear_refs`` when each stage starts, so each figure is that
   stage's own peak, writing of its outputs included; the commit -- moving files,
   GeoPackage, manifest -- is the last row).
3. With ``--peer``: scikit-learn's DBSCAN (its default, neighbour lists in memory)
   against minespace's bounded DBSCAN on the same deposits' coordinates at growing
   sizes, each in its own child process (time, peak RSS), the labels compared.
   scikit-learn is run only where the estimate of its neighbour lists
   (``estimate_dbscan_pairs`` x 20 bytes) fits in 2 GB.

Prints tables; no assertions (timings are not tests).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shutil
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

REPO = Path(__file__).resolve().parents[1]


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(key + ":"))


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")   # reset VmHWM to the current RSS
    except OSError:
        pass


def synthetic_deposits(n: int, *, seed: int = 0) -> gpd.GeoDataFrame:
    """*n* deposits inside the Kuzbass boundary, clustered like the real mines.

    Each synthetic deposit copies the categories (commodity, method, status) of a
    real mine chosen at random and lies at a normal offset from it (standard
    deviation 1-8 km, per mine); 10 % are spread uniformly over the oblast.
    Points outside the boundary are redrawn. Weights are log-normal.
    """
    import minespace as ms

    region = ms.datasets.kuzbass()
    real = region.deposits
    poly = shapely.union_all(np.asarray(region.boundary.geometry.values))
    shapely.prepare(poly)
    minx, miny, maxx, maxy = poly.bounds
    rng = np.random.default_rng(seed)
    rx = shapely.get_x(np.asarray(real.geometry.values))
    ry = shapely.get_y(np.asarray(real.geometry.values))
    spread = rng.uniform(1000.0, 8000.0, len(real))
    xs, ys, parents = [], [], []
    need = n
    while need > 0:
        m = int(need * 1.3) + 100
        parent = rng.integers(0, len(real), m)
        x = rx[parent] + rng.normal(0.0, 1.0, m) * spread[parent]
        y = ry[parent] + rng.normal(0.0, 1.0, m) * spread[parent]
        background = rng.random(m) < 0.10
        x[background] = rng.uniform(minx, maxx, background.sum())
        y[background] = rng.uniform(miny, maxy, background.sum())
        keep = shapely.contains_xy(poly, x, y)
        x, y, parent = x[keep][:need], y[keep][:need], parent[keep][:need]
        xs.append(x)
        ys.append(y)
        parents.append(parent)
        need -= len(x)
    x, y, parent = np.concatenate(xs), np.concatenate(ys), np.concatenate(parents)
    ids = pd.Index(np.char.add("S", np.char.zfill(np.arange(1, n + 1).astype(str), 7)),
                   name="deposit_id")
    frame = pd.DataFrame({
        "name": np.char.add("synthetic deposit ", np.arange(1, n + 1).astype(str)),
        "commodity": real["commodity"].to_numpy()[parent],
        "method": real["method"].to_numpy()[parent],
        "status": real["status"].to_numpy()[parent],
        "output_mt": np.round(rng.lognormal(0.0, 1.0, n), 3),
        "jobs": np.round(rng.lognormal(6.0, 0.8, n)),
    }, index=ids)
    frame["activity"] = frame["commodity"] + "_" + frame["method"]
    return gpd.GeoDataFrame(frame, geometry=shapely.points(x, y), crs=region.crs).to_crs(4326)


CONFIG = """\
[project]
name = "Kuzbass with {n} synthetic deposits"
out_dir = "out"
crs = "auto"

[input.deposits]
path = "deposits.parquet"
id = "deposit_id"
commodity = "commodity"
method = "method"
status = "status"
weight = {{ output_mt = "output_mt", jobs = "jobs" }}

[input.agglomerations]
path = "agglomerations.gpkg"
id = "agglomeration_id"

[input.corridors]
path = "corridors.geojson"
kind = "kind"
name = "name_en"

[input.facilities]
path = "facilities.gpkg"
id = "facility_id"
kind = "kind"
capacity = "capacity"
status = "status"

[input.boundary]
path = "region_boundary.geojson"
"""


def write_project(workdir: Path, n: int, *, seed: int = 0, cell_km: float | None = None) -> Path:
    """The bundled config with *n* synthetic deposits, in *workdir*; returns the config."""
    import minespace as ms

    workdir.mkdir(parents=True, exist_ok=True)
    marker = workdir / "deposits.json"
    if not (marker.exists() and json.loads(marker.read_text()) == {"n": n, "seed": seed}):
        t0 = time.perf_counter()
        synthetic_deposits(n, seed=seed).reset_index().to_parquet(workdir / "deposits.parquet")
        marker.write_text(json.dumps({"n": n, "seed": seed}))
        print(f"wrote {n:,} synthetic deposits in {time.perf_counter() - t0:.1f} s "
              f"({(workdir / 'deposits.parquet').stat().st_size / 2**20:.0f} MiB GeoParquet)")
    region = ms.datasets.kuzbass()
    region.agglomerations.reset_index().to_file(workdir / "agglomerations.gpkg")
    region.facilities.reset_index().to_file(workdir / "facilities.gpkg")
    raw = ms.datasets.kuzbass_dir()
    for name in ("corridors.geojson", "region_boundary.geojson"):
        shutil.copy(raw / name, workdir / name)
    # the bundled config's analysis sections, unchanged
    bundled = (REPO / "minespace.toml").read_text(encoding="utf-8")
    analysis = bundled[bundled.index("[territories]"):]
    if cell_km is not None:   # a finer grid than the bundled 15 km (the scaling runs)
        analysis = analysis.replace("cell_km = 15 ", f"cell_km = {cell_km} ")
    (workdir / "minespace.toml").write_text(CONFIG.format(n=n) + "\n" + analysis,
                                            encoding="utf-8")
    return workdir / "minespace.toml"


def _build_child(config_path: str, queue) -> None:
    import logging

    import minespace as ms

    rows: list[dict] = []
    state = {"stage": None, "t0": 0.0}

    def close(now: float) -> None:
        if state["stage"] is not None:
            rows.append({"stage": state["stage"], "seconds": now - state["t0"],
                         "peak_rss_mb": _status_kib("VmHWM") / 1024})
        state["stage"] = None

    def start(name: str) -> None:
        now = time.perf_counter()
        close(now)
        _reset_peak()
        state.update(stage=name, t0=time.perf_counter())

    class StageEnd(logging.Handler):
        def emit(self, record):
            if "ran in" in record.getMessage():   # the stage and the writing of its outputs
                close(time.perf_counter())
                start("commit")   # renamed by the next stage: only the last one is

    handler = StageEnd(logging.INFO)
    logging.getLogger("minespace.pipeline.builder").addHandler(handler)
    logging.getLogger("minespace.pipeline.builder").setLevel(logging.INFO)
    config = ms.pipeline.load_config(config_path)
    t0 = time.perf_counter()
    _reset_peak()
    start("setup")
    try:
        ms.pipeline.build(config, force=True, progress=lambda name, i, n: start(name))
        error = None
    except Exception as exc:   # report it with the numbers measured so far
        error = f"{type(exc).__name__}: {exc}"
    close(time.perf_counter())
    rows = [r for r in rows if r["stage"] != "commit" or r is rows[-1]]
    queue.put({"rows": rows, "total_seconds": time.perf_counter() - t0, "error": error})


def run_build(config_path: Path) -> dict:
    ctx = mp.get_context("spawn")   # a fresh interpreter: nothing inherited
    queue = ctx.Queue()
    proc = ctx.Process(target=_build_child, args=(str(config_path), queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def _dbscan_child(which: str, xy: np.ndarray, eps: float, min_samples: int, queue) -> None:
    from sklearn.cluster import DBSCAN

    from minespace.clustering._dbscan import dbscan_labels

    _reset_peak()
    base = _status_kib("VmRSS")
    t0 = time.perf_counter()
    if which == "sklearn":
        labels = DBSCAN(eps=eps, min_samples=min_samples).fit_predict(xy)
    else:
        labels = dbscan_labels(xy, eps=eps, min_samples=min_samples)
    seconds = time.perf_counter() - t0
    queue.put((seconds, (_status_kib("VmHWM") - base) / 1024, labels))


def _in_child(which, xy, eps, min_samples):
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_dbscan_child, args=(which, xy, eps, min_samples, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def peer_dbscan(deposits_path: Path, sizes: list[int], eps_km: float = 10.0,
                min_samples: int = 3) -> None:
    from minespace.limits import estimate_dbscan_pairs

    frame = gpd.read_parquet(deposits_path).to_crs(32645)
    xy_all = shapely.get_coordinates(np.asarray(frame.geometry.values)) / 1000.0
    print(f"\nDBSCAN eps={eps_km} km, min_samples={min_samples} (peak RSS growth in a fork)")
    print("| deposits | pairs within eps (estimate) | scikit-learn DBSCAN | minespace | "
          "labels equal |")
    print("|---|---|---|---|---|")
    for n in sizes:
        xy = np.ascontiguousarray(xy_all[:n])
        pairs = estimate_dbscan_pairs(xy, eps=eps_km)
        ours = _in_child("minespace", xy, eps_km, min_samples)
        if pairs * 20 <= 2 * 2**30:   # a shared machine: only where it surely fits
            peer = _in_child("sklearn", xy, eps_km, min_samples)
            peer_text = f"{peer[0]:.1f} s, {peer[1]:,.0f} MB"
            equal = str(bool(np.array_equal(peer[2], ours[2])))
        else:
            peer_text = f"not run (~{pairs * 20 / 2**30:,.0f} GB of neighbour lists)"
            equal = "-"
        print(f"| {n:,} | {pairs:,.3g} | {peer_text} | {ours[0]:.1f} s, {ours[1]:,.0f} MB | "
              f"{equal} |", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deposits", type=int, default=1_000_000)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/minespace_scale"))
    ap.add_argument("--peer", action="store_true", help="also scikit-learn's DBSCAN")
    ap.add_argument("--cell-km", type=float, help="territories.cell_km (bundled: 15)")
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    config = write_project(args.workdir, args.deposits, cell_km=args.cell_km)
    if not args.no_build:
        print(f"\nbuild of {config} ({args.deposits:,} deposits), one child process")
        result = run_build(config)
        print("| stage | time | peak RSS |")
        print("|---|---|---|")
        for row in result["rows"]:
            print(f"| {row['stage']} | {row['seconds']:.1f} s | {row['peak_rss_mb']:,.0f} MB |")
        peak = max(row["peak_rss_mb"] for row in result["rows"])
        print(f"| whole build | {result['total_seconds']:.1f} s | {peak:,.0f} MB |")
        if result["error"]:
            print(f"build failed: {result['error']}")
            return 1
    if args.peer:
        sizes = [s for s in (10_000, 30_000, 100_000, 300_000, 1_000_000) if s <= args.deposits]
        peer_dbscan(args.workdir / "deposits.parquet", sizes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
