"""The Kernel Lab's hover arithmetic: point at a unit of any stage and see the window, the kernel, the products, their
sum, the bias, the activation and the pooling window that made it; point at an input pixel and see every unit whose
window holds it. One Custom Components v2 element (like cnnviz.ui.pictures), drawn in the page's own DOM.

Why everything is computed in the browser: a pointer moves sixty times a second, and a Streamlit rerun per move
would take a hundred times longer than a frame. The page sends the settings (a few hundred bytes) with every
rerun, and the input's exact values once per input: as a media file (cnnviz.pages.hover_math.input_blob) whose
address changes only with the input, so a change of the kernel, bias or geometry sends no pixels. The element
never sets a trigger or state value, so moving the pointer sends no websocket message at all.

The numbers the panel shows are also in ``data-*`` attributes of ``.hm-panel`` (full precision), so a browser test
compares them with ``cnnviz.conv.ops``; ``window.cnnvizHover`` points it at a unit without a pointer.
"""
from __future__ import annotations

from typing import Callable

import streamlit as st

from cnnviz.ui.pictures import media_address

_HTML = '<div class="cnnviz-hover" tabindex="0"></div>'

_CSS = """
.cnnviz-hover { font-family: var(--st-font, sans-serif); color: var(--st-text-color, inherit); outline: none;
  display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
.cnnviz-hover:focus-visible { outline: 2px solid var(--st-primary-color, #d9480f); outline-offset: 4px; }
.cnnviz-hover .hm-heading { flex: 1 1 100%; font-size: 1.5rem; font-weight: 600; margin: 0.5rem 0 -0.5rem; }
.cnnviz-hover .hm-pictures { flex: 1 1 340px; min-width: 0; max-width: 640px; }
.cnnviz-hover .hm-panel { flex: 1 1 340px; min-width: 0; font-size: 0.8rem; contain: content; }
.cnnviz-hover .hm-chips { display: flex; flex-wrap: wrap; gap: 0.3rem; margin-bottom: 0.4rem; }
.cnnviz-hover button.hm-chip { font: inherit; font-size: 0.8rem; padding: 0.15rem 0.55rem; border-radius: 1rem;
  cursor: pointer; border: 1px solid rgba(128, 128, 128, 0.5); background: transparent; color: inherit; }
/* A darker shade of the accent: white on the accent itself is 4.3:1, under WCAG AA's 4.5:1 for text this small. */
.cnnviz-hover button.hm-chip[aria-pressed="true"] { background: #b93c0c; color: #fff; border-color: transparent; }
.cnnviz-hover .hm-pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1.6rem; padding: 0 0.9rem; }
.cnnviz-hover figure { margin: 0; min-width: 0; }
.cnnviz-hover figcaption { font-size: 0.8rem; font-weight: 600; margin-bottom: 0.3rem; overflow-wrap: anywhere; }
.cnnviz-hover .hm-frame { position: relative; touch-action: none; cursor: crosshair; user-select: none; }
.cnnviz-hover .hm-frame img { display: block; width: 100%; height: auto; image-rendering: pixelated; }
.cnnviz-hover .hm-frame canvas { position: absolute; left: -14px; top: -14px; pointer-events: none; }
.cnnviz-hover .hm-hint { font-size: 0.8rem; opacity: 0.75; margin-top: 0.4rem; }
/* Two lines kept for the title whatever it says, so a move's new title never lays out the page again. */
.cnnviz-hover .hm-title { font-weight: 600; font-size: 0.9rem; margin-bottom: 0.3rem; height: 2.7em; line-height: 1.35em;
  overflow: hidden; contain: strict; }
.cnnviz-hover .hm-grids { display: flex; flex-wrap: wrap; gap: 0.8rem; align-items: flex-start; margin: 0.3rem 0;
  overflow-x: auto; }
.cnnviz-hover .hm-grid { display: grid; width: max-content; font-size: 0.72rem; }
/* Cells of a fixed size, each its own layout: a move rewrites a hundred numbers, and cells sized by their text made
   the browser measure every one of them again (most of a move's time). */
.cnnviz-hover .hm-grid span { box-sizing: border-box; width: 4.7em; height: 1.6em; line-height: 1.4em; contain: strict;
  padding: 0 0.2em; text-align: right; overflow: hidden; white-space: nowrap; font-variant-numeric: tabular-nums;
  border: 1px solid rgba(128, 128, 128, 0.35); background: var(--st-background-color, #fff); }
.cnnviz-hover .hm-grid span.pad { background: repeating-linear-gradient(45deg, rgba(148, 163, 184, 0.25),
  rgba(148, 163, 184, 0.25) 4px, rgba(148, 163, 184, 0.5) 4px, rgba(148, 163, 184, 0.5) 8px); font-style: italic; }
.cnnviz-hover .hm-grid span.neg { color: #1d4ed8; }
.cnnviz-hover .hm-grid span.pos { color: #b91c1c; }
/* On a dark theme (the script marks it from the theme's background): colours with 4.5:1 there too. */
.cnnviz-hover.hm-dark .hm-grid span.neg { color: #93c5fd; }
.cnnviz-hover.hm-dark .hm-grid span.pos { color: #fca5a5; }
.cnnviz-hover .hm-grid span.win { outline: 2px solid #d97706; outline-offset: -2px; font-weight: 700; }
.cnnviz-hover .hm-label { font-size: 0.72rem; opacity: 0.8; margin-bottom: 0.15rem; }
.cnnviz-hover pre.hm-text { white-space: pre-wrap; overflow-wrap: anywhere; font-family: var(--st-code-font, monospace);
  font-size: 0.72rem; margin: 0.3rem 0 0; padding: 0.4rem 0.5rem; border-radius: 0.25rem; height: 12rem;
  overflow: auto; contain: strict; resize: vertical; background: var(--st-code-background-color, rgba(128, 128, 128, 0.12)); }
"""

