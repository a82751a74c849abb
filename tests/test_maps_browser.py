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
                      "Processing plants", "Announced projects"]
    # deposits + the facilities that are not processing plants (canvas points; plants
    # with a value chain are diamonds of their own layer)
    facilities = ms.datasets.kuzbass().facilities
    assert n_markers == len(deposits) + int(facilities["value_chain"].isna().sum())
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
        page.locator(".ms-panel li").first.click()   # zooms and opens the dossier card
        page.wait_for_selector(".ms-dossier:not([hidden])", timeout=5000)
        popup = page.locator(".ms-dossier").inner_text()
        zoom_after = page.evaluate(_ZOOM_JS)
        page.locator(".ms-dclose").click()
        # switch the raster on: its image must load from the embedded data
        page.locator(".leaflet-control-layers-overlays label",
                     has_text="Deposit density").locator("input").check()
        page.wait_for_selector("img.leaflet-image-layer")
        natural = page.evaluate(
            "() => document.querySelector('img.leaflet-image-layer').naturalWidth")
        legend_on = page.locator(".ms-legend").inner_text()
        return (labels, items, legend, legend_on, zoom_before, zoom_after, popup, natural,
                bp.errors)

    (labels, items, legend, legend_on, z0, z1, popup, natural,
     errors) = ms.maps.open_map(analysis_map, check)
    assert "Territories: count" in labels and "Candidate clusters" in labels
    assert "Deposit density" in labels
    assert items[0].startswith("South belt <&>") and "score 0.80" in items[0]
    # a layer's legend section shows while the layer is on (the raster starts off)
    assert "count (quantiles)" in legend and "Deposit density" not in legend
    assert "Deposit density" in legend_on
    assert z1 > z0  # the click zoomed to the candidate
    assert popup.startswith("#1 South belt <&>") and "many mines & rail" in popup
    assert "score 0.80" in popup
    assert natural > 0
    assert errors == []


_ZOOM_JS = """() => { for (var k in window) { var v = window[k];
    if (v && v instanceof L.Map) { return v.getZoom(); } } }"""


# -- hostile names: no markup injection, no template evaluation ---------------------------------

# Runs Python when a template engine renders it: creates a file "pwned" in the current
# directory (no quotes: folium's tojson would escape them and break the template instead).
_SAVE_TIME = ("{{ self.__init__.__globals__.__builtins__.open((dict(pwned=1)|list)[0], "
              "(dict(w=1)|list)[0]).close() }}")


def hostile(tag: str) -> str:
    """A name that injects markup (an ``img``/``svg`` with id ``inj-<tag>``/``svg-<tag>``
    and an ``alert('<tag>')``), closes the script element, and holds templates: ``{{ 7*7 }}``
    must stay literal, ``zzpwn`` (a concatenation) must never appear, and nothing may run."""
    return (f'<img src=x id=inj-{tag} onerror="alert(\'{tag}\')">'
            f'<svg id=svg-{tag} onload="alert(\'{tag}\')"></svg></script><!-- '
            "{{ 7*7 }} {{ (dict(zz=1)|list)[0] ~ (dict(pwn=1)|list)[0] }} " + _SAVE_TIME)


# every overlay on, then every popup and tooltip content of every layer inserted as HTML
# into the page (what Leaflet does when one opens), deposits and facilities included
_EXERCISE_JS = """() => {
  var map = null;
  for (var k in window) { try { if (window[k] instanceof L.Map) { map = window[k]; } }
                          catch (e) {} }
  document.querySelectorAll('.leaflet-control-layers-overlays input').forEach(function (i) {
    if (!i.checked) { i.click(); } });
  var sink = document.createElement('div'); document.body.appendChild(sink);
  var n = 0;
  function put(c, l) {
    if (typeof c === 'function') { c = c(l); }
    if (c === null || c === undefined) { return; }
    var d = document.createElement('div'); d.className = 'ms-sink'; d.innerHTML = c;
    sink.appendChild(d); n++;
  }
  map.eachLayer(function (l) {
    if (l.getPopup && l.getPopup()) { put(l.getPopup().getContent(), l); }
    if (l.getTooltip && l.getTooltip()) { put(l.getTooltip().getContent(), l); }
    if (l._d && l._d.a) { for (var i = 0; i < l._d.x.length; i++) { put(msPopup(l._d.a, i)); } }
  });
  return n;
}"""

_INJECTED_JS = """() => document.querySelectorAll(
  'img[onerror], svg[onload], [id^="inj-"], [id^="svg-"], script[src]').length"""


