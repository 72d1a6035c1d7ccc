"""Window geometry: Axis against torch and brute force, Layer, and the Geometry/Pooling configs."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from cnnviz.conv.geometry import Axis, Geometry, Layer, Pooling, Window, resolve_padding, same_padding
from cnnviz.conv.stepper import conv_walkthrough


@pytest.mark.parametrize(
    "geometry",
    [
        Geometry(),
        Geometry(padding="same", padding_mode="reflect", stride=(2, 1), dilation=(1, 3), flip=True),
        Geometry(padding=(2, 0), padding_mode="circular", stride=3, dilation=2),
    ],
)
def test_geometry_round_trips_through_json(geometry):
    assert Geometry.from_dict(json.loads(json.dumps(geometry.to_dict()))) == geometry


def test_ints_become_pairs():
    geometry = Geometry(padding=1, stride=2, dilation=3)
    assert (geometry.padding, geometry.stride, geometry.dilation) == ((1, 1), (2, 2), (3, 3))


def test_conv_kwargs_match_ops_signature():
    assert Geometry(padding="same", stride=2).conv_kwargs() == {
        "stride": (2, 2), "padding": "same", "dilation": (1, 1), "padding_mode": "zeros", "flip": False,
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"padding": "full"}, "padding='full'"),
        ({"padding": (-1, 0)}, r"padding=\(-1, 0\)"),
        ({"stride": 0}, r"stride=0"),
        ({"dilation": (1, 0)}, r"dilation=\(1, 0\)"),
        ({"padding_mode": "mirror"}, "padding_mode='mirror'"),
        ({"stride": 1.5}, "stride=1.5"),
    ],
)
def test_bad_geometry_names_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Geometry(**kwargs)


def test_pooling_round_trip_and_errors():
    pooling = Pooling(kind="max", size=(3, 2), stride=(1, 2))
    assert Pooling.from_dict(json.loads(json.dumps(pooling.to_dict()))) == pooling
    with pytest.raises(ValueError, match="kind='median'"):
        Pooling(kind="median")
    with pytest.raises(ValueError, match=r"size=\(0, 0\)"):
        Pooling(kind="avg", size=0)


# --- Axis: the one home of window maths ------------------------------------------------------------

axes = st.builds(Axis, size=st.integers(1, 24), kernel=st.integers(1, 6), stride=st.integers(1, 4),
                 pad_before=st.integers(0, 4), pad_after=st.integers(0, 4), dilation=st.integers(1, 3))


@given(axes)
def test_out_size_equals_torch_with_uneven_padding(axis):
    x = F.pad(torch.zeros(1, 1, axis.size, 1), (0, 0, axis.pad_before, axis.pad_after))  # (1, 1, padded, 1)
    if not axis.fits:
        with pytest.raises(ValueError, match="padded input"):
            axis.out_size
        return
    out = F.conv2d(x, torch.zeros(1, 1, axis.kernel, 1), stride=(axis.stride, 1), dilation=(axis.dilation, 1))
    assert axis.out_size == out.shape[2]


@given(axes)
def test_dropped_positions_equal_a_brute_force(axis):
    if not axis.fits:
        return
    reached = set()
    for i in range(axis.out_size):
        window = axis.window(i)
        reached.update(range(window.start, window.stop))  # every position the span covers
    beyond = [p for p in range(axis.size) if p > max(reached)]
    assert list(axis.dropped_range) == beyond
    assert axis.dropped == len(beyond)


@given(axes)
def test_windows_tile_the_padded_input_in_steps_of_the_stride(axis):
    if not axis.fits:
        return
    first, last = axis.window(0), axis.window(axis.out_size - 1)
    assert first.start == -axis.pad_before and first.padding_before() == axis.pad_before
    assert last.stop <= axis.size + axis.pad_after  # never beyond the padding
    assert len(first.taps) == axis.kernel and first.stop - first.start == axis.span
    with pytest.raises(ValueError, match="output index"):
        axis.window(axis.out_size)


def test_window_by_hand():
    # 5 inputs, kernel 3, stride 2, padding 1: windows start at -1, 1, 3 (the last one ends in the padding).
    axis = Axis(5, 3, 2, 1, 1)
    assert [axis.window(i) for i in range(3)] == [Window(-1, 2), Window(1, 4), Window(3, 6)]
    assert axis.window(2).padding_after(5) == 1 and axis.window(0).padding_before() == 1
    assert list(Axis(7, 2, 1, 0, 0, dilation=3).window(1).taps) == [1, 4]


def test_windows_are_the_cells_the_step_page_shows():
    image = np.arange(42).reshape(6, 7)
    geometry = Geometry(padding=(1, 2), stride=(2, 3), dilation=(1, 2))
    walk = conv_walkthrough(image, np.ones((3, 2)), geometry)
    rows, cols = geometry.layer((3, 2), image.shape).axes(image.shape)
    for step in walk.steps:
        expected = [(r + rows.pad_before, c + cols.pad_before)
                    for r in rows.window(step.out_row).taps for c in cols.window(step.out_col).taps]
        assert list(step.cells) == expected


@pytest.mark.parametrize(("n", "k", "s", "d"), [(7, 3, 2, 1), (8, 4, 1, 1), (10, 3, 3, 2), (5, 1, 4, 1), (28, 5, 1, 1)])
def test_same_padding_gives_ceil_and_matches_torch_at_stride_1(n, k, s, d):
    before, after = same_padding(n, k, s, d)
    assert Axis(n, k, s, before, after, d).out_size == -(-n // s)
    if s == 1:
        x = torch.arange(float(n)).reshape(1, 1, n, 1)
        w = torch.arange(1.0, k + 1).reshape(1, 1, k, 1)
        ours = F.conv2d(F.pad(x, (0, 0, before, after)), w, dilation=(d, 1))
        torch.testing.assert_close(ours, F.conv2d(x, w, padding="same", dilation=(d, 1)))


def test_layer_vocabulary():
    layer = Layer(kernel=3, stride=2, padding=1)
    assert layer.padding == ((1, 1), (1, 1)) and layer.out_hw((28, 28)) == (14, 14)
    assert Layer((3, 5), padding=((0, 1), (2, 2))).out_hw((10, 10)) == (9, 10)
    assert Geometry(padding="same", stride=2).layer((3, 3), (8, 7)).padding == resolve_padding(
        "same", (3, 3), stride=2, input_hw=(8, 7)) == ((0, 1), (1, 1))
    assert Pooling("max", 2, 2).layer() == Layer(2, 2, kind="max")
    with pytest.raises(ValueError, match="kind='median'"):
        Layer(2, kind="median")
    with pytest.raises(ValueError, match="padding"):
        Layer(3, padding=-1)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"size": 0, "kernel": 3}, "size=0"), ({"size": 5, "kernel": 0}, "kernel=0"),
    ({"size": 5, "kernel": 3, "stride": 0}, "stride=0"), ({"size": 5, "kernel": 3, "pad_before": -1}, "pad_before=-1"),
    ({"size": 5, "kernel": 3, "dilation": True}, "dilation=True"),
])
def test_axis_names_the_bad_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Axis(**kwargs)


def test_nearest_centre_rounds_halves_up_and_clamps():
    from cnnviz.conv.geometry import nearest_centre

    assert [nearest_centre(p, 1.5, 4, 7) for p in (1.5, 3.4, 3.5, 5.6, -20, 99)] == [0, 0, 1, 1, 0, 6]
    assert nearest_centre(11.5, 1.5, 4) == 3  # 2.5 steps: the later unit, where round() would give 2
