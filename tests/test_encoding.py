"""Text encodings of input files (issue 12 §4): non-UTF-8 text is read with
``encoding=`` or refused naming the file and the option, never garbled; a UTF-8
byte-order mark does not hide the first column. Real files written in cp1251."""

from __future__ import annotations

import json
import zipfile

import geopandas as gpd
import pytest
import shapely
from click.testing import CliRunner

import minespace as ms
from minespace.cli import cli
from minespace.pipeline import load_config
from minespace.pipeline.stages import load_region

NAMES = ["Кемерово", "Белово", "Междуреченск"]
CSV = ("mine_id,name,mineral,lon,lat\n"
       + "".join(f"M{i},{n},coal,{86.0 + 0.1 * i},{55.0 + 0.05 * i}\n"
                 for i, n in enumerate(NAMES)))


def _frame():
    return gpd.GeoDataFrame({"mine_id": [f"M{i}" for i in range(3)], "name": NAMES,
                             "mineral": ["coal"] * 3},
                            geometry=[shapely.Point(86.0 + 0.1 * i, 55.0) for i in range(3)],
                            crs=4326)


# -- CSV -----------------------------------------------------------------------------------

def test_cp1251_csv_is_refused_naming_file_and_option(tmp_path):
    path = tmp_path / "mines_cp1251.csv"
    path.write_bytes(CSV.encode("cp1251"))
    with pytest.raises(ms.LayerError) as exc:
        ms.read_deposits(path, id="mine_id")
    problem = exc.value.problems[0]
    assert problem.source == "mines_cp1251.csv"
    assert problem.row == "line 2, byte 0xca"      # "К" is 0xCA in cp1251, on line 2
    assert "not UTF-8" in problem.message
    assert "encoding='cp1251'" in problem.hint and "[input.<layer>]" in problem.hint


def test_cp1251_csv_read_with_encoding(tmp_path):
    path = tmp_path / "mines_cp1251.csv"
    path.write_bytes(CSV.encode("cp1251"))
    deposits = ms.read_deposits(path, id="mine_id", encoding="cp1251")
    assert deposits["name"].tolist() == NAMES
    assert "\ufffd" not in "".join(deposits["name"])


def test_utf8_bom_does_not_hide_first_column(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + CSV.encode("utf-8"))
    deposits = ms.read_deposits(path)           # mine_id found by name: the first column
    assert deposits.index.tolist() == ["M0", "M1", "M2"]
    assert not any("\ufeff" in str(c) for c in deposits.columns)
    assert deposits["name"].tolist() == NAMES


def test_wrong_encoding_given_is_reported(tmp_path):
    path = tmp_path / "mines.csv"
    path.write_bytes(CSV.encode("cp1251"))
    with pytest.raises(ms.LayerError, match="unknown encoding 'cp-nope'"):
        ms.read_deposits(path, encoding="cp-nope")
    path.write_bytes(CSV.encode("utf-8"))   # Cyrillic is not ASCII: refused, not replaced
    with pytest.raises(ms.LayerError, match="not valid ascii"):
        ms.read_deposits(path, encoding="ascii")


# -- Shapefile (.dbf without .cpg) ----------------------------------------------------------

def _shapefile(tmp_path, encoding, *, cpg: bool):
    path = tmp_path / "mines.shp"
    _frame().to_file(path, encoding=encoding)
    if not cpg:
        (tmp_path / "mines.cpg").unlink()
    assert (tmp_path / "mines.dbf").read_bytes()[29] == 0  # no code page in the header
    return path


def test_cp1251_shapefile_without_cpg_is_refused(tmp_path):
    path = _shapefile(tmp_path, "cp1251", cpg=False)
    with pytest.raises(ms.LayerError) as exc:
        ms.read_deposits(path, id="mine_id", commodity="mineral")
    problem = exc.value.problems[0]
    assert problem.source == "mines.shp" and "no .cpg" in problem.message
    assert "encoding='cp1251'" in problem.hint
    deposits = ms.read_deposits(path, id="mine_id", commodity="mineral", encoding="cp1251")
    assert deposits["name"].tolist() == NAMES


