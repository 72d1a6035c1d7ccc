"""The 1-D signals page's compute without Streamlit: its arithmetic against conv1d, its links, and WaveNet's stack
against the receptive-field formula."""
import doctest
import re
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnviz.analysis import receptive_field
from cnnviz.conv.ops import conv1d
from cnnviz.pages import signals
from cnnviz.pages.signals import (KERNELS, SOURCES, STACK_DILATIONS, STACK_KERNEL, SignalsState, compute,
                                  kernel_values, parse_values, sample_signal, wavenet_stack)
from cnnviz.urlstate import check_fields

QUICK = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
RAMP = SignalsState(source="typed", typed=(1, 2, 3, 4, 5), kernel="average", size=3)


def test_doctests():
    assert doctest.testmod(signals).failed == 0


def test_moving_average_window_written_out():
    view = compute(replace(RAMP, index=2))
    assert view.positions == "y[2] = w[0]·x[2] + w[1]·x[3] + w[2]·x[4]"
    assert view.explanation == "3×1/3 + 4×1/3 + 5×1/3 = 4"
    assert view.axis.text == "⌊(5 + 0 + 0 − 1·(3 − 1) − 1) / 1⌋ + 1 = 3"


def test_causal_derivative_window_reads_the_padding_zero_first():
    view = compute(SignalsState(source="typed", typed=(1, 2, 4, 7), kernel="derivative", causal=True))
    assert view.output.tolist() == [1, 1, 2, 3]
    assert view.explanation == "0×(-1) + 1×1 = 1"
    assert [(t.position, t.padding) for t in view.terms] == [(-1, True), (0, False)]
    assert view.at(3).explanation == "4×(-1) + 7×1 = 3" and view.at(3).positions == "y[3] = w[0]·x[2] + w[1]·x[3]"


def test_causal_ignores_the_ordinary_padding_setting():
    # The page keeps the padding number while causal is on (its box is greyed out); conv1d must not see both.
    state = SignalsState(source="typed", typed=(1, 2, 4, 7), kernel="derivative", causal=True, padding=3)
    assert compute(state).output.tolist() == [1, 1, 2, 3]


def test_index_is_clamped_to_the_output():
    assert compute(replace(RAMP, index=40)).index == 2


@settings(max_examples=120, **QUICK)
@given(source=st.sampled_from(SOURCES), kernel=st.sampled_from(KERNELS), size=st.integers(1, 9),
       stride=st.integers(1, 4), dilation=st.integers(1, 3), padding=st.integers(0, 4), causal=st.booleans(),
       index=st.integers(0, 80))
def test_every_written_out_sum_is_conv1d_s_value(source, kernel, size, stride, dilation, padding, causal, index):
    state = SignalsState(source=source, kernel=kernel, size=size, stride=stride, dilation=dilation, padding=padding,
                         causal=causal, index=index)
    try:
        view = compute(state)
    except ValueError as error:  # a window longer than the typed ramp: said, with the numbers
        assert "the window spans" in str(error)
        return
    expected = conv1d(state.signal_array(), state.kernel_array(), stride=stride, dilation=dilation,
                      padding=0 if causal else padding, causal=causal)
    np.testing.assert_array_equal(view.output, expected)
    assert view.total == pytest.approx(float(expected[view.index]), abs=1e-12)
    assert len(view.terms) == len(view.kernel)
    if causal:
        assert view.terms[-1].position == view.index * stride  # the last tap is the present, never the future


def test_samples_are_fixed_and_the_right_shape():
    sines = sample_signal("sines")
    assert sines.shape == (32,) and np.array_equal(sines, sample_signal("sines"))  # the seed is fixed
    assert np.array_equal(sines, np.round(sines, 2))  # two decimals: readable arithmetic
    assert sample_signal("step").tolist() == [0] * 16 + [1] * 16
    assert np.flatnonzero(sample_signal("spikes")).tolist() == [3, 11, 19, 27]
    with pytest.raises(ValueError, match="sample must be one of sines, step, spikes, got sample='noise'"):
        sample_signal("noise")


def test_kernels():
    assert kernel_values("average", 4).tolist() == [0.25] * 4
    assert kernel_values("derivative", 7).tolist() == [-1, 1]
    assert kernel_values("gaussian", 5).tolist() == [1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16]
    assert kernel_values("custom", 3, (1, -2, 1)).tolist() == [1, -2, 1]


def test_a_step_through_the_derivative_is_one_spike():
    view = compute(SignalsState(source="step", kernel="derivative", causal=True))
    assert np.flatnonzero(view.output).tolist() == [16]


