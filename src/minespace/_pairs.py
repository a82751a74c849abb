"""Origin-destination pairs within a travel-time threshold, as a long table (the links of
:func:`minespace.value_chain_links` and :func:`minespace.knowledge_links`)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def pairs_within(times: np.ndarray, threshold: float, origins: pd.Index,
                 destinations: pd.DataFrame, *, origin_id: str, destination_id: str,
                 name: str, extra: str) -> pd.DataFrame:
    """Every (i, j) with ``times[i, j] <= threshold``, ordered by origin (row order), then
    time, then destination (row order): columns *origin_id*, *destination_id*, *name*
    (the destinations' ``name``, NaN without one), *extra* (the destinations' column of
    that name) and ``time_min``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> dest = pd.DataFrame({"kind": ["a", "b"]}, index=["X", "Y"])
    >>> pairs_within(np.array([[5.0, 1.0], [9.0, np.nan]]), 5.0, pd.Index(["o1", "o2"]),
    ...              dest, origin_id="o", destination_id="d", name="d_name", extra="kind")
        o  d d_name kind  time_min
    0  o1  Y    NaN    b       1.0
    1  o1  X    NaN    a       5.0
    """
    i, j = np.nonzero(times <= threshold)
    t = times[i, j]
    order = np.lexsort((j, t, i))
    i, j, t = i[order], j[order], t[order]
    names = (destinations["name"].to_numpy(dtype=object)[j] if "name" in destinations.columns
             else np.full(len(j), np.nan, dtype=object))

    def text(values) -> pd.Series:
        return pd.Series(values, dtype="object")

    return pd.DataFrame({
        origin_id: text(np.asarray(origins, dtype=object)[i]),
        destination_id: text(np.asarray(destinations.index, dtype=object)[j]),
        name: text(names),
        extra: text(destinations[extra].to_numpy(dtype=object)[j]),
        "time_min": t.astype(float),
    })
