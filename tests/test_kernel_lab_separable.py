"""The Kernel Lab's depthwise-separable step: the 1×1 step's maps, its weights and the counts, pure and through
AppTest, every new control in the URL."""
import json

import numpy as np
import pytest

from apptest_kit import grid_key, page_state, redraw, run_page
from cnnviz.conv import ops, pipeline
from cnnviz.conv.samples import load_sample
from cnnviz.pages import kernel_lab, separable
from cnnviz.pages.kernel_lab import KernelLabState
from cnnviz.urlstate import encode_matrix

PAGE = "kernel_lab"
SMALL_RGB = {"c": "rgb", "img": "astronaut", "ws": "64"}


# --- the computation ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bias", [0.0, -12.5])
@pytest.mark.parametrize("preset", ["laplacian8", "gaussian", "sobel_x"])
def test_the_default_1x1_step_is_exactly_the_convolution_stage(preset, bias):
    state = KernelLabState(colour="rgb", sample="astronaut", working_size=64, preset=preset, bias=bias)
    result = kernel_lab.compute(state, load_sample("astronaut", size=64), "test:astronaut64")
    maps = separable.pointwise_maps(result.stages.partials, state.pointwise_array(), bias)
    assert len(maps) == 1 and maps[0].dtype == result.stages.conv.dtype == np.float32
    assert np.array_equal(maps[0], result.stages.conv)  # bit for bit: the same sum in the same order


def test_the_1x1_step_is_a_1x1_convolution_of_the_depthwise_maps():
    rng = np.random.default_rng(0)
    partials = [rng.normal(size=(9, 7)).astype(np.float32) for _ in range(3)]
    weights = np.array([[1.0, -1.0, 0.0], [0.5, 2.0, -0.25]])
    mixed = pipeline.pointwise(partials, weights, bias=1.5)
    reference = ops.conv2d(np.stack(partials, axis=2), weights[:, :, None, None], bias=1.5)  # (9, 7, 2)
    for o in range(2):
        np.testing.assert_allclose(mixed[o], reference[..., o], rtol=1e-6, atol=1e-5)
    with pytest.raises(ValueError, match=r"pointwise weights must be \(C_out, 3\), got shape \(2, 2\)"):
        pipeline.pointwise(partials, np.ones((2, 2)))


