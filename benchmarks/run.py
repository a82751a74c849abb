"""Run every benchmark in this folder, one after the other, and print their tables.

Usage: ``.venv/bin/python benchmarks/run.py [--quick]`` (``make bench``).
``--quick`` shrinks the problems (about a tenth) for a smoke run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = ap.parse_args()
    runs = {
        "bench_concentration.py": ["--scale", "0.1"] if args.quick else [],
        "bench_accessibility.py": ["--scale", "0.1"] if args.quick else [],
        "bench_clustering.py": ["10000"] if args.quick else [],
        "bench_maps.py": ["--deposits", "10000", "--territories", "1000"] if args.quick else [],
        "bench_cli.py": ["--runs", "3", "--warmup", "1"] if args.quick else [],
        "bench_colocation.py": ["--n", "10000"] if args.quick else [],
        "bench_value_chain.py": (["--n", "10000", "--grid", "30", "--peer-n", "200"]
                                 if args.quick else []),
        "bench_scale.py": (["--deposits", "20000", "--workdir", "/tmp/minespace_scale_quick"]
                           if args.quick else ["--peer"]),
        "bench_dask.py": (["--deposits", "200000", "--per-file", "50000", "--cell-km", "5",
                           "--workdir", "/tmp/minespace_dask_quick"]
                          if args.quick else ["--deposits", "2000000", "--cell-km", "1",
                                              "--workers", "1,2", "--nosort"]),
        "bench_dask_zonal.py": (["--cells", "4000", "--cell-km", "2", "--workdir",
                                 "/tmp/minespace_zonal_quick"]
                                if args.quick else ["--cells", "20000", "--cell-km", "1",
                                                    "--workers", "1,2"]),
    }
    failed = []
    for script, extra in runs.items():
        print(f"\n===== {script} {' '.join(extra)}", flush=True)
        code = subprocess.call([sys.executable, str(HERE / script), *extra])
        if code:
            failed.append(script)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
