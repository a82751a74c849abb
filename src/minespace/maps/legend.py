"""The map's boxes: CSS, legend sections and colour bars (all text escaped here).

The legend lists a section per layer and shows only the sections of the layers that
are on (switching a layer in the layer control shows or hides its section), so the
default map's legend fits a 900-pixel-high window; it can also be folded away. It never
covers the layer control above it: with more layers on than fit, it scrolls.
"""

from __future__ import annotations

import html

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_hex

__all__ = ["BOX_CSS", "LEGEND_JS", "colour_bar", "legend_items", "legend_section"]

BOX_CSS = """
<style>
.ms-box {background: rgba(255,255,255,0.93); padding: 6px 9px; border-radius: 4px;
  box-shadow: 0 1px 4px rgba(0,0,0,0.35); font: 12px/1.3 system-ui, sans-serif;
  max-width: 300px; max-height: 40vh; overflow-y: auto; overflow-wrap: anywhere;}
.ms-title {font-size: 15px; font-weight: 600;}
.ms-box .ms-swatch {display: inline-block; width: 11px; height: 11px; margin-right: 5px;
  border: 1px solid #555; vertical-align: -1px;}
.ms-box .ms-line {display: inline-block; width: 18px; height: 0; margin-right: 5px;
  vertical-align: 3px;}
.ms-box .ms-bar {height: 10px; border: 1px solid #555; margin: 2px 0;}
.ms-box .ms-bar-labels {display: flex; justify-content: space-between; font-size: 11px;}
.ms-legend {max-height: calc(100vh - 20px); max-width: 330px;}
.ms-legend summary {font-weight: 600; cursor: pointer;}
.ms-legend .ms-leg {margin-top: 3px;}
.ms-legend .ms-items {display: grid; grid-template-columns: repeat(2, minmax(0, 1fr));
  column-gap: 8px;}
.ms-legend .ms-items > div {white-space: nowrap; overflow: hidden; text-overflow: ellipsis;}
.leaflet-control-layers-expanded {font: 12px/1.35 system-ui, sans-serif; padding: 4px 8px;}
.leaflet-control-layers-expanded label {margin: 0;}
.leaflet-control-layers-overlays:has(> label:nth-child(11)) {display: grid;
  grid-template-columns: auto auto; column-gap: 10px;}
.ms-panel {max-width: 330px; max-height: calc(100vh - 240px);}
.ms-panel ol {margin: 4px 0 0 0; padding-left: 20px;}
.ms-panel li {cursor: pointer; margin-bottom: 3px;}
.ms-panel li:hover {text-decoration: underline;}
.ms-panel .ms-score {color: #555; font-size: 11px;}
.leaflet-popup-content table {border-collapse: collapse; font-size: 12px;}
.leaflet-popup-content p {font-size: 12px; line-height: 1.35; margin: 6px 0 0 0;}
.leaflet-popup-content th {text-align: left; padding-right: 8px; font-weight: 500;
  color: #555;}
.ms-fullscreen {background: #fff; width: 30px; height: 30px; line-height: 30px;
  text-align: center; display: block;}
.leaflet-tooltip.ms-label {background: transparent; border: none; box-shadow: none;
  padding: 0; font: 600 11px/1.1 system-ui, sans-serif; color: #3f2a56;
  text-shadow: 0 0 2px #fff, 0 0 2px #fff, 0 0 3px #fff;}
.leaflet-tooltip.ms-label::before {display: none;}
.leaflet-tooltip.ms-label.ms-rank {font-size: 13px; color: #08306b;}
</style>
"""

# show the legend section of each layer only while the layer is on the map; section
# attributes hold folium's generated variable names (never user text)
LEGEND_JS = """
function msLegendFit() {
  // the legend never covers the layer control above it: it scrolls instead
  var ctl = map.getContainer().querySelector('.leaflet-control-layers');
  if (!ctl || !div.parentNode) { return; }
  div.style.maxHeight = '';
  var c = ctl.getBoundingClientRect(), d = div.getBoundingClientRect();
  if (c.right <= d.left || c.left >= d.right || c.bottom <= d.top) { return; }
  div.style.maxHeight = Math.max(d.bottom - c.bottom - 4, 40) + 'px';
}
function msLegendUpdate() {
  div.querySelectorAll('[data-ms-layer]').forEach(function (sec) {
    var layer = window[sec.getAttribute('data-ms-layer')];
    sec.style.display = (!layer || map.hasLayer(layer)) ? '' : 'none';
  });
  msLegendFit();
}
map.on('overlayadd overlayremove layeradd layerremove', msLegendUpdate);
map.on('resize', msLegendFit);
map.whenReady(function () { setTimeout(msLegendUpdate, 0); });
"""


def legend_items(title: str, items: list[tuple[str, str]], kind: str = "swatch") -> str:
    """A titled list of swatches (``kind`` ``"swatch"``, ``"ring"`` or ``"line"``);
    lists of more than two short labels take two columns."""
    rows = []
    for label, color in items:
        c = html.escape(color)
        if kind == "ring":
            mark = (f'<span class="ms-swatch" style="background:#fff;border-radius:50%;'
                    f'border:3px solid {c}"></span>')
        elif kind == "line":
            mark = f'<span class="ms-line" style="border-top:3px solid {c}"></span>'
        else:
            mark = f'<span class="ms-swatch" style="background:{c}"></span>'
        text = html.escape(label)
        rows.append(f'<div title="{text}">{mark}{text}</div>')
    short = all(len(label) <= 20 for label, _ in items)
    cls = ' class="ms-items"' if len(items) > 2 and short else ""
    return f"<div><b>{html.escape(title)}</b><div{cls}>{''.join(rows)}</div></div>"


def colour_bar(title: str, cmap: str, vmin: float, vmax: float, unit: str = "") -> str:
    """A titled colour bar from *vmin* to *vmax*."""
    stops = ",".join(to_hex(colormaps[cmap](t)) for t in np.linspace(0, 1, 9))
    return (f"<div><b>{html.escape(title)}</b><div class='ms-bar' style='background:"
            f"linear-gradient(to right,{stops})'></div><div class='ms-bar-labels'>"
            f"<span>{vmin:,.3g}</span><span>{vmax:,.3g} {html.escape(unit)}</span></div></div>")


def legend_section(content: str, layer=None) -> str:
    """*content* as one legend section, shown while *layer* (a folium element) is on."""
    if not content:
        return ""
    attr = f' data-ms-layer="{html.escape(layer.get_name())}"' if layer is not None else ""
    return f'<div class="ms-leg"{attr}>{content}</div>'
