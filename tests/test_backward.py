"""The backward pass: Axis.transposed, and the Backward-pass page's compute against torch autograd and by hand."""
import re
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnviz.conv.geometry import Axis, TransposedAxis
from cnnviz.pages.backward import BackwardState, compute, output_gradient

QUICK = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings(max_examples=200, **QUICK)
@given(size=st.integers(1, 12), kernel=st.integers(1, 5), stride=st.integers(1, 4), padding=st.integers(0, 3),
       dilation=st.integers(1, 3))
def test_the_transposed_axis_maps_the_output_back_to_the_input_length(size, kernel, stride, padding, dilation):
    axis = Axis(size, kernel, stride, padding, padding, dilation)
    if not axis.fits:
        return
    back = axis.transposed()
    assert back.out_size == size and back.size == axis.out_size
    assert back.forward() == axis  # the convolution it transposes is the one it came from
    for i in range(axis.out_size):
        assert back.targets(i) == axis.window(i)  # a stamp lands where that output's window read


def test_the_floors_dropped_positions_come_back_as_output_padding():
    axis = Axis(size=6, kernel=3, stride=2, pad_before=1, pad_after=1)  # ⌊(8 − 3) / 2⌋ + 1 = 3 drops one position
    assert axis.transposed() == TransposedAxis(size=3, kernel=3, stride=2, padding=1, dilation=1, output_padding=1)
    assert Axis(5, 3, 2, 1, 1).transposed().output_padding == 0


def test_uneven_padding_has_no_transposed_axis():
    with pytest.raises(ValueError, match=re.escape("got padding 0 before and 1 after: use the same padding")):
        Axis(5, 2, 1, 0, 1).transposed()


# --- the Backward-pass page's compute ----------------------------------------------------------------------

@st.composite
def page_states(draw):
    """A random small page state whose forward convolution fits, with any output gradient."""
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    state = BackwardState(input=tuple(map(tuple, rng.normal(size=(h, w)).round(3))),
                          kernel=tuple(map(tuple, rng.normal(size=(kh, kw)).round(3))),
                          pad=(draw(st.integers(0, 2)), draw(st.integers(0, 2))),
                          stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
                          dilation=(draw(st.integers(1, 2)), draw(st.integers(1, 2))),
                          gradient=draw(st.sampled_from(["ones", "onehot", "random"])),
                          unit=(draw(st.integers(0, 9)), draw(st.integers(0, 9))), seed=draw(st.integers(0, 999)))
    if not all(axis.fits for axis in state.axes()):
        state = replace(state, pad=tuple(p + max(0, axis.span - axis.padded + 1) // 2 + 1
                                         for p, axis in zip(state.pad, state.axes())))
    return state


@settings(max_examples=150, **QUICK)
@given(state=page_states())
def test_the_pages_gradients_equal_torch_autograd(state):
    result = compute(state)
    x = torch.tensor(state.input_array())[None, None].requires_grad_()  # (1, 1, H, W)
    w = torch.tensor(state.kernel_array())[None, None].requires_grad_()
    y = F.conv2d(x, w, stride=state.stride, padding=state.pad, dilation=state.dilation)
    np.testing.assert_allclose(result.output, y[0, 0].detach().numpy(), rtol=0, atol=1e-12)
    y.backward(torch.tensor(result.grad_out)[None, None])
    np.testing.assert_allclose(result.grads.input, x.grad[0, 0].numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.grads.kernel, w.grad[0, 0].numpy(), rtol=0, atol=1e-11)
    assert result.agrees == (True, True)
    # The build ends at the whole input gradient, and every tap's written-out terms add up to its gradient.
    assert np.array_equal(result.stamp(result.count - 1).partial, result.grads.input)
    for a in range(result.kernel.shape[0]):
        for b in range(result.kernel.shape[1]):
            written = result.tap((a, b))
            assert abs(sum(x * g for x, g in written.terms) - written.total) <= 1e-9


FIVE_INPUT_GRAD = [[1, 3, 6, 5, 3], [5, 12, 21, 16, 9], [12, 27, 45, 33, 18], [11, 24, 39, 28, 15],
                   [7, 15, 24, 17, 9]]


