"""Population-weighted origins: hand-worked rasters and an independent per-polygon loop."""

from __future__ import annotations

import hashlib

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.transform import from_origin

import minespace as ms
from minespace import accessibility as acc
from minespace.accessibility._common import origin_points, representative_points
from minespace.errors import CRSError
from minespace.io.raster import Raster

CRS = "EPSG:32645"

# 4 x 4 cells of 1 km, origin (0, 4000): cell (row r, col c) has its centre at
# x = 500 + 1000 c, y = 3500 - 1000 r.
#
#            col 0   col 1   col 2   col 3
#   row 0      1       0       0       0        y = 3500
#   row 1      0       3       0       0        y = 2500
#   row 2      0       0       2       2        y = 1500
#   row 3      0       0       2       6        y =  500
#            x=500   1500    2500    3500
HAND = np.array([[1, 0, 0, 0],
                 [0, 3, 0, 0],
                 [0, 0, 2, 2],
                 [0, 0, 2, 6]], dtype=float)


def _raster(values, transform=None, crs=CRS, mask=None) -> Raster:
    data = np.ma.masked_invalid(np.asarray(values, dtype=float))
    if mask is not None:
        data = np.ma.array(data, mask=np.ma.getmaskarray(data) | mask)
    return Raster(data, transform or from_origin(0, 4000, 1000, 1000), pyproj.CRS(crs), None,
                  source="test_pop")


def _layer(geoms, ids=None) -> gpd.GeoDataFrame:
    ids = ids if ids is not None else [f"t{i}" for i in range(len(geoms))]
    return gpd.GeoDataFrame({"name": ids}, geometry=list(geoms),
                            index=pd.Index(ids, name="territory_id"), crs=CRS)


def _xy(points) -> np.ndarray:
    return shapely.get_coordinates(np.asarray(points, dtype=object))


def _frame_hash(frame: gpd.GeoDataFrame) -> str:
    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(frame.drop(columns=frame.geometry.name),
                                        index=True).to_numpy().tobytes())
    h.update(b"".join(shapely.to_wkb(np.asarray(frame.geometry.array))))
    h.update(repr((list(frame.columns), frame.crs)).encode())
    return h.hexdigest()


def _reference(geoms, raster: Raster) -> tuple[np.ndarray, list[str]]:
    """Independent implementation: a loop over polygons, contains_xy on every centre."""
    h, w = raster.shape
    cols, rows = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    xs, ys = raster.transform * (cols.ravel(), rows.ravel())
    xs, ys = np.asarray(xs), np.asarray(ys)
    weight = np.ma.filled(raster.data, np.nan).ravel()
    weight = np.where(np.isfinite(weight), weight, 0.0)
    out, how = [], []
    for geom in geoms:
        if shapely.get_type_id(geom) == 0:
            out.append(shapely.get_coordinates(geom)[0])
            how.append("point")
            continue
        inside = shapely.contains_xy(geom, xs, ys) & (weight > 0)
        if not inside.any():
            out.append(shapely.get_coordinates(shapely.point_on_surface(geom))[0])
            how.append("representative")
            continue
        mx = np.average(xs[inside], weights=weight[inside])
        my = np.average(ys[inside], weights=weight[inside])
        if not shapely.contains_xy(geom, mx, my):
            d = np.where(inside, np.hypot(xs - mx, ys - my), np.inf)
            k = int(np.argmin(d))             # first minimum in row-major order
            mx, my = xs[k], ys[k]
        out.append(np.array([mx, my]))
        how.append("population")
    return np.array(out), how


# ---- hand-worked ------------------------------------------------------------------------
def test_two_squares_by_hand():
    west = shapely.box(0, 2000, 2000, 4000)   # cells (0,0)=1, (1,1)=3
    east = shapely.box(2000, 0, 4000, 2000)   # cells (2,2)=2, (2,3)=2, (3,2)=2, (3,3)=6
    layer = _layer([west, east, shapely.Point(100, 100)])
    out = acc.population_weighted_points(layer, _raster(HAND))
    # west: x = (1*500 + 3*1500) / 4 = 1250, y = (1*3500 + 3*2500) / 4 = 2750
    # east: x = (2*2500 + 2*3500 + 2*2500 + 6*3500) / 12 = 38000 / 12 = 3166.67
    #       y = (2*1500 + 2*1500 + 2*500 + 6*500) / 12 = 10000 / 12 = 833.33
    np.testing.assert_allclose(_xy(out.geometry.array),
                               [[1250, 2750], [38000 / 12, 10000 / 12], [100, 100]])
    assert out["origin"].tolist() == ["population", "population", "point"]
    assert out.index.equals(layer.index) and out.crs == layer.crs
    assert out["name"].tolist() == layer["name"].tolist()


