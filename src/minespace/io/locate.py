"""Placing investment projects: by coordinates, else deposit id, else town name."""

from __future__ import annotations

import re
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._checks import SOURCE_ATTR
from ..errors import ProjectsUnplacedWarning
from .readers_extra import ROWS_ATTR

__all__ = ["LOCATIONS", "locate_projects", "unplaced_summary"]

#: Values of ``location`` set by :func:`locate_projects`, in the order tried.
LOCATIONS = ("coordinates", "deposit", "town", "unplaced")
#: Rows quoted in a warning.
_MAX_ROWS = 10

_JOINED_TOWNS = re.compile(r"\s+[–—]\s+")


def _town_keys(names: pd.Series) -> pd.Series:
    """Case-, space- and punctuation-insensitive keys of town names (NaN stays NaN)."""
    keys = names.astype(object).where(names.notna()).astype("string").str.casefold()
    keys = keys.str.replace(r"[\W_]+", "", regex=True)
    return keys.where(keys.notna() & (keys != ""), None).astype(object)


def _gazetteer(layer: gpd.GeoDataFrame | None, crs) -> pd.DataFrame:
    """Rows ``key, id, point`` (representative point in *crs*), one per town name; a
    name joining several towns with a dash ("Prokopyevsk – Kiselyovsk") answers to
    each of them. The first row of a key wins."""
    empty = pd.DataFrame({"key": [], "id": [], "point": []})
    if layer is None or not len(layer) or "name" not in layer:
        return empty
    table = pd.DataFrame({"name": layer["name"].to_numpy(), "id": layer.index.to_numpy(),
                          "point": layer.geometry.to_crs(crs).representative_point().to_numpy()})
    parts = table["name"].astype("string").str.split(_JOINED_TOWNS)
    table = table.assign(part=parts).explode("part")
    both = pd.concat([table.drop_duplicates("id").assign(key=lambda t: _town_keys(t["name"])),
                      table.assign(key=lambda t: _town_keys(t["part"]))])
    both = both[both["key"].notna()].drop_duplicates("key")
    return both[["key", "id", "point"]]


