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
from cnnviz.ui.state import widget_value

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


def clickable_picture(key: str, image: bytes, *, alt: str = "", cursor: str = "pointer") -> None:
    """Show ``image`` (PNG or JPEG bytes) as wide as its container; a click on it becomes ``clicked(key)``."""
    data = {"src": media_address(image, f"{key}.picture"), "alt": alt, "cursor": cursor}
    _component(key=key, data=data, default={"click": None}, width="stretch", on_click_change=_ignore)


def _ignore() -> None:
    """The click's rerun is all the page needs: it reads ``clicked`` then."""
