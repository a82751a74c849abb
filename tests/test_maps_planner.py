"""The map a planner can read (issue 13): the Kuzbass demo map in headless Chromium.

Checked on what the browser shows: legend geometry at 1280 x 900, which towns carry
labels, and screenshot pixels where candidates lie over the choropleth.
"""

from __future__ import annotations

import io

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import minespace as ms
from minespace.cli import cli

pytestmark = [pytest.mark.browser, pytest.mark.slow]

_MAP_JS = """() => { for (var k in window) { try { if (window[k] instanceof L.Map) {
  return window[k]; } } catch (e) {} } }"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`minespace demo` (the bundled Kuzbass config), built once."""
    out = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(cli, ["-q", "demo", "--out", str(out), "--no-tiles"])
    assert result.exit_code == 0, result.output
    [path] = (out / "maps").glob("*_overview.html")
    return out, path


def _overlays(page, on: set[str] | None = None, off: set[str] = frozenset()):
    """Switch overlays (by label text) on or off through the layer control."""
    for label in page.locator(".leaflet-control-layers-overlays label").all():
        text = label.inner_text().strip()
        box = label.locator("input")
        if text in off and box.is_checked():
            box.uncheck()
        if on is not None and text in on and not box.is_checked():
            box.check()


def _set_view(page, lat: float, lon: float, zoom: int) -> None:
    page.evaluate(f"() => {{ ({_MAP_JS})().setView([{lat}, {lon}], {zoom}, "
                  "{animate: false}); }")


def _box(page, selector):
    return page.locator(selector).first.bounding_box()


def _overlap(a, b) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


def test_legend_fits_a_900_pixel_window(demo):
    _, path = demo

    def check(bp):
        page = bp.page
        page.wait_for_selector(".ms-legend")
        legend = page.locator(".ms-legend")
        first = {"box": _box(page, ".ms-legend"), "layers": _box(page, ".leaflet-control-layers"),
                 "title": _box(page, ".ms-title-box"),
                 "scroll": legend.evaluate("e => [e.scrollHeight, e.clientHeight]")}
        # every layer on: the legend grows; it still fits or folds away
        labels = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
        _overlays(page, on={s.strip() for s in labels})
        full = {"box": _box(page, ".ms-legend"),
                "scroll": legend.evaluate("e => [e.scrollHeight, e.clientHeight]")}
        folded = None
        if page.locator(".ms-legend summary").count():
            page.locator(".ms-legend summary").click()
            folded = _box(page, ".ms-legend")
        return first, full, folded

    first, full, folded = ms.maps.open_map(path, check, width=1280, height=900)
    box = first["box"]
    assert box["y"] >= 0 and box["y"] + box["height"] <= 900
    scroll_h, client_h = first["scroll"]
    assert scroll_h <= client_h + 1  # no scroll bar
    assert not _overlap(box, first["layers"]) and not _overlap(box, first["title"])
    assert full["box"]["y"] >= 0 and full["box"]["y"] + full["box"]["height"] <= 900
    assert folded is not None and folded["height"] < 40  # folds to one line: "Legend"


def _town_centres(out) -> gpd.GeoDataFrame:
    """Agglomeration centres as Leaflet places labels: the centroid of the outer ring
    in Web Mercator (Leaflet's ``getCenter`` works in projected pixels)."""
    aggl = gpd.read_parquet(out / "agglomerations.parquet")
    merc = aggl.to_crs(3857)
    first_ring = merc.geometry.apply(
        lambda g: (max(g.geoms, key=lambda p: p.area) if g.geom_type == "MultiPolygon" else g))
    centres = gpd.GeoSeries(first_ring.centroid, crs=3857).to_crs(4326)
    return aggl.assign(lon=centres.x.to_numpy(), lat=centres.y.to_numpy())


def _expected_labels(towns: pd.DataFrame, bounds: dict, n: int = 10) -> tuple[set, set]:
    """The *n* largest towns whose centre is in *bounds*; plus the towns within 0.02° of
    an edge (ambiguous: left out of the comparison)."""
    inside = ((towns["lon"] > bounds["w"]) & (towns["lon"] < bounds["e"])
              & (towns["lat"] > bounds["s"]) & (towns["lat"] < bounds["n"]))
    near = ((towns["lon"] - bounds["w"]).abs().lt(0.02) | (towns["lon"] - bounds["e"]).abs()
            .lt(0.02) | (towns["lat"] - bounds["s"]).abs().lt(0.02)
            | (towns["lat"] - bounds["n"]).abs().lt(0.02))
    top = towns[inside].sort_values("population", ascending=False).head(n)
    return set(top["name"]), set(towns.loc[near, "name"])


