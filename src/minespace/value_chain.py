"""Value-chain access: from each deposit to the nearest plant that takes its commodity.

A deposit *feeds* a processing plant when the plant's ``value_chain`` (its main
input or inputs, ``;``-joined tokens such as ``"coking_coal;iron_ore"``, see
:func:`minespace.read_facilities`) contains an input the deposit's commodity
supplies. Which inputs a commodity supplies is the table :data:`DEFAULT_MATCHES`
(a commodity always feeds the input with its own name), extended or overridden
with ``matches=``.

Times are network travel times over the corridors
(:func:`minespace.accessibility.travel_time_matrix`) or, without corridors,
straight-line distance at ``fallback_speed_kmh``. Matching is one boolean
deposits × plants mask built from the commodity × input table (no loop over
rows); the nearest plant is a masked minimum over the time matrix.

- :func:`value_chain_access`: per deposit, the nearest matching plant and its time;
- :func:`value_chain_links`: every matching (deposit, plant) pair within the threshold;
- :func:`value_chain_summary`: per territory, the deposits within the threshold and
  their share.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

import geopandas as gpd
import numpy as np
import pandas as pd

from ._checks import layer_source, require_columns, require_geodataframe
from ._pairs import pairs_within
from .errors import LayerError, MinespaceWarning, Problem
from .schema import normalise_category

__all__ = ["DEFAULT_MATCHES", "value_chain_access", "value_chain_links",
           "value_chain_summary"]

_COAL_INPUTS = ("coking_coal", "thermal_coal", "coal_chemicals")

#: Deposit commodity -> plant inputs (``value_chain`` tokens) it feeds. A commodity
#: also always feeds the input spelled like itself (``iron_ore`` -> ``iron_ore``).
#: Coal of unknown or mixed grade can go to coke ovens or power plants; lignite
#: only burns; every coal can feed coal chemistry. Override or extend with
#: ``matches={"commodity": ["input", ...]}`` (a key given replaces its default).
DEFAULT_MATCHES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "coking_coal": ("coking_coal", "coal_chemicals"),
    "thermal_coal": ("thermal_coal", "coal_chemicals"),
    "thermal_coking_coal": _COAL_INPUTS,
    "coal": _COAL_INPUTS,
    "coal_unknown_grade": _COAL_INPUTS,
    "hard_coal": _COAL_INPUTS,
    "lignite": ("thermal_coal", "coal_chemicals"),
    "brown_coal": ("thermal_coal", "coal_chemicals"),
})

_FUNC = "value_chain_access"


# --------------------------------------------------------------------------- inputs
def _match_table(matches: Mapping[str, Iterable[str]] | None, func: str
                 ) -> dict[str, frozenset[str]]:
    """Defaults updated with *matches* (keys and values normalised like the data)."""
    table = {k: frozenset(v) for k, v in DEFAULT_MATCHES.items()}
    if matches is None:
        return table
    if not isinstance(matches, Mapping):
        raise TypeError(f"{func}: matches must be a mapping commodity -> list of plant inputs, "
                        f"got {type(matches).__name__}")
    for key, inputs in matches.items():
        if isinstance(inputs, str) or not isinstance(inputs, Iterable):
            raise TypeError(f"{func}: matches[{key!r}] must be a list of plant inputs, e.g. "
                            f'{{"{key}": ["{inputs}"]}}, got {inputs!r}')
        norm = {normalise_category(v) for v in inputs}
        if None in norm or normalise_category(key) is None:
            raise ValueError(f"{func}: matches has an empty commodity or input: "
                             f"{key!r}: {list(inputs)!r}")
        table[str(normalise_category(key))] = frozenset(norm)
    return table


def _plants(facilities: gpd.GeoDataFrame, statuses: Sequence[str] | None,
            func: str) -> gpd.GeoDataFrame:
    """The facilities with a value chain (and an allowed status); never empty."""
    require_geodataframe(facilities, "facilities")
    require_columns(facilities, ["value_chain"], "facilities")
    source = layer_source(facilities, "<GeoDataFrame>")
    keep = facilities["value_chain"].notna().to_numpy()
    note = ""
    if statuses is not None:
        if isinstance(statuses, str):
            statuses = (statuses,)
        require_columns(facilities, ["status"], "facilities")
        wanted = {normalise_category(s) for s in statuses}
        status = facilities["status"].map(normalise_category)
        keep = keep & status.isin(wanted).to_numpy()
        note = f" with status in {sorted(map(str, wanted))}"
    if not keep.any():
        raise LayerError([Problem(
            source, None, "value_chain",
            f"{func}: none of the {len(facilities)} facilities{note} has a value chain "
            "(plant input), so there is no plant to reach",
            "give the plants' inputs in a value_chain column, or read_facilities(..., "
            "value_chains={kind: input}); widen statuses=; or leave the value-chain "
            "component out")])
    return facilities[keep]


def _tokens(value_chain: pd.Series) -> pd.DataFrame:
    """Plants × input tokens indicator (``;`` or ``,`` separated, normalised)."""
    text = value_chain.astype(str).str.replace(",", ";", regex=False)
    dummies = text.str.get_dummies(sep=";")
    norm = [normalise_category(c) for c in dummies.columns]
    dummies.columns = [c if c is not None else "" for c in norm]
    dummies = dummies.T.groupby(level=0).max().T       # "Coking coal" and "coking_coal"
    return dummies.drop(columns=[""], errors="ignore").astype(bool)


def _match_mask(commodity: pd.Series, value_chain: pd.Series,
                table: Mapping[str, frozenset[str]]) -> np.ndarray:
    """Boolean deposits × plants: does the deposit's commodity feed the plant?

    Commodity × input table (over the distinct commodities only) times plants ×
    input indicator, then one row per deposit by its commodity code.
    """
    codes, uniques = pd.factorize(commodity.map(normalise_category))
    tokens = _tokens(value_chain)
    inputs = list(tokens.columns)
    feeds = np.zeros((len(uniques), len(inputs)), dtype=bool)
    position = {t: j for j, t in enumerate(inputs)}
    for k, c in enumerate(uniques):          # distinct commodities, not rows
        for t in table.get(c, frozenset()) | {c}:
            if t in position:
                feeds[k, position[t]] = True
    plant = feeds.astype(np.int64) @ tokens.to_numpy(dtype=np.int64).T > 0
    plant = np.vstack([plant, np.zeros((1, plant.shape[1]), bool)])  # code -1: no commodity
    return plant[codes]


def _check_numbers(func: str, **values: float) -> None:
    bad = {k: v for k, v in values.items()
           if not (isinstance(v, (int, float, np.number)) and np.isfinite(v) and v > 0)}
    if bad:
        raise ValueError(f"{func}: " + ", ".join(f"{k} must be a positive finite number, got "
                                                 f"{v!r}" for k, v in bad.items()))


def _times(deposits, facilities, *, corridors, threshold_min, fallback_speed_kmh,
           access_speed_kmh, matches, commodity, statuses, func):
    """(plants, times deposits × plants with non-matching pairs = inf, method)."""
    from .accessibility._common import check_layers
    from .accessibility._cost import point_xy
    from .accessibility.network import CorridorNetwork

    require_geodataframe(deposits, "deposits")
    require_columns(deposits, [commodity], "deposits")
    _check_numbers(func, threshold_min=threshold_min, fallback_speed_kmh=fallback_speed_kmh,
                   access_speed_kmh=access_speed_kmh)
    table = _match_table(matches, func)
    plants = _plants(facilities, statuses, func)
    check_layers(func, deposits=deposits, facilities=plants,
                 corridors=corridors if isinstance(corridors, gpd.GeoDataFrame) else None)
    if corridors is not None and not isinstance(corridors, (gpd.GeoDataFrame,
                                                           CorridorNetwork)):
        raise TypeError(f"{func}: corridors must be a GeoDataFrame of lines, a CorridorNetwork "
                        f"(accessibility.build_network) or None, got {type(corridors).__name__}")
    mask = _match_mask(deposits[commodity], plants["value_chain"], table)
    times = np.full(mask.shape, np.inf)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    method = "straight_line" if corridors is None else "network"
    if len(rows):
        sub_d, sub_p = deposits.iloc[rows], plants.iloc[cols]
        if corridors is None:
            a, b = point_xy(sub_d), point_xy(sub_p)
            km = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1]) / 1e3
            t = km / fallback_speed_kmh * 60.0
        else:
            from .accessibility import travel_time_matrix
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", MinespaceWarning)
                t = travel_time_matrix(sub_d, sub_p, corridors,
                                       access_speed_kmh=access_speed_kmh).to_numpy(float)
            _rewarn(caught, func)
        times[np.ix_(rows, cols)] = np.where(np.isnan(t), np.inf, t)
    times[~mask] = np.inf
    return plants, times, mask, method


def _rewarn(caught, func: str) -> None:
    """Re-issue the network's warnings under this function's name (once each)."""
    for w in caught:
        if issubclass(w.category, MinespaceWarning):
            text = str(w.message).replace("travel_time_matrix:", f"{func}:", 1)
            text = text.replace("any destination", "any plant it feeds")
            warnings.warn(text, w.category, stacklevel=4)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


# --------------------------------------------------------------------------- public
def value_chain_access(
    deposits: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    corridors=None,
    threshold_min: float = 45.0,
    fallback_speed_kmh: float = 40.0,
    access_speed_kmh: float = 20.0,
    matches: Mapping[str, Iterable[str]] | None = None,
    commodity: str = "commodity",
    statuses: Sequence[str] | None = None,
) -> gpd.GeoDataFrame:
    """Travel time from each deposit to the nearest plant that takes its commodity.

    Parameters
    ----------
    deposits : GeoDataFrame
        Deposits (points; polygons travel from a point on their surface) with the
        *commodity* column, in a metric CRS.
    facilities : GeoDataFrame
        Facilities with a ``value_chain`` column (``;``-joined plant inputs; rows
        without one are not plants and are ignored), same CRS. ``name`` is used by
        :func:`value_chain_links` when present.
    corridors : GeoDataFrame or CorridorNetwork, optional
        Corridor lines, or a network from
        :func:`minespace.accessibility.build_network` (reuse it across calls).
        None (default): straight line at *fallback_speed_kmh*.
    threshold_min : float
        A plant within this many minutes is "within reach" (default 45).
    fallback_speed_kmh : float
        Straight-line speed without corridors (default 40 km/h).
    access_speed_kmh : float
        Speed of the legs between a feature and the network (default 20 km/h).
    matches : mapping of str to list of str, optional
        Commodity -> plant inputs it feeds; a key given replaces its entry of
        :data:`DEFAULT_MATCHES`, new keys extend it. Keys and values are read like
        the data (``"Coking coal"`` = ``coking_coal``).
    commodity : str
        Column of *deposits* holding the commodity (default ``"commodity"``).
    statuses : sequence of str, optional
        Keep only plants whose ``status`` is one of these (e.g. ``("operating",)``).

    Returns
    -------
    GeoDataFrame
        A copy of *deposits* with ``value_chain_facility_id`` (nearest matching
        plant, None when none), ``value_chain_time_min`` (minutes; NaN when no plant
        takes the commodity or none is reachable), ``value_chain_within`` (bool:
        time <= threshold), ``value_chain_n_within`` (int: matching plants within
        the threshold) and ``value_chain_method`` (``"network"`` or
        ``"straight_line"``).

    Raises
    ------
    KeyError
        If *deposits* lacks *commodity*, *facilities* lacks ``value_chain`` (or
        ``status`` with *statuses*).
    LayerError
        If no facility has a value chain (after the *statuses* filter): there is
        no plant to reach, so no share can be computed.
    CRSError
        If the layers are not in one metric CRS.
    ValueError
        For a non-positive or non-finite threshold or speed.

    Warns
    -----
    MinespaceWarning
        Once, from the network, listing deposits that reach no plant they feed.

    Notes
    -----
    With M the deposits × plants match mask (deposit *i*'s commodity feeds an
    input of plant *j*) and T<sub>ij</sub> the travel time,

        T_i = min over j with M_ij of T_ij,   n_i = #{j : M_ij and T_ij <= threshold}

    T<sub>ij</sub> is the network time of
    :func:`minespace.accessibility.travel_time_matrix` (access legs at
    *access_speed_kmh*; unreachable pairs count as no link, never as a guessed
    time), or straight-line km / *fallback_speed_kmh* × 60. Ties go to the first
    plant in row order. A deposit whose commodity feeds no plant gets NaN and
    ``value_chain_within`` False.

    Examples
    --------
    >>> import geopandas as gpd, pandas as pd, shapely
    >>> from minespace.value_chain import value_chain_access
    >>> deps = gpd.GeoDataFrame({"commodity": ["coking_coal", "lignite"]},
    ...     index=pd.Index(["D1", "D2"], name="deposit_id"),
    ...     geometry=shapely.points([0, 0], [0, 1000]), crs=32645)
    >>> plants = gpd.GeoDataFrame({"value_chain": ["coking_coal;iron_ore"]},
    ...     index=pd.Index(["F1"], name="facility_id"),
    ...     geometry=shapely.points([20000], [0]), crs=32645)
    >>> out = value_chain_access(deps, plants)   # 20 km at 40 km/h = 30 min
    >>> out[["value_chain_facility_id", "value_chain_time_min", "value_chain_within"]]
               value_chain_facility_id  value_chain_time_min  value_chain_within
    deposit_id
    D1                              F1                  30.0                True
    D2                            None                   NaN               False
    """
    plants, times, _, method = _times(
        deposits, facilities, corridors=corridors, threshold_min=threshold_min,
        fallback_speed_kmh=fallback_speed_kmh, access_speed_kmh=access_speed_kmh,
        matches=matches, commodity=commodity, statuses=statuses, func=_FUNC)
    return _access(deposits, plants, times, method, threshold_min)


def _access(deposits: gpd.GeoDataFrame, plants: gpd.GeoDataFrame, times: np.ndarray,
            method: str, threshold_min: float) -> gpd.GeoDataFrame:
    """:func:`value_chain_access`'s columns from the matched deposits x plants *times*."""
    n = len(deposits)
    best = times.argmin(axis=1) if times.shape[1] else np.zeros(n, np.int64)
    t = times[np.arange(n), best] if times.shape[1] else np.full(n, np.inf)
    found = np.isfinite(t)
    ids = np.asarray(plants.index, dtype=object).take(best)
    out = deposits.copy()
    out["value_chain_facility_id"] = pd.Series(np.where(found, ids, None), index=out.index,
                                               dtype="object")
    out["value_chain_time_min"] = np.where(found, t, np.nan)
    out["value_chain_within"] = found & (t <= threshold_min)
    out["value_chain_n_within"] = (times <= threshold_min).sum(axis=1).astype(np.int64)
    out["value_chain_method"] = method
    return out


