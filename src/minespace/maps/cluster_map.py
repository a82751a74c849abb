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
from collections.abc import Sequence
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from matplotlib import colormaps
from matplotlib.colors import to_hex

from ..crs import MAP_CRS
from ..errors import SizeWarning
from ..io.raster import Raster
from ..io.write import atomic_path
from ..region import Region
from ._assets import OfflineMap, RawHtml
from .innovation_layers import institutions_layer, plants_layer, projects_layer
from .layers import (
    FullscreenControl,
    GeoJsonLayer,
    HtmlControl,
    ImageLayer,
    LayerControl,
    PointLayer,
    attribute_columns,
)
from .legend import BOX_CSS, LEGEND_JS, colour_bar, legend_items, legend_section

__all__ = ["category_colors", "cluster_map", "region_map", "save_map"]

#: Colours of corridor kinds (rail dark, roads by rank).
KIND_COLORS = {"rail": "#1f1f1f", "road_motorway": "#b2182b", "road_trunk": "#d6604d",
               "road_primary": "#f4a582", "road_secondary": "#fddbc7", "road": "#999999"}
HOTSPOT_COLORS = {"hot": "#d7301f", "cold": "#2c7fb8"}
SCHEMES = ("quantiles", "naturalbreaks", "equalinterval", "fisherjenks")

# clicking a candidate in the side panel (or Enter/Space on it) zooms to it and opens its
# dossier card (its popup when the map has no cards)
PANEL_JS = """
div.querySelectorAll('[data-ms-id]').forEach(function (li) {
  function go() {
    var id = li.getAttribute('data-ms-id');
    var l = map._ms && map._ms.candidates && map._ms.candidates[id];
    if (!l) { return; }
    // the dossier card (when the map has one) opens beside the panel and the candidate is
    // zoomed into the space left; without a card, its popup opens
    var card = map._ms.dossier ? map._ms.dossier.open(id, li) : null;
    var pad = card ? [card.getBoundingClientRect().right -
                      map.getContainer().getBoundingClientRect().left, 0] : [0, 0];
    map.fitBounds(l.getBounds(), {maxZoom: 11, paddingTopLeft: pad});
    if (!card) { l.openPopup(l.getBounds().getCenter()); }
  }
  li.addEventListener('click', go);
  li.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); go(); }
  });
});
"""


