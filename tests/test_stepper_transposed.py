"""Transposed convolution stepped one input cell at a time: each stamp, each partial output and each written-out sum
by hand; the whole output equals cnnviz.conv.ops.conv_transpose2d, and so does the zero-inserted convolution."""
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnviz.conv import ops
from cnnviz.conv.stepper import explain, explain_cell, transposed_walkthrough, zero_inserted_walkthrough

X = np.array([[1, 2], [3, 4]])
ONES = np.ones((3, 3))
FINAL = [[1, 1, 3, 2, 2], [1, 1, 3, 2, 2], [4, 4, 10, 6, 6], [3, 3, 7, 4, 4], [3, 3, 7, 4, 4]]


def test_two_by_two_stride_two_frame_by_frame():
    scatter = transposed_walkthrough(X, ONES, stride=2)
    # By hand: each input cell adds its value to a 3×3 block two cells to the right (or down) of its neighbour's.
    partials = [
        [[1, 1, 1, 0, 0], [1, 1, 1, 0, 0], [1, 1, 1, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
        [[1, 1, 3, 2, 2], [1, 1, 3, 2, 2], [1, 1, 3, 2, 2], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
        [[1, 1, 3, 2, 2], [1, 1, 3, 2, 2], [4, 4, 6, 2, 2], [3, 3, 3, 0, 0], [3, 3, 3, 0, 0]],
        FINAL,
    ]
    for last, expected in enumerate(partials):
        np.testing.assert_array_equal(scatter.partial(last), expected)
    np.testing.assert_array_equal(scatter.output, FINAL)
    assert [(s.in_row, s.in_col, s.value) for s in scatter.stamps] == [(0, 0, 1), (0, 1, 2), (1, 0, 3), (1, 1, 4)]
    second = scatter.stamps[1]
    assert (second.rows, second.cols, second.cropped) == (range(0, 3), range(2, 5), 0)
    assert second.targets == tuple((r, c) for r in range(3) for c in range(2, 5)) and second.weights == (1,) * 9
    assert [explain_cell(scatter, (2, 2), last) for last in range(4)] == [
        "out[2,2] = 1×1 = 1", "out[2,2] = 1×1 + 2×1 = 3", "out[2,2] = 1×1 + 2×1 + 3×1 = 6",
        "out[2,2] = 1×1 + 2×1 + 3×1 + 4×1 = 10"]
    assert explain_cell(scatter, (4, 4), 2) == "out[4,4] = 0"  # no stamp has reached it yet
    np.testing.assert_array_equal(scatter.overlaps(), np.outer([1, 1, 2, 1, 1], [1, 1, 2, 1, 1]))


def test_three_by_three_stride_two_overlaps_unevenly():
    scatter = transposed_walkthrough(np.ones((3, 3)), ONES, stride=2)
    counts = [1, 1, 2, 1, 2, 1, 1]  # every other column is written twice: the checkerboard
    np.testing.assert_array_equal(scatter.overlaps(), np.outer(counts, counts))
    np.testing.assert_array_equal(scatter.output, np.outer(counts, counts))  # ones in, ones kernel: the counts


def test_the_kernel_is_stamped_unflipped_and_the_zero_view_flips_it():
    kernel = np.array([[1, 2], [3, 4]])
    scatter = transposed_walkthrough(np.array([[10]]), kernel)
    np.testing.assert_array_equal(scatter.output, [[10, 20], [30, 40]])
    assert scatter.stamps[0].weights == (1, 2, 3, 4)
    zero = zero_inserted_walkthrough(np.array([[10]]), kernel)
    np.testing.assert_array_equal(zero.kernel, [[4, 3], [2, 1]])
    assert explain(zero, zero.steps[0]) == "0×4 + 0×3 + 0×2 + 10×1 = 10"
    np.testing.assert_array_equal(zero.output, scatter.output)


def test_padding_crops_the_stamps_and_output_padding_adds_a_row():
    scatter = transposed_walkthrough(X, ONES, stride=2, padding=1, output_padding=1)
    assert scatter.output.shape == (4, 4)  # (2 − 1)·2 − 2·1 + 1·(3 − 1) + 1 + 1
    first = scatter.stamps[0]
    assert (first.rows, first.cols, first.cropped) == (range(0, 2), range(0, 2), 5)
    np.testing.assert_array_equal(scatter.output, [[1, 3, 2, 2], [4, 10, 6, 6], [3, 7, 4, 4], [3, 7, 4, 4]])


def test_zero_inserted_view_of_the_two_by_two_example():
    zero = zero_inserted_walkthrough(X, ONES, stride=2)
    # x spread out with one zero between cells (3×3), then 2 = d(k − 1) − p zeros of padding all round.
    expected = np.zeros((7, 7))
    expected[2:5:2, 2:5:2] = X
    np.testing.assert_array_equal(zero.padded, expected)
    inserted = np.zeros((7, 7), dtype=bool)
    inserted[2:5, 2:5] = [[False, True, False], [True, True, True], [False, True, False]]
    np.testing.assert_array_equal(zero.inserted, inserted)
    assert zero.pad_mask.sum() == 49 - 9
    assert (zero.rows.stride, zero.rows.pad_before, zero.rows.pad_after) == (1, 2, 2)
    np.testing.assert_array_equal(zero.output, FINAL)
    assert explain(zero, zero.steps[12]) == "1×1 + 0×1 + 2×1 + 0×1 + 0×1 + 0×1 + 3×1 + 0×1 + 4×1 = 10"


def test_dilated_stamps_skip_cells():
    scatter = transposed_walkthrough(np.array([[1, 1]]), np.ones((1, 2)), stride=1, dilation=2)
    assert scatter.stamps[1].cols == range(1, 4, 2)
    np.testing.assert_array_equal(scatter.output, [[1, 1, 1, 1]])


def test_errors():
    with pytest.raises(ValueError, match="output_padding must be smaller"):
        transposed_walkthrough(X, ONES, stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"padding=3 is more than the kernel reaches, 2"):
        zero_inserted_walkthrough(np.ones((3, 3)), ONES, stride=3, padding=3)


@given(h=st.integers(1, 4), w=st.integers(1, 4), kh=st.integers(1, 3), kw=st.integers(1, 3),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)), padding=st.tuples(st.integers(0, 3), st.integers(0, 3)),
       output_padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)), seed=st.integers(0, 99))
