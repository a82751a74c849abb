"""Innovation layers (issue 15): institutions, processing plants with value chains,
investment projects; the bundled Kuzbass files; Region and pipeline integration.

Expected values are counted by hand from the data files (read with ``json``) or
written out in the tests, never read off minespace's output.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

import minespace as ms
from minespace.errors import MinespaceWarning

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw" / "kuzbass"


def _features(name: str) -> list[dict]:
    return [f["properties"] for f in json.loads((RAW / name).read_text("utf-8"))["features"]]


# -- the bundled files ---------------------------------------------------------------------

def test_bundled_innovation_files_and_their_sources_section():
    inst = _features("institutions.geojson")
    plants = _features("processing_plants.geojson")
    assert (len(inst), len(plants)) == (21, 13)
    # SOURCES.md: "university 3 ... university_branch 5; research 4; technopark 2;
    # education_centre 1; economic_zone 6; incubator 0"
    assert Counter(p["kind"] for p in inst) == {"university": 3, "university_branch": 5,
                                                 "research": 4, "technopark": 2,
                                                 "education_centre": 1, "economic_zone": 6}
    sources = (RAW / "SOURCES.md").read_text("utf-8")
    section = sources.split("## Innovation infrastructure and processing plants")[1]
    assert "CC BY-SA 4.0" in section and "institutions.geojson" in section
    # the package credits the files (the maps show region.attribution)
    credit = [a for a in ms.datasets.KUZBASS_ATTRIBUTION if "Institutions" in a]
    assert credit and "CC BY-SA 4.0" in credit[0] and "cited pages" in credit[0]
    assert ms.datasets.kuzbass_dir().joinpath("institutions.geojson").is_file()


# -- facilities: value chains ----------------------------------------------------------------

def _plants(tmp_path, fmt: str, frame: gpd.GeoDataFrame) -> Path:
    if fmt == "csv":
        path = tmp_path / "plants.csv"
        table = pd.DataFrame(frame.drop(columns="geometry"))
        table["lon"], table["lat"] = frame.geometry.x, frame.geometry.y
        table.to_csv(path, index=False)
        return path
    path = tmp_path / f"plants.{fmt}"
    frame.to_file(path, engine="pyogrio")
    return path


def _points(n: int) -> list:
    return [shapely.Point(86.0 + 0.1 * i, 54.0 + 0.1 * i) for i in range(n)]


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "csv"])
def test_value_chain_from_data_kind_and_warning(tmp_path, fmt):
    frame = gpd.GeoDataFrame(
        {"plant_id": ["K1", "K2", "K3", "K4", "K5"],
         "kind": ["Steel plant", "Coke plant", "power plant", "Cement works", "iron_ore_mine"],
         "value_chain": ["Iron ore, Coking coal", "thermal coal", None, None, None]},
        geometry=_points(5), crs=4326)
    path = _plants(tmp_path, fmt, frame)
    with pytest.warns(MinespaceWarning) as record:
        out = ms.read_facilities(path)
    assert len(record) == 1
    text = str(record[0].message)
    # names the file, the column, the row (and its id, kind) and the fix
    assert path.name in text and "'value_chain'" in text and "'K4'" in text
    assert "cement_works" in text and "value_chains" in text
    assert "'K5'" not in text                    # extracting kinds stay NaN silently
    # data wins (sorted, ;-joined, normalised), then the kind's default, else NaN
    assert out["value_chain"].tolist()[:3] == ["coking_coal;iron_ore", "thermal_coal",
                                               "thermal_coal"]
    assert out["value_chain"].iloc[3:].isna().all()
    assert out["value_chain_source"].tolist()[:3] == ["data", "data", "kind"]
    assert out["value_chain_source"].iloc[3:].isna().all()
    assert list(out.index) == ["K1", "K2", "K3", "K4", "K5"]


def test_value_chain_user_mapping_and_feedstock_column(tmp_path):
    frame = gpd.GeoDataFrame({"kind": ["Cement works", "steel_plant"],
                              "feedstock": [None, "Coking coal"]},
                             geometry=_points(2), crs=4326)
    path = _plants(tmp_path, "gpkg", frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")     # no plant is left without an input
        out = ms.read_facilities(path, value_chains={"Cement Works": "Limestone; other"})
    assert out["value_chain"].tolist() == ["limestone;other", "coking_coal"]
    assert out["value_chain_source"].tolist() == ["kind", "data"]
    # the user's mapping also wins over the defaults
    out = ms.read_facilities(path, value_chains={"cement works": "other",
                                                 "steel plant": "iron_ore"})
    assert out["value_chain"].tolist() == ["other", "coking_coal"]   # data still first
    with pytest.raises(TypeError, match="value_chains"):
        ms.read_facilities(path, value_chains={"cement works": 3})


def test_value_chain_defaults_without_column(tmp_path):
    frame = gpd.GeoDataFrame({"kind": ["power_plant", "steel_plant", "coke_plant"]},
                             geometry=_points(3), crs=4326)
    out = ms.read_facilities(_plants(tmp_path, "csv", frame))
    assert out["value_chain"].tolist() == ["thermal_coal", "coking_coal;iron_ore", "coking_coal"]
    assert (out["value_chain_source"] == "kind").all()


def test_bundled_facilities_get_value_chains_without_warning():
    props = _features("facilities.geojson")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = ms.read_facilities(RAW / "facilities.geojson")
    kinds = Counter(p["kind"] for p in props)
    assert (out["value_chain"] == "thermal_coal").sum() == kinds["power_plant"]
    assert (out["value_chain"] == "coking_coal;iron_ore").sum() == kinds["steel_plant"]
    assert out.loc[out["kind"] == "iron_ore_mine", "value_chain"].isna().sum() == \
        kinds["iron_ore_mine"]
    plants = ms.read_facilities(RAW / "processing_plants.geojson")
    expected = {p["plant_id"]: p["value_chain"] for p in _features("processing_plants.geojson")}
    assert plants["value_chain"].to_dict() == expected
    assert (plants["value_chain_source"] == "data").all()


def _doc_table(marker: str) -> str:
    text = (ROOT / "docs" / "layers.md").read_text("utf-8")
    return text.split(f"<!-- {marker}:start -->\n")[1].split(f"\n<!-- {marker}:end -->")[0]


def test_value_chain_table_in_docs_is_the_codes_table():
    from minespace.schema import DEFAULT_VALUE_CHAINS, value_chain_table_markdown

    doc = _doc_table("value-chain-table")
    assert doc == value_chain_table_markdown()
    rows = [line.strip("| ").split(" | ") for line in doc.splitlines()[2:]]
    assert {k.strip("`"): v.strip("`") for k, v in rows} == DEFAULT_VALUE_CHAINS


# -- institutions ------------------------------------------------------------------------------

def test_read_bundled_institutions_counts_by_hand():
    props = _features("institutions.geojson")
    out = ms.read_institutions(RAW / "institutions.geojson")
    assert out.index.name == "institution_id" and list(out.index) == [p["institution_id"]
                                                                      for p in props]
    assert out["kind"].value_counts().to_dict() == Counter(p["kind"] for p in props)
    sized = {p["institution_id"]: p["size"] for p in props if p["size"] is not None}
    assert out["size"].dropna().to_dict() == sized          # KemSU 21,000 and SibGIU 9,000
    assert out["size"].isna().sum() == len(props) - len(sized)
    assert out["field"].tolist() == [p["field"] for p in props]
    assert set(out.geom_type) == {"Point"}


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "csv"])
def test_institution_aliases_user_kinds_and_polygons(tmp_path, fmt):
    frame = gpd.GeoDataFrame(
        {"id": ["U1", "B1", "S1", "T1", "H1"],
         "type": ["University", "Branch", "Special economic zone", "Technology park",
                  "Hochschule"],
         "students": [12000, None, None, None, "800"],
         "profile": ["Mining", None, "General", None, "Coal chemistry"]},
        geometry=_points(5), crs=4326)
    path = _plants(tmp_path, fmt, frame)
    out = ms.read_institutions(path, kinds={"HOCHSCHULE": "university"})
    assert out["kind"].tolist() == ["university", "university_branch", "economic_zone",
                                    "technopark", "university"]
    assert out["size"].tolist()[0] == 12000 and out["size"].tolist()[4] == 800
    assert out["field"].iloc[4] == "coal_chemistry" and pd.isna(out["field"].iloc[1])
    if fmt == "gpkg":  # a campus drawn as a polygon becomes a point inside it
        square = shapely.box(86.0, 54.0, 86.2, 54.2)
        poly = frame.iloc[:1].set_geometry([square])
        poly.to_file(tmp_path / "campus.gpkg")
        point = ms.read_institutions(tmp_path / "campus.gpkg").geometry.iloc[0]
        assert point.geom_type == "Point" and square.contains(point)


def test_unknown_institution_kinds_one_error_listing_values_rows_and_fix(tmp_path):
    frame = gpd.GeoDataFrame({"id": ["A", "B", "C", "D"],
                              "kind": ["university", "Fachhochschule", "lab complex",
                                       "Fachhochschule"]},
                             geometry=_points(4), crs=4326)
    path = tmp_path / "inst.geojson"
    frame.to_file(path)
    with pytest.raises(ms.LayerError) as err:
        ms.read_institutions(path)
    problems = err.value.problems
    assert len(problems) == 2            # one per unknown value, in one LayerError
    first = problems[0]
    assert first.source == "inst.geojson" and first.column == "kind"
    assert "'fachhochschule'" in first.message and "2 row" in first.message
    assert first.row == "feature 1 (id 'B'), feature 3 (id 'D')"
    assert "university_branch" in first.hint and "kinds=" in first.hint
    assert "[input.institutions] kinds" in first.hint
    assert "'lab_complex'" in problems[1].message and problems[1].row == "feature 2 (id 'C')"
    with pytest.raises(ValueError, match="allowed: university"):
        ms.read_institutions(path, kinds={"Fachhochschule": "college of magic"})


def test_institution_kind_table_in_docs_is_the_codes_table():
    from minespace.schema import (
        INSTITUTION_KIND_ALIASES,
        INSTITUTION_KINDS,
        institution_kind_table_markdown,
    )

    doc = _doc_table("institution-kind-table")
    assert doc == institution_kind_table_markdown()
    rows = [line.strip("| ").split(" | ") for line in doc.splitlines()[2:]]
    pairs = [(a.strip("`"), b.strip("`")) for a, b in rows]
    assert pairs[:len(INSTITUTION_KINDS)] == [(k, k) for k in INSTITUTION_KINDS]
    assert dict(pairs[len(INSTITUTION_KINDS):]) == INSTITUTION_KIND_ALIASES
    assert set(INSTITUTION_KIND_ALIASES.values()) <= set(INSTITUTION_KINDS)


# -- projects ------------------------------------------------------------------------------------

def test_read_bundled_projects_table_by_hand():
    import csv

    with open(RAW / "projects_table1.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = ms.read_projects(RAW / "projects_table1.csv")
    assert list(out.index) == [f"P{i:02d}" for i in range(1, len(rows) + 1)]
    assert (out["currency"] == "RUB").all() and (out["investment_unit"] == "billion").all()
    invest = [float(r["investment_bn_rub"]) for r in rows if r["investment_bn_rub"]]
    assert out["investment"].sum() == pytest.approx(sum(invest))
    assert out["investment"].isna().sum() == len(rows) - len(invest)
    assert str(out["year"].dtype) == "Int64"
    assert out["year"].dropna().tolist() == [int(r["implementation_year"]) for r in rows
                                              if r["implementation_year"]]
    assert out["deposit_id"].dropna().to_dict() == {"P01": "M0804"}
    assert out.geometry.isna().all()           # no coordinate columns: placed later


def test_project_currency_unit_and_numbers(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("id,name,investment,jobs,year,lon,lat\n"
                    "A,x,10,5,2021,86.1,54.2\n"
                    "B,y,,,,,\n", encoding="utf-8")
    with pytest.raises(ms.LayerError) as err:
        ms.read_projects(path)
    (problem,) = err.value.problems
    assert problem.source == "p.csv" and problem.column == "investment"
    assert "currency" in problem.message and "currency='RUB'" in problem.hint
    out = ms.read_projects(path, currency="usd", unit="mn")
    assert out["currency"].tolist() == ["USD", "USD"]
    assert out["investment_unit"].tolist() == ["million", "million"]
    assert out.geometry.iloc[0].equals(shapely.Point(86.1, 54.2)) and out.geometry.iloc[1] is None
    bad = tmp_path / "bad.csv"
    bad.write_text("id,investment_k_eur,jobs,year,lon,lat\n"
                   "A,-3,5,2020.5,86.1,\n", encoding="utf-8")
    with pytest.raises(ms.LayerError) as err:
        ms.read_projects(bad)
    text = str(err.value)
    assert "line 2 (id 'A'), column 'investment_k_eur': investment -3 is negative" in text
    assert "year 2020.5 is not a whole number" in text
    assert "column 'lat': coordinate is empty while the other is given" in text


def _region_layers():
    """Two deposits and two towns in UTM 45N, by hand."""
    crs = "EPSG:32645"
    deposits = gpd.GeoDataFrame({"commodity": ["coal", "coal"]},
                                geometry=[shapely.Point(500_000, 6_000_000),
                                          shapely.Point(520_000, 6_010_000)],
                                index=pd.Index(["M1", "M2"], name="deposit_id"), crs=crs)
    towns = gpd.GeoDataFrame({"name": ["Belovo", "Prokopyevsk – Kiselyovsk"],
                              "population": [76752.0, 300000.0]},
                             geometry=[shapely.box(490_000, 5_990_000, 494_000, 5_994_000),
                                       shapely.box(530_000, 6_020_000, 540_000, 6_030_000)],
                             index=pd.Index(["AG1", "AG2"], name="agglomeration_id"), crs=crs)
    return deposits, towns


def test_locate_projects_by_coordinates_deposit_town_and_unplaced(tmp_path):
    deposits, towns = _region_layers()
    path = tmp_path / "projects.csv"
    path.write_text(
        "id,investment_bn_rub,deposit_id,town,lon,lat\n"
        "P1,1.5,M2,Belovo,87.0,54.0\n"       # coordinates first
        "P2,2,M2,,,\n"                        # deposit
        "P3,4,,  KISELYOVSK. ,,\n"            # town: case, space, punctuation; joined name
        "P4,8,M9,,,\n"                        # unknown deposit
        "P5,16,,Atlantis,,\n"                 # unknown town
        "P6,,,,,\n", encoding="utf-8")        # nothing
    projects = ms.read_projects(path)
    with pytest.warns(ms.ProjectsUnplacedWarning) as record:
        out = ms.locate_projects(projects, deposits=deposits, agglomerations=towns)
    assert len(record) == 1
    text = str(record[0].message)
    assert "projects.csv" in text and "line 5 (id 'P4'): deposit id 'M9'" in text
    assert "line 6 (id 'P5'): town 'Atlantis'" in text
    assert out["location"].tolist() == ["coordinates", "deposit", "town", "unplaced",
                                        "unplaced", "unplaced"]
    assert out.crs == deposits.crs
    own = gpd.GeoSeries([shapely.Point(87.0, 54.0)], crs=4326).to_crs(deposits.crs).iloc[0]
    assert out.geometry["P1"].equals_exact(own, 1e-6)
    assert out.geometry["P2"].equals(shapely.Point(520_000, 6_010_000))
    assert shapely.box(530_000, 6_020_000, 540_000, 6_030_000).contains(out.geometry["P3"])
    assert out.geometry[["P4", "P5", "P6"]].isna().all()           # kept, no point
    assert out.loc["P4", "location_note"] == "deposit id 'M9' not in the deposits"
    assert out.loc["P5", "location_note"] == "town 'Atlantis' not found"
    assert out.loc["P6", "location_note"] == "no location given"
    assert out.attrs["unplaced"] == {"count": 3, "investment": 8.0 + 16.0,
                                     "currency": "RUB", "unit": "billion"}
    assert projects["town"].tolist()[2] == "KISELYOVSK."     # the input is not modified
    assert "location" not in projects


def test_locate_projects_plain_table_and_no_warning_when_all_found():
    deposits, towns = _region_layers()
    table = pd.DataFrame({"deposit_id": ["M1", None], "town": [None, "belovo"]},
                         index=pd.Index(["a", "b"], name="project_id"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = ms.locate_projects(table, deposits=deposits, agglomerations=towns)
    assert out["location"].tolist() == ["deposit", "town"]
    assert out.attrs["unplaced"] == {"count": 0, "investment": 0.0, "currency": None,
                                     "unit": ""}


# -- pipeline: [input.institutions], [input.projects], value chains ------------------------

INNOVATION_INPUTS = """
[input.facilities]
path = "raw/fac.geojson"
value_chains = { "Lime kiln" = "other" }

