"""cnnviz.conv.ops against worked examples, torch, and an independent loop implementation."""
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from cnnviz.conv.ops import conv2d, output_size, pad, pool2d, resolve_padding
from naive_ops import naive_conv2d, naive_pad, naive_pool2d, naive_same_pads

THREE = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
FIVE = np.array([[1, 2, 3, 0, 1], [0, 1, 2, 3, 1], [3, 0, 1, 2, 0], [1, 2, 3, 0, 1], [0, 1, 2, 3, 0]])
EDGE = np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])
SIXTEEN = np.arange(1, 17).reshape(4, 4)


# --- worked examples -------------------------------------------------------------------------

def test_identity_diagonal_valid():
    np.testing.assert_array_equal(conv2d(THREE, np.eye(3)), [[15]])


def test_identity_diagonal_padding_1():
    np.testing.assert_array_equal(conv2d(THREE, np.eye(3), padding=1), [[6, 8, 3], [12, 15, 8], [7, 12, 14]])


def test_edge_kernel_on_five_by_five():
    expected = [[5, 9, 16, -10, 4], [-7, -4, 4, 14, 2], [20, -13, -5, 5, -7], [2, 5, 13, -12, 3], [-4, 0, 7, 18, -4]]
    np.testing.assert_array_equal(conv2d(FIVE, EDGE, padding=1), expected)


def test_pooling_sixteen():
    np.testing.assert_array_equal(pool2d(SIXTEEN, "avg", 2, 2), [[3.5, 5.5], [11.5, 13.5]])
    np.testing.assert_array_equal(pool2d(SIXTEEN, "max", 2, 2), [[6, 8], [14, 16]])


def test_flip_differs_for_asymmetric_kernel():
    # Cross-correlation reads the kernel as written; convolution reads it rotated by 180 degrees.
    kernel = np.array([[1, 0], [0, 0]])
    image = np.array([[1, 2], [3, 4]])
    assert conv2d(image, kernel).tolist() == [[1]]
    assert conv2d(image, kernel, flip=True).tolist() == [[4]]


def test_flip_is_correlation_with_rotated_kernel():
    rng = np.random.default_rng(0)
    image, kernel = rng.normal(size=(6, 7)), rng.normal(size=(3, 2))
    np.testing.assert_allclose(conv2d(image, kernel, flip=True), conv2d(image, np.rot90(kernel, 2)))
    np.testing.assert_array_equal(conv2d(image, np.eye(3), flip=True), conv2d(image, np.eye(3)))


def test_bias_is_added():
    np.testing.assert_array_equal(conv2d(THREE, np.eye(3), bias=0.5), [[15.5]])


# --- shapes and channels ----------------------------------------------------------------------

def test_2d_kernel_keeps_channels():
    rng = np.random.default_rng(1)
    image = rng.random((8, 9, 3))
    out = conv2d(image, np.ones((3, 3)))
    assert out.shape == (6, 7, 3)
    for c in range(3):
        np.testing.assert_allclose(out[..., c], conv2d(image[..., c], np.ones((3, 3))))


def test_3d_kernel_sums_channels_like_conv2d_layer():
    rng = np.random.default_rng(2)
    image, kernel = rng.random((7, 6, 3)), rng.normal(size=(3, 3, 2))
    out = conv2d(image, kernel, stride=(2, 1), padding=(1, 0), bias=0.25)
    x = torch.from_numpy(image).permute(2, 0, 1)[None]  # (1, 3, H, W)
    ref = F.conv2d(x, torch.from_numpy(kernel)[None], torch.tensor([0.25], dtype=torch.float64), stride=(2, 1), padding=(1, 0))
    np.testing.assert_allclose(out, ref[0, 0].numpy())
    assert out.shape == ref.shape[2:]


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("kernel_shape", [(3, 3), (2, 2), (1, 4), (4, 1), (2, 5)])
def test_matches_torch_padding_modes(mode, kernel_shape):
    rng = np.random.default_rng(3)
    image, kernel = rng.normal(size=(9, 8)), rng.normal(size=kernel_shape)
    out = conv2d(image, kernel, padding=(1, 2), padding_mode=mode, stride=(1, 2), dilation=(2, 1))
    x = torch.from_numpy(image)[None, None]
    torch_mode = "constant" if mode == "zeros" else mode
    ref = F.conv2d(F.pad(x, (2, 2, 1, 1), mode=torch_mode), torch.from_numpy(kernel)[None, None], stride=(1, 2), dilation=(2, 1))
    np.testing.assert_allclose(out, ref[0, 0].numpy())


