"""Property tests over the public functions' geometry and kernel inputs: 1,400 examples in all.

Whatever a student (or a hand-edited link) gives them, they answer or raise ValueError with a message; they
never crash with another exception, and their answers agree with brute force.
"""
import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnviz.analysis import receptive_field
from cnnviz.conv import kernels, ops
from cnnviz.conv.geometry import Axis
from cnnviz.conv.numfmt import cell_text, parse_number
from cnnviz.pages.class_room import ClassState
from cnnviz.pages.inspector import InspectorState
from cnnviz.pages.kernel_lab import KernelLabState
from cnnviz.pages.lessons import LessonsState
from cnnviz.pages.receptive_field import ReceptiveFieldState
from cnnviz.pages.signals import SignalsState
from cnnviz.pages.step import StepState
from cnnviz.pages.train import TrainPageState
from cnnviz.urlstate import FloatCodec, IntCodec, decode_matrix, encode_matrix

QUICK = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
anything = st.one_of(st.integers(-5, 40), st.booleans(), st.floats(allow_nan=True), st.text(max_size=4), st.none(),
                     st.tuples(st.integers(-3, 9), st.integers(-3, 9)), st.lists(st.integers(-3, 9), max_size=3))


@settings(max_examples=300, **QUICK)
@given(size=st.integers(1, 40), kernel=st.integers(1, 9), stride=st.integers(1, 6), before=st.integers(0, 6),
       after=st.integers(0, 6), dilation=st.integers(1, 4))
def test_axis_counts_the_windows_that_fit(size, kernel, stride, before, after, dilation):
    axis = Axis(size, kernel, stride, before, after, dilation)
    starts = [s for s in range(-before, size + after) if (s + before) % stride == 0
              and s + dilation * (kernel - 1) < size + after]
    if not starts:
        span, padded = dilation * (kernel - 1) + 1, size + before + after
        with pytest.raises(ValueError, match=re.escape(
                f"the window spans {span} (kernel {kernel}, dilation {dilation}) but the padded input is only "
                f"{padded} ({size} + {before} + {after})")):
            axis.out_size
        return
    assert axis.out_size == len(starts)
    assert [axis.window(i).start for i in range(axis.out_size)] == starts


@settings(max_examples=300, **QUICK)
@given(h=st.integers(1, 7), w=st.integers(1, 7), kh=st.integers(1, 4), kw=st.integers(1, 4), stride=anything,
       padding=st.one_of(anything, st.sampled_from(["same", "valid", "full"])), dilation=anything,
       mode=st.sampled_from(["zeros", "reflect", "replicate", "circular", "mirror"]))
def test_conv2d_answers_or_explains(h, w, kh, kw, stride, padding, dilation, mode):
    image, kernel = np.arange(h * w, dtype=float).reshape(h, w), np.ones((kh, kw))
    try:
        out = ops.conv2d(image, kernel, stride=stride, padding=padding, dilation=dilation, padding_mode=mode)
    except ValueError as error:
        assert str(error)  # a message, never an empty one
        return
    assert out.ndim == 2 and np.isfinite(out).all()


@settings(max_examples=250, **QUICK)
@given(st.text(max_size=12))
def test_any_text_in_a_cell_is_a_finite_number_or_refused(text):
    try:
        value = parse_number(text)
    except ValueError as error:
        assert repr(text)[:8] in str(error) or "large" in str(error) or "zero" in str(error)
        return
    assert math.isfinite(value)


@settings(max_examples=150, **QUICK)
@given(st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.fractions(max_denominator=64).map(float)))
def test_a_shown_weight_reads_back_as_itself(value):
    shown = cell_text(value)
    assert parse_number(shown) == pytest.approx(value, rel=1e-3, abs=1e-12)


STATES = [KernelLabState, StepState, TrainPageState, ReceptiveFieldState, InspectorState, LessonsState, SignalsState,
          ClassState]


@settings(max_examples=200, **QUICK)
@given(cls=st.sampled_from(STATES),
       params=st.dictionaries(st.sampled_from(["s", "k", "kv", "p", "pa", "x", "w", "b", "net", "l", "layer", "unit",
                                               "preset", "src", "i", "v", "z", "bank", "ep", "lr", "zz", "c", "so", "at",
                                               "key", "code", "t", "names"]),
                              st.text(max_size=20), max_size=6))
