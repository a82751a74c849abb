"""Zonal statistics of rasters by territory: hand-worked values, a peer check against
whole-raster masks, and engine="dask" (one task per block window, on a real
two-process LocalCluster) equal to engine="pandas" on real GeoTIFF files.

Equality: counts, min and max exact; sums and means within 1e-9 relative (the blocks'
partial sums are added in another order).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import rasterio
import rasterio.features
import shapely
from affine import Affine
from rasterio.transform import from_origin

import minespace as ms
from minespace import zonal
from minespace.accessibility import zonal_travel_time
from minespace.errors import CRSError, ResourceError
from minespace.io import Raster

CRS = "EPSG:32645"
X0, Y0 = 400_000.0, 6_100_000.0          # top-left corner of the test rasters
XRES, YRES = 1_000.0, 700.0              # non-square cells, north-up (negative y step)
H, W = 90, 120                           # rows, columns
NODATA = -9999.0


# --------------------------------------------------------------------------- data
def _values(seed: int = 3) -> np.ndarray:
    """Positive values with nodata cells, a NaN and an infinity, float32."""
    rng = np.random.default_rng(seed)
    values = rng.gamma(2.0, 50.0, (H, W)).astype("float32")
    values[rng.random((H, W)) < 0.05] = NODATA
    values[10:14, 30:37] = NODATA        # a nodata patch (territory "hole" below)
    values[5, 5] = np.nan
    values[6, 6] = np.inf
    return values


def _write(path, values, *, tiled: bool, transform=None, nodata=NODATA):
    profile = {"driver": "GTiff", "width": values.shape[1], "height": values.shape[0],
               "count": 1, "dtype": str(values.dtype), "crs": CRS, "nodata": nodata,
               "transform": transform or from_origin(X0, Y0, XRES, YRES),
               "compress": "deflate"}
    if tiled:
        profile.update(tiled=True, blockxsize=16, blockysize=16)
    else:
        profile.update(tiled=False, blockysize=3)          # strips of 3 rows
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)
    return path


def _territories() -> gpd.GeoDataFrame:
    """Hexagons (coordinates off the cell grid) over the west, a large irregular
    polygon spanning many blocks in the east, a polygon smaller than a cell, one in a
    nodata patch, one off the raster, a multipolygon and a polygon with a hole; nothing
    in the south-east corner (blocks meeting no territory). Non-overlapping."""
    left, top = X0, Y0
    boundary = gpd.GeoSeries([shapely.box(left + 3_300, top - 40_000, left + 55_000,
                                          top - 1_234)], crs=CRS)
    hexes = ms.territories.hex_grid(boundary, cell_km=4.3)
    hexes = gpd.GeoDataFrame(geometry=hexes.geometry.values,
                             index=[f"H{i:03d}" for i in range(len(hexes))], crs=CRS)
    big = shapely.Polygon([(left + 60_000, top - 3_000), (left + 117_500, top - 7_777),
                           (left + 110_000, top - 45_000), (left + 80_000, top - 30_000),
                           (left + 62_222, top - 50_000)])
    hole = shapely.box(left + 30_000, top - 14 * YRES, left + 37_000, top - 10 * YRES
                       ).buffer(-10)                      # centres all in the nodata patch
    tiny = shapely.box(left + 70_100, top - 55_300, left + 70_400, top - 55_100)
    tiny_edge = shapely.box(left + 63_950, top - 60_010, left + 64_050, top - 59_990)
    off = shapely.box(left - 9_000, top + 2_000, left - 5_000, top + 6_000)
    multi = shapely.MultiPolygon([shapely.box(left + 70_000, top - 62_000, left + 74_000,
                                              top - 58_000),
                                  shapely.box(left + 76_000, top - 62_000, left + 80_000,
                                              top - 58_000)])
    donut = shapely.box(left + 5_000, top - 60_000, left + 25_000, top - 45_000).difference(
        shapely.box(left + 10_000, top - 57_000, left + 20_000, top - 48_000))
    others = gpd.GeoDataFrame(
        geometry=[big, hole, tiny, tiny_edge, off, multi, donut],
        index=["big", "hole", "tiny", "tiny_edge", "off", "multi", "donut"], crs=CRS)
    return pd.concat([hexes, others])


def _assert_same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(got.columns) == list(expected.columns)
    assert got.index.equals(expected.index)
    for c in got.columns:
        if c.endswith("count"):
            assert got[c].dtype == np.int64
            np.testing.assert_array_equal(got[c], expected[c], err_msg=c)
        elif c.endswith(("min", "max")):
            np.testing.assert_array_equal(got[c], expected[c], err_msg=c)
        else:
            np.testing.assert_allclose(got[c], expected[c], rtol=1e-9, err_msg=c)


@pytest.fixture(scope="module")
def client(dask_client):
    return dask_client


@pytest.fixture
def files(tmp_path):
    values = _values()
    return {"tiled": _write(tmp_path / "tiled.tif", values, tiled=True),
            "striped": _write(tmp_path / "striped.tif", values, tiled=False)}


# --------------------------------------------------------------------------- by hand
@pytest.mark.parametrize("block_cells", [1, 2, 1000])
@pytest.mark.parametrize("in_memory", [False, True])
def test_hand_worked_sums_on_a_tiny_raster(tmp_path, block_cells, in_memory):
    # 3 rows x 4 columns of 2 km x 1 km cells: cell (r, c) has its centre at
    # x = 1000 + 2000 c, y = 2500 - 1000 r
    values = np.array([[1, 2, 3, 4],
                       [5, -1, 7, 8],        # -1: nodata
                       [9, 10, 11, 12]], dtype="float32")
    path = _write(tmp_path / "tiny.tif", values, tiled=False,
                  transform=from_origin(0, 3000, 2000, 1000), nodata=-1)
    terr = gpd.GeoDataFrame(geometry=[
        shapely.box(0, 1200, 2400, 3000),       # centres x=1000 (c0); y=2500, 1500 (r0, r1)
        shapely.box(4000, 0, 8000, 2000),       # x=5000, 7000 (c2, c3); y=1500, 500 (r1, r2)
        shapely.box(900, 100, 1100, 300),       # no centre; lies in cell (2, 0)
        shapely.box(2100, 1100, 2300, 1300),    # no centre; lies in cell (1, 1), nodata
        shapely.box(2900, 1400, 3100, 1600),    # holds the centre of (1, 1), nodata
    ], index=["a", "b", "c", "d", "e"], crs=CRS)
    raster = ms.read_raster(path) if in_memory else path
    out = zonal.zonal_stats(terr, raster, block_cells=block_cells)
    assert list(out.columns) == ["count", "sum", "mean", "min", "max"]
    assert out.loc["a"].tolist() == [2, 1 + 5, (1 + 5) / 2, 1, 5]
    assert out.loc["b"].tolist() == [4, 7 + 8 + 11 + 12, 38 / 4, 7, 12]
    assert out.loc["c"].tolist() == [1, 9, 9, 9, 9]           # the tiny-polygon rule
    # d: the cell under it is nodata; e: it has a cell (nodata), so no tiny rule
    for name in ("d", "e"):
        assert out.loc[name, "count"] == 0 and out.loc[name].iloc[1:].isna().all()


@pytest.mark.parametrize("block_cells", [1, 1000])
def test_overlapping_territories_give_a_cell_to_the_later_row(tmp_path, block_cells):
    values = np.arange(1, 13, dtype="float32").reshape(3, 4)
    path = _write(tmp_path / "tiny.tif", values, tiled=False,
                  transform=from_origin(0, 3000, 2000, 1000))
    first = shapely.box(0, 0, 4000, 3000)        # columns 0-1, all rows
    second = shapely.box(2500, 0, 8000, 2000)     # columns 1-3, rows 1-2
    terr = gpd.GeoDataFrame(geometry=[first, second], index=["first", "second"], crs=CRS)
    out = zonal.zonal_stats(terr, path, stats=("count", "sum"), block_cells=block_cells)
    # cells (1, 1) = 6 and (2, 1) = 10 lie in both and count for "second" only
    assert out.loc["first"].tolist() == [4, 1 + 2 + 5 + 9]
    assert out.loc["second"].tolist() == [6, 6 + 7 + 8 + 10 + 11 + 12]
    swapped = zonal.zonal_stats(terr.iloc[::-1], path, stats=("count", "sum"),
                                block_cells=block_cells)
    assert swapped.loc["first"].tolist() == [6, 1 + 2 + 5 + 6 + 9 + 10]


def test_windows_follow_the_tiles():
    assert zonal._windows((5, 7), 3, None) == [(0, 3, 0, 3), (0, 3, 3, 6), (0, 3, 6, 7),
                                               (3, 5, 0, 3), (3, 5, 3, 6), (3, 5, 6, 7)]
    # 16 x 16 tiles: 20 cells -> one tile, 40 -> two (round(2.5) = 2), 3 -> one tile
    assert {(r1 - r0, c1 - c0) for r0, r1, c0, c1 in zonal._windows((64, 64), 20, (16, 16))
            } == {(16, 16)}
    assert zonal._windows((64, 64), 40, (16, 16))[0] == (0, 32, 0, 32)
    assert zonal._windows((64, 64), 3, (16, 16))[0] == (0, 16, 0, 16)
    # strips of 3 rows over 120 columns: full-width bands of about 20^2 = 400 cells
    assert zonal._windows((90, 120), 20, (3, 120))[:2] == [(0, 3, 0, 120), (3, 6, 0, 120)]
    assert zonal._windows((90, 120), 40, (3, 120))[0] == (0, 12, 0, 120)


# --------------------------------------------------------------------------- peer check
def _peer(terr: gpd.GeoDataFrame, path) -> pd.DataFrame:
    """Whole-raster masks, one polygon at a time (rasterio.features.geometry_mask), and
    rasterio's own row/column of the representative point for polygons without cells."""
    with rasterio.open(path) as src:
        data = src.read(1, masked=True)
        transform, shape = src.transform, (src.height, src.width)
        values = data.filled(np.nan).astype(float)
        rows = []
        for geom in terr.geometry:
            inside = ~rasterio.features.geometry_mask([geom], out_shape=shape,
                                                      transform=transform)
            if not inside.any():
                p = shapely.point_on_surface(geom)
                r, c = src.index(p.x, p.y)
                if 0 <= r < shape[0] and 0 <= c < shape[1]:
                    inside[r, c] = True
            v = values[inside]
            v = v[np.isfinite(v)]
            rows.append([v.size, v.sum() if v.size else np.nan,
                         v.mean() if v.size else np.nan, v.min() if v.size else np.nan,
                         v.max() if v.size else np.nan])
    out = pd.DataFrame(rows, columns=list(zonal.STATS), index=terr.index)
    return out.astype({"count": np.int64})


