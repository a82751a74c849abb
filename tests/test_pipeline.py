"""Pipeline: config validation, full/no-op/incremental builds, atomicity, CLI codes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from click.testing import CliRunner

import minespace as ms
from minespace.cli import cli
from minespace.pipeline import build, load_config

ALL = ["load", "territories", "concentration", "accessibility", "innovation", "clusters",
       "maps"]


@pytest.fixture
def project(small_project):
    """A small project of our own files: 6 mines, 2 towns, 2 corridors, a boundary."""
    return small_project()


def _snapshot(out_dir):
    """Every file's bytes (the lock file, which names the last build, left out)."""
    return {p.relative_to(out_dir).as_posix(): p.read_bytes()
            for p in sorted(out_dir.rglob("*")) if p.is_file() and p.name != ".lock"}


def test_full_build_outputs_reopen(project):
    result = build(load_config(project))
    assert result.ran == ALL
    out = project.parent / "processed"
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["stages"]) == set(result.ran)
    assert {i["path"] for i in manifest["inputs"]} == {
        str(project.parent / "raw" / f) for f in
        ("mines.gpkg", "towns.geojson", "lines.geojson", "area.geojson")}
    assert manifest["versions"]["geopandas"] == gpd.__version__
    deposits = gpd.read_parquet(out / "deposits.parquet")
    assert sorted(deposits["deposit_id"]) == [f"M{i}" for i in range(6)]
    assert deposits.crs.to_epsg() == 32645
    territories = gpd.read_parquet(out / "territories.parquet")
    conc = gpd.read_parquet(out / "concentration.parquet")
    acc = gpd.read_parquet(out / "accessibility.parquet")
    assert len(conc) == len(acc) == len(territories) > 0
    assert manifest["stages"]["territories"]["outputs"]["territories"]["rows"] == len(territories)
    table = pd.read_parquet(out / "commodity_concentration.parquet")
    assert len(table) == 2  # coal, iron
    layers = set(pyogrio.list_layers(out / "test_area.gpkg")[:, 0])
    assert {"deposits", "territories", "concentration", "accessibility"} <= layers
    html = (out / "maps" / "test_area_overview.html").read_text()
    assert "Test area" in html and "<script src=" not in html
    assert not list(out.glob(".staging-*"))


def test_noop_rerun_does_nothing(project):
    build(load_config(project))
    out = project.parent / "processed"
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")
              if p.is_file() and p.name != ".lock"}
    result = build(load_config(project))
    assert result.ran == [] and result.skipped == ALL
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")
            if p.is_file() and p.name != ".lock"} == before


def test_parameter_change_reruns_downstream_only(project):
    build(load_config(project))
    manifest = json.loads((project.parent / "processed" / "manifest.json").read_text())
    project.write_text(project.read_text().replace('by = "commodity"',
                                                   'by = "commodity"\nweight = "output_mt"'))
    result = build(load_config(project))
    # the innovation stage weighs the value-chain share like the concentration
    assert result.ran == ["concentration", "innovation", "clusters", "maps"]
    after = json.loads((project.parent / "processed" / "manifest.json").read_text())
    for stage in ("load", "territories", "accessibility"):
        assert after["stages"][stage] == manifest["stages"][stage]
    assert after["stages"]["concentration"]["params"]["weight"] == "output_mt"


def test_cluster_parameter_reruns_clusters_and_maps(project):
    build(load_config(project))
    project.write_text(project.read_text() + "\n[clusters]\nn_regions = 3\n")
    assert build(load_config(project)).ran == ["clusters", "maps"]


def test_input_change_reruns_everything(project):
    build(load_config(project))
    towns = gpd.read_file(project.parent / "raw" / "towns.geojson")
    towns.loc[0, "pop"] = 60_000
    towns.to_file(project.parent / "raw" / "towns.geojson")
    assert build(load_config(project)).ran == ALL


def test_force_and_only(project):
    config = load_config(project)
    build(config)
    assert build(config, force=True).ran == ALL
    assert build(config, only="maps").ran == ["maps"]
    with pytest.raises(ms.ConfigError, match="allowed: load, territories"):
        build(config, only="candidates")


def test_only_without_upstream_outputs(project):
    with pytest.raises(ms.ConfigError, match="run a full build first"):
        build(load_config(project), only="maps")


def test_interrupted_build_leaves_previous_outputs(project, monkeypatch):
    build(load_config(project))
    out = project.parent / "processed"
    before = _snapshot(out)
    from dataclasses import replace

    import minespace.pipeline.builder as build_module

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    stages = tuple(replace(s, run=interrupt) if s.name == "accessibility" else s
                   for s in build_module.STAGES)
    monkeypatch.setattr(build_module, "STAGES", stages)
    with pytest.raises(KeyboardInterrupt):
        build(load_config(project), force=True)
    assert _snapshot(out) == before
    assert not list(out.glob(".staging-*"))


