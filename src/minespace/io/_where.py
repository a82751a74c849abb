"""Row filters (``where=``): a tiny, safe expression language over a layer's columns.

The text is tokenised and parsed by hand into a small tree; nothing is ever
evaluated as Python. Grammar (keywords are case-insensitive)::

    expr       := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" expr ")" | comparison
    comparison := column ("==" | "!=" | "<" | "<=" | ">" | ">=") value
                | column ["not"] "in" "(" value ("," value)* [","] ")"   (or [ ... ])
                | column "is" ["not"] "null"
    column     := name | `any name in backquotes`
    value      := 'text' | "text" | number | true | false

A missing value satisfies no comparison and no ``in`` (not even ``!=`` or
``not in``); use ``is null`` / ``is not null`` to test for it. ``not`` negates
the result as computed. Text compares exactly (case-sensitive) with the source
value as written in the file, before any normalisation by the reader.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import MinespaceError, Problem

if TYPE_CHECKING:  # imported where used: the config parses filters without pandas
    import numpy as np
    import pandas as pd

__all__ = ["WhereSyntaxError", "parse_where", "where_mask"]

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<op>==|!=|<=|>=|<|>)
  | (?P<punct>[(),\[\]])
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<quoted>`[^`]+`)
  | (?P<name>[^\W\d]\w*)
""", re.VERBOSE | re.UNICODE)

_KEYWORDS = {"and", "or", "not", "in", "is", "null", "true", "false"}
#: deepest nesting of parentheses and ``not`` accepted
MAX_DEPTH = 50


class WhereSyntaxError(MinespaceError, ValueError):
    """A ``where`` text that does not follow the grammar (message says where and why)."""


@dataclass(frozen=True)
class _Tok:
    kind: str     # op, punct, string, number, name, keyword, end
    value: object
    pos: int


def _tokenise(text: str) -> list[_Tok]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise WhereSyntaxError(f"unexpected character {text[pos]!r} at position {pos + 1}")
        kind = m.lastgroup
        raw = m.group()
        if kind == "string":
            out.append(_Tok("string", re.sub(r"\\(.)", r"\1", raw[1:-1]), pos))
        elif kind == "number":
            out.append(_Tok("number", float(raw) if any(c in raw for c in ".eE") else int(raw),
                            pos))
        elif kind == "quoted":
            out.append(_Tok("name", raw[1:-1], pos))
        elif kind == "name":
            low = raw.lower()
            out.append(_Tok("keyword", low, pos) if low in _KEYWORDS else _Tok("name", raw, pos))
        elif kind != "ws":
            out.append(_Tok(kind, raw, pos))
        pos = m.end()
    out.append(_Tok("end", None, len(text)))
    return out


# -- the tree ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Compare:
    column: str
    op: str            # == != < <= > >= in notin isnull notnull
    values: tuple = ()


@dataclass(frozen=True)
class BoolOp:
    op: str            # and, or
    parts: tuple


