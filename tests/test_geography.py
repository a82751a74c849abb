"""No silent wrong geography (issue 12 §4): distorting CRSs, swapped layers,
features outside the study area, non-finite and absurd coordinates.

Expected distortions are hand arithmetic (Web Mercator scales lengths by
1 / cos(latitude)) or pyproj's own factors computed in the test.
"""

from __future__ import annotations

import math
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from click.testing import CliRunner

import minespace as ms
from minespace.cli import cli
from minespace.pipeline import build, load_config

KUZBASS_BOX = (84.4, 52.1, 89.4, 56.9)


def _kuzbass_layers():
    k = ms.datasets.kuzbass()
    return dict(deposits=k.deposits, agglomerations=k.agglomerations, corridors=k.corridors,
                boundary=k.boundary)


# -- 1. distortion of a user-set CRS --------------------------------------------------------

def test_web_mercator_distortion_is_one_over_cos_lat():
    # Web Mercator is conformal on the sphere: lengths x 1/cos(phi), areas x 1/cos(phi)^2
    d = ms.distortion("EPSG:3857", (87.0, 54.0, 87.0, 54.0))
    k = 1 / math.cos(math.radians(54.0))                  # 1.7013
    assert d.scale_error == pytest.approx(k - 1, rel=1e-6)  # distances x 1.70
    assert d.areal_error == pytest.approx(k * k - 1, rel=1e-6)  # areas x 2.89
    assert k * k == pytest.approx(2.894, abs=1e-3)


def test_distortion_over_extent_is_worst_sample():
    d = ms.distortion("EPSG:3857", KUZBASS_BOX)
    k = 1 / math.cos(math.radians(56.9))  # the northern edge is the worst
    assert d.scale_error == pytest.approx(k - 1, rel=1e-6)
    assert d.lat == pytest.approx(56.9)
    # UTM 45N over the Kuzbass: pyproj's Tissot axes at the corners, computed here
    f = pyproj.Proj("EPSG:32645").get_factors([84.4, 89.4, 84.4, 89.4, 87.0],
                                              [52.1, 52.1, 56.9, 56.9, 54.5])
    worst = max(np.max(np.abs(np.asarray(f.tissot_semimajor) - 1)),
                np.max(np.abs(np.asarray(f.tissot_semiminor) - 1)))
    utm = ms.distortion("EPSG:32645", KUZBASS_BOX)
    assert utm.scale_error == pytest.approx(worst, abs=1e-5)
    assert utm.scale_error < 0.001  # 1 - k0 = 0.0004 at the central meridian


@pytest.mark.parametrize("crs", ["EPSG:3857", 3857, "EPSG:4087"])
def test_region_refuses_distorting_crs_and_suggests_utm(crs):
    with pytest.raises(ms.CRSError) as exc:
        ms.Region.from_layers(**_kuzbass_layers(), crs=crs)
    text = str(exc.value)
    assert "EPSG:32645" in text and "distorts distances" in text and "docs/crs.md" in text


def test_region_accepts_utm_45n_for_kuzbass():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        region = ms.Region.from_layers(**_kuzbass_layers(), crs="EPSG:32645")
    # the area is then right: compare with the geodesic area of the boundary on WGS84
    geod = pyproj.Geod(ellps="WGS84")
    true_km2 = abs(geod.geometry_area_perimeter(
        region.boundary.to_crs(4326).geometry.iloc[0])[0]) / 1e6
    assert region.area_km2 == pytest.approx(true_km2, rel=0.002)


def test_middle_band_warns():
    # UTM 43N (central meridian 75 E) is 9-14 degrees west of the Kuzbass: pyproj gives a
    # scale error between the 1 % warning and the 5 % refusal limits there
    f = pyproj.Proj("EPSG:32643").get_factors([89.4], [52.1])
    assert 0.01 < f.tissot_semimajor[0] - 1 < 0.05
    with pytest.warns(ms.CRSDistortionWarning, match="EPSG:32643"):
        region = ms.Region.from_layers(**_kuzbass_layers(), crs="EPSG:32643")
    assert region.crs.to_epsg() == 32643


def test_region_to_crs_and_direct_construction_refuse():
    k = ms.datasets.kuzbass()
    with pytest.raises(ms.CRSError, match="EPSG:32645"):
        k.to_crs(3857)
    with pytest.raises(ms.CRSError, match="distorts"):
        ms.Region(name="x", boundary=k.boundary.to_crs(3857),
                  deposits=k.deposits.to_crs(3857),
                  agglomerations=k.agglomerations.to_crs(3857),
                  corridors=k.corridors.to_crs(3857))


