"""Command-line start-up: ``minespace --help`` and a no-op ``minespace build``.

Each command runs as a fresh subprocess, ``--runs`` times after ``--warmup`` runs (to
fill the OS file cache and ``__pycache__``), like hyperfine; the table gives the
mean ± standard deviation, min and max wall time. Targets (issue 13): ``--help``
≤ 0.5 s, a no-op build ≤ 1 s. The no-op build is the bundled Kuzbass project,
built once into a temporary folder first (not timed).

Usage: ``.venv/bin/python benchmarks/bench_cli.py [--runs 10] [--warmup 2]
[--src A/src --src B/src]`` (``minespace`` and the Python of this environment).
Each ``--src`` is put first on PYTHONPATH for its own column; runs alternate
between them, so a before/after comparison sees the same machine load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """[project]
name = "Kuzbass bench"
out_dir = "processed"

[input]
dataset = "kuzbass"

[maps]
tiles = false
"""


def _env(src: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


def _time(cmd: list[str], runs: int, warmup: int, cwd: Path,
          srcs: list[str | None]) -> dict[str | None, list[float]]:
    for src in srcs:
        for _ in range(warmup):
            subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, env=_env(src))
    times: dict[str | None, list[float]] = {src: [] for src in srcs}
    for _ in range(runs):
        for src in srcs:  # alternate: the same load for every column
            t0 = time.perf_counter()
            subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, env=_env(src))
            times[src].append(time.perf_counter() - t0)
    return times


def _cell(t: list[float]) -> str:
    sd = statistics.stdev(t) if len(t) > 1 else 0.0
    return f"{statistics.mean(t):.2f} ± {sd:.2f} s ({min(t):.2f}–{max(t):.2f})"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--src", action="append", help="a src folder to measure (repeatable)")
    args = ap.parse_args()
    srcs: list[str | None] = args.src or [None]
    exe = shutil.which("minespace", path=str(Path(sys.executable).parent)) or "minespace"
    work = Path(tempfile.mkdtemp(prefix="minespace-bench-cli-"))
    try:
        (work / "minespace.toml").write_text(CONFIG, encoding="utf-8")
        t0 = time.perf_counter()
        subprocess.run([exe, "-q", "build"], cwd=work, check=True, env=_env(srcs[-1]))
        print(f"first build (not timed in the table): {time.perf_counter() - t0:.1f} s")
        cases = {
            "python -c pass (interpreter alone)": [sys.executable, "-c", "pass"],
            "python -c 'import minespace'": [sys.executable, "-c", "import minespace"],
            "minespace --help": [exe, "--help"],
            "minespace build (no-op)": [exe, "build"],
        }
        try:
            load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        except OSError:
            load = "n/a"
        print(f"\n{args.runs} runs each after {args.warmup} warm-up runs; load average {load}\n")
        heads = [src or "this environment" for src in srcs]
        print("| command | " + " | ".join(f"{h}: mean ± sd (min–max)" for h in heads)
              + " | target |")
        print("|---|" + "---|" * len(srcs) + "---|")
        targets = {"minespace --help": 0.5, "minespace build (no-op)": 1.0}
        for name, cmd in cases.items():
            t = _time(cmd, args.runs, args.warmup, work, srcs)
            target = targets.get(name)
            last = statistics.mean(t[srcs[-1]])
            ok = "" if target is None else f"≤ {target} s " + ("✓" if last <= target else "✗")
            print(f"| {name} | " + " | ".join(_cell(t[src]) for src in srcs) + f" | {ok} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
