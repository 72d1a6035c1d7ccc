"""Kernel weights as the grid shows them: exact where short, whole in the room a cell has, never "5/1"."""
import numpy as np
import pytest

from cnnviz.conv import kernels
from cnnviz.conv.numfmt import cell_text, parse_number, total_text
from cnnviz.ui.widgets import cell_px, fit_grid


def test_a_weight_that_went_through_a_link_still_reads_as_its_fraction():
    assert cell_text(float(np.float32(1 / 9))) == "1/9"  # 8e-10 off after float32: once "0.1111"
    assert cell_text(float(np.float32(-1 / 256))) == "-1/256"
    assert cell_text(float(np.float32(0.1))) == "0.1"


def test_a_whole_sum_shows_as_a_whole_number():
    assert total_text(5.000000000000001) == "5"  # once "5/1"
    assert total_text(sum([1 / 9] * 9) * 5) == "5"
    assert cell_text(-3.0000000000000004) == "-3"


def test_a_tiny_weight_is_never_shown_as_zero():
    assert cell_text(-1e-45) == "-1e-45" and cell_text(1e-13) == "1e-13"


@pytest.mark.parametrize("value, most, text", [
    (1.965e-05, 8, "1.965e-5"), (1.965e-05, 5, "2e-5"), (0.01196, 5, "0.012"), (0.001769, 5, "0.002"),
    (-0.598, 5, "-0.6"), (-0.598, 6, "-0.598"), (0.1592, 5, "0.159"), (12345.678, 4, "1e4"), (3.4e38, 5, "3e38"),
])
def test_a_weight_fits_the_characters_it_is_given(value, most, text):
    assert cell_text(value, most) == text
    assert parse_number(text) == pytest.approx(value, rel=0.5)


def gaussian(side: int, sigma: float) -> np.ndarray:
    x = np.arange(side) - side // 2
    weights = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma**2))
    return weights / weights.sum()


@pytest.mark.parametrize("side, sigma, room, root_px", [
    (7, 1.0, 820, 16), (15, 1.5, 820, 16), (7, 1.0, 445, 19), (15, 1.5, 1180, 19), (5, 1.0, 305, 16)])
def test_a_gaussian_grid_shows_every_weight_whole_in_its_room(side, sigma, room, root_px):
    weights = gaussian(side, sigma)  # corners down to 1e-10
    fit = fit_grid(weights, room=room, root_px=root_px)
    chars = max(len(text) for row in fit.texts for text in row)
    assert fit.cell_width >= cell_px(chars, root_px)  # every text fits its cell
    assert fit.cell_width * weights.shape[1] <= room  # and the grid fits its room: no sideways scrolling
    shown = np.array([[parse_number(text) for text in row] for row in fit.texts])
    assert (shown != 0).all()  # no weight disappears
    np.testing.assert_allclose(shown, weights, rtol=0.5)


def test_a_gaussian_at_full_width_keeps_four_digits():
    fit = fit_grid(kernels.make_kernel("gaussian"), room=820, root_px=16)
    assert fit.texts[0] == ["1.965e-5", "2.394e-4", "0.001073", "0.001769", "0.001073", "2.394e-4", "1.965e-5"]
    assert fit.cell_width == cell_px(8, 16) == 74 and fit.rounded  # 0.001073 stands for 0.00107267...


def test_a_tall_grid_gets_shorter_rows_and_shows_them_all():
    tall = fit_grid(np.ones((15, 15)), room=1180, root_px=19)
    assert (tall.row_height, tall.height) == (32, 42 + 15 * 32 + 2)  # under 720 px with the column numbers
    small = fit_grid(np.ones((3, 3)), room=305, root_px=16)
    assert (small.row_height, small.height, small.cell_width) == (35, 35 + 3 * 35 + 2, 50)  # the narrowest column
