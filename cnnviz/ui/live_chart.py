"""The Train page's live curves while a run trains: three small <canvas> panels (Streamlit Custom Components v2).

Why not the plotly figure: the page's browser redrew the whole plotly subplot figure every few seconds, in software
on a machine without a GPU, and those bursts took the cores the training run needed, so a watched run trained well
below the CLI's speed (docs/benchmarks.md). This component receives a few hundred points per line
(``cnnviz.figures.training.live_chart_data``) and draws them on canvases it keeps, updating in place: a redraw is a
few milliseconds. The full plotly figure (hover, zoom) comes back once the run has finished. Newer data comes
either with a run of the page or from the live status's polls (cnnviz.ui.live_status), as a
``cnnviz:live-chart`` event on the document.

Inline HTML, CSS and JS, no CDN, as cnnviz/ui/canvas.py. Text is 16 px for a projector; the panels sit side by side
in a column wider than 440 px and stack on a phone.
"""
from __future__ import annotations

import streamlit as st

_HTML = """<div class="live-chart">
  <div class="live-panels"></div>
  <div class="live-legend"></div>
</div>"""

_CSS = """
.live-chart {
  container-type: inline-size;
  font-family: var(--st-font, sans-serif); font-size: 16px; color: var(--st-text-color, #31333f);
  display: flex; flex-direction: column; gap: 0.25rem;
}
.live-panels { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 0.5rem 0.75rem; }
@container (max-width: 440px) { .live-panels { grid-template-columns: minmax(0, 1fr); } }
.live-panel { margin: 0; min-width: 0; }
.live-title { font-weight: 600; text-align: center; line-height: 1.4; }
.live-canvas { display: block; width: 100%; height: 190px; }
.live-x { text-align: center; line-height: 1.4; opacity: 0.8; }
.live-legend { display: flex; flex-wrap: wrap; gap: 0.25rem 1.25rem; line-height: 1.4; }
.live-key { display: inline-flex; align-items: center; gap: 0.4rem; min-width: 0; overflow-wrap: anywhere; }
.live-swatch { flex: none; width: 1.75rem; height: 0; border-top: 3px solid; }
.live-swatch.dash { border-top-style: dashed; }
.live-swatch.points { border-top: 2px dotted; position: relative; }
.live-swatch.points::after {
  content: ""; position: absolute; left: 0.6rem; top: -6px; width: 7px; height: 7px;
  background: currentColor; transform: rotate(45deg);
}
"""

