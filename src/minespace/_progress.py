"""Progress bars inside long computations (tqdm), off unless wanted.

Library functions take ``progress=None | True | False``. ``True`` draws a bar on
stderr (a widget in Jupyter when ipywidgets is installed), ``False`` never does.
``None`` follows the caller's scope (:func:`progress_scope`, set by the command
line from ``-q`` and whether stderr is a terminal) and, outside any scope, shows a
bar only when the session is interactive (stderr is a terminal, or a Jupyter
kernel) and the work lasts more than half a second. tqdm is imported only when a
bar is drawn.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["Bar", "bar", "progress_scope"]

_SCOPE: ContextVar[bool | None] = ContextVar("minespace_progress", default=None)
_AUTO_DELAY_S = 0.5


@contextmanager
def progress_scope(enabled: bool | None) -> Iterator[None]:
    """Within the block, ``progress=None`` means *enabled* (``None``: detect)."""
    token = _SCOPE.set(enabled)
    try:
        yield
    finally:
        _SCOPE.reset(token)


def _in_jupyter() -> bool:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def _interactive() -> bool:
    if _in_jupyter():
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


def _decide(progress: bool | None) -> tuple[bool, float]:
    """(draw a bar, delay in seconds before it appears)."""
    if progress is not None:
        return bool(progress), 0.0
    scoped = _SCOPE.get()
    if scoped is not None:
        return scoped, 0.0
    return _interactive(), _AUTO_DELAY_S


class Bar:
    """What a computation reports to: ``update(n)``, ``add_total(n)``, ``step(text)``."""

    def __init__(self, tqdm_bar=None) -> None:
        self._bar = tqdm_bar
        self._stepping = False

    def update(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def add_total(self, n: int) -> None:
        """More work than announced (e.g. the refined units of ``permutations="auto"``)."""
        if self._bar is not None and n:
            self._bar.total = (self._bar.total or 0) + n
            self._bar.refresh()

    def step(self, text: str) -> None:
        """Name the step now running (shown after the bar) and count the previous one."""
        if self._bar is not None:
            if self._stepping:
                self._bar.update(1)
            self._stepping = True
            self._bar.set_postfix_str(text, refresh=False)
            self._bar.refresh()

    def _finish(self) -> None:
        if self._bar is not None:
            if self._stepping:
                self._bar.update(1)
            self._bar.close()


@contextmanager
def bar(progress: bool | None, *, total: int, desc: str, unit: str = "it") -> Iterator[Bar]:
    """A :class:`Bar` for *total* units of work (a no-op one when no bar is wanted)."""
    show, delay = _decide(progress)
    if not show:
        yield Bar()
        return
    import importlib.util

    if _in_jupyter() and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm

        kwargs = {}
    else:
        from tqdm.std import tqdm

        kwargs = {"file": sys.stderr, "dynamic_ncols": True}
    handle = tqdm(total=total, desc=desc, unit=unit, unit_scale=True, delay=delay,
                  leave=False, **kwargs)
    reporter = Bar(handle)
    try:
        yield reporter
    finally:
        reporter._finish()
