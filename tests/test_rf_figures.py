"""Receptive-field pictures: the frame by hand, and pixels where boxes and shading belong (clicks: test_clicks)."""
import math

import numpy as np
import pytest

from cnnviz.analysis.receptive_field import Box, analyze
from cnnviz.conv.geometry import Layer
from cnnviz.figures import receptive_fields
from cnnviz.figures.receptive_fields import (InputFrame, frame_for, gradient_picture, heat_colours, legend_html,
                                             region_circle, unit_picture)

MNIST = [Layer(3, padding=1), Layer(2, 2, kind="max"), Layer(3, padding=1), Layer(2, 2, kind="max")]
RED = (220, 38, 38)  # CHOSEN_COLOUR


def vgg16():
    layers = []
    for convs in (2, 2, 3, 3, 3):
        layers += [Layer(3, padding=1)] * convs + [Layer(2, 2, kind="max")]
    return layers


def test_mnist_canvas_by_hand():
    # The last layer's unit 0 starts at -3 and unit 6 ends at -3 + 6·4 + 10 = 31: 3 beyond either edge of 28.
    frame = frame_for(analyze(MNIST, 28), (28, 28))
    assert frame == InputFrame((28, 28), margin=3, scale=16)  # 560 // 34
    assert frame.size == (544, 544)
    assert frame.box_px(Box(-3, -3, 7, 7)) == (0, 0, 159, 159)
    assert frame.box_px(Box(0, 0, 28, 28)) == (48, 48, 495, 495)


def test_vgg16_canvas_reaches_90_pixels_into_the_padding():
    frame = frame_for(analyze(vgg16(), 224), (224, 224))  # pool5: start -90, last unit ends at 314
    assert (frame.margin, frame.scale, frame.size) == (90, 1, (404, 404))


def test_margin_is_at_most_the_input_side():
    frame = frame_for(analyze(vgg16(), 40), (40, 40))
    assert frame.margin == 40


def test_canvas_errors():
    with pytest.raises(ValueError, match="input_size"):
        frame_for(analyze(MNIST), (28, 28))
    with pytest.raises(ValueError, match="input_hw"):
        frame_for(analyze(MNIST, 28), (0, 28))


def test_unit_picture_pixels():
    frame = InputFrame((4, 4), margin=2, scale=10)  # 80x80 px, the input at 20..59
    image = np.full((4, 4), 0.5)
    picture = unit_picture(image, frame, boxes=[(Box(-1, -1, 2, 2), "#dc2626", 3)], shade=Box(-1, -1, 2, 2))
    assert picture.shape == (80, 80, 3) and picture.dtype == np.uint8
    assert tuple(picture[50, 50]) == (128, 128, 128)  # the image, untouched
    assert tuple(picture[10, 10]) == RED  # the box's outline: px 10..39
    assert tuple(picture[9, 20]) == (255, 255, 255)  # its white halo
    assert set(map(tuple, picture[75:80, 75:80].reshape(-1, 3))) <= {(203, 213, 225), (241, 245, 249)}  # padding
    shaded = picture[15, 25]  # inside the box, in the padding: tinted red
    assert shaded[0] > shaded[1] + 40
    inside = picture[25, 25]  # inside the box, in the image: not tinted
    assert tuple(inside) == (128, 128, 128)


def test_boxes_are_drawn_in_order_and_dots_at_unit_centres():
    frame = InputFrame((8, 8), margin=0, scale=10)
    image = np.zeros((8, 8))
    picture = unit_picture(image, frame, boxes=[(Box(0, 0, 8, 8), "#2563eb", 2), (Box(0, 0, 4, 4), "#dc2626", 2)],
                           dots=np.array([[5.0, 5.0]]))
    assert tuple(picture[0, 20]) == RED  # the later box covers the earlier one where they meet
    assert tuple(picture[79, 40]) == (37, 99, 235)
    assert tuple(picture[55, 55]) == (255, 255, 255)  # a dot at the centre of pixel (5, 5)
    assert tuple(picture[30, 30]) == (0, 0, 0)


def test_unit_picture_leaves_the_image_alone_and_checks_its_size():
    image = np.random.default_rng(0).random((5, 6, 3))
    before = image.copy()
    unit_picture(image, InputFrame((5, 6), 1, 2), boxes=[(Box(0, 0, 2, 2), "#dc2626", 1)])
    np.testing.assert_array_equal(image, before)
    with pytest.raises(ValueError, match="frame is for"):
        unit_picture(image, InputFrame((6, 5), 1, 2))


def test_heat_scale_ends():
    np.testing.assert_array_equal(heat_colours(np.array([[0.0, 1.0, 2.0]])),
                                  [[[0, 0, 4], [252, 255, 164], [252, 255, 164]]])


def test_region_circle_by_hand():
    region = np.zeros((9, 9), dtype=bool)
    region[2:4, 5:7] = True
    grad = np.zeros((9, 9))
    grad[2, 5], grad[4, 7] = 1.0, 3.0  # centre of mass (3.5, 6.5)
    assert region_circle(region, grad) == (3.5, 6.5, math.sqrt(4 / math.pi))
    assert region_circle(np.zeros((3, 3), bool), np.ones((3, 3))) is None


def test_gradient_picture_pixels():
    frame = InputFrame((10, 10), margin=1, scale=4)  # the input at px 4..43
    grad = np.zeros((10, 10))
    grad[5, 5] = -2.0  # magnitude counts
    grad[0, 0] = 0.5  # a quarter of the peak: shown at sqrt = half the scale
    region = np.zeros((10, 10), dtype=bool)
    region[3:8, 3:8] = True
    picture = gradient_picture(grad, frame, box=Box(-1, -1, 11, 11), region=region)
    assert tuple(picture[(5 + 1) * 4 + 2, (5 + 1) * 4 + 2]) == (252, 255, 164)  # the peak: the top of the scale
    assert tuple(picture[4 + 1, 4 + 1]) == tuple(heat_colours(np.array([0.5]))[0])
    assert tuple(picture[4 + 1, 4 + 30]) == (0, 0, 4)  # no gradient: the bottom of the scale
    assert tuple(picture[0, 20]) == RED  # the box's outline
    # The circle: 25 pixels' area, centred on the centre of mass (2·5 + 0.5·0) / 2.5 = 4 -> picture px
    # (4 + 1 + 0.5)·4 = 22, radius sqrt(25 / pi)·4 = 11.3 px.
    radius = math.sqrt(25 / math.pi) * 4
    assert tuple(picture[round(22 - radius), 22]) == receptive_fields.REGION_COLOUR
    assert tuple(picture[22, round(22 + radius) - 1]) == receptive_fields.REGION_COLOUR
    with pytest.raises(ValueError, match="frame is for"):
        gradient_picture(np.zeros((3, 3)), frame, box=Box(0, 0, 1, 1))


def test_legend_lists_boxes_and_padding_and_escapes_text():
    html = legend_html([("#2563eb", "conv0: 3", 2), ("#dc2626", "<max3>", 4)], padding_label="padding")
    assert html.count('class="rf-item"') == 3
    assert "4px solid #dc2626" in html and "&lt;max3&gt;" in html and "rf-swatch rf-pad" in html
    assert "rf-swatch rf-pad" not in legend_html([("#2563eb", "a", 2)])
