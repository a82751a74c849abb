"""Map size, write time and load time at scale, side by side with folium's own layers.

Run: ``.venv/bin/python benchmarks/bench_maps.py [--deposits 100000] [--territories 10000]``

Prints one table: file size (MB), write time (s) and time to draw in headless
Chromium (s, until the layers are on the map), for minespace's cluster_map and
for folium's FastMarkerCluster / GeoJson with the same data, plus the ratios.
Network access is blocked in the browser for every map.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from folium.plugins import FastMarkerCluster

import minespace as ms
from minespace import territories as terr


def synthetic(n_deposits: int, n_territories: int, seed: int = 0):
    """Deposits and hex territories over the Kuzbass boundary."""
    region = ms.datasets.kuzbass()
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = region.boundary.total_bounds
    area_km2 = region.area_km2
    cell_km = float(np.sqrt(area_km2 / n_territories * 2 / np.sqrt(3)) * 1.0)
    hexes = terr.hex_grid(region.boundary, cell_km=cell_km)
    x = rng.uniform(minx, maxx, n_deposits)
    y = rng.uniform(miny, maxy, n_deposits)
    cats = np.array(["coking_coal", "thermal_coal", "iron_ore", "gold"])[rng.integers(0, 4,
                                                                                      n_deposits)]
    deposits = gpd.GeoDataFrame(
        {"name": [f"mine {i}" for i in range(n_deposits)], "commodity": cats,
         "output_mt": rng.gamma(2.0, 1.0, n_deposits)},
        geometry=gpd.points_from_xy(x, y), crs=region.crs,
        index=pd.Index([f"D{i}" for i in range(n_deposits)], name="deposit_id"))
    hexes["score"] = rng.random(len(hexes))
    big = ms.Region(name="benchmark", boundary=region.boundary, deposits=deposits,
                    agglomerations=region.agglomerations, corridors=region.corridors)
    return big, hexes


def draw_seconds(path: Path) -> float:
    """Seconds from navigation start until the map's layers are drawn."""
    def measure(bp):
        bp.page.wait_for_function("() => document.querySelector('.leaflet-overlay-pane canvas, "
                                  ".leaflet-marker-pane .marker-cluster, "
                                  ".leaflet-overlay-pane svg path')", timeout=120_000)
        bp.page.evaluate("() => new Promise(r => requestAnimationFrame(() => "
                         "requestAnimationFrame(r)))")
        return bp.page.evaluate("() => performance.now()") / 1000.0
    return ms.maps.open_map(path, measure, timeout_ms=120_000)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deposits", type=int, default=100_000)
    ap.add_argument("--territories", type=int, default=10_000)
    args = ap.parse_args()
    region, hexes = synthetic(args.deposits, args.territories)
    out = Path(tempfile.mkdtemp())
    rows = []

    t0 = time.perf_counter()
    m = ms.maps.cluster_map(region, territories=hexes, metric="score", tiles=False,
                            projects=False, size_by=None)
    path = ms.maps.save_map(m, out / "minespace.html")
    rows.append(("minespace cluster_map (deposits + territories)", time.perf_counter() - t0,
                 path))

    ll = region.deposits.to_crs(4326)
    t0 = time.perf_counter()
    fm = folium.Map(tiles=None)
    FastMarkerCluster(np.c_[ll.geometry.y, ll.geometry.x].tolist()).add_to(fm)
    fm.save(str(out / "folium_fastmarkercluster.html"))
    rows.append(("folium FastMarkerCluster (deposits only)", time.perf_counter() - t0,
                 out / "folium_fastmarkercluster.html"))

    t0 = time.perf_counter()
    fm = folium.Map(tiles=None)
    folium.GeoJson(hexes.to_crs(4326)[["score", "geometry"]]).add_to(fm)
    fm.save(str(out / "folium_geojson_territories.html"))
    rows.append(("folium GeoJson (territories only)", time.perf_counter() - t0,
                 out / "folium_geojson_territories.html"))

    print(f"{args.deposits:,} deposits, {len(hexes):,} territories; files in {out}")
    print(f"{'map':52s} {'size MB':>8s} {'write s':>8s} {'draw s':>8s}")
    results = []
    for name, seconds, p in rows:
        mb = p.stat().st_size / 1e6
        try:
            draw = draw_seconds(p)
        except Exception as exc:  # a peer page that needs its CDN assets cannot draw offline
            draw = float("nan")
            name += f" [offline: {type(exc).__name__}]"
        results.append((name, mb, seconds, draw))
        print(f"{name:52s} {mb:8.2f} {seconds:8.2f} {draw:8.2f}")
    ms_row = results[0]
    for name, mb, seconds, _ in results[1:]:
        print(f"minespace / {name.split(' (')[0]}: size {ms_row[1] / mb:.2f}x, "
              f"write {ms_row[2] / seconds:.2f}x")
    print("targets (issue 7): write <= 3 s, size <= 10 MB, draw <= 5 s")


if __name__ == "__main__":
    main()