def _hostile_browser_check(path):
    """Open *path*, exercise every label/popup/tooltip; what a hostile name achieved."""
    def check(bp):
        page = bp.page
        page.wait_for_selector(".leaflet-control-layers")
        labels = [s.strip() for s in
                  page.locator(".leaflet-control-layers-overlays label").all_inner_texts()]
        n = page.evaluate(_EXERCISE_JS)
        page.wait_for_timeout(500)  # let image errors and svg loads fire
        # all text shown or showable (closed <details> too), scripts left out
        text = page.evaluate("""() => { var b = document.body.cloneNode(true);
            b.querySelectorAll('script, style').forEach(function (s) { s.remove(); });
            return b.textContent; }""")
        dom = page.evaluate("() => document.documentElement.outerHTML")
        return {"labels": labels, "n": n, "injected": page.evaluate(_INJECTED_JS),
                "dialogs": list(bp.dialogs), "text": text, "dom": dom,
                "errors": [e for e in bp.errors if "tile.openstreetmap" not in e
                           and "ERR_FAILED" not in e]}

    return ms.maps.open_map(path, check)


@pytest.fixture(scope="module")
def hostile_map(tmp_path_factory, chromium):
    """The Kuzbass analysis map with a hostile string in every name field."""
    import numpy as np

    from minespace import territories as terr
    from minespace.concentration import totals
    from minespace.density import kernel_density

    region = ms.datasets.kuzbass()
    dep = region.deposits.copy()
    by, size = hostile("bycol"), hostile("sizecol")
    dep[by] = np.where(dep["commodity"] == dep["commodity"].iloc[0], hostile("byval"),
                       dep["commodity"])
    dep[size] = dep["output_mt"]
    dep[hostile("depcol")] = 1.0
    dep.loc[dep.index[0], "name"] = hostile("depname")
    aggl = region.agglomerations.copy()
    order = aggl["population"].sort_values(ascending=False).index
    aggl.loc[order[0], "name"] = hostile("town")          # labelled
    aggl.loc[order[-1], "name"] = hostile("smalltown")    # tooltip only
    fac = region.facilities.copy()
    fac.loc[fac.index[0], "name"] = hostile("fac")
    fac.loc[fac.index[1], "kind"] = hostile("fackind")
    corr = region.corridors.copy()
    corr.loc[corr.index[0], "name"] = hostile("corr")
    nb = region.neighbours.copy()
    nb.loc[nb.index[0], "name"] = hostile("nb")
    proj = region.projects.copy()
    linked = proj.index[proj["deposit_id"].isin(dep.index)][0]
    proj.loc[linked, "name" if "name" in proj else "project"] = hostile("proj")
    proj.loc[linked, "category"] = hostile("projcat")
    evil = ms.Region(name=hostile("region"), boundary=region.boundary, deposits=dep,
                     agglomerations=aggl, corridors=corr, facilities=fac, neighbours=nb,
                     projects=proj, attribution=(hostile("attr"),))
    metric, hot = hostile("metric"), hostile("hotcol")
    hexes = totals(terr.hex_grid(region.boundary, cell_km=20), region.deposits)
    hexes[hot] = np.where(hexes["count"] > 4, "hot", np.where(hexes["count"] == 0, "cold", "ns"))
    hexes = hexes.rename(columns={"count": metric})
    hexes["name"] = np.where(np.arange(len(hexes)) == 0, hostile("terrname"), "a territory")
    mining = hexes[hexes[metric] > 0]
    lat = mining.geometry.centroid.to_crs(4326).y
    candidates = gpd.GeoDataFrame(
        {"rank": [1, 2], "score": [0.8, 0.4], "label": [hostile("candlabel"), "North"],
         "explanation": [hostile("expl"), "few mines"], "towns": [hostile("towns"), ""],
         "places": [hostile("places"), ""], "activity_mix": [hostile("mix"), "coal 100%"],
         hostile("candcol"): [1.0, 2.0]},
        geometry=[mining[lat <= 54.6].union_all(), mining[lat > 54.6].union_all()],
        crs=region.crs, index=pd.Index([hostile("candid"), "C2"], name="candidate_id"))
    dens = kernel_density(region.deposits, mask=region.boundary)
    raster = ms.read_raster(dens.to_geotiff(tmp_path_factory.mktemp("r") / "kde.tif"))
    workdir = tmp_path_factory.mktemp("hostile")
    path = workdir / "hostile.html"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(workdir)  # where the save-time payload would create "pwned"
        m = ms.maps.cluster_map(evil, territories=hexes, metric=metric, candidates=candidates,
                                hotspot_column=hot, rasters={hostile("raster"): raster},
                                deposits_by=by, size_by=size, tiles=True)
        ms.maps.save_map(m, path)
    return path, {"metric": metric, "by": by, "raster": hostile("raster"),
                  "candid": hostile("candid")}


