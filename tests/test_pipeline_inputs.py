"""Config keys of the input layers: where, id = false, keep, corridor speeds; categories
named by concentration.by that the readers also mapped onto a canonical column."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from click.testing import CliRunner

import minespace as ms
from minespace.cli import cli
from minespace.errors import ConfigError


def _with(config, old: str, new: str):
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new, 1))
    return config


def test_id_false_is_accepted_and_true_is_not(small_project):
    config = _with(small_project(), 'id = "mine_id"', "id = false")
    assert ms.pipeline.load_config(config).layers["deposits"].options["id"] is False
    _with(config, "id = false", "id = true")
    with pytest.raises(ConfigError) as exc:
        ms.pipeline.load_config(config)
    (problem,) = exc.value.problems
    assert problem.key == "input.deposits.id" and "false to number the rows" in str(problem)


@pytest.mark.parametrize("line, key, fragment", [
    ('keep = "some"', "input.deposits.keep", '"all" or a list of column names'),
    ("keep = [1, 2]", "input.deposits.keep", '"all" or a list of column names'),
    ("where = 3", "input.deposits.where", "must be str"),
    ('duplicate_ids = "sum"', "input.deposits.duplicate_ids", "raise, suffix"),
    ("where = \"status = 'a'\"", "input.deposits.where", "unexpected character '='"),
])
def test_bad_layer_options_are_config_errors(small_project, line, key, fragment):
    config = _with(small_project(), 'id = "mine_id"', f'id = "mine_id"\n{line}')
    with pytest.raises(ConfigError) as exc:
        ms.pipeline.load_config(config)
    (problem,) = exc.value.problems
    assert problem.key == key and fragment in str(problem)


def test_bad_corridor_speed_is_a_config_error(small_project):
    config = _with(small_project(), 'path = "raw/lines.geojson"',
                   'path = "raw/lines.geojson"\nspeeds = { rail = -5, tram = 20 }')
    with pytest.raises(ConfigError) as exc:
        ms.pipeline.load_config(config)
    (problem,) = exc.value.problems
    assert problem.key == "input.corridors.speeds.rail" and "km/h > 0" in str(problem)


def test_kind_without_speed_fails_validate_and_build_alike(small_project):
    config = small_project()
    lines = config.parent / "raw" / "lines.geojson"
    gpd.GeoDataFrame({"class": ["rail", "Tram"]},
                     geometry=[shapely.LineString([(86.0, 55.06), (86.35, 55.01)]),
                               shapely.LineString([(86.15, 55.0), (86.15, 55.1)])],
                     crs=4326).to_file(lines)
    runner = CliRunner()
    for command in ("validate", "build"):
        res = runner.invoke(cli, [command, str(config)])
        assert res.exit_code == 3, res.output
        assert "1 corridor(s) of kind 'tram' have no speed" in res.output
        assert "[input.corridors] speeds = { tram = 30 }" in res.output
    _with(config, 'path = "raw/lines.geojson"', 'path = "raw/lines.geojson"\n'
          "speeds = { tram = 25 }")
    assert runner.invoke(cli, ["validate", str(config)]).exit_code == 0


@pytest.mark.slow
def test_concentration_by_a_column_the_reader_also_mapped(small_project):
    # "mineral" is read into commodity; by = "mineral" uses its raw values
    config = _with(small_project(weight=False), 'by = "commodity"', 'by = "mineral"')
    result = ms.pipeline.build(ms.pipeline.load_config(config))
    conc = result.read("concentration")
    # small_project: mineral coal, coal, iron, coal, iron, coal -> 4 coal, 2 iron in all
    assert conc["count__coal"].sum() == 4 and conc["count__iron"].sum() == 2
    deposits = result.read("deposits")
    assert list(deposits["mineral"]) == ["coal", "coal", "iron", "coal", "iron", "coal"]