@pytest.mark.parametrize("kind", ["tiled", "striped"])
@pytest.mark.parametrize("block_cells", [10**6, 17])
def test_pandas_engine_equals_whole_raster_masks(files, kind, block_cells):
    terr = _territories()
    got = zonal.zonal_stats(terr, files[kind], block_cells=block_cells)
    _assert_same(got, _peer(terr, files[kind]))
    assert got.loc["off"].iloc[1:].isna().all() and got.loc["off", "count"] == 0
    assert got.loc["hole", "count"] == 0                # cells, all nodata
    assert got.loc["tiny", "count"] == 1 and got.loc["big", "count"] > 500


def _squares_on_centres() -> gpd.GeoDataFrame:
    """3 km x 2.1 km rectangles whose every edge passes through a row or column of cell
    centres (the ties of the cell-centre rule)."""
    xs = X0 + XRES / 2 + 3 * XRES * np.arange(-1, 41)
    ys = Y0 - YRES / 2 - 3 * YRES * np.arange(-1, 31)
    x, y = np.meshgrid(xs, ys)
    geoms = shapely.box(x.ravel(), y.ravel() - 3 * YRES, x.ravel() + 3 * XRES, y.ravel())
    return gpd.GeoDataFrame(geometry=geoms, crs=CRS)