#: Default most deposits drawn by :func:`cluster_map` (a sample above it).
MAX_DEPOSITS = 100_000


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
    deposits_by: str | Sequence[str] = "commodity",
    size_by: str | None = "output_mt",
    projects: bool = True,
    institutions: bool = True,
    plants: bool = True,
    links: dict[str, pd.DataFrame] | None = None,
    dossier: bool = True,
    tiles: bool = True,
    title: str | None = None,
    hotspot_note: str | None = None,
    max_deposits: int | None = MAX_DEPOSITS,
    territory_name: str | None = "name",
    label_top_n: int = 10,
) -> folium.Map:
    """A self-contained, offline-ready map of a region and its analysis results.

    Layers, each switchable in the layer control: neighbouring regions, study
    area, the *metric* choropleth of *territories* (classified with mapclassify,
    legend with class bounds), hot spots (territories' *hotspot_column*), raster
    overlays (with colour bars), candidate clusters (outlined, blue by score over a
    white casing, unfilled so the choropleth below stays readable; popups with rank,
    score components and explanation; a side panel lists them by rank and zooms to one
    on click), corridors by kind (schematic geometry dashed), agglomerations (the
    *label_top_n* largest in view labelled), facilities (rings by kind; with *plants*,
    those without a value chain), deposits (dots coloured by *deposits_by*, sized by
    *size_by*), processing plants (diamonds by value-chain input), institutions (a
    symbol per kind) and placed investment projects (circles, area proportional to the
    investment); see
    :mod:`minespace.maps.innovation_layers`. Clicking a candidate's outline or its
    panel entry (or Enter on it) opens its dossier card
    (:func:`~minespace.maps.candidate_dossier`). Scale bar, full-screen button, title,
    legend (a section per layer that is on; foldable) and data sources are drawn on the
    map; the OpenStreetMap basemap is an optional background.

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
    deposits_by : str or sequence of str
        Deposit colour: the category column(s), as in the analysis'
        ``concentration(..., by=...)`` (several columns' values are joined with ``"/"``).
    size_by : str, optional
        Deposit size column.
    projects : bool
        Overlay the placed ``region.projects`` (located by
        :func:`minespace.locate_projects`, or the older table linked by ``deposit_id``)
        as circles sized by investment.
    institutions : bool
        Overlay ``region.institutions`` (a symbol per ``kind``), when the region has them.
    plants : bool
        Draw the processing plants (``region.facilities`` with a ``value_chain``) as their
        own layer, by value chain; the ``Facilities`` layer then holds the others. False:
        every facility is a ring by kind.
    links : dict, optional
        ``{"plants": ..., "institutions": ...}`` link frames for the dossier cards (see
        :func:`~minespace.maps.candidate_dossier`).
    dossier : bool
        Embed a dossier card per candidate (opened from the panel or the outline).
    tiles : bool
        Add the OpenStreetMap basemap (needs a network when viewed).
    title : str, optional
        Defaults to the region's name.
    hotspot_note : str, optional
        How the hot spots were tested, shown in their legend title; default
        from ``territories.attrs["inference"]["getis_ord"]`` (set by
        :func:`minespace.hotspots.getis_ord`, e.g. "FDR 5 %, 90,999
        permutations"), else "significant, FDR".
    max_deposits : int or None, default 100,000
        Draw at most this many deposits: above it, a random sample of that size
        (seed 0, so the same map each time) is drawn, the title says how many
        (e.g. ``1,000,000 deposits (100,000 drawn)``) and a
        :class:`~minespace.errors.SizeWarning` says so. Every deposit is still in
        the analysis layers and the density raster. ``None`` draws all of them
        (about 85 bytes of HTML each, and the browser's time to draw them).
    territory_name : str, optional
        Column of *territories* with their names (used when present): hover tooltips
        and popup titles of the choropleth.
    label_top_n : int
        Permanent labels for the *label_top_n* most populous agglomerations whose
        centre is in view, updated as the map moves (10: readable at the Kuzbass'
        scale; zoom in and smaller towns get labels).

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
     'Facilities', 'Deposits by commodity', 'Processing plants', 'Institutions',
     'Announced projects']
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
    names = (territories[territory_name] if territories is not None and territory_name
             and territory_name in territories.columns else None)
    if territories is not None and metric is not None:
        legend.append(_choropleth(m, territories, metric, scheme, k, names))
    if territories is not None and hotspot_column in territories:
        legend.append(_hotspots(m, territories, hotspot_column, hotspot_note, names))
    for name, raster in (rasters or {}).items():
        legend.append(_raster(m, name, raster))
    if candidates is not None and len(candidates):
        legend.append(_candidates(m, _with_towns(candidates, region.agglomerations)))
    drawn = _thin(region.deposits, max_deposits)
    legend.extend(_region_layers(m, region, deposits_by, size_by, label_top_n, drawn, plants))
    if plants:
        legend.append(plants_layer(m, region.facilities))
    if institutions:
        # off at first: with the Kuzbass institutions on, the default legend no longer
        # fits a 900-pixel window
        legend.append(institutions_layer(m, getattr(region, "institutions", None),
                                         show=False))
    if projects:
        legend.append(projects_layer(m, region))
    if dossier and candidates is not None and len(candidates):
        from .dossier import DossierCard

        DossierCard(candidates, region, links=links, by=deposits_by).add_to(m)
    shown = f" ({len(drawn):,} drawn)" if len(drawn) < len(region.deposits) else ""
    n = f"{len(region.deposits):,} deposits{shown} · {len(region.agglomerations)} " \
        f"agglomerations · {len(region.corridors)} corridors"
    HtmlControl(f'<div class="ms-title">{html.escape(title or region.name)}</div>'
                f"<div>{html.escape(n)}</div>", position="topright",
                css_class="ms-box ms-title-box").add_to(m)
    LayerControl(collapsed=False).add_to(m)
    HtmlControl("<details open><summary>Legend</summary>" + "".join(legend) + "</details>",
                position="bottomright", css_class="ms-box ms-legend",
                on_add=LEGEND_JS).add_to(m)
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


def _choropleth(m, territories: gpd.GeoDataFrame, metric: str, scheme: str, k: int,
                names: pd.Series | None) -> str:
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
    frame, title = _named(territories, names)
    attrs = attribute_columns(frame, [metric, "area_km2"], title=title)
    layer = GeoJsonLayer(territories, styles=styles, style_codes=codes, attributes=attrs,
                         tooltips=_tooltips(territories, names), name=f"Territories: {metric}",
                         simplify_m=50).add_to(m)
    items = list(zip(labels, colours, strict=True))
    if (~ok).any():
        items.append(("no data", "#ffffff"))
    return legend_section(legend_items(f"{metric} ({scheme})", items), layer)


def _named(territories: gpd.GeoDataFrame, names: pd.Series | None
           ) -> tuple[pd.DataFrame, str | None]:
    """Territories with their names as the popup title (``"<name> (<id>)"``)."""
    if names is None:
        return territories, None
    shown = names.astype(str).where(names.notna(), "") + " (" + territories.index.astype(str) \
        + ")"
    return pd.DataFrame({"_ms_title": shown}, index=territories.index).join(
        territories.drop(columns="geometry")), "_ms_title"


def _tooltips(territories: gpd.GeoDataFrame, names: pd.Series | None) -> list | None:
    """Hover text: the territory's name (its id when unnamed), or none without names."""
    if names is None:
        return None
    return names.astype(str).where(names.notna(), territories.index.astype(str)).tolist()


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


