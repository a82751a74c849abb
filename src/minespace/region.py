"""The :class:`Region`: the layers of one study area in one metric CRS."""

from __future__ import annotations

import html
from dataclasses import dataclass, field, replace

import geopandas as gpd
import pandas as pd
import pyproj
import shapely

from .crs import choose_metric_crs, is_metric
from .errors import CRSError

__all__ = ["Region"]

_LAYERS = ("deposits", "agglomerations", "corridors", "facilities", "neighbours")


@dataclass(frozen=True)
class Region:
    """A study area: its boundary and layers, all in one metric CRS.

    Build one with :meth:`from_layers` (which chooses the CRS and reprojects) or
    get the bundled sample with :func:`minespace.datasets.kuzbass`.

    Attributes
    ----------
    name : str
    boundary : GeoDataFrame
        One row: the study-area polygon.
    deposits, agglomerations, corridors : GeoDataFrame
        Canonical layers (see :mod:`minespace.schema`).
    facilities : GeoDataFrame or None
        Processing facilities, optional.
    neighbours : GeoDataFrame or None
        Surrounding regions, drawn on maps for context only.
    projects : DataFrame or None
        Announced investment projects (a table; ``deposit_id`` links some to a mine).
    attribution : tuple of str
        Data credits, shown on every map.
    """

    name: str
    boundary: gpd.GeoDataFrame
    deposits: gpd.GeoDataFrame
    agglomerations: gpd.GeoDataFrame
    corridors: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame | None = None
    neighbours: gpd.GeoDataFrame | None = None
    projects: pd.DataFrame | None = None
    attribution: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        crs = self.boundary.crs
        if crs is None:
            raise CRSError("Region: the boundary has no CRS")
        for name in _LAYERS:
            layer = getattr(self, name)
            if layer is not None and layer.crs != crs:
                raise CRSError(
                    f"Region: layer '{name}' is in {layer.crs.to_string() if layer.crs else None}"
                    f" but the boundary is in {crs.to_string()}; build the region with "
                    "Region.from_layers(...), which reprojects every layer to one CRS")

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_layers(
        cls,
        *,
        deposits: gpd.GeoDataFrame,
        agglomerations: gpd.GeoDataFrame,
        corridors: gpd.GeoDataFrame,
        boundary: gpd.GeoDataFrame | None = None,
        facilities: gpd.GeoDataFrame | None = None,
        neighbours: gpd.GeoDataFrame | None = None,
        projects: pd.DataFrame | None = None,
        crs: object = "auto",
        name: str = "study area",
        attribution: tuple[str, ...] = (),
    ) -> Region:
        """Bundle validated layers into a region in one metric CRS.

        Parameters
        ----------
        deposits, agglomerations, corridors : GeoDataFrame
            Layers from the ``read_*`` functions (any CRS).
        boundary : GeoDataFrame, optional
            Study-area polygon(s), dissolved into one. Default: the convex hull of
            deposits and agglomerations, buffered by 10 km.
        facilities, neighbours, projects : optional
            Extra layers.
        crs : "auto" or CRS-like
            ``"auto"`` applies :func:`minespace.choose_metric_crs` to the boundary.
            A user CRS must be metric (projected, metres).

        Returns
        -------
        Region

        Raises
        ------
        CRSError
            If a given CRS is not metric or a layer has no CRS.

        Examples
        --------
        >>> import minespace as ms
        >>> k = ms.datasets.kuzbass()
        >>> r = ms.Region.from_layers(deposits=k.deposits, agglomerations=k.agglomerations,
        ...                           corridors=k.corridors)
        >>> r.crs.to_epsg()
        32645
        """
        layers = {"deposits": deposits, "agglomerations": agglomerations,
                  "corridors": corridors, "facilities": facilities, "neighbours": neighbours}
        for key, layer in layers.items():
            if layer is not None and layer.crs is None:
                raise CRSError(f"Region.from_layers: layer '{key}' has no CRS")
        if boundary is None:
            tmp_crs = choose_metric_crs(deposits)
            pts = pd.concat([deposits.geometry.to_crs(tmp_crs),
                             agglomerations.geometry.to_crs(tmp_crs)])
            hull = shapely.convex_hull(shapely.union_all(pts.values)).buffer(10_000)
            boundary = gpd.GeoDataFrame({"name": [name]}, geometry=[hull], crs=tmp_crs)
        elif len(boundary) != 1:
            geom = shapely.union_all(boundary.geometry.values)
            boundary = gpd.GeoDataFrame({"name": [name]}, geometry=[geom], crs=boundary.crs)
        if isinstance(crs, str) and crs == "auto":
            target = choose_metric_crs(boundary)
        else:
            target = pyproj.CRS.from_user_input(crs)
            if not is_metric(target):
                raise CRSError(f"Region.from_layers: crs={crs!r} is not a metric CRS; use "
                               "'auto' or a projected CRS in metres (e.g. a UTM zone)")
        moved = {k: (v.to_crs(target) if v is not None else None) for k, v in layers.items()}
        return cls(name=name, boundary=boundary.to_crs(target), projects=projects,
                   attribution=tuple(attribution), **moved)

    # -- properties ------------------------------------------------------------------
    @property
    def crs(self) -> pyproj.CRS:
        """The metric CRS of every layer."""
        return self.boundary.crs

    @property
    def area_km2(self) -> float:
        """Area of the boundary in km2 (in the region's CRS)."""
        return float(self.boundary.area.sum() / 1e6)

    @property
    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """All non-empty vector layers by role, boundary included."""
        out = {"boundary": self.boundary}
        out.update({k: getattr(self, k) for k in _LAYERS if getattr(self, k) is not None})
        return out

    def to_crs(self, crs: object) -> Region:
        """A new region with every layer reprojected to *crs*."""
        target = pyproj.CRS.from_user_input(crs)
        moved = {k: (getattr(self, k).to_crs(target) if getattr(self, k) is not None else None)
                 for k in _LAYERS}
        return replace(self, boundary=self.boundary.to_crs(target), **moved)

    # -- display ---------------------------------------------------------------------
    def _summary_rows(self) -> list[tuple[str, str]]:
        rows = []
        for key, layer in self.layers.items():
            if key == "boundary":
                continue
            detail = ""
            if key == "deposits" and "commodity" in layer:
                top = layer["commodity"].value_counts().head(4)
                detail = ", ".join(f"{k} {v}" for k, v in top.items())
            elif key == "agglomerations" and "population" in layer:
                detail = f"population {layer['population'].sum():,.0f}"
            elif key in ("corridors", "facilities") and "kind" in layer:
                detail = ", ".join(f"{k} {v}" for k, v in layer["kind"].value_counts().items())
            rows.append((key, f"{len(layer):,}", detail))
        return rows

    def __repr__(self) -> str:
        b = self.boundary.to_crs(4326).total_bounds
        lines = [f"Region {self.name!r}: {self.area_km2:,.0f} km2, CRS {self.crs.name}"
                 f" ({self.crs.to_string()})",
                 f"  extent lon {b[0]:.2f}..{b[2]:.2f}, lat {b[1]:.2f}..{b[3]:.2f}"]
        for key, n, detail in self._summary_rows():
            lines.append(f"  {key:<15}{n:>7}  {detail}")
        if self.projects is not None:
            lines.append(f"  {'projects':<15}{len(self.projects):>7}  (table)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        b = self.boundary.to_crs(4326).total_bounds
        rows = "".join(f"<tr><td>{esc(k)}</td><td style='text-align:right'>{esc(n)}</td>"
                       f"<td>{esc(d)}</td></tr>" for k, n, d in self._summary_rows())
        return (f"<div><b>Region {esc(self.name)}</b>: {self.area_km2:,.0f} km², "
                f"CRS {esc(self.crs.name)} ({esc(self.crs.to_string())}), extent lon "
                f"{b[0]:.2f}–{b[2]:.2f}, lat {b[1]:.2f}–{b[3]:.2f}"
                f"<table><tr><th>layer</th><th>features</th><th>content</th></tr>{rows}"
                "</table></div>")
