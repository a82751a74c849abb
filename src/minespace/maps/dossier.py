"""The candidate dossier: one card per candidate cluster, as a table, a file and a map card.

:func:`candidate_dossier` gathers, for each ranked candidate, what a planner needs on one
page: its member territories and towns, its score and each score component, its mines by
activity, the processing plants, institutions and investment projects inside it or linked
to it, the data gaps (projects that could not be placed, components that could not be
computed) and the plain-text explanation. :func:`write_dossier` writes the same content as
one self-contained, printable HTML file; :class:`DossierCard` embeds it in the map, where
clicking a candidate (its outline or its entry in the ranked panel) opens its card.

Escaping: the file is written by Python with every string passed through
:func:`html.escape` (no template engine); the map embeds the cards as JSON data
(:func:`~minespace.maps.layers.safe_json`) that a small script renders with
``textContent`` only, never ``innerHTML``.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from jinja2 import Template

from ..clustering._weights import COMPONENTS
from ..clustering.profiles import activity_label
from ..io.write import atomic_path
from ..region import Region
from .innovation_layers import money, placed_mask, placed_projects, project_table, token_label
from .layers import _RawScript, safe_json

__all__ = ["DossierCard", "candidate_dossier", "dossier_cards", "write_dossier"]

#: Sections of a dossier, in order.
SECTIONS = ("candidate", "members", "score", "mines", "plants", "institutions", "projects",
            "data gaps", "explanation")

_TITLES = {"candidate": "Candidate", "members": "Members", "score": "Score components",
           "mines": "Mines by activity", "plants": "Processing plants",
           "institutions": "Institutions", "projects": "Investment projects",
           "data gaps": "Data gaps", "explanation": "Explanation"}
_EMPTY = {"mines": "No deposits in this candidate.",
          "plants": "No processing plant inside or linked.",
          "institutions": "No institution inside or linked.",
          "projects": "No placed project inside.", "data gaps": "None."}
# raw figures of the candidate (contract columns), shown when present
_FIGURES = ("deposits", "area_km2", "value_chain_share", "plants_within", "institutions_within",
            "institutions_by_kind", "projects", "investment", "project_jobs")
_UNAVAILABLE = "unavailable"


# -- the table -------------------------------------------------------------------------------

def candidate_dossier(candidates: gpd.GeoDataFrame, region: Region, *,
                      deposits: gpd.GeoDataFrame | None = None,
                      links: Mapping[str, pd.DataFrame] | None = None,
                      by: str | Sequence[str] = "commodity") -> dict[object, pd.DataFrame]:
    """The dossier of each candidate as a table of ``section, item, value`` rows.

    Parameters
    ----------
    candidates : GeoDataFrame
        Ranked candidates (:func:`minespace.clustering.candidate_clusters`): ``rank``,
        ``score``, ``score__<component>`` and, when present, ``label``, ``places``,
        ``towns``, ``members``, ``activity_mix``, ``explanation`` and the raw figures
        (``value_chain_share``, ``projects``, ``investment``, ...). Missing columns
        are left out; ``attrs["unavailable"]`` (component -> reason) and
        ``attrs["weights"]`` are read when present.
    region : Region
        Its ``deposits``, ``facilities`` (processing plants: rows with a
        ``value_chain``), ``institutions`` and ``projects`` (located, or the older
        table linked by ``deposit_id``).
    deposits : GeoDataFrame, optional
        Deposits to count (default ``region.deposits``). With a ``territory_id`` column
        and the candidates' ``members`` they are assigned through their territory;
        otherwise by a spatial test against the candidate's polygon.
    links : mapping, optional
        ``{"plants": value_chain_links frame with territory_id, "institutions":
        knowledge_links frame}``: plants and institutions *linked* to a candidate's member
        territories (within the travel-time threshold) with their times. Without a frame
        (or without ``members``), the plants and institutions *inside* the polygon.
    by : str or sequence of str
        Deposit column(s) of the activity (values joined with ``"/"``, as in
        :mod:`minespace.concentration`).

    Returns
    -------
    dict
        Candidate id (the index of *candidates*) -> DataFrame with columns ``section``
        (one of ``"candidate"``, ``"members"``, ``"score"``, ``"mines"``, ``"plants"``,
        ``"institutions"``, ``"projects"``, ``"data gaps"``, ``"explanation"``), ``item``
        and ``value`` (a number where one is meant: rank, score, component in [0, 1],
        deposit count; the text ``"unavailable"`` for a component that could not be
        computed, never 0; text otherwise). In rank order.

    Examples
    --------
    >>> import minespace as ms, geopandas as gpd, pandas as pd
    >>> region = ms.datasets.kuzbass()
    >>> cand = gpd.GeoDataFrame({"rank": [1], "score": [0.7], "score__concentration": [0.9],
    ...     "label": ["Kuzbass"]}, geometry=[region.boundary.union_all()], crs=region.crs,
    ...     index=pd.Index(["R1"], name="region_id"))
    >>> table = ms.maps.candidate_dossier(cand, region)["R1"]
    >>> table.loc[table["section"] == "score", ["item", "value"]].values.tolist()[:2]
    [['concentration', 0.9], ['coherence', 'unavailable']]
    >>> int(table.loc[table["section"] == "mines", "value"].sum()) == len(region.deposits)
    True
    """
    return {key: card["table"] for key, card in _build(candidates, region, deposits=deposits,
                                                       links=links, by=by)}


def _build(candidates, region, *, deposits, links, by) -> list[tuple[object, dict]]:
    cands = candidates.sort_values("rank", kind="stable") if "rank" in candidates else candidates
    if region.crs is not None and cands.crs is not None and cands.crs != region.crs:
        cands = cands.to_crs(region.crs)
    deposits = region.deposits if deposits is None else deposits
    links = dict(links or {})
    plant_links = links.get("plants")
    if (plant_links is not None and "territory_id" not in plant_links
            and "deposit_id" in plant_links and deposits is not None
            and "territory_id" in deposits):  # the deposits' territories
        links["plants"] = plant_links.assign(territory_id=plant_links["deposit_id"].map(
            deposits["territory_id"]).to_numpy())
    mines = _mines(cands, deposits, by)
    plants = _plants(cands, region.facilities, links.get("plants"))
    insts = _institutions(cands, getattr(region, "institutions", None), links.get("institutions"))
    projects = project_table(region)
    placed = _projects(cands, placed_projects(projects))
    gaps = _unplaced(projects)
    unavailable = dict(candidates.attrs.get("unavailable") or {})
    comps = list(dict.fromkeys([*COMPONENTS, *(str(c)[len("score__"):] for c in cands.columns
                                               if str(c).startswith("score__"))]))
    names = {"investment": _investment_item(placed_projects(projects))}
    out = []
    for pos, key in enumerate(cands.index):
        row = cands.iloc[pos]
        rows: list[tuple[str, str, object]] = []
        rank = int(row["rank"]) if "rank" in cands and pd.notna(row["rank"]) else pos + 1
        rows.append(("candidate", "rank", rank))
        rows.append(("candidate", "id", str(key)))
        for col in ("label", "score", *_FIGURES):
            if col in cands and _present(row[col]) and str(row[col]).strip():
                rows.append(("candidate", names.get(col, col), _value(row[col])))
        for col, item in (("members", "territories"), ("places", "places"),
                          ("towns", "towns")):
            if col in cands and _present(row[col]) and str(row[col]).strip():
                rows.append(("members", item, _text(row[col])))
        gap_rows = []
        for comp in comps:
            col = "score__" + comp
            v = row[col] if col in cands else np.nan
            if _present(v):
                rows.append(("score", comp, float(v)))
            else:
                rows.append(("score", comp, _UNAVAILABLE))
                everywhere = col not in cands or cands[col].isna().all()
                reason = unavailable.get(comp) or (
                    "not computed for any candidate (its input layer is missing)"
                    if everywhere else "not computed for this candidate")
                gap_rows.append(("data gaps", f"unavailable: {comp}", str(reason)))
        if "activity_mix" in cands and _present(row["activity_mix"]) \
                and str(row["activity_mix"]).strip():
            rows.append(("mines", "activity mix", _text(row["activity_mix"])))
        rows += [("mines", item, int(n)) for item, n in mines.get(pos, [])]
        rows += [("plants", item, text) for item, text in plants.get(pos, [])]
        rows += [("institutions", item, text) for item, text in insts.get(pos, [])]
        rows += [("projects", item, text) for item, text in placed.get(pos, [])]
        rows += gap_rows + gaps
        if "explanation" in cands and _present(row["explanation"]):
            rows.append(("explanation", "text", _text(row["explanation"])))
        table = pd.DataFrame(rows, columns=["section", "item", "value"])
        out.append((key, {"table": table, "rows": rows, "rank": rank,
                          "weights": dict(candidates.attrs.get("weights") or {})}))
    return out


def _present(v) -> bool:
    if isinstance(v, (list, tuple, np.ndarray)):
        return len(v) > 0
    return not pd.isna(v)


def _investment_item(placed: gpd.GeoDataFrame | None) -> str:
    """``"investment (billion RUB)"``: the candidates' investment sums are in the unit and
    currency of the placed projects (:func:`minespace.investment_totals` refuses a mix);
    plain ``"investment"`` when they do not say one."""
    if placed is None or not {"currency", "investment_unit"} <= set(placed.columns):
        return "investment"
    counted = placed[pd.to_numeric(placed.get("investment"), errors="coerce").notna()]
    units = {" ".join(str(x) for x in pair if isinstance(x, str) and x.strip())
             for pair in zip(counted["investment_unit"], counted["currency"], strict=True)}
    units.discard("")
    return f"investment ({units.pop()})" if len(units) == 1 else "investment"


def _value(v):
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    return _text(v)


def _text(v) -> str:
    if isinstance(v, (list, tuple, np.ndarray)):
        return ", ".join(map(str, v))
    return str(v)


def _index_of(cands: gpd.GeoDataFrame, layer: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(candidate position, layer position) of each layer point inside a candidate; a
    point in several candidates goes to the best-ranked (first)."""
    geoms = layer.geometry
    ok = geoms.notna().to_numpy() & ~geoms.is_empty.to_numpy()
    if not ok.any() or not len(cands):
        return np.empty(0, int), np.empty(0, int)
    if layer.crs is not None and cands.crs is not None and layer.crs != cands.crs:
        geoms = geoms.to_crs(cands.crs)
    pts = np.where(ok, geoms.values, None)
    tree = shapely.STRtree(cands.geometry.values)
    p, c = tree.query(pts, predicate="intersects")
    order = np.lexsort((c, p))
    p, c = p[order], c[order]
    first = np.r_[True, p[1:] != p[:-1]] if len(p) else np.empty(0, bool)
    return c[first], p[first]


