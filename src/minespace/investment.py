"""Investment projects summed per territory.

Projects (:func:`minespace.read_projects`, placed by
:func:`minespace.locate_projects`) carry an investment in one currency and unit,
jobs and a point (None when they could not be placed). :func:`investment_totals`
assigns the placed ones to the territory containing them, with the rule of
:func:`minespace.territories.assign_deposits` (a point on a shared border goes to
exactly one territory), and sums them. Unplaced projects are left out here; they
are reported where they are located (``projects.attrs["unplaced"]``).
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._checks import require_columns, require_geodataframe, require_same_crs
from .errors import FeaturesDroppedWarning

__all__ = ["investment_totals"]

_FUNC = "investment_totals"


def _unit_label(unit: object, currency: object) -> str:
    unit = "" if unit is None or (isinstance(unit, float) and np.isnan(unit)) else str(unit)
    return f"{unit} {currency}".strip()


def _one_currency(projects: pd.DataFrame, rows: np.ndarray) -> str | None:
    """The single "unit currency" of the projects *rows* counted; ValueError if mixed."""
    if not rows.any():
        return None
    cur = projects["currency"].to_numpy(dtype=object)[rows]
    unit = projects["investment_unit"].to_numpy(dtype=object)[rows]
    labels = pd.Series([_unit_label(u, c) for u, c in zip(unit, cur, strict=True)],
                       index=projects.index[rows])
    if pd.isna(cur).any():
        ids = ", ".join(map(str, labels.index[pd.isna(cur)][:10]))
        raise ValueError(f"{_FUNC}: project(s) {ids} have an investment but no currency; "
                         "give currency= to read_projects")
    if labels.nunique() > 1:
        listed = "; ".join(f"{label}: {', '.join(map(str, ids.index[:10]))}"
                           for label, ids in labels.groupby(labels, sort=True))
        raise ValueError(f"{_FUNC}: the projects' investments are in different currencies or "
                         f"units ({listed}); convert them to one (e.g. billion RUB) before "
                         "summing")
    return str(labels.iloc[0])


def investment_totals(territories: gpd.GeoDataFrame,
                      projects: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Number of projects, investment and jobs of the placed projects in each territory.

    Parameters
    ----------
    territories : GeoDataFrame
        Territories (polygons) indexed by ``territory_id``, metric CRS.
    projects : GeoDataFrame
        Located projects (:func:`minespace.locate_projects`) with point geometry, or
        None / empty for unplaced rows, and columns ``investment``, ``currency``,
        ``investment_unit`` and ``jobs``; same CRS.

    Returns
    -------
    GeoDataFrame
        A copy of *territories* with ``projects`` (int), ``investment`` (float, sum
        of the known investments, 0 without any) and ``project_jobs`` (float, same
        rule); ``attrs["investment_unit"]`` is the unit of ``investment``, e.g.
        ``"billion RUB"`` (None when no placed project has an investment).

    Raises
    ------
    TypeError
        If *projects* is not a GeoDataFrame (a plain table: place it first with
        :func:`minespace.locate_projects`).
    KeyError
        For a missing column.
    CRSError
        If the layers are in different or non-metric CRS.
    ValueError
        If the counted projects' investments are in several currencies or units
        (each listed with its projects), or for a negative investment or jobs.

    Warns
    -----
    FeaturesDroppedWarning
        Once, naming placed projects that lie outside every territory.

    Notes
    -----
    P<sub>k</sub> = #{p placed in k}, I<sub>k</sub> = Σ<sub>p in k</sub> investment<sub>p</sub>,
    J<sub>k</sub> = Σ<sub>p in k</sub> jobs<sub>p</sub>, NaN terms skipped. Unplaced
    projects (no geometry) are not counted and not checked for currency.

    Examples
    --------
    >>> import geopandas as gpd, pandas as pd, shapely
    >>> from minespace.investment import investment_totals
    >>> terr = gpd.GeoDataFrame(index=pd.Index(["T1", "T2"], name="territory_id"),
    ...     geometry=[shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)], crs=32645)
    >>> proj = gpd.GeoDataFrame(
    ...     {"investment": [2.5, 75.0, 9.0], "currency": "RUB", "investment_unit": "billion",
    ...      "jobs": [300.0, None, 50.0]},
    ...     index=pd.Index(["P1", "P2", "P3"], name="project_id"),
    ...     geometry=[shapely.Point(5, 5), shapely.Point(6, 5), None], crs=32645)
    >>> out = investment_totals(terr, proj)      # P3 is unplaced
    >>> out[["projects", "investment", "project_jobs"]]
                  projects  investment  project_jobs
    territory_id
    T1                   2        77.5         300.0
    T2                   0         0.0           0.0
    >>> out.attrs["investment_unit"]
    'billion RUB'
    """
    from .accessibility._common import check_layers
    from .territories import assign_deposits

    require_geodataframe(territories, "territories")
    if not isinstance(projects, gpd.GeoDataFrame):
        raise TypeError(f"{_FUNC}: projects must be a GeoDataFrame of located projects, got "
                        f"{type(projects).__name__}; place them first with "
                        "ms.locate_projects(projects, deposits=..., agglomerations=...)")
    require_columns(projects, ["investment", "currency", "investment_unit", "jobs"], "projects")
    check_layers(_FUNC, territories=territories)
    require_same_crs(_FUNC, territories=territories, projects=projects)
    numbers = {}
    for col in ("investment", "jobs"):
        values = pd.to_numeric(projects[col], errors="coerce")
        bad = (values < 0) | (values.isna() & projects[col].notna())
        if bad.any():
            ids = ", ".join(map(str, projects.index[bad.to_numpy()][:10]))
            raise ValueError(f"{_FUNC}: column '{col}' has negative or non-numeric values for "
                             f"project(s) {ids}; fix them (or leave them empty)")
        numbers[col] = values.to_numpy(dtype=float)
    geoms = np.asarray(projects.geometry.array)
    placed = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    unit = _one_currency(projects, placed & ~np.isnan(numbers["investment"]))
    pos = np.full(len(projects), -1, dtype=np.int64)
    if placed.any():
        located = gpd.GeoDataFrame(index=projects.index[placed], geometry=geoms[placed],
                                   crs=projects.crs)
        with warnings.catch_warnings():   # its message speaks of deposits; ours below
            warnings.simplefilter("ignore", FeaturesDroppedWarning)
            tid = assign_deposits(territories, located)["territory_id"]
        pos[placed] = tid.cat.codes.to_numpy(dtype=np.int64)
    outside = placed & (pos < 0)
    if outside.any():
        ids = ", ".join(map(str, projects.index[outside][:10]))
        warnings.warn(f"{_FUNC}: {int(outside.sum())} placed project(s) lie outside every "
                      f"territory and are not counted: {ids}", FeaturesDroppedWarning,
                      stacklevel=2)
    ids = territories.index
    codes = pd.Index(ids.unique()).get_indexer(ids) if not ids.is_unique else np.arange(len(ids))
    n_unique = int(codes.max()) + 1 if len(ids) else 0
    ok = pos >= 0
    counts = np.bincount(pos[ok], minlength=n_unique)
    inv = np.bincount(pos[ok], weights=np.nan_to_num(numbers["investment"][ok]),
                      minlength=n_unique)
    jobs = np.bincount(pos[ok], weights=np.nan_to_num(numbers["jobs"][ok]), minlength=n_unique)
    out = territories.copy()
    out["projects"] = counts[codes].astype(np.int64)
    out["investment"] = inv[codes].astype(float)
    out["project_jobs"] = jobs[codes].astype(float)
    out.attrs["investment_unit"] = unit
    return out
