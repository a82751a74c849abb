"""Builds as transactions: hashes in the manifest, verification, cleanup, lock,
file permissions, and byte-identical outputs of identical builds."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import geopandas as gpd
import pyarrow.parquet as pq
import pytest

import minespace as ms
from minespace.pipeline import build, load_config

ALL = ["load", "territories", "concentration", "accessibility", "innovation", "clusters",
       "maps"]
QUICK = "[clusters]\nn_perturbations = 2\nn_regions = 4\n"


@pytest.fixture
def project(small_project):
    return small_project(extra=QUICK)


def _user_files(out_dir: Path) -> dict[str, bytes]:
    """The files at the paths users open (outside hidden folders, links followed)."""
    found = {}
    for root, dirs, names in os.walk(out_dir):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            path = Path(root) / name
            if not name.startswith(".") and path.exists():
                found[path.relative_to(out_dir).as_posix()] = path.read_bytes()
    return found


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the manifest records every output's hash, size and rows -------------------------------------

def test_manifest_records_sha256_size_and_rows(project):
    build(load_config(project))
    out = project.parent / "processed"
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {o["path"]: o for rec in manifest["stages"].values() for o in rec["outputs"].values()}
    files = _user_files(out)
    assert set(files) == {*listed, "test_area.gpkg", "manifest.json"}
    for rel, rec in listed.items():
        assert rec["sha256"] == _sha(files[rel]) and rec["bytes"] == len(files[rel]), rel
        if rel.endswith(".parquet"):
            assert rec["rows"] == pq.read_table(out / rel).num_rows, rel
    gpkg = manifest["geopackage_file"]
    assert gpkg["sha256"] == _sha(files["test_area.gpkg"])
    assert gpkg["layers"]["deposits"] == len(gpd.read_file(out / "test_area.gpkg",
                                                           layer="deposits")) == 6


# -- "up to date" means the files on disk are the manifest's ------------------------------------

def _edit_in_place(out: Path) -> None:
    path = out / "deposits.parquet"
    frame = gpd.read_parquet(path)
    frame.iloc[:-1].to_parquet(path)  # a valid file with one row less, written through the link


def _replace_by_copy(out: Path) -> None:
    path = out / "deposits.parquet"
    frame = gpd.read_parquet(path)
    path.unlink()
    frame.iloc[:-1].to_parquet(path)  # a regular file where the build's link was


def _delete(out: Path) -> None:
    (out / "deposits.parquet").unlink()


@pytest.mark.parametrize("damage,why", [
    (_edit_in_place, "deposits.parquet changed on disk (size"),
    (_replace_by_copy, "deposits.parquet is not the link into the current build"),
    (_delete, "deposits.parquet is missing"),
])
def test_damaged_output_reruns_its_stage_saying_why(project, damage, why, caplog):
    config = load_config(project)
    build(config)
    out = project.parent / "processed"
    before = _user_files(out)
    damage(out)
    with caplog.at_level(logging.INFO, logger="minespace"):
        result = build(config)
    assert result.ran == ["load"]   # its outputs come out as before: nothing downstream
    assert result.reasons["load"].startswith(why)
    assert f"stage load          runs: {why}" in caplog.text
    after = _user_files(out)
    assert after.pop("manifest.json") and before.pop("manifest.json")
    assert after == before
    assert build(config).ran == []


def test_same_size_edit_is_caught_by_the_hash(project):
    config = load_config(project)
    build(config)
    out = project.parent / "processed"
    html = out / "maps" / "test_area_overview.html"
    data = html.read_bytes()
    html.write_bytes(data.replace(b"Test area", b"Test arez", 1))  # same size
    result = build(config)
    assert result.ran == ["maps"]
    assert result.reasons["maps"] == ("maps/test_area_overview.html changed on disk "
                                      "(SHA-256 differs from the manifest)")
    assert html.read_bytes() == data


def test_damaged_geopackage_is_rewritten(project):
    config = load_config(project)
    build(config)
    gpkg = project.parent / "processed" / "test_area.gpkg"
    data = gpkg.read_bytes()
    gpkg.write_bytes(data[: len(data) // 2])
    result = build(config)
    assert result.ran == [] and result.reasons == {
        "geopackage": "test_area.gpkg changed on disk (size "
                      f"{len(data) // 2} bytes, manifest says {len(data)})"}
    assert gpkg.read_bytes() == data


# -- leftovers of killed builds are cleaned -------------------------------------------------------

def test_leftovers_are_cleaned_by_the_next_build(project):
    config = load_config(project)
    build(config)
    out = project.parent / "processed"
    (out / ".staging-0badf00d" / "rasters").mkdir(parents=True)
    (out / ".staging-0badf00d" / "rasters" / "x.tif").write_bytes(b"half")
    (out / ".test_area.gpkg.k2j4h1.part.gpkg").write_bytes(b"half")   # older versions' temp
    (out / ".generations" / "0ldgener4t10n").mkdir()
    os.symlink(".current/gone.parquet", out / "gone.parquet")        # a stale output link
    (out / "notes.txt").write_text("mine")                            # not ours: kept
    assert build(config).ran == []
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [
        ".current", ".generations", ".lock"]
    assert len(list((out / ".generations").iterdir())) == 1
    assert not (out / "gone.parquet").is_symlink()
    assert (out / "notes.txt").read_text() == "mine"


def test_outputs_of_an_older_minespace_are_replaced(project):
    """An out_dir written by a version without hashes: every stage reruns, and its
    files become links into the build."""
    config = load_config(project)
    build(config)
    out = project.parent / "processed"
    for path in [p for p in out.rglob("*") if p.is_symlink() and p.name != ".current"]:
        data = path.read_bytes()
        path.unlink()
        path.write_bytes(data)
    manifest = json.loads((out / "manifest.json").read_text())
    for rec in manifest["stages"].values():
        for o in rec["outputs"].values():
            del o["sha256"], o["bytes"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / ".current").unlink()
    shutil.rmtree(out / ".generations")
    result = build(config)
    assert result.ran == ALL
    assert result.reasons["load"] == "outputs written by an older minespace (no hashes): " \
                                     "rebuilding"
    assert (out / "deposits.parquet").is_symlink() and build(config).ran == []


# -- two builds of one out_dir are serialised by a lock naming the holder ------------------------

_SLOW_BUILD = textwrap.dedent("""
    import sys, time
    from dataclasses import replace
    from pathlib import Path
    import minespace.pipeline.builder  # the package imports its modules lazily
    mod = sys.modules["minespace.pipeline.builder"]
    marker, seconds = Path(sys.argv[2]), float(sys.argv[3])
    def slow(stage):
        def run(config, inputs, workdir):
            marker.write_text("started")
            time.sleep(seconds)
            return stage.run(config, inputs, workdir)
        return run
    mod.STAGES = tuple(replace(s, run=slow(s)) if s.name == "load" else s
                       for s in mod.STAGES)
    minespace.pipeline.build(minespace.pipeline.load_config(sys.argv[1]))
