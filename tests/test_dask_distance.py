"""engine="dask" of corridor_distances / agglomeration_distances on a real LocalCluster.

Equality with the pandas engine on the same data (exact: each origin's distance is
computed by the same code, with the same choice between grid pruning and the segment
KD-tree), partition edge cases, hand-worked values, and a check that the targets reach
each worker once and their search structures are built once per worker.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from rasterio.transform import from_origin

from minespace import accessibility as acc
from minespace.accessibility.distance import _grid_ok, _segments
from minespace.errors import CRSError
from minespace.io.raster import Raster

distributed = pytest.importorskip("distributed")
dask_geopandas = pytest.importorskip("dask_geopandas")

from minespace.scale import _distance  # noqa: E402  (imports dask)

CRS = "EPSG:32645"
X0, Y0 = 500_000.0, 6_000_000.0
W, H = 100_000.0, 80_000.0


@pytest.fixture(scope="module")
def client(dask_client):
    return dask_client


def _corridors(n_lines: int = 40, n_vertices: int = 8, seed: int = 1) -> gpd.GeoDataFrame:
    """Zig-zag lines across the whole extent (each crosses every partition), two kinds,
    plus two horizontal rail lines and a trunk road making exact ties."""
    rng = np.random.default_rng(seed)
    geoms, kinds = [], []
    for i in range(n_lines):
        xy = np.column_stack([np.linspace(X0 - 5_000, X0 + W + 5_000, n_vertices),
                              Y0 + rng.uniform(0, H, n_vertices)])
        geoms.append(shapely.linestrings(xy))
        kinds.append(("rail", "road_trunk")[i % 2])
    # y = Y0 + 90 km (rail "tie_a") and Y0 + 110 km (rail "tie_b" and trunk "tie_c")
    geoms += [shapely.LineString([(X0, Y0 + 90_000), (X0 + W, Y0 + 90_000)]),
              shapely.LineString([(X0, Y0 + 110_000), (X0 + W, Y0 + 110_000)]),
              shapely.LineString([(X0 + W, Y0 + 110_000), (X0, Y0 + 110_000)])]
    kinds += ["road_trunk", "rail", "rail"]
    ids = [f"C{i:03d}" for i in range(n_lines)] + ["tie_c", "tie_a", "tie_b"]
    return gpd.GeoDataFrame({"kind": kinds}, geometry=geoms, index=pd.Index(ids, name="id"),
                            crs=CRS)


def _deposits(n: int = 4000, seed: int = 0) -> gpd.GeoDataFrame:
    """Random points; edge cases at the end: equidistant ties, duplicates in several
    partitions, origins far away."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform([X0, Y0], [X0 + W, Y0 + H], size=(n, 2))
    xy[-30:-10] = np.column_stack([X0 + rng.integers(1, 99, 20) * 1_000.0,
                                   np.full(20, Y0 + 100_000.0)])      # ties at 10 km
    xy[-10:-5] = xy[0]                                                 # same point again
    xy[-5:] = [[X0 + 1e7, Y0], [X0 - 1e7, Y0 + 5e6], [X0, Y0 - 1e7],
               [X0 + W / 2, Y0 + 1e7], [X0 + 3e6, Y0 + 3e6]]           # far away
    return gpd.GeoDataFrame({"value": np.arange(n, dtype=float)},
                            geometry=shapely.points(xy),
                            index=pd.Index([f"D{i:05d}" for i in range(n)], name="deposit_id"),
                            crs=CRS)


def _squares(n_side: int = 12) -> gpd.GeoDataFrame:
    size = W / n_side
    boxes = [shapely.box(X0 + i * size, Y0 + j * size, X0 + (i + 1) * size,
                         Y0 + (j + 1) * size) for j in range(n_side) for i in range(n_side)]
    return gpd.GeoDataFrame({"name": [f"T{i}" for i in range(len(boxes))]}, geometry=boxes,
                            index=pd.RangeIndex(len(boxes), name="territory_id"), crs=CRS)


def _population(cell: float = 2_000.0) -> Raster:
    rng = np.random.default_rng(3)
    h, w = int(H * 1.5 / cell), int(W / cell)
    values = rng.gamma(1.0, 10.0, size=(h, w))
    values[rng.random((h, w)) < 0.3] = 0.0
    return Raster(np.ma.masked_invalid(values), from_origin(X0, Y0 + 1.5 * H, cell, cell),
                  pyproj.CRS(CRS), None, source="test_population")


