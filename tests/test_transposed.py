"""Transposed convolution and the backward pass, against torch and hand-worked examples.

``conv_transpose2d`` must equal ``F.conv_transpose2d``, and ``conv2d_grads`` torch autograd's gradients, for every
configuration hypothesis draws (stride, padding, output_padding, dilation); ``TransposedAxis`` must agree with both.
"""
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnviz.conv import ops
from cnnviz.conv.geometry import Axis, TransposedAxis, Window

QUICK = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def transposed_cases(draw):
    """A random input, kernel and geometry that torch accepts, per axis."""
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    extra = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    full = [(n - 1) * s + d * (k - 1) + 1 for n, s, d, k in zip((h, w), stride, dilation, (kh, kw))]
    padding = tuple(draw(st.integers(0, (f + e - 1) // 2)) for f, e in zip(full, extra))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    return rng.normal(size=(h, w)), rng.normal(size=(kh, kw)), dict(stride=stride, padding=padding,
                                                                     output_padding=extra, dilation=dilation)


@settings(max_examples=300, **QUICK)
@given(case=transposed_cases())
def test_conv_transpose2d_equals_torch(case):
    x, kernel, geometry = case
    ours = ops.conv_transpose2d(x, kernel, **geometry)
    theirs = F.conv_transpose2d(torch.from_numpy(x)[None, None], torch.from_numpy(kernel)[None, None],
                                **geometry)[0, 0].numpy()
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    rows = TransposedAxis(x.shape[0], kernel.shape[0], geometry["stride"][0], geometry["padding"][0],
                          geometry["dilation"][0], geometry["output_padding"][0])
    assert rows.out_size == ours.shape[0]
    if rows.output_padding < rows.stride:  # more, allowed below the dilation, adds positions the forward drops
        assert rows.forward().out_size == x.shape[0]  # the convolution it transposes maps the output back to n


@st.composite
def forward_cases(draw):
    """A random forward convolution (zero padding) that fits, with a random output gradient."""
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    axes = [Axis(n, k, s, p, p, d) for n, k, s, p, d in zip((h, w), (kh, kw), stride, padding, dilation)]
    if not all(axis.fits for axis in axes):
        padding = tuple(p + max(0, axis.span - axis.padded + 1) for p, axis in zip(padding, axes))
        axes = [Axis(n, k, s, p, p, d) for n, k, s, p, d in zip((h, w), (kh, kw), stride, padding, dilation)]
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    grad = rng.normal(size=tuple(axis.out_size for axis in axes))
    return rng.normal(size=(h, w)), rng.normal(size=(kh, kw)), grad, dict(stride=stride, padding=padding,
                                                                          dilation=dilation)


@settings(max_examples=300, **QUICK)
@given(case=forward_cases())
def test_conv2d_grads_equal_autograd(case):
    x, kernel, grad, geometry = case
    tx = torch.from_numpy(x)[None, None].requires_grad_()
    tk = torch.from_numpy(kernel)[None, None].requires_grad_()
    out = F.conv2d(tx, tk, **geometry)
    out.backward(torch.from_numpy(grad)[None, None])
    ours = ops.conv2d_grads(x, kernel, grad, **geometry)
    assert ours.input.shape == x.shape and ours.kernel.shape == kernel.shape
    np.testing.assert_allclose(ours.input, tx.grad[0, 0].numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.kernel, tk.grad[0, 0].numpy(), rtol=0, atol=1e-11)


def test_a_2x2_input_with_a_3x3_kernel_and_stride_2_written_out():
    # Each input cell stamps the kernel (all ones) times itself; the stamps overlap on the middle row and column.
    out = ops.conv_transpose2d(np.array([[1, 2], [3, 4]]), np.ones((3, 3)), stride=2)
    assert out.tolist() == [[1, 1, 3, 2, 2],
                            [1, 1, 3, 2, 2],
                            [4, 4, 10, 6, 6],
                            [3, 3, 7, 4, 4],
                            [3, 3, 7, 4, 4]]


def test_kernel_3_stride_2_overlaps_unevenly_and_kernel_4_evenly():
    # Odena et al., Distill 2016: a constant input comes out striped when the kernel size is not a multiple of the
    # stride.
    three = ops.conv_transpose2d(np.ones((3, 3)), np.ones((3, 3)), stride=2)
    assert three[0].tolist() == [1, 1, 2, 1, 2, 1, 1] and three[2].tolist() == [2, 2, 4, 2, 4, 2, 2]
    assert TransposedAxis(3, 3, 2).overlaps() == [1, 1, 2, 1, 2, 1, 1]
    four = ops.conv_transpose2d(np.ones((3, 3)), np.ones((4, 4)), stride=2, padding=1)
    assert np.unique(four[1:-1, 1:-1]).tolist() == [4.0]  # every interior cell gets four taps
    assert TransposedAxis(3, 4, 2, padding=1).overlaps() == [1, 2, 2, 2, 2, 1]


def test_transposed_axis_sizes_targets_and_formula():
    axis = TransposedAxis(size=3, kernel=3, stride=2, padding=1, output_padding=1)
    assert axis.full_size == 7 and axis.out_size == 6
    assert axis.targets(0) == Window(-1, 2, 1)  # its first tap is cropped by the padding
    assert axis.targets(2) == Window(3, 6, 1)
    assert axis.text == "(3 − 1)·2 − 2·1 + 1·(3 − 1) + 1 + 1 = 6"
    assert axis.forward() == Axis(6, 3, 2, 1, 1, 1) and axis.forward().out_size == 3


def test_the_zero_inserted_view_is_an_ordinary_convolution_with_the_flipped_kernel():
    x, kernel = np.array([[1., 2., 3.], [4., 5., 6.]]), np.arange(1., 10.).reshape(3, 3)
    for stride, padding, extra, dilation in ((2, 0, 0, 1), (2, 1, 1, 1), (3, 2, 2, 2), (1, 0, 0, 2)):
        rows = TransposedAxis(2, 3, stride, padding, dilation, extra)
        cols = TransposedAxis(3, 3, stride, padding, dilation, extra)
        spread = np.zeros((rows.zero_inserted.size, cols.zero_inserted.size))
        spread[::stride, ::stride] = x  # stride - 1 zeros between the input cells
        padded = np.pad(spread, ((rows.zero_inserted.pad_before, rows.zero_inserted.pad_after),
                                 (cols.zero_inserted.pad_before, cols.zero_inserted.pad_after)))
        ordinary = ops.conv2d(padded, kernel[::-1, ::-1], dilation=dilation)
        transposed = ops.conv_transpose2d(x, kernel, stride=stride, padding=padding, output_padding=extra,
                                          dilation=dilation)
        np.testing.assert_allclose(ordinary, transposed, rtol=0, atol=1e-12)
    assert TransposedAxis(5, 3, 1, padding=3).zero_inserted is None  # cropping more than the kernel adds


def test_the_input_gradient_is_the_transposed_convolution_of_grad_out():
    x = np.arange(25.).reshape(5, 5)
    kernel = np.array([[1., 0., -1.], [2., 0., -2.], [1., 0., -1.]])
    grad = np.zeros((2, 2))
    grad[1, 0] = 1  # one-hot: the input gradient is the kernel stamped where that output's window lay
    grads = ops.conv2d_grads(x, kernel, grad, stride=2)
    expected = np.zeros((5, 5))
    expected[2:5, 0:3] = kernel
    assert grads.input.tolist() == expected.tolist()
    assert grads.kernel.tolist() == x[2:5, 0:3].tolist()  # the window that output read


def test_float32_stays_float32():
    x = np.ones((3, 3), np.float32)
    assert ops.conv_transpose2d(x, np.ones((2, 2))).dtype == np.float32
    assert ops.conv2d_grads(x, np.ones((2, 2)), np.ones((2, 2), np.float32)).input.dtype == np.float32


@pytest.mark.parametrize("call, message", [
    (lambda: ops.conv_transpose2d(np.ones((2, 2)), np.ones((3, 3)), stride=2, output_padding=2),
     "output_padding must be smaller than the stride or the dilation, got output_padding=2 with stride=2"),
    (lambda: ops.conv_transpose2d(np.ones((2, 2)), np.ones((3, 3)), padding=2),
     "padding=2 crops the whole output of length 4: use less padding"),
    (lambda: ops.conv_transpose2d(np.ones((2, 2, 3)), np.ones((3, 3))),
     "x must be (H, W) or (H, W, C), got shape (2, 2, 3)"),
    (lambda: ops.conv_transpose2d(np.ones((2, 2)), np.ones((1, 3, 3))),
     "kernel must be a 2-D (kh, kw) kernel, got shape (1, 3, 3)"),
    (lambda: ops.conv_transpose2d(np.ones((2, 2)), np.ones((3, 3)), stride=0),
     "stride must be at least 1, got stride=0"),
    (lambda: ops.conv2d_grads(np.ones((4, 4)), np.ones((3, 3)), np.ones((3, 3))),
     "grad_out must have the convolution's output shape (2, 2), got shape (3, 3)"),
    (lambda: TransposedAxis(3, 3).targets(3), "input index must be from 0 to 2, got index=3"),
])
def test_bad_arguments_name_the_value(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_the_docstring_examples_run():
    import doctest

    from cnnviz.conv import geometry
    assert doctest.testmod(ops).failed == 0 and doctest.testmod(geometry).failed == 0