@pytest.mark.parametrize("layer", ["territories", "edges on cell centres"])
def test_blocks_assign_the_cells_of_a_whole_raster_rasterisation(files, layer):
    # the cell-centre labels of every block equal those of one rasterize call over the
    # whole raster, including the polygons cut by block borders
    terr = _territories() if layer == "territories" else _squares_on_centres()
    with rasterio.open(files["tiled"]) as src:
        transform, shape = src.transform, (src.height, src.width)
    geoms = np.asarray(terr.geometry.array)
    whole = rasterio.features.rasterize(zip(geoms, range(len(geoms)), strict=True),
                                        out_shape=shape, transform=transform, fill=-1,
                                        dtype="int32")
    index = zonal._ZonalIndex(geoms)
    crossing = 0
    for r0, r1, c0, c1 in zonal._windows(shape, 16, (16, 16)):
        cand = index.candidates(zonal._window_boxes(transform, [(r0, r1, c0, c1)])[0])
        if not cand.size:
            continue
        local = rasterio.features.rasterize(
            zip(geoms[cand], range(cand.size), strict=True), out_shape=(r1 - r0, c1 - c0),
            transform=zonal._window_transform(transform, r0, c0), fill=-1, dtype="int32")
        labels = np.where(local >= 0, cand[np.maximum(local, 0)], -1)
        np.testing.assert_array_equal(labels, whole[r0:r1, c0:c1])
        crossing += np.isin(cand, np.unique(whole[r0:r1, c0:c1])).sum()
    assert crossing > len(np.unique(whole[whole >= 0]))   # some polygons in several blocks
    if layer != "territories":       # every cell centre lies on an edge, and is labelled
        assert (whole >= 0).all()


