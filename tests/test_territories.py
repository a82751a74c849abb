"""Tests for minespace.territories (expected values by hand or from geopandas/libpysal)."""

from __future__ import annotations

import math
import warnings

import geopandas as gpd
import libpysal
import numpy as np
import pyproj
import pytest
import shapely
from shapely.geometry import Polygon, box

from minespace import territories as T
from minespace.errors import CRSError, FeaturesDroppedWarning

CRS = "EPSG:32645"


def _boundary(geom):
    return gpd.GeoDataFrame({"name": ["study"]}, geometry=[geom], crs=CRS)


# an L-shaped (concave) study area, 30 km x 20 km, offset from the origin
L_SHAPE = Polygon([(500_000, 6_000_000), (530_000, 6_000_000), (530_000, 6_008_000),
                   (512_000, 6_008_000), (512_000, 6_020_000), (500_000, 6_020_000)])


def _points(n, seed=0, pad=3000.0):
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = L_SHAPE.bounds
    x = rng.uniform(minx - pad, maxx + pad, n)
    y = rng.uniform(miny - pad, maxy + pad, n)
    return gpd.GeoDataFrame({"commodity": rng.choice(["a", "b"], n)},
                            geometry=gpd.points_from_xy(x, y),
                            index=pd_index(n), crs=CRS)


def pd_index(n):
    import pandas as pd
    return pd.Index([f"D{i}" for i in range(n)], name="deposit_id")


def test_square_grid_hand_values():
    terr = T.square_grid(_boundary(box(0, 0, 3000, 2000)), cell_km=1)
    assert len(terr) == 6
    assert terr.index.name == "territory_id"
    np.testing.assert_allclose(terr["area_km2"], 1.0)
    assert not terr["grid_clipped"].any()
    # representative points are cell centres for whole cells
    assert sorted(zip(terr["rep_x"], terr["rep_y"], strict=True)) == [
        (500.0, 500.0), (500.0, 1500.0), (1500.0, 500.0), (1500.0, 1500.0),
        (2500.0, 500.0), (2500.0, 1500.0)]


@pytest.mark.parametrize("make", [T.hex_grid, T.square_grid])
def test_clipped_areas_sum_to_boundary(make):
    terr = make(_boundary(L_SHAPE), cell_km=3)
    assert terr["area_km2"].sum() == pytest.approx(L_SHAPE.area / 1e6, rel=1e-9)
    # cells do not overlap: union area equals sum of areas
    assert shapely.union_all(terr.geometry.values).area == pytest.approx(L_SHAPE.area)
    # representative points lie inside their territory
    pts = shapely.points(terr["rep_x"], terr["rep_y"])
    assert shapely.intersects(terr.geometry.values, pts).all()


def test_hex_cell_area_and_spacing():
    terr = T.hex_grid(_boundary(L_SHAPE), cell_km=3, clip=False)
    # whole hexagon with width across flats w: area = sqrt(3)/2 w^2
    np.testing.assert_allclose(terr["area_km2"], math.sqrt(3) / 2 * 9)
    from scipy.spatial import cKDTree
    d, _ = cKDTree(terr[["rep_x", "rep_y"]].to_numpy()).query(
        terr[["rep_x", "rep_y"]].to_numpy(), k=2)
    np.testing.assert_allclose(d[:, 1], 3000.0)


@pytest.mark.parametrize("make", [T.hex_grid, T.square_grid])
@pytest.mark.parametrize("clip", [True, False])
def test_assign_matches_geopandas_sjoin(make, clip):
    terr = make(_boundary(L_SHAPE), cell_km=2.5, clip=clip)
    deps = _points(3000)
    with pytest.warns(FeaturesDroppedWarning) as rec:
        out = T.assign_deposits(terr, deps)
    assert len(rec) == 1
    joined = gpd.sjoin(deps, terr[["geometry"]], predicate="within", how="left")
    joined = joined[~joined.index.duplicated()]
    expected = joined["territory_id"]
    n_out = int(expected.isna().sum())
    assert f"{n_out} of 3000" in str(rec[0].message)
    assert out["territory_id"].isna().sum() == n_out
    both = expected.notna()
    assert (out.loc[both, "territory_id"] == expected[both]).all()
    # input unchanged
    assert "territory_id" not in deps.columns


