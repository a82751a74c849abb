"""The :class:`Region`: the layers of one study area in one metric CRS."""

from __future__ import annotations

import html
import logging
import warnings
from dataclasses import dataclass, field, replace

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from ._checks import SOURCE_ATTR, coordinate_problems, require_usable_coordinates
from .crs import check_distortion, choose_metric_crs, is_metric, layer_lonlat_bounds
from .errors import CRSError, FeaturesDroppedWarning, LayerError, Problem

__all__ = ["Region"]

logger = logging.getLogger(__name__)

_LAYERS = ("deposits", "agglomerations", "corridors", "facilities", "institutions",
           "neighbours", "projects")
#: Layers whose features must lie in the study area (others are dropped, with a warning).
_INSIDE = ("deposits", "agglomerations", "facilities", "institutions")
#: Agglomerations outside the boundary but within this distance of it (km) stay, as
#: destinations across the border: one hour at 100 km/h, the fastest default speed
#: (``schema.DEFAULT_SPEEDS_KMH``) and the default cluster travel-time threshold.
AGGLOMERATION_REACH_KM = 100.0
#: Layers compared with each other and the boundary to catch swapped longitude/latitude.
_SWAP_CHECKED = ("deposits", "agglomerations", "corridors", "facilities", "institutions")
#: Ids quoted in a warning about dropped features.
_MAX_IDS = 20


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
        Processing facilities (with their ``value_chain`` input), optional.
    neighbours : GeoDataFrame or None
        Surrounding regions, drawn on maps for context only.
    projects : GeoDataFrame or None
        Investment projects placed by :func:`minespace.locate_projects` (columns
        ``location``, ``location_note``; :meth:`from_layers` places them); unplaced
        projects are kept with an empty geometry and summarised in
        ``projects.attrs["unplaced"]``. A plain table given to ``Region(...)`` directly
        is kept as it is (the maps place it by its ``deposit_id``).
    attribution : tuple of str
        Data credits, shown on every map.
    institutions : GeoDataFrame or None
        Knowledge and innovation institutions (:func:`minespace.read_institutions`).
    """

    name: str
    boundary: gpd.GeoDataFrame
    deposits: gpd.GeoDataFrame
    agglomerations: gpd.GeoDataFrame
    corridors: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame | None = None
    neighbours: gpd.GeoDataFrame | None = None
    projects: gpd.GeoDataFrame | None = None
    attribution: tuple[str, ...] = field(default=())
    institutions: gpd.GeoDataFrame | None = None

    def __post_init__(self) -> None:
        crs = self.boundary.crs
        if crs is None:
            raise CRSError("Region: the boundary has no CRS")
        if (isinstance(self.projects, gpd.GeoDataFrame) and "location" in self.projects
                and "unplaced" not in self.projects.attrs):
            # located before, read back from a file (attrs are not written): summarise again
            from .io.locate import unplaced_summary

            projects = self.projects.copy()
            projects.attrs["unplaced"] = unplaced_summary(
                projects, (projects["location"] == "unplaced").to_numpy())
            object.__setattr__(self, "projects", projects)
        for name in _LAYERS:
            layer = getattr(self, name)
            if isinstance(layer, gpd.GeoDataFrame) and layer.crs != crs:
                raise CRSError(
                    f"Region: layer '{name}' is in {layer.crs.to_string() if layer.crs else None}"
                    f" but the boundary is in {crs.to_string()}; build the region with "
                    "Region.from_layers(...), which reprojects every layer to one CRS")
        for name, layer in self.layers.items():
            require_usable_coordinates(layer, "Region", name)
        if crs.is_projected:
            check_distortion(crs, self.boundary, func="Region", warn=False)

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
        institutions: gpd.GeoDataFrame | None = None,
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
        facilities, neighbours, institutions : GeoDataFrame, optional
            Extra layers, reprojected like the others (facilities and institutions
            outside the boundary are dropped, as deposits are).
        projects : GeoDataFrame or DataFrame, optional
            From :func:`minespace.read_projects`, or a plain table with
            ``deposit_id`` and/or ``town`` columns: placed with
            :func:`minespace.locate_projects` on the region's deposits and
            agglomerations (unplaced projects are kept, with a warning when a
            deposit id or town is not found).
        crs : "auto" or CRS-like
            ``"auto"`` applies :func:`minespace.choose_metric_crs` to the boundary.
            A user CRS must be metric (projected, metres) and must not distort the
            study area beyond the limits of :func:`minespace.check_distortion`
            (refused above 5 % for distances or 10 % for areas, e.g. EPSG:3857 at
            54 N; warned about above 1 % / 2 %).

        Returns
        -------
        Region

        Raises
        ------
        CRSError
            If a given CRS is not metric, distorts the study area too much, or a
            layer has no CRS.
        LayerError
            If a layer has non-finite coordinates or coordinates outside its CRS's
            domain (e.g. 1e12 m), if a whole layer (or the boundary) lies away from
            the others but would fall on them with longitude and latitude swapped,
            or if no deposit lies inside the boundary.

        Warns
        -----
        FeaturesDroppedWarning
            Deposits, facilities and institutions outside the boundary, and
            agglomerations more than ``AGGLOMERATION_REACH_KM`` (100 km) outside it,
            are dropped, with one warning per layer giving the count and the ids.
            Nearer agglomerations stay as destinations (logged at INFO level).
        ProjectsUnplacedWarning
            A project names a deposit id or town that is not in the region's layers
            (:func:`minespace.locate_projects`); it is kept, unplaced.

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
                  "corridors": corridors, "facilities": facilities,
                  "institutions": institutions, "neighbours": neighbours}
        for key, layer in layers.items():
            if layer is not None and layer.crs is None:
                raise CRSError(f"Region.from_layers: layer '{key}' has no CRS")
        if boundary is not None and boundary.crs is None:
            raise CRSError("Region.from_layers: the boundary has no CRS")
        placed = projects if isinstance(projects, gpd.GeoDataFrame) else None
        if placed is not None and placed.crs is None:
            raise CRSError("Region.from_layers: layer 'projects' has no CRS")
        _check_coordinates({"boundary": boundary, **layers, "projects": placed})
        _check_swapped(layers, boundary)
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
        check_distortion(target, boundary, func=f"Region.from_layers(crs={crs!r})")
        layers.update(_drop_outside(layers, boundary, target))
        moved = {k: (v.to_crs(target) if v is not None else None) for k, v in layers.items()}
        if projects is not None:
            from .io.locate import locate_projects

            projects = locate_projects(projects, deposits=moved["deposits"],
                                       agglomerations=moved["agglomerations"])
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
        out.update({k: getattr(self, k) for k in _LAYERS
                    if isinstance(getattr(self, k), gpd.GeoDataFrame)})
        return out

    def to_crs(self, crs: object) -> Region:
        """A new region with every layer reprojected to *crs*.

        A projected *crs* that distorts the study area is warned about or refused
        as in :meth:`from_layers` (:func:`minespace.check_distortion`).
        """
        target = pyproj.CRS.from_user_input(crs)
        if target.is_projected:
            check_distortion(target, self.boundary, func=f"Region.to_crs({crs!r})")
        moved = {k: (v.to_crs(target) if isinstance(v, gpd.GeoDataFrame) else v)
                 for k, v in ((k, getattr(self, k)) for k in _LAYERS)}
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
            elif key in ("corridors", "facilities", "institutions") and "kind" in layer:
                counts = layer["kind"].value_counts()
                detail = ", ".join(f"{k} {v}" for k, v in counts.head(6).items())
                if len(counts) > 6:
                    detail += f", +{int(counts.iloc[6:].sum())} more"
            elif key == "projects" and "location" in layer:
                detail = ", ".join(f"{k} {v}" for k, v in
                                   layer["location"].value_counts().items())
            rows.append((key, f"{len(layer):,}", detail))
        return rows

    def __repr__(self) -> str:
        b = self.boundary.to_crs(4326).total_bounds
        lines = [f"Region {self.name!r}: {self.area_km2:,.0f} km2, CRS {self.crs.name}"
                 f" ({self.crs.to_string()})",
                 f"  extent lon {b[0]:.2f}..{b[2]:.2f}, lat {b[1]:.2f}..{b[3]:.2f}"]
        for key, n, detail in self._summary_rows():
            lines.append(f"  {key:<15}{n:>7}  {detail}")
        if self.projects is not None and "projects" not in self.layers:
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


# -- checks of the layers given to from_layers ---------------------------------------------

def _source(layer: gpd.GeoDataFrame, role: str) -> str:
    return str(layer.attrs.get(SOURCE_ATTR, f"{role} layer"))


def _check_coordinates(layers: dict) -> None:
    """Refuse non-finite coordinates and coordinates outside each layer's CRS domain."""
    problems: list[Problem] = []
    for role, layer in layers.items():
        if layer is not None:
            problems += coordinate_problems(layer.geometry.values, layer.crs,
                                            source=_source(layer, role), ids=layer.index)
    if problems:
        raise LayerError(problems)


