"""Gravity (Hansen) accessibility potential."""

from __future__ import annotations

from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from .._checks import require_columns
from ..io.raster import Raster
from ._common import check_layers
from ._cost import dense_cost

__all__ = ["hansen_potential"]

Decay = Literal["exponential", "power"]


def _decay(cost: np.ndarray, *, decay: Decay, beta: float, min_cost: float) -> np.ndarray:
    """f(c): exp(−βc) or max(c, min_cost)^(−β); NaN cost (no link) gives 0."""
    cost = np.asarray(cost, dtype=float)
    if decay == "exponential":
        f = np.exp(-beta * cost)
    elif decay == "power":
        f = np.maximum(cost, min_cost) ** (-beta)
    else:
        raise ValueError(f"decay must be 'exponential' or 'power', got {decay!r}")
    return np.where(np.isnan(cost), 0.0, f)


def _hansen(cost: np.ndarray, mass: np.ndarray, *, decay: Decay, beta: float,
            min_cost: float = 1.0) -> np.ndarray:
    """A_i = Σ_j mass_j f(c_ij) for an (n, m) cost array and m masses."""
    return _decay(cost, decay=decay, beta=beta, min_cost=min_cost) @ np.asarray(mass, float)


def hansen_potential(
    origins: gpd.GeoDataFrame,
    destinations: gpd.GeoDataFrame,
    *,
    beta: float,
    mass: str = "population",
    decay: Decay = "exponential",
    cost: pd.DataFrame | None = None,
    min_cost: float = 1.0,
    population: Raster | None = None,
) -> gpd.GeoDataFrame:
    """Hansen gravity potential of each origin towards the destinations' mass.

    Parameters
    ----------
    origins : GeoDataFrame
        Deposits or territories (polygons by a point on their surface, or by their
        population-weighted point with *population*).
    destinations : GeoDataFrame
        Agglomerations (or any layer) with the *mass* column, same metric CRS.
    beta : float
        Decay parameter, per unit of cost (per km or per minute) for the
        exponential, dimensionless for the power decay.
    mass : str
        Column of *destinations* holding the opportunity mass O_j.
    decay : {"exponential", "power"}
        f(c) = exp(−βc) or c^(−β).
    cost : DataFrame, optional
        Origins × destinations costs (index = origin ids, columns = destination
        ids), e.g. from :func:`travel_time_matrix`; NaN = unreachable (adds 0).
        Default: straight-line km between the features' points.
    min_cost : float
        Power decay only: costs below this are raised to it, so a destination at
        zero cost does not give an infinite potential (default 1 cost unit).
    population : Raster, optional
        Population counts in the same CRS: with the straight-line default, polygon
        origins start from their population-weighted point (see
        :func:`~minespace.accessibility.population_weighted_points`). With *cost*,
        pass it to :func:`travel_time_matrix` instead.

    Returns
    -------
    GeoDataFrame
        A copy of *origins* with column ``hansen_potential`` (mass units).

    Raises
    ------
    CRSError
        If the layers (or *population*) are not in one metric CRS.
    KeyError
        If *mass* is missing, or *cost* lacks an origin or destination id.
    ValueError
        For an unknown decay, a negative beta or negative costs, or *population*
        given together with *cost*.

    Notes
    -----
    A_i = Σ_j O_j · f(c_ij) (Hansen 1959, *JAIP* 25(2):73–76,
    doi:10.1080/01944365908978307).

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import accessibility as acc
    >>> region = ms.datasets.kuzbass()
    >>> out = acc.hansen_potential(region.deposits, region.agglomerations, beta=0.05)
    >>> bool((out["hansen_potential"] > 0).all())
    True
    """
    check_layers("hansen_potential", origins=origins, destinations=destinations)
    require_columns(destinations, [mass], "destinations")
    if not beta >= 0:
        raise ValueError(f"hansen_potential: beta must be >= 0, got {beta}")
    c = dense_cost(origins, destinations, cost, "hansen_potential", population)
    o = pd.to_numeric(destinations[mass], errors="coerce").fillna(0.0).to_numpy(float)
    out = origins.copy()
    out["hansen_potential"] = _hansen(c, o, decay=decay, beta=beta, min_cost=min_cost)
    return out
