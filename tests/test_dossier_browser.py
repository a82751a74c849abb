"""The candidate dossier in headless Chromium, offline: the card opens from the ranked
panel (mouse and keyboard) and from a candidate's outline, the printable file renders,
and hostile strings in every name field stay text."""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import minespace as ms
from minespace.pipeline import build, load_config

pytestmark = pytest.mark.browser


def _maps_browser():
    """The hostile strings and browser checks of test_maps_browser.py (loaded by path:
    the tests folder is not a package)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "_ms_test_maps_browser", Path(__file__).with_name("test_maps_browser.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_mb = _maps_browser()
hostile, _hostile_browser_check, _INJECTED_JS = (_mb.hostile, _mb._hostile_browser_check,
                                                 _mb._INJECTED_JS)

_MAP_JS = """() => { for (var k in window) { try { if (window[k] instanceof L.Map) {
  return window[k]; } } catch (e) {} } }"""


def with_layers(region: ms.Region, **layers) -> ms.Region:
    """*region* with extra layers (``institutions`` before Region has the field)."""
    try:
        return dataclasses.replace(region, **layers)
    except TypeError:
        inst = layers.pop("institutions", None)
        out = dataclasses.replace(region, **layers)
        object.__setattr__(out, "institutions", inst)
        return out


@pytest.fixture(scope="module")
def built(small_project_module):
    """The small project through the pipeline: two candidates, map and dossier file."""
    config = small_project_module(
        extra="[clusters]\nn_regions = 2\nmin_deposits = 1\nn_perturbations = 0\n")
    result = build(load_config(config))
    out = config.parent / "processed"
    cands = gpd.read_parquet(out / "candidates.parquet").set_index("region_id")
    assert len(cands) == 2
    return result, out, cands


def _card(page) -> dict:
    return page.evaluate("""() => { var b = document.querySelector('.ms-dossier');
      return {hidden: b.hidden, id: b.getAttribute('data-ms-id'),
              title: b.querySelector('h2') ? b.querySelector('h2').textContent : null,
              bars: Array.from(b.querySelectorAll('.ms-dbar')).map(function (r) {
                var f = r.querySelector('rect.ms-dbar-fill');
                return [r.firstChild.firstChild.textContent,
                        f ? parseFloat(f.getAttribute('width')) : null,
                        r.querySelector('.ms-dval').textContent]; }),
              heads: Array.from(b.querySelectorAll('h3')).map(function (h) {
                return h.textContent; }),
              text: b.textContent, focus: document.activeElement.className}; }""")


def test_card_opens_from_the_panel_and_the_keyboard(built):
    result, _out, cands = built
    path = result.outputs["map_overview"]
    assert path.name.endswith("_overview.html")
    first = cands.sort_values("rank").iloc[0]

    def check(bp):
        page = bp.page
        page.wait_for_selector(".ms-panel li")
        before = _card(page)
        page.locator(".ms-panel li").first.click()
        page.wait_for_selector(".ms-dossier:not([hidden])", timeout=5000)
        opened = _card(page)
        page.keyboard.press("Escape")            # focus is on the close button
        closed = _card(page)
        back = page.evaluate("document.activeElement.getAttribute('data-ms-id')")
        # keyboard only: Tab to the second entry, Enter opens its card
        page.locator(".ms-panel li").nth(1).focus()
        page.keyboard.press("Enter")
        second = _card(page)
        page.locator(".ms-dclose").click()
        return before, opened, closed, back, second, _card(page), bp.errors, bp.blocked

    before, opened, closed, back, second, after, errors, blocked = ms.maps.open_map(path, check)
    assert before["hidden"] and not opened["hidden"]
    assert opened["id"] == str(first.name)
    assert opened["title"] == f"#1 {first['label']}"
    assert opened["focus"] == "ms-dclose"
    # one bar per score component, its fill width = the component x 120 px
    comps = [c[len("score__"):] for c in cands.columns if c.startswith("score__")]
    assert [b[0] for b in opened["bars"]] == [c.replace("_", " ") for c in comps]
    for (_, width, text), comp in zip(opened["bars"], comps, strict=True):
        v = first["score__" + comp]
        if np.isfinite(v):
            assert width == pytest.approx(v * 120, abs=1e-6) and text == f"{v:.2f}"
        else:
            assert width is None and text == "unavailable"
    assert opened["heads"][:3] == ["Score components", "Candidate", "Members"]
    assert "Mines by activity" in opened["heads"] and "Data gaps" in opened["heads"]
    assert closed["hidden"] and back == str(first.name)   # focus back on the entry
    assert not second["hidden"] and second["title"].startswith("#2 ")
    assert after["hidden"]
    assert errors == [] and blocked == []


def test_card_opens_from_the_candidate_outline(built):
    result, _, cands = built
    path = result.outputs["map_overview"]
    ll = cands.to_crs(4326)
    target = ll.sort_values("rank").index[1]
    other = ll.drop(index=target).geometry.union_all()
    geom = ll.geometry.loc[target]
    ring = max(geom.geoms, key=lambda p: p.area) if geom.geom_type == "MultiPolygon" else geom
    xy = np.asarray(ring.exterior.coords)
    mids = (xy[1:] + xy[:-1]) / 2
    # a point on the outline that the other candidate's outline does not share
    free = [m for m in mids if shapely.Point(m).distance(other) > 0.01]
    assert free
    lon, lat = free[0]

    def check(bp):
        page = bp.page
        page.wait_for_selector(".leaflet-control-layers")
        for label in page.locator(".leaflet-control-layers-overlays label").all():
            if label.inner_text().strip() != "Candidate clusters":
                box = label.locator("input")
                if box.is_checked():
                    box.uncheck()
        page.evaluate(f"() => ({_MAP_JS})().setView([{lat}, {lon}], 12, {{animate: false}})")
        page.wait_for_timeout(300)
        x, y = page.evaluate(f"""() => {{ var m = ({_MAP_JS})();
            var p = m.latLngToContainerPoint([{lat}, {lon}]);
            var r = m.getContainer().getBoundingClientRect();
            return [r.left + p.x, r.top + p.y]; }}""")
        page.mouse.click(x, y)
        page.wait_for_selector(".ms-dossier:not([hidden])", timeout=5000)
        return _card(page), bp.errors

    card, errors = ms.maps.open_map(path, check)
    assert card["id"] == str(target)
    assert card["title"] == f"#{int(cands.loc[target, 'rank'])} {cands.loc[target, 'label']}"
    assert len(card["bars"]) == sum(c.startswith("score__") for c in cands.columns)
    assert errors == []


def test_dossier_file_offline(built, tmp_path):
    result, out, cands = built
    path = result.outputs["candidates_dossier"]
    assert path == out / "maps" / "candidates_dossier.html"
    recorded = [o["path"] for rec in result.manifest["stages"].values()
                for o in rec["outputs"].values()]
    assert "maps/candidates_dossier.html" in recorded

    def check(bp):
        page = bp.page
        return (page.locator("article.card h2").all_inner_texts(),
                page.locator("article.card svg").count(), bp.errors, bp.blocked)

    titles, n_svg, errors, blocked = ms.maps.open_map(path, check)
    ranked = cands.sort_values("rank")
    assert titles == [f"#{int(r)} {lab}" for r, lab in zip(ranked["rank"], ranked["label"],
                                                            strict=True)]
    n_comp = sum(c.startswith("score__") for c in cands.columns)
    assert n_svg == n_comp * len(cands)
    assert errors == [] and blocked == []


def _png(path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def test_card_is_legible(built, tmp_path):
    """Pixels of the open card: the first available component's bar is drawn in the fill
    blue over the length its value gives, and the card's text is dark on white."""
    result, _, cands = built
    first = cands.sort_values("rank").iloc[0]
    comps = [c for c in cands.columns if c.startswith("score__")]
    value = next(first[c] for c in comps if np.isfinite(first[c]))
    png = tmp_path / "card.png"

    def shoot(bp):
        page = bp.page
        page.wait_for_selector(".ms-panel li")
        page.locator(".ms-panel li").first.click()
        page.wait_for_selector(".ms-dossier:not([hidden])")
        page.wait_for_timeout(300)
        page.screenshot(path=str(png))
        return page.evaluate("""() => {
          var b = document.querySelector('.ms-dossier').getBoundingClientRect();
          var s = document.querySelector('.ms-dossier svg.ms-dbar-svg').getBoundingClientRect();
          return {card: [b.left, b.top, b.right, b.bottom], bar: [s.left, s.top, s.right,
                  s.bottom]}; }""")

    boxes = ms.maps.open_map(result.outputs["map_overview"], shoot, width=1280, height=900)
    img = _png(png)
    x0, _y0, x1, _ = (round(v) for v in boxes["bar"])
    row = img[round((boxes["bar"][1] + boxes["bar"][3]) / 2), x0:x1]
    blue = (np.abs(row - [0x21, 0x71, 0xB5]).max(axis=1) <= 6)
    assert blue.sum() == pytest.approx(value * 120, abs=2)
    assert blue[: int(value * 120) - 2].all()            # from the left edge, unbroken
    c0, c1, c2, c3 = (round(v) for v in boxes["card"])
    card = img[c1 + 2:c3 - 2, c0 + 2:c2 - 2]
    white = (card.min(axis=2) >= 250).mean()
    dark = (card.max(axis=2) <= 90).mean()
    assert white > 0.6 and dark > 0.01        # a white card carrying dark text