@pytest.mark.parametrize("encoding,cpg", [("utf-8", False), ("utf-8", True), ("cp1251", True)])
def test_shapefile_names_come_out_right(tmp_path, encoding, cpg):
    # without a .cpg GDAL assumes ISO-8859-1: UTF-8 names became 'Ð\x9aÐµÐ¼...'
    path = _shapefile(tmp_path, encoding, cpg=cpg)
    deposits = ms.read_deposits(path, id="mine_id", commodity="mineral")
    assert deposits["name"].tolist() == NAMES


def test_zipped_cp1251_shapefile_without_cpg(tmp_path):
    _shapefile(tmp_path, "cp1251", cpg=False)
    archive = tmp_path / "mines.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for ext in ("shp", "shx", "dbf", "prj"):
            zf.write(tmp_path / f"mines.{ext}", f"mines.{ext}")
    with pytest.raises(ms.LayerError, match=r"no \.cpg"):
        ms.read_deposits(archive, commodity="mineral")
    deposits = ms.read_deposits(archive, commodity="mineral", encoding="cp1251")
    assert deposits["name"].tolist() == NAMES


# -- GeoJSON -------------------------------------------------------------------------------

def _geojson_text():
    return json.dumps(json.loads(_frame().to_json()), ensure_ascii=False)


def test_cp1251_geojson(tmp_path):
    path = tmp_path / "mines.geojson"
    path.write_bytes(_geojson_text().encode("cp1251"))
    with pytest.raises(ms.LayerError) as exc:
        ms.read_deposits(path, commodity="mineral")
    assert exc.value.problems[0].source == "mines.geojson"
    assert "encoding='cp1251'" in exc.value.problems[0].hint
    deposits = ms.read_deposits(path, commodity="mineral", encoding="cp1251")
    assert deposits["name"].tolist() == NAMES


def test_utf8_bom_geojson(tmp_path):
    path = tmp_path / "mines.geojson"
    path.write_bytes(b"\xef\xbb\xbf" + _geojson_text().encode("utf-8"))
    assert ms.read_deposits(path, commodity="mineral")["name"].tolist() == NAMES


def test_encoding_for_a_utf8_only_format_is_refused(tmp_path):
    path = tmp_path / "mines.gpkg"
    _frame().to_file(path)
    with pytest.raises(ms.LayerError, match=r"does not apply to \.gpkg"):
        ms.read_deposits(path, commodity="mineral", encoding="cp1251")


# -- pipeline config -----------------------------------------------------------------------

def _csv_project(small_project, encoding_line: str):
    config = small_project(weight=False)
    (config.parent / "raw" / "mines.csv").write_bytes(CSV.encode("cp1251"))
    text = config.read_text()
    old = 'path = "raw/mines.gpkg"\nlayer = "mines"\n'
    assert old in text
    config.write_text(text.replace(old, f'path = "raw/mines.csv"\n{encoding_line}'))
    return config


def test_pipeline_encoding_key(small_project):
    config = _csv_project(small_project, 'encoding = "cp1251"\n')
    region = load_region(load_config(config))
    assert sorted(region.deposits["name"]) == sorted(NAMES)


def test_pipeline_without_encoding_names_file_and_key(small_project):
    config = _csv_project(small_project, "")
    result = CliRunner().invoke(cli, ["validate", str(config)])
    assert result.exit_code == 3
    assert "mines.csv" in result.output and "encoding" in result.output
    assert "Traceback" not in result.output


def test_pipeline_unknown_encoding_is_a_config_error(small_project):
    config = _csv_project(small_project, 'encoding = "klingon"\n')
    with pytest.raises(ms.ConfigError) as exc:
        load_config(config)
    assert exc.value.key == "input.deposits.encoding"
