"""Conditional permutation inference shared by :mod:`minespace.hotspots` (private).

``_permutation_counts`` counts, per unit, the simulated spatial lags at or above
(and at or below) the observed lag, drawing the neighbours' values from the other
n − 1 units. ``auto_permutations`` and ``_adaptive_counts`` implement
``permutations="auto"``: enough permutations that the smallest attainable p-value
passes the first Benjamini–Hochberg step, spent in stages only on the units whose
p-value is small and still coarse.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import sparse

_CHUNK_ELEMENTS = 262_144  # units × permutations × max-cardinality per chunk (~2 MB)
_PERM_BATCH = 16_384  # permutations drawn at once (bounds the id table's memory)

#: Permutations every unit gets before ``permutations="auto"`` refines the promising ones.
FIRST_ROUND = 999
#: ``permutations="auto"`` makes the smallest p-value this many times smaller than α/n.
AUTO_MARGIN = 4
#: Largest number of permutations ``permutations="auto"`` chooses.
AUTO_CAP = 499_999
#: A unit leaves ``permutations="auto"`` once this many simulated lags were as extreme.
STOP_EXTREMES = 20


def _sides(alternative: str) -> int:
    if alternative == "two-sided":
        return 2
    if alternative in ("greater", "lesser"):
        return 1
    raise ValueError(f"alternative must be 'two-sided', 'greater' or 'lesser', "
                     f"got {alternative!r}")


def min_p_value(permutations: int, alternative: str = "two-sided") -> float:
    """Smallest pseudo p-value R permutations can give: 2/(R + 1) two-sided, else 1/(R + 1)."""
    return _sides(alternative) / (permutations + 1.0)


def auto_permutations(n: int, *, alpha: float = 0.05, alternative: str = "two-sided",
                      fdr: bool = True) -> int:
    """Number of permutations ``permutations="auto"`` uses for *n* tested units.

    The smallest attainable p-value, 2/(R + 1) two-sided or 1/(R + 1) one-sided,
    is made :data:`AUTO_MARGIN` (4) times smaller than the first
    Benjamini–Hochberg threshold α/n (α without ``fdr``), so a unit needs no
    simulated lag as extreme as its own to pass but may have a few:
    R + 1 = ⌈sides · 4 · n/α⌉ rounded up to a multiple of 1000, at least 1000 and
    at most :data:`AUTO_CAP` + 1 (500,000).

    Examples
    --------
    >>> from minespace.hotspots import auto_permutations
    >>> auto_permutations(568, alpha=0.05)   # 2 * 4 * 568 / 0.05 = 90,880 -> 91,000 - 1
    90999
    """
    if n < 1:
        raise ValueError(f"n must be a positive number of units, got {n!r}")
    target = alpha / n if fdr else alpha
    need = _sides(alternative) * AUTO_MARGIN / target
    r1 = max(1000, math.ceil(need / 1000 - 1e-9) * 1000)
    return int(min(r1 - 1, AUTO_CAP))


def warn_unreachable(func: str, n: int, permutations: int, alpha: float, alternative: str,
                     fdr: bool, *, auto: bool = False, stacklevel: int = 3) -> None:
    """Warn (MinespaceWarning) when R permutations cannot give a p-value small enough."""
    from .errors import MinespaceWarning

    if n < 1:
        return
    floor = min_p_value(permutations, alternative)
    target = alpha / n if fdr else alpha
    if floor <= target:
        return
    what = (f"the first Benjamini-Hochberg threshold alpha/n = {alpha:g}/{n} = {target:.2g}"
            if fdr else f"alpha = {alpha:g}")
    consequence = (f"a territory can be flagged only if at least {math.ceil(floor / target)} "
                   "territories share that smallest p-value" if fdr
                   else "no territory can be flagged")
    if auto:
        fix = (f"permutations='auto' is capped at {AUTO_CAP:,}; use fewer territories, "
               "a larger alpha, or permutations=0 (normal p-values, getis_ord only)")
    else:
        fix = (f"use permutations='auto' (here {auto_permutations(n, alpha=alpha, alternative=alternative, fdr=fdr):,}), "  # noqa: E501
               "permutations=0 (normal p-values, getis_ord only), fdr=False or a larger alpha")
    warnings.warn(f"{func}: with {permutations:,} permutations the smallest attainable "
                  f"{alternative} p-value is {floor:.2g}, above {what}: {consequence}. "
                  f"To make significance reachable, {fix}.", MinespaceWarning,
                  stacklevel=stacklevel)


def _permuted_ids(n_other: int, k: int, permutations: int, rng) -> np.ndarray:
    """(permutations, k) ids drawn without replacement from range(n_other) per row."""
    if k == 0:
        return np.zeros((permutations, 0), dtype=np.int64)
    if k > n_other:
        raise ValueError("a unit has more neighbours than there are other units")
    if n_other <= 4 * k:
        keys = rng.random((permutations, n_other))
        return np.argsort(keys, axis=1)[:, :k].astype(np.int64)
    if k * (k - 1) > 0.2 * n_other:  # rejection would redraw most rows: Floyd's algorithm
        ids = np.empty((permutations, k), dtype=np.int64)
        for step, j in enumerate(range(n_other - k, n_other)):  # k steps, vectorised rows
            t = rng.integers(0, j + 1, size=permutations)
            taken = (ids[:, :step] == t[:, None]).any(axis=1)
            ids[:, step] = np.where(taken, j, t)
        # Floyd gives a uniform subset; a uniform order on top makes it an ordered sample
        order = np.argsort(rng.random((permutations, k)), axis=1)
        return np.take_along_axis(ids, order, axis=1)
    ids = rng.integers(0, n_other, size=(permutations, k))
    while True:  # redraw the few rows with a repeated id
        srt = np.sort(ids, axis=1)
        dup = (srt[:, 1:] == srt[:, :-1]).any(axis=1)
        if not dup.any():
            return ids
        ids[dup] = rng.integers(0, n_other, size=(int(dup.sum()), k))


def _row_constant(mat: sparse.csr_matrix) -> np.ndarray | None:
    """Each row's common weight when every row's weights are equal (binary or
    row-standardised binary weights), else None."""
    if mat.nnz == 0:
        return np.zeros(mat.shape[0])
    starts = np.minimum(mat.indptr[:-1], mat.nnz - 1)
    hi = np.maximum.reduceat(mat.data, starts)
    lo = np.minimum.reduceat(mat.data, starts)
    empty = np.diff(mat.indptr) == 0
    hi[empty] = lo[empty] = 0.0
    if not np.allclose(hi, lo, rtol=1e-12, atol=0.0):
        return None
    return hi


def _permutation_counts(y: np.ndarray, mat: sparse.csr_matrix, lag_obs: np.ndarray,
                        permutations: int, rng, *, units: np.ndarray | None = None,
                        progress=None) -> tuple[np.ndarray, np.ndarray]:
    """Counts of simulated lags ≥ and ≤ the observed lag Σ_j w_ij y_j, per unit.

    Neighbour values of unit i are drawn from the other n − 1 units; the draws
    (tables of ids, drawn in batches of at most ``_PERM_BATCH`` permutations) are
    shared by all units, as in esda. *units* (sorted positions) restricts the work
    to those units; counts are returned for them only, in that order. *progress*
    (a :class:`minespace._progress.Bar`) counts the unit-permutations done.

    When every row has equal weights (binary or row-standardised contiguity, the
    usual case) one table of k_max + 1 distinct ids out of all n units serves
    every unit: unit i takes the first k_i ids other than itself, so its simulated
    lag is w_i·(C[k_i] + [i among the first k_i]·(y[id_{k_i}] − y_i)) with C the
    running sums, O(R·n) work instead of O(R·n·k_max). Otherwise the weighted
    neighbour values are gathered (ids out of the n − 1 others).
    """
    n = len(y)
    units = np.arange(n) if units is None else np.asarray(units, dtype=np.int64)
    sub = mat if len(units) == n else mat[units].tocsr()
    card_all = np.diff(sub.indptr)
    kmax = int(card_all.max()) if len(units) else 0
    ge = np.zeros(len(units), np.int64)
    le = np.zeros(len(units), np.int64)
    if kmax == 0:
        return ge, le
    lag_obs = np.asarray(lag_obs, float)[units]
    scale = np.abs(y).max() * np.abs(mat.data).sum() / max(n, 1) + 1e-300
    eps_all = 1e-9 * (np.abs(lag_obs) + scale)
    w_row = _row_constant(sub)
    if w_row is not None:
        card_full = np.diff(mat.indptr)
        column = np.full(n, -1, dtype=np.int64)
        column[units] = np.arange(len(units))
    done = 0
    while done < permutations:  # loop over batches of permutations
        b = min(_PERM_BATCH, permutations - done)
        if w_row is not None:
            _equal_weight_batch(y, b, kmax, rng, units, card_all, card_full, column, w_row,
                                lag_obs, eps_all, ge, le, progress)
        else:
            _weighted_batch(y, b, kmax, rng, units, sub, card_all, lag_obs, eps_all, ge, le,
                            progress)
        done += b
    return ge, le


def _equal_weight_batch(y, b, kmax, rng, units, card, card_full, column, w_row, lag_obs,
                        eps_all, ge, le, progress) -> None:
    n = len(y)
    ids = _permuted_ids(n, kmax + 1, b, rng)            # (b, kmax + 1), distinct per row
    vals = y[ids]
    running = np.zeros((b, kmax + 2))
    np.cumsum(vals, axis=1, out=running[:, 1:])
    # hits: unit ids[r, k] is drawn among its own first card(unit) ids -> skips itself
    hit_unit = ids[:, :kmax]
    rr, kk = np.nonzero((np.arange(kmax)[None, :] < card_full[hit_unit])
                        & (column[hit_unit] >= 0))
    hit_unit = hit_unit[rr, kk]
    hit_col = column[hit_unit]
    hit_delta = vals[rr, card_full[hit_unit]] - y[hit_unit]
    order = np.argsort(hit_col, kind="stable")
    rr, hit_col, hit_delta = rr[order], hit_col[order], hit_delta[order]
    chunk = max(1, _CHUNK_ELEMENTS // b)
    for start in range(0, len(units), chunk):  # chunks of units, vectorised inside
        stop = min(len(units), start + chunk)
        sims = running[:, card[start:stop]]              # (b, m)
        a, z = np.searchsorted(hit_col, [start, stop])
        sims[rr[a:z], hit_col[a:z] - start] += hit_delta[a:z]
        sims *= w_row[start:stop]
        obs = lag_obs[start:stop]
        eps = eps_all[start:stop]
        ge[start:stop] += (sims >= obs - eps).sum(axis=0)
        le[start:stop] += (sims <= obs + eps).sum(axis=0)
        if progress is not None:
            progress.update((stop - start) * b)


def _weighted_batch(y, b, kmax, rng, units, sub, card_all, lag_obs, eps_all, ge, le,
                    progress) -> None:
    n = len(y)
    pids = _permuted_ids(n - 1, kmax, b, rng)
    # value of "other unit p" for unit i is y[p] if p < i else y[p + 1]: gather both once
    y_lo = y[pids]
    y_hi = y[np.minimum(pids + 1, n - 1)]
    chunk = max(1, _CHUNK_ELEMENTS // (b * kmax))
    wpad = np.zeros((chunk, kmax))  # the chunk's weights, padded to kmax with zeros
    slot_all = np.arange(kmax)
    for start in range(0, len(units), chunk):  # chunks of units, vectorised inside
        stop = min(len(units), start + chunk)
        pos = units[start:stop]
        m = stop - start
        lo, hi = sub.indptr[start], sub.indptr[stop]
        card = card_all[start:stop]
        wc = wpad[:m]
        wc[:] = 0.0
        wc[slot_all[None, :] < card[:, None]] = sub.data[lo:hi]  # row-major = CSR order
        vals = np.where(pids[None, :, :] < pos[:, None, None], y_lo[None], y_hi[None])
        sims = np.einsum("urk,uk->ur", vals, wc)
        obs = lag_obs[start:stop]
        eps = eps_all[start:stop]
        ge[start:stop] += (sims >= (obs - eps)[:, None]).sum(axis=1)
        le[start:stop] += (sims <= (obs + eps)[:, None]).sum(axis=1)
        if progress is not None:
            progress.update(m * b)


def _p_from_counts(ge: np.ndarray, le: np.ndarray, permutations,
                   alternative: str) -> np.ndarray:
    """Pseudo p-values (M + 1)/(R + 1) for the upper tail counts *ge* / lower *le*.

    *permutations* may be an array (one R per unit).
    """
    r1 = np.asarray(permutations, dtype=float) + 1.0
    _sides(alternative)
    if alternative == "greater":
        return (ge + 1.0) / r1
    if alternative == "lesser":
        return (le + 1.0) / r1
    return np.minimum(1.0, 2.0 * (np.minimum(ge, le) + 1.0) / r1)


def auto_stages(total: int) -> list[int]:
    """Cumulative permutations after each stage of ``permutations="auto"``.

    999, 9,999, 99,999, ... (ten times more each) below *total*, then *total*.

    Examples
    --------
    >>> auto_stages(90_999)
    [999, 9999, 90999]
    """
    stages, r = [], FIRST_ROUND
    while r < total:
        stages.append(r)
        r = 10 * r + 9
    return [*stages, total] if total > 0 else []


def stage_cut(reps: int, alpha: float, alternative: str) -> float:
    """Continue past a stage of *reps* permutations only when p ≤ this cut.

    min(2α, sides·:data:`STOP_EXTREMES`/(R + 1)): the p-value is at most 2α and
    fewer than 20 simulated lags were as extreme as the unit's own (so the
    p-value is still coarse); otherwise the unit keeps its p-value.
    """
    return min(2.0 * alpha, _sides(alternative) * STOP_EXTREMES / (reps + 1.0))


def _adaptive_counts(y, mat, lag_obs, total: int, rng, *, alternative: str, alpha: float,
                     flip: np.ndarray | None = None, progress=None):
    """Staged permutations for ``permutations="auto"``.

    Every unit gets the first stage's 999 permutations; after each stage (see
    :func:`auto_stages`), the units whose p-value is at most :func:`stage_cut`
    get the next stage's permutations, and their p-value counts all they got.
    *flip* marks units whose statistic decreases with the lag (local Moran with
    z_i < 0): their ≥/≤ counts are swapped. Returns (ge, le, R per unit, units
    entering each stage).
    """
    n = len(y)
    ge = np.zeros(n, np.int64)
    le = np.zeros(n, np.int64)
    reps = np.zeros(n, np.int64)
    units = np.flatnonzero(np.diff(mat.indptr) > 0)
    done, entered = 0, []
    for stage in auto_stages(total):
        if done:  # units whose p-value is still coarse and at most 2 alpha go on
            p = _p_from_counts(ge[units], le[units], done, alternative)
            units = units[p <= stage_cut(done, alpha, alternative)]
            if not units.size:
                break
            if progress is not None:
                progress.add_total(units.size * (stage - done))
        entered.append(int(units.size))
        g, low = _permutation_counts(y, mat, lag_obs, stage - done, rng, units=units,
                                     progress=progress)
        if flip is not None:
            g, low = np.where(flip[units], low, g), np.where(flip[units], g, low)
        ge[units] += g
        le[units] += low
        reps[units] = stage
        done = stage
    reps[reps == 0] = min(FIRST_ROUND, total)  # units without neighbours (p is NaN)
    return ge, le, reps, entered
