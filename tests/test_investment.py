"""Investment totals per territory: hand sums, shared borders, unplaced rows, currencies."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point

import minespace as ms
from minespace.errors import CRSError, FeaturesDroppedWarning
from minespace.investment import investment_totals

CRS = "EPSG:32645"


@pytest.fixture
def terr():
    # three 10 km squares in a row: A [0, 10], B [10, 20], C [20, 30] km
    return gpd.GeoDataFrame(
        {"name": ["A", "B", "C"]}, index=pd.Index(["A", "B", "C"], name="territory_id"),
        geometry=[shapely.box(i * 10_000, 0, (i + 1) * 10_000, 10_000) for i in range(3)],
        crs=CRS)


def _projects(rows, crs=CRS, currency="RUB", unit="billion"):
    ids, inv, jobs, xy = zip(*rows, strict=True)
    return gpd.GeoDataFrame(
        {"investment": np.array(inv, float), "currency": currency, "investment_unit": unit,
         "jobs": np.array(jobs, float)},
        index=pd.Index(list(ids), name="project_id"),
        geometry=[Point(p) if p is not None else None for p in xy], crs=crs)


@pytest.fixture
def projects():
    return _projects([
        ("P1", 2.5, 300, (5_000, 5_000)),         # A
        ("P2", 75.0, None, (6_000, 1_000)),       # A, jobs unknown
        ("P3", None, 40, (15_000, 5_000)),        # B, investment unknown
        ("P4", 9.0, 50, None),                    # unplaced
        ("P5", 1.0, 10, (25_000, 9_000)),         # C
    ])


def test_hand_sums_and_unplaced_ignored(terr, projects):
    before_t, before_p = terr.copy(), projects.copy()
    out = investment_totals(terr, projects)
    assert out["projects"].tolist() == [2, 1, 1]
    np.testing.assert_allclose(out["investment"], [77.5, 0.0, 1.0])     # P4's 9 not counted
    np.testing.assert_allclose(out["project_jobs"], [300.0, 40.0, 10.0])
    assert out["projects"].dtype == np.int64
    assert out.attrs["investment_unit"] == "billion RUB"
    assert list(out.columns) == ["name", "geometry", "projects", "investment", "project_jobs"]
    assert terr.equals(before_t) and projects.equals(before_p)


def test_point_on_shared_border_counts_once(terr):
    on_edge = _projects([("E1", 1.0, 1, (10_000, 5_000)),       # A|B edge
                         ("E2", 2.0, 2, (20_000, 10_000))])     # B|C corner with the top
    out = investment_totals(terr, on_edge)
    assert out["projects"].sum() == 2
    np.testing.assert_allclose(out["investment"].sum(), 3.0)
    # assign_deposits' rule for polygons: the first territory in row order
    assert out["projects"].tolist() == [1, 1, 0]
    np.testing.assert_allclose(out["investment"], [1.0, 2.0, 0.0])
    # row order decides, not the ids
    out = investment_totals(terr.iloc[::-1], on_edge)
    assert out["projects"].tolist() == [1, 1, 0]          # C gets E2, B gets E1
    assert out.index.tolist() == ["C", "B", "A"]
    np.testing.assert_allclose(out["investment"], [2.0, 1.0, 0.0])


def test_mixed_currencies_or_units_refused(terr, projects):
    mixed = projects.assign(currency=["RUB", "USD", "RUB", "RUB", "RUB"])
    with pytest.raises(ValueError, match=r"billion RUB: P1, P5; billion USD: P2"):
        investment_totals(terr, mixed)
    units = projects.assign(investment_unit=["billion", "million", "billion", "billion",
                                             "billion"])
    with pytest.raises(ValueError, match=r"million RUB: P2"):
        investment_totals(terr, units)
    # an unplaced project in another currency is not summed, so not refused
    ok = investment_totals(terr, projects.assign(currency=["RUB", "RUB", "RUB", "EUR", "RUB"]))
    assert ok.attrs["investment_unit"] == "billion RUB"


def test_outside_every_territory_warns_once(terr, projects):
    far = pd.concat([projects, _projects([("P9", 4.0, 4, (50_000, 5_000))])])
    with pytest.warns(FeaturesDroppedWarning, match=r"1 placed project\(s\).*P9") as rec:
        out = investment_totals(terr, far)
    assert len(rec) == 1
    np.testing.assert_allclose(out["investment"], [77.5, 0.0, 1.0])


def test_all_unplaced_and_empty(terr, projects):
    none = projects.assign(geometry=[None] * 5).set_crs(CRS, allow_override=True)
    out = investment_totals(terr, none)
    assert out["projects"].tolist() == [0, 0, 0]
    assert out.attrs["investment_unit"] is None
    out = investment_totals(terr, projects.iloc[:0])
    assert out["investment"].tolist() == [0.0, 0.0, 0.0]


def test_bad_input(terr, projects):
    with pytest.raises(TypeError, match="locate_projects"):
        investment_totals(terr, pd.DataFrame(projects.drop(columns="geometry")))
    with pytest.raises(KeyError, match="currency"):
        investment_totals(terr, projects.drop(columns="currency"))
    with pytest.raises(CRSError, match="different CRS"):
        investment_totals(terr, projects.to_crs(32644))
    with pytest.raises(ValueError, match=r"'investment' has negative .* P2"):
        investment_totals(terr, projects.assign(investment=[1, -2, 0, 0, 0.0]))
    with pytest.raises(ValueError, match=r"no currency"):
        investment_totals(terr, projects.assign(currency=[None, "RUB", "RUB", "RUB", "RUB"]))


def test_kuzbass_table1_projects():
    """Table 1: P01 (7.5 bn RUB, 4,500 jobs) placed at deposit M0804, P11 (no figures) at
    Belovo; the other ten are unplaced and not counted."""
    region = ms.datasets.kuzbass()
    projects = region.projects
    assert projects.attrs["unplaced"]["count"] == 10
    terr = ms.territories.hex_grid(region, cell_km=25)
    out = investment_totals(terr, projects)
    assert out["projects"].sum() == 2
    assert out["investment"].sum() == pytest.approx(7.5)
    assert out["project_jobs"].sum() == pytest.approx(4500.0)
    assert out.attrs["investment_unit"] == "billion RUB"
    mine = region.deposits.geometry.loc["M0804"]
    cell = terr.index[shapely.contains(np.asarray(terr.geometry.array), mine)]
    assert len(cell) == 1 and out.loc[cell[0], "investment"] == pytest.approx(7.5)