def test_rasters_of_other_orientations(tmp_path):
    # a south-up grid (positive y step) and the same values north-up give the same stats
    values = _values()[:40, :50]
    north = _write(tmp_path / "north.tif", values, tiled=True)
    south = _write(tmp_path / "south.tif", values[::-1].copy(), tiled=True,
                   transform=Affine(XRES, 0, X0, 0, YRES, Y0 - 40 * YRES))
    terr = _territories()
    a = zonal.zonal_stats(terr, north, block_cells=16)
    b = zonal.zonal_stats(terr, south, block_cells=16)
    _assert_same(b, a)
    _assert_same(a, _peer(terr, north))


def test_in_memory_raster_and_prefix_and_stats_order(files):
    terr = _territories()
    raster = ms.read_raster(files["tiled"])
    got = zonal.zonal_stats(terr, raster, stats=("max", "count"), prefix="pop_",
                            block_cells=23)
    assert list(got.columns) == ["pop_max", "pop_count"]
    peer = _peer(terr, files["tiled"])
    np.testing.assert_array_equal(got["pop_count"], peer["count"])
    np.testing.assert_array_equal(got["pop_max"], peer["max"])
    assert raster.data.count() == ms.read_raster(files["tiled"]).data.count()  # untouched


def test_bad_inputs(files, tmp_path):
    terr = _territories()
    with pytest.raises(CRSError, match="reproject"):
        zonal.zonal_stats(terr.to_crs("EPSG:32644"), files["tiled"])
    with pytest.raises(ValueError, match="unknown: \\['median'\\]"):
        zonal.zonal_stats(terr, files["tiled"], stats=("mean", "median"))
    with pytest.raises(ValueError, match="engine must be 'pandas' or 'dask'"):
        zonal.zonal_stats(terr, files["tiled"], engine="spark")
    with pytest.raises(ValueError, match="band 2 requested"):
        zonal.zonal_stats(terr, files["tiled"], band=2)
    with pytest.raises(ValueError, match="block_cells"):
        zonal.zonal_stats(terr, files["tiled"], block_cells=0)
    points = gpd.GeoDataFrame(geometry=[shapely.Point(X0 + 10, Y0 - 10)], index=["P7"],
                              crs=CRS)
    with pytest.raises(ValueError, match=r"'P7' is a Point\); buffer"):
        zonal.zonal_stats(points, files["tiled"])
    with pytest.raises(FileNotFoundError, match=r"nope\.tif"):
        zonal.zonal_stats(terr, tmp_path / "nope.tif")
    # a file that does not fit the memory budget is refused before it is read
    with pytest.raises(ResourceError, match="engine='dask' reads it by windows"):
        zonal.zonal_stats(terr, files["tiled"], max_memory_gb=1e-6)


def test_progress_bar_counts_blocks(files, capsys):
    zonal.zonal_stats(_territories(), files["tiled"], block_cells=16, progress=True)
    err = capsys.readouterr().err
    assert "zonal statistics" in err and "block" in err
    zonal.zonal_stats(_territories(), files["tiled"], block_cells=16, progress=False)
    assert capsys.readouterr().err == ""


def test_empty_territories_and_missing_geometry(files):
    empty = _territories().iloc[:0]
    out = zonal.zonal_stats(empty, files["tiled"])
    assert out.empty and list(out.columns) == list(zonal.STATS)
    terr = _territories().iloc[:3].copy()
    terr.loc["H001", "geometry"] = None
    out = zonal.zonal_stats(terr, files["tiled"])
    assert out.loc["H001", "count"] == 0 and np.isnan(out.loc["H001", "mean"])