def _member_positions(cands: gpd.GeoDataFrame, territory: pd.Series) -> np.ndarray:
    """Position of the candidate holding each *territory* id (-1: none)."""
    if "members" not in cands:
        return np.full(len(territory), -1)
    ids = cands["members"].fillna("").astype(str).str.split(", ")
    lookup = pd.Series(np.repeat(np.arange(len(cands)), ids.str.len().to_numpy()),
                       index=np.concatenate(ids.to_numpy()) if len(ids) else [])
    lookup = lookup[~lookup.index.duplicated()]
    return territory.astype(str).map(lookup).fillna(-1).astype(int).to_numpy()


def _grouped(pos: np.ndarray, items: Sequence[str], values: Sequence) -> dict[int, list]:
    out: dict[int, list] = {}
    for p, i, v in zip(pos, items, values, strict=True):
        out.setdefault(int(p), []).append((i, v))
    return out


def _mines(cands, deposits: gpd.GeoDataFrame | None, by) -> dict[int, list]:
    if deposits is None or not len(deposits):
        return {}
    cols = [by] if isinstance(by, str) else list(by)
    if cols and all(c in deposits for c in cols):
        cats = deposits[cols[0]].astype(str).where(deposits[cols[0]].notna(), "no value")
        for c in cols[1:]:
            cats = cats + "/" + deposits[c].astype(str).where(deposits[c].notna(), "no value")
    else:
        cats = pd.Series("deposit", index=deposits.index)
    if "territory_id" in deposits and "members" in cands:
        pos = _member_positions(cands, deposits["territory_id"])
        keep = pos >= 0
        c, p = pos[keep], np.flatnonzero(keep)
    else:
        c, p = _index_of(cands, deposits)
    frame = pd.DataFrame({"c": c, "cat": cats.to_numpy()[p]})
    counts = frame.groupby(["c", "cat"]).size().reset_index(name="n")
    counts = counts.sort_values(["c", "n", "cat"], ascending=[True, False, True])
    # category keys read as words, as in the map's legend; other text as written
    words = [activity_label(x) if re.fullmatch(r"[a-z0-9_/;]+", x) else x
             for x in counts["cat"]]
    return _grouped(counts["c"].to_numpy(), words,
                    counts["n"].tolist())