def _hotspots(m, territories: gpd.GeoDataFrame, column: str, note: str | None,
              names: pd.Series | None) -> str:
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
    sub_names = None if names is None else names[sig.to_numpy()]
    frame, title = _named(sub, sub_names)
    layer = GeoJsonLayer(sub, styles=styles, style_codes=codes,
                         attributes=attribute_columns(frame, cols, title=title),
                         tooltips=_tooltips(sub, sub_names), name="Hot spots", simplify_m=50,
                         show=False).add_to(m)
    if note is None:
        from ..hotspots import inference_label

        record = territories.attrs.get("inference", {}).get("getis_ord")
        note = "Gi*, " + inference_label(record) if record else "significant, FDR"
    return legend_section(legend_items(f"Hot spots ({note})",
                                       [("hot spot", HOTSPOT_COLORS["hot"]),
                                        ("cold spot", HOTSPOT_COLORS["cold"])]), layer)


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
    layer = ImageLayer(url, [[lat0, lon0], [lat1, lon1]], name=name, opacity=0.75,
                       show=False).add_to(m)
    return legend_section(colour_bar(name, cmap, vmin, vmax), layer)


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
    # outlines only: a fill over the choropleth would mix into muddy colours; blue
    # (absent from the choropleth's yellow-red ramp) on a white casing, darker = better
    colours = [to_hex(colormaps["Blues"](0.55 + 0.45 * v)) for v in t]
    styles = [{"color": c, "weight": 3.5, "opacity": 1.0, "fill": False} for c in colours]
    skip = {"geometry", "members", "explanation", "label", "places", "activity_mix"}
    cols = [c for c in cands.columns if c not in skip
            and not isinstance(cands[c].iloc[0] if len(cands) else None, (list, np.ndarray))]
    expl = cands["explanation"] if "explanation" in cands else pd.Series("", index=cands.index)
    extra = [f"<p style='max-width:380px'>{html.escape(str(e))}</p>" if e else ""
             for e in expl.fillna("")]
    title = "label" if "label" in cands else None
    ranks = (cands["rank"].astype(str) if "rank" in cands
             else pd.Series(np.arange(1, len(cands) + 1).astype(str), index=cands.index))
    layer = GeoJsonLayer(cands, styles=styles, style_codes=list(range(len(cands))),
                         attributes=attribute_columns(cands, cols, title=title, extra=extra),
                         tooltips=("#" + ranks).tolist(), labels=[True] * len(cands),
                         casing={"color": "#ffffff", "weight": 7, "opacity": 0.9,
                                 "fill": False}, label_class="ms-label ms-rank",
                         name="Candidate clusters", simplify_m=50,
                         index_as="candidates").add_to(m)
    # the panel: where (territory names, else towns, else the label) and what (the mix)
    empty = pd.Series("", index=cands.index)
    where = cands["places"].fillna("").astype(str) if "places" in cands else empty
    if "towns" in cands:
        towns = cands["towns"].fillna("").astype(str).str.split(", ").str[:3].str.join(", ")
        where = where.where(where != "", towns)
    mix = cands["activity_mix"].fillna("").astype(str) if "activity_mix" in cands else empty
    labels = cands["label"].astype(str) if title else pd.Series(cands.index.astype(str),
                                                                 index=cands.index)
    both = (where != "") & (mix != "")
    head, detail = where.where(both, labels), mix.where(both, where)
    items = [f'<li data-ms-id="{html.escape(str(idx))}" tabindex="0" role="button">'
             f'{html.escape(h)} '
             f'<span class="ms-score">score {score:.2f}</span>'
             + (f'<br><span class="ms-score">{html.escape(d)}</span>' if d else "")
             + "</li>"
             for idx, h, score, d in zip(cands.index, head, scores, detail, strict=True)]
    HtmlControl("<b>Candidate clusters</b> <small>(click: zoom and dossier)</small>"
                f"<ol>{''.join(items)}</ol>", position="topleft", css_class="ms-box ms-panel",
                on_add=PANEL_JS).add_to(m)
    return legend_section(legend_items(
        "Candidate clusters (#rank; darker = higher score)",
        [(f"score {hi:.2f}", colours[int(np.argmax(scores))]),
         (f"score {lo:.2f}", colours[int(np.argmin(scores))])], kind="line"), layer)


