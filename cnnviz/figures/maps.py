"""Arrays -> pictures: PNG bytes for maps of any size, plotly figures for small ones.

These functions draw what they are given; they never compute a convolution.
"""
from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from html import escape

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from cnnviz.conv.numfmt import fmt

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


# --- display scales: raw values -> [0, 1] or [-1, 1] for drawing --------------------------------------

DISPLAY_MODES = ("diverging", "abs", "clip", "minmax")  # how a map's values become colours


def auto_display(x: np.ndarray | tuple[float, ...]) -> str:
    """The display a student expects for this map (or its (min, max, ...) range): signed when it has negative
    values, else gray.

    A map with no negative values (a blur, the identity, a ReLU) is an image: on the 0-255 pixel scale when it
    stays inside it, else gray scaled to its peak. Only maps with both signs (edges, Laplacian) need the
    diverging scale, where white is 0 and the sign is the colour.
    """
    if isinstance(x, tuple):
        low, high = x[0], x[1]
    else:
        x = np.asarray(x)
        low, high = float(x.min()), float(x.max())
    tolerance = 1e-6 * max(abs(low), abs(high), 1.0)  # float32 rounding must not turn a blur signed
    if low < -tolerance:
        return "diverging"
    return "clip" if high <= 255 + tolerance else "abs"


def to_display(x: np.ndarray, mode: str) -> np.ndarray:
    """Values for drawing: signed in [-1, 1] for "diverging", else in [0, 1].

    diverging: divide by a robust peak magnitude, so 0 stays 0 (white) and the sign stays visible.
    abs: magnitude only, scaled by the same peak. The peak is the 99.5th percentile of |x|, not the
    maximum: one extreme pixel would otherwise wash every other response out to near-white. clip: clamp to [0, 255] as a photo editor would.
    minmax: stretch the smallest value to 0 and the largest to 1.
    """
    if mode not in DISPLAY_MODES:
        raise ValueError(f"display mode must be one of {DISPLAY_MODES}, got mode={mode!r}")
    x = np.asarray(x, dtype=np.float32)  # display levels need no more, and float32 halves the memory traffic
    if mode in ("diverging", "abs"):
        peak = display_peak(x)
        scaled = x / peak if peak > 0 else np.zeros_like(x)
        return np.clip(scaled, -1.0, 1.0) if mode == "diverging" else np.clip(np.abs(scaled), 0.0, 1.0)
    if mode == "clip":
        return np.clip(x, 0.0, 255.0) / 255.0
    low, high = x.min(), x.max()
    return (x - low) / (high - low) if high > low else np.zeros_like(x)


PEAK_SAMPLES = 1 << 16  # the saturation level is estimated from at most this many values of a map