def _join(*parts) -> str:
    return " · ".join(str(p) for p in parts if isinstance(p, str) and p.strip())


def _minutes(t) -> str:
    return f"{t:,.0f} min" if np.isfinite(t) else ""


def _plants(cands, facilities, link: pd.DataFrame | None) -> dict[int, list]:
    if facilities is None or not len(facilities):
        facilities = None
    if link is not None and len(link) and "territory_id" in link and "members" in cands:
        pos = _member_positions(cands, link["territory_id"])
        frame = link.assign(_c=pos)[pos >= 0]
        g = (frame.groupby(["_c", "facility_id"], sort=True)
             .agg(name=("facility_name", "first"), chain=("value_chain", "first"),
                  time=("time_min", "min"), n=("deposit_id", "nunique")).reset_index())
        g = g.sort_values(["_c", "time", "name"], kind="stable")
        kinds = (facilities["kind"].reindex(g["facility_id"]).to_numpy()
                 if facilities is not None and "kind" in facilities
                 else np.full(len(g), None))
        texts = [_join(_label(ch), _label(k), f"within {_minutes(t)} of {n} mine" + "s" * (n != 1))
                 for ch, k, t, n in zip(g["chain"], kinds, g["time"].astype(float), g["n"],
                                        strict=True)]
        names = g["name"].where(g["name"].notna(), g["facility_id"]).astype(str)
        return _grouped(g["_c"].to_numpy(), names.tolist(), texts)
    if facilities is None:
        return {}
    plants = (facilities[facilities["value_chain"].notna().to_numpy()]
              if "value_chain" in facilities else facilities)
    c, p = _index_of(cands, plants)
    sub = plants.iloc[p]
    texts = [_join(_label(ch), _label(k), "inside")
             for ch, k in zip(_col(sub, "value_chain"), _col(sub, "kind"), strict=True)]
    return _grouped(c, _names(sub), texts)


