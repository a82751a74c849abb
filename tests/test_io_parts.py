"""A folder of GeoParquet parts as an input layer (the layout Dask and Spark write).

The contract: reading the folder equals reading one file holding the parts' rows in
part-name order; problems name the part and the row inside it; the pipeline accepts
the folder as ``[input.<layer>] path`` and hashes it part by part.
"""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
import shapely
from click.testing import CliRunner
from geopandas.testing import assert_geodataframe_equal

import minespace as ms
from minespace.cli import cli
from minespace.errors import ConfigError, LayerError
from minespace.pipeline import build, load_config


def _deposits(n: int = 9) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"mine_id": [f"M{i}" for i in range(n)],
         "mineral": ["coal", "iron", "coal"] * (n // 3),
         "production": [float(i) + 0.5 for i in range(n)]},
        geometry=[shapely.Point(86.0 + 0.01 * i, 55.0 + 0.02 * i) for i in range(n)],
        crs=4326)


def _write_parts(folder, frame, sizes, names=None):
    folder.mkdir(parents=True, exist_ok=True)
    start = 0
    for k, size in enumerate(sizes):
        name = names[k] if names else f"part-{k}.parquet"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        frame.iloc[start:start + size].to_parquet(folder / name)
        start += size
    return folder


def test_a_folder_reads_as_the_single_file_of_its_rows(tmp_path):
    frame = _deposits(9)
    # names sort part-0 < part-1 < year=2024/part-0: the rows come back in that order;
    # an empty part, a _SUCCESS marker, _metadata and a hidden file are not rows
    folder = _write_parts(tmp_path / "mines", frame, [4, 0, 3, 2],
                          ["part-0.parquet", "part-1.parquet", "part-2.parquet",
                           "year=2024/part-0.parquet"])
    (folder / "_SUCCESS").write_text("")
    frame.iloc[:1].to_parquet(folder / "_metadata.parquet")
    frame.iloc[:1].to_parquet(folder / ".part-9.parquet")
    frame.to_parquet(tmp_path / "one.parquet")
    kwargs = {"id": "mine_id", "commodity": "mineral", "weight": {"output_mt": "production"}}
    got = ms.read_deposits(folder, **kwargs)
    expected = ms.read_deposits(tmp_path / "one.parquet", **kwargs)
    assert len(got) == 9
    assert_geodataframe_equal(got, expected)


def test_a_bad_row_is_named_by_its_part_and_its_row_in_the_part(tmp_path):
    frame = _deposits(9)
    frame.loc[6, "mine_id"] = None          # row 2 of part-1 (rows 4..8)
    frame.loc[7, "geometry"] = None         # row 3 of part-1
    folder = _write_parts(tmp_path / "mines", frame, [4, 5])
    with pytest.raises(LayerError) as exc:
        ms.read_deposits(folder, id="mine_id", commodity="mineral")
    text = str(exc.value)
    assert "mines/, row 2 of part-1.parquet, column 'mine_id'" in text
    assert "row 3 of part-1.parquet" in text and "column 'geometry'" in text
    assert "part-0.parquet" not in text


def test_parts_in_different_crs_are_refused_naming_both(tmp_path):
    frame = _deposits(6)
    folder = tmp_path / "mines"
    _write_parts(folder, frame, [3])
    frame.iloc[3:].to_crs(32645).to_parquet(folder / "part-1.parquet")
    with pytest.raises(LayerError) as exc:
        ms.read_deposits(folder, id="mine_id", commodity="mineral")
    (problem,) = exc.value.problems
    assert problem.row == "part part-1.parquet" and problem.column == "geometry"
    assert "EPSG:32645" in problem.message and "EPSG:4326" in problem.message
    assert "part part-0.parquet" in problem.message and "to_crs" in problem.hint