[input.institutions]
path = "raw/inst.geojson"
kinds = { Hochschule = "university" }

[input.projects]
path = "raw/projects.csv"
town = "place"
"""


def _innovation_files(raw: Path) -> None:
    gpd.GeoDataFrame({"id": ["F1", "F2", "F3"], "kind": ["coke plant", "Lime kiln", "cement"]},
                     geometry=[shapely.Point(86.1, 55.05), shapely.Point(86.2, 55.05),
                               shapely.Point(86.3, 55.05)], crs=4326).to_file(raw / "fac.geojson")
    gpd.GeoDataFrame({"id": ["U1", "T1", "X1"],
                      "kind": ["Hochschule", "Technology park", "University"]},
                     geometry=[shapely.Point(86.06, 55.06), shapely.Point(86.26, 55.01),
                               shapely.Point(86.2, 55.1)], crs=4326).to_file(raw / "inst.geojson")
    (raw / "projects.csv").write_text(
        "project,investment_mn_usd,jobs,deposit_id,place\n"
        "Coke battery,120,300,M1,\n"         # at mine M1
        "Campus lab,15,40,,alpha\n"          # in town Alpha (case-insensitive)
        "Ghost mine,7,,M99,\n"               # unknown deposit: unplaced, warned
        "Somewhere,3,,,\n", encoding="utf-8")  # no location: unplaced


def test_pipeline_loads_innovation_layers_and_writes_them(small_project):
    from minespace.pipeline import build, load_config
    from minespace.pipeline.builder import _read_output
    from minespace.pipeline.stages import region_from_outputs

    config_path = small_project(extra=INNOVATION_INPUTS)
    _innovation_files(config_path.parent / "raw")
    config = load_config(config_path)
    result = build(config, only="load")
    # the build goes on; the manifest (and the log) keep one warning each: the cement
    # plant without input, the ghost mine
    manifest = json.loads((result.out_dir / "manifest.json").read_text("utf-8"))
    notes = manifest["stages"]["load"]["warnings"]
    chain = [m for m in notes if m.startswith("MinespaceWarning") and "value-chain" in m]
    unplaced = [m for m in notes if m.startswith("ProjectsUnplacedWarning")]
    assert len(chain) == 1 and "fac.geojson" in chain[0] and "'F3'" in chain[0]
    assert len(unplaced) == 1 and "projects.csv" in unplaced[0]
    assert "line 4 (id 'P03'): deposit id 'M99'" in unplaced[0]
    gpkg = result.out_dir / "test_area.gpkg"
    projects = gpd.read_file(gpkg, layer="projects").set_index("project_id")
    assert projects["location"].to_dict() == {"P01": "deposit", "P02": "town",
                                              "P03": "unplaced", "P04": "unplaced"}
    assert projects.geometry[["P03", "P04"]].isna().all()
    assert projects.geometry[["P01", "P02"]].notna().all()
    institutions = gpd.read_file(gpkg, layer="institutions").set_index("institution_id")
    assert institutions["kind"].to_dict() == {"U1": "university", "T1": "technopark",
                                              "X1": "university"}
    facilities = gpd.read_file(gpkg, layer="facilities").set_index("facility_id")
    assert facilities["value_chain"].tolist()[:2] == ["coking_coal", "other"]
    assert pd.isna(facilities.loc["F3", "value_chain"])
    # the Region rebuilt from the load outputs carries both layers, unplaced rows included
    loaded = {name: _read_output(path) for name, path in result.outputs.items()}
    region = region_from_outputs(config, loaded)
    assert len(region.institutions) == 3 and len(region.projects) == 4
    assert region.projects.attrs["unplaced"] == {"count": 2, "investment": 7.0 + 3.0,
                                                 "currency": "USD", "unit": "million"}
    # the deposit's point, in the region's CRS
    assert region.projects.geometry["P01"].equals(region.deposits.geometry["M1"])


# -- the Kuzbass dataset ------------------------------------------------------------------------

def test_kuzbass_dataset_innovation_layers_by_hand():
    import csv

    from minespace.datasets._kuzbass import _cached

    with warnings.catch_warnings():
        warnings.simplefilter("error")          # loading the sample warns about nothing
        region = _cached.__wrapped__("auto")    # a fresh load, not the cached one
    tracker = [p for p in _features("facilities.geojson") if p["in_region_derived"]]
    plants = _features("processing_plants.geojson")
    assert len(region.facilities) == len(tracker) + len(plants)
    assert region.facilities.index.is_unique and region.facilities.crs == region.crs
    assert region.facilities.loc["K02", "value_chain"] == "coking_coal"     # the coke plant
    inst = [p for p in _features("institutions.geojson") if p["institution_id"] != "I10"]
    assert "I10" not in region.institutions.index and "I09" in region.institutions.index
    assert region.institutions["kind"].value_counts().to_dict() == Counter(
        p["kind"] for p in inst)
    with open(RAW / "projects_table1.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["location_hint"] for r in rows].index("Belovo") == 10        # P11
    assert region.projects["location"].to_dict() == {
        f"P{i:02d}": ("deposit" if i == 1 else "town" if i == 11 else "unplaced")
        for i in range(1, 13)}
    assert region.projects.geometry["P01"].equals(region.deposits.geometry["M0804"])
    belovo = region.agglomerations.index[region.agglomerations["name"] == "Belovo"][0]
    assert region.agglomerations.geometry[belovo].contains(region.projects.geometry["P11"])
    unplaced = sum(float(r["investment_bn_rub"]) for i, r in enumerate(rows)
                   if r["investment_bn_rub"] and i not in (0, 10))
    assert region.projects.attrs["unplaced"] == {"count": 10, "investment": unplaced,
                                                 "currency": "RUB", "unit": "billion"}
    moved = region.to_crs(4326)
    assert moved.projects.crs.to_epsg() == 4326 and moved.institutions.crs.to_epsg() == 4326
    assert moved.projects.geometry.isna().sum() == 10


@pytest.mark.slow
def test_kuzbass_pipeline_load_writes_institutions_and_projects(tmp_path):
    from minespace.pipeline import build
    from minespace.pipeline.builder import _read_output
    from minespace.pipeline.config import kuzbass_config
    from minespace.pipeline.stages import region_from_outputs

    config = kuzbass_config(tmp_path / "out")
    result = build(config, only="load")
    (gpkg,) = result.out_dir.glob("*.gpkg")
    projects = gpd.read_file(gpkg, layer="projects")
    assert len(projects) == 12 and projects.geometry.isna().sum() == 10
    assert len(gpd.read_file(gpkg, layer="institutions")) == 21 - 1
    region = region_from_outputs(config, {n: _read_output(p) for n, p in result.outputs.items()})
    assert region.projects["location"].value_counts().to_dict() == {"unplaced": 10,
                                                                   "deposit": 1, "town": 1}
    assert region.projects.attrs["unplaced"]["count"] == 10
    assert len(region.institutions) == 20


def test_region_from_layers_institutions_and_plain_projects_table():
    k = ms.datasets.kuzbass()
    inst = gpd.GeoDataFrame({"kind": ["university", "research"]},
                            geometry=[shapely.Point(86.05, 55.35), shapely.Point(100.0, 60.0)],
                            index=pd.Index(["IN", "OUT"], name="institution_id"), crs=4326)
    table = pd.DataFrame({"deposit_id": ["M0804", None], "town": [None, "KEMEROVO"],
                          "investment": [1.0, 2.0]},
                         index=pd.Index(["a", "b"], name="project_id"))
    with pytest.warns(ms.FeaturesDroppedWarning, match="institutions.*OUT"):
        region = ms.Region.from_layers(deposits=k.deposits, agglomerations=k.agglomerations,
                                       corridors=k.corridors, boundary=k.boundary,
                                       institutions=inst, projects=table)
    assert list(region.institutions.index) == ["IN"] and region.institutions.crs == region.crs
    assert region.projects["location"].tolist() == ["deposit", "town"]
    assert region.projects.crs == region.crs
    assert "institutions" in region.layers and "projects" in region.layers
    assert "institutions" in repr(region) and "deposit 1, town 1" in repr(region)
    assert "location" not in table                       # the table is not modified
    # a plain table given to Region(...) directly is kept as it is (no CRS to check)
    direct = ms.Region(name="x", boundary=k.boundary, deposits=k.deposits,
                       agglomerations=k.agglomerations, corridors=k.corridors, projects=table)
    assert direct.projects is table and "projects" not in direct.layers
    assert direct.to_crs(4326).projects is table and "(table)" in repr(direct)


def test_region_refuses_swapped_institutions():
    k = ms.datasets.kuzbass()
    swapped = gpd.GeoDataFrame({"kind": ["university"] * 2},
                               geometry=[shapely.Point(55.35, 86.05), shapely.Point(54.0, 87.0)],
                               crs=4326)
    with pytest.raises(ms.LayerError, match=r"institutions lie at .* swapped"):
        ms.Region.from_layers(deposits=k.deposits, agglomerations=k.agglomerations,
                              corridors=k.corridors, boundary=k.boundary, institutions=swapped)


def test_validate_summary_marks_only_the_layers_own_id_as_index(tmp_path):
    """`minespace validate` printed a project's deposit link as "deposit -> deposit_id
    (index)"; the index of a projects layer is project_id."""
    from minespace.io.readers import READ_INFO
    from minespace.pipeline.stages import describe_layers

    path = tmp_path / "projects.csv"
    path.write_text("code,project,investment_bn_rub,mine\nX1,Coke oven,2.5,M1\n",
                    encoding="utf-8")
    projects = ms.read_projects(path, id="code", deposit="mine")
    text = describe_layers({"projects": projects.attrs[READ_INFO]})
    assert "code -> project_id (index)" in text
    assert "mine -> deposit_id" in text and "deposit_id (index)" not in text
