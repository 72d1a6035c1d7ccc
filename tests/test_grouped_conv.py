"""conv2d(..., groups=g) against torch.nn.functional.conv2d(groups=g), and its errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from cnnviz.conv.ops import conv2d


def torch_grouped(image, kernel, *, stride, padding, dilation, groups, padding_mode="zeros", bias=0.0):
    """The reference: nn.Conv2d's maths on (1, C, H, W), back as (H', W', C_out)."""
    x = torch.from_numpy(np.asarray(image, dtype=np.float64))
    x = x[None, None] if x.ndim == 2 else x.permute(2, 0, 1)[None]  # (1, C, H, W)
    (ph, pw) = padding
    if padding_mode != "zeros":
        x = F.pad(x, (pw, pw, ph, ph), mode=padding_mode)
        ph = pw = 0
    w = torch.from_numpy(np.asarray(kernel, dtype=np.float64))
    y = F.conv2d(x, w, stride=stride, padding=(ph, pw), dilation=dilation, groups=groups) + bias
    return y[0].permute(1, 2, 0).numpy()  # (H', W', C_out)


@st.composite
def grouped_cases(draw):
    groups = draw(st.integers(1, 4))
    channels = groups * draw(st.integers(1, 3))
    out_channels = groups * draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    if (mode == "reflect" and (ph >= h or pw >= w)) or (mode == "circular" and (ph > h or pw > w)):
        mode = "zeros"
    if dh * (kh - 1) + 1 > h + 2 * ph or dw * (kw - 1) + 1 > w + 2 * pw:
        kh = kw = 1  # a window that does not fit is an error, tested below
    image_shape, kernel_shape = (h, w, channels), (out_channels, channels // groups, kh, kw)
    ints = lambda shape, bound: np.array(draw(st.lists(st.integers(-bound, bound), min_size=int(np.prod(shape)),
                                                       max_size=int(np.prod(shape))))).reshape(shape)
    return ints(image_shape, 9), ints(kernel_shape, 5), groups, (sh, sw), (ph, pw), (dh, dw), mode


@given(grouped_cases(), st.sampled_from([0.0, 1.5]))
def test_grouped_equals_torch(case, bias):
    image, kernel, groups, stride, padding, dilation, mode = case
    out = conv2d(image, kernel, groups=groups, stride=stride, padding=padding, dilation=dilation, padding_mode=mode,
                 bias=bias)
    ref = torch_grouped(image, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups,
                        padding_mode=mode, bias=bias)
    assert out.dtype == np.float64 and out.shape == ref.shape
    # Integers in float64: every product and sum is exact, so the two must agree to the last bit.
    assert np.count_nonzero(out != ref) == 0


@given(grouped_cases())
def test_grouped_float32_equals_torch_to_float32_rounding(case):
    image, kernel, groups, stride, padding, dilation, mode = case
    image = (image / 9).astype(np.float32)
    out = conv2d(image, kernel, groups=groups, stride=stride, padding=padding, dilation=dilation, padding_mode=mode)
    ref = torch_grouped(image, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups,
                        padding_mode=mode)
    assert out.dtype == np.float32 and out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-4)


def test_a_worked_two_group_example():
    # Two channels, two groups, one filter each: filter 0 sees only channel 0, filter 1 only channel 1.
    image = np.stack([np.arange(9).reshape(3, 3), 10 * np.ones((3, 3))], axis=2)  # (3, 3, 2)
    kernel = np.array([[[[1, 0], [0, 1]]], [[[1, 1], [1, 1]]]])  # (2, 1, 2, 2)
    out = conv2d(image, kernel, groups=2)
    assert out.shape == (2, 2, 2)
    np.testing.assert_array_equal(out[..., 0], [[0 + 4, 1 + 5], [3 + 7, 4 + 8]])
    np.testing.assert_array_equal(out[..., 1], [[40, 40], [40, 40]])


def test_groups_1_with_a_4d_kernel_is_a_full_layer():
    rng = np.random.default_rng(0)
    image, kernel = rng.normal(size=(6, 5, 3)), rng.normal(size=(4, 3, 3, 3))
    out = conv2d(image, kernel, padding=1)
    for o in range(4):  # each output channel is one (C, kh, kw) filter summed over the channels
        np.testing.assert_allclose(out[..., o], conv2d(image, kernel[o], padding=1), atol=1e-12)


