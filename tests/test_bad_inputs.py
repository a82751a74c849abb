"""Every user mistake is a user error, and ``validate`` accepts exactly what ``build`` does.

Each case starts from the ``small_project`` fixture (our own six mines, two towns, two
lines and a boundary, written to ``tmp_path``), breaks one thing -- a file or a config
value -- and runs the real command line (click's ``CliRunner``):

* ``test_bad_input_is_a_user_error``: ``minespace validate`` exits 2 (config) or 3 (data),
  the message names the file or key, and no traceback is printed;
* ``test_validate_and_build_agree``: ``minespace build`` fails with the same exit code and
  the same error block, before any stage after the load ran, and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from click.testing import CliRunner
from rasterio.transform import from_origin

import minespace as ms
from minespace.cli import cli

# -- editing the small project ------------------------------------------------------------

MINES_PATH = 'path = "raw/mines.gpkg"\nlayer = "mines"'


def _replace(config: Path, old: str, new: str) -> None:
    text = config.read_text()
    assert old in text, old
    config.write_text(text.replace(old, new, 1))


def _append(config: Path, text: str) -> None:
    config.write_text(config.read_text() + "\n" + text + "\n")


def _mines(raw: Path, n: int = 6, **columns) -> None:
    """Rewrite raw/mines.gpkg (six mines inside the boundary unless *geometry* is given)."""
    geometry = columns.pop("geometry", [shapely.Point(86.02 + 0.05 * i, 55.02 + 0.03 * (i % 3))
                                        for i in range(n)])
    data = {"mine_id": [f"M{i}" for i in range(n)],
            "mineral": ["coal", "coal", "iron", "coal", "iron", "coal"][:n],
            "production": [1.0, 2.0, 0.5, 3.0, 1.5, 0.7][:n], **columns}
    gpd.GeoDataFrame(data, geometry=geometry, crs=4326).to_file(raw / "mines.gpkg",
                                                                 layer="mines")


def _deposits_file(config: Path, name: str, *, weight: bool = False) -> None:
    """Point [input.deposits] at raw/<name> (dropping the weight, unless kept)."""
    _replace(config, MINES_PATH, f'path = "raw/{name}"')
    if not weight:
        _replace(config, 'weight = { output_mt = "production" }\n', "")


def _territory_polygons(config: Path, name: str, frame: gpd.GeoDataFrame, *,
                        id: str | None = "tid") -> None:
    path = config.parent / "raw" / name
    if name.endswith(".parquet"):
        frame.to_parquet(path)
    else:
        frame.to_file(path)
    _replace(config, 'kind = "square"', 'kind = "polygons"\npath = "raw/' + name + '"'
             + (f'\nid = "{id}"' if id else ""))


def _three_counties(crs=4326) -> gpd.GeoDataFrame:
    """Three vertical strips covering the boundary (85.98..86.40 x 54.98..55.12)."""
    edges = [85.98, 86.12, 86.26, 86.40]
    return gpd.GeoDataFrame({"tid": ["west", "centre", "east"]},
                            geometry=[shapely.box(edges[i], 54.98, edges[i + 1], 55.12)
                                      for i in range(3)], crs=crs)


def _tif(path: Path, *, crs=4326, origin=(85.9, 55.2), res=0.02) -> None:
    with rasterio.open(path, "w", driver="GTiff", width=30, height=15, count=1,
                       dtype="float32", crs=crs, transform=from_origin(*origin, res, res)) as dst:
        dst.write(np.ones((1, 15, 30), dtype="float32"))


@dataclass(frozen=True)
class Case:
    name: str
    edit: Callable[[Path], None]     # receives the config path
    code: int                        # 2 config, 3 data
    names: tuple[str, ...]           # what the message must name (file, key, value)

    def __str__(self) -> str:
        return self.name


def _edit(func: Callable[[Path, Path], None]) -> Callable[[Path], None]:
    return lambda config: func(config, config.parent / "raw")


CASES: list[Case] = []


def case(code: int, *names: str):
    def register(func):
        CASES.append(Case(func.__name__, _edit(func), code, names))
        return func
    return register


# -- files: exit 3 ------------------------------------------------------------------------

@case(3, "m.csv", "empty (0 bytes)")
def deposits_csv_zero_bytes(config, raw):
    (raw / "m.csv").write_bytes(b"")
    _deposits_file(config, "m.csv")


@case(3, "m.csv", "no features")
def deposits_csv_header_only(config, raw):
    (raw / "m.csv").write_text("mine_id,mineral,lon,lat\n")
    _deposits_file(config, "m.csv")


@case(3, "mines.gpkg", "deposits layer has no features")
def deposits_layer_empty(config, raw):
    _mines(raw, 0)


@case(3, "towns.geojson", "agglomerations layer has no features")
def agglomerations_layer_empty(config, raw):
    gpd.GeoDataFrame({"town": [], "pop": []}, geometry=[], crs=4326).to_file(
        raw / "towns.geojson")


@case(3, "lines.geojson", "corridors layer has no features")
def corridors_layer_empty(config, raw):
    gpd.GeoDataFrame({"class": []}, geometry=[], crs=4326).to_file(raw / "lines.geojson")


@case(3, "mines.gpkg", "none of the 2 deposits")
def deposits_all_outside_boundary(config, raw):
    _mines(raw, 2, geometry=[shapely.Point(100.0, 40.0), shapely.Point(100.1, 40.0)])


@case(3, "mines.gpkg")
def deposits_all_swapped(config, raw):
    _mines(raw, geometry=[shapely.Point(55.02 + 0.03 * (i % 3), 56.02 + 0.05 * i)
                          for i in range(6)])


@case(3, "area.geojson", "Point, expected Polygon")
def boundary_is_points(config, raw):
    gpd.GeoDataFrame({"name": ["x"]}, geometry=[shapely.Point(86.1, 55.0)],
                     crs=4326).to_file(raw / "area.geojson")


@case(3, "area.geojson", "boundary layer has no features")
def boundary_empty(config, raw):
    gpd.GeoDataFrame({"name": []}, geometry=[], crs=4326).to_file(raw / "area.geojson")


@case(3, "mines.gpkg", "cannot be read")
def deposits_not_a_geopackage(config, raw):
    (raw / "mines.gpkg").write_bytes(b"this is not a GeoPackage")


@case(3, "towns.geojson", "cannot be read")
def agglomerations_invalid_geojson(config, raw):
    (raw / "towns.geojson").write_text("{ not json")


@case(3, "m.parquet", "not a GeoParquet file")
def deposits_plain_parquet(config, raw):
    pd.DataFrame({"mine_id": ["a"], "lon": [86.1], "lat": [55.0]}).to_parquet(raw / "m.parquet")
    _deposits_file(config, "m.parquet")


@case(3, "mines.gpkg", "minez")
def deposits_layer_name_wrong(config, raw):
    _replace(config, 'layer = "mines"', 'layer = "minez"')


@case(3, "m.shp", "no CRS")
def deposits_shapefile_without_crs(config, raw):
    frame = gpd.read_file(raw / "mines.gpkg", layer="mines")
    pyogrio_write = frame.set_crs(None, allow_override=True)
    with pytest.warns(UserWarning, match="crs"):
        pyogrio_write.to_file(raw / "m.shp")
    _deposits_file(config, "m.shp", weight=True)


@case(3, "m.csv", "line 3", "'lon'", "not a number")
def deposits_csv_bad_coordinate(config, raw):
    (raw / "m.csv").write_text("mine_id,mineral,lon,lat\nA,coal,86.05,55.05\nB,coal,abc,55.0\n")
    _deposits_file(config, "m.csv")


@case(3, "m.csv", "latitude")
def deposits_csv_without_latitude(config, raw):
    (raw / "m.csv").write_text("mine_id,mineral,lon\nA,coal,86.05\n")
    _deposits_file(config, "m.csv")


@case(3, "mines.gpkg", "mine_id", "duplicate")
def deposits_duplicate_ids(config, raw):
    _mines(raw, mine_id=["M1", "M1", "M2", "M3", "M4", "M5"])


@case(3, "mines.gpkg", "production", "negative")
def deposits_negative_weight(config, raw):
    _mines(raw, production=[1.0, -2.0, 0.5, 3.0, 1.5, 0.7])


@case(3, "mines.gpkg", "production", "not a number")
def deposits_text_weight(config, raw):
    _mines(raw, production=["1", "two", "0.5", "3", "1.5", "0.7"])


@case(3, "mines.gpkg", "Polygon, expected Point")
def deposits_are_polygons(config, raw):
    _mines(raw, geometry=[shapely.Point(86.02 + 0.05 * i, 55.02).buffer(0.01)
                          for i in range(6)])


@case(3, "towns.geojson", "population")
def agglomerations_without_population(config, raw):
    gpd.GeoDataFrame({"town": ["Alpha"]}, geometry=[shapely.box(86.05, 55.05, 86.08, 55.07)],
                     crs=4326).to_file(raw / "towns.geojson")


@case(3, "towns.geojson", "negative")
def agglomerations_negative_population(config, raw):
    gpd.GeoDataFrame({"town": ["Alpha"], "pop": [-5]},
                     geometry=[shapely.box(86.05, 55.05, 86.08, 55.07)],
                     crs=4326).to_file(raw / "towns.geojson")


@case(3, "lines.geojson", "Point")
def corridors_are_points(config, raw):
    gpd.GeoDataFrame({"class": ["rail"]}, geometry=[shapely.Point(86.1, 55.05)],
                     crs=4326).to_file(raw / "lines.geojson")


@case(3, "t.geojson", "Point, expected Polygon")
def territories_are_points(config, raw):
    frame = _three_counties()
    frame = frame.set_geometry(frame.geometry.representative_point())
    _territory_polygons(config, "t.geojson", frame)


@case(3, "t.geojson", "tid", "duplicate territory id 'west'")
def territories_duplicate_ids(config, raw):
    frame = _three_counties()
    frame["tid"] = ["west", "west", "east"]
    _territory_polygons(config, "t.geojson", frame)


@case(3, "t.shp", "no CRS")
def territories_without_crs(config, raw):
    frame = _three_counties().set_crs(None, allow_override=True)
    with pytest.warns(UserWarning, match="crs"):
        _territory_polygons(config, "t.shp", frame)


@case(3, "pop.tif", "does not overlap the study area")
def population_raster_elsewhere(config, raw):
    _tif(raw / "pop.tif", origin=(10.0, 10.0))
    _append(config, '[input.population]\npath = "raw/pop.tif"')


@case(3, "dem.tif", "does not overlap the study area")
def elevation_raster_elsewhere(config, raw):
    _tif(raw / "dem.tif", origin=(-60.0, -10.0))
    _append(config, '[input.elevation]\npath = "raw/dem.tif"')


@case(3, "mines.gpkg", "'status'", "no value", "concentration.by")
def concentration_by_column_with_empty_cells(config, raw):
    _mines(raw, status=["operating", None, "operating", "closed", None, "operating"])
    _replace(config, 'by = "commodity"', 'by = "status"')


@case(3, "mines.gpkg", "1 deposit(s) in the territories, at 1 place(s)")
def deposits_only_one(config, raw):
    _mines(raw, 1)


@case(3, "mines.gpkg", "3 deposit(s) in the territories, at 1 place(s)")
def deposits_all_at_one_place(config, raw):
    _mines(raw, 3, geometry=[shapely.Point(86.1, 55.05)] * 3)


@case(3, "mines.gpkg", "'output_mt'", "0 deposit(s) with output_mt > 0")
def deposits_weights_all_zero(config, raw):
    _mines(raw, production=[0.0] * 6)
    _replace(config, 'by = "commodity"', 'by = "commodity"\nweight = "output_mt"')


@case(3, "towns.geojson", "no agglomerations left in the study area")
def agglomerations_all_elsewhere(config, raw):
    gpd.GeoDataFrame({"town": ["Far"], "pop": [5000]},
                     geometry=[shapely.box(100.05, 40.05, 100.08, 40.07)],
                     crs=4326).to_file(raw / "towns.geojson")


@case(3, "towns.geojson", "none of the 1 agglomerations lies within the study area's extent")
def agglomerations_all_beside_the_study_area(config, raw):
    # about 40 km east of the boundary: kept as a destination, but off the travel-time grid
    gpd.GeoDataFrame({"town": ["Near"], "pop": [5000]},
                     geometry=[shapely.box(87.0, 55.04, 87.03, 55.06)],
                     crs=4326).to_file(raw / "towns.geojson")


@case(3, "mines.gpkg", "none of the 6 deposits lies inside any territory (t.geojson)")
def territories_away_from_the_deposits(config, raw):
    frame = _three_counties()
    frame["geometry"] = frame.geometry.translate(xoff=2.0)   # 2 degrees east of the mines
    _territory_polygons(config, "t.geojson", frame)
    _append(config, "[clusters]\nn_regions = 2")


@case(3, "fac.geojson", "facilities layer has no features", "remove [input.facilities]")
def facilities_layer_empty(config, raw):
    gpd.GeoDataFrame({"kind": []}, geometry=[], crs=4326).to_file(raw / "fac.geojson")
    _append(config, '[input.facilities]\npath = "raw/fac.geojson"')


# -- config: exit 2 -----------------------------------------------------------------------

@case(2, "[project] out_dir", "is a file, not a folder")
def out_dir_is_a_file(config, raw):
    (config.parent / "processed").write_text("not a folder")


@case(2, "[project] out_dir", "inside", "which is a file")
def out_dir_inside_a_file(config, raw):
    (config.parent / "processed").write_text("not a folder")
    _replace(config, 'out_dir = "processed"', 'out_dir = "processed/run1"')


@case(2, "[input.population] crs", "pop.tif has no CRS")
def population_raster_without_crs(config, raw):
    _tif(raw / "pop.tif", crs=None)
    _append(config, '[input.population]\npath = "raw/pop.tif"')


@case(2, "[input.population] crs", "declares its own CRS")
def population_raster_crs_key_on_a_file_with_crs(config, raw):
    _tif(raw / "pop.tif")
    _append(config, '[input.population]\npath = "raw/pop.tif"\ncrs = "EPSG:4326"')


@case(2, "[clusters] n_regions = 100", "more regions than territories", "cell_km = 5")
def n_regions_above_grid_cells(config, raw):
    _append(config, "[clusters]\nn_regions = 100")


@case(2, "[clusters] n_regions = 4", "there are 3 territories (t.geojson has 3 polygons)")
def n_regions_above_polygon_count(config, raw):
    _territory_polygons(config, "t.geojson", _three_counties())
    _append(config, "[clusters]\nn_regions = 4")


@case(2, "[territories] cell_km = 500", "1 territory", "at least 3")
def too_few_territories(config, raw):
    _replace(config, "cell_km = 5", "cell_km = 500")


@case(2, "[territories] path", "t.geojson", "2 territories")
def too_few_territory_polygons(config, raw):
    _territory_polygons(config, "t.geojson", _three_counties().iloc[:2])
    _append(config, "[clusters]\nn_regions = 2")


@case(2, "[territories] id = \"zz\"", "t.geojson has no such column", "tid")
def territories_id_not_in_file(config, raw):
    _territory_polygons(config, "t.geojson", _three_counties(), id="zz")


@case(2, "[concentration] by = \"nothing\"", "mines.gpkg", "no column 'nothing'")
def concentration_by_unknown_column(config, raw):
    _replace(config, 'by = "commodity"', 'by = "nothing"')


@case(2, "[concentration] by = \"lat\"", "m.csv", "not kept under its own name")
def concentration_by_column_consumed_by_reader(config, raw):
    (raw / "m.csv").write_text("mine_id,mineral,lon,lat\n"
                               + "".join(f"M{i},coal,{86.02 + 0.05 * i},55.05\n"
                                         for i in range(6)))
    _deposits_file(config, "m.csv")
    _replace(config, 'by = "commodity"', 'by = "lat"')


@case(2, "[concentration] weight = \"tonnes\"", "no column 'tonnes'")
def concentration_weight_unknown_column(config, raw):
    _replace(config, 'by = "commodity"', 'by = "commodity"\nweight = "tonnes"')


@case(2, "[concentration] weight = \"commodity\"", "not numeric", "[input.deposits] weight")
def concentration_weight_not_numeric(config, raw):
    _replace(config, 'by = "commodity"', 'by = "commodity"\nweight = "commodity"')


@case(2, "[maps] metric = \"nope\"", "lq__coal")
def maps_metric_unknown(config, raw):
    _replace(config, "tiles = false", 'tiles = false\nmetric = "nope"')


@case(2, "[maps] metric = \"hotspot\"", "not a numeric territory column")
def maps_metric_not_numeric(config, raw):
    _replace(config, "tiles = false", 'tiles = false\nmetric = "hotspot"')


@case(3, "lines.geojson", "'hovercraft'", "[input.corridors] speeds = { hovercraft =")
def corridor_kind_without_speed(config, raw):
    gpd.GeoDataFrame({"class": ["hovercraft", "road_primary"]},
                     geometry=[shapely.LineString([(86.0, 55.06), (86.35, 55.01)]),
                               shapely.LineString([(86.15, 55.0), (86.15, 55.1)])],
                     crs=4326).to_file(raw / "lines.geojson")


def _institutions(raw: Path, kinds: list[str], name: str = "inst.geojson") -> None:
    gpd.GeoDataFrame({"id": [f"I{i}" for i in range(len(kinds))], "kind": kinds},
                     geometry=[shapely.Point(86.1 + 0.05 * i, 55.05) for i in range(len(kinds))],
                     crs=4326).to_file(raw / name)


@case(3, "inst.geojson", "feature 1 (id 'I1')", "'fachhochschule'", "university_branch",
      "[input.institutions] kinds = { fachhochschule =")
def institution_kind_unknown(config, raw):
    _institutions(raw, ["university", "Fachhochschule"])
    _append(config, '[input.institutions]\npath = "raw/inst.geojson"')


@case(3, "inst.geojson", "institutions layer has no features", "remove [input.institutions]")
def institutions_layer_empty(config, raw):
    gpd.GeoDataFrame({"kind": []}, geometry=[], crs=4326).to_file(raw / "inst.geojson")
    _append(config, '[input.institutions]\npath = "raw/inst.geojson"')


@case(2, "[input.institutions.kinds] Hochschule = \"college of magic\"",
      "not an institution kind", "university_branch")
def institutions_kinds_mapping_unknown_target(config, raw):
    _institutions(raw, ["university"])
    _append(config, '[input.institutions]\npath = "raw/inst.geojson"\n'
            'kinds = { Hochschule = "college of magic" }')


@case(3, "p.csv", "projects layer has no features", "remove [input.projects]")
def projects_table_header_only(config, raw):
    (raw / "p.csv").write_text("project,investment_bn_rub,deposit_id\n")
    _append(config, '[input.projects]\npath = "raw/p.csv"')


@case(3, "p.csv", "column 'investment'", "currency", "currency = \"RUB\"")
def projects_investment_without_currency(config, raw):
    (raw / "p.csv").write_text("project,investment,deposit_id\nA,3,M1\n")
    _append(config, '[input.projects]\npath = "raw/p.csv"')


@case(3, "p.csv", "line 3", "investment -2 is negative")
def projects_investment_negative(config, raw):
    (raw / "p.csv").write_text("project,investment_bn_rub,deposit_id\nA,3,M1\nB,-2,M2\n")
    _append(config, '[input.projects]\npath = "raw/p.csv"')


@case(2, "[input.projects] unit = \"lakh\"", "billion")
def projects_unit_unknown(config, raw):
    (raw / "p.csv").write_text("project,investment,deposit_id\nA,3,M1\n")
    _append(config, '[input.projects]\npath = "raw/p.csv"\ncurrency = "INR"\nunit = "lakh"')


@case(2, "[input.facilities.value_chains] cement = 3", "must be the kind's input")
def facilities_value_chains_not_text(config, raw):
    gpd.GeoDataFrame({"kind": ["cement"]}, geometry=[shapely.Point(86.1, 55.05)],
                     crs=4326).to_file(raw / "fac.geojson")
    _append(config, '[input.facilities]\npath = "raw/fac.geojson"\nvalue_chains = { cement = 3 }')


@case(2, "[project] crs = \"EPSG:4326\"", "not a projected CRS in metres")
def project_crs_geographic(config, raw):
    _replace(config, 'out_dir = "processed"', 'out_dir = "processed"\ncrs = 4326')


@case(2, "[project] crs = \"EPSG:999999\"", "not a CRS pyproj knows")
def project_crs_unknown(config, raw):
    _replace(config, 'out_dir = "processed"', 'out_dir = "processed"\ncrs = "EPSG:999999"')


@case(2, "[input.agglomerations] path", "is a folder")
def layer_path_is_a_folder(config, raw):
    (raw / "towns_dir.geojson").mkdir()
    _replace(config, "raw/towns.geojson", "raw/towns_dir.geojson")


@case(2, "[input.corridors] path", "file not found")
def layer_path_missing(config, raw):
    _replace(config, "raw/lines.geojson", "raw/railways.geojson")


@case(2, "[clusters] weights", "every score weight is 0")
def cluster_weights_all_zero(config, raw):
    _append(config, "[clusters]\nweights = { concentration = 0, coherence = 0, "
            "agglomeration_access = 0, corridor_access = 0, diversification = 0, "
            "value_chain = 0, knowledge = 0, investment = 0 }")


@case(2, "[clusters] weights", "every weighted score component lacks its data",
      "knowledge: no institutions")
def cluster_weights_only_on_absent_layers(config, raw):
    # the five mining components at 0: only the innovation ones weigh, and this project
    # has no plants, institutions or projects
    _append(config, "[clusters]\nweights = { concentration = 0, coherence = 0, "
            "agglomeration_access = 0, corridor_access = 0, diversification = 0 }")


@case(2, "[clusters] n_region", "did you mean \"n_regions\"")
def config_key_typo(config, raw):
    _append(config, "[clusters]\nn_region = 4")


@case(2, "[engine] npartition", "did you mean \"npartitions\"")
def engine_key_typo(config, raw):
    _append(config, '[engine]\nkind = "dask"\nnpartition = 4')


@case(2, "[engine] npartitions", "npartitions or partition_size, not both")
def engine_both_partitionings(config, raw):
    _append(config, '[engine]\nkind = "dask"\nnpartitions = 4\npartition_size = 1000')


@case(2, "[engine] kind", "spark", "pandas", "dask")
def engine_unknown_kind(config, raw):
    _append(config, '[engine]\nkind = "spark"')


@case(2, "[engine] scheduler", "8786", "tcp://scheduler-host:8786")
def engine_scheduler_not_an_address(config, raw):
    _append(config, '[engine]\nscheduler = "scheduler-host:8786"')


def test_the_tables_are_large_enough():
    assert len(CASES) >= 40
    assert sum(c.code == 3 for c in CASES) >= 20
    assert len({c.name for c in CASES}) == len(CASES)
    assert sum(c.code == 2 for c in CASES) >= 20   # broken configs for validate == build


# -- running them -------------------------------------------------------------------------

def _invoke(command: str, config: Path):
    result = CliRunner().invoke(cli, [command, str(config)])
    # exit codes come from sys.exit: no uncaught exception
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _error_block(stderr: str) -> str:
    """The error report: from the first ``minespace:`` line to the end."""
    lines = stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("minespace: "))
    return "\n".join(lines[start:])


@pytest.fixture(params=CASES, ids=str)
def broken(request, small_project):
    config = small_project()
    request.param.edit(config)
    return request.param, config


def test_bad_input_is_a_user_error(broken):
    c, config = broken
    result = _invoke("validate", config)
    assert result.exit_code == c.code, result.output
    block = _error_block(result.stderr)
    label = "invalid configuration" if c.code == 2 else "invalid input data"
    assert block.startswith(f"minespace: {label}:"), block
    for name in c.names:
        assert name in block, (name, block)
    assert "Traceback" not in result.output
    assert "internal error" not in result.output


def test_validate_and_build_agree(broken):
    c, config = broken
    out_dir = config.parent / "processed"

    def files() -> list[Path]:  # the build lock file (.lock) stays by design
        if not out_dir.is_dir():
            return []
        return sorted(p for p in out_dir.rglob("*") if p.is_file() and p.name != ".lock")

    before = files()
    checked = _invoke("validate", config)
    built = _invoke("build", config)
    assert built.exit_code == c.code, built.output
    assert (built.exit_code, _error_block(built.stderr)) == (
        checked.exit_code, _error_block(checked.stderr))
    # failed before any stage after the load ran, and wrote nothing
    assert "stage territories" not in built.stderr
    assert files() == before


# -- what used to fail and now works ------------------------------------------------------

def test_geoparquet_boundary_and_territories_build(small_project):
    """GeoParquet is read with pyarrow: GDAL's ADBC driver in pyogrio's wheels claimed
    .parquet files and failed on a missing libduckdb.so."""
    config = small_project()
    raw = config.parent / "raw"
    gpd.read_file(raw / "area.geojson").to_parquet(raw / "area.parquet")
    _replace(config, "raw/area.geojson", "raw/area.parquet")
    _territory_polygons(config, "t.parquet", _three_counties())
    _append(config, "[clusters]\nn_regions = 2\nn_perturbations = 0")
    result = _invoke("build", config)
    assert result.exit_code == 0, result.output
    territories = gpd.read_parquet(config.parent / "processed" / "territories.parquet")
    assert sorted(territories["territory_id"]) == ["centre", "east", "west"]


def test_raster_without_crs_is_read_with_the_crs_key(small_project):
    config = small_project()
    _tif(config.parent / "raw" / "pop.tif", crs=None)
    _append(config, '[input.population]\npath = "raw/pop.tif"\ncrs = "EPSG:4326"')
    result = _invoke("validate", config)
    assert result.exit_code == 0, result.output


def test_hex_grid_round_trips_through_parquet_and_geopackage(tmp_path):
    region = ms.datasets.kuzbass()
    grid = ms.territories.hex_grid(region, cell_km=40)
    grid.to_parquet(tmp_path / "grid.parquet")      # raised "CRS is not JSON serializable"
    grid.to_file(tmp_path / "grid.gpkg")
    back = gpd.read_parquet(tmp_path / "grid.parquet")
    assert back.crs == grid.crs and len(back) == len(grid)
    assert gpd.read_file(tmp_path / "grid.gpkg").crs == grid.crs
    # the grid parameters survive the round trip: deposits are still binned by arithmetic
    deposits = region.deposits
    assert ms.territories.assign_deposits(back, deposits)["territory_id"].equals(
        ms.territories.assign_deposits(grid, deposits)["territory_id"])


@pytest.mark.slow
def test_checked_metric_names_are_the_columns_the_build_makes(small_project):
    """``maps.metric`` is checked against names derived without running the stages; they
    must be exactly the numeric territory columns a real build writes. Then a broken
    ``concentration.by`` is caught by the dry run although the load is up to date."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    from minespace.pipeline.checks import metric_columns

    config_path = small_project(extra="[clusters]\nn_regions = 4\nn_perturbations = 0\n")
    _replace(config_path, 'by = "commodity"', 'by = "commodity"\nweight = "output_mt"')
    config = ms.pipeline.load_config(config_path)
    result = ms.pipeline.build(config)
    conc, acc = result.read("concentration"), result.read("accessibility")
    territories = conc.join(acc[acc.columns.difference(conc.columns)])
    made = {c for c in territories.columns
            if is_numeric_dtype(territories[c]) and not is_bool_dtype(territories[c])}
    layers = {name: result.read(name) for name in ("boundary", "deposits", "corridors")}
    assert set(metric_columns(config, layers)) == made
    assert {"output_mt", "lq__coal", "dist_rail_km"} <= made   # weight, category, kind

    manifest = (config_path.parent / "processed" / "manifest.json").read_bytes()
    _replace(config_path, 'by = "commodity"', 'by = "mineral_type"')
    built = _invoke("build", config_path)
    assert built.exit_code == 2, built.output
    assert '[concentration] by = "mineral_type"' in built.stderr
    assert "stage concentration" not in built.stderr
    assert (config_path.parent / "processed" / "manifest.json").read_bytes() == manifest


def test_only_without_upstream_outputs_is_a_usage_error(small_project):
    config = small_project()
    for args in (["build", str(config), "--only", "maps"], ["map", str(config)]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, result.output
        assert "--only" in result.stderr and "run a full build first" in result.stderr
        assert "Traceback" not in result.output
