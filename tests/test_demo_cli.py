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
    # the printable candidate dossier beside it (issue 15), also a stable path
    dossier = tmp_path / "maps" / "candidates_dossier.html"
    assert f"dossier: {dossier.absolute()}" in result.output
    assert dossier.is_file() and "<svg" in dossier.read_text(encoding="utf-8")


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


@pytest.mark.parametrize("wrapped", [False, True])
def test_memory_budget_error_is_a_usage_error(wrapped, capsys):
    """A step over the memory budget (raised inside a stage, so wrapped in a
    PipelineError) is fixed by a parameter: exit 2 with the estimate, not exit 1
    "internal error"."""
    from minespace.cli import EXIT_USAGE, _fail
    from minespace.errors import PipelineError, ResourceError
    from minespace.limits import Estimate

    exc = ResourceError([Estimate("territories.hex_grid", "hexagonal cells", 10**9, 2e11,
                                  "cell_km", 0.01, -2.0)], budget=4e9)
    if wrapped:
        try:
            raise PipelineError("territories", str(exc)) from exc
        except PipelineError as outer:
            exc = outer
    with pytest.raises(SystemExit) as stop:
        _fail(exc, verbose=0)
    assert stop.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert "too large for the memory budget" in err and "cell_km" in err
    assert "internal error" not in err and "Traceback" not in err
