"""Knowledge access: Hansen potential towards universities, research and innovation sites.

Each institution weighs its kind's weight (:data:`DEFAULT_KIND_WEIGHTS`: a
university head campus counts more than a branch) times a size factor (its
``size`` relative to the median of its kind, when known), see
:func:`knowledge_mass`. :func:`knowledge_access` sums these masses over the
institutions, discounted by travel time (Hansen 1959), and counts the
institutions within a threshold; :func:`knowledge_links` lists them.

Costs are **minutes** throughout: a travel-time matrix from
:func:`minespace.accessibility.travel_time_matrix` given as ``cost=``, or, by
default, straight-line distance at ``fallback_speed_kmh`` (40 km/h), so ``beta``
is always per minute and ``threshold_min`` always in minutes.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from ._checks import layer_source, require_columns, require_geodataframe
from ._pairs import pairs_within
from .errors import LayerError, Problem
from .schema import normalise_category

__all__ = ["DEFAULT_KIND_WEIGHTS", "knowledge_access", "knowledge_links", "knowledge_mass"]

#: Institution kind -> weight in the knowledge mass. Head campuses of universities and
#: research institutes carry teaching, research and graduates (1.0); a technopark hosts
#: firms but does little research itself (0.75); education centres, incubators and
#: economic zones are support infrastructure (0.5); a branch campus teaches a subset of
#: its parent's programmes with little research (0.4). See docs/metrics.md.
DEFAULT_KIND_WEIGHTS: Mapping[str, float] = MappingProxyType({
    "university": 1.0,
    "research": 1.0,
    "technopark": 0.75,
    "education_centre": 0.5,
    "incubator": 0.5,
    "economic_zone": 0.5,
    "university_branch": 0.4,
})

Decay = Literal["exponential", "power"]


def _kind_weights(kind_weights: Mapping[str, float] | None, func: str) -> dict[str, float]:
    table = dict(DEFAULT_KIND_WEIGHTS)
    if kind_weights is None:
        return table
    if not isinstance(kind_weights, Mapping):
        raise TypeError(f"{func}: kind_weights must be a mapping kind -> weight, got "
                        f"{type(kind_weights).__name__}")
    bad = {}
    for key, value in kind_weights.items():
        try:
            v = float(value)
        except (TypeError, ValueError):
            v = np.nan
        if not (np.isfinite(v) and v >= 0) or isinstance(value, bool):
            bad[key] = value
        table[str(normalise_category(key))] = v
    if bad:
        raise ValueError(f"{func}: kind_weights must be finite numbers >= 0, got {bad}")
    return table


def knowledge_mass(institutions: pd.DataFrame, *,
                   kind_weights: Mapping[str, float] | None = None) -> pd.Series:
    """Mass of each institution: its kind's weight times its relative size.

    Parameters
    ----------
    institutions : DataFrame
        Institutions (:func:`minespace.read_institutions`) with a ``kind`` column
        and optionally ``size`` (float, NaN unknown) and ``size_unit``.
    kind_weights : mapping of str to float, optional
        Kind -> weight (>= 0); given keys replace or extend
        :data:`DEFAULT_KIND_WEIGHTS` (keys read like the data).

    Returns
    -------
    Series
        ``knowledge_mass`` indexed like *institutions*.

    Raises
    ------
    KeyError
        If ``kind`` is missing.
    LayerError
        For a kind without a weight (all listed, with their rows) or a negative size.
    ValueError
        For a negative or non-finite weight in *kind_weights*.

    Notes
    -----
    m<sub>j</sub> = w(kind<sub>j</sub>) · s<sub>j</sub>, with the size factor
    s<sub>j</sub> = size<sub>j</sub> / median{size<sub>k</sub> : kind<sub>k</sub> =
    kind<sub>j</sub>, unit<sub>k</sub> = unit<sub>j</sub>, size known}, and s = 1 when
    the size is unknown (or the median is 0). So the typical institution of a kind
    weighs its kind's weight whatever the unit its size is counted in; sizes in
    different units are never compared.

    Examples
    --------
    >>> import pandas as pd
    >>> from minespace.knowledge import knowledge_mass
    >>> inst = pd.DataFrame({"kind": ["university", "university", "university_branch"],
    ...                      "size": [20000, 10000, None],
    ...                      "size_unit": ["students", "students", None]},
    ...                     index=pd.Index(["I1", "I2", "I3"], name="institution_id"))
    >>> knowledge_mass(inst).round(3).tolist()    # median 15000 students
    [1.333, 0.667, 0.4]
    """
    func = "knowledge_mass"
    require_columns(institutions, ["kind"], "institutions")
    table = _kind_weights(kind_weights, func)
    kind = institutions["kind"].map(normalise_category)
    weight = kind.map(pd.Series(table, dtype=float))
    missing = weight.isna().to_numpy()
    problems = []
    source = layer_source(institutions, "<GeoDataFrame>")
    if missing.any():
        for value, rows in institutions.index[missing].to_series().groupby(
                kind[missing].fillna("<missing>").to_numpy(), sort=True):
            ids = ", ".join(map(str, rows.to_numpy()[:10])) + (" ..." if len(rows) > 10 else "")
            problems.append(Problem(
                source, f"id(s) {ids}", "kind", f"{func}: kind {value!r} has no weight",
                f"allowed kinds: {sorted(table)}; give it one with kind_weights="
                f'{{"{value}": 0.5}} ([innovation] kind_weights in minespace.toml)'))
    if "size" in institutions.columns:
        size = pd.to_numeric(institutions["size"], errors="coerce")
        neg = (size < 0).to_numpy()
        if neg.any():
            ids = ", ".join(map(str, institutions.index[neg][:10]))
            problems.append(Problem(source, f"id(s) {ids}", "size",
                                    f"{func}: negative size", "sizes must be >= 0 (or empty)"))
    if problems:
        raise LayerError(problems)
    factor = pd.Series(1.0, index=institutions.index)
    if "size" in institutions.columns:
        unit = (institutions["size_unit"].astype("object") if "size_unit" in institutions.columns
                else pd.Series(None, index=institutions.index, dtype="object"))
        keys = pd.DataFrame({"kind": kind, "unit": unit.where(unit.notna(), "")})
        median = size.groupby([keys["kind"], keys["unit"]], dropna=False).transform("median")
        ok = (size.notna() & (median > 0)).to_numpy()
        factor[ok] = (size[ok] / median[ok]).to_numpy(dtype=float)
    return (weight * factor).astype(float).rename("knowledge_mass")


def _straight_minutes(origins, institutions, speed_kmh: float, func: str) -> pd.DataFrame:
    from .accessibility._cost import dense_cost

    km = dense_cost(origins, institutions, None, func)
    return pd.DataFrame(km / speed_kmh * 60.0, index=origins.index.copy(),
                        columns=institutions.index.copy())


def _cost_minutes(origins, institutions, cost, fallback_speed_kmh, threshold_min,
                  func) -> pd.DataFrame:
    """Checked inputs and the origins × institutions cost (minutes), aligned by ids."""
    from .accessibility._common import check_layers
    from .accessibility._cost import aligned

    require_geodataframe(origins, "origins")
    require_geodataframe(institutions, "institutions")
    for name, value in (("threshold_min", threshold_min),
                        ("fallback_speed_kmh", fallback_speed_kmh)):
        if not (isinstance(value, (int, float, np.number)) and np.isfinite(value) and value > 0):
            raise ValueError(f"{func}: {name} must be a positive finite number, got {value!r}")
    if len(institutions) == 0:
        raise LayerError([Problem(
            layer_source(institutions, "<GeoDataFrame>"), None, None,
            f"{func}: the institutions layer is empty, so there is nothing to reach",
            "check the file (and its where= filter), or leave the knowledge component out "
            "(no [input.institutions])")])
    check_layers(func, origins=origins, institutions=institutions)
    if cost is None:
        return _straight_minutes(origins, institutions, fallback_speed_kmh, func)
    return aligned(cost, origins.index, institutions.index, func)


def knowledge_access(
    origins: gpd.GeoDataFrame,
    institutions: gpd.GeoDataFrame,
    *,
    beta: float = 0.05,
    decay: Decay = "exponential",
    cost: pd.DataFrame | None = None,
    kind_weights: Mapping[str, float] | None = None,
    threshold_min: float = 60.0,
    fallback_speed_kmh: float = 40.0,
) -> gpd.GeoDataFrame:
    """Hansen potential of each origin towards the institutions, and those within reach.

    Parameters
    ----------
    origins : GeoDataFrame
        Territories (from a point on their surface) or deposits, metric CRS.
    institutions : GeoDataFrame
        Institutions with ``kind`` (and optional ``size``, ``size_unit``), same CRS.
    beta : float
        Decay per minute (exponential; default 0.05, i.e. a weight of 1/e at 20
        min and 0.05 at 60 min) or the exponent of the power decay.
    decay : {"exponential", "power"}
        f(c) = exp(−βc) or max(c, 1)^(−β).
    cost : DataFrame, optional
        Origins × institutions travel times in **minutes** (index = origin ids,
        columns = institution ids), e.g.
        :func:`minespace.accessibility.travel_time_matrix`; NaN = no link. Default:
        straight-line distance at *fallback_speed_kmh*.
    kind_weights : mapping of str to float, optional
        See :func:`knowledge_mass`.
    threshold_min : float
        Institutions within this many minutes count in ``institutions_within``.
    fallback_speed_kmh : float
        Speed turning straight-line km into minutes without *cost* (default 40).

    Returns
    -------
    GeoDataFrame
        A copy of *origins* with ``knowledge_potential`` (mass units: one
        typical university at cost 0 adds 1) and ``institutions_within`` (int).

    Raises
    ------
    KeyError
        If ``kind`` is missing or *cost* lacks an origin or institution id.
    LayerError
        As :func:`knowledge_mass`.
    CRSError
        If the layers are not in one metric CRS.
    ValueError
        For a negative beta, an unknown decay, negative costs, or a non-positive
        threshold or speed.

    Notes
    -----
    A<sub>i</sub> = Σ<sub>j</sub> m<sub>j</sub> f(c<sub>ij</sub>) (Hansen 1959,
    *JAIP* 25(2):73–76) with m<sub>j</sub> from :func:`knowledge_mass`, computed by
    :func:`minespace.accessibility.hansen_potential`;
    n<sub>i</sub> = #{j : c<sub>ij</sub> <= threshold}. Straight-line cost:
    c<sub>ij</sub> = d<sub>ij</sub> [km] / v × 60.

    Examples
    --------
    >>> import geopandas as gpd, pandas as pd, shapely
    >>> from minespace.knowledge import knowledge_access
    >>> town = gpd.GeoDataFrame(index=pd.Index(["T1"], name="territory_id"),
    ...     geometry=shapely.points([0], [0]), crs=32645)
    >>> inst = gpd.GeoDataFrame({"kind": ["university", "technopark"]},
    ...     index=pd.Index(["I1", "I2"], name="institution_id"),
    ...     geometry=shapely.points([0, 40000], [0, 0]), crs=32645)
    >>> out = knowledge_access(town, inst, beta=0.05)   # I2: 40 km at 40 km/h = 60 min
    >>> round(float(out["knowledge_potential"].iloc[0]), 4)   # 1 + 0.75 exp(-3)
    1.0373
    >>> int(out["institutions_within"].iloc[0])
    2
    """
    from .accessibility import hansen_potential

    func = "knowledge_access"
    c = _cost_minutes(origins, institutions, cost, fallback_speed_kmh, threshold_min, func)
    mass = knowledge_mass(institutions, kind_weights=kind_weights)
    dest = gpd.GeoDataFrame({"knowledge_mass": mass.to_numpy()}, index=institutions.index,
                            geometry=institutions.geometry.to_numpy(), crs=institutions.crs)
    where = gpd.GeoDataFrame(index=origins.index, geometry=origins.geometry.to_numpy(),
                             crs=origins.crs)
    potential = hansen_potential(where, dest, beta=beta, mass="knowledge_mass", decay=decay,
                                 cost=c)["hansen_potential"]
    out = origins.copy()
    out["knowledge_potential"] = potential.to_numpy(dtype=float)
    out["institutions_within"] = (c.to_numpy(dtype=float) <= threshold_min).sum(axis=1
                                                                                 ).astype(np.int64)
    return out


def knowledge_links(origins: gpd.GeoDataFrame, institutions: gpd.GeoDataFrame,
                    cost: pd.DataFrame | None = None, *, threshold_min: float = 60.0,
                    fallback_speed_kmh: float = 40.0) -> pd.DataFrame:
    """Every (origin, institution) pair within the threshold.

    Parameters
    ----------
    origins, institutions, cost, threshold_min, fallback_speed_kmh
        As :func:`knowledge_access` (``cost=None``: straight line at
        *fallback_speed_kmh*).

    Returns
    -------
    DataFrame
        One row per pair, ordered by origin (row order), then time, then
        institution (row order): ``territory_id`` (the origin's id),
        ``institution_id``, ``institution_name`` (NaN without a ``name`` column),
        ``kind`` and ``time_min``.

    Raises
    ------
    KeyError, CRSError, ValueError
        As :func:`knowledge_access`.

    Notes
    -----
    Pairs (i, j) with c<sub>ij</sub> <= threshold, the same pairs counted by
    ``institutions_within``.

    Examples
    --------
    >>> import geopandas as gpd, pandas as pd, shapely
    >>> from minespace.knowledge import knowledge_links
    >>> town = gpd.GeoDataFrame(index=pd.Index(["T1"], name="territory_id"),
    ...     geometry=shapely.points([0], [0]), crs=32645)
    >>> inst = gpd.GeoDataFrame({"name": ["Uni", "Park"], "kind": ["university", "technopark"]},
    ...     index=pd.Index(["I1", "I2"], name="institution_id"),
    ...     geometry=shapely.points([0, 50000], [0, 0]), crs=32645)
    >>> knowledge_links(town, inst)         # I2 is 75 min away
      territory_id institution_id institution_name        kind  time_min
    0           T1             I1              Uni  university       0.0
    """
    func = "knowledge_links"
    c = _cost_minutes(origins, institutions, cost, fallback_speed_kmh, threshold_min, func)
    require_columns(institutions, ["kind"], "institutions")
    return pairs_within(c.to_numpy(dtype=float), threshold_min, origins.index, institutions,
                        origin_id="territory_id", destination_id="institution_id",
                        name="institution_name", extra="kind")