def test_no_link_can_break_a_page_state(cls, params):
    state, ignored = cls.from_query(params)  # never raises
    assert cls.from_query(state.to_query())[0] == state  # and what it kept writes a link that reads back the same
    assert all("=" in item or item for item in ignored)


@settings(max_examples=150, **QUICK)
@given(depth=st.sampled_from([0, 3]), rows=st.integers(1, 15), cols=st.integers(1, 15), decimals=st.integers(0, 6),
       seed=st.integers(0, 10_000))
def test_kernels_survive_the_link(depth, rows, cols, decimals, seed):
    values = np.round(np.random.default_rng(seed).uniform(-50, 50, (max(depth, 1), rows, cols)), decimals)
    matrix = values if depth else values[0]
    decoded = np.array(decode_matrix(encode_matrix(matrix.tolist())))
    np.testing.assert_allclose(decoded, matrix, rtol=0, atol=10.0 ** -decimals / 2)


@settings(max_examples=50, **QUICK)
@given(st.text(max_size=60))
def test_garbage_is_never_a_matrix_by_accident(text):
    try:
        decode_matrix(text)
    except ValueError:
        return
    assert text.count(".") == 2  # only something shaped like an encoded matrix can decode


@settings(max_examples=150, **QUICK)
@given(st.lists(st.fixed_dictionaries({"kernel": st.integers(1, 7), "stride": st.integers(1, 3),
                                       "padding": st.integers(0, 3), "dilation": st.integers(1, 3)}),
                min_size=1, max_size=6), st.integers(4, 64))
def test_receptive_fields_grow_and_jumps_multiply(layers, size):
    try:
        rows = receptive_field.analyze(layers, size)
    except ValueError as error:
        assert "layer" in str(error)
        return
    jump = 1
    for row, layer in zip(rows, layers):
        assert row.jump == (jump * layer["stride"],) * 2
        jump *= layer["stride"]
    sizes = [row.size[0] for row in rows]
    assert sizes == sorted(sizes)


@settings(max_examples=100, **QUICK)
@given(rows=st.integers(1, 15), cols=st.integers(1, 15), new_rows=st.integers(1, 15), new_cols=st.integers(1, 15),
       seed=st.integers(0, 1000))
def test_resizing_a_kernel_keeps_its_centre(rows, cols, new_rows, new_cols, seed):
    kernel = kernels.random_kernel(rows, cols, seed=seed)
    resized = kernels.resize_kernel(kernel, new_rows, new_cols)
    assert resized.shape == (new_rows, new_cols)
    assert resized[(new_rows - 1) // 2, (new_cols - 1) // 2] == kernel[(rows - 1) // 2, (cols - 1) // 2]


@settings(max_examples=200, **QUICK)
@given(st.one_of(st.text(max_size=8),
                 st.sampled_from(["٣", " 5 ", "1_0", "５", "٢,1", "1.5\n", "+7", "-0.25", "1e3"])))
def test_links_take_numbers_in_ascii_digits_only(text):
    """int() and float() also read " 5 ", "1_0" and "٣": a link must not, or two links would mean one view."""
    int_ok = re.fullmatch(r"[+-]?[0-9]+", text, re.ASCII) is not None
    float_ok = re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", text, re.ASCII) is not None
    for codec, ok in ((IntCodec(-10**9, 10**9), int_ok), (FloatCodec(-1e9, 1e9), float_ok)):
        try:
            codec.parse(text)
        except ValueError:
            continue
        assert ok, (codec, text)
    state, ignored = KernelLabState.from_query({"ws": text, "b": text, "s": text})
    accepted = {"ws", "b", "s"} - {item.split("=")[0] for item in ignored}
    assert not accepted or float_ok, (text, accepted)


def test_a_matrix_shape_in_other_digits_is_refused():
    text = encode_matrix([[1.0, 2.0], [3.0, 4.0]])
    for shape in ("٢x2", "2x٢", "2x2\n"):
        with pytest.raises(ValueError):
            decode_matrix(text.replace("2x2", shape, 1))
    with pytest.raises(ValueError):
        decode_matrix(text.replace(".d0.", ".d٣.", 1))
