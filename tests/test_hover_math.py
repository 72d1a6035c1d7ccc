"""The hover arithmetic's data: the input's exact bytes, the settings as ops applies them, the maps' extents, and the
Kernel Lab sending them (the pixels only when the input changes)."""
import doctest
import io
import json

import numpy as np
import pytest
from PIL import Image

from cnnviz.conv.geometry import Geometry, Pooling
from cnnviz.figures import maps
from cnnviz.pages import hover_math
from cnnviz.pages.hover_math import HEADER_BYTES, input_blob, read_blob, settings

from apptest_kit import redraw, run_page


def test_the_examples_in_the_docstring_hold():
    assert doctest.testmod(hover_math).failed == 0


def test_whole_pixel_values_travel_as_one_byte_each_and_come_back_exact():
    image = np.arange(24, dtype=np.float32).reshape(2, 4, 3) * 10  # (H, W, C), 0..230
    blob = input_blob(image)
    assert len(blob) == HEADER_BYTES + 24 and blob[4] == 1
    np.testing.assert_array_equal(read_blob(blob), image)


def test_other_values_travel_as_float32_and_come_back_exact():
    image = np.array([[0.5, 255.0], [-1.0, 300.25]], np.float32)  # a fraction, and values outside a byte
    blob = input_blob(image)
    assert len(blob) == HEADER_BYTES + 16 and blob[4] == 4
    np.testing.assert_array_equal(read_blob(blob), image)


def test_images_that_differ_only_in_the_middle_get_different_heads():
    # Streamlit names a large file by its head, middle and tail: the digest in the head keeps them apart.
    first = np.zeros((800, 800, 3), np.float32)
    second = first.copy()
    second[300, 100] = 1
    assert input_blob(first)[:HEADER_BYTES] != input_blob(second)[:HEADER_BYTES]


def test_input_blob_refuses_what_the_pipeline_never_makes():
    with pytest.raises(ValueError, match="dtype=float64"):
        input_blob(np.zeros((2, 2)))


def test_settings_are_the_kernel_and_padding_ops_applies():
    kernel = np.arange(6, dtype=np.float64).reshape(2, 3) / 9  # (kh, kw)
    sent = settings(kernel, (10, 7), geometry=Geometry("same", "reflect", (2, 1), (1, 2), flip=True), bias=0.1,
                    activation="leaky_relu", slope=0.3, pooling=Pooling("avg", (2, 3), (1, 2)))
    flipped = kernel[::-1, ::-1].astype(np.float32)
    assert sent["kernel"] == [[float(v) for v in flipped.ravel()]] and (sent["kh"], sent["kw"]) == (2, 3)
    assert sent["bias"] == float(np.float32(0.1)) and sent["slope"] == float(np.float32(0.3))
    assert sent["rows"] == {"size": 10, "kernel": 2, "stride": 2, "before": 0, "after": 0, "dilation": 1, "out": 5}
    assert sent["cols"] == {"size": 7, "kernel": 3, "stride": 1, "before": 2, "after": 2, "dilation": 2, "out": 7}
    assert sent["pool"]["kind"] == "avg" and sent["pool"]["rows"]["out"] == 4 and sent["pool"]["cols"]["out"] == 3


@pytest.mark.parametrize("shape, input_hw, side", [((256, 256), (512, 512), 512), ((255, 341), (511, 683), 512),
                                                   ((13, 26), (28, 28), 512), ((100, 3), (1024, 700), 320)])
def test_map_extent_is_where_map_png_draws_the_map(shape, input_hw, side):
    values = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    levels = np.asarray(Image.open(io.BytesIO(maps.map_png(values, "diverging", input_hw=input_hw, max_side=side))))
    drawn, frame = maps.map_extent(shape, input_hw, side)
    assert levels.shape == frame
    assert tuple(np.argwhere(levels < 253).max(axis=0) + 1) == drawn  # 253, 254: the checkers around the map


def hover(app) -> dict:
    element, = [e for e in app.get("bidi_component") if e.key == "hover_math"]
    return json.loads(element.proto.json)


def test_the_kernel_lab_sends_the_pixels_only_when_the_input_changes():
    at = run_page("kernel_lab", query={"c": "rgb", "pool": "max", "s": "2,2"})
    first = hover(at)
    assert [s["name"] for s in first["stages"]] == ["conv", "partial0", "partial1", "partial2", "pool"]
    assert first["stage"] == "pool" and first["settings"]["rows"]["stride"] == 2
    assert len(json.dumps(first)) < 8_000  # settings and words, no pixels
    redraw(at.number_input(key="kl_bias").set_value(7.0).run())
    second = hover(at)
    assert second["settings"]["bias"] == 7.0 and second["input_src"] == first["input_src"]
    redraw(at.select_slider(key="kl_working").set_value(256).run())
    assert hover(at)["input_src"] != first["input_src"]


def test_a_pinned_place_round_trips_through_the_link_and_junk_from_the_browser_changes_nothing():
    from cnnviz.pages.kernel_lab import KernelLabState

    state = KernelLabState().with_hover_pin({"stage": "pool", "kind": "in", "r": 12, "c": 3})
    assert state.to_query() == {"hs": "pool", "hk": "in", "hu": "12,3"}
    assert KernelLabState.from_query(state.to_query()) == (state, [])
    assert state.hover_pin == {"stage": "pool", "kind": "in", "r": 12, "c": 3}
    for junk in ({"stage": "nope", "kind": "out", "r": 1, "c": 1}, {"stage": "conv", "kind": "out", "r": -1, "c": 0},
                 {"stage": "conv", "kind": "out", "r": 1.5, "c": 0}, {"stage": "conv"}, "5,6", 7):
        assert state.with_hover_pin(junk) == state, junk
    unpinned = state.with_hover_pin(None)
    assert unpinned.to_query() == {} and unpinned.hover_pin is None
    assert state.without_view() == KernelLabState()  # the outputs do not depend on what is pinned


def test_the_page_hands_a_links_pinned_place_to_the_browser():
    app = run_page("kernel_lab", query={"img": "camera", "ws": "64", "hs": "conv", "hu": "5,8"})
    assert not app.exception
    assert hover(app)["pin"] == {"stage": "conv", "kind": "out", "r": 5, "c": 8}