def test_both_views_equal_ops(h, w, kh, kw, stride, padding, output_padding, dilation, seed):
    rng = np.random.default_rng(seed)
    x, kernel = rng.integers(-5, 6, (h, w)), rng.integers(-3, 4, (kh, kw))
    settings = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation)
    try:
        expected = ops.conv_transpose2d(x, kernel, **settings)
    except ValueError as refused:
        with pytest.raises(ValueError, match=f"^{re.escape(str(refused))}$"):
            transposed_walkthrough(x, kernel, **settings)
        return
    scatter = transposed_walkthrough(x, kernel, **settings)
    np.testing.assert_array_equal(scatter.output, expected)
    np.testing.assert_array_equal(scatter.partial(len(scatter.stamps) - 1), expected)
    for stamp in scatter.stamps:
        assert len(stamp.targets) + stamp.cropped == kh * kw
        for (r, c), weight in zip(stamp.targets, stamp.weights):
            assert r in scatter.rows.targets(stamp.in_row).taps and c in scatter.cols.targets(stamp.in_col).taps
            assert weight in kernel
    if all(p <= d * (k - 1) for p, d, k in zip(padding, dilation, (kh, kw))):
        np.testing.assert_array_equal(zero_inserted_walkthrough(x, kernel, **settings).output, expected)
    else:
        with pytest.raises(ValueError, match="more than the kernel reaches"):
            zero_inserted_walkthrough(x, kernel, **settings)
