"""ms.reproject_raster: EPSG:4326 GeoTIFFs (WorldPop/SRTM-like) to UTM 45N (Kuzbass).

Expected values come from the source file read with rasterio, from pyproj (inverse
projection of target cell centres and corners, geodesic cell areas with pyproj.Geod)
and from hand formulas, never from minespace itself.
"""

from __future__ import annotations

import numpy as np
import pyproj
import pytest
import rasterio
from rasterio.transform import from_origin

import minespace as ms
from minespace.errors import CRSError

UTM = "EPSG:32645"
RES = 1 / 120                 # 30 arc seconds, WorldPop "1 km"
LON0, LAT1 = 86.0, 55.0       # north-west corner: Kuzbass, ~1° west of UTM 45N's meridian
SHAPE = (72, 120)             # 0.6° x 1.0°
GEOD = pyproj.Geod(ellps="WGS84")
TO_LONLAT = pyproj.Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)


def _centres():
    rows, cols = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    return LON0 + (cols + 0.5) * RES, LAT1 - (rows + 0.5) * RES


def _write(path, values, nodata=None):
    values = np.asarray(values, dtype="float64")
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1],
                       height=values.shape[0], count=1, dtype="float64", crs="EPSG:4326",
                       nodata=nodata, transform=from_origin(LON0, LAT1, RES, RES)) as dst:
        dst.write(values, 1)
    return path


def _target_cells(raster, margin_deg=2 * RES):
    """Centres of the target cells, their lon/lat, and which lie well inside the source."""
    h, w = raster.shape
    rows, cols = np.mgrid[0:h, 0:w]
    x, y = raster.transform * (cols + 0.5, rows + 0.5)
    lon, lat = TO_LONLAT.transform(x, y)
    inside = ((lon > LON0 + margin_deg) & (lon < LON0 + SHAPE[1] * RES - margin_deg)
              & (lat < LAT1 - margin_deg) & (lat > LAT1 - SHAPE[0] * RES + margin_deg))
    return rows, cols, lon, lat, inside


def _geodesic_row_areas():
    """True (WGS84) area of one source cell in each row: pyproj.Geod, row by row."""
    tops = LAT1 - np.arange(SHAPE[0]) * RES
    return np.array([abs(GEOD.polygon_area_perimeter(
        [LON0, LON0 + RES, LON0 + RES, LON0], [t, t, t - RES, t - RES])[0]) for t in tops])


@pytest.fixture
def population(tmp_path):
    """A smooth population field with a block and a cell of declared nodata."""
    lon, lat = _centres()
    people = 40.0 + 30.0 * np.sin(lon * 9.0) * np.cos(lat * 7.0)
    people[20:30, 40:55] = -9999
    people[60, 100] = -9999
    return _write(tmp_path / "pop.tif", people, nodata=-9999)


# -- count: totals -----------------------------------------------------------------------

@pytest.mark.parametrize("resolution", [None, 250.0, 1000.0, 2500.0])
def test_count_keeps_the_total(population, resolution):
    with rasterio.open(population) as src:                     # independent total
        values = src.read(1)
        expected = values[values != src.nodata].sum()
    out = ms.reproject_raster(ms.read_raster(population), UTM, kind="count",
                              resolution=resolution)
    assert out.crs.equals(pyproj.CRS(UTM))
    if resolution is not None:
        assert out.res == (resolution, resolution)
    # measured: 1e-15 relative (sum resampling shares each source cell out)
    assert float(out.data.sum()) == pytest.approx(expected, rel=1e-9)


def test_uniform_density_stays_uniform_per_true_m2(tmp_path):
    density = 2.5e-4                                            # people per m² (250 / km²)
    counts = density * _geodesic_row_areas()[:, None] * np.ones(SHAPE)
    raster = ms.read_raster(_write(tmp_path / "uniform.tif", counts))
    out = ms.reproject_raster(raster, UTM, kind="count", resolution=1000.0)
    assert float(out.data.sum()) == pytest.approx(counts.sum(), rel=1e-12)
    # every target cell well inside the source: count / its true area (corners back to
    # lon/lat, geodesic polygon area) is the source density
    rows, cols, _, _, inside = _target_cells(out, margin_deg=3 * 1000 / 60_000)
    r, c = rows[inside], cols[inside]
    assert r.size > 500
    corners = np.stack([out.transform * (c + dc, r + dr)
                        for dc, dr in ((0, 0), (1, 0), (1, 1), (0, 1))])   # (4, 2, n)
    lon, lat = TO_LONLAT.transform(corners[:, 0], corners[:, 1])
    area = np.array([abs(GEOD.polygon_area_perimeter(lon[:, i], lat[:, i])[0])
                     for i in range(r.size)])
    np.testing.assert_allclose(out.data[r, c].filled(np.nan) / area, density, rtol=2e-4)


# -- continuous: an analytic plane --------------------------------------------------------

A, B = 900.0, -600.0     # metres per degree of longitude and latitude