""")


def _start_slow_build(project, seconds: float) -> subprocess.Popen:
    marker = project.parent / "started"
    marker.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_BUILD, str(project), str(marker),
                             str(seconds)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return proc


@pytest.mark.slow
def test_second_build_waits_for_the_first(project, caplog):
    proc = _start_slow_build(project, seconds=2)
    with caplog.at_level(logging.WARNING, logger="minespace"):
        result = build(load_config(project))   # waits, then finds the first one's outputs
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert result.ran == []
    assert (f"is being built by pid {proc.pid} on host {socket.gethostname()}, started "
            in caplog.text)
    assert (project.parent / "processed" / "deposits.parquet").exists()


@pytest.mark.slow
def test_lock_timeout_names_the_holder_and_dead_holders_are_taken_over(project):
    proc = _start_slow_build(project, seconds=60)
    try:
        with pytest.raises(ms.PipelineError) as exc:
            build(load_config(project), lock_timeout=0.3)
        message = str(exc.value)
        assert f"pid {proc.pid} on host {socket.gethostname()}" in message
        assert ".lock" in message and "wait for that build to finish or stop it" in message
    finally:
        proc.kill()
        proc.communicate()
    out = project.parent / "processed"
    assert str(proc.pid) in (out / ".lock").read_text()   # the dead build's record...
    result = build(load_config(project), lock_timeout=5)   # ...does not block
    assert result.ran == ALL
    assert [p.name for p in out.glob(".staging-*")] == []


# -- output files get ordinary permissions --------------------------------------------------------

@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_output_permissions_follow_umask(project, umask):
    old = os.umask(umask)
    try:
        build(load_config(project))
    finally:
        os.umask(old)
    out = project.parent / "processed"
    modes = {}
    for root, dirs, names in os.walk(out):
        for name in names + dirs:
            path = Path(root) / name
            if not path.is_symlink():
                modes[path.relative_to(out).as_posix()] = stat.S_IMODE(path.stat().st_mode)
    assert any(p.endswith("rasters/deposit_density.tif") for p in modes)
    expected_file, expected_dir = 0o666 & ~umask, 0o777 & ~umask
    wrong = {p: oct(m) for p, m in modes.items()
             if m != (expected_dir if (out / p).is_dir() else expected_file)}
    assert wrong == {}


# -- determinism -----------------------------------------------------------------------------------

VOLATILE = ("built_at", "generation", "config")
VOLATILE_STAGE = ("ran_at", "seconds")


def _comparable(out_dir: Path) -> dict:
    files = _user_files(out_dir)
    manifest = json.loads(files.pop("manifest.json"))
    manifest = {k: v for k, v in manifest.items() if k not in VOLATILE}
    manifest["stages"] = {name: {k: v for k, v in rec.items() if k not in VOLATILE_STAGE}
                          for name, rec in manifest["stages"].items()}
    return {**files, "manifest.json": manifest}


def _differences(a: dict, b: dict) -> list[str]:
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


@pytest.mark.slow
def test_two_clean_builds_are_byte_identical(project):
    """Two clean builds, each in its own Python (different hash seeds)."""
    out = project.parent / "processed"
    runs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed,
               "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        proc = subprocess.run([sys.executable, "-c", "import sys, minespace.pipeline as p; "
                               "p.build(p.load_config(sys.argv[1]))", str(project)],
                              env=env, capture_output=True, timeout=600)
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]
        runs.append(_comparable(out))
        shutil.rmtree(out)
    assert _differences(*runs) == []
    assert {"test_area.gpkg", "maps/test_area_overview.html", "maps/candidates_dossier.html",
            "rasters/deposit_density.tif", "mining_nodes.parquet"} <= set(runs[0])


def test_cold_and_incremental_builds_are_byte_identical(project):
    out = project.parent / "processed"
    changed = project.read_text().replace("n_regions = 4", "n_regions = 3")
    build(load_config(project))
    project.write_text(changed)
    assert build(load_config(project)).ran == ["clusters", "maps"]
    incremental = _comparable(out)
    shutil.rmtree(out)
    build(load_config(project))
    assert _differences(incremental, _comparable(out)) == []
    schema = pq.read_schema(out / "mining_nodes.parquet")
    assert str(schema.field("deposit_id").type) == "string"


def test_geopackage_last_change_is_fixed(project, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    build(load_config(project))
    gpkg = project.parent / "processed" / "test_area.gpkg"
    with contextlib.closing(sqlite3.connect(gpkg)) as db:
        stamps = db.execute("SELECT DISTINCT last_change FROM gpkg_contents").fetchall()
    assert stamps == [("2023-11-14T22:13:20.000Z",)]  # 1.7e9 s after 1970-01-01