def test_killed_build_leaves_previous_outputs(project):
    build(load_config(project))
    out = project.parent / "processed"
    before = _snapshot(out)
    script = textwrap.dedent(f"""
        import os, signal, sys
        from dataclasses import replace
        import minespace.pipeline.builder  # the package imports its modules lazily
        mod = sys.modules["minespace.pipeline.builder"]
        def die(config, inputs, workdir):
            os.kill(os.getpid(), signal.SIGKILL)
        mod.STAGES = tuple(replace(s, run=die) if s.name == "accessibility" else s
                           for s in mod.STAGES)
        cfg = minespace.pipeline.load_config({str(project)!r})
        minespace.pipeline.build(cfg, force=True)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=300)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    leftovers = list(out.glob(".staging-*"))
    assert leftovers  # the killed build had written its first stages to staging
    assert {k: v for k, v in _snapshot(out).items() if not k.startswith(".staging-")} == before
    build(load_config(project))  # the next build cleans up and is a no-op
    assert not list(out.glob(".staging-*"))


def test_invalid_input_writes_nothing(project):
    mines = gpd.read_file(project.parent / "raw" / "mines.gpkg")
    mines.loc[2, "production"] = -1.0
    mines.to_file(project.parent / "raw" / "mines.gpkg", layer="mines")
    with pytest.raises(ms.LayerError, match="is negative"):
        build(load_config(project))
    assert not (project.parent / "processed" / "manifest.json").exists()


# -- config validation ---------------------------------------------------------------------

@pytest.mark.parametrize("edit,key,fragment", [
    (("kind = \"square\"", "kind = \"triangle\""), "territories.kind", "allowed: hex, square"),
    (("cell_km = 5", "cell_km = \"five\""), "territories.cell_km", "must be int or float"),
    (("cell_km = 5", "cell_km = -5"), "territories.cell_km", "> 0"),
    (("cell_km = 5", "cell_km = 5\ncell_size = 3"), "territories.cell_size", "unknown key"),
    (("path = \"raw/towns.geojson\"", "path = \"raw/nope.geojson\""),
     "input.agglomerations.path", "file not found"),
    (("[input.corridors]\npath = \"raw/lines.geojson\"", ""), "input.corridors", "missing"),
    (("tiles = false", "tiles = \"no\""), "maps.tiles", "must be bool"),
    (("[maps]", "[mapz]"), "mapz", "unknown key"),
])
def test_config_errors_name_key_and_value(project, edit, key, fragment):
    text = project.read_text()
    assert edit[0] in text
    project.write_text(text.replace(edit[0], edit[1]))
    with pytest.raises(ms.ConfigError) as exc:
        load_config(project)
    assert exc.value.key == key
    assert fragment in str(exc.value)


# five mistakes in five sections: (old text, new text, dotted key, expected line)
FIVE_MISTAKES = [
    ('name = "Test area"', 'name = "Test area"\nout_dirr = "x"', "project.out_dirr",
     '[project] out_dirr: unknown key; did you mean "out_dir"?'),
    ('path = "raw/towns.geojson"', 'path = "raw/town.geojson"', "input.agglomerations.path",
     '[input.agglomerations] path = "raw/town.geojson": file not found'),
    ('kind = "square"', 'kind = "hexagon"', "territories.kind",
     '[territories] kind = "hexagon": invalid value; did you mean "hex"? (allowed: hex,'),
    ('by = "commodity"', "by = 3", "concentration.by",
     "[concentration] by = 3: must be str or list, got int"),
    ("[maps]", "[accessibility]\nbeta = -1\n[maps]", "accessibility.beta",
     "[accessibility] beta = -1: must be > 0"),
]


def _five_mistakes(project):
    text = project.read_text()
    for old, new, _, _ in FIVE_MISTAKES:
        assert old in text
        text = text.replace(old, new, 1)
    project.write_text(text)


def test_config_error_lists_every_problem(project):
    _five_mistakes(project)
    with pytest.raises(ms.ConfigError) as exc:
        load_config(project)
    assert [p.key for p in exc.value.problems] == [key for _, _, key, _ in FIVE_MISTAKES]
    lines = str(exc.value).splitlines()
    assert lines[0] == "5 problems found in the configuration:"
    for line, (_, _, _, expected) in zip(lines[1:], FIVE_MISTAKES, strict=True):
        assert line.startswith(f"  - minespace.toml: {expected}")
    # the first problem stays available as before
    assert exc.value.key == "project.out_dirr" and "out_dir" in exc.value.allowed


def test_config_error_suggests_close_keys(project):
    project.write_text(project.read_text().replace("cell_km = 5", "cell_kms = 5")
                       .replace("[maps]", "[map]"))
    with pytest.raises(ms.ConfigError) as exc:
        load_config(project)
    assert [str(p) for p in exc.value.problems] == [
        'map: unknown key; did you mean "maps"? (allowed: accessibility, clusters, '
        "concentration, engine, innovation, input, maps, project, territories)",
        '[territories] cell_kms: unknown key; did you mean "cell_km"? (allowed: cell_km, id, '
        "kind, name, path, where)",
    ]


def test_config_error_checks_every_raster_and_layer(project, tmp_path):
    text = project.read_text().replace('path = "raw/lines.geojson"', 'path = "raw/roads.shp"')
    (tmp_path / "raw" / "dem.tif").write_text("not a raster")
    project.write_text(text + '[input.population]\npath = "raw/pop.tif"\n'
                       '[input.elevation]\npath = "raw/dem.tif"\nband = "1"\n')
    with pytest.raises(ms.ConfigError) as exc:
        load_config(project)
    found = {p.key: p.message for p in exc.value.problems}
    assert list(found) == ["input.corridors.path", "input.population.path",
                           "input.elevation.band", "input.elevation.path"]
    assert found["input.corridors.path"].startswith("file not found")
    assert found["input.population.path"].startswith("file not found")
    assert found["input.elevation.band"] == "must be int, got str"
    assert found["input.elevation.path"].startswith("not a readable raster")


def test_config_error_not_a_table_reported_once(project):
    project.write_text(project.read_text().replace(
        '[input.boundary]\npath = "raw/area.geojson"', '[input]\nboundary = "raw/area.geojson"'))
    with pytest.raises(ms.ConfigError) as exc:
        load_config(project)
    assert [str(p) for p in exc.value.problems] == [
        '[input] boundary = "raw/area.geojson": must be a table, got str']


def test_clusters_weights_keep_project_name(project):
    # the weights loop used to reuse the variable holding project.name
    project.write_text(project.read_text() + "[clusters]\nweights = { coherence = 2 }\n")
    config = load_config(project)
    assert config.name == "Test area" and config.clusters.weights == {"coherence": 2.0}


def test_invalid_toml(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[project]\nname = \"x\"\n[territories\ncell_km = 5\n")
    with pytest.raises(ms.ConfigError) as exc:
        load_config(path)
    message = str(exc.value)
    assert message.startswith("bad.toml: invalid TOML: ")
    assert "(at line 3, column 13)" in message and len(exc.value.problems) == 1


def test_shipped_config_is_valid():
    from pathlib import Path

    config = load_config(Path(__file__).parents[1] / "minespace.toml")
    assert config.dataset == "kuzbass" and config.territories.kind == "hex"


# -- CLI ----------------------------------------------------------------------------------------

def test_cli_build_and_exit_codes(project):
    runner = CliRunner()
    ok = runner.invoke(cli, ["-q", "build", str(project)])
    assert ok.exit_code == 0, ok.output
    again = runner.invoke(cli, ["build", str(project)])
    assert again.exit_code == 0 and "nothing to do" in again.output
    bad_cfg = project.parent / "bad.toml"
    bad_cfg.write_text(project.read_text().replace("kind = \"square\"", "kind = \"circle\""))
    res = runner.invoke(cli, ["build", str(bad_cfg)])
    assert res.exit_code == 2 and "[territories] kind" in res.output
    mines = gpd.read_file(project.parent / "raw" / "mines.gpkg")
    mines.loc[1, "mine_id"] = "M0"
    mines.to_file(project.parent / "raw" / "mines.gpkg", layer="mines")
    res = runner.invoke(cli, ["validate", str(project)])
    assert res.exit_code == 3 and "duplicate id 'M0'" in res.output


def test_cli_lists_every_config_problem(project):
    _five_mistakes(project)
    for command in ("build", "validate"):
        res = CliRunner().invoke(cli, [command, str(project)])
        assert res.exit_code == 2, res.output
        assert res.output.startswith("minespace: invalid configuration:\n5 problems found")
        for _, _, _, expected in FIVE_MISTAKES:
            assert f"minespace.toml: {expected}" in res.output
    assert not (project.parent / "processed").exists()


def test_cli_validate_ok(project):
    res = CliRunner().invoke(cli, ["validate", str(project)])
    assert res.exit_code == 0 and "ok:" in res.output and "deposits" in res.output
    assert not (project.parent / "processed").exists()  # validate writes nothing


def test_cli_map_rebuilds_only_maps(project):
    runner = CliRunner()
    assert runner.invoke(cli, ["-q", "build", str(project)]).exit_code == 0
    res = runner.invoke(cli, ["map", str(project)])
    assert res.exit_code == 0 and "ran: maps" in res.output