# --------------------------------------------------------------------------- dask
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["tiled", "striped"])
def test_dask_equals_pandas_on_geotiff(client, files, kind):
    # plus a polygon overlapping the big one and some hexagons (later row wins)
    over = shapely.box(X0 + 40_000, Y0 - 30_000, X0 + 75_000, Y0 - 12_000)
    terr = pd.concat([_territories(), gpd.GeoDataFrame(geometry=[over], index=["over"],
                                                       crs=CRS)])
    for block_cells in (16, 40):
        expected = zonal.zonal_stats(terr, files[kind], block_cells=10**6)
        got = zonal.zonal_stats(terr, files[kind], engine="dask", scheduler=client,
                                block_cells=block_cells)
        _assert_same(got, expected)
    assert expected.loc["tiny", "count"] == 1      # sampled on a worker
    squares = _squares_on_centres()
    _assert_same(zonal.zonal_stats(squares, files[kind], engine="dask", scheduler=client,
                                   block_cells=16),
                 zonal.zonal_stats(squares, files[kind], block_cells=10**6))


_SPY = """
import minespace.scale._zonal as m
m._zonal_test_original = getattr(m, "_zonal_test_original", m._read_window)
m._zonal_test_reads = []
def _spy(path, band, window=None, _original=m._zonal_test_original,
         _reads=m._zonal_test_reads):
    _reads.append(window)
    return _original(path, band, window)
m._read_window = _spy
"""
_UNSPY = "import minespace.scale._zonal as m; m._read_window = m._zonal_test_original"


@pytest.mark.slow
def test_dask_reads_a_file_by_windows_only(client, files, monkeypatch):
    # the client never reads the file, the workers read one window per block (plus the
    # bounding window of the tiny territories' cells), never the whole file
    def whole_read(path, band, window=None):
        raise AssertionError(f"the client read {path} ({window})")

    monkeypatch.setattr(zonal, "_read_window", whole_read)
    terr = _territories()
    client.run(exec, _SPY)
    try:
        got = zonal.zonal_stats(terr, files["tiled"], engine="dask", scheduler=client,
                                block_cells=16)
        reads = [w for ws in client.run(eval, "__import__('minespace.scale._zonal', "
                                              "fromlist=['x'])._zonal_test_reads").values()
                 for w in ws]
    finally:
        client.run(exec, _UNSPY)
    monkeypatch.undo()
    _assert_same(got, zonal.zonal_stats(terr, files["tiled"], block_cells=16))
    assert reads and None not in reads
    sizes = {(r1 - r0, c1 - c0) for r0, r1, c0, c1 in reads}
    assert max(h * w for h, w in sizes) <= 16 * 16
    blocks = [w for w in reads if w in zonal._windows((H, W), 16, (16, 16))]
    assert len(blocks) == len(set(blocks)) < len(zonal._windows((H, W), 16, (16, 16)))


@pytest.mark.slow
def test_dask_in_memory_raster_and_tiny_only(client, files):
    terr = _territories()
    raster = ms.read_raster(files["tiled"])
    _assert_same(zonal.zonal_stats(terr, raster, engine="dask", scheduler=client,
                                   block_cells=16),
                 zonal.zonal_stats(terr, raster))
    # territories with no cell centre at all: only the sampling pass reads the file
    specks = gpd.GeoDataFrame(
        geometry=shapely.box(X0 + np.arange(5) * 23_000.0 + 100, Y0 - 60_000,
                             X0 + np.arange(5) * 23_000.0 + 300, Y0 - 59_900), crs=CRS)
    got = zonal.zonal_stats(specks, files["striped"], engine="dask", scheduler=client,
                            block_cells=16)
    _assert_same(got, _peer(specks, files["striped"]))


@pytest.mark.slow
def test_zonal_travel_time_dask_reads_a_path(client, tmp_path):
    from minespace.accessibility import write_geotiff

    values = np.abs(_values()).astype(float)
    values[~np.isfinite(values) | (values > 9000)] = np.nan
    tt = Raster(np.ma.masked_invalid(values), from_origin(X0, Y0, XRES, YRES),
                pyproj.CRS(CRS), None, "travel_time_min")
    path = write_geotiff(tt, tmp_path / "tt.tif")
    terr = _territories().drop(index="off")
    expected = zonal_travel_time(terr, tt)
    got = zonal_travel_time(terr, path, engine="dask", scheduler=client)
    assert isinstance(got, gpd.GeoDataFrame)
    assert list(got.columns) == [*terr.columns, "travel_time_mean_min", "travel_time_min_min"]
    np.testing.assert_allclose(got["travel_time_mean_min"], expected["travel_time_mean_min"],
                               rtol=1e-6)          # the file holds float32 minutes
    np.testing.assert_allclose(got["travel_time_min_min"], expected["travel_time_min_min"],
                               rtol=1e-6)
    with pytest.raises(CRSError, match="zonal_travel_time"):
        zonal_travel_time(terr.to_crs("EPSG:32644"), path, engine="dask", scheduler=client)
