"""Compact map layers: data embedded once as columnar JSON, drawn by a few lines of JS.

folium's per-marker objects cost seconds and megabytes for large layers; these
layers write coordinates once (rounded to 5 decimals, about 1 m), colours as an
index into a small palette, and popup attributes as columns; the browser builds
a popup only when it opens. Everything is drawn on Leaflet's canvas renderer.

Escaping: every user string (titles, attribute values, column names, category
labels) is HTML-escaped in Python before it is embedded, and the JSON payload
escapes ``<``, ``>`` and ``&``, so no data can inject markup or close the
``<script>`` element. The JS only concatenates those escaped strings.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from folium.map import Layer
from folium.map import LayerControl as _FoliumLayerControl
from jinja2 import Template

from ..crs import MAP_CRS

__all__ = ["FullscreenControl", "GeoJsonLayer", "HtmlControl", "ImageLayer", "LayerControl",
           "PointLayer", "attribute_columns", "popup_table", "safe_json"]

PRECISION = 5

# shared JS: popup HTML from columnar attributes (all strings pre-escaped in Python)
_POPUP_JS = """
// one canvas for every minespace layer of a map: with one canvas per layer only
// the topmost layer would receive clicks
function msCanvas(map) {
  if (!map._msCanvas) { map._msCanvas = L.canvas({padding: 0.3, tolerance: 3}); }
  return map._msCanvas;
}
function msFormat(v) {
  if (v === null || v === undefined) { return '\\u2013'; }
  if (typeof v === 'number') {
    var a = Math.abs(v);
    return a >= 1000 ? Math.round(v).toLocaleString('en-US') :
      Number(v.toPrecision(3)).toLocaleString('en-US', {maximumFractionDigits: 6});
  }
  return v;
}
// A light canvas layer for many points: coordinates are projected once, each
// redraw fills one path per colour, clicks are hit-tested on the projected points.
var MsPoints = L.Layer.extend({
  initialize: function (d) { this._d = d; },
  onAdd: function (map) {
    var d = this._d, n = d.x.length;
    this._canvas = L.DomUtil.create('canvas', 'ms-points leaflet-zoom-hide');
    // clicks go through to the shapes below and reach us as map clicks
    this._canvas.style.pointerEvents = 'none';
    map.getPanes().overlayPane.appendChild(this._canvas);
    this._px = new Float64Array(n); this._py = new Float64Array(n);
    for (var i = 0; i < n; i++) {
      var p = map.project([d.y[i], d.x[i]], 0);
      this._px[i] = p.x; this._py[i] = p.y;
    }
    map.on('moveend zoomend resize viewreset', this._draw, this);
    map.on('click', this._click, this);
    this._draw();
  },
  onRemove: function (map) {
    L.DomUtil.remove(this._canvas);
    map.off('moveend zoomend resize viewreset', this._draw, this);
    map.off('click', this._click, this);
  },
  _radius: function (i) { var r = this._d.r; return r.length ? r[i] : r; },
  _draw: function () {
    var map = this._map, d = this._d, size = map.getSize();
    var topLeft = map.containerPointToLayerPoint([0, 0]);
    L.DomUtil.setPosition(this._canvas, topLeft);
    var ratio = window.devicePixelRatio || 1;
    this._canvas.width = size.x * ratio; this._canvas.height = size.y * ratio;
    this._canvas.style.width = size.x + 'px'; this._canvas.style.height = size.y + 'px';
    var ctx = this._canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    // canvas pixel = project(latlng, 0) * 2^zoom - pixelOrigin - canvas position
    var s = Math.pow(2, map.getZoom()), o = map.getPixelOrigin();
    var ox = -o.x - topLeft.x, oy = -o.y - topLeft.y;
    this._s = s; this._ox = ox; this._oy = oy;
    var byColour = {};
    for (var i = 0; i < d.x.length; i++) {
      var x = this._px[i] * s + ox, y = this._py[i] * s + oy;
      if (x < -20 || y < -20 || x > size.x + 20 || y > size.y + 20) { continue; }
      (byColour[d.k[i]] = byColour[d.k[i]] || []).push(i);
    }
    for (var k in byColour) {
      var idx = byColour[k], col = d.palette[k];
      ctx.beginPath();
      for (var j = 0; j < idx.length; j++) {
        var q = idx[j], r = this._radius(q);
        var cx = this._px[q] * s + ox, cy = this._py[q] * s + oy;
        ctx.moveTo(cx + r, cy); ctx.arc(cx, cy, r, 0, 2 * Math.PI);
      }
      if (d.ring) {
        ctx.fillStyle = 'rgba(255,255,255,0.9)'; ctx.fill();
        ctx.lineWidth = 3.5; ctx.strokeStyle = col; ctx.stroke();
      } else {
        ctx.globalAlpha = 0.85; ctx.fillStyle = col; ctx.fill(); ctx.globalAlpha = 1;
        ctx.lineWidth = 0.7; ctx.strokeStyle = '#333333'; ctx.stroke();
      }
    }
  },
  _click: function (e) {
    var p = e.containerPoint, d = this._d, best = -1, bestD = Infinity;
    for (var i = 0; i < d.x.length; i++) {
      var dx = this._px[i] * this._s + this._ox - p.x, dy = this._py[i] * this._s + this._oy - p.y;
      var dd = dx * dx + dy * dy, r = this._radius(i) + 3;
      if (dd <= r * r && dd < bestD) { best = i; bestD = dd; }
    }
    if (best < 0) { return; }
    L.DomEvent.stop(e);
    L.popup({maxWidth: 380}).setLatLng([d.y[best], d.x[best]])
      .setContent(msPopup(d.a, best)).openOn(this._map);
  }
});
function msPoints(map, d) { return new MsPoints(d); }

