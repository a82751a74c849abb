"""The overview map in a real headless Chromium, with the network blocked."""

from __future__ import annotations

import geopandas as gpd
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
    deposits.loc[victim, "commodity"] = "<b>bold</b>"
    deposits.attrs["victim"] = victim
    evil = ms.Region(name="Kuzbass <i>test</i>", boundary=region.boundary, deposits=deposits,
                     agglomerations=region.agglomerations, corridors=region.corridors,
                     facilities=region.facilities, neighbours=region.neighbours,
                     attribution=region.attribution)
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
                v.eachLayer(function (l) { if (l instanceof L.CircleMarker) n++; });
              }
            }
            return n; }""")
        alerts = []
        page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
        return [s.strip() for s in labels], n_paths, alerts, bp.errors

    labels, n_markers, alerts, errors = ms.maps.open_map(path, check)
    assert labels == ["Neighbouring regions", "Study area", "Transport corridors",
                      "Agglomerations", "Facilities", "Deposits by commodity"]
    assert n_markers == len(deposits) + 14  # deposits + facilities
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
    assert "<b>bold</b>" in text


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
    ms.maps.PointLayer(layer, colors=["#ff0000"],
                       popups=ms.maps.popup_table(layer, ["v"], title="name"),
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