def value_chain_links(
    deposits: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    corridors=None,
    threshold_min: float = 45.0,
    fallback_speed_kmh: float = 40.0,
    access_speed_kmh: float = 20.0,
    matches: Mapping[str, Iterable[str]] | None = None,
    commodity: str = "commodity",
    statuses: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Every (deposit, plant) pair that matches and lies within the threshold.

    Parameters are those of :func:`value_chain_access`.

    Returns
    -------
    DataFrame
        One row per pair, ordered by deposit (row order), then time, then plant
        (row order): ``deposit_id``, ``facility_id``, ``facility_name`` (NaN
        without a ``name`` column), ``value_chain`` (the plant's inputs) and
        ``time_min``. Empty (with these columns) when no pair is within reach.

    Raises
    ------
    KeyError, LayerError, CRSError, ValueError
        As :func:`value_chain_access`.

    Notes
    -----
    Pairs (i, j) with M<sub>ij</sub> and T<sub>ij</sub> <= threshold (see
    :func:`value_chain_access`); ``value_chain_n_within`` counts them per deposit.

    Examples
    --------
    >>> import geopandas as gpd, pandas as pd, shapely
    >>> from minespace.value_chain import value_chain_links
    >>> deps = gpd.GeoDataFrame({"commodity": ["thermal_coal"]},
    ...     index=pd.Index(["D1"], name="deposit_id"),
    ...     geometry=shapely.points([0], [0]), crs=32645)
    >>> plants = gpd.GeoDataFrame(
    ...     {"name": ["CHP", "Coke", "GRES"],
    ...      "value_chain": ["thermal_coal", "coking_coal", "thermal_coal"]},
    ...     index=pd.Index(["F1", "F2", "F3"], name="facility_id"),
    ...     geometry=shapely.points([10000, 1000, 2000], [0, 0, 0]), crs=32645)
    >>> value_chain_links(deps, plants, threshold_min=20)
      deposit_id facility_id facility_name   value_chain  time_min
    0         D1          F3          GRES  thermal_coal       3.0
    1         D1          F1           CHP  thermal_coal      15.0
    """
    plants, times, _, _ = _times(
        deposits, facilities, corridors=corridors, threshold_min=threshold_min,
        fallback_speed_kmh=fallback_speed_kmh, access_speed_kmh=access_speed_kmh,
        matches=matches, commodity=commodity, statuses=statuses, func="value_chain_links")
    return _links(deposits, plants, times, threshold_min)


def _access_and_links(deposits: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, *,
                      corridors=None, threshold_min: float = 45.0,
                      fallback_speed_kmh: float = 40.0, access_speed_kmh: float = 20.0,
                      matches: Mapping[str, Iterable[str]] | None = None,
                      commodity: str = "commodity", statuses: Sequence[str] | None = None
                      ) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """:func:`value_chain_access` and :func:`value_chain_links` from one travel-time
    matrix (the pipeline's innovation stage needs both; calling the two routes every
    deposit twice). Arguments are those of :func:`value_chain_access`."""
    plants, times, _, method = _times(
        deposits, facilities, corridors=corridors, threshold_min=threshold_min,
        fallback_speed_kmh=fallback_speed_kmh, access_speed_kmh=access_speed_kmh,
        matches=matches, commodity=commodity, statuses=statuses, func=_FUNC)
    return (_access(deposits, plants, times, method, threshold_min),
            _links(deposits, plants, times, threshold_min))


def _links(deposits: gpd.GeoDataFrame, plants: gpd.GeoDataFrame, times: np.ndarray,
           threshold_min: float) -> pd.DataFrame:
    """:func:`value_chain_links`' rows from the matched deposits x plants *times*."""
    return pairs_within(times, threshold_min, deposits.index, plants, origin_id="deposit_id",
                        destination_id="facility_id", name="facility_name",
                        extra="value_chain")


def value_chain_summary(territories: gpd.GeoDataFrame, deposits: pd.DataFrame, *,
                        weight: str | None = None) -> gpd.GeoDataFrame:
    """Per territory: the deposits within reach of a plant they feed, and their share.

    Parameters
    ----------
    territories : GeoDataFrame
        Territories indexed by ``territory_id``.
    deposits : DataFrame
        Output of :func:`value_chain_access` carrying ``territory_id`` (from
        :func:`minespace.territories.assign_deposits`); deposits without one are
        ignored.
    weight : str, optional
        Numeric column of *deposits* (e.g. ``output_mt``) to weigh the share by.
        NaN weights are left out of both sums; negative weights are refused.

    Returns
    -------
    GeoDataFrame
        A copy of *territories* with ``value_chain_deposits`` (int: deposits
        within the threshold), ``value_chain_total`` (int: deposits in the
        territory), with *weight* also ``value_chain_weight`` (sum of *weight* over
        the deposits within) and ``value_chain_weight_total`` (sum of *weight* over
        the territory's deposits), and ``value_chain_share`` (deposits / total, or
        weight / weight total; NaN for territories without deposits or with a zero
        total weight).

    Raises
    ------
    KeyError
        If *deposits* lacks ``territory_id``, ``value_chain_within`` or *weight*.
    ValueError
        For a negative or non-numeric weight (naming the deposits).

    Notes
    -----
    share<sub>k</sub> = Σ<sub>i∈k</sub> w<sub>i</sub>·[T<sub>i</sub> <= threshold] /
    Σ<sub>i∈k</sub> w<sub>i</sub>, with w<sub>i</sub> = 1 without *weight*.
    The totals are returned so that a share over several territories is
    Σ within / Σ total (not a mean of shares).

    Examples
    --------
    >>> import geopandas as gpd, pandas as pd, shapely
    >>> from minespace.value_chain import value_chain_summary
    >>> terr = gpd.GeoDataFrame(index=pd.Index(["T1", "T2"], name="territory_id"),
    ...     geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)], crs=32645)
    >>> deps = pd.DataFrame({"territory_id": ["T1", "T1", "T1"],
    ...                      "value_chain_within": [True, False, True]})
    >>> value_chain_summary(terr, deps)[["value_chain_deposits", "value_chain_share"]]
                  value_chain_deposits  value_chain_share
    territory_id
    T1                               2           0.666667
    T2                               0                NaN
    """
    require_geodataframe(territories, "territories")
    require_columns(deposits, ["territory_id", "value_chain_within"], "deposits")
    if weight is not None:
        require_columns(deposits, [weight], "deposits")
        w = pd.to_numeric(deposits[weight], errors="coerce")
        bad = (w < 0) | (w.isna() & deposits[weight].notna())
        if bad.any():
            listed = ", ".join(map(str, deposits.index[bad.to_numpy()][:10]))
            raise ValueError(f"value_chain_summary: weight column '{weight}' has negative or "
                             f"non-numeric values for deposit(s) {listed}; fix or drop them")
        w = w.to_numpy(dtype=float)
    else:
        w = np.ones(len(deposits))
    within = deposits["value_chain_within"].fillna(False).to_numpy(dtype=bool)
    known = ~np.isnan(w)
    frame = pd.DataFrame({"tid": np.asarray(deposits["territory_id"], dtype=object),
                          "n_within": within.astype(np.int64), "n": 1,
                          "w_within": np.where(within & known, w, 0.0),
                          "w": np.where(known, w, 0.0)})
    # deposits without a territory (NaN key) drop out of the groupby
    sums = frame.groupby("tid", sort=False).sum().reindex(territories.index, fill_value=0)
    out = territories.copy()
    out["value_chain_deposits"] = sums["n_within"].to_numpy(dtype=np.int64)
    total = sums["w"].to_numpy(dtype=float)
    out["value_chain_total"] = sums["n"].to_numpy(dtype=np.int64)
    if weight is not None:
        out["value_chain_weight"] = sums["w_within"].to_numpy(dtype=float)
        out["value_chain_weight_total"] = total
    with np.errstate(invalid="ignore", divide="ignore"):
        share = sums["w_within"].to_numpy(dtype=float) / total
    out["value_chain_share"] = np.where(total > 0, share, np.nan)
    return out
