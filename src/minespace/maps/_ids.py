"""Reproducible element ids in saved maps.

folium/branca name every element ``<kind>_<32 random hex digits>``, so two saves
of the same map differ. :func:`stable_ids` replaces each of the map's own ids
(collected from its element tree, so no user text is touched) by one derived
from the page's content and the id's order of first appearance.
"""

from __future__ import annotations

import hashlib
import re

_HEX32 = re.compile(r"[0-9a-f]{32}")


def _element_ids(root) -> set[str]:
    """The ``_id`` of every branca element reachable from *root*."""
    from branca.element import Element

    seen: set[int] = set()
    ids: set[str] = set()
    stack = [root]
    while stack:
        el = stack.pop()
        if id(el) in seen:
            continue
        seen.add(id(el))
        ids.add(el._id)
        stack.extend(el._children.values())
        stack.extend(v for v in vars(el).values() if isinstance(v, Element))
    return ids


def stable_ids(html: str, root) -> str:
    """*html* (rendered from the element tree *root*) with reproducible element ids."""
    ids = _element_ids(root)
    found = [m.group(0) for m in _HEX32.finditer(html) if m.group(0) in ids]
    if not found:
        return html
    order = list(dict.fromkeys(found))
    pattern = re.compile("|".join(order))
    seed = hashlib.sha256(pattern.sub("", html).encode("utf-8")).hexdigest()
    new = {old: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest()[:32]
           for i, old in enumerate(order)}
    return pattern.sub(lambda m: new[m.group(0)], html)
