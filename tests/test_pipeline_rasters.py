"""Pipeline raster inputs: [input.population] and [input.elevation] from real GeoTIFFs."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pyproj
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

import minespace as ms
from minespace.pipeline import build, load_config

CRS = "EPSG:32645"


def _write_tif(path, values, transform, crs=CRS, nodata=None, count=1):
    values = np.asarray(values, dtype="float32")
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1],
                       height=values.shape[0], count=count, dtype="float32", crs=crs,
                       nodata=nodata, transform=transform) as dst:
        for band in range(1, count + 1):
            dst.write(values * band, band)


def _grid():
    """A 1 km grid in EPSG:32645 covering the test area with a margin."""
    to_utm = pyproj.Transformer.from_crs(4326, CRS, always_xy=True)
    x0, y0 = to_utm.transform(85.95, 54.95)
    x1, y1 = to_utm.transform(86.45, 55.15)
    x0, y1 = np.floor(min(x0, x1) / 1000) * 1000 - 5000, np.ceil(max(y0, y1) / 1000) * 1000 + 5000
    width, height = 40, 30
    return from_origin(x0, y1, 1000, 1000), (height, width)


@pytest.fixture
def project(small_project, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    transform, shape = _grid()
    rng = np.random.default_rng(7)
    pop = rng.gamma(0.5, 40.0, shape)
    pop[rng.random(shape) < 0.3] = 0.0
    pop[rng.random(shape) < 0.05] = -9999       # declared nodata
    _write_tif(raw / "pop.tif", pop, transform, nodata=-9999)
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    _write_tif(raw / "dem.tif", 200.0 + 40.0 * cols + 25.0 * rows, transform)
    return small_project(name="Raster area", weight=False, extra=textwrap.dedent("""
        [input.population]
        path = "raw/pop.tif"

        [input.elevation]
        path = "raw/dem.tif"
        band = 1
    """))


# -- config ----------------------------------------------------------------------------------

def test_config_reads_raster_sources(project):
    config = load_config(project)
    assert set(config.rasters) == {"population", "elevation"}
    assert config.rasters["population"].path == project.parent / "raw" / "pop.tif"
    assert config.rasters["population"].band == 1 and config.rasters["elevation"].band == 1


@pytest.mark.parametrize("edit,key,fragment", [
    (('path = "raw/pop.tif"', 'path = "raw/pop.tif"\nresampling = "sum"'),
     "input.population.resampling", "unknown key"),
    (('path = "raw/pop.tif"', 'path = "raw/nope.tif"'), "input.population.path",
     "file not found"),
    (('path = "raw/pop.tif"', 'path = "raw/towns.geojson"'), "input.population.path",
     "not a readable raster"),
    (('path = "raw/pop.tif"', 'band = 2'), "input.population.path", "missing required key"),
    (("band = 1", "band = 2"), "input.elevation.band", "from 1 to 1"),
    (("band = 1", "band = 0"), "input.elevation.band", "from 1 to 1"),
    (("band = 1", 'band = "first"'), "input.elevation.band", "must be int"),
    (('[input.elevation]', '[input.elevations]'), "input.elevations", "unknown key"),
])
def test_raster_config_errors(project, edit, key, fragment):
    text = project.read_text()
    assert edit[0] in text
    project.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(ms.ConfigError) as exc:
        load_config(project)
    assert exc.value.key == key
    assert fragment in str(exc.value)


def test_rasters_allowed_with_bundled_dataset(tmp_path, project):
    cfg = tmp_path / "k.toml"
    cfg.write_text(f'[input]\ndataset = "kuzbass"\n[input.population]\n'
                   f'path = "{(project.parent / "raw" / "pop.tif").as_posix()}"\n')
    assert set(load_config(cfg).rasters) == {"population"}


# -- build --------------------------------------------------------------------------------------

def _expected_points(territories, path):
    """Independent: every cell centre tested against each territory in a loop."""
    with rasterio.open(path) as src:
        values = src.read(1, masked=True).astype(float).filled(0.0)
        transform = src.transform
    h, w = values.shape
    cols, rows = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    xs, ys = (np.asarray(v).ravel() for v in transform * (cols, rows))
    weight = values.ravel()
    points, how = [], []
    for geom in territories.geometry:
        inside = shapely.contains_xy(geom, xs, ys) & (weight > 0)
        if not inside.any():
            points.append(shapely.point_on_surface(geom))
            how.append("representative")
            continue
        p = shapely.Point(np.average(xs[inside], weights=weight[inside]),
                          np.average(ys[inside], weights=weight[inside]))
        assert shapely.contains(geom, p)        # squares are convex
        points.append(p)
        how.append("population")
    return np.array(points, dtype=object), how


def test_build_uses_population_and_elevation(project):
    result = build(load_config(project))
    assert result.ran == ["load", "territories", "concentration", "accessibility", "innovation",
                          "clusters", "maps"]
    out = project.parent / "processed"
    acc = result.read("accessibility")
    corridors = result.read("corridors")
    points, how = _expected_points(acc, project.parent / "raw" / "pop.tif")
    assert acc["origin"].tolist() == how and "population" in how
    expected = shapely.distance(points[:, None],
                                np.asarray(corridors.geometry.array)[None, :]).min(axis=1)
    np.testing.assert_allclose(acc["dist_corridor_km"], expected / 1000.0, rtol=1e-9)
    # manifest: raster inputs hashed, and in the accessibility stage's parameters
    manifest = json.loads((out / "manifest.json").read_text())
    paths = {i["path"] for i in manifest["inputs"]}
    assert str(project.parent / "raw" / "pop.tif") in paths
    used = manifest["stages"]["accessibility"]["params"]["rasters"]
    assert set(used) == {"population", "elevation"}
    assert "rasters" not in manifest["stages"]["concentration"]["params"]
    # the travel-time grid is the elevation raster's, cropped to the study area
    with rasterio.open(out / "rasters" / "travel_time_min.tif") as tt, \
            rasterio.open(project.parent / "raw" / "dem.tif") as dem:
        assert tt.res == dem.res
        col, row = ~dem.transform * (tt.transform.c, tt.transform.f)
        assert col == int(col) and row == int(row)       # aligned on the DEM's cells
        assert tt.width <= dem.width and tt.height <= dem.height


def test_raster_change_reruns_accessibility_only(project):
    build(load_config(project))
    assert build(load_config(project)).ran == []
    transform, shape = _grid()
    _write_tif(project.parent / "raw" / "pop.tif", np.ones(shape), transform, nodata=-9999)
    again = build(load_config(project))
    assert again.ran == ["accessibility", "innovation", "clusters", "maps"]
    acc = again.read("accessibility")
    # every cell is populated now: only slivers without a cell centre keep their
    # representative point
    assert acc["origin"].tolist() == _expected_points(acc, project.parent / "raw" / "pop.tif")[1]


def test_slope_slows_raster_travel_time(project):
    """A tilted DEM gives longer off-road times than a flat one on the same grid."""
    first = build(load_config(project))       # the fixture's DEM is tilted
    with rasterio.open(first.outputs["travel_time_raster"]) as src:
        tilted = src.read(1, masked=True)
    transform, shape = _grid()
    _write_tif(project.parent / "raw" / "dem.tif", np.full(shape, 300.0), transform)
    again = build(load_config(project))
    assert again.ran == ["accessibility", "innovation", "clusters", "maps"]
    with rasterio.open(again.outputs["travel_time_raster"]) as src:
        level = src.read(1, masked=True)
    both = ~(tilted.mask | level.mask)
    assert (tilted[both] >= level[both] - 1e-9).all() and (tilted[both] > level[both]).any()


def _lonlat_grid(lon0=85.9, lat1=55.2, res=1 / 120, shape=(36, 72)):
    """A 30" EPSG:4326 grid (WorldPop 1 km) over the test area, cell centres too."""
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    return (from_origin(lon0, lat1, res, res), lon0 + (cols + 0.5) * res,
            lat1 - (rows + 0.5) * res)


