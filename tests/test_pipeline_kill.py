"""Kill harness: a build killed at any instant leaves the previous or the new build.

A server subprocess imports minespace once and forks one child per build; a
child either runs to the end, kills itself at a named step (``MINESPACE_FAULT``,
every stage boundary and every step of the commit), or is killed by the server
after a seeded random delay (``SIGKILL`` or ``SIGINT``). After each kill the
test checks, from the files alone, that every output opens, that the manifest
matches the files (SHA-256, size, rows) and that the outputs are, byte for byte,
those of the previous build or of the new one; then the next build must converge
to the bytes of a clean build.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pyogrio
import pytest
import rasterio

pytestmark = pytest.mark.slow

# quick settings: the harness runs ~100 builds of this project
_QUICK = "[clusters]\nn_perturbations = 2\nn_regions = 4\n"
_LOG = os.environ.get("MINESPACE_KILL_LOG")  # optional progress log of the harness

_SERVER = textwrap.dedent("""
    import json, os, signal, sys, time, traceback, warnings
    warnings.simplefilter("ignore")
    import minespace.pipeline as pipeline

    def child(job):
        os.dup2(2, 1)  # stdout is the protocol channel
        for key in ("MINESPACE_FAULT", "MINESPACE_FAULT_SIGNAL", "MINESPACE_FAULT_TRACE"):
            os.environ.pop(key, None)
        os.environ.update(job.get("env", {}))
        try:
            pipeline.build(pipeline.load_config(job["config"]))
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)

    warm = False
    for line in sys.stdin:
        job = json.loads(line)
        if not warm:  # import what stages import lazily once, here, not in every child
            import dataclasses, tempfile
            with tempfile.TemporaryDirectory() as scratch:
                config = pipeline.load_config(job["config"])
                pipeline.build(dataclasses.replace(config, out_dir=scratch))
            warm = True
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            child(job)
        if job.get("delay") is not None:
            time.sleep(job["delay"])
            try:
                os.kill(pid, getattr(signal, "SIG" + job.get("signal", "KILL")))
            except ProcessLookupError:
                pass
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"code": os.waitstatus_to_exitcode(status),
                          "seconds": time.perf_counter() - t0}), flush=True)
