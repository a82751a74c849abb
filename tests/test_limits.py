"""Size estimates and the memory budget (issue 12 §5): hand arithmetic, refusal, warning band."""

from __future__ import annotations

import json
import math
import tracemalloc

import geopandas as gpd
import numpy as np
import pytest
import shapely
from click.testing import CliRunner
from sklearn.neighbors import KDTree

import minespace as ms
from minespace import limits
from minespace.cli import cli
from minespace.errors import ConfigError, MinespaceError, ResourceError, SizeWarning


def _box(width_m: float, height_m: float) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=[shapely.box(0, 0, width_m, height_m)], crs=32645)


# -- estimates against hand arithmetic -------------------------------------------------------

def test_square_grid_candidates_by_hand():
    # squares aligned on multiples of 1 km over x 0..100 km, y 0..50 km: columns
    # floor(0/1000) = 0 .. floor(100000/1000) = 100 (101), rows 0 .. 50 (51)
    est = limits.estimate_grid((0, 0, 100_000, 50_000), cell_km=1, kind="square")
    assert est.count == 101 * 51 == 5151
    assert est.bytes == 5151 * limits.BYTES_PER_GRID_CANDIDATE
    assert est.parameter == "cell_km" and est.value == 1


def test_hex_grid_candidates_by_hand():
    # width w = 1000 m, circumradius R = w/sqrt(3) = 577.35 m, rows 1.5 R = 866.03 m apart
    # r0 = floor(0 / 866.03) - 1 = -1;  r1 = ceil(50000 / 866.03) + 1 = ceil(57.735) + 1 = 59
    # c0 = floor(0/1000 - 59/2) - 1 = floor(-29.5) - 1 = -31
    # c1 = ceil(100000/1000 - (-1)/2) + 1 = ceil(100.5) + 1 = 102
    est = limits.estimate_grid((0, 0, 100_000, 50_000), cell_km=1, kind="hex",
                               area_km2=5_000)
    assert limits.grid_range((0, 0, 100_000, 50_000), 1000.0, "hex") == (-31, 102, -1, 59)
    assert est.count == (102 + 31 + 1) * (59 + 1 + 1) == 134 * 61 == 8174
    # 5000 km² / (sqrt(3)/2 km² a hexagon) = 5773.5 inside
    assert "~5,774 inside" in est.what


def test_hex_grid_cells_lie_in_the_estimated_range():
    terr = ms.territories.hex_grid(_box(100_000, 50_000), cell_km=1)
    c0, c1, r0, r1 = limits.grid_range((0, 0, 100_000, 50_000), 1000.0, "hex")
    assert terr["grid_col"].between(c0, c1).all() and terr["grid_row"].between(r0, r1).all()
    # every whole hexagon has area sqrt(3)/2 km²; the box holds 5000 km² of them
    assert terr["area_km2"].sum() == pytest.approx(5000.0)
    assert len(terr) <= 8174


def test_raster_estimate_by_hand():
    # 10.5 km x 2 km in 1 km cells: ceil(10.5) = 11 columns, 2 rows
    est = limits.estimate_raster((0, 0, 10_500, 2_000), cell_m=1000)
    assert est.count == 22
    assert est.bytes == 22 * limits.BYTES_PER_RASTER_CELL
    assert "11 x 2" in est.what


def test_distance_band_estimate_by_hand():
    # 100 territories over 10,000 km², band 10 km: pi 10² / 10,000 x 100 = pi neighbours each
    est = limits.estimate_distance_band(100, area_km2=10_000, distance_km=10)
    assert est.count == math.ceil(100 * math.pi) == 315
    # a band wider than the area: every territory neighbours every other (and itself)
    assert limits.estimate_distance_band(100, area_km2=10_000, distance_km=1000).count == 10_000


def test_dbscan_pair_estimate_against_kdtree_counts():
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 100, (20_000, 2))
    exact = KDTree(xy).query_radius(xy, r=2.0, count_only=True).sum()  # self included
    est = limits.estimate_dbscan_pairs(xy, eps=2.0)
    assert est == pytest.approx(exact, rel=0.05)
    assert limits.estimate_dbscan_pairs(np.empty((0, 2)), eps=1.0) == 0.0


