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
            import dataclasses, pathlib, tempfile
            with tempfile.TemporaryDirectory() as scratch:
                config = pipeline.load_config(job["config"])
                pipeline.build(dataclasses.replace(config, out_dir=pathlib.Path(scratch)))
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
        try:
            self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()


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
        elif rel.endswith("_overview.html"):
            assert data.rstrip().endswith(b"</html>") and b"L.map(" in data
        elif rel.endswith(".html"):  # the printable dossier: no script at all
            assert data.rstrip().endswith(b"</html>") and b"<script" not in data
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


class Harness:
    """The project, its three configs, their clean reference builds, and the server."""

    def __init__(self, small_project_module):
        base = small_project_module(extra=_QUICK)
        self.root = base.parent
        text = base.read_text().replace("tiles = false", 'tiles = false\nscheme = "quantiles"')
        base.write_text(text)
        self.configs = {"A": base}
        self.configs["B"] = self.root / "b.toml"  # regions change: clusters and maps rerun
        self.configs["B"].write_text(text.replace("n_regions = 4", "n_regions = 3"))
        self.configs["C"] = self.root / "c.toml"  # renamed: every stage, new and stale files
        self.configs["C"].write_text(text.replace('name = "Test area"', 'name = "Other area"'))
        self.out = self.root / "processed"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.server = Server(env)
        self.refs, self.templates, self.seconds, self.steps = {}, {}, {}, {}
        for name in ("A", "B", "C"):   # clean builds: the references
            _reset(self.out, None)
            trace = self.root / f"trace_{name}"
            res = self.server.build(self.configs[name], trace=trace)
            assert res["code"] == 0
            self.refs[name] = state(self.out)
            self.templates[name] = self.root / f"ref_{name}"
            shutil.copytree(self.out, self.templates[name], symlinks=True)
            self.steps[("", name)] = _steps(trace)
            self.seconds[("", name)] = res["seconds"]
        self.refs[""] = {}

    def incremental(self, old: str, new: str) -> None:
        """Trace an uninterrupted incremental build; it must equal the clean build."""
        _reset(self.out, self.templates[old])
        trace = self.root / f"trace_{old}{new}"
        res = self.server.build(self.configs[new], trace=trace)
        assert res["code"] == 0 and state(self.out) == self.refs[new]
        self.steps[(old, new)] = _steps(trace)
        self.seconds[(old, new)] = res["seconds"]

    def kill_and_converge(self, old: str, new: str, **kill) -> str:
        """Start from build *old* ("" = nothing), kill build *new*, check, converge."""
        _reset(self.out, self.templates.get(old))
        res = self.server.build(self.configs[new], **kill)
        assert res["code"] != 0 or "delay" in kill, res
        after = state(self.out)
        assert after in (self.refs[old], self.refs[new]), f"mixed outputs after {kill}"
        assert self.server.build(self.configs[new])["code"] == 0
        assert state(self.out) == self.refs[new], f"did not converge after {kill}"
        assert [p.name for p in self.out.glob(".staging-*")] == []
        assert len(list((self.out / ".generations").iterdir())) == 1
        return "new" if after == self.refs[new] and after != self.refs[old] else "old"


@pytest.fixture(scope="module")
def harness(small_project_module):
    h = Harness(small_project_module)
    yield h
    h.server.close()


def test_kill_at_every_step_of_a_clean_build(harness):
    steps = harness.steps[("", "A")]
    assert steps[0] == "stage:load:start" and steps[-1] == "commit:done"
    assert any(s.startswith("commit:link:") for s in steps)
    outcomes = [harness.kill_and_converge("", "A", fault=step) for step in steps]
    outcomes.append(harness.kill_and_converge("", "A", fault="stage:clusters:start",
                                              signal="INT"))
    # before the switch nothing is there; from the switch on, the whole new build
    switched = steps.index("commit:switched")
    assert outcomes == ["old"] * switched + ["new"] * (len(steps) - switched) + ["old"]


def test_kill_at_every_step_of_incremental_builds(harness):
    harness.incremental("A", "B")
    harness.incremental("A", "C")
    steps_c = harness.steps[("A", "C")]
    assert any(s.startswith("commit:unlinked:") for s in steps_c)
    for old, new, steps in (("A", "B", harness.steps[("A", "B")]),
                            ("A", "C", [s for s in steps_c if s.startswith("commit:")])):
        outcomes = [harness.kill_and_converge(old, new, fault=step) for step in steps]
        switched = steps.index("commit:switched")
        assert outcomes == ["old"] * switched + ["new"] * (len(steps) - switched)
    for step, outcome in (("commit:manifest", "old"), ("commit:switched", "new")):
        assert harness.kill_and_converge("A", "B", fault=step, signal="INT") == outcome


def test_kill_at_random_instants(harness):
    """30 seeded random instants, SIGKILL and SIGINT, clean and incremental builds."""
    for old, new in (("A", "B"), ("A", "C")):
        if (old, new) not in harness.seconds:
            harness.incremental(old, new)
    rng = random.Random(20261130)
    scenarios = [("", "A"), ("A", "B"), ("A", "C")]
    for i in range(30):
        old, new = scenarios[i % 3]
        delay = rng.uniform(0, harness.seconds[(old, new)])
        harness.kill_and_converge(old, new, delay=delay,
                                  signal="INT" if i % 4 == 3 else "KILL")
