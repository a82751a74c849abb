"""Straight-line distances: hand-checkable layers, CRS errors, input not modified."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import LineString, Point, box

from minespace.accessibility import agglomeration_distances, corridor_distances
from minespace.errors import CRSError

CRS = "EPSG:32645"


@pytest.fixture
def corridors():
    return gpd.GeoDataFrame(
        {"kind": ["rail", "road_trunk", "rail"]},
        geometry=[LineString([(0, 0), (10_000, 0)]),        # y = 0
                  LineString([(0, 5_000), (10_000, 5_000)]),  # y = 5 km
                  LineString([(20_000, 0), (20_000, 10_000)])],  # x = 20 km
        index=["r1", "t1", "r2"], crs=CRS).rename_axis("corridor_id")


@pytest.fixture
def deposits():
    return gpd.GeoDataFrame(
        {"commodity": ["coal"] * 3},
        geometry=[Point(2_000, 1_000), Point(13_000, 0), Point(19_000, 7_000)],
        index=["d1", "d2", "d3"], crs=CRS).rename_axis("deposit_id")


@pytest.fixture
def towns():
    return gpd.GeoDataFrame(
        {"population": [1000, 500]},
        geometry=[box(0, 2_000, 4_000, 6_000), Point(19_000, 3_000)],
        index=["A", "B"], crs=CRS).rename_axis("agglomeration_id")


def test_corridor_distances_hand(deposits, corridors):
    before = deposits.copy()
    out = corridor_distances(deposits, corridors)
    # d1 (2,1): rail y=0 -> 1 km; trunk y=5 -> 4 km
    # d2 (13,0): rail segment ends at x=10 -> 3 km; r2 at x=20 -> 7 km; trunk: hypot(3,5)
    # d3 (19,7): r2 -> 1 km; trunk end (10,5) -> hypot(9,2)
    np.testing.assert_allclose(out["dist_rail_km"], [1.0, 3.0, 1.0])
    np.testing.assert_allclose(out["dist_road_trunk_km"],
                               [4.0, np.hypot(3, 5), np.hypot(9, 2)])
    np.testing.assert_allclose(out["dist_corridor_km"], [1.0, 3.0, 1.0])
    assert list(out["nearest_corridor_id"]) == ["r1", "r1", "r2"]
    assert out.index.equals(deposits.index)
    assert deposits.equals(before)  # input untouched
    assert "dist_rail_km" not in deposits.columns


def test_corridor_distances_requested_kind_absent(deposits, corridors):
    out = corridor_distances(deposits, corridors, kinds=["rail", "road_primary"])
    assert out["dist_road_primary_km"].isna().all()
    assert "dist_road_trunk_km" not in out.columns


def test_territory_polygons_use_point_inside(corridors):
    terr = gpd.GeoDataFrame(
        geometry=[box(1_000, 1_000, 3_000, 3_000)], index=["T1"], crs=CRS)
    out = corridor_distances(terr, corridors)
    # representative point of the square is its centre (2, 2): rail 2 km, trunk 3 km
    np.testing.assert_allclose(out["dist_rail_km"], [2.0])
    np.testing.assert_allclose(out["dist_road_trunk_km"], [3.0])


def test_agglomeration_distances_hand(deposits, towns):
    out = agglomeration_distances(deposits, towns)
    # d1 (2,1) -> box A [0,4]x[2,6]: 1 km to the edge; centre of A (2,4): 3 km
    # d2 (13,0) -> A edge (4,2): hypot(9,2); B (19,3): hypot(6,3)
    # d3 (19,7) -> B: 4 km; A edge (4,6): hypot(15,1)
    np.testing.assert_allclose(out["dist_agglomeration_km"], [1.0, np.hypot(6, 3), 4.0])
    assert list(out["nearest_agglomeration_id"]) == ["A", "B", "B"]
    np.testing.assert_allclose(out["dist_agglomeration_centre_km"],
                               [3.0, np.hypot(6, 3), 4.0])
    assert list(out["nearest_agglomeration_centre_id"]) == ["A", "B", "B"]


def test_inside_agglomeration_is_zero(towns):
    pts = gpd.GeoDataFrame(geometry=[Point(1_000, 3_000)], crs=CRS)
    out = agglomeration_distances(pts, towns)
    assert out["dist_agglomeration_km"].iloc[0] == 0.0
    assert out["dist_agglomeration_centre_km"].iloc[0] > 0


def test_geographic_crs_raises(deposits, corridors):
    with pytest.raises(CRSError, match="corridor_distances"):
        corridor_distances(deposits.to_crs(4326), corridors.to_crs(4326))


def test_crs_mismatch_raises(deposits, towns):
    with pytest.raises(CRSError, match="different CRS"):
        agglomeration_distances(deposits, towns.to_crs("EPSG:32644"))


def test_missing_kind_column(deposits, corridors):
    with pytest.raises(KeyError, match="kind"):
        corridor_distances(deposits, corridors.drop(columns="kind"))


def test_vectorised_matches_bruteforce():
    rng = np.random.default_rng(0)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(*rng.uniform(0, 1e5, (2, 300))),
                           crs=CRS)
    lines = gpd.GeoDataFrame(
        {"kind": rng.choice(["rail", "road_trunk"], 40)},
        geometry=[LineString(rng.uniform(0, 1e5, (3, 2))) for _ in range(40)], crs=CRS)
    out = corridor_distances(pts, lines)
    full = np.array([[p.distance(g) for g in lines.geometry] for p in pts.geometry]) / 1000
    for k in ("rail", "road_trunk"):
        of_kind = (lines.kind == k).to_numpy()
        np.testing.assert_allclose(out[f"dist_{k}_km"], full[:, of_kind].min(1))
    np.testing.assert_allclose(out["dist_corridor_km"], full.min(1))


@pytest.mark.parametrize("k", [1, 2, 8])
@pytest.mark.parametrize("piece", [None, 2500.0])
def test_segment_index_exact_in_every_pass(k, piece):
    """Small k and long pieces force the wider passes; all must be exact."""
    import shapely

    from minespace.accessibility.distance import _SegmentIndex

    rng = np.random.default_rng(k)
    lines = shapely.linestrings(rng.uniform(0, 1e4, (25, 4, 2)))
    xy = rng.uniform(-2e3, 1.2e4, (500, 2))
    line, dist, proj, along = _SegmentIndex(lines, piece=piece).query(xy, k=k, budget=500,
                                                                     along=True)
    full = shapely.distance(shapely.points(xy)[:, None], lines[None, :])
    # position along the chosen line, against GEOS' projection of the closest point
    np.testing.assert_allclose(along, shapely.line_locate_point(lines[line],
                                                                shapely.points(proj)),
                               rtol=0, atol=1e-6)
    np.testing.assert_allclose(dist, full.min(1), atol=1e-9)
    np.testing.assert_allclose(full[np.arange(500), line], full.min(1), atol=1e-9)
    # the returned point lies on the chosen line at that distance
    np.testing.assert_allclose(shapely.distance(shapely.points(proj), lines[line]), 0,
                               atol=1e-6)
    np.testing.assert_allclose(np.hypot(*(xy - proj).T), dist, atol=1e-9)


def test_grid_pruned_path_exact_many_points_few_lines():
    """Many points against few segments take the grid-pruned search; it must equal
    shapely's distance, including multi-lines, a zero-length segment and exact ties."""
    import shapely

    from minespace.accessibility.distance import _grid_ok, _PointGrid, _segments

    rng = np.random.default_rng(3)
    lines = list(shapely.linestrings(rng.uniform(0, 1e5, (12, 4, 2))))
    lines.append(shapely.multilinestrings([[(0, 0), (0, 5e4)], [(6e4, 6e4), (9e4, 9e4)]]))
    lines.append(LineString([(5e4, 5e4), (5e4, 5e4), (5e4, 7e4)]))   # repeated vertex
    lines.append(LineString([(2e4, -1e4), (2e4, 1.1e5)]))            # x = 20 km ...
    lines.append(LineString([(4e4, -1e4), (4e4, 1.1e5)]))            # ... and x = 40 km
    xy = np.vstack([rng.uniform(-2e4, 1.2e5, (6000, 2)),
                    np.c_[np.full(50, 3e4), rng.uniform(0, 1e5, 50)]])  # equidistant: ties
    kinds = np.array(["rail", "road_trunk"] * 8)
    layer = gpd.GeoDataFrame({"kind": kinds}, geometry=lines, crs=CRS)
    pts = gpd.GeoDataFrame(geometry=shapely.points(xy), crs=CRS)
    a, _, _ = _segments(np.asarray(layer.geometry.array))
    assert _grid_ok(len(xy), len(a))
    out = corridor_distances(pts, layer)
    full = shapely.distance(shapely.points(xy)[:, None], np.asarray(lines)[None, :])
    for k in ("rail", "road_trunk"):
        np.testing.assert_allclose(out[f"dist_{k}_km"] * 1000, full[:, kinds == k].min(1),
                                   rtol=0, atol=1e-6)
    np.testing.assert_allclose(out["dist_corridor_km"] * 1000, full.min(1), rtol=0, atol=1e-6)
    # ties (points on x = 30 km, 10 km from both verticals) go to the lowest line
    best = np.where(np.isclose(full, full.min(1, keepdims=True), rtol=0, atol=1e-6),
                    np.arange(full.shape[1]), 99).min(1)
    np.testing.assert_array_equal(out["nearest_corridor_id"].to_numpy(dtype=int), best)
    # closest points lie on the chosen segment at the reported distance
    seg = _segments(np.asarray(lines), None)
    line, dist, proj = _PointGrid(xy, 500).nearest(*seg)
    np.testing.assert_allclose(np.hypot(*(xy - proj).T), dist, atol=1e-9)
    np.testing.assert_allclose(shapely.distance(shapely.points(proj), np.asarray(lines)[line]),
                               0, atol=1e-6)