# Streamlit calls the default export again whenever ``data`` changes, on the same HTML and without the previous
# cleanup (as for cnnviz/ui/canvas.py): the panels are built once per chart element, later calls redraw them.
_JS = """
const charts = new WeakMap();  // root element -> { panels, data, observer }
const HEIGHT = 190;  // CSS px of a panel's canvas (as .live-canvas)
const FONT = 16;  // px: tick labels readable on a projector

function niceStep(span, count) {
  const raw = span / Math.max(1, count);
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const m = raw / power;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * power;
}

function ticks(hi, count) {
  let step = niceStep(hi, count);
  if (step > hi) {  // a narrow panel (three side by side) asked for one tick: 469 steps gave "0" alone, now 0, 200, 400
    const power = Math.pow(10, Math.floor(Math.log10(hi)));
    const m = hi / power;
    step = (m >= 5 ? 5 : m >= 2 ? 2 : 1) * power;
  }
  const values = [];
  for (let i = 0; i * step <= hi * (1 + 1e-9); i++) values.push(+(i * step).toPrecision(12));
  return { values, step };
}

function yLabel(value, format, step) {
  if (format === "percent") return `${Math.round(value * 100)}%`;
  if (value === 0) return "0";
  if (step < 1e-4) return value.toExponential(1);
  return value.toFixed(Math.max(0, -Math.floor(Math.log10(step) + 1e-9)));
}

function xLabel(value) {
  return value >= 10000 ? `${+(value / 1000).toPrecision(3)}k` : String(value);
}

function yTop(panel) {
  if (panel.format === "percent") return 1;
  let top = 0;
  for (const line of panel.lines) for (const y of line.y) if (y !== null && y > top) top = y;
  if (!(top > 0)) return 1;
  const step = niceStep(top, 4);
  return Math.ceil(top / step - 1e-9) * step;
}

function strokeLine(context, line, px, py) {
  const styles = {
    faint: [1, [], 0.3], solid: [2.5, [], 1], dash: [2, [7, 5], 1], points: [1.5, [2, 4], 1],
  };
  const [width, dash, alpha] = styles[line.style] || styles.solid;
  Object.assign(context, { lineWidth: width, strokeStyle: line.colour, fillStyle: line.colour, globalAlpha: alpha,
                           lineJoin: "round", lineCap: "round" });
  context.setLineDash(dash);
  context.beginPath();
  let open = false;
  line.y.forEach((y, i) => {
    if (y === null) { open = false; return; }
    const [x, yy] = [px(line.x[i]), py(y)];
    if (open) context.lineTo(x, yy); else context.moveTo(x, yy);
    open = true;
  });
  context.stroke();
  context.setLineDash([]);
  if (line.style === "points") {
    line.y.forEach((y, i) => {
      if (y === null) return;
      const [x, yy] = [px(line.x[i]), py(y)];
      context.beginPath();
      context.moveTo(x, yy - 5); context.lineTo(x + 5, yy); context.lineTo(x, yy + 5); context.lineTo(x - 5, yy);
      context.closePath();
      context.fill();
    });
  }
  context.globalAlpha = 1;
}

function drawPanel(canvas, panel, xMax) {
  const width = canvas.clientWidth;
  if (!width) return;  // not laid out yet: the resize observer draws it once it is
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(HEIGHT * ratio);
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.clearRect(0, 0, width, HEIGHT);
  const style = getComputedStyle(canvas);
  context.font = `${FONT}px ${style.fontFamily}`;
  const ink = style.color;
  const top = yTop(panel);
  const yTicks = ticks(top, 4);
  const labels = yTicks.values.map((v) => yLabel(v, panel.format, yTicks.step));
  const left = Math.ceil(Math.max(...labels.map((t) => context.measureText(t).width))) + 8;
  const [right, above, below] = [Math.ceil(context.measureText(xLabel(xMax)).width / 2) + 2, FONT / 2 + 2, FONT + 8];
  const plotWidth = Math.max(10, width - left - right);
  const plotHeight = HEIGHT - above - below;
  const px = (x) => left + (x / xMax) * plotWidth;
  const py = (y) => above + (1 - y / top) * plotHeight;
  context.fillStyle = ink;
  context.strokeStyle = ink;
  context.lineWidth = 1;
  context.textBaseline = "middle";
  context.textAlign = "right";
  yTicks.values.forEach((value, i) => {
    context.globalAlpha = 0.15;
    context.beginPath(); context.moveTo(left, py(value)); context.lineTo(left + plotWidth, py(value)); context.stroke();
    context.globalAlpha = 1;
    context.fillText(labels[i], left - 6, py(value));
  });
  const xTicks = ticks(xMax, Math.max(2, Math.floor(plotWidth / 90)));
  context.textBaseline = "top";
  context.textAlign = "center";
  for (const value of xTicks.values) context.fillText(xLabel(value), px(value), above + plotHeight + 6);
  context.globalAlpha = 0.5;
  context.beginPath(); context.moveTo(left, above); context.lineTo(left, above + plotHeight);
  context.lineTo(left + plotWidth, above + plotHeight); context.stroke();
  context.globalAlpha = 1;
  context.save();
  context.beginPath(); context.rect(left, above - 6, plotWidth + 6, plotHeight + 12); context.clip();
  for (const line of panel.lines) strokeLine(context, line, px, py);
  context.restore();
}

function build(root) {
  const panels = root.querySelector(".live-panels");
  const chart = { panels: [], data: null };
  for (let i = 0; i < 3; i++) {
    const figure = document.createElement("figure");
    figure.className = "live-panel";
    figure.innerHTML = '<figcaption class="live-title"></figcaption><canvas class="live-canvas" role="img"></canvas>'
      + '<div class="live-x"></div>';
    panels.appendChild(figure);
    chart.panels.push(figure);
  }
  chart.observer = new ResizeObserver(() => { if (chart.data) draw(root, chart); });
  chart.observer.observe(panels);
  // Newer data between the page's runs: the live status polls it from the server (cnnviz/ui/live_status.py).
  chart.listener = (event) => { chart.data = JSON.parse(event.detail); draw(root, chart); };
  document.addEventListener("cnnviz:live-chart", chart.listener);
  chart.cleanup = () => {
    chart.observer.disconnect();
    document.removeEventListener("cnnviz:live-chart", chart.listener);
    charts.delete(root);
  };
  return chart;
}

function draw(root, chart) {
  const data = chart.data;
  data.panels.forEach((panel, i) => {
    const figure = chart.panels[i];
    figure.querySelector(".live-title").textContent = panel.title;
    figure.querySelector(".live-x").textContent = data.x_title;
    const canvas = figure.querySelector("canvas");
    canvas.setAttribute("aria-label", panel.title);
    drawPanel(canvas, panel, data.x_max);
  });
  const legend = root.querySelector(".live-legend");
  legend.replaceChildren(...data.legend.map((entry) => key(entry.label, entry.colour, entry.style)),
                         key(data.points_label, "currentColor", "points"));
  // The newest step drawn: what a test (or a curious reader of the DOM) can wait on to see the chart move.
  const current = data.panels[0].lines.filter((line) => line.style === "solid").pop();
  root.dataset.step = current && current.x.length ? current.x[current.x.length - 1] : 0;
}

function key(label, colour, style) {
  const entry = document.createElement("span");
  entry.className = "live-key";
  const swatch = document.createElement("span");
  swatch.className = `live-swatch ${style}`;
  swatch.style.color = colour;
  entry.append(swatch, label);
  return entry;
}

export default function (args) {
  const root = args.parentElement.querySelector(".live-chart");
  let chart = charts.get(root);
  if (chart === undefined) {
    chart = build(root);
    charts.set(root, chart);
  }
  chart.data = JSON.parse(args.data);  // text: see live_chart() in Python
  draw(root, chart);
  return chart.cleanup;
}
"""

_component = st.components.v2.component("cnnviz.live_chart", html=_HTML, css=_CSS, js=_JS)


def live_chart(data: str, *, key: str) -> None:
    """Draw ``data``, the JSON text of ``cnnviz.figures.training.live_chart_data``; a later call with the same ``key``
    redraws the same canvases in place, which is what the live fragment's reruns do.

    Text, not a dict: Streamlit encodes a dict to JSON twice per mount (the payload, and a sorted copy for the
    element's identity), which was most of the server's time for this element; a string passes through as it is,
    and the text is built once for everyone watching the run.

    Raises:
        ValueError: ``data`` is not a string.
    """
    if not isinstance(data, str):
        raise ValueError(f"the live chart takes JSON text (json.dumps of live_chart_data), got {type(data).__name__}")
    _component(key=key, data=data, width="stretch")
