"""Render a saved map in headless Chromium: screenshots and load checks.

Uses Playwright's Python driver with the system Chromium (Debian's
``chromium`` package, or ``MINESPACE_CHROMIUM``); never downloads a browser.
All network requests except ``file://`` are blocked, so a map that renders
here renders offline.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BrowserPage", "chromium_path", "open_map", "screenshot"]

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    """Path of the Chromium executable (``MINESPACE_CHROMIUM`` or the system one)."""
    for cand in (os.environ.get("MINESPACE_CHROMIUM"), shutil.which("chromium"),
                 shutil.which("chromium-browser"), shutil.which("google-chrome")):
        if cand and Path(cand).exists():
            return cand
    raise FileNotFoundError("Chromium not found: install it (Debian: apt-get install chromium) "
                            "or set MINESPACE_CHROMIUM")


@dataclass
class BrowserPage:
    """What happened while a map loaded."""

    page: object
    errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    load_ms: float = 0.0


def open_map(html_path: str | os.PathLike, use: Callable[[BrowserPage], object], *,
             width: int = 1280, height: int = 860, timeout_ms: int = 30_000):
    """Open *html_path* offline in headless Chromium and call ``use(BrowserPage)``.

    Returns whatever *use* returns. JavaScript errors, blocked requests and the
    messages of dialogs (``alert``/``confirm``/``prompt``, dismissed at once, from the
    first script on) are collected on the :class:`BrowserPage`.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover
        raise ImportError("screenshots need playwright: pip install playwright") from exc
    url = Path(html_path).resolve().as_uri()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            result = BrowserPage(page)
            page.on("pageerror", lambda exc: result.errors.append(str(exc)))
            page.on("console", lambda msg: result.errors.append(msg.text)
                    if msg.type == "error" else None)

            def dialog(d):
                result.dialogs.append(d.message)
                d.dismiss()

            page.on("dialog", dialog)

            def block(route):
                if route.request.url.startswith(("file:", "data:")):
                    return route.continue_()
                result.blocked.append(route.request.url)
                return route.abort()

            page.route("**/*", block)
            page.goto(url, wait_until="load", timeout=timeout_ms)
            result.load_ms = page.evaluate(
                "() => performance.getEntriesByType('navigation')[0].loadEventEnd")
            return use(result)
        finally:
            browser.close()


def screenshot(html_path: str | os.PathLike, png_path: str | os.PathLike, *,
               width: int = 1280, height: int = 860) -> Path:
    """Save a PNG of the map as a planner would see it (offline, no tiles).

    Examples
    --------
    >>> import minespace as ms  # doctest: +SKIP
    >>> ms.maps.screenshot("data/processed/maps/kuzbass.html", "kuzbass.png")  # doctest: +SKIP
    """
    png_path = Path(png_path)

    def shoot(bp: BrowserPage):
        bp.page.wait_for_timeout(300)
        bp.page.screenshot(path=str(png_path))

    open_map(html_path, shoot, width=width, height=height)
    return png_path