def test_town_labels_are_the_largest_in_view(demo):
    out, path = demo
    towns = _town_centres(out)
    bounds_js = f"""() => {{ var m = ({_MAP_JS})(); var b = m.getBounds();
        return {{w: b.getWest(), e: b.getEast(), s: b.getSouth(), n: b.getNorth()}}; }}"""
    labels_js = """() => Array.from(document.querySelectorAll(
        '.leaflet-tooltip.ms-label:not(.ms-rank)')).map(function (e) {
          return e.textContent; })"""

    def check(bp):
        page = bp.page
        page.wait_for_selector(".leaflet-tooltip.ms-label")
        whole = (page.evaluate(bounds_js), page.evaluate(labels_js))
        # zoom into the middle of the coalfield (Leninsk-Kuznetsky - Belovo)
        _set_view(page, 54.53, 86.2, 10)
        page.wait_for_timeout(300)
        core = (page.evaluate(bounds_js), page.evaluate(labels_js))
        return whole, core

    (b0, shown0), (b1, shown1) = ms.maps.open_map(path, check, width=1280, height=900)
    for bounds, shown in ((b0, shown0), (b1, shown1)):
        expected, ambiguous = _expected_labels(towns, bounds)
        assert len(shown) == len(set(shown)) <= 10
        assert set(shown) - ambiguous == expected - ambiguous
    # all 19 towns are in the first view: the ten most populous are named
    assert set(shown0) == set(towns.nlargest(10, "population")["name"])
    # closer in, smaller towns at the heart of the field get their names
    assert "Polysayevo" in shown1 and "Polysayevo" not in shown0


def _png(page) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB")).astype(int)


def test_candidates_keep_the_choropleth_readable(demo):
    """Pixels inside a candidate keep the choropleth's colour (no fill mixed over it);
    the candidate's outline is blue, a hue the choropleth does not use."""
    out, path = demo
    regions = gpd.read_parquet(out / "regions.parquet")
    conc = gpd.read_parquet(out / "concentration.parquet")
    best = regions[regions["candidate_rank"] == 1]
    # inner territories of the best candidate (all six neighbours in it) with deposits,
    # so the pixel at their centre is a choropleth class other than the lightest
    inside = best.geometry.union_all().buffer(-5_000)
    cells = conc.loc[best.index]
    cells = cells[cells.geometry.centroid.within(inside) & (cells["count"] > 0)]
    assert len(cells) >= 1
    pts = cells.geometry.centroid.to_crs(4326)
    ring = gpd.GeoSeries([best.geometry.union_all()], crs=best.crs).to_crs(4326).iloc[0]
    centre = ring.centroid
    if ring.geom_type == "MultiPolygon":
        ring = max(ring.geoms, key=lambda p: p.area)
    # points on the outline: midpoints of the longest edges of the outer ring
    xy = np.asarray(ring.exterior.coords)
    seg = np.hypot(*(xy[1:] - xy[:-1]).T)
    mids = (xy[1:] + xy[:-1])[np.argsort(-seg)[:8]] / 2
    to_px = f"""(pts) => {{ var m = ({_MAP_JS})();
        return pts.map(function (p) {{ var c = m.latLngToContainerPoint([p[1], p[0]]);
          return [Math.round(c.x), Math.round(c.y)]; }}); }}"""
    others = {"Transport corridors", "Agglomerations", "Facilities", "Announced projects",
              "Neighbouring regions", "Deposits by activity", "Processing plants",
              "Institutions"}

    def check(bp):
        page = bp.page
        page.wait_for_selector(".leaflet-control-layers")
        _overlays(page, off=others)
        _set_view(page, centre.y, centre.x, 9)   # the best candidate, wherever it ranks
        page.wait_for_timeout(300)
        inner = page.evaluate(to_px, np.column_stack([pts.x, pts.y]).tolist())
        edge = page.evaluate(to_px, mids.tolist())
        # the "#rank" labels are drawn over the map on purpose: leave their boxes out
        ranks = page.evaluate("""() => Array.from(document.querySelectorAll(
            '.leaflet-tooltip.ms-rank')).map(function (e) {
              var r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })""")
        inner = [(x, y) for x, y in inner
                 if not any(l0 - 6 <= x <= r0 + 6 and t0 - 6 <= y <= b0 + 6
                            for l0, t0, r0, b0 in ranks)]
        with_cands = _png(page)
        _overlays(page, off={"Candidate clusters"})
        page.wait_for_timeout(200)
        without = _png(page)
        return inner, edge, with_cands, without

    inner, edge, on, off = ms.maps.open_map(path, check, width=1280, height=900)
    h, w = on.shape[:2]
    inner = [(x, y) for x, y in inner if 0 <= x < w and 0 <= y < h]
    assert inner
    for x, y in inner:
        assert np.abs(on[y, x] - off[y, x]).max() <= 8, (x, y, on[y, x], off[y, x])
        r, g, b = on[y, x]
        assert r >= max(g, b) + 30  # an orange-red class of YlOrRd, red clearly dominant
    # the outline: blue-dominant pixels within 2 px of each edge midpoint on screen
    blue = 0
    for x, y in edge:
        if 2 <= x < w - 2 and 2 <= y < h - 2:
            patch = on[y - 2:y + 3, x - 2:x + 3].reshape(-1, 3)
            blue += bool(((patch[:, 2] - patch[:, 0]) > 60).any())
    assert blue >= 6


# -- the config route: territory names and the analysis' categories ----------------------

