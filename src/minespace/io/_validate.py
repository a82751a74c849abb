"""Mapping raw columns onto a canonical schema and collecting every problem."""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._checks import bad_coordinates
from ..errors import FeaturesDroppedWarning, GeometryRepairedWarning, LayerError, Problem
from ..schema import LayerSchema, normalise_category
from ._load import Loaded

MAX_PER_CHECK = 200  # problems recorded per check, to keep messages bounded

ON_INVALID = ("fix", "raise", "drop")
DUPLICATE_IDS = ("raise", "suffix")


class Mapper:
    """Resolves canonical columns to source columns and validates values."""

    def __init__(self, loaded: Loaded, schema: LayerSchema):
        self.loaded = loaded
        self.schema = schema
        self.frame = loaded.frame
        self.problems = loaded.problems
        self.columns = [c for c in self.frame.columns if c != self.frame.geometry.name]
        self.used: set[str] = set()
        self.ids: pd.Series | None = None
        #: canonical column -> source column it was read from (for summaries)
        self.mapping: dict[str, str] = {}

    # -- columns -----------------------------------------------------------------
    def resolve(self, canonical: str, given: str | None, *, required: bool, arg: str) -> str | None:
        """Source column for *canonical*: the one the user named, else an alias."""
        src = self.loaded.source
        if given is not None:
            if given in self.columns:
                self.used.add(given)
                self.mapping[canonical] = str(given)
                return given
            close = difflib.get_close_matches(str(given), list(map(str, self.columns)), n=3)
            hint = f"did you mean {', '.join(map(repr, close))}?" if close else (
                f"available columns: {', '.join(map(str, self.columns))}")
            self.problems.append(Problem(src, None, str(given),
                                         f"column {given!r} (given as {arg}=) not found", hint))
            return None
        lower = {str(c).lower(): c for c in self.columns if c not in self.used}
        for alias in self.schema.aliases.get(canonical, ()):
            if alias in lower:
                self.used.add(lower[alias])
                self.mapping[canonical] = str(lower[alias])
                return lower[alias]
        if required:
            self.problems.append(Problem(
                src, None, canonical, f"required column {canonical!r} not found",
                f"name the source column with {arg}='...' "
                f"(available: {', '.join(map(str, self.columns))})"))
        return None

    def report_rows(self, mask: np.ndarray, column: str | None, message, hint: str) -> None:
        """Add one problem per True row of *mask* (message may be a callable of the row)."""
        positions = np.flatnonzero(mask)
        ids = self.ids
        for pos in positions[:MAX_PER_CHECK]:
            ident = None if ids is None else ids.iloc[pos]
            text = message(pos) if callable(message) else message
            self.problems.append(Problem(self.loaded.source, self.loaded.where(pos, ident),
                                         column, text, hint))
        if len(positions) > MAX_PER_CHECK:
            self.problems.append(Problem(self.loaded.source, None, column,
                                         f"{len(positions) - MAX_PER_CHECK} more rows with: "
                                         f"{message if isinstance(message, str) else 'same'}",
                                         hint))

    # -- ids -----------------------------------------------------------------------
    def ids_from(self, given: str | bool | None, duplicates: str = "raise") -> pd.Series:
        """Ids from the column *given* (or an alias when ``None``); numbered rows when
        ``False`` or when no id column is found. ``duplicates="suffix"`` turns the
        repeats of an id into ``id-2``, ``id-3``... (in row order)."""
        n = len(self.frame)
        if given is True:
            raise TypeError("id= takes a column name, None (find one) or False (number the "
                            "rows), not True")
        if duplicates not in DUPLICATE_IDS:
            raise ValueError(f"duplicate_ids must be one of {DUPLICATE_IDS}, not "
                             f"{duplicates!r}")
        col = (None if given is False else
               self.resolve(self.schema.id_column, given, required=False, arg="id"))
        if col is None:
            width = max(4, len(str(n)))
            ids = pd.Series([f"{self.schema.id_prefix}{i + 1:0{width}d}" for i in range(n)])
            self.ids = None  # generated ids are not worth quoting in messages
            return ids
        raw = self.frame[col].reset_index(drop=True)
        ids = raw.astype(object).where(raw.notna(), None)
        ids = ids.map(lambda v: None if v is None else (str(int(v)) if isinstance(v, float)
                                                        and v.is_integer() else str(v).strip()))
        empty = ids.isna() | (ids == "")
        if duplicates == "suffix":
            unit = ids[~empty].groupby(ids[~empty]).cumcount()
            repeat = unit[unit > 0]
            ids = ids.copy()
            ids[repeat.index] = ids[repeat.index] + "-" + (repeat + 1).astype(str)
        self.ids = ids
        self.report_rows(empty.to_numpy(), str(col), "id is empty",
                         "give every feature a unique id, or omit id= to number them")
        dup = ids.duplicated(keep=False) & ~empty
        if not dup.any():
            return ids
        role = self.schema.layer
        fix = (f"set id = false in [input.{role}] (id=False in Python) to number the rows "
               f"instead, keeping {str(col)!r} as an ordinary column; or duplicate_ids = "
               "\"suffix\" to number the repeats (M1, M1-2...); or aggregate the rows to one "
               "per id before reading")
        if given is None:
            groups = ids[dup].groupby(ids[dup])
            first = ids[dup].iloc[0]
            rows = ", ".join(self.loaded.where(p) for p in ids.index[ids == first][:5])
            self.problems.append(Problem(
                self.loaded.source, None, str(col),
                f"column {str(col)!r}, picked as the id because of its name, repeats "
                f"{groups.ngroups} value(s) on {int(dup.sum())} rows (e.g. {first!r} on "
                f"{rows}): several rows per site (phases, units)?",
                fix + "; or name a unique column with id = '...'"))
            return ids
        for value, group in ids[dup].groupby(ids[dup]):
            rows = ", ".join(self.loaded.where(p) for p in group.index[:10])
            self.problems.append(Problem(self.loaded.source, rows, str(col),
                                         f"duplicate id {value!r} ({len(group)} rows)",
                                         "make ids unique, or " + fix))
        return ids

    # -- values --------------------------------------------------------------------
    def text(self, col: str | None) -> pd.Series:
        """Free text column (names) with missing values as None; all None if *col* is None."""
        if col is None:
            return pd.Series([None] * len(self.frame), dtype=object)
        raw = self.frame[col].reset_index(drop=True).astype(object)
        return raw.where(raw.notna(), None)

    def numeric(self, col: str, *, required_value: bool, label: str) -> pd.Series:
        raw = self.frame[col].reset_index(drop=True)
        if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
            values = raw.astype(float)
            bad_text = np.zeros(len(raw), dtype=bool)
        else:
            text = raw.astype(object).map(lambda v: v.strip().replace(",", "").replace(" ", "")
                                          if isinstance(v, str) else v)
            text = text.where(~text.isin(["", "nan", "NaN", "NA", "null", "None"]), None)
            values = pd.to_numeric(text, errors="coerce").astype(float)
            bad_text = (values.isna() & text.notna()).to_numpy()
        self.report_rows(bad_text, col, lambda p: f"{label} {raw.iloc[p]!r} is not a number",
                         "use a plain number (no units), or leave the cell empty if unknown")
        if required_value:
            self.report_rows((values.isna().to_numpy() & ~bad_text), col, f"{label} is missing",
                             "fill in a value for every feature")
        self.report_rows((values < 0).to_numpy(), col,
                         lambda p: f"{label} {values.iloc[p]:g} is negative",
                         "weights and populations must be >= 0")
        self.report_rows(np.isinf(values.to_numpy()), col, f"{label} is infinite",
                         "use a finite number")
        return values

    def category(self, cols: Sequence[str], *, required_value: bool, label: str,
                 aliases: Mapping[str, str] | None = None) -> pd.Series:
        parts = []
        for col in cols:
            values = self.frame[col].reset_index(drop=True).map(normalise_category)
            if aliases:
                values = values.map(lambda v: aliases.get(v, v) if v is not None else None)
            parts.append(values)
        out = parts[0].astype(object)
        for extra in parts[1:]:
            out = out.where(out.isna() | extra.isna(), out.astype(str) + "_" + extra.astype(str))
            out = out.where(extra.notna(), None)
        if required_value:
            self.report_rows(out.isna().to_numpy(), ", ".join(cols), f"{label} is empty",
                             "fill it in (use a label such as 'unknown' when not known)")
        return out

    # -- geometry ------------------------------------------------------------------
    def geometry(self, on_invalid: str) -> gpd.GeoSeries:
        if on_invalid not in ON_INVALID:
            raise ValueError(f"on_invalid must be one of {ON_INVALID}, not {on_invalid!r}")
        geoms = self.frame.geometry.reset_index(drop=True)
        arr = np.asarray(geoms.values, dtype=object)
        missing = shapely.is_missing(arr) | shapely.is_empty(arr)
        self.report_rows(missing, "geometry", "geometry is null or empty",
                         "give the feature a location or remove it")
        types = np.asarray(shapely.get_type_id(arr))
        allowed = set()
        names = {"Point": (0, 4), "LineString": (1, 5), "Polygon": (3, 6)}
        for g in self.schema.geometry_types:
            allowed.update(names[g])
        wrong = ~np.isin(types, list(allowed)) & ~missing
        expected = " or ".join(self.schema.geometry_types)
        self.report_rows(wrong, "geometry",
                         lambda p: f"geometry is a {arr[p].geom_type}, expected {expected}",
                         f"{self.schema.layer} must be {expected} features")
        # multipoints with one point become points
        is_multipoint = (types == 4) & ~missing
        if is_multipoint.any() and 0 in allowed:
            single = shapely.get_num_geometries(arr[is_multipoint]) == 1
            idx = np.flatnonzero(is_multipoint)
            arr[idx[single]] = shapely.get_geometry(arr[idx[single]], 0)
            self.report_rows(np.isin(np.arange(len(arr)), idx[~single]), "geometry",
                             "geometry is a MultiPoint with several points",
                             "split it into one feature per point")
        ok = ~missing & ~wrong
        ok &= ~self._check_finite(arr, ok)
        self._check_ranges(arr, ok)
        arr = self._repair(arr, ok & np.isin(types, [3, 6]), on_invalid)
        return gpd.GeoSeries(arr, crs=self.frame.crs)

    def _check_finite(self, arr: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """Report rows with NaN/infinite coordinates, and (projected CRS) coordinates
        that are no place on Earth (e.g. 1e12 m); returns the rows reported."""
        crs = self.frame.crs
        projected = crs is not None and crs.is_projected
        nonfinite, outside = bad_coordinates(np.where(ok, arr, None), crs if projected else None)
        self.report_rows(nonfinite, "geometry", "coordinates are not finite (NaN or infinite)",
                         "give the feature real coordinates or remove it")
        def first_xy(p):
            x, y = shapely.get_coordinates(arr[p])[0]
            return f"({x:.6g}, {y:.6g})"

        self.report_rows(outside, "geometry",
                         lambda p: f"coordinates are outside what {crs.to_string()} can "
                         f"represent (they are not a place on Earth): e.g. {first_xy(p)}",
                         "fix the coordinates, or give the layer its real CRS with crs=...")
        return nonfinite | outside

    def _check_ranges(self, arr: np.ndarray, ok: np.ndarray) -> None:
        crs = self.frame.crs
        if crs is None or not crs.is_geographic or not ok.any():
            return
        bounds = np.full((len(arr), 4), np.nan)
        bounds[ok] = shapely.bounds(arr[ok])
        with np.errstate(invalid="ignore"):
            bad_lon = (bounds[:, 0] < -180) | (bounds[:, 2] > 180)
            bad_lat = (bounds[:, 1] < -90) | (bounds[:, 3] > 90)
            lon_fits_lat = (np.abs(bounds[:, 0]) <= 90) & (np.abs(bounds[:, 2]) <= 90)
            swapped = bad_lat & ~bad_lon & lon_fits_lat
        self.report_rows(swapped, "geometry",
                         lambda p: f"latitude {bounds[p, 3]:g} is beyond 90: longitude and "
                         "latitude look swapped", "swap the coordinate columns (x = longitude)")
        swapped_row = self._swapped_outliers(bounds, ok & ~(bad_lon | bad_lat))
        self.report_rows(swapped_row, "geometry",
                         lambda p: f"point ({bounds[p, 0]:g}, {bounds[p, 1]:g}) lies far from the "
                         "others but would fall among them with longitude and latitude "
                         "swapped", "swap its coordinates (x = longitude, y = latitude)")
        other = (bad_lon | bad_lat) & ~swapped
        self.report_rows(other, "geometry",
                         lambda p: "coordinates outside longitude [-180, 180] / latitude "
                         f"[-90, 90] (bounds {np.round(bounds[p], 4).tolist()})",
                         "the data may be projected: pass its real CRS with crs=... "
                         "or fix the coordinates")

    @staticmethod
    def _swapped_outliers(bounds: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """Rows > 5 degrees from the layer's median whose swapped point is within
        a tenth of that distance (only with >= 3 valid rows)."""
        out = np.zeros(len(bounds), dtype=bool)
        if ok.sum() < 3:
            return out
        x, y = bounds[:, 0], bounds[:, 1]
        mx, my = np.median(x[ok]), np.median(y[ok])
        with np.errstate(invalid="ignore"):
            d = np.hypot(x - mx, y - my)
            d_swap = np.hypot(y - mx, x - my)
            out[ok] = (d[ok] > 5.0) & (d_swap[ok] < 0.1 * d[ok])
        return out

    def _repair(self, arr: np.ndarray, polys: np.ndarray, on_invalid: str) -> np.ndarray:
        invalid = np.zeros(len(arr), dtype=bool)
        invalid[polys] = ~shapely.is_valid(arr[polys])
        n = int(invalid.sum())
        if not n:
            return arr
        if on_invalid == "raise":
            self.report_rows(invalid, "geometry",
                             lambda p: f"invalid polygon: {shapely.is_valid_reason(arr[p])}",
                             "repair it (on_invalid='fix') or fix the source")
            return arr
        if on_invalid == "drop":
            self.dropped = invalid
            warnings.warn(f"{self.loaded.source}: dropped {n} invalid polygon(s)",
                          FeaturesDroppedWarning, stacklevel=4)
            return arr
        fixed = shapely.make_valid(arr[invalid])
        # keep only the polygonal part of what make_valid returns
        fixed = np.array([_polygonal(g) for g in fixed], dtype=object)
        arr = arr.copy()
        arr[invalid] = fixed
        warnings.warn(f"{self.loaded.source}: repaired {n} invalid polygon(s) with make_valid",
                      GeometryRepairedWarning, stacklevel=4)
        return arr

    def raise_if_problems(self) -> None:
        if self.problems:
            raise LayerError(self.problems)


def _polygonal(geom):
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else geom