@pytest.mark.parametrize("kernel_shape", [(3, 3), (2, 2), (4, 3), (1, 2)])
@pytest.mark.parametrize("dilation", [1, 2])
def test_same_matches_torch_same_at_stride_1(kernel_shape, dilation):
    rng = np.random.default_rng(4)
    image, kernel = rng.normal(size=(7, 10)), rng.normal(size=kernel_shape)
    out = conv2d(image, kernel, padding="same", dilation=dilation)
    ref = F.conv2d(torch.from_numpy(image)[None, None], torch.from_numpy(kernel)[None, None], padding="same", dilation=dilation)
    assert out.shape == image.shape
    np.testing.assert_allclose(out, ref[0, 0].numpy())


@pytest.mark.parametrize(("n", "stride"), [(7, 2), (8, 2), (10, 3), (5, 4)])
def test_same_with_stride_gives_ceil(n, stride):
    assert conv2d(np.ones((n, n)), np.ones((3, 3)), padding="same", stride=stride).shape == (-(-n // stride),) * 2


def test_resolve_padding():
    assert resolve_padding("valid", (3, 3), input_hw=(5, 5)) == ((0, 0), (0, 0))
    assert resolve_padding(2, (3, 3), input_hw=(5, 5)) == ((2, 2), (2, 2))
    assert resolve_padding((1, 0), (3, 3), input_hw=(5, 5)) == ((1, 1), (0, 0))
    assert resolve_padding("same", (4, 3), input_hw=(5, 5)) == ((1, 2), (1, 1))
    assert resolve_padding("same", (3, 3), stride=2, input_hw=(8, 7)) == ((0, 1), (1, 1))


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_pad_matches_naive(mode):
    image = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(pad(image, ((2, 1), (1, 3)), mode), naive_pad(image, 2, 1, 1, 3, mode))


def test_output_size_agrees_with_torch_everywhere():
    checked = 0
    for n, k, s, p, d in itertools.product(range(1, 9), range(1, 5), range(1, 4), range(0, 3), range(1, 3)):
        if d * (k - 1) + 1 > n + 2 * p:
            with pytest.raises(ValueError, match="padded input"):
                output_size(n, k, s, p, d)
            continue
        actual = F.conv2d(torch.zeros(1, 1, n, 1), torch.zeros(1, 1, k, 1), stride=(s, 1), padding=(p, 0), dilation=(d, 1)).shape[2]
        assert output_size(n, k, s, p, d) == actual, (n, k, s, p, d)
        checked += 1
    assert checked == 495  # every valid combination of the grid was compared


def test_output_size_accepts_before_after():
    assert output_size(5, 4, 1, (1, 2)) == 5
    assert output_size(28, 3, 2, 1) == 14


# --- properties against the loop implementation ------------------------------------------------

@st.composite
def conv_cases(draw):
    channels = draw(st.sampled_from([0, 1, 3]))  # 0 = a 2-D image
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    same = draw(st.booleans())
    if same:
        pads = (naive_same_pads(h, kh, sh, dh), naive_same_pads(w, kw, sw, dw))
        padding = "same"
    else:
        ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
        pads, padding = ((ph, ph), (pw, pw)), (ph, pw)
    limit = (h - 1, w - 1) if mode == "reflect" else (h, w) if mode == "circular" else (99, 99)
    if max(pads[0]) > limit[0] or max(pads[1]) > limit[1]:
        mode = "zeros"
    if dh * (kh - 1) + 1 > h + sum(pads[0]) or dw * (kw - 1) + 1 > w + sum(pads[1]):
        kh = kw = dh = dw = 1
        if same:
            pads = (naive_same_pads(h, 1, sh, 1), naive_same_pads(w, 1, sw, 1))
    shape = (h, w) if channels == 0 else (h, w, channels)
    image = np.array(draw(st.lists(st.integers(-9, 9), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))).reshape(shape)
    depthwise = channels == 0 or draw(st.booleans())
    kshape = (kh, kw) if depthwise else (channels, kh, kw)
    kernel = np.array(draw(st.lists(st.integers(-5, 5), min_size=int(np.prod(kshape)), max_size=int(np.prod(kshape))))).reshape(kshape)
    flip = draw(st.booleans())
    bias = draw(st.sampled_from([0.0, 1.5]))
    return image, kernel, (sh, sw), padding, pads, (dh, dw), mode, flip, bias


@given(conv_cases())
def test_conv2d_equals_loops(case):
    image, kernel, stride, padding, pads, dilation, mode, flip, bias = case
    out = conv2d(image, kernel, stride=stride, padding=padding, dilation=dilation, padding_mode=mode, flip=flip, bias=bias)
    np.testing.assert_allclose(out, naive_conv2d(image, kernel, stride, pads, dilation, mode, bias, flip), atol=1e-9)


@given(
    st.integers(1, 9), st.integers(1, 9), st.sampled_from([0, 2]), st.sampled_from(["max", "avg"]),
    st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(0, 1), st.data(),
)
def test_pool2d_equals_loops(h, w, channels, kind, kh, kw, sh, sw, p, data):
    ph, pw = min(p, kh // 2), min(p, kw // 2)
    if kh > h + 2 * ph or kw > w + 2 * pw:
        kh, kw = 1, 1
        ph = pw = 0
    shape = (h, w) if channels == 0 else (h, w, channels)
    x = np.array(data.draw(st.lists(st.floats(-9, 9, width=32), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))).reshape(shape)
    out = pool2d(x, kind, (kh, kw), (sh, sw), (ph, pw))
    np.testing.assert_allclose(out, naive_pool2d(x, kind, (kh, kw), (sh, sw), (ph, pw)), atol=1e-9)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_matches_torch_with_padding_and_overlap(kind):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(9, 7, 2))
    out = pool2d(x, kind, size=3, stride=2, padding=1)
    t = torch.from_numpy(x).permute(2, 0, 1)[None]
    ref = (F.max_pool2d if kind == "max" else F.avg_pool2d)(t, 3, 2, 1)
    np.testing.assert_allclose(out, ref[0].permute(1, 2, 0).numpy())


# --- no mutation, dtype ----------------------------------------------------------------------

def test_inputs_are_not_mutated():
    image, kernel = FIVE.astype(float), EDGE.astype(float)
    image_before, kernel_before = image.copy(), kernel.copy()
    conv2d(image, kernel, padding=2, padding_mode="reflect", flip=True)
    pool2d(image, "max", 2)
    pad(image, ((1, 1), (1, 1)), "circular")
    np.testing.assert_array_equal(image, image_before)
    np.testing.assert_array_equal(kernel, kernel_before)


def test_output_does_not_alias_input():
    image = np.ones((3, 3))
    out = conv2d(image, np.ones((1, 1)))
    out[0, 0] = 99
    assert image[0, 0] == 1


def test_integer_and_uint8_inputs():
    assert conv2d(np.full((2, 2), 255, dtype=np.uint8), np.ones((2, 2), dtype=int)).tolist() == [[1020.0]]


# --- errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"stride": 0}, "stride=0"),
        ({"stride": (1, -2)}, r"stride=\(1, -2\)"),
        ({"stride": 1.5}, "stride=1.5"),
        ({"dilation": 0}, "dilation=0"),
        ({"padding": -1}, "padding=-1"),
        ({"padding": "full"}, "padding='full'"),
        ({"padding_mode": "mirror"}, "padding_mode='mirror'"),
        ({"padding": 5, "padding_mode": "reflect"}, "reflect padding must be smaller"),
        ({"padding": 6, "padding_mode": "circular"}, "circular padding"),
        ({"bias": float("nan")}, "bias=nan"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        conv2d(FIVE, EDGE, **kwargs)


def test_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match=r"kernel 7x7 with dilation 1x1 spans 7 rows but the padded input has only 5"):
        conv2d(FIVE, np.ones((7, 7)))
    with pytest.raises(ValueError, match="spans 13 rows"):
        conv2d(FIVE, np.ones((7, 7)), dilation=2, padding=2)


@pytest.mark.parametrize(
    ("kernel", "match"),
    [
        (np.zeros((0, 3)), "kernel is empty"),
        (np.array([[1.0, np.nan]]), "NaN"),
        (np.array([[np.inf]]), "NaN, infinity"),
        (np.ones(3), r"kernel must be \(kh, kw\)"),
        (np.ones((2, 3, 3)), "kernel has 2, image has 1"),
    ],
)
def test_bad_kernels(kernel, match):
    with pytest.raises(ValueError, match=match):
        conv2d(FIVE, kernel)


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (np.ones(5), r"image must be \(H, W\)"),
        (np.ones((0, 5)), "image is empty"),
        (np.array([[1.0, np.nan]]), "image contains NaN"),
        (np.array([["a"]]), "real numbers"),
    ],
)
def test_bad_images(image, match):
    with pytest.raises(ValueError, match=match):
        conv2d(image, np.ones((1, 1)))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "median"}, "kind='median'"),
        ({"size": 0}, "size=0"),
        ({"size": 2, "padding": 2}, "at most half the window"),
        ({"size": 9}, "padded input"),
        ({"stride": 0}, "stride=0"),
    ],
)
def test_bad_pool_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pool2d(SIXTEEN, **kwargs)


