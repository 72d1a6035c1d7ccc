"""The drill-down's pictures: the whole network as columns of small maps, and one input channel's window beside its
kernel slice. They draw what they are given and compute nothing about the network.

The overview comes with its layout (``OverviewLayout``), built from the model's shapes alone, so a click in shown
pixels maps back to a column and a map (or a unit of a dense column) whatever size the browser shows it at, before
the digit is run.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cnnviz.analysis.receptive_field import Box
from cnnviz.figures.maps import colourise
from cnnviz.figures.network import HIGHLIGHT, PADDING_RGB, GridLayout, _blocks, _frame, shade

TILE = 40  # px of one small map in a column
INPUT_TILE = 56  # px of the digit in the input column
TILES_SHOWN = 8  # maps drawn per column: the rest are counted under it ("+24")
STRIP_WIDTH = 22  # px of a dense layer's strip of units
SOFTMAX_WIDTH = 56  # px of the softmax's bars at 100%
SOFTMAX_CELL = 26  # px height of one class's bar and its gap
FAN_SOURCES = 8  # lines drawn from a dense strip: every unit's line would fill the gap with gray
PITCH = 86  # px from one column's left edge to the next's: room for a shape like "16×24×24"
TILE_GAP = 6  # px between the maps of a column
HEADER = 28  # px above the columns: the layer's label
FOOTER = 44  # px below: the shape and the count of maps not drawn
LABEL_SIZE = 19  # px of a column's label; its shape is 3 px smaller
MARGIN = 10  # px around everything
LINE_RGB = (203, 213, 225)  # connections between columns
TEXT_RGB = (31, 41, 55)
KINDS = ("input", "conv", "act", "pool", "fc", "softmax")


@dataclass(frozen=True)
class Column:
    """One column of the overview: a layer's label, its kind and its output shape (without the batch)."""

    label: str  # "conv1", "fc2"; "input" and "softmax" for the two ends
    kind: str  # one of KINDS
    shape: tuple[int, ...]  # (C, H, W) for maps, (units,) for a dense layer or the softmax

    @property
    def maps(self) -> bool:
        return len(self.shape) == 3

    @property
    def shown(self) -> int:
        """Maps (or cells) drawn: every unit of a dense strip, at most TILES_SHOWN maps."""
        return min(self.shape[0], TILES_SHOWN) if self.maps else self.shape[0]