@dataclass(frozen=True)
class Not:
    part: object


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _tokenise(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, tok: _Tok, expected: str):
        got = "the end of the text" if tok.kind == "end" else repr(str(tok.value))
        raise WhereSyntaxError(f"expected {expected} at position {tok.pos + 1}, got {got}")

    def is_kw(self, word: str) -> bool:
        tok = self.peek()
        return tok.kind == "keyword" and tok.value == word

    def parse(self):
        if self.peek().kind == "end":
            raise WhereSyntaxError("the filter is empty")
        node = self.expr()
        if self.peek().kind != "end":
            self.fail(self.peek(), "'and', 'or' or the end")
        return node

    def expr(self):
        parts = [self.term()]
        while self.is_kw("or"):
            self.take()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else BoolOp("or", tuple(parts))

    def term(self):
        parts = [self.factor()]
        while self.is_kw("and"):
            self.take()
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))

    def factor(self):
        tok = self.peek()
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise WhereSyntaxError(f"the filter nests more than {MAX_DEPTH} levels deep "
                                   f"(at position {tok.pos + 1})")
        try:
            return self._factor(tok)
        finally:
            self.depth -= 1

    def _factor(self, tok: _Tok):
        if self.is_kw("not"):
            self.take()
            return Not(self.factor())
        if tok.kind == "punct" and tok.value == "(":
            self.take()
            node = self.expr()
            close = self.take()
            if close.value != ")":
                self.fail(close, "')'")
            return node
        return self.comparison()

    def comparison(self):
        tok = self.take()
        if tok.kind != "name":
            self.fail(tok, "a column name (quote names with spaces in `backquotes`)")
        column = str(tok.value)
        nxt = self.take()
        if nxt.kind == "op":
            return Compare(column, str(nxt.value), (self.value(),))
        if nxt.kind == "keyword" and nxt.value == "is":
            negate = self.is_kw("not")
            if negate:
                self.take()
            null = self.take()
            if not (null.kind == "keyword" and null.value == "null"):
                self.fail(null, "'null'")
            return Compare(column, "notnull" if negate else "isnull")
        negate = nxt.kind == "keyword" and nxt.value == "not"
        if negate:
            nxt = self.take()
        if nxt.kind == "keyword" and nxt.value == "in":
            return Compare(column, "notin" if negate else "in", self.value_list())
        self.fail(nxt, f"a comparison (==, !=, <, <=, >, >=, in, not in, is null) after "
                       f"{column!r}")

    def value_list(self) -> tuple:
        open_ = self.take()
        if open_.value not in ("(", "["):
            self.fail(open_, "a list in parentheses, e.g. ('a', 'b')")
        close = ")" if open_.value == "(" else "]"
        values = []
        while True:
            if self.peek().value == close and self.peek().kind == "punct" and values:
                self.take()
                break
            values.append(self.value())
            sep = self.take()
            if sep.kind == "punct" and sep.value == close:
                break
            if not (sep.kind == "punct" and sep.value == ","):
                self.fail(sep, f"',' or {close!r}")
        return tuple(values)

    def value(self):
        tok = self.take()
        if tok.kind in ("string", "number"):
            return tok.value
        if tok.kind == "keyword" and tok.value in ("true", "false"):
            return tok.value == "true"
        if tok.kind == "name":
            raise WhereSyntaxError(
                f"expected a value at position {tok.pos + 1}, got the bare word "
                f"{tok.value!r}: quote text values, e.g. '{tok.value}'")
        self.fail(tok, "a value (a quoted text, a number, true or false)")


