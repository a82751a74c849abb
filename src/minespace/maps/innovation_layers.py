"""Map layers of the innovation infrastructure: institutions, processing plants, projects.

- **Institutions** (``region.institutions``): one symbol per kind (shape *and* colour:
  a filled square for a university, an open square for a branch, a triangle for a
  research institute, ...), drawn by minespace as inline SVG in Leaflet ``divIcon``
  markers: no icon font, no image file.
- **Processing plants** (facilities with a ``value_chain``): a diamond coloured by the
  plant's value-chain input (their kind is in the popup); the ``Facilities`` layer keeps
  its rings by kind for the other facilities.
- **Projects** (``region.projects`` located by :func:`minespace.locate_projects`, or the
  older table linked by ``deposit_id``): circles whose *area* is proportional to the
  investment; unplaced projects are not drawn (the dossier reports them).

Escaping: the SVG symbols are constants of this module and colours are checked hex
codes; every user string (names, kinds, fields, value chains, categories, currencies,
column names) reaches the page HTML-escaped through
:func:`~minespace.maps.layers.attribute_columns` and the escaped tooltips, inside a
:func:`~minespace.maps.layers.safe_json` payload.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from jinja2 import Template

from ..region import Region
from .layers import PRECISION, _ll, _PayloadLayer, attribute_columns, safe_json
from .legend import legend_section

__all__ = ["INSTITUTION_SYMBOLS", "VALUE_CHAIN_COLORS", "SymbolLayer", "institutions_layer",
           "placed_projects", "plants_layer", "project_table", "projects_layer"]

_HEX = re.compile(r"#[0-9a-fA-F]{6}")

#: SVG shapes (16 x 16 view box) the symbols are made of; ``{c}`` is the colour.
_SHAPES = {
    "square": '<rect x="2.5" y="2.5" width="11" height="11" fill="{c}" stroke="#fff" '
              'stroke-width="1.5"/>',
    "square_open": '<rect x="3" y="3" width="10" height="10" fill="#fff" stroke="{c}" '
                   'stroke-width="3"/>',
    "triangle": '<path d="M8 1.5L15 14.5H1Z" fill="{c}" stroke="#fff" stroke-width="1.3"/>',
    "diamond": '<path d="M8 0.8L15.2 8L8 15.2L0.8 8Z" fill="{c}" stroke="#fff" '
               'stroke-width="1.3"/>',
    "circle_dot": '<circle cx="8" cy="8" r="6" fill="#fff" stroke="{c}" stroke-width="3"/>'
                  '<circle cx="8" cy="8" r="2" fill="{c}"/>',
    "star": '<path d="M8 0.8L10 5.8L15.3 6.2L11.2 9.6L12.5 14.9L8 12L3.5 14.9L4.8 9.6L0.7 6.2'
            'L6 5.8Z" fill="{c}" stroke="#fff" stroke-width="1"/>',
    "hexagon": '<path d="M4.2 1.5H11.8L15.5 8L11.8 14.5H4.2L0.5 8Z" fill="{c}" '
               'stroke="#fff" stroke-width="1.3"/>',
    "cross": '<path d="M3 3L13 13M13 3L3 13" stroke="{c}" stroke-width="3.5"/>',
}

#: Symbol (shape, colour) of each institution kind (``schema.INSTITUTION_KINDS``); other
#: kinds get a grey cross.
INSTITUTION_SYMBOLS: dict[str, tuple[str, str]] = {
    "university": ("square", "#1f4e9e"),
    "university_branch": ("square_open", "#1f4e9e"),
    "research": ("triangle", "#7b3294"),
    "technopark": ("diamond", "#e08214"),
    "education_centre": ("circle_dot", "#1b7837"),
    "incubator": ("star", "#c51b7d"),
    "economic_zone": ("hexagon", "#5e3c99"),
}
_OTHER_SYMBOL = ("cross", "#666666")

#: Colour of each value-chain input of a processing plant (other inputs and
#: combinations such as ``"coking_coal;iron_ore"`` get colours of their own).
VALUE_CHAIN_COLORS: dict[str, str] = {
    "coking_coal": "#252525",
    "thermal_coal": "#8c510a",
    "coal_chemicals": "#7b3294",
    "iron_ore": "#b2182b",
    "coking_coal;iron_ore": "#d6604d",
    "other": "#878787",
}
_EXTRA_COLOURS = ("#01665e", "#35978f", "#bf812d", "#542788", "#4d9221", "#c51b7d", "#2166ac")

PROJECT_COLOR = "#e7298a"


def svg_symbol(shape: str, colour: str, size: int = 16) -> str:
    """An inline SVG symbol from this module's shapes (*colour* must be ``#rrggbb``)."""
    if shape not in _SHAPES or not _HEX.fullmatch(colour):
        raise ValueError(f"unknown symbol {shape!r} / colour {colour!r}")
    return (f'<svg class="ms-sym-svg" width="{size}" height="{size}" viewBox="0 0 16 16" '
            f'aria-hidden="true">{_SHAPES[shape].format(c=colour)}</svg>')


