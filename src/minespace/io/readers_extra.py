"""Readers of the innovation layers: ``read_institutions`` and ``read_projects``
(placed by :func:`minespace.io.locate.locate_projects`).

They follow :mod:`minespace.io.readers`: a path or an in-memory frame, the user's
columns mapped onto the canonical schema (:mod:`minespace.schema`), every problem
collected into one :class:`~minespace.errors.LayerError`, the input only read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import Problem
from ..schema import (
    INSTITUTION_KIND_ALIASES,
    INSTITUTION_KINDS,
    INSTITUTIONS,
    PROJECTS,
    normalise_category,
)
from ._load import CSV_SUFFIXES, LAT_NAMES, LON_NAMES, Loaded, load, read_table_file
from ._validate import Mapper
from .readers import _assemble, _filter, _toml_key

__all__ = ["INVESTMENT_UNITS", "ROWS_ATTR", "read_institutions", "read_projects"]

Source = str | os.PathLike | gpd.GeoDataFrame | pd.DataFrame

#: Units of ``investment_unit`` ("" = plain currency units).
INVESTMENT_UNITS = ("", "thousand", "million", "billion")

#: Tokens of an investment column name -> unit (``investment_bn_rub`` -> billion).
_UNIT_TOKENS = {"bn": "billion", "bln": "billion", "billion": "billion", "billions": "billion",
                "mn": "million", "mln": "million", "million": "million", "millions": "million",
                "m": "million", "k": "thousand", "th": "thousand", "thousand": "thousand",
                "thousands": "thousand", "thsd": "thousand"}
_UNIT_ARGS = {**_UNIT_TOKENS, "": "", "units": "", "unit": ""}
#: Tokens of an investment column name -> ISO 4217 currency.
_CURRENCY_TOKENS = {c.lower(): c for c in (
    "RUB", "USD", "EUR", "CNY", "GBP", "PLN", "CZK", "KZT", "UAH", "AUD", "CAD", "CHF",
    "INR", "JPY", "ZAR", "BRL", "CLP", "PEN", "MNT", "SEK", "NOK", "IDR", "TRY")}
_CURRENCY_TOKENS.update({"rur": "RUB", "rubles": "RUB", "roubles": "RUB", "rouble": "RUB",
                         "ruble": "RUB", "dollars": "USD", "euro": "EUR", "euros": "EUR"})
#: Rows quoted in a warning.
_MAX_ROWS = 10
#: Attribute recording the source row of each project (for later messages).
ROWS_ATTR = "minespace_rows"


# -- institutions --------------------------------------------------------------------------

def _user_kinds(kinds: Mapping[str, str] | None) -> dict[str, str]:
    """``kinds=`` read like the data; every target must be a canonical kind (or alias)."""
    if kinds is None:
        return {}
    if not isinstance(kinds, Mapping):
        raise TypeError("kinds= takes a dict {your kind: canonical kind}, e.g. "
                        f"{{'Hochschule': 'university'}}, not {type(kinds).__name__}")
    out, bad = {}, []
    for key, target in kinds.items():
        norm = normalise_category(target) if isinstance(target, str) else None
        canonical = INSTITUTION_KIND_ALIASES.get(norm, norm)
        if canonical not in INSTITUTION_KINDS:
            bad.append(f"{key!r}: {target!r}")
        out[normalise_category(key)] = canonical
    if bad:
        raise ValueError(f"kinds= maps onto kinds that do not exist ({', '.join(bad)}); "
                         f"allowed: {', '.join(INSTITUTION_KINDS)}")
    return out


def read_institutions(
    source: Source,
    *,
    layer: str | int | None = None,
    where: str | None = None,
    id: str | bool | None = None,
    duplicate_ids: str = "raise",
    name: str | None = None,
    kind: str | None = None,
    kinds: Mapping[str, str] | None = None,
    field: str | None = None,
    size: str | None = None,
    size_unit: str | None = None,
    keep: str | Sequence[str] | None = "all",
    crs: object = None,
    lon: str | None = None,
    lat: str | None = None,
    encoding: str | None = None,
) -> gpd.GeoDataFrame:
    """Read and validate knowledge and innovation institutions (points or polygons).

    Universities and their branches, research institutes, technoparks, education
    centres, incubators and economic zones: the knowledge infrastructure of a
    cluster (:mod:`minespace.knowledge` weights them by kind and size).

    Parameters
    ----------
    source : path or GeoDataFrame
        See :func:`minespace.read_deposits` for formats.
    where, id, duplicate_ids, encoding, crs, lon, lat, keep : optional
        As in :func:`minespace.read_deposits`.
    name, kind, field, size, size_unit : str, optional
        Source columns (defaults: ``name``/``institution``/``title``,
        ``kind``/``type``/``category``, ``field``/``profile``,
        ``size``/``students``/``staff``, ``size_unit``/``unit``).
    kinds : dict, optional
        The data's own kind labels -> canonical kinds, e.g.
        ``{"Hochschule": "university", "Fraunhofer": "research"}``; keys are read
        like the data (normalised). Checked before the built-in aliases.

    Returns
    -------
    GeoDataFrame
        Indexed by ``institution_id``; columns ``name``, ``kind`` (one of
        :data:`minespace.schema.INSTITUTION_KINDS`), ``field`` (normalised text or
        NaN), ``size`` (float, NaN when unknown), ``size_unit`` (text or NaN), the
        kept columns and **point** geometry (a polygon becomes its representative
        point, a point guaranteed to lie inside it).

    Raises
    ------
    LayerError
        The problems of :func:`minespace.read_deposits`, plus one per ``kind``
        value outside the vocabulary (after ``kinds=`` and the aliases of
        ``docs/layers.md``), listing its rows, the allowed kinds and the fix
        (``kinds={...}``, or ``[input.institutions] kinds = {...}`` in a config);
        a size that is not a number >= 0.
    ValueError
        If ``kinds=`` maps onto a kind that does not exist.

    Examples
    --------
    >>> import minespace as ms, geopandas as gpd, shapely
    >>> unis = gpd.GeoDataFrame(
    ...     {"type": ["Hochschule", "Technology park"], "students": [21000, None]},
    ...     geometry=[shapely.Point(86.05, 55.39), shapely.Point(87.2, 53.8)], crs=4326)
    >>> ms.read_institutions(unis, kinds={"Hochschule": "university"})[["kind", "size"]]
                          kind     size
    institution_id
    I0001           university  21000.0
    I0002           technopark      NaN
    """
    user = _user_kinds(kinds)
    loaded = _filter(load(source, layer=layer, lon=lon, lat=lat, crs=crs,
                          encoding=encoding), where, "institutions")
    m = Mapper(loaded, INSTITUTIONS)
    ids = m.ids_from(id, duplicate_ids)
    name_col = m.resolve("name", name, required=False, arg="name")
    kind_col = m.resolve("kind", kind, required=True, arg="kind")
    field_col = m.resolve("field", field, required=False, arg="field")
    size_col = m.resolve("size", size, required=False, arg="size")
    unit_col = m.resolve("size_unit", size_unit, required=False, arg="size_unit")
    n = len(m.frame)
    nan = pd.Series(np.nan, index=pd.RangeIndex(n), dtype=object)
    cols: dict[str, pd.Series] = {"name": m.text(name_col)}
    if kind_col is not None:
        raw = m.category([kind_col], required_value=True, label="kind")
        cols["kind"] = _institution_kinds(m, kind_col, raw, user)
    cols["field"] = (m.category([field_col], required_value=False, label="field")
                     if field_col else nan.copy())
    cols["size"] = (m.numeric(size_col, required_value=False, label="size") if size_col
                    else pd.Series(np.nan, index=pd.RangeIndex(n)))
    cols["size_unit"] = _text(m, unit_col) if unit_col else nan.copy()
    geometry = m.geometry("fix")
    m.raise_if_problems()
    cols = {k: (v.where(v.notna(), np.nan) if v.dtype == object and k != "name" else v)
            for k, v in cols.items()}
    polygonal = np.isin(shapely.get_type_id(np.asarray(geometry.values)), [3, 6])
    if polygonal.any():
        geometry = geometry.copy()
        geometry[polygonal] = geometry[polygonal].representative_point()
    return _assemble(m, ids, cols, geometry, keep)


def _institution_kinds(m: Mapper, column: str, raw: pd.Series,
                       user: dict[str, str]) -> pd.Series:
    """Canonical kinds: the user's mapping, then the aliases; unknown values reported."""
    table = {**INSTITUTION_KIND_ALIASES, **{k: k for k in INSTITUTION_KINDS}, **user}
    kinds = raw.map(table)
    unknown = raw.notna() & kinds.isna()
    if unknown.any():
        ids = m.ids
        values = raw[unknown]
        example = values.iloc[0]
        for value, group in values.groupby(values, sort=True):
            rows = [m.loaded.where(int(p), None if ids is None else ids.iloc[p])
                    for p in group.index[:_MAX_ROWS]]
            more = f" and {len(group) - _MAX_ROWS} more" if len(group) > _MAX_ROWS else ""
            m.problems.append(Problem(
                m.loaded.source, ", ".join(rows) + more, str(column),
                f"institution kind {value!r} is not in the vocabulary ({len(group)} row(s))",
                f"allowed kinds: {', '.join(INSTITUTION_KINDS)} (aliases in docs/layers.md); "
                f"map your own labels with kinds={{{example!r}: 'university'}} in Python, or "
                f"[input.institutions] kinds = {{ {_toml_key(example)} = \"university\" }} "
                "in a config ('university' is only an example)"))
    return kinds.astype(object)