@dataclass(frozen=True)
class Where:
    """A parsed row filter: :meth:`check` it against a frame, then :meth:`mask`."""

    text: str
    tree: object

    def columns(self) -> list[str]:
        """Column names used, in order of appearance."""
        out: list[str] = []

        def walk(node):
            if isinstance(node, Compare):
                if node.column not in out:
                    out.append(node.column)
            elif isinstance(node, BoolOp):
                for p in node.parts:
                    walk(p)
            else:
                walk(node.part)

        walk(self.tree)
        return out

    def check(self, frame: pd.DataFrame, source: str) -> list[Problem]:
        """Problems of this filter on *frame*: unknown columns, type mismatches."""
        problems: list[Problem] = []
        columns = [c for c in frame.columns if c != getattr(frame, "_geometry_column_name", None)]
        hint_cols = ", ".join(map(str, columns))
        geometry = getattr(frame, "_geometry_column_name", None)
        for name in self.columns():
            if name == geometry:
                problems.append(Problem(source, None, name,
                                        "where: the geometry cannot be filtered by value",
                                        f"filter on the attribute columns: {hint_cols}"))
            elif name not in frame.columns:
                close = difflib.get_close_matches(name, list(map(str, columns)), n=3)
                hint = (f"did you mean {', '.join(map(repr, close))}? " if close else "")
                problems.append(Problem(source, None, name,
                                        f"where: column {name!r} not found",
                                        f"{hint}columns of the file: {hint_cols}"))
        if problems:
            return problems
        for node in self._compares():
            if node.op in ("isnull", "notnull"):
                continue
            kind = _column_kind(frame[node.column])
            for value in node.values:
                message = _mismatch(kind, node, value)
                if message:
                    problems.append(Problem(source, None, node.column, f"where: {message}",
                                            _kind_hint(kind, frame[node.column])))
                    break
        return problems

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Boolean array: rows that pass (call :meth:`check` first)."""
        import numpy as np

        return np.asarray(self._eval(self.tree, frame), dtype=bool)

    def _compares(self) -> list[Compare]:
        out: list[Compare] = []

        def walk(node):
            if isinstance(node, Compare):
                out.append(node)
            elif isinstance(node, BoolOp):
                for p in node.parts:
                    walk(p)
            else:
                walk(node.part)

        walk(self.tree)
        return out

    def _eval(self, node, frame: pd.DataFrame) -> np.ndarray:
        import numpy as np
        import pandas as pd

        if isinstance(node, BoolOp):
            results = [self._eval(p, frame) for p in node.parts]
            return (np.logical_and.reduce(results) if node.op == "and"
                    else np.logical_or.reduce(results))
        if isinstance(node, Not):
            return ~self._eval(node.part, frame)
        col = frame[node.column].reset_index(drop=True)
        missing = _missing(col)
        if node.op == "isnull":
            return missing
        if node.op == "notnull":
            return ~missing
        if pd.api.types.is_datetime64_any_dtype(col):
            values = col.astype(object)
            wanted = [_timestamp(v, col) for v in node.values]
        else:
            numeric = _numeric_values(node.values) and not pd.api.types.is_bool_dtype(col)
            values = _as_kind(col, numeric)
            wanted = [float(v) for v in node.values] if numeric else list(node.values)
        if node.op in ("in", "notin"):
            hit = values.isin(wanted).to_numpy()
            return (hit if node.op == "in" else ~hit) & ~missing
        ops = {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
               ">": np.greater, ">=": np.greater_equal}
        result = np.zeros(len(col), dtype=bool)
        ok = ~missing
        if ok.any():
            result[ok] = ops[node.op](values.to_numpy(dtype=object)[ok], wanted[0]).astype(bool)
        return result


def _missing(col: pd.Series) -> np.ndarray:
    import pandas as pd

    missing = col.isna().to_numpy()
    if col.dtype == object or pd.api.types.is_string_dtype(col):
        blank = (col.astype("string").str.strip() == "").fillna(False).to_numpy(dtype=bool)
        missing = missing | blank
    return missing


def _column_kind(col: pd.Series) -> str:
    """``number``, ``bool``, ``datetime``, ``numeric_text`` (text that all reads as
    numbers, e.g. a CSV column) or ``text``."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(col):
        return "bool"
    if pd.api.types.is_numeric_dtype(col):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(col):
        return "datetime"
    present = col[~_missing(col)]
    if len(present) and pd.to_numeric(present.astype("string").str.strip(),
                                      errors="coerce").notna().all():
        return "numeric_text"
    return "text"


def _timestamp(value: object, col: pd.Series) -> pd.Timestamp | None:
    """*value* as a timestamp comparable with *col* (same time zone); None if not a date."""
    import pandas as pd

    if not isinstance(value, str):
        return None
    try:
        stamp = pd.Timestamp(value)
    except ValueError:
        return None
    tz = getattr(col.dt, "tz", None)
    if stamp.tzinfo is None and tz is not None:
        stamp = stamp.tz_localize(tz)
    elif stamp.tzinfo is not None and tz is None:
        stamp = stamp.tz_convert(None)
    return stamp