# -- budget, refusal, warning band ------------------------------------------------------------

def test_budget_override_and_bad_values():
    assert limits.memory_budget(2) == 2 * 2**30
    assert 0 < limits.memory_budget() <= 2**50
    for bad in (0, -1, float("nan"), float("inf"), True):
        with pytest.raises(ValueError, match="max_memory_gb"):
            limits.memory_budget(bad)


def test_hex_grid_cell_km_0001_refused_without_allocating():
    region = ms.datasets.kuzbass()
    tracemalloc.start()
    try:
        with pytest.raises(ResourceError) as info:
            ms.territories.hex_grid(region, cell_km=0.001)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 * 2**20           # a few allocations, not the grid
    err = info.value
    assert isinstance(err, MinespaceError) and isinstance(err, ValueError)
    text = str(err)
    assert "cell_km=0.001" in text and "TiB" in text and "use a larger cell_km" in text
    assert "max_memory_gb" in text
    (est,) = err.estimates
    # the oblast's bounding box is ~310 x 520 km: ~3.7e11 candidate hexagons of 1 m
    assert 3e11 < est.count < 5e11


def test_warning_band_and_refusal_square_grid():
    area = _box(100_000, 50_000)
    nbytes = 5151 * limits.BYTES_PER_GRID_CANDIDATE      # 5,151,000 bytes (see above)
    with pytest.warns(SizeWarning, match=r"cell_km=1 .*5,151 candidate squares"):
        # 5.151 MB of a 6 MB budget: above half of it
        ms.territories.square_grid(area, cell_km=1, max_memory_gb=6e6 / 2**30)
    # 5.151 of 20 MB: quiet (filterwarnings = error would fail the test otherwise)
    assert len(ms.territories.square_grid(area, cell_km=1, max_memory_gb=20e6 / 2**30)) == 5000
    with pytest.raises(ResourceError) as info:
        ms.territories.square_grid(area, cell_km=1, max_memory_gb=5e6 / 2**30)
    # fits half of 5e6 bytes: cell_km x sqrt(5.151e6 / 2.5e6) = 1.435... -> ">= 1.5"
    assert ">= 1.5 fits" in str(info.value)
    assert nbytes > 5e6


def test_check_size_lists_every_step_over_budget():
    a = limits.estimate_raster((0, 0, 1e6, 1e6), cell_m=1)         # 1e12 cells
    b = limits.estimate_grid((0, 0, 1e6, 1e6), cell_km=0.001)
    with pytest.raises(ResourceError) as info:
        limits.check_size(a, b, max_memory_gb=1)
    assert info.value.estimates == [a, b]
    assert str(info.value).startswith("2 steps needs more memory") or "2 steps" in str(info.value)


# -- pipeline: refused up front with the config key ---------------------------------------

def _config(tmp_path, territories: str, project: str = "") -> object:
    path = tmp_path / "minespace.toml"
    path.write_text(f'[project]\nout_dir = "out"\n{project}\n[input]\ndataset = "kuzbass"\n'
                    f"[territories]\n{territories}\n[maps]\ntiles = false\n", encoding="utf-8")
    return path


def test_cli_build_cell_km_0001_exits_2_before_any_stage(tmp_path):
    path = _config(tmp_path, "cell_km = 0.001")
    result = CliRunner().invoke(cli, ["build", str(path)])
    assert result.exit_code == 2, result.output
    assert "[territories] cell_km = 0.001" in result.output
    assert "TiB" in result.output and "use a larger territories.cell_km" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "manifest.json").exists()
    assert not (tmp_path / "out" / "territories.parquet").exists()


