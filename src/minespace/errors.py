"""Exceptions and warnings raised by minespace.

Every exception derives from :class:`MinespaceError`, so ``except
ms.MinespaceError`` catches anything the package raises on purpose. Each one
also derives from the matching builtin (``ValueError``, ``RuntimeError``) so
generic handlers keep working.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "CRSDistortionWarning",
    "CRSError",
    "ComponentUnavailableWarning",
    "ConfigError",
    "ConfigProblem",
    "FeaturesDroppedWarning",
    "GeometryRepairedWarning",
    "LayerError",
    "MinespaceError",
    "MinespaceWarning",
    "PipelineError",
    "Problem",
    "ProjectsUnplacedWarning",
    "ResourceError",
    "SizeWarning",
]


class MinespaceError(Exception):
    """Base class of every error minespace raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input layer.

    Attributes
    ----------
    source : str
        File name (or ``"<GeoDataFrame>"`` for in-memory input).
    row : str or None
        Where: ``"feature 3 (id 'M0215')"`` (vector files, 0-based), ``"line 7"``
        (CSV, header = line 1), ``"row 2"`` (frames) or ``"row 2 of part-3.parquet"``
        (a folder of GeoParquet parts), several joined by commas for
        duplicates; ``None`` when the problem concerns the whole layer (a missing
        column, no CRS).
    column : str or None
        Column concerned, ``"geometry"`` for geometry problems.
    message : str
        What is wrong.
    hint : str
        What to do about it.
    """

    source: str
    row: object
    column: str | None
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = [self.source]
        if self.row is not None:
            where.append(self.row if isinstance(self.row, str) else f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        text = f"{', '.join(where)}: {self.message}"
        if self.hint:
            text += f" -> {self.hint}"
        return text


class LayerError(MinespaceError, ValueError):
    """An input layer failed validation.

    All problems found are collected in :attr:`problems` and listed in the
    message, so one run tells the user everything to fix.
    """

    def __init__(self, problems: Sequence[Problem], *, max_listed: int = 25) -> None:
        self.problems: list[Problem] = list(problems)
        lines = [str(p) for p in self.problems[:max_listed]]
        rest = len(self.problems) - max_listed
        if rest > 0:
            lines.append(f"... and {rest} more (see LayerError.problems)")
        n = len(self.problems)
        header = f"{n} problem{'s' if n != 1 else ''} found in input layer:"
        super().__init__("\n".join([header, *("  - " + line for line in lines)]))


class CRSError(MinespaceError, ValueError):
    """A coordinate reference system is missing, unsuitable or inconsistent."""


def _toml_value(value: object) -> str:
    """A config value written as in the TOML file (strings quoted, booleans lower case)."""
    if isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value) if isinstance(value, str) else repr(value)


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a pipeline configuration.

    Attributes
    ----------
    key : str
        Dotted key, e.g. ``"territories.cell_km"`` (``""`` for the file as a whole).
    value : object
        The offending value (``None`` when missing or not worth repeating).
    allowed : iterable of str or str or None
        Allowed values or a description of the allowed range.
    message : str
        What is wrong (and, for a typo, the key it probably meant).
    """

    key: str
    value: object = None
    allowed: Iterable[str] | str | None = None
    message: str = ""

    def __str__(self) -> str:
        section, _, name = self.key.rpartition(".")
        where = f"[{section}] {name}" if section else self.key
        if self.value is not None:
            where += f" = {_toml_value(self.value)}"
        text = self.message or "invalid value"
        if where:
            text = f"{where}: {text}"
        if self.allowed is not None:
            allowed = self.allowed
            if not isinstance(allowed, str):
                allowed = ", ".join(map(str, allowed))
            text += f" (allowed: {allowed})"
        return text


class ConfigError(MinespaceError, ValueError):
    """A configuration value is missing or invalid.

    Raised once per config with every problem found: :attr:`problems` lists them
    (:class:`ConfigProblem`), the message has one line per problem, and
    :attr:`key`, :attr:`value` and :attr:`allowed` are those of the first.

    Parameters
    ----------
    key : str
        Dotted key, e.g. ``"territories.cell_km"``.
    value : object
        The offending value (``None`` when missing).
    allowed : iterable of str, optional
        Allowed values or a description of the allowed range.
    message : str, optional
        Extra explanation.
    problems : sequence of ConfigProblem, optional
        Several problems at once (then *key*, *value*, *allowed*, *message* are ignored).
    source : str, optional
        Config file name, written before every line.
    """

    def __init__(
        self,
        key: str = "",
        value: object = None,
        allowed: Iterable[str] | str | None = None,
        message: str = "",
        *,
        problems: Sequence[ConfigProblem] = (),
        source: str | None = None,
    ) -> None:
        self.problems: list[ConfigProblem] = list(problems) or [
            ConfigProblem(key, value, allowed, message)]
        self.source = source
        first = self.problems[0]
        self.key, self.value, self.allowed = first.key, first.value, first.allowed
        prefix = f"{source}: " if source else ""
        lines = [prefix + str(p) for p in self.problems]
        if len(lines) > 1:
            lines = [f"{len(lines)} problems found in the configuration:",
                     *("  - " + line for line in lines)]
        super().__init__("\n".join(lines))


class PipelineError(MinespaceError, RuntimeError):
    """A pipeline stage failed; the original exception is chained as ``__cause__``."""

    def __init__(self, stage: str, message: str) -> None:
        self.stage = stage
        super().__init__(f"stage '{stage}' failed: {message}")


class ResourceError(MinespaceError, ValueError):
    """A step would need more memory than the budget (see :mod:`minespace.limits`).

    Raised before anything is allocated. A ``ValueError``: the fix is a parameter
    (a larger ``cell_km``, a coarser raster, a shorter distance band) or a larger
    budget (``max_memory_gb``).

    Attributes
    ----------
    estimates : list of minespace.limits.Estimate
        Every estimate over the budget (step, items, bytes, parameter, value).
    budget : float
        The budget in bytes.
    """

    def __init__(self, estimates, budget: float) -> None:
        self.estimates = list(estimates)
        self.budget = float(budget)
        lines = [e.describe(budget) for e in self.estimates]
        head = ("needs more memory than the budget (or raise the budget: max_memory_gb=, "
                "or [project] max_memory_gb in a pipeline config)")
        if len(lines) == 1:
            text = f"{lines[0]}\n{self.estimates[0].step} {head}"
        else:
            text = "\n".join([f"{len(lines)} steps {head}:", *("  - " + x for x in lines)])
        super().__init__(text)


class MinespaceWarning(UserWarning):
    """Base class of warnings about data conditions."""


class GeometryRepairedWarning(MinespaceWarning):
    """Invalid geometries were repaired with ``shapely.make_valid``."""


class FeaturesDroppedWarning(MinespaceWarning):
    """Features were dropped (by request, or because they could not be used)."""


class ComponentUnavailableWarning(MinespaceWarning):
    """A weighted candidate-score component has no input data: it is left out (NaN) and
    its weight is redistributed over the others."""


class CRSDistortionWarning(MinespaceWarning):
    """A metric CRS distorts distances or areas over the study area (see docs/crs.md)."""


class SizeWarning(MinespaceWarning):
    """A step is estimated to need much of the memory budget (see :mod:`minespace.limits`)."""


class ProjectsUnplacedWarning(MinespaceWarning):
    """Investment projects name a deposit id or town that was not found: they are kept
    without a location (see :func:`minespace.locate_projects`)."""