_TOKEN = re.compile(r"[a-z0-9_;]+")


def token_label(text) -> str:
    """A vocabulary token as words (``"coking_coal;iron_ore"`` -> ``"coking coal + iron
    ore"``); any other text is returned as written (never altered, only escaped later).

    Examples
    --------
    >>> token_label("university_branch"), token_label("Self.__init__ <x>")
    ('university branch', 'Self.__init__ <x>')
    """
    text = str(text)
    return text.replace("_", " ").replace(";", " + ") if _TOKEN.fullmatch(text) else text


_label = token_label


class SymbolLayer(_PayloadLayer):
    """A few points drawn as minespace's SVG symbols (DOM markers), popups on demand.

    Parameters
    ----------
    layer : GeoDataFrame
        Points (any CRS).
    codes : sequence of int
        Index of each point's symbol in *symbols*.
    symbols : sequence of str
        SVG markup made by :func:`svg_symbol` (trusted: never user text).
    attributes : dict
        From :func:`~minespace.maps.layers.attribute_columns`.
    tooltips : sequence of str
        Hover text (plain text; escaped here).
    """

    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = (function (d) {
  var g = L.featureGroup();
  for (var i = 0; i < d.x.length; i++) {
    (function (j) {
      var icon = L.divIcon({html: d.symbols[d.k[j]], className: 'ms-sym',
                            iconSize: [d.size, d.size]});
      var mk = L.marker([d.y[j], d.x[j]], {icon: icon, keyboard: true,
                                           riseOnHover: true});
      mk.bindPopup(function () { return msPopup(d.a, j); }, {maxWidth: 380});
      if (d.t) { mk.bindTooltip(d.t[j], {direction: 'top', offset: [0, -8]}); }
      g.addLayer(mk);
    })(i);
  }
  return g;
})({{ this.payload }});
{% if this.show %}{{ this.get_name() }}.addTo({{ this._parent.get_name() }});{% endif %}
{% endmacro %}
""")

    def __init__(self, layer: gpd.GeoDataFrame, *, codes: Sequence[int], symbols: Sequence[str],
                 attributes: dict, tooltips: Sequence[str] | None = None, size: int = 16,
                 name: str = "symbols", show: bool = True):
        super().__init__(name=name, show=show)
        self._name = "SymbolLayer"
        geoms = _ll(layer)
        payload = {"x": np.round(shapely.get_x(geoms.values), PRECISION).tolist(),
                   "y": np.round(shapely.get_y(geoms.values), PRECISION).tolist(),
                   "k": np.asarray(codes, dtype=int).tolist(), "symbols": list(symbols),
                   "size": int(size), "a": attributes}
        if tooltips is not None:
            payload["t"] = [html.escape(str(t)) for t in tooltips]
        self.payload = safe_json(payload)


def _points(layer: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Rows with a non-empty geometry, polygons as their representative point."""
    geom = layer.geometry
    ok = geom.notna().to_numpy() & ~geom.is_empty.to_numpy()
    out = layer[ok]
    if len(out) and not (out.geom_type == "Point").all():
        out = out.set_geometry(out.geometry.representative_point())
    return out