def test_dossier_file_screenshot(built, tmp_path):
    result, *_ = built
    png = ms.maps.screenshot(result.outputs["candidates_dossier"], tmp_path / "file.png",
                             width=900, height=1000)
    img = _png(png)
    blue = (np.abs(img - [0x21, 0x71, 0xB5]).max(axis=2) <= 6)
    assert blue.sum() > 500                   # the component bars are drawn


# -- hostile strings in every name field ---------------------------------------------------------

@pytest.fixture(scope="module")
def hostile_dossier(tmp_path_factory):
    """The Kuzbass map and dossier file with a hostile string in every name field of the
    new layers and of the candidates."""
    from minespace import territories as terr
    from minespace.concentration import totals

    region = ms.datasets.kuzbass()
    hexes = totals(terr.hex_grid(region.boundary, cell_km=20), region.deposits)
    hexes["name"] = np.where(np.arange(len(hexes)) == 0, hostile("terrname"), "a territory")
    lat = hexes.geometry.centroid.to_crs(4326).y
    mining = hexes[hexes["count"] > 0]
    south = mining[(lat <= 54.6)[mining.index]].union_all()
    north = mining[(lat > 54.6)[mining.index]].union_all()
    # the hostile plant, institution and project lie in the first candidate (south)
    fac = region.facilities.copy()
    plants = fac.index[fac["value_chain"].notna()]
    inside = plants[fac.loc[plants].within(south)]
    fac.loc[inside[0], "name"] = hostile("plantname")
    fac.loc[plants.difference(inside[:1])[0], "value_chain"] = hostile("chain")
    inst = gpd.GeoDataFrame(
        {"name": [hostile("instname"), "Uni"], "kind": ["university", hostile("instkind")],
         "field": [hostile("field"), "mining"], "size": [np.nan, 2.0],
         "size_unit": [np.nan, hostile("unit")]},
        geometry=[south.representative_point(), north.representative_point()], crs=region.crs,
        index=pd.Index([hostile("instid"), "I2"], name="institution_id"))
    dep = region.deposits[region.deposits.within(south)]
    proj = gpd.GeoDataFrame(
        {"name": [hostile("projname"), "Unplaced " + hostile("lost")],
         "category": [hostile("projcat"), "x"], "investment": [10.0, 5.0],
         "currency": [hostile("cur"), hostile("cur")], "investment_unit": ["billion"] * 2,
         "jobs": [100.0, np.nan], "year": pd.array([2025, pd.NA], dtype="Int64"),
         "deposit_id": [dep.index[0], np.nan], "town": [np.nan, hostile("town")],
         "location": ["deposit", "unplaced"],
         "location_note": [np.nan, "town " + hostile("note") + " not found"]},
        geometry=[dep.geometry.iloc[0], None], crs=region.crs,
        index=pd.Index(["P1", "P2"], name="project_id"))
    evil = with_layers(region, facilities=fac, projects=proj, institutions=inst)
    comp = "score__" + hostile("compcol")
    candidates = gpd.GeoDataFrame(
        {"rank": [1, 2], "score": [0.8, 0.4], "label": [hostile("candlabel"), "North"],
         "places": [hostile("places"), ""], "towns": [hostile("towns"), ""],
         "members": [hostile("member"), "T2"], "activity_mix": [hostile("mix"), "coal 100%"],
         "explanation": [hostile("expl"), "few"], "score__concentration": [0.9, 0.3],
         comp: [0.5, np.nan], hostile("candcol"): [1.0, 2.0]},
        geometry=[south, north], crs=region.crs,
        index=pd.Index([hostile("candid"), "C2"], name="region_id"))
    candidates.attrs["unavailable"] = {"knowledge": hostile("reason")}
    workdir = tmp_path_factory.mktemp("hostile_dossier")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(workdir)  # where a save-time template payload would create "pwned"
        m = ms.maps.cluster_map(evil, territories=hexes, metric="count", candidates=candidates,
                                tiles=False)
        path = ms.maps.save_map(m, workdir / "map.html")
        file = ms.maps.write_dossier(candidates, evil, workdir / "dossier.html")
    return workdir, path, file