function msPopup(a, i) {
  var h = '<b>' + msFormat(a.title[i]) + '</b><table>';
  for (var c = 0; c < a.names.length; c++) {
    h += '<tr><th>' + a.names[c] + '</th><td>' + msFormat(a.values[c][i]) + '</td></tr>';
  }
  return h + '</table>' + (a.extra ? a.extra[i] : '');
}
"""


def safe_json(obj) -> str:
    """JSON safe to embed inside ``<script>``."""
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _escaped(values: pd.Series) -> list:
    """Escape a column for HTML: numbers stay numbers (rounded), text is escaped.

    Categorical-looking columns are escaped once per distinct value.
    """
    if pd.api.types.is_bool_dtype(values):
        return [None if pd.isna(v) else ("yes" if v else "no") for v in values]
    if pd.api.types.is_numeric_dtype(values):
        arr = np.round(values.to_numpy(dtype=float), 6)
        out = arr.astype(object)
        out[~np.isfinite(arr)] = None
        return out.tolist()
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    table = np.array([html.escape(str(u)) for u in uniques] + [None], dtype=object)
    return table[codes].tolist()  # code -1 (missing) picks the trailing None


def attribute_columns(frame: pd.DataFrame, columns: Sequence[str], *,
                      title: str | None = None, extra: Sequence[str] | None = None) -> dict:
    """The columnar popup payload of *frame*: escaped titles, names and values.

    Columns absent from *frame* are skipped; the title defaults to the index.
    *extra* is pre-built (already escaped) HTML appended to each popup.
    """
    cols = [c for c in columns if c in frame.columns]
    titles = (frame[title] if title and title in frame.columns else
              pd.Series(frame.index, index=frame.index))
    titles = titles.where(titles.notna(), pd.Series(frame.index, index=frame.index))
    out = {"title": _escaped(titles.astype(str)), "names": [html.escape(str(c)) for c in cols],
           "values": [_escaped(frame[c]) for c in cols]}
    if extra is not None:
        out["extra"] = list(extra)
    return out


def popup_table(frame, columns: Sequence[str], *, title: str | None = None) -> list[str]:
    """One escaped HTML table per row of *frame* (title in bold), for small layers.

    Examples
    --------
    >>> import pandas as pd
    >>> popup_table(pd.DataFrame({"name": ["<b>x</b>"], "n": [3]}), ["n"], title="name")
    ['<b>&lt;b&gt;x&lt;/b&gt;</b><table><tr><th>n</th><td>3</td></tr></table>']
    """
    a = attribute_columns(frame, columns, title=title)
    out = []
    for i in range(len(frame)):
        rows = "".join(f"<tr><th>{n}</th><td>{_fmt(v[i])}</td></tr>"
                       for n, v in zip(a["names"], a["values"], strict=True))
        out.append(f"<b>{a['title'][i]}</b><table>{rows}</table>")
    return out


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _ll(layer: gpd.GeoDataFrame) -> gpd.GeoSeries:
    if layer.crs is None or layer.crs == MAP_CRS:
        return layer.geometry
    return layer.geometry.to_crs(MAP_CRS)


class _RawScript:
    """Adds the element's rendered ``header``/``html``/``script`` macros to the page as
    literal text.

    branca wraps each rendered macro in a new ``Element``, i.e. parses it again as a
    Jinja template: slow for large payloads, and a user string containing ``{{ ... }}``
    would be evaluated (Python run while the map is saved). minespace elements bypass
    that; :class:`~minespace.maps.OfflineMap` also makes folium's own wrappers literal.
    """

    def render(self, **kwargs):
        from ._assets import RawHtml

        figure = self.get_root()
        macros = self._template.module.__dict__
        for part in ("header", "html", "script"):
            if part in macros:
                getattr(figure, part).add_child(RawHtml(macros[part](self, kwargs)),
                                                name=self.get_name())
        for child in self._children.values():
            child.render(**kwargs)


class _PayloadLayer(_RawScript, Layer):
    def __init__(self, *, name: str, show: bool, control: bool = True):
        super().__init__(name=name, overlay=True, control=control, show=show)


class PointLayer(_PayloadLayer):
    """Many points as canvas circle markers; popups built on demand.

    Parameters
    ----------
    layer : GeoDataFrame
        Points (any CRS; reprojected to EPSG:4326).
    codes : sequence of int
        Index of each point's colour in *palette*.
    palette : sequence of str
        Colours (hex).
    attributes : dict
        From :func:`attribute_columns`.
    radius : float or sequence of float
        Marker radius in pixels.
    ring : bool
        Draw rings (white fill, coloured stroke) instead of dots.
    """

    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = msPoints({{ this._parent.get_name() }}, {{ this.payload }});
{% if this.show %}{{ this.get_name() }}.addTo({{ this._parent.get_name() }});{% endif %}
{% endmacro %}
""")

    def __init__(self, layer: gpd.GeoDataFrame, *, codes: Sequence[int], palette: Sequence[str],
                 attributes: dict, radius: float | Sequence[float] = 5.0, ring: bool = False,
                 name: str = "points", show: bool = True):
        super().__init__(name=name, show=show)
        self._name = "PointLayer"
        geoms = _ll(layer)
        x = np.round(shapely.get_x(geoms.values), PRECISION).tolist()
        y = np.round(shapely.get_y(geoms.values), PRECISION).tolist()
        r = (np.round(np.asarray(radius, dtype=float), 1).tolist()
             if np.ndim(radius) else float(radius))
        self.payload = safe_json({"x": x, "y": y, "k": np.asarray(codes, dtype=int).tolist(),
                                  "palette": [html.escape(c) for c in palette], "r": r,
                                  "ring": ring, "a": attributes})


