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