def test_typed_lists():
    assert parse_values(" 1, 2 3;1/4 ", "signal", 8) == (1, 2, 3, 0.25)
    assert parse_values("[-1, 0, 1]", "kernel", 9) == (-1, 0, 1)
    for text, message in (("", "signal is empty: type numbers separated by commas or spaces"),
                          ("1, two, 3", "signal, number 2: 'two' is not a number"),
                          ("1 2 3", "signal has 3 numbers, more than the 2 this page takes"),
                          ("5000", "signal, number 1 is 5000: keep values between -1000 and 1000")):
        with pytest.raises(ValueError, match=re.escape(message)):
            parse_values(text, "signal", 2 if text == "1 2 3" else 8)


def test_state_round_trips_through_the_url():
    check_fields(SignalsState)
    state = SignalsState(source="typed", typed=(0.5, -1, 2), kernel="custom", custom=(1, -1), stride=2, dilation=3,
                         padding=1, causal=True, index=4, stack_output=7)
    assert SignalsState.from_query(state.to_query()) == (state, [])
    assert SignalsState.from_dict(state.to_dict()) == (state, [])
    assert SignalsState().to_query() == {}
    assert SignalsState.from_query({"k": "wavelet", "d": "99"}) == (SignalsState(), ["k=wavelet", "d=99"])


# --- WaveNet's stack ------------------------------------------------------------------------------------

def test_wavenet_stack_sees_sixteen_inputs():
    stack = wavenet_stack(23)
    assert stack.field == 16 == 1 + sum(d * (STACK_KERNEL - 1) for d in STACK_DILATIONS)
    assert stack.formula == "1 + (2 − 1)·(1 + 2 + 4 + 8) = 16"
    assert (stack.box.left, stack.box.right) == (8, 24)


@pytest.mark.parametrize("output", range(0, 24))
def test_the_drawn_connections_reach_exactly_the_receptive_field(output):
    stack = wavenet_stack(output)
    assert stack.reached[-1] == {output}
    field = set(range(stack.box.left, stack.box.right))
    assert stack.reached[0] == {p for p in field if p >= 0}  # the rest of the field is causal padding
    for row, source, target in stack.edges:
        assert source in stack.reached[row] and target in stack.reached[row + 1]
        assert target - source in (0, STACK_DILATIONS[row])  # a tap at its own position or d earlier


def test_stack_rf_is_analyze_s_columns_axis():
    rows = receptive_field.analyze(signals.stack_layers(), input_size=(1, 24))
    assert [row.size[1] for row in rows] == [2, 4, 8, 16] and [row.out_size for row in rows] == [(1, 24)] * 4
    assert [row.start[1] for row in rows] == [-1, -3, -7, -15]


def test_stack_of_a_single_layer_matches_conv1d():
    # The stack's first layer is conv1d(kernel 2, causal): output t reads t-1 and t.
    x = np.arange(1.0, 25.0)
    y = conv1d(x, [1, 1], causal=True)
    stack = wavenet_stack(10, dilations=(1,))
    assert stack.reached[0] == {9, 10} and y[10] == x[9] + x[10]


# --- the figures draw what they are given -----------------------------------------------------------------

def test_signal_figure_marks_the_window_and_aligns_at_stride_one():
    from cnnviz.figures.signals import signal_figure

    view = compute(SignalsState(source="typed", typed=(1, 2, 4, 7), kernel="derivative", causal=True, index=2))
    figure = signal_figure(view.signal, view.output, pad_before=1, pad_after=0, taps=list(view.window.taps),
                           index=view.index)
    padding, window = figure.data[1], figure.data[2]
    assert list(padding.x) == [-1] and list(window.x) == [1, 2] and list(window.y) == [2, 4]
    assert figure.layout.xaxis.range == figure.layout.xaxis2.range  # y[t] under x[t]
    strided = signal_figure(view.signal, view.output[::2], pad_before=1, pad_after=0, taps=[1, 2], index=1, stride=2)
    assert strided.layout.xaxis.range != strided.layout.xaxis2.range


def test_stack_figure_draws_every_edge_once():
    from cnnviz.figures.signals import stack_figure

    stack = wavenet_stack(23)
    figure = stack_figure(stack.dilations, stack.length, stack.output, stack.reached, stack.edges,
                          (stack.box.left, stack.box.right))
    lines = figure.data[0]
    assert list(lines.x).count(None) == len(stack.edges) == 2 + 4 + 8 + 16
    assert figure.layout.shapes[0].x0 == 7.5 and figure.layout.shapes[0].x1 == 23.5  # the field, inputs 8 to 23
