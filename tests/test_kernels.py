"""The kernel library against published values, plus the grid helpers."""
import math

import numpy as np
import pytest

from cnnviz.conv import kernels
from cnnviz.conv.kernels import (KERNEL_PRESETS, box_kernel, gabor_kernel, gaussian_kernel, log_kernel, make_kernel,
                                 motion_blur_kernel, normalize_sum, random_kernel, resize_kernel, rgb_kernel)
from cnnviz.i18n import CATALOG

PUBLISHED = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "diagonal": np.eye(3),
    "sobel_x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "sobel_y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "prewitt_x": [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]],
    "prewitt_y": [[-1, -1, -1], [0, 0, 0], [1, 1, 1]],
    "scharr_x": [[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]],
    "scharr_y": [[-3, -10, -3], [0, 0, 0], [3, 10, 3]],
    "roberts_a": [[1, 0], [0, -1]],
    "roberts_b": [[0, 1], [-1, 0]],
    "laplacian4": [[0, -1, 0], [-1, 4, -1], [0, -1, 0]],
    "laplacian8": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
    "box3": np.full((3, 3), 1 / 9),
}


def test_library_has_at_least_16_presets_with_text():
    assert len(KERNEL_PRESETS) >= 16
    for preset in KERNEL_PRESETS.values():
        assert CATALOG["en"][preset.name_key]
        assert len(CATALOG["en"][preset.why_key]) > 20


@pytest.mark.parametrize(("key", "values"), PUBLISHED.items())
def test_published_values(key, values):
    np.testing.assert_array_equal(make_kernel(key), values)


def test_unsharp_mask_is_the_classic_one():
    unsharp = make_kernel("unsharp")
    assert unsharp.shape == (5, 5)
    assert unsharp[2, 2] == pytest.approx(476 / 256)
    assert unsharp[0, 0] == pytest.approx(-1 / 256)
    assert unsharp.sum() == pytest.approx(1.0)


def test_outline_and_edges_sum_to_zero():
    for key in ("outline", "laplacian4", "laplacian8", "sobel_x", "scharr_y", "roberts_a", "log"):
        assert make_kernel(key).sum() == pytest.approx(0.0, abs=1e-12), key
    assert make_kernel("outline")[2, 2] == 24


def test_gaussian():
    g = gaussian_kernel(1.0)
    assert g.shape == (7, 7)
    assert g.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(g, g.T)
    np.testing.assert_allclose(g, g[::-1, ::-1])
    # closed form: centre / corner-neighbour ratio = exp(1 / (2 sigma^2)) for sigma=1 and distance 1
    assert g[3, 3] / g[3, 4] == pytest.approx(math.exp(0.5))
    assert gaussian_kernel(0.5, size=4).shape == (4, 4)


def test_every_laplacian_has_a_positive_centre():
    # One sign convention (issue: the 4- and 8-neighbour presets had opposite ones): a bright dot gives a peak.
    for kernel in (make_kernel("laplacian4"), make_kernel("laplacian8"), log_kernel(1.4)):
        centre = kernel[kernel.shape[0] // 2, kernel.shape[1] // 2]
        assert centre == kernel.max() > 0 and abs(kernel.sum()) < 1e-12
    k = log_kernel(1.4)
    np.testing.assert_allclose(k, k.T, atol=1e-15)


def test_gabor_symmetry_and_reference():
    g = gabor_kernel(theta=0, sigma=2, lambd=6, gamma=0.5, psi=0)
    np.testing.assert_allclose(g, g[:, ::-1], atol=1e-12)  # even about the vertical axis
    assert g[g.shape[0] // 2, g.shape[1] // 2] == pytest.approx(1.0)
    # cos(2 pi x / lambda) is -1 half a wavelength (3 px) from the centre along x.
    centre = g.shape[0] // 2
    assert g[centre, centre + 3] == pytest.approx(-math.exp(-9 / 8))
    rotated = gabor_kernel(theta=90, sigma=2, lambd=6, gamma=0.5, psi=0)
    np.testing.assert_allclose(rotated, g.T, atol=1e-12)


def test_box_and_motion_blur():
    assert box_kernel(2, 4).shape == (2, 4)
    assert box_kernel(2, 4).sum() == pytest.approx(1.0)
    horizontal = motion_blur_kernel(5, 0)
    np.testing.assert_allclose(horizontal[2], [0.2] * 5)
    assert horizontal.sum() == pytest.approx(1.0)
    diagonal = motion_blur_kernel(5, 45)
    np.testing.assert_allclose(np.diag(diagonal[::-1]), [0.2] * 5)


def test_make_kernel_returns_writable_copies():
    k = make_kernel("sobel_x")
    k[0, 0] = 99
    assert KERNEL_PRESETS["sobel_x"].values[0, 0] == -1
    with pytest.raises(ValueError):
        KERNEL_PRESETS["sobel_x"].values[0, 0] = 5


def test_parametric_presets_use_params():
    assert make_kernel("gaussian", sigma=0.5).shape == (5, 5)
    assert make_kernel("motion_blur", length=3, angle=0).shape == (3, 3)
    np.testing.assert_allclose(make_kernel("gabor"), gabor_kernel())


def test_resize_keeps_centre():
    k = np.arange(9.0).reshape(3, 3)
    grown = resize_kernel(k, 5, 5)
    np.testing.assert_array_equal(grown[1:4, 1:4], k)
    assert grown.sum() == k.sum()
    np.testing.assert_array_equal(resize_kernel(k, 1, 1), [[4.0]])
    np.testing.assert_array_equal(resize_kernel(k, 2, 3), k[1:])  # the centre of an even side is its upper middle
    assert resize_kernel(k, 4, 1).shape == (4, 1)


def test_normalize_and_random():
    np.testing.assert_allclose(normalize_sum(np.ones((2, 2))), np.full((2, 2), 0.25))
    np.testing.assert_array_equal(random_kernel(3, 4, seed=7), random_kernel(3, 4, seed=7))
    assert not np.array_equal(random_kernel(3, 3, seed=1), random_kernel(3, 3, seed=2))
    assert np.abs(random_kernel(15, 15)).max() <= 1


def test_rgb_kernel():
    k = rgb_kernel(np.ones((2, 2)), kernels.grayscale_weights())
    assert k.shape == (3, 2, 2)
    assert k.sum() == pytest.approx(4.0)


def test_inputs_not_mutated():
    k = np.arange(4.0).reshape(2, 2)
    before = k.copy()
    resize_kernel(k, 3, 3)
    normalize_sum(k + 1)
    rgb_kernel(k)
    np.testing.assert_array_equal(k, before)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: normalize_sum(make_kernel("laplacian8")), "sums to 0"),
        (lambda: make_kernel("blur9000"), "blur9000"),
        (lambda: make_kernel("gaussian", radius=3), "radius"),
        (lambda: gaussian_kernel(0), "sigma=0"),
        (lambda: gabor_kernel(lambd=-1), "lambd=-1"),
        (lambda: resize_kernel(np.ones((3, 3)), 16, 3), "rows=16"),
        (lambda: random_kernel(3, 0), "cols=0"),
        (lambda: gaussian_kernel(1, size=20), "size=20"),
        (lambda: rgb_kernel(np.ones(3)), "2-D kernel"),
    ],
)
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