def test_the_counts_take_the_users_kernel_and_width():
    counts = separable.separable_counts((5, 5), (30, 20), 16)
    assert counts.costs.standard.params_formula == "5×5×3×16 = 1,200"
    assert counts.costs.separable.params_formula == "5×5×3 + 3×16 = 123"
    assert counts.costs.separable.mult_adds == 123 * 30 * 20
    assert [g for g, _ in counts.groups] == [1, 2, 4, 8, 16]
    assert [cost.params for _, cost in counts.groups] == [5 * 5 * 16 * 16 // g for g in (1, 2, 4, 8, 16)]


def test_resizing_keeps_the_rows_and_adds_colour_differences():
    np.testing.assert_array_equal(separable.resized(np.array([[2.0, 0, 0]]), 3), [[2, 0, 0], [1, -1, 0], [0, 1, -1]])
    np.testing.assert_array_equal(separable.resized(np.array(separable.SUM + separable.MORE_ROWS), 1), [[1, 1, 1]])


def test_the_new_fields_round_trip_and_bad_links_fall_back():
    # Weights travel as float32, as the kernel's do: 1/9 comes back 1e-9 off, so the round trip uses exact ones.
    state = KernelLabState(colour="rgb", separable_width=128).with_pointwise(np.array([[1, 1, 1], [0.5, -1, 0.25]]))
    query = state.to_query()
    assert set(query) >= {"sepw", "sepc"} and query["sepc"] == "128"
    assert KernelLabState.from_query(query) == (state, [])
    assert KernelLabState.from_dict(state.to_dict()) == (state, [])
    assert "sepw" not in KernelLabState(colour="rgb").with_pointwise(np.ones((1, 3))).to_query()  # the sum: no key
    assert KernelLabState.from_query({"sepw": encode_matrix(separable.SUM)}) == (KernelLabState(), [])
    two_columns = KernelLabState(pointwise=((1.0, 2.0),)).to_query()["sepw"]
    assert KernelLabState.from_query({"sepw": two_columns}) == (KernelLabState(), ["sepw"])
    assert KernelLabState.from_query({"sepc": "48"}) == (KernelLabState(), ["sepc"])  # not an offered width
    assert KernelLabState.from_query({"sepc": "9999"})[1] == ["sepc=9999"]


# --- the page ---------------------------------------------------------------------------------------------------

def grids(app) -> dict[str, dict]:
    return {element.key: json.loads(element.proto.json) for element in app.get("bidi_component")
            if element.key.startswith("kl_")}


def text(app) -> str:
    return "\n".join([m.value for m in app.markdown] + [c.value for c in app.caption])


@pytest.fixture
def at():
    return run_page(PAGE, query=SMALL_RGB)


def test_rgb_names_the_depthwise_step_and_shows_the_1x1_step(at):
    assert "depthwise convolution (nn.Conv2d with groups=3)" in grids(at)["kl_partials"]["text"]
    pointwise = grids(at)["kl_pointwise"]["pictures"]
    assert [p["title"] for p in pointwise] == ["1×1 output 1: 1·R + 1·G + 1·B"]
    # The same values on the same scale make the same PNG: the default 1×1 output is the convolution's own picture.
    assert pointwise[0]["src"] == grids(at)["kl_maps"]["pictures"][1]["src"]
    shown = text(at)
    assert "| Standard 3×3 convolution | `3×3×3×64 = 1,728` | `3×3×3×64 × 64×64 = 7,077,888` |" in shown
    assert "| Depthwise-separable (both) | `3×3×3 + 3×64 = 219` |" in shown
    assert "| 4 | 16 | `3×3×(64/4)×64 = 9,216` |" in shown and "| 64 (depthwise) | 1 | `3×3×64 = 576` |" in shown
    assert "**12.7%**" in shown


def test_gray_mode_has_no_separable_step():
    app = run_page(PAGE, query={"img": "astronaut", "ws": "64"})
    assert "kl_pointwise" not in grids(app) and not any("1,728" in m.value for m in app.markdown)


def test_editing_the_1x1_weights_changes_the_map_and_the_url(at):
    # The grid's columns are headed R, G, B: type -1 into G of the first row, as the browser would send it.
    at.session_state[grid_key(at, "kl_pw", "grid")] = {"edited_rows": {0: {"G": "-1"}}, "added_rows": [],
                                                            "deleted_rows": []}
    at.run()
    assert not at.exception
    assert page_state(at, PAGE).pointwise == ((1.0, -1.0, 1.0),) and "sepw" in at.query_params
    pointwise = grids(at)["kl_pointwise"]["pictures"]
    assert pointwise[0]["title"] == "1×1 output 1: 1·R − 1·G + 1·B"
    assert pointwise[0]["src"] != grids(redraw(at))["kl_maps"]["pictures"][1]["src"]


def test_more_output_channels_add_rows_and_maps(at):
    at.number_input(key="kl_pw_rows").set_value(3).run()
    assert page_state(at, PAGE).pointwise == ((1.0, 1.0, 1.0), (1.0, -1.0, 0.0), (0.0, 1.0, -1.0))
    titles = [p["title"] for p in grids(at)["kl_pointwise"]["pictures"]]
    assert titles == ["1×1 output 1: 1·R + 1·G + 1·B", "1×1 output 2: 1·R − 1·G", "1×1 output 3: 1·G − 1·B"]
    at.number_input(key="kl_pw_rows").set_value(1).run()
    assert page_state(at, PAGE).pointwise is None and "sepw" not in at.query_params


def test_the_compared_width_follows_the_choice_and_the_kernel_size(at):
    at.selectbox(key="kl_sep_width").set_value(128).run()
    assert page_state(at, PAGE).separable_width == 128 and at.query_params["sepc"] == "128"
    assert "`3×3×3×128 = 3,456`" in text(at) and "`3×3×3 + 3×128 = 411`" in text(at)
    redraw(at).selectbox(key="kl_preset").set_value("box5").run()
    assert "`5×5×3×128 = 9,600`" in text(at) and "| 128 (depthwise) | 1 | `5×5×128 = 3,200` |" in text(at)


def test_a_link_opens_the_separable_step_as_it_was():
    state = KernelLabState(colour="rgb", sample="astronaut", working_size=64, separable_width=16,
                           pointwise=((1.0, 1.0, 1.0), (0.5, 0.0, -2.0)))
    app = run_page(PAGE, query=state.to_query())
    assert page_state(app, PAGE) == state
    assert app.number_input(key="kl_pw_rows").value == 2 and app.selectbox(key="kl_sep_width").value == 16
    titles = [p["title"] for p in grids(app)["kl_pointwise"]["pictures"]]
    assert titles[1] == "1×1 output 2: 0.5·R − 2·B"
    assert "`3×3×3 + 3×16 = 75`" in text(app)


def test_the_separable_step_reads_in_chinese():
    app = run_page(PAGE, query={**SMALL_RGB, "lang": "zh"})
    assert "逐通道（depthwise）卷积" in grids(app)["kl_partials"]["text"]
    assert any("标准 3×3 卷积" in m.value and "`3×3×3 + 3×64 = 219`" in m.value for m in app.markdown)


def test_a_weight_that_is_not_a_number_is_named_and_the_old_one_kept(at):
    at.session_state[grid_key(at, "kl_pw", "grid")] = {"edited_rows": {0: {"R": "abc"}}, "added_rows": [],
                                                      "deleted_rows": []}
    at.run()
    assert not at.exception and page_state(at, PAGE).pointwise is None
    assert any("Row 1, column 1" in w.value and "'abc' is not a number" in w.value for w in at.warning)