@pytest.mark.parametrize("split", ["horizontal", "vertical"])
def test_a_centre_on_a_shared_edge_counts_once(split):
    """A 5 x 5 raster of ones with cell centres on x, y = 0, 1000, ..., 4000; two
    rectangles share the edge x = 2000 or y = 2000, on which a row or column of centres
    lies. GDAL burns that row for both rectangles along a horizontal edge (and the
    column for the west one only): each cell must count once, not for neither."""
    raster = _raster(np.ones((5, 5)), transform=from_origin(-500, 4500, 1000, 1000))
    if split == "horizontal":
        south, north = shapely.box(-200, -200, 4200, 2000), shapely.box(-200, 2000, 4200, 4200)
        out = acc.population_weighted_points(_layer([south, north]), raster)
        # south: rows y = 0, 1000 -> y 500; north (the later row) keeps the edge row:
        # rows y = 2000, 3000, 4000 -> y 3000; x is 2000 for both
        np.testing.assert_allclose(_xy(out.geometry.array), [[2000, 500], [2000, 3000]])
    else:
        west, east = shapely.box(-200, -200, 2000, 4200), shapely.box(2000, -200, 4200, 4200)
        out = acc.population_weighted_points(_layer([west, east]), raster)
        # GDAL gives the edge column to the west: x = 0, 1000, 2000 -> 1000; east 3500
        np.testing.assert_allclose(_xy(out.geometry.array), [[1000, 2000], [3500, 2000]])
    assert out["origin"].tolist() == ["population", "population"]


def test_no_population_is_representative_point():
    layer = _layer([shapely.box(0, 2000, 2000, 4000), shapely.Point(5, 5),
                    shapely.LineString([(0, 0), (3000, 0)])])
    got = origin_points(layer)
    assert shapely.equals(got, representative_points(layer)).all()


def test_unpopulated_and_off_raster_polygons_keep_representative_point():
    empty = shapely.box(2000, 2000, 4000, 4000)       # four zero cells
    away = shapely.box(10_000, 10_000, 12_000, 12_000)  # off the raster
    layer = _layer([empty, away])
    out = acc.population_weighted_points(layer, _raster(HAND))
    assert out["origin"].tolist() == ["representative", "representative"]
    assert shapely.equals(out.geometry.array, shapely.point_on_surface([empty, away])).all()


def test_u_shape_mean_outside_takes_nearest_populated_cell():
    # U over columns 0..3, rows 0..3 minus the notch x in [1000, 3000], y in [1000, 4000]:
    # left arm col 0, right arm col 3, base row 3.
    u = shapely.difference(shapely.box(0, 0, 4000, 4000), shapely.box(1000, 1000, 3000, 4000))
    pop = np.zeros((4, 4))
    pop[0, 0] = 10     # top of the left arm, centre (500, 3500)
    pop[0, 3] = 10     # top of the right arm, centre (3500, 3500)
    pop[1, 3] = 1      # centre (3500, 2500)
    # mean: x = (10*500 + 10*3500 + 3500) / 21 = 43500 / 21 = 2071.4,
    #       y = (10*3500 + 10*3500 + 2500) / 21 = 72500 / 21 = 3452.4 -> in the notch;
    # nearest populated centre: (3500, 3500) at 1429 m (vs (500, 3500) at 1572 m)
    out = acc.population_weighted_points(_layer([u]), _raster(pop))
    np.testing.assert_allclose(_xy(out.geometry.array), [[3500, 3500]])
    assert out["origin"].tolist() == ["population"]
    assert shapely.contains(u, out.geometry.iloc[0])


