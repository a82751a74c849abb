"""Readers: round trips through every format, and one test per bad-input case."""

from __future__ import annotations

import hashlib
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import minespace as ms
from minespace.errors import LayerError

FORMATS = ["gpkg", "geojson", "shp", "zip", "parquet", "fgb", "csv"]


def _write(frame: gpd.GeoDataFrame, tmp_path, fmt: str):
    path = tmp_path / f"layer.{fmt}"
    if fmt == "csv":
        table = pd.DataFrame(frame.drop(columns="geometry"))
        table["longitude"] = frame.geometry.x
        table["latitude"] = frame.geometry.y
        table.to_csv(path, index=False)
    elif fmt == "parquet":
        frame.to_parquet(path)
    elif fmt == "zip":
        shp = tmp_path / "shp"
        shp.mkdir()
        frame.to_file(shp / "layer.shp")
        with zipfile.ZipFile(path, "w") as zf:
            for f in shp.iterdir():
                zf.write(f, f.name)
    elif fmt == "gpkg":
        frame.to_file(path, layer="mines", driver="GPKG")
    else:
        frame.to_file(path)
    return path


@pytest.mark.parametrize("fmt", FORMATS)
def test_deposits_round_trip(deposits_ll, tmp_path, fmt):
    path = _write(deposits_ll, tmp_path, fmt)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    out = ms.read_deposits(path, id="mine_id", commodity="mineral", weight={"output_mt": "output"})
    assert sorted(out.index) == ["M1", "M2", "M3", "M4", "M5"]
    out = out.loc[["M1", "M2", "M3", "M4", "M5"]]  # FlatGeobuf stores features in spatial order
    assert out.index.name == "deposit_id"
    assert list(out["commodity"]) == ["coal", "coal", "iron_ore", "coal", "iron_ore"]
    # aliases: mine_name -> name, mine_type -> method (normalised)
    assert list(out["name"]) == ["Alpha", "Beta", "Gamma", "Delta", "Epsilon"]
    assert list(out["method"]) == ["open_pit", "underground", "open_pit", "underground", "open_pit"]
    np.testing.assert_allclose(out["output_mt"], [1.5, 2.0, 0.5, np.nan, 3.0])
    np.testing.assert_allclose(shapely.get_coordinates(out.geometry.values),
                               shapely.get_coordinates(deposits_ll.geometry.values), atol=1e-9)
    assert out.crs.to_epsg() == 4326
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest  # input untouched


@pytest.mark.parametrize("lon,lat", [("lon", "lat"), ("lng", "lat"), ("Longitude", "Latitude"),
                                     ("x", "y")])
def test_csv_coordinate_names_recognised(tmp_path, lon, lat):
    path = tmp_path / "m.csv"
    path.write_text(f"name,commodity,{lon},{lat}\nA,coal,86.1,54.5\n")
    out = ms.read_deposits(path)
    assert (out.geometry.x.iloc[0], out.geometry.y.iloc[0]) == (86.1, 54.5)
    assert out.index[0] == "D0001"