@pytest.mark.parametrize("call", [
    lambda k: ms.territories.hex_grid(k.boundary.to_crs(3857), cell_km=20),
    lambda k: ms.density.kernel_density(k.deposits.to_crs(3857)),
    lambda k: ms.clustering.mining_nodes(k.deposits.to_crs(3857)),
])
def test_metric_functions_refuse_web_mercator(call):
    k = ms.datasets.kuzbass()
    with pytest.raises(ms.CRSError, match="distorts distances"):
        call(k)


def test_pipeline_crs_3857_is_a_config_error(small_project):
    config = small_project()
    config.write_text(config.read_text().replace("[project]\n", "[project]\ncrs = 3857\n"))
    with pytest.raises(ms.ConfigError) as exc:
        build(load_config(config))
    assert exc.value.key == "project.crs"
    assert "EPSG:32645" in str(exc.value)
    result = CliRunner().invoke(cli, ["build", str(config)])
    assert result.exit_code == 2
    assert "[project] crs" in result.output and "Traceback" not in result.output
    assert not (config.parent / "processed" / "manifest.json").exists()


def test_auto_crs_is_never_refused():
    # a continent-sized area: no projection keeps 5 %, so "auto" only warns
    area = gpd.GeoDataFrame(geometry=[shapely.box(30, 40, 170, 75)], crs=4326)
    pts = gpd.GeoDataFrame({"mineral": ["coal"] * 3}, crs=4326,
                           geometry=[shapely.Point(60, 55), shapely.Point(100, 60),
                                     shapely.Point(140, 65)])
    towns = gpd.GeoDataFrame({"pop": [1000]}, crs=4326,
                             geometry=[shapely.box(100, 60, 100.1, 60.1)])
    lines = gpd.GeoDataFrame({"kind": ["rail"]}, crs=4326,
                             geometry=[shapely.LineString([(60, 55), (140, 65)])])
    with pytest.warns(ms.CRSDistortionWarning, match="no projection does much better"):
        ms.Region.from_layers(deposits=ms.read_deposits(pts, commodity="mineral"),
                              agglomerations=ms.read_agglomerations(towns),
                              corridors=ms.read_corridors(lines), boundary=area)


# -- 2. a whole layer with longitude and latitude swapped -----------------------------------

