"""The map of a region and its analysis: candidates, metrics, hot spots, rasters.

One function, :func:`cluster_map`, draws whatever it is given; :func:`region_map`
is the same map with only the region's own layers.
"""

from __future__ import annotations

import base64
import html
import io
import os
import warnings
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from matplotlib import colormaps
from matplotlib.colors import to_hex

from ..crs import MAP_CRS
from ..io.raster import Raster
from ..io.write import atomic_path
from ..region import Region
from ._assets import OfflineMap, RawHtml
from .layers import (
    FullscreenControl,
    GeoJsonLayer,
    HtmlControl,
    ImageLayer,
    LayerControl,
    PointLayer,
    attribute_columns,
)

__all__ = ["category_colors", "cluster_map", "region_map", "save_map"]

#: Colours of corridor kinds (rail dark, roads by rank).
KIND_COLORS = {"rail": "#1f1f1f", "road_motorway": "#b2182b", "road_trunk": "#d6604d",
               "road_primary": "#f4a582", "road_secondary": "#fddbc7", "road": "#999999"}
HOTSPOT_COLORS = {"hot": "#d7301f", "cold": "#2c7fb8"}
SCHEMES = ("quantiles", "naturalbreaks", "equalinterval", "fisherjenks")

BOX_CSS = """
<style>
.ms-box {background: rgba(255,255,255,0.93); padding: 6px 9px; border-radius: 4px;
  box-shadow: 0 1px 4px rgba(0,0,0,0.35); font: 12px/1.35 system-ui, sans-serif;
  max-width: 300px; max-height: 40vh; overflow-y: auto;}
.ms-title {font-size: 15px; font-weight: 600;}
.ms-box .ms-swatch {display: inline-block; width: 11px; height: 11px; margin-right: 5px;
  border: 1px solid #555; vertical-align: -1px;}
.ms-box .ms-line {display: inline-block; width: 18px; height: 0; margin-right: 5px;
  vertical-align: 3px;}
.ms-box .ms-bar {height: 10px; border: 1px solid #555; margin: 2px 0;}
.ms-box .ms-bar-labels {display: flex; justify-content: space-between; font-size: 11px;}
.ms-panel ol {margin: 4px 0 0 0; padding-left: 20px;}
.ms-panel li {cursor: pointer; margin-bottom: 3px;}
.ms-panel li:hover {text-decoration: underline;}
.ms-panel .ms-score {color: #555; font-size: 11px;}
.leaflet-popup-content table {border-collapse: collapse; font-size: 12px;}
.leaflet-popup-content th {text-align: left; padding-right: 8px; font-weight: 500;
  color: #555;}
.ms-fullscreen {background: #fff; width: 30px; height: 30px; line-height: 30px;
  text-align: center; display: block;}
.leaflet-tooltip.ms-label {background: transparent; border: none; box-shadow: none;
  padding: 0; font: 600 11px/1.1 system-ui, sans-serif; color: #3f2a56;
  text-shadow: 0 0 2px #fff, 0 0 2px #fff, 0 0 3px #fff;}
.leaflet-tooltip.ms-label::before {display: none;}
</style>
"""

# clicking a candidate in the side panel zooms to it and opens its popup
PANEL_JS = """
div.querySelectorAll('[data-ms-id]').forEach(function (li) {
  li.addEventListener('click', function () {
    var l = map._ms && map._ms.candidates && map._ms.candidates[li.getAttribute('data-ms-id')];
    if (!l) { return; }
    map.fitBounds(l.getBounds(), {maxZoom: 11});
    l.openPopup(l.getBounds().getCenter());
  });
});
"""


def category_colors(values, *, cmap: str | None = None) -> dict[str, str]:
    """A stable colour per category (matplotlib's tab10/tab20, in sorted order).

    Examples
    --------
    >>> category_colors(["b", "a", "b"])
    {'a': '#1f77b4', 'b': '#ff7f0e'}
    """
    uniques = pd.unique(pd.Series(values).dropna().astype(str))
    cats = sorted(uniques.tolist())
    colours = colormaps[cmap or ("tab10" if len(cats) <= 10 else "tab20")]
    return {c: to_hex(colours(i % colours.N)) for i, c in enumerate(cats)}


