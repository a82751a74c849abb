"""density.kernel_density_geotiff: the tiled Dask engine equals the whole-grid computation.

The reference is ``density.kernel_density(...).values`` on the same points (the in-memory
binned FFT); the Dask engine bins per partition and convolves per tile with a halo, so
its values may differ only by the order of additions and the FFT sizes: the tests
require 1e-9 of the peak, the same NaN cells, shape, transform and CRS. The cluster is
real (the session's two worker processes); files are real GeoTIFFs read back by
rasterio. Hand-worked values pin the surface itself (one point's peak is the kernel
formula, the mass integrates to Σ weights).
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely

from minespace import density, scale
from minespace._tiled import has_cog
from minespace.errors import CRSError, ResourceError

distributed = pytest.importorskip("distributed")
pytest.importorskip("dask_geopandas")

CRS = "EPSG:32645"
X0, Y0 = 500_000.0, 6_000_000.0


@pytest.fixture(scope="module")
def client(dask_client):
    return dask_client


def _clusters(n=300, seed=0):
    """Two clusters of points with weights and a commodity (canonical columns)."""
    rng = np.random.default_rng(seed)
    xy = np.r_[rng.normal(0, 4000, (n // 2, 2)), rng.normal(15000, 2500, (n - n // 2, 2))]
    xy += (X0, Y0)
    return gpd.GeoDataFrame(
        {"deposit_id": [f"D{i:03d}" for i in range(n)],
         "commodity": rng.choice(["coal", "gold"], n),
         "output_mt": rng.uniform(0.5, 3.0, n)},
        geometry=shapely.points(xy), crs=CRS)


def _mask():
    """A triangle with slanted edges over part of the clusters."""
    return gpd.GeoSeries([shapely.Polygon([(X0 - 12_000, Y0 - 9_000), (X0 + 24_000, Y0 - 2_000),
                                           (X0 + 6_000, Y0 + 22_000)])], crs=CRS)


def _read(path):
    with rasterio.open(path) as src:
        return (src.read(1, masked=True).filled(np.nan).astype(float), src.transform, src.crs,
                src.profile, src.tags(ns="IMAGE_STRUCTURE"))


def _assert_same(path, grid, rtol=1e-9):
    values, transform, crs, _, _ = _read(path)
    assert values.shape == grid.values.shape
    assert transform == grid.transform
    assert crs == grid.crs
    np.testing.assert_array_equal(np.isnan(values), np.isnan(grid.values))
    peak = np.nanmax(grid.values)
    assert peak > 0
    assert np.nanmax(np.abs(values - grid.values)) <= rtol * peak
    return values


# --------------------------------------------------------------------------- equality
@pytest.mark.slow
@pytest.mark.parametrize("kernel", ["quartic", "gaussian"])
def test_default_bandwidth_weighted_masked_equals_whole_grid(client, tmp_path, kernel):
    # default bandwidth (the rule, reduced over partitions, exact median) and default cell
    # h/20; weights; a mask; tiles of 64 cells with halos of 20 (quartic) or 100
    # (gaussian: the halo spans two tiles on each side)
    deps = _clusters()
    kw = dict(kernel=kernel, weight="output_mt", mask=_mask())
    grid = density.kernel_density(deps, **kw)
    path = density.kernel_density_geotiff(deps, tmp_path / "kde.tif", engine="dask",
                                          scheduler=client, tile_cells=64, dtype="float64",
                                          npartitions=3, **kw)
    assert path == tmp_path / "kde.tif"
    values = _assert_same(path, grid)
    assert np.isnan(values).any() and (values > 0).any()
    with rasterio.open(path) as src:
        assert float(src.tags()["bandwidth_km"]) == pytest.approx(grid.bandwidth_km, rel=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kde.tif"]  # no temporary left


def test_points_on_tile_borders_and_grid_corners(client, tmp_path):
    # cell 1 km, nodes at cell centres; tiles of 8 cells: points exactly on the nodes
    # either side of a tile border, on a cell edge midway between two tiles' nodes, and
    # at the four corners of the grid given by bounds (the binning snaps them to the
    # corner nodes); halo 3 cells
    minx, miny = X0, Y0
    bounds = (minx, miny, minx + 40_000, miny + 32_000)
    node = lambda j: minx + 500 + 1000 * j  # noqa: E731  (x of node j)
    row = lambda i: miny + 500 + 1000 * i   # noqa: E731
    pts = [(node(7), row(8)), (node(8), row(7)), (node(16), row(16)), (node(15), row(15)),
           (minx + 8000, miny + 16000), (minx + 24_000, row(3)),
           (minx, miny), (minx + 40_000, miny), (minx, miny + 32_000),
           (minx + 40_000, miny + 32_000), (node(20), miny + 16_000)]
    deps = gpd.GeoDataFrame({"w": np.arange(1.0, len(pts) + 1)},
                            geometry=shapely.points(pts), crs=CRS)
    kw = dict(bandwidth_km=3, cell_km=1, bounds=bounds, weight="w")
    grid = density.kernel_density(deps, **kw)
    # the four corner points keep their whole mass on the grid's corner nodes
    assert grid.values.shape == (32, 40)
    path = density.kernel_density_geotiff(scale.to_dask(deps, npartitions=4),
                                          tmp_path / "b.tif", engine="dask", scheduler=client,
                                          tile_cells=8, dtype="float64", **kw)
    _assert_same(path, grid)


def test_tiles_smaller_than_the_halo(client, tmp_path):
    # bandwidth 9 km on 1 km cells: a halo of 9 cells around tiles of 4, so every tile
    # gathers bins from up to 3 tiles away on each side
    deps = _clusters(120, seed=3)
    kw = dict(bandwidth_km=9, cell_km=1.5, kernel="quartic", bounds=(X0 - 15_000, Y0 - 12_000,
                                                                     X0 + 30_000, Y0 + 27_000))
    grid = density.kernel_density(deps, **kw)
    path = density.kernel_density_geotiff(deps, tmp_path / "h.tif", engine="dask",
                                          scheduler=client, tile_cells=4, dtype="float64",
                                          npartitions=2, **kw)
    _assert_same(path, grid)


def test_empty_tiles_empty_partitions_and_parquet_input(client, tmp_path):
    # two tight clusters 60 km apart: the tiles between them have no bin within the
    # kernel's reach (all zero); one of the three GeoParquet files is empty
    rng = np.random.default_rng(5)
    xy = np.r_[rng.normal(0, 500, (40, 2)), rng.normal(0, 500, (40, 2)) + np.array([60_000, 0])]
    xy += (X0, Y0)
    deps = gpd.GeoDataFrame({"deposit_id": [f"D{i}" for i in range(80)],
                             "commodity": "coal", "output_mt": rng.uniform(1, 2, 80)},
                            geometry=shapely.points(xy), crs=CRS)
    folder = tmp_path / "deposits"
    folder.mkdir()
    deps.iloc[:50].to_parquet(folder / "a.parquet")
    deps.iloc[:0].to_parquet(folder / "b.parquet")
    deps.iloc[50:].to_parquet(folder / "c.parquet")
    kw = dict(bandwidth_km=4, cell_km=1, weight="output_mt")
    grid = density.kernel_density(deps, **kw)
    path = density.kernel_density_geotiff(folder, tmp_path / "e.tif", engine="dask",
                                          scheduler=client, tile_cells=10, dtype="float64",
                                          **kw)
    values = _assert_same(path, grid)
    rows, cols = values.shape
    empty = [(r, c) for r in range(0, rows, 10) for c in range(0, cols, 10)
             if not values[r:r + 10, c:c + 10].any()]
    assert len(empty) >= 2  # whole tiles of zeros between the clusters


def test_single_tile_file_is_tiled_compressed_and_cog(client, tmp_path):
    deps = _clusters(100, seed=1)
    kw = dict(bandwidth_km=3, cell_km=0.1, mask=_mask())
    grid = density.kernel_density(deps, **kw)
    assert 256 < min(grid.values.shape) and max(grid.values.shape) < 5000
    path = density.kernel_density_geotiff(deps, tmp_path / "one.tif", engine="dask",
                                          scheduler=client, tile_cells=5000, **kw)
    values, _, _, profile, structure = _read(path)
    assert profile["tiled"] and profile["compress"] == "deflate"
    assert profile["dtype"] == "float32" and profile["nodata"] == -9999.0
    assert (profile["blockxsize"], profile["blockysize"]) == (256, 256)
    if has_cog():
        assert structure["LAYOUT"] == "COG"
    with rasterio.open(path) as src:
        assert src.overviews(1)  # over one 256-cell block: overviews
    # float32 file: each value is the in-memory value rounded to float32 (within 2 ulps)
    peak = np.nanmax(grid.values)
    np.testing.assert_array_equal(np.isnan(values), np.isnan(grid.values))
    assert np.nanmax(np.abs(values - grid.values.astype("float32"))) <= 2.0**-22 * peak


def test_pandas_engine_writes_the_in_memory_values(tmp_path):
    deps = _clusters(100, seed=2)
    kw = dict(bandwidth_km=2, cell_km=0.5, weight="output_mt", mask=_mask())
    grid = density.kernel_density(deps, **kw)
    path = density.kernel_density_geotiff(deps, tmp_path / "p.tif", tile_cells=16,
                                          dtype="float64", **kw)
    values, transform, _, profile, _ = _read(path)
    np.testing.assert_array_equal(values, grid.values)  # written, not recomputed
    assert transform == grid.transform and profile["compress"] == "deflate"


# --------------------------------------------------------------------------- hand-worked
def test_one_point_peak_is_the_kernel_formula_and_mass_is_kept(client, tmp_path):
    # points exactly on nodes (cell centres: the grid is aligned on multiples of 250 m,
    # nodes at +125 m), 20 km apart, weights 2 and 0.5, h = 2 km: each peak is
    # w·K(0)/h² = w·(3/π)/h² per km² (quartic), i.e. 2·3/(4π) = 0.477465 and 0.119366;
    # tiles of 16 cells put a tile border between them
    pts = [(X0 + 125, Y0 + 125), (X0 + 20_125, Y0 + 125)]
    deps = gpd.GeoDataFrame({"w": [2.0, 0.5]}, geometry=shapely.points(pts), crs=CRS)
    path = density.kernel_density_geotiff(deps, tmp_path / "k.tif", engine="dask",
                                          scheduler=client, bandwidth_km=2, cell_km=0.25,
                                          weight="w", tile_cells=16, dtype="float64")
    with rasterio.open(path) as src:
        values = src.read(1)
        rows, cols = rasterio.transform.rowcol(src.transform, [p[0] for p in pts],
                                               [p[1] for p in pts])
    assert values[rows[0], cols[0]] == pytest.approx(2 * 3 / (4 * math.pi), rel=1e-12)
    assert values[rows[1], cols[1]] == pytest.approx(0.5 * 3 / (4 * math.pi), rel=1e-12)
    assert values.max() == values[rows[0], cols[0]]
    # mass: Σ values · cell² = Σ w = 2.5, up to the kernel's discretisation on 1/8 h cells
    assert values.sum() * 0.25**2 == pytest.approx(2.5, rel=5e-3)


# --------------------------------------------------------------------------- errors
def test_a_tile_too_large_for_a_worker_is_refused(client, tmp_path):
    # the grid (10^5 x 10^5 cells) is not refused by the Dask engine: only a tile that
    # would not fit a worker (1 GiB here) is, before any binning
    deps = _clusters(50)
    with pytest.raises(ResourceError, match="tile_cells") as err:
        density.kernel_density_geotiff(deps, tmp_path / "big.tif", engine="dask",
                                       scheduler=client, bandwidth_km=2, cell_km=0.1,
                                       bounds=(X0 - 5e6, Y0 - 5e6, X0 + 5e6, Y0 + 5e6),
                                       tile_cells=20_000)
    assert "one tile" in str(err.value)
    assert not list(tmp_path.iterdir())


def test_bad_inputs(client, tmp_path):
    deps = _clusters(50)
    with pytest.raises(ValueError, match="'pandas' or 'dask'"):
        density.kernel_density_geotiff(deps, tmp_path / "x.tif", engine="spark")
    with pytest.raises(ValueError, match="tile_cells"):
        density.kernel_density_geotiff(deps, tmp_path / "x.tif", tile_cells=0)
    with pytest.raises(CRSError, match="metric"):
        density.kernel_density_geotiff(scale.to_dask(deps.to_crs(4326), npartitions=2),
                                       tmp_path / "x.tif", engine="dask", scheduler=client,
                                       bandwidth_km=1)
    with pytest.raises(CRSError, match="mask"):
        density.kernel_density_geotiff(deps, tmp_path / "x.tif", engine="dask",
                                       scheduler=client, bandwidth_km=1,
                                       mask=_mask().to_crs(3857))
    # a negative weight in one partition: the in-memory engine's error, raised from the
    # worker; an existing file is left as it was
    target = tmp_path / "x.tif"
    target.write_bytes(b"previous")
    bad = deps.copy()
    bad.loc[bad.index[40], "output_mt"] = -1.0
    with pytest.raises(ValueError, match="output_mt"):
        density.kernel_density_geotiff(bad, target, engine="dask", scheduler=client,
                                       bandwidth_km=1, weight="output_mt", npartitions=3)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["x.tif"]
    with pytest.raises(ValueError, match="two deposits"):
        density.kernel_density_geotiff(deps.iloc[:1], tmp_path / "y.tif", engine="dask",
                                       scheduler=client)


def test_gaussian_truncation_circle_does_not_depend_on_the_last_bit_of_h():
    # with the default cell h/20 the nodes at (a, b) cells with a² + b² = 100² lie exactly
    # on the truncation circle u = 5; they are kept for every h, so that the tiled engine
    # (whose h, reduced over partitions, may differ from the in-memory one by an ulp)
    # uses the same kernel. Nodes kept: the lattice points with a² + b² <= 100²
    # (counted here with integer arithmetic)
    inside = sum(2 * math.isqrt(100**2 - a * a) + 1 for a in range(-100, 101))
    for h in np.linspace(1000.0, 9000.0, 41):
        for bump in (h, np.nextafter(h, 0), np.nextafter(h, np.inf)):
            table = density._kernel_table("gaussian", bump, bump / 20.0)
            assert int((table > 0).sum()) == inside, bump


@pytest.mark.parametrize("count", [101, 100])
def test_distributed_median_narrows_to_numpy_median(client, monkeypatch, count):
    # the exact median of the bandwidth rule, forced through several histogram passes
    # (4 bins, gather at most 3 candidates): equal to numpy's median of all distances,
    # odd and even counts, partitions of unequal size (one empty)
    from minespace.scale import _density as SD

    monkeypatch.setattr(SD, "MEDIAN_BINS", 4)
    monkeypatch.setattr(SD, "MEDIAN_GATHER", 3)
    passes = []
    submit = client.submit

    def spy(func, *args, **kwargs):
        if func is SD._sum_histograms:
            passes.append(1)
        return submit(func, *args, **kwargs)

    monkeypatch.setattr(client, "submit", spy)
    rng = np.random.default_rng(count)
    parts = np.split(np.arange(count), [7, 40, 40])

    def median(xy, centre):
        pts = client.scatter([(xy[p], np.ones(len(p))) for p in parts], hash=False)
        top = float(np.sqrt(((xy - centre) ** 2).sum(axis=1)).max()) * 1.001 + 1
        passes.clear()
        return SD._median_distance(client, pts, centre, count, top)

    xy = rng.normal(0, 1000, (count, 2)) + np.array([X0, Y0])
    centre = xy.mean(axis=0)
    d = np.sqrt(((xy - centre) ** 2).sum(axis=1))
    assert median(xy, centre) == np.median(d)
    assert len(passes) >= 2  # narrowed, then gathered
    # 60 % of the points at one place: the middle ranks are ties, found without gathering
    xy[: int(0.6 * count)] = xy[0]
    d = np.sqrt(((xy - centre) ** 2).sum(axis=1))
    assert median(xy, centre) == np.median(d) == d[0]
    # every point at one distance (a 3-4-5 triangle): 500 m
    same = np.tile([[X0 + 300.0, Y0 + 400.0]], (count, 1))
    assert median(same, np.array([X0, Y0])) == 500.0