def test_nearest_cell_tie_goes_to_first_in_row_major_order():
    u = shapely.difference(shapely.box(0, 0, 4000, 4000), shapely.box(1000, 1000, 3000, 4000))
    pop = np.zeros((4, 4))
    pop[0, 0] = pop[0, 3] = 5   # mean (2000, 3500), in the notch, equidistant from both
    out = acc.population_weighted_points(_layer([u]), _raster(pop))
    np.testing.assert_allclose(_xy(out.geometry.array), [[500, 3500]])   # row 0, col 0


def test_overlapping_polygons_each_count_shared_cells():
    a = shapely.box(0, 0, 3000, 4000)     # columns 0-2
    b = shapely.box(1000, 0, 4000, 4000)  # columns 1-3 (columns 1-2 shared)
    out = acc.population_weighted_points(_layer([a, b]), _raster(HAND))
    # a: cells 1@(500,3500), 3@(1500,2500), 2@(2500,1500), 2@(2500,500) -> total 8
    #    x = (500 + 4500 + 5000 + 5000) / 8 = 1875, y = (3500 + 7500 + 3000 + 1000) / 8 = 1875
    # b: every cell but (0,0): 3@(1500,2500), 2@(2500,1500), 2@(3500,1500), 2@(2500,500),
    #    6@(3500,500) -> total 15; x = (4500+5000+7000+5000+21000)/15 = 42500/15,
    #    y = (7500+3000+3000+1000+3000)/15 = 17500/15
    np.testing.assert_allclose(_xy(out.geometry.array),
                               [[1875, 1875], [42500 / 15, 17500 / 15]])
    # the same answer row by row: a row's point does not depend on the others
    alone = [_xy(acc.population_weighted_points(_layer([g]), _raster(HAND)).geometry.array)[0]
             for g in (a, b)]
    np.testing.assert_allclose(_xy(out.geometry.array), alone)


def test_nodata_nan_and_masked_cells_weigh_nothing(tmp_path):
    pop = HAND.copy()
    pop[3, 3] = -9999          # declared nodata in the file
    pop[2, 3] = np.nan
    path = tmp_path / "pop.tif"
    with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=1,
                       dtype="float32", crs=CRS, nodata=-9999,
                       transform=from_origin(0, 4000, 1000, 1000)) as dst:
        dst.write(pop.astype("float32"), 1)
    raster = ms.read_raster(path)
    east = shapely.box(2000, 0, 4000, 2000)
    out = acc.population_weighted_points(_layer([east]), raster)
    # left: 2@(2500,1500), 2@(2500,500) -> (2500, 1000)
    np.testing.assert_allclose(_xy(out.geometry.array), [[2500, 1000]])
    # an explicit mask does the same in memory
    mask = np.zeros((4, 4), bool)
    mask[3, 3] = mask[2, 3] = True
    out2 = acc.population_weighted_points(_layer([east]), _raster(HAND, mask=mask))
    np.testing.assert_allclose(_xy(out2.geometry.array), [[2500, 1000]])


def test_negative_cells_raise():
    pop = HAND.copy()
    pop[0, 1] = -1
    with pytest.raises(ValueError, match=r"negative.*nodata"):
        acc.population_weighted_points(_layer([shapely.box(0, 0, 4000, 4000)]), _raster(pop))


def test_crs_mismatch_raises_with_advice():
    layer = _layer([shapely.box(0, 0, 4000, 4000)])
    with pytest.raises(CRSError, match=r"ms\.reproject_raster\(raster, layer\.crs, "
                       r"kind=\"count\"\)"):
        acc.population_weighted_points(layer, _raster(HAND, crs="EPSG:32646"))
    with pytest.raises(CRSError, match="corridor_distances"):
        origin_points(layer, _raster(HAND, crs="EPSG:3857"), func="corridor_distances")
    with pytest.raises(TypeError, match="Raster"):
        acc.population_weighted_points(layer, HAND)


def test_inputs_not_modified():
    layer = _layer([shapely.box(0, 2000, 2000, 4000), shapely.Point(1, 1)])
    raster = _raster(HAND)
    before, data_before = _frame_hash(layer), raster.data.copy()
    acc.population_weighted_points(layer, raster)
    origin_points(layer, raster)
    assert _frame_hash(layer) == before
    assert list(layer.columns) == ["name", "geometry"]
    np.testing.assert_array_equal(raster.data, data_before)
    np.testing.assert_array_equal(raster.data.mask, data_before.mask)