def _write_mines_csv(path, swapped: bool):
    rows = [("M1", 86.08, 55.35), ("M2", 86.75, 54.65), ("M3", 87.10, 53.75)]
    lines = ["mine_id,mineral,lon,lat"]
    lines += [f"{i},coal,{lat},{lon}" if swapped else f"{i},coal,{lon},{lat}"
              for i, lon, lat in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_swapped_layer_against_boundary(tmp_path):
    _write_mines_csv(tmp_path / "mines.csv", swapped=True)
    deposits = ms.read_deposits(tmp_path / "mines.csv")  # passes the reader (lat 86 is valid)
    layers = _kuzbass_layers()
    layers["deposits"] = deposits
    with pytest.raises(ms.LayerError) as exc:
        ms.Region.from_layers(**layers)
    text = str(exc.value)
    assert "mines.csv" in text
    assert "longitude and latitude appear swapped" in text and "set lon=/lat=" in text


def test_swapped_layer_without_boundary(tmp_path):
    _write_mines_csv(tmp_path / "mines.csv", swapped=True)
    layers = _kuzbass_layers()
    del layers["boundary"]
    layers["deposits"] = ms.read_deposits(tmp_path / "mines.csv")
    with pytest.raises(ms.LayerError, match=r"mines\.csv.*appear swapped"):
        ms.Region.from_layers(**layers)
    # the same file unswapped is fine
    _write_mines_csv(tmp_path / "ok.csv", swapped=False)
    layers["deposits"] = ms.read_deposits(tmp_path / "ok.csv")
    assert len(ms.Region.from_layers(**layers).deposits) == 3


def test_swapped_boundary_is_named():
    layers = _kuzbass_layers()
    b = layers["boundary"].to_crs(4326)
    layers["boundary"] = b.set_geometry(
        shapely.transform(b.geometry.values, lambda xy: xy[:, ::-1])).set_crs(4326,
                                                                              allow_override=True)
    with pytest.raises(ms.LayerError, match=r"boundary.*appear swapped"):
        ms.Region.from_layers(**layers)


def test_pipeline_swapped_layer_names_file(small_project):
    config = small_project()
    raw = config.parent / "raw"
    mines = gpd.read_file(raw / "mines.gpkg")
    mines.geometry = shapely.transform(mines.geometry.values, lambda xy: xy[:, ::-1])
    mines.to_file(raw / "mines.gpkg", layer="mines")
    result = CliRunner().invoke(cli, ["build", str(config)])
    assert result.exit_code == 3
    assert "mines.gpkg" in result.output and "appear swapped" in result.output


# -- 3. outside the boundary, non-finite and absurd coordinates ----------------------------

def test_deposits_and_agglomerations_outside_boundary_are_dropped_and_named():
    layers = _kuzbass_layers()
    far = shapely.Point(1_500_000, 6_000_000)  # UTM 45N, ~1000 km east of the oblast
    crs = layers["deposits"].crs
    deposits = pd.concat([layers["deposits"], gpd.GeoDataFrame(
        {"commodity": ["coking_coal"] * 2}, geometry=[far, far], crs=crs,
        index=pd.Index(["FAR-1", "FAR-2"], name="deposit_id"))])
    towns = pd.concat([layers["agglomerations"], gpd.GeoDataFrame(
        {"population": [1000.0]}, geometry=[far.buffer(2000)], crs=crs,
        index=pd.Index(["FAR-TOWN"], name="agglomeration_id"))])
    layers.update(deposits=deposits, agglomerations=towns)
    with pytest.warns(ms.FeaturesDroppedWarning) as record:
        region = ms.Region.from_layers(**layers)
    messages = [str(w.message) for w in record]
    assert any("dropped 2 of 143 deposits outside the boundary" in m and "FAR-1" in m
               and "FAR-2" in m for m in messages)
    assert any("dropped 1 of 20 agglomerations more than 100 km outside" in m
               and "FAR-TOWN" in m for m in messages)
    assert len(region.deposits) == 141 and "FAR-1" not in region.deposits.index
    assert len(region.agglomerations) == 19


def test_agglomerations_just_outside_stay_as_destinations(caplog):
    layers = _kuzbass_layers()
    box = layers["boundary"].total_bounds  # UTM 45N
    # 50 km east of the boundary's bounding box: outside, but within 100 km of it
    near = shapely.Point(box[2] + 50_000, (box[1] + box[3]) / 2).buffer(2000)
    towns = pd.concat([layers["agglomerations"], gpd.GeoDataFrame(
        {"population": [1000.0]}, geometry=[near], crs=layers["agglomerations"].crs,
        index=pd.Index(["NEAR-TOWN"], name="agglomeration_id"))])
    layers["agglomerations"] = towns
    with caplog.at_level("INFO", logger="minespace.region"):
        region = ms.Region.from_layers(**layers)
    assert "NEAR-TOWN" in region.agglomerations.index
    assert "kept 1 agglomeration(s) outside the boundary" in caplog.text
    assert "NEAR-TOWN" in caplog.text


def test_all_deposits_outside_boundary_refused():
    layers = _kuzbass_layers()
    layers["deposits"] = layers["deposits"].translate(xoff=2_000_000)
    with pytest.raises(ms.LayerError, match="none of the 141 deposits lies inside"):
        ms.Region.from_layers(**layers)


@pytest.mark.parametrize("bad", [shapely.Point(np.nan, np.nan), shapely.Point(np.inf, 54.0)])
def test_reader_refuses_non_finite_in_memory(deposits_ll, bad):
    frame = deposits_ll.copy()
    frame.loc[2, "geometry"] = bad
    with pytest.raises(ms.LayerError) as exc:
        ms.read_deposits(frame, id="mine_id", commodity="mineral")
    assert "'M3'" in str(exc.value) and "not finite" in str(exc.value)


def test_reader_refuses_coordinates_of_1e12_m():
    frame = gpd.GeoDataFrame({"id": ["A", "B"], "mineral": ["coal", "coal"]},
                             geometry=[shapely.Point(500_000, 6_000_000),
                                       shapely.Point(1e12, 1e12)], crs=32645)
    with pytest.raises(ms.LayerError) as exc:
        ms.read_deposits(frame, commodity="mineral")
    assert "'B'" in str(exc.value) and "not a place on Earth" in str(exc.value)


def test_metric_functions_and_region_refuse_non_finite_in_memory():
    k = ms.datasets.kuzbass()
    deposits = k.deposits.copy()
    ids = list(deposits.index[:2])
    deposits.loc[ids[0], "geometry"] = shapely.Point(np.nan, np.nan)
    deposits.loc[ids[1], "geometry"] = shapely.Point(1e12, 1e12)
    territories = ms.territories.hex_grid(k.boundary, cell_km=30)
    for call in (lambda: ms.territories.assign_deposits(territories, deposits),
                 lambda: ms.density.kernel_density(deposits),
                 lambda: ms.clustering.mining_nodes(deposits),
                 lambda: ms.Region(name="x", boundary=k.boundary, deposits=deposits,
                                   agglomerations=k.agglomerations, corridors=k.corridors),
                 lambda: ms.Region.from_layers(deposits=deposits,
                                               agglomerations=k.agglomerations,
                                               corridors=k.corridors, boundary=k.boundary)):
        with pytest.raises(ms.LayerError) as exc:
            call()
        text = str(exc.value)
        assert repr(ids[0]) in text and "not finite" in text
        assert repr(ids[1]) in text and "not a place on Earth" in text
