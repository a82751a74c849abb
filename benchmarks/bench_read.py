"""Memory of reading a GeoParquet layer: the estimate that guards it, and what it takes.

For each size, a GeoParquet file of points with 3 or 11 columns besides the geometry is
written once; then, each in a fresh subprocess, the peak RSS growth of

- ``geopandas.read_parquet`` (the peer: the bare read), and
- ``minespace.read_deposits`` (read, map columns, validate),

is measured and set beside ``limits.estimate_parquet_read`` (from the footers only). The
estimate should stay above the measured peak (a guard, not an accounting) by a modest
factor. Usage::

    .venv/bin/python benchmarks/bench_read.py [--rows 1000000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r"""
import json, resource, sys
path, tiny, how = sys.argv[1], sys.argv[2], sys.argv[3]
import geopandas as gpd
import minespace as ms
def read(p):
    if how == "peer":
        return gpd.read_parquet(p)
    return ms.read_deposits(p, id="mine_id", commodity="mineral",
                            weight={"output_mt": "production"}, keep="all")
read(tiny)  # every lazy import done before measuring
def rss():  # current resident set, bytes (the peak below is measured from it)
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS:"))
before = rss()
frame = read(path)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"rows": len(frame), "peak_growth": after - before}))
"""


def _write(path: Path, rows: int, notes: int) -> None:
    import geopandas as gpd
    import numpy as np
    import shapely

    rng = np.random.default_rng(0)
    columns = {"mine_id": [f"M{i:08d}" for i in range(rows)],
               "mineral": rng.choice(["coal", "iron ore", "gold"], rows),
               "production": rng.random(rows)}
    for k in range(notes):
        columns[f"note{k}"] = [f"remark {k} on site {i % 9973}" for i in range(rows)]
    gpd.GeoDataFrame(columns, geometry=shapely.points(rng.uniform(86, 88, rows),
                                                      rng.uniform(53, 56, rows)),
                     crs=4326).to_parquet(path)


def _measure(path: Path, tiny: Path, how: str) -> int:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(tiny), how],
                         check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_growth"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows")
    args = parser.parse_args(argv)
    rows = args.rows // 10 if args.quick else args.rows
    from minespace import limits

    print(f"{'columns':>8} {'rows':>10} {'peer MB':>9} {'minespace MB':>13} "
          f"{'estimate MB':>12} {'estimate / minespace':>21}")
    with tempfile.TemporaryDirectory() as tmp:
        for notes in (0, 8):
            path, tiny = (Path(tmp) / f"{n}_{notes}.parquet" for n in ("points", "tiny"))
            _write(path, rows, notes)
            _write(tiny, 10, notes)
            peer, ours = _measure(path, tiny, "peer"), _measure(path, tiny, "minespace")
            est = limits.estimate_parquet_read([path], source=path.name).bytes
            print(f"{3 + notes:>8} {rows:>10,} {peer / 1e6:>9.0f} {ours / 1e6:>13.0f} "
                  f"{est / 1e6:>12.0f} {est / ours:>21.2f}")


if __name__ == "__main__":
    main()