def _plane(lon, lat):
    return 250.0 + A * (lon - LON0) + B * (lat - LAT1)


@pytest.mark.parametrize("resolution", [250.0, None, 1500.0])
def test_continuous_reproduces_a_plane(tmp_path, resolution):
    # bilinear error bound: 15 % of the change across one source cell (measured: 2 %
    # at 250 m, 11 % at the default ~660 m, where GDAL widens the kernel along
    # longitude; nearest-neighbour would be off by up to 50 %)
    tolerance_m = 0.15 * (abs(A) + abs(B)) * RES
    lon, lat = _centres()
    dem = ms.read_raster(_write(tmp_path / "dem.tif", _plane(lon, lat)))
    out = ms.reproject_raster(dem, UTM, kind="continuous", resolution=resolution)
    _, _, tlon, tlat, inside = _target_cells(out)
    assert inside.sum() > 1000
    assert not out.data.mask[inside].any()
    np.testing.assert_allclose(out.data[inside].filled(np.nan), _plane(tlon, tlat)[inside],
                               rtol=0, atol=tolerance_m)


# -- nodata ---------------------------------------------------------------------------------

def test_nodata_stays_masked(population):
    pop = ms.read_raster(population)
    lon, lat = _centres()
    dem = ms.io.Raster(np.ma.array(_plane(lon, lat), mask=pop.data.mask), pop.transform,
                       pop.crs, None)
    # the nodata block: rows 20-29, columns 40-54; one cell in, and 1.5 cells out
    block = dict(lon=(LON0 + 41 * RES, LON0 + 54 * RES), lat=(LAT1 - 29 * RES, LAT1 - 21 * RES))
    near = dict(lon=(LON0 + 38.5 * RES, LON0 + 56.5 * RES),
                lat=(LAT1 - 31.5 * RES, LAT1 - 18.5 * RES))
    for raster, kind in ((pop, "count"), (dem, "continuous")):
        out = ms.reproject_raster(raster, UTM, kind=kind, resolution=300.0)
        _, _, tlon, tlat, inside = _target_cells(out)
        in_block = ((tlon > block["lon"][0]) & (tlon < block["lon"][1])
                    & (tlat > block["lat"][0]) & (tlat < block["lat"][1]))
        assert in_block.sum() > 50
        assert out.data.mask[in_block].all(), kind                # not 0 people, not 0 m
        near_block = ((tlon > near["lon"][0]) & (tlon < near["lon"][1])
                      & (tlat > near["lat"][0]) & (tlat < near["lat"][1]))
        assert not out.data.mask[inside & ~near_block & _far_from_hole(tlon, tlat)].any()
        assert (out.data[inside & ~in_block].compressed() > 0).all()


def _far_from_hole(lon, lat):
    """Away (one source cell) from the single nodata cell at row 60, column 100."""
    return ~((np.abs(lon - (LON0 + 100.5 * RES)) < 1.5 * RES)
             & (np.abs(lat - (LAT1 - 60.5 * RES)) < 1.5 * RES))


# -- input, same CRS, errors -----------------------------------------------------------------

@pytest.mark.parametrize("kind", ["count", "continuous"])
def test_input_not_modified(population, kind):
    raster = ms.read_raster(population)
    data, mask, transform = raster.data.data.copy(), raster.data.mask.copy(), raster.transform
    ms.reproject_raster(raster, UTM, kind=kind)
    np.testing.assert_array_equal(raster.data.data, data)
    np.testing.assert_array_equal(raster.data.mask, mask)
    assert raster.transform == transform and raster.crs.equals(pyproj.CRS(4326))


def test_same_crs_without_resolution_is_an_unresampled_copy():
    values = np.ma.masked_invalid(np.array([[1.0, np.nan], [3.0, 4.0]]))
    raster = ms.io.Raster(values, from_origin(0, 2000, 1000, 1000), pyproj.CRS(UTM), None)
    out = ms.reproject_raster(raster, UTM, kind="count")
    assert out.transform == raster.transform and out.data is not raster.data
    np.testing.assert_array_equal(out.data.filled(-1), [[1.0, -1.0], [3.0, 4.0]])
    coarse = ms.reproject_raster(raster, UTM, kind="count", resolution=2000)
    assert coarse.shape == (1, 1) and float(coarse.data[0, 0]) == pytest.approx(8.0)


def test_errors(population):
    raster = ms.read_raster(population)
    with pytest.raises(ValueError, match=r"kind must be one of \['continuous', 'count'\]"):
        ms.reproject_raster(raster, UTM, kind="sum")
    with pytest.raises(CRSError, match=r"EPSG:4326 is not a metric CRS.*region\.crs"):
        ms.reproject_raster(raster, "EPSG:4326", kind="count")
    with pytest.raises(ValueError, match="resolution must be positive"):
        ms.reproject_raster(raster, UTM, resolution=-10)
    with pytest.raises(TypeError, match="minespace Raster"):
        ms.reproject_raster(raster.data, UTM)