# ---- against the independent loop --------------------------------------------------------
def _random_case(seed: int):
    rng = np.random.default_rng(seed)
    h, w = 37, 53
    transform = from_origin(500_000.0, 6_010_000.0, 230.0, 170.0)    # non-square cells
    values = rng.gamma(0.6, 20.0, (h, w))
    values[rng.random((h, w)) < 0.25] = 0.0
    values[rng.random((h, w)) < 0.05] = np.nan
    mask = rng.random((h, w)) < 0.05
    raster = _raster(values, transform=transform, mask=mask)
    x0, y1 = 500_000.0, 6_010_000.0
    x1, y0 = x0 + w * 230.0, y1 - h * 170.0
    centres = np.column_stack([rng.uniform(x0 - 500, x1 + 500, 40),
                               rng.uniform(y0 - 500, y1 + 500, 40)])
    radii = rng.uniform(100, 2500, 40)
    geoms = list(shapely.buffer(shapely.points(centres), radii, quad_segs=3))  # overlapping
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    u = shapely.difference(shapely.box(cx - 4000, cy - 3000, cx + 4000, cy + 3000),
                           shapely.box(cx - 2500, cy - 1500, cx + 2500, cy + 3100))
    holed = shapely.difference(shapely.box(x0 + 200, y0 + 300, x0 + 3100, y0 + 2900),
                               shapely.box(x0 + 900, y0 + 900, x0 + 2400, y0 + 2300))
    multi = shapely.MultiPolygon([shapely.box(x0 + 100, y1 - 1200, x0 + 1300, y1 - 50),
                                  shapely.box(x1 - 1500, y1 - 1100, x1 - 80, y1 - 70)])
    tiny = shapely.box(cx + 11, cy + 13, cx + 40, cy + 33)     # no cell centre inside
    geoms += [u, holed, multi, tiny, shapely.Point(cx, cy)]
    return geoms, raster


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_polygons_match_independent_loop(seed):
    geoms, raster = _random_case(seed)
    layer = _layer(geoms)
    expected, how = _reference(geoms, raster)
    out = acc.population_weighted_points(layer, raster)
    np.testing.assert_allclose(_xy(out.geometry.array), expected, rtol=0, atol=1e-6)
    assert out["origin"].tolist() == how
    assert {"population", "representative", "point"} <= set(how)
    # every point lies in its territory
    poly = out["origin"] != "point"
    assert shapely.intersects(np.asarray(layer.geometry.array)[poly.to_numpy()],
                              np.asarray(out.geometry.array)[poly.to_numpy()]).all()


def test_concave_case_is_exercised():
    # the U of the random case has its weighted mean in the notch for this seed, so the
    # nearest-cell rule is tested against the loop above (not only by hand)
    geoms, raster = _random_case(0)
    u = geoms[-5]
    h, w = raster.shape
    cols, rows = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    xs, ys = (np.asarray(v) for v in raster.transform * (cols.ravel(), rows.ravel()))
    wt = np.nan_to_num(np.ma.filled(raster.data, np.nan).ravel())
    inside = shapely.contains_xy(u, xs, ys)
    mean = (np.average(xs[inside], weights=wt[inside]),
            np.average(ys[inside], weights=wt[inside]))
    assert not shapely.contains_xy(u, *mean)


def test_rotated_grid_matches_independent_loop():
    geoms, raster = _random_case(5)
    rotated = Affine.translation(500_000.0, 6_010_000.0) * Affine.rotation(7.0) \
        * Affine.scale(230.0, -170.0)
    raster = Raster(raster.data, rotated, raster.crs, None)
    expected, how = _reference(geoms, raster)
    out = acc.population_weighted_points(_layer(geoms), raster)
    np.testing.assert_allclose(_xy(out.geometry.array), expected, rtol=0, atol=1e-6)
    assert out["origin"].tolist() == how


# ---- the accessibility functions use these origins ---------------------------------------
@pytest.fixture
def setting():
    west = shapely.box(0, 2000, 2000, 4000)
    east = shapely.box(2000, 0, 4000, 2000)
    territories = _layer([west, east])
    corridors = gpd.GeoDataFrame({"kind": ["rail", "road_trunk"]},
                                 geometry=[shapely.LineString([(0, 0), (0, 4000)]),
                                           shapely.LineString([(0, 4000), (4000, 4000)])],
                                 index=pd.Index(["c0", "c1"], name="corridor_id"), crs=CRS)
    towns = gpd.GeoDataFrame({"population": [1000.0, 500.0]},
                             geometry=[shapely.Point(6000, 0), shapely.Point(0, 8000)],
                             index=pd.Index(["a0", "a1"], name="agglomeration_id"), crs=CRS)
    return territories, corridors, towns, _raster(HAND)