def display_peak(x: np.ndarray) -> float:
    """The magnitude at which the diverging and abs colour scales saturate: the 99.5th percentile of |x|.

    Big maps are sampled on a regular grid first: the percentile of 65k values is as good a colour scale as that of
    a million, and far cheaper on every redraw.
    """
    magnitude = np.abs(np.asarray(x, dtype=np.float32)).ravel()
    step = max(1, magnitude.size // PEAK_SAMPLES)
    sample = magnitude[::step]
    k = min(sample.size - 1, int(np.ceil(0.995 * (sample.size - 1))))
    peak = float(np.partition(sample, k)[k])
    return peak if peak > 0 else float(magnitude.max())


@dataclass(frozen=True)
class MapStats:
    min: float
    max: float
    mean: float
    std: float
    counts: np.ndarray  # histogram counts
    edges: np.ndarray  # histogram bin edges, len(counts) + 1


def map_stats(x: np.ndarray, bins: int = 40) -> MapStats:
    x = np.asarray(x, dtype=np.float64)
    counts, edges = np.histogram(x, bins=bins)
    return MapStats(float(x.min()), float(x.max()), float(x.mean()), float(x.std()), counts, edges)


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


MIN_DISPLAY_SIDE = 224  # tiny maps are enlarged by a whole factor to at least this many pixels


def display_factor(input_hw: tuple[int, ...]) -> float:
    """Screen pixels per input pixel: big inputs shrink to DISPLAY_MAX_SIDE, tiny ones grow by a whole factor.

    Every map of a page is drawn with its input's factor, so a map that stride 2 halved is half as wide.
    """
    side = max(input_hw[:2])
    if side > DISPLAY_MAX_SIDE:
        return DISPLAY_MAX_SIDE / side
    return float(max(1, MIN_DISPLAY_SIDE // side))


def _rescale(values: np.ndarray, factor: float) -> np.ndarray:
    """A map resized by ``factor``: box-averaged down, or each value repeated into a block up."""
    if factor < 1:
        h, w = values.shape[:2]
        return shrink(values, max(1, round(max(h, w) * factor)))
    step = int(factor)
    return values if step == 1 else np.repeat(np.repeat(values, step, axis=0), step, axis=1)


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
    # Fast compression: these PNGs are re-made on every change, and latency matters more than size. Huffman coding
    # alone (no string matching) is faster than zlib's level 1 and makes photos no bigger; only smooth maps grow.
    image.save(buffer, "PNG", compress_level=1, compress_type=zlib.Z_HUFFMAN_ONLY)
    return buffer.getvalue()


# Palette pictures: 253 levels of the value (index 126 is 0 on the signed scale), then two light grays that
# checker the part of a frame a smaller map does not cover ("no output here", never mistaken for a value).
_LEVELS = 253
_CHECKER = (253, 254)


def _palette(signed: bool) -> list[int]:
    t = np.linspace(0, 1, _LEVELS)
    if signed:
        positions = np.linspace(0, 1, len(_DIVERGING_STOPS))
        colours = np.stack([np.interp(t, positions, _DIVERGING_STOPS[:, c]) for c in range(3)], axis=1)
    else:
        colours = np.repeat(t[:, None] * 255, 3, axis=1)
    colours = np.vstack([colours.round(), [[226, 228, 232], [244, 245, 247], [255, 255, 255]]])
    return colours.astype(np.uint8).ravel().tolist()


def _palette_levels(shown: np.ndarray, signed: bool) -> np.ndarray:
    half = (_LEVELS - 1) / 2
    scaled = (np.clip(shown, -1, 1) + 1) * half if signed else np.clip(shown, 0, 1) * (_LEVELS - 1)
    return np.rint(scaled).astype(np.uint8)


def _checker(shape: tuple[int, int], cell: int = 8) -> np.ndarray:
    rows, cols = np.indices(shape)
    return np.where((rows // cell + cols // cell) % 2 == 0, _CHECKER[0], _CHECKER[1]).astype(np.uint8)


def map_png(values: np.ndarray, mode: str, *, display: bool = True, input_hw: tuple[int, ...] | None = None,
            max_side: int = DISPLAY_MAX_SIDE) -> bytes:
    """PNG of a raw map in a display mode of ``to_display``.

    With ``display`` the map is drawn at its input's scale (``display_factor`` of ``input_hw``, the map's own size
    when None) on a checkered frame the size of the input, so a strided map looks as much smaller as it is; the page
    sends a few hundred kilobytes. Without it the PNG has one pixel per value, for downloads. Single-channel maps
    are 8-bit palette PNGs: a third of the bytes of RGB, and as fast to encode.
    """
    values = np.asarray(values, dtype=np.float32)
    frame = None
    if display:
        reference = input_hw or values.shape[:2]
        factor = min(display_factor(reference), max_side / max(reference[:2]))  # max_side: smaller thumbnails
        values = _rescale(values, factor)
        if input_hw is not None:
            frame = (max(round(input_hw[0] * factor), values.shape[0]), max(round(input_hw[1] * factor), values.shape[1]))
    shown = to_display(values, mode)
    if shown.ndim == 3:
        return png_bytes(colourise(shown, signed=False))
    signed = mode == "diverging"
    levels = _palette_levels(shown, signed)
    if frame is not None and frame != levels.shape:
        canvas = _checker(frame)
        canvas[:levels.shape[0], :levels.shape[1]] = levels
        levels = canvas
    image = Image.frombytes("P", (levels.shape[1], levels.shape[0]), np.ascontiguousarray(levels).tobytes())
    image.putpalette(_palette(signed))
    return png_bytes(image)


def map_extent(shape: tuple[int, ...], input_hw: tuple[int, ...] | None = None,
               max_side: int = DISPLAY_MAX_SIDE) -> tuple[tuple[int, int], tuple[int, int]]:
    """Where ``map_png`` draws a map of ``shape``: ((rows, cols) of the map's pixels, (rows, cols) of the whole
    picture), the map in its top-left corner. A pointer over the picture finds its map unit with these."""
    reference = input_hw or shape
    factor = min(display_factor(reference), max_side / max(reference[:2]))
    h, w = shape[:2]
    if factor < 1:
        side = max(1, round(max(h, w) * factor))
        scale = side / max(h, w)
        drawn = (h, w) if max(h, w) <= side else (max(1, round(h * scale)), max(1, round(w * scale)))
    else:
        drawn = (h * int(factor), w * int(factor))
    if input_hw is None:
        return drawn, drawn
    return drawn, (max(round(input_hw[0] * factor), drawn[0]), max(round(input_hw[1] * factor), drawn[1]))


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
    """The working image (0-255 scale) as shown on the page, with the dropped rows and columns tinted.

    A photo-sized picture is a JPEG (a fifth of the PNG's bytes, and a photo has no exact values to keep); a tiny
    input enlarged into sharp blocks stays a PNG. Both start with their own signature, so ``st.image`` takes them as
    they are.
    """
    pixels = colourise(np.asarray(image, dtype=np.float32) / np.float32(255), signed=False)
    if len(rows) or len(cols):
        pixels = mark_dropped(pixels, rows, cols)
    shown = fit_for_display(pixels)
    if shown.shape[:2] != pixels.shape[:2] and display_factor(pixels.shape) > 1:
        return png_bytes(shown)
    buffer = io.BytesIO()
    Image.fromarray(shown).save(buffer, "JPEG", quality=90, subsampling=0)  # 4:4:4: a 1-px red band stays red
    return buffer.getvalue()


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


def heatmap_figure(values: np.ndarray, *, signed: bool, title: str = "", origin: tuple[int, int] = (0, 0),
                   hover: str = "row {row}, col {col}: {value}") -> go.Figure:
    """A hoverable heatmap of a small map, or of a window of a big one starting at ``origin`` (row, col).

    Hover shows the raw value and its row and column in the whole map (``hover`` words it, in any language);
    cells stay square.
    """
    if values.size > HEATMAP_MAX_CELLS:
        raise ValueError(f"heatmap_figure is for maps up to {HEATMAP_MAX_CELLS} cells, got shape {values.shape}")
    peak = float(np.abs(values).max()) or 1.0
    figure = go.Figure(go.Heatmap(
        z=values, x=np.arange(values.shape[1]) + origin[1], y=np.arange(values.shape[0]) + origin[0],
        colorscale=DIVERGING_COLORSCALE if signed else "gray",
        zmin=-peak if signed else float(values.min()), zmax=peak if signed else float(values.max()),
        hovertemplate=hover.format(row="%{y}", col="%{x}", value="%{z:.4g}") + "<extra></extra>",
        colorbar={"thickness": 10},
    ))
    figure.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", showgrid=False)
    figure.update_xaxes(constrain="domain", showgrid=False)
    figure.update_layout(title=title, margin={"l": 10, "r": 10, "t": 30 if title else 10, "b": 10}, height=300)
    return figure


def histogram_figure(stats: MapStats, *, title: str = "", hover: str = "{value}: {count} values") -> go.Figure:
    """The map's value histogram, bars coloured by sign; ``hover`` words a bar's tooltip, in any language."""
    centres = (stats.edges[:-1] + stats.edges[1:]) / 2
    colours = ["#2166ac" if c < 0 else "#b2182b" if c > 0 else "#999999" for c in centres]
    figure = go.Figure(go.Bar(x=centres, y=stats.counts, width=np.diff(stats.edges), marker_color=colours,
                              hovertemplate=hover.format(value="%{x:.3g}", count="%{y}") + "<extra></extra>"))
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
.cv-grid-box { margin: 0; max-width: 100%; }
.cv-grid-box figcaption { font-weight: 600; padding-bottom: 6px; max-width: 26em; }
.cv-grid { border-collapse: collapse; }
.cv-grid td { width: 40px; height: 40px; text-align: center; border: 1px solid #cbd5e1; font-size: 17px;
  position: relative; color: #111827; background: #ffffff; }
.cv-grid td.pad { background: repeating-linear-gradient(45deg, #f1f5f9, #f1f5f9 5px, #e2e8f0 5px, #e2e8f0 10px);
  color: #475569; font-style: italic; }  /* 5.6:1 even on a tapped cell's orange */
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
    # The title sits outside the table, so it is as wide as its text rather than the table (a table's own caption
    # wraps a few characters per line over a 3×3 grid, in Chinese most of all).
    return (f'<figure class="cv-grid-box"><figcaption>{escape(caption)}</figcaption>'
            f'<table class="cv-grid">{"".join(rows)}</table></figure>')
