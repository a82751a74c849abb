"""A static overview (matplotlib) of the same layers as :func:`cluster_map`."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from ..io.write import atomic_path
from ..region import Region
from .cluster_map import KIND_COLORS, category_colors

__all__ = ["static_map"]


def static_map(
    region: Region,
    *,
    territories: gpd.GeoDataFrame | None = None,
    metric: str | None = None,
    scheme: str = "quantiles",
    k: int = 5,
    candidates: gpd.GeoDataFrame | None = None,
    deposits_by: str = "commodity",
    title: str | None = None,
    path: str | os.PathLike | None = None,
    figsize: tuple[float, float] = (8.0, 9.0),
    dpi: int = 150,
):
    """Draw the region (and optional analysis layers) as a static figure for reports.

    Drawn in the region's metric CRS, so distances are true: territories
    choropleth of *metric* (mapclassify *scheme*), candidate outlines with their
    rank, corridors by kind (schematic ones dashed), agglomerations with names,
    deposits by *deposits_by*, a legend and the data sources.

    Parameters
    ----------
    region : Region
    territories, metric, scheme, k, candidates, deposits_by, title
        As in :func:`cluster_map`.
    path : path, optional
        Save the figure there (PNG, or any format matplotlib knows by suffix),
        atomically.
    figsize, dpi : figure size (inches) and resolution.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import minespace as ms
    >>> fig = ms.maps.static_map(ms.datasets.kuzbass(), path=tmp_path / "kuzbass.png")
    >>> (tmp_path / "kuzbass.png").read_bytes()[:4] == b"\\x89PNG"
    True
    """
    from matplotlib.figure import Figure  # no pyplot: works on any backend, no global state
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig = Figure(figsize=figsize, dpi=dpi)
    ax = fig.add_subplot()
    crs = region.crs
    handles = []
    if region.neighbours is not None and len(region.neighbours):
        region.neighbours.plot(ax=ax, color="#eeeeee", edgecolor="#999999", linewidth=0.6)
    region.boundary.plot(ax=ax, color="#fbf8ef", edgecolor="#444444", linewidth=1.2)
    if territories is not None and metric is not None:
        layer = territories.to_crs(crs)
        values = pd.to_numeric(layer[metric], errors="coerce")
        if values.notna().sum() >= 2 and values.nunique() >= 2:
            with warnings.catch_warnings():
                # ties can merge quantile classes; the legend shows those that remain
                warnings.filterwarnings("ignore", message="Not enough unique values")
                _plot_choropleth(ax, layer.assign(_v=values), metric, scheme,
                                 min(k, int(values.nunique())))
    if candidates is not None and len(candidates):
        cands = candidates.to_crs(crs)
        cands.boundary.plot(ax=ax, color="#00441b", linewidth=2.0)
        pts = cands.geometry.representative_point()
        ranks = cands["rank"] if "rank" in cands else pd.Series(range(1, len(cands) + 1),
                                                              index=cands.index)
        for x, y, r in zip(pts.x, pts.y, ranks, strict=True):
            ax.annotate(f"#{int(r)}", (x, y), ha="center", va="center", fontsize=9,
                        fontweight="bold", color="#00441b",
                        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.8})
        handles.append(Line2D([], [], color="#00441b", lw=2, label="candidate cluster (#rank)"))
    corr = region.corridors
    if len(corr):
        schematic = (corr["geometry_quality"].astype(str).str.contains("schematic")
                     if "geometry_quality" in corr else pd.Series(False, index=corr.index))
        for (kind, sch), part in corr.groupby([corr["kind"], schematic]):
            colour = KIND_COLORS.get(kind, "#777777")
            part.plot(ax=ax, color=colour, linewidth=1.6 if kind == "rail" else 1.2,
                      linestyle="--" if sch else "-")
            handles.append(Line2D([], [], color=colour, lw=1.5, ls="--" if sch else "-",
                                  label=kind + (" (schematic)" if sch else "")))
    aggl = region.agglomerations
    if len(aggl):
        aggl.plot(ax=ax, color="#cab2d6", edgecolor="#6a3d9a", linewidth=0.6)
        big = aggl[aggl["population"] >= 40_000]
        pts = big.geometry.representative_point()
        for x, y, name in zip(pts.x, pts.y, big["name"].astype(str), strict=True):
            ax.annotate(name, (x, y), xytext=(4, 4), textcoords="offset points", fontsize=7,
                        color="#3f2a56")
        handles.append(Patch(facecolor="#cab2d6", edgecolor="#6a3d9a", label="agglomeration"))
    dep = region.deposits
    if len(dep):
        cats = dep[deposits_by].astype(str) if deposits_by in dep else \
            pd.Series("deposit", index=dep.index)
        colours = category_colors(cats)
        size = 4 if len(dep) > 5000 else 14
        ax.scatter(dep.geometry.x, dep.geometry.y, s=size, c=cats.map(colours).to_list(),
                   edgecolors="#333333", linewidths=0.3, zorder=5)
        handles += [Line2D([], [], marker="o", ls="", color=c, markeredgecolor="#333333",
                           label=name) for name, c in colours.items()]
    minx, miny, maxx, maxy = region.boundary.total_bounds
    pad = 0.03 * max(maxx - minx, maxy - miny)
    ax.set_xlim(minx - pad, maxx + pad)
    ax.set_ylim(miny - pad, maxy + pad)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_title(title or region.name, fontsize=12)
    _scale_bar(ax, maxx - minx)
    if handles:
        choropleth = ax.get_legend()
        ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.9)
        if choropleth is not None:
            ax.add_artist(choropleth)  # keep the class legend next to the layer legend
    if region.attribution:
        fig.text(0.01, 0.005, "Data: " + "; ".join(region.attribution), fontsize=4.5,
                 wrap=True, va="bottom")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    if path is not None:
        path = Path(path)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip(".") or "png")
    return fig


def _plot_choropleth(ax, layer, metric: str, scheme: str, k: int) -> None:
    layer.plot(ax=ax, column="_v", scheme=scheme, k=k, cmap="YlOrRd", linewidth=0.1,
               edgecolor="#777777", alpha=0.75, legend=True,
               legend_kwds={"title": metric, "loc": "lower left", "fontsize": 7,
                            "title_fontsize": 8, "fmt": "{:,.3g}"},
               missing_kwds={"color": "white", "alpha": 0.2})


def _scale_bar(ax, width_m: float) -> None:
    """A bar of a round length (km) in the lower right corner."""
    target = width_m / 5
    km = 10 ** np.floor(np.log10(target / 1000))
    for step in (5, 2, 1):
        if step * km * 1000 <= target:
            km *= step
            break
    x1, x0 = ax.get_xlim()[1], ax.get_xlim()[0]
    y0 = ax.get_ylim()[0]
    span = x1 - x0
    right = x1 - 0.04 * span
    left = right - km * 1000
    base = y0 + 0.03 * span
    ax.plot([left, right], [base, base], color="black", lw=3, solid_capstyle="butt")
    ax.annotate(f"{km:g} km", ((left + right) / 2, base), xytext=(0, 4),
                textcoords="offset points", ha="center", fontsize=7)