@dataclass(frozen=True)
class OverviewLayout:
    """Where each column, map and unit sits in the overview picture, in the picture's own pixels."""

    columns: tuple[Column, ...]
    body: int  # px height of the columns' drawing area

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the whole picture."""
        return (2 * MARGIN + HEADER + self.body + FOOTER, 2 * MARGIN + len(self.columns) * PITCH)

    def left(self, index: int) -> int:
        """Left edge of column ``index``'s drawing (its maps or strip are centred in the pitch)."""
        return MARGIN + index * PITCH + (PITCH - self.width(index)) // 2

    def width(self, index: int) -> int:
        column = self.columns[index]
        if column.kind == "input":
            return INPUT_TILE
        if column.kind == "softmax":
            return SOFTMAX_WIDTH
        return TILE if column.maps else STRIP_WIDTH

    def boxes(self, index: int) -> list[tuple[int, int, int, int]]:
        """(top, left, bottom, right) of each drawn map or cell of column ``index``, centred vertically."""
        column, left, width = self.columns[index], self.left(index), self.width(index)
        top = MARGIN + HEADER
        if column.kind == "input":
            start = top + (self.body - INPUT_TILE) // 2
            return [(start, left, start + INPUT_TILE, left + INPUT_TILE)]
        if column.maps:
            height = column.shown * TILE + (column.shown - 1) * TILE_GAP
            start = top + (self.body - height) // 2
            return [(start + i * (TILE + TILE_GAP), left, start + i * (TILE + TILE_GAP) + TILE, left + TILE)
                    for i in range(column.shown)]
        cells = column.shown
        cell = self.body / cells if column.kind == "fc" else min(self.body / cells, float(SOFTMAX_CELL))
        start = top + (self.body - cell * cells) / 2
        return [(round(start + i * cell), left, round(start + (i + 1) * cell), left + width) for i in range(cells)]

    def hit(self, x: float, y: float, shown_width: float, shown_height: float) -> tuple[int, int] | None:
        """(column index, map or unit) under a click at (x, y) on the picture shown ``shown_width`` x
        ``shown_height``; None off every column. A click in a column's gaps counts for the nearest map."""
        if shown_width <= 0 or shown_height <= 0:
            return None
        height, width = self.size
        px, py = x * width / shown_width, y * height / shown_height  # in the picture's own pixels
        index = int((px - MARGIN) // PITCH)
        if not 0 <= index < len(self.columns):
            return None
        boxes = self.boxes(index)
        centres = [(top + bottom) / 2 for top, _, bottom, _ in boxes]
        if self.columns[index].kind == "fc":
            inside = [i for i, (top, _, bottom, _) in enumerate(boxes) if top <= py < bottom]
            if inside:
                return index, inside[0]
        return index, int(np.argmin([abs(py - c) for c in centres]))


def overview_layout(columns: Sequence[Column], body: int | None = None) -> OverviewLayout:
    """The layout of ``columns``: as tall as the tallest column of maps, and never shorter than the ten softmax
    cells.

    Raises:
        ValueError: no columns, or a column of an unknown kind.
    """
    columns = tuple(columns)
    if not columns:
        raise ValueError("the overview needs at least one column")
    for column in columns:
        if column.kind not in KINDS:
            raise ValueError(f"a column's kind must be one of {KINDS}, got kind={column.kind!r} for {column.label}")
    if body is None:
        tallest = max((c.shown for c in columns if c.maps), default=1)
        body = max(tallest * TILE + (tallest - 1) * TILE_GAP, 10 * SOFTMAX_CELL, INPUT_TILE)
    return OverviewLayout(columns, body)


def _tile(values: np.ndarray, side: int, signed: bool) -> np.ndarray:
    """A map (H, W) shaded on its own scale and scaled to ``side`` px, sharp (nearest neighbour)."""
    peak = float(np.abs(values).max())
    pixels = shade(values, peak, signed)  # (H, W, 3)
    return np.asarray(Image.fromarray(pixels).resize((side, side), Image.NEAREST))


def _strip(values: np.ndarray, boxes: list[tuple[int, int, int, int]], canvas: np.ndarray, signed: bool) -> None:
    peak = float(np.abs(values).max())
    scaled = values / peak if peak > 0 else np.zeros_like(values)
    colours = colourise(scaled, signed=signed)
    if not signed:
        colours = np.repeat(colours[..., None], 3, axis=-1)
    for value, (top, left, bottom, right) in zip(colours, boxes):
        canvas[top:max(bottom, top + 1), left:right] = value


def _softmax_bars(probabilities: np.ndarray, boxes: list[tuple[int, int, int, int]], canvas: np.ndarray) -> None:
    """Each class a bar as long as its probability, the most likely one in the highlight colour."""
    top_class = int(np.argmax(probabilities))
    for digit, (p, (top, left, bottom, right)) in enumerate(zip(probabilities, boxes)):
        canvas[top + 3:bottom - 3, left:right] = (241, 245, 249)
        length = int(round(float(p) * (right - left)))
        canvas[top + 3:bottom - 3, left:left + length] = HIGHLIGHT if digit == top_class else (156, 163, 175)


def overview_picture(layout: OverviewLayout, values: Sequence[np.ndarray],
                     selected: tuple[int, int] | None = None) -> np.ndarray:
    """The overview as (H, W, 3) uint8: each column's label above it, its shape below ("16x24x24", then "+8" for
    the maps not drawn). Its words are layer labels and numbers, in any language.

    Args:
        layout: from ``overview_layout``.
        values: each column's values for one digit: (C, H, W) maps, the (1, H, W) input, or (units,).
        selected: (column, map or unit) to frame, or None.
    """
    height, width = layout.size
    canvas = np.full((height, width, 3), 255, np.uint8)
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    for index in range(len(layout.columns) - 1):  # connections first, so the maps lie over them
        here, there = layout.boxes(index), layout.boxes(index + 1)
        dense = not layout.columns[index + 1].maps
        if len(here) > FAN_SOURCES:
            here = [here[round(i * (len(here) - 1) / (FAN_SOURCES - 1))] for i in range(FAN_SOURCES)]
        one_to_one = layout.columns[index + 1].kind in ("act", "pool") and len(here) == len(there)
        targets = [((t + b) / 2, l) for t, l, b, _ in there]
        if dense:  # a fan to the strip's ends: every input reaches every unit
            top, bottom = there[0][0], there[-1][2]
            targets = [(top, there[0][1]), ((top + bottom) / 2, there[0][1]), (bottom, there[0][1])]
        for position, (t, l, b, r) in enumerate(here):
            chosen = [targets[position]] if one_to_one else targets
            for y, x in chosen:
                draw.line(((r, (t + b) / 2), (x, y)), fill=LINE_RGB, width=1)
    canvas = np.asarray(image).copy()
    for index, column in enumerate(layout.columns):
        boxes = layout.boxes(index)
        data = np.asarray(values[index], dtype=np.float32)
        if column.maps or column.kind == "input":
            signed = column.kind == "conv" or column.kind == "input"
            for channel, (top, left, bottom, right) in enumerate(boxes):
                canvas[top:bottom, left:right] = _tile(data[channel], bottom - top, signed and column.kind != "input")
        elif column.kind == "softmax":
            _softmax_bars(data.reshape(-1), boxes, canvas)
        else:
            _strip(data.reshape(-1), boxes, canvas, signed=True)
        if selected is not None and selected[0] == index and selected[1] < len(boxes):
            top, left, bottom, right = boxes[selected[1]]
            _frame(canvas, top - 3, left - 3, bottom + 3, right + 3, width=3 if column.maps else 2)
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    # Large for the picture's size: a page column shows it at about half its width.
    font, small = ImageFont.load_default(size=LABEL_SIZE), ImageFont.load_default(size=LABEL_SIZE - 3)
    for index, column in enumerate(layout.columns):
        centre = MARGIN + index * PITCH + PITCH / 2
        draw.text((centre, MARGIN + HEADER / 2), column.label, fill=TEXT_RGB, font=font, anchor="mm")
        bottom = MARGIN + HEADER + layout.body
        draw.text((centre, bottom + 12), "x".join(map(str, column.shape)), fill=TEXT_RGB, font=small, anchor="mm")
        if column.maps and column.shape[0] > column.shown:
            draw.text((centre, bottom + 31), f"+{column.shape[0] - column.shown}", fill=(100, 116, 139), font=small,
                      anchor="mm")
        if column.kind == "softmax":
            for digit, (top, left, bot, right) in enumerate(layout.boxes(index)):
                draw.text((left - 4, (top + bot) / 2), str(digit), fill=TEXT_RGB, font=small, anchor="rm")
    return np.asarray(image)


def term_picture(window: np.ndarray, padding: np.ndarray, weights: np.ndarray, cell: int = 18) -> np.ndarray:
    """One input channel's window (gray, its own scale; padding slate) and its kernel slice (diverging), side by side
    with a gap: the two grids whose products make the channel's partial sum."""
    window, weights = np.asarray(window, np.float32), np.asarray(weights, np.float32)
    peak = float(np.abs(window).max())
    left = shade(window, peak, signed=bool((window < 0).any()))  # (kh, kw, 3)
    left[np.asarray(padding, bool)] = PADDING_RGB
    right = shade(weights, float(np.abs(weights).max()), signed=True)
    gap = np.full((window.shape[0], 1, 3), 255, np.uint8)
    return _blocks(np.concatenate([left, gap, right], axis=1), cell)


def frame_window(picture: np.ndarray, layout: GridLayout, map_hw: tuple[int, int], window: Box) -> np.ndarray:
    """A copy of a grid of maps (``network.maps_grid``) with ``window`` (map coordinates, clipped to the map) framed
    on every tile: where one unit reads each of the maps it was computed from."""
    picture = picture.copy()
    factor = layout.tile[0] // map_hw[0]
    clipped = window.clip(*map_hw)
    for position in range(len(layout.channels)):
        top, left = layout.origin(position)
        _frame(picture, top + clipped.top * factor, left + clipped.left * factor, top + clipped.bottom * factor,
               left + clipped.right * factor, width=max(1, min(3, factor // 3)))
    return picture