_DISTRICTS = ["Беловский район", "Ленинск-Кузнецкий", "Gmina Łaziska", "Kraj <b>&</b>",
              "Prokopyevsk", "Guryevsk"]


def _named_project(small_project, tmp_path, *, territories_extra: str = 'name = "district"',
                   maps_extra: str = ""):
    """The small project with six named district polygons as territories and deposits
    categorised by a "grade" column."""
    import shapely

    config = small_project(weight=False)
    raw = tmp_path / "raw"
    x = np.linspace(85.98, 86.4, 7)
    gpd.GeoDataFrame({"code": [f"D{i}" for i in range(6)], "district": _DISTRICTS},
                     geometry=[shapely.box(x[i], 54.98, x[i + 1], 55.12) for i in range(6)],
                     crs=4326).to_file(raw / "districts.geojson")
    mines = gpd.read_file(raw / "mines.gpkg", layer="mines")
    mines["grade"] = ["thermal", "coking", "thermal", "coking", "thermal", "thermal"]
    mines.to_file(raw / "mines.gpkg", layer="mines")
    toml = config.read_text()
    toml = toml.replace('kind = "square"\ncell_km = 5\n',
                        'kind = "polygons"\npath = "raw/districts.geojson"\nid = "code"\n'
                        f"{territories_extra}\n")
    toml = toml.replace('by = "commodity"\n', 'by = "grade"\n\n[clusters]\nn_regions = 2\n'
                        'min_deposits = 1\nn_perturbations = 0\n')
    toml = toml.replace("tiles = false\n", f"tiles = false\n{maps_extra}\n")
    config.write_text(toml)
    return config


_TOOLTIPS_JS = f"""() => {{ var m = ({_MAP_JS})(), out = [];
  m.eachLayer(function (l) {{ if (l.getTooltip && l.getTooltip()) {{
    out.push(l.getTooltip().getContent()); }} }});
  return out; }}"""


def test_territory_names_and_categories_reach_the_map(small_project, tmp_path):
    config = _named_project(small_project, tmp_path)
    result = CliRunner().invoke(cli, ["-q", "build", str(config)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "processed"
    cands = gpd.read_parquet(out / "candidates.parquet")
    assert len(cands)
    # candidates are named after their districts (most deposits first), then the mix
    for places, label, mix in zip(cands["places"], cands["label"], cands["activity_mix"],
                                  strict=True):
        assert places and set(places.split(", ")) <= set(_DISTRICTS)
        assert label == f"{places}: {mix}"
        assert "thermal" in mix or "coking" in mix
    [path] = (out / "maps").glob("*_overview.html")

    def check(bp):
        page = bp.page
        page.wait_for_selector(".ms-panel li")
        labels = [s.strip() for s in
                  page.locator(".leaflet-control-layers-overlays label").all_inner_texts()]
        return (labels, page.evaluate(_TOOLTIPS_JS), page.locator(".ms-legend").inner_text(),
                page.locator(".ms-panel").inner_text())

    labels, tooltips, legend, panel = ms.maps.open_map(path, check)
    assert "Deposits by grade" in labels       # the analysis' category, not "commodity"
    assert "coking" in legend and "thermal" in legend
    # territory tooltips show the names (escaped markup shows as text)
    shown = {ms_text for ms_text in tooltips}
    assert "Беловский район" in shown and "Kraj &lt;b&gt;&amp;&lt;/b&gt;" in shown
    assert cands["places"].iloc[0].split(", ")[0] in panel


def test_map_deposit_colours_configurable(small_project, tmp_path):
    config = _named_project(small_project, tmp_path, maps_extra='deposits_by = "commodity"')
    result = CliRunner().invoke(cli, ["-q", "build", str(config)])
    assert result.exit_code == 0, result.output
    [path] = (tmp_path / "processed" / "maps").glob("*_overview.html")
    html_text = path.read_text(encoding="utf-8")
    assert '"Deposits by commodity"' in html_text and '"Deposits by grade"' not in html_text


@pytest.mark.parametrize(("territories_extra", "maps_extra", "key"), [
    ('name = "county"', "", '[territories] name = "county": not a column of districts'),
    ('name = "district"', 'deposits_by = "colour"',
     '[maps] deposits_by = "colour": not a column of the deposits'),
])
def test_naming_mistakes_are_config_errors(small_project, tmp_path, territories_extra,
                                           maps_extra, key):
    config = _named_project(small_project, tmp_path, territories_extra=territories_extra,
                            maps_extra=maps_extra)
    for command in ("validate", "build"):
        result = CliRunner().invoke(cli, [command, str(config)])
        assert result.exit_code == 2, result.output
        assert key in result.output and "Traceback" not in result.output


def test_territory_name_needs_polygons(small_project):
    config = small_project()
    config.write_text(config.read_text().replace("cell_km = 5\n", 'cell_km = 5\nname = "x"\n'))
    result = CliRunner().invoke(cli, ["validate", str(config)])
    assert result.exit_code == 2
    assert "[territories] name = \"x\": territory names need territories.kind" in result.output