""")


class Server:
    """One subprocess that imported minespace; each build runs in a fresh fork."""

    def __init__(self, env: dict[str, str]):
        self.proc = subprocess.Popen([sys.executable, "-c", _SERVER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)

    def build(self, config: Path, *, fault: str | None = None, signal: str = "KILL",
              delay: float | None = None, trace: Path | None = None) -> dict:
        env = {}
        if fault:
            env.update(MINESPACE_FAULT=fault, MINESPACE_FAULT_SIGNAL=signal)
        if trace:
            env["MINESPACE_FAULT_TRACE"] = str(trace)
        self.proc.stdin.write(json.dumps({"config": str(config), "env": env, "delay": delay,
                                          "signal": signal}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the build server died"
        if _LOG:
            with open(_LOG, "a") as fh:
                fh.write(f"{config.name} fault={fault} {signal} delay={delay}: {line}")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


# -- what is on disk, judged from the files alone ----------------------------------------

VOLATILE = ("built_at", "generation", "config")      # manifest keys that differ between builds
VOLATILE_STAGE = ("ran_at", "seconds")


def _normal_manifest(manifest: dict) -> dict:
    out = {k: v for k, v in manifest.items() if k not in VOLATILE}
    out["stages"] = {name: {k: v for k, v in rec.items() if k not in VOLATILE_STAGE}
                     for name, rec in manifest["stages"].items()}
    return out


def files(out_dir: Path) -> dict[str, bytes]:
    """The files users see (paths outside hidden folders, links followed) and their bytes;
    a link whose target does not exist is not a file (it does not open)."""
    found = {}
    for root, dirs, names in os.walk(out_dir):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            path = Path(root) / name
            if not name.startswith(".") and path.exists():
                found[path.relative_to(out_dir).as_posix()] = path.read_bytes()
    return found


def state(out_dir: Path) -> dict:
    """Check that the outputs open and match the manifest; return them for comparison
    (the manifest without its documented volatile fields)."""
    seen = files(out_dir)
    if "manifest.json" not in seen:
        assert seen == {}, f"outputs without a manifest: {sorted(seen)}"
        return {}
    manifest = json.loads(seen["manifest.json"])
    listed = {out["path"]: out for rec in manifest["stages"].values()
              for out in rec["outputs"].values()}
    gpkg = manifest["geopackage_file"]
    assert set(seen) == {*listed, gpkg["path"], "manifest.json"}, "files differ from manifest"
    for rel, rec in {**listed, gpkg["path"]: gpkg}.items():
        data = seen[rel]
        assert len(data) == rec["bytes"], rel
        assert hashlib.sha256(data).hexdigest() == rec["sha256"], rel
        path = out_dir / rel
        if rel.endswith(".parquet"):
            assert pq.read_table(path).num_rows == rec["rows"], rel
        elif rel.endswith(".tif"):
            with rasterio.open(path) as src:
                assert src.read(1).size > 0
        elif rel.endswith(".html"):
            assert data.rstrip().endswith(b"</html>") and b"L.map(" in data
        elif rel.endswith(".gpkg"):
            counts = {name: pyogrio.read_info(path, layer=name)["features"]
                      for name in pyogrio.list_layers(path)[:, 0]}
            assert counts == rec["layers"], rel
    return {**{k: v for k, v in seen.items() if k != "manifest.json"},
            "manifest.json": _normal_manifest(manifest)}


def _reset(out_dir: Path, template: Path | None) -> None:
    shutil.rmtree(out_dir, ignore_errors=True)
    if template is not None:
        shutil.copytree(template, out_dir, symlinks=True)


def _steps(trace: Path) -> list[str]:
    return list(dict.fromkeys(trace.read_text().split()))


def _project(small_project, root: Path) -> dict[str, Path]:
    base = small_project(extra=_QUICK)
    text = base.read_text().replace("tiles = false", 'tiles = false\nscheme = "quantiles"')
    base.write_text(text)
    configs = {"A": base}
    configs["B"] = root / "b.toml"  # regions change: clusters and maps rerun
    configs["B"].write_text(text.replace("n_regions = 4", "n_regions = 3"))
    configs["C"] = root / "c.toml"  # renamed project: every stage, new and stale file names
    configs["C"].write_text(text.replace('name = "Test area"', 'name = "Other area"'))
    return configs


def test_killed_builds_leave_old_or_new_outputs_and_converge(small_project, tmp_path):
    configs = _project(small_project, tmp_path)
    out = tmp_path / "processed"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    server = Server(env)
    try:
        refs, templates, seconds, steps = {}, {}, {}, {}
        for name in ("A", "B", "C"):   # clean builds: the references
            _reset(out, None)
            trace = tmp_path / f"trace_{name}"
            res = server.build(configs[name], trace=trace)
            assert res["code"] == 0
            refs[name] = state(out)
            templates[name] = tmp_path / f"ref_{name}"
            shutil.copytree(out, templates[name], symlinks=True)
            steps[("", name)] = _steps(trace)
            seconds[("", name)] = res["seconds"]
        for old, new in (("A", "B"), ("A", "C")):   # incremental builds = clean builds
            _reset(out, templates[old])
            trace = tmp_path / f"trace_{old}{new}"
            res = server.build(configs[new], trace=trace)
            assert res["code"] == 0 and state(out) == refs[new]
            steps[(old, new)] = _steps(trace)
            seconds[(old, new)] = res["seconds"]
        assert "commit:switched" in steps[("A", "C")]
        assert any(s.startswith("commit:unlinked:") for s in steps[("A", "C")])
        assert any(s.startswith("commit:link:") for s in steps[("", "A")])

        def kill_and_converge(old: str, new: str, **kill) -> str:
            _reset(out, templates.get(old))
            res = server.build(configs[new], **kill)
            assert res["code"] != 0 or "delay" in kill, res
            after = state(out)
            before = refs.get(old, {})
            assert after in (before, refs[new]), f"mixed outputs after a kill {kill}"
            assert server.build(configs[new])["code"] == 0
            assert state(out) == refs[new], f"did not converge after a kill {kill}"
            assert [p.name for p in out.glob(".staging-*")] == []
            assert len(list((out / ".generations").iterdir())) == 1
            return "new" if after == refs[new] and after != before else "old"

        outcomes = []
        named = [("", "A", s) for s in steps[("", "A")]]
        named += [("A", "B", s) for s in steps[("A", "B")]]
        named += [("A", "C", s) for s in steps[("A", "C")] if s.startswith("commit:")]
        for old, new, step in named:
            outcomes.append(kill_and_converge(old, new, fault=step))
        for old, new, step in (("A", "B", "commit:manifest"), ("A", "B", "commit:switched"),
                               ("", "A", "stage:clusters:start")):
            outcomes.append(kill_and_converge(old, new, fault=step, signal="INT"))
        assert "old" in outcomes and "new" in outcomes
        # seeded random instants, SIGKILL and SIGINT, cold and incremental builds
        rng = random.Random(20261130)
        scenarios = [("", "A"), ("A", "B"), ("A", "C")]
        for i in range(30):
            old, new = scenarios[i % 3]
            delay = rng.uniform(0, seconds[(old, new)])
            kill_and_converge(old, new, delay=delay, signal="INT" if i % 4 == 3 else "KILL")
    finally:
        server.close()
