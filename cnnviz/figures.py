"""Arrays -> pictures: PNG bytes for maps of any size, plotly figures for small ones.

These functions draw what they are given; they never compute a convolution.
"""
from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from cnnviz.pipeline import MapStats, to_display

HEATMAP_MAX_CELLS = 64 * 64  # above this, maps are sent as PNG: a plotly heatmap would be megabytes of JSON
DISPLAY_MAX_SIDE = 512  # maps shown on the page are at most this big; downloads keep full resolution
# Diverging palette: blue for negative, white for 0, red for positive (ColorBrewer RdBu, reversed).
_DIVERGING_STOPS = np.array([
    [5, 48, 97], [33, 102, 172], [67, 147, 195], [146, 197, 222], [209, 229, 240], [247, 247, 247],
    [253, 219, 199], [244, 165, 130], [214, 96, 77], [178, 24, 43], [103, 0, 31],
], dtype=np.float64)
DIVERGING_COLORSCALE = [[i / 10, f"rgb({r:.0f},{g:.0f},{b:.0f})"] for i, (r, g, b) in enumerate(_DIVERGING_STOPS)]


def _diverging_lut() -> np.ndarray:
    positions = np.linspace(0, 1, len(_DIVERGING_STOPS))
    t = np.linspace(0, 1, 256)
    return np.stack([np.interp(t, positions, _DIVERGING_STOPS[:, c]) for c in range(3)], axis=1).round().astype(np.uint8)


DIVERGING_LUT = _diverging_lut()  # (256, 3) uint8: index 0 = -1, 128 = 0 (white), 255 = +1


def _levels(values: np.ndarray, signed: bool) -> np.ndarray:
    """uint8 levels 0-255: signed values in [-1, 1] (128 = 0, an index into DIVERGING_LUT), else [0, 1]."""
    values = np.asarray(values, dtype=np.float32)
    scaled = (np.clip(values, -1, 1) + 1) * 127.5 if signed else np.clip(values, 0, 1) * 255
    return np.rint(scaled).astype(np.uint8)


def colourise(values: np.ndarray, signed: bool) -> np.ndarray:
    """uint8 pixels: (H, W, 3) diverging colours for signed values in [-1, 1], else gray or RGB from [0, 1]."""
    levels = _levels(values, signed)
    return DIVERGING_LUT[levels] if signed else levels  # (H, W, 3) when signed


def shrink(values: np.ndarray, max_side: int = DISPLAY_MAX_SIDE) -> np.ndarray:
    """Box-average a map down so its longer side is at most ``max_side`` (what a browser would show anyway)."""
    h, w = values.shape[:2]
    if max(h, w) <= max_side:
        return values
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    channels = [values] if values.ndim == 2 else [values[..., c] for c in range(values.shape[2])]
    resized = [np.asarray(Image.fromarray(np.ascontiguousarray(c, dtype=np.float32)).resize(size, Image.Resampling.BOX))
               for c in channels]
    return resized[0] if values.ndim == 2 else np.stack(resized, axis=-1)  # (h', w') or (h', w', C)


