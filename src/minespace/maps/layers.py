"""Compact map layers: data embedded once as JSON, drawn by a few lines of JS.

folium's per-marker objects cost seconds and megabytes for large layers; these
layers write coordinates once (rounded to 5 decimals, about 1 m) and draw on
Leaflet's canvas renderer. Every user string reaching HTML is escaped in Python
(``html.escape``) and the JSON payload escapes ``<``, so no data can close a
``<script>`` element.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import shapely
from branca.element import MacroElement
from folium.map import Layer
from jinja2 import Template

from ..crs import MAP_CRS

__all__ = ["GeoJsonLayer", "PointLayer", "popup_table", "safe_json"]

PRECISION = 5


def safe_json(obj) -> str:
    """JSON safe to embed inside ``<script>``."""
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if isinstance(value, (float, np.floating)):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, (int, np.integer)):
        return f"{value:,}"
    return str(value)


def popup_table(frame, columns: Sequence[str], *, title: str | None = None) -> list[str]:
    """One escaped HTML table per row of *frame* (title column in bold).

    Examples
    --------
    >>> import pandas as pd
    >>> popup_table(pd.DataFrame({"name": ["<b>x</b>"], "n": [3]}), ["n"], title="name")
    ['<b>&lt;b&gt;x&lt;/b&gt;</b><table><tr><th>n</th><td>3</td></tr></table>']
    """
    cols = [c for c in columns if c in frame.columns]
    values = {c: frame[c].to_numpy(dtype=object) for c in cols}
    titles = (frame[title].to_numpy(dtype=object) if title and title in frame.columns
              else frame.index.to_numpy(dtype=object))
    out = []
    for i in range(len(frame)):
        rows = "".join(f"<tr><th>{html.escape(str(c))}</th>"
                       f"<td>{html.escape(_fmt(values[c][i]))}</td></tr>" for c in cols)
        out.append(f"<b>{html.escape(_fmt(titles[i]))}</b><table>{rows}</table>")
    return out


def _ll(layer: gpd.GeoDataFrame) -> gpd.GeoSeries:
    geoms = layer.geometry if layer.crs is None or layer.crs == MAP_CRS else \
        layer.geometry.to_crs(MAP_CRS)
    return geoms


class PointLayer(Layer):
    """Many points as canvas circle markers with lazily bound popups."""

    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = (function () {
  var d = {{ this.payload }};
  var renderer = L.canvas({padding: 0.2});
  var group = L.featureGroup();
  for (var i = 0; i < d.x.length; i++) {
    var m = L.circleMarker([d.y[i], d.x[i]], d.ring ?
      {renderer: renderer, radius: d.r[i], color: d.c[i], weight: 3.5, fillColor: '#ffffff',
       fillOpacity: 0.9} :
      {renderer: renderer, radius: d.r[i], color: d.stroke, weight: 0.8, fillColor: d.c[i],
       fillOpacity: 0.85});
    m._msi = i;
    m.bindPopup(function (layer) { return d.p[layer._msi]; }, {maxWidth: 360});
    group.addLayer(m);
  }
  return group;
})();
{% if this.show %}{{ this.get_name() }}.addTo({{ this._parent.get_name() }});{% endif %}
{% endmacro %}
""")

    def __init__(self, layer: gpd.GeoDataFrame, *, colors: Sequence[str], popups: Sequence[str],
                 radius: float | Sequence[float] = 5.0, stroke: str = "#333333",
                 name: str = "points", show: bool = True, ring: bool = False):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "PointLayer"
        geoms = _ll(layer)
        x = np.round(shapely.get_x(geoms.values), PRECISION)
        y = np.round(shapely.get_y(geoms.values), PRECISION)
        r = np.broadcast_to(np.asarray(radius, dtype=float), x.shape)
        self.payload = safe_json({"x": x.tolist(), "y": y.tolist(),
                                  "r": np.round(r, 1).tolist(), "c": list(colors),
                                  "p": list(popups), "stroke": stroke, "ring": ring})


class GeoJsonLayer(Layer):
    """Lines or polygons with per-feature style and escaped popups/tooltips."""

    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = (function () {
  var d = {{ this.payload }};
  var renderer = L.canvas({padding: 0.2});
  var layer = L.geoJSON(d, {
    renderer: renderer,
    style: function (f) { return f.properties.s; },
    onEachFeature: function (f, l) {
      if (f.properties.p) { l.bindPopup(f.properties.p, {maxWidth: 380}); }
      if (f.properties.t) {
        l.bindTooltip(f.properties.t, f.properties.l ?
          {permanent: true, direction: 'center', className: 'ms-label'} : {sticky: true});
      }
    }
  });
  return layer;
})();
{% if this.show %}{{ this.get_name() }}.addTo({{ this._parent.get_name() }});{% endif %}
{% endmacro %}
""")

    def __init__(self, layer: gpd.GeoDataFrame, *, styles: Sequence[dict] | dict,
                 popups: Sequence[str] | None = None, tooltips: Sequence[str] | None = None,
                 name: str = "shapes", show: bool = True, simplify_m: float = 0.0,
                 control: bool = True, labels: Sequence[bool] | bool = False):
        super().__init__(name=name, overlay=True, control=control, show=show)
        self._name = "GeoJsonLayer"
        geoms = layer.geometry
        if simplify_m > 0 and layer.crs is not None and layer.crs.is_projected:
            geoms = geoms.simplify(simplify_m, preserve_topology=True)
        geoms = geoms.to_crs(MAP_CRS) if geoms.crs is not None else geoms
        arr = shapely.transform(geoms.values, lambda c: np.round(c, PRECISION))
        n = len(arr)
        styles = [styles] * n if isinstance(styles, dict) else list(styles)
        popups = None if popups is None else list(popups)
        tooltips = None if tooltips is None else [str(t) for t in tooltips]
        labels = [labels] * n if isinstance(labels, bool) else [bool(v) for v in labels]
        features = []
        geo_json = shapely.to_geojson(arr)
        for i in range(n):
            props = {"s": styles[i]}
            if popups is not None:
                props["p"] = popups[i]
            if tooltips is not None:
                props["t"] = html.escape(str(tooltips[i]))
                if labels[i]:
                    props["l"] = 1
            features.append(f'{{"type":"Feature","geometry":{geo_json[i]},'
                            f'"properties":{safe_json(props)}}}')
        self.payload = '{"type":"FeatureCollection","features":[' + ",".join(features) + "]}"


class HtmlControl(MacroElement):
    """A fixed box (title, legend) in a corner of the map; *html_text* must be escaped."""

    _template = Template("""
{% macro script(this, kwargs) %}
(function () {
  var c = L.control({position: {{ this.position|tojson }}});
  c.onAdd = function () {
    var div = L.DomUtil.create('div', {{ this.css_class|tojson }});
    div.innerHTML = {{ this.html_json }};
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    return div;
  };
  c.addTo({{ this._parent.get_name() }});
})();
{% endmacro %}
""")

    def __init__(self, html_text: str, *, position: str = "bottomright",
                 css_class: str = "ms-box"):
        super().__init__()
        self._name = "HtmlControl"
        self.position = position
        self.css_class = css_class
        self.html_json = safe_json(html_text)


class FullscreenControl(MacroElement):
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
