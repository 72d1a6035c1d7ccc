"""Clicks on pictures: the unit under a click, whatever size the browser shows the picture at.

A clickable picture shows a grid (the network's input, or one feature map) scaled up by a whole factor, with
``margin`` cells of padding drawn on every side. streamlit-image-coordinates reports a click as x and y in shown
px with the shown width and height; only their ratio counts, so the picture's own scale never enters.

    >>> unit_at_click({"x": 100, "y": 50, "width": 200, "height": 200}, (14, 14))  # a 14x14 map
    (3, 7)
    >>> from cnnviz.analysis.receptive_field import analyze
    >>> rows = analyze([{"kernel": 3, "padding": 1}, {"kernel": 2, "stride": 2, "kind": "max"}], input_size=28)
    >>> unit_at_click({"x": 100, "y": 50, "width": 200, "height": 200}, (28, 28), rows=rows, layer=1)
    (3, 7)
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cnnviz.analysis.receptive_field import RFRow, unit_at
from cnnviz.conv.geometry import nearest_centre


def grid_point(click: Mapping[str, Any], grid_hw: Sequence[int], *, margin: int = 0) -> tuple[float, float]:
    """Where a click lands on the grid, as (row, col) in the pixel-index units of ``receptive_field.centre``:
    (0, 0) is the middle of the first cell, and the margin lies below 0 and past the last cell.

    Args:
        click: streamlit-image-coordinates' value: x, y in shown px, and the shown width and height.
        grid_hw: the grid's (rows, cols).
        margin: cells of padding drawn on every side of the grid.

    Raises:
        ValueError: a click without numbers for x, y, width and height, a shown size that is not positive, or
            a click outside the picture.
    """
    try:
        x, y, width, height = (float(click[key]) for key in ("x", "y", "width", "height"))
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"a click needs x, y, width and height, got {dict(click)!r:.200}") from None
    if not (width > 0 and height > 0):
        raise ValueError(f"the shown picture must have a size, got {width:g}x{height:g}")
    if not (0 <= x < width and 0 <= y < height):
        raise ValueError(f"a click at x={x:g}, y={y:g} lies outside the picture shown {width:g}x{height:g}")
    rows, cols = (int(n) + 2 * margin for n in grid_hw)  # the picture in cells, margin included
    return y * rows / height - margin - 0.5, x * cols / width - margin - 0.5


def unit_at_click(click: Mapping[str, Any], grid_hw: Sequence[int], *, margin: int = 0,
                  rows: Sequence[RFRow] | None = None, layer: int | None = None) -> tuple[int, int]:
    """The unit under a click on a picture of a grid.

    Args:
        click: streamlit-image-coordinates' value: x, y in shown px, and the shown width and height.
        grid_hw: the grid's (rows, cols): the input's for a receptive-field picture, the map's for a feature map.
        margin: cells of padding drawn on every side of the grid.
        rows, layer: ``receptive_field.analyze`` of the stack on that input, and the layer clicked for: the unit
            is the one of ``rows[layer]`` whose field is centred nearest the click. Without them the picture is
            the map itself, and the unit is the cell under the click.

    Raises:
        ValueError: a click ``grid_point`` refuses, or a layer outside ``rows``.
    """
    y, x = grid_point(click, grid_hw, margin=margin)
    if rows is None:
        return nearest_centre(y, 0, 1, int(grid_hw[0])), nearest_centre(x, 0, 1, int(grid_hw[1]))
    return unit_at(rows, layer, y, x)
