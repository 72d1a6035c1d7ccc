"""cnnviz.conv.ops.conv1d against hand-computed examples, torch's conv1d and a plain loop."""
import doctest
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnviz.conv import signal
from cnnviz.conv.ops import conv1d
from cnnviz.conv.signal import signal_axis

QUICK = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
RAMP = [1, 2, 3, 4, 5]


# --- worked examples, by hand ------------------------------------------------------------------

def test_moving_sum_and_average_on_a_ramp():
    # (1+2+3, 2+3+4, 3+4+5) = (6, 9, 12); divided by 3, the ramp's middle values.
    np.testing.assert_array_equal(conv1d(RAMP, [1, 1, 1]), [6, 9, 12])
    np.testing.assert_allclose(conv1d(RAMP, [1 / 3, 1 / 3, 1 / 3]), [2, 3, 4], rtol=0, atol=1e-12)


def test_moving_sum_with_padding_one():
    # Zeros on both ends: (0+1+2, 1+2+3, 2+3+4, 3+4+5, 4+5+0).
    np.testing.assert_array_equal(conv1d(RAMP, [1, 1, 1], padding=1), [3, 6, 9, 12, 9])


def test_causal_derivative_reads_the_present_and_the_past():
    # y[t] = x[t] - x[t-1], with x[-1] = 0 from the single causal zero.
    np.testing.assert_array_equal(conv1d([1, 2, 4, 7], [-1, 1], causal=True), [1, 1, 2, 3])


def test_dilated_causal_pair():
    # Dilation 2 pads 2·(2 − 1) = 2 zeros on the left: y[t] = x[t-2] + x[t] over [0, 0, 1, 2, 3, 4, 5].
    np.testing.assert_array_equal(conv1d(RAMP, [1, 1], dilation=2, causal=True), [1, 2, 4, 6, 8])


def test_stride_two_skips_every_other_window():
    np.testing.assert_array_equal(conv1d(RAMP, [1, 1], stride=2), [3, 7])  # windows at 0 and 2; the 5 is dropped
    assert signal_axis(5, 2, stride=2).dropped == 1


def test_causal_output_is_as_long_as_the_input():
    for k, d in ((1, 1), (2, 1), (3, 2), (2, 8)):
        assert len(conv1d(np.arange(16.0), np.ones(k), dilation=d, causal=True)) == 16


def test_formula_is_the_axis_formula_filled_in():
    axis = signal_axis(5, 3, stride=2, padding=1)
    assert axis.text == "⌊(5 + 1 + 1 − 1·(3 − 1) − 1) / 2⌋ + 1 = 3"
    assert signal_axis(16, 2, dilation=8, causal=True).text == "⌊(16 + 8 + 0 − 8·(2 − 1) − 1) / 1⌋ + 1 = 16"
    assert (axis.pad_before, axis.pad_after) == (1, 1)


def test_inputs_are_left_unchanged():
    x, w = np.array([1.0, 2.0, 3.0]), np.array([1.0, -1.0])
    conv1d(x, w, causal=True)
    np.testing.assert_array_equal(x, [1, 2, 3])
    np.testing.assert_array_equal(w, [1, -1])


def test_doctests():
    assert doctest.testmod(signal).failed == 0


# --- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(signal=[[1, 2], [3, 4]], kernel=[1]), "signal must be one list of numbers (N,), got shape (2, 2)"),
    (dict(signal=[], kernel=[1]), "signal is empty"),
    (dict(signal=[1, 2], kernel=[]), "kernel is empty"),
    (dict(signal=[1, float("nan")], kernel=[1]), "signal contains NaN"),
    (dict(signal=[1, 2], kernel=["a"]), "kernel contains NaN, infinity or non-numbers"),
    (dict(signal=[1, 2], kernel=[1], padding=-1), "padding must be an int of at least 0, got padding=-1"),
    (dict(signal=[1, 2], kernel=[1], padding=1.5), "padding must be an int of at least 0, got padding=1.5"),
    (dict(signal=[1, 2], kernel=[1], stride=0), "stride must be an int of at least 1, got stride=0"),
    (dict(signal=[1, 2], kernel=[1], dilation=True), "dilation must be an int of at least 1, got dilation=True"),
    (dict(signal=[1, 2], kernel=[1, 1], causal="yes"), "causal must be True or False, got causal='yes'"),
    (dict(signal=[1, 2], kernel=[1, 1], causal=True, padding=1),
     "causal padding adds its own 1·(2 − 1) = 1 zeros on the left: leave padding at 0, got padding=1"),
    (dict(signal=[1, 2], kernel=[1, 1, 1]), "the window spans 3 (kernel 3, dilation 1) but the padded input is only 2"),
])
def test_bad_arguments_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        conv1d(**kwargs)


# --- torch and a plain loop, over random configurations ------------------------------------------

def _loop(x: np.ndarray, w: np.ndarray, stride: int, before: int, after: int, dilation: int) -> np.ndarray:
    padded = np.concatenate([np.zeros(before), x, np.zeros(after)])
    span = dilation * (len(w) - 1) + 1
    return np.array([sum(w[j] * padded[start + j * dilation] for j in range(len(w)))
                     for start in range(0, len(padded) - span + 1, stride)])


@settings(max_examples=400, **QUICK)
@given(n=st.integers(1, 40), k=st.integers(1, 7), stride=st.integers(1, 5), padding=st.integers(0, 5),
       dilation=st.integers(1, 4), causal=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_conv1d_equals_torch(n, k, stride, padding, dilation, causal, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.normal(size=n), rng.normal(size=k)
    padding = 0 if causal else padding
    before, after = (dilation * (k - 1), 0) if causal else (padding, padding)
    xt, wt = torch.from_numpy(x)[None, None], torch.from_numpy(w)[None, None]  # (1, 1, N), (1, 1, k)
    if dilation * (k - 1) + 1 > n + before + after:
        with pytest.raises(ValueError, match="the window spans"):
            conv1d(x, w, stride=stride, padding=padding, dilation=dilation, causal=causal)
        return
    if causal:
        expected = F.conv1d(F.pad(xt, (before, 0)), wt, stride=stride, dilation=dilation)[0, 0].numpy()
    else:
        expected = F.conv1d(xt, wt, stride=stride, padding=padding, dilation=dilation)[0, 0].numpy()
    got = conv1d(x, w, stride=stride, padding=padding, dilation=dilation, causal=causal)
    assert got.dtype == np.float64 and got.shape == expected.shape
    assert len(got) == signal_axis(n, k, stride=stride, padding=padding, dilation=dilation, causal=causal).out_size
    assert np.count_nonzero(np.abs(got - expected) > 1e-12) == 0
    np.testing.assert_allclose(got, _loop(x, w, stride, before, after, dilation), rtol=0, atol=1e-12)


@settings(max_examples=150, **QUICK)
@given(n=st.integers(2, 30), k=st.integers(1, 5), dilation=st.integers(1, 4), data=st.data())
def test_causal_output_never_sees_the_future(n, k, dilation, data):
    t = data.draw(st.integers(0, n - 2))
    rng = np.random.default_rng(t)
    x, w = rng.normal(size=n), rng.normal(size=k)
    changed = x.copy()
    changed[t + 1:] = rng.normal(size=n - t - 1)  # everything after t is different
    before, after = conv1d(x, w, dilation=dilation, causal=True), conv1d(changed, w, dilation=dilation, causal=True)
    np.testing.assert_array_equal(before[:t + 1], after[:t + 1])
