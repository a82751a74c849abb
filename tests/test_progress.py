"""Progress bars: on stderr when asked, silent otherwise; the CLI decides from -q and the TTY."""

from __future__ import annotations

from pathlib import Path

import pytest

import minespace as ms
from minespace import _progress, accessibility, concentration, hotspots, territories

SRC = str(Path(__file__).parents[1] / "src")


@pytest.fixture(scope="module")
def kuzbass_hexes():
    region = ms.datasets.kuzbass()
    return region, concentration.totals(territories.hex_grid(region, cell_km=25),
                                        region.deposits)


def test_permutation_bar_on_stderr_only_when_asked(kuzbass_hexes, capfd):
    _, terr = kuzbass_hexes
    shown = hotspots.getis_ord(terr, "count", random_state=0, progress=True)
    err = capfd.readouterr().err
    assert "Gi* permutations" in err and "draws" in err
    quiet = hotspots.getis_ord(terr, "count", random_state=0, progress=False)
    default = hotspots.local_moran(terr, "count", random_state=0)  # stderr is not a TTY here
    assert capfd.readouterr().err == ""
    assert shown["gi_star_p"].equals(quiet["gi_star_p"])  # the bar changes no result
    assert "hotspot" in default or "lisa" in default


def test_steps_of_network_travel_time_and_map(kuzbass_hexes, capfd, tmp_path):
    region, _ = kuzbass_hexes
    accessibility.build_network(region.corridors, progress=True)
    assert "corridor network" in capfd.readouterr().err
    fr = accessibility.friction_surface(region.corridors, cell_m=5000,
                                        bounds=tuple(region.boundary.total_bounds))
    accessibility.travel_time_raster(fr, region.agglomerations, progress=True)
    err = capfd.readouterr().err
    assert "raster travel time" in err and "least-cost sweep" in err
    m = ms.maps.region_map(region, tiles=False)
    path = ms.maps.save_map(m, tmp_path / "m.html", progress=True)
    assert "map" in capfd.readouterr().err
    assert path.read_bytes().startswith(b"<!DOCTYPE html>")


def test_scope_overrides_detection(kuzbass_hexes, capfd, monkeypatch):
    _, terr = kuzbass_hexes
    monkeypatch.setattr(_progress, "_interactive", lambda: True)
    monkeypatch.setattr(_progress, "_AUTO_DELAY_S", 0.0)
    hotspots.getis_ord(terr, "count", permutations=999, fdr=False)
    assert "Gi* permutations" in capfd.readouterr().err   # interactive: shown
    with _progress.progress_scope(False):                 # what `minespace -q` sets
        hotspots.getis_ord(terr, "count", permutations=999, fdr=False)
    assert capfd.readouterr().err == ""
    with _progress.progress_scope(True):
        hotspots.getis_ord(terr, "count", permutations=999, fdr=False, progress=False)
    assert capfd.readouterr().err == ""                   # an explicit False wins


@pytest.mark.slow
def test_cli_bars_on_a_terminal_and_none_with_q(small_project, cli_on_terminal):
    project = small_project()
    loud = cli_on_terminal(["build", str(project)], project.parent)
    assert "Gi* permutations" in loud and "corridor network" in loud
    assert "raster travel time" in loud and "\r" in loud
    quiet = cli_on_terminal(["-q", "build", "--force", str(project)], project.parent)
    # -q still prints warnings (this project has no plants, institutions or projects: the
    # innovation components are reported unavailable), but no progress bar: no bar label and
    # no carriage return other than the terminal's line ends
    assert "Gi* permutations" not in quiet and "corridor network" not in quiet
    assert "raster travel time" not in quiet and "\r" not in quiet.replace("\r\n", "\n")
