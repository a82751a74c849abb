"""The overview map in a real headless Chromium, with the network blocked."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely

import minespace as ms

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium():
    try:
        return ms.maps.screenshot.__module__ and __import__(
            "minespace.maps.screenshot", fromlist=["chromium_path"]).chromium_path()
    except FileNotFoundError as exc:  # the README's test command installs it
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def evil_map(tmp_path_factory, chromium):
    """The Kuzbass map with one deposit renamed to a script tag."""
    region = ms.datasets.kuzbass()
    deposits = region.deposits.copy()
    # the most isolated deposit, so a click at its location hits only it
    dist = deposits.geometry.apply(lambda g: deposits.geometry.distance(g).nlargest(
        len(deposits)).iloc[-2])
    victim = dist.idxmax()
    deposits.loc[victim, "name"] = "<script>alert(1)</script>"
    deposits.loc[victim, "commodity"] = "<b>bold</b> {{ 7*7 }}"
    deposits.attrs["victim"] = victim
    evil = ms.Region(name="Kuzbass <i>test</i>", boundary=region.boundary, deposits=deposits,
                     agglomerations=region.agglomerations, corridors=region.corridors,
                     facilities=region.facilities, neighbours=region.neighbours,
                     projects=region.projects, attribution=region.attribution)
    path = tmp_path_factory.mktemp("maps") / "evil.html"
    ms.maps.save_map(ms.maps.region_map(evil, tiles=True), path)
    return path, deposits


def test_map_renders_offline_without_errors(evil_map):
    path, deposits = evil_map

    def check(bp):
        page = bp.page
        page.wait_for_selector(".leaflet-control-layers")
        labels = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
        n_paths = page.evaluate("""() => {
            var n = 0;
            for (var k in window) {
              var v = window[k];
              if (v && v instanceof L.Map) {
                v.eachLayer(function (l) { if (l._d && l._d.x) n += l._d.x.length; });
              }
            }
            return n; }""")
        alerts = []
        page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
        return [s.strip() for s in labels], n_paths, alerts, bp.errors

    labels, n_markers, alerts, errors = ms.maps.open_map(path, check)
    assert labels == ["Neighbouring regions", "Study area", "Transport corridors",
                      "Agglomerations", "Facilities", "Deposits by commodity",
                      "Announced projects"]
    assert n_markers == len(deposits) + 14 + 1  # deposits + facilities + linked project
    # tile requests are blocked (offline); they must not break the page
    assert [e for e in errors if "tile.openstreetmap" not in e and "ERR_FAILED" not in e] == []
    assert alerts == []


def test_popup_shows_escaped_name_as_text(evil_map):
    path, deposits = evil_map
    x, y = deposits.to_crs(4326).geometry.loc[deposits.attrs["victim"]].coords[0]

    def click(bp):
        page = bp.page
        page.wait_for_selector(".leaflet-control-layers")
        # zoom to the deposit so it is on top and clickable
        page.evaluate(f"""() => {{ for (var k in window) {{ var v = window[k];
            if (v && v instanceof L.Map) {{
              v.setView([{y}, {x}], 14, {{animate: false}}); }} }} }}""")
        page.wait_for_timeout(300)
        box = page.locator(".leaflet-container").bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_selector(".leaflet-popup-content", timeout=5000)
        content = page.locator(".leaflet-popup-content")
        return content.inner_text(), content.inner_html(), bp.errors

    text, inner_html, _ = ms.maps.open_map(path, click)
    assert "<script>alert(1)</script>" in text  # shown as text ...
    assert "<script>" not in inner_html          # ... never as markup
    assert "<b>bold</b> {{ 7*7 }}" in text  # not evaluated as a template either


def test_title_is_escaped(evil_map):
    path, _ = evil_map
    title = ms.maps.open_map(path, lambda bp: bp.page.locator(".ms-title").first.inner_text())
    assert title == "Kuzbass <i>test</i>"


def test_screenshot_writes_png(evil_map, tmp_path):
    path, _ = evil_map
    png = ms.maps.screenshot(path, tmp_path / "map.png", width=800, height=600)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000  # a drawn map, not a blank page


def test_single_point_layer_popup(tmp_path, chromium):
    layer = gpd.GeoDataFrame({"name": ["Solo & <Co>"], "v": [1.5]},
                             geometry=[shapely.Point(86.0, 54.0)], crs=4326)
    m = ms.maps.OfflineMap(location=[54, 86], zoom_start=12, tiles=None)
    ms.maps.PointLayer(layer, codes=[0], palette=["#ff0000"],
                       attributes=ms.maps.attribute_columns(layer, ["v"], title="name"),
                       radius=20, name="solo").add_to(m)
    path = ms.maps.save_map(m, tmp_path / "solo.html")

    def click(bp):
        box = bp.page.locator(".leaflet-container").bounding_box()
        bp.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        bp.page.wait_for_selector(".leaflet-popup-content", timeout=5000)
        return bp.page.locator(".leaflet-popup-content").inner_text(), bp.blocked

    text, blocked = ms.maps.open_map(path, click)
    assert text.startswith("Solo & <Co>") and "1.5" in text
    assert blocked == []  # nothing requested from the network


@pytest.fixture(scope="module")
def analysis_map(tmp_path_factory, chromium):
    """A cluster map with a choropleth, a raster and two hand-made candidates."""
    from minespace import territories as terr
    from minespace.concentration import totals
    from minespace.density import kernel_density

    region = ms.datasets.kuzbass()
    hexes = totals(terr.hex_grid(region.boundary, cell_km=20), region.deposits)
    lat = hexes.geometry.centroid.to_crs(4326).y
    mining = hexes[hexes["count"] > 0]
    north = mining[lat[mining.index] > 54.6].dissolve()
    south = mining[lat[mining.index] <= 54.6].dissolve()
    candidates = gpd.GeoDataFrame(
        {"rank": [1, 2], "score": [0.8, 0.4], "label": ["South belt <&>", "North"],
         "explanation": ["many mines & rail", "few mines"]},
        geometry=[south.geometry.iloc[0], north.geometry.iloc[0]], crs=region.crs,
        index=pd.Index(["C1", "C2"], name="candidate_id"))
    dens = kernel_density(region.deposits, mask=region.boundary)
    raster = ms.read_raster(dens.to_geotiff(tmp_path_factory.mktemp("r") / "kde.tif"))
    m = ms.maps.cluster_map(region, territories=hexes, metric="count", candidates=candidates,
                            rasters={"Deposit density": raster}, tiles=False)
    path = tmp_path_factory.mktemp("maps") / "analysis.html"
    ms.maps.save_map(m, path)
    return path


def test_cluster_map_layers_and_panel(analysis_map):
    def check(bp):
        page = bp.page
        page.wait_for_selector(".ms-panel li")
        labels = [s.strip() for s in
                  page.locator(".leaflet-control-layers-overlays label").all_inner_texts()]
        items = page.locator(".ms-panel li").all_inner_texts()
        legend = page.locator(".ms-legend").inner_text()
        zoom_before = page.evaluate(_ZOOM_JS)
        page.locator(".ms-panel li").first.click()
        page.wait_for_selector(".leaflet-popup-content", timeout=5000)
        popup = page.locator(".leaflet-popup-content").inner_text()
        zoom_after = page.evaluate(_ZOOM_JS)
        # switch the raster on: its image must load from the embedded data
        page.locator(".leaflet-control-layers-overlays label",
                     has_text="Deposit density").locator("input").check()
        page.wait_for_selector("img.leaflet-image-layer")
        natural = page.evaluate(
            "() => document.querySelector('img.leaflet-image-layer').naturalWidth")
        return labels, items, legend, zoom_before, zoom_after, popup, natural, bp.errors

    labels, items, legend, z0, z1, popup, natural, errors = ms.maps.open_map(analysis_map,
                                                                             check)
    assert "Territories: count" in labels and "Candidate clusters" in labels
    assert "Deposit density" in labels
    assert items[0].startswith("South belt <&>") and "score 0.80" in items[0]
    assert "count (quantiles)" in legend and "Deposit density" in legend
    assert z1 > z0  # the click zoomed to the candidate
    assert popup.startswith("South belt <&>") and "many mines & rail" in popup
    assert "0.8" in popup
    assert natural > 0
    assert errors == []


_ZOOM_JS = """() => { for (var k in window) { var v = window[k];
    if (v && v instanceof L.Map) { return v.getZoom(); } } }"""