def _thin(deposits: gpd.GeoDataFrame, max_deposits: int | None) -> gpd.GeoDataFrame:
    """*deposits*, or a seeded random sample of *max_deposits* of them (row order kept)."""
    if max_deposits is None:
        return deposits
    if isinstance(max_deposits, bool) or not isinstance(max_deposits, (int, np.integer)) \
            or max_deposits < 0:
        raise ValueError(f"max_deposits must be an integer >= 0 or None, got {max_deposits!r}")
    if len(deposits) <= max_deposits:
        return deposits
    keep = np.sort(np.random.default_rng(0).choice(len(deposits), int(max_deposits),
                                                   replace=False))
    warnings.warn(f"cluster_map: {len(deposits):,} deposits, {int(max_deposits):,} drawn "
                  "(a random sample; max_deposits= sets how many)", SizeWarning, stacklevel=3)
    return deposits.iloc[keep]


def _categories(deposits: pd.DataFrame, by: str | Sequence[str]) -> tuple[pd.Series, list]:
    """The category of each deposit from the *by* column(s) (values joined with "/", as
    in :mod:`minespace.concentration`); one category "deposit" when a column is missing."""
    cols = [by] if isinstance(by, str) else list(by)
    if not cols or any(c not in deposits.columns for c in cols):
        return pd.Series("deposit", index=deposits.index), []
    cats = deposits[cols[0]].astype(str).where(deposits[cols[0]].notna(), "no value")
    for c in cols[1:]:
        cats = cats + "/" + deposits[c].astype(str).where(deposits[c].notna(), "no value")
    return cats, cols


