"""Lazy attributes of a package (PEP 562), so ``import minespace`` stays cheap.

A package lists its public names and the submodule each lives in; the submodule is
imported on first access and the value cached in the package namespace, so
``minespace.read_deposits``, ``from minespace import Region`` and
``dir(minespace)`` behave as with eager imports, while the command line and a
no-op build never import geopandas, scikit-learn or the accessibility stack.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from types import ModuleType


def attach(package: str, *, submodules: Iterable[str] = (),
           attributes: Mapping[str, str] | None = None
           ) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for *package*.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    submodules : iterable of str
        Subpackages and modules reachable as attributes (``minespace.maps``).
    attributes : mapping of str to str
        Public name -> module it is defined in, relative to *package*
        (``{"Region": ".region"}``). Names must not equal a submodule's name:
        importing that submodule elsewhere would bind the module instead.

    Returns
    -------
    (__getattr__, __dir__)
    """
    subs = frozenset(submodules)
    attrs = dict(attributes or {})
    if subs & set(attrs):
        raise ValueError(f"{package}: {sorted(subs & set(attrs))} both submodule and attribute")
    clashes = {name for name, module in attrs.items() if module.lstrip(".") == name}
    if clashes:  # e.g. clustering.regionalize, a function defined in clustering/regionalize.py
        keep_functions(package, clashes)

    def __getattr__(name: str) -> object:
        if name in attrs:
            value = getattr(importlib.import_module(attrs[name], package), name)
        elif name in subs:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)  # cached: __getattr__ is not called again
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | subs | set(attrs))

    return __getattr__, __dir__


def keep_functions(package: str, names: Iterable[str]) -> None:
    """Keep *names* of *package* bound to the same-named functions of its submodules.

    Importing a submodule binds it as an attribute of its package (the import
    system does it, and so does pytest's ``--import-mode=importlib`` when it
    collects the submodule's doctests): ``maps.cluster_map`` would become the
    module ``maps/cluster_map.py`` instead of the function ``cluster_map``. After
    this call such a binding binds the function instead.
    """
    mod = sys.modules[package]
    if not hasattr(mod, "_lazy_clashes"):
        mod.__class__ = type("_Package", (type(mod),), {"__setattr__": _keep_function})
    mod._lazy_clashes = frozenset(names) | getattr(mod, "_lazy_clashes", frozenset())


def _keep_function(self, name: str, value: object) -> None:
    """Module ``__setattr__``: the import system binding submodule *name* on its package
    binds the same-named function of that submodule instead (as an eager
    ``from .name import name`` in ``__init__`` would)."""
    if name in self.__dict__.get("_lazy_clashes", ()) and isinstance(value, ModuleType):
        value = getattr(value, name)
    ModuleType.__setattr__(self, name, value)
