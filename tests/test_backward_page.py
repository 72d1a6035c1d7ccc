"""Backward-pass page through AppTest: every control, the numbers it writes out, autograd beside them, its link."""
import json
import re

import pytest

from apptest_kit import edit_grid, grid_key, page_state, run_page


@pytest.fixture
def at():
    return run_page("backward", timeout=60)


def grid(app, caption: str) -> list[list[float]]:
    """The numbers of the grid titled ``caption`` (the first one)."""
    html = "".join(element.value for element in app.html)
    # The forward row's grids are drawn by the clickable-grids component, which carries them as its data.
    html += "".join(json.loads(element.proto.json or "{}").get("html", "") for element in app.get("bidi_component"))
    table = re.search(re.escape(caption) + r"[^<]*</figcaption><table[^>]*>(.*?)</table>", html)
    assert table, f"no grid titled {caption!r}"
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1))
    return [[float(cell) for cell in re.findall(r"<td[^>]*>([^<]*)", row)] for row in rows]


def stamp_text(app) -> str:
    return app.code[0].value.replace("\u00a0", " ")  # each entry's spaces do not break


def tap_text(app) -> str:
    return app.code[1].value


FIVE_INPUT_GRAD = [[1, 3, 6, 5, 3], [5, 12, 21, 16, 9], [12, 27, 45, 33, 18], [11, 24, 39, 28, 15], [7, 15, 24, 17, 9]]


def test_the_default_shows_the_identity_both_numbers_and_the_check(at):
    text = "\n".join(m.value for m in at.markdown)
    assert "∂L/∂x = conv_transpose2d(∂L/∂y, w)" in text
    assert "`H = (3 − 1)·1 − 2·0 + 1·(3 − 1) + 0 + 1 = 5`" in text
    assert grid(at, "∂L/∂x by cnnviz") == FIVE_INPUT_GRAD and grid(at, "∂L/∂x by torch autograd") == FIVE_INPUT_GRAD
    assert grid(at, "Output gradient ∂L/∂y") == [[1, 1, 1]] * 3
    agree = "cnnviz and torch autograd agree to float64 rounding (largest difference: 0)."
    assert [s.value for s in at.success] == [agree] * 2
    assert stamp_text(at).splitlines()[0] == "[0, 0] += 1×1 → 1   [0, 1] += 1×2 → 2   [0, 2] += 1×3 → 3"
    assert tap_text(at) == "1×1 + 2×1 + 3×1 + 0×1 + 1×1 + 2×1 + 3×1 + 0×1 + 1×1 = 13"
    assert dict(at.query_params) == {}  # the default view needs no settings in its link


def test_stepping_through_the_stamps(at):
    at.button(key="bw_next").click().run()
    # The second stamp overlaps the first: 2 + 1 = 3 and 3 + 2 = 5.
    assert stamp_text(at).splitlines()[0] == "[0, 1] += 1×1 → 3   [0, 2] += 1×2 → 5   [0, 3] += 1×3 → 3"
    assert grid(at, "∂L/∂x after 2 of 9 stamps")[0] == [1, 3, 5, 3, 0]  # the overlap adds: 2 + 1, 3 + 2
    assert at.query_params["at"] == "1"
    at.select_slider(key="bw_stamp").set_value(8).run()
    assert grid(at, "∂L/∂x after 9 of 9 stamps") == FIVE_INPUT_GRAD  # the whole transposed convolution
    at.button(key="bw_next").click().run()
    assert at.select_slider(key="bw_stamp").value == 8  # the last stamp stays the last
    at.button(key="bw_prev").click().run()
    assert at.query_params["at"] == "7"


def test_a_one_hot_gradient_on_a_chosen_unit(at):
    at.segmented_control(key="bw_gradient").set_value("onehot").run()
    assert at.select_slider(key="bw_unit").options == [f"({r}, {c})" for r in range(3) for c in range(3)]
    at.select_slider(key="bw_unit").set_value("(1, 2)").run()
    assert at.query_params["g"] == "onehot" and at.query_params["u"] == "1,2"
    assert grid(at, "Output gradient ∂L/∂y") == [[0, 0, 0], [0, 0, 1], [0, 0, 0]]
    # The input gradient is the kernel stamped where unit (1, 2)'s window lay: rows 1-3, cols 2-4.
    assert grid(at, "∂L/∂x by cnnviz") == [[0] * 5, [0, 0, 1, 2, 3], [0, 0, 4, 5, 6], [0, 0, 7, 8, 9], [0] * 5]
    assert len(at.success) == 2


def test_a_random_gradient_from_its_seed(at):
    at.segmented_control(key="bw_gradient").set_value("random").run()
    first = grid(at, "Output gradient ∂L/∂y")
    at.number_input(key="bw_seed").set_value(5).run()
    assert at.query_params["g"] == "random" and at.query_params["seed"] == "5"
    assert grid(at, "Output gradient ∂L/∂y") != first
    assert all(value in range(-3, 4) for row in grid(at, "Output gradient ∂L/∂y") for value in row)
    assert grid(at, "∂L/∂x by cnnviz") == grid(at, "∂L/∂x by torch autograd") and len(at.success) == 2