def _region_layers(m, region: Region, deposits_by: str | Sequence[str], size_by: str | None,
                   label_top_n: int, dep: gpd.GeoDataFrame, plants: bool = True) -> list[str]:
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
        layer = GeoJsonLayer(corr, styles=styles, style_codes=codes,
                             attributes=attribute_columns(corr, cols, title="name"),
                             name="Transport corridors").add_to(m)
        items = [(k + (" (schematic, dashed)" if schematic[corr["kind"] == k].any() else ""),
                  KIND_COLORS.get(k, "#777777")) for k in kinds]
        legend.append(legend_section(legend_items("Corridors", items, kind="line"), layer))
    aggl = region.agglomerations
    if len(aggl):
        names = aggl["name"].where(aggl["name"].notna(), pd.Series(aggl.index, index=aggl.index))
        pop = pd.to_numeric(aggl["population"], errors="coerce")
        rank = pop.rank(ascending=False, method="first")  # 1 = largest; NaN never labelled
        layer = GeoJsonLayer(aggl, styles={"color": "#6a3d9a", "weight": 1.5,
                                           "fillColor": "#cab2d6", "fillOpacity": 0.55},
                             attributes=attribute_columns(aggl, ["population", "name_local",
                                                                 "geometry_source"],
                                                          title="name"),
                             tooltips=names.astype(str).tolist(),
                             label_rank=rank.to_numpy(dtype=float).tolist(),
                             label_top_n=label_top_n, name="Agglomerations").add_to(m)
        legend.append(legend_section(legend_items(
            "Agglomerations", [(f"urban area ({label_top_n} largest in view named)",
                                "#cab2d6")]), layer))
    fac = region.facilities
    if plants and fac is not None and "value_chain" in fac:
        # processing plants are drawn by value chain (their own layer): the rest here
        fac = fac[fac["value_chain"].isna().to_numpy()]
    if fac is not None and len(fac):
        colours = category_colors(fac["kind"], cmap="Dark2")
        codes, palette = _codes(fac["kind"], colours)
        layer = PointLayer(fac, codes=codes, palette=palette, radius=6, ring=True,
                           attributes=attribute_columns(fac, ["kind", "value_chain", "capacity",
                                                              "capacity_unit", "status",
                                                              "owner"], title="name"),
                           name="Facilities").add_to(m)
        legend.append(legend_section(legend_items("Facilities", list(colours.items()),
                                                  kind="ring"), layer))
    if len(dep):
        cats, by_cols = _categories(dep, deposits_by)
        by_name = " / ".join(map(str, by_cols)) or "deposit"
        colours = category_colors(cats)
        codes, palette = _codes(cats, colours)
        radius: float | np.ndarray = 4.5
        if size_by and size_by in dep:
            v = pd.to_numeric(dep[size_by], errors="coerce").to_numpy(dtype=float)
            vmax = np.nanmax(v) if np.isfinite(v).any() else 1.0
            radius = 3 + 7 * np.sqrt(np.nan_to_num(v, nan=0.0) / (vmax or 1.0))
        if len(dep) > 20_000:
            radius = np.minimum(radius, 3.0) if np.ndim(radius) else 3.0
        cols = list(dict.fromkeys([*by_cols, "commodity", "method", "status", "output_mt",
                                   "capacity_mt", "reserves_mt", "jobs", "owner"]))
        layer = PointLayer(dep, codes=codes, palette=palette, radius=radius,
                           attributes=attribute_columns(dep, cols, title="name"),
                           name=f"Deposits by {by_name}").add_to(m)
        note = f" (size: {size_by})" if size_by and size_by in dep else ""
        # category keys read as words ("coking_coal_underground" -> "coking coal,
        # underground"), as in the candidates' activity mix
        from ..clustering.profiles import activity_label

        items = [(activity_label(c), colour) for c, colour in colours.items()]
        legend.append(legend_section(legend_items(f"Deposits by {by_name}{note}", items),
                                     layer))
    return legend


def save_map(m: folium.Map, path: str | os.PathLike, *, progress: bool | None = None) -> Path:
    """Save *m* as one self-contained HTML file, atomically.

    Element ids are derived from the page's content instead of folium's random
    ones, so saving the same map twice gives the same bytes. *progress*: a bar
    of the two steps (render, write) on stderr; default as in
    :func:`minespace.hotspots.getis_ord`.

    Examples
    --------
    >>> import minespace as ms
    >>> m = ms.maps.region_map(ms.datasets.kuzbass(), tiles=False)
    >>> out = ms.maps.save_map(m, tmp_path / "kuzbass.html")
    >>> "cdn.jsdelivr" in out.read_text()
    False
    """
    from .._progress import bar
    from ._ids import stable_ids

    path = Path(path)
    with bar(progress, total=2, desc="map", unit=" steps") as steps:
        steps.step("rendering HTML")
        root = m.get_root()
        html = stable_ids(root.render(), root)  # the same map gives the same bytes
        steps.step(f"writing {len(html) / 1e6:.1f} MB")
        with atomic_path(path) as tmp:
            tmp.write_bytes(html.encode("utf-8"))
    return path