def test_corridor_and_agglomeration_distances_use_weighted_points(setting):
    territories, corridors, towns, pop = setting
    before = _frame_hash(territories)
    out = acc.corridor_distances(territories, corridors, population=pop)
    # west (1250, 2750): 1.25 km to the rail (x = 0), 1.25 km to the road (y = 4000)
    # east (3166.67, 833.33): rail 3.1667 km, road 3.1667 km
    np.testing.assert_allclose(out["dist_rail_km"], [1.25, 38 / 12])
    np.testing.assert_allclose(out["dist_road_trunk_km"], [1.25, 4 - 10 / 12])
    out = acc.agglomeration_distances(territories, towns, population=pop)
    d_east = np.hypot(6000 - 38000 / 12, 10000 / 12) / 1000
    d_west = min(np.hypot(6000 - 1250, 2750), np.hypot(1250, 8000 - 2750)) / 1000
    np.testing.assert_allclose(out["dist_agglomeration_km"], [d_west, d_east])
    assert _frame_hash(territories) == before
    # without population: representative points, so the answer differs
    plain = acc.agglomeration_distances(territories, towns)
    assert not np.allclose(plain["dist_agglomeration_km"], out["dist_agglomeration_km"])


def test_network_functions_equal_runs_from_weighted_points(setting):
    territories, corridors, towns, pop = setting
    points = acc.population_weighted_points(territories, pop).drop(columns="origin")
    kw = {"access_speed_kmh": 20.0}
    got = acc.network_travel_time(territories, towns, corridors, population=pop, **kw)
    ref = acc.network_travel_time(points, towns, corridors, **kw)
    np.testing.assert_allclose(got["time_to_agglomeration_min"],
                               ref["time_to_agglomeration_min"])
    np.testing.assert_allclose(got["access_km"], [1.25, 38 / 12])
    assert got.geometry.equals(territories.geometry)       # polygons kept in the output
    T = acc.travel_time_matrix(territories, towns, corridors, population=pop, **kw)
    T_ref = acc.travel_time_matrix(points, towns, corridors, **kw)
    pd.testing.assert_frame_equal(T, T_ref)


def test_gravity_and_catchment_straight_line_use_weighted_points(setting):
    territories, _, towns, pop = setting
    terr = territories.assign(jobs=[10.0, 20.0])
    wx, wy = np.array([1250, 38000 / 12]), np.array([2750, 10000 / 12])
    tx, ty = np.array([6000.0, 0.0]), np.array([0.0, 8000.0])
    km = np.hypot(wx[:, None] - tx, wy[:, None] - ty) / 1000
    out = acc.hansen_potential(terr, towns, beta=0.1, population=pop)
    np.testing.assert_allclose(out["hansen_potential"], np.exp(-0.1 * km) @ [1000.0, 500.0])
    out = acc.two_step_fca(terr, towns, demand_col="jobs", supply_col="population",
                           max_cost=5.0, population=pop)
    # within 5 km: east-a0 (3.14 km) only -> R_a0 = 1000 / 20, A_east = 50
    assert km[1, 0] < 5 and (np.delete(km.ravel(), 2) > 5).all()
    np.testing.assert_allclose(out["access_2sfca"], [0.0, 50.0])
    out = acc.enhanced_two_step_fca(terr, towns, demand_col="jobs", supply_col="population",
                                    population=pop)
    assert out["access_e2sfca"].notna().all()
    cost = pd.DataFrame(km, index=terr.index, columns=towns.index)
    with pytest.raises(ValueError, match="travel_time_matrix"):
        acc.hansen_potential(terr, towns, beta=0.1, cost=cost, population=pop)
    with pytest.raises(ValueError, match="travel_time_matrix"):
        acc.two_step_fca(terr, towns, demand_col="jobs", supply_col="population",
                         max_cost=5.0, cost=cost, population=pop)
