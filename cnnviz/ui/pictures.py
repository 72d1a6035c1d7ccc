"""A grid of pictures, each with its title, shape and caption, drawn as ONE element (Streamlit Custom Components v2).

Why not ``st.markdown`` + ``st.image`` per picture: every element a rerun sends costs the browser React work,
whatever changed, and on a 2-core laptop that work is most of a change's time (docs/benchmarks.md, the Kernel Lab).
As one element per picture the Kernel Lab's maps, partial sums and legend would be dozens of elements on every
change of a setting; as grids they are three. The pictures are still served by Streamlit's media file manager, as
``st.image``'s are: an unchanged picture keeps its address, so the browser neither downloads nor decodes it again,
and the grid's script keeps an ``<img>`` whose address did not change.

Inline HTML, CSS and JS (no CDN, no build step), in the page's own DOM (``isolate_styles=False``), so the pictures
are ``document.images`` like any other and the theme's fonts and colours apply. Text is set with ``textContent``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import streamlit as st
from streamlit import config, runtime

from cnnviz.conv.geometry import check_positive_ints

_HTML = '<div class="cnnviz-pictures"></div>'

# At most ``--columns`` cells a row, none narrower than ``--min-cell`` (a phone gets one or two a row).
_CSS = """
.cnnviz-pictures { font-family: var(--st-font, sans-serif); color: var(--st-text-color, inherit); }
.cnnviz-pictures .cnnviz-heading { font-size: 1.5rem; font-weight: 600; margin: 0.5rem 0 0.25rem; }
.cnnviz-pictures .cnnviz-text, .cnnviz-pictures .cnnviz-caption {
  font-size: 0.875rem; color: var(--st-text-color, inherit); opacity: 0.72; margin: 0.25rem 0;
}
.cnnviz-pictures .cnnviz-grid {
  display: grid; gap: 1rem;
  grid-template-columns: repeat(auto-fill, minmax(max(var(--min-cell),
    calc((100% - (var(--columns) - 1) * 1rem) / var(--columns))), 1fr));
}
.cnnviz-pictures .cnnviz-cell { min-width: 0; }
.cnnviz-pictures .cnnviz-title { margin: 0 0 0.5rem; overflow-wrap: anywhere; }
.cnnviz-pictures .cnnviz-title code {
  font-family: var(--st-code-font, monospace); font-size: 0.85em; padding: 0.1em 0.25em; border-radius: 0.25rem;
  background: var(--st-code-background-color, rgba(128, 128, 128, 0.15));
}
.cnnviz-pictures img { display: block; width: 100%; height: auto; }
.cnnviz-pictures .cnnviz-legend img { width: 220px; max-width: 100%; }
"""

# Streamlit calls the default export whenever ``data`` changes. Cells are kept by their slot, so an <img> whose
# address did not change is left alone (no reload, no flicker); cells that are gone are removed.
_JS = """
function element(tag, className, parent) {
  const node = document.createElement(tag);
  node.className = className;
  parent.appendChild(node);
  return node;
}

// Each setter leaves the DOM alone when nothing changed: a change of a setting resends every grid, and rewriting
// unchanged text (dozens of nodes a change) made the browser restyle and lay out the pictures for nothing.
function setText(node, text) {
  if (node.textContent !== (text || "")) node.textContent = text || "";
  if (node.hidden !== !text) node.hidden = !text;
}

function setPicture(img, picture) {
  if (img.getAttribute("src") !== picture.src) img.setAttribute("src", picture.src);
  const alt = picture.alt || picture.title || "";
  if (img.alt !== alt) img.alt = alt;
}

function fill(cell, picture) {
  const title = JSON.stringify([picture.title, picture.shape || ""]);
  if (cell.title_.dataset.words !== title) {
    cell.title_.dataset.words = title;
    cell.title_.replaceChildren();
    const strong = element("strong", "", cell.title_);
    strong.textContent = picture.title;
    if (picture.shape) {
      cell.title_.append(" ");
      element("code", "", cell.title_).textContent = picture.shape;
    }
  }
  setPicture(cell.img, picture);
  setText(cell.caption, picture.caption);
}