def _intersects(a, b) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _swap(b):
    return (b[1], b[0], b[3], b[2])


def _fmt(b) -> str:
    return f"lon {b[0]:.2f}..{b[2]:.2f}, lat {b[1]:.2f}..{b[3]:.2f}"


def _check_swapped(layers: dict, boundary: gpd.GeoDataFrame | None) -> None:
    """A layer whose lon/lat box misses the boundary's (or, without a boundary, every
    other layer's) but meets it once longitude and latitude are swapped."""
    boxes = {role: layer_lonlat_bounds(layers[role].geometry) for role in _SWAP_CHECKED
             if layers.get(role) is not None and len(layers[role])}
    boxes = {k: v for k, v in boxes.items() if v is not None}
    ref = layer_lonlat_bounds(boundary.geometry) if boundary is not None else None
    problems = []

    def report(role, source, box, other, other_name):
        problems.append(Problem(
            source, None, "geometry",
            f"longitude and latitude appear swapped: the {role} lie at {_fmt(box)}, away "
            f"from {other_name} ({_fmt(other)}), and would fall on it once swapped",
            "set lon=/lat= or fix the columns (x = longitude, y = latitude)"))

    for role, box in boxes.items():
        source = _source(layers[role], role)
        if ref is not None:
            if not _intersects(box, ref) and _intersects(_swap(box), ref):
                report(role, source, box, ref, "the boundary")
            continue
        others = {k: v for k, v in boxes.items() if k != role}
        hits = [k for k, v in others.items() if _intersects(_swap(box), v)]
        if others and hits and not any(_intersects(box, v) for v in others.values()):
            report(role, source, box, others[hits[0]], f"the {hits[0]}")
    if ref is not None and boxes and len(problems) == len(boxes):
        # every layer disagrees with the boundary: the boundary is the swapped one
        union = (min(b[0] for b in boxes.values()), min(b[1] for b in boxes.values()),
                 max(b[2] for b in boxes.values()), max(b[3] for b in boxes.values()))
        if _intersects(_swap(ref), union):
            problems = []
            report("boundary", _source(boundary, "boundary"), ref, union, "the layers")
    if problems:
        raise LayerError(problems)


