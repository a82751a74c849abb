"""Row filters (``where=``): grammar on a small hand-checked file, unsafe text refused,
unknown columns and type mismatches reported, config and manifest integration."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
import shapely

import minespace as ms
from minespace.errors import ConfigError, LayerError
from minespace.io._where import WhereSyntaxError, parse_where

CSV = """mine_id,name,mineral,status,output,country,lon,lat
M1,Alpha,coal,operating,1.5,PL,18.5,50.1
M2,Beta,coal,mothballed,2.0,PL,18.6,50.2
M3,Gamma,iron ore,retired,0.5,CZ,18.3,49.8
M4,Delta,coal,operating,,CZ,18.4,49.9
M5,Epsilon,coal,proposed,3.0,PL,18.7,50.3
M6,Zeta,iron ore,operating,12,PL,18.8,50.0
"""


@pytest.fixture
def mines_csv(tmp_path):
    path = tmp_path / "mines.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


# expected ids worked out by hand from the six rows above
@pytest.mark.parametrize("where, expected", [
    ("status in ('operating', 'mothballed')", ["M1", "M2", "M4", "M6"]),
    ("status in ['operating', 'mothballed',]", ["M1", "M2", "M4", "M6"]),
    # M4 has no output: a missing value satisfies no comparison
    ("status == 'operating' and output >= 2", ["M6"]),
    ("not (status == 'retired') and (country == 'CZ' or output > 2.5)", ["M4", "M5", "M6"]),
    ("output != 2", ["M1", "M3", "M5", "M6"]),
    ("output is null", ["M4"]),
    ("output is not null and output < 1", ["M3"]),
    ("status not in ['retired', 'proposed'] or mineral == 'iron ore'",
     ["M1", "M2", "M3", "M4", "M6"]),
    ("mine_id < 'M3'", ["M1", "M2"]),                    # text compares as text
    ("status IN ('operating') AND output < 2 OR name == \"Beta\"", ["M1", "M2"]),
    ("`country` == 'PL' and not status == 'proposed'", ["M1", "M2", "M6"]),
    ("status == \"__import__('os')\"", []),              # code inside quotes is only text
])
def test_where_keeps_the_hand_counted_rows(mines_csv, where, expected):
    out = ms.read_deposits(mines_csv, where=where, commodity="mineral")
    assert list(out.index) == expected


def test_where_is_recorded_and_logged(mines_csv, caplog):
    with caplog.at_level("INFO", logger="minespace"):
        out = ms.read_deposits(mines_csv, where="status in ('operating', 'mothballed')")
    assert "deposits: kept 4 of 6 rows (where status in ('operating', 'mothballed'))" \
        in caplog.text
    info = out.attrs[ms.io.readers.READ_INFO]
    assert (info["rows_read"], info["rows_kept"]) == (6, 4)
    assert info["columns"]["commodity"] == "mineral" and info["columns"]["deposit_id"] == "mine_id"


def test_messages_name_the_source_line_after_filtering(tmp_path):
    path = tmp_path / "mines.csv"
    path.write_text(CSV.replace("M4,Delta,coal,", "M4,Delta,,"), encoding="utf-8")
    with pytest.raises(LayerError) as exc:
        ms.read_deposits(path, where="status == 'operating'", commodity="mineral")
    (problem,) = exc.value.problems
    # header = line 1, so M4 is line 5 of the file (3rd kept row)
    assert problem.row == "line 5 (id 'M4')" and "commodity is empty" in problem.message


def test_rows_dropped_by_the_filter_are_not_checked(tmp_path):
    # M3 (retired) has no coordinates and M5 (proposed) no commodity: filtered out, fine
    path = tmp_path / "mines.csv"
    path.write_text(CSV.replace("M3,Gamma,iron ore,retired,0.5,CZ,18.3,49.8",
                                "M3,Gamma,iron ore,retired,0.5,CZ,,")
                       .replace("M5,Epsilon,coal,", "M5,Epsilon,,"), encoding="utf-8")
    with pytest.raises(LayerError) as exc:
        ms.read_deposits(path, commodity="mineral")
    # lon and lat empty, hence no geometry (M3); commodity empty (M5)
    assert len(exc.value.problems) == 4
    out = ms.read_deposits(path, commodity="mineral", where="status in ('operating', "
                           "'mothballed')")
    assert list(out.index) == ["M1", "M2", "M4", "M6"]
    with pytest.raises(LayerError) as exc:      # kept: still reported, with its line
        ms.read_deposits(path, commodity="mineral", where="status != 'proposed'")
    assert {p.row.split(" (")[0] for p in exc.value.problems} == {"line 4"}
    assert len(exc.value.problems) == 3


@pytest.mark.parametrize("text", [
    "__import__('os')",
    "__import__('os').system('echo hi')",
    "status == 'a'; import os",
    "status == os.system('x')",
    "status.__class__ == 'x'",
    "lambda: 1",
    "status == operating",            # bare word: must be quoted
    "(status == 'a'",
    "status in ('a' 'b')",
    "status ==",
    "",
    "status = 'a'",
    pytest.param("(" * 5000 + "status == 'a'" + ")" * 5000, id="5000-parentheses"),
    pytest.param("not " * 5000 + "status == 'a'", id="5000-nots"),   # no RecursionError
])
def test_unsafe_or_malformed_text_is_a_parse_error(text, mines_csv):
    with pytest.raises(WhereSyntaxError):
        parse_where(text)
    with pytest.raises(LayerError, match="where"):
        ms.read_deposits(mines_csv, where=text)


def test_parse_error_messages_say_where_and_why():
    with pytest.raises(WhereSyntaxError, match=r"quote text values, e.g. 'operating'"):
        parse_where("status == operating")
    with pytest.raises(WhereSyntaxError, match=r"unexpected character ';' at position 14"):
        parse_where("status == 'a'; import os")
    with pytest.raises(WhereSyntaxError, match=r"expected '\)' at position 15, got the end"):
        parse_where("(status == 'a'")


def test_unknown_column_lists_the_columns(mines_csv):
    with pytest.raises(LayerError) as exc:
        ms.read_deposits(mines_csv, where="stauts == 'operating' and output > 1")
    (problem,) = exc.value.problems
    assert problem.column == "stauts" and "not found" in problem.message
    assert "did you mean 'status'" in problem.hint
    assert "columns of the file: mine_id, name, mineral, status, output, country" in problem.hint


def test_type_mismatches(mines_csv):
    with pytest.raises(LayerError, match=r"'status' holds text but is compared \(>\) with the "
                       r"number 3"):
        ms.read_deposits(mines_csv, where="status > 3")
    frame = gpd.GeoDataFrame({"mineral": ["coal", "coal"], "output": [1.0, 5.0],
                              "active": [True, False]},
                             geometry=[shapely.Point(18, 50), shapely.Point(19, 50)], crs=4326)
    with pytest.raises(LayerError, match=r"'output' holds numbers but is compared \(in\) with "
                       r"'high'"):
        ms.read_deposits(frame, where="output in (1, 'high')")
    with pytest.raises(LayerError, match="'active' holds true/false"):
        ms.read_deposits(frame, where="active == 1")
    assert len(ms.read_deposits(frame, where="active == true and output < 2")) == 1
    # a numeric column of a frame compares as numbers
    assert len(ms.read_deposits(frame, where="output >= 5")) == 1


def _project(tmp_path, small_project, where):
    config = small_project()
    text = config.read_text()
    text = text.replace('[input.deposits]\n', f'[input.deposits]\nwhere = "{where}"\n')
    config.write_text(text)
    return config


def test_config_where_is_checked_up_front(tmp_path, small_project):
    config = _project(tmp_path, small_project, "__import__('os')")
    with pytest.raises(ConfigError) as exc:
        ms.pipeline.load_config(config)
    (problem,) = exc.value.problems
    assert problem.key == "input.deposits.where" and "expected a comparison" in problem.message


@pytest.mark.slow
def test_config_where_in_manifest_and_fingerprint(tmp_path, small_project):
    # small_project's mines: M0..M5 with mineral coal, coal, iron, coal, iron, coal
    config = _project(tmp_path, small_project, "mineral == 'coal'")
    cfg = ms.pipeline.load_config(config)
    first = ms.pipeline.build(cfg, only="load")
    record = first.manifest["stages"]["load"]["layers"]["deposits"]
    assert (record["rows_read"], record["rows_kept"]) == (6, 4)
    assert record["where"] == "mineral == 'coal'"
    assert record["categories"]["commodity"] == {"coal": 4}
    manifest = json.loads((cfg.out_dir / "manifest.json").read_text())
    assert manifest["stages"]["load"]["layers"]["deposits"]["rows_kept"] == 4
    fp = first.manifest["stages"]["load"]["fingerprint"]
    assert first.manifest["stages"]["load"]["params"]["layers"]["deposits"]["options"][
        "where"] == "mineral == 'coal'"
    config.write_text(config.read_text().replace("mineral == 'coal'", "mineral != 'coal'"))
    changed = ms.pipeline.build(ms.pipeline.load_config(config), only="load")
    assert changed.manifest["stages"]["load"]["fingerprint"] != fp
    assert changed.manifest["stages"]["load"]["layers"]["deposits"]["rows_kept"] == 2


def test_dates_and_geometry(tmp_path):
    frame = gpd.GeoDataFrame(
        {"mineral": ["coal", "coal", "coal"],
         "licensed": gpd.pd.to_datetime(["2019-05-01", "2021-01-31", None])},
        geometry=[shapely.Point(18, 50), shapely.Point(19, 50), shapely.Point(18.5, 50)],
        crs=4326)
    frame.to_file(tmp_path / "mines.gpkg")
    out = ms.read_deposits(tmp_path / "mines.gpkg", where="licensed >= '2020-01-01'")
    assert len(out) == 1 and out["licensed"].iloc[0].year == 2021
    assert len(ms.read_deposits(frame, where="licensed is null")) == 1
    with pytest.raises(LayerError, match=r"'licensed' holds dates but is compared \(<\) with 5"):
        ms.read_deposits(frame, where="licensed < 5")
    with pytest.raises(LayerError, match="the geometry cannot be filtered"):
        ms.read_deposits(frame, where="geometry is null")


def test_syntax_error_is_a_minespace_error():
    # every exception the package raises for user input derives from MinespaceError (STYLE: errors)
    from minespace.errors import MinespaceError
    from minespace.io._where import WhereSyntaxError, parse_where

    with pytest.raises(MinespaceError):
        parse_where("status ==")
    assert issubclass(WhereSyntaxError, ValueError)