function makeCell(grid, slot) {
  const node = element("div", "cnnviz-cell", grid);
  node.dataset.slot = slot;
  node.title_ = element("div", "cnnviz-title", node);
  node.img = element("img", "", node);
  node.caption = element("div", "cnnviz-caption", node);
  return node;
}

export default function ({ parentElement, data }) {
  const root = parentElement.querySelector(".cnnviz-pictures");
  if (!root.grid) {
    root.heading = element("div", "cnnviz-heading", root);
    root.text = element("div", "cnnviz-text", root);
    root.grid = element("div", "cnnviz-grid", root);
    root.legend = element("div", "cnnviz-legend", root);
    root.legendImg = element("img", "", root.legend);
    root.legendCaption = element("div", "cnnviz-caption", root.legend);
  }
  setText(root.heading, data.heading);
  setText(root.text, data.text);
  root.grid.style.setProperty("--columns", data.columns);
  root.grid.style.setProperty("--min-cell", `${data.min_cell}px`);
  const old = new Map([...root.grid.children].map((cell) => [cell.dataset.slot, cell]));
  data.pictures.forEach((picture, index) => {
    const cell = old.get(picture.slot) || makeCell(root.grid, picture.slot);
    old.delete(picture.slot);
    fill(cell, picture);
    const here = root.grid.children[index];
    if (here !== cell) root.grid.insertBefore(cell, here || null);  // in the data's order
  });
  for (const cell of old.values()) cell.remove();
  if (root.legend.hidden !== !data.legend) root.legend.hidden = !data.legend;
  if (data.legend) {
    setPicture(root.legendImg, data.legend);
    setText(root.legendCaption, data.legend.caption);
  }
}
"""

_component = st.components.v2.component("cnnviz.picture_grid", html=_HTML, css=_CSS, js=_JS, isolate_styles=False)


@dataclass(frozen=True)
class Picture:
    """One picture of a grid, with the words around it."""

    slot: str  # its name within the grid ("conv"): keeps its cell in the browser and its address in the session
    title: str
    image: bytes  # PNG or JPEG, as encoded
    shape: str = ""  # shown as code beside the title, e.g. "512 × 512"
    caption: str = ""  # under the picture: its scale and statistics
    alt: str = ""  # for screen readers; the title when empty


def media_address(data: bytes, coordinates: str, mimetype: str = "") -> str:
    """The address of ``data`` (a PNG or JPEG unless ``mimetype`` says otherwise) from Streamlit's media file manager,
    as ``st.image`` gets one: the same bytes give the same address, and the file lives as long as the session shows
    it."""
    if not runtime.exists():  # the script imported outside a server: nothing serves media
        return ""
    mimetype = mimetype or ("image/jpeg" if data[:2] == b"\xff\xd8" else "image/png")
    url = runtime.get_instance().media_file_mgr.add(data, mimetype, coordinates)
    # st.image's frontend puts a server's base path before the address; an <img> of ours must carry it itself.
    base = str(config.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}{url}" if base and url.startswith("/") else url


def _sent(picture: Picture, key: str) -> dict:
    sent = asdict(picture)
    sent["src"] = media_address(sent.pop("image"), f"{key}.{picture.slot}")
    return sent


def picture_grid(key: str, pictures: list[Picture], *, columns: int, min_cell: int = 200, heading: str = "",
                 text: str = "", legend: Picture | None = None) -> dict[str, str]:
    """Draw ``pictures`` in a grid of at most ``columns`` a row, each cell at least ``min_cell`` CSS px wide, under an
    optional ``heading`` and ``text``, with an optional ``legend`` picture (220 px wide) below. Returns each
    picture's address by its slot, for another element that shows the same pictures.

    Raises:
        ValueError: ``columns`` or ``min_cell`` is not a positive int, or two pictures share a slot.
    """
    check_positive_ints(columns=columns, min_cell=min_cell)
    slots = [picture.slot for picture in pictures]
    if len(set(slots)) != len(slots):
        raise ValueError(f"each picture needs its own slot, got {slots}")
    data = {"columns": columns, "min_cell": min_cell, "heading": heading, "text": text,
            "pictures": [_sent(picture, key) for picture in pictures],
            "legend": _sent(legend, key) if legend is not None else None}
    _component(key=key, data=data, width="stretch")
    return {picture["slot"]: picture["src"] for picture in data["pictures"]}
