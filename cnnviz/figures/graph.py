"""A network's graph drawn beside its layer table, one row a node, as ``git log --graph`` draws history.

Each node sits in a lane (a column); a line runs down from each node to every node that reads it. A node takes over
the lane of an input it is the last reader of, so a chain stays in one lane; a second reader of a node (a ResNet
block's shortcut, an Inception block's paths) opens a lane of its own, and the lanes join where the paths meet (the
add, the concat). Rows keep the table's order, which is the graph's (every input above its readers).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

ROW_HEIGHT = 30  # px: one table row, with room for two lines of Chinese at the table's font
LANE_WIDTH = 18  # px between lanes: a branch stands clear of the main line at a glance
DOT_RADIUS = 5  # px
LINE_COLOUR = "#94a3b8"  # slate 400: reads on the light and the dark theme alike
DOT_COLOUR = "#64748b"  # slate 500
CHOSEN_COLOUR = "#ea580c"  # the app's orange: the row the page shows


@dataclass(frozen=True)
class Edge:
    """A line from one row's dot to a later row's dot: down its own lane, then across to the reader's."""

    source: int  # row of the node read
    target: int  # row of the reader
    source_lane: int
    target_lane: int


@dataclass(frozen=True)
class LaneLayout:
    lanes: tuple[int, ...]  # each row's lane, 0 leftmost
    edges: tuple[Edge, ...]
    width: int  # lanes used

    def lane_of(self, row: int) -> int:
        return self.lanes[row]


def lane_layout(inputs: Sequence[Sequence[int]]) -> LaneLayout:
    """Lanes for rows whose inputs are earlier rows (``inputs[i]``: the rows node i reads; empty for the first).

    Raises:
        ValueError: an input that is not an earlier row, naming it.
    """
    readers: dict[int, int] = {}  # row -> readers not yet placed
    inputs = [list(dict.fromkeys(sources)) for sources in inputs]  # a node read twice by one reader (x + x): one line
    for row, sources in enumerate(inputs):
        for source in sources:
            if not isinstance(source, int) or not 0 <= source < row:
                raise ValueError(f"row {row} may read only earlier rows, got input {source!r}")
            readers[source] = readers.get(source, 0) + 1
    holder: list[int | None] = []  # lane -> the row whose output still runs down it
    lanes: list[int] = []
    edges: list[Edge] = []
    for row, sources in enumerate(inputs):
        for source in sources:
            readers[source] -= 1
        finished = [s for s in sources if readers[s] == 0]  # inputs this row is the last reader of
        # The leftmost lane among the lines that end here: where paths meet, the graph moves back to the left.
        lane = min(holder.index(s) for s in finished) if finished else _free_lane(holder)
        for source in finished:  # their lines end here: the lanes are free again
            holder[holder.index(source)] = None
        edges += [Edge(source, row, lanes[source], lane) for source in sources]
        if lane == len(holder):
            holder.append(None)
        holder[lane] = row if readers.get(row, 0) else None
        lanes.append(lane)
    return LaneLayout(tuple(lanes), tuple(edges), max(lanes, default=0) + 1)


def _free_lane(holder: list[int | None]) -> int:
    return holder.index(None) if None in holder else len(holder)


def _x(lane: int) -> float:
    return LANE_WIDTH * lane + LANE_WIDTH / 2


def _y(row: int) -> float:
    return ROW_HEIGHT * row + ROW_HEIGHT / 2


def lanes_svg(layout: LaneLayout, chosen: int | None = None, *, label: str = "") -> str:
    """The lanes as SVG markup, ``ROW_HEIGHT`` px a row, to stand beside the table's rows; ``chosen`` in orange."""
    rows = len(layout.lanes)
    width, height = LANE_WIDTH * layout.width, ROW_HEIGHT * max(rows, 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">']
    for edge in layout.edges:
        x0, y0, x1, y1 = _x(edge.source_lane), _y(edge.source), _x(edge.target_lane), _y(edge.target)
        if edge.source_lane == edge.target_lane:
            path = f"M{x0},{y0} L{x1},{y1}"
        else:  # down its own lane to the row above the reader, then a bend across to it
            bend = y1 - ROW_HEIGHT
            path = f"M{x0},{y0} L{x0},{bend} C{x0},{bend + ROW_HEIGHT / 2} {x1},{bend + ROW_HEIGHT / 2} {x1},{y1}"
        parts.append(f'<path d="{path}" fill="none" stroke="{LINE_COLOUR}" stroke-width="2"/>')
    for row, lane in enumerate(layout.lanes):
        colour = CHOSEN_COLOUR if row == chosen else DOT_COLOUR
        radius = DOT_RADIUS + (1 if row == chosen else 0)
        parts.append(f'<circle cx="{_x(lane)}" cy="{_y(row)}" r="{radius}" fill="{colour}"/>')
    parts.append("</svg>")
    return "".join(parts)
