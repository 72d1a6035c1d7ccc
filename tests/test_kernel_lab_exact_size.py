"""A Kernel Lab link may name an exact working size (a lesson's 32×32 image), and the bank can be a conv layer of
six 5×5 filters: the presets it needs and the output shape it states."""
import numpy as np
import pytest

from apptest_kit import page_state, run_page
from cnnviz.conv.kernels import make_kernel
from cnnviz.pages.kernel_lab import EXACT_SIZES, WORKING_SIZES, KernelLabState


@pytest.mark.parametrize("size", [16, 32, 100])
def test_a_link_sets_an_exact_working_size(size):
    state, ignored = KernelLabState.from_query({"ws": str(size)})
    assert (state.working_size, ignored) == (size, [])
    assert KernelLabState.from_query(state.to_query()) == (state, [])
    assert size in state.working_sizes() and set(WORKING_SIZES) <= set(state.working_sizes())


@pytest.mark.parametrize("size", ["8", "15", "1025", "abc"])
def test_a_size_outside_the_range_is_ignored(size):
    state, ignored = KernelLabState.from_query({"ws": size})
    assert state.working_size == KernelLabState().working_size and ignored == [f"ws={size}"]
    assert EXACT_SIZES == (16, 1024)


def test_the_page_works_at_32_and_the_slider_moves_back_to_the_usual_sizes():
    app = run_page("kernel_lab", query={"img": "astronaut", "ws": "32", "c": "rgb", "k": "box5", "p": "valid"})
    slider = app.select_slider(key="kl_working")
    assert slider.value == 32 and slider.options == ["32", "64", "128", "256", "512", "768", "1024"]
    assert any("Input: `32 × 32 × 3`" in m.value and "Convolution: `28 × 28`" in m.value for m in app.markdown)
    slider.set_value(64).run()
    assert not app.exception and page_state(app, "kernel_lab").working_size == 64 and app.query_params["ws"] == "64"


def test_a_bank_of_one_size_states_its_output_shape():
    app = run_page("kernel_lab", query={"img": "astronaut", "ws": "32", "c": "rgb", "k": "box5", "p": "valid",
                                        "bank": "box5,gaussian5,unsharp,outline,sobel5_x,sobel5_y", "bo": "1"})
    lines = [m.value for m in app.markdown]
    assert "**Its output:** one 28×28 map per kernel, stacked: **28×28×6**" in lines
    assert any("6 × (3×5×5 + 1) = 6 × (75 + 1) = **456**" in line for line in lines)
    mixed = run_page("kernel_lab", query={"ws": "64", "p": "valid", "bank": "sobel_x,gaussian", "bo": "1"})
    assert not any(m.value.startswith("**Its output:**") for m in mixed.markdown)  # 3×3 and 7×7 maps differ


def test_the_5x5_presets_are_the_published_ones():
    binomial = np.array([1, 4, 6, 4, 1])
    np.testing.assert_array_equal(make_kernel("gaussian5") * 256, np.outer(binomial, binomial))
    # OpenCV's Sobel with ksize=5: cv2.getDerivKernels(1, 0, 5) gives [-1, -2, 0, 2, 1] across, [1, 4, 6, 4, 1] down.
    np.testing.assert_array_equal(make_kernel("sobel5_x")[2], [-6, -12, 0, 12, 6])
    np.testing.assert_array_equal(make_kernel("sobel5_y"), make_kernel("sobel5_x").T)
    assert make_kernel("gaussian5").sum() == 1 and make_kernel("sobel5_x").sum() == 0