def _names(frame: pd.DataFrame, column: str = "name") -> list[str]:
    ids = pd.Series(frame.index.astype(str), index=frame.index)
    if column not in frame:
        return ids.tolist()
    return frame[column].astype(str).where(frame[column].notna(), ids).tolist()


def _symbol_items(items: Sequence[tuple[str, str]]) -> str:
    """Legend rows ``(label, svg)``: svg from :func:`svg_symbol`, label escaped here."""
    rows = "".join(f'<div title="{html.escape(label)}">{svg}&nbsp;{html.escape(label)}</div>'
                   for label, svg in items)
    cls = ' class="ms-items"' if len(items) > 1 and all(len(a) <= 22 for a, _ in items) else ""
    return f"<div{cls}>{rows}</div>"


def institutions_layer(m, institutions: gpd.GeoDataFrame | None, *, show: bool = True) -> str:
    """Add the institutions layer (symbol per ``kind``; on the map at first when *show*);
    return its legend section."""
    if institutions is None or not len(institutions):
        return ""
    inst = _points(institutions)
    if not len(inst):
        return ""
    kinds = (inst["kind"].astype(str).where(inst["kind"].notna(), "unknown")
             if "kind" in inst else pd.Series("unknown", index=inst.index))
    known = [k for k in INSTITUTION_SYMBOLS if (kinds == k).any()]
    others = sorted(set(kinds) - set(INSTITUTION_SYMBOLS))
    order = known + others
    lookup = {k: i for i, k in enumerate(order)}
    symbols = [svg_symbol(*INSTITUTION_SYMBOLS.get(k, _OTHER_SYMBOL)) for k in order]
    cols = ["kind", "field", "size", "size_unit"]
    layer = SymbolLayer(inst, codes=kinds.map(lookup).to_numpy(), symbols=symbols,
                        attributes=attribute_columns(inst, cols, title="name"),
                        tooltips=_names(inst), name="Institutions", show=show).add_to(m)
    items = [(_label(k), svg_symbol(*INSTITUTION_SYMBOLS.get(k, _OTHER_SYMBOL), 12))
             for k in order]
    return legend_section("<div><b>Institutions (by kind)</b>" + _symbol_items(items)
                          + "</div>", layer)