@pytest.mark.parametrize("make", [T.hex_grid, T.square_grid])
def test_assign_chunked_grid_path_matches_sjoin(make, monkeypatch):
    """Several binning chunks, points far off the grid, NaN and empty geometries."""
    monkeypatch.setattr(T, "_BIN_CHUNK", 257)  # many chunks, the last one partial
    terr = make(_boundary(L_SHAPE), cell_km=1.5)
    assert terr["grid_clipped"].any() and not terr["grid_clipped"].all()
    deps = _points(2000, seed=7)
    geoms = np.asarray(deps.geometry.values).copy()
    geoms[3] = shapely.Point(-1e6, 1e7)  # far outside the grid's bounding box (on Earth:
    geoms[4] = shapely.Point(2e6, -5e6)   # 1e12 m is refused, see test_geography.py)
    geoms[5] = None
    geoms[6] = shapely.from_wkt("POINT EMPTY")
    deps = deps.set_geometry(gpd.GeoSeries(geoms, index=deps.index, crs=CRS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FeaturesDroppedWarning)
        out = T.assign_deposits(terr, deps)
    joined = gpd.sjoin(deps, terr[["geometry"]], predicate="intersects", how="left")
    joined = joined[~joined.index.duplicated()]  # points on shared edges: any one cell
    got = out["territory_id"].astype(object)
    exp = joined["territory_id"].reindex(deps.index)
    assert got.isna().tolist() == exp.isna().tolist()
    assert got.iloc[3:7].isna().all()
    # where sjoin found several cells (shared edges) ours must be one of them
    pairs = set(zip(joined.index, joined["territory_id"], strict=True)) | set(
        gpd.sjoin(deps, terr[["geometry"]], predicate="intersects")["territory_id"]
        .items())
    assert all((i, t) in pairs for i, t in got.dropna().items())


def test_assign_polygons_fallback_equals_grid_path():
    terr = T.hex_grid(_boundary(L_SHAPE), cell_km=2.5)
    plain = T.from_polygons(terr[["geometry"]])
    assert "grid" not in plain.attrs
    deps = _points(2000, seed=1, pad=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FeaturesDroppedWarning)
        a = T.assign_deposits(terr, deps)["territory_id"]
        b = T.assign_deposits(plain, deps)["territory_id"]
    assert a.astype(object).fillna("-").tolist() == b.astype(object).fillna("-").tolist()


def test_assign_arbitrary_polygons_matches_sjoin_first_match():
    """Holes, a multipolygon, overlaps and points on boundaries vs geopandas sjoin."""
    ring = box(0, 0, 10_000, 10_000).difference(box(3000, 3000, 7000, 7000))  # with a hole
    multi = shapely.MultiPolygon([box(3500, 3500, 4500, 4500), box(12_000, 0, 14_000, 2000)])
    overlap = box(8000, 8000, 13_000, 13_000)  # overlaps the first polygon
    tri = Polygon([(15_000, 0), (20_000, 0), (15_000, 5000)])
    polys = gpd.GeoDataFrame({"name": ["ring", "multi", "overlap", "tri"]},
                             geometry=[ring, multi, overlap, tri], crs=CRS)
    terr = T.from_polygons(polys, id="name")
    rng = np.random.default_rng(3)
    xy = rng.uniform(-1000, 21_000, (4000, 2))
    edge = np.array([[0, 5000], [3000, 5000], [10_000, 9000], [8000, 8000], [15_000, 2500],
                     [17_500, 2500], [12_000, 1000], [5000, 7000]], float)  # on boundaries
    xy = np.r_[xy, edge]
    deps = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=CRS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FeaturesDroppedWarning)
        out = T.assign_deposits(terr, deps)
    joined = gpd.sjoin(deps, terr[["geometry"]], predicate="intersects", how="left")
    rank = {t: k for k, t in enumerate(terr.index)}
    joined["rank"] = joined["territory_id"].map(rank)
    first = joined.sort_values("rank").groupby(level=0)["territory_id"].first()
    expected = first.reindex(deps.index)  # missing when outside every polygon
    got = out["territory_id"].astype(object)
    assert got.isna().tolist() == expected.isna().tolist()
    both = expected.notna()
    assert (got[both] == expected[both]).all()
    assert got.iloc[-8:].notna().all()  # boundary points count as inside
    assert (got == "overlap").any() and (got == "multi").any()


def test_assign_all_inside_no_warning_and_missing_geometry():
    terr = T.square_grid(_boundary(box(0, 0, 2000, 2000)), cell_km=1)
    deps = gpd.GeoDataFrame({"k": [1, 2, 3]}, geometry=[shapely.Point(100, 100),
                            shapely.Point(1500, 1500), None], crs=CRS)
    with pytest.warns(FeaturesDroppedWarning, match="1 of 3"):
        out = T.assign_deposits(terr, deps)
    assert out["territory_id"].tolist()[:2] == ["S0_0", "S1_1"]
    assert out["territory_id"].isna().tolist() == [False, False, True]


def test_from_polygons_ids_and_errors():
    polys = gpd.GeoDataFrame({"code": ["A", "B"]},
                             geometry=[box(0, 0, 1000, 1000), box(1000, 0, 3000, 1000)], crs=CRS)
    terr = T.from_polygons(polys, id="code")
    assert terr.index.tolist() == ["A", "B"]
    assert terr["area_km2"].tolist() == [1.0, 2.0]
    assert "area_km2" not in polys.columns
    with pytest.raises(ValueError, match="unique"):
        T.from_polygons(polys.assign(code=["A", "A"]), id="code")
    with pytest.raises(CRSError):
        T.from_polygons(polys.set_crs(4326, allow_override=True))
    with pytest.raises(ValueError, match="Polygon"):
        T.from_polygons(gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)], crs=CRS))
    with pytest.raises(CRSError):
        T.hex_grid(_boundary(L_SHAPE).set_crs(4326, allow_override=True), cell_km=1)
    with pytest.raises(ValueError):
        T.square_grid(_boundary(L_SHAPE), cell_km=0)