def _legend(title: str, items: list[tuple[str, str]], kind: str = "swatch") -> str:
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
        rows.append(f"<div>{mark}{html.escape(label)}</div>")
    return f"<div><b>{html.escape(title)}</b>{''.join(rows)}</div>"


def _colour_bar(title: str, cmap: str, vmin: float, vmax: float, unit: str = "") -> str:
    stops = ",".join(to_hex(colormaps[cmap](t)) for t in np.linspace(0, 1, 9))
    return (f"<div><b>{html.escape(title)}</b><div class='ms-bar' style='background:"
            f"linear-gradient(to right,{stops})'></div><div class='ms-bar-labels'>"
            f"<span>{vmin:,.3g}</span><span>{vmax:,.3g} {html.escape(unit)}</span></div></div>")


def _codes(values: pd.Series, colors: dict[str, str]) -> tuple[list[int], list[str]]:
    palette = [*colors.values(), "#777777"]
    lookup = {k: i for i, k in enumerate(colors)}
    codes = pd.Series(values).astype(str).map(lookup).fillna(len(palette) - 1)
    return codes.astype(int).tolist(), palette


# -- the map ---------------------------------------------------------------------------------

def cluster_map(
    region: Region,
    *,
    territories: gpd.GeoDataFrame | None = None,
    metric: str | None = None,
    scheme: str = "quantiles",
    k: int = 5,
    candidates: gpd.GeoDataFrame | None = None,
    hotspot_column: str = "hotspot",
    rasters: dict[str, Raster] | None = None,
    deposits_by: str = "commodity",
    size_by: str | None = "output_mt",
    projects: bool = True,
    tiles: bool = True,
    title: str | None = None,
    label_min_population: float = 40_000,
    hotspot_note: str | None = None,
) -> folium.Map:
    """A self-contained, offline-ready map of a region and its analysis results.

    Layers, each switchable in the layer control: neighbouring regions, study
    area, the *metric* choropleth of *territories* (classified with mapclassify,
    legend with class bounds), hot spots (territories' *hotspot_column*), raster
    overlays (with colour bars), candidate clusters (filled by score, popups with
    rank, score components and explanation; a side panel lists them by rank and
    zooms to one on click), corridors by kind (schematic geometry dashed),
    agglomerations (larger ones labelled), facilities (rings), deposits (dots
    coloured by *deposits_by*, sized by *size_by*), announced projects linked to a
    deposit. Scale bar, full-screen button, title, legend and data sources are
    drawn on the map; the OpenStreetMap basemap is an optional background.

    Parameters
    ----------
    region : Region
    territories : GeoDataFrame, optional
        Territories with metric columns (e.g. from the pipeline).
    metric : str, optional
        Column of *territories* for the choropleth.
    scheme : {"quantiles", "naturalbreaks", "equalinterval", "fisherjenks"}
        mapclassify scheme; *k* classes.
    candidates : GeoDataFrame, optional
        Candidate clusters with ``rank`` and ``score`` (and any component,
        ``label``, ``explanation`` columns).
    hotspot_column : str
        Column of *territories* with ``"hot"``/``"cold"`` labels, if present.
    rasters : dict of str to Raster, optional
        Named rasters drawn as image overlays: :class:`~minespace.io.Raster` (e.g. from
        :func:`~minespace.read_raster` or raster travel time) or a kernel-density grid
        (:func:`minespace.density.kernel_density`).
    deposits_by, size_by : str
        Deposit colour and size columns.
    projects : bool
        Overlay ``region.projects`` linked to a deposit (``deposit_id``).
    tiles : bool
        Add the OpenStreetMap basemap (needs a network when viewed).
    title : str, optional
        Defaults to the region's name.
    label_min_population : float
        Agglomerations at least this large carry a permanent label.
    hotspot_note : str, optional
        How the hot spots were tested, shown in their legend title; default
        from ``territories.attrs["inference"]["getis_ord"]`` (set by
        :func:`minespace.hotspots.getis_ord`, e.g. "FDR 5 %, 90,999
        permutations"), else "significant, FDR".

    Returns
    -------
    folium.Map

    Raises
    ------
    KeyError
        If *metric* is not a column of *territories*.
    ValueError
        For an unknown *scheme*.

    Examples
    --------
    >>> import minespace as ms
    >>> m = ms.maps.cluster_map(ms.datasets.kuzbass(), tiles=False)
    >>> [c.layer_name for c in m._children.values() if getattr(c, "control", False)]
    ['Neighbouring regions', 'Study area', 'Transport corridors', 'Agglomerations',
     'Facilities', 'Deposits by commodity', 'Announced projects']
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, not {scheme!r}")
    b = region.boundary.to_crs(MAP_CRS).total_bounds
    m = OfflineMap(location=[(b[1] + b[3]) / 2, (b[0] + b[2]) / 2], zoom_start=7,
                   tiles=None, control_scale=True, prefer_canvas=True)
    m.get_root().header.add_child(RawHtml(BOX_CSS), name="minespace_css")
    FullscreenControl().add_to(m)
    if tiles:
        folium.TileLayer("OpenStreetMap", name="OpenStreetMap basemap (online only)",
                         overlay=False, control=True).add_to(m)
    legend: list[str] = []
    _context(m, region)
    if territories is not None and metric is not None:
        legend.append(_choropleth(m, territories, metric, scheme, k))
    if territories is not None and hotspot_column in territories:
        legend.append(_hotspots(m, territories, hotspot_column, hotspot_note))
    for name, raster in (rasters or {}).items():
        legend.append(_raster(m, name, raster))
    if candidates is not None and len(candidates):
        legend.append(_candidates(m, _with_towns(candidates, region.agglomerations)))
    legend.extend(_region_layers(m, region, deposits_by, size_by, label_min_population))
    if projects:
        legend.append(_projects(m, region))
    n = f"{len(region.deposits)} deposits · {len(region.agglomerations)} agglomerations · " \
        f"{len(region.corridors)} corridors"
    HtmlControl(f'<div class="ms-title">{html.escape(title or region.name)}</div>'
                f"<div>{html.escape(n)}</div>", position="topright",
                css_class="ms-box ms-title-box").add_to(m)
    LayerControl(collapsed=False).add_to(m)
    HtmlControl("".join(x for x in legend if x), position="bottomright",
                css_class="ms-box ms-legend").add_to(m)
    if region.attribution:
        sources = " | ".join(html.escape(a) for a in region.attribution)
        HtmlControl(f"<details><summary>Data sources</summary><small>{sources}</small>"
                    "</details>", position="bottomleft",
                    css_class="ms-box ms-attribution").add_to(m)
    m.fit_bounds([[b[1], b[0]], [b[3], b[2]]])
    return m


def region_map(region: Region, **kwargs) -> folium.Map:
    """The region's own layers only: :func:`cluster_map` without analysis layers.

    Examples
    --------
    >>> import minespace as ms
    >>> m = ms.maps.region_map(ms.datasets.kuzbass(), tiles=False)
    >>> type(m).__name__
    'OfflineMap'
    """
    return cluster_map(region, **kwargs)


# -- layers ----------------------------------------------------------------------------------

def _context(m, region: Region) -> None:
    if region.neighbours is not None and len(region.neighbours):
        nb = region.neighbours
        label = nb["name"] if "name" in nb else pd.Series(nb.index.astype(str), index=nb.index)
        GeoJsonLayer(nb, styles={"color": "#888", "weight": 1, "fillColor": "#eeeeee",
                                 "fillOpacity": 0.5},
                     tooltips=label.astype(str).tolist(), name="Neighbouring regions",
                     simplify_m=500).add_to(m)
    GeoJsonLayer(region.boundary, styles={"color": "#444", "weight": 2.5, "fill": True,
                                          "fillColor": "#fbf8ef", "fillOpacity": 0.35},
                 name="Study area", simplify_m=100).add_to(m)


def _choropleth(m, territories: gpd.GeoDataFrame, metric: str, scheme: str, k: int) -> str:
    import mapclassify

    if metric not in territories:
        raise KeyError(f"cluster_map: metric {metric!r} is not a column of territories "
                       f"(available: {', '.join(map(str, territories.columns))})")
    values = pd.to_numeric(territories[metric], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(values)
    codes = np.full(len(values), k, dtype=int)  # k = "no data"
    labels: list[str] = []
    if ok.sum() >= 2 and np.unique(values[ok]).size >= 2:
        kk = int(min(k, np.unique(values[ok]).size))
        with warnings.catch_warnings():
            # ties can merge quantile classes; the legend shows the classes that remain
            warnings.filterwarnings("ignore", message="Not enough unique values")
            classifier = mapclassify.classify(values[ok], scheme=scheme, k=kk)
        codes[ok] = classifier.yb
        labels = _class_labels(values[ok], classifier.bins)
    elif ok.any():
        codes[ok] = 0
        labels = [f"{values[ok][0]:,.3g}"]
    n_cls = max(len(labels), 1)
    colours = [to_hex(colormaps["YlOrRd"](0.15 + 0.85 * i / max(n_cls - 1, 1)))
               for i in range(n_cls)]
    styles = [{"color": "#666", "weight": 0.3, "fillColor": c, "fillOpacity": 0.7}
              for c in colours]
    codes = np.where(codes >= n_cls, n_cls, codes)
    styles.append({"color": "#999", "weight": 0.3, "fillColor": "#ffffff", "fillOpacity": 0.15})
    attrs = attribute_columns(territories, [metric, "area_km2"])
    GeoJsonLayer(territories, styles=styles, style_codes=codes, attributes=attrs,
                 name=f"Territories: {metric}", simplify_m=50).add_to(m)
    items = list(zip(labels, colours, strict=True))
    if (~ok).any():
        items.append(("no data", "#ffffff"))
    return _legend(f"{metric} ({scheme})", items)


def _class_labels(values: np.ndarray, bins: np.ndarray) -> list[str]:
    """Readable class labels; classes are (previous bound, bound], the first closed.

    Examples
    --------
    >>> _class_labels(np.array([0, 1, 2, 3, 7, 10.0]), np.array([0, 1, 3, 10.0]))
    ['0', '1', '2 – 3', '4 – 10']
    >>> _class_labels(np.array([0.5, 2.5]), np.array([1.0, 2.5]))
    ['0.5 – 1', '> 1 – 2.5']
    """
    integer = bool(np.all(np.mod(values, 1) == 0))
    labels = []
    lo = values.min()
    for i, hi in enumerate(bins):
        if integer:
            first = lo if i == 0 else bins[i - 1] + 1
            labels.append(f"{first:,.0f}" if first >= hi else f"{first:,.0f} – {hi:,.0f}")
        else:
            first = f"{lo:,.3g}" if i == 0 else f"> {bins[i - 1]:,.3g}"
            labels.append(f"{first} – {hi:,.3g}")
    return labels


def _hotspots(m, territories: gpd.GeoDataFrame, column: str, note: str | None) -> str:
    labels = territories[column].astype(str)
    sig = labels.isin(list(HOTSPOT_COLORS))
    if not sig.any():
        return ""
    sub = territories[sig.to_numpy()]
    codes = [0 if v == "hot" else 1 for v in labels[sig]]
    styles = [{"color": HOTSPOT_COLORS["hot"], "weight": 1, "fillColor": HOTSPOT_COLORS["hot"],
               "fillOpacity": 0.55},
              {"color": HOTSPOT_COLORS["cold"], "weight": 1,
               "fillColor": HOTSPOT_COLORS["cold"], "fillOpacity": 0.55}]
    cols = [c for c in (column, "gi_star_z", "gi_star_p", "gi_star_q") if c in sub]
    GeoJsonLayer(sub, styles=styles, style_codes=codes, attributes=attribute_columns(sub, cols),
                 name="Hot spots", simplify_m=50, show=False).add_to(m)
    if note is None:
        from ..hotspots import inference_label

        record = territories.attrs.get("inference", {}).get("getis_ord")
        note = "Gi*, " + inference_label(record) if record else "significant, FDR"
    return _legend(f"Hot spots ({note})", [("hot spot", HOTSPOT_COLORS["hot"]),
                                           ("cold spot", HOTSPOT_COLORS["cold"])])


def _as_raster(obj) -> Raster:
    """A :class:`Raster` from a Raster or any grid with ``values``/``transform``/``crs``
    (e.g. :class:`minespace.density.DensityGrid`)."""
    if isinstance(obj, Raster):
        return obj
    if all(hasattr(obj, a) for a in ("values", "transform", "crs")):
        import pyproj

        return Raster(data=np.ma.masked_invalid(np.asarray(obj.values, dtype=float)),
                      transform=obj.transform, crs=pyproj.CRS.from_user_input(obj.crs),
                      nodata=None, source=type(obj).__name__)
    raise TypeError(f"rasters values must be Raster or grid objects, not {type(obj).__name__}")


def _raster(m, name: str, raster, cmap: str = "magma_r") -> str:
    import rasterio
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    raster = _as_raster(raster)
    src = raster.data.filled(np.nan).astype("float32")
    h, w = src.shape
    left, bottom, right, top = raster.bounds
    transform, width, height = calculate_default_transform(
        rasterio.crs.CRS.from_wkt(raster.crs.to_wkt()), "EPSG:3857", w, h,
        left=left, bottom=bottom, right=right, top=top)
    dst = np.full((height, width), np.nan, dtype="float32")
    reproject(src, dst, src_transform=raster.transform,
              src_crs=rasterio.crs.CRS.from_wkt(raster.crs.to_wkt()), src_nodata=np.nan,
              dst_transform=transform, dst_crs="EPSG:3857", dst_nodata=np.nan,
              resampling=Resampling.bilinear)
    finite = np.isfinite(dst)
    vmin, vmax = (float(np.nanmin(dst)), float(np.nanmax(dst))) if finite.any() else (0.0, 1.0)
    scaled = (dst - vmin) / (vmax - vmin) if vmax > vmin else np.zeros_like(dst)
    rgba = (colormaps[cmap](np.nan_to_num(scaled)) * 255).astype("uint8")
    rgba[..., 3] = np.where(finite, 200, 0)
    buf = io.BytesIO()
    from matplotlib import image as mimage

    mimage.imsave(buf, rgba, format="png")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    west, north = transform * (0, 0)
    east, south = transform * (width, height)
    from pyproj import Transformer

    to_ll = Transformer.from_crs(3857, 4326, always_xy=True)
    (lon0, lon1), (lat0, lat1) = to_ll.transform([west, east], [south, north])
    ImageLayer(url, [[lat0, lon0], [lat1, lon1]], name=name, opacity=0.75,
               show=False).add_to(m)
    return _colour_bar(name, cmap, vmin, vmax)


def _with_towns(candidates: gpd.GeoDataFrame, agglomerations: gpd.GeoDataFrame
                ) -> gpd.GeoDataFrame:
    """Add ``towns``: the agglomerations each candidate touches, largest first."""
    if "towns" in candidates or agglomerations is None or not len(agglomerations):
        return candidates
    aggl = agglomerations.to_crs(candidates.crs)
    tree = shapely.STRtree(candidates.geometry.values)
    a, c = tree.query(aggl.geometry.values, predicate="intersects")
    hits = pd.DataFrame({"c": c, "name": aggl["name"].to_numpy()[a],
                         "population": aggl["population"].to_numpy()[a]})
    hits = hits.sort_values("population", ascending=False)
    towns = hits.groupby("c", sort=False)["name"].agg(", ".join)
    out = candidates.copy()
    out["towns"] = towns.reindex(range(len(out))).fillna("").to_numpy()
    return out


def _candidates(m, candidates: gpd.GeoDataFrame) -> str:
    cands = candidates.sort_values("rank") if "rank" in candidates else candidates
    scores = pd.to_numeric(cands.get("score", pd.Series(0.0, index=cands.index)),
                           errors="coerce").fillna(0.0).to_numpy()
    lo, hi = float(scores.min()), float(scores.max())
    t = (scores - lo) / (hi - lo) if hi > lo else np.ones_like(scores)
    colours = [to_hex(colormaps["Greens"](0.35 + 0.6 * v)) for v in t]
    styles = [{"color": "#00441b", "weight": 2.5, "fillColor": c, "fillOpacity": 0.55}
              for c in colours]
    skip = {"geometry", "members", "explanation", "label"}
    cols = [c for c in cands.columns if c not in skip
            and not isinstance(cands[c].iloc[0] if len(cands) else None, (list, np.ndarray))]
    expl = cands["explanation"] if "explanation" in cands else pd.Series("", index=cands.index)
    extra = [f"<p style='max-width:380px'>{html.escape(str(e))}</p>" if e else ""
             for e in expl.fillna("")]
    title = "label" if "label" in cands else None
    GeoJsonLayer(cands, styles=styles, style_codes=list(range(len(cands))),
                 attributes=attribute_columns(cands, cols, title=title, extra=extra),
                 name="Candidate clusters", simplify_m=50, index_as="candidates").add_to(m)
    labels = cands["label"] if title else pd.Series(cands.index.astype(str), index=cands.index)
    towns = cands["towns"] if "towns" in cands else pd.Series("", index=cands.index)
    items = [f'<li data-ms-id="{html.escape(str(idx))}">{html.escape(str(label))} '
             f'<span class="ms-score">score {score:.2f}</span>'
             + (f'<br><span class="ms-score">{html.escape(str(town))}</span>' if town else "")
             + "</li>"
             for idx, label, score, town in zip(cands.index, labels, scores, towns, strict=True)]
    HtmlControl(f"<b>Candidate clusters</b> <small>(click to zoom)</small><ol>{''.join(items)}"
                "</ol>", position="topleft", css_class="ms-box ms-panel",
                on_add=PANEL_JS).add_to(m)
    return _legend("Candidate clusters (darker = higher score)",
                   [(f"{lo:.2f}", colours[int(np.argmin(scores))]),
                    (f"{hi:.2f}", colours[int(np.argmax(scores))])])


def _region_layers(m, region: Region, deposits_by: str, size_by: str | None,
                   label_min_population: float) -> list[str]:
    legend = []
    corr = region.corridors
    if len(corr):
        kinds = sorted(set(corr["kind"]), key=lambda k: (k != "rail", k))
        schematic = (corr["geometry_quality"].astype(str).str.contains("schematic")
                     if "geometry_quality" in corr else pd.Series(False, index=corr.index))
        combos = sorted(set(zip(corr["kind"], schematic, strict=True)),
                        key=lambda c: (c[0] != "rail", c))
        styles = [{"color": KIND_COLORS.get(k, "#777777"), "weight": 3 if k == "rail" else 2.5,
                   "opacity": 0.9, **({"dashArray": "6 5"} if s else {})} for k, s in combos]
        lookup = {c: i for i, c in enumerate(combos)}
        codes = [lookup[c] for c in zip(corr["kind"], schematic, strict=True)]
        cols = ["kind", "speed_kmh", "speed_source", "geometry_quality", "length_km_derived"]
        GeoJsonLayer(corr, styles=styles, style_codes=codes,
                     attributes=attribute_columns(corr, cols, title="name"),
                     name="Transport corridors").add_to(m)
        items = [(k + (" (schematic, dashed)" if schematic[corr["kind"] == k].any() else ""),
                  KIND_COLORS.get(k, "#777777")) for k in kinds]
        legend.append(_legend("Corridors", items, kind="line"))
    aggl = region.agglomerations
    if len(aggl):
        names = aggl["name"].where(aggl["name"].notna(), pd.Series(aggl.index, index=aggl.index))
        GeoJsonLayer(aggl, styles={"color": "#6a3d9a", "weight": 1.5, "fillColor": "#cab2d6",
                                   "fillOpacity": 0.55},
                     attributes=attribute_columns(aggl, ["population", "name_local",
                                                         "geometry_source"], title="name"),
                     tooltips=names.astype(str).tolist(),
                     labels=(aggl["population"] >= label_min_population).tolist(),
                     name="Agglomerations").add_to(m)
        legend.append(_legend("Agglomerations", [("urban area (population)", "#cab2d6")]))
    fac = region.facilities
    if fac is not None and len(fac):
        colours = category_colors(fac["kind"], cmap="Dark2")
        codes, palette = _codes(fac["kind"], colours)
        PointLayer(fac, codes=codes, palette=palette, radius=6, ring=True,
                   attributes=attribute_columns(fac, ["kind", "capacity", "capacity_unit",
                                                      "status", "owner"], title="name"),
                   name="Facilities").add_to(m)
        legend.append(_legend("Facilities", list(colours.items()), kind="ring"))
    dep = region.deposits
    if len(dep):
        cats = dep[deposits_by] if deposits_by in dep else pd.Series("deposit", index=dep.index)
        colours = category_colors(cats)
        codes, palette = _codes(cats, colours)
        radius: float | np.ndarray = 4.5
        if size_by and size_by in dep:
            v = pd.to_numeric(dep[size_by], errors="coerce").to_numpy(dtype=float)
            vmax = np.nanmax(v) if np.isfinite(v).any() else 1.0
            radius = 3 + 7 * np.sqrt(np.nan_to_num(v, nan=0.0) / (vmax or 1.0))
        if len(dep) > 20_000:
            radius = np.minimum(radius, 3.0) if np.ndim(radius) else 3.0
        cols = ["commodity", "method", "status", "output_mt", "capacity_mt", "reserves_mt",
                "jobs", "owner"]
        PointLayer(dep, codes=codes, palette=palette, radius=radius,
                   attributes=attribute_columns(dep, cols, title="name"),
                   name=f"Deposits by {deposits_by}").add_to(m)
        note = f" (size: {size_by})" if size_by and size_by in dep else ""
        legend.append(_legend(f"Deposits by {deposits_by}{note}", list(colours.items())))
    return legend


def _projects(m, region: Region) -> str:
    proj = region.projects
    if proj is None or "deposit_id" not in proj:
        return ""
    linked = proj[proj["deposit_id"].isin(region.deposits.index)]
    if linked.empty:
        return ""
    geom = region.deposits.geometry.loc[linked["deposit_id"]].to_numpy()
    layer = gpd.GeoDataFrame(linked.reset_index(), geometry=geom, crs=region.crs)
    title = "project" if "project" in layer else None
    cols = ["category", "investor", "investment_bn_rub", "jobs_created", "implementation_year",
            "location_hint", "deposit_id"]
    PointLayer(layer, codes=[0] * len(layer), palette=["#e7298a"], radius=11, ring=True,
               attributes=attribute_columns(layer, cols, title=title),
               name="Announced projects").add_to(m)
    return _legend("Announced projects (at the linked mine)", [("project", "#e7298a")],
                   kind="ring")


def save_map(m: folium.Map, path: str | os.PathLike) -> Path:
    """Save *m* as one self-contained HTML file, atomically.

    Element ids are derived from the page's content instead of folium's random
    ones, so saving the same map twice gives the same bytes.

    Examples
    --------
    >>> import minespace as ms
    >>> m = ms.maps.region_map(ms.datasets.kuzbass(), tiles=False)
    >>> out = ms.maps.save_map(m, tmp_path / "kuzbass.html")
    >>> "cdn.jsdelivr" in out.read_text()
    False
    """
    from ._ids import stable_ids

    path = Path(path)
    root = m.get_root()
    html = stable_ids(root.render(), root)  # the same map gives the same bytes
    with atomic_path(path) as tmp:
        tmp.write_bytes(html.encode("utf-8"))
    return path
