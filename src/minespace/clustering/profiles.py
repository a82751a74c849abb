"""Cluster profiles: size, dominant specialization, mean metrics, readable label."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["PROFILE_METRICS", "activity_label", "profile"]

#: Metrics averaged (area-weighted) in profiles when present.
PROFILE_METRICS: tuple[str, ...] = (
    "count_per_km2",
    "dist_corridor_km",
    "dist_rail_km",
    "time_to_agglomeration_min",
    "hansen_potential",
)

_METHOD_WORDS = {"open_pit": "open pit", "underground": "underground"}


def activity_label(category: str) -> str:
    """Readable text for a category key such as ``"coking_coal_underground"``.

    Examples
    --------
    >>> activity_label("coking_coal_underground")
    'coking coal, underground'
    >>> activity_label("thermal_coal_open_pit")
    'thermal coal, open pit'
    >>> activity_label("iron_ore")
    'iron ore'
    """
    text = str(category)
    for key, word in _METHOD_WORDS.items():
        if text.endswith("_" + key):
            return f"{text[: -len(key) - 1].replace('_', ' ')}, {word}"
    return text.replace("_", " ")


def _levels(values: pd.Series, reference: pd.Series, *, low_is_good: bool) -> pd.Series:
    """'high'/'medium'/'low' from the terciles of the territory-level *reference*."""
    q1, q2 = np.nanquantile(reference.to_numpy(float), [1 / 3, 2 / 3])
    v = values.to_numpy(float)
    if low_is_good:
        lev = np.where(v <= q1, "high", np.where(v <= q2, "medium", "low"))
    else:
        lev = np.where(v >= q2, "high", np.where(v >= q1, "medium", "low"))
    return pd.Series(np.where(np.isnan(v), "unknown", lev), index=values.index)


def profile(territories: pd.DataFrame, labels: Sequence | pd.Series | str, *,
            metrics: Sequence[str] = PROFILE_METRICS) -> pd.DataFrame:
    """Per cluster: size, deposits, dominant activity, mean metrics and a label.

    Parameters
    ----------
    territories : DataFrame
        Territory metrics (``area_km2``, ``count``, ``count__<cat>`` and the
        columns in *metrics* where available).
    labels : str, Series or array
        Cluster of each territory: a column name, a Series aligned on the
        index, or an array in row order.
    metrics : sequence of str
        Columns averaged, weighted by ``area_km2``; missing ones are skipped.

    Returns
    -------
    DataFrame indexed by cluster with ``n_territories``, ``area_km2``,
    ``deposits``, ``deposits_per_1000km2``, ``dominant`` (category key),
    ``dominant_share``, ``n_activities``, ``mean__<metric>``,
    ``corridor_access`` and ``agglomeration_access`` (high/medium/low against
    the terciles over all territories) and ``label``.

    Notes
    -----
    The label is "<dominant activity>, <level> corridor access" (level from
    ``dist_corridor_km``), or "no mining, ..." for clusters without deposits.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"area_km2": [1.0, 1.0, 1.0], "count": [3, 1, 0],
    ...                   "count__coking_coal_underground": [3, 0, 0],
    ...                   "count__thermal_coal_open_pit": [0, 1, 0],
    ...                   "dist_corridor_km": [1.0, 5.0, 50.0]})
    >>> profile(t, [0, 0, 1])["label"].tolist()
    ['coking coal, underground, high corridor access', 'no mining, low corridor access']
    """
    if isinstance(labels, str):
        lab = territories[labels]
    elif isinstance(labels, pd.Series):
        lab = labels.reindex(territories.index)
    else:
        lab = pd.Series(np.asarray(labels), index=territories.index)
    if len(lab) != len(territories) or lab.isna().any():
        raise ValueError("labels must give a cluster for every territory")
    lab = lab.rename("cluster")
    area = territories["area_km2"].astype(float) if "area_km2" in territories.columns else \
        pd.Series(1.0, index=territories.index)
    cats = [c for c in territories.columns if str(c).startswith("count__")]
    g = pd.DataFrame({"area_km2": area, "one": 1}).groupby(lab)
    out = pd.DataFrame({"n_territories": g["one"].sum(), "area_km2": g["area_km2"].sum()})
    counts = territories[cats].fillna(0).groupby(lab).sum() if cats else None
    dep = territories["count"].fillna(0).groupby(lab).sum() if "count" in territories.columns \
        else pd.Series(0.0, index=out.index)
    out["deposits"] = dep
    out["deposits_per_1000km2"] = 1000 * dep / out["area_km2"]
    if counts is not None and len(cats):
        total = counts.sum(axis=1)
        out["dominant"] = np.where(total > 0, counts.idxmax(axis=1).str[len("count__"):], "")
        out["dominant_share"] = np.where(total > 0, counts.max(axis=1) / total.where(total > 0),
                                         np.nan)
        out["n_activities"] = (counts > 0).sum(axis=1)
    else:
        out["dominant"], out["dominant_share"], out["n_activities"] = "", np.nan, 0
    for m in metrics:
        if m in territories.columns:
            v = territories[m].astype(float)
            w = area.where(v.notna(), 0.0)
            num = (v.fillna(0) * w).groupby(lab).sum()
            den = w.groupby(lab).sum()
            out["mean__" + m] = num / den.where(den > 0)
    if "mean__dist_corridor_km" in out.columns:
        out["corridor_access"] = _levels(out["mean__dist_corridor_km"],
                                         territories["dist_corridor_km"], low_is_good=True)
    if "mean__time_to_agglomeration_min" in out.columns:
        out["agglomeration_access"] = _levels(out["mean__time_to_agglomeration_min"],
                                              territories["time_to_agglomeration_min"],
                                              low_is_good=True)
    act = out["dominant"].map(lambda c: activity_label(c) if c else "no mining")
    label = act
    if "corridor_access" in out.columns:
        label = label + ", " + out["corridor_access"] + " corridor access"
    out["label"] = label
    out.index.name = "cluster"
    return out
