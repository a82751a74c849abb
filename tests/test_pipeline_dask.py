"""The pipeline on Dask (issue 14): ``[engine]``, ``--engine``/``--scheduler``, equal outputs.

The Kuzbass builds use the session cluster ``dask_client`` (two worker processes) through
its address, as a user's ``scheduler = "tcp://..."`` would; the command-line tests run the
real ``minespace`` in a subprocess.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import minespace as ms
from minespace import concentration as con
from minespace.errors import ConfigError
from minespace.pipeline import build, kuzbass_config, load_config
from minespace.pipeline.config import EngineConfig
from minespace.pipeline.stages import STAGE_NAMES

SRC = str(Path(__file__).parents[1] / "src")
INSTALL = 'pip install "minespace[dask]"'


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _cli(*args: str, cwd: Path, prelude: str = "") -> subprocess.CompletedProcess:
    """The real command line in a subprocess (*prelude*: Python run before it)."""
    code = (f"{prelude}\nimport sys\nfrom minespace.cli import main\n"
            f"sys.argv = ['minespace', *{list(args)!r}]\nmain()")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=cwd, env=_env(), timeout=600)


def _manifest(config: Path) -> dict:
    return json.loads((config.parent / "processed" / "manifest.json").read_text())


# -- [engine] in the config ------------------------------------------------------------------

def _config(tmp_path: Path, engine: str) -> Path:
    path = tmp_path / "minespace.toml"
    path.write_text(f'[input]\ndataset = "kuzbass"\n\n[engine]\n{engine}\n')
    return path


def test_engine_defaults_and_what_implies_dask(tmp_path):
    assert kuzbass_config(tmp_path).engine == EngineConfig()
    assert EngineConfig().kind == "pandas"
    cfg = load_config(_config(tmp_path, 'scheduler = "tcp://10.0.0.5:8786"'))
    assert cfg.engine == EngineConfig(kind="dask", scheduler="tcp://10.0.0.5:8786")
    cfg = load_config(_config(tmp_path, 'kind = "dask"\npartition_size = 50000\nworkers = 2'))
    assert cfg.engine == EngineConfig(kind="dask", partition_size=50_000, workers=2)
    # the engine changes no result: no stage's parameters (fingerprint) include it
    assert "engine" not in json.dumps([cfg.section(s) for s in (
        "territories", "concentration", "accessibility", "innovation", "clusters", "maps")])


def test_engine_problems_all_reported_at_once(tmp_path):
    path = _config(tmp_path, 'kind = "dask"\nscheduler = "tcp://h:8786"\nnpartitions = 4\n'
                   'partition_size = 0\nworkers = 2\npartition = 3')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert "partition_size" in text and "must be an integer >= 1" in text
    assert 'did you mean "partition_size"' in text or 'did you mean "npartitions"' in text
    assert "workers" in text and "tcp://h:8786 has its own workers" in text
    # partition_size = 0 was refused, so "both given" is not reported on top of it
    assert "not both" not in text
    with pytest.raises(ConfigError, match="not both"):
        load_config(_config(tmp_path, 'npartitions = 4\npartition_size = 10'))
    with pytest.raises(ConfigError, match=r'only used by kind = "dask"'):
        load_config(_config(tmp_path, 'kind = "pandas"\nnpartitions = 4'))


def test_dask_extra_missing_is_a_config_error_naming_the_install(small_project):
    """The extra made unimportable the way Python documents (``sys.modules[name] = None``):
    the config's ``kind = "dask"`` and the command line's ``--engine dask`` are both
    refused before anything is built, exit code 2, naming the install command."""
    block = "import sys\nsys.modules['dask_geopandas'] = None"
    project = small_project(extra='[engine]\nkind = "dask"\n')
    out = _cli("validate", str(project), cwd=project.parent, prelude=block)
    assert out.returncode == 2, out.stderr
    assert INSTALL in out.stderr and "engine" in out.stderr and "dask_geopandas" in out.stderr
    assert "Traceback" not in out.stderr
    plain = small_project()
    out = _cli("build", "--engine", "dask", str(plain), cwd=plain.parent, prelude=block)
    assert out.returncode == 2, out.stderr
    assert INSTALL in out.stderr
    assert not (plain.parent / "processed" / "manifest.json").exists()
    # without the block the same config is valid (the extra is installed here)
    assert _cli("validate", str(project), cwd=project.parent).returncode == 0


def test_cli_scheduler_option_errors(small_project):
    project = small_project()
    out = _cli("build", "--engine", "pandas", "--scheduler", "tcp://h:8786", str(project),
               cwd=project.parent)
    assert out.returncode == 2 and "--scheduler" in out.stderr and "--engine dask" in out.stderr
    out = _cli("build", "--scheduler", "h:8786", str(project), cwd=project.parent)
    assert out.returncode == 2 and "not a scheduler address" in out.stderr


def test_unreachable_scheduler_is_a_usage_error_and_nothing_is_written(small_project):
    """Nobody listens on port 9: the build stops at the first Dask step with exit 2 and
    what to do (it was 'internal error', exit 1), and no output is committed."""
    project = small_project()
    prelude = "import os\nos.environ['DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT'] = '3s'"
    out = _cli("build", "--scheduler", "tcp://127.0.0.1:9", str(project),
               cwd=project.parent, prelude=prelude)
    assert out.returncode == 2, out.stderr
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in out.stderr
    assert "--scheduler local" in out.stderr
    assert "internal error" not in out.stderr and "Traceback" not in out.stderr
    assert not (project.parent / "processed" / "manifest.json").exists()


# -- the concentration functions on Dask: exact counts and plant Herfindahl -------------------

@pytest.fixture(scope="module")
def two_counties():
    """Two 10 km squares; A holds coal 1, coal 2, iron 3 (t), B coal 3, iron 1, iron 1."""
    boxes = gpd.GeoDataFrame({"name": ["A", "B"]},
                             geometry=[shapely.box(0, 0, 10_000, 10_000),
                                       shapely.box(10_000, 0, 20_000, 10_000)],
                             crs="EPSG:32645").set_index("name")
    territories = ms.territories.from_polygons(boxes)
    x = [1_000, 2_000, 3_000, 11_000, 12_000, 13_000]
    deposits = gpd.GeoDataFrame(
        {"commodity": ["coal", "coal", "iron", "coal", "iron", "iron"],
         "output_mt": [1.0, 2.0, 3.0, 3.0, 1.0, 1.0]},
        geometry=shapely.points(x, [5_000] * 6), crs="EPSG:32645",
        index=pd.Index([f"D{i}" for i in range(6)], name="deposit_id"))
    return territories, deposits


@pytest.mark.slow
def test_concentration_functions_on_dask_equal_pandas_and_hand_values(two_counties,
                                                                        dask_client):
    territories, deposits = two_counties
    lazy = ms.scale.to_dask(deposits, npartitions=3)   # a partition holds both A coals
    for weight in (None, "output_mt"):
        kw = {"by": "commodity", "weight": weight}
        dask_kw = {**kw, "engine": "dask", "scheduler": dask_client}
        table = con.concentration(territories, lazy, **dask_kw)
        expected = con.concentration(territories, deposits, **kw)
        pd.testing.assert_frame_equal(table, expected, rtol=1e-9)
        # an in-memory GeoDataFrame is partitioned by the function itself
        pd.testing.assert_frame_equal(con.concentration(territories, deposits, **dask_kw),
                                      expected, rtol=1e-9)
        for func in (con.location_quotient, con.specialization):
            pd.testing.assert_frame_equal(
                pd.DataFrame(func(territories, lazy, **dask_kw).drop(columns="geometry")),
                pd.DataFrame(func(territories, deposits, **kw).drop(columns="geometry")),
                rtol=1e-9)
        # deposits, not rows of the reduced table (A's two coals are one row there)
        assert table["n_deposits"].to_dict() == {"coal": 3, "iron": 3}
    # hand arithmetic, weighted: coal 1, 2, 3 -> H = (1 + 4 + 9) / 6^2; iron 3, 1, 1
    h_coal, h_iron = Fraction(14, 36), Fraction(11, 25)
    assert table.loc["coal", "plant_hhi"] == pytest.approx(float(h_coal), rel=1e-12)
    assert table.loc["iron", "plant_hhi"] == pytest.approx(float(h_iron), rel=1e-12)
    # Ellison-Glaeser of coal: x = E_j / E = (6/11, 5/11), s = (3/6, 3/6)
    x = [Fraction(6, 11), Fraction(5, 11)]
    g = sum((Fraction(1, 2) - xj) ** 2 for xj in x)
    sx2 = 1 - sum(xj ** 2 for xj in x)
    gamma = (g - sx2 * h_coal) / (sx2 * (1 - h_coal))
    assert table.loc["coal", "ellison_glaeser"] == pytest.approx(float(gamma), rel=1e-12)
    lq = con.location_quotient(territories, lazy, by="commodity", weight="output_mt",
                               engine="dask", scheduler=dask_client)
    assert lq.loc["A", "lq__coal"] == pytest.approx((3 / 6) / (6 / 11), rel=1e-12)
    unweighted = con.concentration(territories, lazy, by="commodity", engine="dask",
                                   scheduler=dask_client)
    assert unweighted.loc["coal", "plant_hhi"] == pytest.approx(1 / 3, rel=1e-12)
    with pytest.raises(ValueError, match="'pandas' or 'dask'"):
        con.specialization(territories, deposits, by="commodity", engine="spark")


# -- Kuzbass on Dask equals Kuzbass on pandas ---------------------------------------------------

#: outputs equal in value, not in bytes, and why (docs/scale.md, "The pipeline on Dask"):
#: the plant Herfindahl is Σ count / (Σ count)² from the reduced table, not n squared
#: shares; the density's default bandwidth (hence cell size and transform) comes from
#: distributed reductions and its tiles from other FFTs, equal to ~1e-13, and the file
#: stores float32; the map draws that raster (its bounds) and folium names every element
#: by a hash of the content, so one digit renames them all
VALUE_EQUAL = {"commodity_concentration", "density_raster", "map_overview"}


def _tables_equal(a_path: Path, b_path: Path) -> None:
    a, b = pd.read_parquet(a_path), pd.read_parquet(b_path)
    pd.testing.assert_frame_equal(b, a, rtol=1e-9, atol=0)
    differ = {c for c in a.columns if not a[c].equals(b[c])}
    assert differ <= {"plant_hhi", "ellison_glaeser"}, differ


def _rasters_equal(a_path: Path, b_path: Path) -> None:
    import rasterio

    with rasterio.open(a_path) as a, rasterio.open(b_path) as b:
        assert (a.crs, a.dtypes, a.nodata, a.shape, a.tags()) == (b.crs, b.dtypes, b.nodata,
                                                                 b.shape, b.tags())
        assert np.allclose(tuple(a.transform), tuple(b.transform), rtol=1e-12, atol=0)
        x, y = a.read(1, masked=True), b.read(1, masked=True)
    assert (x.mask == y.mask).all()
    # values equal to ~1e-12 of the peak, stored as float32: at most one float32 unit in
    # the last place of the peak apart (6e-8 of it)
    peak = np.float32(max(x.max(), y.max()))
    assert float(np.abs(x - y).max()) <= np.spacing(peak)


_NUMBER = re.compile(r"(-?\d+\.\d+(?:e-?\d+)?)")


def _maps_equal(a_path: Path, b_path: Path) -> None:
    """The same HTML once folium's content-hash element ids are named by order of
    appearance, and its decimal numbers equal to 1e-9 relative."""
    def tokens(text: str) -> list[str]:
        ids: dict[str, str] = {}
        text = re.sub(r"_[0-9a-f]{32}\b", lambda m: ids.setdefault(m[0], f"_id{len(ids)}"),
                      text)
        return _NUMBER.split(text)

    a, b = tokens(a_path.read_text()), tokens(b_path.read_text())
    assert len(a) == len(b)
    assert a[0::2] == b[0::2]   # everything but the numbers: the image itself included
    assert np.allclose(np.array(a[1::2], float), np.array(b[1::2], float), rtol=1e-9,
                       atol=0)


COMPARE = {"commodity_concentration": _tables_equal, "density_raster": _rasters_equal,
           "map_overview": _maps_equal}


@pytest.fixture(scope="module")
def kuzbass_builds(tmp_path_factory, dask_client):
    root = tmp_path_factory.mktemp("kuzbass_engines")
    pandas_build = build(kuzbass_config(root / "pandas", tiles=False))
    engine = EngineConfig(kind="dask", scheduler=dask_client.scheduler.address, npartitions=4)
    config = dataclasses.replace(kuzbass_config(root / "dask", tiles=False), engine=engine)
    return pandas_build, build(config), config


@pytest.mark.slow
def test_kuzbass_on_dask_equals_pandas(kuzbass_builds):
    by_pandas, by_dask, _ = kuzbass_builds
    assert by_dask.ran == by_pandas.ran == list(STAGE_NAMES)
    value_only = []
    for stage, rec in by_pandas.manifest["stages"].items():
        other = by_dask.manifest["stages"][stage]
        assert other["fingerprint"] == rec["fingerprint"], stage   # [engine] not in it
        assert other["warnings"] == rec["warnings"], stage
        for name, out in rec["outputs"].items():
            twin = other["outputs"][name]
            assert (twin["path"], twin["rows"]) == (out["path"], out["rows"])
            if twin["sha256"] == out["sha256"]:
                continue
            assert name in VALUE_EQUAL, f"{stage}/{name} differs"
            value_only.append(name)
            COMPARE[name](by_pandas.outputs[name], by_dask.outputs[name])
    assert set(value_only) <= VALUE_EQUAL
    # the GeoPackage of every vector layer is byte-identical
    assert (by_dask.manifest["geopackage_file"]["sha256"]
            == by_pandas.manifest["geopackage_file"]["sha256"])


@pytest.mark.slow
def test_manifest_says_which_engine_ran_each_step(kuzbass_builds):
    by_pandas, by_dask, _ = kuzbass_builds
    stages = by_dask.manifest["stages"]
    assert stages["concentration"]["engine"] == "dask"
    assert stages["concentration"]["engine_steps"] == {
        "assign and aggregate deposits": "dask", "kernel density": "dask"}
    assert stages["accessibility"]["engine"] == "dask"
    assert stages["accessibility"]["engine_steps"] == {
        "corridor distances": "dask", "agglomeration distances": "dask",
        "zonal travel time": "dask"}
    for name in ("load", "territories", "innovation", "clusters", "maps"):
        assert stages[name]["engine"] == "pandas"
    assert {rec["engine"] for rec in by_pandas.manifest["stages"].values()} == {"pandas"}
    assert set(by_pandas.manifest["stages"]["concentration"]["engine_steps"].values()) == {
        "pandas"}


@pytest.mark.slow
def test_switching_engine_on_an_up_to_date_build_reruns_nothing(kuzbass_builds):
    _, _, config = kuzbass_builds
    manifest = (config.out_dir / "manifest.json").read_bytes()
    again = build(dataclasses.replace(config, engine=EngineConfig()))   # back to pandas
    assert again.ran == [] and again.reasons == {}
    # nothing rewritten: the record still names the engine that produced the outputs
    assert (config.out_dir / "manifest.json").read_bytes() == manifest
    assert again.manifest["stages"]["concentration"]["engine"] == "dask"


def test_noop_build_with_dask_engine_imports_no_dask(small_project):
    """An up-to-date build with ``[engine] kind = "dask"`` and an unreachable scheduler
    succeeds: it neither imports Dask nor connects anywhere."""
    project = small_project()
    build(load_config(project))
    text = project.read_text() + '\n[engine]\nscheduler = "tcp://127.0.0.1:9"\n'
    project.write_text(text)
    code = ("import sys, json\nfrom minespace.pipeline import build, load_config\n"
            "result = build(load_config(sys.argv[1]))\n"
            "print(json.dumps([result.ran, [m for m in ('dask', 'distributed', "
            "'dask_geopandas', 'geopandas') if m in sys.modules]]))")
    out = subprocess.run([sys.executable, "-c", code, str(project)], capture_output=True,
                         text=True, env=_env(), timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [[], []]


# -- the command line ---------------------------------------------------------------------------

@pytest.mark.slow
def test_cli_scheduler_builds_on_the_cluster_with_partition_progress(
        small_project, cli_on_terminal, dask_client):
    project = small_project(extra="[engine]\nnpartitions = 3\n")
    address = dask_client.scheduler.address
    shown = cli_on_terminal(["build", "--scheduler", address, str(project)], project.parent)
    # tree_reduce's bar, inside the command line's progress scope: partitions done
    assert "aggregate deposits" in shown and "partition" in shown
    assert "ran: load, territories, concentration" in shown
    assert _manifest(project)["stages"]["concentration"]["engine"] == "dask"
    # the same outputs as pandas: switching engine finds everything up to date
    out = _cli("build", "--engine", "pandas", str(project), cwd=project.parent)
    assert out.returncode == 0 and "nothing to do" in out.stdout, out.stderr


@pytest.mark.slow
def test_cli_prints_the_dashboard_of_the_cluster_it_starts(small_project):
    project = small_project(extra="[engine]\nworkers = 1\n")
    out = _cli("build", "--scheduler", "local", str(project), cwd=project.parent)
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stderr.splitlines() if "dashboard" in line]
    assert len(lines) == 1, out.stderr
    assert re.fullmatch(r"Dask: started a LocalCluster \(1 worker\); dashboard: "
                        r"http://127\.0\.0\.1:\d+/status", lines[0]), lines[0]
    assert _manifest(project)["stages"]["concentration"]["engine"] == "dask"
    # -q: only warnings and errors, so no dashboard line (the cluster still starts)
    quiet = _cli("-q", "build", "--force", "--only", "concentration", "--scheduler", "local",
                 str(project), cwd=project.parent)
    assert quiet.returncode == 0, quiet.stderr
    assert "dashboard" not in quiet.stderr
    assert _manifest(project)["stages"]["concentration"]["engine"] == "dask"


@pytest.mark.slow
def test_weighted_build_with_a_missing_weight_equals_pandas(small_project, dask_client):
    """``concentration.weight`` with one deposit without a value: counted, not weighed, in
    the one Dask pass as in the pandas stage (floats to 1e-9: sums added in another
    order)."""
    project = small_project()
    project.write_text(project.read_text().replace(
        '[concentration]\nby = "commodity"', '[concentration]\nby = "commodity"\n'
        'weight = "output_mt"'))
    raw = project.parent / "raw"
    mines = gpd.read_file(raw / "mines.gpkg", layer="mines")
    mines.loc[1, "production"] = np.nan            # M1, coal, 2.0 before
    mines.to_file(raw / "mines.gpkg", layer="mines")
    config = load_config(project)
    by_pandas = build(dataclasses.replace(config, out_dir=project.parent / "pandas"))
    engine = EngineConfig(kind="dask", scheduler=dask_client.scheduler.address, npartitions=3)
    by_dask = build(dataclasses.replace(config, out_dir=project.parent / "dask",
                                        engine=engine))
    for name in ("concentration", "commodity_concentration"):
        a, b = by_pandas.read(name), by_dask.read(name)
        pd.testing.assert_frame_equal(pd.DataFrame(b), pd.DataFrame(a), rtol=1e-9)
    _rasters_equal(by_pandas.outputs["density_raster"], by_dask.outputs["density_raster"])
    out = by_dask.read("concentration")
    # hand values: six mines counted; output 1 + 0.5 + 3 + 1.5 + 0.7 (M1 has none)
    assert out["count"].sum() == 6
    assert out["output_mt"].sum() == pytest.approx(6.7, rel=1e-12)
    table = by_dask.read("commodity_concentration").set_index("category")
    assert table["n_deposits"].to_dict() == {"coal": 3, "iron": 2}
    # coal weighs 1, 3, 0.7: H = (1 + 9 + 0.49) / 4.7^2
    assert table.loc["coal", "plant_hhi"] == pytest.approx(10.49 / 4.7 ** 2, rel=1e-12)


def test_a_weight_called_count_is_a_config_error_on_dask(small_project):
    """The Dask engine's reduced table names its deposit count "count": a weight of that
    name is refused by the dry run (it failed inside the stage, exit 1)."""
    project = small_project()
    project.write_text(project.read_text().replace(
        'weight = { output_mt = "production" }', 'weight = { count = "production" }')
        + '\n[engine]\nkind = "dask"\n')
    project.write_text(project.read_text().replace(
        '[concentration]\nby = "commodity"', '[concentration]\nby = "commodity"\nweight = "count"'))
    out = _cli("build", str(project), cwd=project.parent)
    assert out.returncode == 2, out.stderr
    assert '[concentration] weight = "count"' in out.stderr
    assert 'cannot be called "count"' in out.stderr and "output_mt" in out.stderr
    assert not (project.parent / "processed" / "manifest.json").exists()