_TAGS_MAP = ("plantname", "chain", "instname", "instkind", "field", "unit", "projname",
             "projcat", "cur", "terrname", "candlabel", "places", "towns", "mix", "expl",
             "candcol")
_TAGS_CARD = ("candlabel", "places", "towns", "member", "mix", "expl", "compcol", "plantname",
              "instname", "field", "projname", "projcat", "cur", "lost", "note", "reason")


def test_hostile_nothing_runs_at_save_time(hostile_dossier):
    workdir, path, file = hostile_dossier
    assert not (workdir / "pwned").exists()
    for saved in (path.read_text(encoding="utf-8"), file.read_text(encoding="utf-8")):
        assert "zzpwn" not in saved and "{{ 7*7 }}" in saved
        assert "<img src=x" not in saved and "<svg id=svg" not in saved


def test_hostile_map_layers_and_cards_are_text(hostile_dossier):
    _, path, _ = hostile_dossier
    r = _hostile_browser_check(path)   # every popup and tooltip of every layer
    assert r["dialogs"] == [] and r["injected"] == 0 and r["errors"] == []
    assert "zzpwn" not in r["dom"]
    for tag in _TAGS_MAP:
        assert f"inj-{tag} onerror" in r["text"], tag
    assert "Institutions" in r["labels"] and "Processing plants" in r["labels"]

    def cards(bp):
        page = bp.page
        page.wait_for_selector(".ms-panel li")
        texts = []
        for i in range(page.locator(".ms-panel li").count()):
            # (long names make boxes overlap: dispatch the click to the entry itself)
            page.locator(".ms-panel li").nth(i).dispatch_event("click")
            page.wait_for_selector(".ms-dossier:not([hidden])", timeout=5000)
            texts.append(_card(page))
        page.wait_for_timeout(300)
        return texts, page.evaluate(_INJECTED_JS), list(bp.dialogs), bp.errors

    texts, injected, dialogs, errors = ms.maps.open_map(path, cards)
    assert injected == 0 and dialogs == [] and errors == []
    first = texts[0]
    assert first["title"] == "#1 " + hostile("candlabel")
    assert hostile("compcol") in [b[0] for b in first["bars"]]   # as written
    for tag in _TAGS_CARD:
        assert f"inj-{tag} onerror" in first["text"], tag
    assert "{{ 7*7 }}" in first["text"] and "zzpwn" not in first["text"]


