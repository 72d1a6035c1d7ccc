"""The Kernel Lab's upsampling stage: the kernels, the checkerboard measured on a flat image, the size cap."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnviz.conv import ops, upsample
from cnnviz.conv.upsample import (UpsampleConfig, bilinear_kernel, flat_gains, learned_kernel, resize2x,
                                  stage_kernel, transposed_axis, upsample_resized, upsample_transposed)

FLAT = np.full((8, 8), 100, np.float32)  # a flat region of value 100
INTERIOR = (slice(2, -2), slice(2, -2))  # away from the borders, where the stamps thin out


def test_bilinear_kernels_are_the_standard_ones():
    assert bilinear_kernel(4).tolist() == np.outer([0.25, 0.75, 0.75, 0.25], [0.25, 0.75, 0.75, 0.25]).tolist()
    assert bilinear_kernel(3).tolist() == [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]]
    # Size 4 stride 2 is bilinear interpolation itself: torch's (align_corners=False) in the interior.
    x = np.random.default_rng(0).uniform(0, 255, (6, 7)).astype(np.float32)
    torch_resize = F.interpolate(torch.from_numpy(x)[None, None], scale_factor=2, mode="bilinear")[0, 0].numpy()
    np.testing.assert_allclose(upsample_transposed(x, bilinear_kernel(4))[1:-1, 1:-1], torch_resize[1:-1, 1:-1],
                               rtol=1e-6)


def test_the_transposed_kernel_3_output_is_a_checkerboard_on_a_flat_image():
    # An all-ones kernel makes the output the overlap counts themselves: 1, 2 along each axis, so 1, 2, 2, 4 in 2-D.
    counts = upsample_transposed(np.ones((4, 4), np.float32), np.ones((3, 3)))
    assert counts.tolist()[1][:6] == [2, 4, 2, 4, 2, 4] and counts.tolist()[2][:6] == [1, 2, 1, 2, 1, 2]
    assert transposed_axis(4, 3).overlaps() == [1, 2, 1, 2, 1, 2, 1, 1]
    # The learned-looking kernel: each output phase is 100 × the sum of the taps landing there, 2-periodic, unequal.
    kernel = learned_kernel(3)
    out = upsample_transposed(FLAT, kernel)[INTERIOR]  # (12, 12)
    gains = flat_gains(kernel)
    np.testing.assert_allclose(out, 100 * np.tile(gains, (6, 6)), rtol=1e-6)
    assert gains.round(4).tolist() == [[1.3317, 1.0289], [0.9664, 0.673]]
    assert len(np.unique(out.round(3))) == 4 and out.max() / out.min() > 1.9


def test_kernel_4_bilinear_and_resize_then_convolve_keep_a_flat_image_flat():
    assert upsample_transposed(FLAT, bilinear_kernel(4))[INTERIOR].tolist() == np.full((12, 12), 100.0).tolist()
    assert upsample_transposed(FLAT, bilinear_kernel(3))[INTERIOR].tolist() == np.full((12, 12), 100.0).tolist()
    for mode in upsample.RESIZES:
        for weights in upsample.WEIGHTS:
            out = upsample_resized(FLAT, mode, upsample.smoothing_kernel(weights))
            np.testing.assert_allclose(out, 100.0, rtol=1e-6)  # the whole map: replicated edges, no dark frame
    assert flat_gains(bilinear_kernel(4)).tolist() == [[1.0, 1.0], [1.0, 1.0]]
    learned = flat_gains(learned_kernel(4))
    assert learned.max() / learned.min() < 1.04  # even overlap: a smooth kernel comes out nearly balanced


@pytest.mark.parametrize("size", upsample.KERNEL_SIZES)
def test_the_stage_doubles_each_side_and_equals_torch(size):
    rng = np.random.default_rng(size)
    x = rng.uniform(0, 255, (5, 7)).astype(np.float32)
    kernel = stage_kernel("learned", size)
    out = upsample_transposed(x, kernel)
    assert out.shape == (10, 14) and out.dtype == np.float32
    axis = transposed_axis(5, size)
    assert axis.out_size == 10
    expected = F.conv_transpose2d(torch.from_numpy(x)[None, None], torch.from_numpy(kernel.astype(np.float32))[None, None],
                                  stride=2, padding=1, output_padding=size % 2)[0, 0].numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-3)
    rgb = rng.uniform(0, 255, (5, 7, 3)).astype(np.float32)
    stacked = upsample_transposed(rgb, kernel)  # each channel on its own
    assert stacked.shape == (10, 14, 3)
    np.testing.assert_array_equal(stacked[..., 1], upsample_transposed(rgb[..., 1], kernel))


def test_resize2x_nearest_repeats_and_bilinear_is_torchs():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert resize2x(x, "nearest").tolist()[0] == [0, 0, 1, 1, 2, 2]
    expected = F.interpolate(torch.from_numpy(x)[None, None], scale_factor=2, mode="bilinear")[0, 0].numpy()
    np.testing.assert_array_equal(resize2x(x, "bilinear"), expected)
    assert resize2x(np.zeros((2, 3, 3), np.float32), "bilinear").shape == (4, 6, 3)


def test_learned_kernels_are_fixed_smooth_and_keep_the_mean():
    for size in upsample.KERNEL_SIZES:
        kernel = learned_kernel(size)
        np.testing.assert_array_equal(kernel, learned_kernel(size))
        assert kernel.shape == (size, size) and abs(kernel.sum() - 4) < 1e-12 and (kernel > 0).all()
    assert flat_gains(learned_kernel(3)).sum() == pytest.approx(4)


def test_a_big_photo_is_capped_and_the_zoom_finds_the_flat_region():
    rng = np.random.default_rng(1)
    photo = rng.uniform(0, 1, (1024, 768, 3)).astype(np.float32)
    photo[600:700, 100:300] = 0.5  # the one flat, mid-gray region
    result = upsample.upsample(photo, "rgb", UpsampleConfig(kernel_size=3))
    assert result.image.shape == (256, 192, 3)  # 1024 px capped to MAX_INPUT_SIDE
    assert result.transposed.shape == result.resized.shape == (512, 384, 3)
    top, left = result.window
    assert 150 <= top and top + upsample.CROP_SIDE <= 175 and 25 <= left and left + upsample.CROP_SIDE <= 75
    crop = result.crop(result.transposed)
    assert crop.shape == (32, 32, 3)
    assert result.ratio == pytest.approx(flat_gains(learned_kernel(3)).max() / flat_gains(learned_kernel(3)).min())
    gray = upsample.upsample(photo[..., 0], "gray", UpsampleConfig(kernel_size=4, weights="bilinear", resize="bilinear"))
    assert gray.transposed.shape == (512, 384) and gray.ratio == 1.0


def test_the_stage_leaves_its_input_unchanged():
    photo = np.random.default_rng(2).uniform(0, 1, (40, 30)).astype(np.float32)
    before = photo.copy()
    upsample.upsample(photo, "gray", UpsampleConfig())
    np.testing.assert_array_equal(photo, before)


def test_bad_settings_name_the_value():
    with pytest.raises(ValueError, match="size=5"):
        learned_kernel(5)
    with pytest.raises(ValueError, match="weights='box'"):
        UpsampleConfig(weights="box")
    with pytest.raises(ValueError, match="resize='cubic'"):
        UpsampleConfig(resize="cubic")
    with pytest.raises(ValueError, match="size=0"):
        bilinear_kernel(0)


def test_resize_then_convolve_is_ops_conv2d():
    x = np.random.default_rng(3).uniform(0, 255, (6, 6)).astype(np.float32)
    kernel = upsample.smoothing_kernel("learned")
    expected = ops.conv2d(np.repeat(np.repeat(x, 2, 0), 2, 1), kernel, padding=1, padding_mode="replicate")
    np.testing.assert_array_equal(upsample_resized(x, "nearest", kernel), expected)


@settings(max_examples=60, deadline=None)
@given(size=st.sampled_from(upsample.KERNEL_SIZES), seed=st.integers(0, 2**32 - 1), value=st.integers(1, 255))
def test_a_flat_region_becomes_its_value_times_the_flat_gains(size, seed, value):
    """flat_gains (the page's numbers) against the transposed convolution itself, for any kernel."""
    kernel = np.random.default_rng(seed).uniform(-1, 1, (size, size))
    out = upsample_transposed(np.full((6, 6), value, np.float64), kernel)[INTERIOR]  # (8, 8), float64
    np.testing.assert_allclose(out, value * np.tile(flat_gains(kernel), (4, 4)), rtol=1e-12, atol=1e-9)


def test_the_smallest_working_image_still_has_a_zoom():
    result = upsample.upsample(np.full((16, 16), 0.5, np.float32), "gray", UpsampleConfig())
    assert result.window == (1, 1) and result.crop(result.transposed).shape == (28, 28)


def test_a_sliver_of_an_image_still_upsamples():
    result = upsample.upsample(np.full((3, 200), 0.5, np.float32), "gray", UpsampleConfig(kernel_size=4))
    assert result.transposed.shape == (6, 400) and result.window == (1, 1)  # a 1-px zoom, a pixel from each border
    assert result.crop(result.transposed).shape == (2, 2)