def test_a_2d_image_takes_a_4d_kernel_with_one_input_channel():
    image = np.arange(16.0).reshape(4, 4)
    out = conv2d(image, np.stack([np.ones((1, 2, 2)), -np.ones((1, 2, 2))]))
    assert out.shape == (3, 3, 2)
    np.testing.assert_array_equal(out[..., 1], -out[..., 0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_depthwise_is_groups_equal_to_channels(dtype):
    rng = np.random.default_rng(1)
    image, kernel = rng.random((7, 6, 3)).astype(dtype), rng.normal(size=(3, 3, 2))
    kwargs = dict(padding=1, stride=(2, 1), dilation=(1, 2), flip=True, bias=0.5)
    depthwise = conv2d(image, kernel, depthwise=True, **kwargs)
    np.testing.assert_array_equal(conv2d(image, kernel, groups=3, **kwargs), depthwise)
    grouped = conv2d(image, kernel[:, None], groups=3, **kwargs)  # the same filters as nn.Conv2d's (3, 1, kh, kw)
    np.testing.assert_allclose(grouped, depthwise, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(conv2d(image, kernel[:, None], depthwise=True, **kwargs), grouped)


def test_depth_multiplier_two_filters_per_channel():
    rng = np.random.default_rng(2)
    image, kernel = rng.normal(size=(5, 5, 2)), rng.normal(size=(4, 1, 3, 3))
    out = conv2d(image, kernel, depthwise=True)
    for o in range(4):  # filters 0, 1 read channel 0; filters 2, 3 channel 1
        np.testing.assert_allclose(out[..., o], conv2d(image[..., o // 2], kernel[o, 0]), atol=1e-12)


def test_flip_rotates_every_grouped_filter():
    rng = np.random.default_rng(3)
    image, kernel = rng.normal(size=(6, 6, 4)), rng.normal(size=(2, 2, 3, 2))
    np.testing.assert_allclose(conv2d(image, kernel, groups=2, flip=True),
                               conv2d(image, kernel[..., ::-1, ::-1], groups=2), atol=1e-12)


def test_grouped_inputs_are_not_mutated():
    image, kernel = np.ones((4, 4, 2)), np.ones((2, 1, 3, 3))
    before = image.copy(), kernel.copy()
    conv2d(image, kernel, groups=2, padding=1, padding_mode="reflect", flip=True)
    np.testing.assert_array_equal(image, before[0])
    np.testing.assert_array_equal(kernel, before[1])


@pytest.mark.parametrize(
    ("image_shape", "kernel_shape", "kwargs", "match"),
    [
        ((5, 5, 6), (4, 2, 3, 3), {"groups": 4}, r"groups=4 must divide the image's 6 channels: choose groups from 1, 2, 3, 6"),
        ((5, 5, 6), (4, 2, 3, 3), {"groups": 3}, r"groups=3 must divide the kernel's 4 output channels"),
        ((5, 5, 6), (6, 3, 3, 3), {"groups": 3}, r"each filter sees 6/3 = 2 channels, so the kernel must be \(C_out, 2, kh, kw\), got shape \(6, 3, 3, 3\)"),
        ((5, 5, 6), (6, 6, 3, 3), {}, None),  # groups=1: a full layer, no error
        ((5, 5, 6), (6, 1, 3, 3), {"groups": 0}, r"groups=0"),
        ((5, 5, 6), (6, 1, 3, 3), {"groups": 1.5}, r"groups=1.5"),
        ((5, 5, 6), (6, 3, 3), {"groups": 2}, r"groups=2 needs a \(C_out, C/groups, kh, kw\) kernel, got shape \(6, 3, 3\)"),
        ((5, 5, 6), (3, 3), {"groups": 2}, r"groups=2 needs a \(C_out, C/groups, kh, kw\) kernel"),
        ((5, 5, 6), (6, 1, 3, 3), {"groups": 2, "depthwise": True}, r"depthwise=True means groups=C=6, got groups=2"),
        ((5, 5, 6), (6, 2, 3, 3), {"depthwise": True}, r"each filter sees 6/6 = 1 channels"),
        ((5, 5, 6), (1, 1, 6, 3, 3), {}, r"kernel must be \(kh, kw\), \(C, kh, kw\) or \(C_out, C/groups, kh, kw\), got shape \(1, 1, 6, 3, 3\)"),
    ],
)
def test_bad_groups_name_the_value(image_shape, kernel_shape, kwargs, match):
    image, kernel = np.ones(image_shape), np.ones(kernel_shape)
    if match is None:
        assert conv2d(image, kernel, **kwargs).shape == (3, 3, 6)
        return
    with pytest.raises(ValueError, match=match):
        conv2d(image, kernel, **kwargs)


def test_grouped_errors_read_in_chinese():
    from cnnviz.errors import UserError

    with pytest.raises(UserError) as caught:
        conv2d(np.ones((5, 5, 6)), np.ones((4, 2, 3, 3)), groups=4)
    assert "请从 1, 2, 3, 6 中选择 groups" in caught.value.message("zh")


def test_window_too_big_for_a_grouped_conv():
    with pytest.raises(ValueError, match="spans 5 rows but the padded input has only 4"):
        conv2d(np.ones((4, 4, 2)), np.ones((2, 1, 5, 5)), groups=2)


@pytest.mark.parametrize("kernel_hw", [(3, 3), (2, 4), (1, 5)])
@pytest.mark.parametrize("dilation", [1, 2])
def test_grouped_same_padding_matches_torch_same(kernel_hw, dilation):
    rng = np.random.default_rng(4)
    image, kernel = rng.integers(-9, 10, size=(7, 8, 6)), rng.integers(-5, 6, size=(4, 3, *kernel_hw))
    out = conv2d(image, kernel, groups=2, padding="same", dilation=dilation)
    x = torch.from_numpy(image.astype(np.float64)).permute(2, 0, 1)[None]  # (1, 6, 7, 8)
    ref = F.conv2d(x, torch.from_numpy(kernel.astype(np.float64)), padding="same", dilation=dilation, groups=2)
    np.testing.assert_array_equal(out, ref[0].permute(1, 2, 0).numpy())
