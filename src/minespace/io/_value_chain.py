"""The value-chain input of processing facilities (``read_facilities(value_chain=...)``)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import MinespaceWarning
from ..schema import (
    DEFAULT_VALUE_CHAINS,
    NON_PROCESSING_KINDS,
    normalise_category,
    normalise_value_chain,
)
from ._validate import Mapper

#: Rows quoted in the warning about facilities without an input.
_MAX_ROWS = 10


def user_value_chains(value_chains: Mapping[str, str] | None) -> dict[str, str]:
    """``value_chains=`` read like the data: kinds normalised, inputs canonical."""
    if value_chains is None:
        return {}
    if not isinstance(value_chains, Mapping):
        raise TypeError("value_chains= takes a dict {facility kind: input}, e.g. "
                        f"{{'cement': 'other'}}, not {type(value_chains).__name__}")
    out = {}
    for kind, chain in value_chains.items():
        if not isinstance(chain, str) or normalise_value_chain(chain) is None:
            raise TypeError(f"value_chains[{kind!r}] must be a non-empty text such as "
                            f"'coking_coal' or 'coking_coal;iron_ore', not {chain!r}")
        out[normalise_category(kind)] = normalise_value_chain(chain)
    return out


def value_chains(m: Mapper, column: str | None, kinds: pd.Series,
                 value_chains: Mapping[str, str] | None) -> tuple[pd.Series, pd.Series]:
    """``value_chain`` and ``value_chain_source`` of every row (positional index).

    The data's own value (``"data"``) wins; else the user's ``value_chains`` and then
    :data:`~minespace.schema.DEFAULT_VALUE_CHAINS` by kind (``"kind"``). Rows left
    without one stay NaN; one :class:`MinespaceWarning` names those whose kind is not
    an extracting one (:data:`~minespace.schema.NON_PROCESSING_KINDS`).
    """
    table = {**DEFAULT_VALUE_CHAINS, **user_value_chains(value_chains)}
    n = len(kinds)
    if column is not None:
        data = m.frame[column].reset_index(drop=True).map(normalise_value_chain).astype(object)
    else:
        data = pd.Series([None] * n, dtype=object)
    by_kind = kinds.reset_index(drop=True).map(table).astype(object)
    has_data = data.notna().to_numpy()
    chain = data.where(has_data, by_kind)
    chain = chain.where(chain.notna(), None)
    source = pd.Series(np.where(has_data, "data", np.where(chain.notna(), "kind", None)),
                       dtype=object)
    source = source.where(source.notna(), None)
    missing = chain.isna().to_numpy() & ~kinds.reset_index(drop=True).isin(
        NON_PROCESSING_KINDS).to_numpy()
    if missing.any():
        _warn(m, column, kinds.reset_index(drop=True), missing)
    return chain.where(chain.notna(), np.nan), source.where(source.notna(), np.nan)


def _warn(m: Mapper, column: str | None, kinds: pd.Series, missing: np.ndarray) -> None:
    positions = np.flatnonzero(missing)
    ids = m.ids
    rows = [m.loaded.where(int(p), None if ids is None else ids.iloc[p])
            + f" kind {kinds.iloc[p]!r}" for p in positions[:_MAX_ROWS]]
    more = f" and {len(positions) - _MAX_ROWS} more" if len(positions) > _MAX_ROWS else ""
    where = (f"column {str(column)!r} is empty" if column is not None
             else "the layer has no value-chain column (value_chain, input, feedstock)")
    from .readers import _toml_key

    example = next((k for k in kinds.iloc[positions] if k is not None), "cement")
    noun = "facility has" if len(positions) == 1 else "facilities have"
    warnings.warn(
        f"{m.loaded.source}: {len(positions)} {noun}"
        f" no value-chain input ({where} and the kind has no default): "
        f"{'; '.join(rows)}{more}. They are kept but do not count for value-chain access "
        "-> give the input in the data (a value_chain column: coking_coal, thermal_coal, "
        f"coal_chemicals, iron_ore, other...), or per kind with value_chains="
        f"{{{example!r}: 'other'}} (config: [input.facilities] value_chains = "
        f"{{ {_toml_key(example)} = \"other\" }})", MinespaceWarning, stacklevel=4)