def value_chain_colours(values: Sequence[str]) -> dict[str, str]:
    """A colour per value chain: :data:`VALUE_CHAIN_COLORS`, then a fixed sequence."""
    cats = sorted(set(map(str, values)))
    extra = iter(_EXTRA_COLOURS * (len(cats) // len(_EXTRA_COLOURS) + 1))
    return {c: VALUE_CHAIN_COLORS[c] if c in VALUE_CHAIN_COLORS else next(extra) for c in cats}


def plants_layer(m, facilities: gpd.GeoDataFrame | None) -> str:
    """Add the processing plants (facilities with a ``value_chain``) as diamonds coloured
    by value chain; return the legend section."""
    if facilities is None or "value_chain" not in facilities or not len(facilities):
        return ""
    plants = _points(facilities[facilities["value_chain"].notna().to_numpy()])
    if not len(plants):
        return ""
    chains = plants["value_chain"].astype(str)
    colours = value_chain_colours(chains)
    order = list(colours)
    lookup = {k: i for i, k in enumerate(order)}
    symbols = [svg_symbol("diamond", colours[k], 14) for k in order]
    cols = ["value_chain", "value_chain_source", "kind", "capacity", "capacity_unit",
            "status", "owner"]
    layer = SymbolLayer(plants, codes=chains.map(lookup).to_numpy(), symbols=symbols, size=14,
                        attributes=attribute_columns(plants, cols, title="name"),
                        tooltips=_names(plants), name="Processing plants").add_to(m)
    items = [(_label(k), svg_symbol("diamond", colours[k], 12)) for k in order]
    return legend_section("<div><b>Processing plants (by value-chain input)</b>"
                          + _symbol_items(items) + "</div>", layer)


# -- projects ----------------------------------------------------------------------------------

_LEGACY = {"name": ("name", "project"), "investment": ("investment", "investment_bn_rub"),
           "jobs": ("jobs", "jobs_created"), "year": ("year", "implementation_year")}


def project_table(region: Region) -> gpd.GeoDataFrame | None:
    """``region.projects`` in the contract's form, in the region's CRS.

    A located layer (:func:`minespace.locate_projects`: ``location``, geometry) is
    returned as is (copied). The older table (``project``, ``investment_bn_rub``,
    ``jobs_created``, ``implementation_year``, ``deposit_id``) is mapped to ``name``,
    ``investment`` (billion RUB), ``jobs``, ``year`` and placed at its linked deposit
    (``location`` "deposit", else "unplaced").
    """
    proj = region.projects
    if proj is None:
        return None
    if isinstance(proj, gpd.GeoDataFrame) and "location" in proj:
        out = proj.copy()
        if out.crs is not None and region.crs is not None and out.crs != region.crs:
            out = out.to_crs(region.crs)
        return out
    out = pd.DataFrame(index=proj.index)
    for col, options in _LEGACY.items():
        src = next((c for c in options if c in proj), None)
        out[col] = proj[src] if src else np.nan
    for col in ("category", "deposit_id", "town", "location_hint"):
        if col in proj:
            out[col] = proj[col]
    legacy_unit = "investment" not in proj and "investment_bn_rub" in proj
    out["currency"] = proj["currency"] if "currency" in proj else ("RUB" if legacy_unit else "")
    out["investment_unit"] = (proj["investment_unit"] if "investment_unit" in proj
                              else ("billion" if legacy_unit else ""))
    geom = np.full(len(out), None, dtype=object)
    location = np.full(len(out), "unplaced", dtype=object)
    note = np.full(len(out), "no location given", dtype=object)
    if "deposit_id" in proj:
        dep = proj["deposit_id"]
        hit = dep.isin(region.deposits.index).to_numpy()
        geom[hit] = region.deposits.geometry.reindex(dep[hit]).to_numpy()
        location[hit] = "deposit"
        missing = dep.notna().to_numpy() & ~hit
        note[missing] = ("deposit id '" + dep[missing].astype(str) + "' not in the deposits"
                         ).to_numpy()
        note[hit] = None
    out["location"], out["location_note"] = location, note
    return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(geom, index=out.index),
                            crs=region.crs)


def placed_projects(projects: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """The projects with a geometry (``location`` other than "unplaced")."""
    if projects is None:
        return None
    return _points(projects[placed_mask(projects)])


def placed_mask(projects: gpd.GeoDataFrame) -> np.ndarray:
    """True for the projects with a geometry and a ``location`` other than "unplaced"."""
    geom = projects.geometry
    ok = geom.notna().to_numpy() & ~geom.is_empty.to_numpy()
    if "location" in projects:
        ok &= (projects["location"].astype(str) != "unplaced").to_numpy()
    return ok


def money(value, currency, unit) -> str:
    """``"12.5 billion RUB"`` ("–" for a missing amount).

    Examples
    --------
    >>> money(77.5, "RUB", "billion"), money(float("nan"), "RUB", "")
    ('77.5 billion RUB', '–')
    """
    v = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    if not np.isfinite(v):
        return "–"
    words = [f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"]
    words += [str(x) for x in (unit, currency) if isinstance(x, str) and x.strip()]
    return " ".join(words)


def projects_layer(m, region: Region, *, max_radius: float = 16.0) -> str:
    """Add the placed projects as circles with area proportional to investment (radius
    ``max_radius * sqrt(investment / max investment)`` pixels, at least 4; unknown
    investment: 4 and dashed); return the legend section."""
    proj = placed_projects(project_table(region))
    if proj is None or not len(proj):
        return ""
    inv = pd.to_numeric(proj.get("investment"), errors="coerce").to_numpy(dtype=float)
    top = np.nanmax(inv) if np.isfinite(inv).any() and np.nanmax(inv) > 0 else 1.0
    radius = np.where(np.isfinite(inv), max_radius * np.sqrt(np.clip(inv, 0, None) / top),
                      4.0)
    radius = np.maximum(radius, 4.0)
    unit = ""
    if "currency" in proj and "investment_unit" in proj and len(proj):
        unit = " ".join(str(v) for v in (proj["investment_unit"].iloc[0],
                                         proj["currency"].iloc[0])
                        if isinstance(v, str) and v)
    currency = proj["currency"] if "currency" in proj else pd.Series("", index=proj.index)
    units = (proj["investment_unit"] if "investment_unit" in proj
             else pd.Series("", index=proj.index))
    # the investment as text with its unit and currency ("12.5 billion RUB")
    shown = proj.assign(investment=[money(v, c, u) for v, c, u in
                                    zip(inv, currency, units, strict=True)])
    if "year" in shown:  # a year is a label, not a quantity: "2026", never "2,026"
        year = pd.to_numeric(shown["year"], errors="coerce")
        shown["year"] = year.map(lambda v: f"{v:.0f}", na_action="ignore").astype(object)
    order = np.argsort(-radius, kind="stable")   # large first: small ones stay clickable
    shown = shown.iloc[order]
    cols = ["category", "investment", "jobs", "year", "location", "deposit_id", "town"]
    layer = CircleLayer(shown, radius=radius[order],
                        attributes=attribute_columns(shown, cols, title="name"),
                        dashed=~np.isfinite(inv[order]), tooltips=_names(shown),
                        name="Announced projects").add_to(m)
    ref = [v for v in (top, top / 4) if v > 0]
    # reference circles at the map's own scale, side by side on one line
    circles = "".join(
        f'<span style="white-space:nowrap;margin-right:8px"><svg width="{2 * r + 4:.0f}" '
        f'height="{2 * r + 4:.0f}" aria-hidden="true" style="vertical-align:middle">'
        f'<circle cx="{r + 2:.1f}" cy="{r + 2:.1f}" r="{r:.1f}" fill="{PROJECT_COLOR}" '
        f'fill-opacity="0.25" stroke="{PROJECT_COLOR}" stroke-width="2"/></svg> '
        f"{html.escape(money(v, '', ''))}</span>"
        for v, r in ((v, max(max_radius * np.sqrt(v / top), 4.0)) for v in ref))
    return legend_section("<div><b>Announced projects, placed (area = investment)</b>"
                          f"<div>{circles} {html.escape(unit)}</div></div>", layer)


class CircleLayer(_PayloadLayer):
    """Circles of given pixel radii on the shared canvas, popups on demand."""

    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = (function (d) {
  var map = {{ this._parent.get_name() }}, g = L.featureGroup();
  for (var i = 0; i < d.x.length; i++) {
    (function (j) {
      var c = L.circleMarker([d.y[j], d.x[j]], {renderer: msCanvas(map), radius: d.r[j],
        color: d.colour, weight: 2, fillColor: d.colour, fillOpacity: 0.22,
        dashArray: d.dash[j] ? '3 3' : null});
      c.bindPopup(function () { return msPopup(d.a, j); }, {maxWidth: 380});
      if (d.t) { c.bindTooltip(d.t[j], {sticky: true}); }
      g.addLayer(c);
    })(i);
  }
  return g;
})({{ this.payload }});
{% if this.show %}{{ this.get_name() }}.addTo({{ this._parent.get_name() }});{% endif %}
{% endmacro %}
""")

    def __init__(self, layer: gpd.GeoDataFrame, *, radius: Sequence[float], attributes: dict,
                 dashed: Sequence[bool] | None = None, tooltips: Sequence[str] | None = None,
                 colour: str = PROJECT_COLOR, name: str = "circles", show: bool = True):
        super().__init__(name=name, show=show)
        self._name = "CircleLayer"
        if not _HEX.fullmatch(colour):
            raise ValueError(f"colour must be #rrggbb, not {colour!r}")
        geoms = _ll(layer)
        n = len(layer)
        payload = {"x": np.round(shapely.get_x(geoms.values), PRECISION).tolist(),
                   "y": np.round(shapely.get_y(geoms.values), PRECISION).tolist(),
                   "r": np.round(np.asarray(radius, dtype=float), 1).tolist(),
                   "dash": [bool(v) for v in (dashed if dashed is not None else [False] * n)],
                   "colour": colour, "a": attributes}
        if tooltips is not None:
            payload["t"] = [html.escape(str(t)) for t in tooltips]
        self.payload = safe_json(payload)