@pytest.mark.parametrize(
    ("args", "match"),
    [((0, 3), "n=0"), ((5, 0), "kernel=0"), ((5, 3, 0), "stride=0"), ((5, 3, 1, -1), "padding=-1"), ((5, 3, 1, 0, 0), "dilation=0")],
)
def test_bad_output_size_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        output_size(*args)


def test_float32_images_compute_in_float32():
    rng = np.random.default_rng(6)
    image = rng.random((16, 12, 3)).astype(np.float32)
    kernel = rng.normal(size=(3, 3, 3))
    fast = conv2d(image, kernel, padding="same")
    exact = conv2d(image.astype(np.float64), kernel, padding="same")
    assert fast.dtype == np.float32 and exact.dtype == np.float64
    np.testing.assert_allclose(fast, exact, rtol=1e-5, atol=1e-5)
    assert pool2d(image, "avg").dtype == np.float32
    assert conv2d(FIVE, EDGE).dtype == np.float64


def test_depthwise_keeps_channels_apart():
    rng = np.random.default_rng(7)
    image, kernel = rng.random((6, 7, 3)), rng.normal(size=(3, 3, 2))
    partials = conv2d(image, kernel, depthwise=True, padding=1, stride=(1, 2))
    assert partials.shape[2] == 3
    for c in range(3):
        np.testing.assert_allclose(partials[..., c], conv2d(image[..., c], kernel[c], padding=1, stride=(1, 2)))
    np.testing.assert_allclose(partials.sum(axis=2), conv2d(image, kernel, padding=1, stride=(1, 2)))



