"""The inspector's pictures: exact pixels of map grids, enlarged maps, receptive fields and attributions, and the
clicks that map back to channels."""
import numpy as np

from cnnviz.analysis.receptive_field import Box
from cnnviz.figures.maps import DIVERGING_LUT
from cnnviz.figures.network import (FRAME, GRID_GAP, HIGHLIGHT, PADDING_RGB, GridLayout, attribution_picture,
                                    deep_filters, digit_picture, enlarged_map, grid_layout, maps_grid,
                                    probability_figure, shade)


def test_shade_gray_and_signed():
    values = np.array([[0.0, 1.0, 2.0, 4.0]], dtype=np.float32)
    assert shade(values, 2.0, signed=False)[0, :, 0].tolist() == [0, 128, 255, 255]  # clipped at the peak
    signed = shade(np.array([[-2.0, 0.0, 2.0]]), 2.0, signed=True)[0]
    assert signed.tolist() == [DIVERGING_LUT[0].tolist(), DIVERGING_LUT[128].tolist(), DIVERGING_LUT[255].tolist()]
    assert shade(np.zeros((1, 2)), 0.0, signed=False).tolist() == [[[0, 0, 0], [0, 0, 0]]]  # an empty map is black


def test_grid_layout_of_a_layer_of_28x28_maps():
    layout = grid_layout((28, 28), range(16, 32))
    assert layout.tile == (84, 84) and layout.columns == 4 and layout.rows == 4
    assert layout.size == (GRID_GAP + 4 * (84 + GRID_GAP),) * 2 == (366, 366)
    assert layout.origin(5) == (GRID_GAP + 90, GRID_GAP + 90)
    # A click in the middle of tile 5 (row 1, col 1), on the picture shown at half size, is channel 21.
    assert layout.channel_at((6 + 90 + 42) / 2, (6 + 90 + 42) / 2, 183, 183) == 21
    assert layout.channel_at(0, 0, 366, 366) == 16  # the outer gap counts for the nearest tile
    assert layout.channel_at(365, 365, 366, 366) == 31
    assert layout.channel_at(10, 10, 0, 0) is None


def test_a_click_past_the_last_tile_is_no_channel():
    layout = GridLayout(channels=(0, 1, 2, 3, 4), columns=4, tile=(10, 10), gap=2)
    assert layout.size == (2 + 2 * 12, 2 + 4 * 12)
    assert layout.channel_at(2 + 12 + 5, 2 + 12 + 5, *layout.size[::-1]) is None  # row 1, col 1: no sixth map
    assert layout.channel_at(5, 20, *layout.size[::-1]) == 4


def test_maps_grid_draws_each_map_and_frames_the_chosen_one():
    values = np.stack([np.full((7, 7), v, np.float32) for v in (0.0, 1.0, 2.0)])  # (3, 7, 7)
    layout = grid_layout((7, 7), range(3), columns=2, tile_side=28)
    picture = maps_grid(values, layout, np.array([1.0, 1.0, 2.0]), signed=False, selected=1)
    assert picture.shape == (*layout.size, 3) and layout.tile == (28, 28)
    bottom_right = [(top + 27, left + 27) for top, left in (layout.origin(p) for p in range(3))]
    assert [picture[r, c, 0] for r, c in bottom_right] == [0, 255, 255]  # below the channel label, in the map
    top, left = layout.origin(1)
    assert picture[top - FRAME, left + 10].tolist() == list(HIGHLIGHT)  # the frame sits in the gap
    top, left = layout.origin(0)
    assert picture[top - FRAME, left + 10].tolist() != list(HIGHLIGHT)


def test_enlarged_map_frames_the_unit():
    values = np.arange(4, dtype=np.float32).reshape(2, 2)
    picture = enlarged_map(values, 3.0, signed=False, unit=(1, 0), side=20)
    assert picture.shape == (20, 20, 3)  # a whole factor of 10
    assert picture[0, 19, 0] == 85 and picture[15, 15, 0] == 255  # 1/3 and 3/3 of the peak
    assert picture[10, 0].tolist() == list(HIGHLIGHT)  # the frame, 3 px inside the unit's 10 x 10 block
    assert picture[15, 5].tolist() == [170, 170, 170]  # the unit's own value (2 of 3) shows inside the frame


def test_digit_picture_with_a_field_reaching_into_the_padding():
    pixels = np.zeros((28, 28), np.float32)
    pixels[0, 0] = 1.0
    plain = digit_picture(pixels, side=224)
    assert plain.shape == (224, 224, 3) and plain[3, 3].tolist() == [255, 255, 255] and plain[8, 8, 0] == 0
    boxed = digit_picture(pixels, Box(-3, -3, 7, 7), side=224)
    # A margin of 3 padding pixels on each side: 34 positions, 6 screen pixels each.
    assert boxed.shape == (204, 204, 3)
    assert boxed[-1, -1].tolist() == list(PADDING_RGB)
    assert boxed[0, 0].tolist() == list(HIGHLIGHT)  # the frame's corner, at the box's top left, in the padding
    inside = boxed[3 * 6 + 3, 3 * 6 + 3]  # the digit's one ink pixel, tinted
    assert inside.tolist() == np.rint(0.6 * 255 + 0.4 * np.array(HIGHLIGHT)).astype(int).tolist()


def test_attribution_picture_keeps_the_ink_where_there_is_no_heat():
    pixels = np.array([[0.0, 1.0]], dtype=np.float32)
    picture = attribution_picture(pixels, np.array([[0.0, 1.0]]), side=4)
    assert picture.shape == (2, 4, 3)
    assert picture[0, 0].tolist() == [40, 40, 40]  # no heat: the dimmed background
    assert picture[0, 2].tolist() == [230, 240, 30]  # full heat: opaque yellow-red


def test_deep_filters_have_a_row_per_filter_and_a_column_per_input_channel():
    weights = np.random.default_rng(0).normal(size=(32, 16, 3, 3)).astype(np.float32)
    picture = deep_filters(weights, range(16, 32))
    assert picture.shape == (2 + 16 * 26, 2 + 16 * 26, 3)


def test_probability_figure_highlights_the_top_class():
    figure = probability_figure(np.full(10, 0.1), top=7)
    colours = figure.data[0].marker.color
    assert colours[7] != colours[0] and len(set(colours)) == 2