_JS = r"""
const MARGIN = 14;  // CSS px of overlay around each picture: room to draw a window's padding outside the image
const PIN_REPORT_MS = 300;  // a pinned place that stays put this long goes into the link
// Where the browser has it (a secure page: https, or the server on this machine), a raw pointer event arrives as the
// pointer moves, where pointermove waits for the next animation frame: the panel follows up to a frame sooner.
const MOVE_EVENT = "onpointerrawupdate" in window ? "pointerrawupdate" : "pointermove";
const blobs = new Map();  // media address -> Promise of {rows, cols, channels, values: Float32Array}

function el(tag, className, parent, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

function loadInput(src) {
  if (!blobs.has(src)) {
    blobs.set(src, fetch(src).then((r) => r.arrayBuffer()).then((buffer) => {
      const head = new DataView(buffer);
      const size = head.getUint8(4), rows = head.getUint32(8, true), cols = head.getUint32(12, true);
      const channels = head.getUint32(16, true);
      const values = size === 1 ? Float32Array.from(new Uint8Array(buffer, 36))
                                : new Float32Array(buffer.slice(36));
      return { rows, cols, channels, values };
    }));
    blobs.get(src).catch(() => blobs.delete(src));  // a failed fetch is tried again with the next data
    if (blobs.size > 4) blobs.delete(blobs.keys().next().value);
  }
  return blobs.get(src);
}

// A number as the Step page writes it: at most 3 decimals, no trailing zeros, negatives in brackets in sums.
function fmt(v) {
  const r = Math.round(v * 1000) / 1000;
  return Object.is(r, -0) ? "0" : String(Number.isInteger(r) ? r : Number(r.toFixed(3)));
}
function signed(v) { return v < 0 ? `(${fmt(v)})` : fmt(v); }

// Where padded position p of an axis of length n reads from, or -1 for a zero (cnnviz.conv.ops._padded's modes).
function source(p, n, mode) {
  if (p >= 0 && p < n) return p;
  if (mode === "zeros") return -1;
  if (mode === "reflect") return p < 0 ? -p : 2 * (n - 1) - p;
  if (mode === "replicate") return p < 0 ? 0 : n - 1;
  return p < 0 ? p + n : p - n;  // circular
}

// One convolution unit's arithmetic, in float64 from float32 inputs, each stage rounded to float32 where numpy and
// torch hold it in float32.
function unit(s, input, r, c) {
  const { kh, kw } = s, C = s.kernel.length, R = s.rows, K = s.cols, mode = s.mode;
  const taps = new Array(C), partials = new Array(C);
  for (let ch = 0; ch < C; ch++) {
    const weights = s.kernel[ch], cells = new Array(kh * kw);
    let total = 0;
    for (let i = 0; i < kh; i++) {
      const pr = r * R.stride - R.before + i * R.dilation, sr = source(pr, R.size, mode);
      for (let j = 0; j < kw; j++) {
        const pc = c * K.stride - K.before + j * K.dilation, sc = source(pc, K.size, mode);
        const pad = !(pr >= 0 && pr < R.size && pc >= 0 && pc < K.size);
        const x = sr < 0 || sc < 0 ? 0 : input.values[(sr * input.cols + sc) * input.channels + ch];
        const w = weights[i * kw + j];
        cells[i * kw + j] = { x, w, p: x * w, pad };
        total += x * w;
      }
    }
    taps[ch] = cells;
    partials[ch] = Math.fround(total);
  }
  let raw = partials[0];
  for (let ch = 1; ch < C; ch++) raw = Math.fround(raw + partials[ch]);
  const conv = s.bias ? Math.fround(raw + s.bias) : raw;
  let act = conv;
  if (s.activation === "relu") act = Math.max(conv, 0);
  else if (s.activation === "leaky_relu") act = conv >= 0 ? conv : Math.fround(s.slope * conv);
  else if (s.activation === "abs") act = Math.abs(conv);
  return { r, c, taps, partials, raw, conv, act };
}

function poolUnit(s, input, pr, pc) {
  const P = s.pool, units = [];
  for (let i = 0; i < P.rows.kernel; i++)
    for (let j = 0; j < P.cols.kernel; j++) units.push(unit(s, input, pr * P.rows.stride + i, pc * P.cols.stride + j));
  let value, winner = 0;
  if (P.kind === "max") {
    units.forEach((u, k) => { if (u.act > units[winner].act) winner = k; });
    value = units[winner].act;
  } else {
    value = Math.fround(units.reduce((sum, u) => sum + u.act, 0) / units.length);
  }
  return { pr, pc, units, winner, value };
}

// Output positions along one axis whose taps read input position p (reflected or wrapped copies included).
function hits(A, p, mode) {
  const out = [];
  for (let i = 0; i < A.out; i++)
    for (let k = 0; k < A.kernel; k++)
      if (source(i * A.stride - A.before + k * A.dilation, A.size, mode) === p) { out.push(i); break; }
  return out;
}

function poolHits(P, units) {
  const out = [];
  for (let i = 0; i < P.out; i++)
    if (units.some((u) => u >= i * P.stride && u < i * P.stride + P.kernel)) out.push(i);
  return out;
}

function setText(node, text) { if (node.textContent !== text) node.textContent = text; }

function grid(parent, label, rows, cols, gap) {
  const box = el("div", "", parent);
  box.label = el("div", "hm-label", box, label);
  const g = el("div", "hm-grid", box);
  g.style.gridTemplateColumns = `repeat(${cols}, 4.7em)`;
  if (gap) g.style.gap = gap;
  box.cells = [];
  for (let i = 0; i < rows * cols; i++) box.cells.push(el("span", "", g));
  return box;
}

function fillCell(cell, text, className) {
  setText(cell, text);
  if (cell.className !== className) cell.className = className;
}

function sign(v) { return v < 0 ? "neg" : v > 0 ? "pos" : ""; }

class Hover {
  constructor(root) {
    this.root = root;
    this.heading = el("div", "hm-heading", root);
    this.pictures = el("div", "hm-pictures", root);
    this.chips = el("div", "hm-chips", this.pictures);
    const pair = el("div", "hm-pair", this.pictures);
    this.input = this.figure(pair, "input");
    this.output = this.figure(pair, "output");
    this.hint = el("div", "hm-hint", this.pictures);
    this.panel = el("div", "hm-panel", root);
    this.title = el("div", "hm-title", this.panel);
    this.channelChips = el("div", "hm-chips", this.panel);
    this.grids = el("div", "hm-grids", this.panel);
    this.text = el("pre", "hm-text", this.panel);
    this.channel = 0;
    this.pinned = null;
    this.sent = new Set();  // the pins this view reported: the page hands them back, and they are not news
    this.reported = "null";  // the last pin reported (JSON): nothing pinned yet
    this.at = null;  // {kind: "out" | "in", stage, r, c}
    root.addEventListener("keydown", (e) => this.key(e));
  }

  figure(parent, role) {
    const fig = el("figure", "", parent);
    fig.caption = el("figcaption", "", fig);
    const frame = el("div", "hm-frame", fig);
    frame.dataset.role = role;
    fig.img = el("img", "", frame);
    fig.img.draggable = false;
    fig.canvas = el("canvas", "", frame);
    fig.frame = frame;
    fig.size = { width: 0, height: 0 };
    // The pictures' sizes, kept as they change: reading them per move would make the browser lay out the whole page
    // in the middle of the handler.
    new ResizeObserver(([entry]) => {
      fig.size = { width: entry.contentRect.width, height: entry.contentRect.height };
      this.draw();
    }).observe(fig.img);
    frame.addEventListener(MOVE_EVENT, (e) => this.follow(e, role));
    frame.addEventListener("pointerdown", (e) => this.down(e, role));
    frame.addEventListener("pointerleave", () => { if (!this.pinned) { this.at = null; this.draw(); } });
    return fig;
  }

  update(data) {
    const first = !this.data;
    this.data = data;
    const s = data.settings;
    setText(this.heading, data.words.heading);
    const names = data.stages.map((st) => st.name);
    if (!names.includes(this.stage)) this.stage = data.stage;
    if (data.input_src !== this.inputSrc) {
      this.inputSrc = data.input_src;
      this.inputValues = null;  // another input (or size): no arithmetic on the old one's values meanwhile
      this.root.dataset.ready = "0";
    }
    loadInput(data.input_src).then((input) => {
      if (this.data !== data) return;
      const fresh = this.inputValues !== input;
      this.inputValues = input;
      this.root.dataset.ready = "1";
      if (fresh) this.show();
    }, () => { this.root.dataset.ready = "0"; });
    this.chips.replaceChildren();
    for (const st of data.stages) {
      const b = el("button", "hm-chip", this.chips, st.title);
      b.type = "button";
      b.dataset.stage = st.name;
      b.setAttribute("aria-pressed", String(st.name === this.stage));
      b.addEventListener("click", () => this.pick(st.name));
    }
    this.channelChips.replaceChildren();
    this.channelChips.hidden = s.kernel.length === 1;
    if (s.kernel.length === 1) this.channel = 0;
    data.words.channels.forEach((name, ch) => {
      const b = el("button", "hm-chip", this.channelChips, name);
      b.type = "button";
      b.addEventListener("click", () => { this.setChannel(ch); this.show(); });
    });
    // The grids are made once per settings and refilled per move: a move writes text, it never builds elements.
    this.grids.replaceChildren();
    const gap = (d) => `${Math.min(d - 1, 6) * 0.35}em`;
    const w = data.words;
    this.windowGrid = grid(this.grids, w.window, s.kh, s.kw, gap(1));
    this.kernelGrid = grid(this.grids, s.flip ? w.kernel_flipped : w.kernel, s.kh, s.kw, "");
    this.kernelGrid.lastChild.style.columnGap = gap(s.cols.dilation);
    this.kernelGrid.lastChild.style.rowGap = gap(s.rows.dilation);
    this.productGrid = grid(this.grids, w.products, s.kh, s.kw, "");
    this.poolGrid = s.pool ? grid(this.grids, w.pool_window, s.pool.rows.kernel, s.pool.cols.kernel, "") : null;
    this.setStage(this.stage);
    this.setChannel(this.channel);
    const wanted = JSON.stringify(data.pin ?? null);
    if ((first || !this.sent.has(wanted)) && data.pin && names.includes(data.pin.stage)) {
      // A link's pinned place (or one the page was set up with): the view opens on it.
      this.setStage(data.pin.stage);
      this.pinned = { kind: data.pin.kind, r: data.pin.r, c: data.pin.c };
      this.at = this.pinned;
      this.sent = new Set([wanted]);
      this.reported = wanted;
    }
    if (this.at) {  // a pointed or pinned place stays, inside the new sizes
      const limit = this.at.kind === "in" ? [s.rows.size, s.cols.size] : this.current.out;
      this.at.r = Math.min(this.at.r, limit[0] - 1);
      this.at.c = Math.min(this.at.c, limit[1] - 1);
    }
    this.show();
  }

  pick(name) {
    this.pinned = null;
    this.at = null;
    this.setStage(name);
    this.show();
    this.report();
  }

  // The pinned place, for the page's link: sent once it has stayed put for a moment (arrow keys held down send one
  // message, not one per step). A pointer that only moves never gets here.
  report() {
    const p = this.pinned;
    const pin = p ? { stage: this.stage, kind: p.kind, r: p.r, c: p.c } : null;
    const text = JSON.stringify(pin);
    if (text === this.reported) return;
    this.reported = text;
    clearTimeout(this.reportTimer);
    this.reportTimer = setTimeout(() => {
      this.sent.add(text);
      // Numbered: a value equal to the component's last one is no change to Streamlit, and the link may hold a
      // place this view never sent (unpinning a link's place sends null, which the component may hold already).
      this.pinCount = (this.pinCount || 0) + 1;
      if (this.setStateValue) this.setStateValue("pin", { place: pin, n: this.pinCount });
    }, PIN_REPORT_MS);
  }

  // Which channel's window, kernel slice and products the grids show (the written-out sums show every channel).
  setChannel(ch) {
    const s = this.data.settings;
    this.channel = Math.min(ch, s.kernel.length - 1);
    [...this.channelChips.children].forEach((b, i) => b.setAttribute("aria-pressed", String(i === this.channel)));
    const weights = s.kernel[this.channel];
    this.kernelGrid.cells.forEach((cell, i) => fillCell(cell, fmt(weights[i]), sign(weights[i])));
  }

  setStage(name) {
    this.stage = name;
    if (name.startsWith("partial") && this.kernelGrid) this.setChannel(Number(name.slice(-1)));
    const st = this.data.stages.find((x) => x.name === name);
    this.current = st;
    for (const b of this.chips.children) b.setAttribute("aria-pressed", String(b.dataset.stage === name));
    const w = this.data.words;
    setText(this.input.caption, `${w.input} ${this.data.input_shape}`);
    setText(this.output.caption, `${st.title} ${st.out[0]} × ${st.out[1]}`);
    if (this.input.img.getAttribute("src") !== this.data.input_picture) this.input.img.setAttribute("src", this.data.input_picture);
    if (this.output.img.getAttribute("src") !== st.src) this.output.img.setAttribute("src", st.src);
    this.input.img.alt = w.input;
    this.output.img.alt = st.title;
  }

  // Pointer position -> a unit of the picture's map (rows, cols), or null over the checkered part.
  locate(e, role) {
    const size = (role === "input" ? this.input : this.output).size;
    const fx = e.offsetX / size.width, fy = e.offsetY / size.height;  // the frame is the picture's own box
    if (role === "input") {
      const S = this.data.settings;
      const r = Math.floor(fy * S.rows.size), c = Math.floor(fx * S.cols.size);
      return r >= 0 && c >= 0 && r < S.rows.size && c < S.cols.size ? { kind: "in", r, c } : null;
    }
    const st = this.current, [er, ec] = st.extent;
    const r = Math.floor(fy / er * st.out[0]), c = Math.floor(fx / ec * st.out[1]);
    return r >= 0 && c >= 0 && r < st.out[0] && c < st.out[1] ? { kind: "out", r, c } : null;
  }

  follow(e, role) {
    // At most one update a frame: raw pointer events can come far faster than frames, and the latest place waits
    // for the next frame instead.
    if (this.frameBusy) { this.waiting = [e, role]; return; }
    this.frameBusy = true;
    this.move(e, role);
    requestAnimationFrame(() => {
      this.frameBusy = false;
      const waiting = this.waiting;
      this.waiting = null;
      if (waiting) this.follow(...waiting);
    });
  }

  move(e, role) {
    // A finger (or pen) pressed on a picture drags the pinned place with it: a touch has no hover.
    const dragging = e.pointerType !== "mouse" && (e.buttons & 1) === 1;
    if ((this.pinned && !dragging) || !this.inputValues) return;
    const at = this.locate(e, role);
    if (at === null || (this.at && at.kind === this.at.kind && at.r === this.at.r && at.c === this.at.c)) return;
    this.at = at;
    if (dragging) this.pinned = at;
    this.show();
    if (dragging) this.report();
  }

  down(e, role) {
    if (!this.inputValues) return;
    const at = this.locate(e, role);
    if (e.pointerType !== "mouse") e.preventDefault();
    if (e.pointerType === "mouse" && this.pinned && at && this.pinned.r === at.r && this.pinned.c === at.c &&
        this.pinned.kind === at.kind) {
      this.pinned = null;  // a second click on the pinned unit lets the window follow the pointer again
    } else if (at) {
      this.pinned = at;
      this.at = at;
      this.root.focus({ preventScroll: true });
    }
    this.show();
    this.report();
  }

  key(e) {
    const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (e.key === "Escape") { this.pinned = null; this.show(); this.report(); return; }
    if (!moves[e.key] || !this.inputValues) return;
    e.preventDefault();
    if (!this.pinned) {  // from the keyboard alone: the arrows start at the stage's centre
      const [rows, cols] = this.current.out;
      this.pinned = { kind: "out", r: rows >> 1, c: cols >> 1 };
      this.at = this.pinned;
      this.show();
      this.report();
      return;
    }
    const [dr, dc] = moves[e.key], p = this.pinned;
    const limit = p.kind === "in" ? [this.data.settings.rows.size, this.data.settings.cols.size] : this.current.out;
    p.r = Math.min(Math.max(p.r + dr, 0), limit[0] - 1);
    p.c = Math.min(Math.max(p.c + dc, 0), limit[1] - 1);
    this.at = p;
    this.show();
    this.report();
  }

  // Point the panel at a unit without a pointer (tests and the lesson): stage name, kind "out" or "in", row, col.
  point(stage, kind, r, c, pin) {
    if (stage !== this.stage) this.setStage(stage);
    this.at = { kind, r, c };
    this.pinned = pin ? this.at : null;
    this.show();
    return this.panel.dataset.values;
  }

  show() {
    const w = this.data.words, s = this.data.settings, input = this.inputValues, at = this.at;
    this.root.dataset.pinned = this.pinned ? "1" : "0";
    setText(this.hint, this.pinned ? w.hint_pinned : w.hint);
    if (!input || !at) {
      setText(this.title, w.point);
      this.panel.dataset.values = "";
      this.text.textContent = "";
      this.draw();
      return;
    }
    if (at.kind === "in") this.showInput(at); else this.showOutput(at);
    this.draw();
  }

  showInput(at) {
    const w = this.data.words, s = this.data.settings, input = this.inputValues, st = this.current;
    let rows = hits(s.rows, at.r, s.mode), cols = hits(s.cols, at.c, s.mode);
    if (st.name === "pool") { rows = poolHits(s.pool.rows, rows); cols = poolHits(s.pool.cols, cols); }
    this.marks = { rows, cols };
    const values = [];
    for (let ch = 0; ch < input.channels; ch++) values.push(input.values[(at.r * input.cols + at.c) * input.channels + ch]);
    setText(this.title, w.input_pixel.replace("{row}", at.r).replace("{col}", at.c)
      .replace("{value}", values.map(fmt).join(", ")));
    this.text.textContent = w.used_by.replace("{count}", rows.length * cols.length).replace("{stage}", st.title)
      .replace("{rows}", rows.join(", ") || "–").replace("{cols}", cols.join(", ") || "–");
    this.panel.dataset.values = JSON.stringify({ kind: "in", stage: st.name, row: at.r, col: at.c, values, rows, cols });
    for (const g of [this.windowGrid, this.productGrid, this.poolGrid]) if (g) g.hidden = true;
  }

  showOutput(at) {
    const w = this.data.words, s = this.data.settings, input = this.inputValues, st = this.current;
    let u, pooled = null;
    if (st.name === "pool") {
      pooled = poolUnit(s, input, at.r, at.c);
      u = pooled.units[pooled.winner];
    } else {
      u = unit(s, input, at.r, at.c);
    }
    this.marks = null;
    this.unitShown = u;
    this.pooled = pooled;
    const ch = this.channel, cells = u.taps[ch];
    this.windowGrid.hidden = this.productGrid.hidden = false;
    cells.forEach((t, i) => {
      fillCell(this.windowGrid.cells[i], fmt(t.x), t.pad ? "pad" : "");
      fillCell(this.productGrid.cells[i], fmt(t.p), sign(t.p));
    });
    const C = u.taps.length, names = w.channels;
    const lines = [];
    u.taps.forEach((taps, c) => {
      // Up to 7×7 every channel's products are written out; a bigger kernel's only for the channel in the grids
      // (the others as their sums), or the text alone would take longer than a frame to lay out.
      const terms = C === 1 || c === ch || taps.length <= 49 ? taps.map((t) => `${signed(t.x)}×${signed(t.w)}`).join(" + ")
        : `(${w.sum_of.replace("{count}", taps.length)})`;
      lines.push(`${C > 1 ? names[c] + ": " : ""}${terms} = ${fmt(u.partials[c])}`);
    });
    if (C > 1) lines.push(`${names.join(" + ")} = ${u.partials.map(signed).join(" + ")} = ${fmt(u.raw)}`);
    if (s.bias) lines.push(`${fmt(u.raw)} + ${signed(s.bias)} = ${fmt(u.conv)}`);
    if (s.activation !== "none") lines.push(`${w.activation_name}(${fmt(u.conv)}) = ${fmt(u.act)}`);
    if (pooled) {
      const acts = pooled.units.map((p) => p.act);
      lines.push(s.pool.kind === "max" ? `max(${acts.map(fmt).join(", ")}) = ${fmt(pooled.value)}`
        : `(${acts.map(signed).join(" + ")}) / ${acts.length} = ${fmt(pooled.value)}`);
      this.poolGrid.hidden = false;
      pooled.units.forEach((p, i) => fillCell(this.poolGrid.cells[i], fmt(p.act),
        `${sign(p.act)}${s.pool.kind === "max" && i === pooled.winner ? " win" : ""}`));
    } else if (this.poolGrid) {
      this.poolGrid.hidden = true;
    }
    const title = pooled ? w.pool_unit.replace("{row}", at.r).replace("{col}", at.c).replace("{crow}", u.r).replace("{ccol}", u.c)
      : w.unit.replace("{stage}", st.title).replace("{row}", at.r).replace("{col}", at.c);
    setText(this.title, title);
    this.text.textContent = lines.join("\n");
    const values = { kind: "out", stage: st.name, row: at.r, col: at.c, conv_row: u.r, conv_col: u.c,
                     partials: u.partials, conv: u.conv, activation: u.act,
                     window: u.taps.map((t) => t.map((x) => x.x)), products_sum: u.taps.map((t) => t.reduce((a, x) => a + x.p, 0)) };
    if (pooled) { values.pool = pooled.value; values.pool_window = pooled.units.map((p) => p.act); values.winner = pooled.winner; }
    this.panel.dataset.values = JSON.stringify(values);
  }

  // The window box on the input (padding hatched) and the pointed or reverse-view units on the stage's picture.
  draw() {
    for (const fig of [this.input, this.output]) {
      const canvas = fig.canvas, ratio = window.devicePixelRatio || 1;
      const width = fig.size.width + 2 * MARGIN, height = fig.size.height + 2 * MARGIN;
      if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
        canvas.width = Math.round(width * ratio);
        canvas.height = Math.round(height * ratio);
        canvas.style.width = `${width}px`;
        canvas.style.height = `${height}px`;
      }
      const g = canvas.getContext("2d");
      g.setTransform(ratio, 0, 0, ratio, 0, 0);
      g.clearRect(0, 0, width, height);
    }
    if (!this.at || !this.data || !this.inputValues) return;
    const s = this.data.settings, st = this.current;
    const inImg = { clientWidth: this.input.size.width, clientHeight: this.input.size.height };
    const outImg = { clientWidth: this.output.size.width, clientHeight: this.output.size.height };
    const inG = this.input.canvas.getContext("2d"), outG = this.output.canvas.getContext("2d");
    const sy = inImg.clientHeight / s.rows.size, sx = inImg.clientWidth / s.cols.size;
    const [er, ec] = st.extent;
    const oy = outImg.clientHeight * er / st.out[0], ox = outImg.clientWidth * ec / st.out[1];
    const box = (g, top, left, h, w, colour) => {
      g.strokeStyle = colour;
      g.lineWidth = 2;
      const minimum = 5;  // a window smaller than this on screen is still drawn big enough to see
      const cy = MARGIN + top + h / 2, cx = MARGIN + left + w / 2;
      h = Math.max(h, minimum); w = Math.max(w, minimum);
      g.strokeRect(cx - w / 2, cy - h / 2, w, h);
    };
    if (this.at.kind === "out") {
      const u = this.unitShown;
      const R = s.rows, K = s.cols;
      const top = u.r * R.stride - R.before, left = u.c * K.stride - K.before;
      const spanR = R.dilation * (R.kernel - 1) + 1, spanC = K.dilation * (K.kernel - 1) + 1;
      if (top < 0 || left < 0 || top + spanR > R.size || left + spanC > K.size) {
        // Padding: hatch the part of the window outside the image (drawn at least 6 px deep, to be seen).
        const x0 = MARGIN + left * sx, y0 = MARGIN + top * sy;
        const x1 = Math.max(x0 + spanC * sx, x0 + 6), y1 = Math.max(y0 + spanR * sy, y0 + 6);
        inG.save();
        inG.beginPath();
        inG.rect(Math.min(x0, MARGIN - (left < 0 ? 6 : 0)), Math.min(y0, MARGIN - (top < 0 ? 6 : 0)),
                 x1 - x0 + 12, y1 - y0 + 12);
        inG.rect(MARGIN, MARGIN, inImg.clientWidth, inImg.clientHeight);
        inG.clip("evenodd");
        inG.strokeStyle = "rgba(217, 119, 6, 0.9)";
        inG.lineWidth = 1;
        inG.beginPath();
        for (let d = x0 - (y1 - y0) - 12; d < x1 + 12; d += 4) { inG.moveTo(d, y0 - 6); inG.lineTo(d + (y1 - y0) + 12, y1 + 6); }
        inG.stroke();
        inG.restore();
      }
      box(inG, top * sy, left * sx, spanR * sy, spanC * sx, "#d97706");
      if (sx >= 4 && sy >= 4) {  // the taps themselves, where there is room: dilation's gaps become visible
        inG.fillStyle = "#d97706";
        for (let i = 0; i < R.kernel; i++) for (let j = 0; j < K.kernel; j++)
          inG.fillRect(MARGIN + (left + j * K.dilation + 0.5) * sx - 1.5, MARGIN + (top + i * R.dilation + 0.5) * sy - 1.5, 3, 3);
      }
      box(outG, this.at.r * oy, this.at.c * ox, oy, ox, "#d97706");
      if (this.pooled) {  // the pooling window's units on the activation map, drawn on the input's scale
        const P = s.pool, first = this.pooled.units[0];
        const pTop = first.r * R.stride - R.before, pLeft = first.c * K.stride - K.before;
        box(inG, pTop * sy, pLeft * sx, ((P.rows.kernel - 1) * R.stride + spanR) * sy,
            ((P.cols.kernel - 1) * K.stride + spanC) * sx, "rgba(37, 99, 235, 0.9)");
      }
    } else {
      box(inG, this.at.r * sy, this.at.c * sx, sy, sx, "#d97706");
      outG.fillStyle = "rgba(217, 119, 6, 0.55)";
      for (const r of this.marks.rows) for (const c of this.marks.cols)
        outG.fillRect(MARGIN + c * ox, MARGIN + r * oy, Math.max(ox, 2), Math.max(oy, 2));
    }
  }
}

const views = new WeakMap();

function isDark(element) {
  // The theme's background, as Streamlit sets it; no colour scheme is reported any other way.
  const value = getComputedStyle(element).getPropertyValue("--st-background-color").trim();
  let rgb = null;
  if (/^#[0-9a-f]{6}$/i.test(value)) rgb = [1, 3, 5].map((i) => parseInt(value.slice(i, i + 2), 16));
  else if (/^rgb/i.test(value)) rgb = value.match(/[\d.]+/g).slice(0, 3).map(Number);
  if (!rgb) return false;
  const [r, g, b] = rgb;
  return 0.2126 * r + 0.7152 * g + 0.0722 * b < 128;
}

export default function ({ parentElement, data, setStateValue }) {
  const root = parentElement.querySelector(".cnnviz-hover");
  root.classList.toggle("hm-dark", isDark(root));
  let view = views.get(root);
  if (!view) { view = new Hover(root); views.set(root, view); }
  view.setStateValue = setStateValue;
  view.update(data);
  window.cnnvizHover = view;
}
"""

_component = st.components.v2.component("cnnviz.hover_math", html=_HTML, css=_CSS, js=_JS, isolate_styles=False)


def hover_math(key: str, data: dict, *, on_pin: Callable[[], None]) -> None:
    """Draw the hover arithmetic for ``data``: ``input_src`` (the input blob's address), ``input_picture``,
    ``input_shape``, ``settings`` (cnnviz.pages.hover_math.settings), ``stages`` (each with name, title, src, out and
    extent, the fraction of its picture the map covers), ``stage`` (the one shown first), ``words`` and ``pin`` (the
    place to pin when the view is made, ``{"stage", "kind", "r", "c"}`` or None).

    A click, a touch or an arrow key that pins a place sends it as the state value ``pin`` (``{"place": ..., "n":
    a count}``) once the pinned place has stayed put for a moment, and ``on_pin`` runs; a pointer that only moves
    sends nothing."""
    _component(key=key, data=data, width="stretch", default={"pin": None}, on_pin_change=on_pin)


def blob_address(blob: bytes, key: str) -> str:
    """The input blob's address, named by its bytes: the same input keeps its address, and the browser its copy."""
    return media_address(blob, f"{key}.input", "application/octet-stream")
