"""Step-by-step's transposed convolution through AppTest: one input cell per step, the running output, the overlaps,
the zero-inserted view, the worked examples and the link."""
from dataclasses import replace

import re
from html import unescape

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apptest_kit import edit_grid, grid_key, page_state, run_page
from cnnviz.conv import ops
from cnnviz.pages.step import EXAMPLES, StepState, compute
from cnnviz.urlstate import as_matrix

FINAL = [[1, 1, 3, 2, 2], [1, 1, 3, 2, 2], [4, 4, 10, 6, 6], [3, 3, 7, 4, 4], [3, 3, 7, 4, 4]]


@pytest.fixture
def at():
    app = run_page("step_by_step", timeout=60)
    app.button(key="step_example_transposed_two").click().run()
    assert not app.exception
    return app


def sum_text(app) -> str:
    return app.code[0].value


def formula(app) -> str:
    return next(m.value for m in app.markdown if "H′" in m.value)


def grid_titles(app) -> str:
    return " ".join(h.body for h in app.get("html"))


def drawn_grid(app, title: str) -> list[list[str]]:
    """The numbers of the drawn grid whose title starts with ``title`` (a cell's ×w note left out)."""
    figure = re.search(r'<figcaption>' + re.escape(title) + r'.*?</table>', grid_titles(app), re.S).group(0)
    rows = re.findall(r"<tr>(.*?)</tr>", figure, re.S)
    return [[unescape(re.sub(r'<span class="w">.*?</span>', "", cell)) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
            for row in rows]


def test_the_two_by_two_example_step_by_step(at):
    assert sum_text(at) == "x[0,0] = 1 stamps 1×kernel onto out[0..2, 0..2]"  # nothing overlaps yet
    assert "9 cells get their first value" in " ".join(c.value for c in at.caption)
    assert "(2 − 1)·2 − 2·0 + 1·(3 − 1) + 0 + 1 = 5" in formula(at)
    assert at.select_slider(key="step_pos").options == ["(0, 0)", "(0, 1)", "(1, 0)", "(1, 1)"]  # input cells
    titles = grid_titles(at)
    assert "Input (2×2, what is upsampled)" in titles and "Output (5×5" in titles
    at.button(key="step_next").click().run()
    assert sum_text(at).splitlines() == ["x[0,1] = 2 stamps 2×kernel onto out[0..2, 2..4]", "out[0,2] = 1×1 + 2×1 = 3",
                                         "out[1,2] = 1×1 + 2×1 = 3", "out[2,2] = 1×1 + 2×1 = 3"]
    assert at.query_params["at"] == "1" and at.query_params["op"] == "transposed"
    at.button(key="step_next").click().run()
    at.button(key="step_next").click().run()
    lines = sum_text(at).splitlines()
    assert lines[0] == "x[1,1] = 4 stamps 4×kernel onto out[2..4, 2..4]"
    assert "out[2,2] = 1×1 + 2×1 + 3×1 + 4×1 = 10" in lines and "out[3,2] = 3×1 + 4×1 = 7" in lines
    assert at.success and "whole output" in at.success[0].value
    np.testing.assert_array_equal(compute(page_state(at, "step")).output, FINAL)


def test_the_running_output_is_drawn(at):
    at.select_slider(key="step_pos").set_value(1).run()
    # After two stamps the first three rows are written and the last two are still empty.
    assert drawn_grid(at, "Output (5×5") == [["1", "1", "3", "2", "2"]] * 3 + [[""] * 5] * 2
    assert grid_titles(at).count('<td class="tap pos">') == 9  # the second stamp's cells, outlined
    at.select_slider(key="step_pos").set_value(3).run()
    assert drawn_grid(at, "Output (5×5") == [[str(v) for v in row] for row in FINAL]
    assert drawn_grid(at, "Overlap count") == [["1", "1", "2", "1", "1"]] * 2 + [["2", "2", "4", "2", "2"]] + \
        [["1", "1", "2", "1", "1"]] * 2


def test_the_zero_inserted_view_gives_the_same_output(at):
    at.select_slider(key="step_pos").set_value(3).run()
    at.toggle(key="step_zero_view").set_value(True).run()
    assert at.query_params["zi"] == "1" and at.select_slider(key="step_pos").value == 0  # a new walk starts at 0
    assert len(at.select_slider(key="step_pos").options) == 25  # now one step per output cell
    at.select_slider(key="step_pos").set_value(12).run()  # the centre, where the four stamps met
    assert sum_text(at) == "1×1 + 0×1 + 2×1 + 0×1 + 0×1 + 0×1 + 3×1 + 0×1 + 4×1 = 10"
    assert not at.success  # the window has 12 more positions to go
    assert "5 of these values are inserted zeros" in " ".join(c.value for c in at.caption)
    html = grid_titles(at)
    assert "Input with zeros inserted and a border (7×7" in html and "Kernel rotated 180°" in html
    assert html.count('class="ins') == 5 and html.count('class="pad') == 40
    state = page_state(at, "step")
    np.testing.assert_array_equal(compute(state).output, compute(replace(state, zero_view=False)).output)
    at.select_slider(key="step_pos").set_value(24).run()
    assert "Every output value is filled in" in at.success[0].value  # a window walk, not stamps


def test_the_uneven_overlap_example():
    app = run_page("step_by_step", timeout=60)
    app.button(key="step_example_transposed_three").click().run()
    state = page_state(app, "step")
    counts = np.outer([1, 1, 2, 1, 2, 1, 1], [1, 1, 2, 1, 2, 1, 1])
    np.testing.assert_array_equal(compute(state).output, counts)  # ones stamped by ones: the overlap counts
    assert "Overlap count" in grid_titles(app)
    assert "checkerboard" in " ".join(c.value for c in app.caption)


def test_geometry_controls_and_errors(at):
    at.number_input(key="step_t_pad_h").set_value(1).run()
    assert "(2 − 1)·2 − 2·1 + 1·(3 − 1) + 0 + 1 = 3" in formula(at)
    assert "3 of the 9 products land outside the output"  # row −1 of the first stamp in " ".join(c.value for c in at.caption)
    at.number_input(key="step_t_opad_h").set_value(1).run()
    assert "(2 − 1)·2 − 2·1 + 1·(3 − 1) + 1 + 1 = 4" in formula(at)
    at.number_input(key="step_t_opad_w").set_value(2).run()  # not below the stride
    assert not at.exception and "output_padding must be smaller" in at.error[0].value
    at.number_input(key="step_t_opad_w").set_value(0).run()
    at.number_input(key="step_t_dilation_w").set_value(2).run()
    assert "(2 − 1)·2 − 2·0 + 2·(3 − 1) + 0 + 1 = 7" in formula(at)
    state = page_state(at, "step")
    np.testing.assert_array_equal(compute(state).output, ops.conv_transpose2d(
        state.input_array(), state.kernel_array(), **state.transposed_kwargs()))


def test_a_padding_beyond_the_kernel_has_no_zero_inserted_view(at):
    at.number_input(key="step_t_pad_h").set_value(3).run()
    at.number_input(key="step_t_stride_h").set_value(5).run()
    assert not at.error  # the scatter view still works, even where a whole stamp is cropped
    assert sum_text(at) == "x[0,0] = 1 stamps 1×kernel wholly outside the output: the padding crops all of it"
    at.toggle(key="step_zero_view").set_value(True).run()
    assert not at.exception and "more than the kernel reaches" in at.error[0].value


def test_an_output_too_big_to_draw_is_refused():
    app = run_page("step_by_step", timeout=60, query={"op": "transposed", "s": "5,5", "d": "4,4"})
    assert "draws up to 24×24" in app.error[0].value


def test_editing_the_input_and_kernel(at):
    edit_grid(at, grid_key(at, "step", "input"), {0: {0: "5"}})
    assert sum_text(at) == "x[0,0] = 5 stamps 5×kernel onto out[0..2, 0..2]"
    edit_grid(at, grid_key(at, "step", "kernel"), {0: {0: "-1"}})
    at.select_slider(key="step_pos").set_value(3).run()
    assert "out[2,2] = 5×1 + 2×1 + 3×1 + 4×(-1) = 6" in sum_text(at)


def test_play_steps_through_the_input_cells(at):
    at.button(key="step_play").click().run()
    assert at.session_state["_transient_step_playing"] is True and at.button(key="step_play").label == "Pause"
    at.button(key="step_play").click().run()
    assert at.session_state["_transient_step_playing"] is False


def test_a_link_opens_the_same_stamp_in_a_fresh_session(at):
    at.number_input(key="step_t_opad_w").set_value(1).run()
    at.select_slider(key="step_pos").set_value(2).run()
    app = run_page("step_by_step", query=dict(at.query_params))
    assert sum_text(app) == sum_text(at) and app.select_slider(key="step_pos").value == 2
    assert page_state(app, "step") == page_state(at, "step")


def test_every_new_field_round_trips_through_a_link():
    state = replace(EXAMPLES["transposed_two"], output_padding=(1, 0), zero_view=True, position=20,
                    kernel=as_matrix(np.arange(9.0).reshape(3, 3)))
    query = state.to_query()
    assert query["op"] == "transposed" and query["opad"] == "1,0" and query["zi"] == "1" and query["at"] == "20"
    assert StepState.from_query(query) == (state, [])


def test_old_links_keep_their_meaning():
    # A link from before the transposed mode: the new fields keep their defaults, and nothing is reported ignored.
    state, ignored = StepState.from_query({"op": "max", "at": "3"})
    assert (state.op, state.position, state.output_padding, state.zero_view, ignored) == ("max", 3, (0, 0), False, [])
    assert StepState().to_query() == {}


def test_resizing_the_kernel_in_transposed_mode(at):
    at.number_input(key="step_k_rows").set_value(2).run()
    assert page_state(at, "step").kernel_array().shape == (2, 3)
    assert "(2 − 1)·2 − 2·0 + 1·(2 − 1) + 0 + 1 = 4" in formula(at)


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 4), w=st.integers(1, 4), kh=st.integers(1, 3), kw=st.integers(1, 3),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)), pad=st.tuples(st.integers(0, 2), st.integers(0, 2)),
       seed=st.integers(0, 99))
def test_every_frame_ends_at_the_torch_equal_output(h, w, kh, kw, stride, pad, seed):
    rng = np.random.default_rng(seed)
    state = replace(EXAMPLES["transposed_two"], input=as_matrix(rng.integers(-5, 6, (h, w)).astype(float)),
                    kernel=as_matrix(rng.integers(-3, 4, (kh, kw)).astype(float)), stride=stride, pad=pad)
    try:
        expected = ops.conv_transpose2d(state.input_array(), state.kernel_array(), **state.transposed_kwargs())
    except ValueError:
        return
    result = compute(state)
    frames = [result.frame(i) for i in range(result.count)]
    np.testing.assert_array_equal(frames[-1].shown, expected)
    np.testing.assert_array_equal(frames[-1].reached, result.scatter.overlaps() > 0)
    for before, after in zip(frames, frames[1:]):  # a stamp changes only the cells it writes
        written = np.zeros(expected.shape, dtype=bool)
        written[tuple(np.array(after.stamp.targets, dtype=int).reshape(-1, 2).T)] = True
        assert not ((before.shown != after.shown) & ~written).any()