def test_hostile_dossier_file_is_text(hostile_dossier):
    _, _, file = hostile_dossier

    def check(bp):
        page = bp.page
        page.wait_for_timeout(300)
        return (page.evaluate(_INJECTED_JS), list(bp.dialogs), bp.errors,
                page.evaluate("() => document.body.textContent"), page.title())

    injected, dialogs, errors, text, title = ms.maps.open_map(file, check)
    assert injected == 0 and dialogs == [] and errors == []
    for tag in _TAGS_CARD:
        assert f"inj-{tag} onerror" in text, tag
    assert "{{ 7*7 }}" in text and "zzpwn" not in text
    assert title.startswith("Candidate clusters: ")


# -- the new layers --------------------------------------------------------------------------

def test_institution_plant_and_project_layers(tmp_path):
    """A symbol per institution kind (distinct drawings), a diamond per plant, project
    circles with area proportional to investment: radius 16 px x sqrt(investment / 10),
    so 10 -> 16 px, 2.5 -> 8 px; unknown investment 4 px dashed; unplaced not drawn."""
    region = ms.datasets.kuzbass()
    dep = region.deposits
    inst = gpd.GeoDataFrame(
        {"name": ["U", "R", "T"], "kind": ["university", "research", "technopark"],
         "field": ["mining", "coal", None]},
        geometry=gpd.points_from_xy([86.08, 86.10, 86.12], [55.35, 55.36, 55.34], crs=4326),
        index=pd.Index(["I1", "I2", "I3"], name="institution_id")).to_crs(region.crs)
    proj = gpd.GeoDataFrame(
        {"name": ["Big", "Small", "Unknown", "Lost"], "category": ["coal chemistry"] * 4,
         "investment": [10.0, 2.5, np.nan, 7.0], "currency": ["RUB"] * 4,
         "investment_unit": ["billion"] * 4, "jobs": [1200.0, np.nan, 5.0, 1.0],
         "year": pd.array([2026, 2027, pd.NA, pd.NA], dtype="Int64"),
         "location": ["deposit", "coordinates", "town", "unplaced"]},
        geometry=[dep.geometry.iloc[0], dep.geometry.iloc[40], dep.geometry.iloc[80], None],
        crs=region.crs, index=pd.Index(["P1", "P2", "P3", "P4"], name="project_id"))
    m = ms.maps.cluster_map(with_layers(region, institutions=inst, projects=proj), tiles=False)
    path = ms.maps.save_map(m, tmp_path / "layers.html")
    n_plants = int(region.facilities["value_chain"].notna().sum())

    def check(bp):
        page = bp.page
        page.wait_for_selector(".ms-legend")
        # the institutions layer starts switched off (the default legend must fit)
        page.locator(".leaflet-control-layers-overlays label",
                     has_text="Institutions").locator("input").check()
        syms = page.evaluate("""() => Array.from(document.querySelectorAll(
            '.leaflet-marker-pane .ms-sym')).map(function (e) { return e.innerHTML; })""")
        circles = page.evaluate(f"""() => {{ var m = ({_MAP_JS})(), out = [];
            m.eachLayer(function (l) {{ if (l instanceof L.CircleMarker && l.getPopup()) {{
              var p = l.getPopup().getContent(); if (typeof p === 'function') p = p(l);
              out.push([l.getRadius(), l.options.dashArray, p]); }} }});
            return out; }}""")
        return syms, circles, page.locator(".ms-legend").inner_text(), bp.errors

    syms, circles, legend, errors = ms.maps.open_map(path, check)
    assert errors == []
    assert len(syms) == 3 + n_plants
    assert len(set(syms[-3:])) == 3           # three kinds, three different drawings
    by_radius = sorted(circles, key=lambda c: -c[0])
    assert [round(c[0], 1) for c in by_radius] == [16.0, 8.0, 4.0]
    assert by_radius[2][1] == "3 3" and by_radius[0][1] is None   # unknown amount: dashed
    big = by_radius[0][2]
    assert "<b>Big</b>" in big and "10 billion RUB" in big and "1,200" in big
    assert "2026" in big and "deposit" in big
    assert not any("Lost" in c[2] for c in circles)                # unplaced: not drawn
    for text in ("Institutions (by kind)", "university", "research", "technopark",
                 "Processing plants (by value-chain input)", "thermal coal",
                 "Announced projects, placed (area = investment)", "2.5 billion RUB"):
        assert text in legend, text
