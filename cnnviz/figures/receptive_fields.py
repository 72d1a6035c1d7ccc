"""Pictures of receptive fields: the input inside a band of padding, with boxes, unit centres and gradients.

Every picture shares one ``InputFrame``: the input scaled up by a whole factor, with a hatched margin around it wide
enough for the boxes that reach into the padding. A click on the picture is decoded by ``clicks.unit_at_click``
with the frame's input size and margin. These functions draw what they are given; the fields themselves come from
``receptive_field`` and ``effective_rf``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import numpy as np
from PIL import Image, ImageDraw

from cnnviz.analysis.receptive_field import Box, RFRow, centre, input_box
from cnnviz.conv.geometry import is_int

TARGET_SIDE = 560  # canvases are scaled up by a whole factor until their longer side nears this, px
MIN_DOT_SPACING = 20  # unit centres are drawn only when neighbours are at least this many picture px apart
CHOSEN_COLOUR = "#dc2626"  # the chosen unit's box
CHOSEN_WIDTH = 4  # its outline, px
EARLIER_WIDTH = 2  # outline of the boxes of earlier layers, px
# Earlier layers' boxes, first layer first: hues far from the chosen red and from each other.
NESTED_COLOURS = ("#2563eb", "#16a34a", "#f59e0b", "#9333ea", "#0891b2", "#db2777", "#65a30d", "#ea580c")
REGION_COLOUR = (34, 211, 238)  # the effective field's circle (cyan): visible on black and on yellow
_PAD_LIGHT, _PAD_DARK = (241, 245, 249), (203, 213, 225)  # the hatched padding band
_HATCH = 6  # width of the padding's diagonal bands, px
# An inferno-like sequential scale for gradient magnitude: black (none) through red to pale yellow (most).
_HEAT_STOPS = np.array([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21],
                        [250, 193, 39], [252, 255, 164]], dtype=np.float64)


@dataclass(frozen=True)
class InputFrame:
    """Where the input sits in a picture: ``margin`` input pixels of padding around it, ``scale`` px per pixel."""

    input_hw: tuple[int, int]  # the input's (rows, cols)
    margin: int  # padding drawn on every side, in input pixels
    scale: int  # picture pixels per input pixel

    @property
    def size(self) -> tuple[int, int]:
        """The picture's (height, width) in px."""
        return tuple((n + 2 * self.margin) * self.scale for n in self.input_hw)

    def box_px(self, box: Box) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of ``box``'s outermost picture pixels, inclusive, as PIL draws rectangles."""
        s, m = self.scale, self.margin
        return (box.left + m) * s, (box.top + m) * s, (box.right + m) * s - 1, (box.bottom + m) * s - 1


