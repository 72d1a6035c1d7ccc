"""Preprocessing for any network (cnnviz.graph.preprocess): torchvision's Resize, CenterCrop and Normalize by hand."""
import numpy as np
import pytest
import torch

from cnnviz.graph.preprocess import LUMA, NORMS, Preprocess, black, prepare


def test_a_picture_of_the_input_size_only_gets_normalised():
    pixels = np.arange(12, dtype=np.float32).reshape(3, 4) / 11
    x = prepare(pixels, Preprocess(norm="mnist"), (1, 3, 4))
    assert x.shape == (1, 1, 3, 4) and x.dtype == torch.float32
    np.testing.assert_allclose(x[0, 0].numpy(), (pixels - 0.1307) / 0.3081, rtol=1e-6)


def test_the_crop_keeps_the_middle_and_the_shape():
    # 4 x 8, asked for 4 x 4: no resize (the shorter side already fits), columns 2..5 are the middle.
    pixels = np.tile(np.arange(8, dtype=np.float32) / 7, (4, 1))
    x = prepare(pixels, Preprocess(), (1, 4, 4))
    np.testing.assert_allclose(x[0, 0].numpy(), pixels[:, 2:6])
    stretched = prepare(pixels, Preprocess(crop=False), (1, 4, 4))  # the whole width squeezed in instead
    assert stretched[0, 0, 0, 0] < x[0, 0, 0, 0] and stretched[0, 0, 0, -1] > x[0, 0, 0, -1]


def test_a_larger_resize_is_cut_in_the_middle_as_torchvisions_center_crop():
    # 10 x 10 of one value per row, resized to 6 x 6 (shorter side 6), then the middle 4 x 4: rows 1..4 of 6.
    pixels = np.full((10, 10), 0.5, dtype=np.float32)
    x = prepare(pixels, Preprocess(resize=6), (1, 4, 4))
    np.testing.assert_allclose(x[0, 0].numpy(), np.full((4, 4), 0.5), rtol=1e-6)  # a flat picture stays flat
    ramp = np.repeat(np.linspace(0, 1, 12, dtype=np.float32)[:, None], 12, axis=1)
    cut = prepare(ramp, Preprocess(resize=8), (1, 4, 4))[0, 0].numpy()
    assert np.all(np.diff(cut[:, 0]) > 0) and np.allclose(cut, cut[:, :1])  # still a ramp down the rows
    assert abs(cut.mean() - 0.5) < 1e-3  # and the middle of it: centred


def test_channels_follow_the_network():
    rgb = np.zeros((2, 2, 3), dtype=np.float32)
    rgb[..., 0] = 1.0  # pure red
    gray = prepare(rgb, Preprocess(), (1, 2, 2))
    np.testing.assert_allclose(gray.numpy(), np.full((1, 1, 2, 2), LUMA[0]), rtol=1e-6)
    three = prepare(np.full((2, 2), 0.25, dtype=np.float32), Preprocess(norm="imagenet"), (3, 2, 2))
    mean, std = NORMS["imagenet"]
    np.testing.assert_allclose(three[0, :, 0, 0].numpy(), [(0.25 - m) / s for m, s in zip(mean, std)], rtol=1e-6)


def test_invert_makes_ink_on_paper_white_on_black_and_the_baseline_stays_empty():
    paper = np.ones((2, 2), dtype=np.float32)
    assert prepare(paper, Preprocess(invert=True), (1, 2, 2)).abs().max() == 0
    np.testing.assert_allclose(black(Preprocess(norm="mnist", invert=True), 1).flatten().numpy(), [-0.1307 / 0.3081],
                               rtol=1e-6)
    assert black(Preprocess(norm="imagenet"), 3).shape == (1, 3, 1, 1)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: Preprocess(norm="cifar"), "norm must be one of"),
    (lambda: Preprocess(resize=-1), "resize must be"),
    (lambda: prepare(np.zeros((2, 2, 4)), Preprocess(), (1, 2, 2)), r"pixels must be \(H, W\)"),
    (lambda: prepare(np.zeros((2, 2)), Preprocess(), (1, 0, 2)), "input_shape must be"),
    (lambda: prepare(np.zeros((2, 2)), Preprocess(norm="imagenet"), (2, 2, 2)), "is for 3 channels"),
])
def test_bad_settings_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
