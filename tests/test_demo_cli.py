"""The walking skeleton end to end: CLI demo, outputs reopened, exit codes."""

from __future__ import annotations

import geopandas as gpd
import pytest
from click.testing import CliRunner

import minespace as ms
from minespace.cli import cli
from minespace.io.write import atomic_path, write_layer


def test_demo_writes_layers_and_map(tmp_path):
    out = tmp_path / "processed"
    result = CliRunner().invoke(cli, ["-q", "demo", "--out", str(out), "--no-tiles"])
    assert result.exit_code == 0, result.output
    region = ms.datasets.kuzbass()
    for name, layer in region.layers.items():
        back = gpd.read_parquet(out / f"{name}.parquet")
        assert len(back) == len(layer)
        assert back.crs == region.crs
    deposits = gpd.read_file(out / "kuzbass_kemerovo_oblast.gpkg", layer="deposits")
    assert len(deposits) == 141 and "deposit_id" in deposits.columns
    html = (out / "maps" / "kuzbass_kemerovo_oblast_overview.html").read_text()
    assert "<script src=" not in html and "<link rel=\"stylesheet\" href=" not in html
    assert "L.map(" in html


def test_demo_prints_paths(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path), "--no-tiles"])
    assert result.exit_code == 0
    expected = tmp_path / "maps" / "kuzbass_kemerovo_oblast_overview.html"
    # the stable path users keep, not the build generation it currently links to
    assert f"map:    {expected.absolute()}" in result.output


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    region = ms.datasets.kuzbass()
    target = write_layer(region.deposits, tmp_path / "deposits.parquet")
    before = target.read_bytes()
    with pytest.raises(RuntimeError, match="boom"), atomic_path(target) as tmp:
        tmp.write_bytes(b"half written")
        raise RuntimeError("boom")
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["deposits.parquet"]  # no leftovers


def test_version_option():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and ms.__version__ in result.output