def _institutions(cands, institutions, link: pd.DataFrame | None) -> dict[int, list]:
    if link is not None and len(link) and "territory_id" in link and "members" in cands:
        pos = _member_positions(cands, link["territory_id"])
        frame = link.assign(_c=pos)[pos >= 0]
        g = (frame.groupby(["_c", "institution_id"], sort=True)
             .agg(name=("institution_name", "first"), kind=("kind", "first"),
                  time=("time_min", "min")).reset_index())
        g = g.sort_values(["_c", "time", "name"], kind="stable")
        fields = (institutions["field"].reindex(g["institution_id"]).to_numpy()
                  if institutions is not None and "field" in institutions
                  else np.full(len(g), None))
        texts = [_join(_label(k) if isinstance(k, str) else "", f,
                       f"within {_minutes(t)}" if np.isfinite(t) else "")
                 for k, f, t in zip(g["kind"], fields, g["time"].astype(float), strict=True)]
        names = g["name"].where(g["name"].notna(), g["institution_id"]).astype(str)
        return _grouped(g["_c"].to_numpy(), names.tolist(), texts)
    if institutions is None or not len(institutions):
        return {}
    c, p = _index_of(cands, institutions)
    sub = institutions.iloc[p]
    texts = [_join(_label(k) if isinstance(k, str) else "", f, "inside")
             for k, f in zip(_col(sub, "kind"), _col(sub, "field"), strict=True)]
    return _grouped(c, _names(sub), texts)


def _projects(cands, placed: gpd.GeoDataFrame | None) -> dict[int, list]:
    if placed is None or not len(placed):
        return {}
    c, p = _index_of(cands, placed)
    sub = placed.iloc[p]
    return _grouped(c, _names(sub), [_project_text(r) for r in _records(sub)])


def _project_text(r: dict) -> str:
    jobs = r.get("jobs")
    year = r.get("year")
    return _join(r.get("category") if isinstance(r.get("category"), str) else "",
                 money(r.get("investment"), r.get("currency"), r.get("investment_unit")),
                 f"{jobs:,.0f} jobs" if _finite(jobs) else "",
                 f"{int(year)}" if _finite(year) else "",
                 f"placed by {r['location']}" if isinstance(r.get("location"), str) else "")