def _as_sets(w):
    return {k: set(v) for k, v in w.neighbors.items()}


@pytest.mark.parametrize("make,kind", [(T.hex_grid, "queen"), (T.hex_grid, "rook"),
                                       (T.square_grid, "queen"), (T.square_grid, "rook")])
@pytest.mark.parametrize("clip", [True, False])
def test_grid_contiguity_matches_libpysal(make, kind, clip):
    terr = make(_boundary(L_SHAPE), cell_km=1.7, clip=clip)
    w = T.contiguity(terr, kind=kind, islands="keep")
    cls = libpysal.weights.Queen if kind == "queen" else libpysal.weights.Rook
    ref = cls.from_dataframe(terr, use_index=True, silence_warnings=True)
    assert w.id_order == terr.index.tolist()
    assert _as_sets(w) == _as_sets(ref)
    # same answer through the polygon path
    w2 = T.contiguity(T.from_polygons(terr[["geometry"]]), kind=kind, islands="keep")
    assert _as_sets(w2) == _as_sets(ref)


def test_island_policy_attach_nearest():
    # three unit squares in a row, plus a far square (island) nearest to "C"
    polys = gpd.GeoDataFrame(
        {"code": ["A", "B", "C", "Z"]},
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 0, 3, 1), box(10, 0, 11, 1)],
        crs=CRS)
    terr = T.from_polygons(polys, id="code")
    kept = T.contiguity(terr, islands="keep")
    assert kept.islands == ["Z"]
    w = T.contiguity(terr)
    assert _as_sets(w) == {"A": {"B"}, "B": {"A", "C"}, "C": {"B", "Z"}, "Z": {"C"}}
    assert w.n_components == 1
    with pytest.raises(ValueError):
        T.contiguity(terr, kind="bishop")


def test_distance_band_matches_libpysal_and_knn_fallback():
    xy = np.array([(10, 10), (20, 10), (40, 10), (15, 20), (30, 20), (30, 30), (90, 90)], float)
    ids = [f"t{k}" for k in range(len(xy))]
    polys = gpd.GeoDataFrame({"code": ids}, geometry=[box(x - 1, y - 1, x + 1, y + 1)
                                                      for x, y in xy], crs=CRS)
    terr = T.from_polygons(polys, id="code")
    np.testing.assert_allclose(terr[["rep_x", "rep_y"]].to_numpy(), xy)
    w = T.distance_band(terr, distance_km=0.015, islands="keep")
    ref = libpysal.weights.DistanceBand(xy[:6], threshold=15, binary=True, ids=ids[:6],
                                        silence_warnings=True)
    got = _as_sets(w)
    # t6 (far away) falls back to its nearest neighbour t5, symmetrically
    assert got.pop("t6") == {"t5"}
    expected = _as_sets(ref)
    expected["t5"].add("t6")
    assert got == expected


def test_grid_path_falls_back_when_grid_is_altered():
    terr = T.hex_grid(_boundary(L_SHAPE), cell_km=2.5)
    assert T._grid_info(terr) is not None
    assert T._grid_info(terr[terr["area_km2"] > 1]) is not None  # subsetting keeps it valid
    moved = terr.copy()
    moved["geometry"] = moved.translate(700, 0)  # columns now stale
    assert T._grid_info(moved) is None
    assert T._grid_info(terr.to_crs("EPSG:32644")) is None
    # the same CRS spelled another way (WKT2:2015 writes WGS 84 as DATUM, not ENSEMBLE,
    # as PROJ on a Dask worker thread was seen to do) is the same grid; another CRS is not
    respelled = terr.copy()
    respelled.attrs["grid"] = {**terr.attrs["grid"], "crs": terr.crs.to_wkt("WKT2_2015")}
    assert respelled.attrs["grid"]["crs"] != terr.crs.to_wkt()
    assert T._grid_info(respelled) is not None
    for other in (pyproj.CRS("EPSG:32644").to_wkt(), "not a CRS", None):
        respelled.attrs["grid"] = {**terr.attrs["grid"], "crs": other}
        assert T._grid_info(respelled) is None
    deps = _points(500, seed=4, pad=0.0)
    deps["geometry"] = deps.translate(700, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FeaturesDroppedWarning)
        got = T.assign_deposits(moved, deps)["territory_id"]
    joined = gpd.sjoin(deps, moved[["geometry"]], predicate="within", how="left")
    joined = joined[~joined.index.duplicated()]["territory_id"]
    assert got.astype(object).fillna("-").tolist() == joined.astype(object).fillna("-").tolist()
