"""The graph's lanes beside the layer table (cnnviz.figures.graph), laid out by hand for a chain, a residual block and
an Inception block."""
import re

import pytest

from cnnviz.figures.graph import ROW_HEIGHT, Edge, lane_layout, lanes_svg


def test_a_chain_stays_in_one_lane():
    layout = lane_layout([[], [0], [1], [2]])
    assert layout.lanes == (0, 0, 0, 0) and layout.width == 1
    assert layout.edges == (Edge(0, 1, 0, 0), Edge(1, 2, 0, 0), Edge(2, 3, 0, 0))


def test_a_residual_block_opens_a_lane_for_its_path_and_joins_at_the_add():
    # 0 input, 1 conv, 2 relu, 3 conv, 4 add(3, 0), 5 relu: the shortcut keeps lane 0 until the add reads it.
    layout = lane_layout([[], [0], [1], [2], [3, 0], [4]])
    assert layout.lanes == (0, 1, 1, 1, 0, 0) and layout.width == 2
    assert Edge(0, 4, 0, 0) in layout.edges and Edge(3, 4, 1, 0) in layout.edges and Edge(0, 1, 0, 1) in layout.edges


def test_an_inception_block_has_a_lane_a_path_and_a_lane_is_used_again_after_the_concat():
    # 0 input; 1 1x1, 2 3x3, 3 5x5 all read it; 4 cat; then a second block of the same shape.
    layout = lane_layout([[], [0], [0], [0], [1, 2, 3], [4], [4], [5, 6]])
    assert layout.lanes == (0, 1, 2, 0, 0, 1, 0, 0) and layout.width == 3


def test_a_node_read_twice_by_one_reader_is_one_line():
    assert lane_layout([[], [0, 0]]).edges == (Edge(0, 1, 0, 0),)


def test_rows_may_read_only_earlier_rows():
    with pytest.raises(ValueError, match="row 1 may read only earlier rows, got input 1"):
        lane_layout([[], [1]])


def test_the_svg_has_a_dot_a_row_a_line_an_edge_and_the_chosen_row_in_orange():
    layout = lane_layout([[], [0], [1], [2], [3, 0], [4]])
    svg = lanes_svg(layout, chosen=2, label="graph <&>")
    assert svg.count("<circle") == 6 and svg.count("<path") == len(layout.edges)
    assert f'height="{6 * ROW_HEIGHT}"' in svg and 'aria-label="graph &lt;&amp;&gt;"' in svg
    dots = re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="\d+" fill="(#\w+)"', svg)
    assert [fill for _, _, fill in dots].count("#ea580c") == 1 and dots[2][2] == "#ea580c"