def locate_projects(
    projects: pd.DataFrame,
    *,
    deposits: gpd.GeoDataFrame | None = None,
    agglomerations: gpd.GeoDataFrame | None = None,
    towns: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Place projects by coordinates, else deposit id, else town name.

    Parameters
    ----------
    projects : GeoDataFrame or DataFrame
        From :func:`read_projects`, or a plain table with ``deposit_id`` and/or
        ``town`` columns. Not modified.
    deposits : GeoDataFrame, optional
        A project naming one of its ids (``deposit_id``) is placed on that deposit.
    agglomerations, towns : GeoDataFrame, optional
        A project naming a town (``town``) is placed on the representative point of
        the agglomeration, else the gazetteer entry (*towns*, with a ``name``), whose
        ``name`` matches, ignoring case, spaces and punctuation (an agglomeration
        named "Prokopyevsk – Kiselyovsk" answers to either town).

    Returns
    -------
    GeoDataFrame
        A copy with point geometry in the CRS of *deposits* (else *agglomerations*,
        *towns*, the projects' own, EPSG:4326), ``location`` (``"coordinates"``,
        ``"deposit"``, ``"town"`` or ``"unplaced"``: the first that works) and
        ``location_note`` (where it was placed, or why not: ``deposit id 'X' not in
        the deposits``, ``town 'Y' not found``, ``no location given``). Unplaced
        projects are kept, with no geometry. ``attrs["unplaced"]`` is always
        ``{"count": n, "investment": total, "currency": c, "unit": u}``.

    Warns
    -----
    ProjectsUnplacedWarning
        Once per call when a deposit id or a town was given but not found, naming
        the file, the rows and the values.

    Examples
    --------
    >>> import minespace as ms
    >>> region = ms.datasets.kuzbass()
    >>> located = ms.locate_projects(region.projects, deposits=region.deposits,
    ...                              agglomerations=region.agglomerations)
    >>> located["location"].value_counts().to_dict()
    {'unplaced': 10, 'deposit': 1, 'town': 1}
    >>> located.attrs["unplaced"]["investment"], located.attrs["unplaced"]["unit"]
    (152.0, 'billion')
    """
    crs = next((layer.crs for layer in (deposits, agglomerations, towns)
                if layer is not None and layer.crs is not None), None)
    is_geo = isinstance(projects, gpd.GeoDataFrame)
    if crs is None:
        crs = projects.crs if is_geo and projects.crs is not None else "EPSG:4326"
    n = len(projects)
    if is_geo and projects.crs is not None:
        own = np.asarray(projects.geometry.to_crs(crs).values, dtype=object)
    else:
        own = np.full(n, None, dtype=object)
    if "location" in projects:  # placed before: only coordinates of the data count
        own = np.where(projects["location"].to_numpy() == "coordinates", own, None)
    has_point = ~(shapely.is_missing(own) | shapely.is_empty(own))
    geometry = own.copy()
    location = np.where(has_point, "coordinates", None).astype(object)
    note = np.where(has_point, "coordinates", None).astype(object)
    why: list[list[str]] = [[] for _ in range(n)]
    bad: list[tuple[int, str]] = []

    dep_ids = _column(projects, "deposit_id")
    given_dep = pd.notna(dep_ids)
    if deposits is not None and len(deposits):
        dep_geom = deposits.geometry.to_crs(crs)
        found = given_dep & (pd.Index(deposits.index.astype(str)).get_indexer(
            pd.Series(dep_ids).astype(str)) >= 0)
        take = found & (location == None)  # noqa: E711 (elementwise)
        pos = pd.Index(deposits.index.astype(str)).get_indexer(
            pd.Series(dep_ids[take]).astype(str))
        geometry[take] = dep_geom.to_numpy()[pos]
        location[take] = "deposit"
        note[take] = ("at deposit '" + pd.Series(dep_ids[take], dtype=object).astype(str)
                      + "'").to_numpy()
    else:
        found = np.zeros(n, dtype=bool)
    for p in np.flatnonzero(given_dep & ~found):
        why[p].append(f"deposit id {dep_ids[p]!r} not in the deposits")
        bad.append((p, f"deposit id {dep_ids[p]!r}"))

    town_names = _column(projects, "town")
    given_town = pd.notna(town_names)
    places = pd.concat([_gazetteer(agglomerations, crs), _gazetteer(towns, crs)])
    places = places.drop_duplicates("key").set_index("key")
    keys = _town_keys(pd.Series(town_names))
    hit = keys.isin(places.index).to_numpy()
    take = hit & (location == None)  # noqa: E711
    match = places.reindex(keys[take])
    geometry[take] = match["point"].to_numpy()
    location[take] = "town"
    note[take] = ("town '" + pd.Series(town_names[take], dtype=object).astype(str) + "' -> "
                  + match["id"].astype(str).to_numpy()).to_numpy()
    for p in np.flatnonzero(given_town & ~hit):
        why[p].append(f"town {town_names[p]!r} not found")
        bad.append((p, f"town {town_names[p]!r}"))

    unplaced = location == None  # noqa: E711
    for p in np.flatnonzero(unplaced):
        note[p] = "; ".join(why[p]) or "no location given"
        geometry[p] = None
    location[unplaced] = "unplaced"
    out = gpd.GeoDataFrame(pd.DataFrame(projects).drop(
        columns=[c for c in ("geometry", "location", "location_note") if c in projects]),
        geometry=gpd.GeoSeries(geometry, index=projects.index, crs=crs), crs=crs)
    out["location"] = location
    out["location_note"] = note
    out = out[[c for c in out.columns if c != "geometry"] + ["geometry"]]
    out.attrs = dict(projects.attrs)
    out.attrs["unplaced"] = unplaced_summary(out, unplaced)
    if bad:
        _warn_unplaced(out, bad)
    return out


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """Text values of *name* (NaN where empty or absent) as an object array."""
    if name not in frame:
        return np.full(len(frame), np.nan, dtype=object)
    values = frame[name].astype(object)
    text = values.where(values.isna(), values.astype(str).str.strip())
    return text.where(text.notna() & (text != ""), np.nan).to_numpy(dtype=object)


def unplaced_summary(out: pd.DataFrame, unplaced: np.ndarray) -> dict:
    """``{"count", "investment", "currency", "unit"}`` of the *unplaced* rows of *out*."""
    def one(col: str, default):
        if col not in out:
            return default
        values = sorted({str(v) for v in out[col].dropna()})
        return ", ".join(values) if values else default

    total = (float(pd.to_numeric(out.loc[unplaced, "investment"], errors="coerce").sum())
             if "investment" in out else 0.0)
    return {"count": int(unplaced.sum()), "investment": total,
            "currency": one("currency", None), "unit": one("investment_unit", "")}


def _warn_unplaced(out: pd.DataFrame, bad: list[tuple[int, str]]) -> None:
    source = out.attrs.get(SOURCE_ATTR, "projects layer")
    rows = out.attrs.get(ROWS_ATTR, {})
    listed = []
    for p, value in bad[:_MAX_ROWS]:
        ident = out.index[p]
        where = rows.get(ident)
        listed.append(f"{where + ' ' if where else ''}(id {ident!r}): {value}")
    more = f" and {len(bad) - _MAX_ROWS} more" if len(bad) > _MAX_ROWS else ""
    summary = out.attrs["unplaced"]
    warnings.warn(
        f"{source}: {len(bad)} project location(s) not found: {'; '.join(listed)}{more}. "
        f"{summary['count']} project(s) are unplaced (kept without a point, reported in "
        "attrs['unplaced']) -> correct the deposit id or town name (towns are matched "
        "ignoring case, spaces and punctuation against the agglomerations' names), or give "
        "the project coordinates (lon, lat)", ProjectsUnplacedWarning, stacklevel=3)

