"""Raster travel time: uniform friction vs analytic, barrier detour, corridors, zonal, GeoTIFF."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import LineString, Point, box
from skimage.graph import MCP_Geometric

from minespace.accessibility import (
    friction_surface,
    travel_time_raster,
    write_geotiff,
    zonal_travel_time,
)
from minespace.accessibility.raster import _zonal
from minespace.errors import CRSError
from minespace.io.raster import Raster

CRS = "EPSG:32645"
CELL = 1000.0


def _empty_corridors():
    return gpd.GeoDataFrame({"kind": pd.Series([], dtype=object)}, geometry=[], crs=CRS)


def _raster(values, cell=CELL):
    values = np.asarray(values, float)
    return Raster(data=np.ma.masked_invalid(values),
                  transform=from_origin(0, values.shape[0] * cell, cell, cell),
                  crs=pyproj.CRS(CRS), nodata=None)


def _centre(row, col, nrows, cell=CELL):
    return Point((col + 0.5) * cell, (nrows - row - 0.5) * cell)


def _src(row, col, nrows):
    return gpd.GeoDataFrame(geometry=[_centre(row, col, nrows)], crs=CRS)


def test_uniform_friction_exact_steps_and_analytic():
    n = 41
    # off-road 6 km/h -> 10 min per km -> friction 0.01 min/m
    fr = friction_surface(_empty_corridors(), cell_m=CELL, bounds=(0, 0, n * CELL, n * CELL),
                          offroad_speed_kmh=6.0)
    np.testing.assert_allclose(fr.data, 0.01)
    tt = travel_time_raster(fr, _src(20, 20, n)).data
    step = 0.01 * CELL  # 10 minutes per orthogonal step
    assert tt[20, 20] == 0
    assert tt[20, 21] == pytest.approx(step)                       # orthogonal
    assert tt[21, 21] == pytest.approx(math.sqrt(2) * step)        # diagonal
    assert tt[22, 21] == pytest.approx((1 + math.sqrt(2)) * step)  # knight's move
    # whole grid vs analytic distance / speed: 8-connected paths are the octile
    # distance, at most 1.0824 x Euclidean (exactly Euclidean along the 8 directions)
    r, c = np.indices((n, n))
    dist_km = np.hypot(r - 20, c - 20) * CELL / 1000
    analytic = dist_km / 6.0 * 60
    far = dist_km > 0
    ratio = tt[far] / analytic[far]
    assert ratio.min() >= 1 - 1e-9 and ratio.max() <= math.sqrt(4 - 2 * math.sqrt(2)) + 1e-9
    axis = (r == 20) | (c == 20) | (r - 20 == c - 20) | (r - 20 == 20 - c)
    np.testing.assert_allclose(tt[axis & far], analytic[axis & far])


def test_barrier_forces_known_detour():
    n = 11
    f = np.full((n, n), 0.001)       # 1 min per km, 1 min per orthogonal cell step
    f[:10, 5] = np.inf               # wall in column 5, gap only in row 10
    tt = travel_time_raster(_raster(f), _src(5, 2, n)).data
    # (5,2) -> (10,5): 2 straight + 3 diagonal steps; same again (10,5) -> (5,8)
    assert tt[5, 8] == pytest.approx(6 * math.sqrt(2) + 4)
    assert tt[5, 5] is np.ma.masked              # wall cells are not reachable
    # without the wall: 6 straight steps
    free = travel_time_raster(_raster(np.full((n, n), 0.001)), _src(5, 2, n)).data
    assert free[5, 8] == pytest.approx(6.0)


def test_matches_skimage_mcp_on_random_friction():
    rng = np.random.default_rng(5)
    f = rng.uniform(0.0005, 0.02, (30, 40))
    f[rng.random(f.shape) < 0.1] = np.inf
    f[12, 7] = 0.001
    tt = travel_time_raster(_raster(f), _src(12, 7, 30)).data
    peer, _ = MCP_Geometric(f * CELL, fully_connected=True).find_costs([(12, 7)])
    ok = np.isfinite(peer) & np.isfinite(f)
    np.testing.assert_allclose(tt[ok], peer[ok], rtol=1e-12)
    assert tt.mask[~ok].all()


def test_corridor_is_burnt_at_its_speed_and_is_fast():
    rail = gpd.GeoDataFrame({"kind": ["rail"], "speed_kmh": [60.0], "speed_source": ["data"]},
                            geometry=[LineString([(500, 5_500), (20_500, 5_500)])], crs=CRS)
    fr = friction_surface(rail, cell_m=CELL, bounds=(0, 0, 21_000, 11_000),
                          offroad_speed_kmh=6.0)
    # row 5 (y 5-6 km) holds the rail: 1 min/km; elsewhere 10 min/km
    np.testing.assert_allclose(fr.data[5], 0.001)
    np.testing.assert_allclose(fr.data[4], 0.01)
    tt = travel_time_raster(fr, _src(5, 0, 11)).data
    np.testing.assert_allclose(tt[5, :], np.arange(21) * 1.0)
    # leaving the rail: 10 cells along it, then one straight step rail -> off-road
    # (0.001 + 0.01)/2 * 1000 = 5.5 min; via a diagonal step it would be 9 + 7.78
    assert tt[4, 10] == pytest.approx(10.0 + 5.5)


def test_slope_penalty_on_offroad_cells():
    n = 5
    elev = _raster(np.tile(np.arange(n)[None, :] * 100.0, (n, 1)))  # 100 m per km: 10 %
    rail = gpd.GeoDataFrame({"kind": ["rail"], "speed_kmh": [60.0]},
                            geometry=[LineString([(0, 2_500), (5_000, 2_500)])], crs=CRS)
    fr = friction_surface(rail, elevation=elev, offroad_speed_kmh=6.0)
    expected = 60.0 / (6.0 * math.exp(-3.5 * 0.1) * 1000)
    np.testing.assert_allclose(fr.data[0], expected)
    np.testing.assert_allclose(fr.data[2], 0.001)     # corridor speed is not penalised


def test_zonal_arithmetic_and_territories():
    mean, low = _zonal(np.array([1.0, 2.0, 6.0, np.nan, 5.0]),
                       np.array([0, 0, 1, 1, -1]), 3)
    np.testing.assert_allclose(mean, [1.5, 6.0, np.nan])
    np.testing.assert_allclose(low, [1.0, 6.0, np.nan])
    values = np.arange(100, dtype=float).reshape(10, 10)
    tt = _raster(values)
    terr = gpd.GeoDataFrame(geometry=[box(0, 8_000, 2_000, 10_000),    # rows 0-1, cols 0-1
                                      box(5_000, 0, 10_000, 5_000),    # rows 5-9, cols 5-9
                                      box(3_100, 3_100, 3_400, 3_400)],  # tiny: one cell
                            index=["T1", "T2", "T3"], crs=CRS)
    out = zonal_travel_time(terr, tt)
    np.testing.assert_allclose(out["travel_time_mean_min"],
                               [values[:2, :2].mean(), values[5:, 5:].mean(), values[6, 3]])
    np.testing.assert_allclose(out["travel_time_min_min"], [0.0, 55.0, values[6, 3]])
    assert "travel_time_mean_min" not in terr


def test_geotiff_roundtrip(tmp_path):
    f = np.full((4, 6), 0.001)
    f[0, 0] = np.nan
    path = write_geotiff(_raster(f), tmp_path / "out" / "friction.tif")
    with rasterio.open(path) as src:
        data = src.read(1)
        assert src.crs.to_epsg() == 32645 and src.transform == _raster(f).transform
    assert np.isnan(data[0, 0])
    np.testing.assert_allclose(data[1:], 0.001, rtol=1e-6)


def test_crs_errors():
    fr = _raster(np.full((3, 3), 0.001))
    with pytest.raises(CRSError):
        travel_time_raster(fr, _src(1, 1, 3).to_crs("EPSG:32644"))
    with pytest.raises(CRSError):
        friction_surface(_empty_corridors().to_crs(4326), bounds=(0, 0, 1, 1))
    with pytest.raises(ValueError, match="no source"):
        travel_time_raster(fr, gpd.GeoDataFrame(geometry=[Point(1e5, 1e5)], crs=CRS))


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (3, 2), (6, 5), (4, 3, 2)])
def test_lean_edge_map_equals_skimage(shape):
    from skimage.graph import _mcp

    from minespace.accessibility.raster import _lean_offset_edge_map

    for offsets in (_mcp.make_offsets(len(shape), True), _mcp.make_offsets(len(shape), False),
                    [tuple([-2] + [0] * (len(shape) - 1)), tuple([1] * len(shape)),
                     tuple([0] * (len(shape) - 1) + [2])]):
        offs = np.array(offsets, dtype=np.int8)
        for mine, theirs in zip(_lean_offset_edge_map(shape, offs),
                                _mcp._offset_edge_map(shape, offs), strict=True):
            np.testing.assert_array_equal(mine, theirs)
            assert mine.dtype == theirs.dtype and mine.flags.f_contiguous


def test_lean_path_identical_to_mcp_with_masked_nan_negative_cells():
    """The copy-free path (Fortran-order costs, lean edge maps) gives MCP_Geometric's
    numbers exactly, treats masked / NaN / negative friction as impassable, leaves
    the input and scikit-image's module untouched."""
    from skimage.graph import _mcp

    original = _mcp._offset_edge_map
    rng = np.random.default_rng(11)
    f = rng.uniform(0.0005, 0.02, (45, 33))
    f[rng.random(f.shape) < 0.05] = np.nan
    f[rng.random(f.shape) < 0.05] = -1.0
    masked = rng.random(f.shape) < 0.05
    f[20, 9] = 0.001
    masked[20, 9] = False
    data = np.ma.MaskedArray(f.astype(np.float32), mask=masked)
    before = data.copy()
    raster = Raster(data=data, transform=from_origin(0, 45 * CELL, CELL, CELL),
                    crs=pyproj.CRS(CRS), nodata=None)
    tt = travel_time_raster(raster, _src(20, 9, 45)).data
    f32 = f.astype(np.float32).astype(np.float64)
    costs = np.where(np.isfinite(f) & (f >= 0) & ~masked, f32, np.inf)
    peer, _ = MCP_Geometric(costs * CELL, fully_connected=True).find_costs([(20, 9)])
    ok = np.isfinite(peer) & np.isfinite(costs)
    np.testing.assert_allclose(tt[ok], peer[ok], rtol=1e-12)
    assert tt.mask[~ok].all() and not tt.mask[ok].any()
    assert tt.data.flags.c_contiguous
    assert _mcp._offset_edge_map is original
    np.testing.assert_array_equal(np.ma.getmaskarray(data), np.ma.getmaskarray(before))
    np.testing.assert_array_equal(data.data, before.data)