def frame_for(rows: Sequence[RFRow], input_hw: Sequence[int], *, target_side: int = TARGET_SIDE) -> InputFrame:
    """The frame for a stack on an input: a margin as wide as the furthest any unit's field reaches beyond the
    input (at most the input's longer side), and the largest whole scale that keeps it near ``target_side``.

    Raises:
        ValueError: rows analysed without an input size, or a bad input size.
    """
    if len(input_hw) != 2 or not all(is_int(n) and n >= 1 for n in input_hw):
        raise ValueError(f"input_hw must be two positive ints, got {input_hw!r}")
    height, width = int(input_hw[0]), int(input_hw[1])
    reach = 0
    for index, row in enumerate(rows):
        if row.out_size is None:
            raise ValueError(f"layer {index} has no output size: analyze the stack with an input_size")
        first = input_box(rows, index, 0, 0)
        last = input_box(rows, index, row.out_size[0] - 1, row.out_size[1] - 1)
        reach = max(reach, -first.top, -first.left, last.bottom - height, last.right - width)
    margin = min(reach, max(height, width))
    scale = max(1, target_side // (max(height, width) + 2 * margin))
    return InputFrame((height, width), margin, scale)


def unit_centres(rows: Sequence[RFRow], layer: int, frame: InputFrame) -> np.ndarray | None:
    """Every unit centre of ``rows[layer]`` as (N, 2) input coordinates, the dots of ``unit_picture``; None when
    neighbours would sit closer than ``MIN_DOT_SPACING`` picture px and crowd the picture."""
    row = rows[layer]
    if min(row.jump) * frame.scale < MIN_DOT_SPACING:
        return None
    first = centre(rows, layer, 0, 0)
    ys = first[0] + row.jump[0] * np.arange(row.out_size[0])  # centres step by the jump
    xs = first[1] + row.jump[1] * np.arange(row.out_size[1])
    return np.stack(np.meshgrid(ys, xs, indexing="ij"), axis=-1).reshape(-1, 2)  # (N, 2)


def _rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


def _image_rgb(image: np.ndarray) -> np.ndarray:
    """Pixels in [0, 1], (H, W) or (H, W, 3), as (H, W, 3) uint8."""
    pixels = np.rint(np.clip(np.asarray(image, dtype=np.float32), 0, 1) * 255).astype(np.uint8)
    return np.repeat(pixels[..., None], 3, axis=2) if pixels.ndim == 2 else pixels


def _padding_band(frame: InputFrame) -> np.ndarray:
    """(h, w, 3) uint8: the whole frame hatched as padding."""
    rows, cols = np.indices(frame.size)
    hatch = ((rows + cols) // _HATCH) % 2 == 0
    return np.where(hatch[..., None], np.uint8(_PAD_DARK), np.uint8(_PAD_LIGHT)).astype(np.uint8)


def _paste(frame: InputFrame, band: np.ndarray, pixels: np.ndarray) -> None:
    """Put (H, W, 3) ``pixels``, scaled up, in the frame's input area."""
    s, offset = frame.scale, frame.margin * frame.scale
    height, width = frame.input_hw
    band[offset:offset + height * s, offset:offset + width * s] = np.repeat(np.repeat(pixels, s, axis=0), s, axis=1)


def _outline(draw: ImageDraw.ImageDraw, frame: InputFrame, box: Box, colour: str, width: int) -> None:
    """A box outline with a thin white halo outside it, so it reads on dark and light pixels alike."""
    x0, y0, x1, y1 = frame.box_px(box)
    draw.rectangle((x0 - 1, y0 - 1, x1 + 1, y1 + 1), outline=(255, 255, 255), width=1)
    draw.rectangle((x0, y0, x1, y1), outline=_rgb(colour), width=width)


def _in_padding_mask(frame: InputFrame, box: Box) -> np.ndarray:
    """(h, w) bool: the picture pixels of ``box`` that lie outside the input."""
    height, width = frame.size
    x0, y0, x1, y1 = frame.box_px(box)
    mask = np.zeros((height, width), dtype=bool)
    mask[max(y0, 0):max(y1 + 1, 0), max(x0, 0):max(x1 + 1, 0)] = True
    offset, s = frame.margin * frame.scale, frame.scale
    mask[offset:offset + frame.input_hw[0] * s, offset:offset + frame.input_hw[1] * s] = False
    return mask


def unit_picture(image: np.ndarray, frame: InputFrame, *, boxes: Sequence[tuple[Box, str, int]] = (),
                 shade: Box | None = None, shade_colour: str = CHOSEN_COLOUR, dots: np.ndarray | None = None
                 ) -> np.ndarray:
    """The input in its padding band, with unit centres and receptive-field boxes drawn over it.

    Args:
        image: pixels in [0, 1], (H, W) or (H, W, 3), of ``frame.input_hw``.
        frame: where the input sits.
        boxes: (box, "#rrggbb", outline px), drawn in order: the last one is on top.
        shade: a box whose part in the padding is tinted with ``shade_colour`` (the padding it sees).
        dots: (N, 2) input (row, col) coordinates of unit centres, drawn as small rings; None or empty for none.

    Returns:
        (h, w, 3) uint8 of ``frame.size``.

    Raises:
        ValueError: an image whose size is not the frame's.
    """
    pixels = _image_rgb(image)
    if pixels.shape[:2] != tuple(frame.input_hw):
        raise ValueError(f"the image is {pixels.shape[:2]} but the frame is for {frame.input_hw}")
    band = _padding_band(frame)
    _paste(frame, band, pixels)
    if shade is not None:
        mask = _in_padding_mask(frame, shade)
        tint = np.array(_rgb(shade_colour), dtype=np.float32)
        band[mask] = np.rint(0.55 * band[mask] + 0.45 * tint).astype(np.uint8)
    picture = Image.fromarray(band)
    draw = ImageDraw.Draw(picture)
    if dots is not None and len(dots):
        radius = 3 if frame.scale >= 12 else 2
        for y, x in np.asarray(dots, dtype=np.float64):
            cy, cx = ((y + frame.margin + 0.5) * frame.scale, (x + frame.margin + 0.5) * frame.scale)
            draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=(255, 255, 255),
                         outline=(31, 41, 55))
    for box, colour, width in boxes:
        _outline(draw, frame, box, colour, width)
    return np.asarray(picture)


def heat_colours(values: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: values in [0, 1] on the black-red-yellow scale of ``gradient_picture``."""
    positions = np.linspace(0, 1, len(_HEAT_STOPS))
    flat = np.clip(np.asarray(values, dtype=np.float64), 0, 1).ravel()
    channels = [np.interp(flat, positions, _HEAT_STOPS[:, c]) for c in range(3)]
    return np.rint(np.stack(channels, axis=1)).astype(np.uint8).reshape(*np.shape(values), 3)


def region_circle(region: np.ndarray, grad: np.ndarray) -> tuple[float, float, float] | None:
    """(row, col, radius) in input pixels of a circle with as many pixels as ``region``, centred on the centre of
    mass of |grad|: the effective field's size and place at a glance, even when its pixels are scattered (a max
    pool passes the gradient to one pixel of each window). None for an empty region."""
    count = int(np.count_nonzero(region))
    magnitude = np.abs(np.asarray(grad, dtype=np.float64))
    total = magnitude.sum()
    if count == 0 or total == 0:
        return None
    rows, cols = np.indices(magnitude.shape)
    return float((rows * magnitude).sum() / total), float((cols * magnitude).sum() / total), math.sqrt(count / math.pi)


def gradient_picture(grad: np.ndarray, frame: InputFrame, *, box: Box, region: np.ndarray | None = None) -> np.ndarray:
    """A gradient magnitude as heat over the input area, the theoretical ``box`` on top, and a cyan circle with the
    area of ``region`` (the effective field) at the gradient's centre of mass.

    Colours follow the square root of |grad| / max |grad|, so pixels with a hundredth of the peak still show.

    Returns:
        (h, w, 3) uint8 of ``frame.size``.

    Raises:
        ValueError: a gradient or region whose size is not the frame's input.
    """
    magnitude = np.abs(np.asarray(grad, dtype=np.float64))
    if magnitude.shape != tuple(frame.input_hw) or (region is not None and region.shape != magnitude.shape):
        raise ValueError(f"the gradient is {magnitude.shape} but the frame is for {frame.input_hw}")
    peak = magnitude.max()
    band = _padding_band(frame)
    _paste(frame, band, heat_colours(np.sqrt(magnitude / peak) if peak > 0 else magnitude))
    picture = Image.fromarray(band)
    draw = ImageDraw.Draw(picture)
    _outline(draw, frame, box, CHOSEN_COLOUR, CHOSEN_WIDTH)
    circle = region_circle(region, magnitude) if region is not None else None
    if circle is not None:
        y, x, radius = circle
        s, m = frame.scale, frame.margin
        cy, cx, r = (y + m + 0.5) * s, (x + m + 0.5) * s, max(radius * s, 3)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=REGION_COLOUR, width=2)
    return np.asarray(picture)


def legend_html(entries: Sequence[tuple[str, str, int]], *, padding_label: str = "") -> str:
    """A row of swatches: (colour, label, outline px) per box, then the hatched padding when labelled."""
    items = [f'<span class="rf-item"><span class="rf-swatch" style="border: {max(2, width)}px solid {escape(colour)}">'
             f'</span>{escape(label)}</span>' for colour, label, width in entries]
    if padding_label:
        items.append(f'<span class="rf-item"><span class="rf-swatch rf-pad"></span>{escape(padding_label)}</span>')
    return LEGEND_CSS + f'<div class="rf-legend">{"".join(items)}</div>'


# The legend sits on the page itself: its text takes the theme's colour (a fixed dark grey vanished on dark navy).
LEGEND_CSS = """
<style>
.rf-legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 0.85rem; color: inherit; }
.rf-item { display: inline-flex; align-items: center; gap: 5px; white-space: nowrap; }
.rf-swatch { display: inline-block; width: 14px; height: 14px; box-sizing: border-box; background: #fff; }
.rf-pad { border: 1px solid #94a3b8;
  background: repeating-linear-gradient(45deg, #cbd5e1, #cbd5e1 3px, #f1f5f9 3px, #f1f5f9 6px); }
</style>
"""
