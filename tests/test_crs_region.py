"""CRS choice and the Region object."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

import minespace as ms
from minespace.errors import CRSError


def _area(lon0, lat0, lon1, lat1):
    return gpd.GeoDataFrame(geometry=[shapely.box(lon0, lat0, lon1, lat1)], crs=4326)


@pytest.mark.parametrize(
    "bounds,epsg",
    [
        ((84.4, 52.1, 89.4, 56.9), 32645),    # Kuzbass: centre 86.9 E -> zone 45 (CM 87)
        ((146.5, -26.0, 150.5, -20.0), 32755),  # Bowen Basin: zone 55 south (CM 147)
        ((17.0, 49.5, 20.5, 50.5), 32634),     # Upper Silesia straddles 18 E; centre 18.75 -> 34
    ],
)
def test_utm_zone_chosen(bounds, epsg):
    assert ms.choose_metric_crs(_area(*bounds)).to_epsg() == epsg


def test_wide_area_gets_equal_area_projection():
    # Pilbara 115-122 E: centre 118.5 (zone 50, CM 117) but the east edge is 5 degrees away
    crs = ms.choose_metric_crs(_area(115.0, -24.0, 122.0, -20.0))
    assert crs.to_epsg() is None
    op = crs.coordinate_operation
    assert op.method_name == "Lambert Azimuthal Equal Area"
    params = {p.name: p.value for p in op.params}
    assert params["Longitude of natural origin"] == pytest.approx(118.5)
    assert params["Latitude of natural origin"] == pytest.approx(-22.0)
    assert ms.is_metric(crs)


def test_choose_needs_crs():
    with pytest.raises(CRSError, match="no CRS"):
        ms.choose_metric_crs(gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)]))


def test_region_from_layers_reprojects(deposits_ll, agglomerations_m, corridors_m):
    deposits = ms.read_deposits(deposits_ll, commodity="mineral")
    region = ms.Region.from_layers(deposits=deposits,
                                   agglomerations=ms.read_agglomerations(agglomerations_m),
                                   corridors=ms.read_corridors(corridors_m))
    assert region.crs == region.deposits.crs == region.corridors.crs
    assert ms.is_metric(region.crs)
    assert deposits.crs.to_epsg() == 4326  # input untouched
    text = repr(region)
    assert "deposits" in text and "5" in text and region.crs.to_string() in text
    assert "<table>" in region._repr_html_()


def test_region_rejects_geographic_crs(deposits_ll, agglomerations_m, corridors_m):
    with pytest.raises(CRSError, match="not a metric CRS"):
        ms.Region.from_layers(deposits=ms.read_deposits(deposits_ll, commodity="mineral"),
                              agglomerations=ms.read_agglomerations(agglomerations_m),
                              corridors=ms.read_corridors(corridors_m), crs="EPSG:4326")


def test_region_mismatched_layers_raise():
    k = ms.datasets.kuzbass()
    with pytest.raises(CRSError, match="deposits"):
        ms.Region(name="x", boundary=k.boundary, deposits=k.deposits.to_crs(4326),
                  agglomerations=k.agglomerations, corridors=k.corridors)


def test_kuzbass_sample_matches_sources():
    k = ms.datasets.kuzbass()
    # SOURCES.md: 141 GCMT mines inside the oblast, 27 rail + 3 trunk + 3 primary corridors,
    # 14 facilities in the oblast, 20 cities (population sum from the listed values)
    assert len(k.deposits) == 141
    assert k.corridors["kind"].value_counts().to_dict() == {"rail": 27, "road_trunk": 3,
                                                            "road_primary": 3}
    # + the 13 compiled processing plants (SOURCES.md: "All 34 points lie inside")
    assert len(k.facilities) == 14 + 13
    city_pops = [547885, 532884, 210150, 101995, 101666, 98382, 81536, 76752, 76669, 47292,
                 45997, 43029, 40522, 28642, 27624, 25330, 24816, 23114, 21893, 8263]
    assert k.agglomerations["population"].sum() == sum(city_pops)
    assert k.agglomerations["n_cities"].sum() == 20
    assert k.area_km2 == pytest.approx(95_809, rel=0.01)  # SOURCES: 95,809 km2 (Albers)
    assert k.deposits.index.is_unique
    assert k.projects.loc[k.projects["deposit_id"].notna(), "deposit_id"].tolist() == ["M0804"]
    assert "M0804" in k.deposits.index


def test_kuzbass_returns_independent_copies():
    a = ms.datasets.kuzbass()
    a.deposits["commodity"] = "changed"
    assert (ms.datasets.kuzbass().deposits["commodity"] != "changed").all()


def test_to_crs_round_trip():
    k = ms.datasets.kuzbass()
    ll = k.to_crs(4326)
    assert ll.deposits.crs.to_epsg() == 4326 and ll.boundary.crs.to_epsg() == 4326
    assert k.crs.to_epsg() == 32645