def _finite(v) -> bool:
    try:
        return v is not None and not pd.isna(v) and np.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _unplaced(projects: gpd.GeoDataFrame | None) -> list[tuple[str, str, str]]:
    """Data-gap rows for the projects without a location (the same in every card)."""
    if projects is None or not len(projects):
        return []
    rest = projects[~placed_mask(projects)]
    if not len(rest):
        return []
    # counted from the rows, not from attrs["unplaced"]: a layer read back from a file has
    # no attrs, and the dossier must read the same either way
    inv = pd.to_numeric(rest["investment"], errors="coerce") if "investment" in rest else None
    total = inv.sum(min_count=1) if inv is not None else np.nan
    first = rest.iloc[0]
    amount = money(total, first.get("currency"), first.get("investment_unit"))
    n = len(rest)
    rows = [("data gaps", "unplaced projects",
             f"{n} project{'s' * (n != 1)} of the region ({amount}) could not be placed and "
             "count in no candidate")]
    notes = _col(rest, "location_note")
    for name, note in zip(_names(rest), notes, strict=True):
        rows.append(("data gaps", f"unplaced: {name}",
                     str(note) if isinstance(note, str) else "no location given"))
    return rows


def _col(frame: pd.DataFrame, col: str) -> list:
    return frame[col].tolist() if col in frame else [None] * len(frame)


def _names(frame: pd.DataFrame) -> list[str]:
    ids = pd.Series(frame.index.astype(str), index=frame.index)
    if "name" not in frame:
        return ids.tolist()
    return frame["name"].astype(str).where(frame["name"].notna(), ids).tolist()


def _records(frame: pd.DataFrame) -> list[dict]:
    return frame.drop(columns="geometry", errors="ignore").to_dict("records")


def _label(text) -> str:
    return token_label(text) if isinstance(text, str) else ""


# -- cards (shared by the file and the map) ------------------------------------------------------

def _fmt(v) -> str:
    if isinstance(v, (int, np.integer)):
        return f"{v:,}"
    if isinstance(v, (float, np.floating)):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"
    return str(v)


def dossier_cards(candidates: gpd.GeoDataFrame, region: Region, *,
                  deposits: gpd.GeoDataFrame | None = None,
                  links: Mapping[str, pd.DataFrame] | None = None,
                  by: str | Sequence[str] = "commodity") -> list[dict]:
    """The dossier as plain data for display (strings unescaped; escape when rendering).

    Each card: ``id`` (str), ``rank``, ``title``, ``subtitle``, ``bars`` (``name``,
    ``value`` in [0, 1] or None, ``weight`` text, ``text``) and ``sections`` (``title``,
    ``rows`` of ``[item, value text]``, ``empty`` text, ``text``: shown as paragraphs).
    """
    cards = []
    for key, built in _build(candidates, region, deposits=deposits, links=links, by=by):
        w = built["weights"]
        by_sec: dict[str, list[tuple[str, object]]] = {}
        for sec, item, value in built["rows"]:   # a few dozen rows per card
            by_sec.setdefault(sec, []).append((item, value))
        get = dict(by_sec.get("candidate", []))
        score = get.get("score")
        subtitle = ("score " + (f"{score:.2f}" if isinstance(score, float) else "–")
                    + (f" · {get['deposits']:,.0f} deposits" if "deposits" in get else "")
                    + (f" · {get['area_km2']:,.0f} km²" if "area_km2" in get else ""))
        bars = []
        for comp, v in by_sec.get("score", []):
            ok = isinstance(v, float)
            bars.append({"name": token_label(comp),
                         "value": min(max(v, 0.0), 1.0) if ok else None,
                         "weight": f"{w[comp]:.2f}" if comp in w else "",
                         "text": f"{v:.2f}" if ok else _UNAVAILABLE})
        sections = []
        for sec in SECTIONS:
            if sec == "score":
                continue
            rows = by_sec.get(sec, [])
            if sec == "candidate":
                rows = [(i, v) for i, v in rows if i not in ("rank", "label", "score")]
            if sec == "explanation":
                rows = [("", v) for _, v in rows]
            if not rows and sec not in _EMPTY:
                continue
            sections.append({"title": _TITLES[sec],
                             "rows": [[token_label(i) if sec == "candidate" else str(i),
                                       _fmt(v)] for i, v in rows],
                             "empty": _EMPTY.get(sec, ""),
                             "text": sec == "explanation"})   # paragraphs, not a table
        label = get.get("label", str(key))
        cards.append({"id": str(key), "rank": built["rank"],
                      "title": f"#{built['rank']} {label}", "subtitle": subtitle,
                      "bars": bars, "sections": sections})
    return cards


# -- the printable file ------------------------------------------------------------------------