def test_an_unreadable_part_is_named(tmp_path):
    folder = _write_parts(tmp_path / "mines", _deposits(6), [3, 3])
    (folder / "part-1.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(LayerError) as exc:
        ms.read_deposits(folder, id="mine_id", commodity="mineral")
    (problem,) = exc.value.problems
    assert problem.source == "mines/" and problem.row == "part part-1.parquet"


def test_a_folder_without_parts_is_still_an_error(tmp_path):
    folder = tmp_path / "mines"
    folder.mkdir()
    (folder / "mines.csv").write_text("mine_id,lon,lat\nM1,86,55\n")
    with pytest.raises(LayerError, match="holds no GeoParquet part") as exc:
        ms.read_deposits(folder, id="mine_id")
    assert "folder of GeoParquet parts" in str(exc.value)


def _parts_project(small_project):
    config = small_project()
    raw = config.parent / "raw"
    mines = gpd.read_file(raw / "mines.gpkg", layer="mines")
    _write_parts(raw / "mines", mines, [2, 4])
    (raw / "mines.gpkg").unlink()
    text = config.read_text().replace('path = "raw/mines.gpkg"\nlayer = "mines"',
                                      'path = "raw/mines"')
    config.write_text(text)
    return config, raw / "mines", mines


def test_the_pipeline_builds_from_a_folder_and_hashes_each_part(small_project):
    config, folder, mines = _parts_project(small_project)
    first = build(load_config(config))
    assert first.ran[0] == "load"
    manifest = json.loads((first.out_dir / "manifest.json").read_text())
    inputs = {rec["path"] for rec in manifest["inputs"]}
    assert {str(folder / "part-0.parquet"), str(folder / "part-1.parquet")} <= inputs
    deposits = gpd.read_parquet(first.outputs["deposits"])
    assert sorted(deposits["deposit_id"]) == sorted(mines["mine_id"])
    # unchanged parts: nothing to do; one part changed: everything reruns
    assert build(load_config(config)).ran == []
    changed = mines.iloc[2:].copy()
    changed["production"] = changed["production"] * 2
    changed.to_parquet(folder / "part-1.parquet")
    assert build(load_config(config)).ran[0] == "load"
    # a new part is a new input too
    mines.iloc[:1].assign(mine_id="M99").to_parquet(folder / "part-2.parquet")
    again = build(load_config(config))
    assert again.ran[0] == "load"
    assert "M99" in set(gpd.read_parquet(again.outputs["deposits"])["deposit_id"])


def test_a_folder_without_parts_is_a_config_error_naming_the_key(small_project):
    config, folder, _ = _parts_project(small_project)
    for part in folder.glob("*.parquet"):
        part.unlink()
    with pytest.raises(ConfigError) as exc:
        load_config(config)
    (problem,) = exc.value.problems
    assert problem.key == "input.deposits.path"
    assert "folder of GeoParquet parts" in str(problem)
    result = CliRunner().invoke(cli, ["build", str(config)])
    assert result.exit_code == 2
    assert "[input.deposits] path = \"raw/mines\"" in result.output
    assert "folder of GeoParquet parts" in result.output


# ------------------------------------------------------------------ bounded memory
def test_the_read_estimate_is_rows_and_values_from_the_footers(tmp_path):
    from minespace import limits

    folder = _write_parts(tmp_path / "mines", _deposits(9), [4, 5])
    files = sorted(folder.glob("*.parquet"))
    assert len(files) == 2
    est = limits.estimate_parquet_read(files, source="mines/")
    # 9 rows x 3 columns besides the geometry: 9 x 300 B + 27 x 120 B = 5,940 B
    assert est.count == 9
    assert est.bytes == 5_940


def test_a_layer_the_budget_cannot_hold_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from minespace import limits
    from minespace.errors import ResourceError
    from minespace.io import _load

    folder = _write_parts(tmp_path / "mines", _deposits(9), [4, 5])
    _deposits(9).to_parquet(tmp_path / "one.parquet")

    def never(path):
        raise AssertionError(f"{path} was read despite the budget")

    monkeypatch.setattr(_load, "read_parquet_file", never)
    budget_gb = 1000 / 2**30  # 1,000 bytes: less than 9 rows need
    for source, name in ((folder, "mines/"), (tmp_path / "one.parquet", "one.parquet")):
        with limits.budget(budget_gb), pytest.raises(ResourceError) as exc:
            ms.read_deposits(source, id="mine_id")
        text = str(exc.value)
        assert f"path={name!r} gives 9 rows" in text
        assert "max_memory_gb" in text and "scale.read_deposits_parquet" in text
    # the budget is scoped to the block
    assert limits.memory_budget() != 1000


def test_the_pipeline_checks_the_read_against_the_projects_budget(small_project):
    config, _, _ = _parts_project(small_project)
    text = config.read_text().replace('out_dir = "processed"',
                                      'out_dir = "processed"\nmax_memory_gb = 0.000001')
    config.write_text(text)
    result = CliRunner().invoke(cli, ["build", str(config)])
    assert result.exit_code == 2, result.output
    assert "too large for the memory budget" in result.output
    assert "path='mines/' gives 6 rows" in result.output
    assert not (config.parent / "processed" / "manifest.json").exists()