def _text(m: Mapper, column: str | None) -> pd.Series:
    """Stripped text; empty cells NaN."""
    values = m.text(column).map(lambda v: str(v).strip() if v is not None else None)
    return values.where(values.notna() & (values != ""), np.nan).astype(object)


# -- projects ------------------------------------------------------------------------------

def _load_projects(source: Source, *, layer, lon, lat, crs, encoding) -> Loaded:
    """Like :func:`~minespace.io._load.load`, but a table without coordinate columns is
    a layer without geometry (its projects are placed by deposit id or town), and a row
    whose two coordinates are both empty has no point (it is not an error)."""
    table = name = None
    if isinstance(source, pd.DataFrame) and not isinstance(source, gpd.GeoDataFrame):
        table, name, offset = source.copy(), "<DataFrame>", 0
    elif isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() in CSV_SUFFIXES:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"input file not found: {path} (check the path)")
        table, name, offset = read_table_file(path, encoding), path.name, 2
    if table is None:
        return load(source, layer=layer, lon=lon, lat=lat, crs=crs, encoding=encoding)
    lower = {str(c).lower(): c for c in table.columns}
    x_col = lon if lon is not None else next((lower[c] for c in LON_NAMES if c in lower), None)
    y_col = lat if lat is not None else next((lower[c] for c in LAT_NAMES if c in lower), None)
    loaded = Loaded(gpd.GeoDataFrame(), name, "line" if offset else "row", offset)
    geometry = np.full(len(table), None, dtype=object)
    missing = [(arg, c) for arg, c in (("lon", lon), ("lat", lat))
               if c is not None and c not in table.columns]
    for arg, col in missing:
        loaded.problems.append(Problem(name, None, str(col), f"column {col!r} (given as "
                                       f"{arg}=) not found",
                                       f"columns: {', '.join(map(str, table.columns))}"))
    if not missing and x_col is not None and y_col is not None:
        raw_x, raw_y = table[x_col], table[y_col]
        x = pd.to_numeric(raw_x, errors="coerce")
        y = pd.to_numeric(raw_y, errors="coerce")
        both_empty = raw_x.isna() & raw_y.isna()
        for col, raw, values in ((x_col, raw_x, x), (y_col, raw_y, y)):
            for pos in np.flatnonzero((values.isna() & ~both_empty).to_numpy()):
                cell = raw.iloc[pos]
                msg = ("coordinate is empty while the other is given" if pd.isna(cell)
                       else f"coordinate {cell!r} is not a number")
                loaded.problem_rows[len(loaded.problems)] = int(pos)
                loaded.problems.append(Problem(name, loaded.where(int(pos)), str(col), msg,
                                               "fill in both decimal-degree values, or leave "
                                               "both empty to place the project otherwise"))
        ok = (x.notna() & y.notna()).to_numpy()
        geometry[ok] = gpd.points_from_xy(x[ok], y[ok])
        table = table.drop(columns=[x_col, y_col])
    loaded.frame = gpd.GeoDataFrame(table.reset_index(drop=True),
                                    geometry=gpd.GeoSeries(geometry),
                                    crs=crs if crs is not None else 4326)
    return loaded


