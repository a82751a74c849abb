"""The overview map of a region: deposits, agglomerations, corridors, context."""

from __future__ import annotations

import html
import os
from pathlib import Path

import folium
import numpy as np
import pandas as pd
from branca.element import Element
from matplotlib import colormaps
from matplotlib.colors import to_hex

from ..crs import MAP_CRS
from ..io.write import atomic_path
from ..region import Region
from ._assets import OfflineMap
from .layers import FullscreenControl, GeoJsonLayer, HtmlControl, PointLayer, popup_table

__all__ = ["category_colors", "region_map", "save_map"]

#: Colours of corridor kinds (rail dark, roads by rank).
KIND_COLORS = {"rail": "#1f1f1f", "road_motorway": "#b2182b", "road_trunk": "#d6604d",
               "road_primary": "#f4a582", "road_secondary": "#fddbc7", "road": "#999999"}

BOX_CSS = """
<style>
.ms-box {background: rgba(255,255,255,0.92); padding: 6px 9px; border-radius: 4px;
  box-shadow: 0 1px 4px rgba(0,0,0,0.35); font: 12px/1.35 system-ui, sans-serif;
  max-width: 320px;}
.ms-title {font-size: 15px; font-weight: 600;}
.ms-box .ms-swatch {display: inline-block; width: 11px; height: 11px; margin-right: 5px;
  border: 1px solid #555; vertical-align: -1px;}
.ms-box .ms-line {display: inline-block; width: 18px; height: 0; margin-right: 5px;
  vertical-align: 3px;}
.leaflet-popup-content table {border-collapse: collapse; font-size: 12px;}
.leaflet-popup-content th {text-align: left; padding-right: 8px; font-weight: 500;
  color: #555;}
.ms-fullscreen {background: #fff; width: 30px; height: 30px; line-height: 30px;
  text-align: center; font-size: 18px; color: #222; text-decoration: none; display: block;}
.leaflet-tooltip.ms-label {background: transparent; border: none; box-shadow: none;
  padding: 0; font: 600 11px/1.1 system-ui, sans-serif; color: #3f2a56;
  text-shadow: 0 0 2px #fff, 0 0 2px #fff, 0 0 3px #fff;}
.leaflet-tooltip.ms-label::before {display: none;}
</style>
"""


def category_colors(values, *, cmap: str | None = None) -> dict[str, str]:
    """A stable colour per category (matplotlib's tab10/tab20, in sorted order).

    Examples
    --------
    >>> category_colors(["b", "a", "b"])
    {'a': '#1f77b4', 'b': '#ff7f0e'}
    """
    cats = sorted({str(v) for v in values if v is not None and v == v})
    colours = colormaps[cmap or ("tab10" if len(cats) <= 10 else "tab20")]
    return {c: to_hex(colours(i % colours.N)) for i, c in enumerate(cats)}


def _legend_html(title: str, items: list[tuple[str, str]], kind: str = "swatch") -> str:
    rows = []
    for label, color in items:
        if kind == "ring":
            mark = (f'<span class="ms-swatch" style="background:#fff;border-radius:50%;'
                    f'border:3px solid {html.escape(color)}"></span>')
        elif kind == "line":
            mark = (f'<span class="ms-line" style="border-top:3px solid {html.escape(color)}">'
                    "</span>")
        else:
            mark = f'<span class="ms-swatch" style="background:{html.escape(color)}"></span>'
        rows.append(f"<div>{mark}{html.escape(label)}</div>")
    return f"<div><b>{html.escape(title)}</b>{''.join(rows)}</div>"


