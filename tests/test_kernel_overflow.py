"""Kernel weights so large that a map overflows float32 get a message, never a blank picture of infinities."""
import numpy as np
import pytest

from apptest_kit import run_page
from cnnviz.conv.samples import load_sample
from cnnviz.errors import UserError
from cnnviz.pages.kernel_lab import KernelLabState, compute
from cnnviz.urlstate import as_matrix, encode_matrix

HUGE = np.full((15, 15), 3.4e38)  # the issue's kernel: every weight near float32's largest


def test_an_overflowing_kernel_is_refused_naming_the_map():
    state = KernelLabState(kernel=as_matrix(HUGE))
    with pytest.raises(UserError, match="so large that the Convolution map overflows to infinity") as error:
        compute(state, load_sample("mnist_digit"), "digit")
    assert "卷积结果溢出成了无穷大" in error.value.message("zh")


def test_large_finite_maps_keep_a_finite_mean():
    # 1e32 x (up to 225 pixels of 255) stays under 3.4e38 per value, but a float32 sum of the map would not
    result = compute(KernelLabState(kernel=as_matrix(np.full((15, 15), 1e32))), load_sample("mnist_digit"), "digit")
    assert all(np.isfinite(result.ranges["conv"]))


def test_the_issues_link_explains_instead_of_drawing_infinity():
    app = run_page("kernel_lab", query={"img": "mnist_digit", "kv": encode_matrix(HUGE)})
    assert any("cannot work" in e.value and "overflows to infinity" in e.value for e in app.error)
