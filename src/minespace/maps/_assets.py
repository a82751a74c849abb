"""Self-contained folium maps: Leaflet's JS/CSS come from the ``xstatic-leaflet``
package and are inlined into the HTML, so a saved map renders offline."""

from __future__ import annotations

import base64
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import ClassVar

import folium
from branca.element import Element

__all__ = ["OfflineMap", "leaflet_assets"]


def _leaflet_dir() -> Path:
    try:
        return Path(str(resources.files("xstatic.pkg.leaflet") / "data"))
    except ModuleNotFoundError as exc:  # pragma: no cover - declared dependency
        raise ImportError("minespace maps need xstatic-leaflet: pip install xstatic-leaflet") \
            from exc


@lru_cache(maxsize=1)
def leaflet_assets() -> tuple[str, str]:
    """Leaflet's JavaScript and CSS (images inlined as data URIs)."""
    d = _leaflet_dir()
    js = (d / "leaflet.js").read_text(encoding="utf-8")
    css = (d / "leaflet.css").read_text(encoding="utf-8")

    def inline(match: re.Match) -> str:
        path = d / match.group(1)
        if not path.exists():
            return match.group(0)
        mime = "image/svg+xml" if path.suffix == ".svg" else f"image/{path.suffix[1:]}"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"url(data:{mime};base64,{data})"

    css = re.sub(r"url\((images/[^)]+)\)", inline, css)
    # a sourceMappingURL comment would make devtools fetch the .map file
    js = re.sub(r"//# sourceMappingURL=\S+", "", js)
    return js, css


class RawHtml(Element):
    """Literal HTML in the page header, passed as data: never parsed as a Jinja template
    (lexing Leaflet's 150 kB of JavaScript as a template costs seconds)."""

    def __init__(self, text: str):
        super().__init__(template="{{ this.text }}")
        self.text = text


class OfflineMap(folium.Map):
    """A :class:`folium.Map` whose saved HTML embeds every asset it needs.

    Only Leaflet is loaded (no jQuery, Bootstrap or icon fonts); minespace layers
    draw circle markers and vector shapes on a canvas renderer.
    """

    default_js: ClassVar[list] = []
    default_css: ClassVar[list] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from .layers import PopupHelpers

        self.add_child(PopupHelpers(), name="ms_popup_helpers")

    def render(self, **kwargs):
        figure = self.get_root()
        if "minespace_leaflet" not in figure.header._children:
            js, css = leaflet_assets()
            figure.header.add_child(RawHtml(f"<style>{css}</style>"), name="minespace_leaflet_css")
            figure.header.add_child(RawHtml(f"<script>{js}</script>"), name="minespace_leaflet")
        super().render(**kwargs)
        _literal_wrappers(figure)


def _literal_wrappers(figure) -> None:
    """Make branca's second template pass literal.

    folium renders each element's macros to text, then wraps that text in a plain
    ``branca.element.Element``, which parses it *again* as a Jinja template when the
    page is rendered: ``{{ ... }}`` inside any string an element embedded (a layer
    name, a popup) would run as Python while the map is saved. Every such wrapper in
    the page's header, body and script sections is replaced by :class:`RawHtml`
    holding the same text, so the text is emitted as is. minespace's own elements never
    create these wrappers; this covers folium elements (basemap, map, anything a user
    adds with ``m=``).
    """
    for section in (figure.header, figure.html, figure.script):
        for name, child in list(section._children.items()):
            if type(child) is Element and child._template_str is not None:
                raw = RawHtml(child._template_str)
                raw._parent = section
                section._children[name] = raw
