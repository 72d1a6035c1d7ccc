"""A square drawing canvas of our own (Streamlit Custom Components v2): white round strokes on black, and Clear.

Why not streamlit-drawable-canvas: its JavaScript waits a hard-coded 200 ms after each stroke before sending
anything, two thirds of the "about 300 ms from a stroke to the update" budget (issue 11). This one sends the
drawing as a PNG data URL the moment the pen lifts, so the page reruns at once. Inline HTML, CSS and JS: no CDN,
no build step, no iframe. Pointer events cover mouse, pen and touch; ``touch-action: none`` makes a finger on a
phone draw instead of scrolling the page.

The browser keeps the drawing; the server keeps its last PNG (the component's state ``image``) and hands it back in
``data``, so a canvas the page mounts afresh (a layout shift above it) shows the drawing the page is reading.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from cnnviz.analysis.digits import decode_data_url
from cnnviz.conv.geometry import check_positive_ints
from cnnviz.ui.common import tr
from cnnviz.ui.state import widget_value

_HTML = """<div class="drawing">
  <canvas class="drawing-canvas" role="img"></canvas>
  <button type="button" class="drawing-clear"></button>
</div>"""

_CSS = """
.drawing { display: flex; flex-direction: column; align-items: flex-start; gap: 0.5rem; }
.drawing-canvas {
  display: block; max-width: 100%; aspect-ratio: 1 / 1; background: #000; cursor: crosshair;
  touch-action: none; user-select: none; -webkit-user-select: none; -webkit-touch-callout: none;
  border-radius: var(--st-base-radius, 0.5rem); border: 1px solid var(--st-border-color, rgba(49, 51, 63, 0.2));
}
.drawing-clear {
  font: inherit; font-family: var(--st-font, sans-serif); font-size: var(--st-base-font-size, 1rem);
  color: var(--st-text-color, inherit); background: var(--st-background-color, #fff);
  border: 1px solid var(--st-border-color, rgba(49, 51, 63, 0.2)); border-radius: var(--st-button-radius, 0.5rem);
  padding: 0.25rem 0.75rem; min-height: 2.5rem; cursor: pointer;
}
.drawing-clear:hover { border-color: var(--st-primary-color, #ff4b4b); color: var(--st-primary-color, #ff4b4b); }
.drawing-clear:focus-visible { outline: 2px solid var(--st-primary-color, #ff4b4b); outline-offset: 2px; }
"""

# Streamlit calls the default export again whenever ``data`` changes, on the same HTML and without the previous
# cleanup, so the pen is set up once per canvas element and later calls only refresh what ``data`` carries.
_JS = """
const PNG = "data:image/png;base64,";
const pens = new WeakMap();  // canvas element -> its pen, set up once

function setUp(canvas, clear) {
  const context = canvas.getContext("2d");
  const pen = { args: null, pointer: null, last: null, drawn: false };

  const blank = () => {
    context.fillStyle = "#000";
    context.fillRect(0, 0, canvas.width, canvas.height);
    pen.drawn = false;
  };
  // Canvas pixels, not CSS pixels: inside the border, and scaled should max-width shrink the canvas.
  const at = (event) => {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left - canvas.clientLeft) * canvas.width / canvas.clientWidth,
            (event.clientY - box.top - canvas.clientTop) * canvas.height / canvas.clientHeight];
  };
  const dot = ([x, y]) => {
    context.beginPath();
    context.arc(x, y, context.lineWidth / 2, 0, 2 * Math.PI);
    context.fill();
  };
  const segment = ([x, y]) => {
    context.beginPath();
    context.moveTo(pen.last[0], pen.last[1]);
    context.lineTo(x, y);
    context.stroke();
    pen.last = [x, y];
  };

  const down = (event) => {
    if (pen.pointer !== null || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    pen.pointer = event.pointerId;
    canvas.setPointerCapture(event.pointerId);
    const { stroke } = pen.args.data;
    Object.assign(context, { lineWidth: stroke, lineCap: "round", lineJoin: "round", strokeStyle: "#fff",
                             fillStyle: "#fff" });
    pen.last = at(event);
    pen.drawn = true;
    dot(pen.last);  // a tap is a dot
  };
  const move = (event) => {
    if (event.pointerId !== pen.pointer) return;
    event.preventDefault();
    const points = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const point of (points.length ? points : [event])) segment(at(point));
  };
  // The end of a stroke: send the drawing now (no debounce) so the page reruns at once.
  const up = (event) => {
    if (event.pointerId !== pen.pointer) return;
    pen.pointer = null;
    pen.args.setStateValue("image", canvas.toDataURL("image/png"));
  };
  const wipe = () => {
    blank();
    pen.args.setStateValue("image", null);
  };

  const listeners = [[canvas, "pointerdown", down], [canvas, "pointermove", move], [canvas, "pointerup", up],
                     [canvas, "pointercancel", up], [clear, "click", wipe]];
  for (const [target, name, listener] of listeners) target.addEventListener(name, listener);
  pen.blank = blank;
  pen.restore = (url) => {
    const image = new Image();
    image.onload = () => { if (!pen.drawn) { context.drawImage(image, 0, 0); pen.drawn = true; } };
    image.src = url;
  };
  pen.cleanup = () => {
    for (const [target, name, listener] of listeners) target.removeEventListener(name, listener);
    pens.delete(canvas);
  };
  return pen;
}

export default function (args) {
  const { parentElement, data } = args;
  const canvas = parentElement.querySelector(".drawing-canvas");
  const clear = parentElement.querySelector(".drawing-clear");
  clear.textContent = data.clear;
  canvas.setAttribute("aria-label", data.label);
  let pen = pens.get(canvas);
  if (pen === undefined) {
    canvas.width = canvas.height = data.side;
    canvas.style.width = `${data.side}px`;
    pen = setUp(canvas, clear);
    pens.set(canvas, pen);
    pen.args = args;
    pen.blank();
    if (typeof data.image === "string" && data.image.startsWith(PNG)) pen.restore(data.image);
  }
  pen.args = args;  // the latest setStateValue and stroke width
  return pen.cleanup;
}
"""

_component = st.components.v2.component("cnnviz.drawing_canvas", html=_HTML, css=_CSS, js=_JS)


def _ignore() -> None:
    """The component's state change needs a callback to be a state key at all; the page reads the result."""


def drawing_canvas(key: str, *, side: int, stroke: int) -> np.ndarray | None:
    """A ``side`` x ``side`` px black canvas drawn on in white strokes ``stroke`` px wide, with a Clear button.

    Returns:
        The drawing after the last stroke, decoded by ``cnnviz.analysis.digits.decode_data_url``: uint8
        (side, side, 4) RGBA from this canvas (opaque, so its colour is the ink); None before the first stroke, after
        Clear, or when the browser sent something that is not a PNG data URL within the size caps.

    Raises:
        ValueError: ``side`` or ``stroke`` is not a positive int, or the stroke is wider than the canvas.
    """
    check_positive_ints(side=side, stroke=stroke)
    if stroke > side:
        raise ValueError(f"the stroke must fit the canvas, got stroke={stroke} for side={side}")
    sent = widget_value(key)  # the state the browser sent, before the mount reports it
    image = sent.get("image") if isinstance(sent, dict) else None
    pixels = decode_data_url(image)
    data = {"side": side, "stroke": stroke, "clear": tr("insp.canvas_clear"), "label": tr("insp.canvas_label"),
            "image": image if pixels is not None else None}  # only a valid drawing goes back to the browser
    result = _component(key=key, data=data, default={"image": None}, width="content", on_image_change=_ignore)
    if result.get("image") != image:  # the mount's value wins, should the two ever differ
        pixels = decode_data_url(result.get("image"))
    return pixels
