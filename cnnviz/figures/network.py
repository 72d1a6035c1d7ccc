"""The Network inspector's pictures: feature-map grids, an enlarged map, the digit with a receptive field or an
attribution on it, filter grids and the probability chart. They draw what they are given and compute nothing
about the network.

Every picture is (H, W, 3) uint8, for ``maps.png_bytes`` or a clickable image. A grid of maps comes with
its layout, so a click in displayed pixels maps back to a channel (``GridLayout.channel_at``) whatever size the
browser shows it at; a click on an enlarged map is decoded by ``clicks.unit_at_click``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw, ImageFont

from cnnviz.analysis.receptive_field import Box
from cnnviz.figures.maps import colourise

HIGHLIGHT = (234, 88, 12)  # orange: the chosen map, unit and receptive field (the app's primary colour family)
PADDING_RGB = (203, 213, 225)  # slate: input positions outside the image (padding)
GAP_RGB = (255, 255, 255)  # between tiles
TILE_SIDE = 84  # px of one map in a grid: 4 fit beside the enlarged map on a projector
LARGE_SIDE = 224  # px of an enlarged map or of the digit: 8 screen pixels per MNIST pixel
GRID_GAP = 6  # px between tiles, wide enough for the chosen tile's frame
FRAME = 3  # px of the chosen tile's frame


def shade(values: np.ndarray, peak: float, signed: bool) -> np.ndarray:
    """(H, W, 3) uint8 colours of a map saturating at ``peak``: diverging (blue, white at 0, red) when signed,
    else black at 0 to white at the peak (ink bright, as MNIST). An all-zero map (peak 0) is white or black."""
    values = np.asarray(values, dtype=np.float32)
    scaled = values / peak if peak > 0 else np.zeros_like(values)
    pixels = colourise(scaled, signed=signed)
    return pixels if signed else np.repeat(pixels[..., None], 3, axis=2)


def _blocks(pixels: np.ndarray, factor: int) -> np.ndarray:
    """Each pixel repeated into a factor x factor block: a map stays sharp, never blurred."""
    return np.repeat(np.repeat(pixels, factor, axis=0), factor, axis=1)


@dataclass(frozen=True)
class GridLayout:
    """Where each map sits in a grid picture, in the picture's own pixels."""

    channels: tuple[int, ...]  # the channel of each tile, row-major
    columns: int  # tiles per row
    tile: tuple[int, int]  # (height, width) of one tile, px
    gap: int  # px between tiles and around them

    @property
    def rows(self) -> int:
        return -(-len(self.channels) // self.columns)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the whole picture."""
        return (self.gap + self.rows * (self.tile[0] + self.gap),
                self.gap + min(self.columns, len(self.channels)) * (self.tile[1] + self.gap))

    def origin(self, position: int) -> tuple[int, int]:
        """(top, left) of tile ``position`` (row-major, from 0)."""
        row, col = divmod(position, self.columns)
        return self.gap + row * (self.tile[0] + self.gap), self.gap + col * (self.tile[1] + self.gap)

    def channel_at(self, x: float, y: float, shown_width: float, shown_height: float) -> int | None:
        """The channel under a click at (x, y) on the picture shown ``shown_width`` x ``shown_height``; a click in a
        gap counts for the nearest tile, one past the last tile is None."""
        height, width = self.size
        if shown_width <= 0 or shown_height <= 0:
            return None
        px, py = x * width / shown_width, y * height / shown_height  # in the picture's own pixels
        col = min(max(int((px - self.gap / 2) // (self.tile[1] + self.gap)), 0), self.columns - 1)
        row = min(max(int((py - self.gap / 2) // (self.tile[0] + self.gap)), 0), self.rows - 1)
        position = row * self.columns + col
        return self.channels[position] if position < len(self.channels) else None


def grid_layout(map_hw: tuple[int, int], channels: Sequence[int], columns: int = 4, tile_side: int = TILE_SIDE
                ) -> GridLayout:
    """The layout of ``channels`` maps of ``map_hw``, each enlarged by the largest whole factor that fits
    ``tile_side``."""
    factor = max(1, tile_side // max(map_hw))
    return GridLayout(tuple(channels), columns, (map_hw[0] * factor, map_hw[1] * factor), GRID_GAP)


def maps_grid(values: np.ndarray, layout: GridLayout, peaks: np.ndarray, signed: bool, selected: int | None
              ) -> np.ndarray:
    """A grid of one layer's maps (C, H, W): the layout's channels, each with its number, the chosen one framed."""
    height, width = layout.size
    canvas = np.full((height, width, 3), GAP_RGB, np.uint8)
    factor = layout.tile[0] // values.shape[1]
    for position, channel in enumerate(layout.channels):
        top, left = layout.origin(position)
        canvas[top:top + layout.tile[0], left:left + layout.tile[1]] = _blocks(
            shade(values[channel], float(peaks[channel]), signed), factor)
        if channel == selected:
            _frame(canvas, top - FRAME, left - FRAME, top + layout.tile[0] + FRAME, left + layout.tile[1] + FRAME)
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=12)
    for position, channel in enumerate(layout.channels):
        top, left = layout.origin(position)
        draw.rectangle((left, top, left + 8 + 7 * len(str(channel)), top + 14), fill=(31, 41, 55))
        draw.text((left + 3, top), str(channel), fill=(255, 255, 255), font=font)
    return np.asarray(image)


def _frame(canvas: np.ndarray, top: int, left: int, bottom: int, right: int, width: int = FRAME) -> None:
    """Paint a HIGHLIGHT frame ``width`` px thick just inside the rectangle (clipped to the canvas)."""
    height, full_width = canvas.shape[:2]
    top, left, bottom, right = max(top, 0), max(left, 0), min(bottom, height), min(right, full_width)
    canvas[top:min(top + width, bottom), left:right] = HIGHLIGHT
    canvas[max(bottom - width, top):bottom, left:right] = HIGHLIGHT
    canvas[top:bottom, left:min(left + width, right)] = HIGHLIGHT
    canvas[top:bottom, max(right - width, left):right] = HIGHLIGHT


def enlarged_map(values: np.ndarray, peak: float, signed: bool, unit: tuple[int, int] | None,
                 side: int = LARGE_SIDE) -> np.ndarray:
    """One map (H, W) enlarged by a whole factor to about ``side`` px, the chosen unit framed."""
    factor = max(1, side // max(values.shape))
    canvas = _blocks(shade(values, peak, signed), factor)
    if unit is not None:
        top, left = unit[0] * factor, unit[1] * factor
        _frame(canvas, top, left, top + factor, left + factor, width=max(1, min(FRAME, factor // 3)))
    return canvas


def digit_picture(pixels28: np.ndarray, box: Box | None = None, side: int = LARGE_SIDE) -> np.ndarray:
    """The digit as the network sees it (ink bright), with ``box`` (a receptive field) tinted and framed. Any
    picture in [0, 1] works, (H, W) or (H, W, 3).

    A box that reaches past the image is drawn on a margin of padding (slate), so a field that is partly padding
    shows how much.
    """
    pixels = np.asarray(pixels28, dtype=np.float32)
    height, width = pixels.shape[:2]
    margin = 0 if box is None else max(0, -box.top, -box.left, box.bottom - height, box.right - width)
    factor = max(1, side // (max(height, width) + 2 * margin))
    canvas = np.full((height + 2 * margin, width + 2 * margin, 3), PADDING_RGB, np.float32)
    canvas[margin:margin + height, margin:margin + width] = (pixels[..., None] if pixels.ndim == 2 else pixels) * 255
    if box is not None:
        inside = canvas[margin + box.top:margin + box.bottom, margin + box.left:margin + box.right]
        inside[...] = 0.6 * inside + 0.4 * np.array(HIGHLIGHT, np.float32)
    canvas = _blocks(np.rint(canvas).astype(np.uint8), factor)
    if box is not None:
        _frame(canvas, (margin + box.top) * factor, (margin + box.left) * factor, (margin + box.bottom) * factor,
               (margin + box.right) * factor)
    return canvas


def attribution_picture(pixels28: np.ndarray, heat: np.ndarray, side: int = LARGE_SIDE) -> np.ndarray:
    """The digit dimmed to gray with ``heat`` (H, W) in [0, 1] laid over it: transparent at 0, opaque red at 1,
    turning yellow where it is strongest."""
    pixels = np.asarray(pixels28, dtype=np.float32)
    if pixels.ndim == 3:  # a colour picture: its brightness, so the heat's colours are the only colours
        pixels = pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    pixels = pixels[..., None] * 140 + 40  # (H, W, 1): ink stays visible under heat
    heat = np.clip(np.asarray(heat, dtype=np.float32), 0, 1)[..., None]  # (H, W, 1)
    colour = np.concatenate([np.full_like(heat, 230), 40 + 200 * heat ** 2, np.full_like(heat, 30)], axis=2)
    alpha = np.minimum(1.0, 1.5 * heat)
    mixed = (1 - alpha) * pixels + alpha * colour  # (H, W, 3)
    factor = max(1, side // max(pixels.shape[:2]))
    return _blocks(np.rint(mixed).astype(np.uint8), factor)


def deep_filters(weights: np.ndarray, outputs: Sequence[int], cell: int = 4) -> np.ndarray:
    """A deep conv's filters (out, in, kh, kw) as a grid: one row per output filter in ``outputs``, one column per
    input channel. Each row has its own diverging scale, so the input channels a filter weighs most stand out."""
    weights = np.asarray(weights, dtype=np.float32)
    _, inputs, kh, kw = weights.shape
    factor = max(1, (cell * 6) // max(kh, kw))  # a 3x3 kernel gets 24 px
    gap = 2
    tile_h, tile_w = kh * factor, kw * factor
    canvas = np.full((gap + len(outputs) * (tile_h + gap), gap + inputs * (tile_w + gap), 3), 255, np.uint8)
    for row, output in enumerate(outputs):
        peak = float(np.abs(weights[output]).max()) or 1.0
        for column in range(inputs):
            tile = _blocks(colourise(weights[output, column] / peak, signed=True), factor)  # (tile_h, tile_w, 3)
            top, left = gap + row * (tile_h + gap), gap + column * (tile_w + gap)
            canvas[top:top + tile_h, left:left + tile_w] = tile
    return canvas


def probability_figure(probabilities: np.ndarray, top: int, *, title: str = "") -> go.Figure:
    """Ten bars, the predicted class in the highlight colour and the rest gray, each with its percentage."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    colours = ["#ea580c" if k == top else "#9ca3af" for k in range(len(probabilities))]
    figure = go.Figure(go.Bar(
        x=[str(k) for k in range(len(probabilities))], y=probabilities, marker_color=colours,
        text=[f"{100 * p:.0f}" for p in probabilities], textposition="outside", cliponaxis=False, textfont={"size": 10},
        hovertemplate="%{x}: %{y:.2%}<extra></extra>"))
    figure.update_yaxes(range=[0, 1.15], tickformat=".0%", showgrid=False, visible=False)
    figure.update_xaxes(type="category", tickfont={"size": 15})
    figure.update_layout(title=title, height=130, margin={"l": 4, "r": 4, "t": 24 if title else 8, "b": 4},
                         showlegend=False, bargap=0.25)
    return figure