@pytest.mark.parametrize("shape", [(23, 17), (23, 17, 1), (23, 17, 3)])
@pytest.mark.parametrize("kernel_ndim", [2, 3])
@pytest.mark.parametrize(("stride", "dilation", "padding", "mode"),
                         [(1, 1, "same", "zeros"), ((2, 3), (1, 2), (2, 1), "reflect"), (3, 2, "valid", "circular")])
def test_float32_fast_path_agrees_with_float64(shape, kernel_ndim, stride, dilation, padding, mode):
    # float32 runs on oneDNN's channels-last depthwise path (a lone channel computed twice); float64 does not.
    rng = np.random.default_rng(8)
    image = rng.random(shape).astype(np.float32)
    channels = 1 if len(shape) == 2 else shape[2]
    kernel = rng.normal(size=(7, 5) if kernel_ndim == 2 else (channels, 7, 5))
    for depthwise in (False, True):
        kwargs = dict(stride=stride, dilation=dilation, padding=padding, padding_mode=mode, flip=True, bias=0.5,
                      depthwise=depthwise)
        fast, exact = conv2d(image, kernel, **kwargs), conv2d(image.astype(np.float64), kernel, **kwargs)
        assert fast.dtype == np.float32 and fast.shape == exact.shape
        np.testing.assert_allclose(fast, exact, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(40, 33), (40, 33, 3)])
