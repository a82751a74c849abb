"""Two-step floating catchment area (2SFCA) and its enhanced variant (E2SFCA)."""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from .._checks import require_columns
from ..io.raster import Raster
from ._common import check_layers
from ._cost import sparse_pairs

__all__ = ["E2SFCA_STEPS", "enhanced_two_step_fca", "two_step_fca"]

#: Luo & Qi (2009) zone weights: cost ≤ 10 → 1.00, ≤ 20 → 0.68, ≤ 30 → 0.22.
E2SFCA_STEPS: tuple[tuple[float, float], ...] = ((10.0, 1.0), (20.0, 0.68), (30.0, 0.22))


def _step_weights(c: np.ndarray, steps: Sequence[tuple[float, float]]) -> np.ndarray:
    """Weight of each cost: that of the first step whose upper bound is ≥ c, else 0."""
    bounds = np.array([b for b, _ in steps], float)
    w = np.array([w for _, w in steps] + [0.0], float)
    if len(bounds) == 0 or np.any(np.diff(bounds) <= 0):
        raise ValueError(f"steps must have increasing upper bounds, got {list(steps)}")
    return w[np.searchsorted(bounds, c, side="left")]


def _fca(i: np.ndarray, j: np.ndarray, w: np.ndarray, demand: np.ndarray,
         supply: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Floating catchment on sparse pairs (i demand, j supply, weight w).

    Step 1: R_j = S_j / Σ_i P_i w_ij (0 when no demand is in reach).
    Step 2: A_i = Σ_j R_j w_ij. Returns (A, R).
    """
    demand = np.asarray(demand, float)
    supply = np.asarray(supply, float)
    load = np.bincount(j, weights=demand[i] * w, minlength=len(supply))
    ratio = np.divide(supply, load, out=np.zeros_like(supply), where=load > 0)
    access = np.bincount(i, weights=ratio[j] * w, minlength=len(demand))
    return access, ratio


def _run(func, demand, supply, demand_col, supply_col, steps, cost, column, population):
    check_layers(func, demand=demand, supply=supply)
    require_columns(demand, [demand_col], "demand")
    require_columns(supply, [supply_col], "supply")
    p = pd.to_numeric(demand[demand_col], errors="coerce").to_numpy(float)
    s = pd.to_numeric(supply[supply_col], errors="coerce").to_numpy(float)
    if np.isnan(p).any() or np.isnan(s).any() or (p < 0).any() or (s < 0).any():
        raise ValueError(f"{func}: '{demand_col}' and '{supply_col}' must be non-negative "
                         "numbers without missing values")
    i, j, c = sparse_pairs(demand, supply, max(b for b, _ in steps), cost, func, population)
    w = _step_weights(c, steps)
    access, _ = _fca(i, j, w, p, s)
    out = demand.copy()
    out[column] = access
    return out


def two_step_fca(
    demand: gpd.GeoDataFrame,
    supply: gpd.GeoDataFrame,
    *,
    demand_col: str,
    supply_col: str,
    max_cost: float,
    cost: pd.DataFrame | None = None,
    population: Raster | None = None,
) -> gpd.GeoDataFrame:
    """Two-step floating catchment area accessibility (2SFCA).

    Parameters
    ----------
    demand : GeoDataFrame
        Demand locations (e.g. deposits with jobs), metric CRS.
    supply : GeoDataFrame
        Supply locations (e.g. agglomerations with labour), same CRS.
    demand_col, supply_col : str
        Columns with the demand P_k and the supply S_j (non-negative).
    max_cost : float
        Catchment threshold d0, in the unit of the cost (km for straight lines).
    cost : DataFrame, optional
        Demand × supply costs c_kj (index = demand ids, columns = supply ids), e.g.
        minutes from :func:`travel_time_matrix`; NaN = no link. The same c_kj
        (demand → supply) is used in both steps, so asymmetric costs are handled.
        Default: straight-line km between the features' points, found with a
        KD-tree (only pairs within ``max_cost`` are ever formed).
    population : Raster, optional
        Population counts in the same CRS: with the straight-line default, polygon
        demand locations (territories) start from their population-weighted point
        (see :func:`~minespace.accessibility.population_weighted_points`). With
        *cost*, pass it to :func:`travel_time_matrix` instead.

    Returns
    -------
    GeoDataFrame
        A copy of *demand* with ``access_2sfca``: supply per unit of demand within
        reach (0 when no supply is within ``max_cost``).

    Raises
    ------
    CRSError
        If the layers (or *population*) are not in one metric CRS.
    KeyError, ValueError
        For missing columns or ids, negative / missing values, or *population*
        given together with *cost*.

    Notes
    -----
    Step 1: R_j = S_j / Σ_{k: c_kj ≤ d0} P_k. Step 2: A_i = Σ_{j: c_ij ≤ d0} R_j
    (Luo & Wang 2003, *Environment and Planning B* 30(6):865–884,
    doi:10.1068/b29120). Costs equal to d0 are inside the catchment. If every
    supply has some demand in reach, Σ_i P_i A_i = Σ_j S_j.

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import accessibility as acc
    >>> region = ms.datasets.kuzbass()
    >>> jobs = region.deposits.assign(jobs=1.0)
    >>> out = acc.two_step_fca(jobs, region.agglomerations, demand_col="jobs",
    ...                        supply_col="population", max_cost=30)
    >>> bool((out["access_2sfca"] >= 0).all())
    True
    """
    if not max_cost > 0:
        raise ValueError(f"two_step_fca: max_cost must be positive, got {max_cost}")
    return _run("two_step_fca", demand, supply, demand_col, supply_col,
                ((float(max_cost), 1.0),), cost, "access_2sfca", population)


def enhanced_two_step_fca(
    demand: gpd.GeoDataFrame,
    supply: gpd.GeoDataFrame,
    *,
    demand_col: str,
    supply_col: str,
    steps: Sequence[tuple[float, float]] = E2SFCA_STEPS,
    cost: pd.DataFrame | None = None,
    population: Raster | None = None,
) -> gpd.GeoDataFrame:
    """Enhanced two-step floating catchment area accessibility (E2SFCA).

    Parameters
    ----------
    demand, supply, demand_col, supply_col, cost, population
        As in :func:`two_step_fca`.
    steps : sequence of (upper_bound, weight)
        Zones by increasing upper bound (inclusive) with their weight W_r; costs
        beyond the last bound are outside the catchment. Default Luo & Qi (2009):
        ((10, 1.0), (20, 0.68), (30, 0.22)) -- minutes in the paper, km with the
        straight-line default.

    Returns
    -------
    GeoDataFrame
        A copy of *demand* with ``access_e2sfca``.

    Raises
    ------
    CRSError
        If the layers (or *population*) are not in one metric CRS.
    KeyError, ValueError
        For missing columns or ids, bad steps, negative / missing values, or
        *population* given together with *cost*.

    Notes
    -----
    R_j = S_j / Σ_r Σ_{k ∈ D_r} P_k W_r ; A_i = Σ_r Σ_{j ∈ D_r} R_j W_r
    (Luo & Qi 2009, *Health & Place* 15(4):1100–1107,
    doi:10.1016/j.healthplace.2009.06.002). The same weights are used in both
    steps, so supply is conserved: Σ_i P_i A_i = Σ_j S_j when every supply has
    demand in reach.

    Examples
    --------
    >>> import minespace as ms
    >>> from minespace import accessibility as acc
    >>> region = ms.datasets.kuzbass()
    >>> jobs = region.deposits.assign(jobs=1.0)
    >>> out = acc.enhanced_two_step_fca(jobs, region.agglomerations, demand_col="jobs",
    ...                                 supply_col="population")
    >>> bool((out["access_e2sfca"] >= 0).all())
    True
    """
    steps = tuple((float(b), float(w)) for b, w in steps)
    return _run("enhanced_two_step_fca", demand, supply, demand_col, supply_col, steps, cost,
                "access_e2sfca", population)