def test_all_ones_through_the_kernel_one_to_nine_by_hand():
    result = compute(BackwardState())
    # Each input cell gathers the weights of every window that covers it: the corner only w[0, 0] = 1, the centre
    # all nine, 1 + 2 + … + 9 = 45; (0, 1) is w[0, 1] + w[0, 0] = 3.
    assert result.grads.input.tolist() == FIVE_INPUT_GRAD
    assert result.autograd.input.tolist() == FIVE_INPUT_GRAD and result.differences == (0.0, 0.0)
    # With all ones, a tap's gradient is the sum of the 3×3 block of x it read: tap (0, 0) reads x[0:3, 0:3].
    assert result.tap((0, 0)).text == "1×1 + 2×1 + 3×1 + 0×1 + 1×1 + 2×1 + 3×1 + 0×1 + 1×1 = 13"
    assert result.grads.kernel.tolist() == [[13, 14, 13], [13, 14, 13], [13, 14, 12]]
    assert result.output[0, 0] == 1 * 1 + 2 * 2 + 3 * 3 + 0 * 4 + 1 * 5 + 2 * 6 + 3 * 7 + 0 * 8 + 1 * 9


def test_the_build_stamps_one_output_gradient_cell_at_a_time():
    result = compute(BackwardState())
    first, second = result.stamp(0), result.stamp(1)
    assert first.unit == (0, 0) and first.partial[:3, :3].tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert second.unit == (0, 1) and [cell for cell, _ in second.cells][:3] == [(0, 1), (0, 2), (0, 3)]
    assert second.partial[0].tolist() == [1, 3, 5, 3, 0]  # the second stamp overlaps the first: 2 + 1, 3 + 2
    assert result.stamp(99).position == result.count - 1  # clamped


def test_padding_crops_a_stamps_taps_and_stride_spreads_them():
    result = compute(replace(BackwardState(), pad=(1, 1), stride=(2, 2)))
    assert result.grad_out.shape == (3, 3) and result.rows.text == "(3 − 1)·2 − 2·1 + 1·(3 − 1) + 0 + 1 = 5"
    first = result.stamp(0)
    assert first.cropped == 5 and [cell for cell, _ in first.cells] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert result.tap((0, 0)).cells[:3] == ((0, 0), (0, 2), (0, 4))  # stride 2 in the padded input


def test_a_one_hot_gradient_stamps_the_kernel_on_that_units_window():
    state = replace(BackwardState(), gradient="onehot", unit=(1, 1), stride=(2, 2))
    result = compute(state)
    expected = np.zeros((5, 5))
    expected[2:5, 2:5] = np.arange(1, 10).reshape(3, 3)
    assert result.grads.input.tolist() == expected.tolist()
    assert result.grads.kernel.tolist() == state.input_array()[2:5, 2:5].tolist()  # the window that unit read
    assert output_gradient(replace(state, unit=(7, 0)), (2, 2)).tolist() == [[0, 0], [1, 0]]  # clamped to the output


def test_a_random_gradient_is_whole_numbers_from_its_seed():
    state = replace(BackwardState(), gradient="random", seed=7)
    first, again = output_gradient(state, (4, 4)), output_gradient(state, (4, 4))
    assert np.array_equal(first, again) and not np.array_equal(first, output_gradient(replace(state, seed=8), (4, 4)))
    assert set(np.unique(first)) <= set(range(-3, 4))


def test_a_difference_beyond_rounding_is_not_agreement():
    result = compute(replace(BackwardState(), gradient="random", seed=3))
    nudged = replace(result, autograd=result.autograd._replace(input=result.autograd.input + 1e-9))
    assert nudged.agrees == (False, True) and nudged.differences[0] == pytest.approx(1e-9)


def test_every_view_round_trips_through_the_url():
    state = BackwardState(input=((1.0, 2.5), (3.0, -4.0), (0.0, 1.0)), kernel=((1.0, -1.0),), pad=(1, 2),
                          stride=(2, 1), dilation=(1, 2), gradient="onehot", unit=(2, 1), seed=42, stamp=5, tap=(0, 1))
    query = state.to_query()
    assert {"g", "u", "seed", "at", "tap"} <= query.keys()
    assert BackwardState.from_query(query) == (state, [])
    assert BackwardState.from_dict(state.to_dict()) == (state, [])
    assert BackwardState.from_query({"g": "sideways", "tap": "9,9"}) == (BackwardState(), ["g=sideways", "tap=9,9"])


def test_settings_that_cannot_work_say_what_to_change():
    with pytest.raises(ValueError, match="window"):
        compute(replace(BackwardState(), dilation=(4, 4)))


def test_negative_factors_are_written_in_brackets():
    result = compute(replace(BackwardState(), gradient="random", seed=3, pad=(1, 1), stride=(2, 2)))
    # Tap (0, 0) reads the padded input's every other cell from the corner: the padding's zeros, then x[1, 1], ...
    assert result.tap((0, 0)).text == "0×2 + 0×(-3) + 0×(-2) + 0×(-2) + 1×(-2) + 3×2 + 0×3 + 2×1 + 0×(-3) = 6"