def _agglomerations() -> gpd.GeoDataFrame:
    towns = [shapely.Point(X0 + 20_000, Y0 + 20_000).buffer(4_000),
             shapely.box(X0 + 60_000, Y0 + 50_000, X0 + 70_000, Y0 + 56_000),
             shapely.Point(X0 + 90_000, Y0 + 10_000),
             shapely.box(X0 + 40_000, Y0 + 70_000, X0 + 44_000, Y0 + 74_000)]
    return gpd.GeoDataFrame({"name": list("abcd")}, geometry=towns,
                            index=pd.Index([10, 20, 30, 40], name="agglomeration_id"),
                            crs=CRS)


def _n_segments(lines: gpd.GeoDataFrame) -> int:
    return len(_segments(np.asarray(lines.geometry.array))[0])


# --------------------------------------------------------------------------- corridors
@pytest.mark.parametrize("npartitions", [1, 3, 8])
def test_corridor_distances_equal_pandas_in_memory(client, npartitions):
    deposits, corridors = _deposits(), _corridors()
    rail = corridors[corridors["kind"] == "rail"]
    # the whole call bins the points on a grid; one partition of 500 alone would not
    assert _grid_ok(len(deposits), _n_segments(rail))
    assert not _grid_ok(len(deposits) // 8, _n_segments(rail))
    expected = acc.corridor_distances(deposits, corridors)
    got = acc.corridor_distances(deposits, corridors, engine="dask", scheduler=client,
                                 npartitions=npartitions)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert isinstance(got, gpd.GeoDataFrame) and got.crs == deposits.crs


def test_corridor_distances_many_segments_equal_pandas(client):
    """The other search (KD-tree over sub-segments, built once per worker): many
    segments for the number of points."""
    deposits, corridors = _deposits(n=600), _corridors(n_lines=30, n_vertices=200)
    assert not _grid_ok(len(deposits), _n_segments(corridors[corridors["kind"] == "rail"]))
    expected = acc.corridor_distances(deposits, corridors)
    got = acc.corridor_distances(deposits, corridors, engine="dask", scheduler=client,
                                 partition_size=150)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_equidistant_ties_and_absent_kinds(client):
    """Points 10 km from rail 'tie_a' (y = 90 km), rail 'tie_b' and trunk 'tie_c'
    (y = 110 km): the nearest rail and the nearest corridor are the first in the
    corridors' row order ('tie_c', then 'tie_a'), whatever partition holds them."""
    deposits = _deposits()
    corridors = _corridors().iloc[-3:]
    got = acc.corridor_distances(deposits, corridors, kinds=["rail", "ferry"],
                                 engine="dask", scheduler=client, npartitions=7)
    tied = got.iloc[-30:-10]
    assert (tied["dist_rail_km"] == 10.0).all()
    assert (tied["dist_corridor_km"] == 10.0).all()
    assert (tied["nearest_corridor_id"] == "tie_c").all()
    assert tied["dist_ferry_km"].isna().all()
    assert "dist_road_trunk_km" not in got.columns
    expected = acc.corridor_distances(deposits, corridors, kinds=["rail", "ferry"])
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_hand_worked_distance(client):
    """Segment (0, 0)-(3 km, 0): the point (6 km, 4 km) is nearest its end vertex,
    sqrt(3² + 4²) = 5 km away; (1 km, -2 km) is 2 km from its interior."""
    corridors = gpd.GeoDataFrame({"kind": ["rail"]}, geometry=[
        shapely.LineString([(X0, Y0), (X0 + 3_000, Y0)])], index=["R"], crs=CRS)
    origins = gpd.GeoDataFrame(geometry=shapely.points([X0 + 6_000, X0 + 1_000],
                                                       [Y0 + 4_000, Y0 - 2_000]), crs=CRS)
    got = acc.corridor_distances(origins, corridors, engine="dask", scheduler=client,
                                 npartitions=2)
    assert got["dist_rail_km"].tolist() == [5.0, 2.0]
    assert got["nearest_corridor_id"].tolist() == ["R", "R"]


def test_polygon_origins_with_population(client):
    """In-memory territories start from their population-weighted point, computed on
    the whole layer: equal to the pandas engine although raster cell centres lie on
    edges shared by territories of different partitions (x, y = 25, 50, 75 km)."""
    territories, corridors, population = _squares(), _corridors(), _population()
    expected = acc.corridor_distances(territories, corridors, population=population)
    got = acc.corridor_distances(territories, corridors, population=population,
                                 engine="dask", scheduler=client, npartitions=5)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    # the population moved the points: without it the answer differs
    plain = acc.corridor_distances(territories, corridors)
    assert not np.array_equal(plain["dist_corridor_km"], expected["dist_corridor_km"])
    pd.testing.assert_frame_equal(
        acc.corridor_distances(territories, corridors, engine="dask", scheduler=client,
                               npartitions=5), plain, check_exact=True)
    towns = _agglomerations()
    pd.testing.assert_frame_equal(
        acc.agglomeration_distances(territories, towns, population=population,
                                    engine="dask", scheduler=client, npartitions=3),
        acc.agglomeration_distances(territories, towns, population=population),
        check_exact=True)


def test_lazy_origins_with_population(client):
    """Dask points with population= are kept as they are (as the pandas engine does);
    Dask polygons are refused with a message saying what to do."""
    deposits, corridors, population = _deposits(n=300), _corridors(), _population()
    lazy = dask_geopandas.from_geopandas(deposits, npartitions=3)
    got = acc.corridor_distances(lazy, corridors, population=population, engine="dask")
    expected = acc.corridor_distances(lazy.compute(scheduler=client), corridors,
                                      population=population)
    pd.testing.assert_frame_equal(got.compute(scheduler=client), expected,
                                  check_exact=True)
    polygons = dask_geopandas.from_geopandas(_squares(3), npartitions=2)
    result = acc.agglomeration_distances(polygons, _agglomerations(), population=population,
                                         engine="dask")
    with pytest.raises(ValueError, match="population_weighted_points"):
        result.compute(scheduler=client)


def test_empty_origins(client):
    deposits = _deposits().iloc[:0]
    expected = acc.corridor_distances(deposits, _corridors())
    got = acc.corridor_distances(deposits, _corridors(), engine="dask", scheduler=client)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_both_searches_give_the_same_bits():
    """The grid pruning (taken for many points, few segments) and the segment KD-tree
    (otherwise) give bit-identical distances, the same closest points and the same
    ties: a partition may take the other search than the whole layer would."""
    from minespace.accessibility.distance import _PointGrid, _SegmentIndex

    rng = np.random.default_rng(5)
    lines = np.asarray([*shapely.linestrings(rng.uniform(0, 1e5, (20, 6, 2))),
                        shapely.LineString([(-3e4, -1e4), (-3e4, 1.1e5)]),
                        shapely.LineString([(-1e4, 1.1e5), (-1e4, -1e4)])], dtype=object)
    # the last 50 points are 10 km from both verticals, further from the other lines
    xy = np.vstack([rng.uniform(-2e4, 1.2e5, (3000, 2)) + 5e5,
                    np.c_[np.full(50, -2e4), rng.uniform(0, 1e5, 50)] + 5e5])
    lines = shapely.transform(lines, lambda c: c + 5e5)
    a, b, owner = _segments(lines)
    by_grid = _PointGrid(xy, 200).nearest(a, b, owner)
    for k in (1, 8):
        by_tree = _SegmentIndex(lines).query(xy, k=k, on_segments=True)
        for g, t in zip(by_grid, by_tree, strict=True):
            np.testing.assert_array_equal(t, g)
    assert (by_grid[0][-50:] == 20).all()      # the tie goes to the first line
    assert (by_grid[1][-50:] == 1e4).all()


@pytest.mark.parametrize("engine", ["pandas", "dask"])
def test_no_targets_at_all(client, engine):
    """No corridor, no agglomeration: NaN distances and no id (the pandas engine
    raised IndexError before)."""
    deposits = _deposits(n=40)
    none = gpd.GeoDataFrame({"kind": pd.Series([], dtype=object)}, geometry=[], crs=CRS)
    options = {"engine": engine, **({"scheduler": client} if engine == "dask" else {})}
    out = acc.corridor_distances(deposits, none, kinds=["rail"], **options)
    assert out["dist_rail_km"].isna().all() and out["dist_corridor_km"].isna().all()
    assert out["nearest_corridor_id"].isna().all()
    out = acc.agglomeration_distances(deposits, none, **options)
    assert out["dist_agglomeration_km"].isna().all()
    assert out["nearest_agglomeration_centre_id"].isna().all()
    if engine == "dask":
        origins = dask_geopandas.from_geopandas(deposits, npartitions=2)
        lazy = acc.agglomeration_distances(origins, none, engine="dask")
        pd.testing.assert_frame_equal(
            lazy.compute(scheduler=client),
            acc.agglomeration_distances(origins.compute(scheduler=client), none))


# --------------------------------------------------------------------------- lazy
def _spatial(client, deposits: gpd.GeoDataFrame, npartitions: int):
    """Dask origins in strips of x (compact partitions, which every corridor crosses),
    with empty partitions made by a filter."""
    by_x = deposits.reset_index().iloc[np.argsort(deposits.geometry.x.to_numpy(),
                                                  kind="stable")]
    lazy = dask_geopandas.from_geopandas(by_x, npartitions=npartitions, sort=False)
    return lazy[lazy.geometry.x < X0 + W / 2]   # the eastern partitions become empty


def test_lazy_origins_equal_pandas_on_the_same_rows(client):
    deposits, corridors = _deposits(), _corridors()
    lazy = _spatial(client, deposits, 8)
    rows = lazy.compute(scheduler=client)
    sizes = lazy.map_partitions(len).compute(scheduler=client)
    assert (sizes == 0).any() and (sizes > 0).sum() > 1
    result = acc.corridor_distances(lazy, corridors, engine="dask")
    assert isinstance(result, dask_geopandas.GeoDataFrame)
    expected = acc.corridor_distances(rows, corridors)
    # the meta is right: same columns and dtypes as the computed frame
    pd.testing.assert_series_equal(result.dtypes, expected.dtypes)
    # exact: a partition of about 500 points takes the segment KD-tree where the whole
    # layer takes the grid, and both searches give the same bits
    pd.testing.assert_frame_equal(result.compute(scheduler=client), expected,
                                  check_exact=True)


def test_lazy_agglomeration_distances(client):
    deposits, towns = _deposits(), _agglomerations()
    lazy = _spatial(client, deposits, 6)
    result = acc.agglomeration_distances(lazy, towns, engine="dask")
    expected = acc.agglomeration_distances(lazy.compute(scheduler=client), towns)
    pd.testing.assert_series_equal(result.dtypes, expected.dtypes)
    pd.testing.assert_frame_equal(result.compute(scheduler=client), expected,
                                  check_exact=True)


# --------------------------------------------------------------------------- agglomerations
@pytest.mark.parametrize("npartitions", [1, 4])
def test_agglomeration_distances_equal_pandas(client, npartitions):
    deposits, towns = _deposits(), _agglomerations()
    expected = acc.agglomeration_distances(deposits, towns)
    got = acc.agglomeration_distances(deposits, towns, engine="dask", scheduler=client,
                                      npartitions=npartitions)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    territories = _squares(5)
    pd.testing.assert_frame_equal(
        acc.agglomeration_distances(territories, towns, engine="dask", scheduler=client,
                                    npartitions=npartitions),
        acc.agglomeration_distances(territories, towns), check_exact=True)


def test_agglomeration_hand_worked(client):
    """Square town [0, 4 km]²: (7 km, 8 km) is sqrt(3² + 4²) = 5 km from its corner
    and sqrt(5² + 6²) km from its representative point (2 km, 2 km); a point inside
    is 0 km from the edge."""
    town = gpd.GeoDataFrame(geometry=[shapely.box(X0, Y0, X0 + 4_000, Y0 + 4_000)],
                            index=["T"], crs=CRS)
    assert shapely.equals(shapely.point_on_surface(town.geometry.iloc[0]),
                          shapely.Point(X0 + 2_000, Y0 + 2_000))
    origins = gpd.GeoDataFrame(geometry=shapely.points([X0 + 7_000, X0 + 1_000],
                                                       [Y0 + 8_000, Y0 + 2_000]), crs=CRS)
    got = acc.agglomeration_distances(origins, town, engine="dask", scheduler=client,
                                      npartitions=2)
    assert got["dist_agglomeration_km"].tolist() == [5.0, 0.0]
    assert got["dist_agglomeration_centre_km"].iloc[0] == pytest.approx(np.sqrt(61.0),
                                                                         rel=1e-12)
    assert got["nearest_agglomeration_id"].tolist() == ["T", "T"]


# --------------------------------------------------------------------------- broadcast
def _events(client) -> dict:
    return {w: r["events"] for w, r in client.run(_distance.worker_events).items()}


def _delta(before: dict, after: dict, kind: str) -> dict:
    """Per event key (token and what), the count added on all workers together."""
    out: dict = {}
    for worker, events in after.items():
        for key, count in events.items():
            if key[0] == kind:
                added = count - before.get(worker, {}).get(key, 0)
                if added:
                    out[key] = out.get(key, 0) + added
    return out


@pytest.mark.parametrize("lazy", [False, True])
def test_targets_sent_and_indexed_once_per_worker(client, lazy):
    """8 partitions on 2 workers: the corridors are unpickled at most once per worker
    and each kind's search structure is built at most once per worker (not once per
    partition)."""
    deposits, corridors = _deposits(n=800), _corridors(n_lines=30, n_vertices=200)
    before = _events(client)
    if lazy:
        acc.corridor_distances(dask_geopandas.from_geopandas(deposits, npartitions=8),
                               corridors, engine="dask").compute(scheduler=client)
    else:
        acc.corridor_distances(deposits, corridors, engine="dask", scheduler=client,
                               npartitions=8)
    after = _events(client)
    loads, builds = _delta(before, after, "load"), _delta(before, after, "build")
    n_workers = len(after)
    assert len(loads) == 1 and 1 <= sum(loads.values()) <= n_workers
    indexes = {k: v for k, v in builds.items() if k[2] == "segment_index"}
    assert {k[3] for k in indexes} == {"rail", "road_trunk"}
    assert all(1 <= v <= n_workers for v in indexes.values())


# --------------------------------------------------------------------------- errors
def test_bad_engine_and_inputs(client):
    deposits, corridors = _deposits(n=50), _corridors()
    with pytest.raises(ValueError, match="engine must be 'pandas' or 'dask'"):
        acc.corridor_distances(deposits, corridors, engine="spark")
    with pytest.raises(ValueError, match="engine must be 'pandas' or 'dask'"):
        acc.agglomeration_distances(deposits, _agglomerations(), engine="ray")
    with pytest.raises(TypeError, match=r"dask_geopandas\.GeoDataFrame"):
        acc.corridor_distances(pd.DataFrame(deposits), corridors, engine="dask",
                               scheduler=client)
    with pytest.raises(CRSError, match="different CRS"):
        acc.corridor_distances(dask_geopandas.from_geopandas(deposits.to_crs("EPSG:32646"),
                                                             npartitions=2),
                               corridors, engine="dask")
    wrong = _population()
    wrong = Raster(wrong.data, wrong.transform, pyproj.CRS("EPSG:32646"), None, source="pop")
    with pytest.raises(CRSError, match="reproject the raster"):
        acc.corridor_distances(_squares(3), corridors, population=wrong, engine="dask",
                               scheduler=client)
    with pytest.raises(KeyError, match="kind"):
        acc.corridor_distances(deposits, corridors.drop(columns="kind"), engine="dask",
                               scheduler=client)


def test_row_error_raised_from_a_partition(client):
    """Lazy origins are checked partition by partition with the pandas engine's message."""
    deposits = _deposits(n=40)
    geoms = np.asarray(deposits.geometry.array).copy()
    geoms[33] = shapely.Point()
    broken = deposits.set_geometry(gpd.GeoSeries(geoms, index=deposits.index, crs=CRS))
    result = acc.corridor_distances(dask_geopandas.from_geopandas(broken, npartitions=4),
                                    _corridors(), engine="dask")
    with pytest.raises(ValueError, match="missing or empty geometries"):
        result.compute(scheduler=client)