def region_map(
    region: Region,
    *,
    deposits_by: str = "commodity",
    size_by: str | None = "output_mt",
    tiles: bool = True,
    title: str | None = None,
    label_min_population: float = 40_000,
) -> folium.Map:
    """An overview map of a region's layers, self-contained and offline-ready.

    Layers (each switchable): region outline, neighbouring regions, corridors by
    kind (schematic geometry dashed), agglomerations with labels, facilities,
    deposits coloured by *deposits_by*. Scale bar, full-screen button, title,
    legend and the layers' attribution are included. Basemap tiles
    (OpenStreetMap) are an optional, switchable background: the map is legible
    without them.

    Parameters
    ----------
    region : Region
    deposits_by : str
        Deposit column used for colours.
    size_by : str or None
        Numeric deposit column scaling the marker radius (sqrt); NaN -> smallest.
    tiles : bool
        Add the OpenStreetMap basemap (needs a network when viewed).
    title : str, optional
        Defaults to the region's name.
    label_min_population : float
        Agglomerations at least this large carry a permanent name label; the
        others show their name on hover.

    Returns
    -------
    folium.Map

    Examples
    --------
    >>> import minespace as ms
    >>> m = ms.maps.region_map(ms.datasets.kuzbass(), tiles=False)
    >>> [c.layer_name for c in m._children.values() if getattr(c, "control", False)]
    ['Neighbouring regions', 'Study area', 'Transport corridors', 'Agglomerations',
     'Facilities', 'Deposits by commodity']
    """
    b = region.boundary.to_crs(MAP_CRS).total_bounds
    m = OfflineMap(location=[(b[1] + b[3]) / 2, (b[0] + b[2]) / 2], zoom_start=7,
                   tiles=None, control_scale=True, prefer_canvas=True)
    m.get_root().header.add_child(Element(BOX_CSS), name="minespace_css")
    attribution = " | ".join(html.escape(a) for a in region.attribution)
    if tiles:
        folium.TileLayer("OpenStreetMap", name="OpenStreetMap basemap (online only)",
                         overlay=False, control=True).add_to(m)
    legend = []

    if region.neighbours is not None and len(region.neighbours):
        nb = region.neighbours
        label = nb["name"] if "name" in nb else nb.index.astype(str)
        GeoJsonLayer(nb, styles={"color": "#888", "weight": 1, "fillColor": "#eeeeee",
                                 "fillOpacity": 0.5},
                     tooltips=label.astype(str).tolist(), name="Neighbouring regions",
                     simplify_m=500).add_to(m)
    GeoJsonLayer(region.boundary, styles={"color": "#444", "weight": 2.5, "fill": True,
                                          "fillColor": "#fbf8ef", "fillOpacity": 0.35},
                 name="Study area", simplify_m=100).add_to(m)

    corr = region.corridors
    if len(corr):
        colors = [KIND_COLORS.get(k, "#777777") for k in corr["kind"]]
        schematic = (corr["geometry_quality"].astype(str).str.contains("schematic").to_numpy()
                     if "geometry_quality" in corr else np.zeros(len(corr), bool))
        styles = [{"color": c, "weight": 3 if k == "rail" else 2.5, "opacity": 0.9,
                   **({"dashArray": "6 5"} if s else {})}
                  for c, k, s in zip(colors, corr["kind"], schematic, strict=True)]
        cols = [c for c in ("kind", "speed_kmh", "speed_source", "geometry_quality",
                            "length_km_derived") if c in corr]
        GeoJsonLayer(corr, styles=styles, popups=popup_table(corr, cols, title="name"),
                     name="Transport corridors").add_to(m)
        kinds = sorted(set(corr["kind"]), key=lambda k: (k != "rail", k))
        items = [(k + (" (schematic, dashed)" if schematic[corr["kind"].to_numpy() == k].any()
                       else ""), KIND_COLORS.get(k, "#777777")) for k in kinds]
        legend.append(_legend_html("Corridors", items, kind="line"))

    aggl = region.agglomerations
    if len(aggl):
        cols = [c for c in ("population", "name_local", "geometry_source") if c in aggl]
        GeoJsonLayer(aggl, styles={"color": "#6a3d9a", "weight": 1.5, "fillColor": "#cab2d6",
                                   "fillOpacity": 0.55},
                     popups=popup_table(aggl, cols, title="name"),
                     tooltips=aggl["name"].fillna(pd.Series(aggl.index, index=aggl.index)),
                     name="Agglomerations",
                     labels=(aggl["population"] >= label_min_population).tolist()).add_to(m)
        legend.append(_legend_html("Agglomerations", [("urban area (population)", "#cab2d6")]))

    fac = region.facilities
    if fac is not None and len(fac):
        cols = [c for c in ("kind", "capacity", "capacity_unit", "status", "owner") if c in fac]
        kind_colors = category_colors(fac["kind"], cmap="Dark2")
        PointLayer(fac, colors=[kind_colors[str(k)] for k in fac["kind"]],
                   popups=popup_table(fac, cols, title="name"), radius=6, ring=True,
                   name="Facilities", show=True).add_to(m)
        legend.append(_legend_html("Facilities", list(kind_colors.items()), kind="ring"))

    dep = region.deposits
    if len(dep):
        cats = dep[deposits_by] if deposits_by in dep else pd.Series("deposit", index=dep.index)
        colors_by = category_colors(cats)
        colors = [colors_by.get(str(c), "#777777") for c in cats]
        if size_by and size_by in dep:
            v = dep[size_by].to_numpy(dtype=float)
            vmax = np.nanmax(v) if np.isfinite(v).any() else 1.0
            radius = 3 + 7 * np.sqrt(np.nan_to_num(v, nan=0.0) / (vmax or 1.0))
        else:
            radius = 4.5
        cols = [c for c in ("commodity", "method", "status", "output_mt", "capacity_mt",
                            "reserves_mt", "jobs", "owner") if c in dep]
        PointLayer(dep, colors=colors, popups=popup_table(dep, cols, title="name"),
                   radius=radius, name=f"Deposits by {deposits_by}").add_to(m)
        size_note = f" (size: {size_by})" if size_by and size_by in dep else ""
        legend.append(_legend_html(f"Deposits by {deposits_by}{size_note}",
                                   list(colors_by.items())))

    folium.LayerControl(collapsed=False).add_to(m)
    FullscreenControl().add_to(m)
    HtmlControl(f'<div class="ms-title">{html.escape(title or region.name)}</div>'
                f"<div>{len(dep)} deposits · {len(aggl)} agglomerations · "
                f"{len(corr)} corridors</div>", position="topright",
                css_class="ms-box ms-title-box").add_to(m)
    HtmlControl("".join(legend), position="bottomright").add_to(m)
    if attribution:
        HtmlControl(f"<details><summary>Data sources</summary><small>{attribution}</small>"
                    "</details>", position="bottomleft",
                    css_class="ms-box ms-attribution").add_to(m)
    m.fit_bounds([[b[1], b[0]], [b[3], b[2]]])
    return m


def save_map(m: folium.Map, path: str | os.PathLike) -> Path:
    """Save *m* as one self-contained HTML file, atomically.

    Examples
    --------
    >>> import minespace as ms
    >>> m = ms.maps.region_map(ms.datasets.kuzbass(), tiles=False)
    >>> out = ms.maps.save_map(m, tmp_path / "kuzbass.html")
    >>> "cdn.jsdelivr" in out.read_text()
    False
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        m.save(str(tmp))
    return path