class GeoJsonLayer(_PayloadLayer):
    """Lines or polygons with styles from a small table and on-demand popups.

    Parameters
    ----------
    layer : GeoDataFrame
    styles : list of dict
        Leaflet path styles; *style_codes* picks one per feature (default: the first).
    attributes : dict, optional
        Popup payload from :func:`attribute_columns`.
    tooltips : sequence of str, optional
        Plain text (escaped here); shown on hover, or as permanent labels where
        *labels* is true.
    simplify_m : float
        Douglas–Peucker tolerance (metres, topology preserved) for display.
    index_as : str, optional
        Register each feature's Leaflet layer by id in ``map._ms[index_as]`` (used
        by the candidates panel).
    label_rank, label_top_n : sequence of float, int
        Rank of each feature for labelling (lower first; NaN: never labelled): the
        *label_top_n* best-ranked features whose centre is in view carry their tooltip
        as a permanent label, updated whenever the map moves.
    casing : dict, optional
        Style of a line drawn under each shape (e.g. a wider white outline).
    label_class : str, optional
        CSS class of permanent labels (default ``ms-label``).
    """

    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = (function () {
  var d = {{ this.payload }};
  var map = {{ this._parent.get_name() }};
  var renderer = msCanvas(map);
  var PERM = {permanent: true, direction: 'center', className: 'ms-label'};
  if (d.lc) { PERM.className = d.lc; }
  if (d.index) { map._ms = map._ms || {}; map._ms[d.index] = Object.create(null); }
  // a wider white line under each outline keeps it readable over any fill (made first:
  // a feature group adds its layers in creation order, and later ones draw on top)
  var casing = d.casing ? L.geoJSON(d.fc, {renderer: renderer, interactive: false,
                                          style: function () { return d.casing; }}) : null;
  var g = L.geoJSON(d.fc, {
    renderer: renderer,
    style: function (f) { return d.styles[d.k ? d.k[f.properties.i] : 0]; },
    onEachFeature: function (f, l) {
      var j = f.properties.i;
      if (d.a) { l.bindPopup(function () { return msPopup(d.a, j); }, {maxWidth: 420}); }
      if (d.t && d.t[j] !== null && !(d.lr && d.lr[j] !== null)) {
        l.bindTooltip(d.t[j], d.l && d.l[j] ? PERM : {sticky: true});
      }
      if (d.index) { map._ms[d.index][d.ids[j]] = l; }
    }
  });
  if (d.lr) {
    // permanent labels for the d.ln best-ranked features whose centre is in view
    var ranked = [];
    g.eachLayer(function (l) {
      var j = l.feature.properties.i;
      if (d.lr[j] !== null) { ranked.push([d.lr[j], l, j]); l.bindTooltip(d.t[j], {sticky: true}); }
    });
    ranked.sort(function (a, b) { return a[0] - b[0]; });
    var update = function () {
      if (!map._loaded || !map.hasLayer(g)) { return; }
      var view = map.getBounds(), shown = 0;
      ranked.forEach(function (r) {
        var l = r[1], on = false;
        if (shown < d.ln) {
          on = view.contains(l.getCenter ? l.getCenter() : l.getLatLng());
          if (on) { shown++; }
        }
        if (on !== !!l._msLabel) {
          l.unbindTooltip();
          l.bindTooltip(d.t[r[2]], on ? PERM : {sticky: true});
          l._msLabel = on;
        }
      });
    };
    map.on('moveend', update);
    g.on('add', update);
  }
  return casing ? L.featureGroup([casing, g]) : g;
})();
{% if this.show %}{{ this.get_name() }}.addTo({{ this._parent.get_name() }});{% endif %}
{% endmacro %}
""")

    def __init__(self, layer: gpd.GeoDataFrame, *, styles: Sequence[dict] | dict,
                 style_codes: Sequence[int] | None = None, attributes: dict | None = None,
                 tooltips: Sequence[str] | None = None, labels: Sequence[bool] | None = None,
                 name: str = "shapes", show: bool = True, simplify_m: float = 0.0,
                 control: bool = True, index_as: str | None = None,
                 label_rank: Sequence[float] | None = None, label_top_n: int = 0,
                 casing: dict | None = None, label_class: str | None = None):
        super().__init__(name=name, show=show, control=control)
        self._name = "GeoJsonLayer"
        geoms = layer.geometry
        if simplify_m > 0 and layer.crs is not None and layer.crs.is_projected:
            geoms = geoms.simplify(simplify_m, preserve_topology=True)
        geoms = geoms.to_crs(MAP_CRS) if geoms.crs is not None else geoms
        arr = shapely.transform(geoms.values, lambda c: np.round(c, PRECISION))
        geo_json = shapely.to_geojson(arr)
        features = ",".join(f'{{"type":"Feature","geometry":{g},"properties":{{"i":{i}}}}}'
                            for i, g in enumerate(geo_json.tolist()))
        payload = {"styles": [styles] if isinstance(styles, dict) else list(styles)}
        if style_codes is not None:
            payload["k"] = np.asarray(style_codes, dtype=int).tolist()
        if attributes is not None:
            payload["a"] = attributes
        if tooltips is not None:
            payload["t"] = [None if t is None else html.escape(str(t)) for t in tooltips]
        if labels is not None:
            payload["l"] = [1 if v else 0 for v in labels]
        if label_rank is not None:
            payload["lr"] = [None if r is None or not np.isfinite(r) else float(r)
                             for r in label_rank]
            payload["ln"] = int(label_top_n)
            if tooltips is None:
                raise ValueError("label_rank needs tooltips (the label texts)")
        if casing is not None:
            payload["casing"] = casing
        if label_class is not None:
            payload["lc"] = label_class  # a CSS class name written by minespace
        if index_as is not None:
            payload["index"] = index_as
            # JS object keys (matched against data-ms-id attributes, which the browser
            # unescapes): raw strings, made safe for <script> by safe_json
            payload["ids"] = [str(i) for i in layer.index]
        text = safe_json(payload)
        # the geometry JSON comes from shapely (numbers only): splice it in
        self.payload = text[:-1] + ',"fc":{"type":"FeatureCollection","features":[' + \
            features + "]}}"


class HtmlControl(_RawScript, MacroElement):
    """A fixed box (title, legend, panel) in a corner; *html_text* must be escaped."""

    _template = Template("""
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  var c = L.control({position: {{ this.position|tojson }}});
  c.onAdd = function () {
    var div = L.DomUtil.create('div', {{ this.css_class|tojson }});
    div.innerHTML = {{ this.html_json }};
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    {{ this.on_add }}
    return div;
  };
  c.addTo(map);
})();
{% endmacro %}
""")

    def __init__(self, html_text: str, *, position: str = "bottomright",
                 css_class: str = "ms-box", on_add: str = ""):
        super().__init__()
        self._name = "HtmlControl"
        self.position = position
        self.css_class = css_class
        self.html_json = safe_json(html_text)
        self.on_add = on_add  # trusted JS written by minespace, never user text


class PopupHelpers(_RawScript, MacroElement):
    """Defines ``msFormat``/``msPopup`` once per map (added by :class:`OfflineMap`)."""

    _template = Template("{% macro script(this, kwargs) %}" + _POPUP_JS + "{% endmacro %}")

    def __init__(self):
        super().__init__()
        self._name = "PopupHelpers"


class FullscreenControl(_RawScript, MacroElement):
    """A button toggling the browser's fullscreen mode for the map."""

    _template = Template("""
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  var c = L.control({position: 'topleft'});
  c.onAdd = function () {
    var a = L.DomUtil.create('a', 'leaflet-bar ms-fullscreen');
    a.href = '#'; a.title = 'Full screen'; a.setAttribute('role', 'button');
    a.innerHTML = '<svg width="16" height="16" viewBox="0 0 16 16" style="vertical-align:-3px">' +
      '<path d="M1 6V1h5M10 1h5v5M15 10v5h-5M6 15H1v-5" fill="none" stroke="#222" ' +
      'stroke-width="2"/></svg>';
    L.DomEvent.on(a, 'click', function (e) {
      L.DomEvent.preventDefault(e);
      var el = map.getContainer();
      if (document.fullscreenElement) { document.exitFullscreen(); }
      else if (el.requestFullscreen) { el.requestFullscreen(); }
    });
    return a;
  };
  c.addTo(map);
})();
{% endmacro %}
""")

    def __init__(self):
        super().__init__()
        self._name = "FullscreenControl"