def enlarge(pixels: np.ndarray, min_side: int = 224) -> np.ndarray:
    """Repeat each pixel of a tiny map into a block (nearest neighbour): it stays sharp, never blurred."""
    factor = max(1, min_side // max(pixels.shape[:2]))
    if factor == 1:
        return pixels
    return np.repeat(np.repeat(pixels, factor, axis=0), factor, axis=1)


def fit_for_display(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels: big ones shrunk, tiny ones enlarged."""
    if max(pixels.shape[:2]) > DISPLAY_MAX_SIDE:
        image = Image.fromarray(pixels)
        image.thumbnail((DISPLAY_MAX_SIDE, DISPLAY_MAX_SIDE), Image.Resampling.BOX)
        return np.asarray(image)
    return enlarge(pixels)


def png_bytes(pixels: np.ndarray | Image.Image) -> bytes:
    buffer = io.BytesIO()
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    # Fast compression: these PNGs are re-made on every change, and latency matters more than size.
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def map_png(values: np.ndarray, mode: str, *, display: bool = True, max_side: int = DISPLAY_MAX_SIDE) -> bytes:
    """PNG of a raw map in a display mode of ``pipeline.to_display``.

    With ``display`` the map is first shrunk to at most ``max_side`` (or enlarged if tiny), so the
    page sends a few hundred kilobytes; without it, the PNG has one pixel per value, for downloads.
    Single-channel maps are saved as 8-bit palette PNGs: a third of the bytes of RGB, and as fast to encode.
    """
    values = np.asarray(values, dtype=np.float32)
    if display:
        values = shrink(values, max_side)
    shown = to_display(values, mode)
    if shown.ndim == 3:
        pixels = colourise(shown, signed=False)
        return png_bytes(enlarge(pixels) if display else pixels)
    signed = mode == "diverging"
    levels = _levels(shown, signed)
    image = Image.fromarray(enlarge(levels) if display else levels)  # mode "L"
    if signed:
        image = image.convert("P")
        image.putpalette(DIVERGING_LUT.ravel().tolist())
    return png_bytes(image)


def mark_dropped(pixels: np.ndarray, rows: range, cols: range) -> np.ndarray:
    """Tint input rows and columns that no kernel window reaches (the floor dropped them) in red."""
    out = (pixels if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)).copy()  # (H, W, 3) uint8
    tint = np.array([220, 38, 38], dtype=np.float32)
    # Only the dropped bands are touched: on a 1024x1024 input they are a few rows, not a million pixels.
    top = rows.start if len(rows) else out.shape[0]
    for band in (out[rows.start:rows.stop, :], out[:top, cols.start:cols.stop]):  # the corner only once
        if band.size:
            band[...] = np.rint(0.45 * band.astype(np.float32) + 0.55 * tint).astype(np.uint8)
    return out


def input_png(image: np.ndarray, rows: range, cols: range) -> bytes:
    """The working image (0-255 scale) as shown on the page, with the dropped rows and columns tinted."""
    pixels = colourise(np.asarray(image, dtype=np.float32) / np.float32(255), signed=False)
    if len(rows) or len(cols):
        pixels = mark_dropped(pixels, rows, cols)
    return png_bytes(fit_for_display(pixels))


def colorbar_png(width: int = 256, height: int = 14) -> bytes:
    """The diverging legend strip: blue (negative) to white (0) to red (positive)."""
    strip = np.repeat(DIVERGING_LUT[None, np.linspace(0, 255, width).astype(int)], height, axis=0)
    return png_bytes(strip)


def zoom_window(shape: tuple[int, ...], centre: tuple[float, float], side: int = 64) -> tuple[slice, slice]:
    """The side x side window of a map centred at fractions ``centre`` (0-1) of its height and width, kept inside it."""
    window = []
    for n, fraction in zip(shape[:2], centre):
        size = min(side, n)
        start = min(max(0, round(fraction * n) - size // 2), n - size)
        window.append(slice(start, start + size))
    return window[0], window[1]


def heatmap_figure(values: np.ndarray, *, signed: bool, title: str = "", origin: tuple[int, int] = (0, 0)) -> go.Figure:
    """A hoverable heatmap of a small map, or of a window of a big one starting at ``origin`` (row, col).

    Hover shows the raw value and its row and column in the whole map; cells stay square.
    """
    if values.size > HEATMAP_MAX_CELLS:
        raise ValueError(f"heatmap_figure is for maps up to {HEATMAP_MAX_CELLS} cells, got shape {values.shape}")
    peak = float(np.abs(values).max()) or 1.0
    figure = go.Figure(go.Heatmap(
        z=values, x=np.arange(values.shape[1]) + origin[1], y=np.arange(values.shape[0]) + origin[0],
        colorscale=DIVERGING_COLORSCALE if signed else "gray",
        zmin=-peak if signed else float(values.min()), zmax=peak if signed else float(values.max()),
        hovertemplate="row %{y}, col %{x}: %{z:.4g}<extra></extra>", colorbar={"thickness": 10},
    ))
    figure.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", showgrid=False)
    figure.update_xaxes(constrain="domain", showgrid=False)
    figure.update_layout(title=title, margin={"l": 10, "r": 10, "t": 30 if title else 10, "b": 10}, height=300)
    return figure


def histogram_figure(stats: MapStats, *, title: str = "") -> go.Figure:
    centres = (stats.edges[:-1] + stats.edges[1:]) / 2
    colours = ["#2166ac" if c < 0 else "#b2182b" if c > 0 else "#999999" for c in centres]
    figure = go.Figure(go.Bar(x=centres, y=stats.counts, width=np.diff(stats.edges), marker_color=colours,
                              hovertemplate="%{x:.3g}: %{y} values<extra></extra>"))
    figure.update_layout(title=title, height=180, margin={"l": 10, "r": 10, "t": 30 if title else 10, "b": 10},
                         bargap=0, showlegend=False)
    return figure


def npy_bytes(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(values))
    return buffer.getvalue()


# --- small grids as HTML tables (the Step-by-step page) ---------------------------------------------

GRID_CSS = """
<style>
.cv-grids { display: flex; flex-wrap: wrap; gap: 28px; align-items: flex-start; font-family: 'Source Sans Pro', sans-serif; }
.cv-grid caption { caption-side: top; font-weight: 600; padding-bottom: 6px; text-align: left; color: #1f2937; }
.cv-grid { border-collapse: collapse; }
.cv-grid td { width: 46px; height: 46px; text-align: center; border: 1px solid #cbd5e1; font-size: 18px;
  position: relative; color: #111827; background: #ffffff; }
.cv-grid td.pad { background: repeating-linear-gradient(45deg, #f1f5f9, #f1f5f9 5px, #e2e8f0 5px, #e2e8f0 10px);
  color: #64748b; font-style: italic; }
.cv-grid td.tap { background: #ffedd5; outline: 3px solid #ea580c; outline-offset: -3px; font-weight: 700; }
.cv-grid td.tap.pad { background: #fed7aa; }
.cv-grid td .w { position: absolute; right: 3px; bottom: 1px; font-size: 11px; color: #9a3412; font-weight: 600; }
.cv-grid td.current { background: #fde68a; outline: 3px solid #d97706; outline-offset: -3px; font-weight: 700; }
.cv-grid td.todo { color: transparent; background: #f8fafc; }
.cv-grid td.neg { color: #1d4ed8; }
.cv-grid td.pos { color: #b91c1c; }
</style>
"""


def grid_html(values: np.ndarray, caption: str, *, classes: dict[tuple[int, int], str] | None = None,
              notes: dict[tuple[int, int], str] | None = None, signed: bool = False) -> str:
    """An HTML table of ``values`` (already formatted as text or numbers) with per-cell CSS classes.

    Args:
        values: 2-D array of numbers or strings; NaN cells are shown empty.
        caption: title above the table.
        classes: extra CSS classes per (row, col): pad, tap, current, todo.
        notes: small text in a cell's corner, e.g. the kernel weight under a tap.
        signed: colour negative numbers blue and positive red.
    """
    from html import escape

    from cnnviz.stepper import fmt

    classes, notes = classes or {}, notes or {}
    rows = []
    for r in range(values.shape[0]):
        cells = []
        for c in range(values.shape[1]):
            value = values[r, c]
            is_number = isinstance(value, (int, float, np.number))
            text = "" if is_number and np.isnan(value) else (fmt(value) if is_number else str(value))
            css = classes.get((r, c), "")
            if signed and is_number and not np.isnan(value) and value != 0:
                css += " neg" if value < 0 else " pos"
            note = f'<span class="w">×{escape(notes[(r, c)])}</span>' if (r, c) in notes else ""
            cells.append(f'<td class="{css.strip()}">{escape(text)}{note}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f'<table class="cv-grid"><caption>{escape(caption)}</caption>{"".join(rows)}</table>'


class PngCache:
    """A bounded, thread-safe cache of pictures by key, which makes the missing ones two at a time.

    PIL's resize and zlib release the GIL, so on two cores a page's maps encode in about 60% of the time.
    Keys must name everything a picture depends on; entries are shared by every session of the process.
    """

    def __init__(self, max_entries: int = 96, workers: int = 2):
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries = max_entries
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cnnviz-png")

    def get_many(self, requests: Sequence[tuple[str, Callable[[], bytes]]]) -> list[bytes]:
        """The picture for each (key, make) pair, calling ``make`` only for keys not cached."""
        with self._lock:
            found = {key: self._entries[key] for key, _ in requests if key in self._entries}
            for key in found:
                self._entries.move_to_end(key)
        missing = {key: make for key, make in requests if key not in found}
        made = dict(zip(missing, self._pool.map(lambda make: make(), missing.values())))
        with self._lock:
            for key, data in made.items():
                self._entries[key] = data
                self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return [found[key] if key in found else made[key] for key, _ in requests]