def test_rasters_in_other_crs_are_reprojected(project):
    raw = project.parent / "raw"
    transform, lon, lat = _lonlat_grid()
    people = 30.0 + 20.0 * np.sin(lon * 40.0) * np.cos(lat * 30.0)
    people[:5, :7] = -9999                                      # declared nodata
    _write_tif(raw / "pop.tif", people, transform, crs=4326, nodata=-9999)
    _write_tif(raw / "dem.tif", 300.0 + 800.0 * (lon - 85.9) + 500.0 * (lat - 55.0),
               transform, crs=4326)
    result = build(load_config(project))
    assert result.ran[-1] == "maps"
    acc = result.read("accessibility")
    assert "population" in set(acc["origin"])
    record = result.manifest["stages"]["accessibility"]
    assert record["rasters"]["population"] == {
        "crs": "EPSG:4326", "reprojected": True, "reprojected_from": "EPSG:4326",
        "reprojected_to": "EPSG:32645", "kind": "count", "resampling": "sum",
        "res_m": record["rasters"]["population"]["res_m"]}
    assert record["rasters"]["elevation"]["resampling"] == "bilinear"
    assert record["rasters"]["elevation"]["kind"] == "continuous"
    notes = " ".join(record["warnings"])
    assert "pop.tif is in EPSG:4326, reprojected to the project's EPSG:32645" in notes
    assert "dem.tif is in EPSG:4326" in notes
    manifest = json.loads((project.parent / "processed" / "manifest.json").read_text())
    assert manifest["stages"]["accessibility"]["rasters"] == record["rasters"]
    # the travel-time grid is the reprojected DEM's: metric, square cells
    with rasterio.open(result.outputs["travel_time_raster"]) as tt:
        assert tt.crs.to_epsg() == 32645
        assert tt.res == pytest.approx(tuple(record["rasters"]["elevation"]["res_m"]))


def test_rasters_in_project_crs_are_recorded_as_is(project):
    rasters = build(load_config(project)).manifest["stages"]["accessibility"]["rasters"]
    assert rasters == {"population": {"crs": "EPSG:32645", "reprojected": False},
                       "elevation": {"crs": "EPSG:32645", "reprojected": False}}


@pytest.mark.parametrize("crs,origin", [(4326, (10.0, 10.0)), (CRS, (1000.0, 1000.0))])
def test_raster_off_the_study_area_is_an_error(project, crs, origin):
    res = 0.01 if crs == 4326 else 1000.0
    _write_tif(project.parent / "raw" / "pop.tif", np.ones((20, 20)),
               from_origin(*origin, res, res), crs=crs)
    # found by the dry run before any stage after the load: a data error naming the file
    with pytest.raises(ms.LayerError, match=r"pop\.tif: the population raster .* does not "
                       r"overlap the study area"):
        build(load_config(project))
    assert not (project.parent / "processed" / "manifest.json").exists()


def test_builds_without_rasters_keep_origin_column(project):
    text = project.read_text()
    text = text.replace('[input.population]\npath = "raw/pop.tif"\n', "")
    text = text.replace('[input.elevation]\npath = "raw/dem.tif"\nband = 1\n', "")
    project.write_text(text)
    config = load_config(project)
    assert config.rasters == {}
    result = build(config)
    acc = result.read("accessibility")
    assert set(acc["origin"]) == {"representative"}
    assert "rasters" not in result.manifest["stages"]["accessibility"]["params"]