def _investment_column(m: Mapper, given: str | None) -> str | None:
    """The investment column: the one named, ``investment``, else the only column
    whose name starts with ``investment`` (``investment_bn_rub``)."""
    if given is not None:
        return m.resolve("investment", given, required=False, arg="investment")
    candidates = [c for c in m.columns if c not in m.used
                  and str(c).lower().startswith(("investment", "capex"))]
    exact = [c for c in candidates if str(c).lower() in ("investment", "capex")]
    pick = exact[0] if exact else (candidates[0] if len(candidates) == 1 else None)
    if pick is not None:
        m.used.add(pick)
        m.mapping["investment"] = str(pick)
    elif len(candidates) > 1:
        m.problems.append(Problem(m.loaded.source, None, "investment",
                                  f"several investment columns ({', '.join(candidates)})",
                                  "name one with investment='...'"))
    return pick


def _currency_unit(m: Mapper, column: str | None, currency: str | None,
                   unit: str | None) -> tuple[object, str]:
    """Currency and unit from the arguments, else from the column's name."""
    tokens = re.split(r"[\W_]+", str(column).lower()) if column is not None else []
    if unit is None:
        unit = next((_UNIT_TOKENS[t] for t in tokens if t in _UNIT_TOKENS), "")
    else:
        key = str(unit).strip().lower()
        if key not in _UNIT_ARGS:
            raise ValueError(f"unit={unit!r} is not a unit of money; use one of "
                             f"{', '.join(map(repr, INVESTMENT_UNITS))}")
        unit = _UNIT_ARGS[key]
    if currency is None:
        currency = next((_CURRENCY_TOKENS[t] for t in tokens if t in _CURRENCY_TOKENS), None)
        if currency is None and column is not None:
            m.problems.append(Problem(
                m.loaded.source, None, str(column),
                f"the currency of investment column {str(column)!r} is not known",
                "give it with currency='RUB' (the ISO code; in a config [input.projects] "
                "currency = \"RUB\"), or name the column like investment_bn_rub"))
    elif not (isinstance(currency, str) and currency.strip()):
        raise ValueError(f"currency={currency!r}: give an ISO 4217 code such as 'RUB'")
    else:
        currency = currency.strip().upper()
    return (currency if currency is not None else np.nan), unit