FILE_CSS = """
body {font: 13px/1.4 system-ui, sans-serif; color: #222; margin: 24px auto; max-width: 900px;
  padding: 0 16px; overflow-wrap: anywhere;}
h1 {font-size: 21px; margin-bottom: 4px;}
nav ol {columns: 2; font-size: 12px;}
.card {border: 1px solid #bbb; border-radius: 6px; padding: 12px 16px; margin: 18px 0;
  break-inside: avoid; page-break-inside: avoid;}
.card h2 {font-size: 17px; margin: 0 0 2px 0;}
.card h3 {font-size: 13px; margin: 12px 0 3px 0; color: #08306b;
  border-bottom: 1px solid #ddd;}
.sub {color: #555; margin: 0 0 8px 0;}
.bar {display: grid; grid-template-columns: 190px 164px 90px; align-items: center;
  column-gap: 8px;}
.bar .w {color: #777; font-size: 11px;}
.unavailable {color: #a50f15; font-style: italic;}
table {border-collapse: collapse; width: 100%;}
th {text-align: left; font-weight: 500; color: #444; padding: 1px 12px 1px 0;
  vertical-align: top; width: 38%;}
td {padding: 1px 0; vertical-align: top;}
.none {color: #777; font-style: italic; margin: 2px 0;}
p.text {margin: 2px 0;}
svg {-webkit-print-color-adjust: exact; print-color-adjust: exact;}
@media print {
  body {margin: 0; max-width: none; font-size: 10.5pt;}
  nav {display: none;}
  .card {border-color: #888;}
  a {color: inherit; text-decoration: none;}
}
"""

BAR_WIDTH = 160


def _svg_bar(value: float | None, name: str) -> str:
    label = html.escape(f"{name}: " + (f"{value:.2f}" if value is not None else _UNAVAILABLE),
                        quote=True)
    if value is None:
        inner = (f'<rect x="0.5" y="0.5" width="{BAR_WIDTH - 1}" height="11" fill="#fafafa" '
                 'stroke="#a50f15" stroke-dasharray="3 2"/>')
    else:
        inner = (f'<rect width="{BAR_WIDTH}" height="12" fill="#e3e3e3"/>'
                 f'<rect width="{value * BAR_WIDTH:.1f}" height="12" fill="#2171b5"/>')
    return (f'<svg width="{BAR_WIDTH}" height="12" role="img" aria-label="{label}">'
            f"{inner}</svg>")


def _card_html(card: dict, i: int) -> str:
    e = html.escape
    bars = "".join(
        f'<div class="bar"><span>{e(b["name"])}'
        + (f' <span class="w">(weight {e(b["weight"])})</span>' if b["weight"] else "")
        + f"</span>{_svg_bar(b['value'], b['name'])}"
        + f'<span class="{"" if b["value"] is not None else _UNAVAILABLE}">{e(b["text"])}'
        "</span></div>" for b in card["bars"])
    parts = [f'<article class="card" id="card-{i}"><h2>{e(card["title"])}</h2>'
             f'<p class="sub">{e(card["subtitle"])}</p><h3>Score components</h3>{bars}']
    for sec in card["sections"]:
        parts.append(f"<h3>{e(sec['title'])}</h3>")
        if sec["text"]:
            parts.append("".join(f'<p class="text">{e(b)}</p>' for _, b in sec["rows"]))
        elif sec["rows"]:
            parts.append("<table>" + "".join(f"<tr><th>{e(a)}</th><td>{e(b)}</td></tr>"
                                             for a, b in sec["rows"]) + "</table>")
        else:
            parts.append(f'<p class="none">{e(sec["empty"])}</p>')
    parts.append("</article>")
    return "".join(parts)


def dossier_html(cards: list[dict], *, title: str) -> str:
    """The printable page of *cards* (:func:`dossier_cards`), every string escaped."""
    e = html.escape
    nav = "".join(f'<li><a href="#card-{i}">{e(c["title"])}</a></li>'
                  for i, c in enumerate(cards))
    body = "".join(_card_html(c, i) for i, c in enumerate(cards))
    n = len(cards)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(title)}</title><style>{FILE_CSS}</style></head><body>"
            f"<header><h1>{e(title)}</h1><p class=\"sub\">{n} candidate cluster"
            f"{'s' * (n != 1)}, best first. Component bars run from 0 to 1; a component that "
            "could not be computed is marked unavailable (its weight went to the others)."
            f"</p></header><nav><ol>{nav}</ol></nav><main>{body}</main></body></html>\n")