def test_cli_validate_refuses_too_fine_raster(tmp_path):
    path = tmp_path / "minespace.toml"
    path.write_text('[input]\ndataset = "kuzbass"\n[accessibility]\nraster_cell_m = 1\n',
                    encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "[accessibility] raster_cell_m = 1" in result.output
    assert "310,065 x 519,701" in result.output or "raster cells" in result.output


def test_pipeline_budget_key(tmp_path):
    # the Kuzbass at 15 km: ~2,000 candidate hexagons (~2 MB): refused under a 1 MB budget
    config = ms.pipeline.load_config(_config(tmp_path, "cell_km = 15",
                                             "max_memory_gb = 0.001"))
    assert config.max_memory_gb == 0.001
    with pytest.raises(ConfigError) as info:
        ms.pipeline.validate(config)
    assert "territories.cell_km" in {p.key for p in info.value.problems}
    assert "1.02 MiB memory budget" in str(info.value)     # 0.001 GiB = 1.024 MiB
    assert "[project] max_memory_gb" in str(info.value)
    bad = _config(tmp_path, "cell_km = 15", "max_memory_gb = -2")
    with pytest.raises(ConfigError, match="max_memory_gb"):
        ms.pipeline.load_config(bad)


def test_pipeline_estimates_by_hand(tmp_path):
    config = ms.pipeline.load_config(_config(tmp_path, "cell_km = 10\nkind = \"square\""))
    est = ms.pipeline.estimate_build(config, bounds=(0, 0, 100_000, 50_000), area_km2=5_000,
                                     n_deposits=1000)
    grid, terr, pairs, raster, deposits = est
    assert grid.count == 11 * 6                      # columns 0..10, rows 0..5
    assert terr.count == 56        # 5000 / 100 = 50 squares inside, +10 % margin = 55, +1
    # band 3 x 10 km: 56 x (56 pi 30² / 5000) = 56 x 31.67 = 1773.3 pairs
    assert pairs.count == 1774
    assert raster.count == 100 * 50                  # 1 km cells
    assert deposits.count == 1000


# -- maps: a sample of the deposits above max_deposits --------------------------------------

def _deposit_layer(m):
    (layer,) = [c for c in m._children.values()
                if getattr(c, "layer_name", "").startswith("Deposits by")]
    return json.loads(layer.payload)


def test_cluster_map_draws_a_seeded_sample_above_max_deposits():
    region = ms.datasets.kuzbass()                     # 141 deposits
    with pytest.warns(SizeWarning, match="141 deposits, 50 drawn"):
        m = ms.maps.cluster_map(region, tiles=False, max_deposits=50)
    payload = _deposit_layer(m)
    assert len(payload["x"]) == len(payload["k"]) == 50
    assert "141 deposits (50 drawn)" in m.get_root().render()
    with pytest.warns(SizeWarning):
        again = _deposit_layer(ms.maps.cluster_map(region, tiles=False, max_deposits=50))
    assert again["x"] == payload["x"]                  # seeded: the same sample each time
    # at or under the limit, or None: every deposit, no warning
    assert len(_deposit_layer(ms.maps.cluster_map(region, tiles=False))["x"]) == 141
    assert len(_deposit_layer(ms.maps.cluster_map(region, tiles=False,
                                                  max_deposits=None))["x"]) == 141
    with pytest.raises(ValueError, match="max_deposits"):
        ms.maps.cluster_map(region, tiles=False, max_deposits=-1)


def test_many_territories_warn_about_time(tmp_path):
    # Kuzbass 95,745 km² at 1.25 km hexagons: 95,745 x 1.1 / (sqrt(3)/2 x 1.5625) = 77,835
    config = ms.pipeline.load_config(_config(tmp_path, "cell_km = 1.25"))
    region = ms.datasets.kuzbass()
    with pytest.warns(SizeWarning, match="about 77,8.. territories: the build will take"):
        assert ms.pipeline.sizes.size_problems(config, boundary=region.boundary) == []
    quiet = ms.pipeline.load_config(_config(tmp_path, "cell_km = 5"))
    assert ms.pipeline.sizes.size_problems(quiet, boundary=region.boundary) == []


def test_distance_band_counts_pairs_before_listing_them():
    # four 1 km squares in a row: centres 1 km apart; within 1.5 km, 3 adjacent pairs,
    # 6 ordered pairs x 120 bytes = 720 bytes
    terr = ms.territories.square_grid(_box(4_000, 1_000), cell_km=1)
    assert len(terr) == 4
    with pytest.raises(ResourceError, match=r"distance_km=1.5 gives 6 neighbour pairs"):
        ms.territories.distance_band(terr, distance_km=1.5, max_memory_gb=600 / 2**30)
    with pytest.warns(SizeWarning, match="6 neighbour pairs"):      # 720 of 1000 bytes
        ms.territories.distance_band(terr, distance_km=1.5, max_memory_gb=1000 / 2**30)
    w = ms.territories.distance_band(terr, distance_km=1.5, max_memory_gb=1.0)
    assert sum(len(v) for v in w.neighbors.values()) == 6


def test_friction_surface_refuses_a_metre_grid_over_the_kuzbass():
    region = ms.datasets.kuzbass()
    tracemalloc.start()
    try:
        with pytest.raises(ResourceError, match=r"cell_m=1 gives [\d,]+ raster cells") as info:
            ms.accessibility.friction_surface(region.corridors, cell_m=1,
                                              bounds=tuple(region.boundary.total_bounds))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 * 2**20
    # 310 x 520 km in 1 m cells: ~1.6e11 cells
    assert 1.5e11 < info.value.estimates[0].count < 1.7e11


def test_kernel_density_grid_checked_before_allocating():
    deposits = ms.datasets.kuzbass().deposits
    # x: floor((405,120.7 - 16,000) / 1000) = 389 km .. 577,959.7 + 16,000 m: ceil(204.96) = 205
    # y: floor((5,918,388.1 - 16,000) / 1000) = 5,902 km .. 6,184,419.7 + 16,000 m:
    #    ceil(298.42) = 299 cells (reach 15 km + one 1 km cell on each side)
    est = ms.density.estimate_kernel_density(deposits, bandwidth_km=15, cell_km=1)
    assert est.count == 205 * 299
    assert ms.density.kernel_density(deposits, bandwidth_km=15, cell_km=1,
                                     max_memory_gb=1.0).values.shape == (299, 205)
    with pytest.raises(ResourceError, match=r"cell_km=0\.001 gives [\d,]+ grid cells"):
        ms.density.kernel_density(deposits, bandwidth_km=15, cell_km=0.001)
    with pytest.raises(ResourceError, match="use a larger cell_km"):
        # 61,295 cells x 40 bytes = 2.45 MB over a 2 MB budget
        ms.density.kernel_density(deposits, bandwidth_km=15, cell_km=1,
                                  max_memory_gb=2e6 / 2**30)


def test_dry_run_refuses_a_band_over_many_polygons(small_project, tmp_path):
    # 0.5 km squares over the small project's area as territory polygons; a 1000 km band
    # links every pair: n² pairs x 120 bytes, over a 0.1 GiB budget for n >= 943
    config_path = small_project()
    area = gpd.read_file(tmp_path / "raw" / "area.geojson").to_crs(32645)
    cells = ms.territories.square_grid(area, cell_km=0.5, clip=False)
    n = len(cells)
    assert n * n * 120 > 0.1 * 2**30
    cells[["geometry"]].assign(cell=cells.index.to_numpy()).to_file(tmp_path / "cells.gpkg")
    text = config_path.read_text()
    text = text.replace('[territories]\nkind = "square"\ncell_km = 5',
                        '[territories]\nkind = "polygons"\npath = "cells.gpkg"\nid = "cell"')
    text = text.replace('[concentration]\nby = "commodity"',
                        '[concentration]\nby = "commodity"\nhotspot_band_km = 1000')
    text = text.replace("[project]\n", "[project]\nmax_memory_gb = 0.1\n")
    config_path.write_text(text)
    result = CliRunner().invoke(cli, ["validate", str(config_path)])
    assert result.exit_code == 2, result.output
    assert "[concentration] hotspot_band_km = 1000" in result.output
    assert f"{n * n:,} neighbour pairs" in result.output       # every pair: n x min(n, ...)
    assert "use a smaller concentration.hotspot_band_km" in result.output