def read_projects(
    source: Source,
    *,
    layer: str | int | None = None,
    where: str | None = None,
    id: str | bool | None = None,
    duplicate_ids: str = "raise",
    name: str | None = None,
    category: str | None = None,
    investment: str | None = None,
    currency: str | None = None,
    unit: str | None = None,
    jobs: str | None = None,
    year: str | None = None,
    deposit: str | None = None,
    town: str | None = None,
    lon: str | None = None,
    lat: str | None = None,
    crs: object = None,
    keep: str | Sequence[str] | None = "all",
    encoding: str | None = None,
) -> gpd.GeoDataFrame:
    """Read and validate investment projects (a table, with or without coordinates).

    A project is placed later by :func:`minespace.locate_projects` (and
    :meth:`minespace.Region.from_layers`): by its coordinates, else the deposit it
    names, else the town it names; projects that cannot be placed are kept.

    Parameters
    ----------
    source : path or (Geo)DataFrame
        A CSV/TSV (coordinate columns optional: a row with both empty has no point),
        a table, or any vector format of :func:`minespace.read_deposits`.
    where, id, duplicate_ids, keep, encoding, layer : optional
        As in :func:`minespace.read_deposits`; generated ids are ``P01``, ``P02``...
    name, category, jobs, year, deposit, town : str, optional
        Source columns (defaults: ``name``/``project``, ``category``/``sector``,
        ``jobs``/``jobs_created``, ``year``/``implementation_year``,
        ``deposit_id``/``gem_mine_id``/``mine_id``, ``town``/``city``).
    investment : str, optional
        Source column of the investment (default: ``investment``, or the only
        column whose name starts with ``investment``, e.g. ``investment_bn_rub``).
    currency : str, optional
        ISO 4217 code; default: read from the column name (``..._rub`` -> RUB).
    unit : {"", "thousand", "million", "billion"}, optional
        Default: read from the column name (``_bn_`` -> billion), else ``""``.
    lon, lat : str, optional
        Coordinate columns of a table (default: lon/lng/longitude/x, lat/latitude/y).
    crs : CRS-like, optional
        CRS of a file without one (tables: EPSG:4326).

    Returns
    -------
    GeoDataFrame
        Indexed by ``project_id``; columns ``name``, ``category``, ``investment``
        (float, in ``investment_unit`` of ``currency``), ``currency``,
        ``investment_unit``, ``jobs`` (float), ``year`` (Int64), ``deposit_id``
        and ``town`` (text or NaN), the kept columns, and point geometry (None where
        the source gives no coordinates).

    Raises
    ------
    LayerError
        An investment column whose currency is unknown (naming it and
        ``currency=``); investments or jobs that are not numbers >= 0; a year
        that is not a whole number; a coordinate given without the other; and the
        id, geometry and CRS problems of :func:`minespace.read_deposits`.

    Examples
    --------
    >>> import minespace as ms, pandas as pd
    >>> table = pd.DataFrame({"project": ["Coke battery", "Sorbents"],
    ...                       "investment_bn_rub": [7.5, 2], "gem_mine_id": ["M0804", None]})
    >>> projects = ms.read_projects(table)
    >>> projects[["investment", "currency", "investment_unit", "deposit_id"]]
                investment currency investment_unit deposit_id
    project_id
    P01                7.5      RUB         billion      M0804
    P02                2.0      RUB         billion        NaN
    """
    loaded = _filter(_load_projects(source, layer=layer, lon=lon, lat=lat, crs=crs,
                                    encoding=encoding), where, "projects")
    m = Mapper(loaded, PROJECTS)
    ids = m.ids_from(id, duplicate_ids)
    if m.ids is None:  # generated: P01, P02... (two digits at least)
        width = max(2, len(str(len(ids))))
        ids = pd.Series([f"P{i + 1:0{width}d}" for i in range(len(ids))])
    name_col = m.resolve("name", name, required=False, arg="name")
    cat_col = m.resolve("category", category, required=False, arg="category")
    inv_col = _investment_column(m, investment)
    jobs_col = m.resolve("jobs", jobs, required=False, arg="jobs")
    year_col = m.resolve("year", year, required=False, arg="year")
    dep_col = m.resolve("deposit_id", deposit, required=False, arg="deposit")
    town_col = m.resolve("town", town, required=False, arg="town")
    cur, inv_unit = _currency_unit(m, inv_col, currency, unit)
    n = len(m.frame)
    nan = pd.Series(np.nan, index=pd.RangeIndex(n))
    no_text = pd.Series(np.nan, index=pd.RangeIndex(n), dtype=object)
    cols: dict[str, pd.Series] = {
        "name": _text(m, name_col), "category": _text(m, cat_col) if cat_col else no_text,
        "investment": (m.numeric(inv_col, required_value=False, label="investment")
                       if inv_col else nan),
        "currency": pd.Series([cur] * n, dtype=object),
        "investment_unit": pd.Series([inv_unit] * n, dtype=object),
        "jobs": m.numeric(jobs_col, required_value=False, label="jobs") if jobs_col else nan,
        "year": _years(m, year_col),
        "deposit_id": _ids_text(m, dep_col), "town": _text(m, town_col) if town_col else no_text,
    }
    before = len(m.problems)
    geometry = m.geometry("raise")
    # a project without a point is placed otherwise: not a problem here
    m.problems[before:] = [p for p in m.problems[before:]
                           if p.message != "geometry is null or empty"]
    m.raise_if_problems()
    out = _assemble(m, ids, cols, geometry, keep)
    out.attrs[ROWS_ATTR] = {i: m.loaded.where(p) for p, i in enumerate(out.index)}
    return out


def _years(m: Mapper, column: str | None) -> pd.Series:
    n = len(m.frame)
    if column is None:
        return pd.Series(pd.array([pd.NA] * n, dtype="Int64"))
    values = m.numeric(column, required_value=False, label="year")
    fraction = values.notna() & (values % 1 != 0)
    m.report_rows(fraction.to_numpy(), column, lambda p: f"year {values.iloc[p]:g} is not a "
                  "whole number", "give the year as e.g. 2020")
    return values.where(~fraction).round().astype("Int64")


def _ids_text(m: Mapper, column: str | None) -> pd.Series:
    """Deposit ids as text (``1234.0`` read as a number -> ``"1234"``); empty -> NaN."""
    if column is None:
        return pd.Series(np.nan, index=pd.RangeIndex(len(m.frame)), dtype=object)
    raw = m.frame[column].reset_index(drop=True).astype(object)
    text = raw.map(lambda v: None if v is None or (isinstance(v, float) and v != v) else (
        str(int(v)) if isinstance(v, float) and v.is_integer() else str(v).strip()))
    return text.where(text.notna() & (text != ""), np.nan).astype(object)