def test_segment_index_many_segments_exact():
    """Many segments and points (Z-ordered queries, retries for far points, exact ties
    on shared vertices): all must equal shapely's distance, ties to the lowest line."""
    import shapely

    from minespace.accessibility.distance import _SegmentIndex

    rng = np.random.default_rng(7)
    starts = rng.uniform(0, 2e4, (1500, 2))
    lines = shapely.linestrings(np.stack([starts, starts + rng.normal(0, 300, (1500, 2))], 1))
    xy = np.vstack([rng.uniform(-1e3, 2.1e4, (4000, 2)),       # near the segments
                    rng.uniform(-2e4, 4e4, (500, 2)),          # some far outside
                    shapely.get_coordinates(lines)[:200]])      # on vertices: exact ties
    index = _SegmentIndex(lines)
    line, dist, proj = index.query(xy)
    full = shapely.distance(shapely.points(xy)[:, None], lines[None, :])
    np.testing.assert_allclose(dist, full.min(1), rtol=0, atol=1e-9)
    best = np.where(np.isclose(full, full.min(1, keepdims=True), rtol=0, atol=1e-9),
                    np.arange(len(lines)), len(lines)).min(1)
    np.testing.assert_array_equal(line, best)
    np.testing.assert_allclose(np.hypot(*(xy - proj).T), dist, atol=1e-9)