def _numeric_values(values: tuple) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _as_kind(col: pd.Series, numeric: bool) -> pd.Series:
    import pandas as pd

    if numeric:
        if pd.api.types.is_numeric_dtype(col):
            return col.astype(float)
        return pd.to_numeric(col.astype("string").str.strip(), errors="coerce").astype(float)
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return col.astype(object)
    return col.astype("string").str.strip().astype(object)


def _mismatch(kind: str, node: Compare, value: object) -> str | None:
    import pandas as pd

    shown = {"in": "in", "notin": "not in"}.get(node.op, node.op)
    if kind == "number" and isinstance(value, (str, bool)):
        return (f"column {node.column!r} holds numbers but is compared ({shown}) with "
                f"{value!r}")
    if kind == "text" and not isinstance(value, str):
        return (f"column {node.column!r} holds text but is compared ({shown}) with the "
                f"{'boolean' if isinstance(value, bool) else 'number'} {value!r}")
    if kind == "numeric_text" and isinstance(value, bool):
        return f"column {node.column!r} holds numbers but is compared ({shown}) with {value!r}"
    if kind == "bool" and not isinstance(value, bool):
        return (f"column {node.column!r} holds true/false but is compared ({shown}) with "
                f"{value!r}")
    if kind == "datetime" and _timestamp(value, pd.Series(dtype="datetime64[ns]")) is None:
        return (f"column {node.column!r} holds dates but is compared ({shown}) with "
                f"{value!r}")
    if kind == "bool" and node.op in ("<", "<=", ">", ">="):
        return f"column {node.column!r} holds true/false: use == or !="
    return None


def _kind_hint(kind: str, col: pd.Series) -> str:
    sample = col[~_missing(col)].astype(str).unique()[:5]
    shown = ", ".join(repr(v) for v in sample)
    if kind in ("number", "numeric_text"):
        return f"compare it with a number, e.g. {col.name} >= 10 (values: {shown})"
    if kind == "bool":
        return f"compare it with true or false, e.g. {col.name} == true"
    if kind == "datetime":
        return f"compare it with a quoted date, e.g. {col.name} >= '2020-01-31'"
    return f"quote the value as text, e.g. {col.name} == '...' (values: {shown})"


def parse_where(text: str) -> Where:
    """Parse a ``where`` filter text (see the module docstring for the grammar).

    Raises
    ------
    WhereSyntaxError
        Saying at which position what was expected.
    TypeError
        If *text* is not a string.

    Examples
    --------
    >>> w = parse_where("status in ('operating', 'mothballed') and output >= 1.5")
    >>> w.columns()
    ['status', 'output']
    >>> parse_where("__import__('os')")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    minespace.io._where.WhereSyntaxError: expected a comparison (...) after '__import__' ...
    """
    if not isinstance(text, str):
        raise TypeError(f"where must be a string, not {type(text).__name__}")
    return Where(text, _Parser(text).parse())


def where_mask(frame: pd.DataFrame, where: str, *, source: str, layer: str) -> np.ndarray:
    """Boolean array of the rows of *frame* passing *where*; the count is logged as
    ``<layer>: kept k of n rows (where ...)``.

    Raises
    ------
    LayerError
        For a filter that does not parse, an unknown column or a type mismatch.
    """
    import logging

    from ..errors import LayerError

    try:
        parsed = parse_where(where)
    except WhereSyntaxError as exc:
        raise LayerError([Problem(source, None, "where", f"where {where!r}: {exc}",
                                  "write a filter such as status in ('operating', "
                                  "'mothballed') and output_mt >= 1 (see docs/layers.md)")]
                         ) from exc
    problems = parsed.check(frame, source)
    if problems:
        raise LayerError(problems)
    keep = parsed.mask(frame)
    logging.getLogger(__name__).info(
        "%s: kept %d of %d rows (where %s)", layer, int(keep.sum()), len(frame), where)
    return keep
