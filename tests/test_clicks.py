"""One click decoder for both pages: the same clicks give the same units as the two decoders it replaced.

The tables were taken from ``pages.receptive_field.unit_at_click`` and ``inspect_figures.unit_at`` before they
were merged; the unit-centre round trip checks the receptive-field case by hand.
"""
import doctest
from dataclasses import replace

import pytest

from cnnviz.analysis import clicks
from cnnviz.analysis.clicks import grid_point, unit_at_click
from cnnviz.analysis.receptive_field import analyze, centre
from cnnviz.figures.receptive_fields import frame_for
from cnnviz.pages.receptive_field import ReceptiveFieldState, compute

VIEWS = {  # name -> (state, input size)
    "mnist": (ReceptiveFieldState(), (28, 28)),  # layer 3, margin 3
    "vgg16": (ReceptiveFieldState().with_preset("vgg16"), (224, 224)),  # layer 17, margin 90
    "vgg16_conv3": (replace(ReceptiveFieldState().with_preset("vgg16"), layer=3), (100, 160)),  # margin 90
}
CLICKS = [(0, 0, 544, 544), (40, 40, 272, 272), (271.9, 271.9, 272, 272), (136, 50, 272, 272), (304, 10, 544, 544),
          (303, 10, 544, 544), (100.5, 400.25, 600, 600), (13, 77, 300, 200)]  # (x, y, shown width, shown height)
RF_UNITS = {
    "mnist": [(0, 0), (0, 0), (6, 6), (0, 3), (0, 4), (0, 3), (4, 0), (2, 0)],
    "vgg16": [(0, 0), (0, 0), (6, 6), (0, 3), (0, 4), (0, 4), (5, 0), (2, 0)],
    "vgg16_conv3": [(0, 0), (0, 0), (49, 79), (0, 40), (0, 50), (0, 49), (48, 0), (8, 0)],
}
MAP_CLICKS = [(0, 0, 224, 224), (223.9, 223.9, 224, 224), (100, 50, 200, 200), (0, 199.9, 200, 200),
              (111.9, 112, 224, 224), (31.99, 32, 224, 224), (57, 3, 180, 100)]
MAP_UNITS = {
    (14, 14): [(0, 0), (13, 13), (3, 7), (13, 0), (7, 6), (2, 1), (0, 4)],
    (7, 7): [(0, 0), (6, 6), (1, 3), (6, 0), (3, 3), (1, 0), (0, 2)],
    (28, 28): [(0, 0), (27, 27), (7, 14), (27, 0), (14, 13), (4, 3), (0, 8)],
    (5, 9): [(0, 0), (4, 8), (1, 4), (4, 0), (2, 4), (0, 1), (0, 2)],
}


def _click(x, y, width, height):
    return {"x": x, "y": y, "width": width, "height": height, "unix_time": 1}


def rf_unit(view, click):
    margin = frame_for(view.rows, view.input_hw).margin  # the picture's padding band, in input pixels
    return unit_at_click(click, view.input_hw, margin=margin, rows=view.rows, layer=view.layer)


def map_unit(click, map_hw):
    return unit_at_click(click, map_hw)


@pytest.mark.parametrize("name", VIEWS)
def test_a_click_on_the_receptive_field_picture_gives_the_unit_it_gave_before(name):
    state, hw = VIEWS[name]
    view = compute(state, hw)
    assert [rf_unit(view, _click(*click)) for click in CLICKS] == RF_UNITS[name]


@pytest.mark.parametrize("map_hw", MAP_UNITS)
def test_a_click_on_an_enlarged_map_gives_the_unit_it_gave_before(map_hw):
    assert [map_unit(_click(*click), map_hw) for click in MAP_CLICKS] == MAP_UNITS[map_hw]


def test_a_click_is_read_in_grid_coordinates_whatever_size_the_picture_is_shown():
    # A 28x28 input with 3 px of padding drawn around it: 34 cells across.
    assert grid_point(_click(0, 0, 544, 544), (28, 28), margin=3) == (-3.5, -3.5)
    assert grid_point(_click(72, 56, 544, 544), (28, 28), margin=3) == (0, 1)  # the middle of input pixel (0, 1)
    assert grid_point(_click(36, 28, 272, 272), (28, 28), margin=3) == (0, 1)  # shown at half size
    assert grid_point(_click(100, 50, 200, 200), (14, 14)) == (3, 6.5)


@pytest.mark.parametrize("click, message", [
    ({"x1": 3}, "needs x, y"),
    ({"x": "a", "y": 1, "width": 2, "height": 2}, "needs x, y"),
    ({"x": 1, "y": 1, "width": 0, "height": 10}, "must have a size"),
    ({"x": 200, "y": 5, "width": 200, "height": 200}, "outside the picture"),  # just outside
    ({"x": 5, "y": -0.1, "width": 200, "height": 200}, "outside the picture"),
    ({"x": float("nan"), "y": 5, "width": 200, "height": 200}, "outside the picture"),
])
def test_what_is_not_a_click_on_the_picture_is_refused(click, message):
    with pytest.raises(ValueError, match=message):
        unit_at_click(click, (14, 14))


def test_clicking_a_unit_centre_picks_that_unit_at_any_shown_size():
    rows = analyze([{"kernel": 3, "padding": 1}, {"kernel": 2, "stride": 2, "kind": "max"}] * 2, 28)
    margin = frame_for(rows, (28, 28)).margin
    for shown in (200, 544, 900):
        for unit in ((row, col) for row in range(7) for col in range(7)):
            y, x = centre(rows, 3, *unit)  # input coordinates of the unit's centre
            to_shown = shown / (28 + 2 * margin)
            click = _click((x + margin + 0.5) * to_shown, (y + margin + 0.5) * to_shown, shown, shown)
            assert unit_at_click(click, (28, 28), margin=margin, rows=rows, layer=3) == unit


def test_the_module_examples_hold():
    assert doctest.testmod(clicks).failed == 0