def write_dossier(candidates: gpd.GeoDataFrame, region: Region, path: str | os.PathLike, *,
                  deposits: gpd.GeoDataFrame | None = None,
                  links: Mapping[str, pd.DataFrame] | None = None,
                  by: str | Sequence[str] = "commodity", title: str | None = None) -> Path:
    """Write the dossier of every candidate as one self-contained, printable HTML file.

    Inline CSS (with print rules: one card per block, no navigation) and inline SVG
    component bars; no script, no external asset; every string is escaped with
    :func:`html.escape`. The same input gives the same bytes. Written atomically.

    Parameters
    ----------
    candidates, region, deposits, links, by
        As in :func:`candidate_dossier`.
    path : path-like
        The HTML file (e.g. ``maps/candidates_dossier.html``).
    title : str, optional
        Defaults to ``"Candidate clusters: <region name>"``.

    Returns
    -------
    Path

    Examples
    --------
    >>> import minespace as ms, geopandas as gpd, pandas as pd
    >>> region = ms.datasets.kuzbass()
    >>> cand = gpd.GeoDataFrame({"rank": [1], "score": [0.7], "label": ["<all>"]},
    ...     geometry=[region.boundary.union_all()], crs=region.crs, index=["R1"])
    >>> out = ms.maps.write_dossier(cand, region, tmp_path / "dossier.html")
    >>> "#1 &lt;all&gt;" in out.read_text(encoding="utf-8")
    True
    """
    cards = dossier_cards(candidates, region, deposits=deposits, links=links, by=by)
    text = dossier_html(cards, title=title or f"Candidate clusters: {region.name}")
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(text.encode("utf-8"))
    return path


# -- the map card ------------------------------------------------------------------------------

CARD_CSS = """
<style>
.ms-dossier {position: absolute; top: 10px; left: 352px; z-index: 1100; width: 390px;
  max-width: calc(100% - 20px); max-height: calc(100% - 20px); overflow-y: auto;
  background: #fff; border-radius: 6px; box-shadow: 0 2px 10px rgba(0,0,0,0.45);
  padding: 10px 14px; font: 12px/1.35 system-ui, sans-serif; color: #222;
  box-sizing: border-box; overflow-wrap: anywhere;}
.ms-dossier[hidden] {display: none;}
.ms-dossier:focus {outline: 2px solid #2171b5;}
.ms-dossier .ms-dhead {display: flex; align-items: flex-start; gap: 8px;}
.ms-dossier h2 {font-size: 15px; margin: 0; flex: 1;}
.ms-dossier h3 {font-size: 12px; margin: 9px 0 2px 0; color: #08306b;
  border-bottom: 1px solid #ddd;}
.ms-dossier .ms-dclose {font: 600 18px/1 system-ui, sans-serif; border: 1px solid #999;
  background: #f4f4f4; border-radius: 4px; width: 28px; height: 28px; cursor: pointer;}
.ms-dossier .ms-dclose:focus {outline: 2px solid #2171b5;}
.ms-dossier .ms-dsub {color: #555; margin: 2px 0 6px 0;}
.ms-dossier .ms-dbar {display: grid; grid-template-columns: 150px 124px 1fr;
  align-items: center; column-gap: 6px;}
.ms-dossier .ms-dbar .ms-dw {color: #777; font-size: 10px;}
.ms-dossier .ms-unavail {color: #a50f15; font-style: italic;}
.ms-dossier table {border-collapse: collapse; width: 100%;}
.ms-dossier th {text-align: left; font-weight: 500; color: #444; padding: 1px 8px 1px 0;
  vertical-align: top; width: 40%;}
.ms-dossier td {vertical-align: top;}
.ms-dossier .ms-dnone {color: #777; font-style: italic; margin: 2px 0;}
.ms-dossier .ms-dtext {margin: 2px 0;}
.ms-panel li:focus {outline: 2px solid #2171b5;}
@media (max-width: 1000px) {.ms-dossier {left: 10px;}}
</style>
"""