def test_choosing_a_kernel_tap(at):
    at.select_slider(key="bw_tap").set_value("(2, 2)").run()
    assert at.query_params["tap"] == "2,2"
    # With all ones, tap (2, 2) adds the block x[2:5, 2:5] it read.
    assert tap_text(at) == "1×1 + 2×1 + 0×1 + 3×1 + 0×1 + 1×1 + 2×1 + 3×1 + 0×1 = 12"
    kernel_grad = [[13, 14, 13], [13, 14, 13], [13, 14, 12]]
    assert grid(at, "∂L/∂w by cnnviz") == grid(at, "∂L/∂w by torch autograd") == kernel_grad


def test_geometry_and_sizes(at):
    at.number_input(key="bw_stride_h").set_value(2).run()
    at.number_input(key="bw_stride_w").set_value(2).run()
    assert grid(at, "Output gradient ∂L/∂y") == [[1, 1], [1, 1]]
    assert "(2 − 1)·2 − 2·0 + 1·(3 − 1) + 0 + 1 = 5" in "\n".join(m.value for m in at.markdown)
    at.number_input(key="bw_pad_h").set_value(1).run()
    assert any("land on the padding" in c.value for c in at.caption)
    at.number_input(key="bw_in_rows").set_value(3).run()
    assert page_state(at, "backward").input_array().shape == (3, 5) and len(at.success) == 2
    edit_grid(at, grid_key(at, "bw", "kernel"), {0: {0: "10"}})
    assert page_state(at, "backward").kernel_array()[0, 0] == 10 and len(at.success) == 2


def test_a_smaller_output_keeps_the_nearest_unit_and_stamp():
    app = run_page("backward", timeout=60, query={"g": "onehot", "u": "2,2", "at": "8"})
    app.number_input(key="bw_stride_h").set_value(2).run()
    assert not app.exception
    assert app.select_slider(key="bw_unit").value == "(1, 2)" and app.select_slider(key="bw_stamp").value == 5
    assert app.query_params["u"] == "1,2" and app.query_params["at"] == "5"


def test_impossible_settings_say_what_to_change(at):
    at.number_input(key="bw_dilation_h").set_value(4).run()
    assert not at.exception and at.error and "cannot work" in at.error[0].value
    at.number_input(key="bw_dilation_h").set_value(1).run()
    assert not at.error and len(at.success) == 2


def test_a_link_opens_the_same_view_in_a_fresh_session():
    query = {"g": "onehot", "u": "0,1", "s": "2,1", "pa": "1,0", "at": "3", "tap": "1,0", "lang": "zh"}
    app = run_page("backward", timeout=60, query=query)
    assert app.segmented_control(key="bw_gradient").value == "onehot"
    assert app.select_slider(key="bw_unit").value == "(0, 1)" and app.select_slider(key="bw_stamp").value == 3
    assert app.select_slider(key="bw_tap").value == "(1, 0)"
    assert app.title[0].value == "反向传播" and any("torch autograd" in s.value for s in app.success)
    assert {key: app.query_params[key] for key in query} == query


def test_the_lessons_link_opens_the_page_showing_its_number():
    from cnnviz.pages.lessons import LESSONS

    lesson = next(lesson for lesson in LESSONS if lesson.key == "backward")
    app = run_page("backward", timeout=60, query=lesson.state.to_query())
    assert grid(app, "∂L/∂x by cnnviz") == grid(app, "∂L/∂x by torch autograd") == lesson.tutorial
    assert stamp_text(app).splitlines()[0] == "[2, 2] += 1×1 → 1   [2, 3] += 1×2 → 2   [2, 4] += 1×3 → 3"
    lessons = run_page("lessons", query={"l": str(LESSONS.index(lesson) + 1)})
    assert any("They agree" in s.value for s in lessons.success)
    assert any(m.value.startswith("[Open this in Backward pass](backward?") for m in lessons.markdown)


def test_a_click_on_an_output_cell_gives_it_gradient_one(at):
    at.session_state["bw_click"] = {"click": {"row": 2, "col": 1, "unix_time": 1}}
    at.run()
    assert at.segmented_control(key="bw_gradient").value == "onehot"
    assert at.select_slider(key="bw_unit").value == "(2, 1)" and at.query_params["u"] == "2,1"
    assert grid(at, "∂L/∂x by cnnviz")[2:] == [[0, 1, 2, 3, 0], [0, 4, 5, 6, 0], [0, 7, 8, 9, 0]]
    at.select_slider(key="bw_unit").set_value("(0, 0)").run()  # a later rerun does not replay the old click
    assert page_state(at, "backward").unit == (0, 0)
    at.session_state["bw_click"] = {"click": {"row": 7, "col": 0, "unix_time": 2}}  # outside the 3×3 output
    at.run()
    assert page_state(at, "backward").unit == (0, 0) and not at.exception