class ImageLayer(_RawScript, Layer):
    """An image overlay (e.g. a raster as a PNG data URL) between *bounds*
    (``[[south, west], [north, east]]``); its *name* appears only in the layer control,
    which escapes it."""

    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = (function (d) {
  return L.imageOverlay(d.url, d.bounds, d.options);
})({{ this.payload }});
{% if this.show %}{{ this.get_name() }}.addTo({{ this._parent.get_name() }});{% endif %}
{% endmacro %}
""")

    def __init__(self, url: str, bounds, *, name: str, opacity: float = 1.0,
                 show: bool = True, interactive: bool = False):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "ImageLayer"
        self.payload = safe_json({"url": url, "bounds": [[float(v) for v in b] for b in bounds],
                                  "options": {"opacity": float(opacity),
                                              "interactive": bool(interactive)}})


class LayerControl(_RawScript, _FoliumLayerControl):
    """folium's layer control with its labels escaped.

    Leaflet inserts each label with ``innerHTML`` and folium writes them unescaped into
    a script that branca parses again as a Jinja template, so a layer named after a
    column (``Territories: <metric>``) could inject markup or run Python at save time.
    Here each layer name is HTML-escaped, then embedded as a JSON string
    (:func:`safe_json`), and the script is added to the page as literal text.
    """

    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = L.control.layers({{ this.base_js }}, {{ this.overlays_js }},
  {{ this.options_json }}).addTo({{ this._parent.get_name() }});
{% endmacro %}
""")

    def render(self, **kwargs):
        self.reset()
        for item in self._parent._children.values():
            if isinstance(item, Layer) and item.control:
                target = self.overlays if item.overlay else self.base_layers
                target[html.escape(str(item.layer_name))] = item.get_name()
        # values are folium's generated variable names ([a-z0-9_]), keys escaped strings
        self.base_js = _js_object(self.base_layers)
        self.overlays_js = _js_object(self.overlays)
        self.options_json = safe_json(self.options)
        super().render(**kwargs)


def _js_object(names: dict[str, str]) -> str:
    """``{"label": variable, ...}`` with JSON-escaped labels."""
    return "{" + ",".join(f"{safe_json(k)}: {v}" for k, v in names.items()) + "}"
