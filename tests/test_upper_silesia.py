"""The Upper Silesian Coal Basin (data/raw/upper_silesia, real public data) builds from
docs/upper_silesia.toml alone, and its numbers match an independent computation written
here with geopandas, libpysal and esda on the raw files (not minespace's readers)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from scipy.sparse.csgraph import connected_components

import minespace as ms

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "docs" / "upper_silesia.toml"
RAW = ROOT / "data" / "raw" / "upper_silesia"


def test_data_and_sources_are_in_the_repo():
    names = {p.name for p in RAW.iterdir()}
    assert names == {"SOURCES.md", "admin_territories.geojson", "coal_mines_gcmt.geojson",
                     "railways_ne10m.geojson", "region_boundary.geojson",
                     "towns_ne10m.geojson"}
    assert sum(p.stat().st_size for p in RAW.iterdir()) < 1_000_000
    assert "Global Energy Monitor" in (RAW / "SOURCES.md").read_text(encoding="utf-8")


def test_validate_passes_and_reports_the_filter_and_mapping():
    from click.testing import CliRunner

    from minespace.cli import cli

    res = CliRunner().invoke(cli, ["validate", str(CONFIG)])
    assert res.exit_code == 0, res.output
    assert ("deposits: coal_mines_gcmt.geojson, 47 rows, kept 20 "
            "(where status in ('operating', 'mothballed'))") in res.output
    assert "featurecla -> kind" in res.output and "kind: rail 430" in res.output
    assert "pop_max -> population" in res.output
    # the summary shown in docs/upper_silesia.md is the real one
    page = (ROOT / "docs" / "upper_silesia.md").read_text(encoding="utf-8")
    shown = page.split("`validate` prints, per layer, what the readers did:\n\n```text\n")[1]
    shown = shown.split("```")[0]
    assert shown.strip() in res.output


def _queen_with_islands_attached(terr: gpd.GeoDataFrame):
    """libpysal Queen; every component cut off from the largest linked to the nearest
    territory outside it (representative points), the policy documented by minespace."""
    from libpysal.weights import Queen, W

    w = Queen.from_dataframe(terr, use_index=True, silence_warnings=True)
    neigh = {k: list(v) for k, v in w.neighbors.items()}
    ids = list(terr.index)
    pts = terr.representative_point()
    xy = np.c_[pts.x, pts.y]
    while True:
        ww = W(neigh, silence_warnings=True)
        n_comp, labels = connected_components(ww.sparse, directed=False)
        if n_comp == 1:
            return ww
        order = {k: i for i, k in enumerate(ww.id_order)}
        lab = np.array([labels[order[k]] for k in ids])
        big = np.bincount(lab).argmax()
        comp = next(c for c in range(n_comp) if c != big)
        inside, outside = np.flatnonzero(lab == comp), np.flatnonzero(lab != comp)
        d = np.hypot(xy[inside, None, 0] - xy[None, outside, 0],
                     xy[inside, None, 1] - xy[None, outside, 1])
        a, b = np.unravel_index(np.argmin(d), d.shape)
        i, j = ids[inside[a]], ids[outside[b]]
        neigh[i].append(j)
        neigh[j].append(i)


@pytest.mark.slow
def test_builds_by_config_alone_and_matches_an_independent_computation(tmp_path):
    import esda

    config = dataclasses.replace(ms.pipeline.load_config(CONFIG), out_dir=tmp_path / "out")
    result = ms.pipeline.build(config)
    assert result.ran == ["load", "territories", "concentration", "accessibility",
                          "innovation", "clusters", "maps"]
    conc = result.read("concentration")
    crs = conc.crs

    # independent: raw files, pandas filter, geopandas sjoin
    mines = gpd.read_file(RAW / "coal_mines_gcmt.geojson")
    mines = mines[mines["status"].isin(["operating", "mothballed"])].to_crs(crs)
    assert len(mines) == 20    # SOURCES.md: 20 operating, 27 retired, none mothballed
    terr = gpd.read_file(RAW / "admin_territories.geojson").set_index("territory_id")
    terr = terr.to_crs(crs)
    assert len(conc) == len(terr) == 51
    assert set(conc["name"]) == set(terr["name"])   # Polish and Czech names intact
    assert {"Ruda Śląska", "okres Frýdek-Místek", "powiat bieruńsko-lędziński"} <= set(
        conc["name"])
    joined = gpd.sjoin(mines, terr[["geometry"]], predicate="within")
    assert len(joined) == 20    # each mine in exactly one district (SOURCES.md check)
    counts = joined.groupby("territory_id").size().reindex(terr.index, fill_value=0)
    np.testing.assert_array_equal(conc.loc[terr.index, "count"].fillna(0), counts)

    # LQ by hand: (E_ij / E_j) / (E_i / E), categories = normalised coal_grade
    grade = joined["coal_grade"].str.lower()
    assert set(grade) == {"met", "thermal"}
    by = pd.crosstab(joined["territory_id"], grade)
    lq = (by.div(by.sum(axis=1), axis=0)) / (by.sum(axis=0) / by.to_numpy().sum())
    for cat in ("met", "thermal"):
        np.testing.assert_allclose(conc.loc[lq.index, f"lq__{cat}"], lq[cat], rtol=1e-12)
    assert conc.loc[~conc.index.isin(lq.index), "lq__met"].isna().all()

    # Gi* z (binary queen contiguity, islands attached, self included) with esda
    w = _queen_with_islands_attached(terr)
    y = counts.loc[w.id_order].to_numpy(dtype=float)
    gi = esda.G_Local(y, w, transform="B", star=True, permutations=0)
    np.testing.assert_allclose(conc.loc[w.id_order, "gi_star_z"], gi.Zs, rtol=1e-9)

    # the corridors: 430 Natural Earth "Railroad" lines read as rail at 50 km/h
    corridors = result.read("corridors")
    assert len(corridors) == 430 and set(corridors["kind"]) == {"rail"}
    assert set(corridors["featurecla"]) == {"Railroad"} and (corridors["speed_kmh"] == 50).all()
    assert result.manifest["stages"]["load"]["layers"]["deposits"]["rows_kept"] == 20
    assert result.map_path.exists()


def _config_with(tmp_path, old: str, new: str) -> Path:
    """docs/upper_silesia.toml copied next to the data paths it names, with one edit."""
    text = CONFIG.read_text(encoding="utf-8").replace("../data/", f"{ROOT}/data/")
    text = text.replace('out_dir = "../data/processed/upper_silesia"', 'out_dir = "out"')
    assert old in text
    path = tmp_path / "upper_silesia.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_territory_polygons_can_be_filtered(tmp_path):
    from minespace.pipeline.stages import read_territory_polygons

    path = _config_with(tmp_path, 'id = "territory_id"',
                        "id = \"territory_id\"\nwhere = \"adm1_name == 'Silesian Voivodeship'\"")
    config = ms.pipeline.load_config(path)
    polygons = read_territory_polygons(config, "EPSG:32634")
    raw = gpd.read_file(RAW / "admin_territories.geojson")
    expected = raw.loc[raw["adm1_name"] == "Silesian Voivodeship", "territory_id"]
    assert len(expected) == 33     # SOURCES.md: 33 Silesian units
    assert list(polygons["territory_id"]) == list(expected)
    assert polygons.attrs[ms.io.readers.READ_INFO]["rows_kept"] == 33

    bad = _config_with(tmp_path, 'id = "territory_id"',
                       "id = \"territory_id\"\nwhere = \"voivodeship == 'Silesian'\"")
    with pytest.raises(ms.LayerError, match="column 'voivodeship' not found"):
        read_territory_polygons(ms.pipeline.load_config(bad), "EPSG:32634")
    grid = _config_with(tmp_path, 'kind = "polygons"', 'kind = "hex"\nwhere = "a == 1"')
    with pytest.raises(ms.ConfigError, match=r"only with territories\.kind = 'polygons'"):
        ms.pipeline.load_config(grid)