def test_hostile_names_nothing_runs_at_save_time(hostile_map):
    path, _ = hostile_map
    saved = path.read_text(encoding="utf-8")
    assert not (path.parent / "pwned").exists()  # the payload's Python did not run
    assert "zzpwn" not in saved                   # no template was evaluated ...
    assert "{{ 7*7 }}" in saved                   # ... the text is kept as written
    assert "<img src=x" not in saved and "<svg id=svg" not in saved  # never raw markup


def test_hostile_names_inject_nothing_in_the_browser(hostile_map):
    path, names = hostile_map
    r = _hostile_browser_check(path)
    assert r["dialogs"] == []
    assert r["injected"] == 0
    assert r["errors"] == []
    assert r["n"] > 141  # every deposit popup, plus the shapes' popups and tooltips
    assert "zzpwn" not in r["dom"]
    # names are shown literally, templates and all
    assert f"Territories: {names['metric']}" in r["labels"]
    assert names["raster"] in r["labels"]
    assert f"Deposits by {names['by']}" in r["labels"]
    for tag in ("region", "bycol", "byval", "sizecol", "metric", "raster", "candlabel",
                "places", "mix", "towns", "attr", "fackind", "terrname", "town", "expl",
                "depname", "proj", "nb", "corr", "candcol"):  # boxes, popups, tooltips
        assert f"inj-{tag} onerror" in r["text"], tag
    assert "{{ 7*7 }}" in r["text"]


def test_hostile_candidate_id_still_zooms(hostile_map):
    """The panel finds a candidate whose id needs escaping (ids are matched unescaped) and
    opens its dossier card."""
    path, _ = hostile_map

    def click(bp):
        page = bp.page
        page.wait_for_selector(".ms-panel li")
        # (long names make the boxes overlap: dispatch the click to the item itself)
        page.locator(".ms-panel li").first.dispatch_event("click")
        page.wait_for_selector(".ms-dossier:not([hidden])", timeout=5000)
        return page.locator(".ms-dossier").inner_text()

    popup = ms.maps.open_map(path, click)
    assert "inj-candlabel" in popup and "inj-expl" in popup


@pytest.mark.slow
def test_hostile_names_through_the_cli(small_project, tmp_path, chromium):
    """A project name, a weight name (its config key) and category values from the data,
    through `minespace build` in a subprocess, then opened in Chromium."""
    import json
    import subprocess
    import sys

    config = small_project(name="placeholder", weight=False)
    weight, project = hostile("weight"), hostile("project")
    toml = config.read_text()
    toml = toml.replace('name = "placeholder"', f"name = {json.dumps(project)}")
    toml = toml.replace('commodity = "mineral"\n',
                        f'commodity = "mineral"\nweight = {{ {json.dumps(weight)} = '
                        '"production" }\n')
    toml = toml.replace('by = "commodity"\n', f'by = "commodity"\nweight = {json.dumps(weight)}\n')
    config.write_text(toml)
    mines = gpd.read_file(tmp_path / "raw" / "mines.gpkg", layer="mines")
    mines.loc[0, "mineral"] = hostile("cat")
    mines.to_file(tmp_path / "raw" / "mines.gpkg", layer="mines")
    proc = subprocess.run([sys.executable, "-c", "from minespace.cli import cli; cli()", "-q",
                           "build", str(config)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "pwned").exists()
    [path] = (tmp_path / "processed" / "maps").glob("*_overview.html")
    saved = path.read_text(encoding="utf-8")
    assert "zzpwn" not in saved and "{{ 7*7 }}" in saved
    r = _hostile_browser_check(path)
    assert r["dialogs"] == [] and r["injected"] == 0 and r["errors"] == []
    assert "zzpwn" not in r["dom"]
    assert any(label.startswith("Territories: ") and "inj-weight onerror" in label
               for label in r["labels"]), r["labels"]
    assert "inj-project onerror" in r["text"]


def test_folium_elements_added_by_a_user_are_not_template_evaluated(tmp_path, monkeypatch):
    """A folium element added to a minespace map (here a marker with a tooltip) is
    rendered once; its text is not parsed again as a template when the map is saved."""
    import folium

    monkeypatch.chdir(tmp_path)
    m = ms.maps.region_map(ms.datasets.kuzbass(), tiles=False)
    folium.Marker([54.0, 86.0], tooltip=hostile("marker")).add_to(m)
    saved = ms.maps.save_map(m, tmp_path / "m.html").read_text(encoding="utf-8")
    assert not (tmp_path / "pwned").exists()
    assert "zzpwn" not in saved and "{{ 7*7 }}" in saved