# builds the card with DOM methods and textContent only (data from safe_json)
_CARD_JS = """
(function (d) {
  var map = __MS_MAP__;
  var cards = Object.create(null);
  d.cards.forEach(function (c) { cards[c.id] = c; });
  var box = L.DomUtil.create('section', 'ms-dossier', map.getContainer());
  box.hidden = true; box.tabIndex = -1;
  box.setAttribute('role', 'dialog'); box.setAttribute('aria-label', 'Candidate dossier');
  L.DomEvent.disableClickPropagation(box); L.DomEvent.disableScrollPropagation(box);
  var SVG = 'http://www.w3.org/2000/svg', W = 120, opener = null;
  function el(tag, cls, text, parent) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== null && text !== undefined) { e.textContent = String(text); }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function rect(svg, attrs) {
    var r = document.createElementNS(SVG, 'rect');
    for (var k in attrs) { r.setAttribute(k, String(attrs[k])); }
    svg.appendChild(r);
  }
  function bar(b, parent) {
    var row = el('div', 'ms-dbar', null, parent);
    var name = el('span', null, b.name, row);
    if (b.weight) { el('span', 'ms-dw', ' (weight ' + b.weight + ')', name); }
    var svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('width', String(W)); svg.setAttribute('height', '10');
    svg.setAttribute('class', 'ms-dbar-svg');
    if (typeof b.value === 'number') {
      rect(svg, {width: W, height: 10, fill: '#e3e3e3'});
      rect(svg, {width: Math.max(0, Math.min(1, b.value)) * W, height: 10, fill: '#2171b5',
                 'class': 'ms-dbar-fill'});
    } else {
      rect(svg, {x: 0.5, y: 0.5, width: W - 1, height: 9, fill: '#fafafa', stroke: '#a50f15',
                 'stroke-dasharray': '3 2'});
    }
    row.appendChild(svg);
    el('span', typeof b.value === 'number' ? 'ms-dval' : 'ms-dval ms-unavail', b.text, row);
  }
  function render(c) {
    box.textContent = '';
    var head = el('div', 'ms-dhead', null, box);
    el('h2', null, c.title, head);
    var close = el('button', 'ms-dclose', '\\u00d7', head);
    close.type = 'button'; close.title = 'Close (Esc)';
    close.setAttribute('aria-label', 'Close the dossier');
    close.addEventListener('click', hide);
    el('p', 'ms-dsub', c.subtitle, box);
    el('h3', null, 'Score components', box);
    var bars = el('div', 'ms-dbars', null, box);
    c.bars.forEach(function (b) { bar(b, bars); });
    c.sections.forEach(function (s) {
      el('h3', null, s.title, box);
      if (!s.rows.length) { el('p', 'ms-dnone', s.empty, box); return; }
      if (s.text) { s.rows.forEach(function (r) { el('p', 'ms-dtext', r[1], box); }); return; }
      var t = el('table', null, null, box);
      s.rows.forEach(function (r) {
        var tr = el('tr', null, null, t); el('th', null, r[0], tr); el('td', null, r[1], tr);
      });
    });
  }
  function show(id, from) {
    var c = cards[id];
    if (!c) { return; }
    render(c); box.hidden = false; box.setAttribute('data-ms-id', id);
    opener = from || null;
    box.querySelector('.ms-dclose').focus({preventScroll: true});
    return box;
  }
  function hide() {
    box.hidden = true;
    if (opener && opener.focus) { opener.focus(); }
    opener = null;
  }
  box.addEventListener('keydown', function (e) { if (e.key === 'Escape') { hide(); } });
  map._ms = map._ms || {};
  map._ms.dossier = {open: show, close: hide};
  var layers = map._ms.candidates || {};
  Object.keys(layers).forEach(function (id) {
    layers[id].on('click', function () { show(id); });
  });
})
"""


class DossierCard(_RawScript, MacroElement):
    """The dossier cards in a map: clicking a candidate outline (registered by the
    candidates layer as ``map._ms.candidates``) or its panel entry opens its card.
    Add it after the candidates layer."""

    _template = Template(
        "{% macro header(this, kwargs) %}" + CARD_CSS + "{% endmacro %}"
        "{% macro script(this, kwargs) %}"
        "{{ this.js }}({{ this.payload }});"
        "{% endmacro %}")

    def __init__(self, candidates: gpd.GeoDataFrame, region: Region, *,
                 deposits: gpd.GeoDataFrame | None = None,
                 links: Mapping[str, pd.DataFrame] | None = None,
                 by: str | Sequence[str] = "commodity"):
        super().__init__()
        self._name = "DossierCard"
        self.cards = dossier_cards(candidates, region, deposits=deposits, links=links, by=by)
        self.payload = safe_json({"cards": self.cards})

    def render(self, **kwargs):
        self.js = _CARD_JS.replace("__MS_MAP__", self._parent.get_name())
        super().render(**kwargs)