def _drop_outside(layers: dict, boundary: gpd.GeoDataFrame, metric: pyproj.CRS) -> dict:
    """Deposits and facilities not touching the boundary, and agglomerations farther
    than ``AGGLOMERATION_REACH_KM`` from it, dropped with one
    :class:`FeaturesDroppedWarning` per layer (count and ids); a layer of deposits
    entirely outside raises :class:`LayerError`. Inside is tested in the boundary's
    own CRS (where its edges are the lines the user drew), distances in *metric*."""
    area = shapely.union_all(boundary.geometry.values)
    shapely.prepare(area)
    out = {}
    for role in _INSIDE:
        layer = layers.get(role)
        if layer is None or not len(layer):
            continue
        geoms = np.asarray(layer.geometry.to_crs(boundary.crs).values)
        keep = shapely.intersects(area, geoms)
        source = _source(layer, role)
        if role == "deposits" and not keep.any():
            raise LayerError([Problem(
                source, None, "geometry",
                f"none of the {len(layer)} deposits lies inside the boundary "
                f"({_source(boundary, 'boundary')})",
                "check that the deposits and the boundary cover the same area (and their "
                "CRS), or give no boundary to use the deposits' convex hull")])
        what = "outside the boundary"
        if role == "agglomerations" and not keep.all():
            near = gpd.GeoSeries([area], crs=boundary.crs).to_crs(metric).iloc[0]
            dist_km = shapely.distance(near, np.asarray(
                layer.geometry[~keep].to_crs(metric).values)) / 1000.0
            kept = np.flatnonzero(~keep)[dist_km <= AGGLOMERATION_REACH_KM]
            if kept.size:
                logger.info("%s: kept %d agglomeration(s) outside the boundary, within %g km "
                            "of it, as destinations (ids %s)", source, kept.size,
                            AGGLOMERATION_REACH_KM, ", ".join(map(str, layer.index[kept])))
            keep[kept] = True
            what = f"more than {AGGLOMERATION_REACH_KM:g} km outside the boundary"
        n_out = int((~keep).sum())
        if not n_out:
            continue
        ids = [str(i) for i in layer.index[~keep][:_MAX_IDS]]
        more = f" and {n_out - _MAX_IDS} more" if n_out > _MAX_IDS else ""
        warnings.warn(f"{source}: dropped {n_out} of {len(layer)} {role} {what} "
                      f"(ids {', '.join(ids)}{more}); they are not part of the study area",
                      FeaturesDroppedWarning, stacklevel=3)
        out[role] = layer[keep]
    return out