@pytest.mark.parametrize(("stride", "dilation", "padding"), [(1, 1, "same"), ((2, 3), (1, 2), (2, 1)), (3, 2, "valid")])
def test_separable_kernels_take_two_passes_with_the_same_maps(shape, stride, dilation, padding):
    # A 7x7 Gaussian is a column times a row: float32 images go through two 1-D passes; float64 stays direct.
    from cnnviz.conv import kernels
    from cnnviz.conv.ops import _rank_one

    rng = np.random.default_rng(9)
    image = (255 * rng.random(shape)).astype(np.float32)
    gaussian = kernels.gaussian_kernel(1.0)
    assert _rank_one(gaussian[None].astype(np.float32)) is not None
    channels = 1 if len(shape) == 2 else 3
    for kernel, depthwise in ((gaussian, False), (np.stack([gaussian * w for w in (0.3, 0.6, 0.1)][:channels]), True)):
        kwargs = dict(stride=stride, dilation=dilation, padding=padding, depthwise=depthwise)
        fast, exact = conv2d(image, kernel, **kwargs), conv2d(image.astype(np.float64), kernel, **kwargs)
        assert fast.dtype == np.float32 and fast.shape == exact.shape
        np.testing.assert_allclose(fast, exact, rtol=1e-5, atol=1e-3)


def test_only_one_column_times_one_row_counts_as_separable():
    from cnnviz.conv.ops import _rank_one

    column, row = np.arange(1, 8, dtype=np.float32), np.linspace(-1, 1, 7, dtype=np.float32)
    columns, rows = _rank_one(np.stack([np.outer(column, row), np.zeros((7, 7), np.float32)]))
    np.testing.assert_allclose(np.outer(columns[0], rows[0]), np.outer(column, row), rtol=1e-6)
    assert not columns[1].any() and not rows[1].any()
    almost = np.outer(column, row)
    almost[3, 3] += 0.01  # one weight edited by hand: no longer separable
    assert _rank_one(almost[None]) is None
    assert _rank_one(np.random.default_rng(0).normal(size=(3, 7, 7)).astype(np.float32)) is None


def test_images_reach_torch_with_full_channels_last_strides():
    # torch picks its fast depthwise kernels only when every stride, the batch one too, is channels-last
    # (a batch stride of C made "valid" convolutions 4x slower than padded ones).
    from cnnviz.conv.ops import _to_nchw

    x = _to_nchw(np.zeros((5, 4, 3), np.float32))
    assert x.shape == (1, 3, 5, 4) and x.stride() == (60, 1, 12, 3)