def test_csv_explicit_coordinate_columns(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("name,commodity,E,N\nA,coal,86.1,54.5\n")
    out = ms.read_deposits(path, lon="E", lat="N")
    assert out.geometry.iloc[0].equals(shapely.Point(86.1, 54.5))


def test_in_memory_input_not_modified(deposits_ll):
    before = deposits_ll.copy()
    ms.read_deposits(deposits_ll, id="mine_id", commodity="mineral", weight="output")
    pd.testing.assert_frame_equal(deposits_ll, before)


def test_commodity_from_several_columns(deposits_ll):
    out = ms.read_deposits(deposits_ll, commodity=["mineral", "mine_type"])
    # each column is normalised as text; method aliases apply only to method=
    assert out["commodity"].iloc[0] == "coal_surface"
    assert out["commodity"].iloc[1] == "coal_underground"


def _problems(excinfo) -> list:
    return excinfo.value.problems


def test_missing_required_column(deposits_ll):
    with pytest.raises(LayerError) as exc:
        ms.read_deposits(deposits_ll.drop(columns="mineral"))
    (p,) = _problems(exc)
    assert p.column == "commodity" and "required column" in p.message
    assert "commodity=" in p.hint


def test_named_column_not_found_suggests(deposits_ll):
    with pytest.raises(LayerError) as exc:
        ms.read_deposits(deposits_ll, commodity="minerl")
    (p,) = _problems(exc)
    assert p.column == "minerl" and "'mineral'" in p.hint


def test_wrong_geometry_type(deposits_ll):
    bad = deposits_ll.copy()
    bad.loc[2, "geometry"] = shapely.LineString([(86, 55), (86.1, 55.1)])
    with pytest.raises(LayerError) as exc:
        ms.read_deposits(bad, id="mine_id", commodity="mineral")
    (p,) = _problems(exc)
    assert p.column == "geometry" and "LineString" in p.message and "'M3'" in p.row


@pytest.mark.parametrize("geom", [None, shapely.Point()])
def test_null_or_empty_geometry(deposits_ll, geom):
    bad = deposits_ll.copy()
    bad.loc[1, "geometry"] = geom
    with pytest.raises(LayerError) as exc:
        ms.read_deposits(bad, id="mine_id", commodity="mineral")
    (p,) = _problems(exc)
    assert "null or empty" in p.message and "'M2'" in p.row


def test_coordinates_out_of_range(deposits_ll):
    bad = deposits_ll.copy()
    bad.loc[0, "geometry"] = shapely.Point(500_000, 6_000_000)  # projected numbers as degrees
    with pytest.raises(LayerError) as exc:
        ms.read_deposits(bad, commodity="mineral")
    (p,) = _problems(exc)
    assert "outside longitude" in p.message and "crs=" in p.hint


def test_swapped_row_in_csv(tmp_path):
    path = tmp_path / "swapped.csv"
    path.write_text("name,commodity,lon,lat\nA,coal,86.1,54.5\nB,coal,86.2,54.6\n"
                    "C,coal,54.55,86.15\nD,coal,86.3,54.4\n")
    with pytest.raises(LayerError) as exc:
        ms.read_deposits(path)
    (p,) = _problems(exc)
    assert "swapped" in p.message and p.row == "line 4"  # header is line 1
    assert p.source == "swapped.csv"


def test_swapped_whole_file(tmp_path):
    path = tmp_path / "bowen.csv"  # Bowen Basin with lat/lon exchanged: latitude 148
    path.write_text("commodity,lon,lat\ncoal,-22.1,148.2\ncoal,-22.4,148.5\n")
    with pytest.raises(LayerError) as exc:
        ms.read_deposits(path)
    assert [p.row for p in _problems(exc)] == ["line 2", "line 3"]
    assert all("swapped" in p.message for p in _problems(exc))


def test_no_crs(tmp_path, deposits_ll):
    path = tmp_path / "nocrs.shp"
    with pytest.warns(UserWarning, match="crs"):
        deposits_ll.set_crs(None, allow_override=True).to_file(path)
    with pytest.raises(LayerError) as exc:
        ms.read_deposits(path, commodity="mineral")
    assert any("no CRS" in p.message for p in _problems(exc))
    out = ms.read_deposits(path, commodity="mineral", crs="EPSG:4326")
    assert out.crs.to_epsg() == 4326


def test_crs_argument_conflicting_with_file(tmp_path, deposits_ll):
    path = _write(deposits_ll, tmp_path, "gpkg")
    with pytest.raises(LayerError, match=r"declares EPSG:4326"):
        ms.read_deposits(path, commodity="mineral", crs="EPSG:32645")


def test_duplicate_ids(deposits_ll):
    bad = deposits_ll.copy()
    bad.loc[3, "mine_id"] = "M1"
    with pytest.raises(LayerError) as exc:
        ms.read_deposits(bad, id="mine_id", commodity="mineral")
    (p,) = _problems(exc)
    assert "duplicate id 'M1'" in p.message and "row 0" in p.row and "row 3" in p.row
    assert "id = false" in p.hint


def test_auto_detected_id_with_repeats_says_what_to_do(deposits_ll):
    # a tracker listing one mine per unit: gem_mine_id (an id alias) repeats
    units = deposits_ll.assign(gem_mine_id=["G1", "G1", "G2", "G3", "G3"]).drop(
        columns="mine_id")
    with pytest.raises(LayerError) as exc:
        ms.read_deposits(units, commodity="mineral")
    (p,) = _problems(exc)
    assert p.column == "gem_mine_id"
    assert "picked as the id because of its name, repeats 2 value(s) on 4 rows" in p.message
    assert "e.g. 'G1' on row 0, row 1" in p.message
    assert "id = false in [input.deposits]" in p.hint and "id=False" in p.hint
    assert 'duplicate_ids = "suffix"' in p.hint
    out = ms.read_deposits(units, commodity="mineral", id=False)
    assert list(out.index) == ["D0001", "D0002", "D0003", "D0004", "D0005"]
    assert list(out["gem_mine_id"]) == ["G1", "G1", "G2", "G3", "G3"]   # kept as a column
    with pytest.raises(TypeError, match="id= takes a column name"):
        ms.read_deposits(units, commodity="mineral", id=True)


def test_repeated_ids_can_be_suffixed(deposits_ll):
    units = deposits_ll.assign(gem_mine_id=["G1", "G1", "G2", "G1", "G2"]).drop(
        columns="mine_id")
    out = ms.read_deposits(units, commodity="mineral", duplicate_ids="suffix")
    assert list(out.index) == ["G1", "G1-2", "G2", "G1-3", "G2-2"]
    # a suffixed id that collides with a real one is still a duplicate
    clash = units.assign(gem_mine_id=["G1", "G1", "G1-2", "G3", "G4"])
    with pytest.raises(LayerError, match="'G1-2'"):
        ms.read_deposits(clash, commodity="mineral", duplicate_ids="suffix")
    with pytest.raises(ValueError, match="duplicate_ids must be one of"):
        ms.read_deposits(units, commodity="mineral", duplicate_ids="sum")


def test_consumed_columns_keep_their_raw_values(deposits_ll):
    out = ms.read_deposits(deposits_ll, id="mine_id", commodity="mineral")
    assert list(out["mine_type"]) == ["Surface", "underground", "surface", "Underground",
                                      "open pit"]
    assert list(out["method"]) == ["open_pit", "underground", "open_pit", "underground",
                                   "open_pit"]
    assert "mine_id" not in out.columns   # the id is the index


def test_mapped_columns_differing_only_in_case_are_not_repeated(tmp_path):
    # GeoPackage column names ignore case: "Name" next to "name" cannot be written
    frame = gpd.GeoDataFrame({"Name": ["a", "b"], "Commodity": ["Coal", "coal"],
                              "Mine_Type": ["Surface", "deep"]},
                             geometry=[shapely.Point(18, 50), shapely.Point(19, 50)], crs=4326)
    out = ms.read_deposits(frame)
    assert list(out.columns) == ["name", "commodity", "method", "Mine_Type", "geometry"]
    out.to_file(tmp_path / "deposits.gpkg")
    assert len(gpd.read_file(tmp_path / "deposits.gpkg")) == 2


def test_non_numeric_and_negative_weights(deposits_ll):
    bad = deposits_ll.copy()
    bad["output"] = bad["output"].astype(object)
    bad.loc[1, "output"] = "lots"
    bad.loc[2, "output"] = -4.0
    with pytest.raises(LayerError) as exc:
        ms.read_deposits(bad, id="mine_id", commodity="mineral", weight="output")
    messages = sorted(p.message for p in _problems(exc))
    assert messages == ["weight 'output' 'lots' is not a number", "weight 'output' -4 is negative"]


def test_numbers_as_text_are_parsed(deposits_ll):
    frame = deposits_ll.assign(jobs=["1,200", "35", "", None, "7"])
    out = ms.read_deposits(frame, commodity="mineral", weight="jobs")
    np.testing.assert_allclose(out["jobs"], [1200, 35, np.nan, np.nan, 7])


def test_every_problem_reported_at_once(deposits_ll):
    bad = deposits_ll.copy()
    bad["output"] = bad["output"].astype(object)
    bad.loc[0, "output"] = "n/a"
    bad.loc[1, "geometry"] = None
    bad.loc[2, "mine_id"] = "M1"
    bad.loc[3, "mineral"] = None
    with pytest.raises(LayerError) as exc:
        ms.read_deposits(bad, id="mine_id", commodity="mineral", weight="output")
    assert len(_problems(exc)) == 4
    text = str(exc.value)
    assert text.startswith("4 problems found")
    for fragment in ("not a number", "null or empty", "duplicate id", "commodity is empty"):
        assert fragment in text


def test_missing_file():
    with pytest.raises(FileNotFoundError, match=r"nope\.gpkg"):
        ms.read_deposits("nope.gpkg")


def test_geopackage_with_several_layers_needs_layer(tmp_path, deposits_ll):
    path = tmp_path / "two.gpkg"
    deposits_ll.to_file(path, layer="mines")
    deposits_ll.to_file(path, layer="more_mines")
    with pytest.raises(LayerError, match="'mines', 'more_mines'"):
        ms.read_deposits(path, commodity="mineral")
    assert len(ms.read_deposits(path, layer="more_mines", commodity="mineral")) == 5


# -- agglomerations -------------------------------------------------------------------

def test_agglomerations_point_buffer_rule(agglomerations_m):
    out = ms.read_agglomerations(agglomerations_m)
    assert list(out["geometry_source"]) == ["polygon", "polygon", "point_buffer"]
    # village: 5,000 people / 2,000 per km2 = 2.5 km2 (radius 0.892 km -> floored to 1 km)
    village_km2 = out.geometry.iloc[2].area / 1e6
    assert village_km2 == pytest.approx(np.pi * 1.0**2, rel=0.005)
    # a town of 100,000: 50 km2 disc
    town = agglomerations_m.iloc[[2]].assign(pop=100_000)
    town_km2 = ms.read_agglomerations(town).geometry.iloc[0].area / 1e6
    assert town_km2 == pytest.approx(50.0, rel=0.005)
    # polygons are untouched
    assert out.geometry.iloc[0].equals(agglomerations_m.geometry.iloc[0])


def test_population_problems(agglomerations_m):
    bad = agglomerations_m.copy()
    bad["pop"] = bad["pop"].astype(float)
    bad.loc[0, "pop"] = -5
    bad.loc[1, "pop"] = np.nan
    with pytest.raises(LayerError) as exc:
        ms.read_agglomerations(bad)
    messages = sorted(p.message for p in _problems(exc))
    assert messages == ["population -5 is negative", "population is missing"]


def test_invalid_polygon_repaired_with_one_warning(agglomerations_m):
    bowtie = shapely.Polygon([(0, 0), (1000, 1000), (1000, 0), (0, 1000)])
    bad = agglomerations_m.copy()
    bad.loc[0, "geometry"] = shapely.affinity.translate(bowtie, 500_000, 6_000_000)
    bad.loc[1, "geometry"] = shapely.affinity.translate(bowtie, 520_000, 6_000_000)
    with pytest.warns(ms.GeometryRepairedWarning, match="repaired 2 invalid"):
        out = ms.read_agglomerations(bad)
    assert out.geometry.is_valid.all()
    assert out.geometry.iloc[0].area == pytest.approx(500_000)  # two triangles of 250,000 m2
    with pytest.raises(LayerError, match="invalid polygon"):
        ms.read_agglomerations(bad, on_invalid="raise")
    with pytest.warns(ms.FeaturesDroppedWarning, match="dropped 2"):
        assert len(ms.read_agglomerations(bad, on_invalid="drop")) == 1


# -- corridors and facilities --------------------------------------------------------------

def test_corridor_speeds(corridors_m):
    out = ms.read_corridors(corridors_m)
    assert list(out["kind"]) == ["rail", "road_trunk"]
    assert list(out["speed_kmh"]) == [50.0, 80.0]
    assert list(out["speed_source"]) == ["default", "default"]
    data = corridors_m.assign(speed=[None, 95])
    out = ms.read_corridors(data, speed="speed", speeds={"rail": 40})
    assert list(out["speed_kmh"]) == [40.0, 95.0]
    assert list(out["speed_source"]) == ["default", "data"]


def test_corridor_kind_without_speed_is_an_error_naming_the_toml_key(corridors_m):
    cable = corridors_m.assign(kind=["rail", "Cable car"])
    with pytest.raises(LayerError) as exc:
        ms.read_corridors(cable)
    (p,) = _problems(exc)
    assert "1 corridor(s) of kind 'cable_car' have no speed" in p.message
    assert "[input.corridors] speeds = { cable_car = 30 }" in p.hint and p.column == "kind"
    out = ms.read_corridors(cable, speeds={"Cable car": 12})   # keys read like the data
    assert list(out["speed_kmh"]) == [50.0, 12.0]
    assert list(out["speed_source"]) == ["default", "default"]


def test_facilities(tmp_path):
    frame = gpd.GeoDataFrame({"kind": ["Power plant", "Coke plant"], "capacity": [1260, None]},
                             geometry=[shapely.Point(86, 54), shapely.Point(87, 54)], crs=4326)
    out = ms.read_facilities(_write(frame, tmp_path, "geojson"))
    assert list(out["kind"]) == ["power_plant", "coke_plant"]
    assert out["capacity"].iloc[0] == 1260 and np.isnan(out["capacity"].iloc[1])


def test_kind_table_in_docs_is_the_codes_table():
    from pathlib import Path

    from minespace.schema import DEFAULT_SPEEDS_KMH, KIND_VOCABULARY, kind_table_markdown

    text = (Path(__file__).resolve().parent.parent / "docs" / "layers.md").read_text("utf-8")
    doc = text.split("<!-- kind-table:start -->\n")[1].split("\n<!-- kind-table:end -->")[0]
    assert doc == kind_table_markdown()
    rows = [line.split(" | ") for line in doc.splitlines()[2:]]
    # every spelling and canonical kind appears once, with its kind's speed
    assert len(rows) == len(DEFAULT_SPEEDS_KMH) + len(KIND_VOCABULARY)
    for (src, kind, _), row in zip(KIND_VOCABULARY, rows[len(DEFAULT_SPEEDS_KMH):],
                                   strict=True):
        assert row[0] == f"| `{src}`" and row[2] == f"`{kind}`"
        assert float(row[3].rstrip(" |")) == DEFAULT_SPEEDS_KMH[kind]


@pytest.mark.parametrize("value, kind, speed", [
    ("Railroad", "rail", 50.0),              # Natural Earth featurecla
    ("Ferry", "ferry", 20.0),
    ("motorway_link", "road_motorway", 100.0),   # OSM highway
    ("trunk", "road_trunk", 80.0),
    ("tertiary", "road_tertiary", 50.0),
    ("Droga wojewódzka", "road_secondary", 60.0),   # Polish national class
    ("A Road", "road_primary", 70.0),             # UK
])
def test_corridor_vocabularies_map_to_canonical_kinds(value, kind, speed, tmp_path):
    lines = gpd.GeoDataFrame({"featurecla": [value]},
                             geometry=[shapely.LineString([(18, 50), (18.5, 50)])], crs=4326)
    lines.to_file(tmp_path / "lines.geojson")
    out = ms.read_corridors(tmp_path / "lines.geojson")   # featurecla found as the kind
    assert (out["kind"].iloc[0], out["speed_kmh"].iloc[0]) == (kind, speed)
    assert out["featurecla"].iloc[0] == value              # raw value kept


def test_method_table_in_docs_is_the_codes_table():
    from pathlib import Path

    from minespace.schema import METHOD_ALIASES, method_table_markdown

    text = (Path(__file__).resolve().parent.parent / "docs" / "layers.md").read_text("utf-8")
    doc = text.split("<!-- method-table:start -->\n")[1].split("\n<!-- method-table:end -->")[0]
    assert doc == method_table_markdown()
    assert len(doc.splitlines()) == 2 + len(METHOD_ALIASES)
