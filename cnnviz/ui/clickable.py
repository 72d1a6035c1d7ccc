"""A picture that reports where it was clicked (Streamlit Custom Components v2), in the page's own DOM.

Why not streamlit-image-coordinates here: its iframe takes its height from the picture's when the picture loads, and
a picture that loads while the page is laying out (the rerun after a click on the network overview) keeps a frame
too short for it, cut off at the bottom, until the next load. An <img> in the page needs no frame: its height
follows its width, whatever the page does.

A click is sent as the component's state ``click``: x and y in shown px with the shown width and height, and the
time, as streamlit-image-coordinates sends it, so ``cnnviz.analysis.clicks`` and a page's "new click" check read it
the same way. The picture is served by Streamlit's media file manager (``pictures.media_address``).
"""
from __future__ import annotations

import streamlit as st

from cnnviz.ui.pictures import media_address
from cnnviz.ui.state import CLICK_SEEN, widget_value

_HTML = '<img class="cnnviz-clickable" alt="">'

_CSS = """
.cnnviz-clickable { display: block; width: 100%; height: auto; cursor: var(--cursor, pointer);
  user-select: none; -webkit-user-select: none; }
"""

_JS = """
export default function ({ parentElement, data, setStateValue }) {
  const img = parentElement.querySelector(".cnnviz-clickable");
  if (img.getAttribute("src") !== data.src) img.setAttribute("src", data.src);
  if (img.alt !== data.alt) img.alt = data.alt;
  img.style.setProperty("--cursor", data.cursor);
  img.onclick = (event) => {
    const box = img.getBoundingClientRect();
    setStateValue("click", { x: event.clientX - box.left, y: event.clientY - box.top, width: box.width,
                             height: box.height, unix_time: Date.now() });
  };
}
"""

_component = st.components.v2.component("cnnviz.clickable_picture", html=_HTML, css=_CSS, js=_JS,
                                        isolate_styles=False)


def clicked(key: str) -> dict | None:
    """The last click the picture ``key`` sent (x, y, width, height, unix_time), or None before any."""
    sent = widget_value(key)
    click = sent.get("click") if isinstance(sent, dict) else None
    return click if isinstance(click, dict) else None


def new_click(key: str) -> dict | None:
    """``clicked(key)`` if the page has not handled that click yet, else None: the component keeps its last click
    until the next one, and every rerun would read it again."""
    click = clicked(key)
    seen = CLICK_SEEN.of(key)
    if click is None or click.get("unix_time") == seen.get():
        return None
    seen.set(click.get("unix_time"))
    return click


def clickable_picture(key: str, image: bytes, *, alt: str = "", cursor: str = "pointer") -> None:
    """Show ``image`` (PNG or JPEG bytes) as wide as its container; a click on it becomes ``clicked(key)``."""
    data = {"src": media_address(image, f"{key}.picture"), "alt": alt, "cursor": cursor}
    _component(key=key, data=data, default={"click": None}, width="stretch", on_click_change=_ignore)


def _ignore() -> None:
    """The click's rerun is all the page needs: it reads ``clicked`` then."""


# HTML whose parts report a click: grids of numbers (``maps.grid_html``), a layer table's rows. The element clicked
# inside the first one matching ``target`` sends its data-* attributes, with its table row and cell (as a grid's
# (row, col)) and the time, as the state ``click``, as the picture sends its x and y.
_HTML_ROOT = '<div class="cnnviz-click-html"></div>'

_HTML_CSS = """
.cnnviz-click-html .cv-click td { cursor: pointer; }
.cnnviz-click-html .cv-click td:hover { outline: 2px solid #d97706; outline-offset: -2px; }
"""

_HTML_JS = """
export default function ({ parentElement, data, setStateValue }) {
  const box = parentElement.querySelector(".cnnviz-click-html");
  if (box.shownHtml !== data.html) {
    box.innerHTML = data.html;
    box.shownHtml = data.html;
  }
  box.onclick = (event) => {
    const hit = event.target.closest(data.target);
    if (!hit || !box.contains(hit)) return;
    const cell = event.target.closest("td, th");
    setStateValue("click", { ...hit.dataset, row: cell ? cell.parentElement.rowIndex : null,
                             col: cell ? cell.cellIndex : null, unix_time: Date.now() });
  };
}
"""

_html_component = st.components.v2.component("cnnviz.clickable_html", html=_HTML_ROOT, css=_HTML_CSS, js=_HTML_JS,
                                             isolate_styles=False)


def clickable_html(key: str, html: str, target: str) -> None:
    """Show ``html`` in the page's DOM (st.html would strip an SVG); a click inside an element matching the CSS
    selector ``target`` becomes ``clicked(key)``: the element's data-* attributes, the table row and cell clicked,
    and the time."""
    _html_component(key=key, data={"html": html, "target": target}, default={"click": None}, width="stretch",
                    on_click_change=_ignore)


def clickable_grids(key: str, html: str) -> None:
    """Show ``html`` (grids from ``maps.grid_html``); a click on a cell inside a "cv-click" element becomes
    ``clicked(key)``: its row, col and time."""
    clickable_html(key, html, ".cv-click td")
